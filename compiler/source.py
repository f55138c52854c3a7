"""Source text and positions: `SourceFile`, `Span`, and reading input files safely."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple
from pathlib import Path

# A .netpol file is a few hundred lines; anything this large is a mistake
# (a binary or a generated dump) and is refused before it reaches the parser.
MAX_SOURCE_BYTES = 2 * 1024 * 1024


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
    """The input cannot be read as a .netpol text file; `reason` says why."""

    def __init__(self, name: str, reason: str, hint: str):
        super().__init__(reason)
        self.name = name
        self.reason = reason
        self.hint = hint


def decode_source(name: str, data: bytes, path: Path | None = None) -> SourceFile:
    """Decode bytes into a SourceFile, refusing binary, huge or non-UTF-8 input."""
    if len(data) > MAX_SOURCE_BYTES:
        raise UnreadableSource(
            name,
            f"file is {len(data):,} bytes, more than the {MAX_SOURCE_BYTES:,} bytes a .netpol file may have",
            "split the program into several files, or check that this is the file you meant",
        )
    if b"\x00" in data:
        raise UnreadableSource(name, "file is binary (it contains NUL bytes)", "pass .netpol text files only")
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


def read_source(path: Path, name: str) -> SourceFile:
    """Read and decode one file; OS errors become UnreadableSource."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UnreadableSource(name, "is a directory", "pass the directory itself as an input, not a file inside it") from None
    except FileNotFoundError:
        raise UnreadableSource(name, "no such file", "check the path") from None
    except OSError as err:
        raise UnreadableSource(name, f"cannot be read: {err.strerror or err}", "check the path and its permissions") from None
    return decode_source(name, data, path)
