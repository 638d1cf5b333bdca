"""Export and runtime benchmarks (sections of benchmarks/run.py), each measured in a process of
its own: ONNX Runtime's spinning worker threads, measured on 2 cores, made torch's LeNet at
batch 32 about 60x slower in the same process."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPORT_SPECS = ["lenet", "resnet18", "googlenet", "densenet", "alexnet"]
EXPORT_SPECS_FULL = [*EXPORT_SPECS, "vgg11", "imagenet/resnet"]  # resnet.yaml is ResNet-50

_EXPORT = """
import json, sys, time, torch, archc
from archc.onnx_export import export_onnx
spec, out, mode, repeats = archc.load(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
torch.set_num_threads(2)
def archc_export():
    export_onnx(spec, out, verify=False)
def bare_export():
    module = archc.build(spec).eval()
    x = torch.zeros([2, *spec.input[1:]])
    torch.onnx.export(module, (x,), out, dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
run = archc_export if mode == "archc" else bare_export
run()  # warm-up
times = []
for _ in range(repeats):
    start = time.perf_counter(); run(); times.append(time.perf_counter() - start)
print(json.dumps(times))
"""


def _timed(script: str, *args: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return statistics.median(json.loads(out.stdout.strip().splitlines()[-1]))


def _specs(quick: bool) -> list[Path]:
    names = EXPORT_SPECS if quick else EXPORT_SPECS_FULL
    return [ROOT / "specs" / f"{name}.yaml" for name in names]


def section_export(repeats: int, quick: bool) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in _specs(quick):
            out = str(Path(tmp) / "model.onnx")
            ours = _timed(_EXPORT, str(spec), out, "archc", str(repeats))
            bare = _timed(_EXPORT, str(spec), out, "bare", str(repeats))
            rows.append(
                {"spec": spec.stem, "archc_s": ours, "bare_s": bare, "overhead": ours / bare - 1}
            )
            print(f"  export {spec.stem}: {rows[-1]['overhead']:+.0%}", file=sys.stderr)
    lines = [
        "## `archc export` against a bare `torch.onnx.export`",
        "",
        "archc: check, build, export, name nodes, annotate, write atomically (no verification). "
        "Bare: build the same module with `archc.build` and call `torch.onnx.export` "
        "(TorchScript exporter, dynamic batch). In-process, after a warm-up.",
        "",
        "| spec | archc export | bare export | overhead |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {r['spec']} | {r['archc_s']:.2f} s | {r['bare_s']:.2f} s | {r['overhead']:+.0%} |"
        for r in rows
    ]
    return {"rows": rows, "markdown": [*lines, ""]}


def section_runtime(repeats: int, quick: bool) -> dict:
    """`archc bench` of each spec at batch 1 and 32, 2 threads: each runtime in its own process."""
    from archc.bench import bench

    rows = []
    for spec_path in _specs(quick):
        result = bench(spec_path, batches=[1, 32], threads=2, runs=max(3, repeats * 4))
        row = {"spec": spec_path.stem}
        for timing in result.timings:
            engine = "ort" if timing.engine == "onnxruntime" else "torch"
            row[f"{engine}_{timing.batch}"] = timing.p50_ms / 1e3
        rows.append(row)
        print(f"  runtime {spec_path.stem}: {row['torch_1'] / row['ort_1']:.1f}x", file=sys.stderr)
    lines = [
        "## ONNX Runtime against PyTorch eager",
        "",
        "CPU, 2 threads each, separate processes; ORT with all graph optimizations, PyTorch in "
        "inference mode. Batch 1 latency and batch 32 time per batch; ratio = PyTorch / ORT.",
        "",
        "| spec | ORT b1 | PyTorch b1 | ratio | ORT b32 | PyTorch b32 | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['spec']} | {r['ort_1'] * 1e3:.1f} ms | {r['torch_1'] * 1e3:.1f} ms | "
        f"{r['torch_1'] / r['ort_1']:.2f} | {r['ort_32'] * 1e3:.0f} ms | "
        f"{r['torch_32'] * 1e3:.0f} ms | {r['torch_32'] / r['ort_32']:.2f} |"
        for r in rows
    ]
    return {"rows": rows, "markdown": [*lines, ""]}
