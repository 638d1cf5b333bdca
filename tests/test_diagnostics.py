"""Diagnostics: bad specs with inline expectations, golden renderings, and typed API errors.

Bad specs (tests/bad/*.yaml)
----------------------------
Each file is a small spec that is wrong on purpose. The findings archc must report are written
on the offending line, as a trailing comment, the way mypy's check-*.test files do:

    - conv2d: {in_channels: 3, out_channels: 64, kernel_size: 3}  # E[channel-mismatch]:27

    E[CODE]:COL            an error with code CODE at this line, column COL (1-based, as
                           printed after `-->`)
    W[CODE]:COL            the same for a warning
    E[CODE]:COL "text"     ... and "text" occurs in its message or its help (as many quoted
                           strings as needed; only where the test is about the words, e.g.
                           the nearest-name hint)

A comment may hold several markers (`# E[wrong-type]:28 E[wrong-type]:46`); a marker written
twice expects the finding twice. The test asserts that the multiset of (line, column, severity,
code) that `archc check` reports is exactly the multiset of markers: a missing finding, an
extra one, or one reported again as a consequence of another all fail. Every bad spec has at
least one marker.

Golden files (tests/golden/*.txt)
---------------------------------
The rendered text of a few bad specs and the check tables of specs/lenet.yaml and
specs/densenet.yaml. After an intended change of output, regenerate them and review the diff:

    ARCHC_UPDATE_GOLDEN=1 python -m pytest tests/test_diagnostics.py
"""

from __future__ import annotations

import difflib
import os
import re
from collections import Counter
from pathlib import Path

import pytest

import archc
from archc.api import check_file
from archc.codes import CODES
from archc.diagnostics import Diagnostic, Note, Span, render
from archc.report import to_text
from tests.conftest import ROOT

BAD = ROOT / "tests" / "bad"
GOLDEN = ROOT / "tests" / "golden"

_MARKER = r'([EW])\[([a-z][a-z0-9-]*)\]:(\d+)((?:[ \t]+"[^"]*")*)'
_COMMENT = re.compile(r"(?:^|\s)#\s+((?:[EW]\[[^\]]*\]:\d+.*))$")
_MARKERS = re.compile(rf"\s*(?:{_MARKER}\s*)+")


def parse_markers(path: Path) -> tuple[Counter, list[tuple[tuple, list[str]]]]:
    """The expected findings of a bad spec: a Counter of (line, column, severity, code), and
    the texts some of them must contain."""
    expected: Counter = Counter()
    texts = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        comment = _COMMENT.search(line)
        if comment is None:
            continue
        body = comment.group(1)
        assert _MARKERS.fullmatch(body), f"{path.name}:{number}: malformed marker `{body}`"
        for kind, code, column, quoted in re.findall(_MARKER, body):
            key = (number, int(column), "error" if kind == "E" else "warning", code)
            expected[key] += 1
            wanted = re.findall(r'"([^"]*)"', quoted)
            if wanted:
                texts.append((key, wanted))
    return expected, texts


def findings(diagnostics: list[Diagnostic]) -> Counter:
    return Counter((d.line, d.column, d.severity, d.code) for d in diagnostics)


def _describe(keys) -> str:
    return "\n".join(f"    {line}:{col} {sev} [{code}]" for line, col, sev, code in sorted(keys))


BAD_SPECS = sorted(BAD.glob("*.yaml"))


@pytest.mark.parametrize("path", BAD_SPECS, ids=[p.stem for p in BAD_SPECS])
def test_bad_spec_reports_exactly_its_markers(path: Path, monkeypatch):
    monkeypatch.chdir(ROOT)
    relative = path.relative_to(ROOT)
    expected, texts = parse_markers(path)
    assert expected, f"{relative} has no `# E[code]:COL` marker"
    result = check_file(relative)
    actual = findings(result.diagnostics)
    missing, extra = expected - actual, actual - expected
    assert not missing and not extra, (
        f"{relative}:\n  expected but not reported:\n{_describe(missing.elements())}\n"
        f"  reported but not expected:\n{_describe(extra.elements())}"
    )
    for key, wanted in texts:
        candidates = [
            f"{d.message} {d.hint or ''}" for d in result.diagnostics if findings([d]).get(key)
        ]
        for text in wanted:
            assert any(text in c for c in candidates), (
                f"{relative}:{key}: no `{text}` in {candidates}"
            )
    for diag in result.diagnostics:
        assert diag.file == str(relative)
        assert diag.span is not None, f"{diag.code} has no location"
    assert not result.ok or all(sev == "warning" for _, _, sev, _ in expected)


def test_markers_are_parsed_strictly(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text('a: 1  # E[wrong-type]:4 E[wrong-type]:4 W[lossy-downsampling]:1 "x y" "z"\n')
    expected, texts = parse_markers(good)
    assert expected == Counter(
        {(1, 4, "error", "wrong-type"): 2, (1, 1, "warning", "lossy-downsampling"): 1}
    )
    assert texts == [((1, 1, "warning", "lossy-downsampling"), ["x y", "z"])]
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: 1  # E[wrong-type]:4 and some prose\n")
    with pytest.raises(AssertionError, match="malformed marker"):
        parse_markers(bad)


def _hostile_codes() -> set[str]:
    from tests import hostile

    return {case.code for case in hostile.cases() if case.code}


# Codes no spec given to `archc check` can trigger: a usage error (a path, an option, `--set`:
# tests/test_cli_check.py) or a failure of build or export (tests/test_export.py,
# tests/test_lower.py). Every other code needs a bad spec or a hostile case.
NOT_FROM_A_SPEC = {name for name, code in CODES.items() if code.kind != "spec"}


def test_every_code_has_a_bad_spec_or_hostile_case():
    covered = {code for path in BAD_SPECS for *_, code in parse_markers(path)[0]}
    covered |= _hostile_codes()
    uncovered = set(CODES) - covered - NOT_FROM_A_SPEC
    assert not uncovered, (
        f"codes without a test: {sorted(uncovered)}; add a small spec under tests/bad/ with a "
        "`# E[code]:COL` marker"
    )
    assert not covered & NOT_FROM_A_SPEC, "a spec triggers a usage or export code: its kind?"


def test_a_repeated_mistake_in_a_repeat_is_reported_once(tmp_path):
    spec = tmp_path / "spec.yaml"
    line = "  - repeat: {times: 50, body: [conv2d: {out_channels: 0, kernel_size: 1}]}"
    spec.write_text(f"archc: 1\nname: r\ninput: [N, 3, 8, 8]\nbody:\n{line}\n")
    column = line.index("out_channels: 0") + len("out_channels: ") + 1
    assert findings(check_file(spec).diagnostics) == Counter(
        {(5, column, "error", "out-of-range"): 1}
    )


# Golden files -------------------------------------------------------------------------------

UPDATE = bool(os.environ.get("ARCHC_UPDATE_GOLDEN"))


def assert_golden(name: str, actual: str) -> None:
    """Compare `actual` with tests/golden/NAME; ARCHC_UPDATE_GOLDEN=1 rewrites it instead."""
    path = GOLDEN / name
    shown = os.path.relpath(path, ROOT)
    actual = actual.rstrip("\n") + "\n"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, "utf-8")
        return
    if not path.exists():
        pytest.fail(
            f"golden file {shown} is missing; create it with "
            "`ARCHC_UPDATE_GOLDEN=1 python -m pytest tests/test_diagnostics.py` and review it"
        )
    expected = path.read_text("utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), actual.splitlines(True), str(path), "actual"
            )
        )
        pytest.fail(
            f"output differs from {shown}; if the change is intended, run "
            f"`ARCHC_UPDATE_GOLDEN=1 python -m pytest tests/test_diagnostics.py`\n{diff}"
        )


GOLDEN_SPECS = {
    "check_lenet.txt": "specs/lenet.yaml",
    "check_densenet.txt": "specs/densenet.yaml",
    "diag_channel_mismatch.txt": "tests/bad/channel_mismatch.yaml",
    "diag_recursive_block.txt": "tests/bad/recursive_block.yaml",
    "diag_spatial_collapse.txt": "tests/bad/spatial_collapse.yaml",
    "diag_yaml_syntax.txt": "tests/bad/yaml_syntax.yaml",
    "diag_many_errors.txt": "tests/bad/many_errors.yaml",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_golden_rendering(name: str, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert_golden(name, to_text([check_file(GOLDEN_SPECS[name])]))


def test_golden_missing_file_says_how_to_create_it(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}.GOLDEN", tmp_path)
    monkeypatch.setattr(f"{__name__}.UPDATE", False)
    with pytest.raises(pytest.fail.Exception, match="ARCHC_UPDATE_GOLDEN=1 python -m pytest"):
        assert_golden("nothing.txt", "text")


# Rendering ----------------------------------------------------------------------------------


def test_render_points_a_caret_under_the_value():
    source = "body:\n  - conv2d: {out_channels: 0, kernel_size: 3}\n"
    diag = Diagnostic("out-of-range", "too small", "x.yaml", Span(2, 28, 2, 29), hint="use 1")
    lines = render(diag, source).splitlines()
    assert lines[0] == "error[out-of-range]: too small"
    assert lines[1] == "  --> x.yaml:2:28"
    caret = lines[4]
    assert caret.index("^") - caret.index("|") - 2 == 27 and caret.count("^") == 1
    assert lines[-1] == "  = help: use 1"


def test_render_replaces_control_characters_in_the_snippet():
    source = "name: a\x00b\x1b[31m\n"
    text = render(Diagnostic("bad-encoding", "NUL", "x.yaml", Span.point(1, 8)), source)
    assert "\x00" not in text and "\x1b" not in text
    snippet, caret = text.splitlines()[3:5]
    assert snippet.index("\ufffd") == caret.index("^")


def test_render_without_location_or_source():
    diag = Diagnostic("file-unreadable", "cannot read x: no such file", "x.yaml")
    assert render(diag, None) == "error[file-unreadable]: cannot read x: no such file\n  --> x.yaml"


def test_json_form_of_a_diagnostic():
    call = Note("in block `b` called at g.yaml:7:3", "g.yaml", Span(7, 3, 7, 4))
    notes = (call, "valid for square inputs")  # a plain string is an unlocated note
    diag = Diagnostic("wrong-type", "m", "f.yaml", Span(3, 5, 3, 9), hint=None, notes=notes)
    assert diag.to_json() == {
        "severity": "error",
        "code": "wrong-type",
        "message": "m",
        "file": "f.yaml",
        "line": 3,
        "column": 5,
        "hint": None,
        "end_line": 3,
        "end_column": 9,
        "notes": [
            {
                "message": "in block `b` called at g.yaml:7:3",
                "file": "g.yaml",
                "line": 7,
                "column": 3,
                "end_line": 7,
                "end_column": 4,
            },
            {
                "message": "valid for square inputs",
                "file": "f.yaml",
                "line": 0,
                "column": 0,
                "end_line": 0,
                "end_column": 0,
            },
        ],
    }
    assert render(diag, None).splitlines()[2:] == [
        "  = note: in block `b` called at g.yaml:7:3",
        "  = note: valid for square inputs",
    ]


# Typed API errors ---------------------------------------------------------------------------


def test_load_raises_spec_error_with_diagnostics():
    with pytest.raises(archc.SpecError) as info:
        archc.load(BAD / "yaml_tag.yaml")
    assert isinstance(info.value, archc.ArchcError)
    assert [(d.code, d.line, d.column) for d in info.value.diagnostics] == [("yaml-tag", 2, 7)]
    assert str(info.value).startswith(f"{BAD / 'yaml_tag.yaml'}:2:7: ")


def test_load_raises_usage_error_for_a_missing_file(tmp_path):
    with pytest.raises(archc.UsageError) as info:
        archc.load(tmp_path / "absent.yaml")
    assert isinstance(info.value, archc.ArchcError)
    assert [d.code for d in info.value.diagnostics] == ["file-unreadable"]


def test_load_raises_usage_error_for_an_unknown_override():
    with pytest.raises(archc.UsageError) as info:
        archc.load(ROOT / "specs" / "lenet.yaml", overrides={"clases": 5})
    (diag,) = info.value.diagnostics
    assert diag.code == "unknown-param" and diag.hint == "did you mean `classes`?"
    assert diag.message.startswith("overrides['clases']: ")  # the API's argument, not --set


TYPED_PARAMS = """archc: 1
name: typed
input: [N, 3, 8, 8]
params: {width: 4, tag: abc, depths: [1, 1], bn: false}
body:
  - conv2d: {out_channels: $width, kernel_size: 1}
"""


def test_overrides_are_python_values_of_the_parameters_types():
    overrides = {"width": 8, "tag": "3", "depths": [2, 3], "bn": True}
    spec = archc.load_text(TYPED_PARAMS, "t.yaml", overrides)
    # A str stays a str: no YAML reading of the text `3` as a number.
    assert spec.params == {"width": 8, "tag": "3", "depths": [2, 3], "bn": True}
    assert archc.check(spec).output_shape[1:] == (8, 8, 8)


@pytest.mark.parametrize(
    "name, value",
    [("width", "8"), ("width", True), ("depths", "[2, 3]"), ("bn", "true"), ("width", None)],
)
def test_an_override_of_the_wrong_type_names_the_api_argument(name, value):
    with pytest.raises(archc.UsageError) as info:
        archc.load_text(TYPED_PARAMS, "t.yaml", {name: value})
    (diag,) = info.value.diagnostics
    assert diag.code == "bad-override"
    assert info.value.exit_code == 2
    assert diag.message.startswith(f"overrides[{name!r}]")


def test_load_collects_every_top_level_error():
    with pytest.raises(archc.SpecError) as info:
        archc.load_text("name: [1]\ninput: 3\n", "t.yaml")
    found = {(d.code, d.line, d.column) for d in info.value.diagnostics}
    assert found == {
        ("missing-field", 1, 1),
        ("wrong-type", 1, 7),
        ("wrong-type", 2, 8),
    }


def test_check_does_not_raise_but_reports():
    network = archc.check(archc.load(BAD / "channel_mismatch.yaml"))
    assert not network.ok
    assert [d.code for d in network.diagnostics] == ["channel-mismatch"] * 3


def test_build_raises_spec_error_for_a_failing_spec():
    spec = archc.load(BAD / "spatial_collapse.yaml")
    with pytest.raises(archc.SpecError) as info:
        archc.build(spec)
    assert [d.code for d in info.value.diagnostics] == ["spatial-collapse"]
