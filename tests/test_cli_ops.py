"""`archc ops`: every op and structural item, defaults as a spec writes them, text and JSON."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from archc.cli import app
from archc.ops import OPS
from archc.spec.expand import STRUCTURAL
from archc.spec.loader import load_yaml
from tests.conftest import ROOT


def ops(*args: str) -> str:
    result = CliRunner().invoke(app, ["ops", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_json_lists_every_op_and_every_structural_item():
    listing = json.loads(ops("--format", "json"))
    assert {op["name"] for op in listing["ops"]} == set(OPS) - set(STRUCTURAL)
    assert [item["name"] for item in listing["structural"]] == list(STRUCTURAL)
    assert {"repeat", "seq", "add", "concat", "mul", "ref"} <= set(STRUCTURAL)
    conv = next(op for op in listing["ops"] if op["name"] == "conv2d")
    fields = {f["name"]: f for f in conv["fields"]}
    assert fields["out_channels"]["required"] and fields["out_channels"]["default"] is None
    assert all(f["description"] for f in conv["fields"])


def test_defaults_are_written_as_yaml_that_reads_back_as_the_default():
    for entry in json.loads(ops("--format", "json"))["ops"]:
        for field in entry["fields"]:
            if field["required"]:
                continue
            written = load_yaml(f"value: {field['default']}", "default.yaml")["value"]
            default = OPS[entry["name"]].model_fields[field["name"]].default
            expected = list(default) if isinstance(default, tuple) else default
            assert written == expected, (entry["name"], field)


def test_text_lists_structural_items_and_shows_no_python_reprs():
    text = ops()
    assert "(0, 0)" not in text and "None" not in text and "'none'" not in text
    assert re.search(r"^      stride +default 1 ", text, re.MULTILINE)
    structural = text.split("structural items:\n", 1)[1]
    heads = re.findall(r"^  (\w+) ", structural, re.MULTILINE)
    assert heads == list(STRUCTURAL)


def test_every_output_names_an_op_by_the_name_a_spec_writes():
    result = CliRunner().invoke(app, ["check", str(ROOT / "specs" / "nin.yaml"), "-f", "json"])
    (spec,) = json.loads(result.stdout)["results"]
    written = set(re.findall(r"- (\w+)", (ROOT / "specs" / "nin.yaml").read_text())) & set(OPS)
    assert {layer["op"] for layer in spec["layers"]} == written
    assert "globalavgpool2d" in written
    table = CliRunner().invoke(app, ["check", str(ROOT / "specs" / "nin.yaml")]).stdout
    assert "adaptiveavgpool2d" not in table and "globalavgpool2d" in table
