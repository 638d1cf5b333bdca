"""The pre-commit hook works as users wire it: `pre-commit try-repo` against this repository,
in a repository that also holds workflows and its own pre-commit config."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.skipif(shutil.which("pre-commit") is None, reason="needs pre-commit")


CONFIG = """\
repos:
  - repo: https://github.com/archc/archc
    rev: v0.1.0
    hooks: [{id: archc-check}]
"""
WORKFLOW = """\
name: ci
on: [push, pull_request]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: archc check specs/ --format sarif > archc.sarif
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A git repository holding a good and a bad spec, a workflow and its pre-commit config,
    and a pre-commit home of its own."""
    repo = tmp_path_factory.mktemp("project")
    shutil.copy(ROOT / "specs" / "lenet.yaml", repo / "lenet.yaml")
    shutil.copy(ROOT / "specs" / "seed-listings" / "alexnet_listing.yaml", repo / "listing.yaml")
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (repo / ".pre-commit-config.yaml").write_text(CONFIG)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    return repo, tmp_path_factory.mktemp("pre-commit-home")


def try_repo(project, *files: str) -> subprocess.CompletedProcess:
    """The hook on `files`, or on every file of the repository when none are named."""
    repo, home = project
    which = ["--files", *files] if files else ["--all-files"]
    return subprocess.run(
        ["pre-commit", "try-repo", str(ROOT), "archc-check", *which],
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


def test_hook_passes_beside_workflows_and_its_own_config(project):
    result = try_repo(project, "lenet.yaml", ".github/workflows/ci.yml", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_hook_passes_when_no_spec_changed(project):
    result = try_repo(project, ".github/workflows/ci.yml", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hook_blocks_a_bad_spec_among_every_file(project):
    result = try_repo(project)
    assert result.returncode == 1
    assert "--> listing.yaml:25:11" in result.stdout
    assert ".github" not in result.stdout and "pre-commit-config" not in result.stdout
