"""Layout ops: the same elements in another arrangement, with PyTorch's names and semantics.

`reshape`, `flatten`, `unflatten`, `permute`, `transpose`, `pixelshuffle`, `pixelunshuffle`,
`channelshuffle`, `slice` and `select`. None has parameters or MACs. Dims are numbered as in
PyTorch, batch first, a negative one counting from the end; archc's batch is symbolic and
stays dim 0, so an op that would move, merge or split it is refused (`batch-dim`).

Each says which input dims its output dims hold (`axes`), so that the analyses follow the
network input's H and W through it. Sizes may be symbolic: a `-1` is the element count over
the other sizes, exact where the division is (`(N, 8, H, W) -> (N, 8, -1)` gives H*W), and
otherwise a condition that narrows the valid inputs ("8*H*W is a multiple of 3").

Everything lowers to torch ops that export as single ONNX nodes (Reshape with a constant
target, or Flatten to (N, features); Transpose, Slice, Gather, DepthToSpace), so ONNX's shape
inference keeps every dim.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from math import prod
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, PlainValidator, WithJsonSchema
from pydantic import Field as Constraint

from archc.dims import Dim, Shape, Sym, Window, exact_quotient, format_shape
from archc.ops.base import (
    Example,
    Expect,
    Op,
    OpError,
    PositiveInt,
    channels,
    dim_index,
    keep_batch,
    numel,
    register,
    same_geometry,
)

# The most dims a layout op gives a tensor: more than any network writes (Swin's window
# partition has 6), few enough that following dims through layouts stays cheap.
MAX_RANK = 16


def _size(value: Any) -> Any:
    if isinstance(value, Sym) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise ValueError("a size is an integer or a symbolic size")


def _entry(value: Any) -> Any:
    return value if isinstance(value, str) else _size(value)


def _listed(expect: str, entry) -> Any:
    """A list field of sizes (ints, -1, or symbolic sizes an expression computed), as a tuple;
    `entry` validates each item."""
    return Annotated[
        tuple[
            Annotated[
                Any,
                PlainValidator(entry),
                WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]}),
            ],
            ...,
        ],
        BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v),
        Constraint(min_length=1, max_length=MAX_RANK),
        Expect(expect),
    ]


Sizes = _listed("a list of sizes, one may be -1", _size)
ShapeEntries = _listed(
    "the shape, batch first: -1 or a name (N) for the batch, then sizes, one may be -1", _entry
)


def _fill(total: Dim, sizes: tuple, what: str, field: str) -> tuple[tuple, list]:
    """`sizes` with its -1, if any, computed from `total` elements, and the conditions that
    symbolic sizes must meet; refuses sizes that cannot hold `total` elements.

    `what` names the elements in messages: "the 392 elements of a sample of (N, 8, 7, 7)".
    """
    for size in sizes:
        if isinstance(size, int) and size < 1 and size != -1:
            raise OpError(
                "out-of-range", f"`{field}` has the size {size}; sizes are at least 1 or -1", field
            )
    unknown = [i for i, size in enumerate(sizes) if isinstance(size, int) and size == -1]
    if len(unknown) > 1:
        raise OpError(
            "bad-layout",
            f"`{field}` has more than one -1: only one size can be computed from the others",
            field,
        )
    known = prod((s for s in sizes if not (isinstance(s, int) and s == -1)), start=1)
    if not unknown:
        if isinstance(total, int) and isinstance(known, int) and total != known:
            raise OpError(
                "bad-layout",
                f"{what} do not fit sizes {_listing(sizes)}, which hold {known}",
                field,
                hint=f"make the sizes multiply to {total}, or write -1 for one of them",
            )
        return sizes, [] if known == total else [(known, total, f"`{field}` holds {what}")]
    part = exact_quotient(total, known)
    conditions = []
    if part is None:
        if not isinstance(known, int):
            raise OpError(
                "bad-layout",
                f"the -1 of `{field}` is {total} over {known}, which has no closed form",
                field,
                hint="give the sizes as numbers, or check a concrete input",
            )
        if isinstance(total, int):
            raise OpError(
                "bad-layout",
                f"{what} do not divide into sizes {_listing(sizes)}: {total} is not a "
                f"multiple of {known}",
                field,
            )
        part = total // known
        conditions.append((part * known, total, f"{total} is a multiple of {known}"))
    filled = list(sizes)
    filled[unknown[0]] = part
    return tuple(filled), conditions


def _listing(sizes: tuple) -> str:
    return "[" + ", ".join(map(str, sizes)) + "]"


def _regroup(x: Shape, y: Shape) -> tuple[tuple[int, ...], ...]:
    """For elements reshaped from `x` to `y` (batch first, kept): for each output dim, the input
    dims it holds. Groups are the smallest runs of dims whose products agree, so that
    (N, C, H, W) -> (N, C, H*W) keeps C and merges H and W, and a size-1 dim goes alone.

    Runs x[i:k] and y[j:m] from a boundary agree where the products of all dims before them
    do, so the groups end where those prefix products meet.
    """
    before_x, before_y = _prefixes(x), _prefixes(y)
    ends: dict = {}
    for m in range(len(y), 0, -1):  # the first dim m at which each product is reached
        ends[before_y[m]] = [m, *ends.get(before_y[m], [])]
    held: list[tuple[int, ...]] = [(0,)]
    i, j = 1, 1
    while i < len(x) or j < len(y):
        k, m = next(
            (
                (k, m)
                for k in range(i, len(x) + 1)
                for m in ends.get(before_x[k], ())
                if m >= j and (k, m) != (i, j)
            ),
            (len(x), len(y)),  # products equal only for some sizes: the rest is one group
        )
        held += [tuple(range(i, k))] * (m - j)
        i, j = k, m
    return tuple(held)


def _prefixes(shape: Shape) -> list[Dim]:
    """The products of the dims after the batch before each dim: [_, 1, d1, d1*d2, ...]."""
    found: list[Dim] = [1, 1]
    for size in shape[1:]:
        found.append(found[-1] * size)
    return found


class _Layout(Op):
    """Base of the ops that move elements without computing: no parameters, no MACs."""

    category: ClassVar[str] = "layout"

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        return same_geometry(x)  # each element read once, where it lies

    def channel_window(self, x: Shape) -> Window | None:
        return Window()


class _Reshaping(_Layout):
    """A layout op that keeps the elements in order: its output dims hold its input dims by
    their products, and it lowers to one reshape."""

    def axes(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        return _regroup(x, self.infer(x))

    def lower(self, x: Shape):
        return _module(type(self).__name__, _Reshape)(_sample(x), _target(x, self.infer(x)))


def _sample(x: Shape) -> tuple:
    """A sample's dims as the torch module checks them: a reshape to a constant target would
    otherwise take a sample of another size as several (the -1 of the batch absorbs it)."""
    return tuple(d if isinstance(d, int) else None for d in x[1:])


def _target(x: Shape, y: Shape) -> tuple:
    """A reshape's target for the torch module: ints where sizes are known, so that ONNX's shape
    inference knows them (-1 for the batch), and input dims copied or one -1 where symbolic."""
    if all(isinstance(d, int) for d in y[1:]):
        return (-1, *y[1:])
    held = _regroup(x, y)
    target: list[Any] = [("copy", 0)]
    for j, size in enumerate(y[1:], start=1):
        if isinstance(size, int):
            target.append(size)
        elif len(held[j]) == 1 and held.count(held[j]) == 1 and x[held[j][0]] == size:
            target.append(("copy", held[j][0]))
        else:
            target.append(-1)
    if target.count(-1) > 1:
        raise NotImplementedError(
            f"a reshape to {format_shape(y)} builds at concrete sizes only: give the input "
            "concrete spatial dims"
        )
    return tuple(target)


@register
class Reshape(_Reshaping):
    """torch.reshape: the same elements, in row-major order, in a shape given batch first."""

    name: ClassVar[str] = "reshape"
    summary: ClassVar[str] = "the same elements in another shape, batch first (torch.reshape)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 8, 3, 4), {"shape": ["N", 8, 12]}),
        Example((1, 8, 3, 4), {"shape": ["N", 2, -1, 3]}),
        Example((1, 24), {"shape": [-1, 2, 3, 4]}),
        Example((1, 6, 4, 5), {"shape": ["N", 4, 30]}),
        Example((1, 1, 6), {"shape": ["N", 6, 1]}),
    )

    shape: ShapeEntries
    """the new shape, batch first: the batch as a name (N, kept) or -1, then the sizes, one of
    which may be -1 (computed from the element count)."""

    def _fit(self, x: Shape) -> tuple[Shape, list]:
        batch, rest = self.shape[0], self.shape[1:]
        if not (isinstance(batch, str) or (isinstance(batch, int) and batch == -1)):
            raise OpError(
                "batch-dim",
                f"the first entry of `shape` is the batch: write it as a name (N) or -1, "
                f"not {batch}",
                "shape",
                hint=f"write `shape: [N, {', '.join(map(str, self.shape))}]` to keep the batch",
            )
        if any(isinstance(size, str) for size in rest):
            raise OpError(
                "bad-layout", "only the first entry of `shape`, the batch, may be a name", "shape"
            )
        what = f"the {numel(x)} elements of a sample of {format_shape(x)}"
        if isinstance(batch, int) and any(isinstance(s, int) and s == -1 for s in rest):
            raise OpError(
                "bad-layout",
                "`shape` has more than one -1: with the batch written -1, give every other size",
                "shape",
                hint=f"write the batch as a name: `shape: [N, {', '.join(map(str, rest))}]`",
            )
        if isinstance(batch, int):  # -1: PyTorch computes the batch, which must stay N
            known = prod(rest, start=1)
            total = numel(x)
            if isinstance(known, int) and isinstance(total, int) and known != total:
                raise OpError(
                    "batch-dim",
                    f"`shape` with -1 for the batch regroups the batch: {what} do not make "
                    f"one sample of {_listing(rest)}, which holds {known}",
                    "shape",
                    hint=f"make the sizes after the batch multiply to {total}",
                )
        sizes, conditions = _fill(numel(x), rest, what, "shape")
        return (x[0], *sizes), conditions

    def infer(self, x: Shape) -> Shape:
        return self._fit(x)[0]

    def conditions(self, x: Shape) -> list[tuple]:
        return self._fit(x)[1]


@register
class Flatten(_Reshaping):
    """nn.Flatten: merges dims `start_dim`..`end_dim` (by default all but the batch)."""

    name: ClassVar[str] = "flatten"
    summary: ClassVar[str] = "flatten dims start_dim..end_dim into one (nn.Flatten)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 5)),
        Example((1, 3, 4, 5), {"start_dim": 2}),
        Example((1, 2, 3, 4, 5), {"start_dim": 1, "end_dim": 2}),
        Example((1, 3, 4, 5), {"start_dim": -2, "end_dim": -1}),
    )

    start_dim: int = 1
    """the first dim merged (1: the first after the batch)."""
    end_dim: int = -1
    """the last dim merged (-1: the last)."""

    def infer(self, x: Shape) -> Shape:
        start = dim_index(self.start_dim, x, "start_dim")
        end = dim_index(self.end_dim, x, "end_dim")
        if start > end:
            raise OpError("out-of-range", "`start_dim` comes after `end_dim`", "start_dim")
        if start < end:
            keep_batch(start, x, "start_dim", "merges")
        return (*x[:start], prod(x[start : end + 1], start=1), *x[end + 1 :])


@register
class Unflatten(_Reshaping):
    """nn.Unflatten: splits dim `dim` into `sizes`."""

    name: ClassVar[str] = "unflatten"
    summary: ClassVar[str] = "split dim `dim` into `sizes`, one may be -1 (nn.Unflatten)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 12, 5), {"dim": 1, "sizes": [3, 4]}),
        Example((1, 3, 20), {"dim": -1, "sizes": [4, -1]}),
        Example((1, 6, 4, 4), {"dim": 1, "sizes": [2, 3]}),
    )

    dim: int
    """the dim split (a negative one counts from the end)."""
    sizes: Sizes
    """the sizes it is split into, outermost first; one may be -1."""

    def _fit(self, x: Shape) -> tuple[Shape, list]:
        dim = dim_index(self.dim, x, "dim")
        keep_batch(dim, x, "dim", "splits")
        what = f"the {x[dim]} elements of dim {dim} of {format_shape(x)}"
        sizes, conditions = _fill(x[dim], self.sizes, what, "sizes")
        y = (*x[:dim], *sizes, *x[dim + 1 :])
        if len(y) > MAX_RANK:
            raise OpError(
                "bad-layout",
                f"`unflatten` would give {format_shape(y)}, of rank {len(y)}: archc allows at "
                f"most {MAX_RANK} dims",
                "sizes",
            )
        return y, conditions

    def infer(self, x: Shape) -> Shape:
        return self._fit(x)[0]

    def conditions(self, x: Shape) -> list[tuple]:
        return self._fit(x)[1]


class _Reorder(_Layout):
    """A layout op that reorders the dims: output dim i is input dim `order(x)[i]`."""

    def order(self, x: Shape) -> tuple[int, ...]:
        raise NotImplementedError

    def infer(self, x: Shape) -> Shape:
        return tuple(x[d] for d in self.order(x))

    def axes(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        return tuple((d,) for d in self.order(x))

    def lower(self, x: Shape):
        return _module(type(self).__name__, _Permute)(self.order(x))


@register
class Permute(_Reorder):
    """torch.permute: the dims in the order `dims`, which keeps the batch first."""

    name: ClassVar[str] = "permute"
    summary: ClassVar[str] = "the dims reordered as `dims`, batch first (torch.permute)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 5), {"dims": [0, 2, 3, 1]}),
        Example((1, 3, 4, 5), {"dims": [0, 3, 1, 2]}),
        Example((1, 5, 7), {"dims": [0, -1, 1]}),
    )

    dims: Annotated[
        tuple[int, ...],
        BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v),
        Constraint(max_length=MAX_RANK),
        Expect("a list of dims, one for each dim of the input, batch (0) first"),
    ]
    """the input dim each output dim takes, batch (0) first: [0, 2, 3, 1] is channels last."""

    def order(self, x: Shape) -> tuple[int, ...]:
        if len(self.dims) != len(x):
            raise OpError(
                "bad-layout",
                f"`dims` lists {len(self.dims)} dims for the rank-{len(x)} input {format_shape(x)}",
                "dims",
                hint=f"list each of the dims 0..{len(x) - 1} once",
            )
        order = tuple(dim_index(d, x, "dims") for d in self.dims)
        if sorted(order) != list(range(len(x))):
            raise OpError(
                "bad-layout",
                f"`dims` {_listing(self.dims)} names a dim twice: it is not an order of the "
                f"dims 0..{len(x) - 1}",
                "dims",
            )
        if order[0] != 0:
            keep_batch(0, x, "dims", "moves")
        return order


@register
class Transpose(_Reorder):
    """torch.transpose: dims `dim0` and `dim1` swapped."""

    name: ClassVar[str] = "transpose"
    summary: ClassVar[str] = "dims `dim0` and `dim1` swapped (torch.transpose)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 5), {"dim0": 1, "dim1": 3}),
        Example((1, 5, 7), {"dim0": 1, "dim1": 2}),
        Example((1, 3, 4, 5), {"dim0": -1, "dim1": -2}),
    )

    dim0: int
    """one dim swapped (not the batch)."""
    dim1: int
    """the other dim swapped."""

    def order(self, x: Shape) -> tuple[int, ...]:
        a, b = dim_index(self.dim0, x, "dim0"), dim_index(self.dim1, x, "dim1")
        if a != b:
            keep_batch(a, x, "dim0", "moves")
            keep_batch(b, x, "dim1", "moves")
        order = list(range(len(x)))
        order[a], order[b] = b, a
        return tuple(order)


class _PixelShuffling(_Layout):
    """Moves elements between the channels and the positions of an image, by a factor."""

    ranks: ClassVar[tuple[int, ...]] = (4,)
    module: ClassVar[str]  # the torch.nn class name

    def factor(self) -> int:
        raise NotImplementedError

    def channel_window(self, x: Shape) -> None:
        return None  # an output channel holds elements of other channels

    def lower(self, x: Shape):
        import torch.nn as nn

        return getattr(nn, self.module)(self.factor())


@register
class PixelShuffle(_PixelShuffling):
    """nn.PixelShuffle: (N, C·r², H, W) -> (N, C, H·r, W·r)."""

    name: ClassVar[str] = "pixelshuffle"
    summary: ClassVar[str] = "(N, C*r*r, H, W) to (N, C, H*r, W*r) (nn.PixelShuffle)"
    module: ClassVar[str] = "PixelShuffle"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 8, 3, 5), {"upscale_factor": 2}),
        Example((1, 9, 2, 2), {"upscale_factor": 3}),
    )

    upscale_factor: PositiveInt
    """r: the height and width grow r times, the channels shrink r² times."""

    def infer(self, x: Shape) -> Shape:
        r = self.upscale_factor
        c = channels(x, "upscale_factor")
        if c % (r * r):
            raise OpError(
                "bad-layout",
                f"`pixelshuffle` by {r} needs channels in multiples of {r * r}, got {c} "
                f"(shape {format_shape(x)})",
                "upscale_factor",
            )
        return (x[0], c // (r * r), x[2] * r, x[3] * r)

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        # Output row u reads input row u // r: one position, the jump divided by r (as
        # nearest upsampling).
        return (Window(1, Fraction(1, self.upscale_factor), 0),) * 2

    def factor(self) -> int:
        return self.upscale_factor


@register
class PixelUnshuffle(_PixelShuffling):
    """nn.PixelUnshuffle: (N, C, H·r, W·r) -> (N, C·r², H, W)."""

    name: ClassVar[str] = "pixelunshuffle"
    summary: ClassVar[str] = "(N, C, H*r, W*r) to (N, C*r*r, H, W) (nn.PixelUnshuffle)"
    module: ClassVar[str] = "PixelUnshuffle"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 2, 6, 4), {"downscale_factor": 2}),
        Example((1, 1, 6, 9), {"downscale_factor": 3}),
    )

    downscale_factor: PositiveInt
    """r: the height and width shrink r times, the channels grow r² times."""

    def infer(self, x: Shape) -> Shape:
        r = self.downscale_factor
        for axis, what in ((2, "height"), (3, "width")):
            if isinstance(x[axis], int) and x[axis] % r:
                raise OpError(
                    "bad-layout",
                    f"`pixelunshuffle` by {r} needs a {what} in multiples of {r}, got "
                    f"{x[axis]} (shape {format_shape(x)})",
                    "downscale_factor",
                )
        return (x[0], x[1] * r * r, x[2] // r, x[3] // r)

    def conditions(self, x: Shape) -> list[tuple]:
        r = self.downscale_factor
        return [
            ((x[axis] // r) * r, x[axis], f"the {what} is a multiple of {r}")
            for axis, what in ((2, "height"), (3, "width"))
            if isinstance(x[axis], Sym)
        ]

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        r = self.downscale_factor
        return (Window(r, r, 0),) * 2

    def factor(self) -> int:
        return self.downscale_factor


@register
class ChannelShuffle(_Layout):
    """nn.ChannelShuffle, as ShuffleNet: the channels in `groups` interleaved."""

    name: ClassVar[str] = "channelshuffle"
    summary: ClassVar[str] = "interleave the channels of `groups` groups (nn.ChannelShuffle)"
    ranks: ClassVar[tuple[int, ...]] = (3, 4, 5)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6, 4, 5), {"groups": 2}),
        Example((1, 12, 3, 3), {"groups": 3}),
        Example((1, 8, 5), {"groups": 4}),
    )

    groups: PositiveInt
    """the channel groups interleaved (the channels must be a multiple of it)."""

    def infer(self, x: Shape) -> Shape:
        c = channels(x, "groups")
        if c % self.groups:
            raise OpError(
                "bad-groups",
                f"`channelshuffle` needs channels divisible by `groups: {self.groups}`, "
                f"got {c} (shape {format_shape(x)})",
                "groups",
            )
        return x

    def channel_window(self, x: Shape) -> None:
        return None  # channel c reads another channel

    def lower(self, x: Shape):
        # As torchvision's ShuffleNetV2 writes it (view, transpose, view), which ONNX exports;
        # torch's exporter refuses nn.ChannelShuffle's aten::channel_shuffle.
        g, rest = self.groups, x[2:]
        grouped = (x[0], g, x[1] // g, *rest)
        swapped = (x[0], x[1] // g, g, *rest)
        return _module("ChannelShuffle", _ChannelShuffle)(
            _sample(x), _target(x, grouped), _target(swapped, x)
        )


def _slice_dim(op: Op, x: Shape) -> int:
    dim = dim_index(op.dim, x, "dim")
    keep_batch(dim, x, "dim", "takes elements of")
    return dim


def _windows(dim: int, window: Window, x: Shape) -> tuple[Window, ...]:
    """`window` along dim `dim` (a spatial one), one position along the others."""
    return tuple(window if axis == dim else Window() for axis in range(2, len(x)))


@register
class Slice(_Layout):
    """x[:, ..., start:end:step] along `dim`, with Python's rules: negative indices count from
    the end, bounds past the end are clamped."""

    name: ClassVar[str] = "slice"
    summary: ClassVar[str] = "elements start:end:step of dim `dim` (x[:, start:end:step])"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 8, 5, 5), {"dim": 1, "start": 2, "end": 6}),
        Example((1, 3, 9, 7), {"dim": 2, "start": 1, "step": 2}),
        Example((1, 3, 9, 7), {"dim": -1, "start": -4}),
        Example((1, 4, 10), {"dim": 2, "end": -3, "step": 3}),
        Example((1, 6, 4, 4), {"dim": 1, "start": 4, "end": 99}),
    )

    dim: int
    """the dim sliced (not the batch; a negative one counts from the end)."""
    start: int | None = None
    """the first index taken (a negative one counts from the end; none: 0)."""
    end: int | None = None
    """the index it stops before (a negative one counts from the end; none: the end)."""
    step: PositiveInt = 1
    """the step between indices taken."""

    def _taken(self, x: Shape) -> tuple[int, Dim, Dim, list]:
        """(dim, first index, count, conditions) of the elements taken."""
        dim = _slice_dim(self, x)
        size, step = x[dim], self.step
        if isinstance(size, int):
            first, stop, _ = slice(self.start, self.end, step).indices(size)
            count = len(range(first, stop, step))
            if count < 1:
                raise OpError(
                    "out-of-range",
                    f"`slice` {self.text()} of dim {dim} takes nothing of its {size} elements "
                    f"(shape {format_shape(x)})",
                    "start" if self.start is not None else "end",
                )
            return dim, first, count, []
        # A symbolic size: a clamped bound has no closed form, so where clamping would change
        # the count (a negative start before the first element, an end past the last) the
        # size must hold the bound. A start past the end, or an end before the start, takes
        # nothing, which the count's condition (at least 1) refuses as PyTorch's empty result.
        conditions = []
        for bound, needed in (
            (self.start, self.start is not None and self.start < 0),
            (self.end, self.end is not None and self.end >= 0),
        ):
            if needed:
                need = abs(bound)
                what = f"dim {dim} has at least {need} elements"
                conditions.append((size, need, what, "positive"))
        first = 0 if self.start is None else (size + self.start if self.start < 0 else self.start)
        stop = size if self.end is None else (size + self.end if self.end < 0 else self.end)
        count = (stop - first + step - 1) // step
        if isinstance(count, int) and count < 1:
            raise OpError(
                "out-of-range",
                f"`slice` {self.text()} of dim {dim} takes nothing",
                "start" if self.start is not None else "end",
            )
        return dim, first, count, conditions

    def text(self) -> str:
        """The slice as Python writes it: `2:6`, `1::2`."""
        bounds = ("" if v is None else str(v) for v in (self.start, self.end))
        return ":".join(bounds) + (f":{self.step}" if self.step != 1 else "")

    def infer(self, x: Shape) -> Shape:
        dim, _, count, _ = self._taken(x)
        return (*x[:dim], count, *x[dim + 1 :])

    def conditions(self, x: Shape) -> list[tuple]:
        return self._taken(x)[3]

    def _window(self, x: Shape) -> tuple[int, Window]:
        dim, first, _, _ = self._taken(x)
        return dim, Window(1, self.step, -first)

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return _windows(*self._window(x), x)

    def channel_window(self, x: Shape) -> Window:
        dim, window = self._window(x)
        return window if dim == 1 else Window()

    def lower(self, x: Shape):
        dim = _slice_dim(self, x)
        return _module("Slice", _Slice)(dim, self.start, self.end, self.step)


@register
class Select(_Layout):
    """x[:, ..., index] along `dim`: the dim removed, as `x[:, 0]` takes ViT's class token."""

    name: ClassVar[str] = "select"
    summary: ClassVar[str] = "element `index` of dim `dim`, the dim removed (x[:, index])"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 5, 7), {"dim": 1, "index": 0}),
        Example((1, 3, 4, 5), {"dim": 2, "index": -1}),
        Example((1, 3, 4, 5), {"dim": -1, "index": 2}),
    )

    dim: int
    """the dim removed (not the batch; a negative one counts from the end)."""
    index: int
    """the index taken along it (a negative one counts from the end)."""

    def _at(self, x: Shape) -> tuple[int, Dim]:
        """(dim, index counted from the start)."""
        dim = _slice_dim(self, x)
        size = x[dim]
        if isinstance(size, int) and not -size <= self.index < size:
            raise OpError(
                "out-of-range",
                f"`index: {self.index}` is out of range for dim {dim} of {size} elements "
                f"(shape {format_shape(x)})",
                "index",
                hint=f"use an index from {-size} to {size - 1}",
            )
        return dim, size + self.index if self.index < 0 else self.index

    def infer(self, x: Shape) -> Shape:
        dim, _ = self._at(x)
        return (*x[:dim], *x[dim + 1 :])

    def conditions(self, x: Shape) -> list[tuple]:
        dim = _slice_dim(self, x)
        if not isinstance(x[dim], Sym):
            return []
        need = -self.index if self.index < 0 else self.index + 1
        return [(x[dim], need, f"dim {dim} has at least {need} elements", "positive")]

    def axes(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        dim, _ = self._at(x)
        return tuple((axis,) for axis in range(len(x)) if axis != dim)

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        dim, index = self._at(x)
        return _windows(dim, Window(1, 1, -index), x)

    def channel_window(self, x: Shape) -> Window:
        dim, index = self._at(x)
        return Window(1, 1, -index) if dim == 1 else Window()

    def lower(self, x: Shape):
        dim, _ = self._at(x)
        return _module("Select", _Select)(dim, self.index)


# Torch modules --------------------------------------------------------------------------------


@cache
@cache
def _module(name: str, make) -> type:
    """The torch module class `make()` builds, named `name` (so that module trees and the
    fuzzer's records name each layer's op), defined on first use: importing archc never
    imports torch. It is kept in this module as `_torch_<name>`, where pickle finds it, so
    that a built model can be saved whole (`torch.save(model)`)."""
    cls = type(name, (make(),), {"__qualname__": f"_torch_{name}"})
    globals()[cls.__qualname__] = cls
    return cls


@cache
def _Reshape():
    import torch.nn as nn

    class Reshape(nn.Module):
        """x.reshape(target): an int is a size, ("copy", i) the input's dim i."""

        def __init__(self, sample: tuple, target: tuple):
            super().__init__()
            self.sample, self.target = sample, target

        def forward(self, x):
            _check_sample(self.sample, x)
            if len(self.target) == 2:  # (N, every other element): exported as ONNX's Flatten,
                return x.flatten(1)  # whose output the exporter declares with its dims
            return x.reshape(_sizes_of(self.target, x))

    return Reshape


def _check_sample(sample: tuple, x) -> None:
    """Refuse an input whose sample is not the one the module was built for."""
    dims = tuple(x.shape[1:])
    if len(dims) != len(sample) or any(s is not None and s != d for s, d in zip(sample, dims)):
        built = ", ".join("?" if s is None else str(s) for s in sample)
        raise ValueError(f"built for inputs of shape (N, {built}), got {tuple(x.shape)}")


def _sizes_of(target: tuple, x) -> list:
    return [x.shape[t[1]] if isinstance(t, tuple) else t for t in target]


@cache
def _Permute():
    import torch.nn as nn

    class Permute(nn.Module):
        def __init__(self, order: tuple[int, ...]):
            super().__init__()
            self.order = order

        def forward(self, x):
            return x.permute(*self.order)

    return Permute


@cache
def _ChannelShuffle():
    import torch.nn as nn

    class ChannelShuffle(nn.Module):
        """(N, C, ...) -> (N, g, C/g, ...) -> transposed -> (N, C, ...)."""

        def __init__(self, sample: tuple, grouped: tuple, back: tuple):
            super().__init__()
            self.sample, self.grouped, self.back = sample, grouped, back

        def forward(self, x):
            _check_sample(self.sample, x)
            x = x.reshape(_sizes_of(self.grouped, x))  # (N, g, C/g, ...)
            x = x.transpose(1, 2)  # (N, C/g, g, ...)
            return x.reshape(_sizes_of(self.back, x))  # (N, C, ...)

    return ChannelShuffle


@cache
def _Slice():
    import torch.nn as nn

    class Slice(nn.Module):
        def __init__(self, dim: int, start: int | None, end: int | None, step: int):
            super().__init__()
            self.index = (slice(None),) * dim + (slice(start, end, step),)

        def forward(self, x):
            return x[self.index]

    return Slice


@cache
def _Select():
    import torch.nn as nn

    class Select(nn.Module):
        def __init__(self, dim: int, index: int):
            super().__init__()
            self.dim, self.index = dim, index

        def forward(self, x):
            return x.select(self.dim, self.index)

    return Select
