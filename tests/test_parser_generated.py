"""The standalone parser (compiler/_netpol_parser.py, written by the build hook on install): current with the grammar, the same nodes and diagnostics as Lark's, and the `check` path free of heavy imports."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from compiler import parser as netpol_parser
from compiler import parser_gen
from compiler.source import SourceFile
from compiler.transform import BUILDER
from conftest import REPO

REGENERATE = "pip install -e . (its build hook, hatch_build.py, writes it), or python -m compiler.parser_gen"

try:
    from compiler import _netpol_parser as generated
except ImportError:  # not installed through the build hook: every test below says how to get it
    generated = None


def test_the_generated_parser_is_current_with_the_grammar():
    """Fails on every grammar change until the parser is regenerated (until then `parse` uses Lark's own)."""
    assert generated is not None, f"compiler/_netpol_parser.py is missing: run `{REGENERATE}`"
    assert generated.GRAMMAR == netpol_parser.grammar_text(), f"grammar/netpol.lark changed: run `{REGENERATE}` and commit the result"
    assert generated.OPTIONS == netpol_parser.LALR_OPTIONS, f"the parser options changed: run `{REGENERATE}`"
    assert netpol_parser.active_parser() is netpol_parser.standalone_parser() is not None


def test_regeneration_writes_a_module_for_the_same_grammar(tmp_path, monkeypatch):
    text = parser_gen.generate(netpol_parser.grammar_text())
    assert text.startswith("# Generated from grammar/netpol.lark by compiler/parser_gen.py")
    namespace: dict = {}
    exec(compile(text, "generated", "exec"), namespace)  # noqa: S102 - the text Lark's tool just wrote
    assert namespace["GRAMMAR"] == netpol_parser.grammar_text()
    fresh = namespace["Lark_StandAlone"](transformer=BUILDER)
    source = SourceFile("shop.netpol", (REPO / "examples/storefront/shop.netpol").read_text())
    module, found = netpol_parser.parse(source, fresh)
    assert not found and len(module.statements) > 5
    assert repr(module) == repr(netpol_parser.parse(source, netpol_parser.lark_parser())[0])


def sources() -> list:
    files = sorted({*REPO.glob("examples/**/*.netpol"), *REPO.glob("tests/**/*.netpol"), *REPO.glob("stdlib/**/*.netpol")})
    assert len(files) > 50
    return files


def both(text: str, name: str = "t.netpol"):
    """What the standalone parser and Lark's give, as text: a token and a word of the same text compare equal, their reprs not."""
    source = SourceFile(name, text)
    fast = netpol_parser.parse(source, netpol_parser.standalone_parser())
    lark = netpol_parser.parse(source, netpol_parser.lark_parser())
    return (fast[0], repr(fast)), (lark[0], repr(lark))


def test_every_example_and_fixture_parses_to_the_same_nodes_and_diagnostics():
    assert netpol_parser.standalone_parser() is not None, f"no current standalone parser: run `{REGENERATE}`"
    parsed = failed = 0
    for path in sources():
        (fast_module, fast), (_, lark) = both(path.read_text(encoding="utf-8", errors="replace"), path.name)
        assert fast == lark, path
        if fast_module is not None:
            parsed += 1
        else:
            failed += 1
    assert parsed > 30 and failed >= 3  # both kinds really compared


WORDS = [
    "namespace", "shop", "use", "dns", "allow", "deny", "all", "ingress", "egress", "only", "to", "from", "for", "in",
    "namespaces", "any", "cluster", "world", "expect", "->", "allowed", "denied", "app=web", "app!=db", "tier", "!legacy",
    "(", ")", ",", ":", "8080", "53/udp", "*/tcp", "10.0.0.0/8", "except", "[2001:db8::1]", '"x.netpol"', "priority", "10",
    "admin", "baseline", "pass", "notin", "=", "#", "\n", "\t", "é", "%", "1-2",
]


def test_random_token_soup_gives_the_same_nodes_and_diagnostics():
    """Error paths too: expected-token sets and positions, for lines no fixture has."""
    rnd = random.Random(12)
    for _ in range(600):
        lines = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(1, 9))) for _ in range(rnd.randrange(1, 4))]
        text = "namespace shop\n" + "\n".join(lines) + "\n"
        (_, fast), (_, lark) = both(text)
        assert fast == lark, text


def test_random_statements_give_the_same_nodes():
    """Valid statements of every shape (the golden's generator): every callback, through both parsers."""
    from test_parse_golden import program

    rnd = random.Random(5)
    for _ in range(300):
        text = program(rnd)
        (module, fast), (_, lark) = both(text)
        assert module is not None and fast == lark, text


def test_every_rule_and_value_terminal_has_a_callback():
    """A rule without a method of its name would come out as a bare Lark tree inside the nodes."""
    parser = netpol_parser.lark_parser()
    for rule in parser.rules:
        name = rule.alias or rule.origin.name
        if not name.startswith("_") and not rule.options.expand1:  # `_x` and `?x` rules are inlined into their parent
            assert callable(getattr(BUILDER, name, None)), name
    words = {"KEY", "VALUE", "NAME", "MODULE", "PORT", "PROTOCOL", "ALL_PORTS", "IP", "NAME_PATTERN"}
    named = {t.name for t in parser.terminals if not t.name.startswith("_") and t.pattern.type == "re"}
    assert named - words == {"STRING", "IN_NAMESPACE", "IN_NAMESPACES", "IN_ANY_NAMESPACE", "COMMENT"}  # kept as tokens
    assert all(callable(getattr(BUILDER, name)) for name in words)


def test_threads_parsing_at_once_each_name_their_own_file():
    """One parser and one builder serve every thread; the file name in the spans is each thread's own."""
    import threading

    text = "namespace shop\n" + "allow app=web to app=db:5432\n" * 300
    results: dict[str, object] = {}

    def work(name: str) -> None:
        for _ in range(5):
            module, found = netpol_parser.parse(SourceFile(name, text))
            assert not found
            results.setdefault(name, set()).update(s.span.file for s in module.statements)
            results[name].update(s.source.span.file for s in module.statements[1:])

    threads = [threading.Thread(target=work, args=(f"f{n}.netpol",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {f"f{n}.netpol": {f"f{n}.netpol"} for n in range(6)}


def test_the_plain_lark_parser_still_serves_completion():
    """The language server asks Lark's parser without the builder what may come next after a partial line."""
    from compiler.lsp import NetpolServer

    assert "TO" in NetpolServer.expected("allow app=web ")
    assert NetpolServer.expected("allow ) ") is None


def test_a_stale_generated_parser_is_never_used(monkeypatch):
    """A grammar changed without regenerating: `parse` falls back to Lark's parser, same trees."""
    assert generated is not None, f"compiler/_netpol_parser.py is missing: run `{REGENERATE}`"
    netpol_parser.standalone_parser.cache_clear()
    monkeypatch.setattr(generated, "GRAMMAR", generated.GRAMMAR + "\n// another grammar\n")
    try:
        assert netpol_parser.standalone_parser() is None
        assert netpol_parser.active_parser() is netpol_parser.lark_parser()
        from compiler.pipeline import parse_file

        module, found = parse_file(SourceFile("a.netpol", "namespace shop\nallow app=web to app=db:5432\n"))
        assert not found and module.statements
    finally:
        netpol_parser.standalone_parser.cache_clear()


HEAVY = ("lark", "yaml", "jsonschema", "pygls", "typer", "click", "lsprotocol")


@pytest.mark.parametrize("command", [["check", "SHOP"], ["check", "--strict", "--format", "json", "SHOP"]])
def test_check_imports_no_heavy_module(tmp_path, command):
    shop = tmp_path / "shop.netpol"
    shop.write_text("namespace shop\nuse default-deny\nuse dns\nallow app=web to app=api:8080\n")
    argv = [str(shop) if a == "SHOP" else a for a in command]
    code = (
        "import json, sys\nfrom compiler.__main__ import main\nsys.argv = ['netpolc', *sys.argv[1:]]\n"
        "code = main()\nprint(json.dumps([code, sorted({m.split('.')[0] for m in sys.modules})]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path, check=True)
    exit_code, modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert exit_code == 0, done.stdout
    assert not set(modules) & set(HEAVY), sorted(set(modules) & set(HEAVY))


def test_without_the_generated_parser_lark_parses(monkeypatch):
    """A checkout used without installing (no build hook run): Lark's own parser, the same diagnostics."""
    from compiler.pipeline import parse_file

    netpol_parser.standalone_parser.cache_clear()
    import compiler

    monkeypatch.setitem(sys.modules, "compiler._netpol_parser", None)  # `import` of it raises ImportError
    monkeypatch.delattr(compiler, "_netpol_parser", raising=False)
    try:
        assert netpol_parser.standalone_parser() is None
        module, found = parse_file(SourceFile("a.netpol", "namespace shop\nallow app=web to app=db:5432\n"))
        assert not found and len(module.statements) == 2
        _, found = parse_file(SourceFile("b.netpol", "namespace shop\nallow app=web to\n"))
        assert [d.code for d in found] == ["NP100"] and found[0].span.line == 2
    finally:
        netpol_parser.standalone_parser.cache_clear()


def test_the_build_hook_keeps_a_current_module_and_writes_its_bytecode(tmp_path):
    """Rewriting the module on every build would make its bytecode stale: `check` would compile 200 KB of source."""
    import importlib.util

    grammar = tmp_path / "netpol.lark"
    grammar.write_text(netpol_parser.grammar_text(), encoding="utf-8")
    written = parser_gen.write(grammar, tmp_path)
    first = written.stat().st_mtime_ns
    assert written.with_name("__pycache__").joinpath(importlib.util.cache_from_source(str(written)).rsplit("/", 1)[1]).is_file()
    assert parser_gen.write(grammar, tmp_path) == written and written.stat().st_mtime_ns == first  # kept
    grammar.write_text(netpol_parser.grammar_text() + "\n// changed\n", encoding="utf-8")
    parser_gen.write(grammar, tmp_path)
    assert "// changed" in written.read_text(encoding="utf-8")  # another grammar: written again
