"""Flows for people: one universe over the policies being looked at, readable endpoint names, port sets.

Shared by `test`, `explain`, `diff` and `graph`. The universe is the engine's representative
one: a pod per label set the policies (and queries) mention, "other" pods and namespaces,
and an address per region the CIDRs cut; names here say what each representative stands for.
"""

from __future__ import annotations

from . import engine, ir
from .engine.reach import bits

PROTOCOL_ORDER = {"TCP": 0, "UDP": 1, "SCTP": 2}


class Scene:
    """A universe and port atoms built from every policy set given, and a Reach for each of them."""

    def __init__(
        self,
        policy_sets: list[engine.PolicySet],
        peers: list[tuple[str, ir.Peer]] = (),
        ports: list[ir.PortRange] = (),
        snapshot=None,
        blocks_match_pods: bool = True,
    ):
        """With a `snapshot` (`snapshot.Snapshot`), the universe is its real pods, plus an address per CIDR region.

        `blocks_match_pods`: whether an ipBlock covering a pod's IP matches it (the CNI decides; only real pods have IPs).
        """
        from .verify import peer_rules

        extra_peers = [(namespace, rule) for namespace, peer in peers for rule in peer_rules(peer)]
        extra_ports = [engine.PortRule(p.protocol, p.port, p.end_port) for p in ports]
        self.snapshot = snapshot
        if snapshot is not None:
            self.universe = snapshot.universe(engine.address_regions(policy_sets, extra_peers), blocks_match_pods)
        else:
            self.universe = engine.representative_universe(policy_sets, extra_peers, extra_ports=extra_ports)
        self.atoms = engine.port_atoms(policy_sets, self.universe, [p for p in extra_ports if isinstance(p.port, int)])
        self.index = self.universe.index()
        self._reach: dict[int, engine.Reach] = {}
        # Representative pods all carry the same made-up numbers for named ports: show the name instead.
        first = self.universe.pods[:1] if snapshot is None else ()
        self.named_ports = {(p.protocol, p.number): p.name for pod in first for p in pod.ports}

    def reach(self, policies: engine.PolicySet) -> engine.Reach:
        found = self._reach.get(id(policies))
        if found is None:
            found = self._reach[id(policies)] = engine.Reach(policies, self.universe, self.atoms)
        return found

    def members(self, peer: ir.Peer, namespace: str) -> int:
        """Bitmask of the endpoints a peer (as written in `namespace`) stands for."""
        from .verify import peer_rules

        mask = 0
        for rule in peer_rules(peer):
            mask |= self.index.peer_mask(rule, namespace)
        return mask

    def endpoints(self, mask: int) -> list[engine.Endpoint]:
        """The endpoints of a mask, simplest first."""
        endpoints = self.universe.endpoints
        return sorted((endpoints[i] for i in bits(mask)), key=simplicity)

    def port_number(self, port: ir.PortRange, destination: engine.Endpoint) -> int | None:
        """The number a port means at a destination (a name resolves on the destination pod)."""
        if isinstance(port.port, int):
            return port.port
        if isinstance(destination, engine.Pod):
            return destination.resolve_port(port.port, port.protocol)
        return None

    def describe_atoms(self, reach: engine.Reach, indices) -> str:
        """Atoms -> `80,443,53/udp`, `8000-8080`, `metrics`, `all tcp ports` or `all ports`."""
        indices = sorted(set(indices))
        if not indices:
            return "no port"
        if len(indices) == len(self.atoms):
            return "all ports"
        chosen = set(indices)  # once: a set per atom made this quadratic (20,000 atoms: 69 s)
        rest = [i for i in range(len(self.atoms)) if i not in chosen]
        if len(indices) > len(rest):  # mostly everything: say what is missing
            return "all ports except " + self._ports(reach, rest)
        return self._ports(reach, indices)

    def _ports(self, reach: engine.Reach, indices: list[int]) -> str:
        parts: list[str] = []
        protocols_of: dict[str, list[str]] = {}  # a number or range -> its protocols, in order
        for protocol in PROTOCOL_ORDER:
            own = [i for i in indices if self.atoms[i].protocol == protocol]
            if not own:
                continue
            if len(own) == sum(a.protocol == protocol for a in self.atoms):
                parts.append(f"all {protocol.lower()} ports")
                continue
            for low, high in _merge([reach.atom_interval(i) for i in own]):
                name = self.named_ports.get((protocol, low)) if low == high else None
                text = name or (str(low) if low == high else f"{low}-{high}")
                if text not in protocols_of:
                    parts.append(text)
                protocols_of.setdefault(text, []).append(protocol)
        # The same port over several protocols reads once: DNS is `53/tcp+udp`, not `53,53/udp`.
        out = []
        for part in parts:
            protocols = protocols_of.get(part)
            if protocols is None:
                out.append(part)
            elif len(protocols) > 1:
                out.append(f"{part}/{'+'.join(p.lower() for p in protocols)}")
            else:
                out.append(part if protocols == ["TCP"] else f"{part}/{protocols[0].lower()}")
        return ",".join(out)


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for low, high in sorted(intervals):
        if out and low <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], high)
        else:
            out.append([low, high])
    return [(a, b) for a, b in out]


# ---------------------------------------------------------------- names


def is_synthetic_namespace(name: str) -> bool:
    return name == engine.OTHER_NAMESPACE or name.startswith("netpolc-ns")


def namespace_name(namespace: str, universe: engine.Universe) -> str:
    """`shop`, `(other namespaces)` or `(namespaces team=a)` for a namespace the universe made up."""
    if namespace == engine.OTHER_NAMESPACE:
        return "(other namespaces)"
    if namespace.startswith("netpolc-ns"):
        labels = {k: v for k, v in universe.namespace(namespace).labels.items() if k != ir.NAME_LABEL}
        return f"(namespaces {_labels(labels)})"
    return namespace


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={'(other)' if v == engine.OTHER_VALUE else v}" for k, v in sorted(labels.items()))


def pod_part(pod: engine.Pod) -> str:
    return _labels(pod.labels) if pod.labels else "(other pods)"


def name(endpoint: engine.Endpoint, universe: engine.Universe) -> str:
    """How an endpoint is shown: `shop/app=web` (a representative pod), `shop/deployment/cart` (a real one), `8.8.8.8/32`..."""
    if isinstance(endpoint, engine.Address):
        return str(endpoint)
    if endpoint.workload:
        return f"{endpoint.namespace}/{endpoint.workload}"
    if not endpoint.labels and endpoint.namespace == engine.OTHER_NAMESPACE:
        return "(pods of other namespaces)"
    return f"{namespace_name(endpoint.namespace, universe)}/{pod_part(endpoint)}"


def simplicity(endpoint: engine.Endpoint) -> tuple:
    """Sort key: real namespaces before made-up ones, fewer labels first, `(other)` values last."""
    if isinstance(endpoint, engine.Address):
        return (2, 0, 0, str(endpoint))
    odd = sum(v == engine.OTHER_VALUE for v in endpoint.labels.values())
    return (int(is_synthetic_namespace(endpoint.namespace)), odd, len(endpoint.labels) if endpoint.labels else 99, str(endpoint))


def policy_name(policy, short: bool = False) -> str:
    """`shop/api-allow-from-web-8080 (shop.netpol:4: allow app=web to app=api:8080)`; short: without the intent.

    A cluster policy is `ClusterNetworkPolicy admin-10-ns-dev (...)`.
    """
    where = policy.source
    if policy.intent and not short:
        where = f"{where}: {policy.intent}" if where else policy.intent
    label = f"{policy.namespace}/{policy.name}" if policy.namespace else f"{policy.kind} {policy.name}"
    return label + (f" ({where})" if where else "")


def rule_name(policy, rule) -> str:
    """`rule 2 (L3: deny ...)` of a cluster policy: its position, and its name when it has one."""
    return f"rule {rule.number + 1}" + (f" ({rule.name})" if getattr(rule, "name", "") else "")


def source_span(policy: engine.Policy):
    """The `file:line` a policy came from (its netpolc.io/source annotation, or its YAML document) as a Span."""
    from .source import Span

    from .values import decimal

    file, _, line = policy.source.rpartition(":")
    number = decimal(line)  # an annotation is anyone's text: bounded, ASCII digits only
    if not file or number is None or not 0 < number < 10**9:
        return None
    return Span(file, number, 1, number, 1)
