"""The registry of diagnostic codes: `CODES` maps each name to its `Code`.

A code is defined once, with its explanation beside it, in the module of the pipeline stage
that reports it (reading, spec, shapes, warnings, export). The modules are found by walking
this package, so adding a code is adding one `Code(...)` to a stage's `CODES` list, and a new
stage is a new module with `STAGE` (its place in `archc explain`'s listing) and `CODES`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from types import ModuleType

from archc.codes._code import (
    EXAMPLE_FILE,
    EXIT_CODES,
    Code,
    CommandExample,
    Kind,
    Severity,
    SpecExample,
)

__all__ = [
    "CODES",
    "EXAMPLE_FILE",
    "EXIT_CODES",
    "Code",
    "CommandExample",
    "Kind",
    "Severity",
    "SpecExample",
    "registry",
    "stages",
]


def stages() -> list[ModuleType]:
    """The modules of this package that define codes, in pipeline order."""
    modules = [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(__path__, f"{__name__}.")
        if not info.name.rpartition(".")[2].startswith("_")
    ]
    return sorted(modules, key=lambda module: module.STAGE)


def registry(modules: Iterable[ModuleType]) -> dict[str, Code]:
    """Every code of `modules` by name; a name defined twice is refused, wherever it is."""
    codes: dict[str, Code] = {}
    where: dict[str, str] = {}
    for module in modules:
        for code in module.CODES:
            if code.name in codes:
                raise ValueError(
                    f"diagnostic code `{code.name}` is defined twice: "
                    f"in {where[code.name]} and in {module.__name__}"
                )
            codes[code.name] = code
            where[code.name] = module.__name__
    return codes


CODES: dict[str, Code] = registry(stages())
