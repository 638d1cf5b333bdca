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

from dataclasses import dataclass
from fractions import Fraction

from archc.dims import Dim, Sym
from archc.ir import Network


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
    values = {0: (Field(1, Fraction(1), Fraction(0)), Field(1, Fraction(1), Fraction(0)))}
    for index, layer in enumerate(network.layers, start=1):
        inputs = [values[v] for v in layer.inputs]
        if layer.op is None:  # merge: the union of the branches' fields
            result = tuple(_union([f[axis] for f in inputs]) for axis in (0, 1))
        else:
            x = layer.input_shapes[0]
            windows = layer.op.windows(x) if len(x) == 4 else None
            if windows is None:
                result = _global(layer, inputs[0])
            else:
                result = tuple(
                    Field(
                        _plus(f.size, (w.kernel - 1) * f.stride),
                        f.stride * w.stride,
                        f.padding + w.padding * f.stride,
                    )
                    for f, w in zip(inputs[0], windows)
                )
        values[index] = result
        layer.rf = result


def _union(fields: list[Field]) -> Field:
    """The field of a merge: branch b covers [u*S - P_b, u*S - P_b + r_b - 1], so the union
    starts at the largest padding and ends at the largest r_b - P_b (Araujo et al.)."""
    padding = max(f.padding for f in fields)
    stride = max(f.stride for f in fields)
    if any(isinstance(f.size, Sym) for f in fields):  # a global branch: it sees everything
        return Field(_reduce(_larger, [f.size for f in fields]), stride, padding)
    reach = max(f.size - f.padding for f in fields)
    return Field(_whole(reach + padding), stride, padding)


def _times(size: Dim, factor: Fraction) -> Dim:
    """size * factor; a symbolic size times a fractional jump rounds down."""
    if isinstance(size, Sym):
        return size * factor.numerator // factor.denominator
    return _whole(size * factor)


def _plus(size: Dim, extra) -> Dim:
    """size + extra; a fractional extra added to a symbolic size rounds down."""
    if isinstance(extra, Fraction) and isinstance(size, Sym):
        extra = extra.numerator // extra.denominator
    if isinstance(size, Fraction) and isinstance(extra, Sym):
        size = size.numerator // size.denominator
    return _whole(size + extra)


def _whole(value):
    return int(value) if isinstance(value, Fraction) and value.denominator == 1 else value


def _global(layer, fields):
    """Fields after an op without a window: upsampling divides the jump, others see all."""
    kind = layer.op.kind
    x = layer.input_shapes[0]
    if kind == "upsample":
        return tuple(
            Field(f.size, f.stride / s, f.padding) for f, s in zip(fields, layer.op.scale_factor)
        )
    if kind == "convtranspose2d":
        # Output o reads inputs ceil((o + p - e + 1)/s) .. floor((o + p)/s) for extent e: at
        # most ceil(e/s) of them, the first of output 0 at -floor((e - 1 - p)/s).
        op = layer.op
        return tuple(
            Field(
                _plus(f.size, (-(-(d * (k - 1) + 1) // s) - 1) * f.stride),
                f.stride / s,
                f.padding + ((d * (k - 1) - p) // s) * f.stride,
            )
            for f, k, s, d, p in zip(fields, op.kernel_size, op.stride, op.dilation, op.padding)
        )
    if len(x) != 4:  # after a flatten: already the whole input
        return fields
    if len(layer.shape) == 4 and layer.shape[2:] == x[2:] and kind in ("softmax",):
        return fields
    # Every output reads every input position h: from -P to (h - 1)*S - P + r - 1.
    return tuple(
        Field(_plus(_times(size - 1, f.stride), f.size), f.stride, f.padding)
        for f, size in zip(fields, x[2:])
    )


def _reduce(func, items):
    result = items[0]
    for item in items[1:]:
        result = func(result, item)
    return result
