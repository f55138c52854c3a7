"""Language items of issue 13: every port of one protocol, port names spelled like protocols,
host names read as labels, `namespaces except`, empty label values; each through the real
compiler, judged by the manifests it writes and the verdicts the engine gives on them."""

from __future__ import annotations

import pytest

from compiler import engine, ir
from compiler.fmt import format_source
from compiler.source import SourceFile
from conftest import build_text, codes, run_cli

NAMESPACES = [
    engine.Namespace("prod"),
    engine.Namespace("kube-system"),
    engine.Namespace("kube-public"),
    engine.Namespace("team", {"policy-group.network.openshift.io/ingress": ""}),
    engine.Namespace("other"),
]
PODS = {
    "prod/web": engine.Pod("prod", "web", {"app": "web"}),
    "prod/db": engine.Pod("prod", "db", {"app": "db"}),
    "prod/blank": engine.Pod("prod", "blank", {"app": "db", "tier": ""}),
    "kube-system/dns": engine.Pod("kube-system", "dns", {"app": "x"}),
    "kube-public/x": engine.Pod("kube-public", "x", {"app": "x"}),
    "team/x": engine.Pod("team", "x", {"app": "x"}),
    "other/x": engine.Pod("other", "x", {"app": "x"}),
}
UNIVERSE = engine.Universe(NAMESPACES, list(PODS.values()), [])


def compiled(text: str):
    result = build_text(text, validate=True)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return result


def verdict(policies, source: str, destination: str, port: int, protocol: str = "TCP") -> bool:
    return engine.evaluate(policies, UNIVERSE, PODS[source], PODS[destination], port, protocol).allowed


def specs(result) -> list[dict]:
    return [m["spec"] for m in result.manifests()]


# ---------------------------------------------------------------- every port of one protocol


def test_every_udp_port_is_a_port_entry_without_a_number():
    result = compiled("namespace prod\ndeny all\nallow app=web to app=db:*/udp\n")
    ingress = next(s for s in specs(result) if s.get("ingress"))
    assert ingress["ingress"][0]["ports"] == [{"protocol": "UDP"}]  # no port, no endPort: enforced by every CNI
    policies = engine.load_policies(result.manifests())
    assert verdict(policies, "prod/web", "prod/db", 1, "UDP")
    assert verdict(policies, "prod/web", "prod/db", 65535, "UDP")
    assert not verdict(policies, "prod/web", "prod/db", 53, "TCP")
    assert not verdict(policies, "prod/web", "prod/db", 53, "SCTP")


def test_all_ports_combine_with_numbers_and_other_protocols():
    result = compiled("namespace prod\ndeny all\nallow app=web to app=db:53/tcp,*/udp,*/sctp\n")
    ingress = next(s for s in specs(result) if s.get("ingress"))
    assert ingress["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 53}, {"protocol": "UDP"}, {"protocol": "SCTP"}]
    policies = engine.load_policies(result.manifests())
    assert verdict(policies, "prod/web", "prod/db", 53, "TCP")
    assert not verdict(policies, "prod/web", "prod/db", 54, "TCP")
    assert verdict(policies, "prod/web", "prod/db", 9999, "UDP")
    assert verdict(policies, "prod/web", "prod/db", 9999, "SCTP")


def test_all_tcp_ports_in_a_cluster_section_are_the_whole_range():
    """ClusterNetworkPolicy has no port entry without a number: every TCP port is the range 1-65535 there."""
    result = compiled("cluster admin priority 10\ndeny cluster to app=db:*/tcp\n")
    rules = [r for m in result.manifests() for side in ("ingress", "egress") for r in m["spec"].get(side, [])]
    assert rules
    assert all(r["protocols"] == [{"tcp": {"destinationPort": {"range": {"start": 1, "end": 65535}}}}] for r in rules)


def test_star_without_a_protocol_is_refused_with_both_ways_out():
    result = build_text("namespace prod\nallow app=web to app=db:*\n")
    assert codes(result) == [("NP312", 2, 25)]
    hint = result.diagnostics[0].hint
    assert "leave the ports out" in hint and "`:*/tcp`" in hint


def test_an_expect_cannot_check_every_port():
    assert codes(build_text("namespace prod\nexpect app=web -> app=db:*/udp allowed\n")) == [("NP409", 2, 19)]


# ---------------------------------------------------------------- port names that read as protocols


@pytest.mark.parametrize("word, fix", [("tcp", ":*/tcp"), ("udp", ":*/udp"), ("sctp", ":*/sctp"), ("any", ":*/tcp"), ("all", ":*/tcp"), ("TCP", ":*/tcp")])
def test_a_port_spelled_like_a_protocol_or_keyword_is_an_error(word, fix):
    result = build_text(f"namespace prod\nallow app=web to app=db:{word}\n")
    assert codes(result) == [("NP313", 2, 25)]
    assert f"`{fix}`" in result.diagnostics[0].hint
    assert not result.emitted  # fail closed: nothing is written


def test_real_port_names_are_still_names():
    result = compiled("namespace prod\nallow app=web to app=db:tcp-metrics,http\n")
    assert {"protocol": "TCP", "port": "tcp-metrics"} in specs(result)[0]["ingress"][0]["ports"]


# ---------------------------------------------------------------- host names read as labels


def test_a_host_name_in_a_peer_is_a_warning_that_says_how_it_was_read():
    # Alone, a name is a name (tests/test_fqdn.py): without a CNI that enforces names it is refused.
    alone = build_text("namespace shop\negress only to api.stripe.com:443 for app=checkout\n")
    assert [d.code for d in alone.diagnostics] == ["NP610"]
    # With other terms it can only be a label key: a warning that says how it was read.
    result = build_text("namespace shop\negress only to api.stripe.com,tier=x:443 for app=checkout\nuse dns\n")
    found = [d for d in result.diagnostics if d.code == "NP421"]
    assert [(d.span.line, d.span.column) for d in found] == [(2, 16)]
    assert "label key `api.stripe.com`" in found[0].message
    assert "write the name alone" in found[0].hint
    assert result.ok  # a warning: the selector is what Kubernetes would read too


@pytest.mark.parametrize(
    "peer",
    ["app.kubernetes.io/part-of", "app=api.stripe.com", "monitored", "!api.stripe.com", "10.0.0.0/8", "tier in (a.b.com)"],
)
def test_keys_with_a_prefix_and_other_terms_are_not_host_names(peer):
    result = build_text(f"namespace shop\nallow app=web to {peer}\n")
    assert "NP421" not in [d.code for d in result.diagnostics]


def test_the_host_name_test_is_one_function():
    from compiler.lower import looks_like_host_name

    assert looks_like_host_name("api.stripe.com") and looks_like_host_name("db.internal")
    assert not looks_like_host_name("app.kubernetes.io/name")
    assert not looks_like_host_name("monitored") and not looks_like_host_name("v1.2")
    assert looks_like_host_name("a..com")  # a mistyped name reads as a name, so that NP450 says what is wrong with it


# ---------------------------------------------------------------- every namespace except some


def namespace_selector(result) -> dict:
    ingress = next(s for s in specs(result) if s.get("ingress"))
    return ingress["ingress"][0]["from"][0]["namespaceSelector"]


@pytest.mark.parametrize(
    "readable, reserved",
    [
        ("namespaces except kube-system", "namespaces kubernetes.io/metadata.name!=kube-system"),
        ("namespaces except (kube-system, kube-public)", "namespaces kubernetes.io/metadata.name notin (kube-public, kube-system)"),
        ("app=x in namespaces except (kube-public, kube-system)", "app=x in namespaces kubernetes.io/metadata.name notin (kube-system, kube-public)"),
    ],
)
def test_namespaces_except_is_the_name_label_selector(readable, reserved):
    mine = compiled(f"namespace prod\nallow {readable} to app=db:80\n")
    theirs = compiled(f"namespace prod\nallow {reserved} to app=db:80\n")
    assert specs(mine) == specs(theirs)
    assert namespace_selector(mine)["matchExpressions"][0]["key"] == ir.NAME_LABEL


def test_namespaces_except_verdicts():
    policies = engine.load_policies(compiled("namespace prod\nallow app=x in namespaces except (kube-system, kube-public) to app=db:80\n").manifests())
    assert verdict(policies, "other/x", "prod/db", 80)
    assert verdict(policies, "team/x", "prod/db", 80)
    assert not verdict(policies, "kube-system/dns", "prod/db", 80)
    assert not verdict(policies, "kube-public/x", "prod/db", 80)


def test_namespaces_except_checks_names_as_namespace_names():
    assert codes(build_text("namespace prod\nallow namespaces except (kube-system, Bad_Name) to app=db\n")) == [("NP300", 2, 39)]


def test_except_is_offered_by_completion_after_namespaces():
    from compiler.lsp import NetpolServer

    assert "EXCEPT" in NetpolServer.expected("allow namespaces ")
    assert "EXCEPT" in NetpolServer.expected("allow app=x in namespaces ")
    assert "ALL_PORTS" in NetpolServer.expected("allow app=x to app=y:")


# ---------------------------------------------------------------- empty label values


def test_empty_values_in_every_kind_of_selector():
    text = (
        "namespace prod\n"
        'deny ingress for tier=""\n'
        'allow app=x in namespaces policy-group.network.openshift.io/ingress="" to app=db:80\n'
        'allow app=web to tier in ("", front):81\n'
        'allow app=web to app=db,tier!="":82\n'
    )
    result = compiled(text)
    manifests = specs(result)
    assert {"podSelector": {"matchLabels": {"tier": ""}}, "policyTypes": ["Ingress"]} in manifests
    assert any(s.get("ingress", [{}])[0].get("from", [{}])[0].get("namespaceSelector") == {"matchLabels": {"policy-group.network.openshift.io/ingress": ""}} for s in manifests)
    policies = engine.load_policies(result.manifests())
    assert verdict(policies, "team/x", "prod/db", 80)  # its namespace carries the label with the empty value
    assert not verdict(policies, "other/x", "prod/db", 80)
    assert verdict(policies, "prod/web", "prod/blank", 81)  # tier="" is in ("", front)
    assert not verdict(policies, "prod/web", "prod/blank", 82)  # tier!="" excludes it
    assert verdict(policies, "prod/web", "prod/db", 82)  # no tier label at all: != holds


def test_empty_value_contradiction_is_reported_with_the_value_as_written():
    result = build_text('namespace prod\nallow app=web to tier="",tier=a\n')
    assert [d.code for d in result.diagnostics] == ["NP303"]
    assert '`tier=""`' in result.diagnostics[0].message or '`""`' in result.diagnostics[0].message


def test_fmt_keeps_the_new_forms_and_sorts_excluded_names():
    text = 'namespace prod\nallow namespaces except ( kube-system,kube-public , kube-system) to app=db:* / UDP\nallow tier=""  to any\n'
    formatted, _ = format_source(SourceFile("t.netpol", text))
    assert formatted == 'namespace prod\nallow namespaces except (kube-public, kube-system) to app=db:*/udp\nallow tier="" to any\n'


def test_check_on_the_command_line(tmp_path):
    path = tmp_path / "shop.netpol"
    path.write_text("namespace shop\nallow app=web to app=db:*/udp\nallow app=web to app=db:udp\n")
    run = run_cli("check", str(path))
    assert run.code == 1
    assert ":3:25: error[NP313]" in run.out
