"""Diagnostics -> a SARIF 2.1.0 log (GitHub code scanning): one result per diagnostic, one rule per code."""

from __future__ import annotations

import json
from urllib.parse import quote

from . import __version__
from .diagnostics import Diagnostic, registry
from .source import Span

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


def sarif_log(diagnostics: list[Diagnostic]) -> dict:
    """The whole log; rules are the codes that occur, sorted, so equal input gives equal bytes."""
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    driver = {
        "name": "netpolc",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [rule(registry()[code]) for code in codes],
    }
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                # Columns count characters (Python str indices), not UTF-16 code units.
                "columnKind": "unicodeCodePoints",
                "results": [result(d, index[d.code]) for d in diagnostics],
            }
        ],
    }


def failure_log(message: str) -> dict:
    """A log for a run that could not check anything (exit 2): no results, the reason as a
    tool execution notification, so an upload step and the pull request show what went wrong."""
    log = sarif_log([])
    log["runs"][0]["invocations"] = [
        {
            "executionSuccessful": False,
            "exitCode": 2,
            "toolExecutionNotifications": [{"level": "error", "message": {"text": message}}],
        }
    ]
    return log


def render_failure(message: str) -> str:
    return json.dumps(failure_log(message), indent=2, ensure_ascii=False) + "\n"


def render(diagnostics: list[Diagnostic]) -> str:
    return json.dumps(sarif_log(diagnostics), indent=2, ensure_ascii=False) + "\n"


def rule(info) -> dict:
    out = {
        "id": info.code,
        "name": _pascal(info.name),
        "shortDescription": {"text": info.summary},
        "defaultConfiguration": {"level": LEVELS[info.severity]},
        "properties": {"tags": ["netpolc"]},
    }
    if info.explanation:
        out["fullDescription"] = {"text": " ".join(info.explanation.split())}
        out["help"] = {"text": info.explanation}
    return out


def _pascal(name: str) -> str:
    """SARIF recommends rule names in PascalCase (`syntax-error` -> `SyntaxError`)."""
    return "".join(part.capitalize() for part in name.split("-"))


def result(d: Diagnostic, rule_index: int) -> dict:
    text = d.message + (f"\nhelp: {d.hint}" if d.hint else "")
    out = {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": LEVELS.get(d.severity, "note"),
        "message": {"text": text},
        "locations": [location(d.span)],
    }
    if d.related:
        out["relatedLocations"] = [
            {**location(span), "id": i, "message": {"text": note}} for i, (span, note) in enumerate(d.related)
        ]
    return out


def location(span: Span) -> dict:
    region = {"startLine": max(1, span.line), "startColumn": max(1, span.column)}
    # Some spans only know where they start (end 0): leave the end out rather than invent one.
    if span.end_line > span.line or (span.end_line == span.line and span.end_column >= span.column):
        region["endLine"] = span.end_line
        region["endColumn"] = span.end_column
    return {"physicalLocation": {"artifactLocation": {"uri": uri(span.file)}, "region": region}}


def uri(file: str) -> str:
    """A path relative to the working folder stays relative (code scanning resolves it in the repository)."""
    if file.startswith("/"):
        return "file://" + quote(file)
    return quote(file)
