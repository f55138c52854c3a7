"""Backend for Antrea ClusterNetworkPolicy (crd.antrea.io/v1beta1): the intents to DNS names, as `fqdn` Allow rules.

Antrea evaluates its own tiers before NetworkPolicy, and an Allow there is final, so the name
rule is an Allow in the `application` tier on the pods it is for (applied to them in their
namespace); it isolates nobody. `egress only to NAME` also isolates its pods: that part is a
NetworkPolicy with policyTypes Egress and no rule. Antrea's `*` matches across dots, so the
language's `**.x.com` is written `*.x.com`; `*.x.com` and `api-*` have no Antrea form (NP614).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import dnsnames, ir
from .networkpolicy import Emitted, metadata, port_k8s

KIND = "ClusterNetworkPolicy"
API_VERSION = "crd.antrea.io/v1beta1"
TIER = "application"
PRIORITY = 100  # within the tier; every netpolc rule only allows, so their order does not matter


@dataclass
class AntreaEmitted(Emitted):
    """One Antrea ClusterNetworkPolicy (cluster-scoped: named after its namespace and intent)."""

    kind = "Antrea ClusterNetworkPolicy"

    @property
    def path(self) -> str:
        return f"_cluster/antrea-{self.name}.yaml"

    def manifest(self) -> dict:
        origin = self.intent.origin
        shape = self.spec
        pattern = antrea_fqdn(shape["name"])
        rule: dict = {"action": "Allow", "to": [{"fqdn": pattern}]}
        if shape["ports"]:
            rule["ports"] = [port_k8s(p) for p in shape["ports"]]
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": metadata(self.name, origin),
            "spec": {
                "priority": PRIORITY,
                "tier": TIER,
                "appliedTo": [{"podSelector": shape["podSelector"], "namespaceSelector": {"matchLabels": {ir.NAME_LABEL: self.namespace}}}],
                "egress": [rule],
            },
        }


def antrea_fqdn(name: str) -> str:
    """The language's name in Antrea's words: `**.x.com` -> `*.x.com` (Antrea's `*` spans labels)."""
    name = dnsnames.bare(name)
    if dnsnames.kind(name) == dnsnames.MULTI_LABEL:
        return "*." + name[3:]
    if "*" in name:
        raise ValueError(f"{name} has no Antrea form")  # refused before emit (fqdn.select, NP614)
    return name


def emit(program: ir.Program, isolations, expand_ranges: int = 0) -> list[Emitted]:
    """An Antrea ClusterNetworkPolicy per intent to a name and subject; for `egress only`, its NetworkPolicy isolation too."""
    from .ciliumnetworkpolicy import _subjects
    from .networkpolicy import _name, expand_ports

    isolation: list[Emitted] = []
    allows: list[AntreaEmitted] = []
    for intent, namespace, subject in _subjects(program, isolations):
        name = intent.peer.name if isinstance(intent, ir.Only) else intent.destination.name
        if isinstance(intent, ir.Only):
            isolation.append(Emitted(namespace, "", {"podSelector": subject.to_k8s(), "policyTypes": ["Egress"]}, intent, "egress"))
        shape = {"podSelector": subject.to_k8s(), "name": name, "ports": list(expand_ports(intent.ports, expand_ranges))}
        allows.append(AntreaEmitted(namespace, "", shape, intent, "egress"))
    named = _name(allows)
    for item in named:  # cluster-scoped: the namespace goes into the name
        item.name = f"{item.namespace}-{item.name}"[:253]
    return _name(isolation) + named
