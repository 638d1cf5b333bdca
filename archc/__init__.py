"""archc: an architecture spec compiler and static shape checker for convolutional networks.

    >>> import archc
    >>> spec = archc.load("specs/lenet.yaml")
    >>> archc.check(spec).output_shape
    (N, 10)

Importing archc never imports torch; only `build` and `export` do.
"""

from archc.api import build, check, export, load, load_text
from archc.diagnostics import ArchcError, Diagnostic, SpecError, UsageError
from archc.version import __version__

__all__ = [
    "ArchcError",
    "Diagnostic",
    "SpecError",
    "UsageError",
    "__version__",
    "build",
    "check",
    "export",
    "load",
    "load_text",
]
