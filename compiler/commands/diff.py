"""`netpolc diff OLD NEW` or `netpolc diff REV..REV PATHS`: the flows a change opens and closes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..paths import resolved
from . import EXIT_FINDINGS, EXIT_OK, UsageError, check_format, check_namespace, exit_code

FORMATS = ("text", "json", "markdown")


def run(
    arguments: list[str], fmt: str = "text", fail_on_closed: bool = False, namespace: str | None = None,
    cluster: list[str] = (), allow_missing: bool = False, flows: list[str] = (), cni: list[str] = (),
) -> int:
    from ..manifests import STDIN
    from ..render import render

    check_format(fmt, FORMATS)
    check_namespace(namespace)
    if len(arguments) < 2 and not (arguments and _is_range(arguments[0])):
        raise UsageError("give two files or folders (netpolc diff OLD NEW), or a git range and paths (netpolc diff main..HEAD policies/)")
    if _is_range(arguments[0]):
        old_rev, new_rev = _parse_range(arguments[0])
        paths = arguments[1:] or ["."]
        if STDIN in paths:
            raise UsageError("a revision range compares paths of the repository; standard input (-) is not one: compare a folder with it instead (netpolc diff OLD -)")
        with _git_tree(old_rev, paths) as old_root, _git_tree(new_rev, paths) as new_root:
            _check_present(paths, (old_rev, old_root), (new_rev, new_root), allow_missing)
            old = _side(old_root, paths, f"{old_rev}", namespace, cni)
            new = _side(new_root, paths, f"{new_rev}", namespace, cni)
        labels = (old_rev, new_rev)
    else:
        if len(arguments) != 2:
            raise UsageError("give exactly two files or folders: netpolc diff OLD NEW")
        if arguments == [STDIN, STDIN]:
            raise UsageError("standard input (-) can be one side only: netpolc diff OLD - (or - NEW)")
        if STDIN in arguments and STDIN in cluster:
            raise UsageError("standard input can be read once: give a side or --cluster as -, not both")
        old = _side(None, [arguments[0]], arguments[0], namespace, cni)
        new = _side(None, [arguments[1]], arguments[1], namespace, cni)
        labels = tuple("<stdin>" if a == STDIN else a for a in arguments)
    for space in (old, new):
        if not space.ok:
            sys.stderr.write(render(space.diagnostics, "text", space.files))
            return exit_code(space.diagnostics, False)
    warnings = old.diagnostics + new.diagnostics  # both sides are free of errors here
    if warnings:
        sys.stderr.write(render(warnings, "text", {**old.files, **new.files}))

    if flows:  # only the connections real traffic uses, with their counts
        from .replay import check_stdin, diff_flows

        check_stdin(list(flows), list(arguments) + list(cluster))
        return diff_flows(old, new, labels, list(flows), fmt, fail_on_closed, _snapshot(cluster, namespace))
    snapshot = _snapshot(cluster, namespace)
    from ..diff import diff

    result = diff(old.policies, new.policies, old.context + new.context, snapshot)
    opened, closed = result.rows("opened"), result.rows("closed")
    if fmt == "json":
        isolated = [{"group": i.group, "direction": i.direction, "still_allowed": [{"peers": p, "ports": ports} for p, ports in i.kept]} for i in result.isolations()]
        document = {"old": labels[0], "new": labels[1], "newly_isolated": isolated, "opened": opened, "closed": closed}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(_markdown(result, labels))
    else:
        sys.stdout.write(_text(result, labels))
    return EXIT_FINDINGS if fail_on_closed and closed else EXIT_OK


def isolation_line(isolation) -> str:
    """`shop/app=web newly isolated for ingress: everything except 10.0.0.0/8 on 443 is cut`."""
    if not isolation.kept:
        return f"{isolation.group} newly isolated for {isolation.direction}: everything is cut"
    kept = "; ".join(f"{', '.join(peers)} on {ports}" for peers, ports in isolation.kept)
    return f"{isolation.group} newly isolated for {isolation.direction}: everything except {kept} is cut"


def _text(result, labels) -> str:
    out = [f"netpolc diff {labels[0]} -> {labels[1]}"]
    isolations = result.isolations()
    if isolations:
        out.append("")
        out += [isolation_line(i) for i in isolations]
        out.append("Details follow.")
    for kind in ("closed", "opened"):
        groups = result.grouped(kind)
        count = len(result.rows(kind))
        out.append("")
        out.append(f"{kind.capitalize()}: {count} flow{'s' * (count != 1)}" + (":" if count else ""))
        for sources, destinations, ports in groups:
            out.append(f"  {', '.join(sources)} -> {', '.join(destinations)}: {ports}")
    if not result.changes:
        out.append("")
        out.append("No flow changes: both sides allow exactly the same traffic.")
    return "\n".join(out) + "\n"


def _markdown(result, labels) -> str:
    opened, closed = result.rows("opened"), result.rows("closed")
    out = [f"### netpolc diff: {len(closed)} flow{'s' * (len(closed) != 1)} closed, {len(opened)} opened", ""]
    out.append(f"Comparing `{labels[0]}` with `{labels[1]}` (computed from the policies, not from the text).")
    isolations = result.isolations()
    if isolations:
        out.append("")
        out += [f"- **{isolation_line(i)}**" for i in isolations]
    if not result.changes:
        out += ["", "No flow changes: both sides allow exactly the same traffic."]
    for kind, title in (("closed", "Closed (no longer allowed)"), ("opened", "Opened (newly allowed)")):
        groups = result.grouped(kind)
        if not groups:
            continue
        out += ["", f"#### {title}", "", "| From | To | Ports |", "| --- | --- | --- |"]
        for sources, destinations, ports in groups:
            cells = ["<br>".join(f"`{x}`" for x in sources), "<br>".join(f"`{x}`" for x in destinations), ports]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- sides


def _snapshot(cluster: list[str], namespace: str | None):
    """The --cluster pods both sides are compared over (read once), or None; its errors stop the command."""
    if not cluster:
        return None
    from ..render import render
    from ..snapshot import SnapshotError, read_snapshot

    try:
        snapshot = read_snapshot(cluster, namespace)
    except SnapshotError as err:
        raise UsageError(str(err)) from None
    if snapshot.diagnostics:
        sys.stderr.write(render(snapshot.diagnostics, "text", snapshot.files))
    if any(d.is_error for d in snapshot.diagnostics):
        raise SystemExit(exit_code(snapshot.diagnostics, False))
    return snapshot


def _check_present(paths: list[str], old: tuple[str, Path], new: tuple[str, Path], allow_missing: bool) -> None:
    """A path at neither revision is a typo (exit 2, never "no changes"); at one only, a comparison with nothing on request."""
    for path in paths:
        at_old, at_new = (old[1] / path).exists(), (new[1] / path).exists()
        if not at_old and not at_new:
            raise UsageError(f"{path}: exists at neither {old[0]} nor {new[0]}; check the path (it is relative to the working folder)")
        if not (at_old and at_new) and not allow_missing:
            missing, present = (old[0], new[0]) if not at_old else (new[0], old[0])
            raise UsageError(
                f"{path}: exists at {present} but not at {missing}; add --allow-missing to compare it against no policies at {missing}"
            )


def _side(root: Path | None, paths: list[str], label: str, namespace: str | None = None, cni: list[str] = ()):
    """Compile / read one side. With a root (a git export), paths are inside it and files are named as in the repository."""
    from ..workspace import InputsError, Workspace, open_workspace, split_kinds
    from . import targets

    options, found, _ = targets(list(cni))  # DNS names: written as --cni's (else the config's) objects, read before a chdir into an export
    options = None if found else options
    if root is not None:
        present = [p for p in paths if (root / p).exists()]
        if not present:
            return Workspace()  # the paths did not exist at that revision: no policies then
        with _chdir(root):
            netpol, yaml = split_kinds(present)
            try:
                return open_workspace(netpol, yaml, namespace=namespace, fqdn_targets=options)
            except InputsError as err:
                raise UsageError(f"{label}: {err}") from None
    netpol, yaml = split_kinds(paths)
    try:
        return open_workspace(netpol, yaml, namespace=namespace, fqdn_targets=options)
    except InputsError as err:
        raise UsageError(str(err)) from None


@contextmanager
def _chdir(path: Path):
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _is_range(argument: str) -> bool:
    return ".." in argument and not Path(argument).exists()


def _parse_range(argument: str) -> tuple[str, str]:
    old, _, new = argument.partition("..")
    if not old or new.startswith("."):
        raise UsageError(f"{argument!r} is not a revision range: write OLD..NEW, e.g. main..HEAD")
    return old, new or "HEAD"


def _git(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed: compare two folders instead (netpolc diff OLD NEW)") from None


@contextmanager
def _git_tree(revision: str, paths: list[str]):
    """The given paths as they were at `revision`, exported into a temporary folder laid out like the repository."""
    import io
    import tarfile

    top = _git("rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError("not inside a git repository: a revision range needs one (or compare two folders: netpolc diff OLD NEW)")
    if _git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").returncode != 0:
        raise UsageError(f"unknown git revision {revision!r}")
    toplevel = Path(top.stdout.decode().strip())
    relative = []
    for path in paths:
        try:
            relative.append(resolved(Path(path)).relative_to(resolved(toplevel)).as_posix() or ".")
        except ValueError:
            raise UsageError(f"{path}: outside the git repository {toplevel.name}") from None
    from ..resolve import project_root

    with tempfile.TemporaryDirectory(prefix="netpolc-diff-") as tmp:
        root = Path(tmp)
        (root / "repo" / ".git").mkdir(parents=True)  # the export's repository root, as project_root() finds it
        wanted = []
        for path, rel in zip(paths, relative):
            wanted.append(rel)
            # The project the path belongs to (netpolc.toml, else the repository root): its .netpol
            # files come along, so a `use "../shared/base.netpol"` reads as it does in the working tree.
            here = Path(path)
            project = project_root(here if here.is_dir() else here.parent).relative_to(resolved(toplevel)).as_posix()
            prefix_glob = "" if project == "." else f"{project}/"
            wanted += [f":(glob){prefix_glob}**/*.netpol", f"{prefix_glob}netpolc.toml", f"{prefix_glob}pyproject.toml"]
        for spec in dict.fromkeys(wanted):
            archive = _git("-C", str(toplevel), "archive", "--format=tar", revision, "--", spec)
            if archive.returncode != 0:
                continue  # the path did not exist at that revision
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                # The "data" filter refuses links and paths leaving the folder (Python 3.11.4+).
                safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(root / "repo", **safe)
        # Files keep the names they have in the working folder: cwd relative to the repository.
        prefix = resolved(Path.cwd()).relative_to(resolved(toplevel)) if resolved(Path.cwd()).is_relative_to(resolved(toplevel)) else Path()
        inside = root / "repo" / prefix
        inside.mkdir(parents=True, exist_ok=True)
        yield inside
