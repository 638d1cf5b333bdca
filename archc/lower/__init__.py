"""Lowering: a checked `Network` becomes a `torch.nn.Module` whose submodules mirror the spec.

    >>> import archc
    >>> from archc.lower import lower
    >>> model = lower(archc.check(archc.load("specs/resnet18.yaml")))
    >>> "resnet_block2.0.0.main.conv1.weight" in model.state_dict()
    True

torch is imported here, on first use, never when `archc` is imported; without it `lower` raises
`MissingDependency`, which names the `archc[export]` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archc.diagnostics import ArchcError, Diagnostic, UsageError

if TYPE_CHECKING:
    from archc.ir import Network


class MissingDependency(ArchcError):
    """A package that lowering or export needs (torch, onnx, onnxruntime) is not installed."""


class LoweringError(ArchcError):
    """The torch module disagrees with the static answers: a bug in archc, not in the spec."""


class OverBudget(UsageError):
    """Building the network would allocate more parameters than the budget allows."""


# 2e9 parameters and buffers are 8 GB of fp32 weights, before any copy an export makes.
DEFAULT_MAX_PARAMS = 2_000_000_000


def check_budget(network: Network, max_params: int = DEFAULT_MAX_PARAMS) -> None:
    """Refuse, before anything is allocated, a network with more weights than `max_params`."""
    total = network.params + network.buffers
    if total > max_params:
        raise OverBudget(
            [
                Diagnostic(
                    "over-budget",
                    f"`{network.name}` has {total:,} parameters and buffers "
                    f"({total * 4 / 2**30:,.1f} GiB in fp32); the limit is {max_params:,}",
                    network.file,
                    hint="raise it with --max-params N if this machine has the memory",
                )
            ]
        )


def require(module: str, file: str = "<archc>") -> Any:
    """Import `module`, or raise MissingDependency naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise MissingDependency(
            [
                Diagnostic(
                    "missing-dependency",
                    f"`{package}` is needed for this but cannot be imported ({exc}); "
                    "install it with `pip install 'archc[export]'`",
                    file,
                )
            ]
        ) from None


def lower(network: Network, max_params: int = DEFAULT_MAX_PARAMS) -> Any:
    """The `torch.nn.Module` computing `network`, in training mode with PyTorch's default init.

    The network must have checked without errors. Raises OverBudget (before importing torch)
    when it has more than `max_params` parameters and buffers, MissingDependency without torch,
    and LoweringError if the module's parameter or buffer count differs from the static count.
    """
    check_budget(network, max_params)
    require("torch", network.file)
    from archc.lower.module import build_module

    return build_module(network)


__all__ = [
    "DEFAULT_MAX_PARAMS",
    "LoweringError",
    "MissingDependency",
    "OverBudget",
    "check_budget",
    "lower",
    "require",
]
