"""Diagnostics: the one error type of archc, its codes, and its rendering.

Every problem archc finds in a spec becomes a `Diagnostic` with a stable kebab-case code, the
file, line and column of the YAML that causes it, and, where a fix can be computed, a `help`
line. `render` prints it the way compilers do:

    error[channel-mismatch]: `conv2d` expects 64 input channels, got 1
      --> specs/vgg.yaml:12:9
       |
    12 |       - conv2d: {in_channels: 64, out_channels: 128, kernel_size: 3}
       |         ^^^^^^
       = help: write `in_channels: 1`, or remove it to infer the width
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

# Every code archc emits, with the description `archc explain` prints.
CODES: dict[str, str] = {
    "file-unreadable": "The spec file cannot be read (missing, a directory, or unreadable).",
    "file-too-large": "The spec file is larger than the size limit.",
    "bad-encoding": "The file is not valid UTF-8 text, or contains NUL bytes.",
    "yaml-syntax": "The file is not well-formed YAML.",
    "yaml-tag": "A YAML tag (`!!python/...`, `!!set`, `!custom`) was used; "
    "archc accepts plain data only.",
    "duplicate-key": "A mapping states the same key twice.",
    "bad-key": "A mapping key is not a plain string.",
    "too-deep": "The YAML nests deeper than the nesting limit.",
    "too-many-nodes": "The YAML, with its aliases expanded, has more nodes than the limit.",
    "recursive-alias": "A YAML alias refers to a node that contains it.",
    "ambiguous-scalar": "A plain scalar whose meaning differs between YAML versions "
    "(`010`, `0x10`).",
    "bad-number": "A number that is not finite or is too large.",
    "empty-spec": "The file holds no document.",
    "not-a-mapping": "A value that must be a mapping is something else.",
    "unknown-field": "A mapping has a key that its object does not know.",
    "missing-field": "A required key is absent.",
    "wrong-type": "A value has the wrong type.",
    "out-of-range": "A value is outside the range its field accepts.",
    "unsupported-version": "The spec's format version is not one this archc reads.",
    "unknown-op": "A layer names an op or block that does not exist.",
    "bad-layer": "A layer item is not of the form `op` or `op: {fields}`.",
    "bad-expression": "An expression in an argument cannot be parsed or evaluated.",
    "undefined-name": "An expression names a parameter or argument that does not exist.",
    "unknown-param": "An override (`--set`, or `overrides` in Python) names no spec parameter.",
    "undefined-ref": "A `ref` names an output that was not defined before it.",
    "duplicate-name": "Two siblings have the same name, so their paths would collide.",
    "reserved-name": "A block argument uses a name reserved for layer items.",
    "recursive-block": "A block includes itself, directly or through other blocks.",
    "too-many-layers": "The network expands to more layers than the limit.",
    "bad-input": "The input shape is malformed.",
    "rank-mismatch": "An op receives a tensor of a rank it does not accept.",
    "channel-mismatch": "A stated input width disagrees with the incoming tensor.",
    "features-mismatch": "A linear layer's stated `in_features` disagrees with the features "
    "flowing in.",
    "spatial-collapse": "A spatial size becomes zero or negative.",
    "bad-groups": "Channels are not divisible by `groups`.",
    "bad-padding": "Padding is too large for the kernel, or `same` padding with a stride.",
    "merge-mismatch": "Branches merged by `add` or `concat` have incompatible shapes.",
    "symbolic-channels": "A channel or feature count depends on a symbolic input dim.",
    "lossy-downsampling": "A pooling or strided convolution drops rows or columns of its input.",
    "over-budget": "Building the network would allocate more parameters than `--max-params`.",
    "missing-dependency": "A package that `build` or `export` needs (torch, onnx, onnxruntime) "
    "is not installed.",
    "lowering-mismatch": "The torch module disagrees with the static answers (a bug in archc).",
    "bad-output": "The export's output path is a directory, a device, the spec itself, or in a "
    "missing or read-only folder.",
    "bad-option": "An export option has a value it does not accept (an opset out of range).",
    "symbolic-input": "An ONNX export needs concrete spatial sizes; the input has symbolic ones.",
    "provider-unavailable": "`--provider cuda` was asked for where ONNX Runtime cannot run CUDA.",
    "export-failed": "torch's ONNX exporter failed on a spec that checks.",
    "verify-failed": "The exported ONNX file disagrees with the static shapes or with PyTorch.",
    "write-failed": "Writing the exported file failed (a full disk, a permission).",
    "onnx-ceil-mode": "A ceil_mode pooling whose last window PyTorch drops and ONNX keeps: an "
    "ONNX export computes another shape.",
    "uneven-adaptive-pool": "An adaptive pool's output size does not divide its input size: its "
    "windows differ in size, and ONNX export of such a pool fails.",
    "size-dependent-merge": "Branches merged by `add` or `concat` agree only for some input sizes.",
}


@dataclass(frozen=True)
class Span:
    """A region of a file, 1-based lines and columns; `end_col` is exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int

    @classmethod
    def point(cls, line: int, col: int) -> Span:
        return cls(line, col, line, col + 1)


@dataclass(frozen=True)
class Diagnostic:
    """One finding in a spec, located at the YAML that causes it."""

    code: str
    message: str
    file: str
    span: Span | None = None
    severity: Severity = "error"
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        assert self.code in CODES, f"unregistered diagnostic code {self.code!r}"

    @property
    def line(self) -> int:
        return self.span.line if self.span else 0

    @property
    def column(self) -> int:
        return self.span.col if self.span else 0

    def to_json(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
        }


class ArchcError(Exception):
    """Base of every error the Python API raises; `diagnostics` says what went wrong and where."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        where = f"{first.file}:{first.line}:{first.column}: " if first and first.span else ""
        super().__init__(f"{where}{first.message}" if first else "archc error")


class SpecError(ArchcError):
    """The spec is invalid: it does not load, or it fails the static check."""


class UsageError(ArchcError):
    """The request is invalid (a bad option or path), not the spec."""


def render(diag: Diagnostic, source: str | None) -> str:
    """Render one diagnostic with its source line and caret, as compilers print them."""
    out = [f"{diag.severity}[{diag.code}]: {diag.message}"]
    if diag.span is None:
        out.append(f"  --> {diag.file}")
    else:
        out.append(f"  --> {diag.file}:{diag.line}:{diag.column}")
        text = _source_line(source, diag.line)
        if text is not None:
            gutter = " " * len(str(diag.line))
            end = diag.span.end_col if diag.span.end_line == diag.line else len(text) + 1
            width = max(1, min(end, len(text) + 1) - diag.column)
            out += [
                f"{gutter} |",
                f"{diag.line} | {text}",
                f"{gutter} | {' ' * (diag.column - 1)}{'^' * width}",
            ]
    pad = " " * (len(str(diag.line)) if diag.span else 1)
    out += [f"{pad} = note: {note}" for note in diag.notes]
    if diag.hint:
        out.append(f"{pad} = help: {diag.hint}")
    return "\n".join(out)


def _source_line(source: str | None, line: int) -> str | None:
    if source is None or line < 1:
        return None
    lines = source.splitlines()
    if line > len(lines):
        return None
    text = lines[line - 1].expandtabs(1)
    if len(text) > 300:
        return None
    # A NUL or escape byte in the snippet would reach the terminal raw; one replacement
    # character per control character keeps the caret aligned.
    return "".join("\ufffd" if ord(c) < 32 or 127 <= ord(c) < 160 else c for c in text)


def nearest(word: str, choices: list[str] | set[str] | dict) -> str | None:
    """The closest of `choices` to a misspelt `word`, or None when nothing is close.

    >>> nearest("kernal_size", ["kernel_size", "stride"])
    'kernel_size'
    """
    import difflib

    found = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return found[0] if found else None
