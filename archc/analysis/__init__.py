"""Analyses of a compiled network: receptive field, valid input sizes, memory."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archc.graph import Network


def analyze(network: Network) -> None:
    """Run every analysis that the check reports, in place."""
    from archc.analysis.receptive_field import receptive_fields

    if network.ok:
        receptive_fields(network)
