"""Layout ops against PyTorch: the input sizes they accept, the fields they leave, their export.

Valid inputs: each network is written twice, as an archc body and as plain torch code; at
every sampled input size, PyTorch accepts (a forward pass on the meta device keeps the batch
and gives no empty dim) exactly when the size is in archc's valid set at symbolic H and W, and
the shapes agree. Receptive fields: for one output position of every layer, the input
positions with a non-zero gradient (double precision, random weights) are archc's field,
clipped to the input, along each input axis, wherever the layout ops have moved it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

import archc
from archc.analysis.periodic import contains
from archc.analysis.receptive_field import traces
from archc.dims import Sym, exact_quotient
from archc.report import layer_json

torch = pytest.importorskip("torch")
F = torch.nn.functional


def spec(body: list, input_dims: list) -> archc.spec.document.Spec:
    document = {"archc": 1, "name": "layout", "input": input_dims, "body": body}
    return archc.load_text(json.dumps(document), "layout.yaml")


def conv(x, out: int, k: int, stride: int = 1):
    return F.conv2d(x, torch.zeros(out, x.shape[1], k, k, device=x.device), stride=stride)


# Valid inputs ---------------------------------------------------------------------------------

_CONV = {"conv2d": {"out_channels": 4, "kernel_size": 3}}

# (archc body, the same in torch, input channels, or None where archc narrows PyTorch's set)
VALID = {
    "reshape -1 divides": (
        [_CONV, {"reshape": {"shape": ["N", 3, -1]}}],
        lambda x: conv(x, 4, 3).reshape(x.shape[0], 3, -1),
    ),
    "pixelunshuffle": (
        [_CONV, {"pixelunshuffle": {"downscale_factor": 2}}, {"permute": {"dims": [0, 3, 1, 2]}}],
        lambda x: F.pixel_unshuffle(conv(x, 4, 3), 2).permute(0, 3, 1, 2),
    ),
    "unflatten -1 of merged dims": (
        [{"flatten": {"start_dim": 2}}, {"unflatten": {"dim": 2, "sizes": [-1, 4]}}],
        lambda x: x.flatten(2).unflatten(2, (-1, 4)),
    ),
    "batch kept by -1": (
        [_CONV, {"reshape": {"shape": [-1, 4, 36]}}],
        lambda x: conv(x, 4, 3).reshape(-1, 4, 36),
    ),
    "strided slice and negative select": (
        [
            {"conv2d": {"out_channels": 4, "kernel_size": 3, "stride": 2}},
            {"slice": {"dim": 2, "start": 1, "step": 2}},
            {"select": {"dim": -1, "index": -3}},
            {"transpose": {"dim0": 1, "dim1": 2}},
        ],
        lambda x: conv(x, 4, 3, 2)[:, :, 1::2].select(-1, -3).transpose(1, 2),
    ),
    "tokens": (
        [
            {"conv2d": {"out_channels": 8, "kernel_size": 4, "stride": 4}},
            {"flatten": {"start_dim": 2}},
            {"transpose": {"dim0": 1, "dim1": 2}},
            {"linear": {"out_features": 6}},
            {"select": {"dim": 1, "index": 1}},
        ],
        lambda x: F.linear(conv(x, 8, 4, 4).flatten(2).transpose(1, 2), torch.zeros(6, 8)).select(
            1, 1
        ),
    ),
}


def torch_shape(forward, shape: tuple) -> tuple | None:
    """The output shape of `forward` on zeros of `shape` (meta device), or None where PyTorch
    raises, changes the batch or gives an empty dim."""
    try:
        with torch.no_grad():
            out = forward(torch.empty(shape, device="meta"))
    except (RuntimeError, ValueError, IndexError):
        return None
    if out.shape[0] != shape[0] or 0 in out.shape:
        return None
    return tuple(out.shape)


@pytest.mark.parametrize("name", sorted(VALID))
def test_pytorch_accepts_exactly_the_valid_inputs(name):
    body, forward = VALID[name]
    network = archc.check(spec(body, ["N", 2, "H", "W"]))
    assert network.ok, [d.message for d in network.diagnostics]
    valid = network.analysis.valid_inputs
    # Coupled dims are answered for square inputs (H = W), independent ones for any pair.
    sizes = (
        [(h, h) for h in range(1, 41)]
        if valid.square
        else [(h, w) for h in range(1, 25) for w in range(1, 25)]
    )
    accepted = 0
    for h, w in sizes:
        ours = contains(valid["H"], h) and contains(valid["W"], w)
        theirs = torch_shape(forward, (1, 2, h, w))
        assert ours == (theirs is not None), (h, w, valid)
        if ours:
            accepted += 1
            at = archc.check(spec(body, [1, 2, h, w]))
            assert at.ok and at.output_shape == theirs, (h, w)
    assert 0 < accepted < len(sizes)  # the set is neither empty nor everything


def test_a_slice_past_a_symbolic_size_narrows_to_sizes_where_python_clamps_nothing():
    # `x[:, :, -5:]` has min(5, H) rows: no closed form. archc's valid set is H >= 5, where
    # the count is 5; below, PyTorch clamps the start and keeps H rows, which archc refuses.
    body = [{"slice": {"dim": 2, "start": -5}}, {"slice": {"dim": 3, "end": 4}}]
    network = archc.check(spec(body, ["N", 2, "H", "W"]))
    valid = network.analysis.valid_inputs
    assert valid == {"H": [[5, None, 1]], "W": [[4, None, 1]]}
    for h in range(1, 12):
        for w in range(1, 12):
            theirs = torch_shape(lambda x: x[:, :, -5:, :4], (1, 2, h, w))
            if h >= 5 and w >= 4:
                assert theirs == archc.check(spec(body, [1, 2, h, w])).output_shape
            else:  # PyTorch clamps a bound: fewer rows or columns than written
                assert theirs == (1, 2, min(h, 5), min(w, 4))
                assert archc.check(spec(body, [1, 2, h, w])).ok  # concrete sizes: Python's


def test_symbolic_sizes_are_closed_forms_of_the_input():
    body = [
        {"conv2d": {"out_channels": 8, "kernel_size": 3, "stride": 2}},
        {"reshape": {"shape": ["N", 2, -1]}},
        {"unflatten": {"dim": 1, "sizes": [1, 2]}},
    ]
    network = archc.check(spec(body, ["N", 1, "H", "W"]))
    h, w = Sym.var("H"), Sym.var("W")
    assert network.output_shape[3] == 4 * ((h - 3) // 2 + 1) * ((w - 3) // 2 + 1)
    assert network.analysis.valid_inputs == {"H": [[3, None, 1]], "W": [[3, None, 1]]}


def test_a_layout_error_at_a_concrete_size_says_which_sizes_work():
    body = [
        {"conv2d": {"out_channels": 2, "kernel_size": 4, "stride": 4}},
        {"flatten": {"start_dim": 2}},
        {"unflatten": {"dim": 2, "sizes": [6, 6]}},
    ]
    network = archc.check(spec(body, ["N", 1, 30, 30]))
    (error,) = [d for d in network.diagnostics if d.severity == "error"]
    assert error.code == "bad-layout"
    assert [str(n) for n in error.notes] == [
        "this network is valid for square inputs with H = W ∈ {24..27}"
    ]
    assert error.hint.endswith("or give the network an input of 27×27 or 26×26")


# Receptive fields -----------------------------------------------------------------------------

FIELDS = {
    "channels last and back": [
        {"conv2d": {"out_channels": 3, "kernel_size": 3, "padding": 1}},
        {"permute": {"dims": [0, 2, 3, 1]}},
        {"layernorm": None},
        {"linear": {"out_features": 4}},
        {"permute": {"dims": [0, 3, 1, 2]}},
        {"avgpool2d": {"kernel_size": 3, "stride": 2}},
    ],
    "height and width swapped": [
        {"conv2d": {"out_channels": 2, "kernel_size": [3, 1], "stride": [1, 2]}},
        {"transpose": {"dim0": 2, "dim1": 3}},
        {"conv2d": {"out_channels": 2, "kernel_size": [1, 5], "stride": 2}},
        {"slice": {"dim": 3, "start": 1, "step": 2}},
        {"avgpool2d": {"kernel_size": 2, "stride": 1}},
    ],
    "merged then split back": [
        {"conv2d": {"out_channels": 2, "kernel_size": 3, "stride": 2}},
        {"flatten": {"start_dim": 2}},
        {"transpose": {"dim0": 1, "dim1": 2}},
        {"layernorm": None},
        {"transpose": {"dim0": 1, "dim1": 2}},
        {"unflatten": {"dim": 2, "sizes": [16, 16]}},
        {"conv2d": {"out_channels": 2, "kernel_size": 3}},
    ],
    "split and rejoined": [
        {"conv2d": {"out_channels": 2, "kernel_size": 13}},
        {"unflatten": {"dim": 3, "sizes": [3, 7]}},
        {"reshape": {"shape": ["N", 2, 21, 21]}},
        {"avgpool2d": {"kernel_size": 3, "stride": 3}},
    ],
    "tokens mixed whole": [
        {"conv2d": {"out_channels": 4, "kernel_size": 4, "stride": 4}},
        {"flatten": {"start_dim": 2}},
        {"transpose": {"dim0": 1, "dim1": 2}},
        {"softmax": {"dim": 1}},
        {"linear": {"out_features": 3}},
    ],
    "pixel shuffles": [
        {"conv2d": {"out_channels": 4, "kernel_size": 4}},
        {"pixelunshuffle": {"downscale_factor": 3}},
        {"conv2d": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
        {"pixelshuffle": {"upscale_factor": 2}},
        {"conv2d": {"out_channels": 2, "kernel_size": 3}},
    ],
    "a selected row": [
        {"conv2d": {"out_channels": 2, "kernel_size": 5, "padding": 1}},
        {"select": {"dim": 2, "index": 4}},
        {"linear": {"out_features": 3}},
    ],
    "squeeze and excitation": [  # a gate broadcast over H and W
        {"conv2d": {"out_channels": 4, "kernel_size": 3}},
        {"permute": {"dims": [0, 1, 3, 2]}},
        {
            "mul": {
                "branches": [
                    [],
                    [{"globalavgpool2d": None}, {"conv2d": {"out_channels": 4, "kernel_size": 1}}],
                ]
            }
        },
        {"avgpool2d": {"kernel_size": 3}},
    ],
    "residual over tokens": [
        {"conv2d": {"out_channels": 4, "kernel_size": 3, "stride": 3}},
        {"flatten": {"start_dim": 2}},
        {"transpose": {"dim0": 1, "dim1": 2}},
        {"add": {"branches": [[], [{"softmax": {"dim": 1}}]]}},
        {"linear": {"out_features": 2}},
    ],
}


def _positions(trace, index: tuple) -> dict[int, int]:
    """The position along each input axis (2: H, 3: W) of an element at `index` of a tensor."""
    found: dict[int, int] = {}
    for parts, i in zip(trace.dims[1:], index[1:]):  # the batch holds none
        for part in reversed(parts):  # the last part is the innermost
            extent = int(part.extent)
            if part.source is not None:
                found[part.source] = found.get(part.source, 0) + (i % extent) * int(part.step)
            i //= extent
    return found


def _middle(size: int, fields: list) -> int | slice:
    if not fields:
        return slice(None)
    step = max(f.stride.denominator for f in fields if f is not None) if any(fields) else 1
    return size // 2 // step * step


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_receptive_fields_follow_the_input_axes(name):
    size = 33
    network = archc.check(spec(FIELDS[name], ["N", 1, size, size]))
    assert network.ok, [d.message for d in network.diagnostics]
    torch.manual_seed(0)
    model = archc.build(network).double().eval()
    for p in model.parameters():
        torch.nn.init.uniform_(p, 0.5, 1.5)  # no cancellation: every read shows in the gradient
    x = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    values = model.values(x)
    found = traces(network)
    checked = 0
    for index, layer in enumerate(network.layers, start=1):
        trace, out = found[index], values[index]
        # The middle of every dim that holds an input axis, the sum over the others. After an
        # upsampling (a stride of 3/2) a field is exact at positions whose start is whole.
        middle = tuple(
            _middle(n, [trace.fields[p.source - 2] for p in parts if p.source is not None])
            for parts, n in zip(trace.dims, out.shape)
        )
        (grad,) = torch.autograd.grad(out[(0, *middle[1:])].sum(), x, retain_graph=True)
        plane = grad[0, 0] != 0
        at = _positions(trace, tuple(0 if isinstance(m, slice) else m for m in middle))
        for source, mask in ((2, plane.any(dim=1)), (3, plane.any(dim=0))):
            field = trace.fields[source - 2]
            if field is None:
                continue  # not applicable: no window describes it
            rows = mask.nonzero().flatten().tolist()
            # A field that covers the whole input at position 0 (a global branch) does at every
            # position; the others move with the position by the stride.
            covers = field.padding <= 0 and field.size - field.padding >= size
            first = (0 if covers else at.get(source, 0)) * field.stride - field.padding
            expected = (max(0, int(first)), min(size - 1, int(first + field.size - 1)))
            # The first and last positions read: a strided slice may leave gaps between.
            assert (rows[0], rows[-1]) == expected, (layer.path, source, field, at)
            checked += 1
    assert checked >= len(network.layers)


def test_merged_axes_are_whole_where_read_whole_and_not_applicable_where_windowed():
    merged = [
        {"conv2d": {"out_channels": 2, "kernel_size": 3}},
        {"flatten": {"start_dim": 2}},
    ]
    whole = archc.check(spec([*merged, {"linear": {"out_features": 2}}], ["N", 1, 10, 10]))
    assert [f.size for f in whole.analysis.receptive_fields[-1]] == [10, 10]
    windowed = archc.check(spec([*merged, {"softmax": {"dim": 1}}], ["N", 1, 10, 10]))
    assert [f.size for f in windowed.analysis.receptive_fields[-1]] == [3, 3]  # channels only
    shifted = archc.check(spec([*merged, {"slice": {"dim": 2, "start": 1}}], ["N", 1, 10, 10]))
    assert shifted.analysis.receptive_fields[-1] == (None, None)
    rf = layer_json(shifted, 2)["rf"]  # the JSON contract: null along an axis without one
    assert rf == {"size": [None, None], "stride": [None, None], "padding": [None, None]}


def test_a_merge_keeps_only_the_fields_it_reads_position_by_position():
    tokens = [
        {"conv2d": {"out_channels": 8, "kernel_size": 4, "stride": 4}},
        {"flatten": {"start_dim": 2}},
        {"transpose": {"dim0": 1, "dim1": 2}},  # (N, 16, 8): tokens hold H and W
    ]
    # q·kᵀ: a row of tokens against a column of tokens, read whole: no window describes it.
    logits = {"matmul": {"branches": [[], [{"transpose": {"dim0": 1, "dim1": 2}}]]}}
    network = archc.check(spec([*tokens, logits], ["N", 1, 16, 16]))
    assert network.analysis.receptive_fields[-1] == (None, None)
    # A residual over tokens keeps them, a concat of tokens after tokens does not.
    residual = {"add": {"branches": [[], [{"linear": {"out_features": 8}}]]}}
    network = archc.check(spec([*tokens, residual], ["N", 1, 16, 16]))
    assert [f.size for f in network.analysis.receptive_fields[-1]] == [4, 4]
    joined = {"concat": {"dim": 1, "branches": [[], []]}}
    network = archc.check(spec([*tokens, joined], ["N", 1, 16, 16]))
    assert network.analysis.receptive_fields[-1] == (None, None)


def test_a_chunk_of_the_channels_last_reads_one_position_of_the_height():
    body = [
        {"conv2d": {"out_channels": 4, "kernel_size": 3}},
        {"permute": {"dims": [0, 2, 3, 1]}},  # (N, H, W, C): H is dim 1
        {"chunk": {"chunks": 2, "dim": -1, "index": 1}},
    ]
    network = archc.check(spec(body, ["N", 1, 12, 12]))
    assert [f.size for f in network.analysis.receptive_fields[-1]] == [3, 3]


def test_a_size_warning_names_the_axis_a_dim_holds():
    body = [
        {"permute": {"dims": [0, 1, 3, 2]}},
        {"maxpool2d": {"kernel_size": [1, 2]}},  # along dim 3: the input's rows
    ]
    network = archc.check(spec(body, ["N", 1, 9, 8]))
    (warning,) = [d for d in network.diagnostics if d.code == "lossy-downsampling"]
    assert "the last row of its 9 input" in warning.message


# Equal to the references ----------------------------------------------------------------------


def torchvision_channel_shuffle(x, groups: int):
    """torchvision.models.shufflenetv2.channel_shuffle, as torchvision 0.29 writes it."""
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)


@pytest.mark.parametrize("groups", [2, 3, 4, 6])
def test_channelshuffle_equals_torch_and_torchvision(groups):
    network = archc.check(spec([{"channelshuffle": {"groups": groups}}], ["N", 12, 5, 3]))
    model = archc.build(network).eval()
    x = torch.randn(2, 12, 5, 3)
    assert torch.equal(model(x), torch.nn.ChannelShuffle(groups)(x))
    assert torch.equal(model(x), torchvision_channel_shuffle(x, groups))
    try:
        from torchvision.models.shufflenetv2 import channel_shuffle
    except (ImportError, RuntimeError):  # absent, or built for another torch
        return
    assert torch.equal(model(x), channel_shuffle(x, groups))


@pytest.mark.parametrize(
    ("item", "nodes"),
    [
        ({"slice": {"dim": 1, "start": 2, "end": -1, "step": 2}}, ["Slice"]),
        ({"select": {"dim": 3, "index": -1}}, ["Gather"]),
        ({"reshape": {"shape": ["N", 3, -1]}}, ["Reshape"]),
        ({"reshape": {"shape": [-1, 120]}}, ["Flatten"]),
        ({"channelshuffle": {"groups": 3}}, ["Reshape", "Transpose", "Reshape"]),
        ({"permute": {"dims": [0, 2, 3, 1]}}, ["Transpose"]),
    ],
)
def test_layout_ops_export_as_single_onnx_nodes_with_constant_targets(item, nodes):
    onnx = pytest.importorskip("onnx")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "layout.onnx"
        result = archc.export(spec([item], ["N", 6, 4, 5]), path)
        graph = onnx.load(str(path)).graph
    assert result.verified and result.dynamic_batch
    assert [n.op_type for n in graph.node if n.op_type != "Constant"] == nodes
    # The file declares the output's static dims, the batch named.
    network = archc.check(spec([item], ["N", 6, 4, 5]))
    dims = graph.output[0].type.tensor_type.shape.dim
    assert [dims[0].dim_param, *(d.dim_value for d in dims[1:])] == ["N", *network.output_shape[1:]]


# Exact division -------------------------------------------------------------------------------


def test_exact_quotient_divides_products_of_symbolic_sizes():
    h, w = Sym.var("H"), Sym.var("W")
    h2 = (h - 3) // 2 + 1
    assert exact_quotient(8 * h2 * h2 * w, 4 * h2) == 2 * h2 * w
    assert exact_quotient(h * h + 2 * h, h + 2) == h
    assert exact_quotient(8 * h * w, 3) is None
    assert exact_quotient(h * w + 1, h) is None
    assert exact_quotient(12, 4) == 3 and exact_quotient(12, 5) is None
