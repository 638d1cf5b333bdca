"""Learnable tensors declared in the spec: ViT's class token and position embedding.

Each is one parameter with a shape that follows from the incoming tokens and an initialisation
(`zeros`, `normal` or `trunc_normal`, the last two with a `std`). Lowered, the parameter sits at
the layer's own key, as torchvision keeps `class_token` and `encoder.pos_embedding`: a layer
named `class_token` has the state_dict key `class_token`, not `class_token.weight`, so that
torchvision's checkpoints load strictly.
"""

from __future__ import annotations

from functools import cache
from math import prod
from typing import Annotated, ClassVar, Literal

from pydantic import Field, WithJsonSchema

from archc.dims import Sym, format_shape
from archc.ops.base import (
    Example,
    Op,
    OpError,
    PositiveInt,
    Shape,
    Window,
    channels,
    register,
    same_geometry,
)

Init = Literal["zeros", "normal", "trunc_normal"]
INIT = (
    "how the tensor starts: `zeros`, `normal` (mean 0, `std`) or `trunc_normal` (mean 0, "
    "`std`, cut at ±2)."
)
# A size in a list field may be written as an expression (`$seq_length`), evaluated before
# validation; the editor schema says so.
_SIZE_OR_EXPRESSION = {"anyOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "string"}]}


class _Learned(Op):
    """A learnable tensor of shape `tensor_shape(x)`, initialised as `init` (a field of each
    kind, with its own default) says."""

    category: ClassVar[str] = "other"

    std: Annotated[float, Field(gt=0)] = 0.02
    """the standard deviation of `normal` and `trunc_normal`."""

    def tensor_shape(self, x: Shape) -> tuple[int, ...]:
        raise NotImplementedError(self.name)

    def params(self, x: Shape) -> int:
        return prod(self.tensor_shape(x))

    def lower(self, x: Shape):
        return _learned_modules()[self.name](self.tensor_shape(x), self.init, self.std)


@register
class ClassToken(_Learned):
    """A learnable token (1, 1, C) prepended to the tokens of (N, L, C), one copy per sample:
    torchvision ViT's `torch.cat([class_token.expand(n, -1, -1), x], dim=1)`."""

    name: ClassVar[str] = "classtoken"
    summary: ClassVar[str] = "prepend a learnable token to (N, L, C): (N, L + 1, C) (ViT)"
    ranks: ClassVar[tuple[int, ...]] = (3,)
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 4, 6)),
        Example((1, 1, 5), {"init": "normal", "std": 0.5}),
    )

    init: Init = Field("zeros", description=INIT)

    def tensor_shape(self, x: Shape) -> tuple[int, ...]:
        return (1, 1, channels(x, axis=2))  # (1, 1, C)

    def infer(self, x: Shape) -> Shape:
        self.tensor_shape(x)
        return (x[0], x[1] + 1, x[2])

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)  # each token's features alone

    def channel_window(self, x: Shape) -> Window:
        return Window(padding=1)  # token i + 1 is input token i; token 0 reads none

    def axes(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        return ((0,), (1,), (2,))


@register
class PosEmbedding(_Learned):
    """A learnable tensor of one sample's shape added to every sample: ViT's position
    embedding, (1, L, C) added to (N, L, C). Its size is fixed, so the network takes only the
    inputs that give that many tokens."""

    name: ClassVar[str] = "posembedding"
    summary: ClassVar[str] = "add a learnable tensor of one sample's shape (ViT position embedding)"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 5, 6)),
        Example((1, 3, 4), {"init": "zeros", "shape": [3, 4]}),
        Example((1, 2, 3, 3), {"init": "trunc_normal", "std": 1.0}),
    )

    init: Init = Field("normal", description=INIT)
    shape: list[Annotated[PositiveInt, WithJsonSchema(_SIZE_OR_EXPRESSION)]] | None = None
    """one sample's shape, the batch left out (`[197, 768]` for ViT-B/16): inferred from the
    incoming tensor where it is concrete, an error where it differs; needed where the input is
    symbolic, and then the input must give exactly that shape."""

    def tensor_shape(self, x: Shape) -> tuple[int, ...]:
        sample = x[1:]
        if self.shape is not None:
            if len(self.shape) != len(sample) or any(
                isinstance(d, int) and d != s for d, s in zip(sample, self.shape)
            ):
                raise OpError(
                    "embedding-mismatch",
                    f"`shape: {self.shape}` disagrees with the incoming {format_shape(x)}",
                    "shape",
                    hint="write the shape of one sample, the batch left out",
                )
            return (1, *self.shape)
        if any(isinstance(d, Sym) for d in sample):
            raise OpError(
                "symbolic-channels",
                f"the embedding's shape {format_shape(x)} depends on a symbolic input dim",
                "shape",
                hint="state `shape:`, the one sample the embedding was made for",
            )
        return (1, *sample)

    def infer(self, x: Shape) -> Shape:
        self.tensor_shape(x)
        return x

    def conditions(self, x: Shape) -> list[tuple]:
        return [
            (d, s, f"the position embedding's `shape: {self.shape}` fits")
            for d, s in zip(x[1:], self.shape or ())
            if isinstance(d, Sym)
        ]

    def stated(self, x: Shape) -> PosEmbedding:
        if self.shape is not None or any(isinstance(d, Sym) for d in x[1:]):
            return self
        return self.model_copy(update={"shape": list(x[1:])})

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window:
        return Window()


@cache
def _learned_modules() -> dict:
    """The torch module classes, defined on first use so that importing archc never imports
    torch. Each holds its tensor as `weight`; the lowering places that parameter at the layer's
    own key (`parameter_at_key`)."""
    import torch
    import torch.nn as nn

    class Learned(nn.Module):
        parameter_at_key = True

        def __init__(self, shape: tuple[int, ...], init: str, std: float):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(shape))
            if init == "normal":
                nn.init.normal_(self.weight, std=std)
            elif init == "trunc_normal":
                nn.init.trunc_normal_(self.weight, std=std)

    class ClassToken(Learned):
        def forward(self, x):  # (N, L, C) -> (N, L + 1, C)
            # The token once per sample, (N, 1, C), by broadcasting against x's first token
            # (whose values are not read): unlike `expand(x.shape[0], -1, -1)`, this keeps
            # the exported graph's shapes static, as ONNX shape inference does not follow a
            # size through Shape ops.
            first = x[:, :1]
            token = torch.where(torch.ones((), dtype=torch.bool), self.weight, first)
            return torch.cat([token, x], dim=1)

    class PosEmbedding(Learned):
        def forward(self, x):
            return x + self.weight

    return {"classtoken": ClassToken, "posembedding": PosEmbedding}
