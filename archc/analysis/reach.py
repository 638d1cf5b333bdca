"""Layers whose result reaches no output of the network: computed, counted, never used.

Each such layer is reported once, as the first layer of its dead stretch, with a warning: its
parameters are still built and exported (they are in `state_dict`), but the ONNX graph drops
the computation. Usually an output was meant to be named, or a `ref` left the tail behind.
"""

from __future__ import annotations

from archc.diagnostics import Diagnostic
from archc.ir import Network


def unused_layers(network: Network) -> list[Diagnostic]:
    """A warning for each run of consecutive layers that no output depends on."""
    used = {output.value for output in network.outputs}
    for index in range(len(network.layers) - 1, -1, -1):
        if index + 1 in used:
            used.update(network.layers[index].inputs)
    warnings: list[Diagnostic] = []
    previous_dead = False
    for index, layer in enumerate(network.layers):
        dead = index + 1 not in used
        if dead and not previous_dead:
            names = ", ".join(f"`{o.name}`" for o in network.outputs)
            warnings.append(
                Diagnostic(
                    "unused-layer",
                    f"`{layer.path}` ({layer.op.name}) reaches no output of the network ({names})",
                    network.file,
                    layer.span,
                    hint="name it in `outputs:`, or remove it",
                )
            )
        previous_dead = dead
    return warnings
