"""Multi-head self-attention over tokens: `nn.MultiheadAttention` with query = key = value.

torchvision's ViT calls `self_attention(x, x, x, need_weights=False)` on an
`nn.MultiheadAttention(C, heads, dropout, batch_first=True)`; the lowering is that module, so
its parameters keep PyTorch's names (`in_proj_weight` (3C, C), `in_proj_bias`, `out_proj`)
and torchvision's weights copy by key.

MACs at batch 1 for L tokens of width C: the four projections (q, k, v and out, 4·L·C²) and
the two matmuls of attention, q·kᵀ and attn·v (L·L·C each): 4·L·C² + 2·L²·C. The softmax, the
scaling and the bias additions count 0, as in every other op. While it runs, the layer also
holds its attention map, heads·L·L per sample (`workspace`), which the memory analysis adds to
the activations live at that moment.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, ClassVar

from pydantic import Field

from archc.dims import Dim
from archc.ops.base import (
    Example,
    Op,
    OpError,
    PositiveInt,
    Shape,
    Window,
    check_width,
    register,
)


@register
class MultiheadAttention(Op):
    """nn.MultiheadAttention(C, num_heads, dropout, bias, batch_first=True) applied as
    self-attention to tokens (N, L, C): every token attends to every token."""

    name: ClassVar[str] = "multiheadattention"
    summary: ClassVar[str] = (
        "multi-head self-attention over the tokens of (N, L, C) (nn.MultiheadAttention)"
    )
    category: ClassVar[str] = "attention"
    ranks: ClassVar[tuple[int, ...]] = (3,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 5, 8), {"num_heads": 2}),
        Example((1, 7, 6), {"num_heads": 3, "bias": False, "embed_dim": 6}),
        Example((1, 1, 4), {"num_heads": 1, "dropout": 0.1}),
    )

    num_heads: PositiveInt
    """the heads the width is split into; it must divide the width."""
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """dropout on the attention weights in training."""
    bias: bool = True
    """biases on the input and output projections."""
    embed_dim: PositiveInt | None = None
    """the token width, as a check only: inferred from the incoming shape, an error where it
    differs."""

    def width(self, x: Shape) -> int:
        width = check_width(self.embed_dim, x, "embed_dim", axis=-1)
        if width % self.num_heads:
            raise OpError(
                "bad-heads",
                f"`num_heads: {self.num_heads}` does not divide the token width {width}",
                "num_heads",
                hint="choose a number of heads that divides the width",
            )
        return width

    def infer(self, x: Shape) -> Shape:
        self.width(x)
        return x

    def params(self, x: Shape) -> int:
        width = x[2]
        return 4 * width * width + (4 * width if self.bias else 0)

    def macs(self, x: Shape, y: Shape) -> Dim:
        tokens, width = x[1], x[2]
        return 4 * tokens * width * width + 2 * tokens * tokens * width

    def workspace(self, x: Shape) -> Dim:
        return self.num_heads * x[1] * x[1]  # the attention map (heads, L, L) of one sample

    def detail(self, x: Shape) -> str:
        return f"{self.num_heads} heads × {x[2] // self.num_heads}"

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        return (None,)  # each token's output mixes every feature

    def channel_window(self, x: Shape) -> None:
        return None  # and reads every token: global

    def lower(self, x: Shape):
        return _self_attention()(x[1], x[2], self.num_heads, self.dropout, self.bias)


@cache
def _self_attention():
    """The torch module class, defined on first use so that importing archc never imports torch."""
    import torch.nn as nn
    import torch.nn.functional as F

    class SelfAttention(nn.MultiheadAttention):
        """nn.MultiheadAttention (batch first) called on one tensor as query, key and value.

        Its parameters are nn.MultiheadAttention's; its forward computes what that module's
        forward does, written with the token count and width as constants, so that an
        exported graph keeps them static (nn.MultiheadAttention's own reshapes read them from
        the tensor at run time, and under `no_grad` it takes a fused path that has no ONNX
        export).
        """

        def __init__(self, tokens: int, embed_dim: int, num_heads: int, dropout: float, bias):
            super().__init__(embed_dim, num_heads, dropout, bias, batch_first=True)
            self.tokens = tokens

        def forward(self, x):  # (N, L, C) -> (N, L, C)
            heads, width = self.num_heads, self.embed_dim
            qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (N, L, 3C)
            qkv = qkv.reshape(-1, self.tokens, 3, heads, width // heads)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, heads, L, C / heads)
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)  # (N, heads, L, C / heads)
            y = y.transpose(1, 2).reshape(-1, self.tokens, width)  # (N, L, C)
            return self.out_proj(y)

    return SelfAttention
