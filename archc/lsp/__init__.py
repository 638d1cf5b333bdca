"""The language server of archc (`archc lsp`): the checker's answers while a spec is typed.

archc.lsp.index checks a document and indexes it by position, archc.lsp.features answers the
editor's questions from that index (hovers, inlay hints, completions, definitions), and
archc.lsp.server speaks the protocol over stdio, on pygls (the `lsp` extra). Nothing else of
archc imports this package, so `archc check` never loads pygls.
"""
