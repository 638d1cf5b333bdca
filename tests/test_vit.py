"""ViT (specs/imagenet/vit.yaml) against torchvision: inputs, memory, keys, outputs, export.

The family's parameters and MACs are in tests/test_imagenet.py with the rest of the zoo. Here:
the one input size a ViT takes, what attention adds to the memory peak, and torchvision's own
model (0.28.0 in the test environment, tests/reference/torchvision.py): its state_dict loads
into archc's build strictly, by key, and both give the same output.

Times on a 2-core machine: the static checks and the small export take a few seconds, the
comparison with torchvision's ViT-B/32 about 10 s; the export of ViT-B/16 (346 MB, about 70 s)
runs only with ARCHC_SLOW=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import archc
from archc.api import export
from tests.reference.torchvision import torchvision_models

VIT = Path(__file__).parent.parent / "specs" / "imagenet" / "vit.yaml"


def test_the_trained_size_is_the_only_valid_input():
    spec = archc.load(VIT)
    valid = archc.check(spec, ["N", 3, "H", "W"]).analysis.valid_inputs
    assert valid.square == ("H", "W")
    assert valid.coupled_at == "encoder.pos_embedding"  # its equality, not a size's positivity
    assert dict(valid) == {"H": [[224, 224, 1]], "W": [[224, 224, 1]]}
    # torchvision refuses both: 232 is no whole number of 16-pixel patches, and 448 gives
    # 28 × 28 + 1 tokens for a position embedding of 197.
    assert [d.code for d in archc.check(spec, [1, 3, 232, 232]).diagnostics] == ["bad-layout"]
    wrong = archc.check(spec, [1, 3, 448, 448]).diagnostics
    assert [d.code for d in wrong] == ["embedding-mismatch"]


# torchvision's published GFLOPS for each member (`weights.meta["_ops"]`, torchvision 0.29.1;
# the docs print 17.56, 4.41, 61.55, 15.38, 167.29): multiply-accumulates of the convolution,
# the linear layers and attention's two matmuls, the convention of archc's MACs.
PUBLISHED_GFLOPS = {
    "vit_b_16": 17.564,
    "vit_b_32": 4.409,
    "vit_l_16": 61.555,
    "vit_l_32": 15.378,
    "vit_h_14": 167.295,
}


@pytest.mark.parametrize("name", PUBLISHED_GFLOPS)
def test_macs_reproduce_torchvisions_published_gflops(name):
    from tests.test_imagenet import network

    _, net = network(name)
    assert round(net.macs / 1e9, 3) == PUBLISHED_GFLOPS[name]
    # Without attention's matmuls (2·L²·C per block) the figure would be another one.
    blocks = [layer for layer in net.layers if layer.op.name == "multiheadattention"]
    matmuls = sum(2 * layer.shape[1] ** 2 * layer.shape[2] for layer in blocks)
    assert round((net.macs - matmuls) / 1e9, 3) != PUBLISHED_GFLOPS[name]


def test_attention_over_patch_tokens_sees_the_whole_input():
    spec = archc.load_text(
        "archc: 1\nname: patches\ninput: [N, 3, 32, 32]\nbody:\n"
        "  - conv2d: {out_channels: 8, kernel_size: 8, stride: 8}\n"
        "  - flatten: {start_dim: 2}\n  - transpose: {dim0: 1, dim1: 2}\n"
        "  - layernorm\n  - multiheadattention: {num_heads: 2}\n"
    )
    *_, norm, attention = archc.check(spec).analysis.receptive_fields
    assert [f.size for f in norm] == [8, 8]  # one patch per token
    assert [f.size for f in attention] == [32, 32]  # every token reads every patch


def test_the_attention_map_counts_in_the_activation_peak():
    # 50 tokens of 8 features and 4 heads: while the attention runs, its input and output
    # (50 × 8 each) and its map (4 × 50 × 50) are live: 10,800 elements, above any other layer.
    spec = archc.load_text(
        "archc: 1\nname: attention\ninput: [N, 50, 8]\n"
        "body: [layernorm, multiheadattention: {num_heads: 4}, gelu]\n"
    )
    memory = archc.check(spec).analysis.memory
    assert memory["activations_peak_elements"] == 2 * 50 * 8 + 4 * 50 * 50
    assert memory["activations_peak_at"] == "1"


def test_a_small_vit_exports_with_a_dynamic_batch_and_verifies(tmp_path):
    pytest.importorskip("onnxruntime")
    small = {"num_layers": 2, "num_heads": 4, "hidden_dim": 32, "mlp_dim": 64, "patch_size": 32}
    result = export(archc.load(VIT, overrides=small), tmp_path / "vit.onnx")
    assert result.verified and result.dynamic_batch
    assert result.max_abs_diff <= result.tolerance


@pytest.mark.skipif(not os.environ.get("ARCHC_SLOW"), reason="about 70 s: set ARCHC_SLOW=1")
def test_vit_b_16_exports_with_a_dynamic_batch_and_verifies(tmp_path):
    pytest.importorskip("onnxruntime")
    result = export(archc.load(VIT), tmp_path / "vit_b_16.onnx")
    assert result.verified and result.dynamic_batch
    assert result.output == ["N", 1000]


def test_torchvisions_vit_b_32_loads_by_key_and_gives_the_same_output():
    models = torchvision_models()
    import torch

    torch.manual_seed(0)
    reference = models.vit_b_32().eval()
    with torch.no_grad():  # torchvision starts its head at zero: make every output count
        for parameter in reference.parameters():
            parameter.normal_(0, 0.05)
    ours = archc.build(archc.check(archc.load(VIT, overrides={"patch_size": 32}))).eval()
    weights = reference.state_dict()
    assert list(ours.state_dict()) == list(weights)  # the same keys, in the same order
    ours.load_state_dict(weights, strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected, actual = reference(x), ours(x)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_attention_is_drawn_as_its_own_kind_with_heads_and_width():
    import xml.etree.ElementTree as ET

    from archc.draw import render_svg

    net = archc.check(archc.load(VIT, overrides={"num_layers": 2}))
    tree = ET.fromstring(render_svg(net, collapse=False))
    svg = "{http://www.w3.org/2000/svg}"
    boxes = [r for r in tree.iter(f"{svg}rect") if "op-attention" in r.get("class", "").split()]
    assert [r.get("data-path") for r in boxes] == [
        f"encoder.layers.encoder_layer_{i}.0.attention.self_attention" for i in range(2)
    ]
    labels = [t.text for t in tree.iter(f"{svg}text")]
    assert labels.count("multiheadattention 12 heads × 64") == 2  # 12 heads of 64: 768 wide


def test_the_walkthrough_in_docs_spec_md_is_the_spec():
    text = (VIT.parent.parent.parent / "docs" / "spec.md").read_text()
    section = text[text.index("### Tokens, learnable tensors and attention") :]
    start = section.index("```yaml\n") + 8
    listing = section[start : section.index("\n```", start)]
    omitted = "  classes: 1000\n  eps: 0.000001\n  dropout: 0.0\n  attention_dropout: 0.0\n"
    listing = listing.replace("params:\n", "params:\n" + omitted, 1)
    documented = archc.check(archc.load_text(f"archc: 1\nname: vit\n{listing}", "<spec.md>"))
    spec = archc.check(archc.load(VIT))
    assert [(layer.key, layer.op) for layer in documented.layers] == [
        (layer.key, layer.op) for layer in spec.layers
    ]
