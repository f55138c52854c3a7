"""NetworkPolicy manifests (dicts) -> the engine's model; `PolicyError` names the field that cannot be read."""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from .. import values
from ..ir import LabelSelector
from .model import EGRESS, INGRESS, PeerRule, Policy, PolicyError, PolicySet, PortRule, Rule


def load_policies(manifests: Iterable[Mapping], nodes: bool = False) -> PolicySet:
    """Read NetworkPolicy and cluster policy manifests (dicts) into the engine's model; other kinds are skipped.

    `nodes`: the universe they are judged over holds real Node objects (`nodes` peers are refused otherwise).
    """
    from .read_cluster import is_cluster_policy, read_cluster_policy
    from .read_fqdn import is_fqdn_policy, read_fqdn_policy

    out = []
    for i, manifest in enumerate(manifests):
        if _is_network_policy(manifest):
            out.append(read_policy(manifest, i))
        elif is_fqdn_policy(manifest):  # what netpolc writes for DNS names (CiliumNetworkPolicy, Antrea ClusterNetworkPolicy)
            out.append(read_fqdn_policy(manifest, i))
        elif is_cluster_policy(manifest):
            out.append(read_cluster_policy(manifest, i, nodes))
    return PolicySet(out)


def _is_network_policy(manifest) -> bool:
    return isinstance(manifest, Mapping) and manifest.get("kind") == "NetworkPolicy"


def read_policy(manifest: Mapping, position: int = 0, namespace: str | None = None) -> Policy:
    """One NetworkPolicy; `namespace` is where it goes when it names none (as `kubectl apply -n`).

    Callers validate first (compiler/manifests.py checks the input schema); this is the second
    line of defence: whatever the manifest holds, the only exception is PolicyError.
    """
    try:
        return _read_policy(manifest, position, namespace)
    except PolicyError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as err:
        raise PolicyError(f"NetworkPolicy #{position + 1}", f"cannot be read ({type(err).__name__}: {err})") from None


def _read_policy(manifest: Mapping, position: int, namespace: str | None) -> Policy:
    metadata = manifest.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise PolicyError(f"NetworkPolicy #{position + 1} metadata", "must be a mapping")
    name = str(metadata.get("name") or f"#{position + 1}")
    where = f"NetworkPolicy {name}"
    namespace = metadata.get("namespace") or namespace
    if not namespace:
        # Without a namespace kubectl would apply it to the current context's namespace,
        # which netpolc cannot know: refusing is safer than guessing.
        raise PolicyError(f"{where} metadata.namespace", "is missing and no default namespace was given (-n)")
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
        if not isinstance(types, list) or not all(t in ("Ingress", "Egress") for t in types):
            raise PolicyError(f"{where} spec.policyTypes", "must be a list of Ingress and/or Egress")
        isolates = {t.lower() for t in types}
    # Rules of a direction policyTypes does not list are ignored, as the API defines it (not allowed on top of another policy's isolation).
    ingress = ingress if INGRESS in isolates else ()
    egress = egress if EGRESS in isolates else ()
    annotations = metadata.get("annotations") or {}
    if not isinstance(annotations, Mapping):
        raise PolicyError(f"{where} metadata.annotations", "must be a mapping")
    return Policy(
        name,
        str(namespace),
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
        peers = tuple(_read_peer(p, f"{where}[{index}].{peer_key}[{n}]") for n, p in enumerate(entry.get(peer_key) or ()))
        ports = merge_ports(tuple(_read_port(p, f"{where}[{index}].ports[{n}]") for n, p in enumerate(entry.get("ports") or ())))
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
            cidr = _read_cidr(block.get("cidr"), f"{where}.ipBlock.cidr")
            excepts = tuple(_read_cidr(e, f"{where}.ipBlock.except[{n}]") for n, e in enumerate(block.get("except") or ()))
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


def _read_cidr(raw, where: str) -> str:
    """An ipBlock CIDR in the form every implementation reads alike (see `values.network`)."""
    try:
        return str(values.network(str(raw), strict=False, needs_prefix=True))
    except values.AddressProblem as problem:
        raise PolicyError(where, f"{problem.message}; {problem.hint}") from None


def _read_port(raw, where: str) -> PortRule:
    """One entry of `ports`. Numbers are bounded before they are converted and checked as the API server does."""
    if not isinstance(raw, Mapping):
        raise PolicyError(where, "must be a mapping")
    protocol = str(raw.get("protocol") or "TCP")
    if protocol not in ("TCP", "UDP", "SCTP"):
        raise PolicyError(where, f"unknown protocol {values.quoted(protocol)}")
    port = raw.get("port")
    end_port = raw.get("endPort")
    if isinstance(port, str) and values.decimal(port) is not None:
        port = values.decimal(port)  # "80" read as 80, as netpolc always has (the API server would refuse it)
    if isinstance(port, bool) or (port is not None and not isinstance(port, (int, str))):
        raise PolicyError(where, "port must be a number or a name")
    if isinstance(port, int) and not 1 <= port <= 65535:
        raise PolicyError(where, f"port {_number(raw.get('port'))} is out of range 1-65535")
    if isinstance(port, str) and not _PORT_NAME.fullmatch(port):
        raise PolicyError(where, f"port {values.quoted(port)} is not a valid port name (at most 15 of a-z, 0-9 and '-', with a letter)")
    if end_port is not None:
        if not isinstance(port, int):
            raise PolicyError(where, "endPort needs a numeric port")
        if isinstance(end_port, bool) or not isinstance(end_port, int):
            raise PolicyError(where, "endPort must be a number")
        if not port <= end_port <= 65535:
            raise PolicyError(where, f"endPort {_number(end_port)} must be from port ({port}) to 65535")
    return PortRule(protocol, port, end_port)


def _number(value) -> str:
    """A number as a message echoes it (Python cannot even print an int of 4,301+ digits)."""
    if isinstance(value, int) and abs(value) >= values.TOO_LARGE:
        return "of more than 18 digits"
    return values.shown(str(value))


# An IANA service name, as Kubernetes checks a named port: a letter, no "--", at most 15 characters.
_PORT_NAME = re.compile(r"(?=.{1,15}\Z)(?=[^a-z]*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def merge_ports(ports: tuple[PortRule, ...]) -> tuple[PortRule, ...]:
    """The same ports, with the numbers of each protocol as few ranges as they make.

    Exact: overlapping and adjacent numbers and ranges become one range (80, 81-90 ->
    80-90), numbers of a protocol whose every port is allowed are dropped, named ports
    stay as written. Without it, 10,000 ports on one line would be 10,000 engine atoms.
    """
    if len(ports) < 2:
        return ports
    everything = {p.protocol for p in ports if p.port is None}
    numbers: dict[str, list[tuple[int, int]]] = {}
    for p in ports:
        if isinstance(p.port, int) and p.protocol not in everything:
            numbers.setdefault(p.protocol, []).append((p.port, p.end_port or p.port))
    merged: dict[str, list[PortRule]] = {}
    for protocol, spans in numbers.items():
        spans.sort()
        runs = [list(spans[0])]
        for low, high in spans[1:]:
            if low <= runs[-1][1] + 1:
                runs[-1][1] = max(runs[-1][1], high)
            else:
                runs.append([low, high])
        merged[protocol] = [PortRule(protocol, low, high if high > low else None) for low, high in runs]
    out: dict[PortRule, None] = {}  # ordered, and a repeat costs nothing (10,000 names on a line)
    for p in ports:  # in the order written: each protocol's ranges where its first number was
        if isinstance(p.port, int):
            out.update(dict.fromkeys(merged.pop(p.protocol, ())))
        else:
            out[p] = None
    return tuple(out)
