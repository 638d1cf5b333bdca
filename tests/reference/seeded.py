"""Weights drawn from their names, so that two environments fill a network and its reference alike.

A reference model (ultralytics' YOLOv8) lives in a separate environment, and its weights are too
large to store as a test fixture. Instead every tensor of a state_dict is drawn from Python's
Mersenne Twister seeded by the CRC-32 of its key: the same numbers in every Python and torch
version, with no file to keep. Where two models have the same keys, both get the same weights.

Random weights alone make a deep network's activations vanish or explode (YOLOv8n's outputs did
not depend on its input at all), so `calibrate` then sets each batch norm's running statistics
to those of its actual input, as training would: every layer sees activations of order one.
"""

from __future__ import annotations

import math
import random
import zlib

import torch
from torch import nn


def seeded(key: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Values uniform in [0, 1), drawn for `key`: `seeded("input", (1, 3, 64, 64))`."""
    rng = random.Random(zlib.crc32(key.encode()))
    values = [rng.random() for _ in range(math.prod(shape))]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def seeded_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` with every floating-point tensor redrawn from its key: convolution and linear
    weights uniform with variance 1/fan-in, batch-norm scales in [0.1, 0.5), running variances in
    [0.5, 1.5), biases and running means in [-0.1, 0.1).

    Batch-norm scales of order one make a calibrated network chaotic: with scales in [0.5, 1.5)
    a change of 1e-4 in YOLOv8n's input moved its outputs by 0.02, with [0.1, 0.5) by 0.0004.
    """
    drawn = {}
    for key, tensor in state.items():
        if not tensor.is_floating_point():  # num_batches_tracked
            drawn[key] = tensor
            continue
        u = seeded(key, tuple(tensor.shape))
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "weight" and tensor.dim() > 1:
            values = (2 * u - 1) * math.sqrt(3 / tensor[0].numel())
        elif leaf == "weight":
            values = 0.1 + 0.4 * u
        elif leaf == "running_var":
            values = 0.5 + u
        else:
            values = (u - 0.5) * 0.2
        drawn[key] = values.to(tensor.dtype)
    return drawn


def calibrate(model: nn.Module, x: torch.Tensor) -> None:
    """Set every batch norm's running mean and variance to its input's on `model(x)` (in eval
    mode, each is set just before it normalizes that input), deterministically."""

    def hook(norm: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        dims = [0, *range(2, args[0].dim())]  # all but the channels
        norm.running_mean.copy_(args[0].mean(dims))
        norm.running_var.copy_(args[0].var(dims, unbiased=False))

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    handles = [norm.register_forward_pre_hook(hook) for norm in norms]
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in handles:
            handle.remove()
