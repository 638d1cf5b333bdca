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
    from archc.analysis.memory import memory_usage
    from archc.analysis.reach import unused_layers
    from archc.analysis.receptive_field import receptive_fields, source_dims, traces
    from archc.analysis.valid_inputs import valid_input_sets
    from archc.analysis.warnings import add_warnings

    record = network.analysis
    record.valid_inputs = valid_input_sets(network)
    if network.ok:
        found = traces(network)
        record.receptive_fields = receptive_fields(found)
        record.sources = source_dims(found)
    record.memory = memory_usage(network)
    add_warnings(network, reexpand)
    if network.ok and network.outputs:
        network.diagnostics.extend(unused_layers(network))
