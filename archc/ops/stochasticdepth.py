"""Stochastic depth (drop path): drops a residual branch at random in training.

As torchvision.ops.StochasticDepth: in training, `mode: row` zeroes each sample's branch with
probability `p` (`batch` zeroes the whole batch's) and scales survivors by 1 / (1 - p); at
inference it is the identity. No parameters, no MACs.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from archc.ops.base import Example, Op, Shape, Window, register, same_geometry


@register
class StochasticDepth(Op):
    """torchvision.ops.StochasticDepth: per-sample (row) or per-batch branch dropping."""

    name: ClassVar[str] = "stochasticdepth"
    category: ClassVar[str] = "other"
    examples: ClassVar[tuple[Example, ...]] = (
        Example((1, 3, 4, 4), {"p": 0.2}),
        Example((1, 6), {"p": 0.5, "mode": "batch"}),
    )
    summary: ClassVar[str] = (
        "drops a residual branch with probability `p` in training, `mode` row or batch; "
        "identity at inference (torchvision StochasticDepth)"
    )

    p: Annotated[float, Field(ge=0, le=1)]
    """the probability of dropping the branch in training."""
    mode: Literal["row", "batch"] = "row"
    """`row` drops per sample, `batch` the whole batch at once."""

    def geometry(self, x: Shape) -> tuple[Window, ...]:
        return same_geometry(x)

    def channel_window(self, x: Shape) -> Window:
        return Window()

    def lower(self, x: Shape):
        return _stochastic_depth()(self.p, self.mode)


@cache
def _stochastic_depth():
    """The torch module class, defined on first use so that importing archc never imports torch."""
    import torch
    import torch.nn as nn

    class StochasticDepth(nn.Module):
        """Identity in eval mode; in training, torchvision's `stochastic_depth`."""

        def __init__(self, p: float, mode: str):
            super().__init__()
            self.p, self.mode = p, mode

        def forward(self, x):
            if not self.training or self.p == 0.0:
                return x
            survival = 1.0 - self.p
            size = [x.shape[0]] + [1] * (x.ndim - 1) if self.mode == "row" else [1] * x.ndim
            noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
            if survival > 0.0:
                noise.div_(survival)
            return x * noise

        def extra_repr(self) -> str:
            return f"p={self.p}, mode={self.mode}"

    return StochasticDepth
