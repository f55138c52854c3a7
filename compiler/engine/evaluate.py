"""One flow: is it allowed, and by which policies and rules (the chain that `explain` and `test` show)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import EGRESS, INGRESS, Policy, PolicySet, Rule
from .universe import Endpoint, Pod, Universe


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
