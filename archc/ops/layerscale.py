"""Layer scale: a learnable per-channel factor on a residual branch (CaiT, ConvNeXt).

torchvision's ConvNeXt keeps it as the parameter `layer_scale` of shape (C, 1, 1), initialized
to 1e-6, and multiplies the branch by it before the residual addition.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar

from archc.ops.base import (
    Example,
    Op,
    PositiveInt,
    Shape,
    Window,
    check_width,
    register,
    same_geometry,
)


@register
class LayerScale(Op):
    """x * weight, with one learnable weight per channel (dim 1), broadcast over the rest."""

    name: ClassVar[str] = "layerscale"
    summary: ClassVar[str] = "learnable per-channel scale, `init_values` at start (ConvNeXt)"
    category: ClassVar[str] = "other"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 3, 3)),
        Example((1, 5), {"init_values": 0.5, "num_features": 5}),
    )

    init_values: float = 1e-6
    """the starting value of every scale."""
    num_features: PositiveInt | None = None
    """the channels scaled, as a check only: inferred from the incoming shape, an error where they
    differ.
    """

    def infer(self, x: Shape) -> Shape:
        check_width(self.num_features, x, "num_features")
        return x

    def params(self, x: Shape) -> int:
        return x[1]

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window:
        return Window()  # one scale per channel

    def lower(self, x: Shape):
        return _layer_scale()(x[1], len(x), self.init_values)


@cache
def _layer_scale():
    """The torch module class, defined on first use so that importing archc never imports torch."""
    import torch
    import torch.nn as nn

    class LayerScale(nn.Module):
        """Multiplies channel c of (N, C, ...) by `weight[c]`."""

        def __init__(self, num_features: int, rank: int, init_values: float):
            super().__init__()
            shape = (num_features,) + (1,) * (rank - 2)  # (C, 1, 1) for (N, C, H, W)
            self.weight = nn.Parameter(torch.full(shape, float(init_values)))

        def forward(self, x):
            return x * self.weight

    return LayerScale
