"""2-D convolution and transposed convolution."""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

from archc.ops.base import (
    Example,
    Fields,
    NonNegativePair,
    Op,
    OpError,
    Padding,
    Pair,
    PositiveInt,
    ReceptiveField,
    Shape,
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


@register
class Conv2d(Op):
    """nn.Conv2d: cross-correlation of (N, C, H, W) with `out_channels` kernels."""

    name: ClassVar[str] = "conv2d"
    summary: ClassVar[str] = "2-D convolution (nn.Conv2d)"
    category: ClassVar[str] = "conv"
    ranks: ClassVar[tuple[int, ...]] = (4,)
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

    out_channels: PositiveInt
    """number of output channels: kernels, each over all input channels of its group."""
    kernel_size: Pair
    """the window, `k` or `[kh, kw]`."""
    stride: Pair = (1, 1)
    """the step between windows, `s` or `[sh, sw]`."""
    padding: Padding = (0, 0)
    """zeros added on each side, `p` or `[ph, pw]`; `same` keeps the size (stride 1 only), `valid`
    adds none.
    """
    dilation: Pair = (1, 1)
    """spacing between the window's taps: a 3×3 window at dilation 2 spans 5."""
    groups: PositiveInt = 1
    """channel groups convolved separately: `groups: in.channels` makes a depthwise convolution."""
    bias: bool = True
    """add a learnable bias per output channel."""
    in_channels: PositiveInt | None = None
    """the input channels, as a check only: inferred from the incoming shape, an error where they
    differ.
    """

    def pads(self) -> tuple[int, int]:
        """Symmetric padding per axis (for `same`, the left/top part; PyTorch adds the rest)."""
        if self.padding == "valid":
            return (0, 0)
        if self.padding == "same":
            return tuple(d * (k - 1) // 2 for d, k in zip(self.dilation, self.kernel_size))
        return self.padding

    def infer(self, x: Shape) -> Shape:
        check_width(self.in_channels, x, "in_channels")
        c_in = x[1]
        _groups(self, c_in)
        if self.padding == "same":
            if self.stride != (1, 1):
                raise OpError(
                    "bad-padding",
                    "`padding: same` needs `stride: 1` (PyTorch refuses strided same padding)",
                    "padding",
                    hint="give the padding as a number, e.g. `padding: "
                    f"{self.dilation[0] * (self.kernel_size[0] - 1) // 2}`",
                )
            return (x[0], self.out_channels, x[2], x[3])
        out = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(
                x[2:], self.pads(), self.dilation, self.kernel_size, self.stride
            )
        ]
        return (x[0], self.out_channels, *out)

    def params(self, x: Shape) -> int:
        kh, kw = self.kernel_size
        weights = self.out_channels * (x[1] // self.groups) * kh * kw
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, x: Shape, y: Shape):
        kh, kw = self.kernel_size
        return numel(y) * (x[1] // self.groups) * kh * kw

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return tuple(
            Window(d * (k - 1) + 1, s, p)
            for k, s, p, d in zip(self.kernel_size, self.stride, self.pads(), self.dilation)
        )

    def lower(self, x: Shape):
        import torch.nn as nn

        padding = self.padding if isinstance(self.padding, str) else tuple(self.padding)
        totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
        if self.padding == "same" and all(t % 2 == 0 for t in totals):
            # Symmetric `same` is plain padding: exported as pads, not as ONNX's auto_pad,
            # which ONNX Runtime refuses with dilation.
            padding = self.pads()
        return nn.Conv2d(
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
class ConvTranspose2d(Op):
    """nn.ConvTranspose2d: the gradient of a convolution, used to upsample in decoders."""

    name: ClassVar[str] = "convtranspose2d"
    summary: ClassVar[str] = "2-D transposed convolution (nn.ConvTranspose2d)"
    category: ClassVar[str] = "conv"
    ranks: ClassVar[tuple[int, ...]] = (4,)
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

    out_channels: PositiveInt
    """number of output channels."""
    kernel_size: Pair
    """the window, `k` or `[kh, kw]`."""
    stride: Pair = (1, 1)
    """the upsampling step, `s` or `[sh, sw]`."""
    padding: NonNegativePair = (0, 0)
    """`dilation * (kernel_size - 1) - padding` zeros added on each side of the input, as
    nn.ConvTranspose2d.
    """
    output_padding: NonNegativePair = (0, 0)
    """extra size added on one side of the output, to pick among the sizes a stride allows."""
    dilation: Pair = (1, 1)
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
        c_in = x[1]
        _groups(self, c_in)
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
        kh, kw = self.kernel_size
        weights = x[1] * (self.out_channels // self.groups) * kh * kw
        return weights + (self.out_channels if self.bias else 0)

    def macs(self, x: Shape, y: Shape):
        kh, kw = self.kernel_size
        return numel(x) * (self.out_channels // self.groups) * kh * kw

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

        return nn.ConvTranspose2d(
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
