"""`netpolc lsp`: the language server on standard input and output."""

from __future__ import annotations


def run() -> int:
    from ..lsp import serve

    return serve()
