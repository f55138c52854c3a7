"""`netpolc compile`: print a YAML stream, or write / check an output folder."""

from __future__ import annotations

import sys
from pathlib import Path

from . import (
    EXIT_FINDINGS,
    EXIT_OK,
    check_api,
    check_format,
    exit_code,
    inputs,
    project_defaults,
    targets,
    write_output,
)


def run(
    paths: list[str], output: Path | None = None, check: bool = False, strict: bool = False, fmt: str = "text",
    cni: list[str] = (), expand_port_ranges: int | None = None, named_ports: list[str] = (), api: str = "v1alpha2",
) -> int:
    from ..output import OutputError, to_yaml, tree_files
    from ..pipeline import build
    from ..render import FORMATS, render
    from . import UsageError

    check_format(fmt, FORMATS)
    check_api(api)
    if not paths or (check and output is None):
        default_paths, default_output = project_defaults()  # netpolc.toml `paths` and `output`
        paths = paths or default_paths
        if check and output is None and default_output:
            output = Path(default_output)
    if not paths:
        raise UsageError("nothing to compile: pass .netpol files or folders, or set `paths` in netpolc.toml")
    if check and output is None:
        raise UsageError("--check compares against an output folder: add -o DIR (or set `output` in netpolc.toml)")
    items = inputs(paths)
    options, found, config_files = targets(cni, expand_port_ranges, named_ports)
    if found:  # a bad config file: nothing is compiled for targets it may have named wrongly
        sys.stderr.write(render(found, fmt, config_files))
        return exit_code(found, strict)
    writing = output is not None and not check
    # -o DIR: the files are written into the new tree batch by batch beside the proof, and swapped in only once it
    # passed (`output.Deferred`); --check: rendered beside the proof, then compared.
    result = build(items, validate=True, cni=options, api=api, render=tree_files if check else None, keep_syntax=False, defer=writing)
    files_of = result.resolved.files if result.resolved else {}

    def report() -> int:
        if result.diagnostics:
            sys.stderr.write(render(result.diagnostics, fmt, files_of))
        return exit_code(result.diagnostics, strict)

    if writing and exit_code(result.diagnostics, strict) == EXIT_OK:
        return _write_proven(output, result, report)
    code = report()
    if code != EXIT_OK:
        return code
    if output is None:
        sys.stdout.write(to_yaml(result.manifests()))
        return EXIT_OK
    files = result.rendered if result.rendered is not None else tree_files(result.emitted)
    if check:
        try:
            return _check(output, files, paths)
        except OutputError as err:
            sys.stderr.write(err.report())
            return EXIT_FINDINGS
    return write_output(output, files, ("policy", "policies"))


class _NotProven(Exception):
    """The proof (or the schema check) failed while the files were written: the new tree is not swapped in."""


def _write_proven(output: Path, result, report) -> int:
    """`compile -o DIR`: the schema check and the proof run while the files are written into the new tree;
    the findings are reported once, before the tree is swapped in, or instead of it."""
    from ..output import Deferred

    def produce(write) -> dict[str, bool]:
        written = result.finish(write)
        if not result.ok:
            raise _NotProven
        report()  # the warnings, before `wrote ...`
        return written

    try:
        return write_output(output, Deferred(tuple(item.path for item in result.emitted), produce), ("policy", "policies"))
    except _NotProven:
        return report()


def _check(output: Path, files: dict[str, bytes], paths: list[str]) -> int:
    from ..output import stale

    changes = stale(output, files)
    for change in changes:
        sys.stderr.write(f"{(output / change.path).as_posix()}: {change.kind}\n")
    if changes:
        sys.stderr.write(
            f"error[NP502]: {output.as_posix()} is stale: {len(changes)} file(s) differ from the sources; "
            f"run `netpolc compile {' '.join(paths)} -o {output.as_posix()}`\n"
        )
        return EXIT_FINDINGS
    sys.stderr.write(f"{output.as_posix()} is up to date ({len(files)} policies)\n")
    return EXIT_OK
