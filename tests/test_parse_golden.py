"""The parse stage's output pinned: for every .netpol of the repository, a few hundred random token lines and random
valid statements, a hash of the `repr` of what `parse_file` gives (the Module with every span, or the diagnostics);
and `netpolc explain`'s queries, which go through the same parse.

tests/golden/parse.json was written by the parser of before the one-pass parse (a Lark tree, then a Transformer
walking it); any change to a node, a span, a message or a hint of any of these inputs fails here, with the
standalone parser and with Lark's own. Regenerate deliberately with `python tests/test_parse_golden.py` and say
why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "parse.json"

# Token soup: mostly parse errors (expected-token sets, positions, hints), sometimes a statement.
WORDS = [
    "namespace", "shop", "use", "dns", "allow", "deny", "all", "ingress", "egress", "only", "to", "from", "for", "in",
    "namespaces", "any", "cluster", "world", "expect", "->", "allowed", "denied", "app=web", "app!=db", "tier", "!legacy",
    "(", ")", ",", ":", "8080", "53/udp", "*/tcp", "10.0.0.0/8", "except", "[2001:db8::1]", '"x.netpol"', "priority", "10",
    "admin", "baseline", "pass", "notin", "=", "#", "\n", "\t", "é", "%", "1-2", "*.stripe.com", "api.stripe.com", "==",
    "in namespace", "in namespaces", "in any namespace", "\r\n", "\x0c", "team", "x/y",
]
SOUPS = 200
MUTANTS = 200
STATEMENTS = 300
QUERIES = 100  # `netpolc explain` parses a flow with the same grammar (compiler/query.py)


def soup(rnd: random.Random) -> str:
    lines = [" ".join(rnd.choice(WORDS) for _ in range(rnd.randrange(1, 9))) for _ in range(rnd.randrange(1, 4))]
    return "namespace shop\n" + "\n".join(lines) + rnd.choice(["\n", "", "\n\n", " # end\n"])


def mutant(rnd: random.Random) -> str:
    """A valid statement with one token cut, replaced, added or the line cut short: errors in the middle of statements."""
    words = statement(rnd).split(" ")
    at = rnd.randrange(len(words))
    roll = rnd.randrange(4)
    if roll == 0 and len(words) > 1:
        del words[at]
    elif roll == 1:
        words[at] = rnd.choice(WORDS)
    elif roll == 2:
        words.insert(at, rnd.choice(WORDS))
    else:
        words = words[: at + 1]
    return "namespace shop\n" + " ".join(words) + rnd.choice(["\n", ""])


def _gap(rnd: random.Random) -> str:
    return rnd.choice([" ", " ", " ", "  ", "\t", " \t "])


def _names(rnd: random.Random, word) -> str:
    if rnd.random() < 0.5:
        return word()
    return "(" + ", ".join(word() for _ in range(rnd.randrange(1, 4))) + ")"


def _selector(rnd: random.Random) -> str:
    if rnd.random() < 0.15:
        return "any"
    terms = []
    for _ in range(rnd.randrange(1, 4)):
        key = rnd.choice(["app", "tier", "app.kubernetes.io/name", "env", "k8s.io/x"])
        value = rnd.choice(["web", "db", '""', "prod", "a.b-c"])
        shapes = [f"{key}={value}", f"{key}=={value}", f"{key}!={value}", f"{key} in ({value}, x)", f"{key} notin ({value})"]
        shapes += [key, f"!{key}"]
        terms.append(shapes[rnd.randrange(7)])
    return ",".join(terms) if rnd.random() < 0.5 else ", ".join(terms)


def _peer(rnd: random.Random, ports: bool = True) -> str:
    roll = rnd.randrange(10)

    def ns() -> str:
        return rnd.choice(["shop", "kube-system", "team-1"])

    if roll < 3:
        target = _selector(rnd)
        scope = rnd.randrange(5)
        if scope == 1:
            target += f" in namespace {ns()}"
        elif scope == 2:
            target += f" in namespaces {_selector(rnd)}"
        elif scope == 3:
            target += f" in namespaces except {_names(rnd, ns)}"
        elif scope == 4:
            target += " in any namespace"
    elif roll == 3:
        target = f"namespace {ns()}"
    elif roll == 4:
        target = rnd.choice([f"namespaces {_selector(rnd)}", f"namespaces except {_names(rnd, ns)}"])
    elif roll == 5:
        target = rnd.choice(["cluster", "world"])
    elif roll == 6:

        def ip() -> str:
            return rnd.choice(["10.0.0.0/8", "192.168.1.1", "[2001:db8::1]", "fd00::/8"])

        target = ip() + (f" except {_names(rnd, ip)}" if rnd.random() < 0.5 else "")
    elif roll == 7:
        target = rnd.choice(["*.stripe.com", "api.stripe.com", "a*b.example.org"])
    else:
        target = _selector(rnd)
    if ports and rnd.random() < 0.6:

        def port() -> str:
            return rnd.choice(["80", "8000-8080", "http", "*"]) + rnd.choice(["", "/tcp", "/udp", "/sctp"])

        target += ":" + ",".join(port() for _ in range(rnd.randrange(1, 4)))
    return target


def statement(rnd: random.Random) -> str:
    """Mostly valid statements of every kind, in random shapes (every optional part, alias and list length)."""
    roll = rnd.randrange(12)

    def g() -> str:
        return _gap(rnd)

    if roll == 0:
        return f"namespace{g()}{rnd.choice(['shop', 'a.b-c'])}"
    if roll == 1:
        return f"cluster{g()}{rnd.choice(['admin', 'baseline'])}" + rnd.choice(["", f"{g()}priority{g()}10"])
    if roll == 2:
        return f"use{g()}" + rnd.choice(["dns", "default-deny", '"common.netpol"', '""'])
    if roll == 3:
        return f"deny{g()}{rnd.choice(['all', 'ingress', 'egress'])}" + rnd.choice(["", f"{g()}for{g()}{_selector(rnd)}"])
    if roll == 4:
        return f"{rnd.choice(['deny', 'pass', 'allow'])}{g()}{_peer(rnd)}{g()}to{g()}{_peer(rnd)}"
    if roll == 5:
        return f"egress{g()}only{g()}to{g()}{_peer(rnd)}" + rnd.choice(["", f" for {_selector(rnd)}"])
    if roll == 6:
        return f"ingress{g()}only{g()}from{g()}{_peer(rnd)}" + rnd.choice(["", f" for {_selector(rnd)}"])
    if roll == 7:
        return f"expect{g()}{_peer(rnd)}{g()}->{g()}{_peer(rnd)}{g()}{rnd.choice(['allowed', 'denied'])}"
    return f"allow {_peer(rnd)} to {_peer(rnd)}"


def program(rnd: random.Random) -> str:
    lines = ["namespace shop"] if rnd.random() < 0.8 else []
    for _ in range(rnd.randrange(1, 6)):
        line = statement(rnd)
        if rnd.random() < 0.2:
            line += rnd.choice(["  # note", "#x", "\t"])
        lines.append(line)
        if rnd.random() < 0.1:
            lines.append(rnd.choice(["", "# comment", "   "]))
    return rnd.choice([""] * 4 + ["\n", "# head\n"]) + "\n".join(lines) + rnd.choice(["\n", "", "\n\n"])


def inputs() -> dict[str, str]:
    """name -> text: the repository's files (named by their path), then the generated programs."""
    files = sorted({*REPO.glob("examples/**/*.netpol"), *REPO.glob("tests/**/*.netpol"), *REPO.glob("stdlib/**/*.netpol")})
    found = {path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8", errors="replace") for path in files}
    rnd = random.Random(20240612)
    for number in range(SOUPS):
        found[f"soup/{number:03d}.netpol"] = soup(rnd)
    for number in range(MUTANTS):
        found[f"mutants/{number:03d}.netpol"] = mutant(rnd)
    for number in range(STATEMENTS):
        found[f"statements/{number:03d}.netpol"] = program(rnd)
    return found


def digest(name: str, text: str) -> str:
    from compiler.pipeline import parse_file
    from compiler.source import SourceFile

    return hashlib.sha256(repr(parse_file(SourceFile(name, text))).encode("utf-8")).hexdigest()[:24]


def queries() -> list[str]:
    rnd = random.Random(7)
    found = []
    for _ in range(QUERIES):
        port = rnd.choice(["", ":80", ":5432/udp", ":http"])
        words = f"{_peer(rnd, ports=False)} -> {_peer(rnd, ports=False)}{port}{rnd.choice(['', ' allowed', ' denied'])}".split(" ")
        if rnd.random() < 0.3:
            words[rnd.randrange(len(words))] = rnd.choice(WORDS)
        found.append(rnd.choice(["", " "]) + " ".join(words))
    return found


def query_digest(text: str) -> str:
    from compiler.query import parse_query

    expect, found, _ = parse_query(text, "shop")
    return hashlib.sha256(repr((expect, found)).encode("utf-8")).hexdigest()[:24]


def digests() -> dict[str, str]:
    files = {name: digest(name, text) for name, text in inputs().items()}
    return files | {f"query/{number:03d}": query_digest(text) for number, text in enumerate(queries())}


@pytest.fixture(params=["standalone", "lark"])
def which(request, monkeypatch):
    """Each test below runs with the standalone parser and again with Lark's own (the fallback when it is stale)."""
    from compiler import parser

    if request.param == "standalone":
        assert parser.standalone_parser() is not None, "no current standalone parser: run `pip install -e .`"
    else:
        monkeypatch.setattr(parser, "standalone_parser", lambda: None)
    return request.param


def test_every_input_parses_as_recorded(which):
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = digests()
    assert got.keys() == expected.keys()
    changed = [name for name in expected if got[name] != expected[name]]
    assert not changed, f"{len(changed)} of {len(expected)} inputs parse differently ({which}): {changed[:10]}"


def test_the_inputs_cover_both_outcomes():
    from compiler.pipeline import parse_file
    from compiler.source import SourceFile

    results = [parse_file(SourceFile(name, text)) for name, text in inputs().items()]
    parsed = sum(module is not None for module, _ in results)
    failed = len(results) - parsed
    statements = sum(len(module.statements) for module, _ in results if module is not None)
    assert parsed > 350 and failed > 250 and statements > 1000, (parsed, failed, statements)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    GOLDEN.write_text(json.dumps(digests(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
