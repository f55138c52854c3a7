"""Suppressions: `# netpolc: ignore[CODE, ...]` silences warnings on its line, `ignore = [...]` in the config everywhere."""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from .diagnostics import ERROR, Diagnostic, registry
from .source import Span

# Read in the comment of a line (after its first `#` outside a string), as ruff reads `# noqa`.
PATTERN = re.compile(r"netpolc:\s*ignore\[([^\]\n]*)\]")
CODE = re.compile(r"NP\d{3}")


class Suppression(NamedTuple):
    """One code named by one comment: the line it silences, and where the code is written."""

    code: str
    line: int
    span: Span


def comments(name: str, text: str) -> list[Suppression]:
    """The suppressions written in a file's comments, in order."""
    if "netpolc:" not in text:  # almost every file: no scan
        return []
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        start = _comment_start(line)
        if start is None:
            continue
        for match in PATTERN.finditer(line, start):
            offset = match.start(1)
            for part in match.group(1).split(","):
                code = part.strip()
                column = offset + (len(part) - len(part.lstrip())) + 1
                offset += len(part) + 1
                width = max(1, len(code))
                out.append(Suppression(code, number, Span(name, number, column, number, column + width)))
    return out


def _comment_start(line: str) -> int | None:
    """The index of the `#` that starts the line's comment (a `#` in a quoted file name does not)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return index
    return None


def apply(
    diagnostics: list[Diagnostic],
    files: dict,
    project: tuple[str, ...] = (),
    project_spans: dict[str, Span] | None = None,
    judged: Callable[[str], bool] = lambda code: True,
) -> list[Diagnostic]:
    """The diagnostics that remain, plus what the suppressions themselves deserve.

    `files` maps names to SourceFiles (their comments are read); `project` are the config's
    `ignore` codes, `project_spans` where each is written. `judged(code)` says whether this run
    could have reported that code at all: a suppression is called unused (NP431) only then, so
    `check` without `--cni` does not call a suppression of a CNI warning stale.
    """
    found: list[Diagnostic] = []
    silenced_here: dict[tuple[str, int, str], Suppression] = {}
    for name, source in files.items():
        for item in comments(name, source.text):
            problem = _not_allowed(item.code, item.span, "on this line")
            if problem is not None:
                found.append(problem)
            else:
                silenced_here.setdefault((name, item.line, item.code), item)
    everywhere = set()
    for code in project:
        span = (project_spans or {}).get(code)
        problem = _not_allowed(code, span, "in the project") if span is not None else None
        if problem is not None:
            found.append(problem)
        elif code in registry() and registry()[code].severity != ERROR:
            everywhere.add(code)
    used = set()
    kept = []
    for d in diagnostics:
        if d.severity == ERROR:
            kept.append(d)  # errors are never silenced
            continue
        key = (d.span.file, d.span.line, d.code)
        if key in silenced_here:
            used.add(key)
        elif d.code not in everywhere:
            kept.append(d)
    for key, item in silenced_here.items():
        if key not in used and judged(item.code):
            found.append(
                Diagnostic(
                    "NP431",
                    item.span,
                    f"`ignore[{item.code}]` silences nothing: no {item.code} is reported on this line",
                    "remove it (the warning is gone, or it is reported on another line: put the comment there)",
                )
            )
    return kept + found


def _not_allowed(code: str, span: Span | None, where: str) -> Diagnostic | None:
    if span is None:
        return None
    info = registry().get(code) if CODE.fullmatch(code) else None
    if info is None:
        shown = code if code else "an empty code"
        return Diagnostic(
            "NP432",
            span,
            f"`{shown}` is not a diagnostic code, so it silences nothing {where}",
            "name codes as netpolc prints them: " + ('`ignore = ["NP404", "NP403"]`' if where == "in the project" else "`# netpolc: ignore[NP404, NP403]`"),
        )
    if info.severity == ERROR:
        return Diagnostic(
            "NP432",
            span,
            f"{code} is an error, and errors are never silenced: it is still reported {where}",
            "fix what the error says; only warnings and notes can be silenced",
        )
    return None


def silence(diagnostics: list[Diagnostic], files: dict, project: tuple[str, ...] = ()) -> list[Diagnostic]:
    """Only the filtering of `apply`, for warnings a command adds after the build (`test`'s NP707):
    the build has already reported what the suppressions themselves deserve."""
    here = {(name, item.line, item.code) for name, source in files.items() for item in comments(name, source.text)}
    return [
        d for d in diagnostics
        if d.severity == ERROR or not ((d.span.file, d.span.line, d.code) in here or d.code in project)
    ]


def project_ignore() -> tuple[tuple[str, ...], dict[str, Span]]:
    """The config's `ignore` codes and where each is written (the config's own problems are reported by the commands)."""
    from .config import discover

    config, _ = discover()
    if config is None:
        return (), {}
    return config.ignore, config.ignore_spans
