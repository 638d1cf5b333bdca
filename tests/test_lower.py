"""Lowering: the torch module of every spec against archc's static answers.

Every spec in specs/ (but the deliberately broken seed listings) is lowered and run; at every
layer, primitive or merge, PyTorch's shape must equal the static one, and parameter counts must
agree layer by layer and in total. A new spec dropped into specs/ is covered automatically.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import archc
from archc.diagnostics import SpecError
from archc.dims import Sym
from archc.lower import LoweringError, MissingDependency, lower
from archc.ops import Merge

torch = pytest.importorskip("torch")

ROOT = Path(__file__).parent.parent
SPECS = sorted(
    p for p in (ROOT / "specs").rglob("*.y*ml") if "seed-listings" not in p.relative_to(ROOT).parts
)


def spec_id(path: Path) -> str:
    return str(path.relative_to(ROOT / "specs"))


def concrete_network(path: Path, batch: int = 2):
    """The spec checked at a concrete input: its own sizes, or the first size that checks."""
    spec = archc.load(path)
    dims = list(spec.input)
    if not any(isinstance(d, str) for d in dims[1:]):
        return archc.check(spec, [batch, *dims[1:]])
    for size in (32, 64, 96, 128, 224):
        sized = [batch, *(size if isinstance(d, str) else d for d in dims[1:])]
        network = archc.check(spec, sized)
        if network.ok:
            return network
    pytest.skip(f"{spec_id(path)}: no input size tried checks")


def test_every_spec_is_covered():
    names = {p.stem for p in SPECS}
    assert {"lenet", "resnet18", "densenet", "googlenet", "vgg11"} <= names


# Bigger networks are run on the meta device (PyTorch's own shape rules, without arithmetic):
# initializing VGG's 130 M weights or running DenseNet-121 at 224² costs seconds per spec.
# Their numbers are proven by the ONNX export tests.
REAL_PARAMS_LIMIT, REAL_MACS_LIMIT = 20_000_000, 1_000_000_000


@pytest.mark.parametrize("path", SPECS, ids=spec_id)
def test_lowered_spec_matches_static_answers_layer_by_layer(path):
    network = concrete_network(path, batch=2)
    assert network.ok, [d.message for d in network.diagnostics]
    small = network.params <= REAL_PARAMS_LIMIT and network.macs <= REAL_MACS_LIMIT
    device = "cpu" if small else "meta"
    torch.manual_seed(0)
    with torch.device(device):
        model = lower(network).eval()
        x = torch.randn(*network.input)
    with torch.no_grad():
        values = model.values(x)
        outputs = model(x)
    for index, layer in enumerate(network.layers):
        got = tuple(values[index + 1].shape)
        assert got == layer.shape, f"{layer.path} ({layer.op.name}, line {layer.line})"
        if not isinstance(layer.op, Merge):
            own = sum(p.numel() for p in model.layer(layer.path).parameters())
            assert own == layer.params, layer.path
    if len(network.outputs) == 1:
        outputs = (outputs,)  # a network of one output returns its tensor, not a tuple
    assert [tuple(y.shape) for y in outputs] == [o.shape for o in network.outputs]
    assert sum(p.numel() for p in model.parameters()) == network.params
    keys = {layer.key for layer in network.layers}  # the paths, less `inline` levels
    for key in model.state_dict():  # below a layer's key (a named learnable tensor: at it)
        parts = key.split(".")
        assert any(".".join(parts[:n]) in keys for n in range(1, len(parts) + 1)), key


def test_resnet18_keys_and_merge_scopes():
    network = archc.check(archc.load(ROOT / "specs/resnet18.yaml"))
    model = archc.build(network)
    assert "resnet_block2.0.0.main.conv1.weight" in model.state_dict()
    assert model.layer("resnet_block2.0.0").merge.name == "add"
    assert model.training  # like any torch constructor; export switches to eval


def test_layer_names_that_are_module_attributes():
    spec = archc.load_text(
        """
archc: 1
name: attribute-names
input: [N, 3, 8, 8]
body:
  - seq:
      name: eval
      body:
        - conv2d: {name: forward, out_channels: 4, kernel_size: 3}
        - relu: {name: training}
  - flatten: {name: state_dict}
""",
        "attribute-names.yaml",
    )
    network = archc.check(spec)
    assert network.ok, [d.message for d in network.diagnostics]
    model = lower(network)
    assert set(model.state_dict()) == {"eval.forward.weight", "eval.forward.bias"}
    assert model(torch.zeros(2, 3, 8, 8)).shape == (2, 4 * 6 * 6)


def test_build_refuses_a_spec_that_does_not_check():
    spec = archc.load(ROOT / "specs/seed-listings/vgg_listing.yaml")
    with pytest.raises(SpecError) as raised:
        archc.build(spec)
    assert raised.value.diagnostics[0].code == "channel-mismatch"


def test_a_parameter_count_disagreement_raises():
    network = archc.check(archc.load(ROOT / "specs/lenet.yaml"))
    network.layers[0].params += 1
    with pytest.raises(LoweringError) as raised:
        lower(network)
    assert raised.value.diagnostics[0].code == "lowering-mismatch"


def test_missing_torch_names_the_extra(monkeypatch):
    network = archc.check(archc.load(ROOT / "specs/lenet.yaml"))
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(MissingDependency) as raised:
        lower(network)
    diagnostic = raised.value.diagnostics[0]
    assert diagnostic.code == "missing-dependency"
    assert "archc[export]" in diagnostic.message


def test_importing_archc_does_not_import_torch():
    code = (
        "import sys, archc, archc.lower, archc.onnx_export, archc.cli; "
        "sys.exit(any(m in sys.modules for m in ('torch', 'onnx', 'onnxruntime')))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_symbolic_batch_is_kept_static_dims_concrete():
    network = concrete_network(ROOT / "specs/lenet.yaml")
    assert not any(isinstance(d, Sym) for d in network.input)


@pytest.mark.parametrize(
    ("name", "sizes", "output_size"),
    [
        ("adaptiveavgpool1d", (10,), (3,)),
        ("adaptivemaxpool1d", (10,), (4,)),
        ("adaptiveavgpool2d", (10, 7), (3, 7)),
        ("adaptivemaxpool2d", (8, 9), (3, 5)),
        ("adaptiveavgpool3d", (5, 6, 7), (2, 4, 3)),
        ("adaptivemaxpool3d", (5, 6, 7), (3, 4, 2)),
    ],
)
def test_uneven_adaptive_pools_lower_to_slices_equal_to_torchs_pool(name, sizes, output_size):
    # torch's TorchScript exporter refuses these pools; archc's slices must compute them alike.
    from archc.ops import OPS

    op = OPS[name].model_validate({"output_size": list(output_size)})
    shape = (2, 3, *sizes)
    module = op.lower(shape)
    reference = getattr(torch.nn, type(module).__name__)(output_size)
    assert type(module) is not type(reference)  # the sliced lowering, under torch's name
    x = torch.randn(shape)
    assert torch.allclose(module(x), reference(x), atol=1e-6)
    other = torch.randn(2, 3, *(n + 3 for n in sizes))  # another size: torch's own kernel
    assert torch.equal(module(other), reference(other))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_instance_norm_with_running_statistics_equals_torchs_at_inference(rank):
    from archc.ops import OPS

    op = OPS[f"instancenorm{rank}d"].model_validate({"track_running_stats": True, "affine": True})
    shape = (2, 4, *(5,) * rank)
    module = op.lower(shape)
    reference = getattr(torch.nn, f"InstanceNorm{rank}d")(4, affine=True, track_running_stats=True)
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            if tensor.is_floating_point():
                tensor.uniform_(0.5, 1.5)
    reference.load_state_dict(module.state_dict())
    module.eval(), reference.eval()
    x = torch.randn(shape)
    assert torch.allclose(module(x), reference(x), atol=1e-6)
