"""Where the files shipped beside the package live (in a wheel, or in the repository checkout); paths with their links resolved."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """`grammar` or `stdlib`: inside the installed wheel, else at the repository root."""
    packaged = _PACKAGE / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PACKAGE.parent / name


def resolved(path: Path) -> Path:
    """`path` absolute, with its links followed as far as they lead. Unlike `Path.resolve()` on Python 3.11,
    a loop of links does not raise (RuntimeError there): the path stays as it is, and reading it later
    gives ELOOP, which every reader reports as a diagnostic."""
    return Path(os.path.realpath(path))
