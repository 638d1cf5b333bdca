"""Receptive fields, and which axes of the network input each dim of each tensor holds.

The analysis asks each op (`Op.receptive_field`): an op with windows applies the recurrences
of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks"
(Distill, 2019); an op that reads a whole axis sees the whole padded input along it; a merge
sees the union of its branches; upsampling divides the stride, which may become fractional.

A field is kept per spatial axis of the network input (a *source*: H is dim 2 of the input, W
dim 3), not per position in a tensor, because layout ops move them: after `permute: {dims: [0,
2, 3, 1]}` W is dim 2, and after `flatten: {start_dim: 2}` one dim holds H and W. Each dim of
each tensor is a list of *parts*, outermost first: a part walks `extent` positions of one source
at a `step` (or of none: channels, features). A dim of one whole source is *plain*, and ops read
it through their windows as always; a dim of several parts (H and W merged), or a part of a
source split over several dims, is read as follows, never wrong:

- one position of it (an activation, a linear layer over another dim): the fields stay;
- all of it (attention over tokens, a linear layer over flattened features): each source it
  holds whole gets the whole input as its field, and is *global*: no later layer changes it;
- anything else (a window along merged H and W): the field has no window in input
  coordinates, and is reported as not applicable (None) from there on.

Each op tells how its output dims hold its input dims (`Op.axes`); splitting a merged dim at the
sizes it was merged from (an unflatten after a flatten) gives the plain dims back.

    >>> [f.size for f in receptive_fields(traces(check(load("specs/lenet.yaml"))))[-1]]
    [28, 28]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from math import prod

from archc.dims import Dim, exact_quotient
from archc.ir import Layer, Network
from archc.ops.base import POSITION, Fields, ReceptiveField, Window, through, whole


@dataclass(frozen=True)
class Part:
    """`extent` positions of a source (a spatial dim of the network input), `step` apart in it;
    source None for positions of no source (channels, features, or ones whose order is lost)."""

    source: int | None
    extent: Dim
    step: Dim = 1


@dataclass(frozen=True)
class Trace:
    """What a tensor's dims hold, and the field of its positions along each source.

    `fields[s - 2]` is the field along source s, None where not applicable; `whole` holds the
    sources whose field is the whole input and is followed no longer. A source in no part is
    followed no longer either: global, not applicable, or removed (a select keeps its field).
    """

    dims: tuple[tuple[Part, ...], ...]
    fields: Fields
    whole: frozenset[int] = frozenset()

    @cached_property
    def plain(self) -> tuple[int | None, ...]:
        """For each dim, the source it holds whole and alone, if any."""
        counts: dict[int | None, int] = {}
        for parts in self.dims:
            for part in parts:
                counts[part.source] = counts.get(part.source, 0) + 1
        return tuple(
            parts[0].source
            if len(parts) == 1 and parts[0].step == 1 and counts[parts[0].source] == 1
            else None
            for parts in self.dims
        )


def receptive_fields(found: list[Trace]) -> list[Fields]:
    """For every layer, from the `traces` of a network: one ReceptiveField per spatial axis of
    the input (None where not applicable); [] without spatial axes."""
    if not found[0].fields:
        return []
    return [t.fields for t in found[1:]]


def source_dims(found: list[Trace]) -> list[tuple[int | None, ...]]:
    """For every value (0: the input), from the `traces` of a network: the spatial axis of the
    network input that each of its dims holds plainly (2 for H), or None."""
    return [t.plain for t in found]


def traces(network: Network) -> list[Trace]:
    """The trace of every value: 0 is the network input, i the output of layer i - 1."""
    x = network.input
    found = [
        Trace(
            tuple((Part(axis if axis >= 2 else None, size),) for axis, size in enumerate(x)),
            (POSITION,) * max(len(x) - 2, 0),
        )
    ]
    for layer in network.layers:
        inputs = [found[value] for value in layer.inputs]
        found.append(_merge(layer, inputs) if len(inputs) > 1 else _step(layer, inputs[0]))
    return found


# One op ---------------------------------------------------------------------------------------


class _Fields:
    """The fields of a trace while a layer changes them: sources turned global or lost."""

    def __init__(self, trace: Trace):
        self.values = list(trace.fields)
        self.whole = set(trace.whole)
        self.lost: set[int] = set()  # not applicable from here on
        self.before = trace.whole  # finished already: in no part

    def __getitem__(self, source: int) -> ReceptiveField:
        return self.values[source - 2]

    def __setitem__(self, source: int, field: ReceptiveField | None) -> None:
        self.values[source - 2] = field
        if field is None:
            self.lost.add(source)

    def finished(self) -> set[int]:
        """Sources no longer followed in the layout."""
        return self.whole | self.lost

    def trace(self, dims: list[tuple[Part, ...]]) -> Trace:
        done = self.finished()
        if done - self.before:
            dims = [
                _normal(tuple(_forget(p) if p.source in done else p for p in d))
                if any(p.source in done for p in d)
                else d
                for d in dims
            ]
        return Trace(tuple(dims), tuple(self.values), frozenset(self.whole))


def _step(layer: Layer, trace: Trace) -> Trace:
    op, x, y = layer.op, layer.input_shapes[0], layer.shape
    fields = _Fields(trace)
    dims = list(trace.dims)
    # Dims 2..: the op's own rule, each dim given the field of the source it holds plainly, or
    # that of one position, whose result says how the op reads the dim.
    plain = trace.plain
    given = tuple(POSITION if s is None else fields[s] for s in plain[2:])
    read = dict(enumerate(op.receptive_field([given], (x,)), start=2))
    if len(x) > 1 and any(p.source is not None for p in dims[1]):  # dim 1 holds a source
        window, source = op.channel_window(x), plain[1]
        field = POSITION if source is None else fields[source]
        read[1] = whole(field, x[1]) if window is None else through(field, window)
    for dim, result in read.items():
        if plain[dim] is not None:
            fields[plain[dim]] = result
        elif result != POSITION and _sources(dims[dim]):
            _read_merged(trace, dim, result == whole(POSITION, x[dim]), fields)
            dims[dim] = (Part(None, x[dim]),)
    return fields.trace(_regroup(op.axes(x), dims, y, fields))


def _sources(parts: tuple[Part, ...]) -> set[int]:
    return {p.source for p in parts if p.source is not None}


def _read_merged(trace: Trace, dim: int, all_of_it: bool, fields: _Fields) -> None:
    """A dim that is not plain read through more than one position: each source it holds
    whole becomes global where all of it is read, every other becomes not applicable."""
    for source in _sources(trace.dims[dim]):
        parts = [p for d in trace.dims for p in d if p.source == source]
        if all_of_it and all(p in trace.dims[dim] for p in parts):
            size = prod((p.extent for p in parts), start=1)
            fields[source] = whole(fields[source], size)
            fields.whole.add(source)
        else:
            fields[source] = None


def _regroup(axes, dims: list, y, fields: _Fields) -> list[tuple[Part, ...]]:
    """The output's dims from the input's, as `axes` (the op's `axes`) says."""
    if len(dims) == len(y) and axes == tuple((axis,) for axis in range(len(y))):
        return [  # every dim where it was: only a plain one may have changed its size
            parts
            if len(parts) == 1 and parts[0].extent == size
            else _cut_or_lose(parts, size, fields)
            for parts, size in zip(dims, y, strict=True)
        ]
    named = {axis for held in axes for axis in held}
    for axis, parts in enumerate(dims):
        if axis in named:
            continue
        # A removed dim (a select) takes its sources along, their fields kept as they are;
        # a source that keeps positions elsewhere has lost some of them.
        for source in _sources(parts):
            if any(p.source == source for d in dims if d is not parts for p in d):
                fields[source] = None
    out: list[tuple[Part, ...] | None] = [None] * len(y)
    for outs, ins in _components(axes):
        parts = tuple(p for axis in ins for p in dims[axis])
        for j, piece in zip(outs, _cut_or_lose(parts, [y[j] for j in outs], fields), strict=True):
            out[j] = piece
    return out


def _cut_or_lose(parts: tuple[Part, ...], sizes, fields: _Fields):
    """`_cut`, or where no cut gives the sizes, dims of no source, their sources lost. Given
    one size (not a list), the one dim."""
    one = not isinstance(sizes, list)
    pieces = _cut(parts, [sizes] if one else sizes)
    if pieces is None:
        for source in _sources(parts):
            fields[source] = None
        pieces = [(Part(None, size),) for size in ([sizes] if one else sizes)]
    return pieces[0] if one else pieces


def _components(axes) -> list[tuple[list[int], list[int]]]:
    """Groups of output dims and the input dims they hold, each group closed under sharing."""
    groups: list[tuple[list[int], list[int]]] = []
    for j, held in enumerate(axes):
        for outs, ins in groups:
            if set(held) & set(ins):
                outs.append(j)
                ins.extend(a for a in held if a not in ins)
                break
        else:
            groups.append(([j], list(held)))
    return groups


def _cut(parts: tuple[Part, ...], sizes: list[Dim]) -> list[tuple[Part, ...]] | None:
    """`parts` (row-major) cut into dims of `sizes`; None where a cut falls between positions
    no part boundary or exact split can give."""
    if len(sizes) == 1:
        size = sizes[0]
        if prod((p.extent for p in parts), start=1) == size:
            return [_normal(parts)]
        plain = [p for p in parts if p.extent != 1]
        if len(plain) == 1 and plain[0].source is not None and plain[0].step == 1:
            return [(replace(plain[0], extent=size),)]  # a plain dim through a window
        return None
    queue, pieces = list(parts), []
    for size in sizes:
        need, taken = size, []
        while need != 1:
            if not queue:
                return None
            part = queue.pop(0)
            if part.extent == need:
                taken.append(part)
                need = 1
            elif (rest := exact_quotient(need, part.extent)) is not None:
                taken.append(part)
                need = rest
            elif (inner := exact_quotient(part.extent, need)) is not None:
                taken.append(Part(part.source, need, part.step * inner))
                queue.insert(0, Part(part.source, inner, part.step))
                need = 1
            else:
                return None
        pieces.append(_normal(tuple(taken)))
    if any(p.extent != 1 for p in queue):
        return None
    return pieces


def _forget(part: Part) -> Part:
    return Part(None, part.extent)


def _normal(parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """Parts with adjacent pieces of one source joined (the outer stepping over the inner) and
    adjacent parts of no source joined; a dim of size 1 holds one part of no source."""
    result: list[Part] = []
    for part in parts:
        if part.extent == 1 and part.source is None:
            continue
        if result:
            last = result[-1]
            if last.source is None and part.source is None:
                result[-1] = Part(None, last.extent * part.extent)
                continue
            if last.source == part.source and last.step == part.step * part.extent:
                result[-1] = Part(part.source, last.extent * part.extent, part.step)
                continue
        result.append(part)
    return tuple(result) or (Part(None, 1),)


# A merge --------------------------------------------------------------------------------------


def _merge(layer: Layer, traces_in: list[Trace]) -> Trace:
    """Branches combined position by position: each source's field is the op's rule over the
    branches' fields of that source (a union), where every branch holds it in the same place
    (or one branch sees it whole).

    A branch of size 1 along a dim where the output is larger is broadcast along it (a
    squeeze-and-excitation gate): every output position reads its one position there, so
    what that dim of the branch holds does not count. A dim the op does not read position by
    position (its windows: a matmul reads rows and columns whole) holds no source after it.
    """
    op, x = layer.op, layer.input_shapes[0]
    windows = (op.channel_window(x), *op.geometry(x)) if len(x) > 1 else ()
    spread = [
        tuple(
            None if x[axis] == 1 != size else parts
            for axis, (parts, size) in enumerate(zip(t.dims, layer.shape, strict=True))
        )
        for t, x in zip(traces_in, layer.input_shapes, strict=True)
    ]
    given = [tuple(POSITION if f is None else f for f in t.fields) for t in traces_in]
    union = op.receptive_field(given, layer.input_shapes)
    fields = _Fields(traces_in[0])
    for index, field in enumerate(union):
        source = index + 2
        placed = {
            _placement(dims, source)
            for dims, t in zip(spread, traces_in, strict=True)
            if not _broadcast(dims, t, source)
        }
        if any(t.fields[index] is None for t in traces_in):
            fields[source] = None
        elif any(source in t.whole for t in traces_in):
            fields[source] = field
            fields.whole.add(source)
        else:
            fields[source] = field if len(placed) <= 1 else None
    dims = []
    for axis, size in enumerate(layer.shape):
        versions = {d[axis] for d in spread if d[axis] is not None}
        kept = len(versions) == 1 and (axis == 0 or windows[axis - 1] == Window())
        if kept and prod((p.extent for p in next(iter(versions))), start=1) == size:
            dims.append(versions.pop())  # (a concat along it changes its size)
            continue
        for parts in versions:
            for source in _sources(parts):
                if source not in fields.whole:
                    fields[source] = None
        dims.append((Part(None, size),))
    return fields.trace(dims)


def _placement(dims: tuple, source: int) -> tuple:
    """Where a branch holds `source`: (dim, part index, part) for each part of it."""
    return tuple(
        (axis, index, part)
        for axis, parts in enumerate(dims)
        if parts is not None
        for index, part in enumerate(parts)
        if part.source == source
    )


def _broadcast(dims: tuple, trace: Trace, source: int) -> bool:
    """Whether a branch holds `source` in a dim it is broadcast along."""
    return any(
        parts is None and any(p.source == source for p in trace.dims[axis])
        for axis, parts in enumerate(dims)
    )
