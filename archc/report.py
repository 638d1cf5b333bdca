"""Rendering of check results: the text table, the JSON contract, GitHub annotations, SARIF.

A `Result` is one spec file's outcome: its network when it loaded, and its diagnostics.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from archc.diagnostics import Diagnostic, Span, printable, render
from archc.dims import Dim, Sym, axis_letters, dim_json, format_shape
from archc.ir import Network


@dataclass
class Result:
    file: str
    source: str | None
    network: Network | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def valid_inputs(self) -> dict | None:
        return self.network.analysis.valid_inputs if self.network is not None else None

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def errors(self) -> int:
        return sum(d.severity == "error" for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity == "warning" for d in self.diagnostics)


def count_text(value: Dim) -> str:
    """`36,928`; a symbolic count as it is."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def spatial_axes(shape) -> list[str]:
    """The names of the spatial axes of an input, in the order of every per-axis list (`rf`):
    a symbolic size's own name, else PyTorch's letter (`L`; `H`, `W`; `D`, `H`, `W`)."""
    rank = len(shape) - 2
    return [
        str(size) if isinstance(size, Sym) else letter
        for size, letter in zip(shape[2:], axis_letters(rank), strict=True)
    ]


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_RESERVED = {"true", "false", "null", "True", "False", "Null", "TRUE", "FALSE", "NULL", "~"}


def yaml_value(value: Any) -> str:
    """A Python value as YAML writes it in a spec: `[1, 1]`, `null`, `true`, `same`.

    >>> yaml_value((1, 1)), yaml_value(None), yaml_value("row"), yaml_value(0.5)
    ('[1, 1]', 'null', 'row', '0.5')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    if isinstance(value, str) and not (_PLAIN.fullmatch(value) and value not in _RESERVED):
        return json.dumps(value)
    return str(value)


def per_axis(values: list) -> str:
    """`3` when every spatial axis agrees, `3×5` when they differ."""
    return str(values[0]) if len(set(map(str, values))) == 1 else "×".join(map(str, values))


def rf_text(rf) -> str:
    """`35 /4`: the receptive field's size and stride, per axis where they differ; `n/a` along
    an axis where no window describes it."""
    return rf_json_text(_rf_json(rf))


def rf_json_text(found: dict | None) -> str:
    """`rf_text` of a receptive field in its JSON form; "" without one."""
    if not found:
        return ""
    if all(v is None for v in found["size"]):
        return "n/a"
    sizes, strides = (["n/a" if v is None else v for v in found[k]] for k in ("size", "stride"))
    return f"{per_axis(sizes)} /{per_axis(strides)}"


def _rf_json(rf) -> dict | None:
    """The receptive field as the JSON contract has it: one entry per spatial axis, null along
    an axis where it is not applicable."""
    if not rf:
        return None
    axes = [(None, None, None) if f is None else f.to_json() for f in rf]
    return {key: [axis[i] for axis in axes] for i, key in enumerate(("size", "stride", "padding"))}


# JSON -----------------------------------------------------------------------------------------


def layer_json(net: Network, index: int) -> dict:
    """One entry of the JSON result's `layers`: layer `index` of `net` with its answers."""
    layer = net.layers[index]
    return {
        "path": layer.path,
        "key": layer.key,  # the module name in state_dict keys and ONNX nodes
        "op": layer.op.name,
        "output": [dim_json(d) for d in layer.shape],
        "params": layer.params,
        "buffers": layer.buffers,
        "macs": dim_json(layer.macs),
        "rf": _rf_json(net.analysis.receptive_field(index)),
        "line": layer.line,
    }


def result_json(result: Result) -> dict:
    net = result.network
    layers = []
    if net is not None:
        layers = [layer_json(net, index) for index in range(len(net.layers))]
    document = {
        "file": result.file,
        "name": net.name if net else None,
        "ok": result.ok,
        "input": [dim_json(d) for d in net.input] if net else None,
        "output": [dim_json(d) for d in net.output_shape] if net and net.output_shape else None,
        "outputs": [
            {"name": o.name, "shape": [dim_json(d) for d in o.shape]}
            for o in (net.outputs if net else ())
        ],
        "params": net.params if net else None,
        "trainable_params": net.params if net else None,
        "buffers": net.buffers if net else None,
        "macs": dim_json(net.macs) if net else None,
        "layers": layers,
        "diagnostics": [d.to_json() for d in result.diagnostics],
    }
    if net is not None and len(net.input) > 2:
        document["axes"] = spatial_axes(net.input)
    if result.valid_inputs is not None:
        document["valid_inputs"] = result.valid_inputs
        square = getattr(result.valid_inputs, "square", ())
        if square:  # the dims are coupled; the sets are those of square inputs
            document["valid_inputs_square"] = list(square)
    if net is not None:
        document["memory"] = net.analysis.memory
    return document


def to_json(
    results: list[Result], version: str, skipped: int = 0, failures: list[Diagnostic] = ()
) -> str:
    """The JSON document: `results`, the count of other YAML files `skipped`, and, when the
    command failed before checking (a usage error), `failures` as `diagnostics`."""
    document = {"archc": version, "results": [result_json(r) for r in results], "skipped": skipped}
    if failures:
        document["ok"] = False
        document["diagnostics"] = [d.to_json() for d in failures]
    return json.dumps(document, indent=2)


# Text -----------------------------------------------------------------------------------------


def table(net: Network, valid_inputs=None) -> str:
    """The per-layer table of a network, then its totals and, if any, its valid input sizes."""
    rows = [("path", "op", "output", "params", "MACs", "RF /stride", "line")]
    for index, layer in enumerate(net.layers):
        rows.append(
            (
                printable(layer.path, line_start=True),
                printable(layer.op.name),
                format_shape(layer.shape),
                count_text(layer.params) if layer.params else "",
                count_text(layer.macs) if layer.macs else "",
                rf_text(net.analysis.receptive_field(index)),
                str(layer.line),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {3, 4, 6}
    lines = [
        "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    header = (
        f"{printable(net.name, line_start=True)}: "
        f"{printable(format_shape(net.input))} -> {printable(net.outputs_text())}"
    )
    totals = (
        f"params {count_text(net.params)} (buffers {count_text(net.buffers)}, "
        f"fp32 {_bytes(net.params * 4)}, fp16 {_bytes(net.params * 2)})  "
        f"MACs {count_text(net.macs)} at batch 1"
    )
    memory = net.analysis.memory
    if memory and memory["activations_peak_bytes"] is not None:
        peak, where = memory["activations_peak_bytes"], memory["activations_peak_at"]
        totals += f"  activations {_bytes(peak)} peak (fp32, at `{printable(where)}`)"
    footer = [totals]
    if valid_inputs is not None and hasattr(valid_inputs, "text"):
        footer.append(f"valid inputs: {printable(valid_inputs.text())}")
    return "\n".join([header, "", *lines, "", *footer])


def _bytes(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.1f} {unit}" if unit != "B" else f"{count} B"
        count /= 1024
    return ""


def diagnostics_text(result: Result) -> str:
    return "\n\n".join(render(d, result.source) for d in result.diagnostics)


def verdict(result: Result) -> str:
    net = result.network
    file = printable(result.file)
    if result.ok:
        extra = f"  {result.warnings} warning(s)" if result.warnings else ""
        macs = count_text(net.macs) if net else "?"
        name = printable(net.name)
        return f"ok    {file}  {name}  params {count_text(net.params)}  MACs {macs}{extra}"
    return f"FAIL  {file}  {result.errors} error(s)"


def to_text(results: list[Result], skipped: int = 0) -> str:
    """The table of a single spec that checks; every diagnostic; the verdict of each spec that
    fails, or of each of several; the summary line, with the other YAML files `skipped`."""
    parts = []
    if len(results) == 1 and results[0].network is not None and results[0].ok:
        parts.append(table(results[0].network, results[0].valid_inputs))
    for result in results:
        if result.diagnostics:
            parts.append(diagnostics_text(result))
    if len(results) > 1 or any(not r.ok for r in results):
        parts.append("\n".join(verdict(r) for r in results))
    if len(results) != 1 or skipped:
        parts.append(summary(results, skipped))
    return "\n\n".join(parts)


def summary(results: list[Result], skipped: int) -> str:
    """`3 spec(s) checked: 2 ok, 1 failed; 4 other YAML file(s) skipped`"""
    failed = sum(not r.ok for r in results)
    line = f"{len(results)} spec(s) checked: {len(results) - failed} ok, {failed} failed"
    return line + (f"; {skipped} other YAML file(s) skipped" if skipped else "")


# CI formats -----------------------------------------------------------------------------------


def _escape(text: str, property_: bool = False) -> str:
    """GitHub's own escaping of a workflow command's data (and, with `property_`, of a
    property), after every control character is made visible: the runner turns `%0A` back into
    a line break inside the annotation, but an ESC would still reach the log's terminal."""
    text = printable(text)
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_ else text


def message_lines(d: Diagnostic) -> list[str]:
    """The message and everything the text rendering adds, each made printable: each note
    (the call sites of the blocks it is in), then the help."""
    lines = [d.message, *(f"note: {note}" for note in d.notes)]
    return [printable(line) for line in lines + ([f"help: {d.hint}"] if d.hint else [])]


def to_github(results: list[Result], skipped: int = 0, failures: list[Diagnostic] = ()) -> str:
    """GitHub Actions workflow commands, one annotation per diagnostic, its notes (the call
    sites of the blocks it is in) and help in its message; then the summary."""
    lines = []
    for d in [d for r in results for d in r.diagnostics]:
        where = f"file={_escape(d.file, True)},"
        if d.span:
            where += (
                f"line={d.span.line},endLine={d.span.end_line},"
                f"col={d.span.col},endColumn={d.span.end_col},"
            )
        lines.append(_annotation(d, where))
    lines += [_annotation(d, "") for d in failures]  # about the command, not a file
    lines.append("archc: " + summary(results, skipped))
    return "\n".join(lines)


def _annotation(d: Diagnostic, where: str) -> str:
    title = _escape(f"archc {d.code}", True)
    # The runner turns `%0A` back into line breaks within the annotation.
    message = "%0A".join(_escape(line) for line in message_lines(d))
    return f"::{d.severity} {where}title={title}::{message}"


def _artifact(file: str, root: Path) -> dict:
    """A SARIF artifactLocation: percent-encoded, relative to %SRCROOT% (the folder archc runs
    in) when the file is inside it, else an absolute file URI."""
    absolute = Path(os.path.abspath(file))
    if not absolute.is_relative_to(root):
        return {"uri": absolute.as_uri()}
    return {"uri": quote(absolute.relative_to(root).as_posix()), "uriBaseId": "%SRCROOT%"}


def _region(span: Span) -> dict:
    return {
        "startLine": span.line,
        "startColumn": span.col,
        "endLine": span.end_line,
        "endColumn": span.end_col,
    }


def _sarif_result(d: Diagnostic, root: Path) -> dict:
    location = {"physicalLocation": {"artifactLocation": _artifact(d.file, root)}}
    if d.span:
        location["physicalLocation"]["region"] = _region(d.span)
    related = []
    for index, note in enumerate(d.notes):
        entry = {"id": index, "message": {"text": printable(note)}}
        if note.file:
            entry["physicalLocation"] = {"artifactLocation": _artifact(note.file, root)}
            if note.span:
                entry["physicalLocation"]["region"] = _region(note.span)
        related.append(entry)
    result = {
        "ruleId": d.code,
        "level": d.severity,
        # JSON escapes control characters, but a viewer shows them decoded.
        "message": {"text": "\n".join(message_lines(d))},
        "locations": [location],
    }
    if related:
        result["relatedLocations"] = related
    return result


def to_sarif(
    results: list[Result], version: str, skipped: int = 0, failures: list[Diagnostic] = ()
) -> str:
    """SARIF 2.1.0 for code-scanning interfaces; a command that failed before checking (a usage
    error) is an unsuccessful invocation carrying `failures` as notifications."""
    from archc.codes import CODES

    root = Path.cwd()
    diagnostics = [d for r in results for d in r.diagnostics]
    used = sorted({d.code for d in diagnostics})
    run = {
        "tool": {
            "driver": {
                "name": "archc",
                "version": version,
                "rules": [
                    {
                        "id": code,
                        "shortDescription": {"text": CODES[code].summary},
                        "defaultConfiguration": {"level": CODES[code].severity},
                    }
                    for code in used
                ],
            }
        },
        "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri().rstrip("/") + "/"}},
        "invocations": [
            {
                "executionSuccessful": not failures,
                "toolExecutionNotifications": [
                    {
                        "level": "error",
                        "descriptor": {"id": d.code},
                        "message": {"text": "\n".join(message_lines(d))},
                    }
                    for d in failures
                ],
            }
        ],
        "results": [_sarif_result(d, root) for d in diagnostics],
        "properties": {"skipped": skipped},
    }
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
    return json.dumps(document, indent=2)
