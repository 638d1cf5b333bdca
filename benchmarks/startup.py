"""Start-up benchmark (the `import` section of benchmarks/run.py): what importing archc and the
check path costs a whole process, next to a bare interpreter in the same run, and which
packages that time goes to (`-X importtime`).

Start-up is most of a small `archc check` (a bare interpreter and the imports against ~60 ms of
work for ResNet-50), so the check path's import is a target of its own: <= 150 ms over a bare
interpreter. The check path is found by running `archc check`, not written down, so that it
follows the code: it is every archc module the command loads, imported in the same order.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 150
TOP = 8

# Prepended to the code a process runs: at exit, it writes the names of the loaded modules.
_RECORD = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(list(sys.modules))))
"""
_CHECK = """
from archc.cli import main
sys.argv = ["archc", "check", *sys.argv[1:]]
main()
"""


def loaded_modules(code: str, *args: str) -> list[str]:
    """The modules a process running `code` with `args` has loaded at exit, in load order."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "modules.json"
        subprocess.run(
            [sys.executable, "-c", _RECORD + code, str(out), *args],
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
            check=False,  # `archc check` exits 1 on a spec with errors; the modules are there
        )
        return json.loads(out.read_text())


def check_path(spec: Path) -> tuple[list[str], int, int]:
    """The archc modules `archc check SPEC` loads, in load order; how many modules the check
    loads beyond a bare interpreter; and how many of those importing the archc modules loads
    (the rest are imported lazily, while checking)."""
    bare = set(loaded_modules(""))
    checked = [m for m in loaded_modules(_CHECK, str(spec)) if m not in bare]
    ours = [m for m in checked if m == "archc" or m.startswith("archc.")]
    imported = set(loaded_modules(f"import {', '.join(ours)}"))
    return ours, len(checked), len(imported & set(checked))


def importtime(statement: str, runs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median self time in ms per top-level package, and per module, over `runs` runs of
    `-X importtime`; each sorted from the largest."""
    packages: dict[str, list[float]] = defaultdict(lambda: [0.0] * runs)
    modules: dict[str, list[float]] = defaultdict(lambda: [0.0] * runs)
    for run in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", statement],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stderr
        for line in stderr.splitlines():
            # "import time: self [us] | cumulative | imported package", then one line a module.
            fields = line.removeprefix("import time:").split("|")
            if len(fields) != 3 or not fields[0].strip().isdigit():
                continue
            module, self_ms = fields[2].strip(), int(fields[0]) / 1000
            packages[module.split(".")[0]][run] += self_ms
            modules[module][run] += self_ms

    def medians(times: dict[str, list[float]]) -> dict[str, float]:
        found = {name: statistics.median(values) for name, values in times.items()}
        return dict(sorted(found.items(), key=lambda item: -item[1]))

    return medians(packages), medians(modules)


def section_import(run_once: Callable[[list[str]], tuple[float, int]], repeats: int) -> dict:
    """Whole-process wall time of a bare interpreter, `import archc` and the check path; the
    check path's import time per package. `run_once(argv)` gives (wall seconds, peak RSS)."""
    runs = repeats * 3  # a start-up is short: more runs for the same time
    modules, checked, covered = check_path(ROOT / "specs" / "lenet.yaml")
    statement = f"import {', '.join(modules)}"
    processes = {"bare": "pass", "archc": "import archc", "check_path": statement}
    times: dict[str, list[float]] = {name: [] for name in processes}
    # Round by round, so that the other load of a shared machine falls on all three alike.
    for round_ in range(runs + 1):
        for name, code in processes.items():
            wall, _ = run_once([sys.executable, "-c", code])
            if round_:  # the first round warms the caches
                times[name].append(wall)
    walls = {name: statistics.median(values) for name, values in times.items()}
    packages, per_module = importtime(statement, runs)
    result = {
        "runs": runs,
        "modules": modules,
        "check_loads": checked,
        "import_loads": covered,
        **{f"{name}_s": wall for name, wall in walls.items()},
        "archc_cost_s": walls["archc"] - walls["bare"],
        "check_path_cost_s": walls["check_path"] - walls["bare"],
        "archc_ratio": walls["archc"] / walls["bare"],
        "check_path_ratio": walls["check_path"] / walls["bare"],
        "importtime_ms": packages,
        "importtime_modules_ms": dict(list(per_module.items())[:TOP]),
    }
    print(f"  import: check path {result['check_path_cost_s'] * 1000:.0f} ms", file=sys.stderr)
    return {**result, "markdown": markdown(result)}


def markdown(result: dict) -> list[str]:
    ms = {k: v * 1000 for k, v in result.items() if k.endswith("_s")}
    verdict = "met" if ms["check_path_cost_s"] <= TARGET_MS else "missed"
    lines = [
        "## Start-up",
        "",
        f"Whole process, median of {result['runs']} interleaved runs after a warm-up. The check "
        f"path is the {len(result['modules'])} archc modules `archc check` loads; importing "
        f"them loads {result['import_loads']} of the {result['check_loads']} modules the check "
        "loads beyond a bare interpreter (the rest are imported while checking).",
        "",
        "| process | wall | over bare | × bare |",
        "|---|---:|---:|---:|",
        f"| `python -c pass` | {ms['bare_s']:.0f} ms | | 1.00 |",
        f"| `import archc` | {ms['archc_s']:.0f} ms | {ms['archc_cost_s']:.0f} ms | "
        f"{result['archc_ratio']:.2f} |",
        f"| the check path | {ms['check_path_s']:.0f} ms | {ms['check_path_cost_s']:.0f} ms | "
        f"{result['check_path_ratio']:.2f} |",
        "",
        f"Target: the check path ≤ {TARGET_MS} ms over a bare interpreter: **{verdict}**.",
        "",
    ]
    packages = result["importtime_ms"]
    total = sum(packages.values())
    lines += [
        f"`-X importtime` of the check path, self time by top-level package (median; in-process, "
        f"{total:.0f} ms in all):",
        "",
        "| package | self | share |",
        "|---|---:|---:|",
    ]
    for package, self_ms in list(packages.items())[:TOP]:
        lines.append(f"| {package} | {self_ms:.1f} ms | {self_ms / total:.0%} |")
    rest = sum(list(packages.values())[TOP:])
    lines += [
        f"| {len(packages) - TOP} others | {rest:.1f} ms | {rest / total:.0%} |",
        "",
        "The largest single modules, by self time:",
        "",
        "| module | self |",
        "|---|---:|",
    ]
    for module, self_ms in result["importtime_modules_ms"].items():
        lines.append(f"| {module} | {self_ms:.1f} ms |")
    return [*lines, ""]
