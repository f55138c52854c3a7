"""Grammar table: valid sentences with the syntax tree they give, invalid ones with code and position."""

from __future__ import annotations

import pytest

from compiler import nodes
from compiler.parser import parse
from compiler.source import SourceFile


def dump(node) -> str:
    """A compact, span-free rendering of a syntax tree, so expected trees stay readable."""
    if isinstance(node, nodes.Word):
        return node.text
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        parts = [dump(getattr(node, f)) for f in node._fields if f != "span"]
        parts = [p for p in parts if p not in ("None", "()")]
        return f"{type(node).__name__}({', '.join(parts)})"
    if isinstance(node, tuple):
        return "(" + ", ".join(dump(x) for x in node) + ")"
    return str(node)


def parse_statements(text: str):
    module, diagnostics = parse(SourceFile("t.netpol", text))
    assert module is not None, [(d.code, d.message) for d in diagnostics]
    return module.statements


def sel(*reqs: str, any_: bool = False) -> str:
    return "Selector(True)" if any_ else f"Selector(({', '.join(reqs)}), False)"


def eq(key: str, value: str) -> str:
    return f"Requirement({key}, =, ({value}))"


WEB, DB = sel(eq("app", "web")), sel(eq("app", "db"))

VALID = [
    # The three lines of the product brief, verbatim.
    ("deny all", "DenyStmt(all)"),
    ("allow app=web to app=db:5432", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(5432))))"),
    ("egress only to 10.0.0.0/8", "OnlyStmt(egress, Peer(IpTarget(10.0.0.0/8)))"),
    # Namespaces and modules.
    ("namespace prod", "NamespaceStmt(prod)"),
    ("use dns", "UseStmt(dns, False)"),
    ('use "shared/base.netpol"', "UseStmt(shared/base.netpol, True)"),
    # Directions, with and without a subject.
    ("deny ingress", "DenyStmt(ingress)"),
    ("deny egress for app=batch", f"DenyStmt(egress, {sel(eq('app', 'batch'))})"),
    ("deny all for any", "DenyStmt(all, Selector(True))"),
    ("ingress only from app=lb for app=web", f"OnlyStmt(ingress, Peer(PodTarget({sel(eq('app', 'lb'))})), {WEB})"),
    # Selectors as kubectl writes them.
    (
        "allow app=web,tier!=cache to any",
        f"AllowStmt(Peer(PodTarget({sel(eq('app', 'web'), 'Requirement(tier, !=, (cache))')})), Peer(PodTarget(Selector(True))))",
    ),
    ("allow env in (prod, staging) to any", f"AllowStmt(Peer(PodTarget({sel('Requirement(env, in, (prod, staging))')})), Peer(PodTarget(Selector(True))))"),
    ("allow env notin (dev) to any", f"AllowStmt(Peer(PodTarget({sel('Requirement(env, notin, (dev))')})), Peer(PodTarget(Selector(True))))"),
    ("allow monitored to any", f"AllowStmt(Peer(PodTarget({sel('Requirement(monitored, exists)')})), Peer(PodTarget(Selector(True))))"),
    ("allow !legacy to any", f"AllowStmt(Peer(PodTarget({sel('Requirement(legacy, absent)')})), Peer(PodTarget(Selector(True))))"),
    ("allow app==web to any", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget(Selector(True))))"),
    (
        "allow app.kubernetes.io/name=web to any",
        f"AllowStmt(Peer(PodTarget({sel(eq('app.kubernetes.io/name', 'web'))})), Peer(PodTarget(Selector(True))))",
    ),
    # Peers in other namespaces, the cluster, the world.
    (
        "allow app=prometheus in namespace monitoring to any:metrics",
        f"AllowStmt(Peer(PodTarget({sel(eq('app', 'prometheus'))}, NamespaceScope(named, monitoring))), Peer(PodTarget(Selector(True)), (Port(metrics))))",
    ),
    (
        "allow app=x in namespaces team=pay to any",
        f"AllowStmt(Peer(PodTarget({sel(eq('app', 'x'))}, NamespaceScope(labelled, {sel(eq('team', 'pay'))}))), Peer(PodTarget(Selector(True))))",
    ),
    ("allow app=x in any namespace to any", f"AllowStmt(Peer(PodTarget({sel(eq('app', 'x'))}, NamespaceScope(all))), Peer(PodTarget(Selector(True))))"),
    ("allow namespace kube-system to any", "AllowStmt(Peer(NamespaceTarget(kube-system)), Peer(PodTarget(Selector(True))))"),
    ("allow namespaces team=a to any", f"AllowStmt(Peer(NamespacesTarget({sel(eq('team', 'a'))})), Peer(PodTarget(Selector(True))))"),
    ("allow cluster to app=web:80", f"AllowStmt(Peer(ClusterTarget()), Peer(PodTarget({WEB}), (Port(80))))"),
    ("allow world to app=web:443", f"AllowStmt(Peer(WorldTarget()), Peer(PodTarget({WEB}), (Port(443))))"),
    # Addresses: IPv4, IPv6, except lists, one address.
    ("allow app=web to 2001:db8::/32:443", f"AllowStmt(Peer(PodTarget({WEB})), Peer(IpTarget(2001:db8::/32), (Port(443))))"),
    ("allow app=web to [2001:db8::1]:443", f"AllowStmt(Peer(PodTarget({WEB})), Peer(IpTarget([2001:db8::1]), (Port(443))))"),
    ("allow 10.0.0.0/8 except 10.1.0.0/16 to any", "AllowStmt(Peer(IpTarget(10.0.0.0/8, (10.1.0.0/16))), Peer(PodTarget(Selector(True))))"),
    (
        "allow app=web to 10.0.0.0/8 except (10.1.0.0/16, 10.2.0.0/16):443",
        f"AllowStmt(Peer(PodTarget({WEB})), Peer(IpTarget(10.0.0.0/8, (10.1.0.0/16, 10.2.0.0/16)), (Port(443))))",
    ),
    # Ports: several, protocols, ranges, names.
    ("allow app=web to app=db:80,443", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(80), Port(443))))"),
    ("allow app=web to app=db:53/udp,53/tcp", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(53, udp), Port(53, tcp))))"),
    ("allow app=web to app=db:8000-8080", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(8000-8080))))"),
    ("allow app=web to app=db:sctp-port/sctp", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(sctp-port, sctp))))"),
    # deny A to B parses, so that the compiler can explain why it is refused.
    ("deny app=web to app=db", f"DenyFlowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB})))"),
    # Expectations.
    ("expect app=web -> 8.8.8.8:53/udp denied", f"ExpectStmt(Peer(PodTarget({WEB})), Peer(IpTarget(8.8.8.8), (Port(53, udp))), denied)"),
    ("expect app=web -> app=db:5432 allowed", f"ExpectStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(5432))), allowed)"),
    # Keywords are only keywords where they can appear: as label values they are words.
    ("allow role=ingress to app=world", f"AllowStmt(Peer(PodTarget({sel(eq('role', 'ingress'))})), Peer(PodTarget({sel(eq('app', 'world'))})))"),
    # Spacing and comments do not matter.
    ("   allow   app=web   to   app=db:5432   # why", f"AllowStmt(Peer(PodTarget({WEB})), Peer(PodTarget({DB}), (Port(5432))))"),
]


@pytest.mark.parametrize("text, expected", VALID, ids=[v[0] for v in VALID])
def test_valid_sentence_gives_tree(text, expected):
    statements = parse_statements(text + "\n")
    assert len(statements) == 1
    assert dump(statements[0]) == expected


INVALID = [
    # (source, code, line, column, words the message or hint must contain)
    ("alow app=web to app=db", "NP102", 1, 1, "did you mean `allow`"),
    ("namespace prod\n\nalow app=web to app=db", "NP102", 3, 1, "did you mean `allow`"),
    ("allow app=web app=db", "NP100", 1, 15, "`to`"),
    ("allow app=web to app=db:", "NP100", 1, 25, "a port"),
    ("allow app=web to", "NP100", 1, 17, "a peer"),
    ("deny all to app=x", "NP100", 1, 10, "`for`"),
    ("allow app=web to app=db:5432 extra", "NP100", 1, 30, "end of the line"),
    ("namespace", "NP100", 1, 10, "a namespace name"),
    ("use", "NP100", 1, 4, "a module name"),
    ("expect app=web -> app=db:5432", "NP100", 1, 30, "`allowed` or `denied`"),
    ("expect app=web -> app=db:5432 maybe", "NP100", 1, 31, "`allowed` or `denied`"),
    ("allow app=web to app=db;", "NP101", 1, 24, "`;`"),
    ("allow app=web to app=db in namespace", "NP100", 1, 37, "a namespace name"),
    ("allow tier in (a, b to any", "NP100", 1, 21, "`)`"),
    ("allow app=web to app=db\u00a0", "NP101", 1, 24, "U+00A0"),
    ("namespace x\nallow app=web to\n", "NP100", 2, 17, "a peer"),
]


@pytest.mark.parametrize("text, code, line, column, words", INVALID, ids=[v[0] for v in INVALID])
def test_invalid_sentence_gives_diagnostic(text, code, line, column, words):
    module, diagnostics = parse(SourceFile("t.netpol", text))
    assert module is None
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [(code, line, column)]
    assert words in diagnostics[0].message + " " + diagnostics[0].hint
    # Users read words, not token names.
    for token_name in ("_NL", "$END", "KEY", "VALUE", "LPAR", "COLON"):
        assert token_name not in diagnostics[0].message + diagnostics[0].hint


def test_grammar_is_lalr_without_conflicts(caplog):
    """Lark resolves shift/reduce conflicts silently (logging them in debug mode): there must be none."""
    import logging

    import lark
    from lark.utils import logger

    from compiler.paths import shipped_dir

    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="lark"):
            lark.Lark.open(str(shipped_dir("grammar") / "netpol.lark"), parser="lalr", lexer="contextual", debug=True)
    finally:
        logger.setLevel(level)
    assert not [r.getMessage() for r in caplog.records if "conflict" in r.getMessage().lower()]


def test_statement_span_covers_the_line():
    (statement,) = parse_statements("namespace x\n")
    assert (statement.span.line, statement.span.column, statement.span.end_column) == (1, 1, 12)
