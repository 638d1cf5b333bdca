"""What the parts of one expansion share: the network being built, diagnostics reported once,
the work limits, and field values evaluated against the flowing shape.

The walk over items (archc.spec.expand), block argument binding (archc.spec.blocks) and op
application (archc.spec.apply) all act on one `Expansion`. Besides it, each step gets the
tensor flowing in (`Flow`, None once an error made it unknown) and where it stands (`Where`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from archc.diagnostics import Diagnostic, Note, Span
from archc.dims import axis_words
from archc.ir import Network
from archc.ops import Op, Shape
from archc.spec.document import Spec
from archc.spec.expr import ExprError, cost, evaluate, is_expression
from archc.spec.loader import YMap, YSeq
from archc.spec.validate import validate

# Limits that keep every check within about 2 s and 300 MB (docs/limits.md); the largest zoo
# networks have a few thousand layers.
MAX_LAYERS = 10_000
MAX_STEPS = 100_000
MAX_OPERATIONS = 1_000_000  # expression operations evaluated, over the whole expansion
# Nested block calls, repeats, groups and branches. The walk, building and export recurse
# once per level (a few frames each); YAML nesting allows about 21 of these levels, and a
# chain of blocks each calling the next is the only way deeper.
MAX_NESTING = 64

# Walked later, or formatted later (an assertion's message), not evaluated with the others.
RAW_FIELDS = {"body", "branches", "message"}
FAIL = object()  # a value that failed to evaluate, its error already reported (or moot)


class Abort(Exception):
    """A limit was hit: expansion stops, its diagnostic already recorded."""


@dataclass(frozen=True)
class Flow:
    """The tensor flowing at a point of the walk: its value id and shape."""

    value: int
    shape: Shape


@dataclass(frozen=True, eq=False)
class Where:
    """Where the walk stands: the path of the body being walked, the names its expressions
    see, and how many unnamed items came before in it.

    Beside the path, the body has a module key: the prefix of its layers' state_dict keys and
    ONNX node names. It is the path, less the levels of `inline` items, whose bodies share
    their parent's key and its counter. Counters are shared, not copied, by a `repeat`'s
    iterations, so that their items number on from one iteration to the next.
    """

    path: str
    env: dict[str, Any]
    counter: list[int] = field(default_factory=lambda: [0])
    key: str = ""
    key_counter: list[int] = field(default_factory=lambda: [0])
    flat: bool = False  # an `inline` item's body: branches add no key segment either

    def next(self, name: str | None, inline: bool = False) -> tuple[str, str]:
        """The path and key of the next item of this body, named `name` or numbered. An
        `inline` item has no key segment and takes no number: its layers number on in this
        body, as if written here."""
        segment = name or self.counter[0]
        self.counter[0] += 1
        if inline:
            return _join(self.path, segment), self.key
        key_segment = name or self.key_counter[0]
        self.key_counter[0] += 1
        return _join(self.path, segment), _join(self.key, key_segment)

    def next_key(self) -> str:
        """A key of this body for a layer with no item of its own (an `inline` merge)."""
        self.key_counter[0] += 1
        return _join(self.key, self.key_counter[0] - 1)

    def inside(self, path: str, key: str) -> Where:
        """A new body, at `path` and `key`: its items number from 0."""
        return Where(path, self.env, key=key)

    def inline(self, path: str) -> Where:
        """The body of an `inline` item at `path`: its layers are keyed as this body's."""
        return Where(path, self.env, key=self.key, key_counter=self.key_counter, flat=True)

    def branch(self, name: str) -> Where:
        """The body of a merge's branch `name`, this being the merge's own body."""
        path = f"{self.path}.{name}"
        if self.flat:
            return Where(path, self.env, key=self.key, key_counter=self.key_counter, flat=True)
        return Where(path, self.env, key=f"{self.key}.{name}")

    def with_env(self, env: dict[str, Any]) -> Where:
        """The same body, seeing `env` (a block's arguments)."""
        return Where(self.path, env, self.counter, self.key, self.key_counter, self.flat)

    def binding(self, name: str, value: Any) -> Where:
        """The same body, seeing one more name (a `repeat`'s index)."""
        return self.with_env({**self.env, name: value})


def _join(prefix: str, segment: str | int) -> str:
    return f"{prefix}.{segment}" if prefix else str(segment)


@dataclass(frozen=True)
class Item:
    """One body item, split: its head (op, block or keyword), its arguments as written (a
    mapping of fields, None for a bare `relu`, a name for `ref`), and the head's span."""

    head: str
    args: Any
    span: Span

    @property
    def fields(self) -> YMap:
        """The arguments as a mapping, empty for a bare item, located at the head."""
        return self.args if isinstance(self.args, YMap) else YMap(self.span)


class Expansion:
    """The state of one expansion of a spec into `net`."""

    def __init__(self, spec: Spec, net: Network):
        self.spec = spec
        self.file = spec.file
        self.net = net
        self.steps = 0
        self.operations = 0
        self.calls: list[tuple[str, Span]] = []  # the block calls being expanded
        self.context: list[Note] = []  # notes on where the walk is: calls, repeat iterations
        self.depth = 0  # nested structural items being expanded
        self.failures = 0  # errors met, including those reported before
        self.scopes: list[dict[str, Flow | None]] = [{}]
        # The tensor entering each block call being expanded (`input.` in expressions); first,
        # the network's input.
        self.entering: list[Shape | None] = [net.input]
        self.paths: set[str] = set()
        self.keys: set[str] = set()
        self.reported: set[tuple] = set()
        self.invalid: dict[tuple, list[Diagnostic]] = {}  # fields that failed, by item and values
        # Each layer's op as built for the declared input, by path: see apply.declared_width.
        self.declared_ops: dict[str, Op] | None = None

    # Diagnostics ------------------------------------------------------------------------------

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None) -> None:
        self.failures += 1
        notes = tuple(reversed(self.context))
        key = (code, span, notes)
        if key in self.reported:
            return  # the same mistake met again, e.g. in a later iteration of a `repeat`
        self.reported.add(key)
        self.net.diagnostics.append(
            Diagnostic(code, message, self.file, span, hint=hint, notes=notes)
        )

    def warning(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        """A warning found while expanding (once per place and context, as errors)."""
        notes = tuple(reversed(self.context))
        key = (code, span, notes)
        if key not in self.reported:
            self.reported.add(key)
            self.net.diagnostics.append(
                Diagnostic(code, message, self.file, span, hint=hint, notes=notes)
            )

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        for diag in diagnostics:
            self.error(diag.code, diag.message, diag.span, diag.hint)

    def note_call(self, name: str, span: Span) -> Note:
        where = f"{self.file}:{span.line}:{span.col}"
        return Note(f"in block `{name}` called at {where}", self.file, span)

    def note_iteration(self, index: str, k: int, span: Span) -> Note:
        where = f"{self.file}:{span.line}:{span.col}"
        return Note(f"in iteration `{index} = {k}` of the `repeat` at {where}", self.file, span)

    # Limits -----------------------------------------------------------------------------------

    def enter(self, span: Span) -> None:
        """Go one structural level deeper; past the limit, stop with an error."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.error(
                "too-deep-expansion",
                f"blocks, repeats and groups nest more than {MAX_NESTING} levels deep here",
                span,
                hint="call blocks one after another rather than each from inside the last",
            )
            raise Abort

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
            raise Abort

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
            raise Abort

    # Values -----------------------------------------------------------------------------------

    def value(self, raw: Any, span: Span, env: dict, flow: Flow | None) -> Any:
        """Evaluate the expressions in a field value; `FAIL` after reporting an error."""
        if isinstance(raw, YSeq):
            values = [self.value(v, raw.at(i), env, flow) for i, v in enumerate(raw)]
            return FAIL if any(v is FAIL for v in values) else values
        if not is_expression(raw):
            return raw
        return self.evaluate(raw, span, env, flow)

    def evaluate(self, raw: str, span: Span, env: dict, flow: Flow | None) -> Any:
        """Evaluate the expression `raw`; `FAIL` after reporting an error."""
        self.charge(cost(raw), span)
        try:
            incoming = _incoming(flow.shape) if flow else None
            entering = _incoming(self.entering[-1]) if self.entering[-1] else None
            # Lists and strings an expression builds or walks count toward the same budget.
            value = evaluate(raw, env, incoming, lambda items: self.charge(items, span), entering)
        except ExprError as exc:
            if (flow is None and "in." in raw) or (entering is None and "input." in raw):
                return FAIL  # the shape is unknown because of an earlier error
            self.error(exc.code, str(exc), span, exc.hint)
            return FAIL
        return value

    def fields(
        self,
        model: type[BaseModel],
        what: str,
        item: Item,
        flow: Flow | None,
        env: dict,
        common: tuple[str, ...] = ("name", "if"),
    ) -> BaseModel | None:
        """Evaluate and validate an item's fields, less the `common` ones, against `model`."""
        args = item.fields
        values, failed = {}, False
        for key, raw in args.items():
            if key in common:
                continue
            value = raw if key in RAW_FIELDS else self.value(raw, args.at(key), env, flow)
            failed |= value is FAIL
            values[key] = value
        if failed:
            return None
        # The same item failing again (each iteration of a `repeat`) fails the same way; building
        # pydantic's errors again would cost ~30 µs a time, seconds over a long repeat.
        key = (model, item.span, repr({k: v for k, v in values.items() if k not in RAW_FIELDS}))
        if key in self.invalid:
            self.extend(self.invalid[key])
            return None
        model_obj, diagnostics = validate(model, args, self.file, what, values)
        diagnostics = [d if d.span != args.span else _with_span(d, item.span) for d in diagnostics]
        if model_obj is None:
            self.invalid[key] = diagnostics
        self.extend(diagnostics)
        return model_obj


def _incoming(shape: Shape) -> dict[str, Any]:
    # The spatial sizes by name: `length` of (N, C, L); `depth`, `height`, `width` of
    # (N, C, D, H, W); `height` and `width` of (N, C, H, W).
    spatial = dict(zip(axis_words(len(shape) - 2), shape[2:])) if 3 <= len(shape) <= 5 else {}
    return {
        "channels": shape[1] if len(shape) > 1 else None,
        **{axis: spatial.get(axis) for axis in ("length", "depth", "height", "width")},
        "features": shape[-1],
        "rank": len(shape),
    }


def _with_span(diag: Diagnostic, span: Span) -> Diagnostic:
    return Diagnostic(diag.code, diag.message, diag.file, span, hint=diag.hint, notes=diag.notes)
