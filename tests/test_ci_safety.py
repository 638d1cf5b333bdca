"""`archc check` in CI on specs from strangers: nothing from a spec or its path reaches the log
as a control character or as a line of its own (a GitHub workflow command), in any format, and
no file outside the checked folder is read through a symlink."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from archc.cli import app

# Line breaks, workflow commands, a colour, an OSC 8 link with BEL, a line separator, and a
# right-to-left override.
HOSTILE = (
    "x\n::error file=a.yaml,line=1::pwned\r\n::add-mask::secret\x1b[31mred"
    "\x1b]8;;http://e.test\x07link\x1b]8;;\x07\u2028::set-output name=a::b\u202e\x85"
)
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# archc's own annotations: the only lines that may start with `::`.
ANNOTATION = re.compile(
    r"::(error|warning) file=[^:,\n]*(,line=\d+,endLine=\d+,col=\d+,endColumn=\d+)?"
    r",title=archc [a-z-]+::"
)
FORMATS = ["text", "github", "sarif", "json"]


def yaml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML double-quoted scalar


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def assert_safe(output: str, format: str) -> None:
    assert not CONTROL.search(output), CONTROL.search(output)
    for line in output.split("\n"):
        if line.lstrip().startswith("::"):
            assert format == "github" and ANNOTATION.match(line), line


def spec(name: str = "ok", body: str = "[relu]") -> str:
    return f"archc: 1\nname: {yaml_string(name)}\ninput: [N, 3, 8, 8]\nbody: {body}\n"


@pytest.mark.parametrize("format", FORMATS)
def test_a_hostile_name_is_printed_escaped(tmp_path, format):
    (tmp_path / "net.yaml").write_text(spec(HOSTILE))
    code, output = run(str(tmp_path / "net.yaml"), "--format", format)
    assert code == 0
    assert_safe(output, format)


@pytest.mark.parametrize("format", FORMATS)
def test_a_name_that_is_a_workflow_command_does_not_start_a_line(tmp_path, format):
    (tmp_path / "net.yaml").write_text(spec("  ::add-mask::x"))
    code, output = run(str(tmp_path / "net.yaml"), "--format", format)
    assert code == 0
    assert_safe(output, format)


@pytest.mark.parametrize("format", FORMATS)
def test_messages_quoting_hostile_values_are_escaped(tmp_path, format):
    body = f"[{{{yaml_string(HOSTILE)}: {{}}}}, {{relu: {{{yaml_string(HOSTILE)}: 1}}}}]"
    (tmp_path / "net.yaml").write_text(spec(body=body))
    code, output = run(str(tmp_path / "net.yaml"), "--format", format)
    assert code == 1
    assert_safe(output, format)
    if format == "json":
        codes = [d["code"] for d in json.loads(output)["results"][0]["diagnostics"]]
        assert codes == ["unknown-op", "unknown-field"]


@pytest.mark.parametrize("format", FORMATS)
def test_hostile_file_names_are_escaped(tmp_path, format):
    folder = tmp_path / "specs"
    folder.mkdir()
    name = "a\n::error::pwned\x1b[31m\u2028"
    (folder / f"{name}.yaml").write_text(spec(body="[nope]"))
    (folder / f"{name}ok.yaml").write_text(spec())
    code, output = run(str(folder), "--format", format)
    assert code == 1
    assert_safe(output, format)
    code, output = run(str(folder / f"{name}.yaml"), "--format", format)
    assert code == 1
    assert_safe(output, format)


def test_a_missing_hostile_path_is_an_escaped_usage_error(tmp_path):
    code, output = run(str(tmp_path / "x\n::error::pwned\x1b[31m.yaml"))
    assert code == 2
    assert_safe(output, "text")


# Symlinks -----------------------------------------------------------------------------------

SECRET = "TOKEN=hunter2"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A checkout with specs/good.yaml, a link to it, and links to a secret outside it."""
    (tmp_path / "secret.txt").write_text(f"{SECRET}\n")
    root = tmp_path / "repo"
    specs = root / "specs"
    specs.mkdir(parents=True)
    (specs / "good.yaml").write_text(spec())
    (specs / "alias.yaml").symlink_to("good.yaml")
    monkeypatch.chdir(root)
    return root


def refused(*args: str) -> list[str]:
    """The codes of the usage error `check ARGS` exits with (2), and nothing of the secret."""
    code, output = run(*args, "--format", "json")
    assert code == 2 and SECRET not in output
    return re.findall(r"^error\[([a-z-]+)\]", output, re.M)


def test_symlinks_inside_the_checked_folder_are_read(repo):
    code, output = run("specs", "--format", "json")
    assert code == 0
    assert [r["file"] for r in json.loads(output)["results"]] == [
        "specs/alias.yaml",
        "specs/good.yaml",
    ]
    assert run("specs/alias.yaml")[0] == 0


@pytest.mark.parametrize("target", ["../../secret.txt", "/proc/self/environ"])
def test_a_symlink_out_of_the_checked_folder_is_not_read(repo, target):
    (repo / "specs" / "leak.yaml").symlink_to(target)
    assert refused("specs") == ["symlink-outside"]
    assert refused("specs/leak.yaml") == ["symlink-outside"]
    assert refused(str(repo / "specs" / "leak.yaml")) == ["symlink-outside"]


def test_a_symlink_out_of_a_subfolder_checked_is_refused_even_inside_the_checkout(repo):
    (repo / "other.yaml").write_text(spec())
    (repo / "specs" / "up.yaml").symlink_to("../other.yaml")
    assert refused("specs") == ["symlink-outside"]
    assert run("specs/up.yaml")[0] == 0  # a file argument: inside the current directory


def test_a_symlinked_folder_out_of_the_current_directory_is_refused(repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "leak.yaml").symlink_to(tmp_path / "secret.txt")
    (repo / "linked").symlink_to(outside)
    assert refused("linked") == ["symlink-outside"]
    assert refused("linked/leak.yaml") == ["symlink-outside"]


def test_follow_symlinks_reads_them(repo):
    (repo / "specs" / "leak.yaml").symlink_to("../../secret.txt")
    code, output = run("specs/leak.yaml", "--follow-symlinks", "--format", "json")
    assert code == 1
    assert [d["code"] for d in json.loads(output)["results"][0]["diagnostics"]] == ["not-a-mapping"]


@pytest.mark.parametrize(
    "command",
    [
        ["export", "specs/leak.yaml", "-o", "out.onnx", "--no-verify"],
        ["graph", "specs/leak.yaml", "-o", "out.svg"],
        ["diff", "specs/good.yaml", "specs/leak.yaml"],
    ],
)
def test_export_graph_and_diff_refuse_a_symlink_out_of_the_current_directory(repo, command):
    (repo / "specs" / "leak.yaml").symlink_to("../../secret.txt")
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2
    assert SECRET not in result.output
    assert re.findall(r"error\[([a-z-]+)\]", result.output) == ["symlink-outside"]
    assert not (repo / "out.onnx").exists() and not (repo / "out.svg").exists()
    followed = CliRunner().invoke(app, [*command, "--follow-symlinks"])
    assert followed.exit_code == 1  # read, and not a spec
