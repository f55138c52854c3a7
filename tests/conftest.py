"""Shared test helpers: compile small programs written inline, run the command line in-process."""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Tests compare annotations and diagnostics that carry file names relative to the
# working folder: run them all from the repository root.
os.chdir(REPO)


@pytest.fixture
def write(tmp_path):
    """write({"a.netpol": "..."}) -> folder holding those files."""

    def _write(files: dict[str, str], root: Path | None = None) -> Path:
        base = root or tmp_path / "project"
        for name, text in files.items():
            path = base / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return base

    return _write


def build_text(text: str, name: str = "main.netpol", **kwargs):
    """Compile one in-memory file (no disk) and return the pipeline Result."""
    from compiler.pipeline import build
    from compiler.resolve import Input

    item = Input(Path(name), name, Path("."))
    return build([item], overrides={name: text}, **kwargs)


def codes(result) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics]


class Run:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err


def run_cli(*args: str, stdin: str | None = None) -> Run:
    """Run `netpolc ARGS` in-process through the real entry point (fast path included)."""
    from compiler.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    old_argv, old_stdin = sys.argv, sys.stdin
    sys.argv = ["netpolc", *args]
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode("utf-8")))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main()
    finally:
        sys.argv, sys.stdin = old_argv, old_stdin
    return Run(code, out.getvalue(), err.getvalue())
