"""`netpolc graph`: the allowed flows as Graphviz DOT, Mermaid, or SVG rendered by the `dot` program."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, check_format, exit_code, workspace

FORMATS = ("dot", "mermaid", "svg")


def run(
    paths: list[str], policies: list[str] | None = None, fmt: str = "dot", output: Path | None = None, namespace: str | None = None,
    cluster: list[str] = (), cni: list[str] = (),
) -> int:
    from ..graph import build, to_dot, to_mermaid
    from ..render import render

    check_format(fmt, FORMATS)
    if not paths and not policies:
        raise UsageError("nothing to draw: pass .netpol files or folders, or --policies DIR")
    dot_program = shutil.which("dot") if fmt == "svg" else None
    if fmt == "svg" and dot_program is None:
        sys.stderr.write(
            "netpolc: --format svg needs the Graphviz `dot` program, which is not installed "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz); "
            "--format dot or --format mermaid need nothing\n"
        )
        return EXIT_USAGE
    space = workspace(paths, policies, namespace, cluster=cluster, cni=cni)  # --cni: how DNS names are written
    if not space.ok:
        sys.stderr.write(render(space.diagnostics, "text", space.files))
        return exit_code(space.diagnostics, False)
    graph = build(space.policies, space.context, space.snapshot)
    if fmt == "mermaid":
        data = to_mermaid(graph).encode("utf-8")
    else:
        data = to_dot(graph).encode("utf-8")
        if fmt == "svg":
            done = subprocess.run([dot_program, "-Tsvg"], input=data, capture_output=True, check=False)
            if done.returncode != 0:
                sys.stderr.write(f"netpolc: dot failed: {done.stderr.decode('utf-8', 'replace').strip()}\n")
                return EXIT_USAGE
            data = done.stdout
    if output is None:
        sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(data.decode("utf-8"))
        return EXIT_OK
    from ..output import OutputError, write_file

    try:  # replaced in one step; a link named here is kept and the file it points to replaced
        into = write_file(output, data)
    except OutputError as err:
        sys.stderr.write(err.report())
        return EXIT_FINDINGS
    through = f" (into {into}, the file it links to)" if into else ""
    sys.stderr.write(f"wrote {output}{through} ({len(graph.nodes)} nodes, {len(graph.edges)} edges)\n")
    return EXIT_OK
