"""The upstream ClusterNetworkPolicy conformance suite (kubernetes-sigs/network-policy-api), run through the engine.

`tests/cnp_conformance/` holds upstream's manifests byte for byte (`upstream/`) and, per
upstream ConformanceTest, its subtests as data (`cases/NN-slug.yaml`; the README there
describes the format). This module builds the cluster of `upstream/manifests.yaml`,
replays each subtest's policy mutations in order (upstream patches live objects, so a
subtest sees every earlier subtest's changes) and asserts every probe's verdict through
both engine paths: `evaluate` (one flow) and `Reach` (classes and port atoms).
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import re
from pathlib import Path
from typing import Any, Iterator, NamedTuple

import pytest
import yaml

DATA_DIR = Path(__file__).parent / "cnp_conformance"
UPSTREAM_DIR = DATA_DIR / "upstream"
CASE_FILES = sorted((DATA_DIR / "cases").glob("*.yaml"))

# Upstream's totals at the pinned commit (24 ConformanceTests, 92 t.Run subtests, 301 PokeServer calls):
# the transcription is complete when the data holds as many.
UPSTREAM_TESTS, UPSTREAM_RUNS, UPSTREAM_PROBES = 24, 92, 301

# The suite's default host-network ports (its flag default: 8 ports from 34345), rendered into the
# `{{ index .HostNetworkPorts N }}` template values of upstream's manifests and into probes.
HOST_NETWORK_PORTS = tuple(range(34345, 34353))
# Made-up addresses: the pod network, and the nodes that host-network pods take their address from.
POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")
NODE_NETWORK = ipaddress.ip_network("172.18.0.0/24")
# What every node of a kind cluster carries, and upstream's node peers select on.
NODE_LABELS = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}

CASE_KEYS = {"name", "upstream", "features", "manifests", "unjudged", "steps"}
STEP_KEYS = {"run", "mutate", "probes"}
MUTATIONS = {"swap", "set", "insert", "delete", "relabel_namespace"}
FILE_STEM = re.compile(r"^(\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*$")
TEMPLATE = re.compile(r"\{\{\s*index\s+\.HostNetworkPorts\s+(\d+)\s*\}\}")
PROBE = re.compile(
    r"^(?P<client>[a-z0-9-]+) -> (?P<server>[a-z0-9-]+) "
    r"(?:(?P<number>\d+)|HostNetworkPorts\[(?P<host_port>\d+)\])/(?P<protocol>TCP|UDP|SCTP) (?P<verdict>allowed|denied)$"
)

# Subtests where the engine disagrees with upstream: id -> what the engine does wrong.
# Each is an xfail(strict=True): it fails loudly once the engine is fixed, so the entry goes.
ENGINE_GAPS: dict[str, str] = {}


# --------------------------------------------------------------------------- upstream files


def render(text: str) -> str:
    """Upstream's manifests are Go templates over the host-network ports; fill them with ours."""
    return TEMPLATE.sub(lambda m: str(HOST_NETWORK_PORTS[int(m.group(1))]), text)


def read_upstream(relative: str) -> list[dict[str, Any]]:
    text = (UPSTREAM_DIR / relative).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(render(text)) if doc]


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# --------------------------------------------------------------------------- the cluster


class PodSpec(NamedTuple):
    namespace: str
    name: str
    labels: dict[str, str]
    ports: tuple  # engine ContainerPorts
    host_network: bool
    ip: str


def cluster_objects() -> tuple[dict[str, dict[str, str]], list[PodSpec]]:
    """Namespaces (name -> labels) and pods of upstream's base manifests.

    Each StatefulSet makes pods NAME-0 .. NAME-(replicas-1) with its template's labels and
    declared container ports. Pods get addresses from POD_NETWORK (StatefulSet i, replica r:
    10.244.(i+1).(r+1)); a host-network pod has its node's address instead (replica r on node r).
    """
    from compiler.engine import ContainerPort

    namespaces: dict[str, dict[str, str]] = {}
    pods: list[PodSpec] = []
    workloads = 0
    for doc in read_upstream("manifests.yaml"):
        if doc["kind"] == "Namespace":
            namespaces[doc["metadata"]["name"]] = dict(doc["metadata"].get("labels") or {})
            continue
        assert doc["kind"] == "StatefulSet", f"manifests.yaml: unexpected kind {doc['kind']}"
        workloads += 1
        template = doc["spec"]["template"]
        ports = tuple(
            ContainerPort(port.get("name"), int(port["containerPort"]), port.get("protocol", "TCP"))
            for container in template["spec"]["containers"]
            for port in container.get("ports") or ()
        )
        host_network = bool(template["spec"].get("hostNetwork"))
        for replica in range(doc["spec"]["replicas"]):
            if host_network:
                ip = NODE_NETWORK[replica + 2]
            else:
                ip = POD_NETWORK[workloads * 256 + replica + 1]
            pods.append(PodSpec(
                doc["metadata"]["namespace"], f"{doc['metadata']['name']}-{replica}",
                dict(template["metadata"]["labels"]), ports, host_network, str(ip),
            ))
    return namespaces, pods


NAMESPACE_LABELS, POD_SPECS = cluster_objects()
POD_BY_NAME = {pod.name: pod for pod in POD_SPECS}


# --------------------------------------------------------------------------- case data


class Probe(NamedTuple):
    client: str
    server: str
    port: int
    protocol: str
    allowed: bool
    text: str


def parse_probe(text: str) -> Probe:
    m = PROBE.match(text)
    if not m:
        raise ValueError(f"probe {text!r} is not `CLIENT -> SERVER PORT/PROTOCOL allowed|denied`")
    port = int(m["number"]) if m["number"] else HOST_NETWORK_PORTS[int(m["host_port"])]
    return Probe(m["client"], m["server"], port, m["protocol"], m["verdict"] == "allowed", text)


def load_case(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: top level must be a mapping")
    return data


def runs(case: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The case's upstream subtests: consecutive steps with the same `run` title form one."""
    out: list[list[dict[str, Any]]] = []
    for step in case["steps"]:
        if out and out[-1][0]["run"] == step["run"]:
            out[-1].append(step)
        else:
            out.append([step])
    return out


def subtests() -> Iterator[Any]:
    for path in CASE_FILES:
        for index, run in enumerate(runs(load_case(path))):
            ident = f"{path.stem}-run{index + 1}"
            marks = [pytest.mark.xfail(strict=True, reason=ENGINE_GAPS[ident])] if ident in ENGINE_GAPS else []
            yield pytest.param(path, index, id=ident, marks=marks)


# --------------------------------------------------------------------------- mutations


class State:
    """The cluster as one subtest sees it: the policy manifests and the namespaces' labels."""

    def __init__(self, case: dict[str, Any]):
        self.manifests = [doc for relative in case["manifests"] for doc in read_upstream(relative)]
        self.namespace_labels = copy.deepcopy(NAMESPACE_LABELS)

    def policy(self, name: str) -> dict[str, Any]:
        found = [doc for doc in self.manifests if doc["metadata"]["name"] == name]
        if len(found) != 1:
            raise ValueError(f"mutation names policy {name!r}: {len(found)} manifests have that name")
        return found[0]

    def apply(self, mutation: dict[str, Any]) -> None:
        (kind, args), = mutation.items()
        if kind == "swap":  # exchange two rules of one direction (first match wins, so order is the point)
            rules = self.policy(args["policy"])["spec"][args["direction"]]
            i, j = args["rules"]
            rules[i], rules[j] = rules[j], rules[i]
        elif kind == "set":
            parent, key = walk(self.policy(args["policy"]), args["path"])
            parent[key] = resolve(copy.deepcopy(args["value"]))
        elif kind == "insert":
            parent, key = walk(self.policy(args["policy"]), args["path"])
            parent[key].insert(args["index"], resolve(copy.deepcopy(args["value"])))
        elif kind == "delete":
            self.manifests.remove(self.policy(args["policy"]))
        elif kind == "relabel_namespace":  # a full replacement, as upstream's SetLabels
            assert args["namespace"] in self.namespace_labels, args["namespace"]
            self.namespace_labels[args["namespace"]] = dict(args["labels"])
        else:
            raise ValueError(f"unknown mutation {kind!r}")


def walk(document: dict[str, Any], path: str) -> tuple[Any, Any]:
    """`spec.egress.5.protocols` -> (the list/dict holding the last key, the last key)."""
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    node = document
    for key in keys[:-1]:
        node = node[key]
    return node, keys[-1]


def resolve(value: Any) -> Any:
    """Replace `{pod_cidr: NAME}` by that pod's address as a host CIDR (/32 or /128, as upstream builds it)."""
    if isinstance(value, dict):
        if set(value) == {"pod_cidr"}:
            ip = ipaddress.ip_address(POD_BY_NAME[value["pod_cidr"]].ip)
            return f"{ip}/{ip.max_prefixlen}"
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


# --------------------------------------------------------------------------- checking


def universe_of(state: State):
    """The cluster: its namespaces and pods, and the nodes the host-network pods take their address from (a kind cluster's)."""
    from compiler.engine import Namespace, Node, Pod, Universe

    namespaces = tuple(Namespace(name, labels) for name, labels in state.namespace_labels.items())
    pods = {
        spec.name: Pod(spec.namespace, spec.name, spec.labels, spec.ports, ips=(spec.ip,), host_network=spec.host_network)
        for spec in POD_SPECS
    }
    nodes = [Node(f"node-{i}", NODE_LABELS, (str(NODE_NETWORK[i + 2]),)) for i in range(2)]
    return Universe(namespaces, tuple(pods.values()), nodes=nodes), pods


def describe_side(side) -> str:
    rule = None
    tier = side.decided_by
    if tier == "admin":
        rule = side.admin
    elif tier == "baseline":
        rule = side.baseline
    elif tier == "networkpolicy":
        return f"{side.direction}: NetworkPolicy ({'allowed' if side.allowed_by else 'isolated, no rule allows'})"
    if rule is None:
        return f"{side.direction}: {tier}"
    policy, matched = rule
    return f"{side.direction}: {tier} {policy.name} rule {matched.number} {matched.name!r} {matched.action}"


def check_steps(state: State, steps: list[dict[str, Any]]) -> list[str]:
    from compiler.engine import PortRule, Reach, evaluate, load_policies, port_atoms

    wrong = []
    for step in steps:
        for mutation in step.get("mutate") or ():
            state.apply(mutation)
        policies = load_policies(state.manifests, nodes=True)  # the universe holds the nodes
        universe, pods = universe_of(state)
        probes = [parse_probe(text) for text in step["probes"]]
        extra = [PortRule(p.protocol, p.port) for p in probes]
        reach = Reach(policies, universe, port_atoms([policies], universe, extra))
        for probe in probes:
            source, destination = pods[probe.client], pods[probe.server]
            verdict = evaluate(policies, universe, source, destination, probe.port, probe.protocol)
            by_classes = reach.allows(source, destination, reach.atom_index(probe.port, probe.protocol))
            if bool(verdict.allowed) != probe.allowed or by_classes != probe.allowed:
                wrong.append(
                    f"  {probe.text}: evaluate says {'allowed' if verdict.allowed else 'denied'} "
                    f"[{describe_side(verdict.egress)}; {describe_side(verdict.ingress)}], "
                    f"Reach says {'allowed' if by_classes else 'denied'}"
                )
    return wrong


# --------------------------------------------------------------------------- tests


def test_upstream_files_are_verbatim() -> None:
    source = yaml.safe_load((DATA_DIR / "source.yaml").read_text(encoding="utf-8"))
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    shipped = {p.relative_to(UPSTREAM_DIR).as_posix() for p in UPSTREAM_DIR.rglob("*") if p.is_file()}
    expected = {path.removeprefix("conformance/base/"): blob for path, blob in source["files"].items()}
    assert shipped == set(expected), f"upstream/ holds {sorted(shipped ^ set(expected))} not listed in source.yaml (or the reverse)"
    for relative, blob in expected.items():
        assert git_blob_id((UPSTREAM_DIR / relative).read_bytes()) == blob, f"upstream/{relative} differs from upstream's blob {blob}"


def test_cluster_matches_upstream_model() -> None:
    # 5 namespaces; 5 StatefulSets of 2 replicas; the forbidden-forrest ones on the host network.
    assert len(NAMESPACE_LABELS) == 5
    assert len(POD_SPECS) == 10 and len(POD_BY_NAME) == 10, "pod names must be unique: probes name pods alone"
    assert {p.name for p in POD_SPECS if p.host_network} == {"centaur-0", "centaur-1"}
    assert all(ipaddress.ip_address(p.ip) in (NODE_NETWORK if p.host_network else POD_NETWORK) for p in POD_SPECS)
    assert len({p.ip for p in POD_SPECS}) == 10
    harry = POD_BY_NAME["harry-potter-0"]
    assert {(c.name, c.number, c.protocol) for c in harry.ports} == {("web", 80, "TCP"), ("dns", 53, "UDP")}
    centaur = POD_BY_NAME["centaur-1"]
    assert ("web-34345", 34345, "TCP") in {(c.name, c.number, c.protocol) for c in centaur.ports}


def test_case_files_are_complete_and_well_formed() -> None:
    transcribed_tests = yaml.safe_load((DATA_DIR / "source.yaml").read_text(encoding="utf-8"))["tests"]
    names, total_runs, total_probes = set(), 0, 0
    numbers = []
    for path in CASE_FILES:
        m = FILE_STEM.match(path.stem)
        assert m, f"{path.name}: file name must be NN-short-slug.yaml"
        numbers.append(int(m.group(1)))
        case = load_case(path)
        assert {"name", "upstream", "manifests", "steps"} <= case.keys() <= CASE_KEYS, f"{path.name}: keys {sorted(case)}"
        assert case["name"] not in names, f"{path.name}: {case['name']} transcribed twice"
        names.add(case["name"])
        assert case["upstream"] in transcribed_tests, f"{path.name}: {case['upstream']} is not in source.yaml"
        for relative in case["manifests"]:
            assert (UPSTREAM_DIR / relative).is_file(), f"{path.name}: no upstream/{relative}"
        assert case["steps"], path.name
        for step in case["steps"]:
            assert STEP_KEYS >= step.keys() >= {"run", "probes"}, f"{path.name}: step keys {sorted(step)}"
            for mutation in step.get("mutate") or ():
                assert len(mutation) == 1 and set(mutation) <= MUTATIONS, f"{path.name}: mutation {mutation}"
            for text in step["probes"]:
                probe = parse_probe(text)
                assert probe.client in POD_BY_NAME and probe.server in POD_BY_NAME, f"{path.name}: {text}"
            total_probes += len(step["probes"])
        total_runs += len(runs(case))
        # Replaying every mutation must work on the manifests it names (catches a wrong index or name).
        state = State(case)
        for step in case["steps"]:
            for mutation in step.get("mutate") or ():
                state.apply(mutation)
    assert len(set(numbers)) == len(numbers), "case numbers must be unique"
    assert (len(names), total_runs, total_probes) == (UPSTREAM_TESTS, UPSTREAM_RUNS, UPSTREAM_PROBES)


@pytest.mark.parametrize(("path", "index"), list(subtests()))
def test_upstream_conformance_subtest(path: Path, index: int) -> None:
    from compiler.engine import PolicyError, load_policies

    case = load_case(path)
    state = State(case)
    if case.get("unjudged"):
        # Skip only what the engine itself refuses to judge; once it reads these policies, judge the case.
        try:
            load_policies(state.manifests)
        except PolicyError as err:
            pytest.skip(f"{case['unjudged']} (the engine refuses: {err})")
        pytest.fail(f"{path.name} is marked unjudged but the engine now reads its policies: transcribe what it needs and judge it")
    all_runs = runs(case)
    for earlier in all_runs[:index]:  # upstream's earlier subtests patched the same objects
        for step in earlier:
            for mutation in step.get("mutate") or ():
                state.apply(mutation)
    wrong = check_steps(state, all_runs[index])
    if wrong:
        pytest.fail(f"{case['name']}: {all_runs[index][0]['run']}\n" + "\n".join(wrong), pytrace=False)
