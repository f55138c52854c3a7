"""One flow: is it allowed, and by which policies and rules (the chain that `explain` and `test` show)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import ACCEPT, ADMIN, EGRESS, INGRESS, PASS, ClusterPolicy, ClusterRule, Policy, PolicySet, Rule
from .universe import Endpoint, Universe


@dataclass
class SideVerdict:
    """One direction of a flow: egress at the source pod or ingress at the destination pod.

    `admin` and `baseline` hold the first cluster rule of that tier that matched the flow
    (None when none did); `isolated_by` / `allowed_by` are the NetworkPolicy tier.
    """

    direction: str
    applies: bool  # False when that end is not a pod (an address has no policies), or a host-network pod
    isolated_by: list[Policy] = field(default_factory=list)
    allowed_by: list[tuple[Policy, Rule]] = field(default_factory=list)
    admin: tuple[ClusterPolicy, ClusterRule] | None = None
    baseline: tuple[ClusterPolicy, ClusterRule] | None = None
    host_network: bool = False

    @property
    def isolated(self) -> bool:
        return bool(self.isolated_by)

    @property
    def decided_by(self) -> str:
        """Which tier decided: `admin`, `networkpolicy`, `baseline`, or `default` (nothing did: allowed)."""
        if not self.applies:
            return "default"
        if self.admin is not None and self.admin[1].action != PASS:
            return "admin"
        if self.isolated:
            return "networkpolicy"
        if self.baseline is not None and self.baseline[1].action != PASS:
            return "baseline"
        return "default"

    @property
    def allowed(self) -> bool:
        tier = self.decided_by
        if tier == "admin":
            return self.admin[1].action == ACCEPT
        if tier == "networkpolicy":
            return bool(self.allowed_by)
        if tier == "baseline":
            return self.baseline[1].action == ACCEPT
        return True


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
        number = destination.resolve_port(port, protocol) if destination.is_pod else None
        if number is None:
            reason = f"the destination has no {protocol} port named {port!r}"
    egress = _side(policies, universe, EGRESS, source, destination, number, protocol)
    ingress = _side(policies, universe, INGRESS, destination, source, number, protocol)
    return Verdict(source, destination, number, protocol, egress, ingress, reason)


def _side(policies, universe, direction, subject, peer, number, protocol) -> SideVerdict:
    if not subject.is_pod:
        return SideVerdict(direction, applies=False)
    if subject.host_network:  # policies never select a host-network pod: its traffic is the node's
        return SideVerdict(direction, applies=False, host_network=True)
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
    if number is not None:
        for policy in policies.selecting_cluster(subject, universe):
            tier = "admin" if policy.tier == ADMIN else "baseline"
            if getattr(verdict, tier) is not None:
                continue  # an earlier policy of this tier matched first
            for rule in policy.rules(direction):
                peer_ok = any(p.matches(peer, "", universe) for p in rule.peers)
                port_ok = not rule.ports or any(p.matches(number, protocol, destination) for p in rule.ports)
                if peer_ok and port_ok:
                    setattr(verdict, tier, (policy, rule))
                    break
    return verdict
