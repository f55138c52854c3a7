"""`netpolc lsp`: the language server on standard input and output."""

from __future__ import annotations

from . import EXIT_OK


def run() -> int:
    from ..lsp import serve

    serve()
    return EXIT_OK
