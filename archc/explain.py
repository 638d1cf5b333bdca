"""`archc explain CODE`: the long form of a diagnostic code, as `rustc --explain` prints it.

Each code's explanation and example live with the code in archc/codes/; this module renders
them. A `SpecExample` is run through archc as it is printed, so the diagnostic shown is the one
`archc check` gives today, and tests/test_explain.py proves every example still triggers its
code and every fix checks clean. A `CommandExample` (a usage error, an export-only failure) is
printed as the command line that meets the code, and one that does not.

This module is imported by the `explain` command only; `import archc` and `archc check` never
load it.
"""

from __future__ import annotations

import textwrap

from archc.codes import CODES, EXAMPLE_FILE, CommandExample, SpecExample
from archc.diagnostics import Diagnostic


def _text(paragraph: str) -> str:
    return textwrap.fill(" ".join(paragraph.split()), width=92)


def diagnose(example: SpecExample, fixed: bool = False) -> tuple[list[Diagnostic], str]:
    """What `archc check` reports for `example` (or its fix), and the source it shows.

    >>> diags, _ = diagnose(CODES["channel-mismatch"].example)
    >>> [d.code for d in diags]
    ['channel-mismatch']
    """
    from archc.api import check, load_text
    from archc.cli_args import parse_set
    from archc.diagnostics import SpecError, UsageError
    from archc.spec.loader import decode

    text = example.fixed if fixed else example.spec
    data = text.encode("utf-8" if fixed else example.encoding)
    source = data.decode("utf-8", errors="replace")
    pair = example.fixed_set if fixed else example.set
    overrides = parse_set([pair]) if pair else None
    try:
        spec = load_text(decode(data, EXAMPLE_FILE), EXAMPLE_FILE, overrides)
    except (SpecError, UsageError) as exc:
        return exc.diagnostics, source
    return check(spec).diagnostics, source


def _indent(text: str) -> str:
    return textwrap.indent(text.rstrip("\n"), "    ", lambda line: True)


def explain(code: str) -> str:
    """The long form of `code`: description, explanation, example, its diagnostic, the fix."""
    from archc.diagnostics import render

    entry = CODES[code]
    out = [f"{code}: {entry.summary}", "", _text(entry.explanation), ""]
    example = entry.example
    if isinstance(example, CommandExample):
        out += ["Example:", "", _indent(f"$ {example.command}"), ""]
        out += ["Fix:", "", _indent(f"$ {example.fixed}")]
        return "\n".join(out)
    saved = f", saved as {example.encoding}" if example.encoding != "utf-8" else ""
    out += [f"Example ({EXAMPLE_FILE}{saved}):", "", _indent(example.spec), ""]
    diagnostics, source = diagnose(example)
    out += [_indent(f"$ {example.command()}")]
    if diagnostics:
        out += [_indent("\n\n".join(render(d, source) for d in diagnostics))]
    else:
        out += [_indent("(no diagnostic: this example is stale; please report it)")]
    resaved = " (the same text, saved as UTF-8)" if saved else ""
    out += ["", f"Fix{resaved}:", ""]
    if example.wrong or saved:
        out += [_indent(example.fixed), ""]
    if example.set != example.fixed_set:
        out += [_indent(f"$ {example.command(fixed=True)}"), ""]
    return "\n".join(out).rstrip("\n")


def listing() -> str:
    """Every code with its one-line description, one a line."""
    width = max(map(len, CODES))
    return "\n".join(f"{name:{width}}  {code.summary}" for name, code in CODES.items())
