"""Warnings about input sizes, and hints at sizes that work when the given one fails.

- `lossy-downsampling`: a strided window (pooling or convolution) whose windows end before the
  last rows/columns of its input, at the given concrete input; the hint names the nearest input
  that drops nothing anywhere.
- `uneven-adaptive-pool`: an adaptive pool whose output size does not divide its input size
  (uneven windows; ONNX export fails on such pools).
- `onnx-ceil-mode`: a `ceil_mode` pooling whose last window would start past its input:
  PyTorch drops that window, ONNX's pooling keeps it, so an exported graph disagrees.
- `size-dependent-merge`: with symbolic input dims, a merge whose branches agree only for some
  sizes, narrowing the set of valid inputs.

When a concrete input fails for reasons of size (a collapse, a merge or `in_features`
mismatch, a layout that does not fit), the network is re-expanded with symbolic sizes (L; H
and W; D, H and W) and the exact valid set is added to the first such error as a note, with the
nearest sizes that work as help. Every analysis here holds for one, two or three spatial axes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from archc.analysis.periodic import describe
from archc.analysis.valid_inputs import (
    _as_pair,
    nearest_text,
    same_set,
    solve_conditions,
    spatial_symbols,
    valid_input_sets,
)
from archc.diagnostics import Diagnostic, Note
from archc.dims import Sym, axis_letters, axis_words
from archc.ir import Network
from archc.ops.merge import Merge

_SIZE_ERRORS = ("spatial-collapse", "merge-mismatch", "features-mismatch", "bad-layout")
# What the last positions along each axis are called, by number of spatial axes.
_POSITIONS = {1: ("position",), 2: ("row", "column"), 3: ("slice", "row", "column")}


Reexpand = Callable[[list], Network]  # the same spec, expanded at other input dims


def add_warnings(network: Network, reexpand: Reexpand | None = None) -> None:
    """Append the size warnings and hints to `network.diagnostics`, in place.

    `reexpand` gives the network at symbolic sizes, for the hints that name valid sizes; the
    analyses know nothing of specs, so the pipeline passes it.
    """
    if not 3 <= len(network.input) <= 5:
        return
    if network.ok:
        _lossy(network, reexpand)
        _adaptive(network)
        _ceil_mode(network)
        _merges(network)
    else:
        _size_hints(network, reexpand)


# Re-expansion with symbolic sizes -------------------------------------------------------------


def _dim_arg(dim) -> int | str:
    return str(dim) if isinstance(dim, Sym) else dim


def _spatial(network: Network, reexpand: Reexpand | None, dims: list) -> Network | None:
    """The network again with the spatial input dims `dims` (None without a callback)."""
    if reexpand is None:
        return None
    return reexpand([_dim_arg(network.input[0]), _dim_arg(network.input[1]), *dims])


def _concrete_sizes(network: Network) -> tuple[int, ...] | None:
    sizes = network.input[2:]
    return sizes if all(isinstance(size, int) for size in sizes) else None


def _equal_label(rank: int) -> str:
    """`L`, `H = W`, `D = H = W`: the name of the valid set of inputs with equal sizes."""
    return " = ".join(axis_letters(rank))


def _same_sizes(network: Network, reexpand: Reexpand | None) -> Network | None:
    """The network with one symbol for every spatial size (square or cubic inputs)."""
    rank = len(network.input) - 2
    return _spatial(network, reexpand, [axis_letters(rank)[0]] * rank)


# lossy-downsampling ---------------------------------------------------------------------------


def _strided_windows(layer):
    """(axis, window) for each spatial axis where windows are strided and contiguous."""
    x = layer.input_shapes[0]
    if len(x) != len(layer.shape) or len(x) < 3:
        return []
    return [
        (a, w)
        for a, w in enumerate(layer.op.geometry(x))
        if w is not None and w.stride > 1 and w.kernel >= w.stride
    ]


def _last_read(layer, axis: int, window):
    """The last input position along `axis` that a window of `layer` reads."""
    n = layer.shape[2 + axis]
    return (n - 1) * window.stride - window.padding + window.kernel - 1


def _lossy(network: Network, reexpand: Reexpand | None) -> None:
    """One warning at the first layer that drops input, the others as notes."""
    sizes = _concrete_sizes(network)
    if sizes is None:
        return
    found = []
    for layer in network.layers:
        dropped = []
        for axis, window in _strided_windows(layer):
            size = layer.input_shapes[0][2 + axis]
            lost = size - 1 - _last_read(layer, axis, window)
            if lost > 0:
                dropped.append((_noun(network, layer, axis), lost, size, window))
        if dropped:
            found.append((layer, _describe_loss(dropped)))
    if not found:
        return
    (layer, text), rest = found[0], found[1:]
    notes = tuple(
        Note(f"`{other.op.name}` at `{other.path}` drops {what}", other.file, other.span)
        for other, what in rest
    )
    network.diagnostics.append(
        Diagnostic(
            "lossy-downsampling",
            f"`{layer.op.name}` at `{layer.path}` drops {text}"
            + (f"; {len(rest)} later layer(s) drop more" if rest else ""),
            layer.file,
            layer.span,
            hint=_lossless_hint(network, sizes, reexpand),
            notes=notes,
        )
    )


def _noun(network: Network, layer, axis: int) -> str:
    """What one position along spatial dim `axis` of `layer`'s input is: a row where the dim
    holds the network input's H (after a `permute`, not only dim 2)."""
    dim = 2 + axis
    source = network.analysis.sources[layer.inputs[0]][dim]
    rank = len(network.input) - 2
    if isinstance(source, int) and 2 <= source < 2 + rank:
        return _POSITIONS[rank][source - 2]
    return f"dim-{dim} position"


def _describe_loss(dropped: list) -> str:
    """`the last row and column of its 224×224 input (windows of 11, stride 4, end at 222)`"""
    _, lost, size, window = dropped[0]
    where = "×".join(str(d[2]) for d in dropped)
    if len(dropped) > 1 and all(d[1:] == dropped[0][1:] for d in dropped):
        what = _count(lost, [d[0] for d in dropped])
    else:
        what = _and([_count(n, [noun]) for noun, n, _, _ in dropped])
    end = size - 1 - lost
    return (
        f"the last {what} of its {where} input (windows of {window.kernel} at stride "
        f"{window.stride} end at {end})"
    )


def _count(count: int, nouns: list[str]) -> str:
    """`row`, `3 rows`, `row and column`, `3 rows and columns`."""
    if count == 1:
        return _and(nouns)
    return f"{count} " + _and([noun + "s" for noun in nouns])


def _number(count: int, noun: str) -> str:
    """`1 row`, `2 rows`."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _and(words: list[str]) -> str:
    """`row`, `row and column`, `slice, row and column`."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _lossless_hint(
    network: Network, sizes: tuple[int, ...], reexpand: Reexpand | None
) -> str | None:
    square = len(set(sizes)) == 1  # also cubic inputs, and any length
    if square:
        symbolic = _same_sizes(network, reexpand)
    else:
        symbolic = _spatial(network, reexpand, list(axis_letters(len(sizes))))
    if symbolic is None or not symbolic.ok:
        return None
    dims = spatial_symbols(symbolic)
    pairs = [_as_pair(c) for c in symbolic.conditions]
    for layer in symbolic.layers:
        for axis, window in _strided_windows(layer):
            size = layer.input_shapes[0][2 + axis]
            pairs.append((_last_read(layer, axis, window) - size + 2, "positive"))
    coupled = any(len(e.variables) > 1 for e, _ in pairs if isinstance(e, Sym))
    solved = solve_conditions(pairs, dims, square=square or coupled)
    if solved is None:
        return None
    if square:
        progs = solved[dims[0]]
        if not progs:
            return None
        return (
            f"an input of {nearest_text(progs, sizes[0], len(sizes))} drops nothing anywhere "
            f"(lossless sizes: {describe(progs, _equal_label(len(sizes)))})"
        )
    texts = [describe(solved[d], d) for d in dims]
    return "inputs that drop nothing anywhere: " + "; ".join(texts)


# uneven-adaptive-pool -------------------------------------------------------------------------


def _adaptive(network: Network) -> None:
    valid = network.analysis.valid_inputs
    for layer in network.layers:
        outs = layer.op.adaptive_size()
        if outs is None:
            continue
        x = layer.input_shapes[0]
        uneven = []
        for axis, out in enumerate(outs):
            size = x[2 + axis]
            if out == 1:
                continue
            if isinstance(size, int):
                if size % out:
                    uneven.append(f"{size} is not a multiple of {out}")
            elif valid is not None:
                narrowed = _narrowed(network, valid, [(out * (size // out) - size, "zero")])
                if narrowed is not None:
                    uneven.append(
                        f"its input size {size} is a multiple of {out} only for {narrowed}"
                    )
        if uneven:
            network.diagnostics.append(
                Diagnostic(
                    "uneven-adaptive-pool",
                    f"`{layer.op.name}` to {'×'.join(map(str, outs))} at `{layer.path}`: "
                    + "; ".join(uneven)
                    + ", so its windows differ in size",
                    layer.file,
                    layer.span,
                    hint="make the input size a multiple of the output size, or pool to "
                    "`output_size: 1`",
                )
            )


def _ceil_mode(network: Network) -> None:
    for layer in network.layers:
        op = layer.op
        if getattr(op, "ceil_mode", False) is not True:  # any op with PyTorch's ceil_mode
            continue
        x = layer.input_shapes[0]
        for axis, (size, window) in enumerate(zip(x[2:], op.geometry(x), strict=True)):
            if not isinstance(size, int):
                continue
            kept = -(-(size + 2 * window.padding - window.kernel) // window.stride) + 1
            if (kept - 1) * window.stride < size + window.padding:
                continue  # PyTorch's rule drops nothing here: ONNX agrees
            windows = _number(kept - 1, _noun(network, layer, axis))
            network.diagnostics.append(
                Diagnostic(
                    "onnx-ceil-mode",
                    f"`{op.name}` with `ceil_mode` gives {windows} of windows from {size}, where "
                    f"ONNX's ceil mode gives {kept}: PyTorch drops a last "
                    "window that would start past the input, ONNX keeps it, so an exported "
                    "graph computes another shape",
                    layer.file,
                    layer.span,
                    hint="use `ceil_mode: false` with enough `padding`, or an input size whose "
                    "last window starts inside it",
                )
            )
            break


def _narrowed(network: Network, valid, extra: list) -> str | None:
    """The valid set with `extra` conditions, as text, when it is smaller than `valid`."""
    dims = spatial_symbols(network)
    pairs = [_as_pair(c) for c in network.conditions] + extra
    solved = solve_conditions(pairs, dims, square=bool(valid.square))
    if solved is None or all(same_set(solved[d], valid[d]) for d in dims):
        return None
    if valid.square:
        return describe(solved[dims[0]], " = ".join(dims))
    return "; ".join(describe(solved[d], d) for d in dims)


# size-dependent-merge -------------------------------------------------------------------------


def _merges(network: Network) -> None:
    valid = network.analysis.valid_inputs
    if valid is None:
        return
    dims, square = spatial_symbols(network), bool(valid.square)
    merges = {layer.path for layer in network.layers if isinstance(layer.op, Merge)}
    conditions = network.conditions
    seen: set[str] = set()
    for index, condition in enumerate(conditions):
        if condition.layer not in merges or condition.layer in seen:
            continue
        seen.add(condition.layer)
        before = [_as_pair(c) for c in conditions[:index]]
        group = [_as_pair(c) for c in conditions[index:] if c.layer == condition.layer]
        previous = solve_conditions(before, dims, square)
        after = solve_conditions(before + group, dims, square)
        if previous is None or after is None:
            continue
        if all(same_set(after[d], previous[d]) for d in dims):
            continue
        text = (
            describe(after[dims[0]], " = ".join(dims))
            if square
            else "; ".join(describe(after[d], d) for d in dims)
        )
        network.diagnostics.append(
            Diagnostic(
                "size-dependent-merge",
                f"the branches of `{condition.layer}` agree only for some input sizes: "
                f"with it, the valid inputs narrow to {text}",
                network.file,
                condition.span,
                hint="pad or crop a branch, or use input sizes from that set",
            )
        )


# Hints for a concrete input that fails ----------------------------------------------------------


def _size_hints(network: Network, reexpand: Reexpand | None) -> None:
    sizes = _concrete_sizes(network)
    if sizes is None:
        return
    index = next((i for i, d in enumerate(network.diagnostics) if d.code in _SIZE_ERRORS), None)
    if index is None:
        return
    rank = len(sizes)
    notes, help_ = [], None
    if len(set(sizes)) == 1:
        symbolic = _same_sizes(network, reexpand)
        valid = valid_input_sets(symbolic) if symbolic is not None else None
        if valid is None:
            return
        progs = valid[axis_letters(rank)[0]]
        kind = ("", "square ", "cubic ")[rank - 1]
        if not progs:
            notes.append(f"no {kind}input size makes this network valid")
        else:
            label = describe(progs, _equal_label(rank))
            notes.append(f"this network is valid for {kind}inputs with {label}")
            help_ = f"or give the network an input of {nearest_text(progs, sizes[0], rank)}"
    else:
        letters, words = axis_letters(rank), axis_words(rank)
        for axis, name in enumerate(letters):
            # This axis symbolic, the others as given.
            symbolic = _spatial(network, reexpand, [*sizes[:axis], name, *sizes[axis + 1 :]])
            valid = valid_input_sets(symbolic) if symbolic is not None else None
            if valid is None:
                continue
            others = _and([f"{words[a]} {sizes[a]}" for a in range(rank) if a != axis])
            progs = valid[name]
            notes.append(f"with {others}, valid: {describe(progs, name)}")
            if progs and help_ is None:
                pick = nearest_text(progs, sizes[axis])
                help_ = f"or give the network an input {words[axis]} of {pick}"
    diag = network.diagnostics[index]
    hint = diag.hint
    if help_:
        hint = f"{hint}; {help_}" if hint else help_[3:]
    network.diagnostics[index] = dataclasses.replace(diag, notes=(*diag.notes, *notes), hint=hint)
