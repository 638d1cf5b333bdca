"""The foundation: dims, shapes and windows, and symbolic sizes. Imports nothing of archc.

A dim is an int or a `Sym`; a `Shape` is a tuple of dims, batch first; a `Window` is one
spatial axis of a sliding window. Every other module of archc builds on these.

Symbolic sizes: integer polynomials over input dims with exact floor division.

A spatial size that depends on a symbolic input dim (`H`) is a `Sym`: a sum of monomials whose
atoms are variables or floors of other sums. Op shape rules are written once with Python's
operators and work for ints and `Sym`s alike; results that turn out constant collapse to ints.

Floor division is kept exact and simplified with floor((floor(A/a) + c)/b) = floor((A + c*a)/(a*b))
for integer A and positive a, b, so a stack of convolutions and poolings prints as one
closed form:

    >>> h = Sym.var("H")
    >>> ((h - 4) // 2 - 4) // 2
    floor((H - 12)/4)
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Union

Dim = Union[int, "Sym"]
Shape = tuple[Dim, ...]
Monomial = tuple  # sorted tuple of atoms; () is the constant term


class Floor:
    """floor(num / den) for a `Sym` numerator and a positive int denominator."""

    __slots__ = ("_hash", "den", "num")

    def __init__(self, num: Sym, den: int):
        self.num, self.den = num, den
        self._hash = hash(("floor", num, den))

    def __eq__(self, other) -> bool:
        return isinstance(other, Floor) and self.den == other.den and self.num == other.num

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other) -> bool:
        return _sort_key(self) < _sort_key(other)

    def subs(self, values: dict[str, int]) -> int:
        return self.num.subs(values) // self.den

    def __str__(self) -> str:
        return f"floor({self.num.render(grouped=True)}/{self.den})"


def _atom_vars(atom) -> set[str]:
    return {atom} if isinstance(atom, str) else atom.num.variables


def _sort_key(atom) -> tuple:
    return (0, atom, 0) if isinstance(atom, str) else (1, str(atom.num), atom.den)


class Sym:
    """An integer-valued polynomial in input dims, with floors; immutable and hashable."""

    __slots__ = ("_hash", "terms")

    def __init__(self, terms: dict[Monomial, int]):
        self.terms = {m: c for m, c in terms.items() if c}
        self._hash = hash(frozenset(self.terms.items()))

    @staticmethod
    def var(name: str) -> Sym:
        return Sym({(name,): 1})

    @staticmethod
    def lift(value: Dim) -> Sym:
        return value if isinstance(value, Sym) else Sym({(): int(value)})

    def simplify(self) -> Dim:
        """An int when the expression is constant, else itself."""
        if not self.terms:
            return 0
        if list(self.terms) == [()]:
            return self.terms[()]
        return self

    @property
    def variables(self) -> set[str]:
        found: set[str] = set()
        for monomial in self.terms:
            for atom in monomial:
                found |= {atom} if isinstance(atom, str) else atom.num.variables
        return found

    def subs(self, values: dict[str, int]) -> int:
        total = 0
        for monomial, coeff in self.terms.items():
            term = coeff
            for atom in monomial:
                term *= values[atom] if isinstance(atom, str) else atom.subs(values)
            total += term
        return total

    # Arithmetic -----------------------------------------------------------------------------

    def __add__(self, other: Dim) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        terms = dict(self.terms)
        for monomial, coeff in Sym.lift(other).terms.items():
            terms[monomial] = terms.get(monomial, 0) + coeff
        return Sym(terms).simplify()

    __radd__ = __add__

    def __neg__(self) -> Sym:
        return Sym({m: -c for m, c in self.terms.items()})

    def __sub__(self, other: Dim) -> Dim:
        return self + (-Sym.lift(other))

    def __rsub__(self, other: Dim) -> Dim:
        return Sym.lift(other) + (-self)

    def __mul__(self, other: Dim) -> Dim:
        if not isinstance(other, (int, Sym)):
            return NotImplemented
        terms: dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in Sym.lift(other).terms.items():
                monomial = tuple(sorted(m1 + m2, key=_sort_key))
                terms[monomial] = terms.get(monomial, 0) + c1 * c2
        return Sym(terms).simplify()

    __rmul__ = __mul__

    def __floordiv__(self, den: int) -> Dim:
        if isinstance(den, bool) or not isinstance(den, int) or den <= 0:
            raise TypeError("a symbolic size can only be divided by a positive integer")
        if den == 1:
            return self
        # Move out what divides exactly; the constant keeps a remainder in (-den, 0], which
        # prints conv arithmetic the familiar way: floor((H - 1)/2) + 1.
        whole: dict[Monomial, int] = {}
        rest: dict[Monomial, int] = {}
        for monomial, coeff in self.terms.items():
            if monomial == ():
                whole[()] = -(-coeff // den)
                rest[()] = coeff - whole[()] * den
            elif coeff % den == 0:
                whole[monomial] = coeff // den
            else:
                rest[monomial] = coeff
        quotient = Sym(whole).simplify()
        remainder = Sym(rest)
        variable = [m for m in remainder.terms if m != ()]
        if not variable:
            return quotient + remainder.terms.get((), 0) // den
        if len(variable) == 1 and len(variable[0]) == 1 and remainder.terms[variable[0]] == 1:
            inner = variable[0][0]
            if isinstance(inner, Floor):  # floor((floor(A/a) + c)/b) = floor((A + c*a)/(a*b))
                const = remainder.terms.get((), 0)
                return quotient + (inner.num + const * inner.den) // (inner.den * den)
        return quotient + Sym({(Floor(remainder, den),): 1})

    def __eq__(self, other) -> bool:
        if isinstance(other, int):
            return False
        return isinstance(other, Sym) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    # Rendering ------------------------------------------------------------------------------

    def render(self, grouped: bool = False) -> str:
        parts: list[tuple[int, str]] = []
        for monomial, coeff in sorted(self.terms.items(), key=_monomial_order):
            if monomial == ():
                parts.append((coeff, str(abs(coeff))))
                continue
            body = "*".join(str(atom) for atom in monomial)
            parts.append((coeff, body if abs(coeff) == 1 else f"{abs(coeff)}*{body}"))
        text = ""
        for i, (coeff, body) in enumerate(parts):
            if i == 0:
                text = body if coeff > 0 else f"-{body}"
            else:
                text += f" + {body}" if coeff > 0 else f" - {body}"
        return f"({text})" if grouped and len(parts) > 1 else text

    def factors(self) -> tuple[int, list[Sym]] | None:
        """`(c, [f1, f2, ...])` with self == c * f1 * f2 * ..., each factor in its own input
        dims (one group per dim), when the expression splits so; else None.

        >>> (16 * (Sym.var("H") // 4 - 3) * (Sym.var("W") // 4 - 3)).factors()
        (16, [floor(H/4) - 3, floor(W/4) - 3])
        """
        names = sorted(self.variables)
        if len(names) < 2:
            return None
        head, rest = names[0], names[1:]
        left: dict[Monomial, dict[Monomial, int]] = {}
        for monomial, coeff in self.terms.items():
            a = tuple(x for x in monomial if _atom_vars(x) == {head})
            b = tuple(x for x in monomial if _atom_vars(x) != {head})
            if any(head in _atom_vars(x) for x in b):
                return None
            left.setdefault(a, {})[b] = coeff
        rows = list(left.values())
        pivot = rows[0]
        key = next(iter(pivot))
        for row in rows[1:]:  # rank one: every row proportional to the pivot row
            if set(row) != set(pivot) or any(
                row[k] * pivot[key] != pivot[k] * row[key] for k in row
            ):
                return None
        g_right = common_divisor(*pivot.values())
        right = Sym({k: v // g_right for k, v in pivot.items()})
        scale = pivot[key] // g_right  # row[key] = u_a * scale
        first = {a: row[key] // scale for a, row in left.items()}
        g_left = common_divisor(*first.values())
        factor = Sym({a: c // g_left for a, c in first.items()})
        const, found = g_left, [factor, right]
        sub = right.factors() if len(rest) > 1 else None
        if sub is not None:
            const, found = const * sub[0], [factor, *sub[1]]
        for i, f in enumerate(found):  # each factor leads with a positive term
            if sorted(f.terms.items(), key=_monomial_order)[0][1] < 0:
                found[i], const = -f, -const
        return const, found

    def __str__(self) -> str:
        parts = self.factors()
        if parts is not None:
            const, factors = parts
            body = "*".join(f.render(grouped=True) for f in factors)
            if const == 1:
                return body
            return f"-{body}" if const == -1 else f"{const}*{body}"
        return self.render()

    __repr__ = __str__


def _monomial_order(item) -> tuple:
    monomial, _ = item
    return (monomial == (), -len(monomial), [str(a) for a in monomial])


def is_symbolic(value: object) -> bool:
    return isinstance(value, Sym)


def ceil_div(value: Dim, den: int) -> Dim:
    return (value + den - 1) // den


def format_shape(shape) -> str:
    """`(N, 3, 224, 224)`; `?` for an unknown shape or dim."""
    if shape is None:
        return "?"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def dim_json(value: Dim) -> int | str:
    """A dim as the JSON contract wants it: an int, or a string for a symbolic one."""
    return value if isinstance(value, int) else str(value)


def exact_quotient(a: Dim, b: Dim) -> Dim | None:
    """a / b when b divides a for every value of the input dims, else None.

    Ints divide when the remainder is zero; a symbolic size divides when it is b times a
    polynomial with integer coefficients, its floors taken as variables (long division, leading
    terms first), which is how a reshape finds the -1 of `(N, C, H, W) -> (N, C, H, -1)`:

        >>> exact_quotient(8 * Sym.var("H") * Sym.var("W"), 4 * Sym.var("H"))
        2*W
        >>> exact_quotient(8 * Sym.var("H"), 3) is None
        True
    """
    if isinstance(b, int):
        if b == 0:
            return None
        if isinstance(a, int):
            return a // b if a % b == 0 else None
        if any(c % b for c in a.terms.values()):
            return None
        return Sym({m: c // b for m, c in a.terms.items()}).simplify()
    lead, lead_coeff = _leading(b)
    rest, quotient = Sym.lift(a), {}
    while rest.terms:
        monomial, coeff = _leading(rest)
        factor = _monomial_quotient(monomial, lead)
        if factor is None or coeff % lead_coeff:
            return None
        quotient[factor] = coeff // lead_coeff
        rest = Sym.lift(rest - Sym({factor: coeff // lead_coeff}) * b)
    return Sym(quotient).simplify()


def _leading(value: Sym) -> tuple[Monomial, int]:
    """The leading term in a graded lexicographic order of monomials (atoms sorted)."""
    monomial = min(value.terms, key=lambda m: (-len(m), [_sort_key(a) for a in m]))
    return monomial, value.terms[monomial]


def _monomial_quotient(monomial: Monomial, divisor: Monomial) -> Monomial | None:
    """monomial / divisor as a monomial, when every atom of divisor occurs in monomial."""
    atoms = list(monomial)
    for atom in divisor:
        if atom not in atoms:
            return None
        atoms.remove(atom)
    return tuple(atoms)


def common_divisor(*values: int) -> int:
    result = 0
    for value in values:
        result = gcd(result, value)
    return result


# The spatial axes of (N, C, ...) by rank, as PyTorch's documentation names them:
# (N, C, L), (N, C, H, W), (N, C, D, H, W).
AXIS_LETTERS: dict[int, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
AXIS_WORDS: dict[int, tuple[str, ...]] = {
    1: ("length",),
    2: ("height", "width"),
    3: ("depth", "height", "width"),
}


def axis_letters(rank: int) -> tuple[str, ...]:
    """The letters of `rank` spatial axes: `("D", "H", "W")`; `S1, S2, ...` beyond three."""
    return AXIS_LETTERS.get(rank, tuple(f"S{i}" for i in range(1, rank + 1)))


def axis_words(rank: int) -> tuple[str, ...]:
    """The words of `rank` spatial axes: `("depth", "height", "width")`."""
    return AXIS_WORDS.get(rank, tuple(f"spatial dim {i}" for i in range(1, rank + 1)))


@dataclass(frozen=True)
class Window:
    """One spatial axis of a sliding window: effective kernel extent, stride, padding."""

    kernel: int = 1
    stride: int = 1
    padding: int = 0
