"""Layout by recursive boxes, written as SVG.

A network built from sequences and merges is series-parallel, so it lays out without a
general graph layout: a sequence stacks its items top to bottom on one vertical axis, a merge
sets its branches side by side between a fan-out and a fan-in, a block or seq is a framed
sequence. Every laid-out item is a `Box` with its input at the top of its axis and its output at
the bottom, so a parent only stacks boxes and joins them with labelled connectors. Only `ref`
edges are not local: they are drawn last, from the referenced layer along a lane on the right.

Text is monospace, so its width is known without font metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from archc.dims import format_shape
from archc.draw.tree import Node, build_tree
from archc.ir import Network

FONT, SMALL, TITLE = 12.0, 10.5, 15.0
GAP = 26  # a connector between two items of a sequence
PAD, HEAD = 10, 22  # a frame's padding and its header
BRANCH_GAP, STUB = 20, 10
LAYER_H, COLLAPSED_H, MERGE_H = 26, 52, 22
LANE = 18  # between `ref` lanes
MARGIN = 16


STYLE = """
text { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace;
       font-size: 12px; fill: #1f2328; }
.shape { font-size: 10.5px; fill: #57606a; }
.note { font-size: 10.5px; fill: #57606a; }
.head { font-size: 10.5px; font-weight: bold; fill: #0b4f8a; }
.head.seq { fill: #57606a; }
.name { font-weight: bold; }
.title { font-size: 15px; font-weight: bold; }
.box { stroke: #57606a; stroke-width: 1; fill: #ffffff; }
.op-conv { fill: #dbeafe; } .op-pool { fill: #dcfce7; } .op-norm { fill: #fef9c3; }
.op-dense { fill: #ede9fe; } .op-activation { fill: #fdf2f8; } .op-layout { fill: #f1f5f9; }
.op-attention { fill: #fecdd3; stroke: #be123c; stroke-width: 1.5; }
.collapsed { fill: #e0f2fe; stroke: #0b4f8a; stroke-width: 1.5; }
.merge { fill: #ffedd5; stroke: #c2410c; }
.io { fill: #f6f8fa; }
.frame { fill: none; stroke-width: 1; }
.frame.block { stroke: #0b4f8a; stroke-dasharray: 5 3; fill: #f5faff; fill-opacity: 0.6; }
.frame.seq { stroke: #b6bec8; }
.edge { stroke: #57606a; stroke-width: 1.2; fill: none; }
.ref { stroke: #b42318; stroke-width: 1.2; fill: none; stroke-dasharray: 4 3; }
.refshape { font-size: 10.5px; fill: #b42318; }
"""


def text_width(text: str, size: float = FONT, bold: bool = False) -> float:
    """The width of monospace text: 0.6 em per character (a little more when bold)."""
    return len(text) * size * (0.62 if bold else 0.6)


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


@dataclass
class Box:
    """A laid-out item: its size, the x of its axis, and how to draw it at a top-left corner."""

    w: float
    h: float
    ax: float
    emit: Callable[[float, float], None]


class Canvas:
    """Collects SVG elements, the anchor of each drawn value, and the `ref` edges to draw."""

    def __init__(self, network: Network, prefix: str):
        self.network = network
        self.prefix = prefix
        self.parts: list[str] = []
        self.anchors: dict[int, tuple[float, float]] = {}  # value -> right-middle of its box
        self.refs: list[tuple[int, float, float]] = []  # value, x, y of the box it enters
        self.shapes = {0: network.input}
        for index, layer in enumerate(network.layers):
            self.shapes[index + 1] = layer.shape

    def shape(self, value: int) -> str:
        return format_shape(self.shapes[value]) if value in self.shapes else "?"

    def add(self, element: str) -> None:
        self.parts.append(element)

    def line(self, x1: float, y1: float, x2: float, y2: float, arrow: bool = False) -> None:
        if y1 == y2 and x1 == x2:
            return
        marker = f' marker-end="url(#{self.prefix}arrow)"' if arrow else ""
        self.add(f'<path class="edge" d="M{x1:g},{y1:g} L{x2:g},{y2:g}"{marker}/>')

    def text(self, x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> None:
        attrs = f' class="{cls}"' if cls else ""
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        self.add(f'<text x="{x:g}" y="{y:g}"{attrs}>{escape(text)}</text>')

    def rect(self, x, y, w, h, cls: str, tip: str, path: str, rx: float = 4) -> None:
        self.add(
            f'<rect class="{cls}" x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{rx:g}"'
            f" data-path={quoteattr(path)}><title>{escape(tip)}</title></rect>"
        )


# Items --------------------------------------------------------------------------------------


def _leaf(node: Node) -> bool:
    return node.kind in ("layer", "collapsed", "io")


def layer_box(canvas: Canvas, node: Node, label: str | None = None) -> Box:
    layer = node.layer
    label = label or node.label
    w = max(72.0, text_width(label) + 20)
    category = layer.op.category
    fields = layer.op.non_defaults()
    tip = "\n".join(
        [
            f"{layer.path}: {layer.op.name}",
            *(f"  {k}: {v}" for k, v in fields.items()),
            f"output {format_shape(layer.shape)}",
            f"params {_count(layer.params)}",
            f"line {layer.line}",
        ]
    )

    def emit(x: float, y: float) -> None:
        canvas.rect(x, y, w, LAYER_H, f"box layer op-{category}", tip, layer.path)
        canvas.text(x + w / 2, y + 17, label, anchor="middle")
        canvas.anchors[node.exit] = (x + w, y + LAYER_H / 2)
        if layer.inputs[0] != node.incoming:
            canvas.refs.append((layer.inputs[0], x + w / 2, y))

    return Box(w, LAYER_H, w / 2, emit)


def collapsed_box(canvas: Canvas, node: Node) -> Box:
    layers = node.layers()
    shape = canvas.shape(node.exit)
    params = f"{_count(node.params)} params"
    w = max(text_width(node.label, bold=True), text_width(shape, SMALL), text_width(params, SMALL))
    w += 24
    tip = f"{node.path}: block {node.label}, {len(layers)} layers\noutput {shape}\n{params}"
    inside = {layer_index + 1 for layer_index in _indices(node)}

    def emit(x: float, y: float) -> None:
        canvas.rect(x, y, w, COLLAPSED_H, "box collapsed", tip, node.path, rx=6)
        canvas.text(x + w / 2, y + 17, node.label, "name", "middle")
        canvas.text(x + w / 2, y + 31, shape, "shape", "middle")
        canvas.text(x + w / 2, y + 44, params, "note", "middle")
        for value in inside:
            canvas.anchors[value] = (x + w, y + COLLAPSED_H / 2)
        outside = {v for layer in layers for v in layer.inputs if v not in inside}
        for value in sorted(outside - {node.incoming}):
            canvas.refs.append((value, x + w / 2, y))

    return Box(w, COLLAPSED_H, w / 2, emit)


def _indices(node: Node) -> list[int]:
    found = [node.index] if node.index >= 0 else []
    for child in [*node.children, *node.branches]:
        found += _indices(child)
    return found


def sequence(canvas: Canvas, nodes: list[Node], boxes: list[Box] | None = None) -> Box:
    """Items stacked on one axis, joined by connectors labelled with the shape they carry."""
    boxes = boxes or [item(canvas, node) for node in nodes]
    labels = [canvas.shape(node.exit) for node in nodes[:-1]]
    left = max(b.ax for b in boxes)
    right = max([b.w - b.ax for b in boxes] + [text_width(t, SMALL) + 6 for t in labels])
    h = sum(b.h for b in boxes) + GAP * (len(boxes) - 1)

    def emit(x: float, y: float) -> None:
        axis = x + left
        for i, (node, box) in enumerate(zip(nodes, boxes)):
            box.emit(axis - box.ax, y)
            y += box.h
            if i + 1 < len(nodes):
                after = nodes[i + 1]
                if after.entry == node.exit:
                    canvas.line(axis, y, axis, y + GAP, arrow=_leaf(after))
                    canvas.text(axis + 5, y + GAP / 2 + 4, labels[i], "shape")
                y += GAP

    return Box(left + right, h, left, emit)


def frame(canvas: Canvas, node: Node) -> Box:
    """A block call or seq: its items in a labelled frame."""
    inner = sequence(canvas, node.children)
    kind = "block" if node.kind == "block" else "seq"
    header = f"{node.label} · {_count(node.params)} params"
    need = text_width(header, SMALL, bold=True) + PAD + 6
    left, right = PAD + inner.ax, PAD + inner.w - inner.ax
    on_left = left >= need or right < need
    if on_left:
        left = max(left, need)
    w, h = left + right, HEAD + inner.h + PAD
    first = node.children[0]

    def emit(x: float, y: float) -> None:
        axis = x + left
        canvas.rect(x, y, w, h, f"frame {kind}", f"{node.path}: {kind} {node.label}", node.path)
        canvas.text(x + PAD if on_left else axis + 6, y + 15, header, f"head {kind}")
        if first.entry == node.incoming:
            canvas.line(axis, y, axis, y + HEAD, arrow=_leaf(first))
        inner.emit(axis - inner.ax, y + HEAD)
        canvas.line(axis, y + HEAD + inner.h, axis, y + h)

    return Box(w, h, left, emit)


def merge(canvas: Canvas, node: Node) -> Box:
    """Branches side by side: fan-out from the top, fan-in to the merge node at the bottom."""
    columns = []  # (branch, inner box or None, left, right, tail label)
    for slot, branch in enumerate(node.branches):
        value = node.layer.inputs[slot] if slot < len(node.layer.inputs) else branch.exit
        label = canvas.shape(value)
        if branch.children:
            inner = sequence(canvas, branch.children)
            left, right = inner.ax, max(inner.w - inner.ax, text_width(label, SMALL) + 6)
        else:
            inner, left, right = None, 4.0, text_width(label, SMALL) + 6
        columns.append((branch, inner, left, right, label))
    axes, x = [], 0.0
    for _, _, left, right, _ in columns:
        axes.append(x + left)
        x += left + right + BRANCH_GAP
    width = x - BRANCH_GAP
    top = 2 * STUB
    tallest = max((inner.h for _, inner, *_ in columns if inner), default=0)
    bus = top + tallest + GAP
    axis = (axes[0] + axes[-1]) / 2
    pill_w = text_width(node.label) + 20
    left_extent = max(axis, pill_w / 2)
    shift = left_extent - axis  # room for a pill wider than the branches
    w = max(width + shift, left_extent + pill_w / 2)
    h = bus + STUB + MERGE_H
    layer = node.layer
    tip = f"{layer.path}: {layer.op.name} of {len(layer.inputs)}\noutput {canvas.shape(node.exit)}"

    def emit(x: float, y: float) -> None:
        x += shift
        mid = x + axis
        canvas.line(mid, y, mid, y + STUB)
        fed = [a for (branch, *_), a in zip(columns, axes) if _fed(branch, node)]
        if fed:
            canvas.line(x + min(axis, *fed), y + STUB, x + max(axis, *fed), y + STUB)
        canvas.line(x + axes[0], y + bus, x + axes[-1], y + bus)
        for (branch, inner, _, _, label), column in zip(columns, axes):
            cx = x + column
            if inner is None:
                if _fed(branch, node):
                    canvas.line(cx, y + STUB, cx, y + bus)
                else:
                    canvas.refs.append((branch.incoming, cx, y + top))
                    canvas.line(cx, y + top, cx, y + bus)
                canvas.text(cx + 5, y + top + 13, label, "shape")
                continue
            first = branch.children[0]
            if _fed(branch, node):
                canvas.line(cx, y + STUB, cx, y + top, arrow=_leaf(first))
            inner.emit(cx - inner.ax, y + top)
            bottom = y + top + inner.h
            canvas.line(cx, bottom, cx, y + bus)
            canvas.text(cx + 5, bottom + 14, label, "shape")
        canvas.line(mid, y + bus, mid, y + bus + STUB, arrow=True)
        canvas.rect(
            mid - pill_w / 2, y + bus + STUB, pill_w, MERGE_H, "box merge", tip, layer.path, 11
        )
        canvas.text(mid, y + bus + STUB + 15, node.label, anchor="middle")
        canvas.anchors[node.exit] = (mid + pill_w / 2, y + bus + STUB + MERGE_H / 2)

    return Box(w, h, shift + axis, emit)


def fork(canvas: Canvas, node: Node) -> Box:
    """The parts of a `chunk`/`split`, side by side under a fan-out from their input; the flow
    goes on from the last part, the others are read by `ref` edges from their boxes."""
    boxes = [
        layer_box(canvas, part, f"{part.path.rpartition('.')[2]} · {part.label}")
        for part in node.children
    ]
    axes, x = [], 0.0
    for box in boxes:
        axes.append(x + box.ax)
        x += box.w + BRANCH_GAP
    ax = axes[-1]

    def emit(x: float, y: float) -> None:
        canvas.line(x + axes[0], y + STUB, x + ax, y + STUB)
        canvas.line(x + ax, y, x + ax, y + STUB)
        for box, column in zip(boxes, axes):
            canvas.line(x + column, y + STUB, x + column, y + 2 * STUB, arrow=True)
            box.emit(x + column - box.ax, y + 2 * STUB)

    return Box(x - BRANCH_GAP, 2 * STUB + max(b.h for b in boxes), ax, emit)


def _fed(branch: Node, merge: Node) -> bool:
    """Whether a branch starts from the merge's input (not from a `ref`)."""
    return branch.entry == merge.incoming


def item(canvas: Canvas, node: Node) -> Box:
    if node.kind == "layer":
        return layer_box(canvas, node)
    if node.kind == "collapsed":
        return collapsed_box(canvas, node)
    if node.kind == "merge":
        return merge(canvas, node)
    if node.kind == "fork":
        return fork(canvas, node)
    return frame(canvas, node)


# The picture ---------------------------------------------------------------------------------


OUTPUT_GAP = 12  # between the pills of several outputs


def pill(canvas: Canvas, label: str, value: int | None) -> Box:
    w = text_width(label) + 24

    def emit(x: float, y: float) -> None:
        canvas.rect(x, y, w, MERGE_H, "box io", label, label, rx=11)
        canvas.text(x + w / 2, y + 15, label, anchor="middle")
        if value is not None:
            canvas.anchors[value] = (x + w, y + MERGE_H / 2)

    return Box(w, MERGE_H, w / 2, emit)


def render_svg(network: Network, collapse: bool = True, prefix: str = "") -> str:
    """The network as an SVG document; `collapse` draws each block call as one box.

    >>> from archc.api import check, load
    >>> svg = render_svg(check(load("specs/googlenet.yaml")))
    >>> svg.startswith("<svg")
    True
    """
    root = build_tree(network, collapse)
    canvas = Canvas(network, prefix)
    start = Node("input", "input", "input")
    start.kind, start.incoming = "io", 0
    last = root.children[-1].exit if root.children else 0
    end, end_box = outputs(canvas, network, last)
    nodes = [start, *root.children, end]
    boxes = [pill(canvas, "input", 0), *(item(canvas, n) for n in root.children), end_box]
    body = sequence(canvas, nodes, boxes)
    title = network.name
    summary = (
        f"{format_shape(network.input)} → {network.outputs_text()}  ·  "
        f"{_count(network.params)} params"
    )
    if isinstance(network.macs, int):  # a symbolic count is too long for a title line
        summary += f"  ·  {network.macs:,} MACs"
    head_h = 44
    body.emit(MARGIN, MARGIN + head_h)
    lanes = _draw_refs(canvas, MARGIN + body.w + 20)
    w = max(
        MARGIN + body.w + (20 + LANE * lanes if lanes else 0),
        MARGIN + text_width(summary, SMALL),
        MARGIN + text_width(title, TITLE, True),
    )
    w, h = w + MARGIN, MARGIN + head_h + body.h + MARGIN
    top = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:g}" height="{h:g}" '
        f'viewBox="0 0 {w:g} {h:g}" role="img">',
        f"<title>{escape(network.name)}</title>",
        f"<style>{STYLE}</style>",
        f'<defs><marker id="{prefix}arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#57606a"/></marker>'
        f'<marker id="{prefix}refarrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#b42318"/></marker></defs>',
        f'<rect x="0" y="0" width="{w:g}" height="{h:g}" fill="#ffffff"/>',
        f'<text class="title" x="{MARGIN}" y="{MARGIN + 14}">{escape(title)}</text>',
        f'<text class="note" x="{MARGIN}" y="{MARGIN + 32}">{escape(summary)}</text>',
    ]
    return "\n".join([*top, *canvas.parts, "</svg>"]) + "\n"


def outputs(canvas: Canvas, network: Network, last: int) -> tuple[Node, Box]:
    """The output pills, side by side, each named; the one reading the last item's value is
    joined to it directly, the others by `ref` lanes from the layers they read."""
    named = [(o.name if len(network.outputs) > 1 else "output", o.value) for o in network.outputs]
    named = named or [("output", last)]
    widths = [text_width(label) + 24 for label, _ in named]
    starts = [sum(widths[:k]) + OUTPUT_GAP * k for k in range(len(named))]
    direct = next((k for k, (_, value) in enumerate(named) if value == last), None)
    node = Node("output", "output", "output")
    node.kind, node.incoming = "io", last if direct is not None else -1

    def emit(x: float, y: float) -> None:
        for k, ((label, value), w) in enumerate(zip(named, widths)):
            px = x + starts[k]
            title, path = (
                (label, label) if label == "output" else (f"output {label}", f"output:{label}")
            )
            canvas.rect(px, y, w, MERGE_H, "box io", title, path, rx=11)
            canvas.text(px + w / 2, y + 15, label, anchor="middle")
            if k != direct:
                canvas.refs.append((value, px + w / 2, y))

    ax = starts[direct] + widths[direct] / 2 if direct is not None else widths[0] / 2
    return node, Box(starts[-1] + widths[-1], MERGE_H, ax, emit)


def _draw_refs(canvas: Canvas, lane_x: float) -> int:
    """Draw the `ref` edges, one lane right of the picture per referenced value.

    Returns the number of lanes."""
    targets: dict[int, list[tuple[float, float]]] = {}
    for value, x, y in canvas.refs:
        points = targets.setdefault(value, [])
        if value in canvas.anchors and (x, y) not in points:
            points.append((x, y))
    lanes = [(value, points) for value, points in targets.items() if points]
    for lane, (value, points) in enumerate(lanes):
        sx, sy = canvas.anchors[value]
        lx = lane_x + LANE * lane
        for x, y in points:
            canvas.add(
                f'<path class="ref" data-value="{value}" d="M{sx:g},{sy:g} H{lx:g} V{y - 8:g} '
                f'H{x:g} V{y:g}" marker-end="url(#{canvas.prefix}refarrow)"/>'
            )
        my = (sy + points[0][1] - 8) / 2
        canvas.add(
            f'<text class="refshape" x="{lx - 4:g}" y="{my:g}" text-anchor="middle" '
            f'transform="rotate(-90 {lx - 4:g} {my:g})">{escape(canvas.shape(value))}</text>'
        )
    return len(lanes)
