"""Analyses of a compiled network: receptive field, valid input sizes, warnings, memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archc.ir import Network


def analyze(network: Network, reexpand: Callable[[list], Network] | None = None) -> None:
    """Run every analysis that the check reports, in place: receptive fields, size warnings,
    and, when a concrete input fails, the input sizes that would work (which needs
    `reexpand`: the same spec expanded at other input dims)."""
    from archc.analysis.receptive_field import receptive_fields
    from archc.analysis.warnings import add_warnings

    if network.ok:
        receptive_fields(network)
    add_warnings(network, reexpand)
