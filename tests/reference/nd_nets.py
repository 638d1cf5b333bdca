"""Plain PyTorch reference implementations of the 1-D and 3-D specs.

- M5 (Dai et al., "Very Deep Convolutional Neural Networks for Raw Waveforms", 2017): four
  convolutions with batch norm, ReLU and max pooling by 4 over a raw waveform, global average
  pooling and a linear classifier; 35 classes, one second of 16 kHz audio.
- A small C3D-style clip classifier (Tran et al., 2015): 3×3×3 convolutions with batch norm
  and ReLU, max pooling 1×2×2 then 2×2×2, global average pooling and a linear classifier;
  101 classes, 16 frames of 112×112.

Like seed_nets, they import nothing from ``archc`` and are made of leaf modules only, so that
:func:`tests.reference.seed_nets.trace` sees each op in execution order.
"""

from collections.abc import Callable

from torch import nn

__all__ = ["ND_NETWORKS", "c3d_small", "m5"]


def m5(classes: int = 35, widths: tuple[int, ...] = (128, 128, 256, 512)) -> nn.Module:
    """M5 for (N, 1, L) waveforms."""
    layers: list[nn.Module] = []
    channels = 1
    for index, width in enumerate(widths):
        kernel, stride = (80, 4) if index == 0 else (3, 1)
        layers += [
            nn.Conv1d(channels, width, kernel, stride),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.MaxPool1d(4),
        ]
        channels = width
    layers += [nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(channels, classes)]
    return nn.Sequential(*layers)


def c3d_small(
    classes: int = 101,
    widths: tuple[int, ...] = (16, 32, 64, 128),
    convs: tuple[int, ...] = (1, 1, 2, 2),
) -> nn.Module:
    """The small C3D-style classifier for (N, 3, D, H, W) clips."""
    layers: list[nn.Module] = []
    channels = 3
    for index, (width, count) in enumerate(zip(widths, convs, strict=True)):
        for _ in range(count):
            layers += [
                nn.Conv3d(channels, width, 3, padding=1, bias=False),
                nn.BatchNorm3d(width),
                nn.ReLU(),
            ]
            channels = width
        layers.append(nn.MaxPool3d((1, 2, 2) if index == 0 else 2))
    layers += [nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(channels, classes)]
    return nn.Sequential(*layers)


ND_NETWORKS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "m5": (m5, (1, 1, 16000)),
    "c3d_small": (c3d_small, (1, 3, 16, 112, 112)),
}
"""Spec name -> (constructor, input shape) for each 1-D and 3-D spec."""
