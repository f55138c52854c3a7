"""Language server (pygls, stdio): diagnostics as you type, completion, hover with the compiled manifests, go-to-definition, formatting."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__, nodes
from .diagnostics import Diagnostic
from .fmt import split_comment
from .paths import shipped_dir
from .resolve import SUFFIX, Input, InputError, display_name, expand_inputs
from .source import SourceFile

DEBOUNCE_SECONDS = 0.3
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

log = logging.getLogger(__name__)


@dataclass
class Project:
    """One project folder: its last build and what was published for it."""

    root: Path
    key: tuple = ()
    result: object = None  # pipeline.Result of the last build
    names: dict[str, str] = field(default_factory=dict)  # display name -> URI
    published: set[str] = field(default_factory=set)  # URIs that got diagnostics last time
    pending: asyncio.Task | None = None


class NetpolServer(LanguageServer):
    def __init__(self):
        super().__init__("netpolc", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.projects: dict[Path, Project] = {}

    # ------------------------------------------------------------ projects

    def project_for(self, uri: str) -> Project:
        """The workspace folder holding the file (innermost), else the file's own folder."""
        path = Path(to_fs_path(uri) or uri).resolve()
        folders = [Path(to_fs_path(f.uri)).resolve() for f in self.workspace.folders.values() if to_fs_path(f.uri)]
        if self.workspace.root_path:
            folders.append(Path(self.workspace.root_path).resolve())
        containing = [folder for folder in folders if path.is_relative_to(folder)]
        root = max(containing, key=lambda f: len(f.parts)) if containing else path.parent
        return self.projects.setdefault(root, Project(root))

    def open_documents(self, project: Project):
        for document in list(self.workspace.text_documents.values()):
            path = to_fs_path(document.uri)
            if path and path.endswith(SUFFIX) and Path(path).resolve().is_relative_to(project.root):
                yield document

    def build(self, project: Project):
        """Compile the project with the open buffers in place of their files; reuse the last build when nothing changed."""
        documents = list(self.open_documents(project))
        key = tuple(sorted((d.uri, d.version, len(d.source)) for d in documents))
        if project.result is not None and key == project.key:
            return project.result
        from .pipeline import build

        try:
            inputs = expand_inputs([str(project.root)])
        except InputError:  # no .netpol file saved yet: the open buffers are the project
            inputs = []
        names = {item.name: from_fs_path(str(item.path.resolve())) for item in inputs}
        overrides = {}
        for document in documents:
            path = Path(to_fs_path(document.uri))
            name = display_name(path)
            overrides[name] = document.source
            names[name] = document.uri
            if not any(item.name == name for item in inputs):
                inputs.append(Input(path, name, project.root))
        project.result = build(inputs, overrides=overrides, prove=False)
        project.key, project.names = key, names
        return project.result

    # ------------------------------------------------------------ diagnostics

    def schedule(self, uri: str, delay: float = DEBOUNCE_SECONDS) -> None:
        """Rebuild the project `delay` seconds after the last edit: typing does not compile every keystroke."""
        project = self.project_for(uri)
        if project.pending is not None:
            project.pending.cancel()
        project.pending = asyncio.ensure_future(self._publish_later(project, delay))

    async def _publish_later(self, project: Project, delay: float) -> None:
        await asyncio.sleep(delay)
        project.pending = None
        try:
            self.publish(project)
        except Exception as err:  # a bug must not take the editor's server down
            log.exception("netpolc: building %s failed", project.root)
            self.window_log_message(types.LogMessageParams(types.MessageType.Error, f"netpolc: internal error: {err!r}"))

    def publish(self, project: Project) -> None:
        result = self.build(project)
        by_uri: dict[str, list[types.Diagnostic]] = {}
        for d in result.diagnostics:
            uri = project.names.get(d.span.file)
            if uri is not None:
                by_uri.setdefault(uri, []).append(self.to_lsp(d, project, result))
        versions = {d.uri: d.version for d in self.open_documents(project)}
        # Every open document gets an answer, and an empty list clears what was shown before.
        for uri in sorted(set(by_uri) | project.published | set(versions)):
            params = types.PublishDiagnosticsParams(uri=uri, diagnostics=by_uri.get(uri, []), version=versions.get(uri))
            self.text_document_publish_diagnostics(params)
        project.published = set(by_uri)

    def to_lsp(self, d: Diagnostic, project: Project, result) -> types.Diagnostic:
        lines = self.lines_of(d.span.file, result)
        start = self.position(lines, d.span.line, d.span.column)
        end = self.position(lines, d.span.end_line, d.span.end_column) if d.span.end_line >= d.span.line else start
        related = []
        for span, note in d.related:
            uri = project.names.get(span.file)
            if uri is not None:
                where = self.position(self.lines_of(span.file, result), span.line, span.column)
                related.append(types.DiagnosticRelatedInformation(types.Location(uri, types.Range(where, where)), note))
        return types.Diagnostic(
            range=types.Range(start, end),
            message=d.message + (f"\nhelp: {d.hint}" if d.hint else ""),
            severity=SEVERITIES.get(d.severity, types.DiagnosticSeverity.Information),
            code=d.code,
            source="netpolc",
            related_information=related or None,
        )

    @staticmethod
    def lines_of(name: str, result) -> list[str]:
        files = result.resolved.files if result.resolved else {}
        source = files.get(name)
        return source.text.split("\n") if source else []

    def position(self, lines: list[str], line: int, column: int) -> types.Position:
        """1-based line, 1-based column in characters -> LSP position in the client's units (UTF-16 by default)."""
        server = types.Position(max(0, line - 1), max(0, column - 1))
        if server.line >= len(lines):
            return server
        return self.workspace.position_codec.position_to_client_units(lines, server)

    # ------------------------------------------------------------ requests

    def line_at(self, uri: str, position: types.Position) -> tuple[str, int]:
        """The text of the line and the cursor's column in characters."""
        lines = self.workspace.get_text_document(uri).source.split("\n")
        if position.line >= len(lines):
            return "", 0
        server = self.workspace.position_codec.position_from_client_units(lines, types.Position(position.line, position.character))
        return lines[position.line], server.character

    def hover(self, uri: str, position: types.Position) -> types.Hover | None:
        project = self.project_for(uri)
        result = self.build(project)
        name = display_name(Path(to_fs_path(uri)))
        line = position.line + 1
        statement = self.statement_at(result, name, line)
        if statement is None:
            return None
        emitted = [
            e for e in result.emitted if e.intent.origin.user_span.file == name and e.intent.origin.user_span.line == line
        ]
        if emitted:
            from .output import to_yaml

            count = f"{len(emitted)} NetworkPolicy manifest{'s' * (len(emitted) != 1)}"
            text = f"**{count}** from this line:\n\n```yaml\n{to_yaml([e.manifest() for e in emitted])}```"
        elif not result.ok:
            errors = sum(d.is_error for d in result.diagnostics)
            text = f"No manifests while the project has {errors} error{'s' * (errors != 1)}: fix them to see what this line compiles to."
        elif isinstance(statement, (nodes.ExpectStmt, nodes.NamespaceStmt)):
            return None
        else:
            text = "No manifest of its own: what this line asks for is already written by an earlier line, or needs no policy."
        lines = self.lines_of(name, result)
        span = statement.span
        where = types.Range(self.position(lines, span.line, span.column), self.position(lines, span.end_line, span.end_column))
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text), where)

    @staticmethod
    def statement_at(result, name: str, line: int):
        module = result.resolved.modules.get(name) if result.resolved else None
        for statement in module.statements if module else ():
            if statement.span.line == line:
                return statement
        return None

    def definition(self, uri: str, position: types.Position) -> list[types.Location]:
        text, _ = self.line_at(uri, position)
        code, _ = split_comment(text)
        match = USE_LINE.match(code)
        if match is None:
            return []
        if match["path"] is not None:
            target = Path(to_fs_path(uri)).parent / match["path"]
        else:
            target = shipped_dir("stdlib") / f"{match['module']}{SUFFIX}"
        if not target.is_file():
            return []
        start = types.Position(0, 0)
        return [types.Location(from_fs_path(str(target.resolve())), types.Range(start, start))]

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
        for label, kind, detail in self.candidates(expected, uri, before):
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

    def candidates(self, expected: set[str], uri: str, before: str):
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
                for key in sorted(self.labels(uri)):
                    yield key, field_, "label key used in the project"
            elif terminal == "VALUE":
                match = KEY_BEFORE_VALUE.search(before)
                for label in sorted(self.labels(uri).get(match.group(1), ()) if match else ()):
                    yield label, value, "label value used in the project"
            elif terminal == "NAME":
                for name in self.namespaces(uri):
                    yield name, value, "namespace of the project"
            else:
                try:
                    pattern = parser.get_terminal(terminal).pattern
                except KeyError:
                    continue
                if pattern.type == "str" and pattern.value.isalpha():  # words, not punctuation
                    yield pattern.value, keyword, "statement" if at_statement_start else "keyword"

    def modules(self, uri: str) -> list[nodes.Module]:
        """Parsed files of the project; the edited file line by line, since it is often half-typed."""
        project = self.project_for(uri)
        result = self.build(project)
        modules = list(result.resolved.modules.values()) if result.resolved else []
        from .pipeline import parse_file

        name = display_name(Path(to_fs_path(uri)))
        for line in self.workspace.get_text_document(uri).source.split("\n"):
            module, _ = parse_file(SourceFile(name, line))
            if module is not None:
                modules.append(module)
        return modules

    def labels(self, uri: str) -> dict[str, set[str]]:
        """Label key -> values, from every selector written in the project."""
        found: dict[str, set[str]] = {}
        for module in self.modules(uri):
            for requirement in _walk(module, nodes.Requirement):
                found.setdefault(requirement.key.text, set()).update(v.text for v in requirement.values)
        return found

    def namespaces(self, uri: str) -> list[str]:
        names = set()
        for module in self.modules(uri):
            names.update(statement.name.text for statement in _walk(module, nodes.NamespaceStmt))
            names.update(scope.name.text for scope in _walk(module, nodes.NamespaceScope) if scope.name)
        return sorted(names)

    def project_files(self, uri: str) -> list[str]:
        here = Path(to_fs_path(uri)).resolve()
        try:
            files = [item.path.resolve() for item in expand_inputs([str(self.project_for(uri).root)])]
        except InputError:
            return []
        import os

        return sorted(Path(os.path.relpath(path, here.parent)).as_posix() for path in files if path != here)

    def formatting(self, uri: str) -> list[types.TextEdit] | None:
        from .fmt import format_source

        document = self.workspace.get_text_document(uri)
        formatted, _ = format_source(SourceFile(display_name(Path(to_fs_path(uri))), document.source))
        if formatted is None or formatted == document.source:
            return None if formatted is None else []
        lines = document.source.split("\n")
        end = self.workspace.position_codec.position_to_client_units(lines, types.Position(len(lines) - 1, len(lines[-1])))
        return [types.TextEdit(types.Range(types.Position(0, 0), end), formatted)]


def _walk(node, kind):
    """Every node of a type inside a syntax tree (NamedTuples and tuples of them)."""
    if isinstance(node, kind):
        yield node
    if isinstance(node, tuple):
        for child in node:
            if isinstance(child, tuple):
                yield from _walk(child, kind)


def _first_comment(path: Path) -> str:
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return "stdlib module"


def is_netpol(uri: str) -> bool:
    """A generic client may send every plain-text file: answer for .netpol files only."""
    path = to_fs_path(uri)
    return bool(path) and path.endswith(SUFFIX)


server = NetpolServer()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: NetpolServer, params: types.DidOpenTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.schedule(params.text_document.uri, delay=0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: NetpolServer, params: types.DidChangeTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: NetpolServer, params: types.DidSaveTextDocumentParams):
    if is_netpol(params.text_document.uri):
        ls.project_for(params.text_document.uri).key = ()  # files on disk changed: build afresh
        ls.schedule(params.text_document.uri, delay=0)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: NetpolServer, params: types.DidCloseTextDocumentParams):
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
def formatting(ls: NetpolServer, params: types.DocumentFormattingParams):
    return ls.formatting(params.text_document.uri) if is_netpol(params.text_document.uri) else None


def serve() -> None:
    server.start_io()
