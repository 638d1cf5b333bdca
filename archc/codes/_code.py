"""What a diagnostic code is: its name, summary, severity, kind, and its explanation.

Every fact about a code sits in its one `Code`, so a new code cannot be half-added: it does
not construct without its explanation and example, and its severity and kind (an error in the
spec unless it says otherwise) are checked when it does. The examples are plain data;
`archc.explain` runs them, and tests/test_explain.py proves each still triggers its code and
its fix checks clean.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
# The kind decides the exit status: the spec is wrong (1), the export failed although the spec
# is right (1), or the request is wrong (2), e.g. a bad path or option, or a missing package.
Kind = Literal["spec", "usage", "export"]
EXIT_CODES: dict[str, int] = {"spec": 1, "export": 1, "usage": 2}

# The file name `archc explain` saves a spec example as, and shows in its command lines.
EXAMPLE_FILE = "example.yaml"
# The first lines of a spec, for the examples that are about what follows them.
HEAD = "archc: 1\nname: example\n"


@dataclass(frozen=True)
class SpecExample:
    """A spec with one mistake; replacing `wrong` by `right` (once) fixes it.

    `encoding` is how the spec's bytes are saved (the fix is always saved as UTF-8); `set` and
    `fixed_set` are `--set NAME=VALUE` overrides given with it, before and after the fix.
    """

    spec: str
    wrong: str = ""
    right: str = ""
    encoding: str = "utf-8"
    set: str = ""
    fixed_set: str = ""

    @property
    def fixed(self) -> str:
        return self.spec.replace(self.wrong, self.right, 1) if self.wrong else self.spec

    def command(self, fixed: bool = False) -> str:
        overrides = self.fixed_set if fixed else self.set
        return f"archc check {EXAMPLE_FILE}" + (f" --set {overrides}" if overrides else "")


@dataclass(frozen=True)
class CommandExample:
    """A command line that meets the code, and one that does not: for codes no spec triggers."""

    command: str
    fixed: str


@dataclass(frozen=True)
class Code:
    """One diagnostic code: `summary` is its one line, `explanation` and `example` its long form."""

    name: str
    summary: str
    explanation: str
    example: SpecExample | CommandExample
    severity: Severity = "error"
    kind: Kind = "spec"

    def __post_init__(self) -> None:
        # Checked here, once per code at import, so that a mistyped severity or kind cannot
        # silently become an error or exit 1.
        if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", self.name):
            raise ValueError(f"code name {self.name!r} is not kebab-case")
        if self.severity not in ("error", "warning"):
            raise ValueError(f"{self.name}: severity {self.severity!r}")
        if self.kind not in EXIT_CODES:
            raise ValueError(f"{self.name}: kind {self.kind!r}")

    @property
    def exit_code(self) -> int:
        """The status the command line exits with when this code is an error."""
        return EXIT_CODES[self.kind]


def spec_text(text: str) -> str:
    """An example spec written indented in Python source, as the file holds it."""
    return textwrap.dedent(text).lstrip("\n")
