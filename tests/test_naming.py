"""Naming: `name` templates and `inline` items, which let a spec choose its module names.

The state_dict keys of a spec written with them are compared with those of a plain PyTorch
module of the same structure (torchvision's BasicBlock naming); the weights then load strictly
and both compute the same output.
"""

from __future__ import annotations

import pytest

import archc

SPEC = """
archc: 1
name: small_resnet
input: [N, 8, 16, 16]
blocks:
  basic:
    args: {out: int, stride: {type: int, default: 1}}
    body:
      - add:
          inline: true
          branches:
            main:
              - conv2d: {name: conv1, out_channels: $out, kernel_size: 3, padding: 1,
                         stride: $stride, bias: false}
              - batchnorm2d: {name: bn1}
              - relu
              - conv2d: {name: conv2, out_channels: $out, kernel_size: 3, padding: 1, bias: false}
              - batchnorm2d: {name: bn2}
            shortcut:
              - seq:
                  name: downsample
                  if: "$stride != 1 or in.channels != $out"
                  body:
                    - conv2d: {out_channels: $out, kernel_size: 1, stride: $stride, bias: false}
                    - batchnorm2d
      - relu
body:
  - repeat:
      times: 2
      body:
        - seq:
            name: "layer{$i + 1}"
            body:
              - basic: {out: "8 * ($i + 1)", stride: "1 if $i == 0 else 2"}
              - basic: {out: "8 * ($i + 1)"}
  - globalavgpool2d
  - flatten
  - linear: {name: fc, out_features: 10}
"""


def check(text: str):
    return archc.check(archc.load_text(text, "t.yaml"))


def _reference():
    """The same network as plain PyTorch modules, named as torchvision names ResNet's."""
    from torch import nn

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, out: int, stride: int):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(out)
            self.downsample = None
            if stride != 1 or cin != out:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out)
                )

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = self.layer2(self.layer1(x))
            return self.fc(x.mean((2, 3)))

    return Net()


def test_names_from_templates_and_inline_items_give_the_reference_state_dict_keys():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    reference = _reference().eval()
    for module in reference.modules():  # statistics that are not the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
    model = archc.build(archc.load_text(SPEC, "t.yaml")).eval()
    theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == theirs
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(3, 8, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-6)


def test_paths_keep_the_structure_while_keys_drop_inline_levels():
    network = check(SPEC)
    assert network.ok, network.diagnostics
    by_path = {layer.path: layer.key for layer in network.layers}
    assert by_path["layer2.0.0.main.conv1"] == "layer2.0.conv1"
    assert by_path["layer2.0.0.shortcut.downsample.1"] == "layer2.0.downsample.1"
    assert by_path["fc"] == "fc"
    assert len(set(by_path.values())) == len(by_path)  # the merges get keys of their own too
    assert network.groups["layer2.0.0"].kind == "merge"  # drawings still see the residual


def test_inline_export_names_nodes_by_key_and_verifies(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    out = tmp_path / "r.onnx"
    archc.export(archc.load_text(SPEC, "t.yaml"), out)
    names = {node.name for node in onnx.load(str(out)).graph.node}
    assert any(name.startswith("layer2.0.downsample.0/") for name in names), sorted(names)


def test_a_template_must_give_an_identifier():
    network = check(
        """
archc: 1
name: t
input: [N, 3, 8, 8]
body:
  - repeat:
      times: 2
      body:
        - conv2d: {name: "conv{$i - 1}", out_channels: 4, kernel_size: 1}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("wrong-type", 9)]
    assert "conv-1" in network.diagnostics[0].message


def test_inline_siblings_with_one_name_clash_on_their_key():
    network = check(
        """
archc: 1
name: t
input: [N, 3, 8, 8]
body:
  - conv2d: {name: conv, out_channels: 3, kernel_size: 1}
  - seq:
      inline: true
      body:
        - conv2d: {name: conv, out_channels: 3, kernel_size: 1}
"""
    )
    assert [(d.code, d.line) for d in network.diagnostics] == [("duplicate-name", 10)]


def test_inline_on_an_op_is_an_unknown_field():
    network = check(
        """
archc: 1
name: t
input: [N, 3, 8, 8]
body:
  - conv2d: {inline: true, out_channels: 3, kernel_size: 1}
"""
    )
    assert [d.code for d in network.diagnostics] == ["unknown-field"]


def test_unnamed_layers_in_inline_items_number_on_as_if_written_in_the_enclosing_body():
    # A named inline seq names its output for `ref` without a level or a number of its own:
    # its layers are `features.1` and `features.2`, as in nn.Sequential(conv, conv, relu, conv).
    torch = pytest.importorskip("torch")
    text = """
archc: 1
name: t
input: [N, 3, 8, 8]
body:
  - seq:
      name: features
      body:
        - conv2d: {out_channels: 4, kernel_size: 1}
        - seq: {name: middle, inline: true, body: [conv2d: {out_channels: 4, kernel_size: 1}, relu]}
        - conv2d: {out_channels: 4, kernel_size: 1}
  - add: {branches: [[], [ref: middle]]}
"""
    model = archc.build(archc.load_text(text, "t.yaml"))
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 1),
        torch.nn.Conv2d(4, 4, 1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 1),
    )
    assert list(model.state_dict()) == [f"features.{k}" for k in reference.state_dict()]
