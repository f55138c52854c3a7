"""--cluster: verdicts over real pods (snapshots and rendered workloads), through test, explain, diff and graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli
from tests.test_e2e_truth import CASE_FILES, NAMESPACES, ORDER, POD_NAMES, load_case, namespace_labels, parse_matrix, pod_ip, pod_labels

FIXTURES = Path(__file__).parent / "fixtures" / "rendered"


def namespace(name: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}}}


def pod(ns: str, name: str, labels: dict, ports=(), ip: str | None = None, owner: tuple[str, str] | None = None, host=False, phase="Running") -> dict:
    out = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": n, "name": p, "protocol": proto} for p, n, proto in ports]}]},
        "status": {"phase": phase},
    }
    if ip:
        out["status"]["podIP"] = ip
        out["status"]["podIPs"] = [{"ip": ip}]
    if owner:
        out["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1], "controller": True, "uid": "u"}]
    if host:
        out["spec"]["hostNetwork"] = True
    return out


def as_list(items: list[dict]) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False)


SHOP = """\
namespace shop
deny all
use dns
allow app=cart to app=db:postgres
allow app=web to app=cart:8080
egress only to 10.0.0.0/8:443 for app=payments
"""

CLUSTER = [
    namespace("shop", {"team": "shop"}),
    namespace("monitoring"),
    namespace("kube-system"),
    pod("shop", "cart-6d8f7b9c4-x2k9p", {"app": "cart", "pod-template-hash": "6d8f7b9c4"}, [("http", 8080, "TCP")], "10.244.1.5", ("ReplicaSet", "cart-6d8f7b9c4")),
    pod("shop", "cart-6d8f7b9c4-q8w3z", {"app": "cart", "pod-template-hash": "6d8f7b9c4"}, [("http", 8080, "TCP")], "10.244.2.6", ("ReplicaSet", "cart-6d8f7b9c4")),
    pod("shop", "db-0", {"app": "db"}, [("postgres", 5432, "TCP")], "10.244.1.9", ("StatefulSet", "db")),
    pod("shop", "legacy-db-0", {"app": "db", "flavour": "legacy"}, [("postgres", 5433, "TCP")], "10.244.3.2", ("StatefulSet", "legacy-db")),
    pod("shop", "web-5c4d-abcde", {"app": "web", "pod-template-hash": "5c4d"}, [], "10.244.3.3", ("ReplicaSet", "web-5c4d")),
    pod("shop", "payments-1", {"app": "payments"}, [], "10.1.2.3"),  # a pod IP inside the 10.0.0.0/8 the egress names
    pod("shop", "migrate-x", {"app": "web"}, [], None, ("Job", "migrate"), phase="Succeeded"),  # finished: not there
    pod("monitoring", "node-exporter-abc", {"app": "node-exporter"}, [("metrics", 9100, "TCP")], "172.18.0.2", ("DaemonSet", "node-exporter"), host=True),
    pod("kube-system", "coredns-7db6d8ff4d-abcde", {"k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d"}, [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")], "10.244.0.2", ("ReplicaSet", "coredns-7db6d8ff4d")),
]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "shop.netpol").write_text(SHOP)
    (tmp_path / "snapshot.yaml").write_text(as_list(CLUSTER))
    return tmp_path


def expectations(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "checks.netpol"
    path.write_text("namespace shop\n" + lines)
    return path


def run_checks(project: Path, lines: str, *extra: str) -> dict:
    checks = expectations(project, lines)
    run = run_cli("test", "--format", "json", str(project / "shop.netpol"), str(checks), "--cluster", str(project / "snapshot.yaml"), *extra)
    assert "Traceback" not in run.err and "internal error" not in run.err, run.err
    data = json.loads(run.out)
    data["code"] = run.code
    return data


def test_named_ports_resolve_per_real_pod(project):
    # postgres is 5432 on db-0 and 5433 on legacy-db-0: `allow app=cart to app=db:postgres` opens each pod's own port.
    data = run_checks(project, "expect app=cart -> app=db:5432 allowed\n")
    (outcome,) = data["expectations"]
    assert outcome["actual"] == "partly allowed"  # db-0 listens on 5432; legacy-db-0 does not
    data = run_checks(project, "expect app=cart -> app=db,!flavour:5432 allowed\nexpect app=cart -> app=db,flavour=legacy:5433 allowed\n")
    assert data["passed"] == 2 and data["code"] == 0


def test_verdicts_over_the_snapshot_differ_from_the_representative_universe(project):
    # `allow app=web to app=cart:8080` opens cart's `http` port only where http is 8080: on the real pods it is.
    lines = "expect app=cart -> app=db:postgres allowed\nexpect app=web -> app=cart:http allowed\n"
    assert run_checks(project, lines)["passed"] == 2
    run = run_cli("test", str(project / "shop.netpol"), str(expectations(project, lines)))
    assert run.code == 1 and "1 passed, 1 failed" in run.out  # over made-up pods, `http` may be any number


def test_a_selector_that_matches_no_pod_of_the_snapshot_warns_instead_of_passing(project):
    data = run_checks(project, "expect app=chekout -> app=db:5432 denied\nexpect app=web -> app=db:5432 denied\n")
    assert data["passed"] == 1 and data["failed"] == 0 and data["about_nothing"] == 1
    (warning,) = [d for d in data["diagnostics"] if d["code"] == "NP707"]
    assert warning["location"]["row"] == 2 and "matches no pod of the cluster snapshot" in warning["message"]
    assert data["code"] == 0
    strict = run_cli("test", "--strict", str(project / "shop.netpol"), str(project / "checks.netpol"), "--cluster", str(project / "snapshot.yaml"))
    assert strict.code == 1


def test_a_typo_is_caught_over_the_representative_universe_too(project):
    checks = expectations(project, "expect app=cartt -> app=db:5432 denied\n")
    run = run_cli("test", str(project / "shop.netpol"), str(checks))
    assert "warning[NP707]" in run.err and "did you mean `app=cart`?" in run.err
    assert run.code == 0 and run_cli("test", "--strict", str(project / "shop.netpol"), str(checks)).code == 1


def test_ip_blocks_are_judged_on_real_pod_addresses(project):
    # payments may only send to 10.0.0.0/8: on real IPs, pods inside it (10.1.2.3, 10.244.x.y) are covered by the block.
    data = run_checks(project, "expect app=payments -> app=db:443 denied\nexpect app=payments -> 10.9.9.9:443 allowed\n")
    outcomes = {o["expect"]: o["actual"] for o in data["expectations"]}
    assert outcomes["expect app=payments -> 10.9.9.9:443 allowed"] == "allowed"
    # db's ingress is isolated by deny all: its own policies decide, whatever the CIDR says on the egress side
    assert outcomes["expect app=payments -> app=db:443 denied"] == "denied"


def test_host_network_pods_are_never_selected(project):
    checks = expectations(project, "")
    run = run_cli("explain", str(project / "shop.netpol"), str(checks), "--cluster", str(project / "snapshot.yaml"), "-n", "shop", "app=node-exporter in namespace monitoring -> app=db:5432")
    assert "matches only host-network pods (monitoring/node-exporter-abc)" in run.out
    assert "no policy selects them" in run.out


def test_explain_lists_the_pods_of_a_workload(project):
    run = run_cli("explain", str(project / "shop.netpol"), "--cluster", str(project / "snapshot.yaml"), "-n", "shop", "app=cart -> app=db,!flavour:5432")
    assert run.code == 0, run.err
    assert "shop/deployment/cart (pod cart-6d8f7b9c4-q8w3z) -> shop/statefulset/db (pod db-0) on 5432/TCP: allowed" in run.out
    assert "same for shop/deployment/cart (pod cart-6d8f7b9c4-x2k9p)" in run.out


def test_diff_and_graph_name_workloads(project):
    new = project / "new"
    new.mkdir()
    (new / "shop.netpol").write_text(SHOP.replace("allow app=web to app=cart:8080\n", ""))
    run = run_cli("diff", "--format", "json", str(project / "shop.netpol"), str(new / "shop.netpol"), "--cluster", str(project / "snapshot.yaml"))
    assert run.code == 0, run.err
    closed = json.loads(run.out)["closed"]
    assert closed == [{"source": "shop/deployment/web", "destination": "shop/deployment/cart", "ports": "8080"}]
    graph = run_cli("graph", "--format", "mermaid", str(project / "shop.netpol"), "--cluster", str(project / "snapshot.yaml"))
    assert graph.code == 0 and "deployment/cart" in graph.out and "pod-template-hash" not in graph.out


def test_snapshot_from_standard_input_and_json(project):
    checks = expectations(project, "expect app=web -> app=cart:8080 allowed\n")
    run = run_cli("test", str(project / "shop.netpol"), str(checks), "--cluster", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER}))
    assert run.code == 0 and "1 passed, 0 failed" in run.out
    both = run_cli("test", str(checks), "--policies", "-", "--cluster", "-", stdin="")
    assert both.code == 2 and "standard input can be read once" in both.err


def test_bad_snapshots_are_diagnostics_at_their_line(project):
    broken = as_list([namespace("shop"), pod("shop", "a", {"app": "a"}), {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "shop", "labels": {"app": 7}}}])
    broken += "---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: t, namespace: shop}\n"
    broken += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: shop}\nspec:\n  containers: [{name: c, ports: [{containerPort: 99999}]}]\n"
    broken += "---\n- not\n- an object\n"
    (project / "snapshot.yaml").write_text(broken)
    run = run_cli("test", str(project / "shop.netpol"), str(expectations(project, "expect app=a -> app=db:5432 denied\n")), "--cluster", str(project / "snapshot.yaml"))
    assert run.code == 1 and "Traceback" not in run.err
    assert "error[NP706]" in run.err and "metadata.labels.app: labels are strings" in run.err
    assert "spec.containers[0].ports[0].containerPort: expected a port number from 1 to 65535" in run.err
    assert run.err.count("NP705") == 1 and "2 Service objects skipped" in run.err
    assert "NP701" in run.err  # the list document is not an object


def test_duplicate_pods_and_unknown_namespaces_warn(project):
    items = [pod("shop", "a", {"app": "a"}), pod("shop", "a", {"app": "b"}), namespace("other")]
    (project / "snapshot.yaml").write_text(as_list(items))
    checks = expectations(project, "expect app=b -> 10.9.9.9:443 denied\nexpect app=a -> 10.9.9.9:443 denied\n")
    run = run_cli("test", str(project / "shop.netpol"), str(checks), "--cluster", str(project / "snapshot.yaml"))
    assert "warning[NP708]" in run.err and "pod shop/a is in the snapshot twice" in run.err
    assert "warning[NP709]" in run.err and "no Namespace object for shop" in run.err
    assert run.code == 0 and "1 passed, 0 failed, 1 about no pod" in run.out  # the later copy (app=b) is the pod


def test_explain_says_so_for_a_namespace_nothing_mentions(project):
    run = run_cli("explain", str(project / "shop.netpol"), "-n", "shoop", "app=a -> app=b:80")
    assert "warning[NP710]: namespace shoop is not mentioned by any policy, intent or snapshot" in run.err
    assert "namespaces here: shop" in run.err


# ---------------------------------------------------------------- workloads from rendered manifests


def test_rendered_chart_workloads_become_pods():
    # tests/fixtures/rendered/: `helm template` output of a small web + postgres chart, written out once.
    run = run_cli("test", str(FIXTURES / "storefront-checks.netpol"), "--policies", str(FIXTURES / "storefront-chart.yaml"),
                  "--cluster", str(FIXTURES / "storefront-chart.yaml"), "-n", "store")
    assert run.code == 0, run.out + run.err
    assert "4 passed, 0 failed" in run.out
    assert "NP705" in run.err and "ConfigMap" in run.err  # other kinds noted once each


def test_kustomize_style_stream_from_stdin_with_a_default_namespace():
    text = (FIXTURES / "storefront-chart.yaml").read_text()
    run = run_cli("graph", "--format", "mermaid", "--policies", str(FIXTURES / "storefront-chart.yaml"), "-n", "store", "--cluster", "-", stdin=text)
    assert run.code == 0, run.err
    assert "deployment/storefront-web" in run.out and "statefulset/storefront-postgresql" in run.out


# ---------------------------------------------------------------- the upstream e2e truth tables, again, through --cluster


def e2e_snapshot(case: dict) -> str:
    ports = [(f"serve-{n}-{p.lower()}", n, p) for n in (80, 81) for p in ("TCP", "UDP", "SCTP")]
    items = [namespace(ns, {k: v for k, v in namespace_labels(case, ns).items()}) for ns in NAMESPACES]
    for ns in NAMESPACES:
        for name in POD_NAMES:
            # e2e-pod names each pod for the expectations; no upstream policy looks at that key.
            items.append(pod(ns, name, {**pod_labels(case, ns, name), "e2e-pod": f"{ns}-{name}"}, ports, pod_ip(ns, name)))
    return as_list(items)


def e2e_expectations(case: dict) -> str:
    lines = ["namespace x"]
    for probe in case["probes"]:
        port, protocol = probe["port"], probe["protocol"].lower()
        for i, source in enumerate(ORDER):
            for j, destination in enumerate(ORDER):
                verdict = "allowed" if parse_matrix(probe["matrix"])[i][j] else "denied"
                (sns, spod), (dns, dpod) = source.split("/"), destination.split("/")
                lines.append(f"expect e2e-pod={sns}-{spod} in namespace {sns} -> e2e-pod={dns}-{dpod} in namespace {dns}:{port}/{protocol} {verdict}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_upstream_truth_table_through_cluster(path: Path, tmp_path) -> None:
    case = load_case(path)
    (tmp_path / "policies.yaml").write_text(yaml.safe_dump_all(case["policies"]) if case["policies"] else "")
    (tmp_path / "cluster.yaml").write_text(e2e_snapshot(case))
    (tmp_path / "checks.netpol").write_text(e2e_expectations(case))
    args = ["test", "--format", "json", str(tmp_path / "checks.netpol"), "--cluster", str(tmp_path / "cluster.yaml")]
    if case["policies"]:
        args += ["--policies", str(tmp_path / "policies.yaml")]
    run = run_cli(*args)
    data = json.loads(run.out)
    wrong = [o["expect"] + f" (got {o['actual']})" for o in data["expectations"] if not o["passed"]]
    assert not wrong, f"{path.name}: {len(wrong)} cells wrong, e.g.\n" + "\n".join(wrong[:10])
    assert data["passed"] == 81 * len(case["probes"])


def test_json_fast_path_reads_what_the_yaml_path_reads(tmp_path, monkeypatch):
    from compiler import manifests
    from compiler.source import SourceFile

    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": CLUSTER + [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "shop"}, "spec": {"ports": [{"port": 80.0}]}}]}, indent=2)
    source = SourceFile("snap.json", text)
    fast, fast_problems, fast_documents = manifests.read_objects(source)
    assert fast and all(obj._node is None for obj in fast)  # no YAML composed for a clean stream
    monkeypatch.setattr(manifests, "_json_objects", lambda source: None)
    slow, slow_problems, slow_documents = manifests.read_objects(source)
    assert [o.data for o in fast] == [o.data for o in slow] and fast_documents == slow_documents
    assert [(o.span, o.label, o.at(("metadata", "name"))) for o in fast] == [(o.span, o.label, o.at(("metadata", "name"))) for o in slow]
    # What the fast path cannot vouch for goes the YAML way, which says where: a duplicate key, an endless number.
    monkeypatch.undo()
    for bad in (text.replace('"kind": "List",', '"kind": "List", "kind": "List",', 1), text.replace('"containerPort": 8080', '"containerPort": ' + "9" * 200, 1)):
        objects, problems, _ = manifests.read_objects(SourceFile("snap.json", bad))
        assert problems and problems[0].code == "NP701" and problems[0].span.line > 1


NODE_POLICY = """\
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: no-nodes}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: shop}}}
  egress:
  - {action: Deny, to: [{nodes: {matchLabels: {kubernetes.io/os: linux}}}]}
"""


def test_nodes_peers_are_judged_over_the_snapshots_nodes(project):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "labels": {"kubernetes.io/os": "linux"}},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "worker-1"}]}}
    (project / "policy.yaml").write_text(NODE_POLICY)
    checks = expectations(project, "expect app=web -> 172.18.0.2:9100 denied\nexpect app=web -> 172.18.0.9:9100 allowed\n")
    without = run_cli("test", str(checks), "--policies", str(project / "policy.yaml"), "--cluster", str(project / "snapshot.yaml"))
    assert without.code == 1 and "nodes peers cannot be judged without node objects" in without.err  # never guessed
    (project / "snapshot.yaml").write_text(as_list(CLUSTER + [node]))
    run = run_cli("test", str(checks), "--policies", str(project / "policy.yaml"), "--cluster", str(project / "snapshot.yaml"))
    assert run.code == 0 and "2 passed, 0 failed" in run.out, run.out + run.err
    explained = run_cli("explain", str(checks), "--policies", str(project / "policy.yaml"), "--cluster", str(project / "snapshot.yaml"),
                        "-n", "shop", "app=web -> app=node-exporter in namespace monitoring:9100")
    assert "host-network pods" in explained.out  # a host-network pod is never a pod peer: its address is the node's


def test_ip_blocks_over_pod_ips_are_read_as_the_cni_reads_them(project):
    # payments admits 10.0.0.0/8 on 8443; a pod of another namespace, 10.5.0.7, is inside it. Is it admitted?
    (project / "shop.netpol").write_text(SHOP + "allow 10.0.0.0/8 to app=payments:8443\n")
    (project / "snapshot.yaml").write_text(as_list(CLUSTER + [namespace("tools"), pod("tools", "curl", {"app": "curl"}, [], "10.5.0.7")]))
    lines = "expect app=curl in namespace tools -> app=payments:8443 allowed\n"
    assert run_checks(project, lines)["passed"] == 1  # the upstream reading: an ipBlock covering a pod's IP matches it
    calico = run_checks(project, lines, "--cni", "calico")
    assert calico["passed"] == 1
    cilium = run_checks(project, lines, "--cni", "cilium")  # Cilium never matches pod traffic by ipBlock
    assert cilium["failed"] == 1 and cilium["code"] == 1
    both = run_checks(project, lines, "--cni", "calico", "--cni", "cilium")
    (failure,) = [d for d in both["diagnostics"] if d["code"] == "NP700"]
    assert "on cilium, where ipBlocks do not match pod IPs" in failure["message"]
