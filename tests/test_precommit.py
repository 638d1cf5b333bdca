"""The pre-commit hook works as users wire it: `pre-commit try-repo` against this repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.skipif(shutil.which("pre-commit") is None, reason="needs pre-commit")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A git repository holding one good and one bad spec, and a pre-commit home of its own."""
    repo = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "specs" / "lenet.yaml", repo / "lenet.yaml")
    shutil.copy(ROOT / "specs" / "seed-listings" / "alexnet_listing.yaml", repo / "listing.yaml")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    return repo, tmp_path_factory.mktemp("pre-commit-home")


def try_repo(project, *files: str) -> subprocess.CompletedProcess:
    repo, home = project
    return subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "archc-check", "--files", *files],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "PRE_COMMIT_HOME": str(home)},
        timeout=600,
    )


def test_hook_passes_a_good_spec(project):
    result = try_repo(project, "lenet.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_hook_fails_a_bad_spec_at_its_line(project):
    result = try_repo(project, "listing.yaml")
    assert result.returncode == 1
    assert "--> listing.yaml:25:11" in result.stdout
