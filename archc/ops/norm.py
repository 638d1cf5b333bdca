"""Normalization over channels: batch norm (1-D, 2-D, 3-D), instance norm (1-D, 2-D, 3-D) and
group norm.

Batch norm normalizes each channel by running statistics at inference, so an output reads its
own position; instance and group norm normalize by statistics of the input itself, so an
output reads every position of its sample (its geometry is the whole of each axis).
"""

from __future__ import annotations

from functools import cache
from math import prod
from typing import Annotated, ClassVar

from pydantic import Field

from archc.dims import Dim, format_shape
from archc.ops.base import (
    Example,
    Op,
    OpError,
    PositiveInt,
    Requirement,
    Shape,
    Window,
    channels,
    check_width,
    register,
    same_geometry,
)


class _Norm(Op):
    """Normalization of each of the C channels of (N, C, ...), with nn's `_NormBase` state:
    `affine` weight and bias of C each, and with `track_running_stats` running_mean and
    running_var of C each and num_batches_tracked."""

    category: ClassVar[str] = "norm"
    module: ClassVar[str]  # the torch.nn class name

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

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        if self.track_running_stats:
            return same_geometry(x)  # at inference, a per-channel affine map
        return (None,) * (len(x) - 2)  # statistics of the input: every position

    def params(self, x: Shape) -> int:
        return 2 * x[1] if self.affine else 0

    def buffers(self, x: Shape) -> int:
        # running_mean, running_var and num_batches_tracked, as in the state_dict.
        return 2 * x[1] + 1 if self.track_running_stats else 0

    def buffer_bytes(self, x: Shape, float_bytes: int) -> int:
        # num_batches_tracked is an int64 whatever the floating-point type.
        return 2 * x[1] * float_bytes + 8 if self.track_running_stats else 0

    def module_class(self) -> type:
        import torch.nn as nn

        return getattr(nn, self.module)

    def lower(self, x: Shape):
        cls = self.module_class()
        return cls(x[1], self.eps, self.momentum, self.affine, self.track_running_stats)


class _BatchNorm(_Norm):
    def module_class(self) -> type:
        cls = super().module_class()
        return cls if self.track_running_stats else _batch_statistics(cls)


@cache
def _batch_statistics(base: type) -> type:
    """`base` (nn.BatchNorm1d, 2d or 3d) normalizing by batch statistics with explicit ops.

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
class BatchNorm1d(_BatchNorm):
    """nn.BatchNorm1d: per-feature normalization of (N, C) or (N, C, L)."""

    name: ClassVar[str] = "batchnorm1d"
    module: ClassVar[str] = "BatchNorm1d"
    summary: ClassVar[str] = "batch normalization of (N, C) or (N, C, L) (nn.BatchNorm1d)"
    ranks: ClassVar[tuple[int, ...]] = (2, 3)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6)),
        Example((1, 4, 7), {"momentum": 0.01}),
        Example((1, 3, 5), {"track_running_stats": False, "affine": False}),
    )


@register
class BatchNorm2d(_BatchNorm):
    """nn.BatchNorm2d: per-channel normalization of (N, C, H, W)."""

    name: ClassVar[str] = "batchnorm2d"
    module: ClassVar[str] = "BatchNorm2d"
    summary: ClassVar[str] = "batch normalization of (N, C, H, W) (nn.BatchNorm2d)"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 5, 4)),
        Example((1, 4, 3, 3), {"num_features": 4, "affine": False}),
        Example((1, 2, 3, 3), {"track_running_stats": False, "eps": 0.001}),
    )


@register
class BatchNorm3d(_BatchNorm):
    """nn.BatchNorm3d: per-channel normalization of (N, C, D, H, W)."""

    name: ClassVar[str] = "batchnorm3d"
    module: ClassVar[str] = "BatchNorm3d"
    summary: ClassVar[str] = "batch normalization of (N, C, D, H, W) (nn.BatchNorm3d)"
    ranks: ClassVar[tuple[int, ...]] = (5,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 2, 5, 4)),
        Example((1, 4, 3, 3, 2), {"num_features": 4, "affine": False}),
        Example((1, 2, 3, 3, 3), {"track_running_stats": False}),
    )


class _InstanceNorm(_Norm):
    """nn.InstanceNorm1d/2d/3d: each channel of each sample normalized by its own mean and
    variance over the spatial axes; PyTorch's defaults: no affine map, no running statistics."""

    affine: bool = False
    """learn a per-channel scale and shift (PyTorch's default for instance norm: no)."""
    track_running_stats: bool = False
    """keep running mean and variance (buffers), used at inference instead of each sample's."""

    def conditions(self, x: Shape) -> list[Requirement]:
        # PyTorch refuses to normalize by the input's statistics over a single position: in
        # training always, at inference without running statistics.
        if all(isinstance(d, int) for d in x[2:]):
            return []
        what = f"`{self.name}` normalizes over more than one position"
        return [Requirement(prod(x[2:]), 2, what, "positive")]

    def infer(self, x: Shape) -> Shape:
        positions: Dim = prod(x[2:])
        if isinstance(positions, int) and positions < 2:
            raise OpError(
                "spatial-collapse",
                f"`{self.name}` normalizes each channel over its {positions} position: PyTorch "
                f"needs more than one (input shape {format_shape(x)})",
                hint="normalize before the spatial size reaches 1",
            )
        return super().infer(x)

    def module_class(self) -> type:
        cls = super().module_class()
        return _running_statistics(cls) if self.track_running_stats else cls


@cache
def _running_statistics(base: type) -> type:
    """`base` (nn.InstanceNorm1d, 2d or 3d) that at inference normalizes by its running
    statistics as batch norm does, which it equals there.

    torch's TorchScript exporter refuses instance norm with running statistics and a dynamic
    batch ("ONNX export of instance_norm training for unknown batch size"); the same
    computation written as batch norm exports as BatchNormalization. The class keeps its
    base's name, parameters and state_dict keys.
    """
    import torch.nn.functional as F

    class RunningStatisticsNorm(base):
        def forward(self, x):
            if self.training:
                return super().forward(x)
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )

    RunningStatisticsNorm.__name__ = base.__name__
    return RunningStatisticsNorm


@register
class InstanceNorm1d(_InstanceNorm):
    """nn.InstanceNorm1d: per-sample, per-channel normalization of (N, C, L)."""

    name: ClassVar[str] = "instancenorm1d"
    module: ClassVar[str] = "InstanceNorm1d"
    summary: ClassVar[str] = "instance normalization of (N, C, L) (nn.InstanceNorm1d)"
    ranks: ClassVar[tuple[int, ...]] = (3,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 7)),
        Example((1, 4, 5), {"affine": True, "eps": 0.001}),
        Example((1, 2, 6), {"track_running_stats": True, "num_features": 2}),
    )


@register
class InstanceNorm2d(_InstanceNorm):
    """nn.InstanceNorm2d: per-sample, per-channel normalization of (N, C, H, W)."""

    name: ClassVar[str] = "instancenorm2d"
    module: ClassVar[str] = "InstanceNorm2d"
    summary: ClassVar[str] = "instance normalization of (N, C, H, W) (nn.InstanceNorm2d)"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 5, 4)),
        Example((1, 4, 3, 3), {"affine": True}),
        Example((1, 2, 3, 1), {"track_running_stats": True, "affine": True}),
    )


@register
class InstanceNorm3d(_InstanceNorm):
    """nn.InstanceNorm3d: per-sample, per-channel normalization of (N, C, D, H, W)."""

    name: ClassVar[str] = "instancenorm3d"
    module: ClassVar[str] = "InstanceNorm3d"
    summary: ClassVar[str] = "instance normalization of (N, C, D, H, W) (nn.InstanceNorm3d)"
    ranks: ClassVar[tuple[int, ...]] = (5,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 2, 4, 3)),
        Example((1, 2, 3, 3, 2), {"affine": True, "track_running_stats": True}),
    )


@register
class GroupNorm(Op):
    """nn.GroupNorm: the C channels of (N, C, ...) split into `num_groups` groups, each
    normalized over its channels and all positions of the sample, then scaled per channel."""

    name: ClassVar[str] = "groupnorm"
    summary: ClassVar[str] = "group normalization in `num_groups` groups (nn.GroupNorm)"
    category: ClassVar[str] = "norm"
    ranks: ClassVar[tuple[int, ...]] = (2, 3, 4, 5)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 6, 4, 5), {"num_groups": 3}),
        Example((1, 4, 7), {"num_groups": 1, "eps": 1e-6}),
        Example((1, 4, 3, 4, 2), {"num_groups": 4, "affine": False, "num_channels": 4}),
        Example((1, 8), {"num_groups": 2}),
        Example((1, 4, 1, 1), {"num_groups": 2}),
    )

    num_groups: PositiveInt
    """the number of channel groups, dividing the channels."""
    num_channels: PositiveInt | None = None
    """the channels normalized, as a check only: inferred from the incoming shape, an error where
    they differ.
    """
    eps: Annotated[float, Field(gt=0)] = 1e-5
    """added to the variance, for numerical stability."""
    affine: bool = True
    """learn a per-channel scale and shift."""

    def infer(self, x: Shape) -> Shape:
        check_width(self.num_channels, x, "num_channels")
        if channels(x) % self.num_groups:
            raise OpError(
                "bad-groups",
                f"the {x[1]} channels are not divisible by `num_groups: {self.num_groups}`",
                "num_groups",
                hint="choose `num_groups` dividing the channels",
            )
        return x

    def geometry(self, x: Shape) -> tuple[None, ...]:
        return (None,) * (len(x) - 2)  # statistics over every position of the sample

    def params(self, x: Shape) -> int:
        return 2 * x[1] if self.affine else 0

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.GroupNorm(self.num_groups, x[1], self.eps, self.affine)
