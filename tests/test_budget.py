"""The memory budget of build and export: refused statically, before torch allocates anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc.lower import OverBudget

ROOT = Path(__file__).parent.parent
LENET = ROOT / "specs" / "lenet.yaml"


def test_build_refuses_just_past_the_limit_and_builds_at_it():
    network = archc.check(archc.load(LENET))
    total = network.params + network.buffers
    with pytest.raises(OverBudget) as refused:
        archc.build(network, max_params=total - 1)
    assert [d.code for d in refused.value.diagnostics] == ["over-budget"]
    pytest.importorskip("torch")
    model = archc.build(network, max_params=total)
    assert sum(p.numel() for p in model.parameters()) == network.params


def test_a_terabyte_spec_is_refused_without_importing_torch(tmp_path):
    spec = tmp_path / "huge.yaml"
    spec.write_text(
        "archc: 1\nname: huge\ninput: [N, 1000000]\n"
        "body:\n  - linear: {out_features: 1000000}\n  - linear: {out_features: 1000000}\n"
    )
    out = tmp_path / "huge.onnx"
    out.write_bytes(b"previous")
    code = (
        "import sys; from archc.cli import main\n"
        "try:\n    main()\nfinally:\n    print('torch' in sys.modules, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "export", str(spec), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error[over-budget]: `huge` has 2,000,002,000,000 parameters")
    assert lines[-1] == "False"  # torch was never imported
    assert out.read_bytes() == b"previous"


def run_counting_torch(*args: str) -> subprocess.CompletedProcess:
    """`archc ARGS` in a child that prints, last on stderr, whether torch was imported."""
    code = (
        "import sys; from archc.cli import main\n"
        "try:\n    main()\nfinally:\n    print('torch' in sys.modules, file=sys.stderr)"
    )
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


def test_build_refuses_activations_just_past_the_limit_and_builds_at_it():
    network = archc.check(archc.load(LENET))
    peak = network.analysis.memory["activations_peak_bytes"]  # at batch 1: build's batch
    with pytest.raises(OverBudget) as refused:
        archc.build(network, max_activation_bytes=peak - 1)
    assert [d.code for d in refused.value.diagnostics] == ["over-budget"]
    pytest.importorskip("torch")
    assert archc.build(network, max_activation_bytes=peak) is not None


def test_export_bounds_activations_at_the_largest_verified_batch(tmp_path):
    from archc.onnx_export import VERIFY_BATCHES

    pytest.importorskip("onnxruntime")
    spec = archc.load(LENET)
    peak = archc.check(spec).analysis.memory["activations_peak_bytes"]
    limit = peak * max(VERIFY_BATCHES)
    out = tmp_path / "lenet.onnx"
    with pytest.raises(OverBudget):
        archc.export(spec, out, max_activation_bytes=limit - 1)
    assert not out.exists()
    assert archc.export(spec, out, max_activation_bytes=limit).verified


@pytest.mark.parametrize(
    "args",
    [
        # No parameters, 1 GiB of activations per sample: the parameter budget lets it through.
        ["{spec}"],
        # The input alone is 1.9 GB at this static batch.
        [str(LENET), "--input", "600000,1,28,28", "--static-batch"],
    ],
)
def test_activations_over_the_default_are_refused_without_importing_torch(tmp_path, args):
    spec = tmp_path / "wide.yaml"
    spec.write_text("archc: 1\nname: wide\ninput: [N, 64, 2048, 1024]\nbody: [relu, sigmoid]\n")
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous")
    result = run_counting_torch("export", *[a.format(spec=spec) for a in args], "-o", str(out))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error[over-budget]:")
    assert lines[-1] == "False"
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.onnx", "wide.yaml"]


@pytest.mark.parametrize(
    "option",
    [
        ["--seed", "99999999999999999999999"],
        ["--seed", "-1"],
        ["--max-params", "0"],
        ["--max-activation-bytes", "0"],
        ["--max-activation-bytes", "-5"],
    ],
)
def test_options_out_of_range_are_usage_errors(tmp_path, option):
    out = tmp_path / "lenet.onnx"
    result = run_counting_torch("export", str(LENET), "-o", str(out), *option, "-f", "json")
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("error[bad-option]:")
    document = json.loads(result.stdout)
    assert [d["code"] for d in document["diagnostics"]] == ["bad-option"]
    assert not out.exists()
