"""Differential fuzzing: random specs checked by archc and run by PyTorch must agree.

For every generated network, archc accepts it exactly when PyTorch runs it, and then every
primitive layer has the same kind, output shape and parameter count. The generators are in
tests/fuzz.py. CI runs a short profile; `ARCHC_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz.py`
or `python benchmarks/fuzz.py --minutes 60` runs a long one.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, settings

import archc
from tests.fuzz import networks, perturbed, to_spec, trace_torch

pytest.importorskip("torch")

EXAMPLES = int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "150"))
MERGES = {"add", "concat", "mul"}
fuzz_settings = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def agree(shape, body) -> bool:
    """Assert archc and PyTorch agree on one description; return whether it was valid."""
    records, error = trace_torch(shape, body)
    spec = to_spec(shape, body)
    network = archc.check(archc.load_text(spec, "fuzz.yaml"))
    codes = [d.code for d in network.diagnostics if d.severity == "error"]
    assert network.ok == (error is None), f"archc {codes or 'accepts'}, PyTorch {error!r}\n{spec}"
    if network.ok:
        ours = [
            (layer.op_name, list(layer.shape), layer.params)
            for layer in network.layers
            if layer.op_name not in MERGES
        ]
        assert ours == records, spec
    return network.ok


@fuzz_settings
@given(networks())
def test_random_valid_networks_agree_with_pytorch(description):
    event("valid" if agree(*description) else "invalid")


@fuzz_settings
@given(perturbed())
def test_perturbed_networks_are_rejected_exactly_when_pytorch_fails(description):
    event("valid" if agree(*description) else "invalid")
