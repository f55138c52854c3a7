"""The one model for every problem: `Diagnostic`, its severity, and the registry of stable codes."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import NamedTuple

from .source import Span

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)


class CodeInfo(NamedTuple):
    """One row of the registry in `compiler/data/codes.toml`."""

    code: str
    name: str
    severity: str
    summary: str
    explanation: str


@functools.cache
def registry() -> dict[str, CodeInfo]:
    """All diagnostic codes, read once from the package data file (only when a diagnostic exists)."""
    import tomllib
    from pathlib import Path

    raw = tomllib.loads((Path(__file__).parent / "data" / "codes.toml").read_text("utf-8"))
    return {
        code: CodeInfo(code, row["name"], row["severity"], row["summary"], row.get("explanation", "").strip())
        for code, row in raw.items()
    }


@dataclass(frozen=True)
class Diagnostic:
    """A problem at a position: code (stable), severity, message and a hint that says what to do."""

    code: str
    span: Span
    message: str
    hint: str = ""
    severity: str = ""
    related: tuple[tuple[Span, str], ...] = field(default=())

    def __post_init__(self) -> None:
        info = registry().get(self.code)
        if info is None:
            raise KeyError(f"unregistered diagnostic code {self.code}")
        if not self.severity:
            object.__setattr__(self, "severity", info.severity)

    @property
    def name(self) -> str:
        return registry()[self.code].name

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def sort_key(self) -> tuple:
        return (self.span.file, self.span.line, self.span.column, self.code, self.message)


def has_errors(diagnostics) -> bool:
    return any(d.is_error for d in diagnostics)


def sorted_unique(diagnostics) -> list[Diagnostic]:
    """Diagnostics in reading order, each reported once."""
    return sorted(set(diagnostics), key=Diagnostic.sort_key)
