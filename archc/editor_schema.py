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
from typing import Any

from archc.ops import OPS, Merge
from archc.spec.document import FORMAT_VERSION

EXPRESSION = {
    "type": "string",
    "pattern": r"\$|(^|[^A-Za-z0-9_$.])in\.",
    "description": "an expression: `$name`, `in.channels`, integer arithmetic",
}
_COMMON = {
    "name": {
        "type": "string",
        "pattern": r"^([A-Za-z_]|\{[^{}]*\})([A-Za-z0-9_]|\{[^{}]*\})*$",
        "description": "path segment; `{expression}` parts are evaluated (`layer{$i + 1}`)",
    },
    "if": {"anyOf": [{"type": "boolean"}, EXPRESSION], "description": "include only when true"},
}
_INLINE = {
    "anyOf": [{"type": "boolean"}, EXPRESSION],
    "description": "add no path segment to module names (state_dict keys, ONNX nodes)",
}
_ITEM = {"$ref": "#/$defs/item"}
_BODY = {"type": "array", "items": _ITEM}


def _accept_expressions(schema: dict) -> dict:
    return {"anyOf": [schema, EXPRESSION]} if schema.get("type") != "string" else schema


def op_schema(cls) -> tuple[dict, dict]:
    """The schema of one op's fields, and the `$defs` it needs."""
    raw = copy.deepcopy(cls.model_json_schema(mode="validation"))
    defs = raw.pop("$defs", {})
    properties = {
        name: _accept_expressions(prop) for name, prop in raw.get("properties", {}).items()
    }
    schema = {
        "type": "object",
        "description": cls.summary,
        "properties": {**properties, **_COMMON},
        "additionalProperties": False,
    }
    if raw.get("required"):
        schema["required"] = raw["required"]
    return schema, defs


def _structural() -> dict[str, dict]:
    branches = {
        "anyOf": [
            {"type": "object", "additionalProperties": _BODY, "minProperties": 2},
            {"type": "array", "items": _BODY, "minItems": 2},
        ]
    }
    merge = {
        "type": "object",
        "properties": {"branches": branches, **_COMMON, "inline": _INLINE},
        "required": ["branches"],
        "additionalProperties": False,
    }
    return {
        "repeat": {
            "type": "object",
            "description": "the body, spliced in `times` times, with an index variable",
            "properties": {
                "times": {"anyOf": [{"type": "integer", "minimum": 0}, EXPRESSION]},
                "index": {"type": "string"},
                "body": _BODY,
                "if": _COMMON["if"],
            },
            "required": ["times", "body"],
            "additionalProperties": False,
        },
        "seq": {
            "type": "object",
            "description": "a group of layers",
            "properties": {"body": _BODY, **_COMMON, "inline": _INLINE},
            "required": ["body"],
            "additionalProperties": False,
        },
        **{
            name: {**merge, "description": cls.summary}
            for name, cls in sorted(OPS.items())
            if issubclass(cls, Merge)
        },
        "ref": {"type": "string", "description": "continue from an earlier named output"},
    }


def spec_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of an archc spec file."""
    defs: dict[str, Any] = {}
    heads: dict[str, Any] = {}
    for kind, cls in sorted(OPS.items()):
        if issubclass(cls, Merge):
            continue  # written with branches: among the structural items
        schema, needed = op_schema(cls)
        defs.update(needed)
        heads[kind] = {"anyOf": [{"type": "null"}, schema], "description": cls.summary}
    heads.update(_structural())
    defs["item"] = {
        "anyOf": [
            {"type": "string", "description": "an op without fields, or a block without arguments"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "properties": heads,
                "additionalProperties": {
                    "type": ["object", "null"],
                    "description": "a call of a block defined under `blocks:`",
                },
            },
        ]
    }
    arg_type = {"enum": ["int", "float", "bool", "str", "list"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://archc.dev/schema/spec-v1.json",
        "title": "archc spec",
        "type": "object",
        "properties": {
            "archc": {"const": FORMAT_VERSION, "description": "the format version"},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "input": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1},
                        {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                    ]
                },
                "minItems": 2,
                "maxItems": 5,
                "description": "the input shape, batch first; names are symbolic dims",
            },
            "params": {"type": "object", "description": "spec-level parameters (--set)"},
            "blocks": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "description": {"type": "string"},
                        "args": {
                            "type": "object",
                            "additionalProperties": {
                                "anyOf": [
                                    arg_type,
                                    {
                                        "type": "object",
                                        "properties": {
                                            "type": arg_type,
                                            "default": {},
                                            "description": {"type": "string"},
                                        },
                                        "required": ["type"],
                                        "additionalProperties": False,
                                    },
                                ]
                            },
                        },
                        "body": _BODY,
                    },
                    "required": ["body"],
                    "additionalProperties": False,
                },
            },
            "body": {**_BODY, "minItems": 1},
        },
        "required": ["archc", "name", "input", "body"],
        "additionalProperties": False,
        "$defs": defs,
    }
