"""`netpolc check`: report diagnostics, write nothing. Also the fast entry point that skips Typer."""

from __future__ import annotations

import sys
from pathlib import Path

from . import UsageError, check_format, exit_code, inputs, targets

VALUE_OPTIONS = ("--format", "--stdin-filename", "--cni", "--expand-port-ranges", "--named-port")
OPTIONS = ("--strict", "--stdin", *VALUE_OPTIONS)


def run(
    paths: list[str], fmt: str = "text", strict: bool = False, stdin: bool = False, stdin_filename: str | None = None,
    cni: list[str] = (), expand_port_ranges: int | str | None = None, named_ports: list[str] = (),
) -> int:
    from ..pipeline import build
    from ..render import FORMATS, render

    check_format(fmt, FORMATS)
    overrides = None
    if stdin:
        from ..diagnostics import Diagnostic
        from ..source import Span, UnreadableSource, decode_source, read_stream

        name = stdin_filename or "<stdin>"
        try:
            overrides = {name: decode_source(name, read_stream(sys.stdin.buffer, name)).text}
        except UnreadableSource as err:
            found = [Diagnostic("NP103", Span.whole_file(name), f"standard input: {err.reason}", err.hint)]
            sys.stdout.write(render(found, fmt))
            return exit_code(found, strict)
        items = _stdin_inputs(name, paths)
    else:
        try:
            if not paths:
                raise UsageError("nothing to check: pass .netpol files or folders (or --stdin)")
            items = inputs(paths)
        except UsageError as err:
            # The error goes to stderr (exit 2) as always; a machine format also gets it on stdout,
            # so a SARIF upload or the pull request's annotations show why nothing was checked.
            from ..render import failure

            sys.stdout.write(failure(str(err), fmt))
            raise
    options, found, config_files = targets(cni, expand_port_ranges, named_ports)
    if found:  # a bad config file: checking without the targets it names would pass too easily
        sys.stdout.write(render(found, fmt, config_files))
        return exit_code(found, strict)
    result = build(items, overrides=overrides, prove=False, cni=options, emit=False)
    sys.stdout.write(render(result.diagnostics, fmt, result.resolved.files if result.resolved else {}))
    return exit_code(result.diagnostics, strict)


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
    paths, fmt, strict, stdin, stdin_filename = [], "text", False, False, None
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
            else:
                expand = value
        else:
            paths.append(arg)
    try:
        return run(paths, fmt, strict, stdin, stdin_filename, cni, expand, named)
    except UsageError as err:
        sys.stderr.write(f"netpolc: {err}\n")
        return 2
