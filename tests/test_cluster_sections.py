"""Cluster sections: the language, ClusterNetworkPolicy v1alpha2 / AdminNetworkPolicy v1alpha1 output, tiers in the engine, the proof."""

from __future__ import annotations

import json

import pytest
import yaml

from compiler import engine
from compiler.schema import CRD_SCHEMAS, CRDS
from tests.conftest import build_text, run_cli

GUARDRAILS = """\
cluster admin priority 10
deny namespaces env=dev to namespaces env=prod
allow app.kubernetes.io/name=prometheus in namespace monitoring to cluster:metrics
deny cluster to cluster:metrics
pass namespaces team=payments to namespace payments-db

cluster baseline priority 10
deny all

namespace shop
deny all
use dns
allow app=web to app=db:5432
"""


def cluster_objects(result) -> list[dict]:
    return [m for m in result.manifests() if m["kind"] != "NetworkPolicy"]


def universe_with(namespaces: dict[str, dict], pods: list[tuple[str, str, dict, tuple]]) -> engine.Universe:
    return engine.Universe(
        [engine.Namespace(name, labels) for name, labels in namespaces.items()],
        [engine.Pod(ns, name, labels, [engine.ContainerPort(*p) for p in ports]) for ns, name, labels, ports in pods],
        [engine.Address("8.8.8.8")],
    )


CLUSTER = universe_with(
    {
        "dev": {"env": "dev"},
        "prod": {"env": "prod"},
        "monitoring": {},
        "shop": {},
        "pay": {"team": "payments"},
        "payments-db": {},
    },
    [
        ("dev", "client", {"app": "client"}, ()),
        ("prod", "api", {"app": "api"}, (("metrics", 9090, "TCP"), ("http", 8080, "TCP"))),
        ("monitoring", "prom", {"app.kubernetes.io/name": "prometheus"}, ()),
        ("shop", "web", {"app": "web"}, (("metrics", 9100, "TCP"),)),
        ("shop", "db", {"app": "db"}, (("metrics", 9187, "TCP"),)),
        ("pay", "worker", {"app": "worker"}, ()),
        ("payments-db", "pg", {"app": "pg"}, ()),
    ],
)


def verdict(policies, source: str, destination, port, protocol="TCP") -> bool:
    pods = {p.name: p for p in CLUSTER.pods}
    target = pods[destination] if isinstance(destination, str) else destination
    flow = engine.evaluate(policies, CLUSTER, pods[source], target, port, protocol)
    atoms = engine.port_atoms([policies], CLUSTER, [engine.PortRule(protocol, port)] if isinstance(port, int) else [])
    reach = engine.Reach(policies, CLUSTER, atoms)
    number = flow.port
    classes = number is not None and reach.allows(pods[source], target, reach.atom_index(number, protocol))
    assert flow.allowed == bool(classes), "evaluate and Reach disagree"
    return flow.allowed


@pytest.fixture(scope="module")
def compiled():
    result = build_text(GUARDRAILS, validate=True)
    assert result.ok, result.diagnostics
    return result


def test_cluster_sections_compile_to_schema_valid_cluster_network_policies(compiled):
    import jsonschema

    objects = cluster_objects(compiled)
    assert objects and {m["kind"] for m in objects} == {"ClusterNetworkPolicy"}
    schema = json.loads((CRDS / CRD_SCHEMAS[("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")]).read_text())
    for manifest in objects:
        jsonschema.validate(manifest, schema)  # the reference validator, beside fastjsonschema in the build
        assert "namespace" not in manifest["metadata"]
        assert manifest["metadata"]["annotations"]["netpolc.io/source"].startswith("main.netpol:")
        for direction in ("ingress", "egress"):
            for rule in manifest["spec"].get(direction, []):
                assert len(rule["name"]) <= 100 and rule["name"].startswith("L")


def test_rule_order_is_kept_by_priorities(compiled):
    # prometheus' accept (line 3) must be tried before the deny of everyone else (line 4) on every subject that holds both.
    by_name = {m["metadata"]["name"]: m for m in cluster_objects(compiled)}
    accept = [m for m in by_name.values() if any(r["name"].startswith("L3:") for r in m["spec"].get("ingress", []))]
    deny = [m for m in by_name.values() if any(r["name"].startswith("L4:") for r in m["spec"].get("egress", []))]
    assert accept and deny
    assert all(m["spec"]["priority"] >= 10 for m in by_name.values() if m["spec"]["tier"] == "Admin")
    for manifest in by_name.values():  # inside one object, the rules are in the order they were written
        for direction in ("ingress", "egress"):
            lines = [int(r["name"][1:].split(":")[0]) for r in manifest["spec"].get(direction, [])]
            assert lines == sorted(lines)


def test_tier_semantics_on_a_real_shaped_cluster(compiled):
    policies = engine.load_policies(compiled.manifests())
    assert not verdict(policies, "client", "api", 8080)  # dev -> prod: admin deny, whatever prod's policies say
    assert verdict(policies, "prom", "db", "metrics")  # admin accept overrides shop's `deny ingress`
    assert not verdict(policies, "web", "db", "metrics")  # everyone else: admin deny on the metrics port
    assert verdict(policies, "web", "db", 5432)  # NetworkPolicy decides below the admin tier
    assert not verdict(policies, "client", "db", 5432)  # ... and denies what it does not allow
    assert not verdict(policies, "worker", "pg", 5432)  # passed to NetworkPolicy: none isolates pg; baseline deny all
    assert not verdict(policies, "client", "web", 80)  # dev isolates nothing: the baseline's deny all decides client's egress
    pods = {p.name: p for p in CLUSTER.pods}
    internet = CLUSTER.addresses[0]
    prom_out = engine.evaluate(policies, CLUSTER, pods["prom"], internet, 443)
    assert not prom_out.allowed and prom_out.egress.decided_by == "baseline"
    web_out = engine.evaluate(policies, CLUSTER, pods["web"], internet, 443)
    assert not web_out.allowed and web_out.egress.decided_by == "networkpolicy"  # shop's own policies decide, not the baseline
    inbound = engine.evaluate(policies, CLUSTER, internet, pods["prom"], 443)
    assert inbound.allowed  # the baseline cannot name sources outside the cluster (NP419 says so)


def test_pass_hands_the_flow_to_network_policy():
    program = "cluster admin priority 5\npass namespaces team=payments to namespace payments-db\ndeny cluster to namespace payments-db\n"
    policies = engine.load_policies(build_text(program).manifests())
    assert verdict(policies, "worker", "pg", 5432)  # passed, nothing below denies: allowed
    assert not verdict(policies, "client", "pg", 5432)  # not passed: the deny decides


def test_explain_names_the_tier_policy_and_rule(tmp_path):
    path = tmp_path / "g.netpol"
    path.write_text(GUARDRAILS)
    run = run_cli("explain", str(path), "-n", "shop", "app=x in namespaces env=dev -> app=y in namespaces env=prod:80")
    assert run.code == 0, run.err
    assert "denied" in run.out.splitlines()[0]
    assert "the admin tier decides: denied by rule 1 (L2: deny namespaces env=dev to namespaces env=prod)" in run.out
    run = run_cli("explain", str(path), "-n", "shop", "app=web -> app=db:5432", "--format", "json")
    flow = json.loads(run.out)["flows"][0]
    assert flow["allowed"] and flow["ingress"]["decided_by"] == "networkpolicy"


def test_expectations_across_tiers(tmp_path):
    path = tmp_path / "g.netpol"
    path.write_text(
        GUARDRAILS
        + "expect app=web -> app=db:5432 allowed\n"
        + "expect app=web -> app=db:metrics denied\n"
        + "namespace monitoring\n"
        + "expect app.kubernetes.io/name=prometheus -> app=db in namespace shop:metrics allowed\n"
        + "expect app.kubernetes.io/name=prometheus -> app=db in namespace shop:5432 denied\n"
    )
    run = run_cli("test", str(path))
    assert run.code == 0, run.out + run.err
    assert "4 passed, 0 failed" in run.out


def test_v1alpha1_writes_admin_and_baseline_admin_network_policies(tmp_path):
    import jsonschema

    result = build_text(GUARDRAILS, validate=True, api="v1alpha1")
    assert result.ok, result.diagnostics
    objects = cluster_objects(result)
    kinds = [m["kind"] for m in objects]
    assert kinds.count("BaselineAdminNetworkPolicy") == 1 and "AdminNetworkPolicy" in kinds
    (baseline,) = [m for m in objects if m["kind"] == "BaselineAdminNetworkPolicy"]
    assert baseline["metadata"]["name"] == "default"
    for manifest in objects:
        schema = json.loads((CRDS / CRD_SCHEMAS[(manifest["apiVersion"], manifest["kind"])]).read_text())
        jsonschema.validate(manifest, schema)
        for direction in ("ingress", "egress"):
            assert all(rule["action"] in ("Allow", "Deny", "Pass") for rule in manifest["spec"].get(direction, []))
    # The same meaning in both APIs.
    v2 = engine.load_policies(build_text(GUARDRAILS).manifests())
    v1 = engine.load_policies(result.manifests())
    for flow in (("client", "api", 8080), ("prom", "db", "metrics"), ("web", "db", "metrics"), ("web", "db", 5432), ("worker", "pg", 5432)):
        assert verdict(v1, *flow) == verdict(v2, *flow), flow
    path = tmp_path / "g.netpol"
    path.write_text(GUARDRAILS)
    run = run_cli("compile", str(path), "--api", "v1alpha1")
    assert run.code == 0 and "kind: AdminNetworkPolicy" in run.out
    assert run_cli("compile", str(path), "--api", "v3").code == 2


def test_v1alpha1_refuses_baseline_rules_with_several_subjects():
    result = build_text("cluster baseline\ndeny namespaces env=a to namespaces env=b\n", api="v1alpha1")
    assert [d.code for d in result.diagnostics] == ["NP420"] and not result.emitted


def test_the_proof_catches_a_placement_that_loses_rule_order(monkeypatch):
    from compiler import tiers

    real = tiers._add

    def flat(blocks, section, direction, subject, rule, max_rules):
        real(blocks, section, direction, subject, rule, max_rules)
        for block in blocks:
            block.level = 0  # every object at the section's priority: their order is lost

    monkeypatch.setattr(tiers, "_add", flat)
    result = build_text(GUARDRAILS)
    assert "NP500" in {d.code for d in result.diagnostics} and not result.emitted


def test_the_proof_catches_a_wrong_action(monkeypatch):
    from compiler.backends import clusternetworkpolicy

    monkeypatch.setitem(clusternetworkpolicy.ACTIONS, "pass", "Accept")
    result = build_text(GUARDRAILS)
    assert "NP500" in {d.code for d in result.diagnostics}


def test_many_rules_are_split_into_ordered_objects_within_the_api_limits():
    rules = "\n".join(f"deny app=a{i} to namespace n{i}:{1000 + i}" for i in range(30))
    result = build_text(f"cluster admin priority 100\n{rules}\ndeny app=a0 to world\n", validate=True)
    assert result.ok, result.diagnostics
    for manifest in cluster_objects(result):
        for direction in ("ingress", "egress"):
            assert len(manifest["spec"].get(direction, [])) <= 25


def test_deny_outside_a_cluster_section_names_the_cluster_section():
    result = build_text("namespace shop\ndeny app=a to app=b\n")
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "NP400" and "cluster section" in diagnostic.hint


def test_fmt_keeps_cluster_sections_and_their_order():
    from compiler.fmt import format_source
    from compiler.source import SourceFile

    text = "cluster   admin priority 10\ndeny  namespaces env=dev to namespaces env=prod\nallow cluster to cluster\n"
    formatted, _ = format_source(SourceFile("x.netpol", text))
    assert formatted == "cluster admin priority 10\ndeny namespaces env=dev to namespaces env=prod\nallow cluster to cluster\n"


def test_named_ports_with_addresses_keep_to_pods():
    # A named port exists on pods only; the API forbids it beside `networks`, so `world` keeps its pods.
    result = build_text("cluster admin priority 1\nallow app=x to world:http\n", validate=True)
    assert result.ok, result.diagnostics
    (egress,) = [m for m in cluster_objects(result) if m["spec"].get("egress")]
    assert egress["spec"]["egress"][0]["to"] == [{"namespaces": {}}]


def test_cluster_yaml_is_read_by_test_and_explain(tmp_path):
    out = tmp_path / "g.netpol"
    out.write_text(GUARDRAILS)
    stream = run_cli("compile", str(out)).out
    documents = [d for d in yaml.safe_load_all(stream) if d and d["kind"] != "NetworkPolicy"]
    policies = engine.load_policies(documents)
    assert len(policies.cluster) == len(documents) and not policies.policies
    assert not verdict(policies, "client", "api", 8080)


CNP_YAML = """\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata:
  name: dev-not-prod
spec:
  tier: Admin
  priority: 5
  subject:
    namespaces:
      matchLabels: {env: dev}
  egress:
  - name: no-prod
    action: Deny
    to:
    - namespaces:
        matchLabels: {env: prod}
"""
EXPECTATIONS = "namespace dev\nexpect app=a in namespaces env=dev -> app=b in namespaces env=prod:80 denied\nexpect app=a in namespaces env=dev -> app=b in namespace staging:80 allowed\n"


def test_cluster_policies_in_yaml_are_evaluated_by_test(tmp_path):
    (tmp_path / "q.netpol").write_text(EXPECTATIONS)
    (tmp_path / "cnp.yaml").write_text(CNP_YAML)
    run = run_cli("test", str(tmp_path / "q.netpol"), "--policies", str(tmp_path / "cnp.yaml"))
    assert run.code == 0, run.out + run.err
    assert "2 passed, 0 failed" in run.out
    run = run_cli("test", str(tmp_path / "q.netpol"), "--policies", "-", stdin=CNP_YAML.replace("action: Deny", "action: Accept"))
    assert run.code == 1 and "1 passed, 1 failed" in run.out


@pytest.mark.parametrize(
    "change, line, words",
    [
        (("action: Deny", "action: Drop"), 13, "spec.egress[0].action"),
        (("priority: 5", "priority: 5000"), 7, "spec.priority"),
        (("tier: Admin", "tier: admin"), 6, "spec.tier"),
        (("    - namespaces:\n        matchLabels: {env: prod}", "    - nodes:\n        matchLabels: {role: db}"), 16, "nodes peers cannot be judged"),
        (("    - namespaces:\n        matchLabels: {env: prod}", "    - networks: [10.0.0.0/33]"), 15, "10.0.0.0/33"),
        (("  subject:\n    namespaces:", "  subject:\n    pods:"), 10, "podSelector"),
    ],
)
def test_bad_cluster_policies_are_np701_at_their_field(tmp_path, change, line, words):
    (tmp_path / "q.netpol").write_text(EXPECTATIONS)
    (tmp_path / "cnp.yaml").write_text(CNP_YAML.replace(*change))
    run = run_cli("test", str(tmp_path / "q.netpol"), "--policies", str(tmp_path / "cnp.yaml"))
    assert run.code == 1, run.out + run.err
    assert f"cnp.yaml:{line}:" in run.err and "NP701" in run.err and words in run.err, run.err
    assert "Traceback" not in run.err and "internal error" not in run.err


def test_cluster_policy_twice_keeps_the_later_and_namespace_is_ignored(tmp_path):
    (tmp_path / "q.netpol").write_text(EXPECTATIONS)
    later = CNP_YAML.replace("action: Deny", "action: Accept").replace("  name: dev-not-prod", "  name: dev-not-prod\n  namespace: kustomized")
    (tmp_path / "cnp.yaml").write_text(CNP_YAML + "---\n" + later)
    run = run_cli("test", str(tmp_path / "q.netpol"), "--policies", str(tmp_path / "cnp.yaml"))
    assert "NP702" in run.err and "1 passed, 1 failed" in run.out
