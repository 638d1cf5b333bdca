"""The compiled network: primitive layers in execution order, as plain data.

Expansion turns a spec into a `Network`: a list of `Layer`s, each reading earlier values by id
(0 is the network input, layer i writes value i + 1) and carrying its static answers: output
shape, parameters, buffers, MACs. Analysis, lowering and rendering all read this one structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archc.diagnostics import Diagnostic, Span
from archc.dims import Dim, format_shape
from archc.ops.base import Op, Shape


@dataclass
class Layer:
    path: str  # where the layer is in the spec's structure: messages, tables, drawings
    key: str  # its module's name, for state_dict keys and ONNX nodes: the path less `inline`s
    op: Op  # a merge (add, concat, mul) too: `isinstance(layer.op, Merge)`
    inputs: tuple[int, ...]
    input_shapes: tuple[Shape, ...]
    shape: Shape
    params: int
    buffers: int
    macs: Dim
    span: Span
    file: str

    @property
    def line(self) -> int:
        return self.span.line


@dataclass(frozen=True)
class Output:
    """One output of the network: its name (`output` unless the spec names its outputs), the
    value id computing it, and its shape."""

    name: str
    value: int
    shape: Shape


@dataclass
class Condition:
    """A requirement on symbolic input dims: `left >= right` (kind "positive"; a size must be at
    least 1) or `left == right` (kind "equal")."""

    kind: str
    left: Dim
    right: Dim
    layer: str
    span: Span
    what: str


@dataclass
class Group:
    """An item that contains layers: a block call, a `seq`, or a merge with its branches."""

    path: str
    kind: str  # "block", "seq" or "merge"
    label: str  # the block's name, the seq's name, or the merge kind
    span: Span


@dataclass
class Analysis:
    """What the analyses found about a network: one record, filled once by the pipeline
    (`archc.analysis.analyze`); renderers read it and compute nothing themselves.

    The size warnings and hints it finds go to `Network.diagnostics`, beside the errors.
    """

    # Per layer, in order: one `archc.ops.base.ReceptiveField` per spatial input axis (None
    # where not applicable); empty when the network has errors or no spatial axes.
    receptive_fields: list[tuple] = field(default_factory=list)
    # Per value (0: the input, i: layer i - 1's output), for each of its dims, the spatial dim
    # of the network input that it holds plainly (2 for H), or None: after a `permute` the
    # dim holding H need not be dim 2. Empty when the network has errors.
    sources: list[tuple] = field(default_factory=list)
    # `archc.analysis.valid_inputs.ValidInputs` for symbolic spatial input dims, else None.
    valid_inputs: dict | None = None
    # The `memory` object of the JSON result (`archc.analysis.memory.memory_usage`).
    memory: dict | None = None

    def receptive_field(self, index: int) -> tuple | None:
        """The receptive field of layer `index`, or None where it was not computed."""
        return self.receptive_fields[index] if index < len(self.receptive_fields) else None


@dataclass
class Network:
    name: str
    description: str
    file: str
    input: Shape
    layers: list[Layer] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)  # in declared order
    diagnostics: list[Diagnostic] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)  # by path, in expansion order
    analysis: Analysis = field(default_factory=Analysis)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)

    @property
    def output(self) -> int:
        """The value id of the (first) output; 0, the input, when there is none."""
        return self.outputs[0].value if self.outputs else 0

    @property
    def output_shape(self) -> Shape | None:
        """The shape of the (first) output; None when expansion failed before it."""
        return self.outputs[0].shape if self.outputs else None

    def outputs_text(self) -> str:
        """The output shape; for named outputs, each with its name: `p3 (N, 64, 80, 80), …`."""
        if len(self.outputs) == 1 and self.outputs[0].name == "output":
            return format_shape(self.outputs[0].shape)
        return ", ".join(f"{o.name} {format_shape(o.shape)}" for o in self.outputs) or "?"

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def buffers(self) -> int:
        return sum(layer.buffers for layer in self.layers)

    @property
    def macs(self) -> Dim:
        return sum((layer.macs for layer in self.layers), start=0)
