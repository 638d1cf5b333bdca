"""The JSON Schema of spec files, generated from the same models the checker validates with.

Editors with the YAML language server read it (through the modeline
`# yaml-language-server: $schema=...` at the top of a spec) for completion, hover docs and
red squiggles. It describes structure only: shapes, channel agreement and everything else that
needs the flowing tensor are `archc check`'s job. A field that takes a number also takes an
expression string (`$growth * 4`, `in.channels // 2`).

    archc schema > archc.editor_schema.json
"""

from __future__ import annotations

import copy
import re
from typing import Any

from archc.ops import OPS
from archc.ops.base import field_docs
from archc.spec.document import FORMAT_VERSION
from archc.spec.expand import STRUCTURAL, structural_summary

EXPRESSION = {
    "type": "string",
    "pattern": r"\$|(^|[^A-Za-z0-9_$.])(in|input)\.",
    "description": "an expression: `$name`, `in.channels`, `input.height`, integer arithmetic",
}
# The fields every item may carry, besides its own.
COMMON_FIELDS = {
    "name": {
        "type": "string",
        "pattern": r"^([A-Za-z_]|\{[^{}]*\})([A-Za-z0-9_]|\{[^{}]*\})*$",
        "description": "the item's path segment (its state_dict key and ONNX node name), and a "
        "target for `ref`; unnamed items are numbered; `{expression}` parts are evaluated "
        "(`layer{$i + 1}`)",
    },
    "if": {
        "anyOf": [{"type": "boolean"}, EXPRESSION],
        "description": "include the item only when this is true: `$stride != 1`",
    },
}
# A group's field: its items are named as if written in the enclosing body.
INLINE = {
    "anyOf": [{"type": "boolean"}, EXPRESSION],
    "description": "add no path segment to module names (state_dict keys, ONNX nodes)",
}
# The top-level keys of a spec, and what each holds.
TOP_LEVEL = {
    "archc": "the format version: `archc: 1` (a YAML file is a spec when it has this key)",
    "name": "the network's name",
    "description": "what the network is, in words",
    "input": "the input shape, batch first: `[N, 3, 224, 224]`; names are symbolic dims",
    "params": "spec-level parameters, read as `$name` and overridden with `--set name=value`",
    "blocks": "reusable blocks: each with typed `args` and a `body`, called like an op",
    "body": "the network: a list of items (ops, block calls, `seq`, `repeat`, merges, `ref`)",
    "outputs": "the network's outputs, items named in the body, in order: `[p3, p4, p5]` "
    "(without it, the end of the body)",
}
_ITEM = {"$ref": "#/$defs/item"}
_BODY = {"type": "array", "items": _ITEM}
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"


def describe(text: str | None) -> str:
    """A field's description on one line, as a docstring or `Field(description=...)` gives it."""
    return " ".join((text or "").split())


def _field(prop: dict) -> dict:
    """A field's schema, its description and default at the top (where editors show them), its
    title (the name again) dropped; a field that is not a string also takes an expression."""
    rest = {k: v for k, v in prop.items() if k not in ("title", "description", "default")}
    outer = {"description": describe(prop.get("description"))}
    if "default" in prop:
        outer["default"] = prop["default"]
    if rest.get("type") == "string":
        return {**rest, **outer}
    return {"anyOf": [_items_are_items(rest), EXPRESSION], **outer}


def _items_are_items(schema: Any) -> Any:
    """`schema` with every list of anything (`list[Any]`, a body) made a list of items."""
    if isinstance(schema, dict):
        if schema.get("type") == "array" and schema.get("items") == {}:
            return {**schema, "items": _ITEM}
        return {k: _items_are_items(v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_items_are_items(v) for v in schema]
    return schema


def model_schema(model, summary: str) -> tuple[dict, dict]:
    """The schema of an op's or a structural item's fields, and the `$defs` it needs."""
    raw = copy.deepcopy(model.model_json_schema(mode="validation"))
    defs = raw.pop("$defs", {})
    if raw.get("type") == "string":  # `ref: name`
        return {
            "anyOf": [{"type": "string", "pattern": _IDENTIFIER}, EXPRESSION],
            "description": summary,
        }, defs
    docs = field_docs(model)
    properties = {
        name: _field({**prop, "description": docs[name]} if name in docs else prop)
        for name, prop in raw.get("properties", {}).items()
    }
    schema = {
        "type": "object",
        "description": summary,
        "properties": {**properties, **COMMON_FIELDS},
        "additionalProperties": False,
    }
    if raw.get("required"):
        schema["required"] = raw["required"]
    return schema, defs


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def near_misses() -> str:
    """A pattern matching names that look like an op but are none: another case (`Conv2d`,
    `ReLU`), or an op's family with another suffix (`conv3d`, `batchnorm2e`, `maxpool1d`).
    An item named so is flagged by the schema; the checker says what it is."""
    names = sorted({*OPS, *STRUCTURAL})
    families = sorted({re.sub(r"[0-9]+d?$", "", name) for name in names} - {""})
    exact = "|".join(map(re.escape, names))
    alike = "|".join(map(_any_case, names))
    suffixed = "|".join(map(_any_case, families))
    return rf"^(?!(?:{exact})$)(?:{alike}|(?:{suffixed})[0-9][A-Za-z0-9]?)$"


def spec_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an archc spec file."""
    defs: dict[str, Any] = {}
    heads: dict[str, Any] = {}
    for kind, cls in sorted(OPS.items()):
        if kind in STRUCTURAL:
            continue  # a merge is written with branches: among the structural items
        schema, needed = model_schema(cls, cls.summary)
        defs.update(needed)
        heads[kind] = {"anyOf": [{"type": "null"}, schema], "description": cls.summary}
    for keyword, model in STRUCTURAL.items():
        heads[keyword], needed = model_schema(model, structural_summary(keyword))
        defs.update(needed)
        properties = heads[keyword].get("properties", {})
        if keyword in ("repeat", "assert"):  # spliced in place: no path segment of their own
            properties.pop("name", None)
        elif {"body", "branches"} & model.model_fields.keys():
            properties["inline"] = INLINE
        if keyword in OPS:  # a merge's own fields (concat's `dim`)
            own, needed = model_schema(OPS[keyword], structural_summary(keyword))
            defs.update(needed)
            properties.update(own.get("properties", {}))
    near = near_misses()
    defs["item"] = {
        "anyOf": [
            {
                "type": "string",
                "pattern": _IDENTIFIER,
                "not": {"pattern": near},
                "description": "an op without fields, or a block without arguments",
            },
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": heads,
                # Block names are the spec's own, which a schema cannot read: any other
                # identifier may be a block call, but not a near miss of an op.
                "patternProperties": {near: False},
                "propertyNames": {"pattern": _IDENTIFIER},
                "additionalProperties": {
                    "type": ["object", "null"],
                    "description": "a call of a block defined under `blocks:`",
                },
            },
        ]
    }
    arg_type = {
        "type": "string",
        "pattern": r"^\s*(int|float|bool|str|list)(\s*\|\s*(int|float|bool|str|list))*\s*$",
        "description": "the argument's type: `int`, `float`, `bool`, `str`, `list`, or a union: "
        "`int | list`",
    }
    arg = {
        "anyOf": [
            arg_type,
            {
                "type": "object",
                "properties": {
                    "type": arg_type,
                    "default": {"description": "the value when a call does not give one"},
                    "description": {"type": "string", "description": "what the argument is"},
                },
                "required": ["type"],
                "additionalProperties": False,
            },
        ],
        "description": "an argument, read as `$name` in the body: a type, or `{type, default}`",
    }
    block = {
        "type": "object",
        "description": "a block: called as an item, `- name: {arg: value}`",
        "properties": {
            "description": {"type": "string", "description": "what the block is, in words"},
            "args": {
                "type": "object",
                "description": "the block's typed arguments",
                "propertyNames": {"pattern": _IDENTIFIER},
                "additionalProperties": arg,
            },
            "body": {**_BODY, "description": "the block's items"},
        },
        "required": ["body"],
        "additionalProperties": False,
    }
    properties = {
        "archc": {"const": FORMAT_VERSION},
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "input": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "string", "pattern": _IDENTIFIER},
                ]
            },
            "minItems": 2,
            "maxItems": 5,
        },
        "params": {"type": "object", "propertyNames": {"pattern": _IDENTIFIER}},
        "blocks": {
            "type": "object",
            "propertyNames": {"pattern": _IDENTIFIER},
            "additionalProperties": block,
        },
        "body": {**_BODY, "minItems": 1},
        "outputs": {
            "type": "array",
            "items": {"type": "string", "pattern": _IDENTIFIER},
            "minItems": 1,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://archc.dev/schema/spec-v1.json",
        "title": "archc spec",
        "description": "A network for archc: `archc check` proves its shapes; `archc export` "
        "writes it as ONNX.",
        "type": "object",
        "properties": {
            key: {**schema, "description": TOP_LEVEL[key]} for key, schema in properties.items()
        },
        "required": ["archc", "name", "input", "body"],
        "additionalProperties": False,
        "$defs": defs,
    }
