"""The hostile-input corpus: every file here, plus the large cases generated below, with what
archc must answer. Any command that reads a spec can run the whole corpus:

    for case in hostile.cases():
        path = case.write(tmp_path)        # the file to feed the command
        ... case.exit, case.code, case.line, case.column

MANIFEST lists the stored files, one a line: name, exit code, diagnostic code and `line:col`
(`-` where the error has no location, and for a case that must pass). Large inputs are
generated into a temporary folder instead of being stored (GENERATED below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Case:
    name: str
    exit: int  # 0 for a spec that must pass, 1 for a bad spec, 2 for a usage error
    code: str | None  # the one diagnostic code expected (None when the spec passes)
    line: int | None  # where it is, when it has a location
    column: int | None  # exact, or the least column when `column_at_least`
    column_at_least: bool
    make: Callable[[], bytes]

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        path.write_bytes(self.make())
        return path


def _prefix(extra: str = "") -> str:
    return "archc: 1\nname: hostile\ninput: [N, 3, 32, 32]\n" + extra


def _chain(blocks: int) -> bytes:
    """A spec whose body calls b0, which calls b1, ..., whose last holds a convolution."""
    lines = [f"  b{i}: {{body: [b{i + 1}]}}\n" for i in range(blocks - 1)]
    last = f"  b{blocks - 1}: {{body: [conv2d: {{out_channels: 4, kernel_size: 1}}]}}\n"
    return (_prefix("blocks:\n") + "".join(lines) + last + "body: [b0]\n").encode()


GENERATED: dict[str, tuple[Callable[[], bytes], int, str | None, str]] = {
    # name: (make, exit, code, "line:col" or "-")
    "nesting_10000_flow.yaml": (
        lambda: (_prefix("body: [relu]\nparams:\n  deep: ") + "[" * 10_000 + "]" * 10_000).encode(),
        1,
        "too-deep",
        # At or past the 65th `[`: libyaml 0.2.5 builds (PyYAML 6.0.4) stop scanning at their
        # own limit of 1,000 levels, before archc's count of events reaches 65.
        "6:71+",
    ),
    "nesting_10000_block.yaml": (
        lambda: (_prefix("body: [relu]\nparams:\n  deep:\n    ") + "- " * 10_000 + "1\n").encode(),
        1,
        "too-deep",
        "7:129",
    ),
    "file_50mb.yaml": (
        lambda: (_prefix("body: [relu]\n") + "# " + "x" * (50 * 1024 * 1024) + "\n").encode(),
        1,
        "file-too-large",
        "-",
    ),
    "key_1mb.yaml": (
        lambda: (_prefix("body: [relu]\n") + "k" * (1 << 20) + ": 1\n").encode(),
        1,
        "file-too-large",
        "-",
    ),
    "value_1mb.yaml": (
        lambda: (
            "archc: 1\nname: " + "v" * (1 << 20) + "\ninput: [N, 3, 8, 8]\nbody: [relu]\n"
        ).encode(),
        1,
        "file-too-large",
        "-",
    ),
    # Under the file limit, a long key and a long value reach the parser and the schema.
    "key_200kb.yaml": (
        lambda: (_prefix("body: [relu]\n") + "k" * 200_000 + ": 1\n").encode(),
        1,
        "yaml-syntax",
        "5:200001",
    ),
    "value_200kb.yaml": (
        lambda: (
            "archc: 1\nname: " + "v" * 200_000 + "\ninput: [N, 3, 8, 8]\nbody: [relu]\n"
        ).encode(),
        1,
        "out-of-range",
        "2:7",
    ),
    "int_5000_digits.yaml": (
        lambda: (
            _prefix("body:\n  - conv2d: {out_channels: ") + "7" * 5000 + ", kernel_size: 3}\n"
        ).encode(),
        1,
        "bad-number",
        "5:28",
    ),
    # Copies of one 40 KB scalar, by alias: 200 MB of text once resolved.
    "alias_copies_field.yaml": (
        lambda: (
            _prefix("params:\n  s: &s " + "x" * 40_000 + "\nbody:\n  - conv2d: {out_channels: [")
            + ", ".join(["*s"] * 5000)
            + "], kernel_size: 3}\n"
        ).encode(),
        1,
        "too-many-nodes",
        "5:6",
    ),
    "alias_copies_version.yaml": (
        lambda: (
            "x: &s " + "x" * 40_000 + "\narchc: [" + ", ".join(["*s"] * 5000) + "]\n"
            "name: hostile\ninput: [N, 3, 8, 8]\nbody: [relu]\n"
        ).encode(),
        1,
        "too-many-nodes",
        "1:4",
    ),
    # 60 KB of digits and underscores: a string (it ends in a letter), and a number YAML
    # versions read differently. Both are answered at once, the latter with a short message.
    "underscores_60kb.yaml": (
        lambda: (_prefix("description: 1" + "_1" * 30_000 + "x\nbody: [relu]\n")).encode(),
        0,
        None,
        "-",
    ),
    "underscores_60kb_number.yaml": (
        lambda: (_prefix("params:\n  n: 1" + "_1" * 30_000 + "\nbody: [relu]\n")).encode(),
        1,
        "ambiguous-scalar",
        "5:6",
    ),
    # Chains of blocks each calling the next: at the nesting limit (built and exported), and
    # far past it.
    "block_chain_64.yaml": (lambda: _chain(64), 0, None, "-"),
    "block_chain_600.yaml": (lambda: _chain(600), 1, "too-deep-expansion", "68:16"),
    # A large, legal file (260 KB, 130,000 scalars): it must pass, and quickly.
    "scalars_130k.yaml": (
        lambda: (_prefix("body: [relu]\nparams:\n  many: [") + "1," * 130_000 + "1]\n").encode(),
        0,
        None,
        "-",
    ),
}


def _location(text: str) -> tuple[int | None, int | None, bool]:
    """`"LINE:COL"`, `"LINE:COL+"` (column COL or later) or `"-"` (no location)."""
    if text == "-":
        return None, None, False
    line, column = text.split(":")
    return int(line), int(column.rstrip("+")), column.endswith("+")


def cases() -> list[Case]:
    """Every hostile case: the stored files of MANIFEST, then the generated ones."""
    found = []
    for row in (HERE / "MANIFEST").read_text("utf-8").splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        name, exit_code, code, where = row.split()[:4]
        path = HERE / name
        found.append(
            Case(
                name,
                int(exit_code),
                None if code == "-" else code,
                *_location(where),
                path.read_bytes,
            )
        )
    for name, (make, exit_code, code, where) in GENERATED.items():
        found.append(Case(name, exit_code, code, *_location(where), make))
    return found
