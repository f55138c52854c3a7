"""ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy / BaselineAdminNetworkPolicy (v1alpha1) manifests -> the engine's model.

Read as the upstream types define them (kubernetes-sigs/network-policy-api): a subject,
ordered rules with an action, peers and ports. Anything the engine cannot judge exactly
(an unknown peer type, `nodes` without node objects, `domainNames`) is a `PolicyError`:
the API asks implementations to fail closed on what they do not understand, and netpolc
refuses rather than guess.
"""

from __future__ import annotations

from typing import Mapping

from ..ir import LabelSelector
from .model import ACCEPT, ACTIONS, ADMIN, BASELINE, DENY, PASS, PROTOCOLS, ClusterPolicy, ClusterRule, PeerRule, PolicyError, PortRule

GROUP = "policy.networking.k8s.io"
V1ALPHA2 = f"{GROUP}/v1alpha2"
V1ALPHA1 = f"{GROUP}/v1alpha1"
# kind -> the apiVersion that defines it
KINDS = {
    "ClusterNetworkPolicy": V1ALPHA2,
    "AdminNetworkPolicy": V1ALPHA1,
    "BaselineAdminNetworkPolicy": V1ALPHA1,
}
MAX_PRIORITY = 1000
V1ALPHA1_ACTIONS = {"Allow": ACCEPT, "Deny": DENY, "Pass": PASS}


def is_cluster_policy(manifest) -> bool:
    return isinstance(manifest, Mapping) and manifest.get("kind") in KINDS


def read_cluster_policy(manifest: Mapping, position: int = 0, nodes: bool = False) -> ClusterPolicy:
    """One cluster policy; `nodes`: the universe holds real Node objects, so `nodes` peers can be judged."""
    kind = manifest["kind"]
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise PolicyError(f"{kind} #{position + 1}", "metadata must be a mapping")
    name = metadata.get("name")
    where = f"{kind} {name or '#' + str(position + 1)}"
    if not isinstance(name, str) or not name:
        raise PolicyError(where, "metadata.name is missing")
    # metadata.namespace means nothing on a cluster-scoped object (kustomize adds one to kinds it does not know): ignored.
    if manifest.get("apiVersion") != KINDS[kind]:
        raise PolicyError(where, f"apiVersion {manifest.get('apiVersion')!r}: {kind} is {KINDS[kind]}")
    spec = manifest.get("spec")
    if not isinstance(spec, Mapping):
        raise PolicyError(where, "spec is missing")
    if kind == "ClusterNetworkPolicy":
        tier = spec.get("tier")
        if tier not in (ADMIN, BASELINE):
            raise PolicyError(f"{where} spec.tier", "must be Admin or Baseline")
        priority = _priority(spec.get("priority"), f"{where} spec.priority")
        read_ports, actions = _protocols_v1alpha2, {a: a for a in ACTIONS}
    elif kind == "AdminNetworkPolicy":
        tier, priority = ADMIN, _priority(spec.get("priority"), f"{where} spec.priority")
        read_ports, actions = _ports_v1alpha1, V1ALPHA1_ACTIONS
    else:
        if name != "default":
            raise PolicyError(where, "a BaselineAdminNetworkPolicy must be named `default` (it is a singleton)")
        tier, priority = BASELINE, 0
        read_ports, actions = _ports_v1alpha1, {"Allow": ACCEPT, "Deny": DENY}
    subject = _subject(spec.get("subject"), f"{where} spec.subject")
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        raise PolicyError(f"{where} metadata.annotations", "must be a mapping")
    return ClusterPolicy(
        name,
        tier,
        priority,
        subject,
        _rules(spec.get("ingress"), "from", f"{where} spec.ingress", actions, read_ports, egress=False, nodes=nodes),
        _rules(spec.get("egress"), "to", f"{where} spec.egress", actions, read_ports, egress=True, nodes=nodes),
        source=str(annotations.get("netpolc.io/source", "")),
        intent=str(annotations.get("netpolc.io/intent", "")),
        kind=kind,
    )


def _priority(raw, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_PRIORITY:
        raise PolicyError(where, f"must be a whole number from 0 to {MAX_PRIORITY}")
    return raw


def _selector(raw, where: str) -> LabelSelector:
    try:
        return LabelSelector.from_k8s(raw if raw is not None else {})
    except ValueError as err:
        raise PolicyError(where, str(err)) from None


def _namespaced_pods(raw, where: str) -> PeerRule:
    if not isinstance(raw, Mapping) or "podSelector" not in raw:
        raise PolicyError(where, "needs podSelector (and optionally namespaceSelector)")
    unknown = set(raw) - {"namespaceSelector", "podSelector"}
    if unknown:
        raise PolicyError(where, f"unknown field {sorted(unknown)[0]!r}")
    namespaces = _selector(raw.get("namespaceSelector"), f"{where}.namespaceSelector")
    pods = _selector(raw["podSelector"], f"{where}.podSelector")
    return PeerRule("pods", "labelled", namespace_selector=namespaces, pod_selector=pods)


def _subject(raw, where: str) -> PeerRule:
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise PolicyError(where, "set exactly one of namespaces and pods")
    if "namespaces" in raw:
        return PeerRule("pods", "labelled", namespace_selector=_selector(raw["namespaces"], f"{where}.namespaces"))
    if "pods" in raw:
        return _namespaced_pods(raw["pods"], f"{where}.pods")
    raise PolicyError(where, f"unknown subject {next(iter(raw))!r}: set namespaces or pods")


def _peers(raw, where: str, egress: bool, nodes: bool = False) -> tuple[PeerRule, ...]:
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a list of at least one peer")
    out: list[PeerRule] = []
    for index, peer in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(peer, Mapping) or len(peer) != 1:
            # The API: a peer with no field (or one this reader does not know) must fail closed.
            raise PolicyError(here, "a peer sets exactly one field: namespaces or pods" + (", networks, nodes or domainNames" if egress else ""))
        (field, value), = peer.items()
        if field == "namespaces":
            out.append(PeerRule("pods", "labelled", namespace_selector=_selector(value, f"{here}.namespaces")))
        elif field == "pods":
            out.append(_namespaced_pods(value, f"{here}.pods"))
        elif field == "networks" and egress:
            if not isinstance(value, list) or not value:
                raise PolicyError(f"{here}.networks", "must be a list of CIDRs")
            for cidr in value:
                out.append(PeerRule("block", cidr=_cidr(cidr, f"{here}.networks")))
        elif field == "nodes" and egress and nodes:
            out.append(PeerRule("nodes", node_selector=_selector(value, f"{here}.nodes")))
        elif field == "domainNames" and egress:
            out.extend(PeerRule("name", dns_name=_domain_name(name, f"{here}.domainNames")) for name in _names(value, f"{here}.domainNames"))
        elif field == "nodes" and egress:
            what = "node objects (give them with --cluster: `kubectl get nodes -o yaml`)"
            raise PolicyError(f"{here}.{field}", f"{field} peers cannot be judged without {what}; netpolc does not guess")
        else:
            allowed = "namespaces, pods, networks, nodes or domainNames" if egress else "namespaces or pods"
            raise PolicyError(here, f"unknown peer {field!r} in {'an egress' if egress else 'an ingress'} rule: use {allowed}")
    return tuple(out)


def _names(raw, where: str) -> list:
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a list of domain names")
    return raw


def _domain_name(raw, where: str) -> str:
    """A `domainNames` entry in the language's words: the API's `*.x.com` (one or more labels) is `**.x.com`.

    Each name is judged as its own endpoint (its addresses are learned at run time), as everywhere.
    """
    from .. import dnsnames

    if not isinstance(raw, str):
        raise PolicyError(where, "a domain name must be a string")
    name = raw.lower()
    language = "**." + name[2:] if name.startswith("*.") else name
    found = dnsnames.problem(language)
    if found is not None or "*" in name[1:]:
        raise PolicyError(where, f"{values_quoted(raw)} is not a domain name the API accepts ({found[0] if found else 'a `*.` prefix only'})")
    return language


def values_quoted(raw: str) -> str:
    from .. import values

    return values.quoted(raw)


def _cidr(raw, where: str) -> str:
    if not isinstance(raw, str):
        raise PolicyError(where, "a CIDR must be a string")
    from .. import values

    try:  # the forms Go and Python read alike only, as ipBlocks (engine/read.py)
        network = values.network(raw, strict=False, needs_prefix=True)
    except values.AddressProblem as problem:
        raise PolicyError(where, f"{problem.message}; {problem.hint}") from None
    return str(network)


def _port_number(raw, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise PolicyError(where, "a port is a whole number from 1 to 65535")
    return raw


def _named(name, where: str) -> tuple[PortRule, ...]:
    """A named port matches the container port of that name, whatever its protocol."""
    if not isinstance(name, str) or not name:
        raise PolicyError(where, "a named port must be a non-empty string")
    return tuple(PortRule(protocol, name) for protocol in PROTOCOLS)


def _protocols_v1alpha2(raw, where: str) -> tuple[PortRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a list of at least one protocol")
    out: list[PortRule] = []
    for index, entry in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise PolicyError(here, "set exactly one of tcp, udp, sctp and destinationNamedPort")
        (field, value), = entry.items()
        if field == "destinationNamedPort":
            out.extend(_named(value, f"{here}.destinationNamedPort"))
            continue
        if field not in ("tcp", "udp", "sctp"):
            raise PolicyError(here, f"unknown protocol field {field!r}: use tcp, udp, sctp or destinationNamedPort")
        protocol = field.upper()
        if not isinstance(value, Mapping) or set(value) != {"destinationPort"}:
            raise PolicyError(f"{here}.{field}", "needs destinationPort")
        port = value["destinationPort"]
        if not isinstance(port, Mapping) or len(port) != 1:
            raise PolicyError(f"{here}.{field}.destinationPort", "set exactly one of number and range")
        if "number" in port:
            out.append(PortRule(protocol, _port_number(port["number"], f"{here}.{field}.destinationPort.number")))
        elif "range" in port:
            out.append(_range(protocol, port["range"], f"{here}.{field}.destinationPort.range", strict=True))
        else:
            raise PolicyError(f"{here}.{field}.destinationPort", "set number or range")
    return tuple(out)


def _range(protocol: str, raw, where: str, strict: bool) -> PortRule:
    if not isinstance(raw, Mapping) or "start" not in raw or "end" not in raw:
        raise PolicyError(where, "needs start and end")
    start, end = _port_number(raw["start"], f"{where}.start"), _port_number(raw["end"], f"{where}.end")
    if start > end or (strict and start == end):
        raise PolicyError(where, "start must be less than end")
    return PortRule(protocol, start, end) if start != end else PortRule(protocol, start)


def _ports_v1alpha1(raw, where: str) -> tuple[PortRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise PolicyError(where, "must be a list of at least one port")
    out: list[PortRule] = []
    for index, entry in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise PolicyError(here, "set exactly one of portNumber, portRange and namedPort")
        (field, value), = entry.items()
        if field == "namedPort":
            out.extend(_named(value, f"{here}.namedPort"))
        elif field in ("portNumber", "portRange"):
            if not isinstance(value, Mapping):
                raise PolicyError(f"{here}.{field}", "must be a mapping")
            protocol = value.get("protocol", "TCP")
            if protocol not in PROTOCOLS:
                raise PolicyError(f"{here}.{field}.protocol", "must be TCP, UDP or SCTP")
            if field == "portNumber":
                out.append(PortRule(protocol, _port_number(value.get("port"), f"{here}.portNumber.port")))
            else:
                out.append(_range(protocol, value, f"{here}.portRange", strict=False))
        else:
            raise PolicyError(here, f"unknown port field {field!r}")
    return tuple(out)


def _rules(raw, peer_key: str, where: str, actions: dict, read_ports, egress: bool, nodes: bool = False) -> tuple[ClusterRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise PolicyError(where, "must be a list")
    rules = []
    for index, entry in enumerate(raw):
        here = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise PolicyError(here, "must be a mapping")
        action = entry.get("action")
        if action not in actions:
            raise PolicyError(f"{here}.action", f"must be one of {', '.join(actions)}")
        ports_key = "protocols" if read_ports is _protocols_v1alpha2 else "ports"
        unknown = set(entry) - {"name", "action", peer_key, ports_key}
        if unknown:
            raise PolicyError(here, f"unknown field {sorted(unknown)[0]!r}")
        peers = _peers(entry.get(peer_key), f"{here}.{peer_key}", egress, nodes)
        ports = read_ports(entry.get(ports_key), f"{here}.{ports_key}")
        rules.append(ClusterRule(actions[action], peers, ports, index, str(entry.get("name") or "")))
    return tuple(rules)
