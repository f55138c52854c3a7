"""Command line: thin Typer commands over the pipeline. Heavy modules are imported inside commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="netpolc",
    help="Compile concise network intents into small, verified Kubernetes NetworkPolicy manifests.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Paths = Annotated[list[str], typer.Argument(help=".netpol files or folders (folders are searched recursively).", show_default=False)]
Strict = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors (exit 1).")]


def _fail_usage(message: str) -> None:
    typer.echo(f"netpolc: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _inputs(paths: list[str]):
    from .resolve import InputError, expand_inputs

    try:
        return expand_inputs(paths)
    except InputError as err:
        _fail_usage(str(err))


def _exit_code(diagnostics, strict: bool) -> int:
    if any(d.code == "NP103" for d in diagnostics):
        return EXIT_USAGE
    if any(d.is_error for d in diagnostics) or (strict and any(d.severity == "warning" for d in diagnostics)):
        return EXIT_FINDINGS
    return EXIT_OK


@app.command("compile")
def compile_command(
    paths: Paths,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write one file per policy under DIR/<namespace>/ instead of printing a YAML stream.", metavar="DIR")] = None,
    check: Annotated[bool, typer.Option("--check", help="With -o: do not write; exit 1 and list what differs when DIR is stale.")] = False,
    strict: Strict = False,
    diagnostics_format: Annotated[str, typer.Option("--format", help="How to print diagnostics: text, json or github.")] = "text",
) -> None:
    """Compile intents to NetworkPolicy manifests.

    Prints a multi-document YAML stream (pipe it to `kubectl apply -f -`), or with
    -o DIR replaces the generated files under DIR/<namespace>/ atomically. Nothing is
    written unless the whole program compiles, proves and validates.

    Examples:

      netpolc compile examples/three-tier | kubectl apply -f -

      netpolc compile examples/storefront -o deploy/netpol

      netpolc compile examples/storefront -o deploy/netpol --check
    """
    from .output import OutputError, stale, to_yaml, tree_files, write_tree
    from .pipeline import build
    from .render import FORMATS, render

    if diagnostics_format not in FORMATS:
        _fail_usage(f"unknown --format {diagnostics_format!r}; choose from {', '.join(FORMATS)}")
    if check and output is None:
        _fail_usage("--check compares against an output folder: add -o DIR")
    result = build(_inputs(paths), validate=True)
    if result.diagnostics:
        typer.echo(render(result.diagnostics, diagnostics_format, result.resolved.files if result.resolved else {}), err=True, nl=False)
    code = _exit_code(result.diagnostics, strict)
    if code != EXIT_OK:
        raise typer.Exit(code)
    if output is None:
        sys.stdout.write(to_yaml(result.manifests()))
        return
    files = tree_files(result.emitted)
    if check:
        changes = stale(output, files)
        for change in changes:
            typer.echo(f"{output / change.path}: {change.kind}", err=True)
        if changes:
            typer.echo(f"error[NP502]: {output} is stale ({len(changes)} file(s) differ); run `netpolc compile {' '.join(paths)} -o {output}`", err=True)
            raise typer.Exit(EXIT_FINDINGS)
        typer.echo(f"{output} is up to date ({len(files)} policies)", err=True)
        return
    try:
        changes = write_tree(output, files)
    except OutputError as err:
        typer.echo(f"error[NP503]: {err}", err=True)
        raise typer.Exit(EXIT_FINDINGS)
    counts = {kind: sum(c.kind == kind for c in changes) for kind in ("added", "changed", "removed")}
    typer.echo(
        f"wrote {len(files)} policies to {output} ({counts['added']} added, {counts['changed']} changed, {counts['removed']} removed)",
        err=True,
    )


@app.command("check")
def check_command(
    paths: Annotated[Optional[list[str]], typer.Argument(help=".netpol files or folders.", show_default=False)] = None,
    diagnostics_format: Annotated[str, typer.Option("--format", help="text, json or github.")] = "text",
    strict: Strict = False,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the file to check from standard input (editor buffers).")] = False,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="The path the standard input stands for; positions are reported in it.", metavar="PATH")] = None,
) -> None:
    """Report problems without writing anything (for editors, pre-commit and CI).

    Exit status: 0 clean (warnings allowed unless --strict), 1 errors found,
    2 bad usage or unreadable input.

    Examples:

      netpolc check examples/

      netpolc check --format json policies/shop.netpol

      cat shop.netpol | netpolc check --stdin --stdin-filename policies/shop.netpol
    """
    from .pipeline import build
    from .render import FORMATS, render

    if diagnostics_format not in FORMATS:
        _fail_usage(f"unknown --format {diagnostics_format!r}; choose from {', '.join(FORMATS)}")
    overrides = None
    paths = list(paths or [])
    if stdin:
        name = stdin_filename or "<stdin>"
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            _fail_usage(f"{name}: standard input is not valid UTF-8")
        overrides = {name: text}
        inputs = _stdin_inputs(name, paths)
    else:
        if not paths:
            _fail_usage("nothing to check: pass .netpol files or folders (or --stdin)")
        inputs = _inputs(paths)
    result = build(inputs, overrides=overrides)
    typer.echo(render(result.diagnostics, diagnostics_format, result.resolved.files if result.resolved else {}), nl=False)
    raise typer.Exit(_exit_code(result.diagnostics, strict))


def _stdin_inputs(name: str, paths: list[str]):
    from .resolve import Input, display_name

    path = Path(name)
    item = Input(path, display_name(path) if name != "<stdin>" else name, path.parent)
    others = [i for i in _inputs(paths) if i.name != item.name] if paths else []
    return [item] + others


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; an unexpected failure is reported in one line, never as a traceback."""
    import os

    try:
        app(args=argv, prog_name="netpolc", standalone_mode=True)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the last line of defence: a bug must not print a traceback at a user
        if os.environ.get("NETPOLC_DEBUG"):
            raise
        typer.echo(f"netpolc: internal error: {type(err).__name__}: {err} (set NETPOLC_DEBUG=1 for details; please report it)", err=True)
        return EXIT_USAGE
    return EXIT_OK
