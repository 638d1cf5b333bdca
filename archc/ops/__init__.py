"""Op kinds. Importing this package registers every op in `OPS`."""

from archc.ops import conv, elementwise, linear, norm, pool  # noqa: F401  (registration)
from archc.ops.base import OPS, Op, OpError, Shape, Window

__all__ = ["OPS", "Op", "OpError", "Shape", "Window"]
