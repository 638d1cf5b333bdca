"""Batch normalization over channels, for (N, C, H, W) and (N, C) inputs."""

from __future__ import annotations

from functools import cache
from typing import Annotated, ClassVar

from pydantic import Field

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


class _BatchNorm(Op):
    category: ClassVar[str] = "norm"

    num_features: PositiveInt | None = None
    """the channels normalized, as a check only: inferred from the incoming shape, an error where
    they differ.
    """
    eps: Annotated[float, Field(gt=0)] = 1e-5
    """added to the variance, for numerical stability."""
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    """the weight of each batch in the running statistics."""
    affine: bool = True
    """learn a per-channel scale and shift."""
    track_running_stats: bool = True
    """keep running mean and variance (buffers) for inference."""

    def infer(self, x: Shape) -> Shape:
        check_width(self.num_features, x, "num_features")
        return x

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)  # at inference, a per-channel affine map

    def params(self, x: Shape) -> int:
        return 2 * x[1] if self.affine else 0

    def buffers(self, x: Shape) -> int:
        # running_mean, running_var and num_batches_tracked, as in the state_dict.
        return 2 * x[1] + 1 if self.track_running_stats else 0

    def buffer_bytes(self, x: Shape, float_bytes: int) -> int:
        # num_batches_tracked is an int64 whatever the floating-point type.
        return 2 * x[1] * float_bytes + 8 if self.track_running_stats else 0

    def lower(self, x: Shape):
        import torch.nn as nn

        cls = nn.BatchNorm2d if self.name == "batchnorm2d" else nn.BatchNorm1d
        if not self.track_running_stats:
            cls = _batch_statistics(cls)
        return cls(x[1], self.eps, self.momentum, self.affine, self.track_running_stats)


@cache
def _batch_statistics(base: type) -> type:
    """`base` (nn.BatchNorm1d or 2d) normalizing by batch statistics with explicit ops.

    Without running statistics batch norm uses the batch's own at inference too; torch's
    TorchScript exporter refuses that with a dynamic batch ("batch_size and channel_size must
    be non-None"). Mean and variance written out export as ReduceMean and friends. The class
    keeps its base's parameters and state_dict keys.
    """
    import torch

    class BatchStatisticsNorm(base):
        def forward(self, x):
            if self.training:
                return super().forward(x)
            axes = [0, *range(2, x.dim())]  # all but the channels
            shape = [1, -1] + [1] * (x.dim() - 2)  # (1, C, 1, ...)
            mean = x.mean(dim=axes, keepdim=True)
            var = x.var(dim=axes, unbiased=False, keepdim=True)
            y = (x - mean) / torch.sqrt(var + self.eps)
            return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y

    BatchStatisticsNorm.__name__ = base.__name__
    return BatchStatisticsNorm


@register
class BatchNorm2d(_BatchNorm):
    """nn.BatchNorm2d: per-channel normalization of (N, C, H, W)."""

    name: ClassVar[str] = "batchnorm2d"
    summary: ClassVar[str] = "batch normalization of (N, C, H, W) (nn.BatchNorm2d)"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 5, 4)),
        Example((1, 4, 3, 3), {"num_features": 4, "affine": False}),
        Example((1, 2, 3, 3), {"track_running_stats": False, "eps": 0.001}),
    )


@register
class BatchNorm1d(_BatchNorm):
    """nn.BatchNorm1d: per-feature normalization of (N, C) or (N, C, L)."""

    name: ClassVar[str] = "batchnorm1d"
    summary: ClassVar[str] = "batch normalization of (N, C) or (N, C, L) (nn.BatchNorm1d)"
    ranks: ClassVar[tuple[int, ...]] = (2, 3)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6)),
        Example((1, 4, 7), {"momentum": 0.01}),
    )
