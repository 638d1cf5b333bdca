"""CUDA: export verified on ONNX Runtime's CUDA provider (float32 and float16, with trained
weights), and `archc bench` on it, PyTorch on `cuda` beside it.

Every test here skips, with the reason, where ONNX Runtime has no CUDA provider (the CPU-only
`onnxruntime` package; CUDA needs `onnxruntime-gpu`) or PyTorch sees no GPU: CI has none.
benchmarks/gpu_check.sh runs this file with the GPU benchmarks on a machine that has one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archc
from archc.cli import app

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
    pytest.skip(
        "ONNX Runtime has no CUDA provider here (it has "
        f"{', '.join(onnxruntime.get_available_providers())}; install onnxruntime-gpu)",
        allow_module_level=True,
    )
if not torch.cuda.is_available():
    pytest.skip("PyTorch sees no CUDA device here", allow_module_level=True)

ROOT = Path(__file__).parent.parent
RESNET18 = ROOT / "specs/resnet18.yaml"


def export(*args) -> dict:
    result = CliRunner().invoke(app, ["export", *map(str, args), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_export_is_verified_on_the_cuda_provider(tmp_path):
    report = export(RESNET18, "-o", tmp_path / "r18.onnx", "--provider", "cuda")
    assert report["providers"][0] == "CUDAExecutionProvider"
    assert report["tolerance"] >= 1e-3 and report["max_abs_diff"] <= report["tolerance"]


def test_a_float16_export_is_verified_on_the_cuda_provider(tmp_path):
    report = export(
        RESNET18, "-o", tmp_path / "half.onnx", "--provider", "cuda", "--dtype", "float16"
    )
    assert report["providers"][0] == "CUDAExecutionProvider" and report["dtype"] == "float16"
    assert report["max_abs_diff"] <= report["tolerance"]


def test_trained_weights_export_on_cuda(tmp_path):
    spec = archc.load(RESNET18)
    trained = archc.build(spec)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.mul_(1.5)
    torch.save(trained.state_dict(), tmp_path / "r18.pth")
    report = export(
        RESNET18,
        "-o",
        tmp_path / "r18.onnx",
        "--provider",
        "cuda",
        "--weights",
        tmp_path / "r18.pth",
    )
    assert report["providers"][0] == "CUDAExecutionProvider" and report["weights_sha256"]


def test_bench_times_both_runtimes_on_cuda():
    options = ["--provider", "cuda", "--batch", "1,8", "--runs", "10", "--format", "json"]
    result = CliRunner().invoke(app, ["bench", str(RESNET18), *options])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    devices = [(t["engine"], t["device"]) for t in report["timings"]]
    assert devices == [
        ("onnxruntime", "CUDAExecutionProvider"),
        ("onnxruntime", "CUDAExecutionProvider"),
        ("pytorch", "cuda"),
        ("pytorch", "cuda"),
    ]
    assert all(0 < t["p50_ms"] <= t["p99_ms"] for t in report["timings"])
