"""Diagnostics -> text, JSON, GitHub workflow commands or SARIF: one function per output format."""

from __future__ import annotations

import json

from .diagnostics import ERROR, WARNING, Diagnostic

FORMATS = ("text", "json", "github", "sarif")


def render(diagnostics: list[Diagnostic], fmt: str, files: dict | None = None) -> str:
    return {"text": text, "json": as_json, "github": github, "sarif": sarif}[fmt](diagnostics, files or {})


def text(diagnostics: list[Diagnostic], files: dict) -> str:
    """`file:line:col: severity[CODE]: message`, the line with a caret, then `help: hint`."""
    lines = []
    for d in diagnostics:
        span = d.span
        lines.append(f"{span.file}:{span.line}:{span.column}: {d.severity}[{d.code}]: {d.message}")
        source = files.get(span.file)
        if source is not None and span.line >= 1:
            code_line = source.line_text(span.line)
            if code_line.strip():
                width = (span.end_column - span.column) if span.end_line == span.line and span.end_column > span.column else 1
                shown, column, width = _window(code_line, span.column, width)
                gutter = str(span.line)
                lines.append(f" {gutter} | {shown}")
                lines.append(f" {' ' * len(gutter)} | {' ' * (column - 1)}{'^' * max(1, width)}")
        for related_span, note in d.related:
            lines.append(f"  note: {note} at {related_span}")
        if d.hint:
            lines.append(f"  help: {d.hint}")
    if diagnostics:
        lines.append(summary(diagnostics))
    return "\n".join(lines) + ("\n" if lines else "")


SHOWN_COLUMNS = 100  # a longer source line is cut around the caret (a 4,300-digit port is not echoed whole)


def _window(line: str, column: int, width: int) -> tuple[str, int, int]:
    """(the part of the line to show, the caret's column in it, the caret's width)."""
    if len(line) <= SHOWN_COLUMNS:
        return line, column, width
    start = max(0, min(column - 1 - 20, len(line) - SHOWN_COLUMNS))
    end = start + SHOWN_COLUMNS
    shown = ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")
    column = column - start + (1 if start else 0)
    return shown, column, max(1, min(width, SHOWN_COLUMNS - (column - 1) + (1 if start else 0)))


def summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.severity == ERROR for d in diagnostics)
    warnings = sum(d.severity == WARNING for d in diagnostics)
    parts = [f"{errors} error{'s' * (errors != 1)}", f"{warnings} warning{'s' * (warnings != 1)}"]
    return "found " + ", ".join(parts)


def as_dict(d: Diagnostic) -> dict:
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity,
        "message": d.message,
        "hint": d.hint,
        "filename": d.span.file,
        "location": {"row": d.span.line, "column": d.span.column},
        "end_location": {"row": d.span.end_line, "column": d.span.end_column},
        "related": [{"filename": s.file, "location": {"row": s.line, "column": s.column}, "message": m} for s, m in d.related],
    }


def as_json(diagnostics: list[Diagnostic], files: dict) -> str:
    return json.dumps([as_dict(d) for d in diagnostics], indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(diagnostics: list[Diagnostic], files: dict) -> str:
    """GitHub Actions workflow commands: annotations on the pull request."""
    lines = []
    for d in diagnostics:
        command = {"error": "error", "warning": "warning"}.get(d.severity, "notice")
        span = d.span
        props = f"file={_escape_property(span.file)},line={span.line},col={span.column}"
        if span.end_line >= span.line:
            props += f",endLine={span.end_line},endColumn={span.end_column}"
        props += f",title={_escape_property(f'{d.code} {d.name}')}"
        message = d.message + (f"\n{d.hint}" if d.hint else "")
        lines.append(f"::{command} {props}::{_escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def failure(message: str, fmt: str) -> str:
    """What a machine format says when nothing could be checked (exit 2); text and JSON say it on stderr only."""
    if fmt == "github":
        return f"::error title=netpolc::{_escape_data('netpolc: ' + message)}\n"
    if fmt == "sarif":
        from . import sarif as sarif_log

        return sarif_log.render_failure(message)
    return ""


def sarif(diagnostics: list[Diagnostic], files: dict) -> str:
    """SARIF 2.1.0 for GitHub code scanning (built in its own module: only this format needs it)."""
    from . import sarif as sarif_log

    return sarif_log.render(diagnostics)
