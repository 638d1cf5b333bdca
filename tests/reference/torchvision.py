"""torchvision's model definitions, for tests that compare archc's zoo with them.

torchvision 0.28.0 matches the pinned torch 2.13.0 (CPU), but its C extension does not load
with that build: `import torchvision` fails with `operator torchvision::nms does not exist`.
The model code does not need the extension, so the two operator schemas torchvision expects
are defined before it is imported (schemas without kernels: no classification model calls
them). Nothing is downloaded: tests build models with random weights.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

import pytest

_SCHEMAS: list[Any] = []  # the library that holds the schemas: they live as long as it


@functools.cache
def torchvision_models() -> Any:
    """The `torchvision.models` module; skips the test where torchvision is not installed."""
    torch = pytest.importorskip("torch")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (pip install torchvision==0.28.0)")
    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SCHEMAS.append(library)
    import torchvision

    return torchvision.models
