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
    """Building or running the network would take more memory than a budget allows."""


# 2e9 parameters and buffers are 8 GB of fp32 weights, before any copy an export makes.
DEFAULT_MAX_PARAMS = 2_000_000_000
# 1 GiB of live fp32 activations at the largest batch run: VGG-16 at 224x224 needs 180 MB at
# batch 7. An export's verification holds every value in PyTorch and ONNX Runtime, about 4.5
# times the static peak (docs/limits.md), so the limit bounds an export near 5 GB.
DEFAULT_MAX_ACTIVATION_BYTES = 2**30


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


def check_activations(
    network: Network, batch: int, max_bytes: int = DEFAULT_MAX_ACTIVATION_BYTES
) -> None:
    """Refuse, before anything runs, a network whose peak activations at `batch` (fp32, the
    static analysis's peak times the batch; the input is part of it) exceed `max_bytes`.

    A network whose sizes are symbolic has no static peak and is not refused here.
    """
    peak = network.analysis.memory.get("activations_peak_bytes") if network.ok else None
    if peak is None or peak * batch <= max_bytes:
        return
    total = peak * batch
    input_bytes = 4 * batch * _product(network.input[1:])
    if input_bytes > max_bytes:
        what, amount = f"its input alone at batch {batch:,} is", input_bytes
    else:
        where = network.analysis.memory.get("activations_peak_at")
        what, amount = f"its activations at batch {batch:,} peak (at `{where}`) at", total
    raise OverBudget(
        [
            Diagnostic(
                "over-budget",
                f"`{network.name}`: {what} {amount:,} bytes ({amount / 2**30:,.2f} GiB in "
                f"fp32); the limit is {max_bytes:,} bytes",
                network.file,
                hint="raise it with --max-activation-bytes N if this machine has the memory",
            )
        ]
    )


def _product(dims: Any) -> int:
    result = 1
    for dim in dims:
        result *= int(dim)
    return result


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


def lower(
    network: Network,
    max_params: int = DEFAULT_MAX_PARAMS,
    max_activation_bytes: int = DEFAULT_MAX_ACTIVATION_BYTES,
) -> Any:
    """The `torch.nn.Module` computing `network`, in training mode with PyTorch's default init.

    The network must have checked without errors. Raises OverBudget (before importing torch)
    when it has more than `max_params` parameters and buffers, or when one forward pass at its
    batch (1 if the batch is symbolic) would hold more than `max_activation_bytes` of
    activations; MissingDependency without torch; and LoweringError if the module's parameter
    or buffer count differs from the static count.
    """
    check_budget(network, max_params)
    batch = network.input[0] if isinstance(network.input[0], int) else 1
    check_activations(network, batch, max_activation_bytes)
    require("torch", network.file)
    from archc.lower.module import build_module

    return build_module(network)


__all__ = [
    "DEFAULT_MAX_ACTIVATION_BYTES",
    "DEFAULT_MAX_PARAMS",
    "LoweringError",
    "MissingDependency",
    "OverBudget",
    "check_activations",
    "check_budget",
    "lower",
    "require",
]
