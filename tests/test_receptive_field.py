"""Receptive fields: archc's static answers against a gradient measurement in PyTorch.

Each seed network (tests/reference/seed_nets.py) is turned into a linear network in which no
path is zeroed: every convolution sums its whole window with positive weights (one output
channel, the geometry kept), activations, batch norms and dropout become identities, and max
pooling becomes average pooling of the same geometry. For one output position of a layer, the
input positions with a non-zero gradient are exactly its receptive field, clipped to the input.
The top-left position measures the effective padding, a central one the size, and its neighbour
the stride; layers are matched with archc's in execution order (merges have no module).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import archc
from archc.dims import axis_letters
from archc.ops.base import ReceptiveField as Field
from archc.ops.merge import Merge, _union

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from tests.reference import nd_nets, seed_nets  # noqa: E402

SPECS = Path(__file__).parent.parent / "specs"


class _SumConv(nn.Module):
    """A convolution's geometry with one output channel and positive weights (any rank)."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d | nn.Conv3d):
        super().__init__()
        self.kernel, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation

    def forward(self, x):
        weight = torch.ones(1, x.shape[1], *self.kernel, dtype=x.dtype) / x.shape[1]
        conv = getattr(F, f"conv{len(self.kernel)}d")
        return conv(x, weight, None, self.stride, self.padding, self.dilation)


_AVERAGE = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}


def _linearize(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            replacement = _SumConv(child)
        elif type(child) in _AVERAGE:
            replacement = _AVERAGE[type(child)](
                child.kernel_size, child.stride, child.padding, ceil_mode=child.ceil_mode
            )
        elif isinstance(
            child,
            (
                nn.ReLU,
                nn.Sigmoid,
                nn.BatchNorm1d,
                nn.BatchNorm2d,
                nn.BatchNorm3d,
                nn.Dropout,
                nn.Linear,
            ),
        ):
            replacement = nn.Identity()
        else:
            _linearize(child)
            continue
        setattr(module, name, replacement)
    return module


def _runs(mask) -> list[tuple[int, int]]:
    """The maximal runs of True in a 1-D boolean tensor, as (first, last)."""
    indices = [int(i) for i in mask.nonzero().flatten()]
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [tuple(r) for r in runs]


def _field(rf, size: int) -> tuple[int, int, int]:
    """(size, stride, padding) along the height; a symbolic size evaluated at H = size."""
    field = rf[0]
    rf = field.size.subs({"H": size}) if hasattr(field.size, "subs") else field.size
    return int(rf), int(field.stride), int(field.padding)


def _predicted(field, position: int, size: int) -> tuple[int, int]:
    rf, stride, padding = field
    first = position * stride - padding
    return (max(0, first), min(size - 1, first + rf - 1))


def _input_size(network) -> int:
    """A size at which an inner field of every layer lies inside the input."""
    largest = max(
        rf[0].size
        for layer, rf in zip(network.layers, network.analysis.receptive_fields)
        if len(layer.shape) == 4 and isinstance(rf[0].size, int)
    )
    return 3 * largest + 64


def _sample(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    step = len(items) / count
    return sorted({items[int(i * step)] for i in range(count)} | {items[-1]})


@pytest.mark.parametrize("name", sorted(seed_nets.SEED_NETWORKS))
def test_receptive_fields_match_gradient_measurement(name):
    # Spatial fields do not depend on the linear layers that fix LeNet's or VGG's input size:
    # take them from the symbolic check (square inputs), and measure at a size large enough.
    network = archc.check(archc.load(SPECS / f"{name}.yaml"), ["N", 1, "H", "H"])
    assert network.ok
    size = _input_size(network)
    ours = [layer for layer in network.layers if not isinstance(layer.op, Merge)]
    rf = dict(zip([layer.path for layer in network.layers], network.analysis.receptive_fields))
    make, _ = seed_nets.SEED_NETWORKS[name]
    model = _linearize(make()).double().eval()
    outputs: list = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for m in model.modules()
        if next(m.children(), None) is None
    ]
    x = torch.ones(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    model(x)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == len(ours)
    # Windowed layers (a global pool's field is the whole, clipped by dropped rows).
    spatial = [
        i
        for i, layer in enumerate(ours)
        if len(layer.shape) == 4
        and isinstance(rf[layer.path][0].size, int)
        and rf[layer.path][0].size > 0
    ]
    spatial = [i for i in spatial if None not in ours[i].op.geometry(ours[i].input_shapes[0])]
    for index in _sample(spatial, 12):
        layer, out = ours[index], outputs[index]
        field = _field(rf[layer.path], size)
        centre = field[0] // field[1] + 1  # the first whose field is disjoint from the corner's
        # The top-left position and an inner one at once: their fields are disjoint.
        (grad,) = torch.autograd.grad(
            out[0, :, 0, 0].sum() + out[0, :, centre, centre].sum(), x, retain_graph=True
        )
        plane = grad[0, 0] != 0
        for axis, mask in enumerate((plane.any(dim=1), plane.any(dim=0))):
            measured = _runs(mask)
            expected = [_predicted(field, 0, size), _predicted(field, centre, size)]
            assert measured == expected, (layer.path, axis, field)
        first = centre * field[1] - field[2]
        assert first > 0 and first + field[0] - 1 < size - 1, (layer.path, field, size)


@pytest.mark.parametrize("name", sorted(nd_nets.ND_NETWORKS))
def test_receptive_fields_per_axis_match_gradient_measurement(name):
    # The same measurement for one and three spatial axes, each axis with its own field. Axis
    # by axis: an input long along it (an inner field of every windowed layer fits) and of the
    # smallest valid size along the others; for the corner output and an inner one along the
    # axis, the positions along it with a non-zero gradient are the two predicted runs.
    make, shape = nd_nets.ND_NETWORKS[name]
    rank = len(shape) - 2
    spec = archc.load(SPECS / f"{name}.yaml")
    network = archc.check(spec)
    assert network.ok
    letters = axis_letters(rank)
    valid = archc.check(spec, ["N", shape[1], *letters]).analysis.valid_inputs
    smallest = [valid[letter][0][0] for letter in letters]
    fields = [
        [(int(f.size), int(f.stride), int(f.padding)) for f in rf]
        for rf in network.analysis.receptive_fields
    ]
    windowed = [
        i
        for i, layer in enumerate(network.layers)
        if len(layer.shape) == rank + 2 and None not in layer.op.geometry(layer.input_shapes[0])
    ]
    model = _linearize(make()).double().eval()
    outputs: list = []
    for m in model.modules():
        if next(m.children(), None) is None:
            m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
    for axis in range(rank):
        sizes = list(smallest)
        sizes[axis] = max(2 * fields[i][axis][0] + 2 * fields[i][axis][1] for i in windowed) + 8
        outputs.clear()
        x = torch.ones(1, shape[1], *sizes, dtype=torch.float64, requires_grad=True)
        model(x)
        assert len(outputs) == len(network.layers)
        for index in _sample(windowed, 5):
            field = fields[index][axis]
            centre = field[0] // field[1] + 1  # the first whose field is disjoint from the corner's
            out = outputs[index][0].sum(dim=0)  # (*spatial): every channel
            inner = tuple(centre if a == axis else 0 for a in range(rank))
            (grad,) = torch.autograd.grad(out[(0,) * rank] + out[inner], x, retain_graph=True)
            read = grad[0].abs().sum(dim=0) != 0  # (*spatial): the input positions read
            others = tuple(a for a in range(rank) if a != axis)
            mask = read.any(dim=others) if others else read
            expected = [
                _predicted(field, 0, sizes[axis]),
                _predicted(field, centre, sizes[axis]),
            ]
            assert _runs(mask) == expected, (network.layers[index].path, axis, field)


def test_merge_takes_the_union_of_offset_branches():
    # Branch a reads [u, u + 2], branch b [u - 2, u]: the union is 5 wide, not max(3, 3).
    a = Field(3, Fraction(1), Fraction(0))
    b = Field(3, Fraction(1), Fraction(2))
    assert _union([a, b]).to_json() == (5, 1, 2)
    # Centred branches: the widest one.
    assert _union([Field(3, Fraction(2), Fraction(1)), Field(1, Fraction(2), Fraction(0))]) == (
        Field(3, Fraction(2), Fraction(1))
    )


@pytest.mark.parametrize(
    ("last", "mixed"),
    [
        ("softmax: {dim: 2}", (True, False)),  # every row of a column
        ("softmax: {dim: 3}", (False, True)),
        ("softmax: {dim: 1}", (False, False)),  # over channels: one position
        ("layernorm", (False, True)),  # over the last dim, W
        ("linear: {out_features: 8}", (False, True)),
    ],
)
def test_an_op_that_mixes_an_axis_sees_all_of_it(last, mixed):
    spec = archc.load_text(
        "archc: 1\nname: t\ninput: [1, 3, 8, 8]\nbody:\n"
        f"  - conv2d: {{out_channels: 4, kernel_size: 3}}\n  - {last}\n"
    )
    network = archc.check(spec)
    assert network.ok
    assert len(network.layers) == 2
    model = archc.build(network).double().eval()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    out = model(x)[0, :, 3, 3]  # a weighted sum: a plain one of a softmax is constant
    (grad,) = torch.autograd.grad((out * torch.rand_like(out)).sum(), x)
    plane = grad[0].abs().sum(dim=0) != 0  # (H, W): the input positions the output reads
    for axis, mask in enumerate((plane.any(dim=1), plane.any(dim=0))):
        rows = mask.nonzero().flatten().tolist()
        measured = rows[-1] - rows[0] + 1
        # The whole input along a mixed axis (8, no padding); the conv's 3 otherwise.
        assert measured == (8 if mixed[axis] else 3), (axis, rows)
        assert network.analysis.receptive_fields[1][axis].size == measured, axis
    assert [f.size for f in network.analysis.receptive_fields[0]] == [3, 3]
