"""Op application: an op item's fields become an op, which infers its output from the shape
flowing in and becomes a `Layer`; likewise a merge of branch outputs.

Every call into archc.ops made by expansion is in this module (fields validated as the op's
model, `ranks`, `name`, `infer`, `stated`, `geometry`, `conditions`, the counts, `merge`),
with the recovery that keeps one error from causing others: after a channel or feature
mismatch the walk goes on with the real width.
"""

from __future__ import annotations

from archc.dims import Sym, axis_words, format_shape
from archc.ir import Condition, Layer
from archc.ops import Op, OpError, Shape
from archc.ops.base import Requirement
from archc.spec.state import MAX_LAYERS, Abort, Expansion, Flow, Item


def apply_op(
    x: Expansion, cls: type[Op], item: Item, flow: Flow | None, path: str, key: str, env: dict
) -> Flow | None:
    """The layer that `item` adds at `path`; None, reported, when it cannot be built."""
    op = x.fields(cls, f"`{cls.name}`", item, flow, env)
    if op is None or flow is None:
        return None
    return place_op(x, op, item, flow, path, key)


def place_op(x: Expansion, op: Op, item: Item, flow: Flow, path: str, key: str) -> Flow | None:
    """The layer computing `op` on `flow`, written at `item`; None, reported, if it cannot be."""
    cls = type(op)
    shape = flow.shape
    if cls.ranks is not None and len(shape) not in cls.ranks:
        ranks = " or ".join(str(r) for r in cls.ranks)
        hint = "add `flatten` before it" if len(shape) > max(cls.ranks) else None
        x.error(
            "rank-mismatch",
            f"`{cls.name}` needs a rank-{ranks} input, got {format_shape(shape)}",
            item.span,
            hint,
        )
        return None
    args = item.fields
    try:
        y = op.infer(shape)
    except OpError as exc:
        stated = declared_width(x, exc, op, path)
        if stated is not None:  # the width the spec's own input gives this layer
            op = op.model_copy(update={exc.field: stated})
            return _add_op(x, op, flow, path, key, item, op.infer(shape))
        span = args.at(exc.field) if exc.field in args else item.span
        x.error(exc.code, exc.message, span, exc.hint)
        if exc.code not in ("channel-mismatch", "features-mismatch") or not exc.field:
            return None
        op = op.model_copy(update={exc.field: None})  # go on with the real width
        try:
            y = op.infer(shape)
        except OpError:
            return None
    return _add_op(x, op, flow, path, key, item, y)


def declared_width(x: Expansion, exc: OpError, op: Op, path: str) -> int | None:
    """With a symbolic input, a layer whose width field is left out (a linear layer without
    `in_features`) takes the width that the spec's declared (concrete) input gives it: its
    weights are built for that input."""
    if exc.code != "symbolic-channels" or not exc.field:
        return None
    if x.declared_ops is None:
        x.declared_ops = {}
        if all(isinstance(d, int) for d in x.spec.input[1:]):
            # The only way to know the width at this layer for the declared input is a second,
            # whole expansion of the spec at that input. Imported here: the entry imports this.
            from archc.spec.expand import expand

            declared = expand(x.spec, x.spec.input)
            x.declared_ops = {
                layer.path: layer.op.stated(layer.input_shapes[0]) for layer in declared.layers
            }
    declared_op = x.declared_ops.get(path)
    if declared_op is None or declared_op.name != op.name:
        return None
    return getattr(declared_op, exc.field, None)


def _add_op(
    x: Expansion, op: Op, flow: Flow, path: str, key: str, item: Item, y: Shape
) -> Flow | None:
    shape = flow.shape
    if not _sizes_positive(x, op, shape, y, path, item):
        return None
    for left, right, what, kind in (Requirement(*c) for c in op.conditions(shape)):
        x.net.conditions.append(Condition(kind, left, right, path, item.span, what))
    return add_layer(
        x,
        Layer(
            path=path,
            key=key,
            op=op,
            inputs=(flow.value,),
            input_shapes=(shape,),
            shape=y,
            params=op.params(shape),
            buffers=op.buffers(shape),
            macs=op.macs(shape, y),
            span=item.span,
            file=x.file,
        ),
    )


def _sizes_positive(x: Expansion, op: Op, shape: Shape, y: Shape, path: str, item: Item) -> bool:
    """Every output size must be at least 1; symbolic ones become conditions."""
    for axis in range(1, len(y)):
        size = y[axis]
        if isinstance(size, Sym):
            x.net.conditions.append(
                Condition("positive", size, 1, path, item.span, f"`{op.name}` output is non-empty")
            )
            continue
        if size >= 1:
            continue
        spatial = axis >= 2 and 3 <= len(y) <= 5
        axis_name = axis_words(len(y) - 2)[axis - 2] if spatial else f"dim {axis}"
        hint = None
        window = op.geometry(shape)[axis - 2] if len(shape) == len(y) and axis >= 2 else None
        if window and spatial and isinstance(shape[axis], int):
            need = -(-(window.kernel - shape[axis]) // 2)
            hint = (
                f"use `padding: {need}` (the window spans {window.kernel}), "
                f"or give this layer an input {axis_name} of at least "
                f"{window.kernel - 2 * window.padding}"
            )
        x.error(
            "spatial-collapse",
            f"`{op.name}` reduces the {axis_name} to {size}: its input {axis_name} is "
            f"{shape[axis]} (input shape {format_shape(shape)})",
            item.span,
            hint,
        )
        return False
    return True


def apply_merge(
    x: Expansion, op: Op, item: Item, outputs: list[Flow], names: list[str], path: str, key: str
) -> Flow | None:
    """The layer merging the branch `outputs` of a merge item (`add`, `concat`, `mul`)."""
    try:
        shape, conditions = op.merge([out.shape for out in outputs], names)
    except OpError as exc:
        span = item.fields.at(exc.field) if exc.field in item.fields else item.span
        x.error(exc.code, exc.message, span, exc.hint)
        return None
    for left, right in conditions:
        x.net.conditions.append(
            Condition("equal", left, right, path, item.span, f"`{item.head}` branches agree")
        )
    return add_layer(
        x,
        Layer(
            path=path,
            key=key,
            op=op,
            inputs=tuple(o.value for o in outputs),
            input_shapes=tuple(o.shape for o in outputs),
            shape=shape,
            params=0,
            buffers=0,
            macs=op.merge_macs([o.shape for o in outputs], shape),
            span=item.span,
            file=x.file,
        ),
    )


def add_layer(x: Expansion, layer: Layer) -> Flow:
    """Append `layer` to the network; past the layer limit, stop with an error."""
    if len(x.net.layers) >= MAX_LAYERS:
        x.error(
            "too-many-layers",
            f"the network expands to more than {MAX_LAYERS:,} layers",
            layer.span,
            hint="reduce `repeat` counts",
        )
        raise Abort
    x.net.layers.append(layer)
    return Flow(len(x.net.layers), layer.shape)
