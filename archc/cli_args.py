"""Command-line text to the typed values the Python API takes: `--set NAME=VALUE`, `--input DIMS`.

Only the command line has text to read. A `--set` value is read with YAML's scalar rules, as
in a spec (`3` is an integer, `[3,4]` a list, `true` a boolean), and one that does not parse
stays a string; messages about it name `--set`, where the user wrote it.
"""

from __future__ import annotations

import re

from archc.diagnostics import SpecError
from archc.spec.document import Override
from archc.spec.loader import load_yaml


def parse_set(pairs: list[str]) -> dict[str, Override]:
    """Parse `--set NAME=VALUE` options; raise ValueError with a reason."""
    overrides = {}
    for pair in pairs:
        # Command-line bytes that are not UTF-8 arrive as lone surrogates, which YAML and
        # every later message would choke on.
        if not pair.isascii():
            try:
                pair.encode("utf-8")
            except UnicodeEncodeError as exc:
                shown = pair[: exc.start].encode("utf-8", "replace").decode("utf-8")
                raise ValueError(
                    f"--set `{shown}…`: the option is not UTF-8 text (at character {exc.start + 1})"
                ) from None
        name, sep, text = pair.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name:
            raise ValueError(f"--set takes NAME=VALUE, got `{pair}`")
        try:
            value = load_yaml(text, f"--set {name}")
        except SpecError:
            value = text
        overrides[name] = Override(value, f"--set {name}", text)
    return overrides


def parse_dims(text: str) -> list[int | str]:
    """Parse `--input 1,3,224,224` or `N,3,H,W`; raise ValueError with a reason."""
    dims: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"[0-9]+", part) and int(part) > 0 and len(part) < 10:
            dims.append(int(part))
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            dims.append(part)
        else:
            raise ValueError(f"`{part}` is neither a positive integer nor a name")
    if not 2 <= len(dims) <= 5:
        raise ValueError("an input shape has 2 to 5 dims, batch first")
    return dims
