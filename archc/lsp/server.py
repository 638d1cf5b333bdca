"""The language server: archc's answers over the Language Server Protocol, on pygls.

Each open spec is checked on every change, as `archc check` checks it, and its diagnostics
published with their notes (the call sites of the blocks an error is in) as related
information. Hovers, inlay hints, completions and definitions come from archc.lsp.features.
YAML files that are not specs (no top-level `archc:` key) get nothing.

Positions: the protocol counts UTF-16 code units from 0; archc counts characters from 1.
"""

from __future__ import annotations

import os
import re

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from archc.api import is_spec_text
from archc.diagnostics import Diagnostic, Span
from archc.lsp import features
from archc.lsp.index import Analysis, analyze
from archc.version import __version__

_BREAK = re.compile(r"\r\n|\r|\n")
_KINDS = {
    "op": types.CompletionItemKind.Function,
    "block": types.CompletionItemKind.Module,
    "keyword": types.CompletionItemKind.Keyword,
    "field": types.CompletionItemKind.Field,
    "argument": types.CompletionItemKind.Variable,
    "name": types.CompletionItemKind.Reference,
    "key": types.CompletionItemKind.Property,
}


class ArchcServer(LanguageServer):
    """The server, with the latest analysis of each open spec, and the last one that loaded
    (hovers and completions keep working while the YAML is being typed)."""

    def __init__(self) -> None:
        super().__init__("archc", __version__)
        self.analyses: dict[str, Analysis] = {}
        self.loaded: dict[str, Analysis] = {}

    def refresh(self, uri: str) -> None:
        """Check the document again and publish its diagnostics."""
        text = self.workspace.get_text_document(uri).source
        if not is_spec_text(text):
            self.forget(uri)
            return
        analysis = analyze(text, self.file_name(uri))
        self.analyses[uri] = analysis
        if analysis.spec is not None:
            self.loaded[uri] = analysis
        lines = _BREAK.split(text)
        diagnostics = [_diagnostic(d, lines, uri, analysis.file) for d in analysis.diagnostics]
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
        )

    def forget(self, uri: str) -> None:
        self.analyses.pop(uri, None)
        self.loaded.pop(uri, None)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def file_name(self, uri: str) -> str:
        """The name diagnostics give the document: its path, relative to the workspace."""
        path = to_fs_path(uri) or uri
        root = self.workspace.root_path
        if root and os.path.isabs(path) and path.startswith(os.path.join(root, "")):
            return os.path.relpath(path, root)
        return path

    def position(self, uri: str, position: types.Position) -> tuple[str, int, int]:
        """The document's text, and the position as archc counts it (1-based characters)."""
        text = self.workspace.get_text_document(uri).source
        lines = _BREAK.split(text)
        line = lines[position.line] if position.line < len(lines) else ""
        return text, position.line + 1, _from_utf16(line, position.character) + 1


def _utf16(line: str, col: int) -> int:
    """UTF-16 units before 1-based character column `col` of `line`."""
    head = line[: col - 1]
    return len(head) + sum(1 for c in head if ord(c) > 0xFFFF) + max(0, col - 1 - len(line))


def _from_utf16(line: str, units: int) -> int:
    """Characters before `units` UTF-16 units of `line`."""
    count = 0
    for index, char in enumerate(line):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(line) + max(0, units - count)


def _range(span: Span | None, lines: list[str]) -> types.Range:
    if span is None:
        return types.Range(types.Position(0, 0), types.Position(0, 0))

    def at(line: int, col: int) -> types.Position:
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return types.Position(max(line - 1, 0), _utf16(text, col))

    return types.Range(at(span.line, span.col), at(span.end_line, span.end_col))


def _diagnostic(d: Diagnostic, lines: list[str], uri: str, file: str) -> types.Diagnostic:
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(
                uri=uri if note.file == file else from_fs_path(note.file) or uri,
                range=_range(note.span, lines),
            ),
            message=str(note),
        )
        for note in d.notes
        if note.span is not None
    ]
    unlocated = [f"note: {note}" for note in d.notes if note.span is None]
    message = "\n".join([d.message, *unlocated] + ([f"help: {d.hint}"] if d.hint else []))
    return types.Diagnostic(
        range=_range(d.span, lines),
        message=message,
        severity=types.DiagnosticSeverity.Error
        if d.severity == "error"
        else types.DiagnosticSeverity.Warning,
        code=d.code,
        source="archc",
        related_information=related or None,
    )


server = ArchcServer()


def _changed(ls: ArchcServer, params) -> None:
    ls.refresh(params.text_document.uri)


# Opening, every change and saving check the document again.
for _event in (
    types.TEXT_DOCUMENT_DID_OPEN,
    types.TEXT_DOCUMENT_DID_CHANGE,
    types.TEXT_DOCUMENT_DID_SAVE,
):
    server.feature(_event)(_changed)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: ArchcServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: ArchcServer, params: types.HoverParams) -> types.Hover | None:
    analysis = ls.loaded.get(params.text_document.uri)
    if analysis is None:
        return None
    text, line, col = ls.position(params.text_document.uri, params.position)
    found = features.hover(analysis, line, col)
    if found is None:
        return None
    markdown, span = found
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown),
        range=_range(span, _BREAK.split(text)),
    )


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
def inlay_hint(ls: ArchcServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    analysis = ls.analyses.get(params.text_document.uri)
    if analysis is None or analysis.network is None:
        return []
    lines = _BREAK.split(analysis.text)
    first, last = params.range.start.line + 1, params.range.end.line + 1
    return [
        types.InlayHint(
            position=types.Position(line - 1, _utf16(lines[line - 1], col)),
            label=label,
            padding_left=True,
        )
        for line, col, label in features.inlay_hints(analysis, first, last)
    ]


@server.feature(
    types.TEXT_DOCUMENT_COMPLETION,
    types.CompletionOptions(trigger_characters=["-", " ", "{", ",", "$"]),
)
def completion(ls: ArchcServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    text, line, col = ls.position(uri, params.position)
    found = features.completions(ls.loaded.get(uri), text, line, col)
    items = [
        types.CompletionItem(label=c.label, kind=_KINDS[c.kind], detail=c.detail) for c in found
    ]
    return types.CompletionList(is_incomplete=False, items=items)


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: ArchcServer, params: types.DefinitionParams) -> list[types.Location]:
    uri = params.text_document.uri
    analysis = ls.loaded.get(uri)
    if analysis is None:
        return []
    text, line, col = ls.position(uri, params.position)
    lines = _BREAK.split(text)
    return [
        types.Location(uri=uri, range=_range(span, lines))
        for span in features.definition(analysis, line, col)
    ]


def serve() -> None:
    """Serve over stdin and stdout until the client says exit. A first check of a small spec
    is run before, so that the first edit is answered as fast as the next."""
    analyze(
        "archc: 1\nname: warm\ninput: [N, 3, 8, 8]\nbody:\n  - conv2d: {out_channels: 4, "
        "kernel_size: 3}\n  - relu\n",
        "warm.yaml",
    )
    server.start_io()
