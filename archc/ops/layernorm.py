"""Layer normalization: over the last dim (nn.LayerNorm) and over channels of (N, C, H, W).

`layernorm2d` is torchvision ConvNeXt's `LayerNorm2d`: each position's C channels are
normalized together (mean and variance over C alone, not over H and W as `GroupNorm(1, C)`
would), then scaled and shifted per channel.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, ClassVar

from pydantic import Field

from archc.ops.base import Op, OpError, PositiveInt, Shape, Window, channels, register


class _LayerNorm(Op):
    normalized_shape: PositiveInt | None = None  # the normalized width, if stated
    eps: Annotated[float, Field(gt=0)] = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

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

    kind: ClassVar[str] = "layernorm"
    summary: ClassVar[str] = "layer normalization over the last dim (nn.LayerNorm)"
    axis: ClassVar[int] = -1

    def windows(self, x: Shape) -> tuple[Window, Window] | None:
        return None if len(x) == 4 else super().windows(x)  # on (N, C, H, W) it mixes W

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.LayerNorm(x[-1], self.eps, self.elementwise_affine, self.bias)


@register
class LayerNorm2d(_LayerNorm):
    """torchvision's LayerNorm2d: nn.LayerNorm over the channels of (N, C, H, W), per position."""

    kind: ClassVar[str] = "layernorm2d"
    summary: ClassVar[str] = "layer normalization over the channels of (N, C, H, W) (ConvNeXt)"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    axis: ClassVar[int] = 1

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
