"""Checkpoint compatibility with torchvision: the ImageNet zoo's state-dict keys are
torchvision's, so a torchvision checkpoint loads strictly and exports directly.

torchvision is the reference here, imported through tests/reference/torchvision.py (skipped
where it is not installed). Nothing is downloaded: checkpoints are written from randomly
initialised torchvision models, their batch-norm statistics drawn at random so that a
misplaced statistic changes the output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archc
from archc.cli import app
from tests.reference.torchvision import torchvision_models
from tests.test_imagenet import MODELS

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

ZOO = Path(__file__).parent.parent / "specs" / "imagenet"
RESNET18 = ["--set", "block=basic", "--set", "depths=[2,2,2,2]"]
# The families whose keys differ from torchvision's, as docs/zoo.md says: their conversions.
CONVERTED = ("convnext", "regnet")
DEFAULTS = ["alexnet", "vgg16", "googlenet", "resnet50", "densenet121", "squeezenet1_1"]
DEFAULTS += ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0"]


def torchvision_model(name: str):
    """torchvision's model `name`; its RegNet widths are computed on the CPU first (they are
    data, which the meta device has none of)."""
    models = torchvision_models()
    if name.startswith("regnet"):
        with torch.device("cpu"):
            params = models.regnet.BlockParams.from_init_params(**MODELS[name][1])
        return models.regnet.RegNet(params)
    no_aux = name in ("googlenet", "inception_v3")
    return getattr(models, name)(**({"aux_logits": False, "init_weights": False} if no_aux else {}))


def converted(name: str, state: dict) -> dict:
    """torchvision's state dict in archc's keys: the conversion docs/zoo.md gives for ConvNeXt
    and RegNet (whose `block1-0` is not an identifier), none for the others."""
    if name.startswith("convnext"):
        return convnext_to_archc(state)
    if name.startswith("regnet"):
        return {key.replace("-", "_"): value for key, value in state.items()}
    return state


def spec_of(name: str):
    file, overrides, _, _ = MODELS[name]
    return archc.load(ZOO / f"{file}.yaml", overrides=overrides)


def randomized(model):
    """`model` in eval mode with batch-norm statistics and affine parameters drawn at random."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(torch.rand(size, generator=generator) * 0.2 - 0.1)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.rand(size, generator=generator) * 0.2 - 0.1)
    return model.eval()


@pytest.mark.parametrize("name", MODELS)
def test_every_zoo_member_has_torchvisions_state_dict_keys_and_shapes(name):
    with torch.device("meta"):  # shapes only: the largest members hold 645 M parameters
        theirs = torchvision_model(name).state_dict()
        ours = archc.build(spec_of(name), max_params=10**10)
        same = {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
            k: tuple(v.shape) for k, v in theirs.items()
        }
        assert same != name.startswith(CONVERTED)
        ours.load_state_dict(converted(name, theirs), strict=True, assign=True)


@pytest.mark.parametrize("name", DEFAULTS)
def test_a_torchvision_state_dict_computes_torchvisions_output(name):
    reference = randomized(torchvision_model(name))
    model = archc.build(spec_of(name), weights=reference.state_dict()).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, got = reference(x), model(x)
    assert (got - expected).abs().max() <= 1e-5 * (1 + expected.abs().max())


@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory):
    """A torchvision ResNet-18 checkpoint, as .pth and as .safetensors, and its model."""
    safetensors_torch = pytest.importorskip("safetensors.torch")
    folder = tmp_path_factory.mktemp("torchvision")
    model = randomized(torchvision_model("resnet18"))
    torch.save(model.state_dict(), folder / "resnet18.pth")
    safetensors_torch.save_file(model.state_dict(), folder / "resnet18.safetensors")
    return folder, model


def ort_equals(path: Path, model) -> None:
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected = model(x).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"input": x.numpy()})
    assert abs(got - expected).max() <= 1e-4 * (1 + abs(expected).max())


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_a_torchvision_checkpoint_exports_from_the_command_line(suffix, resnet18_checkpoint):
    folder, model = resnet18_checkpoint
    out = folder / f"r18{suffix}.onnx"
    weights = folder / f"resnet18{suffix}"
    command = ["export", str(ZOO / "resnet.yaml"), *RESNET18, "--weights", str(weights)]
    result = CliRunner().invoke(app, [*command, "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verified"]
    ort_equals(out, model)


def test_a_torchvision_model_exports_through_the_api(resnet18_checkpoint):
    folder, model = resnet18_checkpoint
    out = folder / "api.onnx"
    spec = archc.load(ZOO / "resnet.yaml", {"block": "basic", "depths": [2, 2, 2, 2]})
    archc.export(spec, out, weights=model.state_dict(), provider="cpu")
    ort_equals(out, model)


def convnext_to_archc(state: dict) -> dict:
    """torchvision's ConvNeXt state dict in archc's keys, as docs/zoo.md describes it."""
    moves = {"block.2.": "block.1.", "block.3.": "block.2.", "block.5.": "block.4."}
    converted = {}
    for key, value in state.items():
        if key.endswith(".layer_scale"):
            key = f"{key}.weight"
        for old, new in moves.items():
            if old in key and key.startswith("features."):
                key = key.replace(old, new)
                if new in ("block.2.", "block.4.") and key.endswith(".weight"):
                    value = value[:, :, None, None]  # a Linear's (out, in): a 1×1 convolution
                break
        converted[key] = value
    return converted


def test_convnext_differs_exactly_as_documented():
    # ConvNeXt's block is torchvision's Sequential(dwconv, Permute, LayerNorm, Linear, GELU,
    # Linear, Permute) and a `layer_scale` parameter of the block; archc writes the Linear
    # layers as 1×1 convolutions between layernorm2d, and holds the scale in a layer.
    reference = randomized(torchvision_model("convnext_tiny"))
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if name.endswith("layer_scale"):
                parameter.uniform_(0.5, 1.5)  # at 1e-6 the blocks would hardly count
    spec = spec_of("convnext_tiny")
    with pytest.raises(archc.ArchcError):
        archc.build(spec, weights=reference.state_dict())
    model = archc.build(spec, weights=convnext_to_archc(reference.state_dict())).eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected, got = reference(x), model(x)
    assert (got - expected).abs().max() <= 1e-4 * (1 + expected.abs().max())
