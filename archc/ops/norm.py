"""Batch normalization over channels, for (N, C, H, W) and (N, C) inputs."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from archc.ops.base import Op, PositiveInt, Shape, check_width, register


class _BatchNorm(Op):
    num_features: PositiveInt | None = None
    eps: Annotated[float, Field(gt=0)] = 1e-5
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.1
    affine: bool = True
    track_running_stats: bool = True

    def infer(self, x: Shape) -> Shape:
        check_width(self.num_features, x, "num_features")
        return x

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

        cls = nn.BatchNorm2d if self.kind == "batchnorm2d" else nn.BatchNorm1d
        return cls(x[1], self.eps, self.momentum, self.affine, self.track_running_stats)


@register
class BatchNorm2d(_BatchNorm):
    """nn.BatchNorm2d: per-channel normalization of (N, C, H, W)."""

    kind: ClassVar[str] = "batchnorm2d"
    summary: ClassVar[str] = "batch normalization of (N, C, H, W) (nn.BatchNorm2d)"
    ranks: ClassVar[tuple[int, ...]] = (4,)


@register
class BatchNorm1d(_BatchNorm):
    """nn.BatchNorm1d: per-feature normalization of (N, C) or (N, C, L)."""

    kind: ClassVar[str] = "batchnorm1d"
    summary: ClassVar[str] = "batch normalization of (N, C) or (N, C, L) (nn.BatchNorm1d)"
    ranks: ClassVar[tuple[int, ...]] = (2, 3)
