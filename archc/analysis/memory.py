"""Memory of a network: parameter bytes, and the peak activation memory of an inference.

Convention for activations: a batch-1 forward pass in execution order, where every layer
allocates its output (no in-place ops) and a tensor is freed right after the last layer that
reads it; the network input is live until its last reader, the output until the end. A branch
output that waits for a later `concat`/`add` therefore stays live across the other branches.
The peak is the largest sum of live tensors while a layer runs (its inputs and its output, and
what the op holds besides them, `Op.workspace`: an attention layer's map of heads × L × L).

    >>> memory_usage(check(load("specs/lenet.yaml")))["activations_peak_bytes"]
    27648
"""

from __future__ import annotations

from math import prod

from archc.dims import Sym
from archc.ir import Network

BYTES = {"fp32": 4, "fp16": 2}


def _elements(shape) -> int | None:
    size = prod(shape[1:], start=1)
    return None if isinstance(size, Sym) else size


def activation_peak(network: Network) -> tuple[int, str] | None:
    """(peak elements at batch 1, path of the layer where it is reached); None if symbolic."""
    sizes = {0: _elements(network.input)}
    for index, layer in enumerate(network.layers, start=1):
        sizes[index] = _elements(layer.shape)
    if any(s is None for s in sizes.values()):
        return None
    last_use = dict.fromkeys(sizes, 0)
    for index, layer in enumerate(network.layers, start=1):
        for value in layer.inputs:
            last_use[value] = index
    for output in network.outputs:
        last_use[output.value] = len(network.layers) + 1
    live = {0: sizes[0]}
    peak, where = sizes[0], "input"
    for index, layer in enumerate(network.layers, start=1):
        live[index] = sizes[index]
        total = sum(live.values()) + layer.op.workspace(layer.input_shapes[0])
        if total > peak:
            peak, where = total, layer.path
        for value in [v for v in live if last_use[v] <= index]:
            del live[value]
    return peak, where


def memory_usage(network: Network) -> dict:
    """The `memory` object of the JSON result: bytes of parameters, buffers and activations."""
    peak = activation_peak(network) if network.ok else None
    return {
        "params_bytes": {name: network.params * size for name, size in BYTES.items()},
        "buffers_bytes": {
            name: sum(
                layer.op.buffer_bytes(layer.input_shapes[0], size) for layer in network.layers
            )
            for name, size in BYTES.items()
        },
        "activations_peak_elements": peak[0] if peak else None,
        "activations_peak_bytes": peak[0] * BYTES["fp32"] if peak else None,
        "activations_peak_at": peak[1] if peak else None,
    }
