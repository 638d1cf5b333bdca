"""Pydantic validation with located, re-phrased errors.

pydantic reports `loc` tuples and messages such as "Input should be a valid integer"; archc
reports one error per field, in its own words, at the YAML span of the offending value, with
the nearest valid field name for a misspelt key.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from archc.diagnostics import Diagnostic, Span, nearest
from archc.spec.loader import YMap, YSeq

_RANGE = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "too_short",
    "too_long",
    "string_too_short",
    "string_too_long",
}


def locate(root: Any, loc: tuple, default: Span) -> tuple[Span, Any, bool]:
    """Follow `loc` through located data: (span, value found, whether the whole loc was found)."""
    span, value = default, root
    for part in loc:
        if (isinstance(value, YMap) and isinstance(part, str) and part in value) or (
            isinstance(value, YSeq) and isinstance(part, int) and 0 <= part < len(value)
        ):
            span, value = value.at(part), value[part]
        else:
            return span, value, False
    return span, value, True


def _path(root: Any, loc: tuple) -> tuple:
    """The parts of pydantic's `loc` that lead through located data, skipping the names of
    union members (`('stride', 'tuple[int, int]', 1)` -> `('stride', 1)`)."""
    path, value = [], root
    for part in loc:
        if (isinstance(value, YMap) and isinstance(part, str) and part in value) or (
            isinstance(value, YSeq) and isinstance(part, int) and 0 <= part < len(value)
        ):
            path.append(part)
            value = value[part]
        elif not isinstance(part, str):
            break
    return tuple(path)


def expects(model: type[BaseModel], field: str) -> str | None:
    """The `Expect` text attached to a field's type, if any."""
    info = model.model_fields.get(field)
    if info is None:
        return None
    for meta in (*info.metadata, *_annotated_metadata(info.annotation)):
        describe = getattr(meta, "describe", None)  # an `archc.ops.base.Expect`
        if callable(describe):
            return describe(model)
    return None


def _annotated_metadata(annotation: Any) -> list:
    found = []
    for arg in get_args(annotation):
        found += list(getattr(arg, "__metadata__", ()))
    return found + list(getattr(annotation, "__metadata__", ()))


def show(value: Any) -> str:
    """A short rendering of a YAML value for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (YMap, dict)):
        return "a mapping"
    if isinstance(value, (YSeq, list)):
        text = "[" + ", ".join(show(v) for v in value[:4]) + (", …]" if len(value) > 4 else "]")
        return text if len(text) <= 40 else "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def validate(
    model: type[BaseModel],
    data: YMap,
    file: str,
    what: str,
    values: dict | None = None,
) -> tuple[BaseModel | None, list[Diagnostic]]:
    """Validate `values` (default: `data`) against `model`; errors are located in `data`.

    `what` names the object in messages (e.g. "`conv2d`").
    """
    try:
        return model.model_validate(data if values is None else values), []
    except ValidationError as exc:
        return None, _diagnostics(model, exc, data, file, what)


def _diagnostics(
    model: type[BaseModel], exc: ValidationError, data: YMap, file: str, what: str
) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    seen_fields: set = set()
    known = list(model.model_fields)
    errors = exc.errors(include_url=False, include_input=False)
    # A misspelt field is one error: the unknown key, not also the required field it misses.
    misspelt = {nearest(str(e["loc"][0]), known) for e in errors if e["type"] == "extra_forbidden"}
    # One error per field, even when a union reports one per member: the one that reaches
    # deepest into the value (`stride: [1, 0]` fails as a pair at its item 0, not as an int).
    best: dict = {}
    for error in errors:
        field = error["loc"][0] if error["loc"] else None
        reach = len(_path(data, error["loc"]))
        if field not in best or reach > best[field][0]:
            best[field] = (reach, error)
    for error in errors:
        if error["type"] == "missing" and error["loc"] and error["loc"][0] in misspelt:
            continue
        loc = error["loc"]
        field = loc[0] if loc else None
        if field in seen_fields or best[field][1] is not error:
            continue
        seen_fields.add(field)
        kind = error["type"]
        if kind == "extra_forbidden":
            close = nearest(str(field), known)
            span = data.key_spans.get(field, data.span) if isinstance(data, YMap) else data.span
            diagnostics.append(
                Diagnostic(
                    "unknown-field",
                    f"{what} has no field `{field}`",
                    file,
                    span,
                    hint=f"did you mean `{close}`?" if close else "its fields are " + _list(known),
                )
            )
            continue
        if kind == "missing":
            span = data.span if isinstance(data, (YMap, YSeq)) else None
            diagnostics.append(
                Diagnostic(
                    "missing-field",
                    f"{what} needs `{field}`" if field else f"{what} is missing a value",
                    file,
                    span,
                    hint=f"add `{field}: …`" if field else None,
                )
            )
            continue
        span, value, _ = locate(data, _path(data, loc), data.span)  # the item at fault
        expect = expects(model, field) if isinstance(field, str) else None
        code = "out-of-range" if kind in _RANGE else "wrong-type"
        if expect is not None:
            message = f"`{field}` expects {expect}, got {show(value)}"
        else:
            message = f"`{field}`: {_rephrase(error['msg'])}, got {show(value)}"
        diagnostics.append(
            Diagnostic(code, message, file, span, hint=_closest(errors, field, value))
        )
    return diagnostics


def _closest(errors: list[dict], field: Any, value: Any) -> str | None:
    """For a misspelt choice (`padding: vaild`), the nearest allowed value."""
    if not isinstance(value, str):
        return None
    options = [
        option
        for e in errors
        if e["type"] == "literal_error" and e["loc"][:1] == (field,)
        for option in re.findall(r"'([^']*)'", e.get("ctx", {}).get("expected", ""))
    ]
    close = nearest(value, options)
    return f"did you mean `{close}`?" if close else None


def _rephrase(message: str) -> str:
    counted = re.match(
        r"(List|Dictionary|String) should have at (least|most) (\d+) (item|character)s?", message
    )
    if counted:
        return f"needs at {counted[2]} {counted[3]} {counted[4]}{'s' if counted[3] != '1' else ''}"
    message = message.replace("Input should be", "should be").replace("Input", "value")
    return message.replace("a valid integer", "an integer").replace("a valid", "a")


def _list(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) if names else "none"
