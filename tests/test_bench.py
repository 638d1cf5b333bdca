"""`archc bench`: both runtimes timed in processes of their own, for a spec and for an ONNX
file, with percentiles that mean what they say and refusals that exit 2.

Timings are kept tiny (LeNet, a few runs) so that the file runs in seconds on two cores; what is
asserted is the structure and the arithmetic, never a speed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archc
from archc.bench import percentile
from archc.cli import app

numpy = pytest.importorskip("numpy")
pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

ROOT = Path(__file__).parent.parent
LENET = ROOT / "specs/lenet.yaml"
QUICK = ["--runs", "4", "--warmup", "1", "--threads", "1"]


def bench(*args) -> tuple[int, dict, str]:
    result = CliRunner().invoke(app, ["bench", *map(str, args), "--format", "json"])
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_a_spec_is_timed_on_both_runtimes_at_every_batch():
    code, report, _ = bench(LENET, "--batch", "1,4", *QUICK)
    assert code == 0 and report["ok"]
    assert report["name"] == "lenet" and report["input"] == ["N", 1, 28, 28]
    assert report["threads"] == 1 and report["dtype"] == "float32" and not report["skipped"]
    cells = [(t["engine"], t["device"], t["batch"]) for t in report["timings"]]
    assert cells == [
        ("onnxruntime", "CPUExecutionProvider", 1),
        ("onnxruntime", "CPUExecutionProvider", 4),
        ("pytorch", "cpu", 1),
        ("pytorch", "cpu", 4),
    ]
    for timing in report["timings"]:
        assert timing["runs"] == 4 and timing["warmup"] == 1
        assert 0 < timing["p50_ms"] <= timing["p90_ms"] <= timing["p99_ms"]
        # samples per second over the timed runs: batch / mean latency
        expected = timing["batch"] / (timing["mean_ms"] / 1e3)
        assert timing["throughput"] == pytest.approx(expected, rel=1e-3)


def test_the_text_report_is_a_table_and_the_speed_ratio():
    result = CliRunner().invoke(app, ["bench", str(LENET), "--batch", "2", *QUICK])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"lenet ({LENET}): input (N, 1, 28, 28), float32, 1 threads")
    assert lines[2].split() == [
        "engine", "device", "batch", "p50", "ms", "p90", "ms", "p99", "ms", "samples/s", "runs"
    ]  # fmt: skip
    assert [line.split()[:3] for line in lines[3:5]] == [
        ["onnxruntime", "CPUExecutionProvider", "2"],
        ["pytorch", "cpu", "2"],
    ]
    assert lines[-1].startswith("ONNX Runtime against PyTorch eager (p50): ")
    assert "\r" not in result.stderr  # progress only on a terminal


def test_an_exported_file_is_timed_with_the_spec_its_metadata_names(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "lenet.onnx"
    archc.export(archc.load("specs/lenet.yaml", {"classes": 3}), out, verify=False)
    code, report, _ = bench(out, "--batch", "2", *QUICK)
    assert code == 0
    assert report["name"] == "lenet" and report["input"] == ["N", 1, 28, 28]
    assert [t["engine"] for t in report["timings"]] == ["onnxruntime", "pytorch"]


def test_a_float16_file_runs_in_float16_on_both_runtimes(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "half.onnx"
    archc.export(archc.load("specs/lenet.yaml"), out, dtype="float16", verify=False)
    code, report, _ = bench(out, "--batch", "2", *QUICK)
    assert code == 0 and report["dtype"] == "float16"
    assert [t["engine"] for t in report["timings"]] == ["onnxruntime", "pytorch"]


def test_a_file_whose_spec_is_gone_is_timed_on_onnx_runtime_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(LENET, tmp_path / "net.yaml")
    archc.export(archc.load("net.yaml"), "net.onnx", verify=False)
    (tmp_path / "net.yaml").write_text("archc: 1\nname: changed\n")  # no longer the spec
    code, report, _ = bench("net.onnx", "--batch", "1", *QUICK)
    assert code == 0
    assert [t["engine"] for t in report["timings"]] == ["onnxruntime"]
    assert [s["engine"] for s in report["skipped"]] == ["pytorch"]


def test_a_fixed_batch_is_the_only_one_run(tmp_path):
    out = tmp_path / "fixed.onnx"
    archc.export(archc.load(LENET), out, input_dims=[3, 1, 28, 28], static_batch=True)
    code, report, _ = bench(out, "--batch", "1,8", "--no-torch", *QUICK)
    assert code == 0
    assert [t["batch"] for t in report["timings"]] == [3]
    assert "fixed at 3" in report["skipped"][0]["reason"]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--batch", "1,x"], "bad-option"),
        (["--batch", "0"], "bad-option"),
        (["--runs", "0"], "bad-option"),
        (["--threads", "0"], "bad-option"),
    ],
)
def test_bad_options_are_usage_errors(args, code):
    result = CliRunner().invoke(app, ["bench", str(LENET), *args])
    assert result.exit_code == 2, result.output
    assert "error" in result.stderr


@pytest.mark.skipif(
    "CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="CUDA is here"
)
def test_cuda_where_onnx_runtime_has_none_is_refused():
    code, report, _ = bench(LENET, "--provider", "cuda", *QUICK)
    assert code == 2
    assert [d["code"] for d in report["diagnostics"]] == ["provider-unavailable"]


def test_a_spec_that_does_not_check_exits_1():
    code, report, _ = bench(ROOT / "specs/seed-listings/vgg_listing.yaml", *QUICK)
    assert code == 1 and not report["ok"]
    assert "channel-mismatch" in {d["code"] for d in report["diagnostics"]}


def test_a_file_that_is_not_onnx_is_a_usage_error(tmp_path):
    fake = tmp_path / "model.onnx"
    fake.write_bytes(b"not a model")
    code, report, _ = bench(fake, *QUICK)
    assert code == 2
    assert [d["code"] for d in report["diagnostics"]] == ["file-unreadable"]


@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(range(37))])
@pytest.mark.parametrize("q", [0, 50, 90, 99, 100])
def test_percentiles_are_numpys_linear_ones(values, q):
    assert percentile(values, q) == pytest.approx(numpy.percentile(values, q))
