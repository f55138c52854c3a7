"""The CNIs' own DNS-name objects (CiliumNetworkPolicy, Antrea ClusterNetworkPolicy) -> the engine's model, for the proof.

Only the shapes netpolc writes are read (the fields its backends emit); anything else is a
PolicyError naming the field, never a guess.

- CiliumNetworkPolicy: a NetworkPolicy-tier policy of its namespace; egress rules isolate the
  selected pods' egress; `toFQDNs` is a `name` peer (Cilium's `*`, `**.` and `sub*` mean what
  the language's do, see `dnsnames`), `toEndpoints` pods (`k8s:io.kubernetes.pod.namespace`
  names the namespace).
- Antrea ClusterNetworkPolicy: its `Allow` rules are decided before NetworkPolicy (Antrea's
  tiers come first), like an admin-tier Accept; `fqdn` uses Antrea's wildcard (`*` across dots).
"""

from __future__ import annotations

from typing import Mapping

from ..ir import LabelSelector
from .model import ACCEPT, ADMIN, EGRESS, ClusterPolicy, ClusterRule, PeerRule, Policy, PolicyError, PortRule, Rule

CILIUM_NAMESPACE = "io.kubernetes.pod.namespace"
ANTREA_PRIORITY_BASE = -1_000_000  # before every cluster section: Antrea's own tiers are evaluated first


def is_fqdn_policy(manifest) -> bool:
    return isinstance(manifest, Mapping) and (manifest.get("apiVersion"), manifest.get("kind")) in (
        ("cilium.io/v2", "CiliumNetworkPolicy"),
        ("crd.antrea.io/v1beta1", "ClusterNetworkPolicy"),
    )


def read_fqdn_policy(manifest: Mapping, position: int = 0):
    try:
        if manifest["kind"] == "CiliumNetworkPolicy":
            return _cilium(manifest, position)
        return _antrea(manifest, position)
    except PolicyError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as err:
        raise PolicyError(f"{manifest.get('kind')} #{position + 1}", f"cannot be read ({type(err).__name__}: {err})") from None


def _annotations(metadata: Mapping) -> dict:
    found = metadata.get("annotations") or {}
    return {"source": str(found.get("netpolc.io/source", "")), "intent": str(found.get("netpolc.io/intent", ""))}


def _cilium(manifest: Mapping, position: int) -> Policy:
    metadata = manifest["metadata"]
    where = f"CiliumNetworkPolicy {metadata['name']}"
    spec = manifest["spec"]
    unknown = set(spec) - {"endpointSelector", "egress"}
    if unknown:
        raise PolicyError(f"{where} spec", f"field {sorted(unknown)[0]} is not read by netpolc")
    subject = _strip(LabelSelector.from_k8s(spec["endpointSelector"]))
    rules = []
    for index, raw in enumerate(spec.get("egress") or ()):
        at = f"{where} spec.egress[{index}]"
        peers: list[PeerRule] = []
        for entry in raw.get("toFQDNs") or ():
            if "matchName" in entry:
                peers.append(PeerRule("name", dns_name=entry["matchName"]))
            elif "matchPattern" in entry:
                peers.append(PeerRule("name", dns_name=entry["matchPattern"]))
            else:
                raise PolicyError(f"{at}.toFQDNs", "needs matchName or matchPattern")
        for entry in raw.get("toEndpoints") or ():
            peers.append(_cilium_endpoints(entry, at))
        if set(raw) - {"toFQDNs", "toEndpoints", "toPorts"} or not peers:
            raise PolicyError(at, "netpolc reads toFQDNs and toEndpoints rules only")
        ports = tuple(_port(port, at) for entry in raw.get("toPorts") or () for port in entry.get("ports") or ())
        rules.append(Rule(tuple(peers), ports, index))
    return Policy(str(metadata["name"]), str(metadata["namespace"]), subject, frozenset([EGRESS]) if rules else frozenset(), egress=tuple(rules), **_annotations(metadata))


def _strip(selector: LabelSelector) -> LabelSelector:
    """Cilium's `k8s:` source prefix is the Kubernetes label of that key."""
    return LabelSelector.of({k.removeprefix("k8s:"): v for k, v in selector.match_labels}, selector.match_expressions)


def _cilium_endpoints(entry: Mapping, where: str) -> PeerRule:
    selector = _strip(LabelSelector.from_k8s(entry))
    labels = dict(selector.match_labels)
    namespace = labels.pop(CILIUM_NAMESPACE, None)
    pods = LabelSelector.of(labels, selector.match_expressions)
    if namespace is None:
        return PeerRule("pods", "policy", pod_selector=pods)
    return PeerRule("pods", "named", namespace_name=namespace, pod_selector=pods)


def _port(raw: Mapping, where: str) -> PortRule:
    protocol = raw.get("protocol", "ANY")
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise PolicyError(where, f"protocol {protocol} is not read by netpolc")
    number = int(raw["port"])
    if number == 0:
        return PortRule(protocol, None)
    return PortRule(protocol, number, raw.get("endPort"))


def antrea_pattern(fqdn: str) -> str:
    """Antrea's `fqdn` in the language's words: its `*.x` (any depth) is our `**.x`; names as they are."""
    if fqdn.startswith("*."):
        return "**." + fqdn[2:]
    if "*" in fqdn:
        raise PolicyError("fqdn", f"{fqdn} is not a pattern netpolc writes")
    return fqdn


def _antrea(manifest: Mapping, position: int) -> ClusterPolicy:
    metadata = manifest["metadata"]
    where = f"Antrea ClusterNetworkPolicy {metadata['name']}"
    spec = manifest["spec"]
    (applied,) = spec["appliedTo"]
    namespaces = LabelSelector.from_k8s(applied["namespaceSelector"])
    subject = PeerRule("pods", "labelled", namespace_selector=namespaces, pod_selector=LabelSelector.from_k8s(applied.get("podSelector") or {}))
    rules = []
    for index, raw in enumerate(spec.get("egress") or ()):
        if raw.get("action") != "Allow":
            raise PolicyError(f"{where} spec.egress[{index}]", "netpolc writes Allow rules only")
        peers = tuple(PeerRule("name", dns_name=antrea_pattern(entry["fqdn"])) for entry in raw["to"])
        ports = tuple(_port(port, where) for port in raw.get("ports") or ())
        rules.append(ClusterRule(ACCEPT, peers, ports, index, str(raw.get("name", ""))))
    priority = ANTREA_PRIORITY_BASE + int(float(spec["priority"]) * 1000)
    return ClusterPolicy(str(metadata["name"]), ADMIN, priority, subject, egress=tuple(rules), kind="Antrea ClusterNetworkPolicy", **_annotations(metadata))
