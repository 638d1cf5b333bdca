"""Swin (specs/imagenet/swin.yaml) against torchvision: the same network, number for number.

The figures are torchvision 0.29.1's (torch 2.14.1), measured once in a separate environment:
parameters and buffers by summing `numel()`, MACs with torch's FLOP counter at batch 1 and
224×224 (convolutions, linear layers and attention's two matmuls, a multiply-add counting 1).
The numeric comparison runs torchvision's own `swin_t` (the version in the test environment)
with its weights copied into the spec's network, at a small input that is no multiple of the
window, so that the padding, the crop and torchvision's rule of no shift where the map is one
window wide are all exercised.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import archc
from tests.reference.torchvision import torchvision_models

SPEC = Path(__file__).parent.parent / "specs" / "imagenet" / "swin.yaml"

# name: (overrides, parameters, buffers, MACs at 224×224 with attention's matmuls)
FIGURES = {
    "swin_t": ({}, 28_288_354, 28_812, 4_490_566_656),
    "swin_s": (
        {"depths": [2, 2, 18, 2], "stochastic_depth_prob": 0.3},
        49_606_258,
        57_624,
        8_740_875_264,
    ),
    "swin_b": (
        {
            "depths": [2, 2, 18, 2],
            "stochastic_depth_prob": 0.5,
            "embed_dim": 128,
            "num_heads": [4, 8, 16, 32],
        },
        87_768_224,
        57_624,
        15_430_946_816,
    ),
}
# Of those MACs, the attention matmuls' (torch's bmm): the rest is conv and linear.
MATMUL_MACS = {"swin_t": 140_141_568, "swin_s": 228_652_032, "swin_b": 304_869_376}


@pytest.mark.parametrize("name", FIGURES)
def test_figures_equal_torchvisions(name):
    overrides, params, buffers, macs = FIGURES[name]
    net = archc.check(archc.load(SPEC, overrides=overrides))
    assert net.ok, [d.message for d in net.diagnostics]
    assert (net.params, net.buffers, net.macs) == (params, buffers, macs)
    matmuls = sum(layer.macs for layer in net.layers if layer.op.name == "matmul")
    assert matmuls == MATMUL_MACS[name]


def test_stochastic_depth_rates_rise_linearly_as_torchvisions():
    net = archc.check(archc.load(SPEC))
    rates = [layer.op.p for layer in net.layers if layer.op.name == "stochasticdepth"]
    assert rates == [0.2 * k / 11 for k in range(12) for _ in range(2)]


def test_shift_only_where_the_map_is_wider_than_a_window():
    # 224: maps of 56, 28, 14 and 7; torchvision shifts odd blocks but not on the 7×7 map.
    net = archc.check(archc.load(SPEC))
    masked = [layer.path.split(".")[1] for layer in net.layers if layer.op.name == "shiftmask"]
    assert masked == ["1", "3", "5", "5", "5"]


def _copy_torchvision_weights(model, reference) -> None:
    """By key: the spec names its layers as torchvision does, except that the bias table and
    its index sit in the `relative_position_bias` layer, one level below torchvision's."""
    ours = {re.sub(r"\.relative_position_bias\.", ".", key): key for key in model.state_dict()}
    theirs = reference.state_dict()
    assert set(ours) == set(theirs)
    model.load_state_dict({ours[key]: value for key, value in theirs.items()})


def test_swin_t_computes_torchvisions_outputs_with_its_weights():
    models = torchvision_models()
    import torch

    torch.manual_seed(0)
    reference = models.swin_t().eval()
    size = (100, 60)  # maps 25×15, 13×8, 7×4, 4×2: padded, and one window wide at the end
    net = archc.check(archc.load(SPEC), [2, 3, *size])
    model = archc.build(net).eval()
    assert sum(p.numel() for p in model.parameters()) == 28_288_354
    _copy_torchvision_weights(model, reference)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected, actual = reference(x), model(x)
    assert tuple(actual.shape) == net.output_shape == (2, 1000)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_valid_inputs_are_torchvisions():
    # torchvision runs down to 4×4 (one patch), at any size: the maps are padded to the window.
    import torch

    reference = torchvision_models().swin_t().eval()
    for size in [(4, 4), (4, 7), (9, 31)]:
        net = archc.check(archc.load(SPEC), [1, 3, *size])
        assert net.ok, [d.message for d in net.diagnostics]
        with torch.no_grad():
            assert tuple(reference(torch.randn(1, 3, *size)).shape) == net.output_shape
    too_small = archc.check(archc.load(SPEC), [1, 3, 3, 3])
    assert [d.code for d in too_small.diagnostics] == ["spatial-collapse"]
    with pytest.raises(RuntimeError), torch.no_grad():
        reference(torch.randn(1, 3, 3, 3))


def test_swin_t_exports_with_a_dynamic_batch_and_verifies(tmp_path):
    pytest.importorskip("onnxruntime")
    spec = archc.load(SPEC)
    result = archc.export(spec, tmp_path / "swin_t.onnx", input_dims=["N", 3, 72, 72])
    assert result.verified and result.dynamic_batch
    assert result.max_abs_diff <= result.tolerance
