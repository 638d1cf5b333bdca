"""Fully connected layer and flatten."""

from __future__ import annotations

from functools import cache
from math import prod
from typing import ClassVar

from archc.dims import Sym, format_shape
from archc.ops.base import Example, Op, OpError, PositiveInt, Shape, Window, register


@register
class Flatten(Op):
    """nn.Flatten: merges dims `start_dim`..`end_dim` (by default all but the batch)."""

    name: ClassVar[str] = "flatten"
    summary: ClassVar[str] = "flatten dims start_dim..end_dim into one (nn.Flatten)"
    category: ClassVar[str] = "layout"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 5)),
        Example((1, 3, 4, 5), {"start_dim": 2}),
        Example((1, 2, 3, 4, 5), {"start_dim": 1, "end_dim": 2}),
    )

    start_dim: int = 1
    """the first dim flattened (1 keeps the batch)."""
    end_dim: int = -1
    """the last dim flattened (-1: the last)."""

    def infer(self, x: Shape) -> Shape:
        start, end = (d + len(x) if d < 0 else d for d in (self.start_dim, self.end_dim))
        for name, dim in (("start_dim", start), ("end_dim", end)):
            if not 0 <= dim < len(x):
                raise OpError(
                    "out-of-range", f"`{name}` is out of range for a rank-{len(x)} input", name
                )
        if start > end:
            raise OpError("out-of-range", "`start_dim` comes after `end_dim`", "start_dim")
        return (*x[:start], prod(x[start : end + 1], start=1), *x[end + 1 :])

    def geometry(self, x: Shape) -> tuple[None, ...]:
        # A flattened vector's entries are counted as seeing the whole input: the layer that
        # reads it (a linear layer) mixes them all.
        return (None,) * (len(x) - 2)

    def lower(self, x: Shape):
        import torch.nn as nn

        y = self.infer(x)
        if len(y) == 2 or not all(isinstance(d, int) for d in y[1:]):
            return nn.Flatten(self.start_dim, self.end_dim)  # exported as ONNX's Flatten
        return _fixed_flatten()(self.start_dim, self.end_dim, y[1:])


@cache
def _fixed_flatten():
    """nn.Flatten reshaping to a constant target, so that ONNX's shape inference knows it.

    Flattening dims after the channels is exported by torch as a Reshape whose target is
    computed from the input's shape at run time, which leaves every dim of its output unknown
    to ONNX; a constant target with -1 for the batch keeps the others known.
    """
    import torch.nn as nn

    class Flatten(nn.Flatten):
        def __init__(self, start_dim: int, end_dim: int, target: tuple[int, ...]):
            super().__init__(start_dim, end_dim)
            self.target = target

        def forward(self, x):
            return x.reshape(-1, *self.target)  # (N, *target)

    return Flatten


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

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.Linear(x[-1], self.out_features, self.bias)
