"""What the editor asks of a spec, answered from its `Analysis`: hovers, inlay hints,
completions and definitions, as plain data (archc.lsp.server turns them into the protocol's).

    >>> from archc.lsp.index import analyze
    >>> text = "archc: 1\\nname: n\\ninput: [N, 3, 8, 8]\\nbody:\\n  - relu\\n"
    >>> analysis = analyze(text, "n.yaml")
    >>> inlay_hints(analysis, 1, 5)
    [(5, 9, '→ (N, 3, 8, 8)')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from archc.diagnostics import Span
from archc.dims import format_shape
from archc.editor_schema import COMMON_FIELDS, TOP_LEVEL
from archc.lsp.index import Analysis, Entry, contains
from archc.ops import OPS
from archc.ops.base import field_docs
from archc.report import count_text, rf_text, yaml_value
from archc.spec.expand import STRUCTURAL, structural_summary
from archc.spec.loader import YMap

MAX_INSTANCES = 6  # uses of one line listed in a hover


# Inlay hints ----------------------------------------------------------------------------------


def inlay_hints(analysis: Analysis, first: int, last: int) -> list[tuple[int, int, str]]:
    """`(line, column, label)` at the end of each line from `first` to `last` that holds a
    layer or a block call: `→ (N, 64, 56, 56) · 36,928`, its output shape and parameters. A
    line in a block or a `repeat` says which of its uses it shows: `(1 of 16)`."""
    net = analysis.network
    if net is None:
        return []
    lines = _line_ends(analysis.text)
    shown: dict[int, tuple[int, str]] = {}  # line -> (order, label): the item executed last
    for span, indices in analysis.layers_by_span.items():
        layer = net.layers[indices[0]]
        label = _hint(layer.shape, layer.params, len(indices))
        _keep(shown, span.line, indices[0], label)
    for span, paths in analysis.groups_by_span.items():
        if paths[0] in analysis.group_layers:
            start, end = analysis.group_layers[paths[0]]
            params = sum(layer.params for layer in net.layers[start : end + 1])
            _keep(shown, span.line, end, _hint(net.layers[end].shape, params, len(paths)))
    return [
        (line, lines[line - 1] + 1, label)
        for line, (_, label) in sorted(shown.items())
        if first <= line <= last and line <= len(lines)
    ]


def _keep(shown: dict, line: int, order: int, label: str) -> None:
    if line not in shown or shown[line][0] < order:
        shown[line] = (order, label)


def _hint(shape, params: int, uses: int) -> str:
    label = f"→ {format_shape(shape)}" + (f" · {params:,}" if params else "")
    return label + (f" (1 of {uses})" if uses > 1 else "")


def _line_ends(text: str) -> list[int]:
    """The length of each line, lines broken as YAML 1.2 breaks them."""
    return [len(line) for line in re.split(r"\r\n|\r|\n", text)]


# Hover ----------------------------------------------------------------------------------------


def hover(analysis: Analysis, line: int, col: int) -> tuple[str, Span] | None:
    """Markdown about what is at the position, and the span it is about: a layer (its shapes
    in and out, parameters, MACs and receptive field, for each use), a block call (the same
    for the whole call), a field (its documentation), a block's definition."""
    entry = analysis.entry_at(line, col)
    if entry is not None and contains(entry.span, line, col):
        text = _item_hover(analysis, entry)
        return (text, entry.span) if text else None
    if entry is not None and isinstance(entry.args, YMap):
        for key, span in entry.args.key_spans.items():
            if contains(span, line, col):
                text = field_doc(analysis, entry.head, key)
                return (text, span) if text else None
    return _definition_hover(analysis, line, col)


def _item_hover(analysis: Analysis, entry: Entry) -> str | None:
    net = analysis.network
    spec = analysis.spec
    if spec is not None and entry.head in spec.blocks:
        block = spec.blocks[entry.head]
        text = [
            f"**block `{entry.head}`**" + (f": {block.description}" if block.description else "")
        ]
        for path in analysis.groups_by_span.get(entry.span, [])[:MAX_INSTANCES]:
            if path in analysis.group_layers:
                start, end = analysis.group_layers[path]
                layers = net.layers[start : end + 1]
                text.append(
                    _use(
                        path,
                        layers[0].input_shapes[0] if layers[0].input_shapes else None,
                        layers[-1].shape,
                        sum(layer.params for layer in layers),
                        sum((layer.macs for layer in layers), start=0),
                        rf_text(net.analysis.receptive_field(end)),
                    )
                )
        return _with_more(text, len(analysis.groups_by_span.get(entry.span, [])))
    if entry.head in OPS:
        text = [f"**{entry.head}**: {OPS[entry.head].summary}"]
        indices = analysis.layers_by_span.get(entry.span, [])
        for index in indices[:MAX_INSTANCES]:
            layer = net.layers[index]
            text.append(
                _use(
                    layer.path,
                    layer.input_shapes[0] if layer.input_shapes else None,
                    layer.shape,
                    layer.params,
                    layer.macs,
                    rf_text(net.analysis.receptive_field(index)),
                )
            )
        if not indices:
            text.append("not expanded: an error comes before it, or its `if:` is false")
        return _with_more(text, len(indices))
    if entry.head in STRUCTURAL:
        return f"**{entry.head}**: {structural_summary(entry.head)}"
    return None


def _use(path, shape_in, shape_out, params, macs, rf: str) -> str:
    where = f"`{path}`: {format_shape(shape_in)} → {format_shape(shape_out)}"
    facts = f"params {count_text(params)} · MACs {count_text(macs)}"
    return f"{where}  \n{facts}" + (f" · receptive field {rf}" if rf else "")


def _with_more(text: list[str], uses: int) -> str:
    if uses > MAX_INSTANCES:
        text.append(f"… and {uses - MAX_INSTANCES} more uses")
    return "\n\n".join(text)


def field_doc(analysis: Analysis | None, head: str, key: str) -> str | None:
    """The documentation of field `key` of an item headed `head`: an op's field, a block's
    argument, a structural item's field, or `name`/`if`."""
    if key in COMMON_FIELDS:
        return f"**{key}**: {COMMON_FIELDS[key]['description']}"
    spec = analysis.spec if analysis else None
    if spec is not None and head in spec.blocks and key in spec.blocks[head].args:
        arg = spec.blocks[head].args[key]
        default = "" if arg.default is None else f", default `{arg.default}`"
        about = f": {arg.description}" if arg.description else ""
        return f"**{key}** ({arg.type}{default}) argument of block `{head}`{about}"
    model = OPS.get(head) or STRUCTURAL.get(head)
    fields = getattr(model, "model_fields", {})
    if key not in fields:
        return None
    info = fields[key]
    default = "required" if info.is_required() else f"default `{yaml_value(info.default)}`"
    return f"**{key}** ({default}): {field_docs(model).get(key, '')}".rstrip(": ")


def _definition_hover(analysis: Analysis, line: int, col: int) -> tuple[str, Span] | None:
    spec = analysis.spec
    if spec is None:
        return None
    for name, block in spec.blocks.items():
        if contains(block.span, line, col):
            args = ", ".join(f"`{a}: {spec_.type}`" for a, spec_ in block.args.items())
            uses = sum(1 for e in analysis.entries if e.head == name)
            about = f": {block.description}" if block.description else ""
            text = f"**block `{name}`**{about}\n\nargs {args or 'none'} · called {uses}×"
            return text, block.span
    root = spec.root
    for key, span in root.key_spans.items():
        if contains(span, line, col) and key in TOP_LEVEL:
            return f"**{key}**: {TOP_LEVEL[key]}", span
    return None


# Definitions ----------------------------------------------------------------------------------

_WORD = re.compile(r"\$?[A-Za-z_][A-Za-z0-9_]*")


def definition(analysis: Analysis, line: int, col: int) -> list[Span]:
    """Where what is at the position is defined: a block call's block, a `ref`'s named item
    (the nearest before it), a `$name`'s block argument or spec parameter."""
    spec = analysis.spec
    if spec is None:
        return []
    entry = analysis.entry_at(line, col)
    if entry is not None and contains(entry.span, line, col) and entry.head in spec.blocks:
        return [spec.blocks[entry.head].span]
    word = _word_at(analysis.text, line, col)
    if word is None:
        return []
    if entry is not None and entry.head == "ref" and word == entry.args:
        targets = analysis.names.get(word, [])
        before = [s for s in targets if (s.line, s.col) < (line, col)]
        return [before[-1]] if before else targets[:1]
    if word.startswith("$"):
        name = word[1:]
        block = entry.block if entry is not None else _block_at(analysis, line)
        if block is not None and name in spec.blocks[block].args:
            return [spec.root["blocks"][block]["args"].key_spans[name]]
        params = spec.root.get("params")
        if isinstance(params, YMap) and name in params.key_spans:
            return [params.key_spans[name]]
    return []


def _word_at(text: str, line: int, col: int) -> str | None:
    lines = re.split(r"\r\n|\r|\n", text)
    if not 1 <= line <= len(lines):
        return None
    for match in _WORD.finditer(lines[line - 1]):
        if match.start() < col <= match.end() + 1:
            return match.group()
    return None


def _block_at(analysis: Analysis, line: int) -> str | None:
    """The block whose definition holds `line`, if any."""
    blocks = analysis.spec.root.get("blocks")
    if isinstance(blocks, YMap):
        for name, value in blocks.items():
            span = getattr(value, "span", None)
            if span and span.line <= line <= span.end_line:
                return name
    return None


# Completion -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # "op", "block", "keyword", "field", "argument", "name", "key"
    detail: str


_ITEM_START = re.compile(r"^\s*-\s+([A-Za-z_][A-Za-z0-9_]*)?$")
_FLOW_FIELD = re.compile(r"^\s*-\s+([A-Za-z_][A-Za-z0-9_]*):\s*\{(?:[^{}]*[,{])?\s*[A-Za-z_0-9]*$")
_REF = re.compile(r"\bref:\s*[A-Za-z_0-9]*$")
_KEY = re.compile(r"^(\s*)[A-Za-z_0-9]*$")
_OWNER = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][A-Za-z0-9_]*):\s*$")


def completions(analysis: Analysis | None, text: str, line: int, col: int) -> list[Completion]:
    """What may be written at the position: after `- `, an op, a block or a structural item;
    inside an item's fields, its fields or the block's arguments; after `ref:`, a name; at
    the top level, the spec's keys. Read from the text before the position, so that it works
    while the YAML is unfinished; blocks and names come from the last analysis."""
    lines = re.split(r"\r\n|\r|\n", text)
    if not 1 <= line <= len(lines):
        return []
    before = lines[line - 1][: col - 1]
    if _REF.search(before):
        names = analysis.names if analysis else {}
        return [Completion(name, "name", "a named output") for name in sorted(names)]
    if _ITEM_START.match(before):
        return _heads(analysis)
    match = _FLOW_FIELD.match(before)
    if match:
        return _fields(analysis, match[1])
    match = _KEY.match(before)
    if match:
        indent = len(match[1])
        if indent == 0:
            return [Completion(key, "key", about) for key, about in TOP_LEVEL.items()]
        for above in reversed(lines[: line - 1]):
            owner = _OWNER.match(above)
            if owner and len(owner[1]) < indent:
                return _fields(analysis, owner[2])
            if above.strip() and len(above) - len(above.lstrip()) < indent:
                break
    return []


def _heads(analysis: Analysis | None) -> list[Completion]:
    found = [Completion(name, "op", cls.summary) for name, cls in sorted(OPS.items())]
    found += [
        Completion(name, "keyword", structural_summary(name))
        for name in STRUCTURAL
        if name not in OPS
    ]
    spec = analysis.spec if analysis else None
    if spec is not None:
        found += [
            Completion(name, "block", block.description or "a block of this spec")
            for name, block in spec.blocks.items()
        ]
    return found


def _fields(analysis: Analysis | None, head: str) -> list[Completion]:
    spec = analysis.spec if analysis else None
    if spec is not None and head in spec.blocks:
        found = [
            Completion(name, "argument", f"{arg.type}: {arg.description}".rstrip(": "))
            for name, arg in spec.blocks[head].args.items()
        ]
    else:
        model = OPS.get(head) or STRUCTURAL.get(head)
        if model is None or head == "ref":
            return []
        found = [
            Completion(name, "field", field_doc(analysis, head, name) or "")
            for name in model.model_fields
        ]
    common = [Completion(k, "field", v["description"]) for k, v in COMMON_FIELDS.items()]
    return found + common
