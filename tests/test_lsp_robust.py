"""`netpolc lsp` against hostile and careless clients: bad frames, client mistakes, big buffers, edits during a compile.

The server runs as a subprocess fed raw bytes (tests/lsp_wire.py); FrameReader is also tested on its own.
"""

from __future__ import annotations

import json

import pytest

from compiler.lsp_stream import MAX_FRAME_BYTES, MAX_HEADER_BYTES, FrameReader
from compiler.source import MAX_SOURCE_BYTES
from lsp_wire import Wire, frame

GOOD = {"jsonrpc": "2.0", "id": 1, "method": "shutdown"}
BODY = json.dumps(GOOD).encode()

# Bad frames, each followed in the stream by a good one that must still be read.
BAD_FRAMES = {
    "missing length": (b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + BODY, "header without Content-Length"),
    "negative length": (b"Content-Length: -5\r\n\r\n" + BODY, "Content-Length is not a number of bytes: '-5'"),
    "non-numeric length": (b"Content-Length: twelve\r\n\r\n" + BODY, "Content-Length is not a number of bytes: 'twelve'"),
    "length too small": (b"Content-Length: 10\r\n\r\n" + BODY, "body of 10 bytes is not JSON"),
    "length over the limit": (b"Content-Length: 99999999999\r\n\r\n" + BODY, "frame of 99,999,999,999 bytes, over the limit"),
    "no blank line after the header": (b"Content-Length: %d\r\n" % len(BODY) + BODY, "malformed header line"),
    "garbage": (b"GET / HTTP/1.1\r\n\r\n", "malformed header line"),
    "not JSON": (b"Content-Length: 5\r\n\r\nhello", "is not JSON"),
    "endless header": (b"X-Filler: " + b"x" * (MAX_HEADER_BYTES + 10), "header over 4096 bytes"),
}

NOT_JSON_RPC = [  # body, the id its Invalid Request answer carries, what the log line says
    (b"[]", None, "a JSON array (a batch"),  # LSP has no batches
    (b'"hello"', None, "a JSON string instead of an object"),
    (b'{"id": 7, "method": "shutdown"}', 7, 'no "jsonrpc": "2.0"'),
    (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"}', None, "neither an integer nor a string"),
    (b'{"jsonrpc": "2.0", "id": 8, "method": 42}', 8, "method that is not a string"),
]


def program(namespaces: int, apps: int, last: str = "") -> str:
    """A buffer of real intents: `namespaces` x `apps` allow lines."""
    lines = []
    for n in range(namespaces):
        lines += [f"namespace team-{n:03d}", "use default-deny", "use dns"]
        lines += [f"allow app=svc-{i} to app=svc-{(i * 7 + 3) % apps}:{8000 + i % 50}" for i in range(apps)]
    return "\n".join(lines + [last]) + "\n"


def codes(published: dict) -> list[tuple[str, int, int]]:
    return [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"]) for d in published["diagnostics"]]


def where(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


# ---------------------------------------------------------------- the frame reader on its own


def events(reader: FrameReader, data: bytes, chunk: int | None = None) -> list:
    found = []
    for start in range(0, len(data), chunk or max(1, len(data))):
        found += reader.feed(data[start : start + (chunk or len(data))])
    return found


def test_frames_split_anywhere_are_read_whole():
    stream = frame(GOOD) + b"\r\n" + frame({"jsonrpc": "2.0", "method": "exit"})
    assert events(FrameReader(), stream, chunk=1) == [("message", GOOD), ("message", {"jsonrpc": "2.0", "method": "exit"})]


@pytest.mark.parametrize("kind", BAD_FRAMES)
def test_a_bad_frame_is_reported_once_and_the_next_frame_read(kind):
    bad, reason = BAD_FRAMES[kind]
    for chunk in (None, 7):  # all at once, and in small reads
        found = events(FrameReader(), bad + frame(GOOD), chunk)
        assert [name for name, _ in found] == ["bad", "message"], found
        assert reason in found[0][1] and found[1][1] == GOOD


def test_a_frame_over_the_limit_is_scanned_past_in_bounded_memory():
    reader = FrameReader(limit=1000)
    body = json.dumps({"jsonrpc": "2.0", "method": "x", "params": {"text": "Content-Length: 5 " * 20_000}}).encode()
    found = reader.feed(b"Content-Length: %d\r\n\r\n" % len(body))
    largest = 0
    for start in range(0, len(body), 4096):
        found += reader.feed(body[start : start + 4096])
        largest = max(largest, len(reader.buffer))
    found += reader.feed(frame(GOOD))
    assert found == [("bad", f"frame of {len(body):,} bytes, over the limit of 1,000"), ("message", GOOD)]
    assert largest < MAX_HEADER_BYTES + 2 * 4096  # never the whole body: at most a header being checked and a read


def test_a_body_shorter_than_announced_is_given_up_when_the_client_waits():
    reader = FrameReader()
    assert reader.feed(b"Content-Length: 500\r\n\r\n" + BODY + frame(GOOD)) == []  # could still be coming
    assert reader.waiting_for_body
    assert reader.stalled() == [("bad", "body shorter than its Content-Length of 500 bytes"), ("message", GOOD)]


def test_a_slow_body_that_merely_mentions_a_header_is_kept():
    reader = FrameReader()
    body = json.dumps({"jsonrpc": "2.0", "method": "x", "params": {"text": "Content-Length: 5\r\n\r\n"}}).encode()
    assert reader.feed(b"Content-Length: %d\r\n\r\n" % len(body) + body[:-5]) == []
    assert reader.stalled() == []  # JSON escapes the line ends: not a header
    assert reader.feed(body[-5:]) == [("message", json.loads(body))]


# ---------------------------------------------------------------- the server
#
# One server for all the tests below (its start-up is most of their cost), with no workspace
# folder: each test's files are in its own tmp_path, a project of their own.


@pytest.fixture(scope="module")
def wire(tmp_path_factory):
    wire = Wire(tmp_path_factory.mktemp("lsp"))
    wire.initialize(workspace=False)
    yield wire
    try:
        # LSP: after shutdown, requests get InvalidRequest; exit still ends the server, with 0.
        assert wire.call("shutdown")["result"] is None
        assert wire.call("textDocument/hover", where(wire.uri("a.netpol"), 0, 0))["error"]["code"] == -32600
        wire.notify("exit", None)
        assert wire.process.wait(15) == 0
        assert "Traceback" not in wire.stderr
    finally:
        wire.close()


@pytest.fixture
def log(wire):
    """Checks that the test's client mistakes are each one line on stderr, and nothing else is."""
    checker = StderrLines(wire)
    yield checker
    checker.check()


class StderrLines:
    def __init__(self, wire: Wire):
        self.wire, self.start, self.expected = wire, len(wire.stderr_lines()), []

    def expect(self, *parts: str) -> None:
        self.expected += parts

    def check(self) -> None:
        # A request answered after the mistakes: their lines are written by then.
        self.wire.call("textDocument/hover", where(self.wire.uri("never.netpol"), 0, 0))
        self.expected.append("never.netpol is not open")
        lines = self.wire.stderr_lines(at_least=self.start + len(self.expected))[self.start :]
        assert len(lines) == len(self.expected), "\n".join(lines)
        for line, part in zip(lines, self.expected):
            assert line.startswith("netpolc lsp: ") and part in line, (line, part)


def test_the_server_reads_on_after_every_kind_of_bad_frame(wire, log, tmp_path):
    (tmp_path / "lib.netpol").write_text("deny all\n")
    uri = wire.open(tmp_path / "shop.netpol", 'namespace shop\nuse "lib.netpol"\n')
    where_use = where(uri, 1, 6)
    streams = dict(BAD_FRAMES)
    # A length within the limit but longer than the body: read on once the client is seen to wait.
    streams["length longer than the body"] = (b"Content-Length: 5000\r\n\r\n" + BODY, "body shorter than its Content-Length of 5000 bytes")
    # A real frame over the limit (a didOpen of a 13 MB file): skipped without being kept.
    text = "# " + "x" * (MAX_FRAME_BYTES + 10) + "\n"
    huge = wire.uri(tmp_path / "huge.netpol")
    streams["frame over the limit"] = (frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": huge, "languageId": "netpol", "version": 1, "text": text}}}), "over the limit")
    for kind, (bad, reason) in streams.items():
        wire.send_raw(bad)
        answer = wire.call("textDocument/definition", where_use)
        assert [location["uri"] for location in answer["result"]] == [wire.uri(tmp_path / "lib.netpol")], kind
        log.expect(reason)
    # The dropped didOpen never opened the file.
    assert "is not open" in wire.call("textDocument/hover", where(huge, 0, 0))["error"]["message"]
    log.expect("huge.netpol is not open")


def test_json_that_is_not_json_rpc_gets_an_invalid_request_answer(wire, log):
    for body, answer_id, reason in NOT_JSON_RPC:
        wire.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        error = wire.wait_for(lambda m: "error" in m)
        assert (error["id"], error["error"]["code"]) == (answer_id, -32600), body
        log.expect(reason)
    # A notification and responses nobody asked for: never answered, one line each.
    wire.send_raw(frame({"jsonrpc": "2.0", "method": 42}))
    wire.send_raw(frame({"jsonrpc": "2.0", "id": 99, "result": 1}))
    wire.send_raw(frame({"jsonrpc": "2.0", "id": 98, "error": {"oops": 1}}))
    log.expect("method that is not a string", 'response to unknown message id "99"', "invalid response 98")


def test_client_mistakes_get_json_rpc_errors_and_one_line_each(wire, log, tmp_path):
    # A URI no file can have (a NUL byte): left alone, and it must not break the other builds.
    nul = wire.uri(tmp_path / "bad.netpol").replace("bad", "b%00ad")
    wire.notify("textDocument/didOpen", {"textDocument": {"uri": nul, "languageId": "netpol", "version": 1, "text": "x"}})
    assert wire.call("textDocument/hover", where(nul, 0, 0))["result"] is None
    uri = wire.open(tmp_path / "a.netpol", "namespace a\nallow app=web to app=db:80\n")
    never = wire.uri(tmp_path / "never.netpol")
    mistakes = [
        ("foo/bar", {}, -32601, "foo/bar"),
        ("textDocument/hover", {"textDocument": {"uri": uri}}, -32602, "required field missing @ $.params.position"),
        ("textDocument/hover", where(uri, -1, 0), -32602, "invalid value @ $.params.position"),
        ("textDocument/completion", "not params", -32602, "expected TextDocumentIdentifier @ $.params.text_document"),
        ("textDocument/hover", where(never, 0, 0), -32602, "never.netpol is not open"),
        ("textDocument/completion", where(never, 0, 0), -32602, "never.netpol is not open"),
        ("textDocument/formatting", {"textDocument": {"uri": never}, "options": {"tabSize": 2, "insertSpaces": True}}, -32602, "is not open"),
        ("textDocument/completion", where(uri, 3, 0), -32602, "line 3 is past the end"),
        ("textDocument/definition", where(uri, 50, 0), -32602, "line 50 is past the end"),
    ]
    for method, params, code, message in mistakes:
        error = wire.call(method, params)["error"]
        assert error["code"] == code and message in error["message"], (method, error)
        assert "data" not in error  # no traceback sent to the client either
        log.expect(message)
    # Notifications for a document that is not open: dropped, one line each, no answer.
    wire.change(never, 2, "namespace b\n")
    wire.notify("textDocument/didClose", {"textDocument": {"uri": never}})
    log.expect("never.netpol is not open", "never.netpol is not open")
    # LSP: a character past the end of its line means the end of the line.
    items = wire.call("textDocument/completion", where(uri, 0, 500))["result"]["items"]
    assert [item["label"] for item in items] == ["a"]  # after `namespace a`: the namespaces starting with `a`
    assert wire.diagnostics(uri)["diagnostics"] == []
    # A rebuild: the new build answers hover, whatever freeing the old one does.
    wire.change(uri, 2, "namespace a\nallow app=web to app=db:5432\n")
    assert wire.diagnostics(uri, version=2)["diagnostics"] == []
    assert "port: 5432" in wire.call("textDocument/hover", where(uri, 1, 0))["result"]["contents"]["value"]


def test_requests_are_answered_while_a_big_buffer_compiles(wire, log, tmp_path):
    small = wire.open(tmp_path / "small.netpol", "namespace  small\n")
    assert wire.diagnostics(small)["diagnostics"] == []
    big = wire.open(tmp_path / "big.netpol", program(10, 100))
    hover = wire.request("textDocument/hover", where(big, 3, 2))
    completion = wire.request("textDocument/completion", where(big, 3, 10))
    formatting = wire.request("textDocument/formatting", {"textDocument": {"uri": small}, "options": {"tabSize": 2, "insertSpaces": True}})
    answers = [wire.response(hover), wire.response(completion), wire.response(formatting)]
    published = wire.diagnostics(big)
    assert max(wire.index(answer) for answer in answers) < wire.index(wire.last_taken)
    assert "compiling" in answers[0]["result"]["contents"]["value"]  # not an answer from an older text
    assert "svc-0" in [item["label"] for item in answers[1]["result"]["items"]]  # from the buffer's lines
    assert answers[2]["result"][0]["newText"] == "namespace small\n"
    assert (published["diagnostics"], published["version"]) == ([], 1)
    # Once built, hover shows the manifests of the line.
    assert "NetworkPolicy manifest" in wire.call("textDocument/hover", where(big, 3, 2))["result"]["contents"]["value"]


def test_a_newer_edit_supersedes_the_compile_that_is_running(wire, log, tmp_path):
    uri = wire.open(tmp_path / "shop.netpol", program(10, 100, last="allow app=web to app=db:99999"))  # NP306 on its last line
    wire.change(uri, 2, "namespace shop\nallow app=web to app=db:5432\nallow app=web to\n")  # NP100 on line 2
    latest = wire.diagnostics(uri, version=2)
    assert codes(latest) == [("NP100", 2, 16)]
    # Builds run one at a time, in order: any diagnostics of version 1 would have come before.
    published = [m["params"] for m in wire.seen if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri]
    assert published == [latest]  # version 1's came after version 2 existed: never published


def test_a_buffer_over_the_size_limit_gets_np103_instead_of_a_compile(wire, log, tmp_path):
    uri = wire.open(tmp_path / "big.netpol", "namespace big\n" + "# filler\n" * (MAX_SOURCE_BYTES // 9))
    [diagnostic] = wire.diagnostics(uri)["diagnostics"]
    assert (diagnostic["code"], diagnostic["range"]["start"]) == ("NP103", {"line": 0, "character": 0})
    assert f"more than the {MAX_SOURCE_BYTES:,} bytes a .netpol file may have" in diagnostic["message"]
    error = wire.call("textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})["error"]
    assert error["code"] == -32803 and "too large to format" in error["message"]
    log.expect("too large to format")
    # Back under the limit: compiled again.
    wire.change(uri, 2, "namespace big\nallow app=web to\n")
    assert codes(wire.diagnostics(uri, version=2)) == [("NP100", 1, 16)]
