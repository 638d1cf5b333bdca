"""Every GPU check and benchmark of archc in one run, in under 10 minutes on one GPU.

    python3 benchmarks/gpu_check.py [--out DIR] [--budget SECONDS]

CI has no GPU, so the CUDA tests skip there; a machine lent a GPU runs this script once:

1. the environment: the GPU, torch and its CUDA, ONNX Runtime and its providers;
2. tests/test_cuda.py: export verified on ONNX Runtime's CUDA provider (float32, float16, with
   trained weights) and `archc bench --provider cuda`;
3. `--dtype float16` exports of the ImageNet zoo's default members, each verified on the CUDA
   provider against the float32 PyTorch model: the largest difference and its tolerance;
4. `archc bench --provider cuda` (ONNX Runtime's CUDA provider against PyTorch on `cuda`) of
   ResNet-18 (the seed's, 1×96²), the ImageNet ResNet-18, ResNet-50 and MobileNetV2 (3×224²) in
   float32, and ResNet-50 in float16, at batch 1, 8, 32 and 128.

Each step runs with a time limit of its own and the whole within `--budget` (default 540 s); a
step that fails or runs out of time is recorded and the next one runs. Writes DIR/gpu_check.json
(every figure) and DIR/gpu_check.md (the section for benchmarks/RESULTS.md), DIR defaulting to
$OUT where that is set, else benchmarks/gpu-results. Needs archc's dependencies (pydantic,
PyYAML, typer, torch with CUDA, onnx, onnxruntime-gpu); a machine that lacks a pure-Python one
can be given wheels: `pip download --no-deps --only-binary=:all: -d .whl pydantic pydantic-core
annotated-types typing-inspection` (for its Python and platform), then
`pip install --no-index --no-deps --target /tmp/site .whl/*.whl` and PYTHONPATH=/tmp/site.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ZOO = ["alexnet", "vgg", "googlenet", "resnet", "densenet", "squeezenet1_1", "mobilenet_v2"]
ZOO += ["mobilenet_v3", "efficientnet", "convnext"]
RESNET18 = {"block": "basic", "depths": [2, 2, 2, 2]}
BENCHES = [
    ("resnet18 (seed, 1×96²)", "specs/resnet18.yaml", {}, "float32"),
    ("resnet18", "specs/imagenet/resnet.yaml", RESNET18, "float32"),
    ("resnet50", "specs/imagenet/resnet.yaml", {}, "float32"),
    ("mobilenet_v2", "specs/imagenet/mobilenet_v2.yaml", {}, "float32"),
    ("resnet50", "specs/imagenet/resnet.yaml", {}, "float16"),
]
BATCHES = [1, 8, 32, 128]


def environment() -> dict:
    import onnxruntime
    import torch

    found = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "onnxruntime": onnxruntime.__version__,
        "providers": onnxruntime.get_available_providers(),
        "cpus": os.cpu_count(),
    }
    if torch.cuda.is_available():
        found["gpu"] = torch.cuda.get_device_name(0)
    return found


def cuda_tests(limit: float) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"]
    command.append("tests/test_cuda.py")
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=limit, env=_env()
        )
    except subprocess.TimeoutExpired:
        return {"status": "timed out", "limit_s": limit}
    lines = done.stdout.strip().splitlines()
    return {
        "status": "passed" if done.returncode == 0 else f"exit {done.returncode}",
        "summary": lines[-1] if lines else "",
        "log": done.stdout[-4000:],
    }


def float16_exports(deadline: float) -> list[dict]:
    import archc
    from archc.onnx_export import export_onnx

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in ZOO:
            if time.monotonic() > deadline:
                rows.append({"spec": name, "status": "not run: out of time"})
                continue
            started = time.monotonic()
            try:
                result = export_onnx(
                    archc.load(ROOT / f"specs/imagenet/{name}.yaml"),
                    Path(folder) / "model.onnx",
                    dtype="float16",
                    provider="cuda",
                )
                rows.append(
                    {
                        "spec": name,
                        "status": "verified",
                        "providers": result.providers,
                        "max_abs_diff": result.max_abs_diff,
                        "tolerance": result.tolerance,
                        "seconds": round(time.monotonic() - started, 1),
                    }
                )
            except archc.ArchcError as exc:
                rows.append({"spec": name, "status": f"{exc.diagnostics[0].code}: {exc}"})
            print(f"  float16 {name}: {rows[-1]['status']}", file=sys.stderr)
    return rows


def benches(deadline: float) -> list[dict]:
    from archc.bench import bench
    from archc.diagnostics import ArchcError

    rows = []
    for label, spec, overrides, dtype in BENCHES:
        if time.monotonic() > deadline:
            rows.append({"model": label, "dtype": dtype, "status": "not run: out of time"})
            continue
        try:
            result = bench(
                ROOT / spec,
                overrides=overrides,
                batches=BATCHES,
                provider="cuda",
                warmup=5,
                runs=50,
                max_seconds=2.0,
                dtype=dtype,
            )
            rows.append({"model": label, "dtype": dtype, "status": "measured", **result.to_json()})
        except ArchcError as exc:
            rows.append({"model": label, "dtype": dtype, "status": f"{exc}"})
        print(f"  bench {label} {dtype}: {rows[-1]['status']}", file=sys.stderr)
    return rows


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"## GPU checks — measured {time.strftime('%Y-%m-%d')}",
        "",
        f"`python3 benchmarks/gpu_check.py` on {env.get('gpu', 'no GPU')}, {env['cpus']} CPUs; "
        f"Python {env['python']}, torch {env['torch']} (CUDA {env['torch_cuda']}), onnxruntime "
        f"{env['onnxruntime']} ({', '.join(env['providers'])}). {report['seconds']:.0f} s in all.",
        "",
        f"tests/test_cuda.py: {report['tests'].get('summary') or report['tests']['status']}.",
        "",
    ]
    if "not_run" in report:
        return "\n".join([*lines, f"float16 exports and benchmarks not run: {report['not_run']}."])
    lines += [
        "float16 exports verified on the CUDA provider against the float32 model "
        "(3×224², batch 1 and 7):",
        "",
        "| spec | result | max abs diff | tolerance | s |",
        "|---|---|---:|---:|---:|",
    ]
    for row in report["float16"]:
        if row["status"] == "verified":
            lines.append(
                f"| {row['spec']} | verified | {row['max_abs_diff']:.2g} | "
                f"{row['tolerance']:.2g} | {row['seconds']} |"
            )
        else:
            lines.append(f"| {row['spec']} | {row['status']} | | | |")
    lines += [
        "",
        "`archc bench --provider cuda` (ONNX Runtime's CUDA provider with I/O binding; PyTorch "
        "eager on `cuda`, synchronised): p50 latency in ms, and samples per second.",
        "",
        "| model | dtype | batch | ORT p50 | ORT samples/s | PyTorch p50 | PyTorch samples/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["bench"]:
        if row["status"] != "measured":
            lines.append(f"| {row['model']} | {row['dtype']} | {row['status']} | | | | |")
            continue
        cells = {(t["engine"], t["batch"]): t for t in row["timings"]}
        for batch in BATCHES:
            ort, eager = cells.get(("onnxruntime", batch)), cells.get(("pytorch", batch))
            lines.append(
                f"| {row['model']} | {row['dtype']} | {batch} | {_cell(ort, 'p50_ms')} | "
                f"{_cell(ort, 'throughput')} | {_cell(eager, 'p50_ms')} | "
                f"{_cell(eager, 'throughput')} |"
            )
    return "\n".join(lines) + "\n"


def _cell(timing: dict | None, key: str) -> str:
    return "" if timing is None else f"{timing[key]:,.2f}"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = os.environ.get("OUT") or str(ROOT / "benchmarks" / "gpu-results")
    parser.add_argument("--out", default=default_out)
    parser.add_argument("--budget", type=float, default=540.0)
    args = parser.parse_args()
    started = time.monotonic()
    deadline = started + args.budget
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]  # bench's worker processes import archc

    report: dict = {"environment": environment()}
    print(json.dumps(report["environment"]), file=sys.stderr)
    report["tests"] = cuda_tests(min(180.0, args.budget / 3))
    print(f"tests/test_cuda.py: {report['tests'].get('summary', report['tests'])}", file=sys.stderr)
    if "CUDAExecutionProvider" in report["environment"]["providers"]:
        report["float16"] = float16_exports(started + args.budget * 0.55)
        report["bench"] = benches(deadline)
    else:  # each would be refused: `--provider cuda` never falls back to the CPU
        report["not_run"] = "ONNX Runtime has no CUDA provider here (install onnxruntime-gpu)"
        report["float16"], report["bench"] = [], []
    report["seconds"] = time.monotonic() - started
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    (out / "gpu_check.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
