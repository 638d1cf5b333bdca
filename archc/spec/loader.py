"""YAML loading with positions, and nothing but plain data.

`load_yaml` turns the text of a spec into plain Python values (dict, list, str, int, float,
bool, None) in which every mapping and sequence remembers the span of each of its items, so that
every later error can point at the YAML that causes it.

The scalars follow YAML 1.2's core schema, not PyYAML's YAML 1.1: `no`, `on` and `1:30` are
strings, and ambiguous forms (`010`, `0x1f`) are refused rather than guessed. Tags are refused,
never constructed; duplicate keys are errors; aliases are expanded under a node budget, so an
alias bomb fails fast instead of exhausting memory.
"""

from __future__ import annotations

import contextlib
import gc
import math
import re
from typing import NoReturn

import yaml

from archc.diagnostics import Diagnostic, Span, SpecError

try:  # libyaml's parser: 8-13x faster than the pure-Python one, and a proper depth limit.
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser, Composer):  # type: ignore[no-redef]
        def __init__(self, stream):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)


# Limits that keep every check of a hostile file within about 2 s and 300 MB (docs/limits.md).
MAX_FILE_BYTES = 512 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_INT_DIGITS = 18
# Characters of scalars and keys, aliases expanded: a file without aliases holds at most
# MAX_FILE_BYTES, so only aliases of long scalars (5,000 copies of 40 KB) reach it.
MAX_CHARS = 1_000_000

_PLAIN, _QUOTED, _COLLECTION = "!plain", "!quoted", "!collection"


class _Loader(_Parser, yaml.resolver.BaseResolver):
    """Composes nodes, marking implicitly typed ones so that any explicit tag stands out."""

    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        yaml.resolver.BaseResolver.__init__(self)

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _QUOTED
        return _COLLECTION


class YMap(dict):
    """A mapping that knows where it, each key and each value stand in the file."""

    __slots__ = ("key_spans", "span", "value_spans")

    def __init__(self, span: Span):
        super().__init__()
        self.span = span
        self.key_spans: dict[str, Span] = {}
        self.value_spans: dict[str, Span] = {}

    def at(self, key: str) -> Span:
        """The span of the value of `key`, or of the whole mapping when the key is absent."""
        return self.value_spans.get(key, self.span)


class YSeq(list):
    """A sequence that knows where it and each item stand in the file."""

    __slots__ = ("item_spans", "span")

    def __init__(self, span: Span):
        super().__init__()
        self.span = span
        self.item_spans: list[Span] = []

    def at(self, index: int) -> Span:
        return self.item_spans[index] if index < len(self.item_spans) else self.span


def span_of(node: yaml.Node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(start.line + 1, start.column + 1, end.line + 1, end.column + 1)


_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_AMBIGUOUS = re.compile(r"[-+]?(0[0-9]+|0[xXoObB][0-9a-fA-F_]+)")
# Digits with underscores (`1_000`) are tested with `_` in the text: as one pattern,
# `[0-9][0-9_]*_[0-9_]*` backtracks quadratically, 10 s on a 60 KB scalar that is not one.
_UNDERSCORED = re.compile(r"[-+]?[0-9][0-9_]*")
_SPECIAL = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def decode(data: bytes, file: str) -> str:
    """Strict UTF-8 decoding; the error says where the first bad byte is."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode("utf-8")
        line, col = line_column(before, len(before))
        hint = "save the file as UTF-8" + (
            " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        )
        raise SpecError(
            [
                Diagnostic(
                    "bad-encoding",
                    f"the file is not UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded",
                    file,
                    Span.point(line, col),
                    hint=hint,
                )
            ]
        ) from None
    if "\x00" in text:
        offset = text.index("\x00")
        line, col = line_column(text, offset)
        raise SpecError(
            [
                Diagnostic(
                    "bad-encoding", "the file contains a NUL byte", file, Span.point(line, col)
                )
            ]
        )
    return text


# YAML 1.2 breaks lines at \n, \r\n and \r only. libyaml, as YAML 1.1 did, also breaks them at
# NEL, U+2028 and U+2029: a comment holding one ended there (its rest read as YAML), and every
# line after it was counted one further than an editor or a CI annotation counts it. They are
# parsed as private-use stand-ins absent from the text, which libyaml takes as plain
# characters, and put back in every scalar.
_OLD_BREAKS = "\x85\u2028\u2029"
_STAND_INS = (range(0xE000, 0xF900), range(0xF0000, 0xFFFFE), range(0x100000, 0x10FFFE))


def _stand_ins(text: str) -> dict[str, str]:
    """A stand-in for each YAML 1.1 line break in `text`, none of them found in `text`."""
    found = [c for c in _OLD_BREAKS if c in text]
    if not found:
        return {}
    used = set(text)
    free = (chr(c) for block in _STAND_INS for c in block if chr(c) not in used)
    return dict(zip(found, free, strict=False))


def line_column(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of character `offset`, lines counted as YAML 1.2 counts them."""
    line = text.count("\n", 0, offset) + 1 + len(re.findall(r"\r(?!\n)", text[:offset]))
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    return line, offset - start + 1


def load_yaml(text: str, file: str):
    """Parse one YAML document into located plain data.

    >>> load_yaml("a: [1, two]", "x.yaml")
    {'a': [1, 'two']}
    """
    stand_ins = _stand_ins(text)
    for old, new in stand_ins.items():
        text = text.replace(old, new)
    _check_depth(text, file)
    loader = _Loader(text)
    try:
        with _no_gc():
            node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        hint = None
        if "expected a single document" in str(exc):
            hint = "put one network in each file"
        elif "\\t" in problem or "tab" in problem or text[mark.index : mark.index + 1] == "\t":
            hint = "indent with spaces, not tabs"
        elif mark is exc.problem_mark and mark.index >= len(text) and exc.context_mark:
            # The file ends inside a bracket or a quote: point at where it opens, which is in
            # the file, rather than past its last line.
            mark = exc.context_mark
            opened = exc.context.removeprefix("while parsing ").removeprefix("while scanning ")
            problem = f"the file ends inside {opened} that starts here ({exc.problem})"
            hint = "close it" + {
                "[": " with `]`",
                "{": " with `}`",
                '"': ' with `"`',
                "'": " with `'`",
            }.get(text[mark.index : mark.index + 1], "")
        span = Span.point(mark.line + 1, mark.column + 1) if mark else None
        raise SpecError([Diagnostic("yaml-syntax", problem, file, span, hint=hint)]) from None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, only an offset
        raise SpecError([_reader_error(exc, text, file)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic("yaml-syntax", str(exc), file)]) from None
    finally:
        loader.dispose()
    if node is None:
        raise SpecError(
            [Diagnostic("empty-spec", "the file holds no YAML document", file, Span.point(1, 1))]
        )
    with _no_gc():
        return _Builder(file, {new: old for old, new in stand_ins.items()}).build(node)


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> Diagnostic:
    """Locate a character YAML refuses (`\\x07`), given as an offset in characters or bytes."""
    offset = exc.position
    if not (0 <= offset < len(text) and ord(text[offset]) == exc.character):
        offset = len(text.encode("utf-8")[:offset].decode("utf-8", "ignore"))
    line, column = line_column(text, offset)
    return Diagnostic(
        "yaml-syntax",
        f"character U+{exc.character:04X} is not allowed in YAML ({exc.reason})",
        file,
        Span.point(line, column),
        hint="remove it, or write it as an escape (`\\x07`) in a double-quoted string",
    )


@contextlib.contextmanager
def _no_gc():
    """Pause the cyclic garbage collector while building many objects that form no cycles.

    Its passes over a growing heap made loading a 1 MB spec take 3.4 s instead of 1.8 s.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_TOO_DEEP = f"the YAML nests deeper than {MAX_DEPTH} levels"


def _refuse(code: str, message: str, file: str, mark, hint: str | None = None) -> NoReturn:
    """Raise the one error of a file refused while reading, at a libyaml mark."""
    span = Span.point(mark.line + 1, mark.column + 1)
    raise SpecError([Diagnostic(code, message, file, span, hint=hint)]) from None


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting past MAX_DEPTH, and more than MAX_NODES nodes, from the event stream,
    before any node is composed.

    libyaml's composer recurses in C: about 40,000 nested brackets crash the process with a
    segmentation fault, and its scanner is quadratic in flow depth (1 MB of `[` takes hours).
    Reading events stops at the first level too deep, so both are refused in microseconds.
    Syntax errors are left to the real parse, which reports them.
    """
    parser = _Parser(text)
    depth = nodes = 0
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    _refuse(
                        "too-many-nodes",
                        f"the document has more than {MAX_NODES:,} YAML nodes",
                        file,
                        event.start_mark,
                        hint="write blocks and `repeat` instead of copying YAML",
                    )
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    _refuse("too-deep", _TOO_DEEP, file, event.start_mark)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.MarkedYAMLError as exc:
        # Newer libyaml builds (PyYAML 6.0.4) stop at their own nesting limit while scanning
        # ahead, before any event reaches the count above: that is the same refusal.
        if "nesting" in str(exc.problem) and exc.problem_mark is not None:
            _refuse("too-deep", _TOO_DEEP, file, exc.problem_mark)
        # Other syntax errors are left to the real parse, which reports them.
    except yaml.YAMLError:
        pass
    finally:
        if hasattr(parser, "dispose"):
            parser.dispose()


def top_level_keys_include(text: str, key: str) -> bool | None:
    """Whether the first YAML document of `text` is a mapping with the top-level `key`, read
    from libyaml's events up to that key; None when the text is not YAML.

    >>> top_level_keys_include("name: x\\narchc: 1\\n", "archc")
    True
    """
    parser = _Parser(text)
    # Per open collection: for a mapping, whether its next node is a key; None for a sequence.
    open_: list[bool | None] = []
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, yaml.NodeEvent):
                if not open_ and not isinstance(event, yaml.MappingStartEvent):
                    return False  # the document is not a mapping
                if open_ and open_[-1] is not None:
                    if open_[-1] and len(open_) == 1 and getattr(event, "value", None) == key:
                        return True
                    open_[-1] = not open_[-1]
                if isinstance(event, yaml.MappingStartEvent):
                    open_.append(True)
                elif isinstance(event, yaml.SequenceStartEvent):
                    open_.append(None)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                open_.pop()
                if not open_:
                    return False  # the end of the first document's top level
    except yaml.YAMLError:
        return None
    finally:
        if hasattr(parser, "dispose"):
            parser.dispose()
    return False


class _Builder:
    """Turns composed nodes into located plain data, enforcing archc's rules as it goes."""

    def __init__(self, file: str, restore: dict[str, str] | None = None):
        self.file = file
        self.restore = restore or {}
        self.nodes = 0
        self.chars = 0
        self.active: set[int] = set()

    def fail(self, code: str, message: str, node: yaml.Node, hint: str | None = None):
        raise SpecError([Diagnostic(code, message, self.file, span_of(node), hint=hint)])

    def build(self, node: yaml.Node, depth: int = 0):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(
                "too-many-nodes",
                f"the document expands to more than {MAX_NODES:,} YAML nodes (aliases included)",
                node,
                hint="write blocks and `repeat` instead of copying YAML with aliases",
            )
        # `depth` counts the collections around `node`: at most MAX_DEPTH nested collections,
        # as _check_depth counts them (aliases can nest deeper than the text does).
        if depth >= MAX_DEPTH and not isinstance(node, yaml.ScalarNode):
            self.fail("too-deep", _TOO_DEEP, node)
        if node.tag not in (_PLAIN, _QUOTED, _COLLECTION):
            self.fail(
                "yaml-tag",
                f"YAML tags are not accepted: `{_short_tag(node.tag)}`",
                node,
                hint="remove the tag; archc specs are plain data",
            )
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.active:
            self.fail("recursive-alias", "this alias refers to a node that contains it", node)
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                seq = YSeq(span_of(node))
                for item in node.value:
                    seq.append(self.build(item, depth + 1))
                    seq.item_spans.append(span_of(item))
                return seq
            return self.mapping(node, depth)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: yaml.MappingNode, depth: int) -> YMap:
        result = YMap(span_of(node))
        for key_node, value_node in node.value:
            if key_node.tag == _PLAIN and key_node.value == "<<":  # resolved as plain, not merge
                self.fail("yaml-tag", "YAML merge keys (`<<`) are not accepted", key_node)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in (_PLAIN, _QUOTED):
                self.fail("bad-key", "mapping keys must be plain strings", key_node)
            key = self.text(key_node)
            self.count_chars(key, key_node)
            if key in result:
                first = result.key_spans[key]
                self.fail(
                    "duplicate-key",
                    f"duplicate key `{_clip(key)}` (first stated at line {first.line})",
                    key_node,
                    hint="state each key once",
                )
            result[key] = self.build(value_node, depth + 1)
            result.key_spans[key] = span_of(key_node)
            result.value_spans[key] = span_of(value_node)
        return result

    def count_chars(self, text: str, node: yaml.Node) -> None:
        self.chars += len(text)
        if self.chars > MAX_CHARS:
            self.fail(
                "too-many-nodes",
                f"the document expands to more than {MAX_CHARS:,} characters (aliases included)",
                node,
                hint="write the value out instead of copying it with aliases",
            )

    def text(self, node: yaml.ScalarNode) -> str:
        """The scalar's text, with the line breaks YAML 1.1 would have broken at put back."""
        value = node.value
        for stand_in, old in self.restore.items():
            value = value.replace(stand_in, old)
        return value

    def scalar(self, node: yaml.ScalarNode):
        value = self.text(node)
        self.count_chars(value, node)
        if node.tag == _QUOTED:
            return value
        if value in ("", "~", "null", "Null", "NULL"):
            return None
        if value in ("true", "True", "TRUE"):
            return True
        if value in ("false", "False", "FALSE"):
            return False
        if _INT.fullmatch(value):
            if len(value.lstrip("+-")) > MAX_INT_DIGITS:
                self.fail("bad-number", f"integer `{_clip(value)}` is too large", node)
            return int(value)
        # Before floats: `010` also matches the float pattern, and was read as 10.0.
        if _AMBIGUOUS.fullmatch(value) or ("_" in value and _UNDERSCORED.fullmatch(value)):
            self.fail(
                "ambiguous-scalar",
                f"`{_clip(value)}` means different numbers in different YAML versions",
                node,
                hint="write it in plain decimal, or quote it"
                + (f" (`'{value}'`)" if len(value) <= 40 else "")
                + " if it is a string",
            )
        if _FLOAT.fullmatch(value):
            number = float(value)
            if not math.isfinite(number):
                self.fail("bad-number", f"number `{_clip(value)}` is not finite", node)
            return number
        if _SPECIAL.fullmatch(value):
            self.fail("bad-number", f"`{_clip(value)}` is not a finite number", node)
        return value


def _short_tag(tag: str) -> str:
    return "!!" + tag[len("tag:yaml.org,2002:") :] if tag.startswith("tag:yaml.org,2002:") else tag


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
