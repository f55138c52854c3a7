"""Issue 13, the rest: `only` widened by an allow (NP430), covered `only` lines, `world` sources in
isolated namespaces, suppressions, project roots, exit-2 reports in machine formats, diff summaries."""

from __future__ import annotations

from compiler import engine
from conftest import build_text, codes, run_cli


def diagnostics(text: str, code: str):
    return [d for d in build_text(text).diagnostics if d.code == code]


# ---------------------------------------------------------------- `only` is only (item 4)


def test_egress_only_widened_by_an_allow_names_the_only_line_and_both_ways_out():
    text = "namespace prod\nuse dns\negress only to 10.0.0.0/8:443 for app=db\nallow app=db to app=x:80\n"
    [warning] = diagnostics(text, "NP430")
    assert (warning.span.line, warning.span.column) == (4, 1)
    assert "widens `egress only to 10.0.0.0/8:443 for app=db` (line 3)" in warning.message
    assert "`app=x:80`" in warning.message
    assert "remove this allow" in warning.hint
    assert "`deny egress for app=db` and `allow app=db to 10.0.0.0/8:443`" in warning.hint
    assert [(s.line, s.column) for s, _ in warning.related] == [(3, 1)]
    # and the warning tells the truth: db really reaches x, which the `only` line alone would forbid
    result = build_text(text + "namespace other\n", validate=True)
    policies = engine.load_policies(result.manifests())
    universe = engine.Universe([engine.Namespace("prod")], [], [])
    db, x = engine.Pod("prod", "db", {"app": "db"}), engine.Pod("prod", "x", {"app": "x"})
    assert engine.evaluate(policies, universe, db, x, 80, "TCP").egress.allowed


def test_ingress_only_widened_by_an_allow():
    text = "namespace prod\ningress only from app=lb for app=web\nallow app=x to app=web:80\n"
    [warning] = diagnostics(text, "NP430")
    assert (warning.span.line, "(line 2)" in warning.message) == (3, True)
    assert "`deny ingress for app=web` and `allow app=lb to app=web`" in warning.hint


def test_allows_inside_the_only_line_or_beside_its_pods_or_from_stdlib_do_not_warn():
    inside = "namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow app=db to 10.1.0.0/16:443\n"
    other_pods = "namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow app=web to app=x:80\n"
    contradicting = "namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow app!=db to app=x:80\n"
    stdlib = "namespace prod\nuse dns\negress only to 10.0.0.0/8:443\n"
    ingress_inside = "namespace prod\ningress only from app=lb:80 for app=web\nallow app=lb to app=web:80\n"
    for text in (inside, other_pods, contradicting, stdlib, ingress_inside):
        assert not diagnostics(text, "NP430"), text
    # the overlapping pods of a wider allow are widened too
    assert diagnostics("namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow any to app=x:80\n", "NP430")


# ---------------------------------------------------------------- covered intent, world (item 6)


def test_only_line_covered_by_a_wider_only_line_is_np403():
    text = "namespace prod\ningress only from world\ningress only from world:80\n"
    assert ("NP403", 3, 1) in codes(build_text(text))
    [warning] = diagnostics(text, "NP403")
    assert "covered by `ingress only from world`" in warning.message
    # a narrower subject, or other ports, is not covered
    assert not diagnostics("namespace prod\ningress only from world:80\ningress only from world:443\n", "NP403")
    assert not diagnostics("namespace prod\ningress only from world for app=web\ningress only from world:80\n", "NP403")
    assert ("NP403", 2, 1) in codes(build_text("namespace prod\ningress only from world:80 for app=web\ningress only from world\n"))


def test_allow_from_world_in_an_isolated_namespace_warns_like_cluster():
    text = "namespace prod\nuse dns\ndeny all\nallow world to app=web:443\n"
    [warning] = diagnostics(text, "NP407")
    assert (warning.span.line, warning.span.column) == (4, 1)
    assert "`world` includes the pods of namespace prod" in warning.message
    assert "`allow any to app=web:443`" in warning.hint
    assert not diagnostics("namespace prod\nuse dns\ndeny ingress\nallow world to app=web:443\n", "NP407")


def test_np401_for_world_destination_says_it_includes_pods():
    [warning] = diagnostics("namespace prod\nallow app=web to world\n", "NP401")
    assert "every address and every pod" in warning.message
    assert "is addresses" not in warning.message
    [block] = diagnostics("namespace prod\nallow app=web to 8.8.8.8\n", "NP401")
    assert "the destination is addresses" in block.message
