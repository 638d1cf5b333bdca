"""Shared test helpers: the repository root, and running the `archc` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The console script may belong to another interpreter; this one is the one under test.
ARCHC = [sys.executable, "-c", "from archc.cli import main; main()"]


@pytest.fixture
def run_archc():
    """Run `archc ARGS...` in a subprocess: `run_archc("check", path, cwd=...)`."""

    def run(*args, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*ARCHC, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=cwd or ROOT,
            timeout=timeout,
        )

    return run
