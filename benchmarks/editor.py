"""Language server latency: how long after an edit of ResNet-50 the editor has its answers.

    python benchmarks/editor.py [--edits 40] [--json OUT.json]

A real client (pygls's, as tests/test_lsp.py drives it) starts `python -m archc lsp`, opens
specs/imagenet/resnet.yaml and edits it: each edit changes a stage's width, so that every shape
after it changes. Measured per edit: from sending the change to receiving its diagnostics (the
server checks the whole document again), and the inlay-hint request that follows (what the
editor shows at the end of each line). Then the same re-check in process, split by stage, to
say where the time goes. Target: an edit answered in at most 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESNET = ROOT / "specs" / "imagenet" / "resnet.yaml"
TARGET_MS = 50


def _edits(count: int) -> list[str]:
    """`count` versions of ResNet-50, each with another width of its first stage."""
    text = RESNET.read_text()
    assert "planes: [64, 128, 256, 512]" in text
    return [
        text.replace("planes: [64, 128, 256, 512]", f"planes: [{64 + 8 * (k % 2)}, 128, 256, 512]")
        for k in range(count)
    ]


def _summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


def over_stdio(edits: int) -> dict:
    """Per edit: change -> diagnostics, and the inlay hints after it, through a real client."""
    from tests.lsp_client import Editor

    editor = Editor()
    try:
        uri = editor.open(RESNET)
        editor.diagnostics(uri)
        editor.inlay_hints(uri)
        checked, hinted = [], []
        for text in _edits(edits):
            start = time.perf_counter()
            editor.change(uri, text)
            diagnostics = editor.diagnostics(uri)
            middle = time.perf_counter()
            hints = editor.inlay_hints(uri)
            end = time.perf_counter()
            assert diagnostics == [] and len(hints) > 20
            checked.append((middle - start) * 1000)
            hinted.append((end - middle) * 1000)
    finally:
        editor.close()
    return {"change_to_diagnostics": _summary(checked), "inlay_hints": _summary(hinted)}


def in_process(edits: int) -> dict:
    """The same re-check in process, by stage: YAML and the top level, expansion and inference,
    the analyses, the editor's index, and the inlay hints."""
    from archc.analysis import analyze as analyses
    from archc.lsp import index
    from archc.lsp.features import inlay_hints
    from archc.spec.document import parse_document
    from archc.spec.expand import expand

    stages: dict[str, list[float]] = {
        name: [] for name in ("load", "expand", "analyse", "index", "hints", "total")
    }
    texts = _edits(edits)
    index.analyze(texts[0], "resnet.yaml")  # pydantic builds its validators on first use
    for text in texts:
        marks = [time.perf_counter()]
        spec = parse_document(text, "resnet.yaml")
        marks.append(time.perf_counter())
        network = expand(spec)
        marks.append(time.perf_counter())
        analyses(network, lambda dims, spec=spec: expand(spec, dims))
        marks.append(time.perf_counter())
        analysis = index.Analysis(text, "resnet.yaml", network.diagnostics, spec, network)
        index._index_items(analysis, spec)
        index._index_network(analysis, network)
        marks.append(time.perf_counter())
        inlay_hints(analysis, 1, 10_000)
        marks.append(time.perf_counter())
        for name, start, end in zip(stages, marks, marks[1:]):
            stages[name].append((end - start) * 1000)
        stages["total"].append((marks[-1] - marks[0]) * 1000)
    return {name: _summary(samples) for name, samples in stages.items()}


def markdown(report: dict) -> str:
    stdio = report["stdio"]
    verdict = "met" if stdio["change_to_diagnostics"]["median_ms"] <= TARGET_MS else "missed"
    lines = [
        f"ResNet-50 ({report['layers']} layers), {report['edits']} edits, each changing every "
        f"shape after the stem: target ≤ {TARGET_MS} ms, **{verdict}**.",
        "",
        "| over stdio (`archc lsp`, pygls client) | median | p90 | max |",
        "|---|---:|---:|---:|",
    ]
    for name, row in stdio.items():
        lines.append(
            f"| {name.replace('_', ' ')} | {row['median_ms']} ms | {row['p90_ms']} ms "
            f"| {row['max_ms']} ms |"
        )
    lines += ["", "| in process, by stage | median | p90 |", "|---|---:|---:|"]
    for name, row in report["in_process"].items():
        lines.append(f"| {name} | {row['median_ms']} ms | {row['p90_ms']} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from archc.api import load

    report = {
        "edits": args.edits,
        "layers": len(__import__("archc").check(load(RESNET)).layers),
        "stdio": over_stdio(args.edits),
        "in_process": in_process(args.edits),
    }
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
