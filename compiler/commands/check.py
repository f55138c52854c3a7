"""`netpolc check`: report diagnostics, write nothing. Also the fast entry point that skips Typer."""

from __future__ import annotations

import sys
from pathlib import Path

from . import UsageError, check_format, exit_code, inputs, project_defaults, targets

VALUE_OPTIONS = ("--format", "--stdin-filename", "--cni", "--expand-port-ranges", "--named-port", "--sarif")
OPTIONS = ("--strict", "--stdin", *VALUE_OPTIONS)


def run(
    paths: list[str], fmt: str = "text", strict: bool = False, stdin: bool = False, stdin_filename: str | None = None,
    cni: list[str] = (), expand_port_ranges: int | str | None = None, named_ports: list[str] = (), sarif: str | None = None,
) -> int:
    """`sarif`: a file to also write the diagnostics to as SARIF, so one run gives annotations and a code-scanning log."""
    from ..render import FORMATS

    check_format(fmt, FORMATS)
    if sarif is not None and (not sarif or sarif == "-"):
        raise UsageError("--sarif names a file to write the SARIF log to (standard output is --format sarif)")
    try:
        found, files = _check(paths, fmt, stdin, stdin_filename, cni, expand_port_ranges, named_ports)
    except UsageError as err:
        # The error goes to stderr (exit 2) as always; a machine format also gets it on stdout,
        # so a SARIF upload or the pull request's annotations show why nothing was checked.
        from ..render import failure

        sys.stdout.write(failure(str(err), fmt))
        if sarif:
            _write_sarif(sarif, failure(str(err), "sarif"))
        raise
    sys.stdout.write(render_as(found, fmt, files))
    if sarif:
        _write_sarif(sarif, render_as(found, "sarif", files))
    return exit_code(found, strict)


def render_as(found, fmt: str, files) -> str:
    from ..render import render

    return render(found, fmt, files)


def _write_sarif(name: str, text: str) -> None:
    from ..output import OutputError, write_file

    try:
        write_file(Path(name), text.encode("utf-8"))
    except OutputError as err:
        raise UsageError(f"--sarif {name}: {err.message}") from None


def _check(paths, fmt, stdin, stdin_filename, cni, expand_port_ranges, named_ports):
    """(diagnostics, files to show them with); a UsageError when nothing can be checked."""
    from ..pipeline import build
    overrides = None
    if stdin:
        from ..diagnostics import Diagnostic
        from ..source import Span, UnreadableSource, decode_source, read_stream

        name = stdin_filename or "<stdin>"
        try:
            overrides = {name: decode_source(name, read_stream(sys.stdin.buffer, name)).text}
        except UnreadableSource as err:
            return [Diagnostic("NP103", Span.whole_file(name), f"standard input: {err.reason}", err.hint)], {}
        items = _stdin_inputs(name, paths)
    else:
        if not paths:
            paths = project_defaults()[0]  # the project's own list (netpolc.toml `paths`)
        if not paths:
            raise UsageError("nothing to check: pass .netpol files or folders (or --stdin), or set `paths` in netpolc.toml")
        items = inputs(paths)
    options, found, config_files = targets(cni, expand_port_ranges, named_ports)
    if found:  # a bad config file: checking without the targets it names would pass too easily
        return found, config_files
    result = build(items, overrides=overrides, prove=False, cni=options, emit=False)
    return result.diagnostics, result.resolved.files if result.resolved else {}


def _stdin_inputs(name: str, paths: list[str]):
    from ..resolve import Input, display_name, project_root

    path = Path(name)
    item = Input(path, display_name(path) if name != "<stdin>" else name, project_root(path.parent))
    others = [i for i in inputs(paths) if i.name != item.name] if paths else []
    return [item] + others


def fast_main(argv: list[str]) -> int | None:
    """`netpolc check ...` without loading Typer (a pre-commit hook pays start-up on every commit).

    Returns None when the arguments need the full command line (help, or anything
    unusual), which then parses them and prints the same errors as every command.
    """
    paths, fmt, strict, stdin, stdin_filename, sarif = [], "text", False, False, None, None
    cni, expand, named = [], None, []
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help") or (arg.startswith("-") and arg.split("=", 1)[0] not in OPTIONS):
            return None
        if arg == "--strict":
            strict = True
        elif arg == "--stdin":
            stdin = True
        elif arg.split("=", 1)[0] in VALUE_OPTIONS:
            name, equals, value = arg.partition("=")
            if not equals:
                value = next(args, None)
                if value is None:
                    return None
            if name == "--format":
                fmt = value
            elif name == "--stdin-filename":
                stdin_filename = value
            elif name == "--cni":
                cni.append(value)
            elif name == "--named-port":
                named.append(value)
            elif name == "--sarif":
                sarif = value
            else:
                expand = value
        else:
            paths.append(arg)
    try:
        return run(paths, fmt, strict, stdin, stdin_filename, cni, expand, named, sarif)
    except UsageError as err:
        sys.stderr.write(f"netpolc: {err}\n")
        return 2
