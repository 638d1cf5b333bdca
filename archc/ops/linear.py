"""Fully connected layer."""

from __future__ import annotations

from math import prod
from typing import ClassVar

from archc.dims import Sym, format_shape
from archc.ops.base import Example, Op, OpError, PositiveInt, Shape, Window, register


@register
class Linear(Op):
    """nn.Linear over the last dim."""

    name: ClassVar[str] = "linear"
    summary: ClassVar[str] = "fully connected layer over the last dim (nn.Linear)"
    category: ClassVar[str] = "dense"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 12), {"out_features": 5}),
        Example((1, 7, 6), {"out_features": 4, "bias": False}),
        Example((1, 2, 3, 5), {"out_features": 3, "in_features": 5}),
    )

    out_features: PositiveInt
    """number of output features."""
    bias: bool = True
    """add a learnable bias per output feature."""
    in_features: PositiveInt | None = None
    """the input features, as a check only: inferred from the incoming shape, an error where they
    differ.
    """

    def infer(self, x: Shape) -> Shape:
        if len(x) < 2:
            raise OpError("rank-mismatch", "`linear` needs an input of rank 2 or more")
        features = x[-1]
        if isinstance(features, Sym) and self.in_features is None:
            raise OpError(
                "symbolic-channels",
                f"the incoming feature count `{features}` depends on a symbolic input dim",
                "in_features",
                hint="give the input concrete spatial dims, or pool to a fixed size first",
            )
        if (
            self.in_features is not None
            and isinstance(features, int)
            and self.in_features != features
        ):
            raise OpError(
                "features-mismatch",
                f"`in_features: {self.in_features}` disagrees with the {features} features "
                f"flowing in (shape {format_shape(x)})",
                "in_features",
                hint=f"write `in_features: {features}`, or leave it out to infer it",
            )
        return (*x[:-1], self.out_features)

    def stated(self, x: Shape) -> Linear:
        return self if isinstance(x[-1], Sym) else self.model_copy(update={"in_features": x[-1]})

    def conditions(self, x: Shape) -> list[tuple]:
        if isinstance(x[-1], Sym):
            return [(x[-1], self.in_features, f"`in_features: {self.in_features}` holds")]
        return []

    def params(self, x: Shape) -> int:
        return (self.in_features or x[-1]) * self.out_features + (
            self.out_features if self.bias else 0
        )

    def macs(self, x: Shape, y: Shape):
        return prod(x[1:-1], start=1) * (self.in_features or x[-1]) * self.out_features

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        # Mixes the last dim; reads one position of the dims before it.
        return tuple(Window() if axis < len(x) - 1 else None for axis in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window | None:
        return None if len(x) == 2 else Window()

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.Linear(x[-1], self.out_features, self.bias)
