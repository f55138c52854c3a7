"""Cluster policy APIs in the CNI tables: the features of ClusterNetworkPolicy (v1alpha2) and
AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1) manifests, every feature on every
target as the tables say, and the findings (NP607-NP609) with their way out."""

from __future__ import annotations

import copy

import pytest

from compiler.capabilities import (
    ClusterManifest,
    Options,
    cluster_features_of,
    cluster_findings,
    cluster_pod_ip_overlaps,
)
from compiler.source import Span
from compiler.targets import (
    GATES,
    NOT_ENFORCED,
    Api,
    Consequence,
    Feature,
    Status,
    TargetError,
    _load_from,
    _read_table,
    list_targets,
    load_target,
)
from conftest import run_cli

F = Feature
V2 = "policy.networking.k8s.io/v1alpha2"
V1 = "policy.networking.k8s.io/v1alpha1"
POD_CIDRS = ("10.244.0.0/16",)
HEADER = Span("main.netpol", 2, 1, 2, 20)  # where each object is reported


def rule_span(line: int) -> Span:
    return Span("main.netpol", line, 1, line, 30)


def cnp(*egress: dict, ingress: tuple = (), tier: str = "Admin", priority: int = 10) -> dict:
    spec = {"tier": tier, "priority": priority, "subject": {"namespaces": {}}}
    if ingress:
        spec["ingress"] = list(ingress)
    if egress:
        spec["egress"] = list(egress)
    return {"apiVersion": V2, "kind": "ClusterNetworkPolicy", "metadata": {"name": "p"}, "spec": spec}


def anp(*egress: dict, ingress: tuple = (), priority: int = 10) -> dict:
    spec = {"priority": priority, "subject": {"namespaces": {}}}
    if ingress:
        spec["ingress"] = list(ingress)
    if egress:
        spec["egress"] = list(egress)
    return {"apiVersion": V1, "kind": "AdminNetworkPolicy", "metadata": {"name": "p"}, "spec": spec}


def banp(*egress: dict, ingress: tuple = ()) -> dict:
    spec = {"subject": {"namespaces": {}}}
    if ingress:
        spec["ingress"] = list(ingress)
    if egress:
        spec["egress"] = list(egress)
    return {"apiVersion": V1, "kind": "BaselineAdminNetworkPolicy", "metadata": {"name": "default"}, "spec": spec}


def rule(action: str, peer: dict, **ports) -> dict:
    return {"action": action, "to": [peer], **ports}


def tcp(port) -> dict:
    return {"tcp": {"destinationPort": {"number": port} if isinstance(port, int) else {"range": port}}}


# For every cluster policy feature, a minimal manifest that uses it, and every feature it uses.
# A feature missing here fails the matrix: a new row is never untested.
MANIFESTS: dict[Feature, tuple[dict, set[Feature]]] = {
    F.cluster_network_policy: (cnp(ingress=({"action": "Deny", "from": [{"namespaces": {}}]},)), set()),
    F.cnp_networks: (cnp(rule("Deny", {"networks": ["192.0.2.0/24"]})), {F.cnp_networks}),
    F.cnp_networks_pod_ips: (cnp(rule("Deny", {"networks": ["10.0.0.0/8"]})), {F.cnp_networks, F.cnp_networks_pod_ips}),
    F.cnp_nodes: (cnp(rule("Accept", {"nodes": {"matchLabels": {"role": "infra"}}})), {F.cnp_nodes}),
    F.cnp_domain_names: (cnp(rule("Accept", {"domainNames": ["*.example.com"]})), {F.cnp_domain_names}),
    F.cnp_named_port: (
        cnp(rule("Accept", {"namespaces": {}}, protocols=[{"destinationNamedPort": "metrics"}])), {F.cnp_named_port}
    ),
    F.cnp_port_range: (
        cnp(rule("Accept", {"namespaces": {}}, protocols=[tcp({"start": 8000, "end": 8080})])), {F.cnp_port_range}
    ),
    F.cnp_sctp: (
        cnp(rule("Accept", {"namespaces": {}}, protocols=[{"sctp": {"destinationPort": {"number": 9}}}])), {F.cnp_sctp}
    ),
    F.admin_network_policy: (anp(ingress=({"action": "Deny", "from": [{"namespaces": {}}]},)), {F.anp_priority_range}),
    F.baseline_admin_network_policy: (banp(ingress=({"action": "Deny", "from": [{"namespaces": {}}]},)), set()),
    F.anp_priority_range: (anp(rule("Deny", {"namespaces": {}}), priority=1000), {F.anp_priority_range}),
    F.anp_networks: (anp(rule("Deny", {"networks": ["192.0.2.0/24"]})), {F.anp_priority_range, F.anp_networks}),
    F.anp_nodes: (anp(rule("Allow", {"nodes": {}})), {F.anp_priority_range, F.anp_nodes}),
    F.anp_domain_names: (anp(rule("Allow", {"domainNames": ["example.com"]})), {F.anp_priority_range, F.anp_domain_names}),
    F.anp_named_port: (
        anp(rule("Allow", {"namespaces": {}}, ports=[{"namedPort": "metrics"}])), {F.anp_priority_range, F.anp_named_port}
    ),
    F.anp_port_range: (
        anp(rule("Allow", {"namespaces": {}}, ports=[{"portRange": {"start": 1, "end": 9}}])),
        {F.anp_priority_range, F.anp_port_range},
    ),
    F.anp_sctp: (
        anp(rule("Allow", {"namespaces": {}}, ports=[{"portNumber": {"protocol": "SCTP", "port": 9}}])),
        {F.anp_priority_range, F.anp_sctp},
    ),
}
CLUSTER_FEATURES = [f for f in Feature if f.api not in (Api.network_policy, Api.fqdn)]  # DNS names: tests/test_fqdn.py
KIND_GATES = {
    "ClusterNetworkPolicy": F.cluster_network_policy,
    "AdminNetworkPolicy": F.admin_network_policy,
    "BaselineAdminNetworkPolicy": F.baseline_admin_network_policy,
}
RULE_LINE = 3  # the one rule of each manifest above is written on line 3


def findings(items, *specs: str, **options) -> list:
    targets = tuple(load_target(spec) for spec in specs)
    return cluster_findings(items, Options(targets=targets, **options))


def summary(diagnostics) -> list[tuple[str, int, str]]:
    return sorted((d.code, d.span.line, d.severity) for d in diagnostics)


def item(manifest: dict) -> ClusterManifest:
    spec = manifest["spec"]
    rules = {(direction, i): rule_span(RULE_LINE + i) for direction in ("ingress", "egress") for i in range(len(spec.get(direction) or ()))}
    return ClusterManifest(manifest, HEADER, rules)


def expected_from_table(manifest: dict, used: set[Feature], name: str) -> list[tuple[str, int, str]]:
    """What the table says for one manifest using `used`, read from the rows directly."""
    target, _ = load_target(name)
    gate = KIND_GATES[manifest["kind"]]
    gate_row = target.row(gate)
    if gate_row.status in NOT_ENFORCED:
        return [("NP607", HEADER.line, "error")]
    out = [] if gate_row.status is Status.supported else [("NP609", HEADER.line, "warning")]
    for feature in used - {gate}:
        row = target.row(feature)
        line = HEADER.line if feature is F.anp_priority_range else RULE_LINE
        if row.status is Status.supported:
            if row.limit is not None and manifest["spec"].get("priority", 0) > row.limit:
                out.append(("NP608", line, "error"))
        elif row.status in NOT_ENFORCED:
            out.append(("NP608", line, "error"))
        else:
            out.append(("NP609", line, "warning"))
    return sorted(out)


@pytest.mark.parametrize("name", list_targets())
@pytest.mark.parametrize("feature", CLUSTER_FEATURES, ids=lambda f: f.value)
def test_cluster_feature_matrix(feature, name):
    manifest, listed = MANIFESTS[feature]
    gate = KIND_GATES[manifest["kind"]]
    used = cluster_features_of(manifest) | ({F.cnp_networks_pod_ips} if feature is F.cnp_networks_pod_ips else set())
    assert used == listed | {gate}, "the manifest must use exactly the features listed for it"
    got = findings([item(manifest)], name, pod_cidrs=POD_CIDRS)
    assert summary(got) == expected_from_table(manifest, used, name)
    for d in got:
        assert d.message.startswith(name + " ") or f": {name} " in d.message, d.message
        assert d.hint


def test_matrix_covers_every_cluster_feature():
    assert set(MANIFESTS) == set(CLUSTER_FEATURES)
    assert set(CLUSTER_FEATURES) == set(Api.cluster_network_policy.features) | set(Api.admin_network_policy.features)


# ---------------------------------------------------------------- features of a manifest


def test_features_of_a_full_cluster_network_policy():
    manifest = cnp(
        rule("Deny", {"networks": ["10.0.0.0/8", "fd00::/8"]}, protocols=[tcp(443), {"udp": {"destinationPort": {"number": 53}}}]),
        rule("Accept", {"nodes": {}}, protocols=[tcp({"start": 30000, "end": 32767})]),
        rule("Accept", {"domainNames": ["example.com"]}),
        rule("Pass", {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "db"}}}},
             protocols=[{"destinationNamedPort": "pg"}, {"sctp": {"destinationPort": {"number": 9}}}]),
        ingress=({"action": "Accept", "from": [{"namespaces": {"matchLabels": {"team": "ops"}}}], "protocols": [tcp(22)]},),
    )
    assert cluster_features_of(manifest) == {
        F.cluster_network_policy, F.cnp_networks, F.cnp_nodes, F.cnp_domain_names, F.cnp_port_range,
        F.cnp_named_port, F.cnp_sctp,
    }


def test_features_of_a_plain_cluster_network_policy_are_only_its_kind():
    manifest = cnp(rule("Deny", {"namespaces": {}}, protocols=[tcp(80)]), tier="Baseline")
    assert cluster_features_of(manifest) == {F.cluster_network_policy}


def test_features_of_a_full_admin_network_policy():
    manifest = anp(
        rule("Deny", {"networks": ["0.0.0.0/0"]}, ports=[{"portNumber": {"protocol": "UDP", "port": 53}}]),
        rule("Allow", {"nodes": {}}, ports=[{"portRange": {"protocol": "SCTP", "start": 1, "end": 9}}]),
        rule("Allow", {"domainNames": ["*.example.com"]}),
        ingress=({"action": "Pass", "from": [{"pods": {"namespaceSelector": {}, "podSelector": {}}}], "ports": [{"namedPort": "http"}]},),
        priority=5,
    )
    assert cluster_features_of(manifest) == {
        F.admin_network_policy, F.anp_priority_range, F.anp_networks, F.anp_nodes, F.anp_domain_names,
        F.anp_port_range, F.anp_sctp, F.anp_named_port,
    }


def test_features_of_a_baseline_admin_network_policy():
    manifest = banp(rule("Deny", {"networks": ["10.0.0.0/8"]}), ingress=({"action": "Allow", "from": [{"namespaces": {}}], "ports": [{"portNumber": {"port": 80}}]},))
    assert cluster_features_of(manifest) == {F.baseline_admin_network_policy, F.anp_networks}


@pytest.mark.parametrize(
    "manifest",
    [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "spec": {}},
        {"apiVersion": V1, "kind": "ClusterNetworkPolicy", "spec": {}},  # the wrong version for the kind
        {"apiVersion": V2, "kind": "AdminNetworkPolicy", "spec": {}},
        "not a mapping",
    ],
)
def test_features_of_anything_else_is_refused(manifest):
    with pytest.raises(ValueError):
        cluster_features_of(manifest)


def test_pod_ip_overlaps_of_networks():
    networks = [__import__("ipaddress").ip_network(c) for c in POD_CIDRS]
    assert cluster_pod_ip_overlaps(cnp(rule("Deny", {"networks": ["10.0.0.0/8"]})), networks) == [("10.0.0.0/8", "10.244.0.0/16")]
    assert cluster_pod_ip_overlaps(cnp(rule("Deny", {"networks": ["192.168.0.0/16", "fd00::/8"]})), networks) == []
    # a rule that names every pod by selector as well needs no CIDR for them
    both = cnp({"action": "Deny", "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0"]}]})
    assert cluster_pod_ip_overlaps(both, networks) == []
    assert cluster_pod_ip_overlaps(anp(rule("Deny", {"networks": ["10.0.0.0/8"]})), networks) == []


# ---------------------------------------------------------------- findings, by target

ADMIN = cnp(rule("Deny", {"namespaces": {"matchLabels": {"env": "prod"}}}))
BASELINE = cnp(rule("Deny", {"namespaces": {}}), tier="Baseline")
OLD_ADMIN = anp(rule("Deny", {"namespaces": {"matchLabels": {"env": "prod"}}}))
OLD_BASELINE = banp(rule("Deny", {"namespaces": {}}))


def one(diagnostics):
    (d,) = diagnostics
    return d


def test_calico_3_31_enforces_v1alpha1_only():
    d = one(findings([ClusterManifest(ADMIN, HEADER), ClusterManifest(BASELINE, rule_span(9))], "calico@3.31"))
    assert (d.code, d.span.line, d.severity) == ("NP607", 2, "error")
    assert d.message.startswith("calico 3.31 does not support ClusterNetworkPolicy (v1alpha2): the CRD is not installed, so `kubectl apply` fails")
    assert "(2 ClusterNetworkPolicy objects from this program)" in d.message
    assert d.hint.startswith("calico 3.31 enforces AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1): compile with `--api v1alpha1`")
    assert "upgrade calico to 3.32 or later" in d.hint and "no exact NetworkPolicy form" in d.hint
    assert findings([(OLD_ADMIN, HEADER), (OLD_BASELINE, rule_span(9))], "calico@3.31") == []


def test_calico_3_32_enforces_v1alpha2_and_silently_ignores_v1alpha1():
    assert findings([(ADMIN, HEADER), (BASELINE, rule_span(9))], "calico@3.32") == []
    got = findings([(OLD_ADMIN, HEADER), (OLD_BASELINE, rule_span(9))], "calico@3.32")
    assert summary(got) == [("NP607", 2, "error"), ("NP607", 9, "error")]
    for d in got:
        assert "accepts the objects and nothing enforces them" in d.message and "(from calico 3.32 on)" in d.message
        assert d.hint.startswith("calico 3.32 enforces ClusterNetworkPolicy (v1alpha2): compile without `--api v1alpha1`")
    # no version: the newest the table knows, 3.32
    assert summary(findings([(OLD_ADMIN, HEADER)], "calico")) == [("NP607", 2, "error")]


def test_calico_3_29_has_admin_but_not_baseline():
    got = findings([(OLD_ADMIN, HEADER), (OLD_BASELINE, rule_span(9))], "calico@3.29")
    d = one(got)
    assert (d.code, d.span.line) == ("NP607", 9)
    assert "BaselineAdminNetworkPolicy" in d.message and "(enforced since calico 3.30)" in d.message
    assert "upgrade calico to 3.30 or later" in d.hint and "--api" not in d.hint


def test_calico_nodes_peer_fails_closed_at_its_rule():
    manifest = cnp(rule("Accept", {"namespaces": {}}), rule("Accept", {"nodes": {}}))
    d = one(findings([ClusterManifest(manifest, HEADER, {("egress", 1): rule_span(7)})], "calico@3.32"))
    assert (d.code, d.span.line, d.severity) == ("NP608", 7, "error")
    assert "does not support ClusterNetworkPolicy nodes peers: the rule fails closed" in d.message
    assert d.hint == "name the node addresses with a networks CIDR instead"
    # without a span for the rule, the object's span
    assert one(findings([(manifest, HEADER)], "calico@3.32")).span == HEADER


def test_cilium_1_20_needs_the_flag_and_the_crd():
    d = one(findings([(ADMIN, HEADER)], "cilium@1.20"))
    assert (d.code, d.span.line, d.severity) == ("NP609", 2, "warning")
    assert "only when switched on (--enable-k8s-cluster-network-policy=true" in d.message and "installed by hand" in d.message
    assert "while off, the API server accepts the objects and nothing enforces them" in d.message
    assert d.hint.startswith("switch it on where it is off (--enable-k8s-cluster-network-policy=true")
    assert summary(findings([(ADMIN, HEADER)], "cilium")) == [("NP609", 2, "warning")]  # 1.20 is the newest


def test_cilium_before_1_20_has_no_cluster_policy():
    d = one(findings([(ADMIN, HEADER)], "cilium@1.18"))
    assert (d.code, d.severity) == ("NP607", "error")
    assert d.message.startswith("cilium 1.18 does not support ClusterNetworkPolicy (v1alpha2): the CRD is not installed")
    assert d.hint.startswith("upgrade cilium to 1.20 or later; or keep to namespace intents for this target")
    # v1alpha1 was never implemented: the way out is v1alpha2, once switched on
    d = one(findings([(OLD_ADMIN, HEADER)], "cilium"))
    assert d.code == "NP607" and d.hint.startswith("cilium enforces ClusterNetworkPolicy (v1alpha2) once switched on: compile without `--api v1alpha1`")


def test_cilium_networks_over_pod_ips_need_the_cidr_match_mode():
    manifest = cnp(rule("Deny", {"networks": ["10.0.0.0/8"]}))
    got = findings([ClusterManifest(manifest, HEADER, {("egress", 0): rule_span(3)})], "cilium", pod_cidrs=POD_CIDRS,
                   pod_cidrs_span=rule_span(1))
    assert summary(got) == [("NP609", 2, "warning"), ("NP609", 3, "warning")]
    d = next(d for d in got if d.span.line == 3)
    assert d.message.startswith("networks 10.0.0.0/8 overlaps the pod CIDR 10.244.0.0/16: cilium enforces")
    assert "a Deny lets it through" in d.message and "--policy-cidr-match-mode=pods" in d.hint
    assert d.related == ((rule_span(1), "pod CIDRs declared here"),)
    # without declared pod CIDRs there is nothing to compare; on calico, CIDRs match pods anyway
    assert summary(findings([(manifest, HEADER)], "cilium")) == [("NP609", 2, "warning")]
    assert findings([(manifest, HEADER)], "calico", pod_cidrs=POD_CIDRS) == []


def test_antrea_needs_its_feature_gates():
    got = findings([(ADMIN, HEADER)], "antrea")
    d = one(got)
    assert (d.code, d.severity) == ("NP609", "warning") and "feature gate ClusterNetworkPolicy" in d.message
    d = one(findings([(OLD_ADMIN, HEADER)], "antrea@2.6"))
    assert "feature gate AdminNetworkPolicy" in d.message
    # before 2.7, no upstream ClusterNetworkPolicy at all; the v1alpha1 kinds still work once switched on
    d = one(findings([(ADMIN, HEADER)], "antrea@2.6"))
    assert d.code == "NP607" and "upgrade antrea to 2.7 or later" in d.hint
    assert "antrea 2.6 enforces AdminNetworkPolicy (v1alpha1) once switched on: compile with `--api v1alpha1`" in d.hint


@pytest.mark.parametrize("name", ["flannel", "aws-vpc-cni"])
def test_no_cluster_policy_support_at_all(name):
    d = one(findings([(ADMIN, HEADER), (BASELINE, rule_span(9))], name))
    assert (d.code, d.span.line, d.severity) == ("NP607", 2, "error")
    assert d.message.startswith(f"{name} does not support ClusterNetworkPolicy (v1alpha2): the CRD is not installed")
    assert d.hint.startswith("keep to namespace intents for this target")
    assert summary(findings([(OLD_ADMIN, HEADER), (OLD_BASELINE, rule_span(9))], name)) == [("NP607", 2, "error"), ("NP607", 9, "error")]


def test_aws_vpc_cni_names_its_own_api_as_a_different_one():
    row = load_target("aws-vpc-cni")[0].row(F.cluster_network_policy)
    assert (row.status, row.consequence) == (Status.unsupported, Consequence.crd_missing)
    assert "networking.k8s.aws/v1alpha1" in row.note


def test_ovn_kubernetes_priorities_stop_at_99():
    assert findings([(anp(rule("Deny", {"namespaces": {}}), priority=99), HEADER)], "ovn-kubernetes") == []
    d = one(findings([(anp(rule("Deny", {"namespaces": {}}), priority=100), HEADER)], "ovn-kubernetes"))
    assert (d.code, d.span.line, d.severity) == ("NP608", 2, "error")
    assert d.message.startswith("priority 100 is above 99: ovn-kubernetes enforces AdminNetworkPolicy priorities only within a limit")
    assert "ANPWithUnsupportedPriority" in d.message and d.hint.startswith("keep to 99 or fewer")
    # the limit is OVN-Kubernetes's: calico takes the API's whole range
    assert findings([(anp(rule("Deny", {"namespaces": {}}), priority=1000), HEADER)], "calico@3.31") == []


def test_a_fleet_reports_each_target_and_each_line_once():
    manifest = cnp(rule("Accept", {"nodes": {}}), rule("Accept", {"nodes": {}}))
    spans = {("egress", 0): rule_span(3), ("egress", 1): rule_span(3)}  # one line wrote both rules
    got = findings([ClusterManifest(manifest, HEADER, spans)], "calico@3.32", "cilium", "weave")
    assert summary(got) == [("NP607", 2, "error"), ("NP608", 3, "error"), ("NP609", 2, "warning"), ("NP609", 3, "warning")]
    assert [d.message.split()[0] for d in got] == ["calico", "cilium", "cilium", "weave"]


def test_no_targets_or_no_manifests_is_no_findings():
    assert cluster_findings([(ADMIN, HEADER)], Options()) == []
    assert findings([], "weave") == []


def test_the_kubernetes_baseline_enforces_every_cluster_feature():
    items = [ClusterManifest(m, HEADER) for m, _ in MANIFESTS.values()]
    assert findings(items, "kubernetes", pod_cidrs=POD_CIDRS) == []


def test_manifests_are_not_changed():
    manifest = cnp(rule("Accept", {"nodes": {}}))
    before = copy.deepcopy(manifest)
    findings([(manifest, HEADER)], "calico", "cilium", pod_cidrs=POD_CIDRS)
    assert manifest == before


# ---------------------------------------------------------------- the tables


@pytest.mark.parametrize("name", [n for n in list_targets() if n != "kubernetes"])
def test_no_cni_inherits_cluster_support_from_the_baseline(name):
    """The baseline states the API; whether a CNI installs and enforces it must be researched per CNI."""
    baseline, _ = load_target("kubernetes")
    target, _ = load_target(name)
    for gate in GATES[1:]:
        assert target.rows[gate].source != baseline.rows[gate].source, f"{name}.{gate.value}"


@pytest.mark.parametrize(
    ("spec", "feature", "status", "consequence"),
    [
        ("calico@3.28", F.admin_network_policy, Status.unsupported, Consequence.crd_missing),
        ("calico@3.31", F.admin_network_policy, Status.supported, Consequence.crd_missing),
        ("calico@3.32", F.admin_network_policy, Status.ignored, Consequence.object_ignored),
        ("calico@3.33", F.admin_network_policy, Status.ignored, Consequence.object_ignored),
        ("calico@3.31", F.cluster_network_policy, Status.unsupported, Consequence.crd_missing),
        ("calico@3.32", F.cluster_network_policy, Status.supported, Consequence.crd_missing),
        ("canal@3.32", F.cluster_network_policy, Status.supported, Consequence.crd_missing),
        ("cilium@1.19", F.cluster_network_policy, Status.unsupported, Consequence.crd_missing),
        ("cilium@1.20.1", F.cluster_network_policy, Status.opt_in, Consequence.object_ignored),
        ("azure-cilium", F.cluster_network_policy, Status.unsupported, Consequence.crd_missing),
        ("antrea@2.7", F.cluster_network_policy, Status.opt_in, Consequence.object_ignored),
        ("antrea@1.12", F.admin_network_policy, Status.unsupported, Consequence.crd_missing),
        ("antrea@1.13", F.baseline_admin_network_policy, Status.opt_in, Consequence.object_ignored),
        ("ovn-kubernetes", F.admin_network_policy, Status.supported, None),
        ("ovn-kubernetes", F.cluster_network_policy, Status.unsupported, Consequence.crd_missing),
        ("kube-network-policies", F.cluster_network_policy, Status.opt_in, Consequence.object_ignored),
        ("kindnet", F.cluster_network_policy, Status.unsupported, Consequence.crd_missing),
        ("gke-dataplane-v2@1.35.2-gke.100", F.cluster_network_policy, Status.unsupported, Consequence.crd_missing),
        ("gke-dataplane-v2@1.36.0-gke.4447000", F.cluster_network_policy, Status.unknown, Consequence.crd_missing),
        ("calico-windows", F.cluster_network_policy, Status.unknown, None),
    ],
)
def test_researched_cluster_rows(spec, feature, status, consequence):
    target, version = load_target(spec)
    row = target.row(feature, version)
    assert (row.status, row.consequence) == (status, consequence)


def test_switches_name_the_flag_or_gate():
    assert "--enable-k8s-cluster-network-policy" in load_target("cilium")[0].row(F.cluster_network_policy).switch
    assert "feature gate ClusterNetworkPolicy" in load_target("antrea")[0].row(F.cluster_network_policy).switch
    assert "feature gate AdminNetworkPolicy" in load_target("antrea")[0].row(F.admin_network_policy).switch
    assert "npa-v1alpha2" in load_target("kube-network-policies")[0].row(F.cluster_network_policy).switch


def test_a_gate_that_enforces_nothing_hides_its_features_but_opt_in_does_not():
    old, _ = load_target("cilium@1.18")
    assert old.row(F.cnp_nodes, "1.18").status is Status.unsupported
    assert old.row(F.cnp_nodes, "1.18").consequence is Consequence.crd_missing
    new, _ = load_target("cilium")
    assert new.row(F.cnp_nodes).consequence is Consequence.policy_dropped  # its own row, once switched on
    # a NetworkPolicy gate does not hide the cluster features, nor the reverse
    flannel, _ = load_target("flannel")
    assert flannel.row(F.cnp_nodes).source == flannel.row(F.cluster_network_policy).source
    assert load_target("ovn-kubernetes")[0].row(F.named_port).status is Status.ignored


def test_enforced_from_finds_the_next_era():
    calico, _ = load_target("calico")
    assert calico.enforced_from(F.cluster_network_policy, "3.28") == "3.32"
    assert calico.enforced_from(F.admin_network_policy, "3.28") == "3.29"
    assert calico.enforced_from(F.admin_network_policy, "3.32") is None  # never again
    cilium, _ = load_target("cilium")
    assert cilium.enforced_from(F.cluster_network_policy, "1.18") == "1.20"
    assert cilium.enforced_from(F.cluster_network_policy) is None


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndisplay_name = "X"\ndescription = "x"\n{body}')
    return path


def test_an_opt_in_row_must_say_how_to_switch_it_on(tmp_path):
    path = _write(tmp_path, "bad", '[features.cnp_nodes]\nstatus = "opt_in"\nconsequence = "policy_dropped"\nsource = "s"\n')
    with pytest.raises(TargetError, match=r"features\.cnp_nodes: 'switch' is a required"):
        _read_table(path)


def test_a_switch_belongs_to_an_opt_in_row(tmp_path):
    path = _write(tmp_path, "bad", '[features.cnp_nodes]\nstatus = "supported"\nswitch = "x"\nsource = "s"\n')
    with pytest.raises(TargetError, match=r"features\.cnp_nodes\.status: 'opt_in' was expected"):
        _read_table(path)


def test_changes_must_come_later(tmp_path):
    base = "".join(f'[features.{f.value}]\nstatus = "supported"\nsource = "s"\n' for f in Feature)
    _write(tmp_path, "base", base)
    body = (
        'extends = "base"\n[features.admin_network_policy]\nstatus = "supported"\nsince = "3.29"\nbefore = "unsupported"\n'
        'consequence = "crd_missing"\nsource = "t"\n[[features.admin_network_policy.changes]]\nsince = "3.2"\n'
        'status = "ignored"\nconsequence = "object_ignored"\nsource = "u"\n'
    )
    _write(tmp_path, "child", body)
    with pytest.raises(TargetError, match="since and the changes' since must rise strictly"):
        _load_from(tmp_path, "child")
    _write(tmp_path, "child", body.replace('since = "3.2"', 'since = "3.32"'))
    child = _load_from(tmp_path, "child")
    assert child.row(Feature.admin_network_policy, "3.31").status is Status.supported
    assert child.row(Feature.admin_network_policy, "3.32").status is Status.ignored
    assert child.row(Feature.admin_network_policy).status is Status.ignored  # no version known: the newest era


def test_a_change_row_needs_a_since(tmp_path):
    path = _write(
        tmp_path, "bad",
        '[features.admin_network_policy]\nstatus = "supported"\nsource = "s"\n'
        '[[features.admin_network_policy.changes]]\nstatus = "ignored"\nconsequence = "object_ignored"\nsource = "u"\n',
    )
    with pytest.raises(TargetError, match="'since' is a required property"):
        _read_table(path)


# ---------------------------------------------------------------- netpolc cni show / list


def test_cni_show_has_a_block_per_cluster_api():
    lines = run_cli("cni", "show", "cilium@1.18").out.splitlines()
    v2 = lines.index("ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2:")
    v1 = lines.index("AdminNetworkPolicy and BaselineAdminNetworkPolicy, policy.networking.k8s.io/v1alpha1:")
    assert lines[v2 + 1].split() == ["feature", "status", "since", "consequence", "source"]
    rows = {line.split()[0]: line.split() for line in lines[v2 + 2 : v2 + 2 + len(Api.cluster_network_policy.features)]}
    assert list(rows) == [f.value for f in Api.cluster_network_policy.features]
    assert rows["cluster_network_policy"][1:3] == ["unsupported", "crd_missing"]
    assert rows["cnp_nodes"][1:3] == ["unsupported", "crd_missing"]  # nothing of the API at 1.18
    assert lines[v1 + 2].split()[:3] == ["admin_network_policy", "unsupported", "crd_missing"]
    assert "Cluster policy APIs: ClusterNetworkPolicy no, ANP/BANP no." in lines


def test_cni_show_names_the_switches():
    out = run_cli("cni", "show", "cilium").out
    row = next(line for line in out.splitlines() if line.startswith("cluster_network_policy "))
    assert row.split()[1:4] == ["opt_in", "1.20", "object_ignored"]
    assert "  cluster_network_policy is off unless switched on: --enable-k8s-cluster-network-policy=true" in out
    assert "  cnp_nodes is off unless switched on: --enable-node-selector-labels" in out
    assert "Cluster policy APIs: ClusterNetworkPolicy opt-in, ANP/BANP no." in out


def test_cni_show_at_the_version_calico_changed_api():
    def row(spec, feature):
        line = next(line for line in run_cli("cni", "show", spec).out.splitlines() if line.startswith(feature + " "))
        return line.split()[1:4]

    assert row("calico@3.31", "admin_network_policy") == ["supported", "3.29", "crd_missing"]
    assert row("calico@3.32", "admin_network_policy") == ["ignored", "3.32", "object_ignored"]
    assert row("calico@3.31", "cluster_network_policy") == ["unsupported", "3.32", "crd_missing"]
    assert row("ovn-kubernetes", "anp_priority_range") == ["supported", "policy_dropped", "(99)"]
