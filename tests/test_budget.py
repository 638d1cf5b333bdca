"""The memory budget of build and export: refused statically, before torch allocates anything."""

from __future__ import annotations

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
