"""Where `archc graph` and `archc export` refuse to write, and what a signal leaves behind.

OUT is never the spec (by path, symlink or hard link), never a device or a FIFO; a legal OUT
name of 250 characters is written (the temporary beside it has a short name of its own); and
SIGTERM or SIGHUP during an export leaves OUT as it was and nothing beside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
LENET = ROOT / "specs" / "lenet.yaml"


def archc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "from archc.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env
    )


def codes(result: subprocess.CompletedProcess) -> list[str]:
    return [line.split("]")[0] + "]" for line in result.stderr.splitlines()]


def listing(folder: Path) -> dict[str, tuple[int, int, int, int]]:
    """Each entry's inode, type, size and modification time: what a write would change."""
    stats = {p.name: p.lstat() for p in folder.iterdir()}
    return {n: (s.st_ino, s.st_mode, s.st_size, s.st_mtime_ns) for n, s in stats.items()}


@pytest.fixture
def folder(tmp_path):
    shutil.copy(LENET, tmp_path / "net.svg")  # a spec whose name looks like a picture
    os.link(tmp_path / "net.svg", tmp_path / "hard.svg")
    (tmp_path / "link.svg").symlink_to("net.svg")
    os.mkfifo(tmp_path / "fifo.svg")
    (tmp_path / "null.svg").symlink_to(os.devnull)
    return tmp_path


@pytest.mark.parametrize("command", ["graph", "export"])
@pytest.mark.parametrize("out", ["net.svg", "hard.svg", "link.svg", "fifo.svg", "null.svg"])
def test_out_is_never_the_spec_a_device_or_a_fifo(folder, command, out):
    before = listing(folder)
    spec = (folder / "net.svg").read_bytes()
    result = archc(command, "net.svg", "-o", out, cwd=folder)
    assert (result.returncode, codes(result)) == (2, ["error[bad-output]"])
    assert (folder / "net.svg").read_bytes() == spec
    assert listing(folder) == before


@pytest.mark.parametrize(("command", "suffix"), [("graph", ".svg"), ("export", ".onnx")])
def test_a_250_character_out_is_written(tmp_path, command, suffix):
    out = "n" * (250 - len(suffix)) + suffix
    extra = ["--no-verify"] if command == "export" else []
    result = archc(command, str(LENET), "-o", out, *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [out]


# The exporter announces itself, then waits to be killed.
SLOW_EXPORT = """
import os, pathlib, sys, time
from archc.onnx_export import writer
def slow(*args, **kwargs):
    pathlib.Path(os.environ["ARCHC_TEST_READY"]).touch()  # stdout is silenced here
    time.sleep(60)
writer.run_exporter = slow
from archc.cli import main
main()
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_during_export_leaves_out_as_it_was(tmp_path, signum):
    out = tmp_path / "out" / "lenet.onnx"
    out.parent.mkdir()
    out.write_bytes(b"previous")
    ready = tmp_path / "ready"
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_EXPORT, "export", str(LENET), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ARCHC_TEST_READY": str(ready)},
    )
    deadline = time.monotonic() + 30
    while not ready.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists()
    assert len(list(out.parent.iterdir())) == 2  # the staging folder exists
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=30)
    assert child.returncode != 0
    assert "Traceback" not in stderr
    assert out.read_bytes() == b"previous"
    assert [p.name for p in out.parent.iterdir()] == ["lenet.onnx"]
