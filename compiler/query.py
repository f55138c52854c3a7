"""A flow query from the command line (`app=web -> app=db:5432`) -> an `ir.Expect`, parsed by the language's own grammar.

The query is read as the body of an `expect` statement, so it has exactly the peer and
port syntax of `.netpol` files; diagnostics point into the query as the user typed it.
"""

from __future__ import annotations

import dataclasses

from . import ir
from .diagnostics import Diagnostic
from .source import SourceFile

QUERY_FILE = "<query>"
VERDICTS = ("allowed", "denied")
EXAMPLE = "write the flow as `SOURCE -> DESTINATION:PORT`, e.g. `app=web -> app=db:5432`"


def parse_query(text: str, namespace: str) -> tuple[ir.Expect | None, list[Diagnostic], SourceFile]:
    """The query as an expectation in `namespace`; its verdict is the one written, else `allowed`.

    Returns (expect or None, diagnostics, the query as a source file for rendering carets).
    """
    from .lower import lower
    from .parser import parse
    from .resolve import Placed, Resolved

    shown = SourceFile(QUERY_FILE, text)
    if "\n" in text.strip() or not text.strip():
        from .source import Span

        return None, [Diagnostic("NP100", Span(QUERY_FILE, 1, 1, 1, 2), "a query is one flow on one line", "write it as `SOURCE -> DESTINATION:PORT`, e.g. `app=web -> app=db:5432`")], shown
    body = text.strip()
    written = body.rsplit(None, 1)[-1] if " " in body else ""
    verdict = written if written in VERDICTS else "allowed"
    if written in VERDICTS:
        body = body[: -len(written)].rstrip()
    prefix = "expect "
    offset = len(prefix) - (len(text) - len(text.lstrip()))
    statement = SourceFile(QUERY_FILE, f"{prefix}{body} {verdict}")
    module, found = parse(statement)
    if module is None:
        return None, [_shift(d, offset, len(text)) for d in found], shown
    placed = [Placed(namespace, st, ir.Origin(st.span, f"{prefix}{body} {verdict}")) for st in module.statements]
    resolved = Resolved(placed, (namespace,), {}, {QUERY_FILE: statement})
    program, found = lower(resolved)
    if found or len(program.expects) != 1:
        return None, [_shift(d, offset, len(text)) for d in found], shown
    expect = program.expects[0]
    span = shown.span_of(0, len(text))
    return expect._replace(origin=ir.Origin(span, f"{prefix}{body} {verdict}")), [], shown


def _shift(diagnostic: Diagnostic, offset: int, width: int) -> Diagnostic:
    """Move a position in `expect QUERY allowed` back into the query as typed."""
    span = diagnostic.span
    column = min(max(1, span.column - offset), width + 1)
    end = min(max(column + 1, span.end_column - offset), width + 1)
    hint = diagnostic.hint or EXAMPLE
    message = diagnostic.message.replace("the file", "the query")
    if span.column - offset > width:  # past what the user typed: the part we added cannot be the problem
        hint = EXAMPLE
    return dataclasses.replace(diagnostic, span=span._replace(line=1, column=column, end_line=1, end_column=end), message=message, hint=hint)
