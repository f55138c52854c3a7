"""Input files and `use` -> one flat list of statements, each placed in its namespace.

Rules: a program is every input file plus what they `use`. A file that another input
file uses is a module, not a root. `use NAME` reads `stdlib/NAME.netpol`; `use "path"`
reads a file relative to the using file, which must stay inside the project folder (the
folder given on the command line, or the folder of a file given). Statements of a used
module land in the namespace of the `use` line until the module names its own. A folder
input follows the same rule: a symlink in it that leads out of it is refused (NP203).
"""

from __future__ import annotations

import contextvars

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from . import nodes
from .diagnostics import Diagnostic
from .ir import Origin
from .paths import resolved, shipped_dir
from .source import SourceFile, Span, UnreadableSource, decode_source, read_bounded, read_source
from .values import shown

SUFFIX = ".netpol"


class Placed(NamedTuple):
    """A statement together with the namespace it applies to (or the cluster section it is in) and where it came from."""

    namespace: str  # "" in a cluster section
    statement: nodes.Statement
    origin: Origin
    section: "Placed | None" = None  # the `cluster ...` line a cluster rule is under


@dataclass
class Resolved:
    statements: list[Placed]
    namespaces: tuple[str, ...]  # in order of first appearance
    namespace_spans: dict[str, Span]
    files: dict[str, SourceFile]
    modules: dict[str, nodes.Module] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class Input(NamedTuple):
    """One file to compile and the project folder its imports must stay in.

    `refused` is (code, message, hint) for an entry of a folder that must not be read
    (a symlink leading out of the folder, a sub-folder that cannot be listed): it is
    reported at its path instead of being read.
    """

    path: Path
    name: str
    root: Path
    refused: tuple[str, str, str] | tuple[()] = ()


def project_root(folder: Path) -> Path:
    """The project a file or folder belongs to: the nearest folder (from `folder` up) holding
    netpolc.toml or a pyproject.toml with [tool.netpolc]; else the repository root (`.git`);
    else `folder` itself. `use` may not leave it, and a shared file is checked with its users in it."""
    from .config import CONFIG_NAME, PYPROJECT, _has_section

    start = resolved(folder)
    for candidate in (start, *start.parents):
        if os.path.lexists(candidate / CONFIG_NAME):
            return candidate
        pyproject = candidate / PYPROJECT
        if os.path.lexists(pyproject) and _has_section(pyproject):
            return candidate
        if os.path.lexists(candidate / ".git"):
            return candidate
    return start


def _root_reason(root: Path) -> str:
    """Why a folder is the project: ` (it holds netpolc.toml)`, ... or nothing (the file's own folder)."""
    from .config import _has_section

    if os.path.lexists(root / "netpolc.toml"):
        return " (it holds netpolc.toml)"
    if os.path.lexists(root / "pyproject.toml") and _has_section(root / "pyproject.toml"):
        return " (its pyproject.toml has [tool.netpolc])"
    return " (the repository root)" if os.path.lexists(root / ".git") else ""


class InputError(Exception):
    """A command-line input that does not exist or holds no .netpol file (exit code 2)."""


def expand_inputs(arguments: list[str]) -> list[Input]:
    """Files and folders from the command line -> .netpol files, sorted, each with its root."""
    found: dict[str, Input] = {}
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            entries = folder_entries(path)
            if not entries:
                raise InputError(f"{argument}: no {SUFFIX} files in this folder")
            for entry in entries:
                found.setdefault(entry.name, entry)
        elif os.path.lexists(path):  # a FIFO, a device or a dangling link is refused when it is read
            found.setdefault(display_name(path), Input(path, display_name(path), project_root(path.parent)))
        else:
            raise InputError(f"{argument}: no such file or folder")
    return list(found.values())


def folder_entries(folder: Path, suffixes: tuple[str, ...] = (SUFFIX,)) -> list[Input]:
    """The files under a folder whose names end with `suffixes` (hidden entries skipped), sorted; the folder is their root.

    The walk stays inside the folder, by the rule `use` follows (NP203): a symlinked
    file or sub-folder that leads out of it is refused at its own path, one that stays
    inside is followed (each file once). An entry that disappears while the folder is
    walked is skipped; a sub-folder that cannot be listed is refused (NP103).
    """
    root = resolved(folder)

    def outside(link: Path) -> tuple[str, str, str]:
        try:
            written = f" `{shown(os.readlink(link), 80)}`"
        except OSError:
            written = ""
        return (
            "NP203",
            f"symlink to{written} leads out of the folder {display_name(folder) or '.'}",
            "netpolc reads only what is inside the folders it is given: move the file into the folder, or pass the target itself as an input",
        )

    entries: list[tuple[Path, tuple]] = []
    seen = {root}
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                children = list(listing)
        except FileNotFoundError:
            continue  # removed while we walk: nothing left to read there
        except OSError as err:
            entries.append((current, ("NP103", f"folder cannot be listed: {err.strerror or err}", "check the folder's permissions")))
            continue
        for child in children:
            if child.name.startswith("."):
                continue
            path = Path(child.path)
            try:
                is_dir, is_link = child.is_dir(), child.is_symlink()
            except OSError:
                continue
            if not is_dir and not child.name.endswith(suffixes):
                continue
            target = resolved(path) if is_link or is_dir else path
            if is_link and not target.is_relative_to(root):
                entries.append((path, outside(path)))
            elif not is_dir:
                entries.append((path, ()))
            elif target not in seen:  # a link back up the tree is walked once
                seen.add(target)
                pending.append(path)
    out = []
    project = project_root(folder)  # the walk stays in `folder`; a `use` may reach the rest of the project
    for path, refused in sorted(entries):
        # A refused symlink is named as the link (its target is not ours to name).
        name = (Path(display_name(path.parent)) / path.name).as_posix() if refused else display_name(path)
        out.append(Input(path, name, project, refused))
    return out


# The folder names are relative to: the working folder, or (the language server) the workspace
# folder of the build running in this thread; a context variable, since threads share one cwd.
NAMES_BASE: contextvars.ContextVar[Path | None] = contextvars.ContextVar("netpolc_names_base", default=None)


def display_name(path: Path, base: Path | None = None) -> str:
    """How a file is named in diagnostics and annotations: relative to the working folder (or `base`) when inside it."""
    try:
        return resolved(path).relative_to(resolved(base or NAMES_BASE.get() or Path.cwd())).as_posix()
    except ValueError:
        return path.as_posix()


class _Loader:
    def __init__(self, parse_file):
        self.parse_file = parse_file  # SourceFile -> (Module | None, diagnostics)
        self.files: dict[str, SourceFile] = {}
        self.modules: dict[str, nodes.Module | None] = {}
        self.diagnostics: list[Diagnostic] = []

    def load(self, key: str, read, at: Span | None = None) -> nodes.Module | None:
        """The module of a file, read once; an unreadable file is NP103 at `at` (a `use` line) or at the file."""
        if key not in self.modules:
            try:
                source = read()
            except UnreadableSource as err:
                span, message = (at, f"{err.name}: {err.reason}") if at else (Span.whole_file(err.name), err.reason)
                self.diagnostics.append(Diagnostic("NP103", span, message, err.hint))
                self.modules[key] = None
                return None
            self.files[source.name] = source
            module, diagnostics = self.parse_file(source)
            self.diagnostics.extend(diagnostics)
            self.modules[key] = module
        return self.modules[key]


def resolve(inputs: list[Input], parse_file, overrides: dict[str, str] | None = None) -> Resolved:
    """Place every statement of the program; `overrides` maps a display name to unsaved text (editor buffers)."""
    overrides = overrides or {}
    loader = _Loader(parse_file)

    def reader(path: Path, name: str):
        if name in overrides:
            return lambda: decode_source(name, overrides[name].encode("utf-8"), path)
        return lambda: read_source(path, name)

    for item in inputs:
        if item.refused:
            code, message, hint = item.refused
            loader.diagnostics.append(Diagnostic(code, Span.whole_file(item.name), message, hint))
            loader.modules[item.name] = None
        else:
            loader.load(item.name, reader(item.path, item.name))
    inputs = [i for i in inputs if not i.refused]
    inputs = inputs + _users_of_shared_files(inputs, loader, reader)
    roots = {i.name: i for i in inputs}

    # A root used by another root is a module of it, not a program entry point.
    used: set[str] = set()
    for item in inputs:
        module = loader.modules.get(item.name)
        for statement in module.statements if module else ():
            if isinstance(statement, nodes.UseStmt) and statement.is_path:
                target = _path_target(item, statement)
                if target is not None:
                    used.add(display_name(target))

    placed: list[Placed] = []
    namespaces: dict[str, Span] = {}
    state = _Walk(loader, reader, placed, namespaces)
    # Files only reachable through a cycle of uses have no root; walk them anyway so
    # that the cycle is reported instead of the files being silently skipped.
    order = [n for n in roots if n not in used] + [n for n in roots if n in used]
    for name in order:
        module = loader.modules.get(name)
        if module is not None and (name not in used or name not in state.walked):
            state.walk(module, roots[name], namespace=None, via=None, stack=(name,), module_label=None)
    return Resolved(
        placed,
        tuple(namespaces),
        namespaces,
        loader.files,
        {k: v for k, v in loader.modules.items() if v is not None},
        loader.diagnostics + state.diagnostics,
    )


def _users_of_shared_files(inputs: list[Input], loader: _Loader, reader) -> list[Input]:
    """Files of the project folder that `use` an input which has no `namespace` line.

    Such a file is a shared module (like a `common.netpol`): alone, its statements apply
    to no namespace. A pre-commit hook passes only the changed files, so when it is given
    alone it is checked where it is used, together with the files that use it.
    """
    found: list[Input] = []
    known = {i.name for i in inputs}
    # A shared file another input uses is checked there already: its other users in the project are not pulled in.
    used_by_inputs = set()
    for other in inputs:
        module = loader.modules.get(other.name)
        for statement in module.statements if module else ():
            if isinstance(statement, nodes.UseStmt) and statement.is_path:
                try:
                    used_by_inputs.add(resolved(_path_target(other, statement)))
                except OSError:
                    continue
    pending = list(inputs)
    while pending:
        item = pending.pop(0)
        module = loader.modules.get(item.name)
        if module is None or not module.statements or any(isinstance(s, (nodes.NamespaceStmt, nodes.ClusterStmt)) for s in module.statements):
            continue
        target = resolved(item.path)
        if target in used_by_inputs and item.name not in {f.name for f in found}:
            continue
        for entry in folder_entries(item.root) if item.root.is_dir() else ():
            path, name = entry.path, entry.name
            try:
                if entry.refused or name in known or item.path.name.encode() not in read_bounded(path, name):
                    continue
            except UnreadableSource:
                continue  # not a file that could use it (a refused input is reported where it is an input)
            candidate = Input(path, name, item.root)
            user = loader.load(name, reader(path, name))
            uses = [s for s in user.statements if isinstance(s, nodes.UseStmt) and s.is_path] if user else []
            if any(resolved(_path_target(candidate, s)) == target for s in uses):
                found.append(candidate)
                pending.append(candidate)
                known.add(name)
    return found


def _path_target(item: Input, statement: nodes.UseStmt) -> Path | None:
    base = item.path.parent
    return base / statement.module.text


def _statement_text(source: SourceFile | None, span: Span) -> str:
    if source is None:
        return ""
    return " ".join(source.line_text(span.line).split("#", 1)[0].split())


class _Walk:
    def __init__(self, loader: _Loader, reader, placed: list[Placed], namespaces: dict[str, Span]):
        self.loader = loader
        self.reader = reader
        self.placed = placed
        self.namespaces = namespaces
        self.diagnostics: list[Diagnostic] = []
        self.used: dict[tuple[str, str], Span] = {}
        self.walked: set[str] = set()

    def walk(self, module: nodes.Module, item: Input, namespace: str | None, via: Span | None, stack, module_label):
        self.walked.add(module.name)
        source = self.loader.files.get(module.name)
        section: Placed | None = None
        for statement in module.statements:
            if isinstance(statement, nodes.NamespaceStmt):
                namespace, section = statement.name.text, None
                self.namespaces.setdefault(namespace, statement.name.span)
                continue
            if isinstance(statement, nodes.ClusterStmt):
                namespace = None
                section = Placed("", statement, Origin(statement.span, _statement_text(source, statement.span), via, module_label))
                self.placed.append(section)
                continue
            if section is not None:
                if isinstance(statement, nodes.UseStmt):
                    self.diagnostics.append(
                        Diagnostic(
                            "NP206",
                            statement.span,
                            "`use` inside a cluster section",
                            "a cluster section holds cluster-wide rules only; put the `use` line under a `namespace` line",
                        )
                    )
                    continue
                origin = Origin(statement.span, _statement_text(source, statement.span), via, module_label)
                self.placed.append(Placed("", statement, origin, section))
                continue
            if namespace is None:
                self.diagnostics.append(
                    Diagnostic(
                        "NP200",
                        statement.span,
                        "statement outside a namespace",
                        "add a `namespace NAME` (or `cluster admin priority N`) line above it; every statement applies to the namespace or cluster section named last",
                    )
                )
                continue
            if isinstance(statement, nodes.UseStmt):
                self._use(statement, item, namespace, via, stack)
                continue
            origin = Origin(statement.span, _statement_text(source, statement.span), via, module_label)
            self.placed.append(Placed(namespace, statement, origin))

    def _use(self, statement: nodes.UseStmt, item: Input, namespace: str, via: Span | None, stack):
        outer_via = via or statement.span
        if statement.is_path:
            target = _path_target(item, statement)
            name = display_name(target)
            try:
                inside = resolved(target).is_relative_to(resolved(item.root))
            except OSError:
                inside = False
            if not inside:
                self.diagnostics.append(
                    Diagnostic(
                        "NP203",
                        statement.module.span,
                        f'`use "{statement.module.text}"` leaves the project folder {display_name(item.root) or "."}{_root_reason(item.root)}',
                        "keep shared files inside the project folder (the nearest folder with netpolc.toml, else the repository root, else the file's folder) and use a path relative to this file",
                    )
                )
                return
            kind = _path_kind(target)
            if kind != "other":  # a FIFO or a device is refused when it is read (NP103)
                message, hint = {
                    "folder": (f'"{statement.module.text}" is a folder, not a file', "`use` pulls in one .netpol file: name it"),
                    "missing": (f'no file "{statement.module.text}" next to this file', "check the path; it is relative to the file that uses it"),
                }.get(kind, (f'"{_shortened(statement.module.text)}" cannot be looked up: {kind}', "check the path; it is relative to the file that uses it"))
                self.diagnostics.append(Diagnostic("NP202", statement.module.span, message, hint))
                return
            # A project file is the user's own text: its statements keep their own positions.
            key, label, child_via, child_label = name, name, via, None
            child = Input(target, name, item.root)
            read = self.reader(target, name)
        else:
            module_name = statement.module.text
            path = shipped_dir("stdlib") / f"{module_name}{SUFFIX}"
            if module_name.startswith(".") or _path_kind(path) != "other":
                available = sorted(p.stem for p in shipped_dir("stdlib").glob(f"*{SUFFIX}"))
                import difflib

                close = difflib.get_close_matches(module_name, available, n=1)
                hint = f"did you mean `{close[0]}`? " if close else ""
                self.diagnostics.append(
                    Diagnostic(
                        "NP201",
                        statement.module.span,
                        f"no stdlib module `{_shortened(module_name)}`",
                        hint + "available: " + ", ".join(available) + '; a file of the project is used with quotes: use "file.netpol"',
                    )
                )
                return
            # A stdlib statement is reported at the user's `use` line.
            key, label, child_via, child_label = f"stdlib/{module_name}{SUFFIX}", module_name, outer_via, module_name
            child = Input(path, key, path.parent)

            def read(path=path, key=key):
                return decode_source(key, read_bounded(path, key), None)

        if key in stack:
            cycle = " -> ".join(list(stack[stack.index(key):]) + [key])
            self.diagnostics.append(Diagnostic("NP204", statement.span, f"import cycle: {cycle}", "remove one of the `use` lines in the cycle"))
            return
        first = self.used.get((namespace, key))
        if first is not None:
            self.diagnostics.append(
                Diagnostic(
                    "NP205",
                    statement.span,
                    f"`{label}` is already used in namespace {namespace}",
                    "remove this line; a module applies once per namespace",
                    related=((first, "first used here"),),
                )
            )
            return
        self.used[(namespace, key)] = statement.span
        module = self.loader.load(key, read, at=statement.module.span)
        if module is not None:
            self.walk(module, child, namespace, child_via, stack + (key,), child_label)


def _path_kind(path: Path) -> str:
    """"other" (a file, or anything else that is not a folder: refused when read), "folder", "missing", or why it cannot be looked up."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "missing"
    except OSError as err:  # a name too long for the file system, a loop of links, no permission
        return (err.strerror or str(err)).lower()
    import stat

    return "folder" if stat.S_ISDIR(st.st_mode) else "other"


def _shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."

