"""Backend for CiliumNetworkPolicy (cilium.io/v2): the intents to DNS names, as egress toFQDNs plus the DNS rule Cilium needs.

Cilium learns which addresses a name has from the DNS answers its proxy sees, so every policy
with toFQDNs carries an L7 DNS rule to kube-dns on port 53 that lets the selected pods look up
any name (`matchPattern: "*"`: musl resolvers query search-list names first). A CiliumNetworkPolicy
with egress rules isolates its pods' egress, as a NetworkPolicy with policyTypes Egress does, so
an `allow` goes only on the pods something already isolates (`egress_subjects`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from .networkpolicy import Emitted, base_name, egress_subjects, metadata, port_k8s

KIND = "CiliumNetworkPolicy"
API_VERSION = "cilium.io/v2"
# CoreDNS as the stdlib's `use dns` names it; Cilium's own label for a pod's namespace.
DNS_NAMESPACE, DNS_LABELS = "kube-system", (("k8s-app", "kube-dns"),)
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
DNS_PORTS = (ir.PortRange("UDP", 53), ir.PortRange("TCP", 53))


@dataclass
class CiliumEmitted(Emitted):
    """One CiliumNetworkPolicy; `spec` holds the NetworkPolicy-shaped fields it was made from (podSelector, ports, peer)."""

    kind = KIND

    @property
    def path(self) -> str:
        return f"{self.namespace}/{self.name}.cilium.yaml"

    def manifest(self) -> dict:
        origin = self.intent.origin
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": metadata(self.name, origin, self.namespace),
            "spec": cilium_spec(self.spec),
        }


def cilium_spec(shape: dict) -> dict:
    """The CiliumNetworkPolicy spec: the name rule, then the DNS rule."""
    name = shape["name"]
    # As written: Cilium reads `api.stripe.com` and `api.stripe.com.` alike (it adds the trailing dot).
    selector = {"matchPattern": name} if "*" in name else {"matchName": name}
    rule: dict = {"toFQDNs": [selector]}
    if shape["ports"]:
        rule["toPorts"] = [{"ports": [_port(p) for p in shape["ports"]]}]
    dns_selector = {"matchLabels": {f"k8s:{NAMESPACE_LABEL}": DNS_NAMESPACE, **{f"k8s:{k}": v for k, v in DNS_LABELS}}}
    dns_rule = {
        "toEndpoints": [dns_selector],
        "toPorts": [{"ports": [_port(p) for p in DNS_PORTS], "rules": {"dns": [{"matchPattern": "*"}]}}],
    }
    return {"endpointSelector": shape["podSelector"], "egress": [rule, dns_rule]}


def _port(port: ir.PortRange) -> dict:
    # Cilium writes ports as strings; every port of a protocol is port "0".
    out = port_k8s(port)
    return {"port": str(out.get("port", 0)), **({"endPort": out["endPort"]} if "endPort" in out else {}), "protocol": out["protocol"]}


def dns_subjects(program: ir.Program, isolations) -> list[tuple[str, ir.LabelSelector]]:
    """(namespace, pods) that get a CiliumNetworkPolicy, hence Cilium's DNS rule: the proof adds it to the intents' meaning."""
    out = []
    for intent, namespace, subject in _subjects(program, isolations):
        if (namespace, subject) not in out:
            out.append((namespace, subject))
    return out


def _subjects(program: ir.Program, isolations):
    from ..fqdn import name_intents

    for intent in name_intents(program):
        if isinstance(intent, ir.Only):
            yield intent, intent.namespace, intent.subject
        elif isinstance(intent.source, ir.Pods) and intent.source.namespace.kind == "named":
            for subject in egress_subjects(intent.source, isolations):
                yield intent, intent.source.namespace.name, subject


def emit(program: ir.Program, isolations, expand_ranges: int = 0) -> list[CiliumEmitted]:
    """One CiliumNetworkPolicy per intent to a name and subject, named like the NetworkPolicy it stands for."""
    from .networkpolicy import _name, expand_ports

    out = []
    for intent, namespace, subject in _subjects(program, isolations):
        name = ir.Name(intent.peer.name if isinstance(intent, ir.Only) else intent.destination.name)
        shape = {"podSelector": subject.to_k8s(), "name": name.name, "ports": list(expand_ports(intent.ports, expand_ranges))}
        out.append(CiliumEmitted(namespace, "", shape, intent, "egress"))
    return _name(out)


__all__ = ["CiliumEmitted", "base_name", "cilium_spec", "dns_subjects", "emit"]
