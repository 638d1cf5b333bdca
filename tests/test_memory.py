"""Compute and memory: MACs against an independent count with torch hooks, parameter bytes,
and the peak activation memory of a batch-1 inference."""

from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.analysis.memory import activation_peak, memory_usage
from archc.api import check_file
from archc.report import result_json

torch = pytest.importorskip("torch")
from tests.reference import seed_nets  # noqa: E402

SPECS = Path(__file__).parent.parent / "specs"


def torch_macs(model, shape) -> int:
    """Multiply-accumulates of conv and linear layers at batch 1, counted from their outputs."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += output[0].numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.ConvTranspose2d):
            kh, kw = module.kernel_size
            total += inputs[0][0].numel() * (module.out_channels // module.groups) * kh * kw
        elif isinstance(module, torch.nn.Linear):
            total += output[0].numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape[1:]))
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize("name", sorted(seed_nets.SEED_NETWORKS))
def test_macs_agree_with_a_torch_count(name):
    make, shape = seed_nets.SEED_NETWORKS[name]
    network = archc.check(archc.load(SPECS / f"{name}.yaml"))
    assert network.macs == torch_macs(make(), shape)
    assert network.macs == sum(layer.macs for layer in network.layers)


def test_unet_macs_count_transposed_convolutions():
    network = archc.check(archc.load(SPECS / "unet.yaml"))
    assert network.macs == torch_macs(archc.build(network), (1, 3, 64, 64))


def test_parameter_bytes_and_json_keys():
    result = result_json(check_file(SPECS / "resnet18.yaml"))
    memory = result["memory"]
    assert memory["params_bytes"] == {"fp32": 11_178_378 * 4, "fp16": 11_178_378 * 2}
    assert memory["activations_peak_bytes"] == memory["activations_peak_elements"] * 4
    model = archc.build(archc.load(SPECS / "resnet18.yaml"))  # BN's counters are int64
    assert memory["buffers_bytes"]["fp32"] == sum(
        b.numel() * b.element_size() for b in model.buffers()
    )
    assert memory["buffers_bytes"]["fp16"] == sum(
        b.numel() * (2 if b.is_floating_point() else b.element_size()) for b in model.buffers()
    )


def test_lenet_peak_is_the_first_conv_and_its_sigmoid():
    network = archc.check(archc.load(SPECS / "lenet.yaml"))
    # While the sigmoid runs, the conv output (6×24×24) and its own output are live.
    assert activation_peak(network) == (2 * 6 * 24 * 24, "1")


def test_branch_outputs_stay_live_until_their_merge():
    text = """
archc: 1
name: branches
description: a skip kept alive across a wide branch
input: [1, 1, 8, 8]
body:
  - concat:
      branches:
        skip: []
        wide: [conv2d: {out_channels: 10, kernel_size: 1}, relu]
"""
    network = archc.check(archc.load_text(text))
    # At the concat: the input (kept alive for it), the relu output and the concat (11 × 64).
    assert activation_peak(network) == (64 + 640 + 704, "0")


def test_symbolic_input_has_no_peak():
    network = archc.check(archc.load(SPECS / "lenet.yaml"), ["N", 1, "H", "W"])
    assert memory_usage(network)["activations_peak_bytes"] is None
