"""The small, safe expression language of spec arguments.

A string value that mentions a variable (`$growth * 4`) or the incoming tensor
(`in.channels // 2`) is an expression. It is parsed with Python's `ast` module and evaluated by
walking a fixed set of node kinds — never with `eval`. Specs come from strangers, so every
operation's cost is bounded *before* it is done (the size of a power's result from its operands,
the length of a repeated list or string, `round`'s digits), the syntax tree's depth is bounded
before it is walked, every value is finite, and any failure is an `ExprError` — never another
exception — which the caller reports at the expression.

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
from collections.abc import Callable
from functools import lru_cache
from typing import Any

MAX_MAGNITUDE = 2**62
MAX_LENGTH = 500
# Items of a list (nested lists' items counted once per use) or characters of a string that an
# expression may build: `[[$z] * 10000] * 10000` shares one list, but anything that walks it
# walks 10^8 items.
MAX_SEQUENCE = 10_000
MAX_ITERATIONS = 100_000  # loop steps of the list comprehensions of one expression
MAX_DEPTH = 128  # nesting of the syntax tree; the walk recurses twice per level
MAX_VALUE_DEPTH = 64  # nesting of a list an expression builds, as the loader's MAX_DEPTH
MAX_ROUND_DIGITS = 20  # `round(x, -10**9)` would compute 10**(10**9); 2**62 has 19 digits
_VAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_IN = re.compile(r"(?<![A-Za-z0-9_$.])in\.")
_INPUT = re.compile(r"(?<![A-Za-z0-9_$.])input\.")  # the tensor entering the block (or network)
_VAR_PREFIX = "v__"
_IN_NAME = "in__"
_INPUT_NAME = "input__"
INCOMING_FIELDS = ("channels", "length", "depth", "height", "width", "features", "rank")


class ExprError(Exception):
    """An expression that cannot be parsed or evaluated; `code` is a diagnostic code."""

    def __init__(self, message: str, code: str = "bad-expression", hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.hint = hint


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and (
        "$" in value or _IN.search(value) is not None or _INPUT.search(value) is not None
    )


def reads_incoming(text: str) -> bool:
    """Whether an expression reads the tensor entering its item (`in.`)."""
    return _IN.search(text) is not None


def variables(text: str) -> set[str]:
    """The `$names` an expression mentions."""
    return set(_VAR.findall(text))


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.expr:
    if len(text) > MAX_LENGTH:  # the text as written, not as rewritten (`$i` -> `v__i`)
        raise ExprError(f"expression is longer than {MAX_LENGTH} characters ({len(text)})")
    source = _VAR.sub(lambda m: _VAR_PREFIX + m.group(1), text)
    source = _INPUT.sub(_INPUT_NAME + ".", _IN.sub(_IN_NAME + ".", source))
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExprError(
            f"cannot parse expression `{text}`",
            hint="use integers, `$names`, `in.channels`, + - * // %, comparisons and "
            "`a if c else b`",
        ) from None
    if _depth(tree) > MAX_DEPTH:
        raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep")
    return tree


def _depth(tree: ast.expr) -> int:
    """The syntax tree's depth, counted without recursion (`- - - … 1` is 500 levels)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        stack.extend((child, level + 1) for child in children)
    return deepest


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


def _round(value: float, digits: int | None = None) -> int | float:
    """`round`, with its digits bounded: CPython computes 10**-digits for negative ones."""
    if digits is not None and (
        not isinstance(digits, int) or isinstance(digits, bool) or abs(digits) > MAX_ROUND_DIGITS
    ):
        raise ExprError(f"`round` takes at most {MAX_ROUND_DIGITS} digits, either way")
    return round(value, digits)


def _range(*bounds: int) -> list[int]:
    """`range(stop)`, `range(start, stop[, step])` as a list, within the sequence limit."""
    if not all(isinstance(b, int) and not isinstance(b, bool) for b in bounds):
        raise ExprError("range() takes integers")
    values = range(*bounds)
    if len(values) > MAX_SEQUENCE:
        raise ExprError(f"range() of more than {MAX_SEQUENCE:,} items")
    return list(values)


def _log(value: float, base: float | None = None) -> float:
    """The natural logarithm, or the logarithm to `base`."""
    if _is_number(value) and value <= 0:
        raise ExprError(f"log({value}) has no value: the argument must be positive")
    return math.log(value) if base is None else math.log(value, base)


def _sqrt(value: float) -> float:
    if _is_number(value) and value < 0:
        raise ExprError(f"sqrt({value}) has no value: the argument must not be negative")
    return math.sqrt(value)


_FUNCTIONS = {
    "len": len,
    "range": _range,
    "log": _log,
    "log2": lambda value: _log(value, 2),
    "exp": math.exp,
    "sqrt": _sqrt,
    "abs": abs,
    "min": min,
    "max": max,
    "make_divisible": make_divisible,
    "int": int,
    "round": _round,
    "ceil": math.ceil,
    "floor": math.floor,
    "div": div,
    "sum": total,
}

# What an operation of the walk may raise besides ExprError; each becomes an ExprError.
_FAILURES = (TypeError, ValueError, ArithmeticError, RecursionError, MemoryError)


def evaluate(
    text: str,
    env: dict[str, Any],
    incoming: dict[str, Any] | None = None,
    charge: Callable[[int], None] | None = None,
    entering: dict[str, Any] | None = None,
) -> Any:
    """Evaluate `text` with `$names` from `env`, `in.FIELD` from `incoming` (the tensor entering
    the item) and `input.FIELD` from `entering` (the tensor entering the block).

    `charge`, if given, is told the number of items or characters each list or string the
    expression builds will hold, before it is built, so that a caller's work budget counts them.
    """
    tree = _parse(text)
    try:
        return _Evaluator(text, env, incoming, charge, entering).eval(tree)
    except _FAILURES as exc:  # a case the checks below do not foresee: still a located error
        raise ExprError(f"cannot evaluate `{_clip(text)}`: {type(exc).__name__}") from None


class ItemBudget:
    """A `charge` for expressions evaluated outside an expansion (parameters): each stays
    within its own bounds, but thousands of them need a common one."""

    LIMIT = 1_000_000  # as the expansion's operation budget

    def __init__(self) -> None:
        self.items = 0

    def charge(self, items: int) -> None:
        self.items += items
        if self.items > self.LIMIT:
            raise ExprError(
                f"parameters build more than {self.LIMIT:,} list items or characters",
                code="too-many-layers",
            )


class _Evaluator:
    def __init__(
        self,
        text: str,
        env: dict[str, Any],
        incoming: dict[str, Any] | None,
        charge: Callable[[int], None] | None,
        entering: dict[str, Any] | None = None,
    ):
        self.text, self.env, self.incoming, self.entering = text, env, incoming, entering
        self.iterations = 0  # of list comprehensions
        self.charge = charge or (lambda _: None)

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
        tensors = {_IN_NAME: ("in", self.incoming), _INPUT_NAME: ("input", self.entering)}
        if not (isinstance(node.value, ast.Name) and node.value.id in tensors):
            raise ExprError(f"`{_source(node)}` is not allowed in an expression")
        word, fields = tensors[node.value.id]
        if node.attr not in INCOMING_FIELDS:
            raise ExprError(
                f"`{word}.{node.attr}` is not a field of a tensor",
                hint="use one of " + ", ".join(f"`{word}.{f}`" for f in INCOMING_FIELDS),
            )
        if fields is None:
            raise ExprError(f"`{word}.` has no meaning here: no tensor flows into this value")
        value = fields.get(node.attr)
        if value is None:
            raise ExprError(f"the tensor `{word}` has no `{node.attr}`")
        return value

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not _truth(value)
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise ExprError(f"operator in `{_source(node)}` is not allowed")
        if not _is_number(value) and not _is_symbolic(value):
            raise ExprError(f"cannot apply `{_source(node)}` to {_kind(value)}")
        return -value if isinstance(node.op, ast.USub) else +value

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        func = _BINARY.get(type(node.op))
        if func is None and not isinstance(node.op, ast.Div):
            raise ExprError(f"operator in `{_source(node)}` is not allowed")
        left, right = self.eval(node.left), self.eval(node.right)
        if isinstance(node.op, ast.Div):
            # True division of floats (`log(w) / log(m)`); of two integers it is refused, so that
            # `in.channels / 2` is not a fraction by mistake.
            if not (isinstance(left, float) or isinstance(right, float)):
                raise ExprError(
                    f"`/` is not integer division in `{_clip(self.text)}`",
                    hint="use `//` for integer division, or `div(a, b)` for a fraction",
                )
            func = operator.truediv
        if isinstance(left, str) and func is operator.mod:  # printf-style formatting
            raise ExprError(f"`%` formats no strings in `{_source(node)}`")
        if func is operator.pow:
            _check_power(node, left, right)
        built = _built_size(func, left, right)
        if built > MAX_SEQUENCE:  # `[0] * 10**9` would take gigabytes
            raise ExprError(
                f"`{_source(node)}` builds a list or string of more than {MAX_SEQUENCE:,} items"
            )
        if built:
            self.charge(built)
        try:
            return func(left, right)
        except ZeroDivisionError:
            raise ExprError(f"division by zero in `{_clip(self.text)}`") from None
        except OverflowError:  # a float power: `1e200 ** 2`
            raise ExprError(f"`{_source(node)}` has no finite value", code="bad-number") from None
        except TypeError:
            raise ExprError(
                f"cannot apply `{_source(node)}` to {_kind(left)} and {_kind(right)}"
            ) from None

    def walk(self, value: Any, node: ast.expr) -> None:
        """Count the work of an operation that walks a list or string (`==`, `max`)."""
        if isinstance(value, (list, str)):
            size, _ = _measure(value)
            if size > MAX_SEQUENCE:
                raise ExprError(
                    f"`{_clip(_source(node))}` walks a list or string of more than "
                    f"{MAX_SEQUENCE:,} items"
                )
            self.charge(size)

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
            if _is_symbolic(left) or _is_symbolic(right):
                raise _symbolic(node)
            self.walk(left, node)
            self.walk(right, node)
            if func not in (operator.eq, operator.ne) and not _comparable(left, right):
                raise ExprError(f"cannot compare {_kind(left)} with {_kind(right)}")
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
        items = [self.eval(item) for item in node.elts]
        size, depth = _measure(items)
        if size > MAX_SEQUENCE or depth > MAX_VALUE_DEPTH:
            raise ExprError(
                f"`{_clip(_source(node))}` builds a list of more than {MAX_SEQUENCE:,} items "
                f"or {MAX_VALUE_DEPTH} levels"
            )
        self.charge(size)
        return items

    def eval_ListComp(self, node: ast.ListComp) -> Any:
        """`[expr for $x in list if cond ...]`, each loop variable a `$name`."""
        results: list = []

        def loop(generators: list[ast.comprehension], env: dict[str, Any]) -> None:
            if not generators:
                saved, self.env = self.env, env
                try:
                    results.append(self.eval(node.elt))
                finally:
                    self.env = saved
                if len(results) > MAX_SEQUENCE:
                    raise ExprError(
                        f"`{_clip(_source(node))}` builds more than {MAX_SEQUENCE:,} items"
                    )
                return
            first, *rest = generators
            target = first.target
            if not (isinstance(target, ast.Name) and target.id.startswith(_VAR_PREFIX)):
                raise ExprError(
                    f"the loop variable `{_source(target)}` must be a `$name`",
                    hint="write `[... for $j in range($n)]`",
                )
            if first.is_async:
                raise ExprError(f"`{_source(node)}` is not allowed in an expression")
            saved, self.env = self.env, env
            try:
                iterable = self.eval(first.iter)
            finally:
                self.env = saved
            if not isinstance(iterable, list):
                raise ExprError(f"`{_source(first.iter)}` is {_kind(iterable)}, not a list")
            self.charge(len(iterable))
            self.iterations += len(iterable)
            if self.iterations > MAX_ITERATIONS:  # nested loops filtering out every item
                raise ExprError(
                    f"`{_clip(_source(node))}` loops more than {MAX_ITERATIONS:,} times"
                )
            name = target.id[len(_VAR_PREFIX) :]
            for value in iterable:
                inner = {**env, name: value}
                saved, self.env = self.env, inner
                try:
                    keep = all(_truth(self.eval(cond)) for cond in first.ifs)
                finally:
                    self.env = saved
                if keep:
                    loop(rest, inner)

        loop(list(node.generators), self.env)
        size, depth = _measure(results)
        if size > MAX_SEQUENCE or depth > MAX_VALUE_DEPTH:
            raise ExprError(
                f"`{_clip(_source(node))}` builds a list of more than {MAX_SEQUENCE:,} items "
                f"or {MAX_VALUE_DEPTH} levels"
            )
        return results

    def eval_Call(self, node: ast.Call) -> Any:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS or node.keywords:
            raise ExprError(
                f"`{_source(node.func)}` is not a function of the spec language",
                hint="the functions are " + ", ".join(sorted(_FUNCTIONS)),
            )
        args = [self.eval(arg) for arg in node.args]
        if any(_is_symbolic(a) for a in _flat(args)) and name != "len":
            raise _symbolic(node)
        if name != "len":
            for arg in args:
                self.walk(arg, node)
        try:
            return _FUNCTIONS[name](*args)
        except TypeError:
            raise ExprError(f"wrong arguments to `{name}`") from None
        except (ValueError, ArithmeticError):  # int(), ceil() or round() of infinity or nan
            raise ExprError(f"`{_clip(_source(node))}` has no finite value") from None


def _check_power(node: ast.BinOp, base: Any, exponent: Any) -> None:
    """Refuse a power whose result would be too large, or not real, before computing it."""
    if isinstance(exponent, float) or (isinstance(base, float) and _is_number(exponent)):
        if _is_number(base) and base < 0 and not float(exponent).is_integer():
            raise ExprError(f"`{_source(node)}` has no real value (a negative base)")
        return  # a float power: an overflow is reported as it happens
    if not isinstance(exponent, int) or isinstance(exponent, bool) or abs(exponent) > 64:
        raise ExprError(f"exponent `{_source(node.right)}` is too large")
    if isinstance(base, int) and exponent > 0 and (abs(base).bit_length() - 1) * exponent > 62:
        raise ExprError(f"`{_source(node)}` is out of range (over 2**62)")


def _source(node: ast.expr) -> str:
    """A node as the spec wrote it: `$depths[:2]`, not the parser's internal names."""
    text = ast.unparse(node).replace(_VAR_PREFIX, "$").replace(_IN_NAME + ".", "in.")
    return text.replace(_INPUT_NAME + ".", "input.")


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _built_size(func: Any, left: Any, right: Any) -> int:
    """The size (see `_measure`) of the list or string a `+` or `*` would build; 0 for numbers."""
    sequences = (list, str)
    if func is operator.add and isinstance(left, sequences) and isinstance(right, sequences):
        return _measure(left)[0] + _measure(right)[0]
    if func is operator.mul:
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, sequences) and isinstance(times, int):
                return _measure(seq)[0] * max(times, 0)
    return 0


def _measure(value: Any) -> tuple[int, int]:
    """The items of a value, counted once per use (a string counts its characters, an empty
    list one), and its depth; without recursion, and stopping past MAX_SEQUENCE items, so that a
    list of shared lists costs no more to measure than the limit.
    """
    sizes: dict[int, tuple[int, int]] = {}
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, ready = stack.pop()
        if id(item) in sizes:
            continue
        if isinstance(item, str):
            sizes[id(item)] = (max(1, len(item)), 0)
        elif not isinstance(item, list):
            sizes[id(item)] = (1, 0)
        elif len(item) > MAX_SEQUENCE:  # each item counts at least one
            return len(item), 1
        elif ready:
            parts = [sizes[id(x)] for x in item]
            size = max(1, sum(p[0] for p in parts))
            depth = 1 + max((p[1] for p in parts), default=0)
            if size > MAX_SEQUENCE or depth > MAX_VALUE_DEPTH:
                return size, depth
            sizes[id(item)] = (size, depth)
        else:
            stack.append((item, True))
            stack.extend((x, False) for x in item if id(x) not in sizes)
    return sizes[id(value)]


def _flat(values: list) -> list:
    return [v for value in values for v in (value if isinstance(value, list) else [value])]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_symbolic(value: Any) -> bool:
    from archc.dims import Sym

    return isinstance(value, Sym)


def _symbolic(node: ast.expr) -> ExprError:
    return ExprError(
        f"`{_clip(_source(node))}` depends on a symbolic input size",
        hint="give the input a fixed size (`--input N,3,224,224`), or do not compare this size",
    )


def _comparable(left: Any, right: Any) -> bool:
    """Whether `<` is defined between two values: numbers, strings, or lists of such."""
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return True
    if isinstance(left, str) and isinstance(right, str):
        return True
    return isinstance(left, list) and isinstance(right, list)


def _truth(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, str, list)):
        return bool(value)
    raise ExprError("a symbolic size cannot be used as a condition")


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"an intermediate value is out of range (over 2**62): {str(value)[:20]}…")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"an intermediate value is not finite ({value})", code="bad-number")
    return value


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a " + type(value).__name__
    )
