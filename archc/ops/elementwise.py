"""Shape-preserving ops: activations, dropout and identity.

Each is one small class; their shape rule is the base's (output = input), they have no
parameters, and they act on each position alone.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from archc.ops.base import Op, OpError, Shape, register


class _Elementwise(Op):
    module: ClassVar[str]  # the torch.nn class name

    def lower(self, x: Shape):
        import torch.nn as nn

        return getattr(nn, self.module)(**self.model_dump())


def _simple(kind: str, module: str, summary: str) -> type[Op]:
    """A parameterless elementwise op lowering to `torch.nn.<module>()`."""
    cls = type(module, (_Elementwise,), {"__doc__": f"nn.{module}: {summary}."})
    cls.kind, cls.module, cls.summary = kind, module, f"{summary} (nn.{module})"
    return register(cls)


ReLU = _simple("relu", "ReLU", "max(x, 0)")
ReLU6 = _simple("relu6", "ReLU6", "min(max(x, 0), 6)")
Sigmoid = _simple("sigmoid", "Sigmoid", "the logistic function")
Tanh = _simple("tanh", "Tanh", "hyperbolic tangent")
SiLU = _simple("silu", "SiLU", "x * sigmoid(x), also called swish")
Hardswish = _simple("hardswish", "Hardswish", "x * relu6(x + 3) / 6")
Hardsigmoid = _simple("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6")
Identity = _simple("identity", "Identity", "passes its input through")


@register
class LeakyReLU(_Elementwise):
    """nn.LeakyReLU: x for x > 0, negative_slope * x otherwise."""

    kind: ClassVar[str] = "leakyrelu"
    module: ClassVar[str] = "LeakyReLU"
    summary: ClassVar[str] = "leaky rectifier with `negative_slope` (nn.LeakyReLU)"

    negative_slope: float = 0.01


@register
class GELU(_Elementwise):
    """nn.GELU: the Gaussian error linear unit."""

    kind: ClassVar[str] = "gelu"
    module: ClassVar[str] = "GELU"
    summary: ClassVar[str] = "Gaussian error linear unit (nn.GELU)"

    approximate: Literal["none", "tanh"] = "none"


@register
class Softmax(_Elementwise):
    """nn.Softmax over `dim`."""

    kind: ClassVar[str] = "softmax"
    module: ClassVar[str] = "Softmax"
    summary: ClassVar[str] = "softmax over `dim` (nn.Softmax)"

    dim: int = 1

    def infer(self, x: Shape) -> Shape:
        if not -len(x) <= self.dim < len(x):
            raise OpError(
                "out-of-range",
                f"`dim: {self.dim}` is out of range for a rank-{len(x)} input",
                "dim",
                hint=f"use a dim from {-len(x)} to {len(x) - 1}",
            )
        return x

    def windows(self, x: Shape) -> None:
        return None if self.dim not in (1, -len(x) + 1) else super().windows(x)


@register
class Dropout(_Elementwise):
    """nn.Dropout: zeroes elements with probability p in training; identity at inference."""

    kind: ClassVar[str] = "dropout"
    module: ClassVar[str] = "Dropout"
    summary: ClassVar[str] = "dropout with probability `p` in [0, 1) (nn.Dropout)"

    p: Annotated[float, Field(ge=0, lt=1)] = 0.5
