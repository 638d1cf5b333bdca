"""Op kinds. Importing this package imports every module in it, and so registers every op.

Discovery walks the package rather than a hand-kept list: a new op module is found without
being named anywhere else.
"""

import importlib
import pkgutil

from archc.ops.base import OPS, Example, Op, OpError, Shape, Window
from archc.ops.merge import Merge

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OPS", "Example", "Merge", "Op", "OpError", "Shape", "Window"]
