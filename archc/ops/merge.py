"""Merges of parallel branches: channel concatenation and elementwise addition.

Merges are not written as layer items but as `concat:`/`add:` with branches; they still appear
in the layer table, with op `concat` or `add`, so that every step of the data flow is visible.
"""

from __future__ import annotations

from archc.analysis.symbolic import Sym
from archc.ops.base import OpError, Shape


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


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
                f"`{kind}` needs branches of equal rank: `{names[0]}` gives {_fmt(first)}, "
                f"`{name}` gives {_fmt(shape)}",
            )
        for axis, (a, b) in enumerate(zip(first, shape)):
            if axis == 0 or (kind == "concat" and axis == 1):
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
                    f"`{kind}` needs equal {what}: `{names[0]}` gives {_fmt(first)}, "
                    f"`{name}` gives {_fmt(shape)}",
                    hint=hint,
                )
    if kind == "concat":
        total = sum((s[1] for s in shapes), start=0)
        return (first[0], total, *first[2:]), conditions
    return first, conditions
