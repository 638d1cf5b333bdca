"""The seed's networks and the 1-D and 3-D specs: archc's static answers against plain
PyTorch, layer by layer.

Each spec in specs/ that the seed describes is compared with an independent PyTorch
implementation of the book's code (tests/reference/seed_nets.py), and each 1-D or 3-D spec
with one of its paper (tests/reference/nd_nets.py): every primitive op, in execution order,
must have the same kind, output shape, parameter and buffer count.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import archc
from archc.dims import dim_json

torch = pytest.importorskip("torch")
from tests.reference import nd_nets, seed_nets  # noqa: E402

SPECS = Path(__file__).parent.parent / "specs"
MERGES = {"add", "concat", "mul"}
REFERENCES = {**seed_nets.SEED_NETWORKS, **nd_nets.ND_NETWORKS}


def static_layers(name: str, batch: int = 1) -> tuple[list[dict], archc.ir.Network]:
    spec = archc.load(SPECS / f"{name}.yaml")
    network = archc.check(spec, [batch, *spec.input[1:]])
    assert network.ok, [d.message for d in network.diagnostics]
    # Compared with the reference by the class of the torch module each op lowers to
    # (`globalavgpool2d` lowers to an nn.AdaptiveAvgPool2d).
    layers = [
        {
            "op": type(layer.op.lower(layer.input_shapes[0])).__name__.lower(),
            "output": [dim_json(d) for d in layer.shape],
            "params": layer.params,
            "buffers": layer.buffers,
        }
        for layer in network.layers
        if layer.op.name not in MERGES
    ]
    return layers, network


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_network_matches_pytorch_layer_by_layer(name):
    make, input_shape = REFERENCES[name]
    model = make()
    expected = seed_nets.trace(model, input_shape)
    layers, network = static_layers(name)
    assert len(layers) == len(expected)
    for index, (ours, theirs) in enumerate(zip(layers, expected, strict=True)):
        assert ours == theirs, f"layer {index} ({network.layers[index].path})"
    assert network.params == sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    assert network.buffers == buffers


def test_resnet18_has_the_books_parameter_count():
    # Published for the book's Fashion-MNIST ResNet-18 (convolutions keep their bias).
    _, network = static_layers("resnet18")
    assert network.params == 11_178_378


def test_resnet_family_member_from_set_matches_pytorch():
    spec = archc.load(SPECS / "resnet18.yaml", overrides={"depths": [3, 4, 6, 3]})
    network = archc.check(spec)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 64, 7, 2, 3),
        torch.nn.BatchNorm2d(64),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(3, 2, 1),
        seed_nets.resnet_block(64, 64, 3, first_block=True),
        seed_nets.resnet_block(64, 128, 4),
        seed_nets.resnet_block(128, 256, 6),
        seed_nets.resnet_block(256, 512, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(512, 10),
    )
    assert network.params == sum(p.numel() for p in model.parameters())


def _densenet_variant(input_dims: list[int], body: list) -> archc.ir.Network:
    """A spec with densenet.yaml's blocks and the given body."""
    document = yaml.safe_load((SPECS / "densenet.yaml").read_text())
    document.update(input=input_dims, body=body)
    return archc.check(archc.load_text(yaml.safe_dump(document), "densenet-variant.yaml"))


def test_seed_dense_block_example():
    # The seed: DenseBlock(2, 3, 10) on a 4×3×8×8 input gives 4×23×8×8.
    network = _densenet_variant([4, 3, 8, 8], [{"dense_block": {"num_convs": 2, "growth": 10}}])
    assert network.output_shape == (4, 23, 8, 8)
    reference = seed_nets.dense_block(2, 3, 10)(torch.zeros(4, 3, 8, 8))
    assert tuple(reference.shape) == network.output_shape


def test_seed_transition_block_example():
    # The seed: transition_block(23, 10) on that output gives 4×10×4×4.
    network = _densenet_variant([4, 23, 8, 8], [{"transition_block": {"out": 10}}])
    assert network.output_shape == (4, 10, 4, 4)
    reference = seed_nets.transition_block(23, 10)(torch.zeros(4, 23, 8, 8))
    assert tuple(reference.shape) == network.output_shape


def _stage_outputs(network) -> list[tuple]:
    """The output shape of each top-level item, in order."""
    stages: dict[str, tuple] = {}
    for layer in network.layers:
        stages[layer.path.split(".")[0]] = layer.shape
    return list(stages.values())


def test_densenet_stage_shapes_against_the_seeds_printed_figures():
    _, network = static_layers("densenet")
    stages = [list(shape) for shape in _stage_outputs(network)]
    # What PyTorch computes, stage by stage (module by module of the book's nn.Sequential).
    model = seed_nets.densenet()
    x, pytorch = torch.zeros(1, 1, 96, 96), []
    with torch.no_grad():
        for module in model.children():
            x = module(x)
            if not isinstance(module, torch.nn.Flatten):  # the book's fc = flatten + linear
                pytorch.append(list(x.shape))
    assert stages == pytorch
    # The seed prints 14 lines for these 15 stages: one of the three leading 64×48×48 lines is
    # missing, so from "2" on every label names the stage before the one whose shape it shows
    # ("DenseBlosk_0 output shape: [1, 96, 12, 12]" is transition_block_0's output). The shapes
    # themselves, in order, are PyTorch's.
    printed = [
        [1, 64, 48, 48], [1, 64, 48, 48], [1, 64, 24, 24], [1, 192, 24, 24], [1, 96, 12, 12],
        [1, 224, 12, 12], [1, 112, 6, 6], [1, 240, 6, 6], [1, 120, 3, 3], [1, 248, 3, 3],
        [1, 248, 3, 3], [1, 248, 3, 3], [1, 248, 1, 1], [1, 10],
    ]  # fmt: skip
    assert printed == stages[1:]


@pytest.mark.parametrize(
    ("listing", "code", "line"),
    [
        # conv.10 of the printed AlexNet gets a 2×2 input: its 3×3 kernel has nothing to fit.
        ("alexnet_listing.yaml", "spatial-collapse", 25),
        # The printed VGG's first block expects 64 channels; the input has 1.
        ("vgg_listing.yaml", "channel-mismatch", 26),
        # The literal loop builds dense block 1 for 192 channels; the transition left 96.
        ("densenet_loop.yaml", "channel-mismatch", 55),
    ],
)
def test_seed_listing_mistakes_are_caught(listing, code, line):
    result = archc.api.check_file(SPECS / "seed-listings" / listing)
    assert not result.ok
    first = result.diagnostics[0]
    assert (first.code, first.line) == (code, line)


def test_vgg_listing_reports_each_independent_mistake_once():
    result = archc.api.check_file(SPECS / "seed-listings" / "vgg_listing.yaml")
    found = [(d.code, d.line) for d in result.diagnostics]
    # 1 → 64 at block 1, 256 → 512 at block 3, and 224 halved eight times at block 8.
    assert found == [
        ("channel-mismatch", 26),
        ("channel-mismatch", 17),
        ("spatial-collapse", 21),
    ]
    assert result.diagnostics[2].notes == (
        f"in block `double` called at {SPECS / 'seed-listings' / 'vgg_listing.yaml'}:40:5",
    )


def test_regnetx32_takes_the_books_state_dict_and_computes_its_output():
    # The spec names its modules as the book's AnyNet does (stem, stage1.0.conv1, head.2), so
    # the book's weights load strictly, and both networks compute the same logits.
    torch.manual_seed(0)
    reference = seed_nets.regnetx32().eval()
    for module in reference.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model = archc.build(archc.load(SPECS / "regnet.yaml")).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 1, 96, 96)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5, rtol=1e-5)
