"""The safe expression evaluator of spec arguments."""

from __future__ import annotations

import builtins

import pytest

from archc.spec import expr
from archc.spec.expr import ExprError, evaluate, is_expression, variables

ENV = {"growth": 32, "i": 2, "depths": [2, 2, 6, 2], "first": True, "name": "a"}
INCOMING = {"channels": 64, "height": 7, "width": 9, "features": 9, "rank": 4}


def value(text: str, env=ENV, incoming=INCOMING):
    return evaluate(text, env, incoming)


def refused(text: str, env=ENV, incoming=INCOMING) -> ExprError:
    with pytest.raises(ExprError) as info:
        evaluate(text, env, incoming)
    return info.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$growth * 4", 128),
        ("$growth // 3", 10),
        ("$growth % 5", 2),
        ("-$growth + 1", -31),
        ("2 ** 10", 1024),
        ("($growth + 1) * 2", 66),
        ("in.channels // 2", 32),
        ("in.channels + $growth", 96),
        ("in.height * in.width", 63),
        ("in.rank", 4),
        ("2 if $i == 0 else 1", 1),
        ("2 if $i == 2 and $first else 1", 2),
        ("1 if not $first or $i > 5 else 0", 0),
        ("0 < $i <= 2", True),
        ("$depths[$i]", 6),
        ("$depths[-1]", 2),
        ("$depths[1:3]", [2, 6]),
        ("len($depths)", 4),
        ("sum($depths)", 12),
        ("max($depths)", 6),
        ("min(3, $i)", 2),
        ("[$i, $i * 2]", [2, 4]),
        ("[1, 2] + [3]", [1, 2, 3]),
        ("make_divisible(37, 8)", 40),
        ("$name", "a"),
    ],
)
def test_evaluates(text, expected):
    result = value(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("$x", True), ("in.channels", True), ("64", False), ("a", False), ("main.in", False)],
)
def test_what_is_an_expression(text, expected):
    assert is_expression(text) is expected


def test_variables():
    assert variables("$a * $b + in.channels // $a") == {"a", "b"}


def test_slash_is_refused_with_the_floor_division_hint():
    error = refused("$growth / 2")
    assert error.code == "bad-expression" and "`//`" in error.hint


def test_unknown_variable_suggests_the_nearest():
    error = refused("$grwoth * 2")
    assert error.code == "undefined-name" and error.hint == "did you mean `$growth`?"


def test_bare_name_suggests_the_dollar():
    error = refused("growth * 2 + $i")
    assert (
        error.code == "undefined-name" and error.hint == "variables start with `$`: write `$growth`"
    )


def test_incoming_field_must_exist():
    assert "in.channels" in refused("in.chanels // 2").hint
    assert refused("in.channels", incoming=None).code == "bad-expression"


@pytest.mark.parametrize(
    "text",
    [
        "().__class__",
        "$growth.__class__",
        "().__class__.__base__.__subclasses__()",
        "__import__('os').system('true') or $i",
        "open('/etc/passwd') or $i",
        "eval('1') + $i",
        "getattr($i, 'real')",
        "(lambda: 1)() + $i",
        "[c for c in 'ab'] + $i",
        "{1: 2} or $i",
        "{1, 2} or $i",
        "$i if (x := 1) else 0",
        "f'{$i}'",
        "$depths.append(1)",
        "$i @ $i",
        "$i << 2",
        "$i & 1",
        "~$i",
        "$i is 2",
        "$i in [1, 2]",
        "max($depths, key=len)",
        "b'x' and $i",
        "... and $i",
        "1j + $i",
    ],
)
def test_escapes_and_unsupported_syntax_are_refused(text):
    assert refused(text).code in ("bad-expression", "undefined-name")


def test_nothing_is_ever_evaluated_by_python(monkeypatch):
    import ast

    real_compile = builtins.compile
    calls = []

    def forbidden(*args, **kwargs):
        calls.append(args)
        raise AssertionError("eval/exec called")

    def parse_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            calls.append(source)
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    with monkeypatch.context() as patch:
        for name in ("eval", "exec"):
            patch.setattr(builtins, name, forbidden)
        patch.setattr(builtins, "compile", parse_only)
        result = value("$growth * 4 + in.channels - 0 * 17")
        error = refused("__import__('os').system('echo pwned') or $i + 3")
    assert calls == []
    assert result == 192 and error.code == "bad-expression"


@pytest.mark.parametrize(
    "text",
    [
        "2 ** 100",
        "$growth ** 65",
        "2 ** 2 ** 2 ** 2 ** 2",
        "10 ** 18 * 10 ** 18",
        "-(2 ** 62) - 1",
        "[0] * 10 ** 9",
        "'ab' * 10 ** 9",
        "$depths * 10000",
        "1 // 0",
        "$i % 0",
        "$depths[9]",
        "'x' * 10001",
    ],
)
def test_huge_or_undefined_values_are_refused(text):
    assert refused(text).code == "bad-expression"


def test_deep_expressions_do_not_blow_the_stack():
    at_limit = "-" * (expr.MAX_DEPTH - 1) + "$i"  # MAX_DEPTH - 1 signs over one name
    assert value(at_limit) == -2
    assert refused("-" + at_limit).code == "bad-expression"
    assert refused("-" * 491 + "$i").code == "bad-expression"
    assert value("(" * 150 + "$i" + ")" * 150) == 2  # parentheses are no nodes
    refused("(" * 300 + "$i" + ")" * 300)  # Python's parser refuses past 200 levels


def test_a_deep_caller_stack_still_gets_an_error(monkeypatch):
    monkeypatch.setattr(expr, "MAX_DEPTH", 10_000)  # as if the depth were not bounded
    assert refused("-" * 495 + "$i").code == "bad-expression"


def test_length_is_measured_as_written():
    at_limit = "$i" + " + $i" * 99 + " " * 3  # 500 characters
    assert len(at_limit) == 500 and value(at_limit) == 200
    assert "longer than 500" in str(refused(at_limit + " "))


def test_messages_show_the_expression_as_written():
    assert "v__" not in str(refused("$depths * 10000"))
    assert "`$depths * 10000`" in str(refused("$depths * 10000"))


# Hostile expressions: each refused with a code, never another exception, and at once. -------

HOSTILE_ENV = {**ENV, "x": 2.5}


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("$x * 1e200 ** 2", "bad-number"),  # OverflowError
        ("$x * 1e200 * 1e200", "bad-number"),  # inf, silently
        ("$x * 1e200 * 1e200 - $x * 1e200 * 1e200", "bad-number"),  # would be nan
        ("div($x * 1e300, 1e-300)", "bad-number"),
        ("'%.99999999999f' % $x", "bad-expression"),
        ("'%0999999999d' % $i", "bad-expression"),
        ("[8, 16] < $i", "bad-expression"),
        ("-[$i, 16]", "bad-expression"),
        ("'a' < $i", "bad-expression"),
        ("max([1], $i)", "bad-expression"),
        ("round($i, -10**9)", "bad-expression"),
        ("round($x, 10**9)", "bad-expression"),
        ("[[$i] * 10000] * 10000", "bad-expression"),
        ("len([[[$i] * 100] * 100] * 100)", "bad-expression"),
        ("$name * 5000 + $name * 5001", "bad-expression"),
        ("3 ** 40 + $i", "bad-expression"),
        ("$growth ** 13", "bad-expression"),
    ],
)
def test_hostile_expressions_are_refused(text, code):
    assert refused(text, env=HOSTILE_ENV).code == code


def test_a_symbolic_size_in_a_condition_is_refused():
    from archc.dims import Sym

    incoming = {**INCOMING, "height": Sym.var("H")}
    for text in ("in.height > 4", "in.height == 4", "max(in.height, 4)", "in.height and 1"):
        assert refused(text, incoming=incoming).code == "bad-expression"
    assert value("in.height // 2 * 2", incoming=incoming) is not None  # arithmetic is fine


def test_shared_lists_count_once_per_use():
    # 4^20 uses of one list, built as a spec's parameters would share it.
    shared = [0]
    for _ in range(20):
        shared = [shared] * 4
    env = {"p": shared, "q": [[[[0]]]]}
    for text in ("$p == $q", "max($p)", "$p + []", "[$p]", "$p * 1"):
        assert refused(text, env=env).code == "bad-expression"
    assert value("len($p)", env=env) == 4  # walks nothing


# The limits at and just past (docs/limits.md) -------------------------------------------------


def test_limit_round_digits():
    assert value(f"round(123456, -{expr.MAX_ROUND_DIGITS})") == 0
    assert refused(f"round(123456, -{expr.MAX_ROUND_DIGITS + 1})").code == "bad-expression"


def test_limit_nested_repetition():
    assert len(value("[[$i] * 100] * 100")) == 100
    assert refused("[[$i] * 100] * 101").code == "bad-expression"


def test_limit_powers_are_bounded_before_they_are_computed():
    assert value("2 ** 62 + 0 * $i") == 2**62
    assert value("(-2) ** 61 + 0 * $i") == -(2**61)
    assert refused("3 ** 64 + $i").code == "bad-expression"
    assert value("1.5 ** 64 + $i") == 1.5**64 + 2


def test_limit_value_depth():
    nested = "[" * expr.MAX_VALUE_DEPTH + "$i" + "]" * expr.MAX_VALUE_DEPTH
    assert len(value(nested)) == 1
    assert refused("[" + nested + "]").code == "bad-expression"


def test_built_items_are_charged_before_they_are_built():
    charged: list[int] = []
    evaluate("len([0] * 100 + [$i])", ENV, None, charged.append)
    assert sum(charged) >= 201


def test_every_hostile_expression_is_quick():
    import time

    start = time.process_time()
    for text in ("round($i, -10**9)", "[[$i] * 10000] * 10000", "'%0999999999d' % $i"):
        refused(text)
    assert time.process_time() - start < 0.5


def test_parameters_share_one_budget_of_built_items():
    budget = expr.ItemBudget()
    for _ in range(expr.ItemBudget.LIMIT // 10_001):  # `[0]` and then its 10,000 copies
        evaluate("len([0] * 10000) + $i", ENV, None, budget.charge)
    with pytest.raises(ExprError) as info:
        evaluate("len([0] * 10000) + $i", ENV, None, budget.charge)
    assert info.value.code == "too-many-layers"


# Float math, comprehensions: RegNet's width rule and EfficientNet's scaling in the spec.


def _regnet_widths(w_0: int, w_a: float, w_m: float, depth: int) -> list[int]:
    """torchvision's BlockParams.from_init_params, the widths part, written with math."""
    import math

    widths = [w_0 + w_a * j for j in range(depth)]
    capacity = [round(math.log(w / w_0) / math.log(w_m)) for w in widths]
    return [round(w_0 * w_m**c / 8) * 8 for c in capacity]


@pytest.mark.parametrize(
    ("w_0", "w_a", "w_m", "depth"),
    [(24, 36.44, 2.49, 13), (48, 27.89, 2.09, 16), (80, 49.56, 2.88, 23), (232, 115.89, 2.53, 20)],
)
def test_regnet_width_rule_is_computable(w_0, w_a, w_m, depth):
    env = {"w_0": w_0, "w_a": w_a, "w_m": w_m, "depth": depth}
    text = (
        "[int(round($w_0 * $w_m ** round(log(($w_0 + $w_a * $j) / $w_0) / log($w_m)) / 8)) * 8"
        " for $j in range($depth)]"
    )
    assert evaluate(text, env) == _regnet_widths(w_0, w_a, w_m, depth)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("log2(8)", 3.0),
        ("log(8, 2)", 3.0),
        ("sqrt(16)", 4.0),
        ("exp(0)", 1.0),
        ("abs(-3)", 3),
        ("2.0 ** 0.5 == sqrt(2)", True),
        ("4 ** 0.5", 2.0),
        ("range(3)", [0, 1, 2]),
        ("range(1, 7, 2)", [1, 3, 5]),
        ("[$d * 2 for $d in $depths if $d > 2]", [12]),
        ("[[$a, $b] for $a in range(2) for $b in range($a)]", [[1, 0]]),
        ("[$d for $d in $depths][$i]", 6),
        ("1.5 / 2", 0.75),
        ("ceil(in.channels * 1.1 / 8) * 8", 72),
    ],
)
def test_float_math_and_comprehensions(text, expected):
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("log(0)", "must be positive"),
        ("sqrt(-1)", "must not be negative"),
        ("(-2.0) ** 0.5", "no real value"),
        ("2.0 ** 5000", "no finite value"),
        ("in.channels / 2", "is not integer division"),
        ("[x for x in range(3)]", "must be a `$name`"),
        ("[$x for $x in 3]", "not a list"),
        ("range(10 ** 6)", "more than 10,000"),
        ("[$a for $a in range(200) for $b in range(200)]", "more than 10,000"),
    ],
)
def test_float_math_refusals_are_clear(text, words):
    assert words in str(refused(text))


def test_comprehension_loop_variables_do_not_leak():
    assert value("[$growth for $growth in range(2)] + [$growth]") == [0, 1, 32]


def test_input_is_the_entering_tensor():
    entering = {"channels": 8, "height": 7, "width": 9, "features": 9, "rank": 4}
    assert evaluate("input.channels + in.channels", ENV, INCOMING, None, entering) == 72
    assert is_expression("input.channels")
    with pytest.raises(ExprError, match="no tensor"):
        evaluate("input.channels", ENV, INCOMING)


def test_nested_loops_that_keep_nothing_are_bounded():
    text = "[$a for $a in range(10000) for $b in range(10000) if $b < 0]"
    assert "loops more than 100,000 times" in str(refused(text))
