"""The ImageNet zoo (specs/imagenet/): exact parity with torchvision, without torchvision.

The figures below are external truth, not archc's own output: parameter counts are
torchvision's published ones, and MACs (conv and linear multiply-accumulates at batch 1,
3×224×224) were measured on torchvision 0.29.1 with forward hooks, as docs/zoo.md describes.
They equal torchvision's published GFLOPS to the printed precision. Every family member is the
family's file with `--set` overrides, as docs/zoo.md lists them.

Times on a 2-core machine: the static checks take a few seconds; building every default spec
in torch about 10 s; the ONNX exports about 15 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.api import check_file, find_specs
from archc.dims import dim_json
from tests.reference.torchvision import torchvision_models

ZOO = Path(__file__).parent.parent / "specs" / "imagenet"

VIT_L = {"num_layers": 24, "num_heads": 16, "hidden_dim": 1024, "mlp_dim": 4096}

# name: (spec file, parameter overrides, parameters, conv+linear MACs at 224×224)
MODELS = {
    "alexnet": ("alexnet", {}, 61_100_840, 714_188_480),
    "vgg11": ("vgg", {"depths": [1, 1, 2, 2, 2]}, 132_863_336, 7_609_090_048),
    "vgg11_bn": (
        "vgg",
        {"depths": [1, 1, 2, 2, 2], "batch_norm": True},
        132_868_840,
        7_609_090_048,
    ),
    "vgg13": ("vgg", {"depths": [2, 2, 2, 2, 2]}, 133_047_848, 11_308_466_176),
    "vgg13_bn": (
        "vgg",
        {"depths": [2, 2, 2, 2, 2], "batch_norm": True},
        133_053_736,
        11_308_466_176,
    ),
    "vgg16": ("vgg", {}, 138_357_544, 15_470_264_320),
    "vgg16_bn": ("vgg", {"batch_norm": True}, 138_365_992, 15_470_264_320),
    "vgg19": ("vgg", {"depths": [2, 2, 4, 4, 4]}, 143_667_240, 19_632_062_464),
    "vgg19_bn": (
        "vgg",
        {"depths": [2, 2, 4, 4, 4], "batch_norm": True},
        143_678_248,
        19_632_062_464,
    ),
    "googlenet": ("googlenet", {}, 6_624_904, 1_498_376_192),
    "resnet18": (
        "resnet",
        {"block": "basic", "depths": [2, 2, 2, 2]},
        11_689_512,
        1_814_073_344,
    ),
    "resnet34": (
        "resnet",
        {"block": "basic", "depths": [3, 4, 6, 3]},
        21_797_672,
        3_663_761_408,
    ),
    "resnet50": ("resnet", {}, 25_557_032, 4_089_184_256),
    "resnet101": ("resnet", {"depths": [3, 4, 23, 3]}, 44_549_160, 7_801_405_440),
    "resnet152": ("resnet", {"depths": [3, 8, 36, 3]}, 60_192_808, 11_513_626_624),
    "resnext50_32x4d": (
        "resnet",
        {"groups": 32, "width_per_group": 4},
        25_028_904,
        4_230_479_872,
    ),
    "resnext101_32x8d": (
        "resnet",
        {"depths": [3, 4, 23, 3], "groups": 32, "width_per_group": 8},
        88_791_336,
        16_414_015_488,
    ),
    "resnext101_64x4d": (
        "resnet",
        {"depths": [3, 4, 23, 3], "groups": 64, "width_per_group": 4},
        83_455_272,
        15_460_270_080,
    ),
    "wide_resnet50_2": ("resnet", {"width_per_group": 128}, 68_883_240, 11_398_021_120),
    "wide_resnet101_2": (
        "resnet",
        {"depths": [3, 4, 23, 3], "width_per_group": 128},
        126_886_696,
        22_753_050_624,
    ),
    "densenet121": ("densenet", {}, 7_978_856, 2_834_161_664),
    "densenet161": (
        "densenet",
        {"growth_rate": 48, "block_config": [6, 12, 36, 24], "num_init_features": 96},
        28_681_000,
        7_727_907_072,
    ),
    "densenet169": ("densenet", {"block_config": [6, 12, 32, 32]}, 14_149_480, 3_359_843_328),
    "densenet201": ("densenet", {"block_config": [6, 12, 48, 32]}, 20_013_928, 4_291_365_888),
    "squeezenet1_1": ("squeezenet1_1", {}, 1_235_496, 349_151_936),
    "mobilenet_v2": ("mobilenet_v2", {}, 3_504_872, 300_774_272),
    "mobilenet_v3_small": ("mobilenet_v3", {}, 2_542_856, 56_510_400),
    "mobilenet_v3_large": ("mobilenet_v3", {"arch": "large"}, 5_483_032, 216_589_760),
    "efficientnet_b0": ("efficientnet", {}, 5_288_548, 385_814_752),
    "efficientnet_b1": ("efficientnet", {"depth_mult": 1.1}, 7_794_184, 569_651_680),
    "efficientnet_b4": (
        "efficientnet",
        {"width_mult": 1.4, "depth_mult": 1.8, "dropout": 0.4},
        19_341_616,
        1_503_710_432,
    ),
    "efficientnet_b7": (
        "efficientnet",
        {
            "width_mult": 2.0,
            "depth_mult": 3.1,
            "dropout": 0.5,
            "bn_eps": 0.001,
            "bn_momentum": 0.01,
        },
        66_347_960,
        5_169_865_152,
    ),
    "convnext_tiny": ("convnext", {}, 28_589_128, 4_455_531_264),
    "convnext_small": (
        "convnext",
        {"depths": [3, 3, 27, 3], "stochastic_depth_prob": 0.4},
        50_223_688,
        8_683_712_256,
    ),
    "convnext_base": (
        "convnext",
        {"depths": [3, 3, 27, 3], "dims": [128, 256, 512, 1024], "stochastic_depth_prob": 0.5},
        88_591_464,
        15_354_729_472,
    ),
    # ViT's MACs count attention's two matmuls too (q·kᵀ and attn·v): torch's FLOP counter
    # with the math kernel of attention, halved, on torchvision 0.29.1; they equal
    # torchvision's published GFLOPS (17.564, 4.409, 61.555, 15.378, 167.295).
    "vit_b_16": ("vit", {}, 86_567_656, 17_563_828_224),
    "vit_b_32": ("vit", {"patch_size": 32}, 88_224_232, 4_409_186_304),
    "vit_l_16": ("vit", VIT_L, 304_326_632, 61_554_712_576),
    "vit_l_32": ("vit", {**VIT_L, "patch_size": 32}, 306_535_400, 15_377_539_072),
    "vit_h_14": (
        "vit",
        {"patch_size": 14, "num_layers": 32, "num_heads": 16, "hidden_dim": 1280, "mlp_dim": 5120},
        632_045_800,
        167_295_109_120,
    ),
    "efficientnet_v2_s": ("efficientnet_v2", {}, 21_458_488, 2_849_895_872),
    "efficientnet_v2_m": ("efficientnet_v2", {"arch": "m"}, 54_139_356, 5_362_207_200),
    "efficientnet_v2_l": ("efficientnet_v2", {"arch": "l"}, 118_515_272, 12_231_188_544),
    # at its own input size, 3×299×299
    "inception_v3": ("inception_v3", {}, 23_834_568, 5_713_216_096),
    "mnasnet0_5": ("mnasnet", {"alpha": 0.5}, 2_218_512, 104_455_968),
    "mnasnet0_75": ("mnasnet", {"alpha": 0.75}, 3_170_208, 215_493_104),
    "mnasnet1_0": ("mnasnet", {}, 4_383_312, 314_415_872),
    "mnasnet1_3": ("mnasnet", {"alpha": 1.3}, 6_282_256, 526_362_432),
    "shufflenet_v2_x0_5": (
        "shufflenet_v2",
        {"stages_out_channels": [24, 48, 96, 192, 1024]},
        1_366_792,
        40_476_448,
    ),
    "shufflenet_v2_x1_0": ("shufflenet_v2", {}, 2_278_604, 144_907_992),
    "shufflenet_v2_x1_5": (
        "shufflenet_v2",
        {"stages_out_channels": [24, 176, 352, 704, 1024]},
        3_503_624,
        295_759_392,
    ),
    "shufflenet_v2_x2_0": (
        "shufflenet_v2",
        {"stages_out_channels": [24, 244, 488, 976, 2048]},
        7_393_996,
        583_253_464,
    ),
}

# RegNet: torchvision's arguments of the width rule (depth, w_0, w_a, w_m), group width and
# squeeze-and-excitation ratio (0 for RegNetX), then parameters and MACs at 224×224.
REGNET = {
    "regnet_x_400mf": ((22, 24, 24.48, 2.54, 16, 0.0), 5_495_976, 413_812_608),
    "regnet_x_800mf": ((16, 56, 35.73, 2.28, 16, 0.0), 7_259_656, 799_699_712),
    "regnet_x_1_6gf": ((18, 80, 34.01, 2.25, 24, 0.0), 9_190_136, 1_602_849_792),
    "regnet_x_3_2gf": ((25, 88, 26.31, 2.25, 48, 0.0), 15_296_552, 3_176_621_952),
    "regnet_x_8gf": ((23, 80, 49.56, 2.88, 120, 0.0), 39_572_648, 7_995_132_416),
    "regnet_x_16gf": ((22, 216, 55.59, 2.1, 128, 0.0), 54_278_536, 15_940_755_456),
    "regnet_x_32gf": ((23, 320, 69.86, 2.0, 168, 0.0), 107_811_560, 31_735_929_792),
    "regnet_y_400mf": ((16, 48, 27.89, 2.09, 8, 0.25), 4_344_144, 401_842_848),
    "regnet_y_800mf": ((14, 56, 38.84, 2.4, 16, 0.25), 6_432_512, 833_856_256),
    "regnet_y_1_6gf": ((27, 48, 20.71, 2.65, 24, 0.25), 11_202_430, 1_612_076_160),
    "regnet_y_3_2gf": ((21, 80, 42.63, 2.66, 24, 0.25), 19_436_338, 3_176_482_752),
    "regnet_y_8gf": ((17, 192, 76.82, 2.19, 56, 0.25), 39_381_472, 8_473_070_592),
    "regnet_y_16gf": ((18, 200, 106.23, 2.48, 112, 0.25), 83_590_140, 15_911_510_272),
    "regnet_y_32gf": ((20, 232, 115.89, 2.53, 232, 0.25), 145_046_770, 32_279_552_832),
    "regnet_y_128gf": ((27, 456, 160.83, 2.52, 264, 0.25), 644_812_894, 127_517_815_680),
}
REGNET_ARGS = ("depth", "w_0", "w_a", "w_m", "group_width", "se_ratio")
MODELS |= {
    name: ("regnet", dict(zip(REGNET_ARGS, args)), params, macs)
    for name, (args, params, macs) in REGNET.items()
}

# The smallest square input each default spec accepts (torchvision agrees: one less fails).
MIN_INPUT = {
    "alexnet": 63,
    "vgg": 32,
    "googlenet": 15,
    "resnet": 1,
    "densenet": 29,
    "squeezenet1_1": 17,
    "mobilenet_v2": 1,
    "mobilenet_v3": 1,
    "efficientnet": 1,
    "convnext": 32,
    "swin": 4,
    "inception_v3": 75,
    "mnasnet": 1,
    "efficientnet_v2": 1,
    "regnet": 1,
    "shufflenet_v2": 1,
}
# Specs that take one input size alone (tests/test_vit.py checks it).
ONLY_INPUT = {"vit": 224}


def network(name: str, input_dims=None):
    file, overrides, _, _ = MODELS[name]
    spec = archc.load(ZOO / f"{file}.yaml", overrides=overrides)
    return spec, archc.check(spec, input_dims)


# Static -------------------------------------------------------------------------------------


def test_the_zoo_folder_checks_and_every_spec_is_tested():
    files = find_specs([ZOO])
    assert sorted(p.stem for p in files) == sorted(MIN_INPUT | ONLY_INPUT)
    for path in files:
        result = check_file(path)
        assert result.network.ok, [d.message for d in result.diagnostics]


@pytest.mark.parametrize("name", MODELS)
def test_parameters_macs_and_output_equal_torchvisions(name):
    _, _, params, macs = MODELS[name]
    _, net = network(name)
    assert net.ok, [d.message for d in net.diagnostics]
    assert net.params == params
    assert net.macs == macs
    assert [dim_json(d) for d in net.output_shape] == ["N", 1000]


@pytest.mark.parametrize("file", sorted(MIN_INPUT))
def test_minimum_input_size(file):
    spec = archc.load(ZOO / f"{file}.yaml")
    smallest = MIN_INPUT[file]
    assert archc.check(spec, [1, 3, smallest, smallest]).ok
    if smallest > 1:
        too_small = archc.check(spec, [1, 3, smallest - 1, smallest - 1])
        # one per layer that collapses: Inception's parallel branches collapse together
        assert {d.code for d in too_small.diagnostics} == {"spatial-collapse"}


def test_stochastic_depth_rates_rise_linearly_as_torchvisions():
    # EfficientNet: 0.2 * k / 16 over the 16 blocks, on the 9 that keep their shape.
    _, net = network("efficientnet_b0")
    rates = [layer.op.p for layer in net.layers if layer.op.name == "stochasticdepth"]
    assert rates == [0.2 * k / 16 for k in (2, 4, 6, 7, 9, 10, 12, 13, 14)]
    # ConvNeXt: 0.1 * k / 17 over all 18 blocks.
    _, net = network("convnext_tiny")
    rates = [layer.op.p for layer in net.layers if layer.op.name == "stochasticdepth"]
    assert rates == [0.1 * k / 17 for k in range(18)]
    # EfficientNetV2-S: 0.2 * k / 40 over the 40 blocks, on those that keep their shape (all
    # but the first of each stage, and both of the first stage).
    _, net = network("efficientnet_v2_s")
    rates = [layer.op.p for layer in net.layers if layer.op.name == "stochasticdepth"]
    kept = [0, 1, *range(3, 6), *range(7, 10), *range(11, 16), *range(17, 25), *range(26, 40)]
    assert rates == [0.2 * k / 40 for k in kept]


def test_a_misspelt_family_member_is_an_error():
    with pytest.raises(archc.SpecError) as caught:
        archc.load(ZOO / "resnet.yaml", overrides={"block": "basik"})
    assert [d.code for d in caught.value.diagnostics] == ["undefined-name"]


# The new ops, statically ------------------------------------------------------------------


def _one_op(op: str, fields: str, dims=(2, 8, 5, 5)):
    text = (
        f"archc: 1\nname: t\ninput: {list(dims)}\nbody:\n  - {op}: {{{fields}}}\n"
        if fields
        else f"archc: 1\nname: t\ninput: {list(dims)}\nbody:\n  - {op}\n"
    )
    return archc.check(archc.load_text(text))


@pytest.mark.parametrize(
    ("op", "fields", "params"),
    [
        ("layernorm2d", "", 16),
        ("layernorm2d", "elementwise_affine: false", 0),
        ("layernorm2d", "bias: false", 8),
        ("layernorm", "", 10),  # over the last dim, W = 5
        ("layerscale", "init_values: 0.5", 8),
        ("stochasticdepth", "p: 0.3, mode: batch", 0),
    ],
)
def test_new_ops_keep_the_shape_and_count_parameters(op, fields, params):
    net = _one_op(op, fields)
    assert net.ok, [d.message for d in net.diagnostics]
    assert net.output_shape == (2, 8, 5, 5)
    assert (net.params, net.macs) == (params, 0)


@pytest.mark.parametrize(
    ("op", "fields", "code"),
    [
        ("layernorm2d", "normalized_shape: 4", "channel-mismatch"),
        ("layerscale", "num_features: 4", "channel-mismatch"),
        ("stochasticdepth", "p: 1.5", "out-of-range"),
        ("stochasticdepth", "p: 0.1, mode: rows", "wrong-type"),
    ],
)
def test_new_ops_refuse_bad_fields(op, fields, code):
    net = _one_op(op, fields)
    assert [d.code for d in net.diagnostics] == [code]


def test_layernorm2d_needs_a_4d_input():
    net = _one_op("layernorm2d", "", dims=(2, 8))
    assert [d.code for d in net.diagnostics] == ["rank-mismatch"]


# Lowered to torch ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("file", sorted(MIN_INPUT))
def test_build_has_the_static_parameters_and_output(torch, file):
    spec = archc.load(ZOO / f"{file}.yaml")
    size = max(MIN_INPUT[file], 64)  # the modules do not depend on the input size
    net = archc.check(spec, [2, 3, size, size])
    model = archc.build(net).eval()
    assert sum(p.numel() for p in model.parameters()) == net.params
    with torch.no_grad():
        y = model(torch.randn(2, 3, size, size))
    assert tuple(y.shape) == net.output_shape == (2, 1000)


def test_build_at_224(torch):
    _, net = network("mobilenet_v3_small", [1, 3, 224, 224])
    model = archc.build(net).eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(1, 3, 224, 224)).shape) == (1, 1000)


def test_layernorm2d_normalizes_each_position_over_channels(torch):
    op = archc.ops.OPS["layernorm2d"](eps=1e-6)
    module = op.lower((2, 8, 5, 5))
    with torch.no_grad():
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-1, 1)
        x = torch.randn(2, 8, 5, 5)
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, unbiased=False, keepdim=True)
        expected = (x - mean) / torch.sqrt(var + 1e-6)
        expected = expected * module.weight[:, None, None] + module.bias[:, None, None]
        torch.testing.assert_close(module(x), expected)
    assert sum(p.numel() for p in module.parameters()) == op.params((2, 8, 5, 5))


def test_layerscale_scales_each_channel(torch):
    op = archc.ops.OPS["layerscale"](init_values=1e-6)
    module = op.lower((2, 8, 5, 5))
    assert tuple(module.weight.shape) == (8, 1, 1)  # torchvision ConvNeXt's layer_scale
    assert torch.all(module.weight == 1e-6)
    with torch.no_grad():
        module.weight.copy_(torch.arange(8.0).view(8, 1, 1))
        x = torch.randn(2, 8, 5, 5)
        torch.testing.assert_close(module(x), x * torch.arange(8.0).view(1, 8, 1, 1))


def test_stochastic_depth_is_the_identity_at_inference_and_drops_rows_in_training(torch):
    x = torch.randn(64, 4, 3, 3) + 10  # no element is 0 by chance
    row = archc.ops.OPS["stochasticdepth"](p=0.5, mode="row").lower(x.shape)
    assert torch.equal(row.eval()(x), x)
    torch.manual_seed(0)
    y = row.train()(x)
    kept = (y != 0).flatten(1)
    assert torch.all(kept.all(dim=1) | ~kept.any(dim=1))  # whole samples are kept or dropped
    assert 0 < kept.all(dim=1).sum() < 64
    survivors = kept.all(dim=1)
    torch.testing.assert_close(y[survivors], x[survivors] * 2)  # scaled by 1 / (1 - p)
    batch = archc.ops.OPS["stochasticdepth"](p=0.5, mode="batch").lower(x.shape).train()
    outcomes = {bool(batch(x).any()) for _ in range(20)}
    assert outcomes == {True, False}  # the whole batch is kept or dropped together


# Equal to torchvision, its state_dict loaded ------------------------------------------------

# member: (torchvision's arguments, the square input size compared at). These specs name their
# modules as torchvision does, so its state_dict loads strictly. The smallest member of each
# family at a small valid size keeps this quick; the others are equal in the figures above.
REFERENCE = {
    "inception_v3": ({"aux_logits": False, "init_weights": False}, 75),
    "mnasnet0_5": ({}, 32),
    "efficientnet_v2_s": ({}, 32),
    "regnet_x_400mf": ({}, 32),
    "regnet_y_400mf": ({}, 32),
    "shufflenet_v2_x0_5": ({}, 32),
}


def draw_statistics(module, torch) -> None:
    """Batch-norm running statistics drawn at random, so that copying them matters."""
    with torch.no_grad():
        for key, buffer in module.named_buffers():
            if key.endswith("running_mean"):
                buffer.uniform_(-1, 1)
            elif key.endswith("running_var"):
                buffer.uniform_(0.5, 2)


@pytest.mark.parametrize("name", REFERENCE)
def test_outputs_equal_torchvisions_with_its_state_dict_loaded(torch, name):
    arguments, size = REFERENCE[name]
    torch.manual_seed(0)
    reference = getattr(torchvision_models(), name)(**arguments).eval()
    draw_statistics(reference, torch)
    _, net = network(name, [2, 3, size, size])
    model = archc.build(net).eval()
    # Strict: the same keys and shapes. RegNet's `block1-0` is not an identifier: `block1_0`.
    state = {key.replace("-", "_"): value for key, value in reference.state_dict().items()}
    model.load_state_dict(state)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        # The same modules in the same order on the same input: equal bit for bit.
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


# Exported to ONNX -------------------------------------------------------------------------


# member: the square input size exported at. tests/test_export.py exports every file's default
# member; MNASNet's and ShuffleNetV2's smallest members are not their defaults.
EXPORTED = {
    "squeezenet1_1": 64,
    "mobilenet_v3_small": 64,
    "convnext_tiny": 64,
    "efficientnet_b0": 64,
    "mnasnet0_5": 64,
    "shufflenet_v2_x0_5": 64,
}


@pytest.mark.parametrize("name", EXPORTED)
def test_onnx_export_verifies(torch, tmp_path, name):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("archc.onnx_export.writer")
    from archc.api import export

    file, overrides, _, _ = MODELS[name]
    size = EXPORTED[name]
    spec = archc.load(ZOO / f"{file}.yaml", overrides=overrides)
    result = export(spec, tmp_path / "m.onnx", input_dims=["N", 3, size, size])
    assert result.verified
    assert result.output == ["N", 1000]
