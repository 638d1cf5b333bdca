"""Trained weights: exported through the CLI and the API, read without running code, refused
key by key when they do not fit, and recorded in the ONNX file.

The truth each export is held to is the trained PyTorch module itself, run here on ONNX
Runtime independently of archc's own verification.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archc
from archc.cli import app
from archc.weights import state_sha256

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
safetensors_torch = pytest.importorskip("safetensors.torch")

ROOT = Path(__file__).parent.parent
LENET_BN = ROOT / "specs/lenet_bn.yaml"
PREVIOUS = b"previous model \x00\x01"


@pytest.fixture(scope="module")
def trained():
    """LeNet-BN after 20 SGD steps on random data: weights and batch-norm statistics moved."""
    torch.manual_seed(1)
    model = archc.build(archc.load(LENET_BN))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="module")
def files(trained, tmp_path_factory):
    """The trained state in every accepted form."""
    folder = tmp_path_factory.mktemp("weights")
    state = trained.state_dict()
    written = {
        "bare.pth": lambda p: torch.save(state, p),
        "checkpoint.pt": lambda p: torch.save({"state_dict": state, "epoch": 20}, p),
        "model.pt": lambda p: torch.save({"model": state, "optimizer": {"lr": 0.1}}, p),
        "weights.safetensors": lambda p: safetensors_torch.save_file(dict(state), p),
    }
    for name, write in written.items():
        write(folder / name)
    return {name: folder / name for name in written}


def onnx_output(path: Path, x) -> object:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


def assert_computes(path: Path, model) -> None:
    """ONNX Runtime on the file equals the trained module on the same input."""
    x = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    with torch.inference_mode():
        expected = model.eval()(x).numpy()
    got = onnx_output(path, x)
    assert abs(got - expected).max() <= 1e-4 * (1 + abs(expected).max())
    untrained = archc.build(archc.load(LENET_BN)).eval()
    with torch.inference_mode():
        assert abs(got - untrained(x).numpy()).max() > 1e-3  # the weights made a difference


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def run(*args) -> object:
    return CliRunner().invoke(app, list(map(str, args)))


# Exported from a file, a state dict and a module -------------------------------------------


@pytest.mark.parametrize("name", ["bare.pth", "checkpoint.pt", "model.pt", "weights.safetensors"])
def test_the_cli_exports_a_trained_checkpoint(name, files, trained, tmp_path):
    out = tmp_path / "trained.onnx"
    result = run("export", LENET_BN, "-o", out, "--weights", files[name], "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verified"] and report["weights"] == str(files[name])
    assert report["weights_sha256"] == state_sha256(trained.state_dict())
    assert_computes(out, trained)
    recorded = metadata(out)
    assert recorded["archc.weights_sha256"] == report["weights_sha256"]
    file_digest = hashlib.sha256(files[name].read_bytes()).hexdigest()
    assert recorded["archc.weights_file_sha256"] == file_digest


@pytest.mark.parametrize("given", ["module", "state_dict", "path"])
def test_the_api_exports_a_trained_model(given, trained, files, tmp_path):
    weights = {
        "module": trained,
        "state_dict": trained.state_dict(),
        "path": files["bare.pth"],
    }[given]
    out = tmp_path / "trained.onnx"
    result = archc.export(archc.load(LENET_BN), out, weights=weights, provider="cpu")
    assert result.verified and result.max_abs_diff <= result.tolerance
    assert_computes(out, trained)
    assert ("archc.weights" in metadata(out)) == (given == "path")


def test_build_with_weights_computes_the_trained_model(trained, files):
    rebuilt = archc.build(archc.load(LENET_BN), weights=files["weights.safetensors"])
    assert rebuilt.training  # as a built module always is: ready to train further
    x = torch.randn(3, 1, 28, 28)
    with torch.inference_mode():
        assert torch.equal(rebuilt.eval()(x), trained(x))


def test_the_digest_is_of_the_tensors_whatever_the_format(trained, files):
    digests = {
        name: archc.export(
            archc.load(LENET_BN),
            files[name].with_suffix(".onnx"),
            weights=files[name],
            verify=False,
        ).weights_sha256
        for name in files
    }
    assert set(digests.values()) == {state_sha256(trained.state_dict())}
    changed = dict(trained.state_dict())
    changed["5.weight"] = changed["5.weight"] + 1e-6
    assert state_sha256(changed) != state_sha256(trained.state_dict())


def test_num_batches_tracked_may_be_absent(trained, tmp_path):
    state = {k: v for k, v in trained.state_dict().items() if "num_batches_tracked" not in k}
    assert len(state) < len(trained.state_dict())
    model = archc.build(archc.load(LENET_BN), weights=state)
    counters = [v for k, v in model.state_dict().items() if "num_batches_tracked" in k]
    assert counters and all(int(c) == 0 for c in counters)


# Loading never runs code ---------------------------------------------------------------------


def create_marker(marker: str) -> None:
    Path(marker).touch()


class _Payload:
    """Unpickling this calls `create_marker`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (create_marker, (self.marker,))


def _payloads(folder: Path, marker: Path) -> dict[str, Path]:
    files = {}
    files["torch-save.pt"] = folder / "torch-save.pt"
    torch.save({"conv.weight": torch.zeros(1), "x": _Payload(marker)}, files["torch-save.pt"])
    files["plain-pickle.pth"] = folder / "plain-pickle.pth"
    files["plain-pickle.pth"].write_bytes(pickle.dumps({"state_dict": _Payload(marker)}))
    files["whole-module.pt"] = folder / "whole-module.pt"
    torch.save(archc.build(archc.load(LENET_BN)), files["whole-module.pt"])
    return files


@pytest.mark.parametrize("name", ["torch-save.pt", "plain-pickle.pth", "whole-module.pt"])
def test_a_pickle_payload_is_refused_and_never_runs(name, tmp_path):
    marker = tmp_path / "ran"
    weights = _payloads(tmp_path, marker)[name]
    out = tmp_path / "model.onnx"
    out.write_bytes(PREVIOUS)
    result = run("export", LENET_BN, "-o", out, "--weights", weights, "--format", "json")
    assert result.exit_code == 2, result.output
    (diagnostic,) = json.loads(result.stdout)["diagnostics"]
    assert diagnostic["code"] == "weights-unsafe" and diagnostic["file"] == str(weights)
    named = "archc.lower.module.ArchcNetwork" if name == "whole-module.pt" else "create_marker"
    assert named in diagnostic["message"]
    assert not marker.exists()
    assert out.read_bytes() == PREVIOUS
    with pytest.raises(archc.ArchcError):
        archc.build(archc.load(LENET_BN), weights=weights)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "no such file"),
        (b"conv.weight = 3\n", "neither a PyTorch checkpoint"),
        (b"PK\x03\x04 truncated", "as a PyTorch checkpoint"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", "as safetensors"),
    ],
)
def test_unreadable_weights_are_a_usage_error(content, why, tmp_path):
    weights = tmp_path / "w.pth"
    if content is not None:
        weights.write_bytes(content)
    out = tmp_path / "model.onnx"
    result = run("export", LENET_BN, "-o", out, "--weights", weights)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error[weights-unreadable]: ") and why in result.stderr
    assert not out.exists()


def test_an_archive_that_unpacks_beyond_the_network_is_refused_unread(tmp_path):
    # 100 MB of zeros deflate to 100 KB; LeNet-BN's weights are 180 KB.
    weights = tmp_path / "bomb.pth"
    with (
        zipfile.ZipFile(weights, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("archive/data/0", "w") as entry,
    ):
        for _ in range(100):
            entry.write(bytes(2**20))
    assert weights.stat().st_size < 2**20
    with pytest.raises(archc.ArchcError) as raised:
        archc.build(archc.load(LENET_BN), weights=weights)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.code == "weights-unreadable"
    assert f"unpacks to {100 * 2**20:,} bytes" in diagnostic.message


def test_a_checkpoint_without_a_state_dict_names_its_keys(tmp_path):
    weights = tmp_path / "w.pt"
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, weights)
    with pytest.raises(archc.ArchcError) as raised:
        archc.build(archc.load(LENET_BN), weights=weights)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.code == "weights-unreadable"
    assert "`epoch`, `optimizer`" in diagnostic.message


@pytest.mark.parametrize(
    "weights",
    [3, [1, 2], b"bytes", {"0.weight": [1.0, 2.0]}, {0: torch.zeros(1)}, torch.nn.Linear(2, 2)],
    ids=["int", "list", "bytes", "non-tensor", "non-str-key", "foreign-module"],
)
def test_the_api_refuses_anything_else_with_an_archc_error(weights):
    with pytest.raises(archc.ArchcError) as raised:
        archc.build(archc.load(LENET_BN), weights=weights)
    assert [d.code for d in raised.value.diagnostics] == ["weights-unreadable"]


def test_export_takes_a_spec_not_a_module(trained, tmp_path):
    with pytest.raises(archc.UsageError) as raised:
        archc.export(trained, tmp_path / "x.onnx")
    assert "weights=" in raised.value.diagnostics[0].hint
    assert list(tmp_path.iterdir()) == []


# Weights that do not fit -----------------------------------------------------------------------


def test_every_mismatched_key_is_listed_at_its_layer(trained, tmp_path):
    network = archc.check(archc.load(LENET_BN))
    lines = {layer.path: layer.line for layer in network.layers}
    state = dict(trained.state_dict())
    del state["0.0.weight"]  # the first convolution's weight
    del state["3.0.bias"]
    state["5.weight"] = torch.zeros(10, 99)  # the classifier, for another input width
    state["3.1.running_mean"] = torch.zeros(120, dtype=torch.int64)
    state["0.0.weights"] = torch.zeros(6, 1, 5, 5)  # a misspelt key
    state["head.fc.weight"] = torch.zeros(2, 2)
    weights = tmp_path / "w.pth"
    torch.save(state, weights)
    out = tmp_path / "model.onnx"
    out.write_bytes(PREVIOUS)
    result = run("export", LENET_BN, "-o", out, "--weights", weights, "--format", "json")
    assert result.exit_code == 1, result.output
    found = [
        (d["code"], d["message"].split("`")[1], d["line"])
        for d in json.loads(result.stdout)["diagnostics"]
    ]
    assert sorted(found) == sorted(
        [
            ("weights-missing", "0.0.weight", lines["0.0"]),
            ("weights-missing", "3.0.bias", lines["3.0"]),
            ("weights-shape", "3.1.running_mean", lines["3.1"]),
            ("weights-shape", "5.weight", lines["5"]),
            ("weights-unexpected", "0.0.weights", 0),
            ("weights-unexpected", "head.fc.weight", 0),
        ]
    )
    assert out.read_bytes() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "w.pth"]
    text = run("export", LENET_BN, "-o", out, "--weights", weights)
    assert f"--> {LENET_BN}:{lines['5']}:" in text.stderr
    assert "did you mean `0.0.weight`?" in text.stderr


def test_a_mismatch_from_the_api_names_every_key(trained):
    state = dict(trained.state_dict())
    state.pop("5.bias")
    with pytest.raises(archc.ArchcError) as raised:
        archc.build(archc.load(LENET_BN, {"classes": 7}), weights=state)
    found = sorted((d.code, d.message.split("`")[1]) for d in raised.value.diagnostics)
    assert found == [("weights-missing", "5.bias"), ("weights-shape", "5.weight")]
    assert raised.value.exit_code == 1


# What the ONNX file records -------------------------------------------------------------------


def test_the_spec_path_is_recorded_as_given_never_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = tmp_path / "relative.onnx"
    archc.export(archc.load("specs/lenet.yaml"), relative, verify=False)
    assert metadata(relative)["archc.spec"] == "specs/lenet.yaml"
    inside = tmp_path / "inside.onnx"
    archc.export(archc.load(ROOT / "specs/lenet.yaml"), inside, verify=False)
    assert metadata(inside)["archc.spec"] == "specs/lenet.yaml"
    outside = tmp_path / "outside.onnx"
    (tmp_path / "net.yaml").write_bytes((ROOT / "specs/lenet.yaml").read_bytes())
    archc.export(archc.load(tmp_path / "net.yaml"), outside, verify=False)
    recorded = onnx.load(str(outside))
    assert {p.key: p.value for p in recorded.metadata_props}["archc.spec"] == "net.yaml"
    assert all(str(tmp_path) not in node.doc_string for node in recorded.graph.node)
    assert str(tmp_path).encode() not in outside.read_bytes()


def test_the_parameter_count_is_recorded(tmp_path):
    out = tmp_path / "lenet.onnx"
    archc.export(archc.load(LENET_BN), out, verify=False)
    model = archc.build(archc.load(LENET_BN))
    count = sum(p.numel() for p in model.parameters())
    assert metadata(out)["archc.parameter_count"] == str(count)
    assert "archc.weights_sha256" not in metadata(out)


# float16 ---------------------------------------------------------------------------------------


def test_a_float16_export_is_verified_against_the_float32_model(trained, tmp_path):
    out = tmp_path / "half.onnx"
    result = archc.export(
        archc.load(LENET_BN), out, weights=trained, dtype="float16", provider="cpu"
    )
    assert result.dtype == "float16" and result.tolerance >= 1e-3
    graph = onnx.load(str(out)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    x = torch.randn(4, 1, 28, 28).half()
    got = onnx_output(out, x).astype("float64")
    with torch.inference_mode():
        expected = trained(x.float()).numpy()
    assert abs(got - expected).max() <= 1e-3 + 1e-2 * abs(expected).max()
    assert out.stat().st_size < 0.6 * sum(p.numel() * 4 for p in trained.parameters())


def test_an_unknown_dtype_is_a_usage_error(tmp_path):
    result = run("export", LENET_BN, "-o", tmp_path / "x.onnx", "--dtype", "int8")
    assert result.exit_code == 2
    with pytest.raises(archc.UsageError):
        archc.export(archc.load(LENET_BN), tmp_path / "x.onnx", dtype="bfloat16")
    assert not os.listdir(tmp_path)
