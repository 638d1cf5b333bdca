"""archc's benchmarks: what a check costs, next to what users run today.

    python benchmarks/run.py [--quick] [--json OUT.json] [--sections check,scaling,export,runtime]

Every figure is whole-process or in-process wall time and peak RSS, the median of several runs
after a warm-up, measured side by side in one run (the machines are shared and noisy: compare
the ratios). Prints a Markdown report, and the raw figures as JSON with --json.

Sections:
- import: start-up, a bare interpreter against `import archc` and the check path's imports,
  with `-X importtime`'s top packages;
- check: `archc check SPEC` against importing torch, building the same network and running
  `torchinfo.summary` on it (the route users take today), per bundled spec;
- scaling: `archc check` of generated specs of 100, 1,000 and 10,000 layers, written flat and
  with `repeat`;
- export: `archc export` against a bare `torch.onnx.export` of the same module;
- runtime: ONNX Runtime (CPU, 2 threads) against PyTorch eager on the exported networks, at
  batch 1 (latency) and batch 32 (throughput), each in its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_SPECS = ["lenet", "lenet_bn", "alexnet", "vgg11", "nin", "googlenet", "resnet18", "densenet"]


_RUNNER = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"wall": wall, "rss": rss, "rc": proc.returncode, "err": proc.stderr[-2000:]}))
"""


def run_once(argv: list[str]) -> tuple[float, int]:
    """Run `argv` once in a fresh runner process: (wall seconds, peak RSS bytes) of it alone."""
    out = subprocess.run(
        [sys.executable, "-c", _RUNNER, *argv], capture_output=True, text=True, cwd=ROOT
    ).stdout
    result = json.loads(out)
    if result["rc"] not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} failed ({result['rc']}):\n{result['err']}")
    return result["wall"], result["rss"]


def measure(argv: list[str], repeats: int) -> dict:
    """Median wall time and peak RSS of `argv` over `repeats` runs after one warm-up."""
    run_once(argv)
    runs = [run_once(argv) for _ in range(repeats)]
    return {
        "wall_s": statistics.median(wall for wall, _ in runs),
        "peak_rss_mb": max(rss for _, rss in runs) / 2**20,
    }


def archc_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", "from archc.cli import main; main()", *args]


TORCHINFO_ROUTE = """
import sys, torch, torchinfo
import archc
spec = archc.load(sys.argv[1])
model = archc.build(spec)
torchinfo.summary(model, input_size=[1, *spec.input[1:]], verbose=0, depth=99)
"""


def section_check(specs: list[Path], repeats: int) -> list[dict]:
    rows = []
    for spec in specs:
        ours = measure(archc_argv("check", str(spec)), repeats)
        theirs = measure([sys.executable, "-c", TORCHINFO_ROUTE, str(spec)], repeats)
        rows.append(
            {
                "spec": str(spec.relative_to(ROOT)),
                "archc_s": ours["wall_s"],
                "archc_mb": ours["peak_rss_mb"],
                "torchinfo_s": theirs["wall_s"],
                "torchinfo_mb": theirs["peak_rss_mb"],
                "speedup": theirs["wall_s"] / ours["wall_s"],
                "memory_ratio": ours["peak_rss_mb"] / theirs["peak_rss_mb"],
            }
        )
        print(f"  check {spec.name}: {rows[-1]['speedup']:.1f}x", file=sys.stderr)
    return rows


def generated_spec(layers: int, flat: bool) -> str:
    """A spec of `layers` primitive layers: conv/relu pairs, written out or with `repeat`."""
    head = f"archc: 1\nname: gen{layers}\ninput: [N, 16, 32, 32]\nbody:\n"
    pair = "  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}\n  - relu\n"
    if flat:
        return head + pair * (layers // 2)
    body = pair.replace("  - ", "        - ")
    return head + f"  - repeat:\n      times: {layers // 2}\n      body:\n" + body


def section_scaling(repeats: int, sizes: tuple[int, ...]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers in sizes:
            for flat in (True, False):
                path = Path(tmp) / f"gen{layers}{'flat' if flat else 'repeat'}.yaml"
                path.write_text(generated_spec(layers, flat))
                result = measure(archc_argv("check", str(path)), repeats)
                rows.append(
                    {
                        "layers": layers,
                        "form": "flat" if flat else "repeat",
                        "bytes": path.stat().st_size,
                        **result,
                        "us_per_layer": result["wall_s"] / layers * 1e6,
                    }
                )
                print(
                    f"  scaling {layers} {rows[-1]['form']}: {result['wall_s']:.2f}s",
                    file=sys.stderr,
                )
    return rows


def markdown(report: dict) -> str:
    lines = [
        f"# archc benchmarks — {report['date']}",
        "",
        f"Machine: {report['machine']}. Medians of {report['repeats']} runs after a warm-up.",
        "",
    ]
    if "import" in report:
        lines += report["import"]["markdown"]
    if "check" in report:
        lines += [
            "## `archc check` against torch + torchinfo",
            "",
            "| spec | archc | torchinfo route | speed-up | archc RSS | torchinfo RSS | memory |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in report["check"]:
            lines.append(
                f"| {row['spec']} | {row['archc_s']:.2f} s | {row['torchinfo_s']:.2f} s | "
                f"{row['speedup']:.1f}× | {row['archc_mb']:.0f} MB | {row['torchinfo_mb']:.0f} MB "
                f"| {row['memory_ratio']:.2f} |"
            )
        lines.append("")
    if "scaling" in report:
        lines += [
            "## Scaling with depth",
            "",
            "| layers | form | file | wall | peak RSS | per layer |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        for row in report["scaling"]:
            lines.append(
                f"| {row['layers']:,} | {row['form']} | {row['bytes'] / 1024:.0f} KiB | "
                f"{row['wall_s']:.2f} s | {row['peak_rss_mb']:.0f} MB | "
                f"{row['us_per_layer']:.0f} µs |"
            )
        lines.append("")
    for name in ("export", "runtime"):
        if name in report:
            lines += report[name]["markdown"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and specs")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--sections", default="import,check,scaling,export,runtime")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    repeats = 3 if args.quick else 5
    specs = [ROOT / "specs" / f"{name}.yaml" for name in SEED_SPECS]
    imagenet = sorted((ROOT / "specs" / "imagenet").glob("*.yaml"))
    # --quick keeps the two ResNet-50/DenseNet-121-sized ones (resnet.yaml is ResNet-50).
    specs += [p for p in imagenet if p.stem in ("resnet", "densenet")] if args.quick else imagenet
    report: dict = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "repeats": repeats,
    }
    if "import" in sections:
        from benchmarks import startup

        report["import"] = startup.section_import(run_once, repeats)
    if "check" in sections:
        report["check"] = section_check(specs, repeats)
    if "scaling" in sections:
        report["scaling"] = section_scaling(repeats, (100, 1_000, 10_000))
    if "export" in sections or "runtime" in sections:
        from benchmarks import runtime

        if "export" in sections:
            report["export"] = runtime.section_export(repeats, quick=args.quick)
        if "runtime" in sections:
            report["runtime"] = runtime.section_runtime(repeats, quick=args.quick)
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
