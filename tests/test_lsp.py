"""`netpolc lsp` driven as an editor drives it: a pygls client talking JSON-RPC over stdio to the server subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from conftest import REPO

TIMEOUT = 15


class Editor:
    """An LSP client with the habits of an editor: open, type, and collect what the server publishes."""

    def __init__(self, root: Path):
        self.root = root
        self.client = LanguageClient("netpolc-tests", "1")
        self.published: asyncio.Queue = asyncio.Queue()
        self.versions: dict[str, int] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams):
            self.published.put_nowait(params)

    async def __aenter__(self) -> "Editor":
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        await self.client.start_io(sys.executable, "-m", "compiler", "lsp", cwd=str(self.root), env=env)
        uri = from_fs_path(str(self.root))
        await asyncio.wait_for(
            self.client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(),
                    root_uri=uri,
                    workspace_folders=[types.WorkspaceFolder(uri, self.root.name)],
                )
            ),
            TIMEOUT,
        )
        self.client.initialized(types.InitializedParams())
        return self

    async def __aexit__(self, *exc) -> None:
        await asyncio.wait_for(self.client.shutdown_async(None), TIMEOUT)
        self.client.exit(None)
        await asyncio.wait_for(self.client.stop(), TIMEOUT)

    def uri(self, name: str) -> str:
        return from_fs_path(str(self.root / name))

    def open(self, name: str, text: str) -> str:
        uri = self.uri(name)
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "netpol", 1, text))
        )
        return uri

    def type(self, uri: str, text: str) -> int:
        """Replace the whole buffer (what an editor sends with full sync; the server asks for incremental, which allows it)."""
        self.versions[uri] += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=self.versions[uri], uri=uri),
                [types.TextDocumentContentChangeWholeDocument(text)],
            )
        )
        return self.versions[uri]

    async def diagnostics(self, uri: str) -> types.PublishDiagnosticsParams:
        """The next diagnostics published for `uri` (others are skipped)."""
        while True:
            params = await asyncio.wait_for(self.published.get(), TIMEOUT)
            if params.uri == uri:
                return params

    async def request(self, method: str, uri: str, line: int, character: int):
        where = dict(text_document=types.TextDocumentIdentifier(uri), position=types.Position(line, character))
        call = {
            "hover": lambda: self.client.text_document_hover_async(types.HoverParams(**where)),
            "definition": lambda: self.client.text_document_definition_async(types.DefinitionParams(**where)),
            "completion": lambda: self.client.text_document_completion_async(types.CompletionParams(**where)),
        }[method]
        return await asyncio.wait_for(call(), TIMEOUT)


def run(coroutine):
    return asyncio.run(coroutine)


def labels(completion) -> list[str]:
    items = completion.items if isinstance(completion, types.CompletionList) else completion
    return [item.label for item in items]


def test_diagnostics_as_you_type_then_cleared(tmp_path):
    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("shop.netpol", "namespace shop\nallow app=web to app=db:99999\n")
            params = await editor.diagnostics(uri)
            [d] = params.diagnostics
            assert (d.code, d.severity, d.source) == ("NP306", types.DiagnosticSeverity.Error, "netpolc")
            assert (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character) == (1, 24, 1, 29)
            assert params.version == 1

            # Three quick edits: debounced into one build of the last text.
            editor.type(uri, "namespace shop\nallow app=web to app=db:9999\n")
            editor.type(uri, "namespace shop\nallow app=web to app=db:999\n")
            last = editor.type(uri, "namespace shop\nallow app=web to app=db:5432\n")
            params = await editor.diagnostics(uri)
            assert (params.version, list(params.diagnostics)) == (last, [])
            await asyncio.sleep(0.5)
            assert editor.published.empty()  # nothing for the intermediate versions

    run(scenario())


def test_ranges_are_in_utf16_units_and_other_files_come_from_disk(tmp_path):
    (tmp_path / "other.netpol").write_text("namespace other\nallow app=web to\n")

    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("emoji.netpol", "namespace a\nallow app=web to 😀x\n")
            [d] = (await editor.diagnostics(uri)).diagnostics
            # `😀x` is two characters but three UTF-16 code units, LSP's default unit.
            assert d.code == "NP101"
            assert (d.range.start.character, d.range.end.character) == (17, 20)
            [other] = (await editor.diagnostics(editor.uri("other.netpol"))).diagnostics
            assert (other.code, other.range.start.line) == ("NP100", 1)

    run(scenario())


def test_hover_shows_the_manifests_of_the_line(tmp_path):
    text = "namespace shop\ndeny all\nuse dns\n# web talks to db\nallow app=web to app=db:5432\n"

    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("shop.netpol", text)
            assert list((await editor.diagnostics(uri)).diagnostics) == []
            hover = await editor.request("hover", uri, 4, 3)
            value = hover.contents.value
            assert value.startswith("**2 NetworkPolicy manifests** from this line")
            assert "```yaml" in value and "name: db-allow-from-web-5432" in value and "name: web-allow-to-db-5432" in value
            assert (hover.range.start.line, hover.range.start.character, hover.range.end.character) == (4, 0, 28)
            hover = await editor.request("hover", uri, 2, 1)
            assert "k8s-app: kube-dns" in hover.contents.value  # what `use dns` brings in
            assert await editor.request("hover", uri, 3, 3) is None  # a comment

    run(scenario())


def test_hover_on_a_cluster_rule_shows_its_cluster_objects(tmp_path):
    text = "cluster admin priority 10\ndeny namespaces env=dev to namespaces env=prod\n"

    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("guardrails.netpol", text)
            assert list((await editor.diagnostics(uri)).diagnostics) == []
            value = (await editor.request("hover", uri, 1, 3)).contents.value
            assert value.startswith("**2 ClusterNetworkPolicy manifests** from this line")
            assert "action: Deny" in value and "tier: Admin" in value
            assert "ClusterNetworkPolicy" in (await editor.request("hover", uri, 0, 3)).contents.value  # the section line

    run(scenario())


def test_definition_of_use_lines(tmp_path):
    (tmp_path / "common.netpol").write_text("deny all\n")

    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("shop.netpol", 'namespace shop\nuse dns\nuse "common.netpol"  # shared\n')
            [location] = await editor.request("definition", uri, 1, 5)
            assert location.uri.endswith("/stdlib/dns.netpol")
            assert Path(location.uri.removeprefix("file://")).read_text().startswith("# dns:")
            [location] = await editor.request("definition", uri, 2, 8)
            assert location.uri == editor.uri("common.netpol")
            assert await editor.request("definition", uri, 0, 3) == []

    run(scenario())


def test_completion(tmp_path):
    (tmp_path / "data.netpol").write_text("namespace data\nallow app=api,tier=back in namespace shop to app=db:5432\n")

    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("shop.netpol", "namespace shop\n\nuse \nallow app=\nallow app=web in na\nallow app=web to app=db:80 \n")
            await editor.diagnostics(uri)  # completion offers what the last build found in the other files
            start = labels(await editor.request("completion", uri, 1, 0))
            assert {"allow", "deny", "namespace", "use", "expect", "egress only to", "ingress only from"} <= set(start)
            assert set(labels(await editor.request("completion", uri, 2, 4))) >= {"dns", "default-deny", "monitoring", '"data.netpol"'}
            assert set(labels(await editor.request("completion", uri, 3, 6))) >= {"app", "tier", "any", "cluster", "world", "namespace"}
            assert labels(await editor.request("completion", uri, 3, 8)) == ["app"]
            assert set(labels(await editor.request("completion", uri, 3, 10))) == {"api", "db", "web"}  # web: from a line of this buffer
            scopes = await editor.request("completion", uri, 4, 19)
            assert labels(scopes) == ["in namespace", "in namespaces"]
            edit = scopes.items[0].text_edit
            assert (edit.range.start.character, edit.range.end.character) == (14, 19)  # replaces the typed `in na`
            assert labels(await editor.request("completion", uri, 5, 27)) == []  # a statement is complete here
            # A generic client sends every plain-text file: the server stays out of the others.
            notes = editor.open("notes.txt", "allow \n")
            assert labels(await editor.request("completion", notes, 0, 6)) == []
            assert await editor.request("hover", notes, 0, 1) is None

    run(scenario())


def test_formatting(tmp_path):
    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("shop.netpol", "namespace  shop\nallow tier=x,app=web to any   # hi\n\n\n")
            await editor.diagnostics(uri)
            edits = await asyncio.wait_for(
                editor.client.text_document_formatting_async(
                    types.DocumentFormattingParams(types.TextDocumentIdentifier(uri), types.FormattingOptions(2, True))
                ),
                TIMEOUT,
            )
            [edit] = edits
            assert edit.new_text == "namespace shop\nallow app=web,tier=x to any  # hi\n"
            assert (edit.range.start.line, edit.range.end.line) == (0, 4)

    run(scenario())
