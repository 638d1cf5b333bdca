"""Differential fuzzing: random specs checked by archc and run by PyTorch must agree.

For every generated network, archc accepts it exactly when PyTorch runs it, and then every
primitive layer has the same kind, output shape and parameter count; a few are also exported
and must compute on ONNX Runtime what they compute in PyTorch. The generators are in
tests/fuzz.py. CI runs a short profile; `ARCHC_FUZZ_EXAMPLES=100000 pytest tests/test_fuzz.py`
or `python benchmarks/fuzz.py --minutes 60` runs a long one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings

import archc
from archc.onnx_export import ExportFailed
from tests.fuzz import networks, perturbed, to_spec, trace_torch

pytest.importorskip("torch")

EXAMPLES = int(os.environ.get("ARCHC_FUZZ_EXAMPLES", "150"))
EXPORTS = int(os.environ.get("ARCHC_FUZZ_EXPORTS", "10"))
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
        # By the class of the torch module each op lowers to (`globalavgpool2d` lowers to
        # an nn.AdaptiveAvgPool2d), as PyTorch's side records them.
        ours = [
            (
                type(layer.op.lower(layer.input_shapes[0])).__name__.lower(),
                list(layer.shape),
                layer.params,
            )
            for layer in network.layers
            if layer.op.name not in MERGES
        ]
        assert ours == records, spec
    return network.ok


# Found by fuzzing: PyTorch's 3-D average pooling refuses an input smaller than its kernel
# (W = 2 here), where 1-D and 2-D ones, in ceil mode, give one window.
AVGPOOL3D_SMALLER_THAN_KERNEL = (
    [2, 1, 4, 4, 4],
    [
        {"op": "conv3d", "args": {"out_channels": 1, "kernel_size": 1, "stride": [1, 1, 2]}},
        {"op": "avgpool3d", "args": {"kernel_size": 3, "ceil_mode": True}},
    ],
)


# Found by fuzzing: instance norm over one position, refused by PyTorch in training even with
# running statistics (which it would use at inference).
INSTANCE_NORM_OF_ONE_POSITION = (
    [2, 1, 4, 4, 4],
    [
        {"op": "maxpool3d", "args": {"kernel_size": 4}},
        {"op": "instancenorm3d", "args": {"affine": True, "track_running_stats": True}},
    ],
)


@fuzz_settings
@given(networks())
@example(AVGPOOL3D_SMALLER_THAN_KERNEL)
@example(INSTANCE_NORM_OF_ONE_POSITION)
def test_random_valid_networks_agree_with_pytorch(description):
    event("valid" if agree(*description) else "invalid")


@fuzz_settings
@given(perturbed())
def test_perturbed_networks_are_rejected_exactly_when_pytorch_fails(description):
    event("valid" if agree(*description) else "invalid")


@settings(max_examples=EXPORTS, deadline=None, suppress_health_check=list(HealthCheck))
@given(networks(max_items=5))
def test_random_valid_networks_compute_the_same_on_onnx_runtime(description):
    pytest.importorskip("onnxruntime")
    spec = archc.load_text(to_spec(*description), "fuzz.yaml")
    network = archc.check(spec)
    if not network.ok:
        return
    with tempfile.TemporaryDirectory() as folder:
        if any(d.code == "onnx-ceil-mode" for d in network.diagnostics):
            # archc warned that ONNX pools differently here: the export must fail its proof.
            with pytest.raises(ExportFailed):
                archc.api.export(spec, Path(folder) / "fuzz.onnx")
            return
        # Raises ExportFailed when ONNX Runtime's output differs from PyTorch's at batch 1 or 7.
        result = archc.api.export(spec, Path(folder) / "fuzz.onnx")
    assert result.verified and result.batch_sizes == [1, 7]
    assert result.max_abs_diff <= result.tolerance
