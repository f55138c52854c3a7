"""`netpolc fmt`: rewrite .netpol files in the canonical layout, or with --check show the diff of what would change."""

from __future__ import annotations

import sys
from pathlib import Path

from . import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, inputs

STDIN = "-"


def run(paths: list[str], check: bool = False, stdin_filename: str | None = None) -> int:
    from ..render import text as render_text

    if not paths:
        raise UsageError("nothing to format: pass .netpol files or folders, or - for standard input")
    if STDIN in paths:
        if len(paths) > 1:
            raise UsageError("- (standard input) cannot be combined with other paths")
        return _run_stdin(stdin_filename or "<stdin>", check)
    code, changed, unchanged = EXIT_OK, 0, 0
    for item in inputs(paths):
        outcome, diagnostics, source = _format_file(item)
        if diagnostics:
            sys.stderr.write(render_text(diagnostics, {item.name: source} if source else {}))
            sys.stderr.write(f"{item.name}: not formatted: fix the error first\n" if source else "")
            code = max(code, EXIT_USAGE if any(d.code == "NP103" for d in diagnostics) else EXIT_FINDINGS)
            continue
        before, after = outcome
        if before == after:
            unchanged += 1
            continue
        changed += 1
        if check:
            sys.stdout.write(unified_diff(before, after, item.name))
            sys.stderr.write(f"would reformat {item.name}\n")
            code = max(code, EXIT_FINDINGS)
        else:
            try:
                write_atomic(item.path, after)
            except OSError as err:
                sys.stderr.write(f"{item.name}: cannot write: {err.strerror or err}\n")
                code = EXIT_USAGE
    verb = "would be reformatted" if check else "reformatted"
    sys.stderr.write(f"{changed} file{'s' * (changed != 1)} {verb}, {unchanged} left unchanged\n")
    return code


def _format_file(item):
    """((before, after) or None, diagnostics, source or None) for one input.

    The file is read once: when it changes or disappears while the folder is formatted,
    that file is reported (NP103) and the others are still formatted.
    """
    from ..diagnostics import Diagnostic
    from ..fmt import format_source
    from ..source import Span, UnreadableSource, decode_source, read_bounded

    if item.refused:  # e.g. a symlink out of the folder: never rewritten
        code, message, hint = item.refused
        return None, [Diagnostic(code, Span.whole_file(item.name), message, hint)], None
    try:
        data = read_bounded(item.path, item.name)
        source = decode_source(item.name, data, item.path)
    except UnreadableSource as err:
        return None, [Diagnostic("NP103", Span.whole_file(err.name), err.reason, err.hint)], None
    after, diagnostics = format_source(source)
    if after is None:
        return None, diagnostics, source
    # Compared with the file's bytes, not its decoded text: a BOM or CRLF is also a change.
    return (data.decode("utf-8"), after), [], source


def _run_stdin(name: str, check: bool) -> int:
    """Editors: the buffer on standard input, the formatted text on standard output."""
    from ..fmt import format_source
    from ..render import text as render_text
    from ..diagnostics import Diagnostic
    from ..source import Span, UnreadableSource, decode_source, read_stream

    try:
        data = read_stream(sys.stdin.buffer, name)
        source = decode_source(name, data)
    except UnreadableSource as err:
        sys.stderr.write(render_text([Diagnostic("NP103", Span.whole_file(name), f"standard input: {err.reason}", err.hint)], {}))
        return EXIT_USAGE
    after, diagnostics = format_source(source)
    if after is None:
        sys.stderr.write(render_text(diagnostics, {name: source}))
        return EXIT_FINDINGS
    before = data.decode("utf-8")
    if check:
        sys.stdout.write(unified_diff(before, after, name))
        return EXIT_FINDINGS if before != after else EXIT_OK
    sys.stdout.write(after)
    return EXIT_OK


def unified_diff(before: str, after: str, name: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"{name} (original)", f"{name} (formatted)"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def write_atomic(path: Path, text: str) -> None:
    """Replace the file in one step (a reader sees the old or the new text, never half), keeping its mode.

    A .netpol that is a symbolic link stays one: the file it points to is formatted, as it is the
    file the link stands for (every command reads through the link too). Raises OSError.
    """
    import errno

    from ..output import OutputError, write_file

    try:
        write_file(path, text.encode("utf-8"))
    except OutputError as err:
        raise OSError(errno.EIO, err.message) from None
