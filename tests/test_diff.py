"""`archc diff`: layer-by-layer and total differences between specs and `--set` variants."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from archc.api import check_file
from archc.cli import app
from archc.diff import diff_results

SPECS = Path(__file__).parent.parent / "specs"
runner = CliRunner()


def test_set_variant_adds_blocks_and_parameters():
    a = check_file(SPECS / "resnet18.yaml")
    b = check_file(SPECS / "resnet18.yaml", {"depths": [3, 4, 6, 3]})
    diff = diff_results(a, b)
    assert diff["ok"]
    assert diff["totals"]["params"]["delta"] == b.network.params - a.network.params
    added = [c["path"] for c in diff["changes"] if c["change"] == "added"]
    assert "resnet_block1.2.0.main.conv1" in added
    assert not any(c["change"] == "removed" for c in diff["changes"])


def test_identical_specs_have_no_changes():
    a = check_file(SPECS / "lenet.yaml")
    diff = diff_results(a, check_file(SPECS / "lenet.yaml"))
    assert diff["changes"] == []
    assert diff["totals"]["macs"]["delta"] == 0


def test_two_specs_align_on_ops_when_paths_differ():
    diff = diff_results(check_file(SPECS / "lenet.yaml"), check_file(SPECS / "lenet_bn.yaml"))
    assert [c["b"]["op"] for c in diff["changes"]] == ["batchnorm2d"] * 2 + ["batchnorm1d"] * 2
    assert all(c["change"] == "added" for c in diff["changes"])


def test_cli_json_and_exit_codes():
    result = runner.invoke(
        app, ["diff", str(SPECS / "unet.yaml"), "--set", "base=8", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["a"]["name"] == "unet" and document["b"]["overrides"] == {"base": "8"}
    changed = {c["path"]: c["fields"] for c in document["changes"]}
    assert changed["head"] == ["params", "macs"]
    assert document["totals"]["params"]["delta"] < 0
    # A variant that fails the check: exit 1; a missing file: exit 2.
    failing = runner.invoke(app, ["diff", str(SPECS / "lenet.yaml"), "--input", "1,1,64,64"])
    assert failing.exit_code == 1
    missing = runner.invoke(app, ["diff", str(SPECS / "nope.yaml")])
    assert missing.exit_code == 2


def test_cli_text_names_both_sides():
    result = runner.invoke(app, ["diff", str(SPECS / "resnet18.yaml"), "--set", "classes=100"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1].endswith("--set classes=100)")
    assert any(line.startswith("~ fc.1  ") for line in lines)
