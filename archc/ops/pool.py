"""Pooling over one, two or three spatial axes: max, average, adaptive, and global average;
and upsampling.

Each family is one class written over per-axis tuples (`Spatial`); its members (`maxpool1d`,
`maxpool2d`, `maxpool3d`) state only their rank and lower to the torch module of that rank.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator

from archc.dims import Sym, axis_words, format_shape
from archc.ops.base import (
    Example,
    Expect,
    Fields,
    NonNegativeSizes,
    Op,
    OpError,
    PositiveInt,
    ReceptiveField,
    Requirement,
    Shape,
    Sizes,
    Spatial,
    Window,
    register,
)


class _PoolNd(Spatial):
    category: ClassVar[str] = "pool"

    kernel_size: Sizes
    """the window, `k` or one per axis (`[kh, kw]`, `[kd, kh, kw]`)."""
    stride: Sizes | None = None
    """the step between windows, `s` or one per axis; default: the kernel size."""
    padding: NonNegativeSizes = 0
    """padding on each side, `p` or one per axis, at most half the kernel."""
    ceil_mode: bool = False
    """round the output size up, so that a last partial window counts."""

    def strides(self) -> tuple[int, ...]:
        return self.stride or self.kernel_size

    def dilations(self) -> tuple[int, ...]:
        return (1,) * self.spatial

    def infer(self, x: Shape) -> Shape:
        out = []
        for size, k, s, p, d in zip(
            x[2:], self.kernel_size, self.strides(), self.padding, self.dilations()
        ):
            extent = d * (k - 1) + 1
            if 2 * p > extent:
                raise OpError(
                    "bad-padding",
                    f"padding {p} is more than half the window {extent} (PyTorch refuses it)",
                    "padding",
                    hint=f"use `padding: {extent // 2}` or less",
                )
            span = size + 2 * p - extent
            if not self.ceil_mode:
                out.append(span // s + 1)
                continue
            # PyTorch rounds up, then drops a last window that would start inside the right
            # padding: min(floor((span + s - 1)/s), floor((size + p - 1)/s)) + 1, which is one
            # floor with the smaller constant (the same for symbolic sizes).
            out.append((size + min(2 * p - extent + s - 1, p - 1)) // s + 1)
        return (*x[:2], *out)

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return tuple(
            Window(d * (k - 1) + 1, s, p)
            for k, s, p, d in zip(self.kernel_size, self.strides(), self.padding, self.dilations())
        )


class _MaxPoolNd(_PoolNd):
    """nn.MaxPool1d/2d/3d: the maximum over each window."""

    dilation: Sizes = 1
    """spacing between the window's taps."""

    def dilations(self) -> tuple[int, ...]:
        return self.dilation

    def lower(self, x: Shape):
        import torch.nn as nn

        return getattr(nn, f"MaxPool{self.spatial}d")(
            self.kernel_size,
            self.strides(),
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
        )


@register
class MaxPool1d(_MaxPoolNd):
    """nn.MaxPool1d: the maximum over each window of (N, C, L)."""

    name: ClassVar[str] = "maxpool1d"
    summary: ClassVar[str] = "1-D max pooling (nn.MaxPool1d); `stride` defaults to the kernel"
    spatial: ClassVar[int] = 1
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 9), {"kernel_size": 2}),
        Example((1, 2, 10), {"kernel_size": 3, "stride": 2, "padding": 1}),
        Example((1, 2, 10), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        Example((1, 2, 11), {"kernel_size": 2, "stride": 1, "dilation": 3}),
    )


@register
class MaxPool2d(_MaxPoolNd):
    """nn.MaxPool2d: the maximum over each window of (N, C, H, W)."""

    name: ClassVar[str] = "maxpool2d"
    summary: ClassVar[str] = "2-D max pooling (nn.MaxPool2d); `stride` defaults to the kernel"
    spatial: ClassVar[int] = 2
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 9), {"kernel_size": 2}),
        Example((1, 2, 9, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
        Example((1, 2, 10, 10), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        Example((1, 2, 11, 11), {"kernel_size": 2, "stride": 1, "dilation": 2}),
    )


@register
class MaxPool3d(_MaxPoolNd):
    """nn.MaxPool3d: the maximum over each window of (N, C, D, H, W)."""

    name: ClassVar[str] = "maxpool3d"
    summary: ClassVar[str] = "3-D max pooling (nn.MaxPool3d); `stride` defaults to the kernel"
    spatial: ClassVar[int] = 3
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 6, 7), {"kernel_size": 2}),
        Example(
            (1, 2, 5, 7, 7), {"kernel_size": [1, 3, 3], "stride": [1, 2, 2], "padding": [0, 1, 1]}
        ),
        Example((1, 2, 6, 6, 6), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        Example((1, 2, 7, 7, 7), {"kernel_size": 2, "stride": 1, "dilation": 2}),
    )


class _AvgPoolNd(_PoolNd):
    """nn.AvgPool1d/2d/3d: the mean over each window."""

    count_include_pad: bool = True
    """count padded zeros in each average."""

    def lower(self, x: Shape):
        import torch.nn as nn

        return getattr(nn, f"AvgPool{self.spatial}d")(
            self.kernel_size, self.strides(), self.padding, self.ceil_mode, self.count_include_pad
        )


@register
class AvgPool1d(_AvgPoolNd):
    """nn.AvgPool1d: the mean over each window of (N, C, L)."""

    name: ClassVar[str] = "avgpool1d"
    summary: ClassVar[str] = "1-D average pooling (nn.AvgPool1d); `stride` defaults to the kernel"
    spatial: ClassVar[int] = 1
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8), {"kernel_size": 2}),
        Example((1, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
        Example(
            (1, 2, 9), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}
        ),
    )


@register
class AvgPool2d(_AvgPoolNd):
    """nn.AvgPool2d: the mean over each window of (N, C, H, W)."""

    name: ClassVar[str] = "avgpool2d"
    summary: ClassVar[str] = "2-D average pooling (nn.AvgPool2d); `stride` defaults to the kernel"
    spatial: ClassVar[int] = 2
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 6), {"kernel_size": 2}),
        Example((1, 2, 9, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
        Example(
            (1, 2, 9, 9),
            {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        ),
    )


@register
class AvgPool3d(_AvgPoolNd):
    """nn.AvgPool3d: the mean over each window of (N, C, D, H, W).

    Unlike the 1-D and 2-D ones, PyTorch's 3-D average pooling refuses an input smaller than
    its kernel along any axis, padding or not ("input image smaller than kernel size").
    """

    name: ClassVar[str] = "avgpool3d"
    summary: ClassVar[str] = "3-D average pooling (nn.AvgPool3d); `stride` defaults to the kernel"
    spatial: ClassVar[int] = 3
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 6, 6), {"kernel_size": 2}),
        Example(
            (1, 2, 5, 7, 7),
            {"kernel_size": 3, "stride": [1, 2, 2], "padding": 1, "count_include_pad": False},
        ),
    )

    def infer(self, x: Shape) -> Shape:
        for size, k, word in zip(x[2:], self.kernel_size, axis_words(3)):
            if isinstance(size, int) and size < k:
                raise OpError(
                    "spatial-collapse",
                    f"`avgpool3d` needs an input at least as large as its kernel: the {word} "
                    f"is {size}, the kernel {k} (input shape {format_shape(x)})",
                    "kernel_size",
                    hint=f"use a kernel of at most {size} along the {word}, or `maxpool3d`",
                )
        return super().infer(x)

    def conditions(self, x: Shape) -> list[Requirement]:
        return [
            Requirement(size, k, "`avgpool3d` input at least as large as its kernel", "positive")
            for size, k in zip(x[2:], self.kernel_size)
            if isinstance(size, Sym)
        ]


class _AdaptivePoolNd(Spatial):
    """Adaptive pooling to a fixed `output_size`: output i of an axis of size n reduces the
    inputs floor(i*n/out) .. ceil((i+1)*n/out) - 1 (PyTorch's windows)."""

    category: ClassVar[str] = "pool"
    kind: ClassVar[Literal["Avg", "Max"]]

    output_size: Sizes
    """the output size, `s` or one per axis (`[h, w]`, `[d, h, w]`), whatever the input size."""

    def infer(self, x: Shape) -> Shape:
        return (*x[:2], *self.output_size)

    def adaptive_size(self) -> tuple[int, ...]:
        """The output size per spatial axis: windows are even only where it divides the input."""
        return self.output_size

    def geometry(self, x: Shape) -> tuple[None, ...]:
        return (None,) * (len(x) - 2)  # windows differ with the input size: counted whole

    def lower(self, x: Shape):
        import torch.nn as nn

        module = getattr(nn, f"Adaptive{self.kind}Pool{self.spatial}d")
        sizes = x[2:]
        concrete = all(isinstance(n, int) for n in sizes)
        if concrete and any(n % out for n, out in zip(sizes, self.output_size)):
            return _sliced(module, self.kind)(self.output_size, sizes)
        return module(self.output_size)


@cache
def _sliced(base: type, kind: str) -> type:
    """`base` (an nn.AdaptiveAvgPoolNd or nn.AdaptiveMaxPoolNd) that, on the input sizes it
    was built for, pools one axis at a time with slices.

    torch's TorchScript exporter refuses an adaptive pool whose output size does not divide
    its input size. Its windows are a product of one interval per axis, so the mean (or
    maximum) over a window is the mean (maximum) along each axis in turn: slices, reductions
    and a concatenation per axis, which export to ONNX. Other input sizes use `base`'s own
    kernel. The class keeps its base's name, and has no state.
    """
    import torch

    reduce = torch.mean if kind == "Avg" else torch.amax

    class SlicedAdaptivePool(base):
        def __init__(self, output_size: tuple[int, ...], sizes: tuple[int, ...]):
            super().__init__(output_size)
            self.sizes = tuple(sizes)

        def forward(self, x):
            if tuple(x.shape[2:]) != self.sizes:
                return super().forward(x)
            for axis, (n, out) in enumerate(zip(self.sizes, self.output_size)):
                dim = 2 + axis
                windows = [(i * n // out, -(-(i + 1) * n // out)) for i in range(out)]
                parts = [reduce(x.narrow(dim, a, b - a), dim, True) for a, b in windows]
                x = torch.cat(parts, dim)  # (N, C, ..., out, ...)
            return x

    SlicedAdaptivePool.__name__ = base.__name__
    return SlicedAdaptivePool


@register
class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """nn.AdaptiveAvgPool1d: average pooling of (N, C, L) to a fixed length."""

    name: ClassVar[str] = "adaptiveavgpool1d"
    summary: ClassVar[str] = "1-D adaptive average pooling to `output_size` (nn.AdaptiveAvgPool1d)"
    spatial: ClassVar[int] = 1
    kind: ClassVar[str] = "Avg"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 12), {"output_size": 4}),
        Example((1, 2, 7), {"output_size": 1}),
        Example((1, 2, 10), {"output_size": [3]}),  # uneven windows
    )


@register
class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """nn.AdaptiveAvgPool2d: average pooling of (N, C, H, W) to a fixed size."""

    name: ClassVar[str] = "adaptiveavgpool2d"
    summary: ClassVar[str] = "2-D adaptive average pooling to `output_size` (nn.AdaptiveAvgPool2d)"
    spatial: ClassVar[int] = 2
    kind: ClassVar[str] = "Avg"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 12), {"output_size": [2, 3]}),
        Example((1, 2, 7, 7), {"output_size": 1}),
        Example((1, 2, 10, 7), {"output_size": [3, 7]}),  # uneven windows along H
    )


@register
class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """nn.AdaptiveAvgPool3d: average pooling of (N, C, D, H, W) to a fixed size."""

    name: ClassVar[str] = "adaptiveavgpool3d"
    summary: ClassVar[str] = "3-D adaptive average pooling to `output_size` (nn.AdaptiveAvgPool3d)"
    spatial: ClassVar[int] = 3
    kind: ClassVar[str] = "Avg"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 6, 8), {"output_size": [2, 3, 4]}),
        Example((1, 2, 3, 5, 7), {"output_size": 1}),
        Example((1, 2, 5, 6, 7), {"output_size": [2, 4, 3]}),  # uneven windows
    )


@register
class AdaptiveMaxPool1d(_AdaptivePoolNd):
    """nn.AdaptiveMaxPool1d: max pooling of (N, C, L) to a fixed length."""

    name: ClassVar[str] = "adaptivemaxpool1d"
    summary: ClassVar[str] = "1-D adaptive max pooling to `output_size` (nn.AdaptiveMaxPool1d)"
    spatial: ClassVar[int] = 1
    kind: ClassVar[str] = "Max"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 12), {"output_size": 4}),
        Example((1, 2, 7), {"output_size": 1}),
        Example((1, 2, 10), {"output_size": 4}),  # uneven windows
    )


@register
class AdaptiveMaxPool2d(_AdaptivePoolNd):
    """nn.AdaptiveMaxPool2d: max pooling of (N, C, H, W) to a fixed size."""

    name: ClassVar[str] = "adaptivemaxpool2d"
    summary: ClassVar[str] = "2-D adaptive max pooling to `output_size` (nn.AdaptiveMaxPool2d)"
    spatial: ClassVar[int] = 2
    kind: ClassVar[str] = "Max"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 12), {"output_size": [2, 3]}),
        Example((1, 2, 7, 7), {"output_size": 1}),
        Example((1, 2, 8, 8), {"output_size": 3}),  # uneven windows
    )


@register
class AdaptiveMaxPool3d(_AdaptivePoolNd):
    """nn.AdaptiveMaxPool3d: max pooling of (N, C, D, H, W) to a fixed size."""

    name: ClassVar[str] = "adaptivemaxpool3d"
    summary: ClassVar[str] = "3-D adaptive max pooling to `output_size` (nn.AdaptiveMaxPool3d)"
    spatial: ClassVar[int] = 3
    kind: ClassVar[str] = "Max"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 6, 8), {"output_size": 2}),
        Example((1, 2, 3, 5, 7), {"output_size": 1}),
        Example((1, 2, 5, 6, 7), {"output_size": [3, 4, 2]}),  # uneven windows
    )


@register
class GlobalAvgPool2d(Op):
    """Global average pooling: nn.AdaptiveAvgPool2d(1), (N, C, H, W) -> (N, C, 1, 1)."""

    name: ClassVar[str] = "globalavgpool2d"
    summary: ClassVar[str] = "global average pooling to (N, C, 1, 1) (nn.AdaptiveAvgPool2d(1))"
    category: ClassVar[str] = "pool"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    examples: ClassVar[tuple[Example, ...]] = (Example((1, 3, 5, 7)),)

    def infer(self, x: Shape) -> Shape:
        return (*x[:2], 1, 1)

    def geometry(self, x: Shape) -> tuple[None, ...]:
        return (None,) * (len(x) - 2)

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.AdaptiveAvgPool2d(1)


# What each interpolation mode of nn.Upsample needs: its rank of input.
_MODE_RANKS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}

Factors = Annotated[
    PositiveInt | tuple[PositiveInt, ...],
    BeforeValidator(lambda v: tuple(v) if isinstance(v, list) else v),
    Expect("a positive integer or a list of them, one per spatial axis"),
]


@register
class Upsample(Op):
    """nn.Upsample of (N, C, L), (N, C, H, W) or (N, C, D, H, W) by integer factors."""

    name: ClassVar[str] = "upsample"
    summary: ClassVar[str] = "upsampling by an integer `scale_factor` per axis (nn.Upsample)"
    category: ClassVar[str] = "layout"
    ranks: ClassVar[tuple[int, ...]] = (3, 4, 5)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 5), {"scale_factor": 2}),
        Example((1, 2, 4, 4), {"scale_factor": [2, 3], "mode": "bilinear"}),
        Example((1, 2, 4, 5), {"scale_factor": 2, "mode": "bicubic"}),
        Example((1, 3, 5), {"scale_factor": 3}),
        Example((1, 2, 6), {"scale_factor": [2], "mode": "linear"}),
        Example((1, 2, 3, 4, 5), {"scale_factor": [1, 2, 2]}),
        Example((1, 2, 3, 4, 4), {"scale_factor": 2, "mode": "trilinear"}),
    )

    scale_factor: Factors
    """the integer factor, `f` or one per spatial axis, by which the sizes grow."""
    mode: Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"] = "nearest"
    """`nearest` repeats values; `linear` (L), `bilinear` or `bicubic` (H, W) and `trilinear`
    (D, H, W) interpolate."""

    def factors(self, x: Shape) -> tuple[int, ...]:
        """The factor of each spatial axis of `x`."""
        if isinstance(self.scale_factor, int):
            return (self.scale_factor,) * (len(x) - 2)
        return self.scale_factor

    def infer(self, x: Shape) -> Shape:
        rank = _MODE_RANKS.get(self.mode, len(x))
        if rank != len(x):
            fitting = [m for m, r in _MODE_RANKS.items() if r == len(x)]
            raise OpError(
                "rank-mismatch",
                f"`mode: {self.mode}` interpolates a rank-{rank} input, got {format_shape(x)}",
                "mode",
                hint="use " + " or ".join(f"`mode: {m}`" for m in ["nearest", *fitting]),
            )
        factors = self.factors(x)
        if len(factors) != len(x) - 2:
            axes = len(x) - 2
            raise OpError(
                "out-of-range",
                f"`scale_factor` gives {len(factors)} factors for {axes} spatial "
                f"{'axis' if axes == 1 else 'axes'} ({format_shape(x)})",
                "scale_factor",
                hint="give one factor per spatial axis, or one integer for all",
            )
        return (*x[:2], *(size * f for size, f in zip(x[2:], factors)))

    def geometry(self, x: Shape) -> tuple[None, ...]:
        return (None,) * (len(x) - 2)  # an output reads a fraction of an input position

    def receptive_field(self, fields: list[Fields], x: tuple) -> Fields:
        # Each input position becomes `factor` outputs: the jump between outputs divides.
        return tuple(
            ReceptiveField(f.size, f.stride / Fraction(factor), f.padding)
            for f, factor in zip(fields[0], self.factors(x[0]))
        )

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.Upsample(
            scale_factor=tuple(float(f) for f in self.factors(x)),
            mode=self.mode,
            align_corners=None if self.mode == "nearest" else False,
        )
