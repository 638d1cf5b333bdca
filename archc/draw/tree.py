"""The drawing tree: a compiled `Network` regrouped as the spec nests it.

`Network.layers` is flat and `Network.groups` names the block calls, seqs and merges by path;
this module nests them again: a sequence holds items (layers, groups), a merge holds its
branches (each a sequence) and its merge layer. Every node knows the value that flows into it
(`entry`) and the value it writes (`exit`); where an item's entry is not what its predecessor
wrote, the spec used `ref`, and the drawing shows that as a skip edge.

    >>> from archc.api import check, load
    >>> root = build_tree(check(load("specs/resnet18.yaml")))
    >>> [child.label for child in root.children][:3]
    ['conv2d 7×7 /2', 'batchnorm2d', 'relu']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archc.ir import Layer, Network
from archc.ops.merge import Merge


@dataclass
class Node:
    kind: str  # "layer", "seq", "block", "merge", "fork", "branch" or "root"
    path: str
    label: str
    layer: Layer | None = None  # the op of a layer node, the merge layer of a merge node
    index: int = -1  # the layer's index in `Network.layers`
    children: list[Node] = field(default_factory=list)  # items of seq, block, branch, root
    branches: list[Node] = field(default_factory=list)  # of a merge, in merge-input order
    incoming: int = 0  # the value flowing into this item in its sequence
    first: int = 1 << 62  # index of the first layer inside

    @property
    def exit(self) -> int:
        """The value this item writes: layer i writes value i + 1."""
        if self.kind in ("layer", "merge"):
            return self.index + 1
        return self.children[-1].exit if self.children else self.incoming  # a fork: its last part

    @property
    def entry(self) -> int:
        """The value this item reads first (differs from `incoming` after a `ref`)."""
        if self.kind == "layer":
            return self.layer.inputs[0]
        if self.kind == "merge":
            return self.incoming
        return self.children[0].entry if self.children else self.incoming

    def layers(self) -> list[Layer]:
        """Every layer inside, merge layers included."""
        found = [self.layer] if self.layer is not None else []
        for child in [*self.children, *self.branches]:
            found += child.layers()
        return found

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers())


def op_label(layer: Layer) -> str:
    """A short description of a layer: `conv2d 3×3 /2`, `maxpool3d 1×2×2`, `linear`."""
    op = layer.op
    parts = [op.name]
    kernel = getattr(op, "kernel_size", None)
    if isinstance(kernel, (tuple, list)):
        parts.append(_sizes(kernel))
    stride = getattr(op, "stride", None)
    if isinstance(stride, (tuple, list)) and set(stride) != {1} and stride != kernel:
        parts.append("/" + _same_or_sizes(stride))
    dilation = getattr(op, "dilation", None)
    if isinstance(dilation, (tuple, list)) and set(dilation) != {1}:
        parts.append("dil " + _same_or_sizes(dilation))
    groups = getattr(op, "groups", 1)
    if isinstance(groups, int) and groups != 1:
        parts.append(f"g{groups}")
    detail = op.detail(layer.input_shapes[0])
    return " ".join([*parts, detail] if detail else parts)


def _sizes(values) -> str:
    return "×".join(str(v) for v in values)


def _same_or_sizes(values) -> str:
    """`2` when every axis agrees, `1×2×2` when they differ."""
    return str(values[0]) if len(set(values)) == 1 else _sizes(values)


def _parent(path: str, groups: dict) -> tuple[str, str]:
    """The innermost group strictly containing `path`, and the segment just below it."""
    parts = path.split(".")
    for k in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:k])
        if prefix in groups:
            return prefix, parts[k]
    return "", parts[0]


def build_tree(network: Network, collapse: bool = False) -> Node:
    """Nest the network's layers in its groups; `collapse` keeps block calls as leaves."""
    root = Node("root", "", network.name)
    nodes: dict[str, Node] = {"": root}
    branch_of: dict[str, dict[str, Node]] = {}
    for path, group in network.groups.items():
        nodes[path] = Node(group.kind, path, group.label)
        if group.kind == "merge":
            branch_of[path] = {}

    def attach(node: Node) -> None:
        parent_path, segment = _parent(node.path, network.groups)
        parent = nodes[parent_path]
        if parent.kind == "merge":
            branches = branch_of[parent_path]
            if segment not in branches:
                branches[segment] = Node("branch", f"{parent_path}.{segment}", segment)
            parent = branches[segment]
        parent.children.append(node)

    for path in network.groups:
        attach(nodes[path])
    for index, layer in enumerate(network.layers):
        group = network.groups.get(layer.path)
        if isinstance(layer.op, Merge) and group is not None and group.kind == "merge":
            node = nodes[layer.path]
            node.layer, node.index = layer, index
        else:
            attach(Node("layer", layer.path, op_label(layer), layer, index))
    _finish(root, branch_of)
    _order(root)
    _forks(root)
    _flow(root, 0)
    if collapse:
        _collapse(root)
    return root


def _finish(node: Node, branch_of: dict[str, dict[str, Node]]) -> int:
    """Set `first` bottom-up, drop items without layers, put branches in merge-input order."""
    for child in node.children:
        _finish(child, branch_of)
    node.children = [c for c in node.children if c.first < 1 << 62]
    if node.kind == "layer":
        node.first = node.index
    elif node.kind == "merge":
        named = list(branch_of.get(node.path, {}).values())
        for branch in named:
            _finish(branch, branch_of)
        named = sorted((b for b in named if b.children), key=lambda b: b.first)
        node.branches = _slots(node, named)
        node.first = min([node.index, *(b.first for b in named)])
    elif node.children:
        node.first = min(c.first for c in node.children)
    return node.first


def _slots(merge: Node, named: list[Node]) -> list[Node]:
    """One branch per merge input: the branch that wrote it, or an empty pass-through."""
    if merge.layer is None:
        return named
    remaining = list(named)
    slots = []
    for position, value in enumerate(merge.layer.inputs):
        match = next((b for b in remaining if b.children[-1].exit == value), None)
        if match is None and len(remaining) == len(merge.layer.inputs) - position:
            match = remaining[0]  # a branch ending in `ref`: keep the spec's order
        if match is not None:
            remaining.remove(match)
            slots.append(match)
        else:
            empty = Node("branch", f"{merge.path}.{position}", "")
            empty.first = merge.index
            empty.incoming = value  # what passes through: the input, or a `ref` target
            slots.append(empty)
    return slots


def _forks(node: Node) -> None:
    """Gather the parts of one `chunk`/`split` item (consecutive layers written at one place,
    reading one value) into a fork node, drawn as parts side by side."""
    grouped: list[Node] = []
    for child in node.children:
        previous = grouped[-1] if grouped else None
        if child.kind == "layer" and getattr(child.layer.op, "splits", False):
            parts = previous.children if previous and previous.kind == "fork" else None
            first = parts[0].layer if parts else None
            if first and (first.span, first.inputs) == (child.layer.span, child.layer.inputs):
                parts.append(child)
                continue
            fork = Node("fork", child.path, child.layer.op.name, first=child.first)
            fork.children.append(child)
            grouped.append(fork)
            continue
        grouped.append(child)
    node.children = [
        c.children[0] if c.kind == "fork" and len(c.children) == 1 else c for c in grouped
    ]
    for child in [*node.children, *node.branches]:
        if child.kind != "fork":
            _forks(child)


def _order(node: Node) -> None:
    node.children.sort(key=lambda c: c.first)
    for child in [*node.children, *node.branches]:
        _order(child)


def _flow(node: Node, incoming: int) -> None:
    """Record the value flowing into each item: its predecessor's exit."""
    if node.kind == "branch" and not node.children:
        return  # an empty branch already knows what it passes through
    node.incoming = incoming
    for branch in node.branches:
        _flow(branch, incoming)
    for child in node.children:
        _flow(child, incoming)
        if node.kind != "fork":  # a fork's parts all read what flows into it
            incoming = child.exit


def _collapse(node: Node) -> None:
    for child in [*node.children, *node.branches]:
        if child.kind == "block":
            child.kind = "collapsed"
        else:
            _collapse(child)
