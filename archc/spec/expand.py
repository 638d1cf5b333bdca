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
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from archc.diagnostics import Span, nearest
from archc.dims import Sym, format_shape
from archc.ir import Group, Network, Output
from archc.ops import OPS
from archc.ops.merge import Merge
from archc.spec.apply import apply_merge, apply_op, place_op
from archc.spec.blocks import bind
from archc.spec.document import Identifier, Spec
from archc.spec.expr import is_expression, reads_incoming
from archc.spec.loader import YMap, YSeq
from archc.spec.state import FAIL, MAX_LAYERS, Abort, Expansion, Flow, Item, Where
from archc.spec.validate import show

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IN_WORD = re.compile(r"(?<![A-Za-z0-9_$.])in\.")
_TEMPLATE = re.compile(r"\{([^{}]*)\}")  # `{expression}` in a name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class RepeatItem(_Strict):
    """the body, spliced in `times` times, with an index variable"""

    times: Annotated[int, Field(ge=0, description="how many times to repeat the body")]
    index: Identifier = Field(
        "i", description="the name of the iteration index, 0-based, read as `$i` in the body"
    )
    body: list[Any] = Field(description="the items to repeat")


class AssertItem(_Strict):
    """a condition the network must meet here, failing with its message where it is false"""

    that: Any = Field(description="an expression giving true or false: `in.channels % 8 == 0`")
    message: str = Field("", description="what the error says when `that` is false")


class SeqItem(_Strict):
    """a group of items under one path segment (`name`), a target for `ref`"""

    body: list[Any] = Field(description="the items of the group")


class MergeItem(_Strict):
    """parallel branches from the same input, merged"""

    branches: (
        Annotated[dict[Identifier, list[Any]], Field(min_length=2)]
        | Annotated[list[list[Any] | dict[Literal["repeat"], Any]], Field(min_length=2)]
    ) = Field(
        description="two or more lists of items, each reading the merge's input; named "
        "(a mapping: each name a path segment) or numbered (a list, where a `repeat` stands "
        "for as many branches as it repeats)"
    )


class RefItem(RootModel[str]):
    """continue from the output of an earlier item given `name:` (a skip connection)"""


_GROUPING = ("name", "if", "inline")  # the fields every group item has besides its own

# Every structural item by its keyword: the model of its fields, whose docstring is its summary
# (a merge's is its op's). `archc ops`, the editor schema and the language server list these.
STRUCTURAL: dict[str, type[BaseModel]] = {
    "repeat": RepeatItem,
    "seq": SeqItem,
    **{name: MergeItem for name, cls in sorted(OPS.items()) if issubclass(cls, Merge)},
    "ref": RefItem,
    "assert": AssertItem,
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
        return net
    if spec.outputs is not None:
        net.outputs = _outputs(x, spec)
    elif flow is not None:
        net.outputs = [Output("output", flow.value, flow.shape)]
    return net


def _outputs(x: Expansion, spec: Spec) -> list[Output]:
    """The outputs the spec names: items named at the top level (or in its groups, branches)."""
    raw = spec.root["outputs"]
    outputs: list[Output] = []
    for position, name in enumerate(spec.outputs or ()):
        span = raw.at(position)
        if name in spec.outputs[:position] or name == "input":
            why = "a second output has this name" if name != "input" else "the input has it"
            x.error("duplicate-name", f"output `{name}`: {why}", span)
            continue
        if name not in x.scopes[0]:
            known = list(x.scopes[0])
            close = nearest(name, known)
            x.error(
                "undefined-ref",
                f"output `{name}` names no item of the body",
                span,
                hint=f"did you mean `{close}`?"
                if close
                else "give the item `name: …` in the body (outside blocks)",
            )
            continue
        flow = x.scopes[0][name]
        if flow is not None:  # None: the item failed, its error already reported
            outputs.append(Output(name, flow.value, flow.shape))
    return outputs


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
        condition = _flag(x, args, "if", where, flow)
        if condition is FAIL:
            return None
        _check_in(x, args, where, flow, condition)
        if not condition:
            return flow
    if item.head == "ref":
        return _ref(x, item, flow, where)
    if item.head == "assert":
        return flow if _assert(x, item, flow, where) else None
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
    if item.head == "repeat":
        return _repeat(x, item, flow, where)
    args = item.fields
    if item.head in OPS and getattr(OPS[item.head], "splits", False) and "names" in args:
        return _parts(x, item, flow, where)
    name = _name(x, args, where, flow)
    is_merge = item.head in OPS and issubclass(OPS[item.head], Merge)
    grouping = is_merge or item.head == "seq" or item.head in x.spec.blocks
    inline = _inline(x, args, where, flow) if grouping else False
    path, key = where.next(name, inline)
    clash = path if path in x.paths else key if not inline and key in x.keys else None
    if clash is not None:
        x.error(
            "duplicate-name",
            f"a second item has the path `{clash}`",
            args.at("name") if name else item.span,
            hint="give siblings distinct names (names inside `repeat` and inside `inline` "
            "items' bodies share one level)",
        )
        return None
    x.paths.add(path)
    if not inline:
        x.keys.add(key)
    inner = where.inline(path) if inline else where.inside(path, key)
    if is_merge:
        x.net.groups[path] = Group(path, "merge", item.head, item.span)
        result = _merge(x, item, flow, inner, where if inline else None)
    elif item.head == "seq":
        x.net.groups[path] = Group(path, "seq", name or "seq", item.span)
        result = _seq(x, item, flow, inner)
    elif item.head in x.spec.blocks:
        x.net.groups[path] = Group(path, "block", item.head, item.span)
        result = _block(x, item, flow, inner)
    elif item.head in OPS:
        result = apply_op(x, OPS[item.head], item, flow, path, key, where.env)
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


def _parts(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    """An op written with `names` (`chunk`, `split`): one layer per part, each named as the
    item's `names` say; the flow goes on from the last part."""
    op = x.fields(OPS[item.head], f"`{item.head}`", item, flow, where.env, common=("if",))
    if op is None or flow is None:
        # Its parts are unknown, as a failed named item's output: what refers to them is a
        # consequence, not reported again.
        names = op.names if op is not None else item.args.get("names")
        for name in names if isinstance(names, list) else ():
            if isinstance(name, str):
                x.scopes[-1][name] = None
        return None
    parts = op.parts()
    result = flow
    for name, part in parts:
        path, key = where.next(name)
        if path in x.paths or key in x.keys:
            x.error("duplicate-name", f"a second item has the path `{path}`", item.args.at("names"))
            return None
        x.paths.add(path)
        x.keys.add(key)
        result = place_op(x, part, item, flow, path, key)
        x.scopes[-1][name] = result
        if result is None:
            return None
    return result


def _name(x: Expansion, args: YMap, where: Where, flow: Flow | None) -> str | None:
    """The item's `name`, its `{expression}` parts evaluated; None when it has none (or a
    wrong one, reported)."""
    raw = args.get("name")
    if raw is None:
        return None
    name = _template(x, raw, args.at("name"), where.env, flow)
    if name is FAIL:
        return None
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        x.error(
            "wrong-type",
            f"`name` must be an identifier (letters, digits, `_`), got {show(name)}",
            args.at("name"),
            hint='a `{expression}` in a name must give an integer: `name: "layer{$i + 1}"`'
            if name is not raw
            else None,
        )
        return None
    return name


def _template(x: Expansion, raw: Any, span: Span, env: dict, flow: Flow | None) -> Any:
    """A name with its `{expression}` parts evaluated (each must give an integer, or the result
    is not an identifier); anything else as it is. `FAIL` after reporting an error."""
    if not (isinstance(raw, str) and "{" in raw):
        return raw
    parts = _TEMPLATE.split(raw)
    for k in range(1, len(parts), 2):
        value = x.evaluate(parts[k], span, env, flow)
        if value is FAIL:
            return FAIL
        parts[k] = str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"
    return "".join(parts)


def _inline(x: Expansion, args: YMap, where: Where, flow: Flow | None) -> bool:
    """Whether a block call, `seq` or merge is `inline: true` (adds no key segment)."""
    return "inline" in args and _flag(x, args, "inline", where, flow) is True


def _flag(x: Expansion, args: YMap, key: str, where: Where, flow: Flow | None) -> Any:
    """The true or false value of field `key` (`if`, `inline`); `FAIL` after an error."""
    value = x.value(args[key], args.at(key), where.env, flow)
    if value is not FAIL and not isinstance(value, bool):
        x.error("wrong-type", f"`{key}` needs true or false, got {show(value)}", args.at(key))
        return FAIL
    return value


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


def _check_in(x: Expansion, args: YMap, where: Where, flow: Flow | None, condition: bool) -> None:
    """Warn where an `if:` inside a block reads `in.` (the tensor entering its item) and would
    decide otherwise with `input.` (the tensor entering the block): the block's input was
    probably meant, as in `if: $expanded != in.channels` after the expanding convolution."""
    raw = args["if"]
    entering = x.entering[-1]
    if not (x.calls and flow and entering and isinstance(raw, str) and reads_incoming(raw)):
        return
    if flow.shape == entering:
        return
    other = x.evaluate(_IN_WORD.sub("input.", raw), args.at("if"), where.env, flow)
    if other is FAIL or other == condition:
        return
    x.warning(
        "in-not-block-input",
        f"`in` is the tensor entering this item, {format_shape(flow.shape)}, not the block's "
        f"input, {format_shape(entering)}; with `input.` this condition would be "
        f"{str(other).lower()}",
        args.at("if"),
        hint="write `input.` to read the tensor entering the block",
    )


def _assert(x: Expansion, item: Item, flow: Flow | None, where: Where) -> bool:
    """An `assert:` item: its condition must hold, else its message is the error."""
    model = x.fields(AssertItem, "`assert`", item, flow, where.env, common=())
    if model is None:
        return False
    if not isinstance(model.that, bool):
        x.error(
            "wrong-type",
            f"`that` needs true or false, got {show(model.that)}",
            item.fields.at("that"),
        )
        return False
    if model.that:
        return True
    message = _message(x, model.message, item.fields.at("message"), where.env, flow)
    x.error(
        "assertion-failed",
        message or f"the assertion `{item.fields['that']}` does not hold",
        item.fields.at("that"),
    )
    return False


def _message(x: Expansion, text: str, span: Span, env: dict, flow: Flow | None) -> str:
    """An assertion's message with its `{expression}` parts evaluated."""
    parts = _TEMPLATE.split(text)
    for k in range(1, len(parts), 2):
        value = x.evaluate(parts[k], span, env, flow)
        parts[k] = "?" if value is FAIL else str(value)
    return "".join(parts)


def _ref(x: Expansion, item: Item, flow: Flow | None, where: Where) -> Flow | None:
    target = _template(x, item.args, item.span, where.env, flow)  # `ref: "m{$j}"`
    if target is not FAIL and is_expression(target):  # `ref: $skip`, a name passed to a block
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
    if x.fields(SeqItem, "`seq`", item, flow, where.env, common=_GROUPING) is None:
        return None
    return _items(x, item.args["body"], flow, where)


def _merge(
    x: Expansion, item: Item, flow: Flow | None, where: Where, outer: Where | None
) -> Flow | None:
    """A merge's branches, walked in `where` (the merge's own body), and the merge layer: keyed
    as the merge, or, `inline`, as the next item of the `outer` body."""
    what = f"`{item.head}`"
    own = tuple(k for k in item.fields if k != "branches")
    if x.fields(MergeItem, what, item, flow, where.env, common=own) is None:
        return None
    op = x.fields(OPS[item.head], what, item, flow, where.env, common=(*_GROUPING, "branches"))
    if op is None:
        return None
    branches = _branches(x, item.args, where, flow)
    if branches is None:
        return None
    outputs = [_items(x, seq, flow, inner) for _, seq, inner in branches]
    if flow is None or any(out is None for out in outputs):
        return None
    key = outer.next_key() if outer is not None else where.key
    names = [name for name, _, _ in branches]
    return apply_merge(x, op, item, outputs, names, where.path, key)


def _branches(x: Expansion, args: YMap, where: Where, flow: Flow | None) -> list | None:
    """(name, body, where) of each branch; in a list, a `repeat:` entry stands for `times`
    branches, each its body with the index bound (a concat of a growing list, YOLO's C2f)."""
    raw = args["branches"]
    if isinstance(raw, YMap):
        return [(str(name), seq, where.branch(str(name))) for name, seq in raw.items()]
    branches: list = []
    for entry in raw:
        if not (isinstance(entry, YMap) and list(entry) == ["repeat"]):
            name = str(len(branches))
            branches.append((name, entry, where.branch(name)))
            continue
        item = Item("repeat", entry["repeat"], entry.key_spans["repeat"])
        model = x.fields(RepeatItem, "`repeat`", item, flow, where.env, common=())
        if model is None:
            return None
        for k in range(model.times):
            x.step(item.span)
            name = str(len(branches))
            branches.append((name, item.args["body"], where.branch(name).binding(model.index, k)))
    if not branches:
        message = "this merge has no branches: its `repeat`s run 0 times"
        x.error("out-of-range", message, args.key_spans["branches"])
        return None
    return branches


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
    x.entering.append(flow.shape if flow else None)
    try:
        return _items(x, block.body, flow, where.with_env(env))
    finally:
        x.calls.pop()
        x.context.pop()
        x.scopes.pop()
        x.entering.pop()
