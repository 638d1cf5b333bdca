"""Receptive fields: size, effective stride and effective padding of every layer's output.

The recurrences are those of Araujo, Norris & Sim, "Computing Receptive Fields of
Convolutional Neural Networks" (Distill, 2019): through a window of extent k, stride s and
padding p, an output that sees r input positions at jump j and offset P sees
r + (k - 1) * j positions at jump j * s, with offset P + p * j. Where branches merge (concat,
add), the merged output sees the union: the largest extent, stride and padding over branches.

An op that mixes every position (global pooling, a linear layer over flattened features) sees
the whole padded input. Upsampling divides the jump; those strides may be fractional.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from archc.analysis.symbolic import Dim, Sym
from archc.graph import Network


@dataclass(frozen=True)
class Field:
    """The receptive field along one spatial axis."""

    size: Dim
    stride: Fraction
    padding: Fraction

    def to_json(self) -> tuple:
        return (_num(self.size), _num(self.stride), _num(self.padding))


def _num(value):
    if isinstance(value, Sym):
        return str(value)
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def _larger(a: Dim, b: Dim) -> Dim:
    if isinstance(a, Sym) or isinstance(b, Sym):
        return a if isinstance(a, Sym) else b
    return max(a, b)


def receptive_fields(network: Network) -> None:
    """Set `layer.rf` to (height Field, width Field) for every layer of a spatial network."""
    if len(network.input) != 4:
        return
    whole = [Field(size, Fraction(1), Fraction(0)) for size in network.input[2:]]
    values = {0: (Field(1, Fraction(1), Fraction(0)), Field(1, Fraction(1), Fraction(0)))}
    for index, layer in enumerate(network.layers, start=1):
        inputs = [values[v] for v in layer.inputs]
        if layer.op is None:  # merge: the union of the branches' fields
            result = tuple(
                Field(
                    _reduce(_larger, [f[axis].size for f in inputs]),
                    max(f[axis].stride for f in inputs),
                    max(f[axis].padding for f in inputs),
                )
                for axis in (0, 1)
            )
        else:
            x = layer.input_shapes[0]
            windows = layer.op.windows(x) if len(x) == 4 else None
            if windows is None:
                result = _global(layer, inputs[0], whole)
            else:
                result = tuple(
                    Field(
                        f.size + (w.kernel - 1) * f.stride,
                        f.stride * w.stride,
                        f.padding + w.padding * f.stride,
                    )
                    for f, w in zip(inputs[0], windows)
                )
        values[index] = result
        layer.rf = result


def _global(layer, fields, whole):
    """Fields after an op without a window: upsampling divides the jump, others see all."""
    kind = layer.op.kind
    if kind == "upsample":
        return tuple(
            Field(f.size, f.stride / s, f.padding) for f, s in zip(fields, layer.op.scale_factor)
        )
    if kind == "convtranspose2d":
        op = layer.op
        return tuple(
            Field(
                f.size + (-(-(d * (k - 1) + 1) // s) - 1) * f.stride,
                f.stride / s,
                f.padding,
            )
            for f, k, s, d in zip(fields, op.kernel_size, op.stride, op.dilation)
        )
    if (
        len(layer.shape) == 4
        and layer.shape[2:] == layer.input_shapes[0][2:]
        and kind in ("softmax",)
    ):
        return fields
    return tuple(
        Field(w.size + math.ceil(2 * f.padding), f.stride, f.padding) for f, w in zip(fields, whole)
    )


def _reduce(func, items):
    result = items[0]
    for item in items[1:]:
        result = func(result, item)
    return result
