"""The detection zoo (specs/detection/): YOLOv8 n, s, m, l and x equal to ultralytics' models,
without ultralytics.

The figures are ultralytics' own, measured once by tests/reference/ultralytics_yolov8.py in a
separate environment (ultralytics 8.4.190, torch 2.13.0 CPU) on `DetectionModel` built from
`yolov8{n,s,m,l,x}.yaml` (nc=80, no weights): parameters, conv MACs at 1×3×640×640 by forward
hooks (docs/zoo.md), the raw output shapes, every convolution's state_dict key, parameters and
output shape in execution order (tests/reference/yolov8.json), the square sizes its forward
accepts, and YOLOv8n's outputs at a 4×3×64×64 input with weights drawn from their keys
(tests/reference/seeded.py, tests/reference/yolov8n_64.pt). tests/test_export.py exports the
spec and verifies its three outputs on ONNX Runtime with a dynamic batch, as every spec's.

The outputs are the Detect head's raw per-level tensors, `cat(cv2[i](x_i), cv3[i](x_i), 1)`:
what ultralytics' Detect returns as preds["boxes"] and preds["scores"] (each level viewed as
(N, C, H*W) and concatenated), before DFL decoding. Detect's DFL is a fixed 1×1 convolution of
16 weights (requires_grad False) used only in decoding: ultralytics counts it in its parameters,
archc's outputs do not use it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import archc
from archc.analysis.periodic import contains
from archc.dims import dim_json

ROOT = Path(__file__).parent.parent
SPEC = ROOT / "specs" / "detection" / "yolov8.yaml"
REFERENCE = Path(__file__).parent / "reference"

# scale: ultralytics' parameters (sum(p.numel()), DFL included) and conv MACs at 640×640 on the
# way to the raw outputs (the DFL's 537,600 MACs are decoding, left out)
MODELS = {
    "n": (3_157_200, 4_371_456_000),
    "s": (11_166_560, 14_300_774_400),
    "m": (25_902_640, 39_467_827_200),
    "l": (43_691_520, 82_573_721_600),
    "x": (68_229_648, 128_901_632_000),
}
DFL_PARAMS = 16
OUTPUTS = {"p3": ["N", 144, 80, 80], "p4": ["N", 144, 40, 40], "p5": ["N", 144, 20, 20]}
# The square sizes S (1×3×S×S) in 1..160 and 600..680 at which ultralytics' YOLOv8n runs: the
# P4 and P3 concats need ceil(S/32) * 2 == ceil(S/16) and ceil(S/16) * 2 == ceil(S/8), that is
# S mod 32 in {0, 25..31}.
TRIED = [*range(1, 161), *range(600, 681)]
ACCEPTED = [
    *(25, 26, 27, 28, 29, 30, 31, 32, 57, 58, 59, 60, 61, 62, 63, 64, 89, 90, 91, 92, 93, 94),
    *(95, 96, 121, 122, 123, 124, 125, 126, 127, 128, 153, 154, 155, 156, 157, 158, 159, 160),
    *(601, 602, 603, 604, 605, 606, 607, 608, 633, 634, 635, 636, 637, 638, 639, 640),
    *(665, 666, 667, 668, 669, 670, 671, 672),
]


def network(scale: str, input_dims=None):
    return archc.check(archc.load(SPEC, overrides={"scale": scale}), input_dims)


def measured(scale: str) -> dict:
    return json.loads((REFERENCE / "yolov8.json").read_text())[scale]


@pytest.mark.parametrize("scale", MODELS)
def test_parameters_macs_and_outputs_equal_ultralytics(scale):
    params, macs = MODELS[scale]
    net = network(scale)
    assert net.ok, [d.message for d in net.diagnostics]
    assert net.params == params - DFL_PARAMS
    assert net.macs == macs
    assert {o.name: [dim_json(d) for d in o.shape] for o in net.outputs} == OUTPUTS
    assert [o.name for o in net.outputs] == ["p3", "p4", "p5"]


@pytest.mark.parametrize("scale", MODELS)
def test_every_convolution_equals_ultralytics_in_order(scale):
    figures = measured(scale)  # the file the constants above were copied from
    assert (figures["params"], figures["macs"], figures["dfl_params"]) == (*MODELS[scale], 16)
    net = network(scale)
    # key, parameters and output shape (C, H, W) at 640×640, in execution order
    ours = [
        [layer.key, layer.params, [dim_json(d) for d in layer.shape[1:]]]
        for layer in net.layers
        if layer.op.name == "conv2d"
    ]
    assert ours == figures["convs"]
    assert figures["batchnorms"] == [[0.001, 0.03]]  # eps and momentum of every batch norm
    norms = {
        (layer.op.eps, layer.op.momentum) for layer in net.layers if layer.op.name == "batchnorm2d"
    }
    assert norms == {(0.001, 0.03)}


def test_state_dict_keys_and_shapes_equal_ultralytics():
    pytest.importorskip("torch")
    ours = {k: list(v.shape) for k, v in archc.build(archc.load(SPEC)).state_dict().items()}
    theirs = dict(measured("n")["state"])
    assert theirs.pop("model.22.dfl.conv.weight") == [1, DFL_PARAMS, 1, 1]
    assert ours == theirs


def test_valid_input_sizes_equal_ultralytics():
    net = network("n", ["N", 3, "H", "W"])
    assert net.ok, [d.message for d in net.diagnostics]
    valid = net.analysis.valid_inputs
    assert valid["W"] == valid["H"]
    assert [s for s in TRIED if contains(valid["H"], s)] == ACCEPTED


@pytest.mark.parametrize("size", [24, 33, 48, 56, 65, 609, 632])
def test_a_size_ultralytics_refuses_is_one_merge_mismatch(size):
    assert size not in ACCEPTED
    net = network("n", [1, 3, size, size])
    assert [d.code for d in net.diagnostics] == ["merge-mismatch"]


def test_outputs_equal_ultralytics_with_the_same_weights():
    """YOLOv8n, weights drawn from their keys, batch norms calibrated on the input: the three
    outputs equal ultralytics' (computed in its environment) to 1e-5; they were bit for bit equal
    on torch 2.13.0 CPU. The calibrated network amplifies a 1e-4 change of its input about four
    times, and outputs are of order 0.2."""
    torch = pytest.importorskip("torch")
    from tests.reference.seeded import calibrate, seeded, seeded_state

    model = archc.build(archc.load(SPEC), [4, 3, 64, 64]).eval()
    model.load_state_dict(seeded_state(model.state_dict()), strict=True)
    x = (2 * seeded("input", (4, 3, 64, 64)) - 1).float()
    calibrate(model, x)
    with torch.no_grad():
        outputs = model(x)
    expected = torch.load(REFERENCE / "yolov8n_64.pt", weights_only=True)
    assert [tuple(y.shape) for y in outputs] == [(4, 144, 8, 8), (4, 144, 4, 4), (4, 144, 2, 2)]
    for y, name in zip(outputs, ("p3", "p4", "p5"), strict=True):
        torch.testing.assert_close(y, expected[name], rtol=0, atol=1e-5)


def test_an_unknown_scale_is_one_located_assertion():
    net = network("q")
    assert [(d.code, d.line) for d in net.diagnostics] == [("assertion-failed", 98)]
    assert net.diagnostics[0].message == "`scale` is n, s, m, l or x, not `q`"


def test_depth_width_and_max_channels_may_be_set_directly():
    spec = archc.load(SPEC, overrides={"depth": 0.67, "width": 0.75, "max_channels": 768})
    assert archc.check(spec).params == MODELS["m"][0] - DFL_PARAMS
