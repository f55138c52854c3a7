"""Source text and positions: `SourceFile`, `Span`, and reading input files safely."""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple
from pathlib import Path

# A .netpol file is a few hundred lines; anything this large is a mistake
# (a binary or a generated dump) and is refused before it reaches the parser.
MAX_SOURCE_BYTES = 2 * 1024 * 1024
NETPOL = "a .netpol file"  # how messages name the input unless told (`kind`)


class Span(NamedTuple):
    """A region of a file. Lines and columns are 1-based; the end is exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @classmethod
    def whole_file(cls, file: str) -> "Span":
        return cls(file, 1, 1, 1, 1)


@dataclass(frozen=True)
class SourceFile:
    """The text of one input file and the name it is reported under."""

    name: str
    text: str
    path: Path | None = None

    @functools.cached_property
    def lines(self) -> list[str]:
        # Only "\n" ends a line, as in the grammar (str.splitlines would also split on
        # form feeds and Unicode separators, and carets would land on the wrong line).
        return [line.removesuffix("\r") for line in self.text.split("\n")]

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def span_of(self, start: int, end: int) -> Span:
        """Span for character offsets [start, end) of the text."""
        line = self.text.count("\n", 0, start) + 1
        column = start - (self.text.rfind("\n", 0, start) + 1) + 1
        end_line = self.text.count("\n", 0, end) + 1
        end_column = end - (self.text.rfind("\n", 0, end) + 1) + 1
        return Span(self.name, line, column, end_line, end_column)


class UnreadableSource(Exception):
    """An input that cannot be read as text (not a regular file, too large, binary, not UTF-8); `reason` says why."""

    def __init__(self, name: str, reason: str, hint: str):
        super().__init__(reason)
        self.name = name
        self.reason = reason
        self.hint = hint


def decode_source(name: str, data: bytes, path: Path | None = None, limit: int = MAX_SOURCE_BYTES, kind: str = NETPOL) -> SourceFile:
    """Decode bytes into a SourceFile, refusing binary, huge or non-UTF-8 input (`kind` names the input in messages)."""
    if len(data) > limit:
        raise _too_large(name, f"file is {len(data):,} bytes, more than", limit, kind)
    if b"\x00" in data:
        raise UnreadableSource(name, "file is binary (it contains NUL bytes)", "pass text files only")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UnreadableSource(
            name,
            f"file is not valid UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start})",
            "save the file as UTF-8",
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(name, text, path)


def read_source(path: Path, name: str, limit: int = MAX_SOURCE_BYTES, kind: str = NETPOL) -> SourceFile:
    """Read and decode one regular file of at most `limit` bytes; every refusal is UnreadableSource."""
    return decode_source(name, read_bounded(path, name, limit, kind), path, limit, kind)


# A FIFO must not block the open, and a terminal must not become ours.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_bounded(path: Path, name: str, limit: int = MAX_SOURCE_BYTES, kind: str = NETPOL) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, read without ever holding more than limit + 1.

    Anything else is refused before it is read: a folder, a FIFO or a device (by its
    type, so nothing blocks and nothing endless is read), a file whose size is over the
    limit (by its size: a sparse 3 GiB file costs nothing), and a file that grows past
    the limit while it is read. The type is checked again on the opened file, in case
    the path was replaced between the two looks.
    """
    try:
        _check_regular(name, os.stat(path), limit, kind)
        handle = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise _os_error(name, err) from None
    try:
        _check_regular(name, os.fstat(handle), limit, kind)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(handle, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as err:
        raise _os_error(name, err) from None
    finally:
        os.close(handle)
    if total > limit:
        raise _too_large(name, "file grew while it was read, to more than", limit, kind)
    return b"".join(chunks)


def read_stream(stream: BinaryIO, name: str, limit: int = MAX_SOURCE_BYTES, kind: str = NETPOL) -> bytes:
    """At most `limit` bytes of a binary stream (standard input); more is refused after limit + 1 bytes."""
    chunks, total = [], 0
    while total <= limit:
        chunk = stream.read(limit + 1 - total)  # a raw stream may return less than asked
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise _too_large(name, "more than", limit, kind)
    return b"".join(chunks)


_KINDS = (
    (stat.S_ISDIR, "is a folder, not a file", "pass the folder itself as an input, not a file inside it"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a regular file", "pass a regular file; to read a stream, pipe it to standard input"),
    (stat.S_ISCHR, "is a character device, not a regular file", "pass a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file", "pass a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file", "pass a regular file"),
)


def _check_regular(name: str, info: os.stat_result, limit: int, kind: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        for test, reason, hint in _KINDS:
            if test(info.st_mode):
                raise UnreadableSource(name, reason, hint)
        raise UnreadableSource(name, "is not a regular file", "pass a regular file")
    if info.st_size > limit:
        raise _too_large(name, f"file is {info.st_size:,} bytes, more than", limit, kind)


def _too_large(name: str, size: str, limit: int, kind: str) -> UnreadableSource:
    """`size` ends with "more than": the limit follows."""
    return UnreadableSource(
        name,
        f"{size} the {limit:,} bytes {kind} may have",
        "split it into several files, or check that this is the file you meant",
    )


def _os_error(name: str, err: OSError) -> UnreadableSource:
    if isinstance(err, FileNotFoundError):
        return UnreadableSource(name, "no such file", "check the path")
    if isinstance(err, IsADirectoryError):
        return UnreadableSource(name, _KINDS[0][1], _KINDS[0][2])
    return UnreadableSource(name, f"cannot be read: {err.strerror or err}", "check the path and its permissions")
