"""Merges of parallel branches: channel concatenation, elementwise addition and product.

Merges are not written as layer items but as `concat:`/`add:`/`mul:` with branches; they still
appear in the layer table, with op `concat`, `add` or `mul`, so that every step of the data
flow is visible. `mul` broadcasts size-1 dims, as squeeze-and-excitation gates need
((N, C, H, W) times (N, C, 1, 1)).
"""

from __future__ import annotations

from archc.dims import Sym, format_shape
from archc.ops.base import OpError, Shape


def _agree(a, b) -> bool | None:
    """True/False when two dims provably agree or differ; None when it depends on the input."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        return True if a == b else None
    return a == b


def merge_shape(kind: str, shapes: list[Shape], names: list[str]) -> tuple[Shape, list[tuple]]:
    """The merged shape, and the dim equalities that hold only for some input sizes.

    Raises OpError when branches provably disagree.
    """
    first = shapes[0]
    conditions: list[tuple] = []
    for shape, name in zip(shapes[1:], names[1:]):
        if len(shape) != len(first):
            raise OpError(
                "merge-mismatch",
                f"`{kind}` needs branches of equal rank: `{names[0]}` gives {format_shape(first)}, "
                f"`{name}` gives {format_shape(shape)}",
            )
        for axis, (a, b) in enumerate(zip(first, shape)):
            if axis == 0 or (kind == "concat" and axis == 1):
                continue
            if kind == "mul" and 1 in (a, b):
                continue
            agree = _agree(a, b)
            if agree is None:
                conditions.append((a, b))
            elif not agree:
                what = "channels" if axis == 1 else "spatial sizes"
                hint = (
                    f"give `{name}` `out_channels: {a}`, or `{names[0]}` `out_channels: {b}`"
                    if axis == 1
                    else "make the branches downsample alike (same strides and paddings)"
                )
                raise OpError(
                    "merge-mismatch",
                    f"`{kind}` needs equal {what}: `{names[0]}` gives {format_shape(first)}, "
                    f"`{name}` gives {format_shape(shape)}",
                    hint=hint,
                )
    if kind == "concat":
        total = sum((s[1] for s in shapes), start=0)
        return (first[0], total, *first[2:]), conditions
    if kind == "mul":
        merged = tuple(next((d for d in dims if d != 1), 1) for dims in zip(*shapes))
        return merged, conditions
    return first, conditions


MERGES = ("add", "concat", "mul")


def merge_forward(kind: str, tensors: list):
    """Compute a merge on torch tensors, in branch order."""
    import torch

    if kind == "concat":
        return torch.cat(tensors, dim=1)
    result = tensors[0]
    for tensor in tensors[1:]:
        result = result + tensor if kind == "add" else result * tensor
    return result
