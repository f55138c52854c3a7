"""Backend for ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2): one object per placed block, Admin or Baseline tier."""

from __future__ import annotations

from .. import ir, tiers
from .cluster_common import ClusterEmitted, object_name, peers_k8s, pods_k8s, rule_name, unique_names

API_VERSION = "policy.networking.k8s.io/v1alpha2"
KIND = "ClusterNetworkPolicy"
MAX_RULES = 25  # per direction (clusternetworkpolicy_types.go: MaxItems=25)
MAX_PORTS = 25  # protocols per rule
ACTIONS = {ir.ACCEPT: "Accept", ir.DENY: "Deny", ir.PASS: "Pass"}
TIERS = {ir.ADMIN: "Admin", ir.BASELINE: "Baseline"}


def emit(blocks: list[tiers.Block]):
    """The objects of the placed blocks (`tiers.place` with this module's limits), and what cannot be written."""
    diagnostics: list = []
    items = [_object(block) for block in blocks]
    return unique_names(items), diagnostics


def _object(block: tiers.Block) -> ClusterEmitted:
    spec: dict = {"tier": TIERS[block.section.tier], "priority": block.priority, "subject": pods_k8s(block.subject)}
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = block.rules(direction)
        if rules:
            spec[direction] = [_rule(rule, key) for rule in rules]
    return ClusterEmitted(API_VERSION, KIND, object_name(block), spec, block, block.section, block.origins())


def _rule(rule: tiers.SideRule, peer_key: str) -> dict:
    named_only = bool(rule.ports) and all(isinstance(p.port, str) for p in rule.ports)
    out = {"name": rule_name(rule), "action": ACTIONS[rule.intent.action], peer_key: peers_k8s(rule.peer, named_only)}
    if rule.ports:
        out["protocols"] = protocols_k8s(rule.ports)
    return out


def protocols_k8s(ports: tuple[ir.PortRange, ...]) -> list[dict]:
    out: list[dict] = []
    for port in ports:
        if isinstance(port.port, str):
            entry = {"destinationNamedPort": port.port}
        else:
            low, high = (1, 65535) if port.port is None else (port.port, port.end_port or port.port)
            number = {"number": low} if low == high else {"range": {"start": low, "end": high}}
            entry = {port.protocol.lower(): {"destinationPort": number}}
        if entry not in out:
            out.append(entry)
    return out
