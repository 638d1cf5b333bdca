"""Codes that warn: the network runs, but probably not as intended.

A warning never changes the exit status; archc/analysis/warnings.py finds them after a
clean check.
"""

from __future__ import annotations

from archc.codes._code import Code, SpecExample, spec_text

STAGE = 4

CODES: list[Code] = [
    Code(
        "in-not-block-input",
        "An `if:` inside a block reads `in.`, which is not the block's input here.",
        severity="warning",
        explanation="""A warning: inside a block, `in` is the tensor entering the current item,
        which after the block's first layers is no longer the tensor entering the block. This
        `if:` reads `in.` and would decide otherwise had it read the block's input (`input.`),
        so the block's input was probably meant — as in a residual that should exist when the
        block keeps its width: `if: $out == in.channels` written after the expanding
        convolution is always true. Write `input.channels` for the block's input, or move the
        condition where `in` is what you mean.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 16, 16]
                blocks:
                  expand:
                    args: {out: int}
                    body:
                      - conv2d: {out_channels: $out, kernel_size: 1}
                      - relu: {if: "$out == in.channels"}
                body:
                  - expand: {out: 16}
                """
            ),
            "$out == in.channels",
            "$out == input.channels",
        ),
    ),
    Code(
        "unused-layer",
        "A layer's result reaches no output of the network.",
        severity="warning",
        explanation="""A warning: no output of the network depends on this layer, nor on the
        layers after it up to the next one in use. They are still built (their parameters are in
        the model's `state_dict` and in every count), but the exported graph drops their
        computation. Usually a head was meant to be an output: name it under `outputs:`, or
        remove the layers.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 3, 8, 8]
                outputs: [features]
                body:
                  - conv2d: {name: features, out_channels: 4, kernel_size: 3}
                  - conv2d: {name: head, out_channels: 2, kernel_size: 1}
                """
            ),
            "outputs: [features]",
            "outputs: [features, head]",
        ),
    ),
    Code(
        "lossy-downsampling",
        "A pooling or strided convolution drops rows or columns of its input.",
        severity="warning",
        explanation="""A warning: a pooling or strided convolution's windows end before the last
        rows or columns of its input, which are never read (a 2×2 pool with stride 2 on a 7×7
        input ignores the 7th row and column). The network runs, but discards input silently,
        which is rarely meant. The help names the nearest input size that loses nothing. Use
        that size, pad, or round up with `ceil_mode: true`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 7, 7]
                body:
                  - maxpool2d: {kernel_size: 2}
                """
            ),
            "[N, 1, 7, 7]",
            "[N, 1, 8, 8]",
        ),
    ),
    Code(
        "onnx-ceil-mode",
        "A ceil_mode pooling whose last window PyTorch drops and ONNX keeps: an "
        "ONNX export computes another shape.",
        severity="warning",
        explanation="""A warning: a pooling with `ceil_mode: true` whose last window would start
        past its input (a 1×1 window with stride 2 over 6 rows: windows at 0, 2, 4 and, rounded
        up, 6). PyTorch drops such a window and gives 3; ONNX's pooling keeps it and gives 4, so
        the exported graph computes another shape and `archc export` fails its verification. Use
        `ceil_mode: false` (with enough `padding` to keep the last rows), or an input size whose
        last window starts inside it.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 6, 6]
                body:
                  - maxpool2d: {kernel_size: 1, stride: 2, ceil_mode: true}
                """
            ),
            "maxpool2d: {kernel_size: 1, stride: 2, ceil_mode: true}",
            "maxpool2d: {kernel_size: 1, stride: 2}",
        ),
    ),
    Code(
        "uneven-adaptive-pool",
        "An adaptive pool's output size does not divide its input size: its "
        "windows overlap and differ in size.",
        severity="warning",
        explanation="""A warning: an adaptive pool's output size does not divide its input size,
        so its windows overlap and differ in size (a 7×7 input pooled to 2×2 uses windows of 4,
        rows 0-3 and 3-6), and the positions they share count in both. PyTorch computes it, but
        the result differs from a fixed pooling, and torch's TorchScript exporter refuses the
        op (archc exports such a pool as slices and reductions, one axis at a time). Make the
        input a multiple of the output size, or pool to `output_size: 1`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 7, 7]
                body:
                  - adaptiveavgpool2d: {output_size: 2}
                """
            ),
            "adaptiveavgpool2d: {output_size: 2}",
            "globalavgpool2d",
        ),
    ),
    Code(
        "size-dependent-merge",
        "Branches merged by `add` or `concat` agree only for some input sizes.",
        severity="warning",
        explanation="""A warning, for symbolic inputs (`[N, C, H, W]`): the branches of an `add`
        or `concat` agree only for some input sizes, typically because they downsample with
        different rounding (U-Net's skips agree only when every pooling divides evenly). The
        message gives the sizes that remain valid. Make the branches round alike, pad or crop
        one, or use input sizes from that set.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 4, H, W]
                body:
                  - add:
                      branches:
                        - [maxpool2d: {kernel_size: 2, stride: 2, ceil_mode: true}]
                        - [maxpool2d: {kernel_size: 2, stride: 2}]
                """
            ),
            ", ceil_mode: true}",
            "}",
        ),
    ),
]
