"""The language server's stdio transport: frames read within bounds, resynchronised after a bad one, and messages checked before pygls handles them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading

from pygls.exceptions import JsonRpcException

from .source import MAX_SOURCE_BYTES

# A frame may carry a .netpol file at the size limit even if the client escapes every
# character (`\u0001` is 6 bytes), plus the rest of the message.
MAX_FRAME_BYTES = 6 * MAX_SOURCE_BYTES + 64 * 1024
MAX_HEADER_BYTES = 4096
# A body still incomplete after this long while the next header is already in it was
# announced longer than it is: the client is waiting for an answer, not sending more.
STALL_SECONDS = 1.0
READ_CHUNK = 64 * 1024

HEADER_START = re.compile(rb"content-length:", re.IGNORECASE)
# A whole header line, raw line end included: it cannot occur inside a JSON text (whose
# strings cannot hold a raw line end), so finding one in a body proves the body is too short.
HEADER_LINE_END = re.compile(rb"content-length:[ \t]*[0-9]+[ \t]*\r\n", re.IGNORECASE)
HEADER_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*")
HEADER_END = b"\r\n\r\n"

log = logging.getLogger(__name__)


class FrameReader:
    """Splits a byte stream into JSON values; a bad frame is reported once and skipped up to the next `Content-Length:` header.

    Memory stays bounded: at most one header, or one body of at most `limit` bytes, is held;
    a frame announced over the limit is scanned past, not kept.
    """

    def __init__(self, limit: int = MAX_FRAME_BYTES):
        self.limit = limit
        self.buffer = bytearray()
        self.body_length: int | None = None  # reading a body of this many bytes
        self.skipping = False  # discarding until the next header
        self.resyncing = False  # a bad frame was reported; stay quiet until a good one

    @property
    def waiting_for_body(self) -> bool:
        return self.body_length is not None

    def feed(self, data: bytes) -> list[tuple[str, object]]:
        """Events for the bytes so far: ("message", value) or ("bad", reason)."""
        self.buffer += data
        events: list[tuple[str, object]] = []
        while self._step(events):
            pass
        return events

    def stalled(self) -> list[tuple[str, object]]:
        """No byte came for a while: a body that already holds the next header was announced too long."""
        events: list[tuple[str, object]] = []
        if self.body_length is not None and HEADER_LINE_END.search(self.buffer):
            self._bad(events, f"body shorter than its Content-Length of {self.body_length} bytes", keep_from=0)
            while self._step(events):
                pass
        return events

    def _step(self, events: list) -> bool:
        """Consume one piece of the buffer; False when more bytes are needed."""
        if self.skipping:
            return self._resync(0)
        if self.body_length is not None:
            if len(self.buffer) < self.body_length:
                return False
            body = bytes(self.buffer[: self.body_length])
            try:
                value = json.loads(body)
            except (ValueError, RecursionError) as err:
                self._bad(events, f"body of {self.body_length} bytes is not JSON: {_first_line(err)}", keep_from=0)
                return True
            del self.buffer[: self.body_length]
            self.body_length = None
            self.resyncing = False
            events.append(("message", value))
            return True
        # Stray line ends between frames are harmless.
        while self.buffer[:2] == b"\r\n":
            del self.buffer[:2]
        if not self.buffer:
            return False
        end = self.buffer.find(HEADER_END, 0, MAX_HEADER_BYTES + len(HEADER_END))
        if end < 0:
            if len(self.buffer) >= MAX_HEADER_BYTES + len(HEADER_END):
                self._bad(events, f"header over {MAX_HEADER_BYTES} bytes or without its blank line", keep_from=1)
                return True
            return False
        length, problem = self._content_length(bytes(self.buffer[:end]))
        if problem:
            self._bad(events, problem, keep_from=1)
            return True
        del self.buffer[: end + len(HEADER_END)]
        if length > self.limit:
            self._bad(events, f"frame of {length:,} bytes, over the limit of {self.limit:,}", keep_from=0)
            return True
        self.body_length = length
        return True

    @staticmethod
    def _content_length(header: bytes) -> tuple[int, str | None]:
        lengths = set()
        for line in header.split(b"\r\n"):
            match = HEADER_LINE.fullmatch(line)
            if match is None:
                return 0, f"malformed header line {_shown(line)}"
            if match[1].lower() == b"content-length":
                lengths.add(match[2])
        if not lengths:
            return 0, "header without Content-Length"
        if len(lengths) > 1:
            return 0, "header with several different Content-Length values"
        [value] = lengths
        if not re.fullmatch(rb"[0-9]{1,15}", value):
            return 0, f"Content-Length is not a number of bytes: {_shown(value)}"
        return int(value), None

    def _bad(self, events: list, reason: str, keep_from: int) -> None:
        """Report (once per run of bad frames) and look for the next header from `keep_from` in the buffer."""
        if not self.resyncing:
            events.append(("bad", reason))
        self.resyncing = True
        self.body_length = None
        del self.buffer[:keep_from]
        self.skipping = True

    def _resync(self, start: int) -> bool:
        match = HEADER_START.search(self.buffer, start)
        if match is None:
            # Keep what could be the beginning of a header split across reads.
            keep = len(HEADER_START.pattern) - 1
            del self.buffer[: max(0, len(self.buffer) - keep)]
            return False
        del self.buffer[: match.start()]
        self.skipping = False
        return True


def _first_line(err: Exception) -> str:
    return str(err).split("\n", 1)[0][:120]


def _shown(data: bytes, width: int = 40) -> str:
    text = repr(bytes(data[:width]))[1:]
    return text + ("..." if len(data) > width else "")


# ---------------------------------------------------------------- messages


def rpc_error(code: int, message: str, request_id=None) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


INVALID_REQUEST, INVALID_PARAMS = -32600, -32602
JSON_TYPES = {str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


class Dispatcher:
    """Checks each JSON value is a JSON-RPC message with well-typed params before pygls handles it; answers the mistakes."""

    def __init__(self, server, check_message=None):
        from pygls.protocol import default_converter

        self.protocol = server.protocol
        self.converter = default_converter()
        # The language server's own check of a structured message (e.g. a document that is not open): raises JsonRpcException.
        self.check_message = check_message

    def bad_frame(self, reason: str) -> None:
        log.warning("bad frame dropped: %s; reading on from the next header", reason)

    def send(self, payload: dict) -> None:
        """An error answer pygls cannot make (it never saw the message): framed as pygls frames its own."""
        body = json.dumps(payload).encode("utf-8")
        self.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def dispatch(self, data) -> None:
        request_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(request_id, (int, str)) or isinstance(request_id, bool):
            request_id = None
        problem = self._shape_problem(data)
        if problem:
            log.warning("invalid request: %s", problem)
            notification = isinstance(data, dict) and "method" in data and "id" not in data
            response = isinstance(data, dict) and "method" not in data and "id" in data
            if not (notification or response):  # those get no answer, whatever is wrong with them
                self.send(rpc_error(INVALID_REQUEST, f"Invalid Request: {problem}", request_id))
            return
        method = data.get("method")
        if method is None:  # a response (or error) to a request of the server
            error = data.get("error")
            if "error" in data and not (isinstance(error, dict) and type(error.get("code")) is int and isinstance(error.get("message"), str)):
                log.warning("invalid response %s: an error without an integer code and a message", request_id)
                return
            try:
                message = self.protocol.structure_message(data)
            except Exception as err:
                log.warning("invalid response %s: %s", request_id, _first_line(err))
                return
        else:
            kind = self.protocol.get_message_type(method)
            if kind is None:
                from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage

                kind = JsonRPCRequestMessage if "id" in data else JsonRPCNotification
            try:
                message = self.converter.structure(data, kind)
            except Exception as err:
                reason = f"invalid params for {method}: {_validation_summary(err)}"
                log.warning("%s%s", reason, "" if request_id is not None else " (notification dropped)")
                if request_id is not None:
                    self.send(rpc_error(INVALID_PARAMS, reason, request_id))
                return
            if self.check_message is not None:
                try:
                    self.check_message(message)
                except JsonRpcException as mistake:
                    log.warning("%s: %s", method, mistake.message)
                    if request_id is not None:
                        self.send(rpc_error(mistake.code, mistake.message, request_id))
                    return
        self.protocol.handle_message(message)

    @staticmethod
    def _shape_problem(data) -> str | None:
        if isinstance(data, list):
            return "a JSON array (a batch: LSP has none)"
        if not isinstance(data, dict):
            return f"a JSON {JSON_TYPES.get(type(data), 'value')} instead of an object"
        if data.get("jsonrpc") != "2.0":
            return 'no "jsonrpc": "2.0" member'
        if "id" in data and (not isinstance(data["id"], (int, str)) or isinstance(data["id"], bool)):
            return "an id that is neither an integer nor a string"
        if "method" in data and not isinstance(data["method"], str):
            return "a method that is not a string"
        if "method" not in data and "id" not in data:
            return "neither a method nor an id"
        if "method" not in data and "result" not in data and "error" not in data:
            return "a response without result or error"
        return None


def _validation_summary(err: Exception) -> str:
    from cattrs import BaseValidationError, transform_error

    if isinstance(err, BaseValidationError):
        return "; ".join(transform_error(err, path="$")[:3])
    return _first_line(err) or type(err).__name__


# ---------------------------------------------------------------- the loop


async def serve_stdio(dispatcher: Dispatcher, stdin_fd: int) -> None:
    """Read frames from `stdin_fd` until end of input; `exit` ends the loop by raising SystemExit from pygls."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue(maxsize=4)  # back-pressure: the reader thread waits for the loop

    def pump() -> None:
        """Blocking reads in a daemon thread: the loop never waits on stdin, and exit never waits for this thread."""
        while True:
            try:
                data = os.read(stdin_fd, READ_CHUNK)
            except OSError:
                data = b""
            try:
                asyncio.run_coroutine_threadsafe(chunks.put(data), loop).result()
            except RuntimeError:  # the loop is closed: the server is exiting
                return
            if not data:
                return

    threading.Thread(target=pump, name="netpolc-stdin", daemon=True).start()
    frames = FrameReader()
    while True:
        try:
            data = await asyncio.wait_for(chunks.get(), STALL_SECONDS if frames.waiting_for_body else None)
        except asyncio.TimeoutError:
            events = frames.stalled()
        else:
            if not data:
                return
            events = frames.feed(data)
        for kind, value in events:
            if kind == "bad":
                dispatcher.bad_frame(value)
            else:
                try:
                    dispatcher.dispatch(value)
                except (SystemExit, BrokenPipeError):
                    raise  # `exit`, or the client is gone: the end
                except Exception as err:  # a bug must not take the editor's server down
                    log.error("internal error handling a message: %s: %s", type(err).__name__, _first_line(err))


class OneLineFormatter(logging.Formatter):
    """One line per record, tracebacks reduced to the exception's type and message: stderr stays readable."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().split("\n", 1)[0]
        if record.exc_info and record.exc_info[1] is not None:
            err = record.exc_info[1]
            message += f": {type(err).__name__}: {_first_line(err)}"
        if len(message) > 1000:  # params can be a whole document
            message = message[:1000] + "..."
        return f"netpolc lsp: {record.levelname.lower()}: {message}"
