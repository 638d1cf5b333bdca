"""Networks with several outputs: `outputs:` names them; check, build and export keep them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import archc

SPEC = """
archc: 1
name: heads
input: [N, 3, H, W]
outputs: [p4, p3]
body:
  - conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - conv2d: {name: p3, out_channels: 6, kernel_size: 3, padding: 1}
  - conv2d: {out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - seq:
      name: p4
      body: [conv2d: {out_channels: 5, kernel_size: 1}, relu]
"""


def check(text: str):
    return archc.check(archc.load_text(text, "t.yaml"))


def test_outputs_are_reported_in_declared_order(tmp_path):
    spec = tmp_path / "heads.yaml"
    spec.write_text(SPEC)
    run = subprocess.run(
        [sys.executable, "-m", "archc", "check", str(spec), "--input", "1,3,32,32", "-f", "json"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)["results"][0]
    assert result["outputs"] == [
        {"name": "p4", "shape": [1, 5, 8, 8]},
        {"name": "p3", "shape": [1, 6, 16, 16]},
    ]
    assert result["output"] == [1, 5, 8, 8]  # the first output, as before
    text = subprocess.run(
        [sys.executable, "-m", "archc", "check", str(spec), "--input", "1,3,32,32"],
        capture_output=True,
        text=True,
    ).stdout
    assert text.splitlines()[0] == "heads: (1, 3, 32, 32) -> p4 (1, 5, 8, 8), p3 (1, 6, 16, 16)"


def test_a_single_output_is_named_output():
    network = check(SPEC.replace("outputs: [p4, p3]\n", ""))
    assert [(o.name, o.shape[1]) for o in network.outputs] == [("output", 5)]


def test_build_returns_the_outputs_in_order_and_equal_to_torch():
    torch = pytest.importorskip("torch")
    model = archc.build(archc.load_text(SPEC, "t.yaml")).eval()
    x = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        p4, p3 = model(x)
        h = model.layer("0")(x)
        expected_p3 = model.layer("p3")(h)
        expected_p4 = torch.relu(model.layer("p4.0")(model.layer("2")(expected_p3)))
    assert torch.equal(p3, expected_p3) and torch.equal(p4, expected_p4)


def test_export_has_one_named_output_each_verified(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    out = tmp_path / "heads.onnx"
    result = archc.export(archc.load_text(SPEC, "t.yaml"), out, input_dims=["N", 3, 32, 32])
    assert result.verified
    assert [o.name for o in onnx.load(str(out)).graph.output] == ["p4", "p3"]
    assert result.outputs == [
        {"name": "p4", "shape": ["N", 5, 8, 8]},
        {"name": "p3", "shape": ["N", 6, 16, 16]},
    ]


@pytest.mark.parametrize(
    ("outputs", "code"),
    [("[p3, nowhere]", "undefined-ref"), ("[p3, p3]", "duplicate-name"), ("[]", "out-of-range")],
)
def test_bad_outputs_are_located(outputs, code):
    text = SPEC.replace("outputs: [p4, p3]", f"outputs: {outputs}")
    try:
        network = check(text)
        diagnostics = network.diagnostics
    except archc.ArchcError as exc:
        diagnostics = exc.diagnostics
    assert [(d.code, d.line) for d in diagnostics] == [(code, 5)]


def test_an_output_inside_a_block_is_not_visible():
    network = check(
        """
archc: 1
name: t
input: [N, 3, 8, 8]
outputs: [inner]
blocks:
  b:
    body: [conv2d: {name: inner, out_channels: 2, kernel_size: 1}]
body:
  - b
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("undefined-ref", 5)]


def test_layers_reaching_no_output_are_a_warning_once_per_stretch():
    network = check(SPEC.replace("outputs: [p4, p3]", "outputs: [p3]"))
    assert network.ok
    warnings = [(d.code, d.line) for d in network.diagnostics]
    assert warnings == [("unused-layer", 9)]  # the conv after p3, the stretch's first layer
