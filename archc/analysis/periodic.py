"""Exact solution sets of size conditions in one integer unknown, as arithmetic progressions.

A size built from an input dim `H` with `+`, `*` and floor division by positive integers is a
*quasi-polynomial*: there is a period P such that on every residue class H = r + P*k it equals a
polynomial in k with integer coefficients, for every integer k (docs/analysis.md has the proof).
`period` and `degree` read P and a degree bound off a `Sym`; D + 1 evaluations per class give the
polynomial exactly (Newton's forward differences), and a polynomial's sign changes only next to
its real roots, so `{k : q(k) >= 0}` and `{k : q(k) == 0}` are found exactly, with no bound on H.

    >>> h = Sym.var("H")
    >>> solve([(h // 4 - 3, "positive")], "H")   # floor(H/4) - 3 >= 1
    [[16, None, 1]]
    >>> solve([((h - 1) // 2 + 1 - h // 2, "zero")], "H")   # equal for even H only
    [[2, None, 2]]
"""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from math import factorial, floor, isqrt, lcm

from archc.dims import Dim, Floor, Sym

MAX_PERIOD = 1 << 14  # beyond this, give up rather than spend seconds
MAX_SCAN = 100_000  # integers scanned for a polynomial of degree 3 or more

Progression = list  # [lo, hi or None, step]
Intervals = list[tuple[int, int | None]]  # sorted, disjoint integer intervals; None = unbounded


class TooHard(Exception):
    """The conditions are beyond the exact method's budget (an enormous period or degree)."""


def period(value: Dim) -> int:
    """A period P of `value` as a quasi-polynomial: lcm over floors of den * period(num)."""
    if not isinstance(value, Sym):
        return 1
    result = 1
    for monomial in value.terms:
        for atom in monomial:
            if isinstance(atom, Floor):
                result = lcm(result, atom.den * period(atom.num))
    return result


def degree(value: Dim) -> int:
    """An upper bound on the polynomial degree of `value` on each residue class."""
    if not isinstance(value, Sym):
        return 0
    return max(
        (sum(1 if isinstance(a, str) else degree(a.num) for a in m) for m in value.terms),
        default=0,
    )


def _polynomial(values: list[int]) -> list[Fraction]:
    """Coefficients (constant first) of the polynomial through (0, v0), (1, v1), …"""
    diffs, row = [], list(values)
    while row:
        diffs.append(row[0])
        row = [b - a for a, b in pairwise(row)]
    coeffs = [Fraction(0)] * len(values)
    for i, delta in enumerate(diffs):  # delta * C(k, i) = delta/i! * k(k-1)...(k-i+1)
        falling = [Fraction(1)]
        for j in range(i):
            falling = [Fraction(0), *falling]
            for t in range(len(falling) - 1):
                falling[t] -= j * falling[t + 1]
        for t, c in enumerate(falling):
            coeffs[t] += delta * c / factorial(i)
    while len(coeffs) > 1 and coeffs[-1] == 0:
        coeffs.pop()
    return coeffs


def _eval(coeffs: list[Fraction], k: int) -> Fraction:
    total = Fraction(0)
    for c in reversed(coeffs):
        total = total * k + c
    return total


def _root_windows(coeffs: list[Fraction]) -> list[int]:
    """Integers around every real root; between and beyond them the sign is constant."""
    degree_ = len(coeffs) - 1
    if degree_ == 0:
        return []
    if degree_ == 1:
        root = -coeffs[0] / coeffs[1]
        return list(range(floor(root) - 1, floor(root) + 3))
    if degree_ == 2:
        scale = lcm(*(c.denominator for c in coeffs))
        c, b, a = (int(x * scale) for x in coeffs)
        disc = b * b - 4 * a * c
        if disc < 0:
            return []
        root = isqrt(disc)  # within 1 of sqrt(disc): each root within 1/(2|a|) of this
        windows = []
        for sign in (-1, 1):
            approx = floor(Fraction(-b + sign * root, 2 * a))
            windows += range(approx - 2, approx + 4)
        return sorted(set(windows))
    bound = 1 + max(abs(c / coeffs[-1]) for c in coeffs[:-1])  # Cauchy's bound on |roots|
    if bound > MAX_SCAN:
        raise TooHard(f"a degree-{degree_} condition with roots up to {float(bound):.3g}")
    top = floor(bound) + 1
    return list(range(-top, top + 1))


def _solve_poly(coeffs: list[Fraction], kind: str, start: int) -> Intervals:
    """{k >= start : q(k) >= 0} (kind "nonneg") or {k >= start : q(k) == 0}, as intervals."""
    if all(c == 0 for c in coeffs):
        return [(start, None)]
    if kind == "zero" and len(coeffs) == 1:
        return []
    points = sorted({start, *(w for w in _root_windows(coeffs) if w >= start)})
    found: list[int] = []
    tail = None
    for i, k in enumerate(points):
        if _holds(coeffs, kind, k):
            found.append(k)
        after = points[i + 1] if i + 1 < len(points) else None
        if after is None:  # beyond every root: the sign of the leading coefficient
            tail = k + 1 if _holds(coeffs, kind, k + 1) else None
        elif after > k + 1 and _holds(coeffs, kind, k + 1):  # a root-free gap: constant
            found.extend(range(k + 1, after))
    return _intervals(found, tail)


def _holds(coeffs: list[Fraction], kind: str, k: int) -> bool:
    value = _eval(coeffs, k)
    return value >= 0 if kind == "nonneg" else value == 0


def _intervals(points: list[int], tail: int | None) -> Intervals:
    result: list[list] = []
    for k in sorted(set(points)):
        if result and result[-1][1] == k - 1:
            result[-1][1] = k
        else:
            result.append([k, k])
    if tail is not None:
        while result and result[-1][1] >= tail - 1:
            tail = min(tail, result.pop()[0])
        result.append([tail, None])
    return [tuple(r) for r in result]


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    result = []
    for lo1, hi1 in a:
        for lo2, hi2 in b:
            lo = max(lo1, lo2)
            his = [h for h in (hi1, hi2) if h is not None]
            hi = min(his) if his else None
            if hi is None or lo <= hi:
                result.append((lo, hi))
    return sorted(result, key=lambda r: r[0])


def solve(conditions: list[tuple[Dim, str]], var: str, bind: tuple[str, ...] = ()) -> list:
    """The exact set of H >= 1 where every `(expr, kind)` holds, as progressions.

    kind "positive" means expr >= 1, "zero" means expr == 0. Every variable of `bind` is set to
    the same value as `var` (square inputs); others must not occur. Raises TooHard past budget.
    """
    names = (var, *bind)
    parts = [(expr, kind) for expr, kind in conditions if isinstance(expr, Sym)]
    constant_fail = any(
        not isinstance(expr, Sym) and not (expr >= 1 if kind == "positive" else expr == 0)
        for expr, kind in conditions
    )
    if constant_fail:
        return []
    full = 1
    for expr, _ in parts:
        full = lcm(full, period(expr))
    if full > MAX_PERIOD:
        raise TooHard(f"a period of {full}")
    # Per residue class r (H = r + full*k, H >= 1): the valid k, as intervals.
    classes: dict[int, Intervals] = {r: [(0 if r else 1, None)] for r in range(full)}
    for expr, kind in parts:
        p, d = period(expr), degree(expr)
        shift = -1 if kind == "positive" else 0
        for r in range(p):
            values = [expr.subs(dict.fromkeys(names, r + p * j)) + shift for j in range(d + 1)]
            ks = _solve_poly(_polynomial(values), "nonneg" if kind == "positive" else "zero", 0)
            # Class r (mod p) splits into classes r + p*m (mod full), k_p = m + (full/p)*k.
            ratio = full // p
            for m in range(ratio):
                big = r + p * m
                mapped = _map(ks, m, ratio)
                classes[big] = _intersect(classes[big], mapped)
    return progressions(classes, full)


def _map(ks: Intervals, m: int, ratio: int) -> Intervals:
    """{k : m + ratio*k in ks} for k >= 0."""
    result = []
    for lo, hi in ks:
        new_lo = max(0, -(-(lo - m) // ratio))
        new_hi = None if hi is None else (hi - m) // ratio
        if new_hi is None or new_lo <= new_hi:
            result.append((new_lo, new_hi))
    return result


# Progressions -------------------------------------------------------------------------------


def progressions(classes: dict[int, Intervals], full: int) -> list:
    """Compress per-class k-intervals (H = r + full*k) into few [lo, hi|None, step] lists."""
    tails = {r: iv[-1][0] for r, iv in classes.items() if iv and iv[-1][1] is None}
    finite: set[int] = set()
    for r, iv in classes.items():
        for lo, hi in iv:
            if hi is not None:
                finite.update(r + full * k for k in range(lo, hi + 1))

    def member(h: int) -> bool:
        r = h % full
        return h in finite or (r in tails and h >= r + full * tails[r])

    result: list[Progression] = []
    if tails:
        # The smallest step d | full whose classes mod d are wholly in the tail or out of it.
        residues = set(tails)
        step = next(
            d
            for d in range(1, full + 1)
            if full % d == 0 and all((r + d) % full in residues for r in residues)
        )
        for base in sorted({r % step for r in residues}):
            members = [r for r in residues if r % step == base]
            start = max(r + full * tails[r] for r in members)  # all of the class from here on
            for r in members:  # tail points below `start` stay as finite points
                finite.update(range(r + full * tails[r], start, full))
            while start - step >= 1 and member(start - step):
                start -= step
            finite = {h for h in finite if not (h >= start and (h - start) % step == 0)}
            result.append([start, None, step])
    result += _compress(sorted(finite))
    return sorted(result, key=lambda p: p[0])


def _compress(points: list[int]) -> list[Progression]:
    result: list[Progression] = []
    i = 0
    while i < len(points):
        if i + 1 < len(points):
            step = points[i + 1] - points[i]
            j = i + 1
            while j + 1 < len(points) and points[j + 1] - points[j] == step:
                j += 1
            if step == 1 or j - i >= 2:
                result.append([points[i], points[j], step])
                i = j + 1
                continue
        result.append([points[i], points[i], 1])
        i += 1
    return result


def contains(progs: list, value: int) -> bool:
    """Whether `value` lies in the union of progressions."""
    for lo, hi, step in progs:
        if value >= lo and (hi is None or value <= hi) and (value - lo) % step == 0:
            return True
    return False


def nearest(progs: list, value: int, count: int = 2) -> list[int]:
    """Up to `count` members closest to `value` (ties: the smaller first)."""
    found: set[int] = set()
    for lo, hi, step in progs:
        last = hi if hi is not None else max(lo, value) + step * (count + 1)
        below = lo + max(0, min(value, last) - lo) // step * step
        for j in range(-count, count + 2):
            h = below + j * step
            if lo <= h <= last:
                found.add(h)
    return sorted(found, key=lambda h: (abs(h - value), h))[:count]


def describe(progs: list, name: str) -> str:
    """Text such as `H ∈ {28..31}`, `H ≥ 1`, `H = 16k, k ≥ 1`; parts joined by `or`."""
    if not progs:
        return f"no {name} is valid"
    finite = [p for p in progs if p[1] is not None]
    parts = []
    if finite:
        parts.append(f"{name} ∈ {{" + ", ".join(_finite(p) for p in finite) + "}")
    tails = [p for p in progs if p[1] is None]
    low = min((p[0] for p in tails), default=0)
    steps = {p[2] for p in tails}
    if len(tails) > 2 and len(steps) == 1 and all(p[0] < low + p[2] for p in tails):
        step = steps.pop()  # several classes modulo one step, from one point on
        residues = _compress(sorted(p[0] % step for p in tails))
        parts.append(
            f"{name} mod {step} ∈ {{" + ", ".join(_finite(r) for r in residues) + f"}}, "
            f"{name} ≥ {low}"
        )
        tails = []
    for lo, _, step in tails:
        if step == 1:
            parts.append(f"{name} ≥ {lo}")
            continue
        rest, first = lo % step, lo // step
        term = f"{step}k" + (f" + {rest}" if rest else "")
        parts.append(f"{name} = {term}, k ≥ {first}")
    return " or ".join(parts)


def _finite(p: Progression) -> str:
    lo, hi, step = p
    if lo == hi:
        return str(lo)
    if step == 1:
        return f"{lo}..{hi}"
    if (hi - lo) // step <= 3:
        return ", ".join(str(h) for h in range(lo, hi + 1, step))
    return f"{lo}, {lo + step}, …, {hi}"
