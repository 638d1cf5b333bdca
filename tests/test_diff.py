"""`archc diff`: layer-by-layer and total differences between specs and `--set` variants."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
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


def _lcs(a: list, b: list) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            same = table[i][j] + 1 if x == y else 0
            table[i + 1][j + 1] = max(same, table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@given(
    st.lists(st.integers(0, 25), unique=True, max_size=18),
    st.lists(st.integers(0, 25), unique=True, max_size=18),
)
def test_alignment_is_a_longest_common_subsequence_covering_both_sides(a, b):
    from archc.diff import _opcodes

    ops = _opcodes(a, b)
    i = j = 0
    for tag, i1, i2, j1, j2 in ops:
        assert (i1, j1) == (i, j)
        if tag == "equal":
            assert a[i1:i2] == b[j1:j2]
        i, j = i2, j2
    assert (i, j) == (len(a), len(b))
    assert sum(i2 - i1 for tag, i1, i2, _, _ in ops if tag == "equal") == _lcs(a, b)


def test_differently_named_long_networks_align_on_their_ops(tmp_path):
    # Aligned on op names (paths differ): the n-th conv2d pairs with the n-th conv2d. A matcher
    # quadratic or worse in repeated names took minutes here.
    conv = "- conv2d: {out_channels: 4, kernel_size: 1}"
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(
        "archc: 1\nname: a\ninput: [1, 4, 8, 8]\nbody:\n"
        f"  - repeat:\n      times: 500\n      body:\n        {conv}\n        - relu\n"
    )
    b.write_text(
        "archc: 1\nname: b\ninput: [1, 4, 8, 8]\nbody:\n  - seq:\n      name: trunk\n"
        "      body:\n        - repeat:\n            times: 500\n            body:\n"
        f"              {conv}\n              - sigmoid\n"
    )
    changes = diff_results(check_file(a), check_file(b))["changes"]
    kinds = {(c["change"], (c["a"] or c["b"])["op"]) for c in changes}
    assert kinds == {("removed", "relu"), ("added", "sigmoid")}
    assert len(changes) == 1000
