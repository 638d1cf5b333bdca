"""Shape-preserving ops: activations, dropout and identity.

Each is one small class; their shape rule is the base's (output = input), they have no
parameters, and they act on each position alone.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from archc.ops.base import Example, Op, OpError, Shape, Window, register, same_geometry

# Elementwise ops accept any rank: a feature vector, tokens, an image.
_EXAMPLES = (Example((1, 3, 4, 5)), Example((1, 6)), Example((1, 5, 7)))


class _Elementwise(Op):
    module: ClassVar[str]  # the torch.nn class name
    category: ClassVar[str] = "activation"
    examples: ClassVar[tuple[Example, ...]] = _EXAMPLES

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window | None:
        return Window()

    def lower(self, x: Shape):
        import torch.nn as nn

        return getattr(nn, self.module)(**self.model_dump())


def _simple(name: str, module: str, summary: str, category: str = "activation") -> type[Op]:
    """A parameterless elementwise op lowering to `torch.nn.<module>()`."""
    cls = type(module, (_Elementwise,), {"__doc__": f"nn.{module}: {summary}."})
    cls.name, cls.module, cls.summary = name, module, f"{summary} (nn.{module})"
    cls.category = category
    return register(cls)


ReLU = _simple("relu", "ReLU", "max(x, 0)")
ReLU6 = _simple("relu6", "ReLU6", "min(max(x, 0), 6)")
Sigmoid = _simple("sigmoid", "Sigmoid", "the logistic function")
Tanh = _simple("tanh", "Tanh", "hyperbolic tangent")
SiLU = _simple("silu", "SiLU", "x * sigmoid(x), also called swish")
Hardswish = _simple("hardswish", "Hardswish", "x * relu6(x + 3) / 6")
Hardsigmoid = _simple("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6")
Identity = _simple("identity", "Identity", "passes its input through", "other")


@register
class LeakyReLU(_Elementwise):
    """nn.LeakyReLU: x for x > 0, negative_slope * x otherwise."""

    name: ClassVar[str] = "leakyrelu"
    module: ClassVar[str] = "LeakyReLU"
    summary: ClassVar[str] = "leaky rectifier with `negative_slope` (nn.LeakyReLU)"
    examples: ClassVar[tuple[Example, ...]] = (
        *_EXAMPLES,
        Example((1, 2, 3, 3), {"negative_slope": 0.2}),
    )

    negative_slope: float = 0.01
    """the slope for negative inputs."""


@register
class GELU(_Elementwise):
    """nn.GELU: the Gaussian error linear unit."""

    name: ClassVar[str] = "gelu"
    module: ClassVar[str] = "GELU"
    summary: ClassVar[str] = "Gaussian error linear unit (nn.GELU)"
    examples: ClassVar[tuple[Example, ...]] = (
        *_EXAMPLES,
        Example((1, 4, 6), {"approximate": "tanh"}),
    )

    approximate: Literal["none", "tanh"] = "none"
    """`none` for the exact erf form, `tanh` for the tanh approximation."""


@register
class Softmax(_Elementwise):
    """nn.Softmax over `dim`."""

    name: ClassVar[str] = "softmax"
    module: ClassVar[str] = "Softmax"
    summary: ClassVar[str] = "softmax over `dim` (nn.Softmax)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 10)),
        Example((1, 3, 5, 6), {"dim": 1}),
        Example((1, 3, 5, 6), {"dim": 2}),
        Example((1, 3, 5, 6), {"dim": -1}),
        Example((1, 4, 7), {"dim": -1}),
    )

    dim: int = 1
    """the dim normalized to sum 1 (1: the channels)."""

    def infer(self, x: Shape) -> Shape:
        if not -len(x) <= self.dim < len(x):
            raise OpError(
                "out-of-range",
                f"`dim: {self.dim}` is out of range for a rank-{len(x)} input",
                "dim",
                hint=f"use a dim from {-len(x)} to {len(x) - 1}",
            )
        return x

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        # Each output reads the whole of the axis it normalizes over, and one position of others.
        dim = self.dim % len(x)
        return tuple(None if axis == dim else Window() for axis in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window | None:
        return None if self.dim % len(x) == 1 else Window()


@register
class Dropout(_Elementwise):
    """nn.Dropout: zeroes elements with probability p in training; identity at inference."""

    name: ClassVar[str] = "dropout"
    module: ClassVar[str] = "Dropout"
    summary: ClassVar[str] = "dropout with probability `p` in [0, 1) (nn.Dropout)"
    category: ClassVar[str] = "other"
    examples: ClassVar[tuple[Example, ...]] = (*_EXAMPLES, Example((1, 8), {"p": 0.1}))

    p: Annotated[float, Field(ge=0, lt=1)] = 0.5
    """the probability of zeroing an element in training; identity at inference."""
