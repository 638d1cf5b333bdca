"""One spec document as the editor sees it: checked, and indexed by position.

`analyze(text, file)` runs the same pipeline as `archc check` on the text of an open document
and indexes what a position can point at: every item as written (its head, fields and the
block whose body holds it), the layers and block calls expanded from each, the names that
`ref` reads, and the definitions of blocks, block arguments and parameters. Nothing here
knows the language server protocol; archc.lsp.features answers the editor's questions from an
`Analysis`, and archc.lsp.server speaks the protocol.

Lines and columns are 1-based and count characters, as diagnostics' spans do.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from archc.diagnostics import Diagnostic, Span, SpecError
from archc.ir import Network
from archc.spec.document import Spec, parse_document
from archc.spec.loader import YMap, YSeq

# Fields of structural items whose values are bodies (lists of items), walked for items.
BODY_FIELDS = ("body", "branches")


@dataclass(frozen=True)
class Entry:
    """One item of a body as written: `head` (an op, a block, `seq`, `ref`, ...) at `span`,
    its fields (a mapping, the name of a `ref`, or None), the whole item's span, and the block
    whose body holds it."""

    head: str
    span: Span
    args: Any
    item: Span
    block: str | None


@dataclass
class Analysis:
    """A checked document and its index; `spec` and `network` are None when it did not load."""

    text: str
    file: str
    diagnostics: list[Diagnostic]
    spec: Spec | None = None
    network: Network | None = None
    entries: list[Entry] = field(default_factory=list)
    names: dict[str, list[Span]] = field(default_factory=dict)  # `name:` -> items' heads
    layers_by_span: dict[Span, list[int]] = field(default_factory=dict)  # in execution order
    groups_by_span: dict[Span, list[str]] = field(default_factory=dict)  # block-call paths
    group_layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # first, last

    def entry_at(self, line: int, col: int) -> Entry | None:
        """The innermost item that holds the position."""
        found = None
        for entry in self.entries:
            if contains(entry.item, line, col):
                found = entry  # entries come outer first: keep the last, innermost
        return found


def contains(span: Span, line: int, col: int) -> bool:
    """Whether the position lies in `span` (its end exclusive)."""
    return (span.line, span.col) <= (line, col) < (span.end_line, span.end_col)


def analyze(text: str, file: str) -> Analysis:
    """Check `text` as `archc check` checks a file named `file`, and index it."""
    from archc.pipeline import check

    try:
        spec = parse_document(text, file)
    except SpecError as exc:
        return Analysis(text, file, exc.diagnostics)
    network = check(spec)
    analysis = Analysis(text, file, network.diagnostics, spec, network)
    _index_items(analysis, spec)
    _index_network(analysis, network)
    return analysis


def _index_items(analysis: Analysis, spec: Spec) -> None:
    names: dict[str, list[Span]] = defaultdict(list)
    for block in spec.blocks.values():
        _walk(analysis, block.body, block.name, names)
    _walk(analysis, spec.body, None, names)
    analysis.entries.sort(key=lambda e: (e.span.line, e.span.col))
    analysis.names = dict(names)


def _walk(analysis: Analysis, body: Any, block: str | None, names: dict) -> None:
    """Index the items of a body, and of the bodies inside them."""
    if not isinstance(body, YSeq):
        return
    for index, raw in enumerate(body):
        if isinstance(raw, str):
            analysis.entries.append(Entry(raw, body.at(index), None, body.at(index), block))
            continue
        if not (isinstance(raw, YMap) and len(raw) == 1):
            continue
        head = next(iter(raw))
        args = raw[head]
        entry = Entry(head, raw.key_spans[head], args, body.at(index), block)
        analysis.entries.append(entry)
        if not isinstance(args, YMap):
            continue
        if isinstance(args.get("name"), str):
            names[args["name"]].append(entry.span)
        for key in BODY_FIELDS:
            for nested in _bodies(args.get(key)):
                _walk(analysis, nested, block, names)


def _bodies(value: Any) -> list:
    """The bodies a `body` or `branches` value holds: a list of items, a list of such lists,
    or a mapping of them; an item standing among branches (a `repeat`) is a body of one."""
    if isinstance(value, YMap):
        return list(value.values())
    if isinstance(value, YSeq) and value and all(isinstance(v, YSeq) for v in value):
        return list(value)
    if isinstance(value, YSeq) and any(isinstance(v, YSeq) for v in value):
        return [v if isinstance(v, YSeq) else _single(v, value.span) for v in value]
    return [value]


def _single(item: Any, span: Span) -> YSeq:
    seq = YSeq(span)
    seq.append(item)
    seq.item_spans.append(getattr(item, "span", span))
    return seq


def _index_network(analysis: Analysis, network: Network) -> None:
    layers: dict[Span, list[int]] = defaultdict(list)
    for index, layer in enumerate(network.layers):
        layers[layer.span].append(index)
    groups: dict[Span, list[str]] = defaultdict(list)
    for path, group in network.groups.items():
        if group.kind == "block":
            groups[group.span].append(path)
    ranges: dict[str, tuple[int, int]] = {}
    for index, layer in enumerate(network.layers):
        parts = layer.path.split(".")
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            if prefix in network.groups:
                first = ranges.get(prefix, (index, index))[0]
                ranges[prefix] = (first, index)
    analysis.layers_by_span = dict(layers)
    analysis.groups_by_span = dict(groups)
    analysis.group_layers = ranges
