"""Expansion: a spec's body, walked with the flowing tensor shape, becomes a `Network`.

Expansion and shape inference are one walk because arguments may read the incoming shape
(`in.channels // 2`). Each item is one of

    relu                                  an op without fields
    conv2d: {out_channels: 64, ...}       an op with fields
    my_block: {arg: 1, ...}               a call of a block defined under `blocks:`
    seq: {body: [...]}                    a named group
    repeat: {times: 4, index: i, body: [...]}   the body, spliced in `times` times
    add: {branches: {main: [...], shortcut: []}}   parallel branches merged by addition
    concat: {branches: [[...], [...]]}    parallel branches merged along channels
    mul: {branches: [[], [...]]}          parallel branches multiplied (broadcasting 1s)
    ref: name                             continue from an earlier named output

and every mapping may carry `name:` (its path segment, and a target for `ref`) and `if:` (a
condition; a false one leaves the item out). Errors are collected, not raised: after one, the
flow is marked unknown, so that its consequences are not reported again.

This module is the entry and the walk over items, with their paths and `ref` scopes; block
argument binding is in archc.spec.blocks, op application in archc.spec.apply, and the state they
share in archc.spec.state.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel

from archc.diagnostics import Span, nearest
from archc.dims import Sym
from archc.ir import Group, Network
from archc.ops import OPS
from archc.ops.merge import Merge
from archc.spec.apply import apply_merge, apply_op
from archc.spec.blocks import bind
from archc.spec.document import Identifier, Spec
from archc.spec.expr import is_expression
from archc.spec.loader import YMap, YSeq
from archc.spec.state import FAIL, MAX_LAYERS, Abort, Expansion, Flow, Item, Where
from archc.spec.validate import show

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class RepeatItem(_Strict):
    """the body, spliced in `times` times, with an index variable"""

    times: Annotated[int, Field(ge=0, description="how many times to repeat the body")]
    index: Identifier = Field(
        "i", description="the name of the iteration index, 0-based, read as `$i` in the body"
    )
    body: list[Any] = Field(description="the items to repeat")


class SeqItem(_Strict):
    """a group of items under one path segment (`name`), a target for `ref`"""

    body: list[Any] = Field(description="the items of the group")


class MergeItem(_Strict):
    """parallel branches from the same input, merged"""

    branches: (
        Annotated[dict[Identifier, list[Any]], Field(min_length=2)]
        | Annotated[list[list[Any]], Field(min_length=2)]
    ) = Field(
        description="two or more lists of items, each reading the merge's input; named "
        "(a mapping: each name a path segment) or numbered (a list)"
    )


class RefItem(RootModel[str]):
    """continue from the output of an earlier item given `name:` (a skip connection)"""


# Every structural item by its keyword: the model of its fields, whose docstring is its summary
# (a merge's is its op's). `archc ops`, the editor schema and the language server list these.
STRUCTURAL: dict[str, type[BaseModel]] = {
    "repeat": RepeatItem,
    "seq": SeqItem,
    "add": MergeItem,
    "concat": MergeItem,
    "mul": MergeItem,
    "ref": RefItem,
}


def structural_summary(keyword: str) -> str:
    """The one-line summary of a structural item: a merge's is its op's."""
    if keyword in OPS:
        return OPS[keyword].summary
    return (STRUCTURAL[keyword].__doc__ or "").strip()


def expand(spec: Spec, input_dims: list[int | str] | None = None) -> Network:
    """Walk `spec`'s body and return the network with its layers and diagnostics."""
    dims = input_dims or spec.input
    shape = tuple(Sym.var(d) if isinstance(d, str) else d for d in dims)
    net = Network(spec.name, spec.description, spec.file, shape)
    x = Expansion(spec, net)
    if isinstance(dims[1], str):
        x.error(
            "bad-input",
            f"the channel dim of the input must be a number, got `{dims[1]}`",
            spec.root.at("input"),
        )
        return net
    try:
        flow = _items(x, spec.body, Flow(0, shape), Where("", dict(spec.params)))
    except Abort:
        flow = None
    if flow is not None:
        net.output, net.output_shape = flow.value, flow.shape
    return net


# The walk -------------------------------------------------------------------------------------


def _items(x: Expansion, seq: Any, flow: Flow | None, where: Where) -> Flow | None:
    if not isinstance(seq, YSeq):
        span = getattr(seq, "span", None)
        x.error("wrong-type", f"a body is a list of layers, got {show(seq)}", span)
        return None
    for index, raw in enumerate(seq):
        flow = _item(x, raw, seq.at(index), flow, where)
    return flow


def _item(x: Expansion, raw: Any, span: Span, flow: Flow | None, where: Where) -> Flow | None:
    x.step(span)
    item = _split(x, raw, span)
    if item is None:
        return None
    args = item.args
    if isinstance(args, YMap) and "if" in args:
        condition = x.value(args["if"], args.at("if"), where.env, flow)
        if condition is FAIL:
            return None
        if not isinstance(condition, bool):
            x.error("wrong-type", f"`if` needs true or false, got {show(condition)}", args.at("if"))
            return None
        if not condition:
            return flow
    if item.head == "ref":
        return _ref(x, item, flow, where)
    structural = item.head in STRUCTURAL or item.head in x.spec.blocks
    if structural:
        x.enter(item.span)
    try:
        return _named(x, item, flow, where)
    finally:
        if structural:
            x.depth -= 1


def _named(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    """An item with its path (any but `ref`): an op, a block call, a group or a merge."""
    args = item.args
    if item.head == "repeat":
        return _repeat(x, item, flow, where)
    name = args.get("name") if isinstance(args, YMap) else None
    if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
        x.error(
            "wrong-type",
            f"`name` must be an identifier (letters, digits, `_`), got {show(name)}",
            args.at("name"),
        )
        name = None
    segment = name or where.counter[0]
    path = f"{where.path}.{segment}" if where.path else str(segment)
    where.counter[0] += 1
    if path in x.paths:
        x.error(
            "duplicate-name",
            f"a second item has the path `{path}`",
            args.at("name") if name else item.span,
            hint="give siblings distinct names (names inside `repeat` repeat too)",
        )
        return None
    x.paths.add(path)
    if item.head in OPS and issubclass(OPS[item.head], Merge):
        x.net.groups[path] = Group(path, "merge", item.head, item.span)
        result = _merge(x, item, flow, where.inside(path))
    elif item.head == "seq":
        x.net.groups[path] = Group(path, "seq", name or "seq", item.span)
        result = _seq(x, item, flow, where.inside(path))
    elif item.head in x.spec.blocks:
        x.net.groups[path] = Group(path, "block", item.head, item.span)
        result = _block(x, item, flow, where.inside(path))
    elif item.head in OPS:
        result = apply_op(x, OPS[item.head], item, flow, path, where.env)
    else:
        choices = [*OPS, *x.spec.blocks, *STRUCTURAL]
        close = nearest(item.head, choices)
        x.error(
            "unknown-op",
            f"`{item.head}` is neither an op nor a block of this spec",
            item.span,
            hint=f"did you mean `{close}`?" if close else "`archc ops` lists the ops",
        )
        result = None
    if name:
        x.scopes[-1][name] = result
    return result


def _split(x: Expansion, raw: Any, span: Span) -> Item | None:
    """An item's head (op, block or keyword), its arguments, and the head's span."""
    if isinstance(raw, str):
        return Item(raw, None, span)
    if isinstance(raw, YMap) and len(raw) == 1:
        head = next(iter(raw))
        args = raw[head]
        if args is None or isinstance(args, YMap) or head == "ref":
            return Item(head, args, raw.key_spans[head])
        x.error(
            "bad-layer",
            f"`{head}` takes a mapping of fields, got {show(args)}",
            raw.at(head),
            hint=f"write `{head}: {{field: value, ...}}`",
        )
        return None
    if isinstance(raw, YMap) and len(raw) > 1:
        keys = ", ".join(f"`{k}`" for k in raw)
        x.error(
            "bad-layer",
            f"a layer item has one key, the op or block; this one has {keys}",
            span,
            hint="put `name` and `if` inside the fields: `- conv2d: {name: stem, ...}`",
        )
        return None
    x.error("bad-layer", f"a layer item is `op` or `op: {{fields}}`, got {show(raw)}", span)
    return None


# Structural items -----------------------------------------------------------------------------


def _ref(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    target = item.args
    if is_expression(target):  # `ref: $skip`, a name passed to a block
        target = x.value(target, item.span, where.env, flow)
        if target is FAIL:
            return None
    if not isinstance(target, str):
        x.error("wrong-type", f"`ref` takes a name, got {show(target)}", item.span)
        return None
    for scope in reversed(x.scopes):
        if target in scope:
            return scope[target]
    known = [n for scope in x.scopes for n in scope]
    close = nearest(target, known)
    x.error(
        "undefined-ref",
        f"`ref: {target}` names no earlier output",
        item.span,
        hint=f"did you mean `{close}`?"
        if close
        else "give the layer `name: …` before referring to it",
    )
    return None


def _repeat(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    """The body spliced in `times` times, in the enclosing body: a repeat has no path."""
    model = x.fields(RepeatItem, "`repeat`", item, flow, where.env, common=("if",))
    if model is None:
        return None
    start = len(x.net.layers)
    for k in range(model.times):
        x.step(item.span)  # an empty body still costs an iteration
        failures = x.failures
        x.context.append(x.note_iteration(model.index, k, item.span))
        try:
            flow = _items(x, item.args["body"], flow, where.binding(model.index, k))
        finally:
            x.context.pop()
        if flow is None and x.failures > failures:
            # The mistake would be met again in every later iteration, and the flow after it
            # is unknown: it is reported once, in the iteration that first meets it.
            return None
        # Stop early when the iterations so far project past the layer limit.
        added = len(x.net.layers) - start
        projected = start + added * model.times // (k + 1)
        if projected > MAX_LAYERS:
            x.error(
                "too-many-layers",
                f"this `repeat` would expand the network to about {projected:,} layers, "
                f"more than the limit of {MAX_LAYERS:,}",
                item.span,
                hint="reduce `repeat` counts",
            )
            raise Abort
    return flow


def _seq(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    if x.fields(SeqItem, "`seq`", item, flow, where.env) is None:
        return None
    return _items(x, item.args["body"], flow, where)


def _merge(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    if x.fields(MergeItem, f"`{item.head}`", item, flow, where.env) is None:
        return None
    raw = item.args["branches"]
    named = list(raw.items()) if isinstance(raw, YMap) else list(enumerate(raw))
    outputs = [_items(x, seq, flow, where.inside(f"{where.path}.{name}")) for name, seq in named]
    if flow is None or any(out is None for out in outputs):
        return None
    return apply_merge(x, item, outputs, [str(name) for name, _ in named], where.path)


def _block(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    block = x.spec.blocks[item.head]
    chain = [name for name, _ in x.calls]
    if item.head in chain:
        cycle = " → ".join([*chain[chain.index(item.head) :], item.head])
        x.error(
            "recursive-block",
            f"block `{item.head}` includes itself ({cycle})",
            item.span,
            hint="a block may call other blocks, but not itself",
        )
        return None
    env = bind(x, block, item, flow, where.env)
    if env is None:
        return None
    x.calls.append((item.head, item.span))
    x.context.append(x.note_call(item.head, item.span))
    x.scopes.append({})
    try:
        return _items(x, block.body, flow, where.inside(where.path, env))
    finally:
        x.calls.pop()
        x.context.pop()
        x.scopes.pop()
