"""A language client for tests and benchmarks: pygls's own client, driving `python -m archc lsp`
over stdio as an editor does, from synchronous code."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent


class Editor:
    """An editor session with one `archc lsp` process: open, change and ask about documents.

    Each call runs the event loop until its answer arrives; `diagnostics(uri)` waits for the
    diagnostics published after the document's latest version.
    """

    def __init__(self, cwd: Path = ROOT):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("archc-tests", "1")
        self.published: dict[str, list[types.PublishDiagnosticsParams]] = {}
        self.arrived = asyncio.Event()
        self.versions: dict[str, int] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def _published(params: types.PublishDiagnosticsParams) -> None:
            self.published.setdefault(params.uri, []).append(params)
            self.arrived.set()

        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.run(self.client.start_io(sys.executable, "-m", "archc", "lsp", cwd=cwd, env=env))
        capabilities = types.ClientCapabilities(
            text_document=types.TextDocumentClientCapabilities(
                hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
                inlay_hint=types.InlayHintClientCapabilities(),
            )
        )
        self.initialize = self.run(
            self.client.initialize_async(
                types.InitializeParams(
                    capabilities=capabilities, root_uri=cwd.as_uri(), process_id=os.getpid()
                )
            )
        )
        self.client.initialized(types.InitializedParams())

    def run(self, awaitable, timeout: float = 30):
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, timeout))

    def open(self, path: Path, text: str | None = None) -> str:
        uri = path.resolve().as_uri()
        self.versions[uri] = 1
        self.published.pop(uri, None)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                types.TextDocumentItem(
                    uri=uri,
                    language_id="yaml",
                    version=1,
                    text=path.read_text() if text is None else text,
                )
            )
        )
        return uri

    def change(self, uri: str, text: str) -> None:
        """Replace the whole text, as an editor sends an edit."""
        self.versions[uri] += 1
        self.published.pop(uri, None)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        """The diagnostics published after the latest open or change of `uri`."""

        async def wait() -> list[types.Diagnostic]:
            while uri not in self.published:
                self.arrived.clear()
                await self.arrived.wait()
            return list(self.published[uri][-1].diagnostics)

        return self.run(wait())

    def hover(self, uri: str, line: int, character: int) -> types.Hover | None:
        return self.run(
            self.client.text_document_hover_async(
                types.HoverParams(
                    types.TextDocumentIdentifier(uri), types.Position(line, character)
                )
            )
        )

    def inlay_hints(self, uri: str, first: int = 0, last: int = 10_000) -> list[types.InlayHint]:
        found = self.run(
            self.client.text_document_inlay_hint_async(
                types.InlayHintParams(
                    types.TextDocumentIdentifier(uri),
                    types.Range(types.Position(first, 0), types.Position(last, 0)),
                )
            )
        )
        return list(found or [])

    def completion(self, uri: str, line: int, character: int) -> list[types.CompletionItem]:
        found = self.run(
            self.client.text_document_completion_async(
                types.CompletionParams(
                    types.TextDocumentIdentifier(uri), types.Position(line, character)
                )
            )
        )
        return found.items if isinstance(found, types.CompletionList) else list(found or [])

    def definition(self, uri: str, line: int, character: int) -> list[types.Location]:
        found = self.run(
            self.client.text_document_definition_async(
                types.DefinitionParams(
                    types.TextDocumentIdentifier(uri), types.Position(line, character)
                )
            )
        )
        return found if isinstance(found, list) else [found] if found else []

    def close(self) -> None:
        self.run(self.client.shutdown_async(None))
        self.client.exit(None)
        self.run(self.client.stop())
        self.loop.close()
