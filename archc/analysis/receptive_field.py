"""Receptive fields: size, effective stride and effective padding of every layer's output.

The analysis asks each op (`Op.receptive_field`): an op with windows applies the recurrences
of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks"
(Distill, 2019); an op that reads a whole axis sees the whole padded input along it; a merge
sees the union of its branches; upsampling divides the stride, which may become fractional.
"""

from __future__ import annotations

from fractions import Fraction

from archc.ir import Network
from archc.ops.base import Fields, ReceptiveField


def receptive_fields(network: Network) -> list[Fields]:
    """For every layer, one ReceptiveField per spatial axis of the input; [] without axes."""
    axes = len(network.input) - 2
    if axes < 1:
        return []
    values: dict[int, Fields] = {0: (ReceptiveField(1, Fraction(1), Fraction(0)),) * axes}
    for index, layer in enumerate(network.layers, start=1):
        values[index] = layer.op.receptive_field(
            [values[v] for v in layer.inputs], layer.input_shapes
        )
    return [values[index] for index in range(1, len(network.layers) + 1)]
