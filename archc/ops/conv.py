"""Convolution and transposed convolution over one, two or three spatial axes.

Each family is one class written over per-axis tuples (`Spatial`); its members `conv1d`,
`conv2d`, `conv3d` state only their rank, and lower to `nn.Conv1d`, `nn.Conv2d`, `nn.Conv3d`.
"""

from __future__ import annotations

from fractions import Fraction
from math import prod
from typing import ClassVar

from archc.ops.base import (
    Example,
    Fields,
    NonNegativeSizes,
    OpError,
    Padding,
    PositiveInt,
    ReceptiveField,
    Shape,
    Sizes,
    Spatial,
    Window,
    check_width,
    numel,
    plus,
    register,
)


def _groups(op, c_in: int) -> None:
    for name, count in (("input channels", c_in), ("out_channels", op.out_channels)):
        if count % op.groups:
            raise OpError(
                "bad-groups",
                f"{name} ({count}) are not divisible by `groups: {op.groups}`",
                "groups",
                hint="choose `groups` dividing both the input and output channels",
            )


class _ConvNd(Spatial):
    """nn.Conv1d/2d/3d: cross-correlation of (N, C, *spatial) with `out_channels` kernels."""

    category: ClassVar[str] = "conv"

    out_channels: PositiveInt
    """number of output channels: kernels, each over all input channels of its group."""
    kernel_size: Sizes
    """the window, `k` or one per axis (`[kh, kw]`, `[kd, kh, kw]`)."""
    stride: Sizes = 1
    """the step between windows, `s` or one per axis."""
    padding: Padding = 0
    """zeros added on each side, `p` or one per axis; `same` keeps the size (stride 1 only),
    `valid` adds none.
    """
    dilation: Sizes = 1
    """spacing between the window's taps: a 3×3 window at dilation 2 spans 5."""
    groups: PositiveInt = 1
    """channel groups convolved separately: `groups: in.channels` makes a depthwise convolution."""
    bias: bool = True
    """add a learnable bias per output channel."""
    in_channels: PositiveInt | None = None
    """the input channels, as a check only: inferred from the incoming shape, an error where they
    differ.
    """

    def pads(self) -> tuple[int, ...]:
        """Symmetric padding per axis (for `same`, the left part; PyTorch adds the rest)."""
        if self.padding == "valid":
            return (0,) * self.spatial
        if self.padding == "same":
            return tuple(d * (k - 1) // 2 for d, k in zip(self.dilation, self.kernel_size))
        return self.padding

    def infer(self, x: Shape) -> Shape:
        check_width(self.in_channels, x, "in_channels")
        _groups(self, x[1])
        if self.padding == "same":
            if any(s != 1 for s in self.stride):
                raise OpError(
                    "bad-padding",
                    "`padding: same` needs `stride: 1` (PyTorch refuses strided same padding)",
                    "padding",
                    hint="give the padding as a number, e.g. `padding: "
                    f"{self.dilation[0] * (self.kernel_size[0] - 1) // 2}`",
                )
            return (x[0], self.out_channels, *x[2:])
        out = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(
                x[2:], self.pads(), self.dilation, self.kernel_size, self.stride
            )
        ]
        return (x[0], self.out_channels, *out)

    def params(self, x: Shape) -> int:
        weights = self.out_channels * (x[1] // self.groups) * prod(self.kernel_size)
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, x: Shape, y: Shape):
        return numel(y) * (x[1] // self.groups) * prod(self.kernel_size)

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return tuple(
            Window(d * (k - 1) + 1, s, p)
            for k, s, p, d in zip(self.kernel_size, self.stride, self.pads(), self.dilation)
        )

    def lower(self, x: Shape):
        import torch.nn as nn

        padding = self.padding
        totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
        if self.padding == "same" and all(t % 2 == 0 for t in totals):
            # Symmetric `same` is plain padding: exported as pads, not as ONNX's auto_pad,
            # which ONNX Runtime refuses with dilation.
            padding = self.pads()
        module = getattr(nn, f"Conv{self.spatial}d")
        return module(
            x[1],
            self.out_channels,
            self.kernel_size,
            self.stride,
            padding,
            self.dilation,
            self.groups,
            self.bias,
        )


@register
class Conv1d(_ConvNd):
    """nn.Conv1d: cross-correlation of (N, C, L) with `out_channels` kernels."""

    name: ClassVar[str] = "conv1d"
    summary: ClassVar[str] = "1-D convolution (nn.Conv1d)"
    spatial: ClassVar[int] = 1
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 20), {"out_channels": 4, "kernel_size": 3}),
        Example(
            (1, 4, 31),
            {"out_channels": 6, "kernel_size": [5], "stride": 3, "padding": 2, "groups": 2},
        ),
        Example(
            (1, 2, 16), {"out_channels": 3, "kernel_size": 3, "padding": "same", "dilation": 2}
        ),
        Example((1, 2, 9), {"out_channels": 2, "kernel_size": 4, "padding": "same", "bias": False}),
        Example((1, 1, 400), {"out_channels": 8, "kernel_size": 80, "stride": 4}),
    )


@register
class Conv2d(_ConvNd):
    """nn.Conv2d: cross-correlation of (N, C, H, W) with `out_channels` kernels."""

    name: ClassVar[str] = "conv2d"
    summary: ClassVar[str] = "2-D convolution (nn.Conv2d)"
    spatial: ClassVar[int] = 2
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 9, 11), {"out_channels": 4, "kernel_size": 3}),
        Example(
            (1, 4, 12, 10),
            {"out_channels": 6, "kernel_size": [3, 5], "stride": 2, "padding": [1, 2], "groups": 2},
        ),
        Example(
            (1, 2, 8, 8), {"out_channels": 3, "kernel_size": 3, "padding": "same", "dilation": 2}
        ),
        Example(
            (1, 2, 7, 7), {"out_channels": 2, "kernel_size": 4, "padding": "same", "bias": False}
        ),
    )


@register
class Conv3d(_ConvNd):
    """nn.Conv3d: cross-correlation of (N, C, D, H, W) with `out_channels` kernels."""

    name: ClassVar[str] = "conv3d"
    summary: ClassVar[str] = "3-D convolution (nn.Conv3d)"
    spatial: ClassVar[int] = 3
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 5, 6, 7), {"out_channels": 4, "kernel_size": 3}),
        Example(
            (1, 4, 6, 9, 8),
            {
                "out_channels": 6,
                "kernel_size": [3, 1, 3],
                "stride": [1, 2, 2],
                "padding": [1, 0, 1],
                "groups": 2,
            },
        ),
        Example(
            (1, 2, 5, 6, 6),
            {"out_channels": 3, "kernel_size": 3, "padding": "same", "dilation": [1, 2, 2]},
        ),
        Example(
            (1, 2, 4, 5, 5), {"out_channels": 2, "kernel_size": 2, "padding": "same", "bias": False}
        ),
    )


class _ConvTransposeNd(Spatial):
    """nn.ConvTranspose1d/2d/3d: the gradient of a convolution, used to upsample in decoders."""

    category: ClassVar[str] = "conv"

    out_channels: PositiveInt
    """number of output channels."""
    kernel_size: Sizes
    """the window, `k` or one per axis (`[kh, kw]`, `[kd, kh, kw]`)."""
    stride: Sizes = 1
    """the upsampling step, `s` or one per axis."""
    padding: NonNegativeSizes = 0
    """`dilation * (kernel_size - 1) - padding` zeros added on each side of the input, as
    nn.ConvTranspose2d.
    """
    output_padding: NonNegativeSizes = 0
    """extra size added on one side of the output, to pick among the sizes a stride allows."""
    dilation: Sizes = 1
    """spacing between the window's taps."""
    groups: PositiveInt = 1
    """channel groups convolved separately."""
    bias: bool = True
    """add a learnable bias per output channel."""
    in_channels: PositiveInt | None = None
    """the input channels, as a check only: inferred from the incoming shape, an error where they
    differ.
    """

    def infer(self, x: Shape) -> Shape:
        check_width(self.in_channels, x, "in_channels")
        _groups(self, x[1])
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise OpError(
                    "out-of-range",
                    f"`output_padding` {op} must be smaller than the stride or the dilation",
                    "output_padding",
                )
        out = [
            (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            for size, s, p, d, k, op in zip(
                x[2:],
                self.stride,
                self.padding,
                self.dilation,
                self.kernel_size,
                self.output_padding,
            )
        ]
        return (x[0], self.out_channels, *out)

    def params(self, x: Shape) -> int:
        weights = x[1] * (self.out_channels // self.groups) * prod(self.kernel_size)
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, x: Shape, y: Shape):
        return numel(x) * (self.out_channels // self.groups) * prod(self.kernel_size)

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        return (None,) * (len(x) - 2)  # an output reads a stride-dependent set, not one window

    def receptive_field(self, fields: list[Fields], x: tuple) -> Fields:
        # Output o reads inputs ceil((o + p - e + 1)/s) .. floor((o + p)/s) for extent e: at
        # most ceil(e/s) of them, the first of output 0 at -floor((e - 1 - p)/s).
        return tuple(
            ReceptiveField(
                plus(f.size, (-(-(d * (k - 1) + 1) // s) - 1) * f.stride),
                f.stride / Fraction(s),
                f.padding + ((d * (k - 1) - p) // s) * f.stride,
            )
            for f, k, s, d, p in zip(
                fields[0], self.kernel_size, self.stride, self.dilation, self.padding
            )
        )

    def lower(self, x: Shape):
        import torch.nn as nn

        module = getattr(nn, f"ConvTranspose{self.spatial}d")
        return module(
            x[1],
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.output_padding,
            self.groups,
            self.bias,
            self.dilation,
        )


@register
class ConvTranspose1d(_ConvTransposeNd):
    """nn.ConvTranspose1d: the gradient of a 1-D convolution, to upsample sequences."""

    name: ClassVar[str] = "convtranspose1d"
    summary: ClassVar[str] = "1-D transposed convolution (nn.ConvTranspose1d)"
    spatial: ClassVar[int] = 1
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 7), {"out_channels": 2, "kernel_size": 4, "stride": 2}),
        Example(
            (1, 4, 6),
            {
                "out_channels": 6,
                "kernel_size": 5,
                "stride": 3,
                "padding": 2,
                "output_padding": 1,
                "groups": 2,
                "dilation": 2,
            },
        ),
    )


@register
class ConvTranspose2d(_ConvTransposeNd):
    """nn.ConvTranspose2d: the gradient of a convolution, used to upsample in decoders."""

    name: ClassVar[str] = "convtranspose2d"
    summary: ClassVar[str] = "2-D transposed convolution (nn.ConvTranspose2d)"
    spatial: ClassVar[int] = 2
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 5, 6), {"out_channels": 2, "kernel_size": 2, "stride": 2}),
        Example(
            (1, 4, 5, 5),
            {
                "out_channels": 6,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
                "groups": 2,
            },
        ),
    )


@register
class ConvTranspose3d(_ConvTransposeNd):
    """nn.ConvTranspose3d: the gradient of a 3-D convolution, to upsample volumes."""

    name: ClassVar[str] = "convtranspose3d"
    summary: ClassVar[str] = "3-D transposed convolution (nn.ConvTranspose3d)"
    spatial: ClassVar[int] = 3
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 3, 4, 5), {"out_channels": 2, "kernel_size": 2, "stride": 2}),
        Example(
            (1, 4, 3, 4, 4),
            {
                "out_channels": 2,
                "kernel_size": [1, 3, 3],
                "stride": [1, 2, 2],
                "padding": [0, 1, 1],
                "output_padding": [0, 1, 1],
                "groups": 2,
            },
        ),
    )
