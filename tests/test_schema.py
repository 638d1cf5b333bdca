"""The JSON Schema for editors: shipped up to date, accepts every spec, rejects bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from archc.cli import app
from archc.editor_schema import spec_schema
from archc.spec.loader import load_yaml

ROOT = Path(__file__).parent.parent
SHIPPED = ROOT / "archc" / "schema.json"
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SHIPPED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_shipped_schema_is_generated_from_the_models():
    # Regenerate with: archc schema > archc/schema.json
    assert json.loads(SHIPPED.read_text()) == spec_schema()


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_bundled_spec_validates_and_carries_the_modeline(validator, path):
    text = path.read_text()
    assert list(validator.iter_errors(load_yaml(text, str(path)))) == []
    modeline = text.splitlines()[0]
    assert modeline.startswith("# yaml-language-server: $schema=")
    target = (path.parent / modeline.split("$schema=", 1)[1]).resolve()
    assert target == SHIPPED.resolve()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ("- conv2d: {out_channel: 3, kernel_size: 1}", ["body", 0]),  # misspelt field
        ("- conv2d: {out_channels: 3, kernel_size: 1, padding: vaild}", ["body", 0]),
        ("- maxpool2d: {kernel_size: 0}", ["body", 0]),  # out of range
        ("- conv2d: {out_channels: 3}\n    name: x", ["body", 0]),  # two keys in one item
        ("- add: {branches: [[]]}", ["body", 0]),  # one branch
        ("- conv4d: {out_channels: 8, kernel_size: 3}", ["body", 0]),  # no such op
        ("- batchnorm2e", ["body", 0]),
        ("- Conv2d: {out_channels: 8, kernel_size: 3}", ["body", 0]),  # another case
        ("- ReLU", ["body", 0]),
        ("- maxpool4d: {kernel_size: 2}", ["body", 0]),
        ("- conv3d: {out_channels: 8, kernel_size: [3, 3]}", ["body", 0]),  # a list per axis
        ("- conv-2d: {out_channels: 8}", ["body", 0]),  # not a name at all
        ("- repeat: {times: 2, body: [conv4d: {out_channels: 8}]}", ["body", 0]),  # nested
    ],
)
def test_known_bad_specs_fail_the_schema(validator, body, path):
    text = f"archc: 1\nname: bad\ninput: [N, 1, 8, 8]\nbody:\n  {body}\n"
    errors = list(validator.iter_errors(load_yaml(text, "bad.yaml")))
    assert errors
    assert [list(e.absolute_path)[:2] for e in errors] == [path] * len(errors)


def test_expressions_are_accepted_where_numbers_are():
    text = (
        "archc: 1\nname: e\ninput: [N, 1, 8, 8]\nparams: {w: 4}\n"
        "body:\n  - conv2d: {out_channels: $w * 2, kernel_size: 3, groups: in.channels}\n"
    )
    validator = jsonschema.Draft202012Validator(spec_schema())
    assert list(validator.iter_errors(load_yaml(text, "e.yaml"))) == []


@pytest.mark.parametrize(
    "item",
    ["- conv_bn_relu: {out: 8}", "- convblock", "- relu_block", "- stage2: {depth: 3}"],
)
def test_block_calls_are_not_taken_for_unknown_ops(validator, item):
    text = f"archc: 1\nname: ok\ninput: [N, 1, 8, 8]\nbody:\n  {item}\n"
    assert list(validator.iter_errors(load_yaml(text, "ok.yaml"))) == []


def _properties(schema, where=()):
    """Every (path, schema) of a named property anywhere in `schema`."""
    if isinstance(schema, dict):
        for name, prop in schema.get("properties", {}).items():
            yield (*where, name), prop
        for key, value in schema.items():
            yield from _properties(value, (*where, key))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _properties(value, (*where, index))


def test_every_field_is_documented():
    schema = spec_schema()
    undocumented = [path for path, prop in _properties(schema) if not prop.get("description")]
    assert undocumented == []
    titled = [path for path, prop in _properties(schema) if "title" in prop]
    assert titled == []  # a title is only the name again: editors show the description
    conv = schema["$defs"]["item"]["anyOf"][1]["properties"]["conv2d"]["anyOf"][1]
    assert conv["properties"]["padding"]["description"].startswith("zeros added on each side")


def test_new_points_its_modeline_at_a_schema_in_the_repository(tmp_path, monkeypatch):
    repository = tmp_path / "project"
    (repository / ".git").mkdir(parents=True)
    (repository / "specs" / "small").mkdir(parents=True)
    monkeypatch.chdir(repository / "specs" / "small")
    result = CliRunner().invoke(app, ["new", "mynet"])
    assert result.exit_code == 0, result.output
    text = Path("mynet.yaml").read_text()
    modeline = text.splitlines()[0]
    assert modeline == "# yaml-language-server: $schema=../../archc.schema.json"
    written = repository / "archc.schema.json"
    assert json.loads(written.read_text()) == spec_schema()
    validator = jsonschema.Draft202012Validator(json.loads(written.read_text()))
    assert list(validator.iter_errors(load_yaml(text, "mynet.yaml"))) == []
    # A second spec points at the same schema, which is left as it is.
    written.write_text("{}")
    assert CliRunner().invoke(app, ["new", "other", "-o", "../other.yaml"]).exit_code == 0
    assert (
        (repository / "specs" / "other.yaml")
        .read_text()
        .splitlines()[0]
        .endswith("$schema=../archc.schema.json")
    )
    assert written.read_text() == "{}"


def test_schema_writes_a_file(tmp_path):
    target = tmp_path / "archc.schema.json"
    result = CliRunner().invoke(app, ["schema", "-o", str(target)])
    assert result.exit_code == 0
    assert json.loads(target.read_text()) == spec_schema()
