"""The registry of diagnostic codes: discovered from its package, and each name defined once."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

import archc.codes
from archc.codes import CODES, Code, CommandExample, registry, stages
from archc.diagnostics import Diagnostic


def _stage(name: str, *codes: Code) -> types.ModuleType:
    module = types.ModuleType(name)
    module.STAGE, module.CODES = 1, list(codes)
    return module


def _code(name: str) -> Code:
    return Code(name, "A summary.", "An explanation.", CommandExample("archc a", "archc b"))


# The registry --------------------------------------------------------------------------------


def test_registry_refuses_a_name_defined_twice():
    with pytest.raises(ValueError, match="`twice` is defined twice: in a and in b"):
        registry([_stage("a", _code("twice")), _stage("b", _code("other"), _code("twice"))])
    with pytest.raises(ValueError, match="in a and in a"):
        registry([_stage("a", _code("twice"), _code("twice"))])
    assert list(registry([_stage("a", _code("one")), _stage("b", _code("two"))])) == ["one", "two"]


def test_every_module_of_the_package_is_a_stage():
    """Discovery finds each file of archc/codes/, so a new stage needs no import list."""
    folder = Path(archc.codes.__file__).parent
    files = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    found = stages()
    assert {m.__name__.rpartition(".")[2] for m in found} == files
    assert [m.STAGE for m in found] == sorted({m.STAGE for m in found}), "STAGE not unique"
    assert sum(len(m.CODES) for m in found) == len(CODES)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"name": "Channel_Mismatch"}, "kebab-case"),
        ({"severity": "fatal"}, "severity"),
        ({"kind": "bug"}, "kind"),
    ],
)
def test_a_code_refuses_a_bad_name_severity_or_kind(fields, why):
    base = {"name": "x", "summary": "S.", "explanation": "E.", "example": CommandExample("a", "b")}
    with pytest.raises(ValueError, match=why):
        Code(**{**base, **fields})


def test_a_diagnostic_takes_its_severity_from_its_code():
    assert Diagnostic("lossy-downsampling", "m", "f.yaml").severity == "warning"
    assert Diagnostic("channel-mismatch", "m", "f.yaml").severity == "error"
    with pytest.raises(ValueError, match="unregistered diagnostic code 'no-such-code'"):
        Diagnostic("no-such-code", "m", "f.yaml")
