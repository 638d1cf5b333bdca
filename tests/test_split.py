"""Splitting and growing concatenations: `chunk`/`split` parts used by name, `concat` along any
dim, and a concat of a variable number of branches built with `repeat` (YOLO's C2f). Each is
compared with the same computation written in plain PyTorch."""

from __future__ import annotations

import pytest

import archc

C2F = """
archc: 1
name: c2f
input: [N, 16, 12, 12]
params: {n: 3}
body:
  - conv2d: {name: cv1, out_channels: 16, kernel_size: 1}
  - chunk: {chunks: 2, dim: 1, names: [y0, y1]}
  - repeat:
      times: $n
      index: j
      body:
        - conv2d: {name: "m{$j}", out_channels: 8, kernel_size: 3, padding: 1}
  - concat:
      branches:
        - [ref: y0]
        - [ref: y1]
        - repeat: {times: $n, index: j, body: [ref: "m{$j}"]}
  - conv2d: {name: cv2, out_channels: 16, kernel_size: 1}
"""


def check(text: str, **overrides):
    return archc.check(archc.load_text(text, "t.yaml", overrides=overrides))


@pytest.mark.parametrize("n", [0, 1, 3])
def test_c2f_equals_its_pytorch_forward(n):
    torch = pytest.importorskip("torch")
    spec = archc.load_text(C2F, "t.yaml", overrides={"n": n})
    network = archc.check(spec)
    assert network.ok, network.diagnostics
    concat = next(layer for layer in network.layers if layer.op.name == "concat")
    assert concat.shape[1] == 16 + 8 * n
    model = archc.build(spec).eval()
    x = torch.randn(2, 16, 12, 12)
    cv1, cv2 = model.layer("cv1"), model.layer("cv2")
    ms = [model.layer(f"m{j}") for j in range(n)]
    with torch.no_grad():
        y = list(cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in ms)
        expected = cv2(torch.cat(y, 1))
        assert torch.equal(model(x), expected)


def test_chunk_and_split_parts_equal_torch():
    torch = pytest.importorskip("torch")
    text = """
archc: 1
name: parts
input: [N, 7, 5, 6]
body:
  - chunk: {chunks: 3, dim: 1, names: [a, b, c]}
  - split: {sizes: [2, 4], dim: -1, names: [left, right]}
  - concat: {dim: 3, branches: [[ref: right], [ref: left]]}
  - concat: {branches: [[], [ref: a], [ref: b]]}
"""
    network = check(text)
    assert network.ok, network.diagnostics
    parts = {layer.path: layer.shape[1:] for layer in network.layers}
    x = torch.randn(1, 7, 5, 6)
    a, b, c = x.chunk(3, 1)
    left, right = c.split([2, 4], -1)
    expected = torch.cat([torch.cat([right, left], 3), a, b], 1)
    assert parts["a"] == tuple(a.shape[1:]) and parts["c"] == tuple(c.shape[1:])
    assert parts["right"] == tuple(right.shape[1:])
    with torch.no_grad():
        assert torch.equal(archc.build(archc.load_text(text, "t.yaml"))(x), expected)


def test_a_part_that_torch_does_not_give_is_located():
    # torch.chunk of 5 channels into 4 gives 3 parts of 2, 2 and 1 channels.
    network = check(
        """
archc: 1
name: parts
input: [N, 5, 4, 4]
body:
  - chunk: {chunks: 4, names: [a, b, c, d]}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("out-of-range", 6)]
    assert "gives 3 parts" in network.diagnostics[0].message


def test_split_sizes_must_add_up_and_the_batch_dim_stays_whole():
    network = check(
        """
archc: 1
name: parts
input: [N, 6, 4, 4]
body:
  - split: {sizes: [2, 3], index: 0}
  - chunk: {chunks: 2, dim: 0, index: 0}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("out-of-range", 6)]


def test_index_and_names_are_exclusive():
    network = check(
        """
archc: 1
name: parts
input: [N, 6, 4, 4]
body:
  - chunk: {chunks: 2, index: 0, names: [a, b]}
"""
    )
    assert [d.code for d in network.diagnostics] == ["wrong-type"]


def test_a_concat_whose_repeat_runs_zero_times_with_nothing_else_is_refused():
    network = check(
        """
archc: 1
name: parts
input: [N, 6, 4, 4]
body:
  - concat:
      branches:
        - repeat: {times: 0, body: []}
        - repeat: {times: 0, body: []}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("out-of-range", 7)]


def test_c2f_exports_and_verifies(tmp_path):
    pytest.importorskip("onnxruntime")
    report = archc.export(archc.load_text(C2F, "t.yaml"), tmp_path / "c2f.onnx")
    assert report.verified


def test_parts_after_an_error_are_unknown_and_their_refs_not_reported_again():
    network = check(
        """
archc: 1
name: parts
input: [N, 4, 2, 2]
body:
  - conv2d: {out_channels: 4, kernel_size: 3}
  - chunk: {chunks: 2, names: [a, b]}
  - concat: {branches: [[ref: a], [ref: b]]}
"""
    )
    # The collapse is the one mistake; the parts and their concat are its consequences.
    assert [(d.code, d.line) for d in network.diagnostics] == [("spatial-collapse", 6)]
