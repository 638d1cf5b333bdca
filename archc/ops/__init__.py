"""Op kinds. Importing this package registers every op in `OPS`."""

from archc.ops import (  # noqa: F401  (registration)
    conv,
    elementwise,
    layernorm,
    layerscale,
    linear,
    norm,
    pool,
    stochasticdepth,
)
from archc.ops.base import OPS, Op, OpError, Shape, Window

__all__ = ["OPS", "Op", "OpError", "Shape", "Window"]
