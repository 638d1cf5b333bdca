"""Any legal name builds and exports: layer and branch names that are also attributes of
`nn.Module` or of archc's own modules (`training`, `merge`, `forward`, `_modules`, ...).

The torch module keeps them as child names, so state_dict keys and ONNX initializer names are
the spec's paths whatever the names are.
"""

from __future__ import annotations

import pytest

import archc

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

# nn.Module's attributes and methods, the attributes of archc's Scope and ArchcNetwork, dunders.
HOSTILE_NAMES = [
    "training",
    "merge",
    "forward",
    "eval",
    "state_dict",
    "_modules",
    "_parameters",
    "_buffers",
    "__init__",
    "__dict__",
    "__class__",
    "to",
    "float",
    "_version",
    "spec_name",
    "_items",
    "_output",
    "_by_path",
    "layer",
    "values",
    "combine",
]


def spec_named(name: str) -> str:
    """A layer, a merge, a branch and a layer inside it, all called `name`."""
    return f"""archc: 1
name: names
input: [N, 4]
body:
  - linear: {{name: {name}_first, out_features: 4}}
  - add:
      name: {name}_add
      branches:
        {name}:
          - linear: {{name: {name}, out_features: 4}}
        other:
          - relu: {{name: {name}}}
  - add:
      name: {name}
      branches:
        a: [linear: {{name: {name}, out_features: 4}}]
        b: [relu]
"""


def weighted_paths(network) -> set[str]:
    """The keys a linear layer's weights get: its spec path, then `weight` and `bias`."""
    return {f"{layer.path}.{kind}" for layer in network.layers if layer.params for kind in KINDS}


KINDS = ("weight", "bias")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_an_attribute_name_builds_with_spec_paths_as_keys(name):
    network = archc.check(archc.load_text(spec_named(name)))
    assert network.ok
    model = archc.build(network)
    model.eval()  # sets `training` on every module, a child named `training` included
    assert set(model.state_dict()) == weighted_paths(network)
    assert model.layer(name).merge is not None
    assert model(torch.randn(2, 4)).shape == (2, 4)


@pytest.mark.parametrize("name", ["training", "merge", "forward", "_modules", "__init__"])
def test_an_attribute_name_exports_with_spec_paths_as_initializers(tmp_path, name):
    spec = archc.load_text(spec_named(name))
    out = tmp_path / "names.onnx"
    result = archc.export(spec, out)
    assert result.verified
    initializers = {i.name for i in onnx.load(out).graph.initializer}
    assert initializers == weighted_paths(archc.check(spec))
