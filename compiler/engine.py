"""Reachability engine: which flows a set of NetworkPolicies allows, as the Kubernetes API reference defines it.

Semantics implemented (networking.k8s.io/v1):
- A pod is isolated for a direction when any policy in its namespace selects it and
  lists that direction in policyTypes (defaulting: Ingress always; Egress when the
  policy has egress rules). An unisolated direction allows everything.
- An isolated direction allows the union of the rules of every policy selecting the pod.
- A rule matches when one of its peers matches (no peers: every endpoint) and one of its
  ports matches (no ports: every port). Ports default to TCP; a named port is resolved
  on the destination pod's container ports; endPort makes a range.
- A peer is podSelector (policy's namespace), namespaceSelector (all pods there),
  both (AND), or ipBlock (cidr minus except). ipBlock matches addresses, and pods only
  when the universe gives them an IP (behaviour for pod IPs is implementation-defined).
- A pod-to-pod flow needs the source's egress AND the destination's ingress to allow it.

The model also allows a policy to carry rules without isolating (`isolates` empty):
that is how the meaning of intents is expressed (`allow A to B` grants A egress but does
not isolate A), so intents and manifests are compared with the same machinery.
"""

from __future__ import annotations

import gc
import ipaddress
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple

from .ir import NAME_LABEL, LabelSelector

INGRESS = "ingress"
EGRESS = "egress"
DIRECTIONS = (INGRESS, EGRESS)
PROTOCOLS = ("TCP", "UDP", "SCTP")
EMPTY_SELECTOR = LabelSelector()



@contextmanager
def paused_gc():
    """Pause the cycle collector while building many small acyclic objects.

    A proof of 10,000 intents allocates millions of tuples and ints that are freed by
    reference counting; the collector would rescan every live object dozens of times.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ---------------------------------------------------------------- universe


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
    __slots__ = ("namespace", "name", "labels", "ports", "ip")

    def __init__(self, namespace: str, name: str, labels: Mapping[str, str] | None = None, ports=(), ip: str | None = None):
        self.namespace = namespace
        self.name = name
        self.labels = dict(labels or {})
        self.ports = tuple(ports)
        self.ip = ip

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    __repr__ = __str__

    def resolve_port(self, name: str, protocol: str) -> int | None:
        for port in self.ports:
            if port.name == name and port.protocol == protocol:
                return port.number
        return None


class Address:
    __slots__ = ("ip", "label")

    def __init__(self, ip: str, label: str = ""):
        self.ip = ip
        self.label = label

    def __str__(self) -> str:
        return self.label or self.ip

    __repr__ = __str__


Endpoint = Pod | Address


class Universe:
    """Endpoints to reason about: namespaces, pods in them, and addresses outside."""

    def __init__(self, namespaces, pods, addresses=()):
        self.namespaces = tuple(namespaces)
        self.pods = tuple(pods)
        self.addresses = tuple(addresses)
        self.endpoints: tuple[Endpoint, ...] = self.pods + self.addresses
        self.namespace_by_name = {ns.name: ns for ns in self.namespaces}

    def namespace(self, name: str) -> Namespace:
        return self.namespace_by_name.get(name) or Namespace(name)

    def index(self) -> "_Index":
        """Positions and peer masks, built once per universe and shared by every Reach over it."""
        found = self.__dict__.get("_index")
        if found is None:
            found = self.__dict__["_index"] = _Index(self)
        return found


# ---------------------------------------------------------------- policy model


class PeerRule(NamedTuple):
    """One peer of a rule. kind: `pods`, `block` or `all` (an empty from/to list)."""

    kind: str
    namespace_kind: str = "policy"  # "policy" (the policy's own), "named", "labelled"
    namespace_name: str = ""
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None  # None: every pod of the namespaces
    cidr: str = ""
    excepts: tuple[str, ...] = ()

    def matches(self, endpoint: Endpoint, policy_namespace: str, universe: Universe) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "block":
            ip = endpoint.ip
            if ip is None:
                return False
            address = ipaddress.ip_address(ip)
            network = ipaddress.ip_network(self.cidr)
            if address.version != network.version or address not in network:
                return False
            return not any(
                address in ipaddress.ip_network(e) for e in self.excepts if ipaddress.ip_network(e).version == address.version
            )
        if not isinstance(endpoint, Pod):
            return False
        if self.namespace_kind == "policy" and endpoint.namespace != policy_namespace:
            return False
        if self.namespace_kind == "named" and endpoint.namespace != self.namespace_name:
            return False
        if self.namespace_kind == "labelled" and not self.namespace_selector.matches(
            universe.namespace(endpoint.namespace).labels
        ):
            return False
        return self.pod_selector is None or self.pod_selector.matches(endpoint.labels)

    def describe(self) -> str:
        if self.kind == "all":
            return "everything"
        if self.kind == "block":
            return self.cidr + (f" except {', '.join(self.excepts)}" if self.excepts else "")
        pods = "every pod" if self.pod_selector is None else f"pods {self.pod_selector}"
        if self.namespace_kind == "policy":
            return f"{pods} of the same namespace"
        if self.namespace_kind == "named":
            return f"{pods} in namespace {self.namespace_name}"
        return f"{pods} in namespaces {self.namespace_selector}"


class PortRule(NamedTuple):
    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def matches(self, number: int, protocol: str, destination: Endpoint | None) -> bool:
        if protocol != self.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str):
            if not isinstance(destination, Pod):
                return False
            return destination.resolve_port(self.port, protocol) == number
        return self.port <= number <= (self.end_port or self.port)

    def describe(self) -> str:
        if self.port is None:
            return f"all {self.protocol} ports"
        port = f"{self.port}-{self.end_port}" if self.end_port else str(self.port)
        return f"{port}/{self.protocol}"


class Rule(NamedTuple):
    peers: tuple[PeerRule, ...]  # empty: every endpoint
    ports: tuple[PortRule, ...]  # empty: every port
    number: int = 0  # position in the policy's list of rules


class Policy(NamedTuple):
    """A NetworkPolicy, or an intent in the same shape; `source`/`intent` say where it came from."""

    name: str
    namespace: str
    pod_selector: LabelSelector
    isolates: frozenset[str]
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    source: str = ""
    intent: str = ""

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == INGRESS else self.egress

    def describe(self) -> str:
        where = f" ({self.source}: {self.intent})" if self.source else ""
        return f"{self.namespace}/{self.name}{where}"


class PolicySet:
    """Policies indexed by namespace."""

    def __init__(self, policies: Iterable[Policy]):
        self.policies = tuple(policies)
        self.by_namespace: dict[str, list[Policy]] = {}
        for policy in self.policies:
            self.by_namespace.setdefault(policy.namespace, []).append(policy)

    def __len__(self) -> int:
        return len(self.policies)

    def selecting(self, pod: Pod) -> list[Policy]:
        return [p for p in self.by_namespace.get(pod.namespace, ()) if p.pod_selector.matches(pod.labels)]


class PolicyError(ValueError):
    """A manifest that is not a valid NetworkPolicy; `where` names the field."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


# ---------------------------------------------------------------- reading manifests


def load_policies(manifests: Iterable[Mapping]) -> PolicySet:
    """Read NetworkPolicy manifests (dicts) into the engine's model; other kinds are skipped."""
    return PolicySet(read_policy(m, i) for i, m in enumerate(manifests) if _is_network_policy(m))


def _is_network_policy(manifest) -> bool:
    return isinstance(manifest, Mapping) and manifest.get("kind") == "NetworkPolicy"


def read_policy(manifest: Mapping, position: int = 0) -> Policy:
    metadata = manifest.get("metadata") or {}
    name = str(metadata.get("name") or f"#{position + 1}")
    where = f"NetworkPolicy {name}"
    if not metadata.get("namespace"):
        # Without a namespace kubectl would apply it to the current context's namespace;
        # refusing is safer than guessing.
        raise PolicyError(where, "metadata.namespace is missing")
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        raise PolicyError(where, "spec is missing")
    try:
        pod_selector = LabelSelector.from_k8s(spec.get("podSelector") or {})
    except ValueError as err:
        raise PolicyError(f"{where} spec.podSelector", str(err)) from None
    ingress = _read_rules(spec.get("ingress"), "from", f"{where} spec.ingress")
    egress = _read_rules(spec.get("egress"), "to", f"{where} spec.egress")
    types = spec.get("policyTypes")
    if types is None:
        isolates = {INGRESS} | ({EGRESS} if spec.get("egress") is not None and egress else set())
    else:
        if not isinstance(types, list) or not set(types) <= {"Ingress", "Egress"}:
            raise PolicyError(f"{where} spec.policyTypes", "must be a list of Ingress and/or Egress")
        isolates = {t.lower() for t in types}
    annotations = metadata.get("annotations") or {}
    return Policy(
        name,
        str(metadata["namespace"]),
        pod_selector,
        frozenset(isolates),
        ingress,
        egress,
        source=str(annotations.get("netpolc.io/source", "")),
        intent=str(annotations.get("netpolc.io/intent", "")),
    )


def _read_rules(raw, peer_key: str, where: str) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(where, "must be a list")
    rules = []
    for index, entry in enumerate(raw):
        entry = entry or {}
        if not isinstance(entry, Mapping):
            raise PolicyError(f"{where}[{index}]", "must be a mapping")
        peers = tuple(_read_peer(p, f"{where}[{index}].{peer_key}") for p in entry.get(peer_key) or ())
        ports = tuple(_read_port(p, f"{where}[{index}].ports") for p in entry.get("ports") or ())
        rules.append(Rule(peers, ports, index))
    return tuple(rules)


def _read_peer(raw, where: str) -> PeerRule:
    if not isinstance(raw, Mapping) or not raw:
        raise PolicyError(where, "a peer must set podSelector, namespaceSelector or ipBlock")
    try:
        if "ipBlock" in raw:
            if len(raw) != 1:
                raise PolicyError(where, "ipBlock cannot be combined with a selector in one peer")
            block = raw["ipBlock"] or {}
            cidr = str(ipaddress.ip_network(str(block.get("cidr")), strict=False))
            excepts = tuple(str(ipaddress.ip_network(str(e), strict=False)) for e in block.get("except") or ())
            return PeerRule("block", cidr=cidr, excepts=excepts)
        pods = LabelSelector.from_k8s(raw["podSelector"]) if "podSelector" in raw else None
        if "namespaceSelector" in raw:
            namespaces = LabelSelector.from_k8s(raw["namespaceSelector"])
            return PeerRule("pods", "labelled", namespace_selector=namespaces, pod_selector=pods)
        return PeerRule("pods", "policy", pod_selector=pods or LabelSelector())
    except PolicyError:
        raise
    except ValueError as err:
        raise PolicyError(where, str(err)) from None


def _read_port(raw, where: str) -> PortRule:
    if not isinstance(raw, Mapping):
        raise PolicyError(where, "must be a mapping")
    protocol = str(raw.get("protocol") or "TCP")
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise PolicyError(where, f"unknown protocol {protocol!r}")
    port = raw.get("port")
    end_port = raw.get("endPort")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if port is not None and not isinstance(port, (int, str)):
        raise PolicyError(where, "port must be a number or a name")
    if end_port is not None and not isinstance(port, int):
        raise PolicyError(where, "endPort needs a numeric port")
    return PortRule(protocol, port, end_port)


# ---------------------------------------------------------------- one flow


@dataclass
class SideVerdict:
    """One direction of a flow: egress at the source pod or ingress at the destination pod."""

    direction: str
    applies: bool  # False when that end is not a pod (an address has no policies)
    isolated_by: list[Policy] = field(default_factory=list)
    allowed_by: list[tuple[Policy, Rule]] = field(default_factory=list)

    @property
    def isolated(self) -> bool:
        return bool(self.isolated_by)

    @property
    def allowed(self) -> bool:
        return not self.applies or not self.isolated or bool(self.allowed_by)


@dataclass
class Verdict:
    source: Endpoint
    destination: Endpoint
    port: int | None
    protocol: str
    egress: SideVerdict
    ingress: SideVerdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.port is not None and self.egress.allowed and self.ingress.allowed


def evaluate(
    policies: PolicySet,
    universe: Universe,
    source: Endpoint,
    destination: Endpoint,
    port: int | str,
    protocol: str = "TCP",
) -> Verdict:
    """Is `source` -> `destination` on port/protocol allowed, and by which policies and rules?"""
    protocol = protocol.upper()
    number = port
    reason = ""
    if isinstance(port, str):
        number = destination.resolve_port(port, protocol) if isinstance(destination, Pod) else None
        if number is None:
            reason = f"the destination has no {protocol} port named {port!r}"
    egress = _side(policies, universe, EGRESS, source, destination, number, protocol)
    ingress = _side(policies, universe, INGRESS, destination, source, number, protocol)
    return Verdict(source, destination, number, protocol, egress, ingress, reason)


def _side(policies, universe, direction, subject, peer, number, protocol) -> SideVerdict:
    if not isinstance(subject, Pod):
        return SideVerdict(direction, applies=False)
    verdict = SideVerdict(direction, applies=True)
    destination = subject if direction == INGRESS else peer
    for policy in policies.selecting(subject):
        if direction in policy.isolates:
            verdict.isolated_by.append(policy)
        if number is None:
            continue
        for rule in policy.rules(direction):
            peer_ok = not rule.peers or any(p.matches(peer, policy.namespace, universe) for p in rule.peers)
            port_ok = not rule.ports or any(p.matches(number, protocol, destination) for p in rule.ports)
            if peer_ok and port_ok:
                verdict.allowed_by.append((policy, rule))
    return verdict


# ---------------------------------------------------------------- representative universe

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

    def visit_peer(namespace: str, peer: PeerRule) -> None:
        if peer.kind == "block":
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
    return Universe(tuple(namespaces), tuple(pods), tuple(_regions(networks)))


def _synthetic_ports(names: set[tuple[str, str]], numeric: list[PortRule]) -> tuple[ContainerPort, ...]:
    """Give each named port a number no numeric rule mentions, so names and numbers stay distinguishable."""
    taken = [(p.protocol, p.port, p.end_port or p.port) for p in numeric]
    out = []
    candidate = 40000
    for name, protocol in sorted(names):
        while any(pr == protocol and low <= candidate <= high for pr, low, high in taken) and candidate < 65535:
            candidate += 1
        out.append(ContainerPort(name, candidate, protocol))
        candidate += 1
    return tuple(out)


# ---------------------------------------------------------------- every flow at once


class Atom(NamedTuple):
    """A representative (protocol, port number): every port in one elementary interval."""

    protocol: str
    number: int


def port_atoms(policy_sets: Iterable[PolicySet], universe: Universe, extra: Iterable[PortRule] = ()) -> tuple[Atom, ...]:
    """One port per interval that the numeric ports of the rules cut 1..65535 into, per protocol,
    plus the numbers the universe's named container ports resolve to."""
    cuts: dict[str, set[int]] = {p: {1} for p in ("TCP", "UDP", "SCTP")}

    def add(rule: PortRule) -> None:
        if isinstance(rule.port, int):
            cuts[rule.protocol].add(rule.port)
            end = (rule.end_port or rule.port) + 1
            if end <= 65535:
                cuts[rule.protocol].add(end)

    for policy_set in policy_sets:
        for policy in policy_set.policies:
            for rule in policy.ingress + policy.egress:
                for port in rule.ports:
                    add(port)
    for port in extra:
        add(port)
    for pod in universe.pods:
        for container_port in pod.ports:
            cuts[container_port.protocol].add(container_port.number)
            if container_port.number < 65535:
                cuts[container_port.protocol].add(container_port.number + 1)
    return tuple(Atom(protocol, n) for protocol in ("TCP", "UDP", "SCTP") for n in sorted(cuts[protocol]))


def _matcher(selector: LabelSelector):
    """A fast `selector.matches`: matchLabels as one C-level subset test, then the expressions."""
    fixed = frozenset(selector.match_labels)
    expressions = selector.match_expressions
    if not expressions:
        return lambda labels: labels.items() >= fixed
    return lambda labels: labels.items() >= fixed and all(e.matches(labels) for e in expressions)


def _mask(indices: Iterable[int], size: int) -> int:
    """An int with the given bits set (built as bytes: one big-int operation, not one per bit)."""
    bits = bytearray((size + 7) // 8)
    for i in indices:
        bits[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(bits, "little")


class _Index:
    """What every Reach over one universe shares: endpoint positions and the peer masks.

    A peer's mask (the endpoints it matches) depends on the universe only, so the two
    policy sets a proof compares compute each distinct peer once.
    """

    def __init__(self, universe: "Universe"):
        self.universe = universe
        self.size = len(universe.endpoints)
        self.full = (1 << self.size) - 1
        self.position = {id(e): i for i, e in enumerate(universe.endpoints)}
        self.by_namespace: dict[str, list[int]] = {}
        for i, pod in enumerate(universe.pods):
            self.by_namespace.setdefault(pod.namespace, []).append(i)
        # Addresses (and pods that have an IP) sorted by family and number, for CIDR lookups.
        located = [(ipaddress.ip_address(e.ip), i) for i, e in enumerate(universe.endpoints) if e.ip is not None]
        self.ips = {4: sorted((int(a), i) for a, i in located if a.version == 4), 6: sorted((int(a), i) for a, i in located if a.version == 6)}
        self.ip_keys = {v: [n for n, _ in items] for v, items in self.ips.items()}
        self.peer_masks: dict = {}
        self.namespace_masks: dict = {}
        self.matchers: dict = {}
        self.selections: dict = {}

    def matcher(self, selector: LabelSelector):
        found = self.matchers.get(selector)
        if found is None:
            found = self.matchers[selector] = _matcher(selector)
        return found

    def pods_in(self, namespace: str, selector: LabelSelector | None) -> list[int]:
        indices = self.by_namespace.get(namespace, ())
        if selector is None or selector.is_empty:
            return list(indices)
        match, pods = self.matcher(selector), self.universe.pods
        return [i for i in indices if match(pods[i].labels)]

    def selected(self, namespace: str, selector: LabelSelector) -> tuple[int, ...]:
        """The pods a policy of `namespace` with this podSelector selects (cached)."""
        key = (namespace, selector)
        found = self.selections.get(key)
        if found is None:
            found = self.selections[key] = tuple(self.pods_in(namespace, selector))
        return found

    def namespaces_matching(self, selector: LabelSelector) -> list[str]:
        named = dict(selector.match_labels).get(NAME_LABEL)
        if named is not None:  # the common `namespace NAME`: one lookup, not a scan
            namespace = self.universe.namespace_by_name.get(named)
            candidates = [namespace] if namespace is not None else []
        else:
            candidates = self.universe.namespaces
        match = self.matcher(selector)
        return [ns.name for ns in candidates if match(ns.labels)]

    def block_mask(self, cidr: str, excepts: tuple[str, ...]) -> int:
        import bisect

        def indices(network) -> set[int]:
            keys, items = self.ip_keys[network.version], self.ips[network.version]
            low = bisect.bisect_left(keys, int(network.network_address))
            high = bisect.bisect_right(keys, int(network.broadcast_address))
            return {i for _, i in items[low:high]}

        inside = indices(ipaddress.ip_network(cidr))
        for hole in excepts:
            inside -= indices(ipaddress.ip_network(hole))
        return _mask(inside, self.size)

    def peer_mask(self, peer: PeerRule, policy_namespace: str) -> int:
        key = (peer, policy_namespace if peer.kind == "pods" and peer.namespace_kind == "policy" else "")
        mask = self.peer_masks.get(key)
        if mask is not None:
            return mask
        if peer.kind == "all":
            mask = self.full
        elif peer.kind == "block":
            mask = self.block_mask(peer.cidr, peer.excepts)
        elif peer.namespace_kind in ("policy", "named"):
            namespace = policy_namespace if peer.namespace_kind == "policy" else peer.namespace_name
            mask = _mask(self.pods_in(namespace, peer.pod_selector), self.size)
        else:
            mask = _mask(
                (i for ns in self.namespaces_matching(peer.namespace_selector) for i in self.pods_in(ns, peer.pod_selector)),
                self.size,
            )
        self.peer_masks[key] = mask
        return mask


class Allowed:
    """One isolated side of one class of pods: the peers allowed, per port atom.

    `base[protocol]` holds the peers allowed on every port of that protocol, `extra[atom]`
    the peers allowed on that atom only (never repeating base bits), so equal objects mean
    equal behaviour and a rule without ports costs one operation, not one per atom.
    """

    __slots__ = ("base", "extra")

    def __init__(self):
        self.base = dict.fromkeys(PROTOCOLS, 0)
        self.extra: dict[int, int] = {}

    def at(self, atom_index: int, protocol: str) -> int:
        return self.base[protocol] | self.extra.get(atom_index, 0)

    def normalise(self, protocol_of) -> "Allowed":
        extra = {}
        for index, mask in self.extra.items():
            mask &= ~self.base[protocol_of[index]]
            if mask:
                extra[index] = mask
        self.extra = extra
        return self

    def __eq__(self, other) -> bool:
        return isinstance(other, Allowed) and self.base == other.base and self.extra == other.extra

    __hash__ = None


class Reach:
    """Allowed sets of a policy set over a universe, per pod, direction and port atom.

    Each side of each pod is None (not isolated: everything allowed) or an `Allowed`
    (bitmasks over `universe.endpoints`). Pods selected by the same policies share one
    computation: the equivalence classes that keep a 10,000-intent program fast.
    """

    def __init__(self, policies: PolicySet, universe: Universe, atoms: tuple[Atom, ...]):
        self.policies = policies
        self.universe = universe
        self.atoms = atoms
        self.endpoints = universe.endpoints
        self.index = universe.index()
        self.full = self.index.full
        self.protocol_of = [atom.protocol for atom in atoms]
        self._numbers: dict[str, list[int]] = {p: [] for p in PROTOCOLS}
        self._offset: dict[str, int] = {}
        for i, atom in enumerate(atoms):
            self._offset.setdefault(atom.protocol, i)
            self._numbers[atom.protocol].append(atom.number)
        self._class_cache: dict = {}
        self._selection: dict | None = None
        self._named: dict = {}

    # -- atoms

    def atom_index(self, number: int, protocol: str) -> int | None:
        """The atom whose interval holds this port number."""
        import bisect

        numbers = self._numbers.get(protocol)
        if not numbers:
            return None
        position = bisect.bisect_right(numbers, number) - 1
        return None if position < 0 else self._offset[protocol] + position

    def atom_range(self, protocol: str, low: int, high: int) -> range:
        """The atoms whose intervals make up low..high (cut points include both ends)."""
        import bisect

        numbers = self._numbers.get(protocol)
        if not numbers:
            return range(0)
        start = self._offset[protocol]
        return range(start + bisect.bisect_left(numbers, low), start + bisect.bisect_right(numbers, high))

    def atom_interval(self, atom_index: int) -> tuple[int, int]:
        """First and last port number of an atom."""
        atom = self.atoms[atom_index]
        following = self.atoms[atom_index + 1] if atom_index + 1 < len(self.atoms) else None
        last = following.number - 1 if following is not None and following.protocol == atom.protocol else 65535
        return atom.number, last

    # -- masks over endpoints

    def peer_mask(self, peer: PeerRule, policy_namespace: str) -> int:
        return self.index.peer_mask(peer, policy_namespace)

    def _named_masks(self, name: str, protocol: str) -> dict[int, int]:
        """Atom index -> pods whose container port `name` resolves into that atom."""
        key = (name, protocol)
        found = self._named.get(key)
        if found is None:
            by_atom: dict[int, list[int]] = {}
            for i, pod in enumerate(self.universe.pods):
                number = pod.resolve_port(name, protocol)
                if number is not None:
                    index = self.atom_index(number, protocol)
                    if index is not None:
                        by_atom.setdefault(index, []).append(i)
            found = self._named[key] = {a: _mask(ix, self.index.size) for a, ix in by_atom.items()}
        return found

    # -- per pod

    def selecting(self, pod: Pod) -> tuple[Policy, ...]:
        if self._selection is None:
            # From the policies' side: each policy lists its pods once (shared with the other
            # policy set through the index), instead of every pod testing every policy.
            selection: dict[int, list[Policy]] = {}
            for policy in self.policies.policies:
                for i in self.index.selected(policy.namespace, policy.pod_selector):
                    selection.setdefault(i, []).append(policy)
            self._selection = {i: tuple(found) for i, found in selection.items()}
        return self._selection.get(self.index.position[id(pod)], ())

    def side(self, pod: Pod, direction: str) -> Allowed | None:
        """None if the pod is not isolated in `direction`, else the peers allowed per atom."""
        selected = self.selecting(pod)
        if not any(direction in p.isolates for p in selected):
            return None
        # Only policies that speak about this direction decide it: pods that differ elsewhere still share a class.
        selected = tuple(p for p in selected if direction in p.isolates or p.rules(direction))
        key = (direction, tuple(id(p) for p in selected), pod.ports if direction == INGRESS else ())
        cached = self._class_cache.get(key)
        if cached is not None:
            return cached
        allowed = Allowed()
        base, extra = allowed.base, allowed.extra
        for policy in selected:
            for rule in policy.rules(direction):
                peers = self.full if not rule.peers else 0
                for peer in rule.peers:
                    peers |= self.peer_mask(peer, policy.namespace)
                if not peers:
                    continue
                if not rule.ports:
                    for protocol in PROTOCOLS:
                        base[protocol] |= peers
                    continue
                for port in rule.ports:
                    if port.port is None:
                        base[port.protocol] |= peers
                    elif isinstance(port.port, int):
                        for index in self.atom_range(port.protocol, port.port, port.end_port or port.port):
                            extra[index] = extra.get(index, 0) | peers
                    elif direction == INGRESS:  # a named port is resolved on the destination: this pod
                        number = pod.resolve_port(port.port, port.protocol)
                        index = None if number is None else self.atom_index(number, port.protocol)
                        if index is not None:
                            extra[index] = extra.get(index, 0) | peers
                    else:  # ... or on each peer, for egress
                        for index, pods in self._named_masks(port.port, port.protocol).items():
                            if peers & pods:
                                extra[index] = extra.get(index, 0) | (peers & pods)
        allowed.normalise(self.protocol_of)
        self._class_cache[key] = allowed
        return allowed

    def allowed_mask(self, pod: Pod, direction: str, atom_index: int) -> int:
        """The peers the pod's side allows on an atom (every endpoint when not isolated)."""
        side = self.side(pod, direction)
        return self.full if side is None else side.at(atom_index, self.protocol_of[atom_index])

    def allows(self, source: Endpoint, destination: Endpoint, atom_index: int) -> bool:
        """The flow source -> destination on the atom's port, both sides considered."""
        position = self.index.position
        if isinstance(source, Pod) and not (self.allowed_mask(source, EGRESS, atom_index) >> position[id(destination)]) & 1:
            return False
        if isinstance(destination, Pod) and not (self.allowed_mask(destination, INGRESS, atom_index) >> position[id(source)]) & 1:
            return False
        return True

    def class_count(self) -> int:
        """How many distinct (direction, selected policies) classes were computed."""
        return len(self._class_cache)


class Difference(NamedTuple):
    """A flow on which two policy sets disagree, seen from one side."""

    direction: str
    subject: Pod
    peer: Endpoint
    atom: Atom
    first_allows: bool

    def flow(self) -> tuple[Endpoint, Endpoint]:
        return (self.peer, self.subject) if self.direction == INGRESS else (self.subject, self.peer)


def compare(first: Reach, second: Reach, limit: int = 5) -> list[Difference]:
    """Differences between two policy sets over the same universe and atoms, per side.

    Sides are compared class by class (pods with the same selecting policies in both sets
    are compared once), and only a class pair that differs is searched atom by atom.
    """
    assert first.universe is second.universe and first.atoms == second.atoms
    differences: list[Difference] = []
    seen: set = set()
    endpoints = first.endpoints
    protocol_of = first.protocol_of
    for pod in first.universe.pods:
        for direction in DIRECTIONS:
            a = first.side(pod, direction)
            b = second.side(pod, direction)
            key = (direction, id(a), id(b))
            if key in seen or a == b or (a is None and b is None):
                continue
            seen.add(key)
            for index, atom in enumerate(first.atoms):
                va = first.full if a is None else a.at(index, protocol_of[index])
                vb = second.full if b is None else b.at(index, protocol_of[index])
                delta = va ^ vb
                if delta:
                    bit = (delta & -delta).bit_length() - 1
                    differences.append(Difference(direction, pod, endpoints[bit], atom, bool((va >> bit) & 1)))
                    break
            if len(differences) >= limit:
                return differences
    return differences
