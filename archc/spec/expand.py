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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from archc.diagnostics import Diagnostic, Span, nearest
from archc.dims import Sym, format_shape
from archc.ir import Condition, Group, Layer, Network
from archc.ops import OPS, Op, OpError, Shape
from archc.ops.merge import MERGES, merge_shape
from archc.spec.document import _PYTHON_TYPES, Identifier, Spec
from archc.spec.expr import ExprError, cost, evaluate, is_expression, variables
from archc.spec.loader import YMap, YSeq
from archc.spec.validate import show, validate

# Limits that keep every check within about 2 s and 300 MB (docs/limits.md); the largest zoo
# networks have a few thousand layers.
MAX_LAYERS = 10_000
MAX_STEPS = 100_000
MAX_OPERATIONS = 1_000_000  # expression operations evaluated, over the whole expansion
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_AXES = {2: "height", 3: "width"}


@dataclass(frozen=True)
class Flow:
    """The tensor flowing at a point of the walk: its value id and shape."""

    value: int
    shape: Shape


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class RepeatItem(_Strict):
    times: Annotated[int, Field(ge=0)]
    index: Identifier = "i"
    body: list[Any]


class SeqItem(_Strict):
    body: list[Any]


class MergeItem(_Strict):
    branches: (
        Annotated[dict[Identifier, list[Any]], Field(min_length=2)]
        | Annotated[list[list[Any]], Field(min_length=2)]
    )


_STRUCTURAL: dict[str, type[BaseModel]] = {
    "repeat": RepeatItem,
    "seq": SeqItem,
    "add": MergeItem,
    "concat": MergeItem,
    "mul": MergeItem,
}
_RAW_FIELDS = {"body", "branches"}  # walked later, not evaluated now
_FAIL = object()


class _Abort(Exception):
    """A limit was hit: expansion stops, its diagnostic already recorded."""


def expand(spec: Spec, input_dims: list[int | str] | None = None) -> Network:
    """Walk `spec`'s body and return the network with its layers and diagnostics."""
    network = _Expander(spec).run(input_dims or spec.input)
    network.spec = spec  # analyses re-expand it with other input sizes (valid-size hints)
    return network


class _Expander:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.file = spec.file
        self.steps = 0
        self.operations = 0
        self.calls: list[tuple[str, Span]] = []  # the block calls being expanded
        self.scopes: list[dict[str, Flow | None]] = [{}]
        self.paths: set[str] = set()
        self.reported: set[tuple] = set()
        self.invalid: dict[tuple, list[Diagnostic]] = {}  # fields that failed, by item and values
        self.net: Network | None = None
        self.declared_features: dict[str, int] | None = None

    # Entry ------------------------------------------------------------------------------------

    def run(self, dims: list[int | str]) -> Network:
        shape = tuple(Sym.var(d) if isinstance(d, str) else d for d in dims)
        self.net = net = Network(self.spec.name, self.spec.description, self.file, shape)
        if isinstance(dims[1], str):
            self.error(
                "bad-input",
                f"the channel dim of the input must be a number, got `{dims[1]}`",
                self.spec.root.at("input"),
            )
            return net
        try:
            flow = self.items(self.spec.body, Flow(0, shape), "", dict(self.spec.params))
        except _Abort:
            flow = None
        if flow is not None:
            net.output, net.output_shape = flow.value, flow.shape
        return net

    # Diagnostics ------------------------------------------------------------------------------

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None) -> None:
        notes = tuple(
            f"in block `{name}` called at {self.file}:{call.line}:{call.col}"
            for name, call in reversed(self.calls)
        )
        key = (code, span, notes)
        if key in self.reported:
            return  # the same mistake met again, e.g. in a later iteration of a `repeat`
        self.reported.add(key)
        self.net.diagnostics.append(
            Diagnostic(code, message, self.file, span, hint=hint, notes=notes)
        )

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        for diag in diagnostics:
            self.error(diag.code, diag.message, diag.span, diag.hint)

    # Items ------------------------------------------------------------------------------------

    def items(
        self, seq: Any, flow: Flow | None, prefix: str, env: dict, counter: list[int] | None = None
    ) -> Flow | None:
        if not isinstance(seq, YSeq):
            span = getattr(seq, "span", None)
            self.error("wrong-type", f"a body is a list of layers, got {show(seq)}", span)
            return None
        counter = [0] if counter is None else counter
        for index, item in enumerate(seq):
            flow = self.item(item, seq.at(index), flow, prefix, env, counter)
        return flow

    def item(
        self, item: Any, span: Span, flow: Flow | None, prefix: str, env: dict, counter: list[int]
    ) -> Flow | None:
        self.step(span)
        parsed = self.split(item, span)
        if parsed is None:
            return None
        head, args, head_span = parsed
        if isinstance(args, YMap) and "if" in args:
            condition = self.value(args["if"], args.at("if"), env, flow)
            if condition is _FAIL:
                return None
            if not isinstance(condition, bool):
                self.error(
                    "wrong-type", f"`if` needs true or false, got {show(condition)}", args.at("if")
                )
                return None
            if not condition:
                return flow
        if head == "ref":
            return self.ref(args, head_span, env, flow)
        if head == "repeat":
            return self.repeat(args, head_span, flow, prefix, env, counter)
        name = args.get("name") if isinstance(args, YMap) else None
        if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
            self.error(
                "wrong-type",
                f"`name` must be an identifier (letters, digits, `_`), got {show(name)}",
                args.at("name"),
            )
            name = None
        path = f"{prefix}.{name or counter[0]}" if prefix else str(name or counter[0])
        counter[0] += 1
        if path in self.paths:
            self.error(
                "duplicate-name",
                f"a second item has the path `{path}`",
                args.at("name") if name else head_span,
                hint="give siblings distinct names (names inside `repeat` repeat too)",
            )
            return None
        self.paths.add(path)
        if head in MERGES:
            self.net.groups[path] = Group(path, "merge", head, head_span)
            result = self.merge(head, args, head_span, flow, path, env)
        elif head == "seq":
            self.net.groups[path] = Group(path, "seq", name or "seq", head_span)
            result = self.seq(args, head_span, flow, path, env)
        elif head in self.spec.blocks:
            self.net.groups[path] = Group(path, "block", head, head_span)
            result = self.block(head, args, head_span, flow, path, env)
        elif head in OPS:
            result = self.op(OPS[head], args, head_span, flow, path, env)
        else:
            choices = [*OPS, *self.spec.blocks, *_STRUCTURAL, "ref"]
            close = nearest(head, choices)
            self.error(
                "unknown-op",
                f"`{head}` is neither an op nor a block of this spec",
                head_span,
                hint=f"did you mean `{close}`?" if close else "`archc ops` lists the ops",
            )
            result = None
        if name:
            self.scopes[-1][name] = result
        return result

    def step(self, span: Span) -> None:
        """Count one unit of expansion work; past the limit, stop with an error."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.error(
                "too-many-layers",
                f"expansion takes more than {MAX_STEPS:,} steps",
                span,
                hint="reduce `repeat` counts",
            )
            raise _Abort

    def charge(self, operations: int, span: Span) -> None:
        """Count expression operations; past the limit, stop with an error."""
        self.operations += operations
        if self.operations > MAX_OPERATIONS:
            self.error(
                "too-many-layers",
                f"expressions take more than {MAX_OPERATIONS:,} operations to evaluate",
                span,
                hint="reduce `repeat` counts, or simplify the expressions inside them",
            )
            raise _Abort

    def split(self, item: Any, span: Span) -> tuple[str, Any, Span] | None:
        """An item's head (op, block or keyword), its arguments, and the head's span."""
        if isinstance(item, str):
            return item, None, span
        if isinstance(item, YMap) and len(item) == 1:
            head = next(iter(item))
            args = item[head]
            if args is None or isinstance(args, YMap) or head == "ref":
                return head, args, item.key_spans[head]
            self.error(
                "bad-layer",
                f"`{head}` takes a mapping of fields, got {show(args)}",
                item.at(head),
                hint=f"write `{head}: {{field: value, ...}}`",
            )
            return None
        if isinstance(item, YMap) and len(item) > 1:
            keys = ", ".join(f"`{k}`" for k in item)
            self.error(
                "bad-layer",
                f"a layer item has one key, the op or block; this one has {keys}",
                span,
                hint="put `name` and `if` inside the fields: `- conv2d: {name: stem, ...}`",
            )
            return None
        self.error(
            "bad-layer",
            f"a layer item is `op` or `op: {{fields}}`, got {show(item)}",
            span,
        )
        return None

    # Values -----------------------------------------------------------------------------------

    def value(self, raw: Any, span: Span, env: dict, flow: Flow | None) -> Any:
        """Evaluate the expressions in a field value; `_FAIL` after reporting an error."""
        if isinstance(raw, YSeq):
            values = [self.value(v, raw.at(i), env, flow) for i, v in enumerate(raw)]
            return _FAIL if any(v is _FAIL for v in values) else values
        if not is_expression(raw):
            return raw
        self.charge(cost(raw), span)
        try:
            return evaluate(raw, env, _incoming(flow.shape) if flow else None)
        except ExprError as exc:
            if flow is None and "in." in raw:
                return _FAIL  # the incoming shape is unknown because of an earlier error
            self.error(exc.code, str(exc), span, exc.hint)
            return _FAIL

    def fields(
        self, model: type[BaseModel], what: str, args: Any, head_span: Span, env: dict, flow
    ) -> BaseModel | None:
        """Evaluate and validate an item's fields (not `name`/`if`) against `model`."""
        args = args if isinstance(args, YMap) else YMap(head_span)
        common = ("if",) if model is RepeatItem else ("name", "if")  # a repeat has no path
        values, failed = {}, False
        for key, raw in args.items():
            if key in common:
                continue
            value = raw if key in _RAW_FIELDS else self.value(raw, args.at(key), env, flow)
            failed |= value is _FAIL
            values[key] = value
        if failed:
            return None
        # The same item failing again (each iteration of a `repeat`) fails the same way; building
        # pydantic's errors again would cost ~30 µs a time, seconds over a long repeat.
        key = (model, head_span, repr({k: v for k, v in values.items() if k not in _RAW_FIELDS}))
        if key in self.invalid:
            self.extend(self.invalid[key])
            return None
        model_obj, diagnostics = validate(model, args, self.file, what, values)
        diagnostics = [d if d.span != args.span else _with_span(d, head_span) for d in diagnostics]
        if model_obj is None:
            self.invalid[key] = diagnostics
        self.extend(diagnostics)
        return model_obj

    # Structural items ---------------------------------------------------------------------------

    def ref(self, target: Any, span: Span, env: dict, flow: Flow | None) -> Flow | None:
        if is_expression(target):  # `ref: $skip`, a name passed to a block
            target = self.value(target, span, env, flow)
            if target is _FAIL:
                return None
        if not isinstance(target, str):
            self.error("wrong-type", f"`ref` takes a name, got {show(target)}", span)
            return None
        for scope in reversed(self.scopes):
            if target in scope:
                return scope[target]
        known = [n for scope in self.scopes for n in scope]
        close = nearest(target, known)
        self.error(
            "undefined-ref",
            f"`ref: {target}` names no earlier output",
            span,
            hint=f"did you mean `{close}`?"
            if close
            else "give the layer `name: …` before referring to it",
        )
        return None

    def repeat(self, args, head_span, flow, prefix, env, counter) -> Flow | None:
        model = self.fields(RepeatItem, "`repeat`", args, head_span, env, flow)
        if model is None:
            return None
        start = len(self.net.layers)
        for k in range(model.times):
            self.step(head_span)  # an empty body still costs an iteration
            flow = self.items(args["body"], flow, prefix, {**env, model.index: k}, counter)
            # Stop early when the iterations so far project past the layer limit.
            added = len(self.net.layers) - start
            projected = start + added * model.times // (k + 1)
            if projected > MAX_LAYERS:
                self.error(
                    "too-many-layers",
                    f"this `repeat` would expand the network to about {projected:,} layers, "
                    f"more than the limit of {MAX_LAYERS:,}",
                    head_span,
                    hint="reduce `repeat` counts",
                )
                raise _Abort
        return flow

    def seq(self, args, head_span, flow, path, env) -> Flow | None:
        if self.fields(SeqItem, "`seq`", args, head_span, env, flow) is None:
            return None
        return self.items(args["body"], flow, path, env)

    def merge(self, kind, args, head_span, flow, path, env) -> Flow | None:
        if self.fields(MergeItem, f"`{kind}`", args, head_span, env, flow) is None:
            return None
        raw = args["branches"]
        named = list(raw.items()) if isinstance(raw, YMap) else list(enumerate(raw))
        outputs = [self.items(seq, flow, f"{path}.{name}", env) for name, seq in named]
        if flow is None or any(out is None for out in outputs):
            return None
        names = [str(name) for name, _ in named]
        try:
            shape, conditions = merge_shape(kind, [out.shape for out in outputs], names)
        except OpError as exc:
            self.error(exc.code, exc.message, head_span, exc.hint)
            return None
        for left, right in conditions:
            self.net.conditions.append(
                Condition("equal", left, right, path, head_span, f"`{kind}` branches agree")
            )
        return self.add_layer(
            Layer(
                path,
                kind,
                None,
                tuple(o.value for o in outputs),
                tuple(o.shape for o in outputs),
                shape,
                0,
                0,
                0,
                head_span,
                self.file,
            )
        )

    def block(self, head, args, head_span, flow, path, env) -> Flow | None:
        block = self.spec.blocks[head]
        chain = [name for name, _ in self.calls]
        if head in chain:
            cycle = " → ".join([*chain[chain.index(head) :], head])
            self.error(
                "recursive-block",
                f"block `{head}` includes itself ({cycle})",
                head_span,
                hint="a block may call other blocks, but not itself",
            )
            return None
        args = args if isinstance(args, YMap) else YMap(head_span)
        values: dict[str, Any] = {}
        failed: set[str] = set()  # given, but reported already (or unknowable after an error)
        ok = True
        for key, raw in args.items():
            if key in ("name", "if"):
                continue
            if key not in block.args and key != "in_channels":
                close = nearest(key, list(block.args))
                self.error(
                    "unknown-field",
                    f"block `{head}` has no argument `{key}`",
                    args.key_spans[key],
                    hint=f"did you mean `{close}`?"
                    if close
                    else "its arguments are " + (", ".join(f"`{a}`" for a in block.args) or "none"),
                )
                ok = False
                continue
            value = self.value(raw, args.at(key), env, flow)
            if value is _FAIL:
                failed.add(key)
                ok = False
                continue
            kind = "int" if key == "in_channels" else block.args[key].type
            if not _is_type(value, kind):
                self.error(
                    "wrong-type",
                    f"argument `{key}` of `{head}` is {kind}, got {show(value)}",
                    args.at(key),
                )
                ok = False
            values[key] = value
        block_env = {**self.spec.params}
        for arg, spec in block.args.items():
            if arg in values:
                block_env[arg] = values[arg]
            elif arg in failed or (
                is_expression(spec.default) and variables(spec.default) & failed
            ):
                continue  # failed (reported, or unknowable after an error), or computed from one
            elif spec.default is not None:
                default = self.value(spec.default, block.span, {**block_env, **values}, flow)
                if default is _FAIL:
                    failed.add(arg)
                    ok = False
                block_env[arg] = default
            else:
                self.error(
                    "missing-field",
                    f"block `{head}` needs the argument `{arg}` ({spec.type})",
                    head_span,
                    hint=f"add `{arg}: …`",
                )
                ok = False
        if not ok:
            return None
        stated = values.get("in_channels")
        if stated is not None and flow is not None and flow.shape[1] != stated:
            self.error(
                "channel-mismatch",
                f"`in_channels: {stated}` disagrees with the {flow.shape[1]} channels flowing in "
                f"(shape {format_shape(flow.shape)})",
                args.at("in_channels"),
                hint=f"write `in_channels: {flow.shape[1]}`, or leave it out to infer it",
            )
        self.calls.append((head, head_span))
        self.scopes.append({})
        try:
            return self.items(block.body, flow, path, block_env)
        finally:
            self.calls.pop()
            self.scopes.pop()

    # Ops --------------------------------------------------------------------------------------

    def op(self, cls: type[Op], args, head_span, flow, path, env) -> Flow | None:
        op = self.fields(cls, f"`{cls.kind}`", args, head_span, env, flow)
        if op is None or flow is None:
            return None
        x = flow.shape
        if cls.ranks is not None and len(x) not in cls.ranks:
            ranks = " or ".join(str(r) for r in cls.ranks)
            hint = "add `flatten` before it" if len(x) > max(cls.ranks) else None
            self.error(
                "rank-mismatch",
                f"`{cls.kind}` needs a rank-{ranks} input, got {format_shape(x)}",
                head_span,
                hint,
            )
            return None
        args = args if isinstance(args, YMap) else YMap(head_span)
        try:
            y = op.infer(x)
        except OpError as exc:
            stated = self.declared_width(exc, path)
            if stated is not None:  # the width the spec's own input gives this linear layer
                op = op.model_copy(update={"in_features": stated})
                return self.op_checked(op, x, flow, path, head_span, args)
            span = args.at(exc.field) if exc.field in args else head_span
            self.error(exc.code, exc.message, span, exc.hint)
            if exc.code not in ("channel-mismatch", "features-mismatch") or not exc.field:
                return None
            op = op.model_copy(update={exc.field: None})  # go on with the real width
            try:
                y = op.infer(x)
            except OpError:
                return None
        return self.op_checked(op, x, flow, path, head_span, args, y)

    def declared_width(self, exc: OpError, path: str) -> int | None:
        """With a symbolic input, a linear layer without `in_features` takes the width that
        the spec's declared (concrete) input gives it: its weights are built for that input."""
        if exc.code != "symbolic-channels" or exc.field != "in_features":
            return None
        if self.declared_features is None:
            self.declared_features = {}
            if all(isinstance(d, int) for d in self.spec.input[1:]):
                declared = _Expander(self.spec).run(self.spec.input)
                self.declared_features = {
                    layer.path: layer.input_shapes[0][-1]
                    for layer in declared.layers
                    if layer.op_name == "linear" and isinstance(layer.input_shapes[0][-1], int)
                }
        return self.declared_features.get(path)

    def op_checked(self, op, x, flow, path, head_span, args, y=None) -> Flow | None:
        if y is None:
            y = op.infer(x)
        if not self.sizes_positive(op, x, y, path, head_span, args):
            return None
        for left, right, what in op.conditions(x):
            self.net.conditions.append(Condition("equal", left, right, path, head_span, what))
        return self.add_layer(
            Layer(
                path,
                op.op_name,
                op,
                (flow.value,),
                (x,),
                y,
                op.params(x),
                op.buffers(x),
                op.macs(x, y),
                head_span,
                self.file,
            )
        )

    def sizes_positive(self, op: Op, x: Shape, y: Shape, path, span, args) -> bool:
        """Every output size must be at least 1; symbolic ones become conditions."""
        for axis in range(1, len(y)):
            size = y[axis]
            if isinstance(size, Sym):
                self.net.conditions.append(
                    Condition("positive", size, 1, path, span, f"`{op.kind}` output is non-empty")
                )
                continue
            if size >= 1:
                continue
            axis_name = _AXES.get(axis, f"dim {axis}") if len(y) == 4 else f"dim {axis}"
            hint = None
            windows = op.windows(x) if len(x) == 4 else None
            if windows and axis in _AXES and isinstance(x[axis], int):
                window = windows[axis - 2]
                need = -(-(window.kernel - x[axis]) // 2)
                hint = (
                    f"use `padding: {need}` (the window spans {window.kernel}), "
                    f"or give this layer an input {axis_name} of at least "
                    f"{window.kernel - 2 * window.padding}"
                )
            self.error(
                "spatial-collapse",
                f"`{op.kind}` reduces the {axis_name} to {size}: its input {axis_name} is "
                f"{x[axis]} (input shape {format_shape(x)})",
                span,
                hint,
            )
            return False
        return True

    def add_layer(self, layer: Layer) -> Flow:
        if len(self.net.layers) >= MAX_LAYERS:
            self.error(
                "too-many-layers",
                f"the network expands to more than {MAX_LAYERS:,} layers",
                layer.span,
                hint="reduce `repeat` counts",
            )
            raise _Abort
        self.net.layers.append(layer)
        return Flow(len(self.net.layers), layer.shape)


def _incoming(shape: Shape) -> dict[str, Any]:
    return {
        "channels": shape[1] if len(shape) > 1 else None,
        "height": shape[2] if len(shape) == 4 else None,
        "width": shape[3] if len(shape) == 4 else None,
        "features": shape[-1],
        "rank": len(shape),
    }


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("int", "str", "list") and isinstance(value, bool):
        return False
    return isinstance(value, _PYTHON_TYPES[kind])


def _with_span(diag: Diagnostic, span: Span) -> Diagnostic:
    return Diagnostic(
        diag.code, diag.message, diag.file, span, diag.severity, diag.hint, diag.notes
    )
