"""Every command — `archc check`, `export`, `graph` and `diff` — on the hostile-input corpus
(tests/hostile/): every case, as a subprocess.

For each command and case: the expected exit code (1 bad spec, 2 usage, 0 for the one that
must pass), exactly one rendered error with the expected code and `--> file:line:col` where the
error has a location, no traceback, and bounded resources: under 2 s of CPU time and 300 MB of
peak RSS, and under 2 s of wall time on an idle machine (the wall limit scales with the load
average, since on a shared 2-core machine other processes take the CPU; a hang is killed at
30 s). `export` and `graph` must also leave their output paths untouched: a file already there
keeps its bytes, and nothing else appears beside it. `diff` compares each case with a good spec.

CPU time is measured per child with `os.wait4`, so that cases can run two at a time. Peak RSS
is the child's own VmHWM, written at exit: `ru_maxrss` would count the pages of the (large)
pytest process the child was forked from.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from archc.api import check, check_file, load_text
from archc.diagnostics import SpecError
from archc.spec import expr, loader, state
from tests import hostile
from tests.conftest import ARCHC

# `archc` (tests/conftest.py's ARCHC), writing its peak RSS (VmHWM, KiB) at exit to the file
# named by $ARCHC_TEST_RSS.
MEASURED_ARCHC = [
    ARCHC[0],
    "-c",
    "import atexit, os\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as s, open(os.environ['ARCHC_TEST_RSS'], 'w') as out:\n"
    "        out.write(next(l for l in s if l.startswith('VmHWM')).split()[1])\n"
    "if os.path.exists('/proc/self/status'):\n"
    "    atexit.register(_peak)\n"
    "from archc.cli import main\n"
    "main()",
]

CPU_LIMIT_S = 2.0
WALL_LIMIT_S = 2.0
RSS_LIMIT_BYTES = 300 * 1024 * 1024
HANG_S = 30.0
PAYLOAD_MARKER = "archc-pwned"  # what the os.system payloads of the tag cases would write

ROOT = Path(__file__).parent.parent
CASES = hostile.cases()
COMMANDS = ("check", "export", "graph", "diff")
# Where a command answers a case differently from MANIFEST: (exit, code, line, column).
EXPECTED = {
    # check counts 10^15 parameters without allocating them; export refuses them statically.
    ("export", "terabyte_params.yaml"): (2, "over-budget", None, None),
    # export needs numeric sizes, so it refuses the symbolic input before any condition.
    ("export", "expression_symbolic_condition.yaml"): (2, "symbolic-input", None, None),
}
SENTINEL = b"an earlier export, which a failed one must leave alone\n"
GOOD = "good.yaml"  # what `diff` compares each case with
OUTPUTS = {"export": ".onnx", "graph": ".svg"}  # commands that write a file


@dataclass
class Run:
    exit: int
    stdout: str
    stderr: str
    wall: float
    cpu: float
    rss: int | None  # bytes; None where /proc is absent
    load: float  # load average per CPU while it ran


def measure(args: list[str], cwd: Path) -> Run:
    """Run a command; its exit code, output, and its own wall time, CPU time and peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        fd, rss_file = tempfile.mkstemp()
        os.close(fd)
        env = {**os.environ, "ARCHC_TEST_RSS": rss_file}
        start = time.perf_counter()
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        killer = threading.Timer(HANG_S, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak = Path(rss_file).read_text().strip()
        os.unlink(rss_file)
        return Run(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            wall,
            usage.ru_utime + usage.ru_stime,
            int(peak) * 1024 if peak else None,
            os.getloadavg()[0] / (os.cpu_count() or 1),
        )


def _args(command: str, case: hostile.Case) -> list[str]:
    if command == "export":
        return ["export", case.name, "-o", f"out/{case.name}.onnx", "--no-verify"]
    if command == "graph":
        return ["graph", case.name, "-o", f"out/{case.name}.svg"]
    if command == "diff":
        return ["diff", case.name, GOOD]
    return [command, case.name]


@pytest.fixture(scope="module")
def corpus_runs(tmp_path_factory) -> tuple[Path, dict[tuple[str, str], Run]]:
    """Every command on every case, two at a time, in one scratch folder."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "out").mkdir()
    (folder / GOOD).write_bytes((ROOT / "specs" / "lenet.yaml").read_bytes())
    for case in CASES:
        case.write(folder)
        for suffix in OUTPUTS.values():
            (folder / "out" / f"{case.name}{suffix}").write_bytes(SENTINEL)
    jobs = [(command, case) for command in COMMANDS for case in CASES]

    def run(job: tuple[str, hostile.Case]) -> Run:
        command, case = job
        return measure([*MEASURED_ARCHC, *_args(command, case)], folder)

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        runs = dict(zip(((c, case.name) for c, case in jobs), pool.map(run, jobs)))
    return folder, runs


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_answered_cleanly(command: str, case: hostile.Case, corpus_runs):
    folder, runs = corpus_runs
    run = runs[command, case.name]
    exit_code, code, line, column = EXPECTED.get(
        (command, case.name), (case.exit, case.code, case.line, case.column)
    )
    output = run.stdout + run.stderr
    assert run.exit == exit_code, f"exit {run.exit}, expected {exit_code}:\n{output[-3000:]}"
    assert "Traceback" not in output
    errors = re.findall(r"^error\[([a-z-]+)\]: (.+)$", output, re.MULTILINE)
    if code is None:
        assert errors == []
    else:
        assert [found for found, _ in errors] == [code], output[-3000:]
        assert errors[0][1].strip(), "an error without a message"
        where = re.findall(r"^\s*--> (.+)$", output, re.MULTILINE)
        if line is not None and case.column_at_least:
            assert len(where) == 1, output[-3000:]
            name, found_line, found_column = where[0].rsplit(":", 2)
            assert (name, int(found_line)) == (case.name, line)
            assert int(found_column) >= column
        elif line is not None:
            assert where == [f"{case.name}:{line}:{column}"]
        else:
            assert where in ([], [case.name])
    if command in OUTPUTS:
        written = (folder / "out" / f"{case.name}{OUTPUTS[command]}").read_bytes()
        assert (written == SENTINEL) == (exit_code != 0)
    if command == "export" and exit_code == 0:
        # A legal spec is exported for real: torch's import alone takes 2-3 s and 200 MB, so
        # the limits below are for refusals, which must come before it.
        return
    assert run.cpu < CPU_LIMIT_S, f"{run.cpu:.2f} s of CPU"
    if os.path.exists("/proc/self/status"):
        assert run.rss is not None, "the child did not report its peak RSS"
        assert run.rss < RSS_LIMIT_BYTES, f"peak RSS {run.rss / 2**20:.0f} MB"
    slack = max(1.0, run.load)
    assert run.wall < WALL_LIMIT_S * slack, f"{run.wall:.2f} s wall at load {run.load:.1f}/CPU"


def test_no_payload_ran_and_no_command_left_anything_behind(corpus_runs):
    folder, _ = corpus_runs
    assert not (folder / PAYLOAD_MARKER).exists()
    expected = {f"{case.name}{suffix}" for case in CASES for suffix in OUTPUTS.values()}
    assert {p.name for p in (folder / "out").iterdir()} == expected
    assert not (Path.cwd() / PAYLOAD_MARKER).exists()


def test_the_tag_payload_is_live(tmp_path, monkeypatch):
    """The control for test_no_payload_ran: PyYAML's unsafe loader does run the payload."""
    monkeypatch.chdir(tmp_path)
    text = (hostile.HERE / "tag_python_object_apply_top.yaml").read_text()
    yaml.unsafe_load(text)
    assert (tmp_path / PAYLOAD_MARKER).exists()


def test_a_terabyte_network_is_checked_not_allocated():
    # `check` never allocates weights, so it accepts the spec and reports the count; the
    # parameter budget that refuses it belongs to build and export.
    result = check_file(hostile.HERE / "terabyte_params.yaml")
    assert result.ok
    assert result.network.params == 3 * 32 * 32 * 10**9 + 10**9 + 10**9 * 10**6 + 10**6


def test_corpus_is_consistent():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    stored = {p.name for p in hostile.HERE.glob("*.yaml")}
    assert stored <= set(names), f"files missing from MANIFEST: {sorted(stored - set(names))}"
    for case in CASES:
        assert case.exit in (0, 1, 2) and (case.code is None) == (case.exit == 0)


# Limits (docs/limits.md): the clear error just past each, success at it -----------------------


_SPEC = "archc: 1\nname: limits\ninput: [N, 3, 8, 8]\n"


def _codes(text: str, tmp_path: Path | None = None) -> list[str]:
    """The diagnostic codes of checking `text` (from a file when `tmp_path` is given)."""
    if tmp_path is not None:
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        return [d.code for d in check_file(path).diagnostics]
    try:
        spec = load_text(text, "spec.yaml")
    except SpecError as exc:
        return [d.code for d in exc.diagnostics]
    return [d.code for d in check(spec).diagnostics]


def test_limit_file_size(tmp_path):
    body = _SPEC + "body: [relu]\n# "
    at_limit = body + "x" * (loader.MAX_FILE_BYTES - len(body) - 1) + "\n"
    assert len(at_limit.encode()) == loader.MAX_FILE_BYTES
    assert _codes(at_limit, tmp_path) == []
    assert _codes(at_limit + "\n", tmp_path) == ["file-too-large"]


def test_limit_nesting_depth():
    # The root mapping and `params` are two levels; `deep` holds the rest.
    def nested(levels: int) -> str:
        inner = levels - 2
        return _SPEC + "body: [relu]\nparams:\n  deep: " + "[" * inner + "]" * inner + "\n"

    assert _codes(nested(loader.MAX_DEPTH)) == []
    assert _codes(nested(loader.MAX_DEPTH + 1)) == ["too-deep"]


def test_limit_nodes_with_aliases():
    def spec(copies: int, extra: int) -> str:
        return (
            _SPEC
            + "body: [relu]\nparams:\n  a: &a ["
            + ", ".join(["0"] * 999)
            + "]\n  b: ["
            + ", ".join(["*a"] * copies)
            + "]\n  c: ["
            + ", ".join(["0"] * extra)
            + "]\n"
        )

    base = 1 + 1 + 1 + 5 + 2 + 1  # root, archc, name, input (list and 4 dims), body, params
    fixed = base + 1000 + 1 + 1  # `a`, `b` and `c` themselves
    copies = (loader.MAX_NODES - fixed) // 1000
    extra = loader.MAX_NODES - fixed - copies * 1000
    assert _codes(spec(copies, extra)) == []
    assert _codes(spec(copies, extra + 1)) == ["too-many-nodes"]


def test_limit_layers():
    def spec(times: int) -> str:
        return _SPEC + f"body:\n  - repeat: {{times: {times}, body: [relu]}}\n"

    assert _codes(spec(state.MAX_LAYERS)) == []
    assert _codes(spec(state.MAX_LAYERS + 1)) == ["too-many-layers"]


def test_limit_expansion_steps():
    # The repeat item is one step and each iteration one more; an empty body adds none.
    def spec(times: int) -> str:
        return _SPEC + f"body:\n  - relu\n  - repeat: {{times: {times}, body: []}}\n"

    assert _codes(spec(state.MAX_STEPS - 2)) == []
    assert _codes(spec(state.MAX_STEPS - 1)) == ["too-many-layers"]


def test_limit_expression_operations():
    condition = " + ".join(["$i"] * 12) + " < 0"
    per_item = expr.cost(condition)

    def spec(times: int) -> str:
        return (
            _SPEC + f'body:\n  - repeat: {{times: {times}, body: [relu: {{if: "{condition}"}}]}}\n'
        )

    times = state.MAX_OPERATIONS // per_item
    assert _codes(spec(times)) == []
    assert _codes(spec(times + 1)) == ["too-many-layers"]


def test_limit_integer_digits():
    def spec(digits: int) -> str:
        return _SPEC + "body: [relu]\nparams:\n  big: " + "9" * digits + "\n"

    assert _codes(spec(loader.MAX_INT_DIGITS)) == []
    assert _codes(spec(loader.MAX_INT_DIGITS + 1)) == ["bad-number"]


def test_limit_expression_length():
    def spec(length: int) -> str:
        text = "$w" + " + 0" * ((length - 2) // 4)
        text += " " * (length - len(text))
        assert len(text) == length
        return (
            _SPEC
            + f'params:\n  w: 4\nbody:\n  - conv2d: {{out_channels: "{text}", kernel_size: 1}}\n'
        )

    assert _codes(spec(expr.MAX_LENGTH)) == []
    assert _codes(spec(expr.MAX_LENGTH + 1)) == ["bad-expression"]


def test_limit_expression_values():
    assert expr.evaluate("2 ** 62", {}) == expr.MAX_MAGNITUDE
    with pytest.raises(expr.ExprError, match="out of range"):
        expr.evaluate("2 ** 62 + 1", {})
    assert len(expr.evaluate(f"[0] * {expr.MAX_SEQUENCE}", {})) == expr.MAX_SEQUENCE
    with pytest.raises(expr.ExprError, match="more than 10,000 items"):
        expr.evaluate(f"[0] * {expr.MAX_SEQUENCE + 1}", {})
