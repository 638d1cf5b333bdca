"""The exact set of input sizes for which a network with symbolic spatial dims is valid."""

from __future__ import annotations

from archc.graph import Network


def valid_input_sets(network: Network) -> dict | None:
    """`{dim: [[lo, hi_or_None, step], ...]}` for each symbolic spatial input dim, else None."""
    return None
