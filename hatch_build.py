"""Build hook: writes compiler/_netpol_parser.py (Lark's standalone parser for grammar/netpol.lark) on every build and install.

The generated module carries Lark's runtime under Lark's own licence, so it is made here, from
the grammar being built, and never kept in the repository (.gitignore). A build without it
still works: netpolc then parses with Lark itself (slower start-up, the same trees).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class StandaloneParserHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        spec = importlib.util.spec_from_file_location("netpolc_parser_gen", root / "compiler" / "parser_gen.py")
        generator = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(generator)  # imports nothing of netpolc: its dependencies need not be installed yet
        written = generator.write(root / "grammar" / "netpol.lark", root / "compiler")
        if version != "editable":  # an editable install reads it where it was written
            build_data["force_include"][str(written)] = "compiler/" + generator.MODULE
