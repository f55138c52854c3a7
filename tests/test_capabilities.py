"""CNI capability checks: every feature on every target as the tables say, and the opt-in rewrites."""

from __future__ import annotations

import ipaddress

import pytest

from compiler import engine
from compiler.backends import networkpolicy as emit
from compiler.capabilities import Options, features_of, pod_ip_overlaps
from compiler.targets import Api, Feature, Status, list_targets, load_target
from conftest import build_text

F = Feature
POD_CIDRS = ("10.244.0.0/16",)

# For every NetworkPolicy feature, a minimal program (after `namespace t`) that uses it, and every
# feature its manifests use. A feature missing here fails the matrix: a new table row is never
# untested. The cluster policy features have their matrix in test_cluster_capabilities.py.
PROGRAMS: dict[Feature, tuple[str, set[Feature]]] = {
    F.network_policy: ("deny ingress", {F.ingress}),
    F.ingress: ("deny ingress for app=db", {F.ingress}),
    F.egress: ("deny egress", {F.egress}),
    F.match_expressions: ("deny ingress for tier in (a, b)", {F.ingress, F.match_expressions}),
    F.negative_match: ("deny ingress for tier!=a", {F.ingress, F.negative_match}),
    F.namespace_selector: ("allow namespace other to app=db", {F.ingress, F.namespace_selector}),
    F.namespace_and_pod_selector: (
        "allow app=x in namespace other to app=db", {F.ingress, F.namespace_selector, F.namespace_and_pod_selector}
    ),
    F.ip_block: ("allow 192.168.0.0/16 to app=db", {F.ingress, F.ip_block}),
    F.ip_block_except: ("allow 192.168.0.0/16 except 192.168.1.0/24 to app=db", {F.ingress, F.ip_block, F.ip_block_except}),
    F.ipv6: ("allow 2001:db8::/32 to app=db", {F.ingress, F.ip_block, F.ipv6}),
    F.ip_block_pod_ips: ("allow 10.0.0.0/8 to app=db", {F.ingress, F.ip_block, F.ip_block_pod_ips}),
    F.udp: ("allow any to app=db:53/udp", {F.ingress, F.udp}),
    F.sctp: ("allow any to app=db:9/sctp", {F.ingress, F.sctp}),
    F.named_port: ("allow any to app=db:metrics", {F.ingress, F.named_port}),
    F.end_port: ("allow any to app=db:8000-8080", {F.ingress, F.end_port}),
}


def check(text: str, *specs: str, prove: bool = False, **options):
    """Build `namespace t` + text for the targets; returns the Result."""
    targets = tuple(load_target(spec) for spec in specs)
    return build_text("namespace t\n" + text + "\n", prove=prove, cni=Options(targets=targets, **options))


def cni_findings(result) -> list[tuple[str, int, str]]:
    return sorted((d.code, d.span.line, d.severity) for d in result.diagnostics if d.code.startswith("NP6"))


def expected_from_table(used: set[Feature], name: str) -> list[tuple[str, int, str]]:
    """What the table says for a program on line 2 using `used`, read from the rows directly."""
    target, _ = load_target(name)
    if target.row(F.network_policy).status is not Status.supported:
        return [("NP601", 2, "error")]
    out = []
    for feature in used:
        row = target.row(feature)
        if row.status is Status.supported:
            continue  # a limit row: one port is within every limit
        if feature is F.ip_block_pod_ips:
            out.append(("NP604", 2, "warning"))
        elif row.status is Status.unknown:
            out.append(("NP602", 2, "warning"))
        else:
            out.append(("NP600", 2, "error"))
    return sorted(out)


@pytest.mark.parametrize("name", list_targets())
@pytest.mark.parametrize("feature", Api.network_policy.features, ids=lambda f: f.value)
def test_feature_matrix(feature, name):
    text, used = PROGRAMS[feature]
    used = used | {F.network_policy}
    plain = check(text)  # no target: the manifests, whatever a target would say of them
    assert plain.ok
    derived = set().union(*(features_of(item.spec) for item in plain.emitted))
    if any(pod_ip_overlaps(item.spec, [ipaddress.ip_network(c) for c in POD_CIDRS]) for item in plain.emitted):
        derived.add(F.ip_block_pod_ips)
    assert derived == used, "the program must use exactly the features listed for it"
    result = check(text, name, pod_cidrs=POD_CIDRS)
    assert not [d for d in result.diagnostics if d.is_error and not d.code.startswith("NP6")]
    assert cni_findings(result) == expected_from_table(used, name)
    for d in result.diagnostics:
        if d.code.startswith("NP6"):
            assert d.message.startswith(name + " ") or f": {name} " in d.message, d.message
            assert d.hint and (d.code == "NP601" or load_target(name)[0].row(F.network_policy).status is Status.supported)


def test_matrix_covers_every_feature():
    assert set(PROGRAMS) == set(Api.network_policy.features)


def test_one_diagnostic_per_intent_feature_and_target():
    # `allow app=web to app=api` writes two manifests (api's ingress, web's egress): one finding.
    result = check("deny all\nallow app=web to app=api:8000-8010", "weave", "cilium@1.15")
    assert cni_findings(result) == [("NP600", 3, "error"), ("NP600", 3, "error")]
    messages = sorted(d.message for d in result.diagnostics if d.code == "NP600")
    assert messages[0].startswith("cilium 1.15 does not enforce endPort") and "(enforced since cilium 1.16)" in messages[0]
    assert messages[1].startswith("weave does not enforce endPort: only the first port")


def test_a_target_that_enforces_nothing_is_reported_once():
    result = check("deny all\nallow app=web to app=api:80\nallow app=api to app=db:5432", "flannel")
    (d,) = [d for d in result.diagnostics if d.code.startswith("NP6")]
    assert (d.code, d.span.line, d.severity) == ("NP601", 2, "error")
    assert d.message.startswith("flannel enforces no NetworkPolicy at all") and "(5 policies from this program)" in d.message


def test_stdlib_statements_are_reported_at_the_use_line_and_named():
    result = check("deny ingress\nuse monitoring", "weave")
    (d,) = [d for d in result.diagnostics if d.code == "NP600"]
    assert d.span.line == 3
    assert d.message.startswith("`allow app.kubernetes.io/name=prometheus in namespace monitoring to any:metrics` (from `use monitoring`)")
    assert "--named-port NAME=NUMBER" in d.hint


def test_world_is_a_rule_without_peers_which_every_target_enforces():
    # Written as 0.0.0.0/0 + ::/0 + every namespace, `world` failed on IPv4-only weave for netpolc's own ::/0.
    result = check("deny all\nallow any to world:443\nallow world to app=web:80", "weave", prove=True)
    assert result.ok and cni_findings(result) == []
    rules = [rule for m in result.manifests() for rule in m["spec"].get("egress", []) + m["spec"].get("ingress", [])]
    assert {"ports": [{"protocol": "TCP", "port": 443}]} in rules and {"ports": [{"protocol": "TCP", "port": 80}]} in rules
    assert "NP600" in {d.code for d in check("deny egress\nallow any to ::/0:443", "weave").diagnostics}  # IPv6 written out still is


# ---------------------------------------------------------------- limits


def test_port_combinations_over_the_limit_warn():
    ports = ",".join(str(p) for p in range(1000, 1025))  # 25 single ports
    assert cni_findings(check(f"allow any to app=db:{ports}", "aws-vpc-cni")) == [("NP603", 2, "warning")]
    assert cni_findings(check(f"allow any to app=db:{ports[5:]}", "aws-vpc-cni")) == []  # 24
    # one range is one combination: within the limit
    assert cni_findings(check("allow any to app=db:1000-2000", "aws-vpc-cni")) == []


def test_expanding_for_one_target_can_exceed_another_targets_limit():
    result = check("allow any to app=db:1000-1029", "weave", "aws-vpc-cni", expand_port_ranges=30)
    assert cni_findings(result) == [("NP603", 2, "warning"), ("NP605", 2, "info")]
    (d,) = [d for d in result.diagnostics if d.code == "NP603"]
    assert "30 ports of one protocol, more than 24" in d.message and "--expand-port-ranges" in d.hint


# ---------------------------------------------------------------- rewrites


def verdicts_equal(first: list[dict], second: list[dict]) -> bool:
    """The engine allows exactly the same flows for both manifest sets."""
    a, b = engine.load_policies(first), engine.load_policies(second)
    universe = engine.representative_universe([a, b])
    atoms = engine.port_atoms([a, b], universe)
    return engine.compare(engine.Reach(a, universe, atoms), engine.Reach(b, universe, atoms)) == []


RANGES = "deny all\nallow app=web to app=api:8000-8003,9000-9001/udp\negress only to 10.0.0.0/8:6000-6002 for app=batch"


def test_port_range_expansion_is_exact_proved_and_removes_the_finding():
    plain = check(RANGES, "calico", prove=True)
    expanded = check(RANGES, "weave", prove=True, expand_port_ranges=4)
    assert plain.ok and expanded.ok  # the proof ran on both and found nothing
    assert cni_findings(expanded) == [("NP605", 3, "info"), ("NP605", 3, "info"), ("NP605", 4, "info")]
    api = next(m for m in expanded.manifests() if m["metadata"]["name"].startswith("api-allow-from-web"))
    assert api["spec"]["ingress"][0]["ports"] == [
        {"protocol": "TCP", "port": 8000}, {"protocol": "TCP", "port": 8001}, {"protocol": "TCP", "port": 8002},
        {"protocol": "TCP", "port": 8003}, {"protocol": "UDP", "port": 9000}, {"protocol": "UDP", "port": 9001},
    ]
    assert [m["metadata"]["name"] for m in plain.manifests()] == [m["metadata"]["name"] for m in expanded.manifests()]
    assert verdicts_equal(plain.manifests(), expanded.manifests())


def test_a_range_above_the_expansion_limit_stays_and_is_reported():
    result = check("deny all\nallow app=web to app=api:8000-8003,6000-6099", "weave", expand_port_ranges=4)
    assert cni_findings(result) == [("NP600", 3, "error"), ("NP605", 3, "info")]
    (big,) = [d for d in result.diagnostics if d.code == "NP600"]
    assert "the range 6000-6099 has 100 ports, more than the 4 that expand-port-ranges allows" in big.hint


def test_ranges_are_not_expanded_when_every_target_enforces_end_port():
    result = check(RANGES, "calico", "cilium@1.16", expand_port_ranges=200)
    assert cni_findings(result) == []
    assert any("endPort" in str(m["spec"]) for m in result.manifests())


def test_the_proof_catches_an_inexact_expansion(monkeypatch):
    real = emit.expand_ports
    monkeypatch.setattr(emit, "expand_ports", lambda ports, limit: real(ports, limit)[:-1] if limit else ports)
    result = check("deny all\nallow app=web to app=api:8000-8003", "weave", prove=True, expand_port_ranges=4)
    assert "NP500" in {d.code for d in result.diagnostics} and not result.emitted


MONITORED = "deny ingress\nuse monitoring\nallow app=web to app=api:http,8080"


def test_named_port_substitution_is_reported_proved_and_removes_the_finding():
    result = check(MONITORED, "weave", prove=True, named_ports=(("metrics", 9090), ("http", 8080)))
    assert result.ok  # the proof ran and found nothing
    assert cni_findings(result) == [("NP606", 3, "info"), ("NP606", 4, "info")]
    note = next(d for d in result.diagnostics if d.code == "NP606" and d.span.line == 3)
    assert note.message == "named port `metrics` is written as port 9090, because weave does not enforce named ports"
    ports = [p for m in result.manifests() for rule in m["spec"].get("ingress", ()) for p in rule.get("ports", ())]
    assert {"protocol": "TCP", "port": 9090} in ports
    assert ports.count({"protocol": "TCP", "port": 8080}) == 1  # http and 8080 are one port now
    assert not any(isinstance(p.get("port"), str) for p in ports)


def test_an_unmapped_named_port_is_still_reported():
    result = check("deny ingress\nallow app=web to app=api:http,grpc", "weave", named_ports=(("http", 8080),))
    assert cni_findings(result) == [("NP600", 3, "error"), ("NP606", 3, "info")]
    unmapped = next(d for d in result.diagnostics if d.code == "NP600")
    assert "named ports" in unmapped.message and "--named-port NAME=NUMBER" in unmapped.hint


def test_named_ports_stay_names_where_every_target_enforces_them():
    result = check(MONITORED, "calico", named_ports=(("metrics", 9090),))
    assert cni_findings(result) == []
    assert "'metrics'" in str(result.manifests())


def test_named_port_substitution_applies_to_expectations_too():
    text = "deny ingress\nallow app=web to app=db:metrics\nexpect app=web -> app=db:metrics allowed"
    result = check(text, "weave", named_ports=(("metrics", 9090),))
    assert [e.port for e in result.program.expects] == [emit.ir.PortRange("TCP", 9090)]


# ---------------------------------------------------------------- pod CIDRs


@pytest.mark.parametrize(
    ("peer", "name", "warned"),
    [
        ("10.0.0.0/8", "cilium", True),
        ("10.244.3.0/24", "cilium", True),  # inside the pod CIDR
        ("10.0.0.0/8 except 10.244.0.0/16", "cilium", False),  # the pods are cut out
        ("10.0.0.0/8 except (10.244.0.0/17, 10.244.128.0/17)", "cilium", False),  # together they cover it
        ("192.168.0.0/16", "cilium", False),
        ("world", "cilium", False),  # world also names every pod by selector
        ("10.0.0.0/8", "calico", False),  # CIDRs match pod IPs there
        ("10.0.0.0/8", "gke-dataplane-v2", True),  # unknown: still a warning
    ],
)
def test_ipblock_overlapping_pod_cidrs(peer, name, warned):
    result = check(f"deny egress\nallow any to {peer}:443", name, pod_cidrs=POD_CIDRS)
    found = [d for d in result.diagnostics if d.code == "NP604"]
    assert [(d.span.line, d.severity) for d in found] == ([(3, "warning")] if warned else [])
    if warned:
        assert "overlaps the pod CIDR 10.244.0.0/16" in found[0].message
        assert "pod or namespace selector" in found[0].hint and "except 10.244.0.0/16" in found[0].hint


def test_pod_cidrs_unknown_means_no_overlap_check():
    assert cni_findings(check("deny egress\nallow any to 10.0.0.0/8:443", "cilium")) == []
