"""Pooling: max, average, adaptive and global average."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar, Literal

from archc.ops.base import (
    Example,
    Fields,
    NonNegativePair,
    Op,
    OpError,
    Pair,
    ReceptiveField,
    Shape,
    Window,
    register,
)


class _Pool(Op):
    category: ClassVar[str] = "pool"
    ranks: ClassVar[tuple[int, ...]] = (4,)

    kernel_size: Pair
    """the window, `k` or `[kh, kw]`."""
    stride: Pair | None = None
    """the step between windows, `s` or `[sh, sw]`; default: the kernel size."""
    padding: NonNegativePair = (0, 0)
    """padding on each side, `p` or `[ph, pw]`, at most half the kernel."""
    ceil_mode: bool = False
    """round the output size up, so that a last partial window counts."""

    dilation_: ClassVar[tuple[int, int]] = (1, 1)

    def strides(self) -> tuple[int, int]:
        return self.stride or self.kernel_size

    def dilations(self) -> tuple[int, int]:
        return self.dilation_

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


@register
class MaxPool2d(_Pool):
    """nn.MaxPool2d: the maximum over each window."""

    name: ClassVar[str] = "maxpool2d"
    summary: ClassVar[str] = "2-D max pooling (nn.MaxPool2d); `stride` defaults to the kernel"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 9), {"kernel_size": 2}),
        Example((1, 2, 9, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
        Example((1, 2, 10, 10), {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        Example((1, 2, 11, 11), {"kernel_size": 2, "stride": 1, "dilation": 2}),
    )

    dilation: Pair = (1, 1)
    """spacing between the window's taps."""

    def dilations(self) -> tuple[int, int]:
        return self.dilation

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.MaxPool2d(
            self.kernel_size, self.strides(), self.padding, self.dilation, ceil_mode=self.ceil_mode
        )


@register
class AvgPool2d(_Pool):
    """nn.AvgPool2d: the mean over each window."""

    name: ClassVar[str] = "avgpool2d"
    summary: ClassVar[str] = "2-D average pooling (nn.AvgPool2d); `stride` defaults to the kernel"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 6), {"kernel_size": 2}),
        Example((1, 2, 9, 9), {"kernel_size": 3, "stride": 2, "padding": 1}),
        Example(
            (1, 2, 9, 9),
            {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        ),
    )

    count_include_pad: bool = True
    """count padded zeros in each average."""

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.AvgPool2d(
            self.kernel_size, self.strides(), self.padding, self.ceil_mode, self.count_include_pad
        )


@register
class AdaptiveAvgPool2d(Op):
    """nn.AdaptiveAvgPool2d: average pooling to a fixed output size."""

    name: ClassVar[str] = "adaptiveavgpool2d"
    summary: ClassVar[str] = "2-D adaptive average pooling to `output_size` (nn.AdaptiveAvgPool2d)"
    category: ClassVar[str] = "pool"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 8, 12), {"output_size": [2, 3]}),
        Example((1, 2, 7, 7), {"output_size": 1}),
    )

    output_size: Pair
    """the output size, `s` or `[h, w]`, whatever the input size."""

    def infer(self, x: Shape) -> Shape:
        return (*x[:2], *self.output_size)

    def adaptive_size(self) -> tuple[int, ...]:
        """The output size per spatial axis: windows are even only where it divides the input."""
        return self.output_size

    def geometry(self, x: Shape) -> tuple[None, ...]:
        return (None,) * (len(x) - 2)  # windows differ with the input size: counted whole

    def lower(self, x: Shape):
        import torch.nn as nn

        return nn.AdaptiveAvgPool2d(self.output_size)


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


@register
class Upsample(Op):
    """nn.Upsample by an integer factor."""

    name: ClassVar[str] = "upsample"
    summary: ClassVar[str] = "upsampling by an integer `scale_factor` (nn.Upsample)"
    category: ClassVar[str] = "layout"
    ranks: ClassVar[tuple[int, ...]] = (4,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 5), {"scale_factor": 2}),
        Example((1, 2, 4, 4), {"scale_factor": [2, 3], "mode": "bilinear"}),
    )

    scale_factor: Pair
    """the integer factor, `f` or `[fh, fw]`, by which height and width grow."""
    mode: Literal["nearest", "bilinear"] = "nearest"
    """`nearest` repeats values, `bilinear` interpolates."""

    def infer(self, x: Shape) -> Shape:
        return (*x[:2], *(size * f for size, f in zip(x[2:], self.scale_factor)))

    def geometry(self, x: Shape) -> tuple[None, ...]:
        return (None,) * (len(x) - 2)  # an output reads a fraction of an input position

    def receptive_field(self, fields: list[Fields], x: tuple) -> Fields:
        # Each input position becomes `factor` outputs: the jump between outputs divides.
        return tuple(
            ReceptiveField(f.size, f.stride / Fraction(factor), f.padding)
            for f, factor in zip(fields[0], self.scale_factor)
        )

    def lower(self, x: Shape):
        import torch.nn as nn

        align = False if self.mode == "bilinear" else None
        return nn.Upsample(
            scale_factor=tuple(float(f) for f in self.scale_factor),
            mode=self.mode,
            align_corners=align,
        )
