"""`netpolc replay` and `netpolc diff --flows`: observed connections judged by the engine, the denied ones explained, changes limited to real traffic."""

from __future__ import annotations

import json
import random
import re

import pytest

from conftest import build_text, run_cli
from flowgen import Model, Talk, Workload, calico_lines, hubble_lines, storefront

from compiler import engine


def write_flows(tmp_path, lines, name="flows.json") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def end_key(end) -> str:
    return end if isinstance(end, str) else f"{end.namespace}/{end.kind.lower()}/{end.name}"


def engine_denied(model: Model, policies: engine.PolicySet, namespace_labels: bool) -> set:
    """The engine's own verdicts over the model: one pod per workload, one address per address, evaluate() on each talk."""
    workloads = model.workloads()
    names = sorted({w.namespace for w in workloads})
    namespaces = [engine.Namespace(n, model.namespace_labels.get(n) if namespace_labels else None) for n in names]
    pods = {w: engine.Pod(w.namespace, w.name, dict(w.labels)) for w in workloads}
    addresses = {}
    for talk in model.talks:
        for end in (talk.source, talk.destination):
            if isinstance(end, str):
                addresses.setdefault(end, engine.Address(end))
    universe = engine.Universe(namespaces, list(pods.values()), list(addresses.values()))
    denied = set()
    for talk in model.talks:
        if talk.verdict == "DROPPED":
            continue
        source = pods.get(talk.source) or addresses[talk.source]
        destination = pods.get(talk.destination) or addresses[talk.destination]
        if not engine.evaluate(policies, universe, source, destination, talk.port, talk.protocol).allowed:
            denied.add((end_key(talk.source), end_key(talk.destination), talk.port, talk.protocol))
    return denied


def replay_denied(document: dict) -> set:
    out = set()
    for group in document["denied_groups"]:
        for c in group["connections"]:
            # An address reads `203.0.113.10 (api.example.com)`: its DNS name, from the records.
            out.add((c["source"].split(" (")[0], c["destination"].split(" (")[0], c["port"], c["protocol"]))
    return out


def random_program(model: Model, rng: random.Random) -> str:
    """Intents over the model's workloads: isolation of each kind, allows for some talks (some by namespace labels, some by range)."""
    lines = []
    talks = [t for t in model.talks if t.verdict != "DROPPED"]
    for namespace in sorted({w.namespace for w in model.workloads()} - {"kube-system"}):
        lines.append(f"namespace {namespace}")
        lines.append(rng.choice(["deny all", "deny ingress", "deny egress", "deny ingress for app=db", ""]))
        if rng.random() < 0.5:
            lines.append("use dns")
        for talk in talks:
            if rng.random() < 0.4:
                continue
            port = str(talk.port) if rng.random() < 0.8 else f"{talk.port - 1}-{talk.port + 5}"
            port += "" if talk.protocol == "TCP" else f"/{talk.protocol.lower()}"
            source, destination = talk.source, talk.destination
            if isinstance(destination, Workload) and destination.namespace == namespace:
                if isinstance(source, str):
                    peer = source if rng.random() < 0.5 else "198.51.100.0/24"
                elif source.namespace == namespace:
                    peer = selector(source)
                elif rng.random() < 0.3 and source.namespace in model.namespace_labels:
                    team = model.namespace_labels[source.namespace]["team"]
                    peer = f"{selector(source)} in namespaces team={team}"
                else:
                    peer = f"{selector(source)} in namespace {source.namespace}"
                lines.append(f"allow {peer} to {selector(destination)}:{port}")
            elif isinstance(source, Workload) and source.namespace == namespace and isinstance(destination, str):
                target = destination if rng.random() < 0.5 else "203.0.113.0/28"
                lines.append(f"allow {selector(source)} to {target}:{port}")
    return "\n".join(line for line in lines if line) + "\n"


def selector(workload: Workload) -> str:
    return ",".join(f"{k}={v}" for k, v in workload.labels)


def compiled(text: str) -> engine.PolicySet:
    result = build_text(text, name="program.netpol")
    assert result.ok, [d.message for d in result.diagnostics if d.is_error]
    return engine.load_policies(item.manifest() for item in result.emitted)


# ---------------------------------------------------------------- verdicts


@pytest.mark.parametrize("seed", range(6))
def test_replay_verdicts_are_the_engines_over_the_same_model(tmp_path, write, seed):
    model, _ = storefront()
    rng = random.Random(seed)
    text = random_program(model, rng)
    program = write({"program.netpol": text})
    policies = compiled(text)
    for shape, lines, labels in (("hubble", hubble_lines(model, seed=seed), True), ("calico", calico_lines(model, seed=seed), False)):
        path = write_flows(tmp_path, lines, f"{shape}.json")
        run = run_cli("replay", str(program), "--flows", path, "--format", "json")
        document = json.loads(run.out)
        expected = engine_denied(model, policies, namespace_labels=labels)  # Calico's records carry no namespace labels
        assert replay_denied(document) == expected, (shape, text)
        assert document["denied"] == len(expected) and document["connections"] == 12
        assert run.code == (1 if expected else 0)


def test_denied_connections_are_listed_with_the_chain_and_counted(tmp_path, write):
    model, _ = storefront()
    program = write({"shop.netpol": "namespace shop\ndeny all\nuse dns\nallow app=frontend to app=cart:7070\n"})
    path = write_flows(tmp_path, hubble_lines(model))
    run = run_cli("replay", str(program), "--flows", path)
    assert run.code == 1
    out = run.out
    assert out.startswith(f"Read 120 lines of {path}: 120 flow records, 12 distinct connections\n")
    assert "left out: 58 replies; " in out and "1 connection seen only dropped" in out
    # Grouped by workload pair and port, how often and when, then the chain explain shows.
    block = out.split("shop/deployment/cart -> shop/statefulset/db on 5432/TCP: ")[1].split("\n\n")[0]
    assert block.startswith("seen 6 times, 2024-05-01 00:05:00 to 2024-05-01 00:05:05 UTC")
    assert "egress of shop/deployment/cart: isolated by" in block
    assert re.search(r"shop/deny-all \(\S+/shop\.netpol:2: deny all\)", block)
    assert "no egress rule allows shop/statefulset/db on 5432/TCP: denied" in block
    # The payment provider's two addresses are one group of checkout's egress.
    assert "shop/deployment/checkout -> 203.0.113.10 (api.example.com), 203.0.113.14 (api.example.com) on 443/TCP: seen 3 times" in out
    assert out.endswith("\n12 connections observed, 9 would be denied\n")
    # Dropped attempts are not traffic: frontend -> db (dropped today) is not listed.
    assert "shop/deployment/frontend -> shop/statefulset/db" not in out


def test_everything_allowed_exits_0(tmp_path, write):
    model, _ = storefront()
    program = write({"shop.netpol": "namespace shop\ndeny ingress for app=nobody\n"})
    run = run_cli("replay", str(program), "--flows", write_flows(tmp_path, calico_lines(model)))
    assert run.code == 0 and run.out.endswith("12 connections observed, 0 would be denied\n")


def test_github_annotations_point_at_the_isolating_line(tmp_path, write):
    model, _ = storefront()
    program = write({"shop.netpol": "namespace shop\n\ndeny ingress for app=db\n"})
    run = run_cli("replay", str(program), "--flows", write_flows(tmp_path, hubble_lines(model)), "--format", "github")
    assert run.code == 1
    annotations = [line for line in run.out.splitlines() if line.startswith("::error")]
    assert len(annotations) == 2  # cart -> db and reports -> db
    assert all(re.match(r"::error file=\S+shop\.netpol,line=3,col=1,.*title=NP911 observed-connection-denied::observed connection ", a) for a in annotations)
    assert any("data/deployment/reports -> shop/statefulset/db on 5432/TCP (seen 2 times) would be denied" in a for a in annotations)
    assert run.out.rstrip().endswith("12 connections observed, 2 would be denied")


# ---------------------------------------------------------------- YAML, named ports, namespace labels


NAMED = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {}
    - namespaceSelector: {matchLabels: {team: data}}
    ports: [{port: postgres}]
"""

SNAPSHOT = """apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {team: shop}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: data, labels: {team: data}}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: db-0
    namespace: shop
    labels: {app: db, controller-revision-hash: db-7c9d8f6b5, statefulset.kubernetes.io/pod-name: db-0}
    ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, controller: true, uid: u1}]
  spec: {containers: [{name: db, image: postgres, ports: [{name: postgres, containerPort: 5432}]}]}
"""


def test_named_ports_resolve_through_the_cluster_snapshot(tmp_path):
    model, _ = storefront()
    policies = tmp_path / "db.yaml"
    policies.write_text(NAMED)
    snapshot = tmp_path / "snapshot.yaml"
    snapshot.write_text(SNAPSHOT)
    path = write_flows(tmp_path, calico_lines(model))
    # Without a snapshot the name resolves to nothing: NP910 says so, and the connections read as denied.
    run = run_cli("replay", "--policies", str(policies), "--flows", path)
    assert run.code == 1 and "warning[NP910]" in run.err and f"{policies}:1:1" in run.err.replace(str(tmp_path) + "/", str(tmp_path) + "/")
    assert run.out.endswith("12 connections observed, 2 would be denied\n")
    # With it: cart (same namespace) and reports (namespace team=data, a label only the snapshot knows for Calico) get in.
    run = run_cli("replay", "--policies", str(policies), "--flows", path, "--cluster", str(snapshot))
    assert run.code == 0, run.out + run.err
    assert "NP910" not in run.err and run.out.endswith("12 connections observed, 0 would be denied\n")


def test_hubble_brings_namespace_labels_calico_does_not(tmp_path, write):
    model, _ = storefront()
    program = write({"shop.netpol": "namespace shop\ndeny ingress for app=db\nallow app=cart to app=db:5432\nallow namespaces team=data to app=db:5432\n"})
    hubble = run_cli("replay", str(program), "--flows", write_flows(tmp_path, hubble_lines(model), "h.json"))
    calico = run_cli("replay", str(program), "--flows", write_flows(tmp_path, calico_lines(model), "c.json"))
    assert hubble.code == 0 and calico.code == 1
    assert "data/deployment/reports -> shop/statefulset/db on 5432/TCP" in calico.out


def test_flows_with_no_traffic_are_an_error(tmp_path, write):
    program = write({"shop.netpol": "namespace shop\ndeny all\n"})
    web, api = Workload("shop", "web", (("app", "web"),)), Workload("shop", "api", (("app", "api"),))
    only_dropped = hubble_lines(Model([Talk(web, api, 80, verdict="DROPPED")]))
    for lines in ([], only_dropped):
        run = run_cli("replay", str(program), "--flows", write_flows(tmp_path, lines))
        assert run.code == 1 and "error[NP912]: no connection that carried traffic" in run.err


def test_replay_needs_policies_and_reads_them_once(tmp_path):
    flows = write_flows(tmp_path, calico_lines(storefront()[0]))
    assert "nothing to replay against" in run_cli("replay", "--flows", flows).err
    assert run_cli("replay", "--flows", flows, "--format", "yaml", "--policies", flows).code == 2


def test_replay_json_document(tmp_path, write):
    model, _ = storefront()
    program = write({"shop.netpol": "namespace shop\ndeny ingress for app=db\nallow app=cart to app=db:5432\n"})
    run = run_cli("replay", str(program), "--flows", write_flows(tmp_path, hubble_lines(model)), "--format", "json")
    document = json.loads(run.out)
    assert (document["connections"], document["denied"], document["lines"], document["replies"]) == (12, 1, 120, 58)
    [group] = document["denied_groups"]
    assert (group["sources"], group["destinations"], group["port"], group["seen"]) == (["data/deployment/reports"], ["shop/statefulset/db"], 5432, 2)
    assert {p["intent"] for p in group["flow"]["ingress"]["isolated_by"]} == {"deny ingress for app=db", "allow app=cart to app=db:5432"}
    assert group["first"] == 1714522600.123456


# ---------------------------------------------------------------- diff --flows


def test_diff_limits_the_change_to_observed_connections(tmp_path, write):
    model, _ = storefront()
    old = write({"shop.netpol": "namespace shop\nallow app=cart to app=db:5432\n"}, tmp_path / "old")
    new = write({"shop.netpol": "namespace shop\ndeny all\nuse dns\nallow app=cart to app=db:5432\nallow app=frontend to app=db:5432\n"}, tmp_path / "new")
    flows = write_flows(tmp_path, hubble_lines(model))
    run = run_cli("diff", str(old), str(new), "--flows", flows, "--format", "json")
    assert run.code == 0
    document = json.loads(run.out)
    closed = {(tuple(r["sources"]), tuple(r["destinations"]), r["port"], r["seen"]) for r in document["closed"]}
    # What `deny all` cuts, among what really runs (the theoretical flows to every other pod are not listed).
    assert (("shop/deployment/frontend",), ("shop/deployment/cart",), 7070, 4) in closed
    assert (("ingress-nginx/deployment/ingress-nginx-controller",), ("shop/deployment/frontend",), 8080, 5) in closed
    assert (("shop/deployment/checkout",), ("203.0.113.10 (api.example.com)", "203.0.113.14 (api.example.com)"), 443, 3) in closed
    # Kept: DNS (use dns), cart -> db (allowed on both sides); already denied before: reports -> db.
    assert not any("coredns" in d[0] or "statefulset/db" in d[0] for _, d, _, _ in closed)
    assert len(closed) == 7 and document["connections"] == 13
    # Opened: frontend -> db, which was only ever dropped.
    assert [(r["sources"], r["port"], r["seen"], r["seen_dropped"]) for r in document["opened"]] == [(["shop/deployment/frontend"], 5432, 0, 2)]
    text = run_cli("diff", str(old), str(new), "--flows", flows).out
    assert "Closed: 8 connections, seen 18 times:" in text and "shop/deployment/frontend -> shop/statefulset/db on 5432/TCP: seen dropped 2 times" in text
    markdown = run_cli("diff", str(old), str(new), "--flows", flows, "--format", "markdown").out.splitlines()
    assert markdown[0] == "### netpolc diff: 8 observed connections cut (seen 18 times), 1 opened"
    assert "| `shop/deployment/frontend` | `shop/deployment/cart` | 7070/TCP | 4 |" in markdown
    assert run_cli("diff", str(old), str(new), "--flows", flows, "--fail-on-closed").code == 1
    assert run_cli("diff", str(old), str(old), "--flows", flows, "--fail-on-closed").code == 0
