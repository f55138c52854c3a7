"""A raw LSP client for tests: writes bytes to `netpolc lsp` over stdio and reads back every frame it sends, in order."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from pygls.uris import from_fs_path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 15


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class Wire:
    """The server as a subprocess; `seen` holds every message it sent, in the order it sent them."""

    def __init__(self, root: Path, repo: Path = REPO):
        self.root = root
        env = {**os.environ, "PYTHONPATH": str(repo)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "compiler", "lsp"], cwd=root, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.seen: list[dict] = []
        self.incoming: queue.Queue = queue.Queue()
        self.stderr_chunks: list[bytes] = []
        self.next_id = 0
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=lambda: self.stderr_chunks.extend(iter(lambda: self.process.stderr.read1(65536), b"")), daemon=True).start()

    def _read_frames(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if not line or length is None:
                self.incoming.put(None)
                return
            self.incoming.put(json.loads(stream.read(length)))

    # ------------------------------------------------------------ sending

    def send_raw(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def notify(self, method: str, params) -> None:
        self.send_raw(frame({"jsonrpc": "2.0", "method": method, "params": params}))

    def request(self, method: str, params=None) -> int:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send_raw(frame(message))
        return self.next_id

    def uri(self, name: str) -> str:
        return from_fs_path(str(self.root / name))

    def open(self, name: str, text: str, version: int = 1) -> str:
        uri = self.uri(name)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "netpol", "version": version, "text": text}})
        return uri

    def change(self, uri: str, version: int, text: str) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]})

    # ------------------------------------------------------------ receiving

    def wait_for(self, matches, timeout: float = TIMEOUT) -> dict:
        """The first message not seen before that `matches`; earlier ones stay in `seen`."""
        for message in self.seen:
            if matches(message) and not message.get("_taken"):
                message["_taken"] = True
                self.last_taken = message
                return message
        while True:
            message = self.incoming.get(timeout=timeout)
            assert message is not None, f"the server closed its output; stderr:\n{self.stderr}"
            self.seen.append(message)
            if matches(message):
                message["_taken"] = True
                self.last_taken = message
                return message

    def response(self, request_id: int) -> dict:
        return self.wait_for(lambda m: m.get("id") == request_id and "method" not in m)

    def call(self, method: str, params=None) -> dict:
        return self.response(self.request(method, params))

    def diagnostics(self, uri: str, version: int | None = None) -> dict:
        def published(message):
            params = message.get("params") or {}
            return (
                message.get("method") == "textDocument/publishDiagnostics" and params.get("uri") == uri
                and (version is None or params.get("version") == version)
            )

        return self.wait_for(published)["params"]

    def rest(self) -> list[dict]:
        """Every message still to come, until the server closes its output (after `exit`)."""
        while (message := self.incoming.get(timeout=TIMEOUT)) is not None:
            self.seen.append(message)
        return self.seen

    def index(self, message: dict) -> int:
        return next(i for i, seen in enumerate(self.seen) if seen is message)

    @property
    def stderr(self) -> str:
        return b"".join(self.stderr_chunks).decode("utf-8", "replace")

    def stderr_lines(self, at_least: int = 0, timeout: float = TIMEOUT) -> list[str]:
        """The complete lines on stderr so far, waiting (up to `timeout`) until there are `at_least`."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.stderr.split("\n")[:-1]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.01)

    # ------------------------------------------------------------ lifecycle

    def initialize(self, workspace: bool = True) -> dict:
        """Initialize with `root` as the workspace folder, or with none (each file's folder is then its project)."""
        uri = from_fs_path(str(self.root))
        answer = self.call("initialize", {
            "processId": None, "rootUri": uri if workspace else None, "capabilities": {},
            "workspaceFolders": [{"uri": uri, "name": self.root.name}] if workspace else None,
        })
        self.notify("initialized", {})
        return answer

    def close(self) -> int:
        """Shut down and exit as an editor does; the exit code of the server."""
        try:
            if self.process.poll() is None:
                self.call("shutdown")
                self.notify("exit", None)
            return self.process.wait(TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> "Wire":
        self.initialize()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
