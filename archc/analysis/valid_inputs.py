"""The exact set of input sizes for which a network with symbolic spatial dims is valid.

Expansion records a `Condition` wherever validity depends on the input: a symbolic size that
must be at least 1, two branches' sizes that must agree, a flattened feature count that must
equal a linear layer's `in_features`. `archc.analysis.periodic` solves them exactly.

Symbolic dims (L; H and W; D, H and W) are analysed one by one when no condition mixes them:
the valid inputs are then exactly the product of their sets. When a condition couples them
(LeNet's flatten product feeding a fixed `in_features`), the valid tuples are no product of
sets, and the answer is the set of equal sizes H = W (or D = H = W) (`ValidInputs.square`),
which is what CNN specs mean.

    >>> valid_input_sets(check(load("specs/lenet.yaml"), ["N", 1, "H", "W"]))
    {'H': [[28, 31, 1]], 'W': [[28, 31, 1]]}
"""

from __future__ import annotations

from archc.analysis.periodic import TooHard, describe, nearest, solve
from archc.dims import Sym
from archc.ir import Condition, Network


class ValidInputs(dict):
    """`{dim: [[lo, hi_or_None, step], ...]}`; `square` holds dims assumed equal, if any."""

    square: tuple[str, ...] = ()
    coupled_at: str | None = None  # the path of a layer whose condition couples the dims

    def text(self) -> str:
        """One line, e.g. `H = W ∈ {28..31}` or `H ≥ 1, W ≥ 1`."""
        if self.square:
            name = " = ".join(self.square)
            kind = "square" if len(self.square) == 2 else "equal-sized"
            coupled = ", ".join(self.square[:-1]) + " and " + self.square[-1]
            return describe(self[self.square[0]], name) + (
                f" ({kind} inputs: `{self.coupled_at}` couples {coupled})"
            )
        return "; ".join(describe(progs, dim) for dim, progs in self.items())


def spatial_symbols(network: Network) -> list[str]:
    """Names of the symbolic spatial input dims, in order, without repeats."""
    names: list[str] = []
    for dim in network.input[2:]:
        if isinstance(dim, Sym):
            name = next(iter(dim.terms))[0]
            if name not in names:
                names.append(name)
    return names


def _as_pair(condition: Condition) -> tuple:
    if condition.kind == "positive":
        return (condition.left - condition.right + 1, "positive")
    return (condition.left - condition.right, "zero")


def _vars(expr) -> set[str]:
    return expr.variables if isinstance(expr, Sym) else set()


def solve_conditions(
    conditions: list[tuple], dims: list[str], square: bool
) -> dict[str, list] | None:
    """Solve `(expr, kind)` pairs for each of `dims`; None when beyond the exact budget."""
    unique = list(dict.fromkeys((e, k) for e, k in conditions))
    try:
        if square:
            answer = solve(unique, dims[0], tuple(dims[1:]))
            return dict.fromkeys(dims, answer)
        return {d: solve([c for c in unique if _vars(c[0]) <= {d}], d) for d in dims}
    except TooHard:
        return None


def valid_input_sets(network: Network) -> ValidInputs | None:
    """`{dim: [[lo, hi_or_None, step], ...]}` for each symbolic spatial input dim, else None.

    None also when the network has errors (its conditions are then incomplete). A checked
    network carries the answer in `network.analysis.valid_inputs`.
    """
    dims = spatial_symbols(network)
    if not dims or not network.ok:
        return None
    # Conditions on other symbols (a batch dim flattened into features) are out of scope.
    conditions = [c for c in network.conditions if _vars(c.left) | _vars(c.right) <= set(dims)]
    positive = {c.left for c in conditions if c.kind == "positive"} | {Sym.var(d) for d in dims}
    conditions = [c for c in conditions if not _implied(c, positive)]
    pairs = [_as_pair(c) for c in conditions]
    # The layer named as coupling the dims: one whose equality does (ViT's fixed position
    # embedding) before one whose size must merely be positive.
    coupled = [c for c in conditions if len((_vars(c.left) | _vars(c.right)) & set(dims)) > 1]
    coupling = min(coupled, key=lambda c: c.kind == "positive", default=None)
    solved = solve_conditions(pairs, dims, square=coupling is not None)
    if solved is None:
        return None
    result = ValidInputs(solved)
    if coupling is not None:
        result.square = tuple(dims)
        result.coupled_at = coupling.layer
    return result


def _implied(condition: Condition, positive: set) -> bool:
    """A product of sizes (a flatten) is positive when each factor is: drop it, so that it
    does not couple H and W."""
    if condition.kind != "positive" or condition.right != 1 or not isinstance(condition.left, Sym):
        return False
    parts = condition.left.factors()
    return parts is not None and parts[0] > 0 and all(f in positive for f in parts[1])


def same_set(a: list, b: list) -> bool:
    """Whether two unions of progressions hold the same integers ≥ 1."""
    from math import lcm

    steps = [p[2] for p in a + b]
    top = max([p[0] for p in a + b] + [p[1] or 0 for p in a + b] + [0])
    period = lcm(*steps) if steps else 1
    from archc.analysis.periodic import contains

    return all(contains(a, h) == contains(b, h) for h in range(1, top + 2 * period + 2))


def nearest_text(progs: list, value: int, dims: int = 1) -> str:
    """`28×28` or `28×28 or 32×32`: the members of `progs` closest to `value`."""
    picks = nearest(progs, value)
    return " or ".join("×".join([str(p)] * dims) for p in picks)
