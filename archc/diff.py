"""`archc diff`: what changed between two specs, or two `--set` variants of one, layer by layer.

Layers are matched by path (their stable names), in execution order: the longest common
subsequence of the two path lists, which for keys unique on each side is a longest increasing
subsequence, O(n log n) (difflib's matcher took seconds to minutes on 10,000 layers). A path on
one side only is an added or removed layer; a path on both sides whose op, output shape,
parameters, MACs or receptive field differ is a changed layer. Totals compare
parameters, MACs, peak activation memory, output shape and valid input sizes.

    >>> d = diff_results(check_file("specs/resnet18.yaml"),
    ...                  check_file("specs/resnet18.yaml", {"depths": [3, 4, 6, 3]}))
    >>> d["totals"]["params"]
    {'a': 11178378, 'b': 21290250, 'delta': 10111872}
"""

from __future__ import annotations

from bisect import bisect_left

from archc.dims import dim_json, format_shape
from archc.report import Result, layer_json, rf_json_text

_FIELDS = ("op", "output", "params", "macs", "rf")


def _layers(result: Result) -> list[dict]:
    """Each layer's answers as `check --format json` gives them, less its path and buffers."""
    net = result.network
    rows = [layer_json(net, index) for index in range(len(net.layers))] if net else []
    return [{key: row[key] for key in (*_FIELDS, "line")} for row in rows]


def _delta(a, b) -> dict:
    both = isinstance(a, int) and isinstance(b, int)
    return {"a": a, "b": b, "delta": b - a if both else None}


def _numbered(names: list[str]) -> list[tuple[str, int]]:
    """Each name with its occurrence count so far: keys unique on each side, so that the n-th
    `conv2d` of one network pairs with the n-th of the other."""
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append((name, seen[name]))
    return keys


def _opcodes(a: list, b: list) -> list[tuple[str, int, int, int, int]]:
    """difflib-style opcodes (`equal` runs, and `replace` for what lies between) of the longest
    common subsequence of `a` and `b`, whose keys are unique on each side."""
    where = {key: j for j, key in enumerate(b)}
    pairs = [(i, where[key]) for i, key in enumerate(a) if key in where]
    # Longest increasing subsequence of the j's (patience sorting), kept as back-links.
    tails: list[int] = []  # tails[k]: index into pairs of the smallest tail of a run of k + 1
    tail_js: list[int] = []  # the j of each tail, for bisection
    back: list[int | None] = []
    for index, (_, j) in enumerate(pairs):
        k = bisect_left(tail_js, j)
        back.append(tails[k - 1] if k else None)
        if k == len(tails):
            tails.append(index)
            tail_js.append(j)
        else:
            tails[k], tail_js[k] = index, j
    matched: list[tuple[int, int]] = []
    cursor = tails[-1] if tails else None
    while cursor is not None:
        matched.append(pairs[cursor])
        cursor = back[cursor]
    matched.reverse()
    ops: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    for mi, mj in [*matched, (len(a), len(b))]:
        if i < mi or j < mj:
            ops.append(("replace", i, mi, j, mj))
        if mi < len(a):
            if ops and ops[-1][0] == "equal" and ops[-1][2] == mi:
                ops[-1] = ("equal", ops[-1][1], mi + 1, ops[-1][3], mj + 1)
            else:
                ops.append(("equal", mi, mi + 1, mj, mj + 1))
        i, j = mi + 1, mj + 1
    return ops


def diff_results(a: Result, b: Result) -> dict:
    """The JSON-ready difference between two checked specs (B relative to A)."""
    layers_a = a.network.layers if a.network else []
    layers_b = b.network.layers if b.network else []
    paths_a, paths_b = [x.path for x in layers_a], [x.path for x in layers_b]
    shared = len(set(paths_a) & set(paths_b))
    by_path = 2 * shared >= max(len(paths_a), len(paths_b), 1)
    if not by_path:  # differently named specs (lenet vs lenet_bn): align on the ops
        paths_a, paths_b = (
            _numbered([x.op.name for x in layers_a]),
            _numbered([x.op.name for x in layers_b]),
        )
    rows_a, rows_b = _layers(a), _layers(b)
    changes = []
    for tag, i1, i2, j1, j2 in _opcodes(paths_a, paths_b):
        if tag == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                la, lb, old, new = layers_a[i], layers_b[j], rows_a[i], rows_b[j]
                fields = [f for f in _FIELDS if old[f] != new[f]]
                if fields:  # a mere rename (specs aligned on their ops) is not listed
                    path = la.path if la.path == lb.path else f"{la.path} -> {lb.path}"
                    old["path"], new["path"] = la.path, lb.path
                    changes.append(
                        {"path": path, "change": "changed", "fields": fields, "a": old, "b": new}
                    )
            continue
        for i in range(i1, i2):
            path = layers_a[i].path
            changes.append(
                {"path": path, "change": "removed", "fields": [], "a": rows_a[i], "b": None}
            )
        for j in range(j1, j2):
            path = layers_b[j].path
            changes.append(
                {"path": path, "change": "added", "fields": [], "a": None, "b": rows_b[j]}
            )
    return {
        "a": _side(a),
        "b": _side(b),
        "ok": a.ok and b.ok,
        "changes": changes,
        "totals": _totals(a, b),
    }


def _side(result: Result) -> dict:
    net = result.network
    return {
        "file": result.file,
        "name": net.name if net else None,
        "ok": result.ok,
        "overrides": getattr(result, "overrides", None) or {},
        "layers": len(net.layers) if net else 0,
        "diagnostics": [d.to_json() for d in result.diagnostics],
    }


def _totals(a: Result, b: Result) -> dict:
    na, nb = a.network, b.network

    def peak(net):
        return net.analysis.memory["activations_peak_bytes"] if net is not None else None

    def output(net):
        return [dim_json(d) for d in net.output_shape] if net and net.output_shape else None

    return {
        "params": _delta(na.params if na else None, nb.params if nb else None),
        "macs": _delta(dim_json(na.macs) if na else None, dim_json(nb.macs) if nb else None),
        "activations_peak_bytes": _delta(peak(na), peak(nb)),
        "layers": _delta(len(na.layers) if na else None, len(nb.layers) if nb else None),
        "output": {"a": output(na), "b": output(nb)},
        "valid_inputs": {"a": a.valid_inputs, "b": b.valid_inputs},
    }


# Text -----------------------------------------------------------------------------------------


def _label(side: dict) -> str:
    sets = " ".join(f"--set {k}={v}" for k, v in side["overrides"].items())
    return f"{side['name']} ({side['file']}{' ' + sets if sets else ''})"


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _signed(value) -> str:
    return f"{value:+,}" if isinstance(value, int) else "?"


def _rf(rf) -> str:
    return rf_json_text(rf) or "-"


def _summary(layer: dict) -> str:
    return (
        f"{layer['op']} {format_shape(layer['output'])} params {_count(layer['params'])} "
        f"MACs {_count(layer['macs'])} rf {_rf(layer['rf'])}"
    )


def to_text(diff: dict) -> str:
    lines = [f"--- {_label(diff['a'])}", f"+++ {_label(diff['b'])}"]
    for change in diff["changes"]:
        if change["change"] == "added":
            lines.append(f"+ {change['path']}  {_summary(change['b'])}")
        elif change["change"] == "removed":
            lines.append(f"- {change['path']}  {_summary(change['a'])}")
        else:
            parts = []
            for field in change["fields"]:
                old, new = change["a"][field], change["b"][field]
                if field == "output":
                    old, new = format_shape(old), format_shape(new)
                elif field == "rf":
                    old, new = _rf(old), _rf(new)
                else:
                    old, new = _count(old), _count(new)
                parts.append(f"{field} {old} -> {new}")
            lines.append(f"~ {change['path']}  " + ", ".join(parts))
    if not diff["changes"]:
        lines.append("  no layer changed")
    totals = diff["totals"]
    lines.append("")
    for key, label in (
        ("layers", "layers"),
        ("params", "params"),
        ("macs", "MACs"),
        ("activations_peak_bytes", "activations (bytes)"),
    ):
        t = totals[key]
        same = t["a"] == t["b"]
        delta = "" if same else f"  ({_signed(t['delta'])})" if t["delta"] is not None else ""
        arrow = _count(t["a"]) if same else f"{_count(t['a'])} -> {_count(t['b'])}"
        lines.append(f"{label}: {arrow}{delta}")
    out = totals["output"]
    if out["a"] != out["b"]:
        lines.append(f"output: {format_shape(out['a'])} -> {format_shape(out['b'])}")
    valid = totals["valid_inputs"]
    if valid["a"] != valid["b"]:
        lines.append(f"valid inputs: {_valid(valid['a'])} -> {_valid(valid['b'])}")
    for side in ("a", "b"):
        errors = [d for d in diff[side]["diagnostics"] if d["severity"] == "error"]
        if errors:
            lines.append(f"{side.upper()} has {len(errors)} error(s); `archc check` shows them")
    return "\n".join(lines)


def _valid(value) -> str:
    if value is None:
        return "-"
    return value.text() if hasattr(value, "text") else str(value)
