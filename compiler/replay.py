"""Observed connections against policies: the engine's verdict on each (class by class), and why the denied ones are denied.

The universe is the observed one: a pod per observed workload (namespace and label set), an
address per observed IP, namespaces with the labels the records carry (Hubble's
`io.cilium.k8s.namespace.labels.*`) or a `--cluster` snapshot gives. The snapshot also gives the
pods' named ports (flow records carry only numbers). Observed pods have no IPs: whether an
ipBlock matches pod addresses differs between CNIs (Cilium: never), and replay answers with
the strict reading, so a connection that only an ipBlock over pod IPs allows reads as denied.

Verdicts come from `engine.Reach`: connections are grouped by the classes of their ends (the
source's egress class, the destination's ingress class, the port's atom), so the cost is one
mask lookup per class and one bit test per connection, never one `evaluate` per record.
`evaluate` runs once per denied group, for the chain `explain` shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import engine
from .diagnostics import Diagnostic
from .observed import ADDRESS, POD, VOLATILE_KEYS, Connection, Observed, display_name
from .snapshot import Snapshot
from .source import Span


class ObservedSnapshot(Snapshot):
    """The observed endpoints as a snapshot: its universe is their pods and addresses (plus the regions given, for unobserved addresses)."""

    def __init__(self, observed: Observed, cluster: Snapshot | None = None):
        super().__init__()
        self.observed = observed
        self.endpoints: list[engine.Endpoint | None] = []
        self.addresses: list[engine.Address] = []
        names = {e.namespace for e in observed.endpoints if e.kind == POD}
        for namespace in sorted(names):
            known = cluster.namespaces.get(namespace) if cluster is not None and namespace in cluster.declared else None
            self.namespaces[namespace] = known or engine.Namespace(namespace, observed.namespace_labels.get(namespace))
            self.declared.add(namespace)
        if cluster is not None:  # namespaces nothing was observed in still carry their labels for selectors
            for namespace, found in cluster.namespaces.items():
                self.namespaces.setdefault(namespace, found)
        ports = _cluster_ports(cluster)
        for endpoint in observed.endpoints:
            if endpoint.kind == POD:
                name = endpoint.pods[0] if endpoint.pods else display_name(endpoint)
                pod = engine.Pod(endpoint.namespace, name, endpoint.labels, ports(endpoint), workload=display_name(endpoint))
                self.pods.append(pod)
                self.endpoints.append(pod)
            elif endpoint.kind == ADDRESS:
                address = engine.Address(endpoint.ip, f"{endpoint.ip} ({endpoint.note})" if endpoint.note else "")
                self.addresses.append(address)
                self.endpoints.append(address)
            else:
                self.endpoints.append(None)

    def universe(self, addresses: tuple = (), blocks_match_pods: bool = True) -> engine.Universe:
        """The observed endpoints (the `Scene` protocol of `snapshot.Snapshot`); observed pods carry no IPs, so no block matches them."""
        seen = {a.ip for a in self.addresses}
        regions = tuple(a for a in addresses if a.ip not in seen)  # a region's representative stands for its unobserved addresses
        names = sorted(self.namespaces)
        return engine.Universe([self.namespaces[n] for n in names], self.pods, tuple(self.addresses) + regions, (), blocks_match_pods)


def _cluster_ports(cluster: Snapshot | None):
    """endpoint -> the container ports of its pods in the snapshot (by pod name, then workload, then labels)."""
    if cluster is None:
        return lambda endpoint: ()
    by_name = {(p.namespace, p.name): p for p in cluster.pods}
    by_workload = {}
    for pod in cluster.pods:
        by_workload.setdefault((pod.namespace, pod.workload), pod)

    def ports(endpoint) -> tuple:
        for name in endpoint.pods:
            found = by_name.get((endpoint.namespace, name))
            if found is not None:
                return found.ports
        found = by_workload.get((endpoint.namespace, endpoint.workload)) if endpoint.workload else None
        if found is not None:
            return found.ports
        wanted = {k: v for k, v in endpoint.labels.items() if k not in VOLATILE_KEYS}.items()  # one pod of the workload will do
        for pod in cluster.pods:
            if pod.namespace == endpoint.namespace and pod.labels.items() >= wanted:
                return pod.ports
        return ()

    return ports


class Traffic:
    """The observed universe over some policy sets: verdicts of connections, by classes."""

    def __init__(self, observed: Observed, policy_sets: list[engine.PolicySet], cluster: Snapshot | None = None):
        from .flows import Scene

        self.observed = observed
        self.snapshot = ObservedSnapshot(observed, cluster)
        self.scene = Scene(policy_sets, snapshot=self.snapshot)
        self.universe = self.scene.universe

    def endpoint(self, index: int) -> engine.Endpoint:
        return self.snapshot.endpoints[index]

    def name(self, index: int) -> str:
        from .flows import name

        return name(self.endpoint(index), self.universe)

    def allowed(self, policies: engine.PolicySet, connections: list[Connection]) -> list[bool]:
        """The verdict on each connection: both its ends' sides, one mask per class of ends and port atom."""
        reach = self.scene.reach(policies)
        position = self.scene.index.position
        groups: dict[tuple, tuple] = {}
        for i, connection in enumerate(connections):
            source, destination = self.endpoint(connection.source), self.endpoint(connection.destination)
            atom = reach.atom_index(connection.port, connection.protocol)
            egress = reach.side(source, engine.EGRESS) if source.is_pod else None
            ingress = reach.side(destination, engine.INGRESS) if destination.is_pod else None
            group = groups.get((id(egress), id(ingress), atom))
            if group is None:
                group = groups[(id(egress), id(ingress), atom)] = (egress, ingress, atom, [])
            group[3].append(i)
        out = [False] * len(connections)
        for egress, ingress, atom, members in groups.values():
            protocol = reach.protocol_of[atom]
            reachable = reach.full if egress is None else egress.at(atom, protocol)
            admitted = reach.full if ingress is None else ingress.at(atom, protocol)
            if len(members) > 64:  # many connections of one class: list the masks' members once
                reachable_set = set(engine.bits(reachable)) if reachable != reach.full else None
                admitted_set = set(engine.bits(admitted)) if admitted != reach.full else None
                for i in members:
                    c = connections[i]
                    out[i] = (reachable_set is None or position[id(self.endpoint(c.destination))] in reachable_set) and (
                        admitted_set is None or position[id(self.endpoint(c.source))] in admitted_set
                    )
            else:
                for i in members:
                    c = connections[i]
                    out[i] = bool((reachable >> position[id(self.endpoint(c.destination))]) & 1) and bool(
                        (admitted >> position[id(self.endpoint(c.source))]) & 1
                    )
        return out

    def evaluate(self, policies: engine.PolicySet, connection: Connection) -> engine.Verdict:
        return engine.evaluate(
            policies, self.universe, self.endpoint(connection.source), self.endpoint(connection.destination), connection.port, connection.protocol
        )


# ---------------------------------------------------------------- replay


@dataclass
class Group:
    """Denied (or changed) connections of one workload pair and port; addresses of one side gathered."""

    sources: list[str]
    destinations: list[str]
    port: int
    protocol: str
    connections: list[Connection] = field(default_factory=list)
    verdict: engine.Verdict | None = None  # of the most-seen connection, for the chain

    @property
    def seen(self) -> int:
        return sum(c.seen for c in self.connections)

    @property
    def refused(self) -> int:
        return sum(c.refused for c in self.connections)

    @property
    def first(self):
        times = [c.first for c in self.connections if c.first is not None]
        return min(times) if times else None

    @property
    def last(self):
        times = [c.last for c in self.connections if c.last is not None]
        return max(times) if times else None

    def flow_text(self) -> str:
        return f"{_names(self.sources)} -> {_names(self.destinations)} on {self.port}/{self.protocol}"


def _names(names: list[str]) -> str:
    if len(names) <= 3:
        return ", ".join(names)
    return ", ".join(names[:3]) + f" and {len(names) - 3:,} more"


@dataclass
class Replay:
    traffic: Traffic
    policies: engine.PolicySet
    connections: list[Connection]  # the ones that happened
    allowed: list[bool]
    denied: list[Group]
    diagnostics: list[Diagnostic]

    @property
    def denied_count(self) -> int:
        return sum(not a for a in self.allowed)


def group(traffic: Traffic, connections: list[Connection]) -> list[Group]:
    """Connections by workload pair and port; the addresses at one end of a pod's connections gathered into one group."""
    groups: dict[tuple, Group] = {}
    for connection in connections:
        source, destination = traffic.endpoint(connection.source), traffic.endpoint(connection.destination)
        key = (
            traffic.name(connection.source) if source.is_pod else "",
            traffic.name(connection.destination) if destination.is_pod else "",
            connection.port,
            connection.protocol,
        )
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group([], [], connection.port, connection.protocol)
        found.connections.append(connection)
    for found in groups.values():
        found.connections.sort(key=lambda c: (-c.seen, c.source, c.destination))
        found.sources = list(dict.fromkeys(traffic.name(c.source) for c in found.connections))
        found.destinations = list(dict.fromkeys(traffic.name(c.destination) for c in found.connections))
    return sorted(groups.values(), key=lambda g: (g.sources[0], g.destinations[0], g.protocol, g.port))


def replay(observed: Observed, policies: engine.PolicySet, context: list[engine.PolicySet] = (), cluster: Snapshot | None = None) -> Replay:
    """Every connection that happened, against `policies`; the denied ones grouped, each with the verdict of its most-seen connection."""
    with engine.paused_gc():
        traffic = Traffic(observed, [policies, *context], cluster)
        happened = observed.happened()
        allowed = traffic.allowed(policies, happened)
        denied = group(traffic, [c for c, ok in zip(happened, allowed) if not ok])
        for found in denied:
            found.verdict = traffic.evaluate(policies, found.connections[0])
    diagnostics = named_port_warning(policies, cluster, observed)
    diagnostics += [denial(found, traffic, observed) for found in denied]
    return Replay(traffic, policies, happened, allowed, denied, diagnostics)


def denial(found: Group, traffic: Traffic, observed: Observed) -> Diagnostic:
    """NP911 at the policy and intent line that isolates the denied side (where a CI annotation helps)."""
    from .expect import chain, related

    notes = related(found.verdict, traffic.universe)
    span = notes[0][0] if notes else Span(observed.files[0] if observed.files else "<flows>", 1, 1, 1, 1)
    times = f"seen {found.seen:,} time{'s' * (found.seen != 1)}"
    return Diagnostic(
        "NP911",
        span,
        f"observed connection {found.flow_text()} ({times}) would be denied",
        "; ".join(chain(found.verdict, traffic.universe)) + ". Allow it, or make sure this traffic should stop before enforcing",
        related=tuple(notes[1:]),
    )


def named_port_warning(policies: engine.PolicySet, cluster: Snapshot | None, observed: Observed) -> list[Diagnostic]:
    """NP910 when rules name ports by name and no snapshot says which numbers the observed pods give them."""
    if cluster is not None:
        return []
    from .flows import source_span

    for policy in policies.items:
        for rule in policy.ingress + policy.egress:
            named = next((p.port for p in rule.ports if isinstance(p.port, str)), None)
            if named is not None:
                span = source_span(policy) or Span(observed.files[0] if observed.files else "<flows>", 1, 1, 1, 1)
                return [
                    Diagnostic(
                        "NP910",
                        span,
                        f"{policy.namespace}/{policy.name} names port `{named}`: flow records carry port numbers, not the pods' port names, so its rules match no observed connection",
                        "pass --cluster snapshot.yaml (`kubectl get namespaces,pods -A -o yaml`) so that named ports resolve on the observed pods",
                    )
                ]
    return []


# ---------------------------------------------------------------- diff --flows


@dataclass
class ObservedDiff:
    traffic: Traffic
    closed: list[Group]  # connections that happened, allowed before and denied after
    opened: list[Group]  # connections denied before (also ones seen dropped) and allowed after
    observed: Observed


def observed_diff(observed: Observed, old: engine.PolicySet, new: engine.PolicySet, context: list[engine.PolicySet] = (), cluster=None) -> ObservedDiff:
    """The change between two policy sets, limited to the connections in the flow records."""
    with engine.paused_gc():
        traffic = Traffic(observed, [old, new, *context], cluster)
        connections = observed.connections
        before, after = traffic.allowed(old, connections), traffic.allowed(new, connections)
        closed = [c for c, a, b in zip(connections, before, after) if a and not b and c.happened]
        opened = [c for c, a, b in zip(connections, before, after) if b and not a]
        return ObservedDiff(traffic, group(traffic, closed), group(traffic, opened), observed)
