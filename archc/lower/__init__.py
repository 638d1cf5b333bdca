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

from archc.diagnostics import ArchcError, Diagnostic

if TYPE_CHECKING:
    from archc.graph import Network


class MissingDependency(ArchcError):
    """A package that lowering or export needs (torch, onnx, onnxruntime) is not installed."""


class LoweringError(ArchcError):
    """The torch module disagrees with the static answers: a bug in archc, not in the spec."""


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


def lower(network: Network) -> Any:
    """The `torch.nn.Module` computing `network`, in training mode with PyTorch's default init.

    The network must have checked without errors. Raises MissingDependency without torch, and
    LoweringError if the module's parameter or buffer count differs from the static count.
    """
    require("torch", network.file)
    from archc.lower.module import build_module

    return build_module(network)


__all__ = ["LoweringError", "MissingDependency", "lower", "require"]
