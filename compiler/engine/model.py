"""Policies in the engine's terms: peers, ports, rules, policies and policy sets (what a cluster would hold)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Iterable, NamedTuple

from ..dnsnames import matches as dns_matches
from ..ir import LabelSelector

if TYPE_CHECKING:
    from .universe import Endpoint, Pod, Universe

INGRESS = "ingress"
EGRESS = "egress"
DIRECTIONS = (INGRESS, EGRESS)
PROTOCOLS = ("TCP", "UDP", "SCTP")

# ClusterNetworkPolicy tiers, in the order they are evaluated (NetworkPolicy sits between them).
ADMIN, BASELINE = "Admin", "Baseline"
TIER_ORDER = {ADMIN: 0, BASELINE: 1}
ACCEPT, DENY, PASS = "Accept", "Deny", "Pass"
ACTIONS = (ACCEPT, DENY, PASS)


class PeerRule(NamedTuple):
    """One peer of a rule. kind: `pods`, `block`, `nodes` (cluster policies), `name` (a DNS name or wildcard) or `all` (an empty from/to list)."""

    kind: str
    namespace_kind: str = "policy"  # "policy" (the policy's own), "named", "labelled"
    namespace_name: str = ""
    namespace_selector: LabelSelector | None = None
    pod_selector: LabelSelector | None = None  # None: every pod of the namespaces
    cidr: str = ""
    excepts: tuple[str, ...] = ()
    node_selector: LabelSelector | None = None  # kind `nodes`
    dns_name: str = ""  # kind `name`: as the language writes it (`dnsnames` defines what a wildcard matches)

    def matches(self, endpoint: Endpoint, policy_namespace: str, universe: Universe) -> bool:
        if self.kind == "all":
            return True
        if self.kind == "name":  # only endpoints known by a name: an address or pod is never matched by one
            found = getattr(endpoint, "dns_name", None)
            return found is not None and dns_matches(self.dns_name, found)
        if self.kind == "nodes":  # the node itself, or a host-network pod, whose address is its node's
            addresses = {ip for node in universe.nodes if self.node_selector.matches(node.labels) for ip in node.addresses}
            if hasattr(endpoint, "addresses"):
                return self.node_selector.matches(endpoint.labels)
            return endpoint.host_network and any(ip in addresses for ip in endpoint.ips)
        if self.kind == "block":  # a pod matches by any of its addresses (dual stack), when they are known
            if getattr(endpoint, "dns_name", None) is not None:  # a name's address: somewhere in its family
                return self.holds_family(endpoint.family)
            if endpoint.is_pod and not universe.blocks_match_pods:
                return False
            return any(self.covers(ip) for ip in endpoint.ips)
        if not endpoint.is_pod or endpoint.host_network:  # host-network pods are never selected as peers
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

    def holds_family(self, family: int) -> bool:
        """A `block` peer that holds every address of one family (`0.0.0.0/0`, `::/0`, no except)."""
        network = ipaddress.ip_network(self.cidr)
        return network.version == family and network.prefixlen == 0 and not self.excepts

    def covers(self, ip: str) -> bool:
        """A `block` peer: the address is in the CIDR and in none of its excepts."""
        address = ipaddress.ip_address(ip)
        network = ipaddress.ip_network(self.cidr)
        if address.version != network.version or address not in network:
            return False
        return not any(address in ipaddress.ip_network(e) for e in self.excepts if ipaddress.ip_network(e).version == address.version)

    def describe(self) -> str:
        if self.kind == "all":
            return "everything"
        if self.kind == "block":
            return self.cidr + (f" except {', '.join(self.excepts)}" if self.excepts else "")
        if self.kind == "name":
            return f"the DNS name {self.dns_name}" if "*" not in self.dns_name else f"the DNS names {self.dns_name}"
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
            if destination is None or not destination.is_pod:
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


class ClusterRule(NamedTuple):
    """One rule of a ClusterNetworkPolicy: an action for traffic with one of its peers on one of its ports."""

    action: str  # Accept, Deny or Pass
    peers: tuple[PeerRule, ...]  # at least one
    ports: tuple[PortRule, ...]  # empty: every port of every protocol
    number: int = 0  # position in the policy's list of rules (first match wins)
    name: str = ""


class ClusterPolicy(NamedTuple):
    """A ClusterNetworkPolicy (or a v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy), or intents in that shape.

    `subject` is a `pods` peer (namespace selector, optional pod selector) naming the pods
    whose ingress and egress the rules decide; rules are tried in order, the first match decides.
    """

    name: str
    tier: str  # Admin or Baseline
    priority: int
    subject: PeerRule
    ingress: tuple[ClusterRule, ...] = ()
    egress: tuple[ClusterRule, ...] = ()
    source: str = ""
    intent: str = ""
    kind: str = "ClusterNetworkPolicy"

    namespace = ""  # cluster-scoped

    def rules(self, direction: str) -> tuple[ClusterRule, ...]:
        return self.ingress if direction == INGRESS else self.egress

    def describe(self) -> str:
        where = f" ({self.source}: {self.intent})" if self.source else ""
        return f"{self.kind} {self.name}{where}"


def tier_order(policy: ClusterPolicy) -> tuple:
    """Evaluation order: Admin before Baseline, lower priority first; equal priorities by name (the API leaves them undefined)."""
    return (TIER_ORDER[policy.tier], policy.priority, policy.name)


class PolicySet:
    """Policies indexed by namespace, and cluster policies in evaluation order."""

    def __init__(self, policies: Iterable[Policy | ClusterPolicy]):
        self.items = tuple(policies)
        self.policies = tuple(p for p in self.items if isinstance(p, Policy))
        self.cluster = tuple(sorted((p for p in self.items if isinstance(p, ClusterPolicy)), key=tier_order))
        self.by_namespace: dict[str, list[Policy]] = {}
        for policy in self.policies:
            self.by_namespace.setdefault(policy.namespace, []).append(policy)

    def __len__(self) -> int:
        return len(self.items)

    def selecting(self, pod: Pod) -> list[Policy]:
        """The NetworkPolicies that select the pod (none for a host-network pod: policies do not apply to it)."""
        if pod.host_network:
            return []
        return [p for p in self.by_namespace.get(pod.namespace, ()) if p.pod_selector.matches(pod.labels)]

    def selecting_cluster(self, pod: Pod, universe: Universe) -> list[ClusterPolicy]:
        """The cluster policies whose subject holds the pod, in evaluation order."""
        if pod.host_network:
            return []
        return [p for p in self.cluster if p.subject.matches(pod, "", universe)]


class PolicyError(ValueError):
    """A manifest that is not a valid NetworkPolicy; `where` names the field."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message
