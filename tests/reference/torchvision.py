"""torchvision's model definitions as a reference, inside the project's own test environment.

torchvision 0.28.0 installs beside the pinned torch 2.13.0 CPU build, but its C extension does
not load there, and `import torchvision` then fails with `operator torchvision::nms does not
exist`. Defining the two operator schemas it registers at import lets the pure-Python model code
import and run; the detection operators themselves are never called.
"""

from __future__ import annotations

import functools
import importlib.util

import pytest


@functools.cache
def torchvision_models():
    """The `torchvision.models` module; the calling test is skipped without torchvision."""
    torch = pytest.importorskip("torch")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("the reference needs torchvision installed")
    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision

    torchvision_models.library = lib  # the schemas live as long as the library object
    return torchvision.models
