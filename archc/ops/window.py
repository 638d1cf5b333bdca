"""The primitives of attention written out in a spec, and of Swin's shifted windows.

`matmul` (two branches, as `torch.matmul`), `scale` (times a constant: 1/sqrt(d) of scaled
dot-product attention), `pad` (`F.pad`, constant), `roll` (`torch.roll`),
`relativepositionbias` (Swin's learnable table of (2·wh - 1)·(2·ww - 1) biases per head,
gathered into (heads, wh·ww, wh·ww) and added to the attention logits) and `shiftmask` (Swin's
additive mask that keeps a shifted window's regions apart, a constant of the sizes).

Window partition and reverse are not ops: the spec writes them as torchvision does, with
`unflatten`, `permute` and `flatten`, so the analyses follow H and W through them. archc keeps
the batch as dim 0, so the windows stay dims of their own, (N, nH, nW, wh·ww, C), where
torchvision folds them into the batch, (N·nH·nW, wh·ww, C): the same numbers, in the same
order.

Attention's MACs are its two matmuls: q·kᵀ and attn·v each count M·K·N per head and window.
"""

from __future__ import annotations

from functools import cache
from math import prod
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema
from pydantic import Field as Constraint

from archc.dims import Dim, Shape, Sym, Window, format_shape
from archc.ops.base import (
    Example,
    Expect,
    NonNegativeInt,
    Op,
    OpError,
    PositiveInt,
    dim_index,
    keep_batch,
    register,
    same_geometry,
)
from archc.ops.merge import Merge, _agree


def _pair(value: Any) -> Any:
    """A window's size or shift, over (H, W): an integer for both, or a pair [h, w]."""
    if isinstance(value, list) and len(value) == 2:
        return tuple(value)
    return value


Pair = Annotated[
    PositiveInt | tuple[PositiveInt, PositiveInt],
    BeforeValidator(_pair),
    AfterValidator(lambda v: (v, v) if isinstance(v, int) else v),
    Expect("a positive integer or a pair [h, w] of them"),
]
NonNegativePair = Annotated[
    NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt],
    BeforeValidator(_pair),
    AfterValidator(lambda v: (v, v) if isinstance(v, int) else v),
    Expect("a non-negative integer or a pair [h, w] of them"),
]


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# An integer in a list, which an expression may compute (`"in.height % 2"`).
_INT_OR_EXPRESSION = {"anyOf": [{"type": "integer"}, {"type": "string"}]}

_INTS = Annotated[
    int | tuple[int, ...],
    BeforeValidator(_tuple),
    AfterValidator(lambda v: (v,) if isinstance(v, int) else v),
    Expect("an integer or a list of integers"),
]


@register
class Matmul(Merge):
    """torch.matmul of two branches: (..., M, K) @ (..., K, N) -> (..., M, N), the dims before
    the last two broadcast (size 1 against any size)."""

    name: ClassVar[str] = "matmul"
    category: ClassVar[str] = "dense"
    summary: ClassVar[str] = (
        "matrix product of two branches, batched and broadcast as torch.matmul (attention)"
    )
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 6), {"branches": [[], [{"transpose": {"dim0": 1, "dim1": 2}}]]}),
        Example(
            (1, 3, 4, 5),
            {
                "branches": [
                    [],
                    [
                        {"slice": {"dim": 1, "end": 1}},
                        {"transpose": {"dim0": 2, "dim1": 3}},
                        {"linear": {"out_features": 2}},
                    ],
                ]
            },
        ),
    )

    def merge(self, shapes: list[Shape], names: list[str]) -> tuple[Shape, list[tuple]]:
        if len(shapes) != 2:
            raise OpError("merge-mismatch", f"`matmul` takes 2 branches, got {len(shapes)}")
        a, b = shapes
        if len(a) != len(b) or len(a) < 3:
            raise OpError(
                "merge-mismatch",
                f"`matmul` needs two branches of equal rank, at least 3 (batch, rows, columns): "
                f"`{names[0]}` gives {format_shape(a)}, `{names[1]}` gives {format_shape(b)}",
            )
        conditions = []
        pairs = [*zip(a[1:-2], b[1:-2], strict=True), (a[-1], b[-2])]
        for index, (left, right) in enumerate(pairs):
            broadcast = index < len(pairs) - 1 and 1 in (left, right)
            agree = True if broadcast else _agree(left, right)
            if agree is None:
                conditions.append((left, right))
            elif not agree:
                what = "columns of the first" if index == len(pairs) - 1 else "batch dims"
                raise OpError(
                    "merge-mismatch",
                    f"`matmul` needs the {what} to match the "
                    + ("rows of the second" if index == len(pairs) - 1 else "other's or be 1")
                    + f": `{names[0]}` gives {format_shape(a)}, `{names[1]}` gives "
                    f"{format_shape(b)}",
                    hint="transpose the second branch (`transpose: {dim0: -2, dim1: -1}`)"
                    if index == len(pairs) - 1
                    else None,
                )
        front = tuple(left if right == 1 else right for left, right in zip(a[1:-2], b[1:-2]))
        return (a[0], *front, a[-2], b[-1]), conditions

    def merge_macs(self, shapes: list[Shape], y: Shape) -> Dim:
        return prod(y[1:], start=1) * shapes[0][-1]

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        # A row of the first and a column of the second are read whole: the last two dims;
        # the dims before them position by position.
        return tuple(None if axis >= len(x) - 2 else Window() for axis in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window | None:
        return None if len(x) == 3 else Window()

    def combine(self, tensors: list) -> Any:
        import torch

        return torch.matmul(tensors[0], tensors[1])


@register
class Scale(Op):
    """x * factor, a constant: scaled dot-product attention's 1/sqrt(d) on the queries."""

    name: ClassVar[str] = "scale"
    category: ClassVar[str] = "other"
    summary: ClassVar[str] = "times a constant `factor` (attention's 1/sqrt(head dim))"
    examples: ClassVar[tuple[Example, ...]] = (Example((1, 3, 4, 8), {"factor": 0.125}),)

    factor: float
    """the constant every element is multiplied by."""

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window:
        return Window()

    def lower(self, x: Shape):
        return _Scale()(self.factor)


@register
class Pad(Op):
    """F.pad with a constant: `pad` lists (before, after) pairs from the last dim backwards."""

    name: ClassVar[str] = "pad"
    category: ClassVar[str] = "layout"
    summary: ClassVar[str] = (
        "constant padding as F.pad: (before, after) pairs from the last dim backwards"
    )
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 5, 6, 3), {"pad": [0, 0, 0, 1, 0, 2]}),
        Example((1, 2, 5, 5), {"pad": [1, 2, 3, 0], "value": -1.0}),
        Example((1, 3, 4), {"pad": [0, 0, 2, 1]}),
    )

    pad: Annotated[
        tuple[Annotated[NonNegativeInt, WithJsonSchema(_INT_OR_EXPRESSION)], ...],
        BeforeValidator(_tuple),
        Constraint(min_length=2),
    ]
    """(before, after) counts per dim, the last dim first, as F.pad's `pad`."""
    value: float = 0.0
    """the value padded with."""

    def _amounts(self, x: Shape) -> dict[int, tuple[int, int]]:
        if len(self.pad) % 2 or len(self.pad) // 2 > len(x) - 1:
            raise OpError(
                "out-of-range",
                f"`pad` needs pairs for at most the {len(x) - 1} dims after the batch of "
                f"{format_shape(x)}, got {len(self.pad)} numbers",
                "pad",
            )
        pairs = zip(self.pad[::2], self.pad[1::2], strict=True)
        return {len(x) - 1 - k: pair for k, pair in enumerate(pairs)}

    def infer(self, x: Shape) -> Shape:
        amounts = self._amounts(x)
        return tuple(size + sum(amounts.get(d, (0, 0))) for d, size in enumerate(x))

    def _window(self, x: Shape, dim: int) -> Window:
        return Window(1, 1, self._amounts(x).get(dim, (0, 0))[0])

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return tuple(self._window(x, dim) for dim in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window:
        return self._window(x, 1)

    def lower(self, x: Shape):
        amounts = {dim: pair for dim, pair in self._amounts(x).items() if any(pair)}
        return _Pad()(amounts, self.value)


@register
class Roll(Op):
    """torch.roll along `dims`: an element moves `shifts` places, wrapping around the end.

    For receptive fields a roll reads as a shift (position i reads i - shift) and the wrapped
    elements are not followed: Swin's `shiftmask` keeps them from mixing with the others.
    """

    name: ClassVar[str] = "roll"
    category: ClassVar[str] = "layout"
    summary: ClassVar[str] = "cyclic shift by `shifts` along `dims` (torch.roll)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 7, 7, 4), {"shifts": [-3, -3], "dims": [1, 2]}),
        Example((1, 3, 5, 6), {"shifts": 2, "dims": -1}),
        Example((1, 2, 3, 4), {"shifts": [-3, 5], "dims": [1, 3]}),  # past the size
    )

    shifts: _INTS
    """how many places elements move along each dim (a negative shift moves them back)."""
    dims: _INTS
    """the dims rolled, one per shift (not the batch)."""

    def _shift(self, x: Shape) -> dict[int, int]:
        if len(self.shifts) != len(self.dims):
            raise OpError(
                "out-of-range",
                f"`roll` has {len(self.shifts)} shifts for {len(self.dims)} dims",
                "shifts",
            )
        found = {}
        for dim, shift in zip(self.dims, self.shifts, strict=True):
            index = dim_index(dim, x, "dims")
            keep_batch(index, x, "dims", "rolls")
            found[index] = shift
        return found

    def infer(self, x: Shape) -> Shape:
        self._shift(x)
        return x

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        shifts = self._shift(x)
        return tuple(Window(1, 1, shifts.get(dim, 0)) for dim in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window:
        return Window(1, 1, self._shift(x).get(1, 0))

    def lower(self, x: Shape):
        # A shift as torch reads it, modulo the size: torch's ONNX export of a shift larger
        # than the dim (-3 along 2 channels) computes another roll.
        shifts = {
            dim: shift % x[dim] if isinstance(x[dim], int) else shift
            for dim, shift in self._shift(x).items()
        }
        return _Roll()(tuple(shifts.values()), tuple(shifts))


def _window_size(op: Op, x: Shape) -> int:
    """wh·ww, the tokens of a window, after checking that the last two dims hold them."""
    tokens = op.window_size[0] * op.window_size[1]
    if len(x) < 4 or x[-1] != tokens or x[-2] != tokens:
        raise OpError(
            "bad-layout",
            f"`{op.name}` adds to attention logits (..., heads, {tokens}, {tokens}) of windows "
            f"{op.window_size[0]}×{op.window_size[1]}, got {format_shape(x)}",
            "window_size",
        )
    return tokens


@register
class RelativePositionBias(Op):
    """Swin's relative position bias: a learnable table of (2·wh - 1)·(2·ww - 1) entries per
    head, one per offset between two positions of a window, gathered into (heads, wh·ww, wh·ww)
    and added to the attention logits (..., heads, wh·ww, wh·ww).

    As torchvision: the table `relative_position_bias_table` ((2·wh - 1)·(2·ww - 1), heads),
    truncated-normal with std 0.02, and the buffer `relative_position_index` ((wh·ww)²,
    int64) that gathers it.
    """

    name: ClassVar[str] = "relativepositionbias"
    category: ClassVar[str] = "other"
    summary: ClassVar[str] = (
        "adds Swin's learnable relative position bias, one per head and offset in a window"
    )
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 2, 3, 4, 4), {"window_size": 2}),
        Example((1, 2, 3, 6, 6), {"window_size": [2, 3]}),
    )

    window_size: Pair
    """the window, wh × ww positions (an integer for a square one)."""

    def _heads(self, x: Shape) -> int:
        _window_size(self, x)
        heads = x[-3]
        if isinstance(heads, Sym):
            raise OpError(
                "symbolic-channels", f"the head count `{heads}` depends on a symbolic input dim"
            )
        return heads

    def infer(self, x: Shape) -> Shape:
        self._heads(x)
        return x

    def params(self, x: Shape) -> int:
        wh, ww = self.window_size
        return (2 * wh - 1) * (2 * ww - 1) * self._heads(x)

    def buffers(self, x: Shape) -> int:
        return (self.window_size[0] * self.window_size[1]) ** 2

    def buffer_bytes(self, x: Shape, float_bytes: int) -> int:
        return self.buffers(x) * 8  # the index is int64

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window:
        return Window()

    def lower(self, x: Shape):
        return _RelativePositionBias()(self.window_size, self._heads(x))


@register
class ShiftMask(Op):
    """Swin's attention mask for shifted windows, added to the logits
    (N, nH, nW, ..., wh·ww, wh·ww) of the nH × nW windows taken after a roll by -shift (the
    dims between, attention heads, broadcast): two positions of a window that came from
    different regions of the unrolled map get -100, others 0.

    A constant of the sizes, computed as torchvision's `shifted_window_attention` does for a
    padded map of nH·wh × nW·ww.
    """

    name: ClassVar[str] = "shiftmask"
    category: ClassVar[str] = "other"
    summary: ClassVar[str] = (
        "adds Swin's shifted-window mask (-100 between regions) to (N, nH, nW, ..., L, L) logits"
    )
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 2, 3, 4, 4), {"window_size": 2, "shift_size": 1}),
        Example((1, 3, 2, 6, 6), {"window_size": [2, 3], "shift_size": [1, 2]}),
    )

    window_size: Pair
    """the window, wh × ww positions."""
    shift_size: NonNegativePair
    """the roll before the windows were taken, (sh, sw), each less than the window (0: that
    axis not shifted)."""

    def infer(self, x: Shape) -> Shape:
        _window_size(self, x)
        if len(x) < 5:
            raise OpError(
                "rank-mismatch",
                f"`shiftmask` needs logits (N, nH, nW, ..., L, L), got {format_shape(x)}",
            )
        if any(s >= w for s, w in zip(self.shift_size, self.window_size, strict=True)):
            raise OpError(
                "out-of-range",
                f"`shift_size: {list(self.shift_size)}` must be less than the window "
                f"{list(self.window_size)}",
                "shift_size",
            )
        return x

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window:
        return Window()

    def lower(self, x: Shape):
        mask = shift_mask(x[1], x[2], self.window_size, self.shift_size)  # (nH, nW, L, L)
        return _ShiftMask()(mask.view(*mask.shape[:2], *(1,) * (len(x) - 5), *mask.shape[2:]))


def shift_mask(rows: int, columns: int, window: tuple[int, int], shift: tuple[int, int]) -> Any:
    """The mask (rows, columns, L, L) of torchvision's `shifted_window_attention` for a map of
    rows × columns windows."""
    import torch

    (wh, ww), (sh, sw) = window, shift
    regions = torch.zeros(rows * wh, columns * ww)
    count = 0
    for h in ((0, -wh), (-wh, -sh), (-sh, None)):
        for w in ((0, -ww), (-ww, -sw), (-sw, None)):
            regions[h[0] : h[1], w[0] : w[1]] = count
            count += 1
    regions = regions.view(rows, wh, columns, ww).permute(0, 2, 1, 3).reshape(rows, columns, -1)
    differ = regions.unsqueeze(-2) != regions.unsqueeze(-1)  # (rows, columns, L, L)
    return torch.where(differ, -100.0, 0.0)


# Torch modules --------------------------------------------------------------------------------


@cache
def _Scale():
    import torch.nn as nn

    class Scale(nn.Module):
        def __init__(self, factor: float):
            super().__init__()
            self.factor = factor

        def forward(self, x):
            return x * self.factor

    return Scale


@cache
def _Pad():
    import torch
    import torch.nn as nn

    class Pad(nn.Module):
        """F.pad with a constant, as concatenated slabs of the value: torch's exporter writes an
        ONNX Pad whose amounts it computes in the graph, which ONNX's shape inference does not
        follow, so every size after it would be unknown."""

        def __init__(self, amounts: dict[int, tuple[int, int]], value: float):
            super().__init__()
            self.amounts, self.value = amounts, value

        def forward(self, x):
            for dim, (before, after) in self.amounts.items():
                edge = x.narrow(dim, 0, 1)
                slab = torch.where(edge == edge, self.value, self.value).to(x.dtype)
                x = torch.cat([slab] * before + [x] + [slab] * after, dim)
            return x

    return Pad


@cache
def _Roll():
    import torch
    import torch.nn as nn

    class Roll(nn.Module):
        def __init__(self, shifts: tuple[int, ...], dims: tuple[int, ...]):
            super().__init__()
            self.shifts, self.dims = shifts, dims

        def forward(self, x):
            return torch.roll(x, self.shifts, self.dims)

    return Roll


@cache
def _RelativePositionBias():
    import torch
    import torch.nn as nn

    class RelativePositionBias(nn.Module):
        """torchvision's `relative_position_bias_table` and `relative_position_index`."""

        def __init__(self, window: tuple[int, int], heads: int):
            super().__init__()
            wh, ww = window
            self.tokens = wh * ww
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros((2 * wh - 1) * (2 * ww - 1), heads)
            )
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            coords = torch.stack(
                torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
            ).flatten(1)  # (2, L)
            offsets = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (L, L, 2)
            index = (offsets[..., 0] + wh - 1) * (2 * ww - 1) + offsets[..., 1] + ww - 1
            self.register_buffer("relative_position_index", index.flatten())

        def forward(self, x):
            bias = self.relative_position_bias_table[self.relative_position_index]
            bias = bias.view(self.tokens, self.tokens, -1).permute(2, 0, 1)  # (heads, L, L)
            return x + bias

    return RelativePositionBias


@cache
def _ShiftMask():
    import torch.nn as nn

    class ShiftMask(nn.Module):
        """Adds a constant mask; a plain attribute, not a buffer: it is no state to save."""

        def __init__(self, mask):
            super().__init__()
            self.mask = mask

        def forward(self, x):
            return x + self.mask.to(x)

    return ShiftMask
