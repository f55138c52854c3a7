"""The endpoints reasoned about (namespaces, pods, addresses), and the representative universe built from the policies."""

from __future__ import annotations

import ipaddress
from typing import Iterable, Mapping, NamedTuple

from ..dnsnames import representatives, shown_name
from ..ir import NAME_LABEL, LabelSelector
from .model import PeerRule, PolicySet, PortRule

EMPTY_SELECTOR = LabelSelector()


class ContainerPort(NamedTuple):
    name: str | None
    number: int
    protocol: str = "TCP"


# Endpoints compare by identity: two pods with the same labels are still two pods.


class Namespace:
    __slots__ = ("name", "labels")

    def __init__(self, name: str, labels: Mapping[str, str] | None = None):
        self.name = name
        # The API server sets this label on every namespace (Kubernetes >= 1.21).
        self.labels = {**(labels or {}), NAME_LABEL: name}

    def __repr__(self) -> str:
        return f"Namespace({self.name!r}, {self.labels!r})"


class Pod:
    """A pod: labels, named container ports, addresses when known, and the workload it belongs to."""

    __slots__ = ("namespace", "name", "labels", "ports", "ips", "host_network", "workload", "_numbers")
    is_pod = True

    def __init__(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str] | None = None,
        ports=(),
        ip: str | None = None,
        *,
        ips: tuple[str, ...] = (),
        host_network: bool = False,
        workload: str = "",
    ):
        self.namespace = namespace
        self.name = name
        self.labels = dict(labels or {})
        self.ports = tuple(ports)
        self.ips = tuple(ips) or ((ip,) if ip else ())
        # Policies never select a host-network pod, as subject or as peer; its traffic is the node's.
        self.host_network = host_network
        self.workload = workload  # e.g. "deployment/cart" (snapshots); "" for representative pods
        # (name, protocol) -> number, the first port of that name winning: a lookup, not a scan
        # (10,000 named ports on one line made resolving them quadratic).
        self._numbers = {}
        for port in reversed(self.ports):
            self._numbers[(port.name, port.protocol)] = port.number

    @property
    def ip(self) -> str | None:
        return self.ips[0] if self.ips else None

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    __repr__ = __str__

    def resolve_port(self, name: str, protocol: str) -> int | None:
        return self._numbers.get((name, protocol))


class Address:
    __slots__ = ("ip", "label")
    is_pod = False
    host_network = False

    @property
    def ips(self) -> tuple[str, ...]:
        return (self.ip,)

    def __init__(self, ip: str, label: str = ""):
        self.ip = ip
        self.label = label

    def __str__(self) -> str:
        return self.label or self.ip

    __repr__ = __str__


class NameAddress(Address):
    """An endpoint outside the cluster known by a DNS name: its addresses are learned at run time, from DNS.

    Each name, and each representative of a wildcard (`dnsnames.representatives`), is its own
    class of addresses, once per address family: which address it resolves to is decided at run
    time, so a CIDR matches it only when it holds every address of that family (`0.0.0.0/0`,
    `::/0`, without except); `world` and the name peers that cover it always do.
    """

    __slots__ = ("dns_name", "family")

    def __init__(self, dns_name: str, family: int = 4):
        super().__init__("", f"{shown_name(dns_name)} (IPv{family})")
        self.dns_name = dns_name
        self.family = family

    @property
    def ips(self) -> tuple[str, ...]:
        return ()


class Node(Address):
    """A node of the cluster (a v1 Node of a snapshot): its addresses and labels, for `nodes` peers."""

    __slots__ = ("addresses", "labels")

    def __init__(self, name: str, labels: Mapping[str, str], addresses: tuple[str, ...]):
        super().__init__(addresses[0] if addresses else "", f"node/{name}")
        self.addresses = tuple(addresses)
        self.labels = dict(labels)

    @property
    def ips(self) -> tuple[str, ...]:
        return self.addresses


Endpoint = Pod | Address


class Universe:
    """Endpoints to reason about: namespaces, pods in them, addresses outside, and (from a snapshot) nodes."""

    def __init__(self, namespaces, pods, addresses=(), nodes=(), blocks_match_pods: bool = True):
        # Whether an ipBlock matches pods by their IPs: implementation-defined; some CNIs never do (Cilium).
        self.blocks_match_pods = blocks_match_pods
        self.namespaces = tuple(namespaces)
        self.pods = tuple(pods)
        self.nodes = tuple(nodes)
        self.addresses = tuple(addresses) + self.nodes  # a node is an address outside the pod network, with labels
        self.endpoints: tuple[Endpoint, ...] = self.pods + self.addresses
        self.namespace_by_name = {ns.name: ns for ns in self.namespaces}

    def namespace(self, name: str) -> Namespace:
        return self.namespace_by_name.get(name) or Namespace(name)

    def index(self):
        """Positions and peer masks, built once per universe and shared by every Reach over it."""
        found = self.__dict__.get("_index")
        if found is None:
            from .reach import Index

            found = self.__dict__["_index"] = Index(self)
        return found


OTHER_NAMESPACE = "netpolc-other"
OTHER_VALUE = "netpolc-other"


def _variants(selector: LabelSelector) -> list[dict[str, str]]:
    """A pod the selector matches, and pods that miss it by exactly one term.

    The near misses make the universe able to tell apart selectors that differ in
    one term (a dropped `!=`, a flipped In/NotIn), which a lowering bug would cause.
    """
    witness = selector.witness(OTHER_VALUE)
    if witness is None:
        return []
    out = [witness]
    for key, value in selector.match_labels:
        out.append({**witness, key: OTHER_VALUE})
        out.append({k: v for k, v in witness.items() if k != key})
    for e in selector.match_expressions:
        if e.operator in ("In", "Exists"):
            out.append({k: v for k, v in witness.items() if k != e.key})
            if e.operator == "In":
                out.append({**witness, e.key: OTHER_VALUE})
        elif e.operator == "NotIn":
            out.extend({**witness, e.key: v} for v in e.values)
        else:
            out.append({**witness, e.key: OTHER_VALUE})
    # A value from an In list other than the first is a pod of its own.
    for e in selector.match_expressions:
        if e.operator == "In":
            out.extend({**witness, e.key: v} for v in e.values[1:])
    return out


def _regions(networks: Iterable) -> list[Address]:
    """One address per region that the networks' boundaries cut each address family into."""
    out = []
    for version, bits in ((4, 32), (6, 128)):
        points = {0}
        for network in networks:
            if network.version != version:
                continue
            points.add(int(network.network_address))
            end = int(network.broadcast_address) + 1
            if end < 2**bits:
                points.add(end)
        ordered = sorted(points) + [2**bits]
        make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for start, stop in zip(ordered, ordered[1:]):
            first, last = make(start), make(stop - 1)
            blocks = list(ipaddress.summarize_address_range(first, last))
            label = str(blocks[0]) if len(blocks) == 1 else f"{first}-{last}"
            out.append(Address(str(first), label))
    return out


def address_regions(policy_sets: Iterable[PolicySet], extra_peers: Iterable[tuple[str, PeerRule]] = ()) -> tuple[Address, ...]:
    """One address per region the CIDRs of the policies (and extra peers) cut the address space into,
    and one endpoint per DNS name they name (and per representative of each wildcard).

    What a universe of real pods (a snapshot) adds for the world outside the cluster.
    """
    networks: set = set()
    names: set[str] = set()
    peers = [peer for policy_set in policy_sets for policy in policy_set.items for rule in policy.ingress + policy.egress for peer in rule.peers]
    for peer in peers + [peer for _, peer in extra_peers]:
        if peer.kind == "block":
            networks.add(ipaddress.ip_network(peer.cidr))
            networks.update(ipaddress.ip_network(e) for e in peer.excepts)
        elif peer.kind == "name":
            names.update(representatives(peer.dns_name))
    return tuple(_regions(networks)) + name_endpoints(names)


def name_endpoints(names: Iterable[str]) -> tuple[Address, ...]:
    """One endpoint per DNS name, in name order."""
    return tuple(NameAddress(name, family) for name in sorted(set(names)) for family in (4, 6))


def representative_universe(
    policy_sets: Iterable[PolicySet],
    extra_peers: Iterable[tuple[str, PeerRule]] = (),
    extra_addresses: Iterable[str] = (),
    extra_ports: Iterable[PortRule] = (),
) -> Universe:
    """Endpoints enough to tell every policy and peer apart, built from the policies themselves.

    One pod per label set a selector implies (and its near misses) in each namespace the
    selector can look at, an unlabelled pod per namespace, a namespace per label set a
    namespace selector implies (and its near misses) plus an "other" one, and one address
    per region the CIDRs cut. A namespace selector's pod selectors are placed only in the
    namespaces it (nearly) matches, not everywhere: that keeps 1,000 namespaces small.
    """
    located: dict[str, set[LabelSelector]] = {}
    scoped: dict[LabelSelector, set[LabelSelector]] = {}  # namespace selector -> pod selectors
    networks: set = set()
    port_names: set[tuple[str, str]] = set()
    numeric: list[PortRule] = []
    names: set[str] = set()

    def visit_peer(namespace: str, peer: PeerRule) -> None:
        if peer.kind == "name":
            names.update(representatives(peer.dns_name))
        elif peer.kind == "block":
            networks.add(ipaddress.ip_network(peer.cidr))
            networks.update(ipaddress.ip_network(e) for e in peer.excepts)
        elif peer.kind == "pods":
            selector = EMPTY_SELECTOR if peer.pod_selector is None else peer.pod_selector
            if peer.namespace_kind == "policy":
                located.setdefault(namespace, set()).add(selector)
            elif peer.namespace_kind == "named":
                located.setdefault(peer.namespace_name, set()).add(selector)
            else:
                scoped.setdefault(peer.namespace_selector, set()).add(selector)

    def visit_port(port: PortRule) -> None:
        if isinstance(port.port, str):
            port_names.add((port.port, port.protocol))
        elif port.port is not None:
            numeric.append(port)

    for policy_set in policy_sets:
        for policy in policy_set.policies:
            located.setdefault(policy.namespace, set()).add(policy.pod_selector)
        for policy in policy_set.cluster:
            visit_peer("", policy.subject)
        for policy in policy_set.items:
            for rule in policy.ingress + policy.egress:
                for peer in rule.peers:
                    visit_peer(policy.namespace, peer)
                for port in rule.ports:
                    visit_port(port)
    for namespace, peer in extra_peers:
        visit_peer(namespace, peer)
    for address in extra_addresses:
        networks.add(ipaddress.ip_network(address))
    for port in extra_ports:
        visit_port(port)

    named = {name: Namespace(name) for name in sorted(located)}
    synthetic: dict[tuple, Namespace] = {}  # labels other than the name -> namespace
    attached: dict[str, set[LabelSelector]] = {}

    def namespace_for(labels: dict[str, str]) -> Namespace:
        """The namespace standing for a label set: named when the set names it, else a synthetic one."""
        name = labels.get(NAME_LABEL)
        if name == OTHER_NAMESPACE:  # a near miss of a namespace name: the unnamed "other" namespace
            labels, name = {k: v for k, v in labels.items() if k != NAME_LABEL}, None
        if name is not None:
            if name not in named:
                named[name] = Namespace(name, labels)
            return named[name]
        key = tuple(sorted(labels.items()))
        if not key:  # no label at all: any namespace the program does not name
            key, labels = (("", OTHER_NAMESPACE),), {}
        if key not in synthetic:
            synthetic[key] = Namespace(OTHER_NAMESPACE if not labels else f"netpolc-ns{len(synthetic)}", labels)
        return synthetic[key]

    for selector in sorted(scoped):
        for labels in _variants(selector):
            attached.setdefault(namespace_for(labels).name, set()).update(scoped[selector])
    namespace_for({})  # the "other" namespace always exists
    namespaces = [named[n] for n in sorted(named)] + sorted(synthetic.values(), key=lambda ns: (ns.name == OTHER_NAMESPACE, ns.name))
    # A selector that does not name its namespace may match namespaces created for others.
    for selector in sorted(scoped):
        if any(k == NAME_LABEL for k, _ in selector.match_labels):
            continue
        for namespace in namespaces:
            if selector.matches(namespace.labels):
                attached.setdefault(namespace.name, set()).update(scoped[selector])

    ports = _synthetic_ports(port_names, numeric)
    pods = []
    for namespace in namespaces:
        label_sets: dict[tuple, dict] = {(): {}}
        for selector in sorted(located.get(namespace.name, set()) | attached.get(namespace.name, set())):
            for labels in _variants(selector):
                label_sets.setdefault(tuple(sorted(labels.items())), labels)
        for key, labels in sorted(label_sets.items()):
            name = ",".join(f"{k}={v}" for k, v in key) or "unlabelled"
            pods.append(Pod(namespace.name, name, labels, ports))
    return Universe(tuple(namespaces), tuple(pods), tuple(_regions(networks)) + name_endpoints(names))


def _synthetic_ports(names: set[tuple[str, str]], numeric: list[PortRule]) -> tuple[ContainerPort, ...]:
    """Give each named port a number no numeric rule mentions, so names and numbers stay distinguishable."""
    taken: dict[str, list[tuple[int, int]]] = {}
    for p in numeric:
        taken.setdefault(p.protocol, []).append((p.port, p.end_port or p.port))
    for spans in taken.values():
        spans.sort()
    out = []
    candidate = 40000
    passed = dict.fromkeys(taken, 0)  # per protocol, the sorted ranges already behind the candidate (it only grows)
    for name, protocol in sorted(names):
        spans = taken.get(protocol, [])
        while candidate < 65535:  # past every taken range that covers the candidate
            while passed.get(protocol, 0) < len(spans) and spans[passed[protocol]][1] < candidate:
                passed[protocol] += 1
            seen = passed.get(protocol, 0)
            if seen < len(spans) and spans[seen][0] <= candidate:
                candidate = min(spans[seen][1] + 1, 65535)
            else:
                break
        out.append(ContainerPort(name, candidate, protocol))
        candidate += 1
    return tuple(out)
