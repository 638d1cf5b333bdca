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

from archc.diagnostics import Diagnostic, Span
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

RAW_FIELDS = {"body", "branches"}  # walked later, not evaluated with the item's other fields
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

    The counter is shared, not copied, by a `repeat`'s iterations, so that their items number
    on from one iteration to the next.
    """

    path: str
    env: dict[str, Any]
    counter: list[int] = field(default_factory=lambda: [0])

    def inside(self, path: str, env: dict[str, Any] | None = None) -> Where:
        """A new body, at `path`: its items number from 0."""
        return Where(path, self.env if env is None else env)

    def binding(self, name: str, value: Any) -> Where:
        """The same body, seeing one more name (a `repeat`'s index)."""
        return Where(self.path, {**self.env, name: value}, self.counter)


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
        self.context: list[str] = []  # notes on where the walk is: calls, repeat iterations
        self.depth = 0  # nested structural items being expanded
        self.failures = 0  # errors met, including those reported before
        self.scopes: list[dict[str, Flow | None]] = [{}]
        self.paths: set[str] = set()
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

    def extend(self, diagnostics: list[Diagnostic]) -> None:
        for diag in diagnostics:
            self.error(diag.code, diag.message, diag.span, diag.hint)

    def note_call(self, name: str, span: Span) -> str:
        return f"in block `{name}` called at {self.file}:{span.line}:{span.col}"

    def note_iteration(self, index: str, k: int, span: Span) -> str:
        return f"in iteration `{index} = {k}` of the `repeat` at {self.file}:{span.line}:{span.col}"

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
        self.charge(cost(raw), span)
        try:
            incoming = _incoming(flow.shape) if flow else None
            # Lists and strings an expression builds or walks count toward the same budget.
            value = evaluate(raw, env, incoming, lambda items: self.charge(items, span))
        except ExprError as exc:
            if flow is None and "in." in raw:
                return FAIL  # the incoming shape is unknown because of an earlier error
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
