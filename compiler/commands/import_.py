"""`netpolc import PATHS... [-n NS] [-o DIR] [--cluster FILE]`: NetworkPolicy YAML into .netpol programs, proven equivalent."""

from __future__ import annotations

import sys
from pathlib import Path

from . import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, check_namespace, write_output

LEFTOVERS = "keep the refused policies as YAML beside the program: `netpolc test PROGRAM --policies leftovers.yaml` (also explain and diff)"


def run(paths: list[str], namespace: str | None = None, output: Path | None = None, cluster: list[str] = (), rule=None) -> int:
    from ..diagnostics import Diagnostic, sorted_unique
    from ..importer import import_policies, read, skipped_kinds
    from ..manifests import PolicyInputError, read_inputs
    from ..render import render
    from ..source import Span

    if not paths:
        raise UsageError("nothing to import: pass NetworkPolicy YAML files or folders, or - for standard input")
    check_namespace(namespace)
    if "-" in paths and "-" in cluster:
        raise UsageError("standard input can be read once: give - as a path or as --cluster, not both")
    try:
        stream = read_inputs(list(paths))
    except PolicyInputError as err:
        raise UsageError(str(err)) from None
    snapshot = None
    if cluster:
        from ..snapshot import SnapshotError, read_snapshot

        try:
            snapshot = read_snapshot(list(cluster), namespace)
        except SnapshotError as err:
            raise UsageError(str(err)) from None
    files = dict(stream.files)
    found = list(stream.diagnostics)
    if snapshot is not None:
        found += snapshot.diagnostics
        files.update(snapshot.files)
    if any(d.code == "NP103" for d in found):
        sys.stderr.write(render(sorted_unique(found), "text", files))
        return EXIT_USAGE
    items, problems = read(stream.objects, namespace)
    found += problems + skipped_kinds(stream.objects)
    if not items:
        where = Span.whole_file(next(iter(files), paths[0]))
        if any(d.is_error for d in found):  # the policies there could not be read: those errors say why
            sys.stderr.write(render(sorted_unique(found), "text", files))
            return EXIT_FINDINGS
        found.append(Diagnostic("NP727", where, f"no NetworkPolicy to import in {', '.join(paths)}", "point import at the files or folders holding your NetworkPolicy YAML"))
        sys.stderr.write(render(sorted_unique(found), "text", files))
        return EXIT_FINDINGS

    folder = output.as_posix().rstrip("/") if output is not None else ""
    names = {item.namespace: f"{folder}/{item.namespace}.netpol" if folder else f"{item.namespace}.netpol" for item in items}
    sources = ", ".join(files) if len(files) <= 3 else f"{len(files)} files"
    imported = import_policies(items, names, sources, snapshot, rule=rule)
    found += imported.diagnostics
    if not imported.proven:
        why = "; ".join(imported.differences) or "the program does not compile"
        found.append(
            Diagnostic(
                "NP721",
                items[0].obj.span,
                f"the imported program is not proven equivalent to the YAML: {why}",
                "nothing was written; this is a bug in netpolc import: please report it with the policies",
            )
        )
    sys.stderr.write(render(sorted_unique(found), "text", files))
    refused = imported.refused
    sys.stderr.write(_summary(imported, len(imported.files)))
    if not imported.proven:
        return EXIT_FINDINGS
    if refused:
        sys.stderr.write(f"not imported: {len(refused)} polic{'ies' if len(refused) != 1 else 'y'} ({', '.join(f'{i.namespace}/{i.name} at {i.where}' for i in refused)}): {LEFTOVERS}\n")
    texts = {namespace: text for namespace, text in imported.files.items()}
    code = EXIT_FINDINGS if refused or any(d.is_error for d in found) else EXIT_OK
    if output is None:
        sys.stdout.write("\n".join(texts[n] for n in sorted(texts)))
        return code
    return _write(output, texts, code)


def _summary(imported, namespaces: int) -> str:
    read = len(imported.items)
    proof = "equivalent" if imported.proven else "NOT equivalent (above)"
    return (
        f"import: {read:,} NetworkPolic{'ies' if read != 1 else 'y'} read, {len(imported.imported):,} imported as "
        f"{imported.intents:,} intent{'s' * (imported.intents != 1)} in {namespaces:,} namespace{'s' * (namespaces != 1)}; "
        f"manifests: {imported.before:,} before, {imported.after:,} after; proof: {proof}\n"
    )


def _write(output: Path, texts: dict[str, str], code: int) -> int:
    from ..output import Layout

    files = {f"{namespace}.netpol": text for namespace, text in texts.items()}
    return write_output(output, files, ("file", "files"), Layout(".netpol", depth=1)) or code
