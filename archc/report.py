"""Rendering of check results: the text table, the JSON contract, GitHub annotations, SARIF.

A `Result` is one spec file's outcome: its network when it loaded, and its diagnostics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from archc.diagnostics import Diagnostic, printable, render
from archc.dims import Dim, dim_json, format_shape
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


def _count(value: Dim) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def per_axis(values: list) -> str:
    """`3` when every spatial axis agrees, `3×5` when they differ."""
    return str(values[0]) if len(set(map(str, values))) == 1 else "×".join(map(str, values))


def _rf_text(rf) -> str:
    if not rf:
        return ""
    found = _rf_json(rf)
    return f"{per_axis(found['size'])} /{per_axis(found['stride'])}"


def _rf_json(rf) -> dict | None:
    """The receptive field as the JSON contract has it: one entry per spatial axis."""
    if not rf:
        return None
    axes = [f.to_json() for f in rf]
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
        "params": net.params if net else None,
        "trainable_params": net.params if net else None,
        "buffers": net.buffers if net else None,
        "macs": dim_json(net.macs) if net else None,
        "layers": layers,
        "diagnostics": [d.to_json() for d in result.diagnostics],
    }
    if result.valid_inputs is not None:
        document["valid_inputs"] = result.valid_inputs
        square = getattr(result.valid_inputs, "square", ())
        if square:  # the dims are coupled; the sets are those of square inputs
            document["valid_inputs_square"] = list(square)
    if net is not None:
        document["memory"] = net.analysis.memory
    return document


def to_json(results: list[Result], version: str) -> str:
    return json.dumps({"archc": version, "results": [result_json(r) for r in results]}, indent=2)


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
                _count(layer.params) if layer.params else "",
                _count(layer.macs) if layer.macs else "",
                _rf_text(net.analysis.receptive_field(index)),
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
        f"{printable(format_shape(net.input))} -> {printable(format_shape(net.output_shape))}"
    )
    totals = (
        f"params {_count(net.params)} (buffers {_count(net.buffers)}, "
        f"fp32 {_bytes(net.params * 4)}, fp16 {_bytes(net.params * 2)})  "
        f"MACs {_count(net.macs)} at batch 1"
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
        macs = _count(net.macs) if net else "?"
        name = printable(net.name)
        return f"ok    {file}  {name}  params {_count(net.params)}  MACs {macs}{extra}"
    return f"FAIL  {file}  {result.errors} error(s)"


def to_text(results: list[Result]) -> str:
    parts = []
    if len(results) == 1 and results[0].network is not None and results[0].ok:
        parts.append(table(results[0].network, results[0].valid_inputs))
    for result in results:
        if result.diagnostics:
            parts.append(diagnostics_text(result))
    if len(results) > 1 or not results[0].ok:
        parts.append("\n".join(verdict(r) for r in results))
    failed = sum(not r.ok for r in results)
    if len(results) > 1:
        parts.append(f"{len(results)} spec(s) checked: {len(results) - failed} ok, {failed} failed")
    return "\n\n".join(parts)


# CI formats -----------------------------------------------------------------------------------


def _escape(text: str, property_: bool = False) -> str:
    """GitHub's own escaping of a workflow command's data (and, with `property_`, of a
    property), after every control character is made visible: the runner turns `%0A` back into
    a line break inside the annotation, but an ESC would still reach the log's terminal."""
    text = printable(text)
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_ else text


def to_github(results: list[Result]) -> str:
    """GitHub Actions workflow commands, one annotation per diagnostic."""
    lines = []
    for result in results:
        for d in result.diagnostics:
            where = f"file={_escape(d.file, True)}"
            if d.span:
                where += f",line={d.line},col={d.column}"
            message = d.message + (f" (help: {d.hint})" if d.hint else "")
            title = _escape(f"archc {d.code}", True)
            lines.append(f"::{d.severity} {where},title={title}::{_escape(message)}")
    lines.append(f"archc: {len(results)} spec(s), {sum(not r.ok for r in results)} failed")
    return "\n".join(lines)


def to_sarif(results: list[Result], version: str) -> str:
    """SARIF 2.1.0 for code-scanning interfaces."""
    from archc.codes import CODES

    used = sorted({d.code for r in results for d in r.diagnostics})
    sarif_results = []
    for result in results:
        for d in result.diagnostics:
            location = {"physicalLocation": {"artifactLocation": {"uri": d.file}}}
            if d.span:
                location["physicalLocation"]["region"] = {
                    "startLine": d.span.line,
                    "startColumn": d.span.col,
                    "endLine": d.span.end_line,
                    "endColumn": d.span.end_col,
                }
            sarif_results.append(
                {
                    "ruleId": d.code,
                    "level": d.severity,
                    # JSON escapes control characters, but a viewer shows them decoded.
                    "message": {
                        "text": printable(d.message + (f" (help: {d.hint})" if d.hint else ""))
                    },
                    "locations": [location],
                }
            )
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "archc",
                        "version": version,
                        "rules": [
                            {"id": code, "shortDescription": {"text": CODES[code].summary}}
                            for code in used
                        ],
                    }
                },
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(document, indent=2)
