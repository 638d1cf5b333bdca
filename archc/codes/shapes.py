"""Codes of the static shape check: a tensor that an op cannot take.

These are found by walking the expanded network with symbolic shapes (archc/ops/): each
marks the first layer where PyTorch would raise at run time, with the shape that reaches it.
"""

from __future__ import annotations

from archc.codes._code import Code, SpecExample, spec_text

STAGE = 3

CODES: list[Code] = [
    Code(
        "bad-input",
        "The input shape is malformed.",
        explanation="""The input shape is malformed. It lists the dims batch first, `[N, C, H,
        W]` for images; the batch and spatial dims may be names (symbolic), but the channel dim
        must be a number, since every layer's weights depend on it. To check a range of sizes,
        name the spatial dims (`[N, 3, H, W]`); to check a number of channels, use `--input`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, C, 28, 28]
                body: [relu]
                """
            ),
            "[N, C, 28, 28]",
            "[N, 3, 28, 28]",
        ),
    ),
    Code(
        "rank-mismatch",
        "An op receives a tensor of a rank it does not accept.",
        explanation="""An op receives a tensor of a rank (number of dims) that it does not
        accept: a `conv2d` or a pooling after `flatten` gets (N, features), not (N, C, H, W); a
        `batchnorm1d` gets an image. The message gives the shape it received. Move the `flatten`
        after the last spatial layer, or use the op for that rank (`batchnorm2d` for images).""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - flatten
                  - conv2d: {out_channels: 6, kernel_size: 5}
                """
            ),
            "  - flatten\n  - conv2d: {out_channels: 6, kernel_size: 5}\n",
            "  - conv2d: {out_channels: 6, kernel_size: 5}\n  - flatten\n",
        ),
    ),
    Code(
        "channel-mismatch",
        "A stated input width disagrees with the incoming tensor.",
        explanation="""A layer states the width it expects (`in_channels`, or batch norm's
        `num_features`), and the incoming tensor has another. Widths are inferred from the
        incoming tensor, so the stated one is a check, and it failed: a layer before it has
        another `out_channels` than you thought. Checking continues with the real width, so
        later mistakes are found too. Correct the stated width, or remove it and let archc infer
        it.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 28, 28]
                body:
                  - conv2d: {in_channels: 3, out_channels: 6, kernel_size: 5}
                """
            ),
            "in_channels: 3",
            "in_channels: 1",
        ),
    ),
    Code(
        "features-mismatch",
        "A linear layer's stated `in_features` disagrees with the features flowing in.",
        explanation="""A linear layer states `in_features`, and the features flowing in are
        another number. After `flatten` that number is channels × height × width, so it changes
        with the input size and with every convolution and pooling before it; a count copied
        from a paper for another input size is the usual cause. The message gives the real
        count. Write it, or remove `in_features` and let archc infer it.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 4, 5, 5]
                body:
                  - flatten
                  - linear: {in_features: 64, out_features: 10}
                """
            ),
            "in_features: 64",
            "in_features: 100",
        ),
    ),
    Code(
        "spatial-collapse",
        "A spatial size becomes zero or negative.",
        explanation="""A spatial size (height or width) becomes zero or negative: a kernel
        larger than its padded input, or too many downsampling stages for the input size.
        PyTorch raises at run time, deep in the forward pass; archc reports the layer, the size
        it receives, and the sizes at which the network works. Pad, use a smaller kernel or
        stride, drop a stage, or give a larger input. Layers after it are not reported again.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, 4, 4]
                body:
                  - conv2d: {out_channels: 6, kernel_size: 5}
                """
            ),
            "kernel_size: 5",
            "kernel_size: 3",
        ),
    ),
    Code(
        "bad-groups",
        "Channels are not divisible by `groups`.",
        explanation="""A grouped convolution splits its input and output channels into `groups`
        equal parts, so both channel counts must be divisible by `groups`; PyTorch refuses the
        layer otherwise. Choose `groups` dividing both counts (for a depthwise convolution,
        `groups` equal to the input channels), or change `out_channels`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 6, 28, 28]
                body:
                  - conv2d: {out_channels: 8, kernel_size: 3, groups: 4}
                """
            ),
            "groups: 4",
            "groups: 2",
        ),
    ),
    Code(
        "bad-heads",
        "The token width is not divisible by the attention heads.",
        explanation="""Multi-head attention splits each token's width C into `num_heads`
        heads of C / num_heads features each, so `num_heads` must divide the width;
        `nn.MultiheadAttention` refuses the layer otherwise. Choose a number of heads that
        divides the width (ViT-B: 768 wide, 12 heads of 64), or change the width.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 10, 64]
                body:
                  - multiheadattention: {num_heads: 5}
                """
            ),
            "num_heads: 5",
            "num_heads: 4",
        ),
    ),
    Code(
        "embedding-mismatch",
        "A learnable tensor's stated shape does not fit the tensor it is added to.",
        explanation="""A position embedding is one learnable tensor of one sample's shape,
        added to every sample, so its `shape` (the batch left out) must equal the incoming
        tensor's: a ViT made for 197 tokens of 768 features takes no other number of tokens.
        At symbolic input sizes the stated shape becomes a condition, and the valid input sizes
        are those that give exactly that many tokens. Give the network an input of the size
        it was made for, or state the shape that reaches the layer.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 50, 64]
                body:
                  - posembedding: {shape: [49, 64]}
                """
            ),
            "shape: [49, 64]",
            "shape: [50, 64]",
        ),
    ),
    Code(
        "bad-padding",
        "Padding is too large for the kernel, or `same` padding with a stride.",
        explanation="""The padding is one PyTorch refuses: `padding: same` with a stride other
        than 1 (the output cannot be the same size), or a pooling padding larger than half its
        window. Give the padding as a number: for a convolution of kernel k and stride s,
        `padding: (k - 1) // 2` gives a size of ceil(size / s). The help gives the value.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 6, 28, 28]
                body:
                  - conv2d: {out_channels: 8, kernel_size: 3, stride: 2, padding: same}
                """
            ),
            "padding: same",
            "padding: 1",
        ),
    ),
    Code(
        "merge-mismatch",
        "Branches merged by `add` or `concat` have incompatible shapes.",
        explanation="""Branches merged by `add` must agree in every dim; by `concat`, in every
        dim but the channels (`mul` broadcasts size-1 dims). The usual cause is a residual block
        whose main branch changes the width or stride and whose shortcut does not. The message
        gives each branch's shape. Make them agree: give the shortcut a 1×1 convolution with the
        main branch's `out_channels` and `stride`, or pad the smaller branch.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 64, 24, 24]
                body:
                  - add:
                      branches:
                        main: [conv2d: {out_channels: 128, kernel_size: 3, padding: 1}]
                        shortcut: []
                """
            ),
            "shortcut: []",
            "shortcut: [conv2d: {out_channels: 128, kernel_size: 1}]",
        ),
    ),
    Code(
        "batch-dim",
        "A layout op would move, merge or split the batch dim.",
        explanation="""A layout op names the batch dim (dim 0) where it would move it
        (`permute`, `transpose`), merge it with others (`flatten` from dim 0, a `reshape` whose
        first entry is not the batch) or split or slice it. archc keeps the batch first and
        symbolic, so that every layer's shape holds at any batch size and the exported graph
        takes any batch. Dims are numbered as in PyTorch, batch first: name dims from 1 on,
        write a `reshape`'s batch as `N` (kept) or `-1`.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 3, 8, 8]
                body:
                  - permute: {dims: [2, 3, 1, 0]}
                """
            ),
            "dims: [2, 3, 1, 0]",
            "dims: [0, 2, 3, 1]",
        ),
    ),
    Code(
        "bad-layout",
        "A layout op cannot arrange the elements it receives as asked.",
        explanation="""A layout op cannot arrange the elements it receives as asked: a
        `reshape` or `unflatten` whose sizes do not multiply to the elements it receives (or
        do not divide them, with a -1), more than one -1, a `permute` whose `dims` are not an
        order of the input's dims, a `pixelshuffle` whose channels are not a multiple of the
        factor squared, a `pixelunshuffle` whose height or width is not a multiple of the
        factor. PyTorch raises at run time; archc gives the counts at the line. With symbolic
        sizes a divisibility that holds for some sizes only is no error: it narrows the valid
        input sizes.""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 8, 7, 7]
                body:
                  - reshape: {shape: [N, 8, 50]}
                """
            ),
            "shape: [N, 8, 50]",
            "shape: [N, 8, 49]",
        ),
    ),
    Code(
        "symbolic-channels",
        "A channel or feature count depends on a symbolic input dim.",
        explanation="""A channel or feature count depends on a symbolic input dim: with `input:
        [N, 1, H, W]`, `flatten` gives C·H·W features, so the linear layer after it would have a
        different number of weights for every input size; no single set of weights exists. Pool
        to a fixed size first (`globalavgpool2d`, or `adaptiveavgpool2d`), or check a concrete
        input (`--input 1,1,28,28`).""",
        example=SpecExample(
            spec_text(
                """
                archc: 1
                name: example
                input: [N, 1, H, W]
                body:
                  - conv2d: {out_channels: 6, kernel_size: 5}
                  - flatten
                  - linear: {out_features: 10}
                """
            ),
            "  - flatten\n",
            "  - globalavgpool2d\n  - flatten\n",
        ),
    ),
]
