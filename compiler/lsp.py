"""Language server (pygls, stdio): diagnostics as you type, completion, hover with the compiled manifests, go-to-definition, formatting."""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__, nodes
from .diagnostics import Diagnostic
from .fmt import split_comment
from .incremental import Cache
from .paths import resolved, shipped_dir
from .resolve import NAMES_BASE, SUFFIX, Input, InputError, display_name, expand_inputs, project_root
from .source import MAX_SOURCE_BYTES, SourceFile, Span

DEBOUNCE_SECONDS = 0.3  # the wait after a keystroke before a build starts, while builds are slow
# While builds with a warm cache (incremental.Cache) take less than DEBOUNCE_SECONDS, a keystroke
# waits only this long: waiting for more keystrokes would delay the diagnostics more than a wasted
# build costs (an edit during a build is followed by one more build, never by a queue of them).
QUICK_DEBOUNCE_SECONDS = 0.02
# Completion parses the lines typed since the last build one by one (a half-typed file does
# not parse whole); at most this many, nearest the cursor, so it stays fast in a big buffer.
COMPLETION_LINES = 200
SEVERITIES = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}
# Statement keywords that start a phrase: offer the phrase, not the lone word.
PHRASES = {"EGRESS": "egress only to", "INGRESS": "ingress only from"}
SCOPES = {"IN_NAMESPACE": "in namespace", "IN_NAMESPACES": "in namespaces", "IN_ANY_NAMESPACE": "in any namespace"}
PARTIAL_WORD = re.compile(r'[A-Za-z0-9_.\-/"]*$')
USE_LINE = re.compile(r'^\s*use\s+(?:"(?P<path>[^"\n]*)"|(?P<module>[A-Za-z0-9_.\-]+))')
KEY_BEFORE_VALUE = re.compile(r"([A-Za-z0-9_.\-/]+)\s*(?:=|==|!=|\s(?:in|notin)\s*\([^)]*)\s*$")

LEAVES = (Span, nodes.Word)

log = logging.getLogger(__name__)


class RequestFailed(JsonRpcException):
    """LSP's error for a well-formed request the server cannot answer."""

    CODE = -32803
    MESSAGE = "Request Failed"


class Worker:
    """One daemon thread running jobs in order, each result handed back to the event loop as a future.

    A daemon thread, not a ThreadPoolExecutor: `exit` must not wait for a compile to finish.
    """

    def __init__(self, name: str):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, function, *args) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.jobs.put((loop, future, function, args))
        return future

    def _run(self) -> None:
        while True:
            loop, future, function, args = self.jobs.get()
            try:
                outcome = (future.set_result, function(*args))
            except Exception as err:
                outcome = (future.set_exception, err)
            try:
                loop.call_soon_threadsafe(_settle, future, *outcome)
            except RuntimeError:  # the loop is closed: the server is exiting
                return


def _settle(future: asyncio.Future, setter, value) -> None:
    if not future.done():
        setter(value)


@dataclass
class Document:
    """An open buffer as it was when a build started (the worker never reads the live workspace)."""

    uri: str
    version: int | None
    text: str


@dataclass
class Build:
    """What one compile of a project gives the requests: diagnostics ready to publish, and indexes for hover and completion."""

    generation: int
    result: object  # pipeline.Result
    names: dict[str, str]  # display name -> URI
    versions: dict[str, int | None]  # URI -> version compiled, for the open buffers
    diagnostics: dict[str, list[types.Diagnostic]] = field(default_factory=dict)  # URI -> diagnostics
    _emitted: dict[tuple[str, int], list] | None = None  # (file, line) -> emitted manifests, made by the first hover
    labels: dict[str, set[str]] = field(default_factory=dict)  # label key -> values, all files
    namespaces: set[str] = field(default_factory=set)
    parsed_lines: dict[str, set[str]] = field(default_factory=dict)  # URI -> lines of a buffer that parsed whole
    _lines: dict[str, list[str]] = field(default_factory=dict)

    @property
    def emitted(self) -> dict[tuple[str, int], list]:
        """The manifests of each line: indexed when a hover first asks (not on the way to publishing the diagnostics of a keystroke)."""
        if self._emitted is None:
            index: dict[tuple[str, int], list] = {}
            for e in self.result.emitted:
                # A NetworkPolicy comes from one line; a cluster object from its section's line and each rule's line.
                origins = e.origins + ((e.section.origin,) if hasattr(e, "section") else ())  # DNS-name objects: their line
                for span in dict.fromkeys(origin.user_span for origin in origins):
                    index.setdefault((span.file, span.line), []).append(e)
            self._emitted = index
        return self._emitted

    def lines(self, name: str) -> list[str]:
        if name not in self._lines:
            files = self.result.resolved.files if self.result.resolved else {}
            source = files.get(name)
            self._lines[name] = source.text.split("\n") if source else []
        return self._lines[name]


@dataclass
class Project:
    """One project folder: its builds and what was published for it."""

    root: Path
    generation: int = 0  # bumped by every edit, open, close and save
    build: Build | None = None  # the last finished build
    published: dict = field(default_factory=dict)  # URI -> (version, diagnostics) last sent for it
    timer: asyncio.TimerHandle | None = None  # the debounced start of the next build
    running: asyncio.Future | None = None  # the build in the worker
    rerun: bool = False  # an edit came while a build was running
    cache: Cache = field(default_factory=Cache)  # what unchanged files and namespaces gave the last build (used by the worker only)
    debounce: float = QUICK_DEBOUNCE_SECONDS  # how long the next edit waits before its build starts
    names: dict = field(default_factory=dict)  # display name -> (module, label keys -> values, namespaces) of the last build


class NetpolServer(LanguageServer):
    def __init__(self):
        super().__init__("netpolc", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.projects: dict[Path, Project] = {}
        self.shut_down = False
        self._builder: Worker | None = None
        self._formatter: Worker | None = None

    @property
    def builder(self) -> Worker:
        """Compiles, one at a time, off the event loop: requests are answered while a big project compiles."""
        if self._builder is None:
            self._builder = Worker("netpolc-build")
        return self._builder

    @property
    def formatter(self) -> Worker:
        if self._formatter is None:
            self._formatter = Worker("netpolc-format")
        return self._formatter

    # ------------------------------------------------------------ projects

    def project_for(self, uri: str) -> Project:
        """The workspace folder holding the file (innermost), else the file's own folder."""
        path = resolved(fs_path(uri))
        folders = [resolved(folder) for folder in map(fs_path, (f.uri for f in self.workspace.folders.values())) if folder]
        if self.workspace.root_path and "\0" not in self.workspace.root_path:
            folders.append(resolved(Path(self.workspace.root_path)))
        containing = [folder for folder in folders if path.is_relative_to(folder)]
        root = max(containing, key=lambda f: len(f.parts)) if containing else path.parent
        return self.projects.setdefault(root, Project(root))

    def open_documents(self, project: Project):
        for document in list(self.workspace.text_documents.values()):
            if is_netpol(document.uri) and resolved(fs_path(document.uri)).is_relative_to(project.root):
                yield document

    def is_open(self, uri: str) -> bool:
        return unquote(uri) in self.workspace.text_documents

    # ------------------------------------------------------------ builds

    def schedule(self, uri: str, delay: float | None = None) -> None:
        """Rebuild the project `delay` seconds after the last edit (by default the project's debounce): typing does not compile every keystroke."""
        project = self.project_for(uri)
        if delay is None:
            delay = project.debounce
        project.generation += 1  # whatever is compiling now is stale
        if project.timer is not None:
            project.timer.cancel()
        project.timer = asyncio.get_running_loop().call_later(delay, self.start_build, project)

    def start_build(self, project: Project) -> None:
        project.timer = None
        if self.shut_down:
            return
        if project.running is not None:
            project.rerun = True  # one more build when this one ends, of the text as it is then
            return
        documents = [Document(d.uri, d.version, d.source) for d in self.open_documents(project)]
        project.running = self.builder.submit(self.compile, project, documents, project.generation)
        project.running.add_done_callback(lambda future: self.finish_build(project, future))

    def finish_build(self, project: Project, future: asyncio.Future) -> None:
        project.running = None
        try:
            build = future.result()
        except Exception as err:  # a bug must not take the editor's server down
            log.error("building %s failed: %s: %s", project.root, type(err).__name__, err)
            self.window_log_message(types.LogMessageParams(types.MessageType.Error, f"netpolc: internal error: {err!r}"))
        else:
            old, project.build = project.build, build
            if old is not None:
                self.builder.submit(_release, old)  # before the next build starts
            # A newer edit supersedes this build: its diagnostics would be older than the text.
            if build.generation == project.generation and not self.shut_down:
                self.publish(project, build)
        if project.rerun:
            project.rerun = False
            self.start_build(project)

    def compile(self, project: Project, documents: list[Document], generation: int) -> Build:
        """In the worker: compile the project with the buffers in place of their files, then everything requests need."""
        import gc

        # A collection holds the GIL while it scans every object: after a big build (millions of
        # objects) one would stall every request for seconds. A build makes no reference cycles,
        # so the collector stays off while it runs and its objects are then frozen out of sight
        # (they are still freed, by reference counting, when the next build replaces them).
        enabled = gc.isenabled()
        gc.disable()
        try:
            warm = bool(project.cache.parsed)
            start = time.perf_counter()
            build = self._compile(project, documents, generation)
            if warm:  # the first build of a project parses everything: it says nothing of the next ones
                project.debounce = QUICK_DEBOUNCE_SECONDS if time.perf_counter() - start < DEBOUNCE_SECONDS else DEBOUNCE_SECONDS
            gc.freeze()
            return build
        finally:
            if enabled:
                gc.enable()

    def _compile(self, project: Project, documents: list[Document], generation: int) -> Build:
        # Files are named relative to the workspace folder (hover's netpolc.io/source, diagnostics),
        # whatever folder the editor started the server in.
        token = NAMES_BASE.set(project.root)
        try:
            return self._compile_named(project, documents, generation)
        finally:
            NAMES_BASE.reset(token)

    def _compile_named(self, project: Project, documents: list[Document], generation: int) -> Build:
        from .pipeline import build

        root = project.root
        try:
            inputs = expand_inputs([str(root)])
        except InputError:  # no .netpol file saved yet: the open buffers are the project
            inputs = []
        names = {item.name: from_fs_path(str(resolved(item.path))) for item in inputs}
        overrides = {}
        for document in documents:
            path = fs_path(document.uri)
            name = display_name(path)
            overrides[name] = document.text  # over the size limit: NP103 from the pipeline, as `check` says
            names[name] = document.uri
            if not any(item.name == name for item in inputs):
                inputs.append(Input(path, name, project_root(root)))  # the project `use` may not leave, as on the command line
        from .fqdn import config_targets

        # DNS names are compiled for the config's CNIs, as the command line does
        result = build(inputs, overrides=overrides, prove=False, cache=project.cache, fqdn_targets=config_targets(root))
        done = Build(generation, result, names, {d.uri: d.version for d in documents})
        for d in result.diagnostics:
            uri = names.get(d.span.file)
            if uri is not None:
                done.diagnostics.setdefault(uri, []).append(self.to_lsp(d, done))
        modules = result.resolved.modules if result.resolved else {}
        collected = {}
        for name, module in modules.items():
            known = project.names.get(name)
            if known is None or known[0] is not module:  # an unchanged file keeps its parsed module (incremental.Cache)
                known = (module, {}, set())
                _collect_names(module, known[1], known[2])
            collected[name] = known
            for key, values in known[1].items():
                done.labels.setdefault(key, set()).update(values)
            done.namespaces |= known[2]
        project.names = collected
        for document in documents:
            if modules.get(display_name(fs_path(document.uri))) is not None:
                done.parsed_lines[document.uri] = set(document.text.split("\n"))
        return done

    # ------------------------------------------------------------ diagnostics

    def publish(self, project: Project, build: Build) -> None:
        # A document whose diagnostics and version are what it was last sent needs nothing (a keystroke in one of
        # 100 open files sends one or a few, not 100); an empty list clears what was shown before.
        for uri in sorted(set(build.diagnostics) | set(project.published) | set(build.versions)):
            sent = (build.versions.get(uri), build.diagnostics.get(uri, []))
            if project.published.get(uri) == sent:
                continue
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=sent[1], version=sent[0]))
            if sent[1] or sent[0] is not None:
                project.published[uri] = sent
            else:  # cleared, and not open: nothing to remember
                project.published.pop(uri, None)

    def to_lsp(self, d: Diagnostic, build: Build) -> types.Diagnostic:
        lines = build.lines(d.span.file)
        start = self.position(lines, d.span.line, d.span.column)
        end = self.position(lines, d.span.end_line, d.span.end_column) if d.span.end_line >= d.span.line else start
        related = []
        for span, note in d.related:
            uri = build.names.get(span.file)
            if uri is not None:
                where = self.position(build.lines(span.file), span.line, span.column)
                related.append(types.DiagnosticRelatedInformation(types.Location(uri, types.Range(where, where)), note))
        return types.Diagnostic(
            range=types.Range(start, end),
            message=d.message + (f"\nhelp: {d.hint}" if d.hint else ""),
            severity=SEVERITIES.get(d.severity, types.DiagnosticSeverity.Information),
            code=d.code,
            source="netpolc",
            related_information=related or None,
        )

    def position(self, lines: list[str], line: int, column: int) -> types.Position:
        """1-based line, 1-based column in characters -> LSP position in the client's units (UTF-16 by default)."""
        server = types.Position(max(0, line - 1), max(0, column - 1))
        if server.line >= len(lines):
            return server
        return self.workspace.position_codec.position_to_client_units(lines, server)

    # ------------------------------------------------------------ client mistakes

    def check_message(self, message) -> None:
        """Raise the JSON-RPC error for a well-typed message that cannot be handled: after shutdown, a document that is not open, a position past its end."""
        method = getattr(message, "method", None)
        if self.shut_down and method != types.EXIT:
            raise JsonRpcInvalidRequest("the server is shut down: only exit is accepted")
        if method not in DOCUMENT_METHODS:
            return
        params = message.params
        uri = params.text_document.uri
        if not self.is_open(uri):
            raise JsonRpcInvalidParams(f"{uri} is not open (textDocument/didOpen first)")
        position = getattr(params, "position", None)
        if position is not None:
            lines = self.workspace.get_text_document(uri).source.count("\n") + 1
            if position.line >= lines:
                raise JsonRpcInvalidParams(f"line {position.line} is past the end of {uri} (it has {lines} lines, counted from 0)")

    # ------------------------------------------------------------ requests

    def line_at(self, uri: str, position: types.Position) -> tuple[str, int]:
        """The text of the line and the cursor's column in characters (past the end of the line: its end, as LSP says)."""
        lines = self.workspace.get_text_document(uri).source.split("\n")
        if position.line >= len(lines):
            return "", 0
        server = self.workspace.position_codec.position_from_client_units(lines, types.Position(position.line, position.character))
        return lines[position.line], min(server.character, len(lines[position.line]))

    def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        project = self.project_for(uri)
        build = project.build
        if build is None or build.generation != project.generation:
            # Never wait for a compile (a big one takes seconds) nor answer from an older text.
            text = "netpolc is compiling the project: hover again once its diagnostics are updated."
            return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))
        result = build.result
        name = display_name(fs_path(uri), project.root)
        line = position.line + 1
        statement = self.statement_at(result, name, line)
        if statement is None:
            return None
        emitted = build.emitted.get((name, line), [])
        if emitted:
            from .output import to_yaml

            kinds = sorted({e.kind for e in emitted})
            count = f"{len(emitted)} {' and '.join(kinds)} manifest{'s' * (len(emitted) != 1)}"
            text = f"**{count}** from this line:\n\n```yaml\n{to_yaml([e.manifest() for e in emitted])}```"
        elif not result.ok:
            errors = sum(d.is_error for d in result.diagnostics)
            text = f"No manifests while the project has {errors} error{'s' * (errors != 1)}: fix them to see what this line compiles to."
        elif isinstance(statement, (nodes.ExpectStmt, nodes.NamespaceStmt, nodes.ClusterStmt)):
            return None
        else:
            text = "No manifest of its own: what this line asks for is already written by an earlier line, or needs no policy."
        lines = build.lines(name)
        span = statement.span
        where = types.Range(self.position(lines, span.line, span.column), self.position(lines, span.end_line, span.end_column))
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text), where)

    @staticmethod
    def statement_at(result, name: str, line: int):
        module = result.resolved.modules.get(name) if result.resolved else None
        statements = module.statements if module else ()
        # Statements are in line order: bisect rather than scan a big file.
        low, high = 0, len(statements)
        while low < high:
            middle = (low + high) // 2
            if statements[middle].span.line < line:
                low = middle + 1
            else:
                high = middle
        return statements[low] if low < len(statements) and statements[low].span.line == line else None

    def definition(self, uri: str, position: types.Position) -> list[types.Location]:
        text, _ = self.line_at(uri, position)
        code, _ = split_comment(text)
        match = USE_LINE.match(code)
        if match is None:
            return []
        if match["path"] is not None:
            target = fs_path(uri).parent / match["path"]
        else:
            target = shipped_dir("stdlib") / f"{match['module']}{SUFFIX}"
        if not target.is_file():
            return []
        start = types.Position(0, 0)
        return [types.Location(from_fs_path(str(resolved(target))), types.Range(start, start))]

    def completion(self, uri: str, position: types.Position) -> list[types.CompletionItem]:
        text, column = self.line_at(uri, position)
        prefix = text[:column]
        if split_comment(prefix)[1]:
            return []  # inside a comment
        partial = PARTIAL_WORD.search(prefix).group(0)
        before = prefix[: len(prefix) - len(partial)]
        expected = self.expected(before)
        if expected is None:
            # `in` and `in any` start the scopes `in namespace ...`: complete the phrase.
            words = re.search(r"(\bin\s+(?:any\s+)?)$", before)
            if words is None:
                return []
            before, partial = before[: words.start()], words.group(1) + partial
            expected = self.expected(before) or set()
            expected &= set(SCOPES)
        start = types.Position(position.line, column - len(partial))
        lines = self.workspace.get_text_document(uri).source.split("\n")
        replace = types.Range(self.workspace.position_codec.position_to_client_units(lines, start), position)
        typed = re.sub(r"\s+", " ", partial)
        items = []
        known = functools.cache(lambda: self.known_names(uri, position.line))  # only some positions need them
        for label, kind, detail in self.candidates(expected, uri, before, known):
            if label.startswith(typed):
                items.append(
                    types.CompletionItem(label, kind=kind, detail=detail, text_edit=types.TextEdit(replace, label), sort_text=f"{int(kind):02d}{label}")
                )
        return items

    @staticmethod
    def expected(before: str) -> set[str] | None:
        """The terminals the grammar accepts after `before` (one line), or None if it does not parse so far."""
        from lark.exceptions import LarkError

        from .parser import lalr_parser

        parser = lalr_parser()
        try:
            interactive = parser.parse_interactive(before)
            interactive.exhaust_lexer()
            return set(interactive.accepts())
        except LarkError:
            return None

    def candidates(self, expected: set[str], uri: str, before: str, known):
        from .parser import lalr_parser

        parser = lalr_parser()
        keyword, field_, value, module, file = (
            types.CompletionItemKind.Keyword, types.CompletionItemKind.Field, types.CompletionItemKind.Value,
            types.CompletionItemKind.Module, types.CompletionItemKind.File,
        )
        at_statement_start = "ALLOW" in expected
        for terminal in sorted(expected):
            if terminal in SCOPES:
                yield SCOPES[terminal], keyword, "namespace scope"
            elif at_statement_start and terminal in PHRASES:
                yield PHRASES[terminal], keyword, "statement"
            elif terminal == "MODULE":
                for path in sorted(shipped_dir("stdlib").glob(f"*{SUFFIX}")):
                    yield path.stem, module, _first_comment(path)
            elif terminal == "STRING":
                for name in self.project_files(uri):
                    yield f'"{name}"', file, "project file"
            elif terminal == "KEY":
                for key in sorted(known()[0]):
                    yield key, field_, "label key used in the project"
            elif terminal == "VALUE":
                match = KEY_BEFORE_VALUE.search(before)
                for label in sorted(known()[0].get(match.group(1), ()) if match else ()):
                    yield label, value, "label value used in the project"
            elif terminal == "NAME":
                for name in sorted(known()[1]):
                    yield name, value, "namespace of the project"
            else:
                try:
                    pattern = parser.get_terminal(terminal).pattern
                except KeyError:
                    continue
                if pattern.type == "str" and pattern.value.isalpha():  # words, not punctuation
                    yield pattern.value, keyword, "statement" if at_statement_start else "keyword"

    def known_names(self, uri: str, cursor_line: int) -> tuple[dict[str, set[str]], set[str]]:
        """Label key -> values and namespaces written in the project: the last build's, and the buffer's lines typed since."""
        build = self.project_for(uri).build
        labels = {key: set(values) for key, values in build.labels.items()} if build else {}
        namespaces = set(build.namespaces) if build else set()
        parsed = build.parsed_lines.get(uri, set()) if build else set()
        # Line by line, since a buffer being typed is often half-written and does not parse whole.
        lines = self.workspace.get_text_document(uri).source.split("\n")
        typed = [number for number, text in enumerate(lines) if text.strip() and text not in parsed]
        typed.sort(key=lambda number: abs(number - cursor_line))
        from .pipeline import parse_file

        name = display_name(fs_path(uri))
        for number in typed[:COMPLETION_LINES]:
            module, _ = parse_file(SourceFile(name, lines[number]))
            _collect_names(module, labels, namespaces)
        return labels, namespaces

    def project_files(self, uri: str) -> list[str]:
        here = resolved(fs_path(uri))
        try:
            files = [resolved(item.path) for item in expand_inputs([str(self.project_for(uri).root)])]
        except InputError:
            return []
        import os

        return sorted(Path(os.path.relpath(path, here.parent)).as_posix() for path in files if path != here)

    async def formatting(self, uri: str) -> list[types.TextEdit] | None:
        """Formats in a worker thread: requests are still answered while a big buffer is formatted."""
        from .fmt import format_source

        document = self.workspace.get_text_document(uri)
        text, version = document.source, document.version
        size = len(text.encode("utf-8"))
        if size > MAX_SOURCE_BYTES:
            raise RequestFailed(f"too large to format: {size:,} bytes, more than the {MAX_SOURCE_BYTES:,} bytes a .netpol file may have ({uri})")
        formatted, _ = await self.formatter.submit(format_source, SourceFile(display_name(fs_path(uri)), text))
        if not self.is_open(uri) or self.workspace.get_text_document(uri).version != version:
            raise JsonRpcContentModified(f"{uri} changed while it was being formatted")
        if formatted is None or formatted == text:
            return None if formatted is None else []
        lines = text.split("\n")
        end = self.workspace.position_codec.position_to_client_units(lines, types.Position(len(lines) - 1, len(lines[-1])))
        return [types.TextEdit(types.Range(types.Position(0, 0), end), formatted)]


def _release(build: Build) -> None:
    """Free an old build piece by piece, in the worker.

    Freed at once, a big build's millions of objects are one chain of deallocations that holds
    the GIL throughout (over a second for a 1.5 MB buffer): every request would wait. Held in one
    list and dropped one element at a time, each step frees little and the GIL changes hands.
    """
    result, pieces = build.result, []
    if build._emitted is not None:
        build._emitted.clear()
    build.diagnostics.clear()
    program, resolved = getattr(result, "program", None), getattr(result, "resolved", None)
    for sequence in (result.emitted, getattr(program, "intents", []), getattr(program, "expects", []),
                     getattr(resolved, "statements", []), result.diagnostics):
        pieces.extend(sequence)
        sequence.clear()
    if resolved is not None:
        for module in resolved.modules.values():
            pieces.extend(module.statements if module else ())
        resolved.modules.clear()
    while pieces:
        pieces.pop()


def _collect_names(module, labels: dict[str, set[str]], namespaces: set[str]) -> None:
    """Add the label keys and values, and the namespaces, written in a syntax tree (NamedTuples and tuples of them)."""
    stack = list(module.statements) if module is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.Requirement):
            labels.setdefault(node.key.text, set()).update(value.text for value in node.values)
            continue
        if isinstance(node, nodes.NamespaceStmt) or (isinstance(node, nodes.NamespaceScope) and node.name):
            namespaces.add(node.name.text)
        # Words and spans are leaves: not descending into them keeps a big file's walk short.
        stack.extend(child for child in node if isinstance(child, tuple) and not isinstance(child, LEAVES))


def _first_comment(path: Path) -> str:
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return "stdlib module"


def fs_path(uri: str) -> Path | None:
    """The file a URI names, or None (not a file URI, or one no file can have: a NUL byte in it)."""
    path = to_fs_path(uri)
    return Path(path) if path and "\0" not in path else None


def is_netpol(uri: str) -> bool:
    """A generic client may send every plain-text file: answer for .netpol files only."""
    path = fs_path(uri)
    return path is not None and path.name.endswith(SUFFIX)


server = NetpolServer()


# Document notifications are handled synchronously, in order with the requests that follow them:
# a hover right after an edit must see that edit's build as pending.
@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: NetpolServer, params: types.DidOpenTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.schedule(params.text_document.uri, delay=0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: NetpolServer, params: types.DidChangeTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: NetpolServer, params: types.DidSaveTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.schedule(params.text_document.uri, delay=0)  # files on disk changed


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: NetpolServer, params: types.DidCloseTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.schedule(params.text_document.uri, delay=0)  # the file on disk stands in for the closed buffer again


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: NetpolServer, params: types.HoverParams):
    return ls.hover(params.text_document.uri, params.position) if is_netpol(params.text_document.uri) else None


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: NetpolServer, params: types.DefinitionParams):
    return ls.definition(params.text_document.uri, params.position) if is_netpol(params.text_document.uri) else []


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" ", ",", "=", "("]))
def completion(ls: NetpolServer, params: types.CompletionParams):
    uri = params.text_document.uri
    return types.CompletionList(is_incomplete=False, items=ls.completion(uri, params.position) if is_netpol(uri) else [])


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
async def formatting(ls: NetpolServer, params: types.DocumentFormattingParams):
    return await ls.formatting(params.text_document.uri) if is_netpol(params.text_document.uri) else None


@server.feature(types.SHUTDOWN)
def shutdown(ls: NetpolServer, params: None):
    ls.shut_down = True  # no more builds, nothing more published


# Requests and notifications about one document: it must be open (and a position inside it).
DOCUMENT_METHODS = {
    types.TEXT_DOCUMENT_HOVER, types.TEXT_DOCUMENT_DEFINITION, types.TEXT_DOCUMENT_COMPLETION,
    types.TEXT_DOCUMENT_FORMATTING, types.TEXT_DOCUMENT_DID_CHANGE, types.TEXT_DOCUMENT_DID_CLOSE,
}


def serve() -> int:
    """Serve on standard input and output until `exit` (0 after `shutdown`, 1 without) or the end of input."""
    from pygls.io_ import StdoutWriter

    from .lsp_stream import Dispatcher, OneLineFormatter, serve_stdio

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    server.protocol.set_writer(StdoutWriter(stdout))
    try:
        asyncio.run(serve_stdio(Dispatcher(server, server.check_message), stdin.fileno()))
    except SystemExit as done:  # pygls ends the loop this way on `exit`
        return done.code if isinstance(done.code, int) else 1
    except BrokenPipeError:
        log.error("the client closed the connection")
        return 1
    return 0 if server.shut_down else 1
