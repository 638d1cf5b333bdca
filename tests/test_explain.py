"""`archc explain`: every code has a long explanation, and every example still does what it says.

Each spec example is run through archc here, so an example can never go stale: it must produce
exactly its code (and nothing else), and its fix must check clean. The rendered diagnostic that
`archc explain` prints must be the one `archc check` prints for the same file.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from archc.api import check_file
from archc.cli import app
from archc.codes import CODES, EXAMPLE_FILE, CommandExample, SpecExample
from archc.diagnostics import render
from archc.explain import _text, diagnose, explain
from tests.test_diagnostics import NOT_FROM_A_SPEC

WARNINGS = {name for name, code in CODES.items() if code.severity == "warning"}
SPEC_EXAMPLES = sorted(c for c, code in CODES.items() if isinstance(code.example, SpecExample))
# A spec triggers file-too-large only past 512 KiB: no example to print, so a command line.
COMMAND_ONLY = set(NOT_FROM_A_SPEC) | {"file-too-large"}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_code_has_a_summary_an_explanation_and_an_example(code: str):
    entry = CODES[code]
    assert entry.name == code
    assert entry.summary.strip() and entry.summary.rstrip().endswith("."), code
    assert entry.explanation.strip(), code
    assert isinstance(entry.example, SpecExample | CommandExample), code


def test_every_code_a_spec_can_trigger_has_a_spec_example():
    wanting = sorted(set(CODES) - COMMAND_ONLY - set(SPEC_EXAMPLES))
    assert not wanting, f"give these a SpecExample, not a command line: {wanting}"


@pytest.mark.parametrize("code", sorted(CODES))
def test_explanation_is_three_to_eight_lines(code: str):
    lines = _text(CODES[code].explanation).splitlines()
    assert 3 <= len(lines) <= 8, f"{code}: {len(lines)} lines"


@pytest.mark.parametrize("code", SPEC_EXAMPLES)
def test_example_triggers_exactly_its_code(code: str):
    example = CODES[code].example
    if example.wrong:
        assert example.spec.count(example.wrong) == 1, f"{code}: `wrong` must occur once"
    diagnostics, _ = diagnose(example)
    assert [d.code for d in diagnostics] == [code]


@pytest.mark.parametrize("code", SPEC_EXAMPLES)
def test_fixed_example_checks_clean(code: str):
    example = CODES[code].example
    changed = (example.fixed, example.fixed_set, "utf-8")
    assert changed != (example.spec, example.set, example.encoding), (
        f"{code}: the fix changes nothing"
    )
    diagnostics, _ = diagnose(example, fixed=True)
    if code in WARNINGS:
        diagnostics = [d for d in diagnostics if d.severity == "error" or d.code == code]
    assert [(d.code, d.line, d.message) for d in diagnostics] == []


@pytest.mark.parametrize("code", [c for c in SPEC_EXAMPLES if not CODES[c].example.set])
def test_example_as_a_file_gives_the_same_findings(code: str, tmp_path, monkeypatch):
    """The live run (load_text + check) agrees with `check_file` on the same bytes."""
    example = CODES[code].example
    monkeypatch.chdir(tmp_path)
    (tmp_path / EXAMPLE_FILE).write_bytes(example.spec.encode(example.encoding))
    result = check_file(EXAMPLE_FILE)
    diagnostics, _ = diagnose(example)
    assert result.diagnostics == diagnostics


def test_command_examples_are_archc_command_lines():
    for code, entry in CODES.items():
        if isinstance(entry.example, CommandExample):
            assert code in COMMAND_ONLY, f"{code} can come from a spec: give a SpecExample"
            assert "archc " in entry.example.command and "archc " in entry.example.fixed


# The command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(CODES))
def test_explain_prints_the_long_form(code: str):
    status, out, _ = invoke("explain", code)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"{code}: {CODES[code].summary}"
    assert _text(CODES[code].explanation) in out
    assert any(line.startswith("Example") for line in lines)
    assert any(line.startswith("Fix") for line in lines)
    assert "stale" not in out


def test_explain_prints_what_archc_check_prints(tmp_path, monkeypatch):
    example = CODES["channel-mismatch"].example
    monkeypatch.chdir(tmp_path)
    (tmp_path / EXAMPLE_FILE).write_text(example.spec, "utf-8")
    status, checked, _ = invoke("check", EXAMPLE_FILE)
    assert status == 1
    diagnostics, source = diagnose(example)
    rendered = render(diagnostics[0], source)
    assert rendered in checked
    _, out, _ = invoke("explain", "channel-mismatch")
    assert textwrap.indent(rendered, "    ") in out
    assert textwrap.indent(example.fixed.rstrip("\n"), "    ") in out


def test_explain_shows_the_override_of_unknown_param():
    _, out, _ = invoke("explain", "unknown-param")
    assert "$ archc check example.yaml --set clases=5" in out
    assert "error[unknown-param]: --set clases" in out
    assert "$ archc check example.yaml --set classes=5" in out


def test_explain_without_a_code_lists_every_code():
    status, out, _ = invoke("explain")
    assert status == 0
    rows = [line.split(None, 1) for line in out.splitlines()]
    assert [code for code, _ in rows] == list(CODES)
    assert [" ".join(text.split()) for _, text in rows] == [
        " ".join(code.summary.split()) for code in CODES.values()
    ]


def test_explain_an_unknown_code_exits_2_with_the_nearest():
    status, out, err = invoke("explain", "chanel-mismatch")
    assert status == 2 and out == ""
    assert "did you mean `channel-mismatch`?" in err


def test_import_archc_and_check_do_not_load_explain(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("archc: 1\nname: s\ninput: [N, 1, 8, 8]\nbody: [relu]\n")
    script = (
        "import sys\n"
        "import archc\n"
        "from archc.cli import main\n"
        f"sys.argv = ['archc', 'check', {str(spec)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LOADED', 'archc.explain' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "LOADED False", result.stderr


def test_explain_is_plain_text():
    """No control characters reach the terminal, whatever the example holds."""
    for code in CODES:
        text = explain(code)
        assert not any(ord(c) < 32 and c != "\n" for c in text), code


def test_explain_suggests_across_case():
    code, _, err = invoke("explain", "CHANNEL-MISMATCH")
    assert code == 2
    assert "did you mean `channel-mismatch`?" in err
