"""Diagnostics: the one error type of archc, its codes, and its rendering.

Every problem archc finds in a spec becomes a `Diagnostic` with a stable kebab-case code, the
file, line and column of the YAML that causes it, and, where a fix can be computed, a `help`
line. The code (archc/codes/) decides the diagnostic's severity and the exit status of an
error that carries it, so a raising site names the code and nothing else about it. `render`
prints it the way compilers do:

    error[channel-mismatch]: `conv2d` expects 64 input channels, got 1
      --> specs/vgg.yaml:12:9
       |
    12 |       - conv2d: {in_channels: 64, out_channels: 128, kernel_size: 3}
       |         ^^^^^^
       = help: write `in_channels: 1`, or remove it to infer the width
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from archc.codes import CODES, Severity

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


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


MAX_MESSAGE = 500  # characters of a message, a hint or a note


def clip(text: str, limit: int = 40) -> str:
    """`text`, cut to `limit` characters and an ellipsis when longer."""
    return text if len(text) <= limit else text[:limit] + "…"


class Note(str):
    """A note's text and, where it names a place of its own, that place: the call site of the
    block an error is in, the `repeat` iteration, another layer with the same fault.

    It is the text the compiler-style rendering prints, so code that reads notes as strings
    keeps working; the CI formats and the language server also give its location.
    """

    file: str | None
    span: Span | None

    def __new__(cls, text: str, file: str | None = None, span: Span | None = None) -> Note:
        note = super().__new__(cls, text)
        note.file, note.span = file, span
        return note

    @classmethod
    def clipped(cls, note: str, limit: int) -> Note:
        """`note` as a Note, its text cut to `limit` characters; a plain string is unlocated."""
        if isinstance(note, Note) and len(note) <= limit:
            return note
        return cls(clip(note, limit), getattr(note, "file", None), getattr(note, "span", None))

    def to_json(self, default_file: str) -> dict:
        """`{"message", "file", "line", "column", "end_line", "end_column"}`; an unlocated
        note names `default_file` (its diagnostic's) at line and column 0."""
        return {
            "message": str(self),
            "file": self.file or default_file,
            **_position(self.span),
        }


def _position(span: Span | None) -> dict:
    """The JSON position of a span: 1-based, the end exclusive; zeros where there is none."""
    if span is None:
        return {"line": 0, "column": 0, "end_line": 0, "end_column": 0}
    return {
        "line": span.line,
        "column": span.col,
        "end_line": span.end_line,
        "end_column": span.end_col,
    }


@dataclass(frozen=True)
class Diagnostic:
    """One finding in a spec, located at the YAML that causes it."""

    code: str
    message: str
    file: str
    span: Span | None = None
    hint: str | None = None
    notes: tuple[Note, ...] = field(default=())  # plain strings become unlocated notes

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code!r}")
        # Messages quote names and values from the spec; however long those are, a message
        # stays a line or two (a 200 MB message was once built from aliases of one value).
        object.__setattr__(self, "message", clip(self.message, MAX_MESSAGE))
        if self.hint is not None:
            object.__setattr__(self, "hint", clip(self.hint, MAX_MESSAGE))
        object.__setattr__(self, "notes", tuple(Note.clipped(n, MAX_MESSAGE) for n in self.notes))

    @property
    def severity(self) -> Severity:
        return CODES[self.code].severity

    @property
    def line(self) -> int:
        return self.span.line if self.span else 0

    @property
    def column(self) -> int:
        return self.span.col if self.span else 0

    def to_json(self) -> dict:
        position = _position(self.span)
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.file,
            "line": position["line"],
            "column": position["column"],
            "hint": self.hint,
            "end_line": position["end_line"],
            "end_column": position["end_column"],
            "notes": [note.to_json(self.file) for note in self.notes],
        }


class ArchcError(Exception):
    """Base of every error the Python API raises; `diagnostics` says what went wrong and where.

    The subclass says where the error came from; the codes of its diagnostics say how the
    command line exits (`exit_code`), so an error raised as any class exits as documented.
    """

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        first = diagnostics[0] if diagnostics else None
        where = f"{first.file}:{first.line}:{first.column}: " if first and first.span else ""
        super().__init__(f"{where}{first.message}" if first else "archc error")

    @property
    def exit_code(self) -> int:
        """2 when any diagnostic is a usage error, else 1."""
        return max((CODES[d.code].exit_code for d in self.diagnostics), default=1)


class SpecError(ArchcError):
    """The spec is invalid: it does not load, or it fails the static check."""


class UsageError(ArchcError):
    """The request is invalid (a bad option or path), not the spec."""


# What a spec or a file name could use to write to a CI log or a terminal beyond its own text:
# line breaks (a new line can be a workflow command such as `::add-mask::`), ESC, BEL and the
# other C0/C1 controls (colours, OSC 8 links, cursor moves), and bidirectional overrides that
# make text read differently from what it says.
_UNPRINTABLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str, line_start: bool = False) -> str:
    """`text`, from a spec or a path, made safe to print: every control character written as a
    visible escape (`\\n`, `\\x1b`, `\\u2028`).

    `line_start` is for text printed at the start of a line, where a leading `::` would make
    the line a GitHub workflow command: its first `:` is written as `\\x3a`.
    """
    text = _UNPRINTABLE.sub(lambda m: _NAMED.get(m[0]) or _escape_char(m[0]), text)
    if line_start and text.lstrip().startswith("::"):
        text = text.replace(":", "\\x3a", 1)
    return text


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def render(diag: Diagnostic, source: str | None) -> str:
    """Render one diagnostic with its source line and caret, as compilers print them.

    The message, file, notes and help quote the spec and its path: each is made printable.
    """
    out = [f"{diag.severity}[{diag.code}]: {printable(diag.message)}"]
    file = printable(diag.file)
    if diag.span is None:
        out.append(f"  --> {file}")
    else:
        out.append(f"  --> {file}:{diag.line}:{diag.column}")
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
    out += [f"{pad} = note: {printable(note)}" for note in diag.notes]
    if diag.hint:
        out.append(f"{pad} = help: {printable(diag.hint)}")
    return "\n".join(out)


def _source_line(source: str | None, line: int) -> str | None:
    if source is None or line < 1:
        return None
    # Lines as YAML 1.2 and the spans count them: str.splitlines also breaks at NEL, U+2028,
    # U+2029, \v, \f and \x1c-\x1e, which would show a line above the one a span names.
    lines = _LINE_BREAK.split(source)
    if line > len(lines):
        return None
    text = lines[line - 1].expandtabs(1)
    if len(text) > 300:
        return None
    # A NUL or escape byte in the snippet would reach the terminal raw; one replacement
    # character per control character keeps the caret aligned.
    return _UNPRINTABLE.sub("\ufffd", text)


NEAREST_MAX_LENGTH = 64  # longer names are not searched for
NEAREST_MAX_CHOICES = 1_000  # candidates compared, at most


def nearest(word: str, choices: list[str] | set[str] | dict) -> str | None:
    """The closest of `choices` to a misspelt `word`, or None when nothing is close.

    >>> nearest("kernal_size", ["kernel_size", "stride"])
    'kernel_size'
    """
    import difflib

    # difflib is quadratic in the lengths compared: a name that long is no misspelling of a
    # real one, and only names of about its length can be close (ratio >= 0.6).
    if len(word) > NEAREST_MAX_LENGTH:
        return None
    near = [c for c in choices if len(word) * 0.4 <= len(c) <= len(word) * 2.5 + 1]
    found = difflib.get_close_matches(word, sorted(near)[:NEAREST_MAX_CHOICES], n=1, cutoff=0.6)
    return found[0] if found else None
