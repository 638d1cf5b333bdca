"""Merges of parallel branches: channel concatenation, elementwise addition and product.

Merges are not written as layer items but as `concat:`/`add:`/`mul:` with branches; they still
appear in the layer table, with op `concat`, `add` or `mul`, so that every step of the data
flow is visible. `mul` broadcasts size-1 dims, as squeeze-and-excitation gates need
((N, C, H, W) times (N, C, 1, 1)).
"""

from __future__ import annotations

from typing import Any, ClassVar

from archc.dims import Dim, Shape, Sym, Window, format_shape
from archc.ops.base import Example, Fields, Op, OpError, ReceptiveField, register, same_geometry

# A branch that is one convolution beside an empty (identity) branch, as residual blocks have.
_CONV = {"conv2d": {"out_channels": 4, "kernel_size": 3, "padding": 1}}


def _agree(a: Dim, b: Dim) -> bool | None:
    """True/False when two dims provably agree or differ; None when it depends on the input."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return True if a == b else None
    return a == b


class Merge(Op):
    """Base of the merges: several inputs, one output, no parameters."""

    category: ClassVar[str] = "merge"
    broadcasts: ClassVar[bool] = False  # whether size-1 dims broadcast

    def merge(self, shapes: list[Shape], names: list[str]) -> tuple[Shape, list[tuple]]:
        """The merged shape, and the dim equalities that hold only for some input sizes.

        Raises OpError when branches provably disagree.
        """
        first = shapes[0]
        free = self.free_axis(len(first))
        conditions: list[tuple] = []
        for shape, name in zip(shapes[1:], names[1:]):
            if len(shape) != len(first):
                raise OpError(
                    "merge-mismatch",
                    f"`{self.name}` needs branches of equal rank: `{names[0]}` gives "
                    f"{format_shape(first)}, `{name}` gives {format_shape(shape)}",
                )
            for axis, (a, b) in enumerate(zip(first, shape)):
                if axis in (0, free) or (self.broadcasts and 1 in (a, b)):
                    continue
                agree = _agree(a, b)
                if agree is None:
                    conditions.append((a, b))
                elif not agree:
                    raise _mismatch(self.name, axis, first, shape, names[0], name)
        return self.merged(shapes), conditions

    def free_axis(self, rank: int) -> int | None:
        """The axis along which the branches' sizes may differ (concat's), if any."""
        return None

    def merged(self, shapes: list[Shape]) -> Shape:
        return shapes[0]

    def merge_macs(self, shapes: list[Shape], y: Shape) -> Dim:
        """Multiply-accumulates of merging branches of `shapes` into `y` (a matmul's)."""
        return 0

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)  # each output reads the same position of every branch

    def channel_window(self, x: Shape) -> Window | None:
        return Window()

    def receptive_field(self, fields: list[Fields], x: tuple[Shape, ...]) -> Fields:
        # Per axis of the network input: the branches may hold it in other dims than the
        # output's, which the analysis checks before it takes the union.
        return tuple(_union([f[axis] for f in fields]) for axis in range(len(fields[0])))

    def combine(self, tensors: list) -> Any:
        """Compute the merge on torch tensors, in branch order."""
        raise NotImplementedError(self.name)


def _mismatch(name: str, axis: int, first: Shape, shape: Shape, a: str, b: str) -> OpError:
    what = "channels" if axis == 1 else "spatial sizes"
    hint = (
        f"give `{b}` `out_channels: {first[axis]}`, or `{a}` `out_channels: {shape[axis]}`"
        if axis == 1
        else "make the branches downsample alike (same strides and paddings)"
    )
    return OpError(
        "merge-mismatch",
        f"`{name}` needs equal {what}: `{a}` gives {format_shape(first)}, "
        f"`{b}` gives {format_shape(shape)}",
        hint=hint,
    )


def _union(fields: list[ReceptiveField]) -> ReceptiveField:
    """The field of a merge: branch b covers [u*S - P_b, u*S - P_b + r_b - 1], so the union
    starts at the largest padding and ends at the largest r_b - P_b (Araujo et al.)."""
    padding = max(f.padding for f in fields)
    stride = max(f.stride for f in fields)
    symbolic = [f.size for f in fields if isinstance(f.size, Sym)]
    if symbolic:  # a global branch: it sees everything
        return ReceptiveField(symbolic[0], stride, padding)
    reach = max(f.size - f.padding for f in fields)
    size = reach + padding
    return ReceptiveField(int(size) if size.denominator == 1 else size, stride, padding)


@register
class Add(Merge):
    """The elementwise sum of the branches (residual connections)."""

    name: ClassVar[str] = "add"
    summary: ClassVar[str] = "elementwise sum of branches of equal shape (residual connections)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 6, 6), {"branches": {"main": [_CONV], "shortcut": []}}),
        Example((1, 5), {"branches": [[{"linear": {"out_features": 5}}], [], []]}),
    )

    def combine(self, tensors: list) -> Any:
        result = tensors[0]
        for tensor in tensors[1:]:
            result = result + tensor
        return result


@register
class Concat(Merge):
    """Concatenation of the branches along `dim`, the channels by default (Inception,
    DenseNet)."""

    name: ClassVar[str] = "concat"
    summary: ClassVar[str] = "concatenation of branches along a dim, the channels by default"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 6, 6), {"branches": [[], [_CONV]]}),
        Example((1, 5), {"branches": [[{"linear": {"out_features": 2}}], []]}),
        Example((1, 4, 4, 6), {"dim": 2, "branches": [[], [_CONV]]}),
        Example((1, 3, 4, 6), {"dim": -1, "branches": [[], [], []]}),
    )

    dim: int = 1
    """the dim the branches are concatenated along (1: the channels; not the batch)."""

    def free_axis(self, rank: int) -> int:
        axis = self.dim + rank if self.dim < 0 else self.dim
        if not 0 < axis < rank:
            raise OpError(
                "out-of-range",
                f"`dim: {self.dim}` is out of range for rank-{rank} branches"
                + (" (the batch dim cannot be concatenated)" if axis == 0 else ""),
                "dim",
            )
        return axis

    def merged(self, shapes: list[Shape]) -> Shape:
        axis = self.free_axis(len(shapes[0]))
        first = shapes[0]
        return (*first[:axis], sum((s[axis] for s in shapes), start=0), *first[axis + 1 :])

    def combine(self, tensors: list) -> Any:
        import torch

        return torch.cat(tensors, dim=self.dim)


@register
class Mul(Merge):
    """The elementwise product of the branches, broadcasting size-1 dims (gates)."""

    name: ClassVar[str] = "mul"
    summary: ClassVar[str] = "elementwise product of branches, broadcasting size-1 dims (gates)"
    broadcasts: ClassVar[bool] = True
    examples: ClassVar[tuple[Example, ...]] = (
        Example(
            (1, 4, 5, 5),
            {"branches": [[], [{"globalavgpool2d": None}, {"sigmoid": None}]]},
        ),
        Example((1, 4, 3, 3), {"branches": [[], [_CONV]]}),
    )

    def merged(self, shapes: list[Shape]) -> Shape:
        return tuple(next((d for d in dims if d != 1), 1) for dims in zip(*shapes))

    def combine(self, tensors: list) -> Any:
        result = tensors[0]
        for tensor in tensors[1:]:
            result = result * tensor
        return result
