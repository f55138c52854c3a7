"""Backend for AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1), for clusters without v1alpha2."""

from __future__ import annotations

from .. import ir, tiers
from ..diagnostics import Diagnostic
from .cluster_common import ClusterEmitted, object_name, peers_k8s, pods_k8s, rule_name, unique_names

API_VERSION = "policy.networking.k8s.io/v1alpha1"
MAX_RULES = 100  # per direction (adminnetworkpolicy_types.go: MaxItems=100)
MAX_PORTS = 100
ACTIONS = {ir.ACCEPT: "Allow", ir.DENY: "Deny", ir.PASS: "Pass"}


def emit(blocks: list[tiers.Block]):
    """The objects of the placed blocks (`tiers.place` with this module's limits), and what cannot be written."""
    diagnostics: list = []
    items = [_admin(block) for block in blocks if block.section.tier == ir.ADMIN]
    baseline = [block for block in blocks if block.section.tier == ir.BASELINE]
    if baseline:
        single, problems = _baseline(baseline)
        diagnostics += problems
        if single is not None:
            items.append(single)
    return unique_names(items), diagnostics


def _admin(block: tiers.Block) -> ClusterEmitted:
    spec: dict = {"priority": block.priority, "subject": pods_k8s(block.subject)}
    _rules_into(spec, block)
    return ClusterEmitted(API_VERSION, "AdminNetworkPolicy", object_name(block), spec, block, block.section, block.origins())


def _baseline(blocks: list[tiers.Block]) -> tuple[ClusterEmitted | None, list[Diagnostic]]:
    """The one BaselineAdminNetworkPolicy a cluster may have (named `default`): every baseline rule must share one subject."""
    subjects = {block.subject for block in blocks}
    if len(subjects) > 1 or len({b.section for b in blocks}) > 1 or len(blocks) > 1:
        first, other = blocks[0], next((b for b in blocks[1:] if b.subject != blocks[0].subject or b.section != blocks[0].section), blocks[1])
        span = other.rules("egress")[0].intent.origin.user_span if other.egress else other.rules("ingress")[0].intent.origin.user_span
        return None, [
            Diagnostic(
                "NP420",
                span,
                f"v1alpha1 has one BaselineAdminNetworkPolicy with one subject, and the baseline rules need {len(blocks)} objects "
                f"(subjects {', '.join(sorted(str(s) for s in subjects))})",
                "emit ClusterNetworkPolicy v1alpha2 (the default, without --api v1alpha1), or write the baseline rules for one subject "
                "(e.g. every pod: `cluster`) in one section",
                related=((first.section.origin.user_span, "the baseline section"),),
            )
        ]
    block = blocks[0]
    spec: dict = {"subject": pods_k8s(block.subject)}
    _rules_into(spec, block)
    return ClusterEmitted(API_VERSION, "BaselineAdminNetworkPolicy", "default", spec, block, block.section, block.origins()), []


def _rules_into(spec: dict, block: tiers.Block) -> None:
    for direction, key in (("ingress", "from"), ("egress", "to")):
        rules = block.rules(direction)
        if rules:
            spec[direction] = [_rule(rule, key) for rule in rules]


def _rule(rule: tiers.SideRule, peer_key: str) -> dict:
    named_only = bool(rule.ports) and all(isinstance(p.port, str) for p in rule.ports)
    out = {"name": rule_name(rule), "action": ACTIONS[rule.intent.action], peer_key: peers_k8s(rule.peer, named_only)}
    if rule.ports:
        out["ports"] = ports_k8s(rule.ports)
    return out


def ports_k8s(ports: tuple[ir.PortRange, ...]) -> list[dict]:
    out: list[dict] = []
    for port in ports:
        if isinstance(port.port, str):
            entry = {"namedPort": port.port}
        elif port.port is None or port.end_port is not None:
            low, high = (1, 65535) if port.port is None else (port.port, port.end_port)
            entry = {"portRange": {"protocol": port.protocol, "start": low, "end": high}}
        else:
            entry = {"portNumber": {"protocol": port.protocol, "port": port.port}}
        if entry not in out:
            out.append(entry)
    return out
