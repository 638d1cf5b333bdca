"""The JSON Schema for editors: shipped up to date, accepts every spec, rejects bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

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
