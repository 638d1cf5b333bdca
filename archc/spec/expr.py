"""The small, safe expression language of spec arguments.

A string value that mentions a variable (`$growth * 4`) or the incoming tensor
(`in.channels // 2`) is an expression. It is parsed with Python's `ast` module and evaluated by
walking a fixed set of node kinds — never with `eval` — with every intermediate integer bounded,
so a spec cannot run code, call functions other than the few listed here, or build huge numbers.

    >>> evaluate("$growth * 4", {"growth": 32})
    128
    >>> evaluate("2 if $i == 0 else 1", {"i": 0})
    2
"""

from __future__ import annotations

import ast
import math
import operator
import re
from functools import lru_cache
from typing import Any

MAX_MAGNITUDE = 2**62
MAX_LENGTH = 500
MAX_SEQUENCE = 10_000  # items of a list, or characters of a string, an expression may build
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_IN = re.compile(r"(?<![A-Za-z0-9_$.])in\.")
_VAR_PREFIX = "v__"
_IN_NAME = "in__"
INCOMING_FIELDS = ("channels", "height", "width", "features", "rank")


class ExprError(Exception):
    """An expression that cannot be parsed or evaluated; `code` is a diagnostic code."""

    def __init__(self, message: str, code: str = "bad-expression", hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and ("$" in value or _IN.search(value) is not None)


def variables(text: str) -> set[str]:
    """The `$names` an expression mentions."""
    return set(_VAR.findall(text))


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.expr:
    if len(text) > MAX_LENGTH:  # the text as written, not as rewritten (`$i` -> `v__i`)
        raise ExprError(f"expression is longer than {MAX_LENGTH} characters ({len(text)})")
    source = _IN.sub(_IN_NAME + ".", _VAR.sub(lambda m: _VAR_PREFIX + m.group(1), text))
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        raise ExprError(
            f"cannot parse expression `{text}`",
            hint="use integers, `$names`, `in.channels`, + - * // %, comparisons and "
            "`a if c else b`",
        ) from None


@lru_cache(maxsize=4096)
def cost(text: str) -> int:
    """An upper bound on the operations evaluating `text` takes: its number of syntax nodes."""
    try:
        return sum(1 for _ in ast.walk(_parse(text)))
    except ExprError:
        return 1


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of `divisor`, never below 90% of it (MobileNet)."""
    if divisor <= 0:
        raise ExprError("make_divisible needs a positive divisor")
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def div(numerator: float, denominator: float) -> float:
    """True division, a float: `/` is refused so that `in.channels / 2` is not a float by mistake.

    >>> div(3, 4)
    0.75
    """
    if denominator == 0:
        raise ExprError("division by zero in `div`")
    return numerator / denominator


def total(values: list) -> int | float:
    """The sum of a list of numbers: `sum($depths[:$s])` is the first block index of stage s."""
    if not isinstance(values, list) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        raise ExprError("`sum` takes a list of numbers")
    return sum(values)


_FUNCTIONS = {
    "len": len,
    "min": min,
    "max": max,
    "make_divisible": make_divisible,
    "int": int,
    "round": round,
    "ceil": math.ceil,
    "floor": math.floor,
    "div": div,
    "sum": total,
}


def evaluate(text: str, env: dict[str, Any], incoming: dict[str, Any] | None = None) -> Any:
    """Evaluate `text` with `$names` from `env` and `in.FIELD` from `incoming`."""
    return _Evaluator(text, env, incoming).eval(_parse(text))


class _Evaluator:
    def __init__(self, text: str, env: dict[str, Any], incoming: dict[str, Any] | None):
        self.text, self.env, self.incoming = text, env, incoming

    def eval(self, node: ast.expr) -> Any:
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            raise ExprError(f"`{_source(node)}` is not allowed in an expression")
        return _bounded(method(node))

    def eval_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (bool, int, float, str)):
            return node.value
        raise ExprError(f"constant `{node.value!r}` is not allowed")

    def eval_Name(self, node: ast.Name) -> Any:
        if node.id.startswith(_VAR_PREFIX):
            name = node.id[len(_VAR_PREFIX) :]
            if name not in self.env:
                from archc.diagnostics import nearest

                close = nearest(name, list(self.env))
                raise ExprError(
                    f"`${name}` is not defined here",
                    code="undefined-name",
                    hint=f"did you mean `${close}`?" if close else None,
                )
            return self.env[name]
        if node.id in ("True", "False"):
            return node.id == "True"
        raise ExprError(
            f"unknown name `{node.id}`",
            code="undefined-name",
            hint=f"variables start with `$`: write `${node.id}`",
        )

    def eval_Attribute(self, node: ast.Attribute) -> Any:
        if not (isinstance(node.value, ast.Name) and node.value.id == _IN_NAME):
            raise ExprError(f"`{_source(node)}` is not allowed in an expression")
        if node.attr not in INCOMING_FIELDS:
            raise ExprError(
                f"`in.{node.attr}` is not a field of the incoming tensor",
                hint="use one of " + ", ".join(f"`in.{f}`" for f in INCOMING_FIELDS),
            )
        if self.incoming is None:
            raise ExprError("`in.` has no meaning here: no tensor flows into this value")
        value = self.incoming.get(node.attr)
        if value is None:
            raise ExprError(f"the incoming tensor has no `{node.attr}`")
        return value

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        if isinstance(node.op, ast.Not):
            return not _truth(value)
        raise ExprError(f"operator in `{_source(node)}` is not allowed")

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        if isinstance(node.op, ast.Div):
            raise ExprError(
                f"`/` is not integer division in `{self.text}`",
                hint="use `//` for integer division, or `div(a, b)` for a fraction",
            )
        func = _BINARY.get(type(node.op))
        if func is None:
            raise ExprError(f"operator in `{_source(node)}` is not allowed")
        left, right = self.eval(node.left), self.eval(node.right)
        if func is operator.pow and (not isinstance(right, int) or abs(right) > 64):
            raise ExprError(f"exponent `{_source(node.right)}` is too large")
        if _length(func, left, right) > MAX_SEQUENCE:  # `[0] * 10**9` would take gigabytes
            raise ExprError(
                f"`{_source(node)}` builds a list or string longer than {MAX_SEQUENCE:,}"
            )
        try:
            return func(left, right)
        except ZeroDivisionError:
            raise ExprError(f"division by zero in `{self.text}`") from None
        except TypeError:
            raise ExprError(
                f"cannot apply `{_source(node)}` to {_kind(left)} and {_kind(right)}"
            ) from None

    def eval_BoolOp(self, node: ast.BoolOp) -> Any:
        want = isinstance(node.op, ast.Or)
        for value in node.values:
            if _truth(self.eval(value)) == want:
                return want
        return not want

    def eval_Compare(self, node: ast.Compare) -> Any:
        left = self.eval(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            func = _COMPARE.get(type(op))
            if func is None:
                raise ExprError(f"comparison in `{_source(node)}` is not allowed")
            right = self.eval(right_node)
            if not _truth(func(left, right)):
                return False
            left = right
        return True

    def eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if _truth(self.eval(node.test)) else self.eval(node.orelse)

    def eval_Subscript(self, node: ast.Subscript) -> Any:
        if isinstance(node.slice, ast.Slice):
            return self.slice(node)
        container, index = self.eval(node.value), self.eval(node.slice)
        if not isinstance(container, list) or not isinstance(index, int):
            raise ExprError(f"`{_source(node)}` needs a list and an integer index")
        if not -len(container) <= index < len(container):
            raise ExprError(f"index {index} is out of range for a list of {len(container)} items")
        return container[index]

    def slice(self, node: ast.Subscript) -> list:
        """`$list[a:b]`, `$list[:b]`, `$list[a:]`; no step."""
        container = self.eval(node.value)
        bounds = [None if b is None else self.eval(b) for b in (node.slice.lower, node.slice.upper)]
        if node.slice.step is not None:
            raise ExprError(f"`{_source(node)}`: a slice takes no step")
        if not isinstance(container, list) or not all(
            b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in bounds
        ):
            raise ExprError(f"`{_source(node)}` needs a list and integer bounds")
        return container[bounds[0] : bounds[1]]

    def eval_List(self, node: ast.List) -> Any:
        return [self.eval(item) for item in node.elts]

    def eval_Call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords:
            raise ExprError(
                f"`{_source(node.func)}` is not a function of the spec language",
                hint="the functions are " + ", ".join(sorted(_FUNCTIONS)),
            )
        args = [self.eval(arg) for arg in node.args]
        try:
            return _FUNCTIONS[name](*args)
        except TypeError:
            raise ExprError(f"wrong arguments to `{name}`") from None
        except (ValueError, OverflowError):  # int(), ceil() or round() of infinity or nan
            raise ExprError(f"`{_source(node)}` has no finite value") from None


def _source(node: ast.expr) -> str:
    """A node as the spec wrote it: `$depths[:2]`, not the parser's internal names."""
    return ast.unparse(node).replace(_VAR_PREFIX, "$").replace(_IN_NAME + ".", "in.")


def _length(func: Any, left: Any, right: Any) -> int:
    """The length of the list or string a `+` or `*` would build (0 for numbers)."""
    sequences = (list, str)
    if func is operator.add and isinstance(left, sequences) and isinstance(right, sequences):
        return len(left) + len(right)
    if func is operator.mul:
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, sequences) and isinstance(times, int):
                return len(seq) * max(times, 0)
    return 0


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, str, list)):
        return bool(value)
    raise ExprError("a symbolic size cannot be used as a condition")


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"an intermediate value is out of range (over 2**62): {str(value)[:20]}…")
    return value


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a " + type(value).__name__
    )
