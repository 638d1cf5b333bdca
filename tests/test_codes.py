"""The registry of diagnostic codes: discovered, unique, and each code's kind as documented.

A code's kind decides the exit status of every error that carries it, whatever exception class
raises it; these tests hold the kinds to what the docs and the explanations promise, and run
the command line where a class and a kind once disagreed (`missing-dependency`).
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archc.codes
from archc.cli import app
from archc.codes import CODES, Code, CommandExample, registry, stages
from archc.diagnostics import ArchcError, Diagnostic, SpecError, UsageError
from tests.conftest import ROOT

LENET = ROOT / "specs" / "lenet.yaml"


def _stage(name: str, *codes: Code) -> types.ModuleType:
    module = types.ModuleType(name)
    module.STAGE, module.CODES = 1, list(codes)
    return module


def _code(name: str) -> Code:
    return Code(name, "A summary.", "An explanation.", CommandExample("archc a", "archc b"))


# The registry --------------------------------------------------------------------------------


def test_registry_refuses_a_name_defined_twice():
    with pytest.raises(ValueError, match="`twice` is defined twice: in a and in b"):
        registry([_stage("a", _code("twice")), _stage("b", _code("other"), _code("twice"))])
    with pytest.raises(ValueError, match="in a and in a"):
        registry([_stage("a", _code("twice"), _code("twice"))])
    assert list(registry([_stage("a", _code("one")), _stage("b", _code("two"))])) == ["one", "two"]


def test_every_module_of_the_package_is_a_stage():
    """Discovery finds each file of archc/codes/, so a new stage needs no import list."""
    folder = Path(archc.codes.__file__).parent
    files = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    found = stages()
    assert {m.__name__.rpartition(".")[2] for m in found} == files
    assert [m.STAGE for m in found] == sorted({m.STAGE for m in found}), "STAGE not unique"
    assert sum(len(m.CODES) for m in found) == len(CODES)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"name": "Channel_Mismatch"}, "kebab-case"),
        ({"severity": "fatal"}, "severity"),
        ({"kind": "bug"}, "kind"),
    ],
)
def test_a_code_refuses_a_bad_name_severity_or_kind(fields, why):
    base = {"name": "x", "summary": "S.", "explanation": "E.", "example": CommandExample("a", "b")}
    with pytest.raises(ValueError, match=why):
        Code(**{**base, **fields})


def test_a_diagnostic_takes_its_severity_from_its_code():
    assert Diagnostic("lossy-downsampling", "m", "f.yaml").severity == "warning"
    assert Diagnostic("channel-mismatch", "m", "f.yaml").severity == "error"
    with pytest.raises(ValueError, match="unregistered diagnostic code 'no-such-code'"):
        Diagnostic("no-such-code", "m", "f.yaml")


# Kinds and exit codes ------------------------------------------------------------------------


def test_the_kinds_of_its_codes_decide_an_errors_exit_code():
    spec, usage, export = (
        Diagnostic(code, "m", "f.yaml")
        for code in ("channel-mismatch", "missing-dependency", "export-failed")
    )
    assert SpecError([spec]).exit_code == 1
    assert ArchcError([export]).exit_code == 1
    assert ArchcError([usage]).exit_code == 2
    assert SpecError([spec, usage]).exit_code == 2  # any usage error makes it one
    assert UsageError([spec]).exit_code == 1  # the class does not decide


@pytest.mark.parametrize("code", sorted(CODES))
def test_an_explanation_promises_exit_2_exactly_for_usage_codes(code: str):
    text = " ".join(CODES[code].explanation.split())
    promises = bool(re.search(r"\bexits? 2\b", text))
    assert promises == (CODES[code].kind == "usage"), (code, CODES[code].kind)
    assert not re.search(r"\bexits? [013-9]\b", text), code


def _exit_table(markdown: str) -> dict[str, int]:
    """docs/export.md's `| exit | when | codes |` rows: each code with the exit it lists."""
    table = {}
    for status, codes in re.findall(r"^\| (\d+) \|[^|]*\| ([^|]*) \|$", markdown, re.M):
        for code in re.findall(r"`([a-z-]+)`", codes):
            table[code] = int(status)
    return table


def test_the_export_docs_list_each_code_with_its_kinds_exit_code():
    table = _exit_table((ROOT / "docs" / "export.md").read_text("utf-8"))
    assert len(table) >= 8, table
    wrong = {code: status for code, status in table.items() if CODES[code].exit_code != status}
    assert not wrong, f"docs/export.md and the codes' kinds disagree: {wrong}"
    not_from_a_spec = {name for name, code in CODES.items() if code.kind != "spec"}
    assert set(table) == not_from_a_spec, "docs/export.md lists other codes than the registry"


def test_the_documented_warnings_are_the_warning_codes():
    text = (ROOT / "docs" / "analysis.md").read_text("utf-8")
    section = text.split("\n## Warnings\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^- `([a-z-]+)`", section, re.M))
    assert documented == {name for name, code in CODES.items() if code.severity == "warning"}


@pytest.mark.parametrize("missing", ["torch", "onnxruntime"])
@pytest.mark.parametrize("format", ["text", "json"])
def test_export_without_a_dependency_exits_2(missing, format, tmp_path, monkeypatch):
    """`archc export --help`, docs/export.md and `archc explain` promise exit 2."""
    if missing != "torch":
        pytest.importorskip("torch")
        pytest.importorskip("onnx")
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import NAME` fail
    out = tmp_path / "lenet.onnx"
    result = CliRunner().invoke(app, ["export", str(LENET), "-o", str(out), "--format", format])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error[missing-dependency]: "), result.stderr
    assert f"`{missing}`" in result.stderr and "archc[export]" in result.stderr
    if format == "json":
        document = json.loads(result.stdout)
        assert document["ok"] is False
        assert [d["code"] for d in document["diagnostics"]] == ["missing-dependency"]
        assert document["diagnostics"][0]["severity"] == "error"
    assert not out.exists()
