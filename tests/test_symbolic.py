"""Property tests: symbolic shape arithmetic equals integer arithmetic after substitution."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from archc.analysis.periodic import contains, degree, period, solve
from archc.dims import Sym

H, W = Sym.var("H"), Sym.var("W")

# A size expression as a sequence of shape-rule steps: (kind, a, b).
steps = st.lists(
    st.tuples(
        st.sampled_from(["conv", "pool_ceil", "up", "add"]),
        st.integers(1, 7),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=6,
)


def apply(size, program):
    for kind, a, b in program:
        if kind == "conv":  # kernel a, stride b + 1, padding b
            size = (size + 2 * b - a) // (b + 1) + 1
        elif kind == "pool_ceil":
            s = b + 1
            size = (size + min(2 * 0 - a + s - 1, -1)) // s + 1
        elif kind == "up":
            size = size * a
        else:
            size = size + (a - b)
    return size


@settings(max_examples=300, deadline=None)
@given(steps, st.integers(-50, 500))
def test_symbolic_program_equals_integer_program(program, value):
    symbolic = apply(H, program)
    expected = apply(value, program)
    got = symbolic.subs({"H": value}) if isinstance(symbolic, Sym) else symbolic
    assert got == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(-20, 20), st.integers(1, 9), st.integers(1, 9), st.integers(-20, 20))
def test_nested_floor_collapses_exactly(c, a, b, d):
    expr = ((H + c) // a + d) // b
    for value in range(-40, 80):
        assert expr.subs({"H": value}) == ((value + c) // a + d) // b


@settings(max_examples=200, deadline=None)
@given(st.integers(-9, 9), st.integers(1, 6), st.integers(-9, 9), st.integers(1, 6))
def test_products_and_factoring(c1, a, c2, b):
    expr = 3 * ((H + c1) // a) * ((W + c2) // b)
    for h, w in ((1, 1), (7, 30), (64, 5), (-3, 11)):
        assert expr.subs({"H": h, "W": w}) == 3 * ((h + c1) // a) * ((w + c2) // b)
    parts = expr.factors() if isinstance(expr, Sym) else None
    if parts is not None:
        const, factors = parts
        for h, w in ((1, 1), (7, 30), (64, 5)):
            product = const
            for f in factors:
                product *= f.subs({"H": h, "W": w}) if isinstance(f, Sym) else f
            assert product == expr.subs({"H": h, "W": w})


@settings(max_examples=200, deadline=None)
@given(steps, st.integers(-3, 3), st.sampled_from(["positive", "zero"]))
def test_solve_equals_enumeration(program, shift, kind):
    """The progressions hold exactly the sizes 1..600 where the condition holds."""
    size = apply(H, program)
    expr = size + shift if kind == "positive" else size - 2 * (size // 2)  # == 0: even sizes
    if not isinstance(expr, Sym):
        return
    progs = solve([(expr, kind)], "H")
    for value in range(1, 600):
        got = expr.subs({"H": value})
        holds = got >= 1 if kind == "positive" else got == 0
        assert contains(progs, value) == holds, value


def test_period_and_degree():
    expr = 16 * (H // 4 - 3) * (W // 4 - 3)
    assert period(expr) == 4 and degree(expr) == 2
    assert period(((H - 1) // 2 + 1) // 8) == 16


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 400))
def test_quadratic_equalities(scale, den, target):
    expr = scale * (H // den) * (H // den) - target
    progs = solve([(expr, "zero")], "H")
    for value in range(1, 300):
        assert contains(progs, value) == (expr.subs({"H": value}) == 0)
