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


def assert_one_line_each(stderr: str, expected: list[str]) -> None:
    """stderr holds exactly one line per expected mistake, in order, and no traceback."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == len(expected), stderr
    for line, part in zip(lines, expected):
        assert line.startswith("netpolc lsp: ") and part in line, (line, part)


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


def test_the_server_reads_on_after_every_kind_of_bad_frame(tmp_path):
    (tmp_path / "lib.netpol").write_text("deny all\n")
    with Wire(tmp_path) as wire:
        uri = wire.open("shop.netpol", 'namespace shop\nuse "lib.netpol"\n')
        where_use = where(uri, 1, 6)
        streams = dict(BAD_FRAMES)
        # A length within the limit but longer than the body: read on once the client is seen to wait.
        streams["length longer than the body"] = (b"Content-Length: 5000\r\n\r\n" + BODY, "body shorter than its Content-Length of 5000 bytes")
        # A real frame over the limit (a didOpen of a 13 MB file): skipped without being kept.
        text = "# " + "x" * (MAX_FRAME_BYTES + 10) + "\n"
        streams["frame over the limit"] = (frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
            "textDocument": {"uri": wire.uri("huge.netpol"), "languageId": "netpol", "version": 1, "text": text}}}), "over the limit")
        for kind, (bad, _) in streams.items():
            wire.send_raw(bad)
            answer = wire.call("textDocument/definition", where_use)
            assert [location["uri"] for location in answer["result"]] == [wire.uri("lib.netpol")], kind
        # The dropped didOpen never opened the file.
        assert "is not open" in wire.call("textDocument/hover", where(wire.uri("huge.netpol"), 0, 0))["error"]["message"]
        assert wire.close() == 0
    assert_one_line_each(wire.stderr, [reason for _, reason in streams.values()] + ["huge.netpol is not open"])


def test_messages_that_are_not_json_rpc_get_an_invalid_request_answer(tmp_path):
    with Wire(tmp_path) as wire:
        for body, answer_id in (
            (b"[]", None),  # a batch: not part of LSP
            (b'"hello"', None),
            (b'{"id": 7, "method": "shutdown"}', 7),  # no "jsonrpc": "2.0"
            (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"}', None),
            (b'{"jsonrpc": "2.0", "id": 8, "method": 42}', 8),
        ):
            wire.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            error = wire.wait_for(lambda m: "error" in m)
            assert (error["id"], error["error"]["code"]) == (answer_id, -32600), body
        wire.send_raw(frame({"jsonrpc": "2.0", "method": 42}))  # a notification: no answer, one line
        assert "result" in wire.call("textDocument/completion", where(wire.open("a.netpol", "namespace a\n"), 1, 0))
        assert wire.close() == 0
    assert_one_line_each(wire.stderr, ["a JSON array (a batch", "a JSON str instead of an object", '"jsonrpc": "2.0"', "neither an integer", "method that is not", "method that is not"])


def test_client_mistakes_get_json_rpc_errors_and_one_line_each(tmp_path):
    with Wire(tmp_path) as wire:
        # A URI no file can have (a NUL byte): left alone, and it must not break the other builds.
        nul = wire.uri("bad.netpol").replace("bad", "b%00ad")
        wire.notify("textDocument/didOpen", {"textDocument": {"uri": nul, "languageId": "netpol", "version": 1, "text": "x"}})
        assert wire.call("textDocument/hover", where(nul, 0, 0))["result"] is None
        uri = wire.open("a.netpol", "namespace a\nallow app=web to app=db:80\n")
        never = wire.uri("never.netpol")
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
        # Notifications for a document that is not open: dropped, one line each, no answer.
        wire.change(never, 2, "namespace b\n")
        wire.notify("textDocument/didClose", {"textDocument": {"uri": never}})
        # LSP: a character past the end of its line means the end of the line.
        items = wire.call("textDocument/completion", where(uri, 0, 500))["result"]["items"]
        assert [item["label"] for item in items] == ["a"]  # after `namespace a`: the namespaces starting with `a`
        assert wire.diagnostics(uri)["diagnostics"] == []
        # LSP: after shutdown, requests get InvalidRequest; exit still ends the server.
        assert wire.call("shutdown")["result"] is None
        assert wire.call("textDocument/hover", where(uri, 0, 0))["error"]["code"] == -32600
        wire.notify("exit", None)
        assert wire.process.wait(15) == 0
    assert_one_line_each(wire.stderr, [message for *_, message in mistakes] + ["never.netpol is not open"] * 2 + ["the server is shut down"])


def test_requests_are_answered_while_a_big_buffer_compiles(tmp_path):
    with Wire(tmp_path) as wire:
        small = wire.open("small.netpol", "namespace  small\n")
        assert wire.diagnostics(small)["diagnostics"] == []
        big = wire.open("big.netpol", program(25, 100))
        hover = wire.request("textDocument/hover", where(big, 3, 2))
        completion = wire.request("textDocument/completion", where(big, 3, 10))
        formatting = wire.request("textDocument/formatting", {"textDocument": {"uri": small}, "options": {"tabSize": 2, "insertSpaces": True}})
        answers = [wire.response(hover), wire.response(completion), wire.response(formatting)]
        published = wire.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == big)
        assert max(wire.index(answer) for answer in answers) < wire.index(published)
        assert "compiling" in answers[0]["result"]["contents"]["value"]  # not an answer from an older text
        assert "svc-0" in [item["label"] for item in answers[1]["result"]["items"]]  # from the buffer's lines
        assert answers[2]["result"][0]["newText"] == "namespace small\n"
        assert published["params"]["diagnostics"] == [] and published["params"]["version"] == 1
        # Once built, hover shows the manifests of the line.
        assert "NetworkPolicy manifest" in wire.call("textDocument/hover", where(big, 3, 2))["result"]["contents"]["value"]
        assert wire.close() == 0
    assert wire.stderr == ""


def test_a_newer_edit_supersedes_the_compile_that_is_running(tmp_path):
    with Wire(tmp_path) as wire:
        uri = wire.open("shop.netpol", program(25, 100, last="allow app=web to app=db:99999"))  # NP306 on its last line
        wire.change(uri, 2, "namespace shop\nallow app=web to app=db:5432\nallow app=web to\n")  # NP100 on line 2
        latest = wire.diagnostics(uri, version=2)
        assert codes(latest) == [("NP100", 2, 16)]
        assert wire.call("shutdown")["result"] is None
        wire.notify("exit", None)
        assert wire.process.wait(15) == 0
    versions = [m["params"]["version"] for m in wire.rest() if m.get("method") == "textDocument/publishDiagnostics"]
    assert versions == [2]  # the diagnostics of version 1 came after version 2 existed: never published


def test_a_buffer_over_the_size_limit_gets_np103_instead_of_a_compile(tmp_path):
    with Wire(tmp_path) as wire:
        uri = wire.open("big.netpol", "namespace big\n" + "# filler\n" * (MAX_SOURCE_BYTES // 9))
        [diagnostic] = wire.diagnostics(uri)["diagnostics"]
        assert (diagnostic["code"], diagnostic["range"]["start"]) == ("NP103", {"line": 0, "character": 0})
        assert f"more than the {MAX_SOURCE_BYTES:,} bytes a .netpol file may have" in diagnostic["message"]
        error = wire.call("textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})["error"]
        assert error["code"] == -32803 and "not formatted" in error["message"]
        # Back under the limit: compiled again.
        wire.change(uri, 2, "namespace big\nallow app=web to\n")
        assert codes(wire.diagnostics(uri, version=2)) == [("NP100", 1, 16)]
        assert wire.close() == 0
