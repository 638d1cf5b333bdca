"""Splitting a tensor into parts along a dim: `chunk` and `split`, as torch.chunk/torch.split.

One layer computes one part. Written with `index`, the item is that part; written with
`names`, the item stands for all its parts, each a layer named and usable with `ref`, and the
flow continues with the last part (ShuffleNet's `x1, x2 = x.chunk(2, 1)`, YOLO's C2f):

    - chunk: {chunks: 2, dim: 1, names: [x1, x2]}
    - split: {sizes: [16, 48], names: [a, b]}

Parts are lowered to `narrow`, which exports to one ONNX Slice each.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import StringConstraints, model_validator

from archc.dims import Shape, Sym, Window, format_shape
from archc.ops.base import Example, NonNegativeInt, Op, OpError, PositiveInt, register

_Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Part(Op):
    """Base of the splitting ops: one part, `index`, of the input along `dim`."""

    category: ClassVar[str] = "layout"
    splits: ClassVar[bool] = True  # written with `names`, the item stands for all parts

    dim: int = 1
    """the dim split (1: the channels)."""
    index: NonNegativeInt | None = None
    """the one part to keep, 0-based; leave it out and give `names` for every part."""
    names: list[_Name] | None = None
    """a name for each part, each a layer that `ref` reads; the flow goes on with the last."""

    @model_validator(mode="after")
    def _one_of_index_and_names(self) -> Part:
        if (self.index is None) == (self.names is None):
            raise ValueError("give `index` (one part) or `names` (every part, named)")
        return self

    def part_sizes(self, size: int) -> list[int]:
        """The sizes of the parts of an axis of `size` elements."""
        raise NotImplementedError(self.name)

    def parts(self) -> list[tuple[str, Op]]:
        """With `names`, each part as an op of its own, with its name; else []."""
        return [
            (n, self.model_copy(update={"names": None, "index": k}))
            for k, n in enumerate(self.names or ())
        ]

    def _axis(self, x: Shape) -> int:
        axis = self.dim + len(x) if self.dim < 0 else self.dim
        if not 0 <= axis < len(x):
            raise OpError(
                "out-of-range", f"`dim: {self.dim}` is out of range for {format_shape(x)}", "dim"
            )
        if axis == 0:
            raise OpError(
                "out-of-range",
                "the batch dim cannot be split: archc keeps it symbolic",
                "dim",
                hint="split along the channels (`dim: 1`) or another dim",
            )
        if isinstance(x[axis], Sym):
            raise OpError(
                "out-of-range",
                f"`{self.name}` along dim {axis} needs a fixed size there; it is `{x[axis]}`, "
                "which depends on the input size",
                "dim",
                hint="split along the channels, or give the input a fixed size",
            )
        return axis

    def _span(self, x: Shape) -> tuple[int, int, int]:
        """The axis, and the start and length of this part along it."""
        axis = self._axis(x)
        sizes = self.part_sizes(x[axis])
        if self.index is None or self.index >= len(sizes):
            raise OpError(
                "out-of-range",
                f"`{self.name}` gives {len(sizes)} parts of the {x[axis]} elements along dim "
                f"{axis} (sizes {sizes}); there is no part {self.index}",
                "index" if self.names is None else "names",
            )
        return axis, sum(sizes[: self.index]), sizes[self.index]

    def infer(self, x: Shape) -> Shape:
        axis, _, length = self._span(x)
        return (*x[:axis], length, *x[axis + 1 :])

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        axis, start, _ = self._span(x)
        # Along a split spatial axis, output position u reads input position u + start.
        return tuple(Window(padding=-start if a == axis else 0) for a in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window:
        axis, start, _ = self._span(x)
        return Window(padding=-start if axis == 1 else 0)

    def lower(self, x: Shape):
        axis, start, length = self._span(x)
        return _narrow()(axis, start, length)


def _narrow():
    import torch.nn as nn

    class Narrow(nn.Module):
        def __init__(self, dim: int, start: int, length: int):
            super().__init__()
            self.dim, self.start, self.length = dim, start, length

        def forward(self, x):
            return x.narrow(self.dim, self.start, self.length)

        def extra_repr(self) -> str:
            return f"dim={self.dim}, start={self.start}, length={self.length}"

    return Narrow


@register
class Chunk(Part):
    """torch.chunk: `chunks` parts of ceil(size / chunks) elements, the last one smaller."""

    name: ClassVar[str] = "chunk"
    summary: ClassVar[str] = "one part, or named parts, of torch.chunk along a dim"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6, 4, 4), {"chunks": 2, "index": 1}),
        Example((1, 5, 3, 3), {"chunks": 3, "dim": 1, "index": 2}),
        Example((1, 4, 6, 5), {"chunks": 2, "dim": -2, "index": 1}),
        Example((1, 9), {"chunks": 3, "index": 0}),
    )

    chunks: PositiveInt
    """how many parts, of equal size (the last smaller), as torch.chunk."""

    def part_sizes(self, size: int) -> list[int]:
        part = -(-size // self.chunks)
        return [min(part, size - start) for start in range(0, size, part)]


@register
class Split(Part):
    """torch.split: parts of `sizes` elements (an int: equal parts, the last one smaller)."""

    name: ClassVar[str] = "split"
    summary: ClassVar[str] = "one part, or named parts, of torch.split along a dim"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6, 4, 4), {"sizes": [2, 4], "index": 1}),
        Example((1, 7, 3, 3), {"sizes": 3, "index": 2}),
        Example((1, 3, 8, 4), {"sizes": [5, 3], "dim": 2, "index": 1}),
    )

    sizes: PositiveInt | list[PositiveInt]
    """the size of each part, or one size for all, as torch.split."""

    def part_sizes(self, size: int) -> list[int]:
        if isinstance(self.sizes, int):
            return [min(self.sizes, size - start) for start in range(0, size, self.sizes)]
        if sum(self.sizes) != size:
            raise OpError(
                "out-of-range",
                f"`sizes: {self.sizes}` add up to {sum(self.sizes)}, but the dim has {size} "
                "elements",
                "sizes",
            )
        return list(self.sizes)
