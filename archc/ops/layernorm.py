"""Layer normalization: over the last dim (nn.LayerNorm) and over channels of (N, C, H, W).

`layernorm2d` is torchvision ConvNeXt's `LayerNorm2d`: each position's C channels are
normalized together (mean and variance over C alone, not over H and W as `GroupNorm(1, C)`
would), then scaled and shifted per channel.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, ClassVar

from pydantic import Field

from archc.ops.base import (
    Example,
    Op,
    OpError,
    PositiveInt,
    Shape,
    Window,
    channels,
    register,
    same_geometry,
)


class _LayerNorm(Op):
    category: ClassVar[str] = "norm"

    normalized_shape: PositiveInt | None = None
    """the width normalized, as a check only: inferred from the incoming shape, an error where it
    differs.
    """
    eps: Annotated[float, Field(gt=0)] = 1e-5
    """added to the variance, for numerical stability."""
    elementwise_affine: bool = True
    """learn a per-element scale (and, with `bias`, shift)."""
    bias: bool = True
    """learn a per-element shift too (with `elementwise_affine`)."""

    axis: ClassVar[int]  # the normalized dim

    def width(self, x: Shape) -> int:
        width = x[self.axis]
        if not isinstance(width, int):
            raise OpError(
                "symbolic-channels",
                f"the normalized width `{width}` depends on a symbolic input dim",
                "normalized_shape",
            )
        if self.normalized_shape is not None and self.normalized_shape != width:
            raise OpError(
                "channel-mismatch",
                f"`normalized_shape: {self.normalized_shape}` disagrees with the {width} "
                f"features it normalizes (dim {self.axis})",
                "normalized_shape",
                hint=f"write `normalized_shape: {width}`, or leave it out to infer it",
            )
        return width

    def infer(self, x: Shape) -> Shape:
        self.width(x)
        return x

    def params(self, x: Shape) -> int:
        if not self.elementwise_affine:
            return 0
        return x[self.axis] * (2 if self.bias else 1)


@register
class LayerNorm(_LayerNorm):
    """nn.LayerNorm over the last dim, e.g. of (N, C) features or channels-last tensors."""

    name: ClassVar[str] = "layernorm"
    summary: ClassVar[str] = "layer normalization over the last dim (nn.LayerNorm)"
    axis: ClassVar[int] = -1
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 8)),
        Example((1, 5, 6), {"eps": 1e-6}),
        Example((1, 3, 4, 4), {"elementwise_affine": False}),
        Example((1, 4, 6), {"bias": False}),
    )

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        # Mixes the last dim (W of an image); reads one position of the dims before it.
        return tuple(Window() if axis < len(x) - 1 else None for axis in range(2, len(x)))

    def channel_window(self, x: Shape) -> Window | None:
        return None if len(x) == 2 else Window()

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.LayerNorm(x[-1], self.eps, self.elementwise_affine, self.bias)


@register
class LayerNorm2d(_LayerNorm):
    """torchvision's LayerNorm2d: nn.LayerNorm over the channels of (N, C, H, W), per position."""

    name: ClassVar[str] = "layernorm2d"
    summary: ClassVar[str] = "layer normalization over the channels of (N, C, H, W) (ConvNeXt)"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    axis: ClassVar[int] = 1
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6, 4, 5)),
        Example((1, 4, 3, 3), {"eps": 1e-6, "normalized_shape": 4}),
    )

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)  # each position's channels, alone

    def infer(self, x: Shape) -> Shape:
        channels(x, "normalized_shape")
        return super().infer(x)

    def lower(self, x: Shape):
        return _layer_norm_2d()(x[1], self.eps, self.elementwise_affine, self.bias)


@cache
def _layer_norm_2d():
    """The torch module class, defined on first use so that importing archc never imports torch."""
    import torch.nn as nn
    import torch.nn.functional as F

    class LayerNorm2d(nn.LayerNorm):
        """nn.LayerNorm applied channels-last: (N, C, H, W) -> (N, H, W, C) -> back."""

        def forward(self, x):
            x = x.permute(0, 2, 3, 1)  # (N, H, W, C)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)  # (N, C, H, W)

    return LayerNorm2d
