"""The check pipeline: a loaded spec is expanded into a network (the IR), then analysed.

    >>> from archc.pipeline import check
    >>> from archc.api import load
    >>> check(load("specs/lenet.yaml")).output_shape
    (N, 10)

This module joins the spec layer and the analyses, which know nothing of each other: the
analyses receive `reexpand`, a callback that expands the same spec at other input dims.
"""

from __future__ import annotations

from archc.ir import Network
from archc.spec.document import Spec


def check(spec: Spec, input_dims: list[int | str] | None = None) -> Network:
    """Expand `spec` and infer every shape; the network's `diagnostics` hold what is wrong.

    `input_dims` overrides the spec's input shape, e.g. `[1, 3, 224, 224]` or `["N", 3, "H", "W"]`.
    """
    from archc.analysis import analyze
    from archc.spec.expand import expand

    network = expand(spec, input_dims)
    analyze(network, lambda dims: expand(spec, dims))
    return network
