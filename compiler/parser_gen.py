"""Generates Lark's standalone parser for grammar/netpol.lark (the module `check` parses with, without importing Lark).

The generated module holds Lark's own runtime (under its MPL-2.0 licence), so it is not kept in
the repository: the build hook (hatch_build.py) writes it when netpolc is built or installed,
and `python -m compiler.parser_gen` writes it by hand. This module imports nothing of netpolc,
so the build hook can load it on its own. `parser.standalone_parser` uses the module only when
it was generated from the grammar and options shipped; otherwise Lark's own parser runs.
"""

from __future__ import annotations

import io
from pathlib import Path

# How the parser is built; the generated module records the same, and is used only when they match.
# The nodes are made during the parse (transform.NodeBuilder, passed as `transformer=`): every token stays
# a child (`keep_all_tokens`, keywords included), so each rule's callback knows where it starts and ends
# without Lark's position propagation, which would cost a third of the parse; an absent `[...]` part is no
# child at all (no `maybe_placeholders`). The grammar's tables, and so every parse error, are the same.
LALR_OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": False, "maybe_placeholders": False, "keep_all_tokens": True}
MODULE = "_netpol_parser.py"  # beside this file


def generate(grammar: str) -> str:
    """The text of the standalone parser module for `grammar`, by Lark's standalone tool.

    Lark numbers the LALR states in an order that changes from run to run (the same grammar gives
    the same trees but not the same bytes), so the module records the grammar and options it was
    generated from instead of being compared byte for byte.
    """
    import lark
    from lark.tools.standalone import gen_standalone

    out = io.StringIO()
    gen_standalone(lark.Lark(grammar, **LALR_OPTIONS), out=out)
    header = (
        "# Generated from grammar/netpol.lark by compiler/parser_gen.py (Lark's standalone tool, whose licence follows);\n"
        "# written when netpolc is built or installed, never committed: do not edit.\n"
        "# fmt: off\n"
        "# ruff: noqa\n"
        + _recorded(grammar)
    )
    return header + out.getvalue()


def _recorded(grammar: str) -> str:
    """The lines of a module's header that say what it was generated from."""
    return f"GRAMMAR = {grammar!r}\nOPTIONS = {LALR_OPTIONS!r}\n"


def write(grammar_file: Path, package_dir: Path) -> Path:
    """Write the module for `grammar_file` into `package_dir` (atomically: a reader never sees half a module),
    and its bytecode. A module already generated from this grammar is kept as it is: rewriting it on every
    build would only make its bytecode stale."""
    import os
    import py_compile
    import tempfile

    grammar = grammar_file.read_text(encoding="utf-8")
    target = package_dir / MODULE
    try:
        current = _recorded(grammar) in target.read_text(encoding="utf-8")
    except OSError:
        current = False
    if not current:
        fd, staging = tempfile.mkstemp(prefix=".netpol_parser-", suffix=".py", dir=package_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(generate(grammar))
        os.chmod(staging, 0o644)  # mkstemp makes it private; an installed module is read by every user
        os.replace(staging, target)
    # Its bytecode now: `check` pays compiling 200 KB of source on its first run otherwise (or on every
    # run where PYTHONDONTWRITEBYTECODE is set).
    py_compile.compile(str(target), doraise=True)
    return target


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    grammar = here.parent / "grammar" / "netpol.lark"
    if not grammar.is_file():
        grammar = here / "_data" / "grammar" / "netpol.lark"
    print(f"wrote {write(grammar, here)}")
