"""Every flow at once: port atoms, endpoint bitmasks, and the allowed sets of pod classes (`Reach`)."""

from __future__ import annotations

import ipaddress
from typing import Iterable, NamedTuple

from ..ir import NAME_LABEL, LabelSelector
from .model import ACCEPT, ADMIN, EGRESS, INGRESS, PASS, PROTOCOLS, ClusterPolicy, ClusterRule, PeerRule, Policy, PolicySet, PortRule
from .universe import Endpoint, Pod, Universe


class Atom(NamedTuple):
    """A representative (protocol, port number): every port in one elementary interval."""

    protocol: str
    number: int


def port_atoms(policy_sets: Iterable[PolicySet], universe: Universe, extra: Iterable[PortRule] = ()) -> tuple[Atom, ...]:
    """One port per interval that the numeric ports of the rules cut 1..65535 into, per protocol,
    plus the numbers the universe's named container ports resolve to."""
    cuts: dict[str, set[int]] = {p: {1} for p in ("TCP", "UDP", "SCTP")}

    def add(rule: PortRule) -> None:
        if isinstance(rule.port, int):
            cuts[rule.protocol].add(rule.port)
            end = (rule.end_port or rule.port) + 1
            if end <= 65535:
                cuts[rule.protocol].add(end)

    for policy_set in policy_sets:
        for policy in policy_set.items:
            for rule in policy.ingress + policy.egress:
                for port in rule.ports:
                    add(port)
    for port in extra:
        add(port)
    for pod in universe.pods:
        for container_port in pod.ports:
            cuts[container_port.protocol].add(container_port.number)
            if container_port.number < 65535:
                cuts[container_port.protocol].add(container_port.number + 1)
    return tuple(Atom(protocol, n) for protocol in ("TCP", "UDP", "SCTP") for n in sorted(cuts[protocol]))


def _matcher(selector: LabelSelector):
    """A fast `selector.matches`: matchLabels as one C-level subset test, then the expressions."""
    fixed = frozenset(selector.match_labels)
    expressions = selector.match_expressions
    if not expressions:
        return lambda labels: labels.items() >= fixed
    return lambda labels: labels.items() >= fixed and all(e.matches(labels) for e in expressions)


def _mask(indices: Iterable[int], size: int) -> int:
    """An int with the given bits set (built as bytes: one big-int operation, not one per bit)."""
    bits = bytearray((size + 7) // 8)
    for i in indices:
        bits[i >> 3] |= 1 << (i & 7)
    return int.from_bytes(bits, "little")


class Index:
    """What every Reach over one universe shares: endpoint positions and the peer masks.

    A peer's mask (the endpoints it matches) depends on the universe only, so the two
    policy sets a proof compares compute each distinct peer once.
    """

    def __init__(self, universe: "Universe"):
        self.universe = universe
        self.size = len(universe.endpoints)
        self.full = (1 << self.size) - 1
        self.position = {id(e): i for i, e in enumerate(universe.endpoints)}
        self.by_namespace: dict[str, list[int]] = {}  # the pods selectors can select: host-network pods never
        for i, pod in enumerate(universe.pods):
            if not pod.host_network:
                self.by_namespace.setdefault(pod.namespace, []).append(i)
        # Addresses (and pods that have an IP, where ipBlocks match pods) sorted by family and number, for CIDR lookups.
        located = [
            (ipaddress.ip_address(ip), i)
            for i, e in enumerate(universe.endpoints)
            if universe.blocks_match_pods or not e.is_pod
            for ip in e.ips
        ]
        self.ips = {4: sorted((int(a), i) for a, i in located if a.version == 4), 6: sorted((int(a), i) for a, i in located if a.version == 6)}
        self.ip_keys = {v: [n for n, _ in items] for v, items in self.ips.items()}
        self.postings: dict | None = None  # built on first use: (namespace, key[, value]) -> pods
        self.peer_masks: dict = {}
        self.namespace_masks: dict = {}
        self.matchers: dict = {}
        self.selections: dict = {}

    def matcher(self, selector: LabelSelector):
        found = self.matchers.get(selector)
        if found is None:
            found = self.matchers[selector] = _matcher(selector)
        return found

    def pods_in(self, namespace: str, selector: LabelSelector | None) -> list[int]:
        indices = self.by_namespace.get(namespace, ())
        if selector is None or selector.is_empty:
            return list(indices)
        match, pods = self.matcher(selector), self.universe.pods
        return [i for i in self._candidates(namespace, selector, indices) if match(pods[i].labels)]

    def _candidates(self, namespace: str, selector: LabelSelector, indices) -> list[int] | tuple:
        """The shortest posting list that holds every pod the selector can match (label -> pods, per namespace).

        A selector is a conjunction, so each `key=value` term and each `key in (...)` or
        `key` (Exists) term bounds it; the matcher then checks the few candidates left.
        """
        if self.postings is None:
            postings: dict[tuple, list[int]] = {}
            for i, pod in enumerate(self.universe.pods):
                if pod.host_network:
                    continue
                for key, value in pod.labels.items():
                    postings.setdefault((pod.namespace, key, value), []).append(i)
                    postings.setdefault((pod.namespace, key), []).append(i)
            self.postings = postings
        best = indices
        for key, value in selector.match_labels:
            found = self.postings.get((namespace, key, value), ())
            if len(found) < len(best):
                best = found
        for expression in selector.match_expressions:
            if expression.operator == "Exists":
                found = self.postings.get((namespace, expression.key), ())
            elif expression.operator == "In":
                found = sorted(i for v in expression.values for i in self.postings.get((namespace, expression.key, v), ()))
            else:
                continue
            if len(found) < len(best):
                best = found
        return best

    def selected(self, namespace: str, selector: LabelSelector) -> tuple[int, ...]:
        """The pods a policy of `namespace` with this podSelector selects (cached)."""
        key = (namespace, selector)
        found = self.selections.get(key)
        if found is None:
            found = self.selections[key] = tuple(self.pods_in(namespace, selector))
        return found

    def namespaces_matching(self, selector: LabelSelector) -> list[str]:
        named = dict(selector.match_labels).get(NAME_LABEL)
        if named is not None:  # the common `namespace NAME`: one lookup, not a scan
            namespace = self.universe.namespace_by_name.get(named)
            candidates = [namespace] if namespace is not None else []
        else:
            candidates = self.universe.namespaces
        match = self.matcher(selector)
        return [ns.name for ns in candidates if match(ns.labels)]

    def block_mask(self, cidr: str, excepts: tuple[str, ...]) -> int:
        import bisect

        def indices(network) -> set[int]:
            keys, items = self.ip_keys[network.version], self.ips[network.version]
            low = bisect.bisect_left(keys, int(network.network_address))
            high = bisect.bisect_right(keys, int(network.broadcast_address))
            return {i for _, i in items[low:high]}

        network = ipaddress.ip_network(cidr)
        inside = indices(network)
        for hole in excepts:
            inside -= indices(ipaddress.ip_network(hole))
        if network.prefixlen == 0 and not excepts:  # every address of the family: the names' addresses of it too
            inside |= {i for i, e in enumerate(self.universe.endpoints) if getattr(e, "family", None) == network.version and hasattr(e, "dns_name")}
        return _mask(inside, self.size)

    def node_mask(self, selector: LabelSelector) -> int:
        """The nodes the selector matches, and the host-network pods on their addresses (their traffic is the node's)."""
        position, match = self.position, self.matcher(selector)
        chosen = [node for node in self.universe.nodes if match(node.labels)]
        addresses = {ip for node in chosen for ip in node.addresses}
        indices = [position[id(node)] for node in chosen]
        indices += [i for i, pod in enumerate(self.universe.pods) if pod.host_network and any(ip in addresses for ip in pod.ips)]
        return _mask(indices, self.size)

    def peer_mask(self, peer: PeerRule, policy_namespace: str) -> int:
        key = (peer, policy_namespace if peer.kind == "pods" and peer.namespace_kind == "policy" else "")
        mask = self.peer_masks.get(key)
        if mask is not None:
            return mask
        if peer.kind == "all":
            mask = self.full
        elif peer.kind == "nodes":
            mask = self.node_mask(peer.node_selector)
        elif peer.kind == "block":
            mask = self.block_mask(peer.cidr, peer.excepts)
        elif peer.kind == "name":
            mask = _mask((i for i, e in enumerate(self.universe.endpoints) if peer.matches(e, "", self.universe)), self.size)
        elif peer.namespace_kind in ("policy", "named"):
            namespace = policy_namespace if peer.namespace_kind == "policy" else peer.namespace_name
            mask = _mask(self.pods_in(namespace, peer.pod_selector), self.size)
        else:
            mask = _mask(
                (i for ns in self.namespaces_matching(peer.namespace_selector) for i in self.pods_in(ns, peer.pod_selector)),
                self.size,
            )
        self.peer_masks[key] = mask
        return mask


class Allowed:
    """One decided side of one class of pods: the peers allowed, per port atom.

    `base[protocol]` holds the peers allowed on the ports of that protocol that no rule
    names, `extra[atom]` the whole set allowed on an atom that differs from its protocol's
    base (never equal to it), so equal objects mean equal behaviour and a rule without
    ports costs one operation, not one per atom.
    """

    __slots__ = ("base", "extra")

    def __init__(self):
        self.base = dict.fromkeys(PROTOCOLS, 0)
        self.extra: dict[int, int] = {}

    def at(self, atom_index: int, protocol: str) -> int:
        found = self.extra.get(atom_index)
        return self.base[protocol] if found is None else found

    def __eq__(self, other) -> bool:
        return isinstance(other, Allowed) and self.base == other.base and self.extra == other.extra

    __hash__ = None


class _Compiled(NamedTuple):
    """A cluster rule over one universe: its action, the peers it names, and the port atoms it matches."""

    action: str
    peers: int
    protocols: frozenset[str]  # protocols matched on every port
    atoms: dict[int, int]  # atom -> peers matched on that atom (named and numbered ports)


class Reach:
    """Allowed sets of a policy set over a universe, per pod, direction and port atom.

    Each side of each pod is None (not isolated: everything allowed) or an `Allowed`
    (bitmasks over `universe.endpoints`). Pods selected by the same policies share one
    computation: the equivalence classes that keep a 10,000-intent program fast.
    """

    def __init__(self, policies: PolicySet, universe: Universe, atoms: tuple[Atom, ...]):
        self.policies = policies
        self.universe = universe
        self.atoms = atoms
        self.endpoints = universe.endpoints
        self.index = universe.index()
        self.full = self.index.full
        self.protocol_of = [atom.protocol for atom in atoms]
        self._numbers: dict[str, list[int]] = {p: [] for p in PROTOCOLS}
        self._offset: dict[str, int] = {}
        for i, atom in enumerate(atoms):
            self._offset.setdefault(atom.protocol, i)
            self._numbers[atom.protocol].append(atom.number)
        self._class_cache: dict = {}
        self._selection: dict | None = None
        self._tiered: dict | None = None
        self._named: dict = {}

    # -- atoms

    def atom_index(self, number: int, protocol: str) -> int | None:
        """The atom whose interval holds this port number."""
        import bisect

        numbers = self._numbers.get(protocol)
        if not numbers:
            return None
        position = bisect.bisect_right(numbers, number) - 1
        return None if position < 0 else self._offset[protocol] + position

    def atom_range(self, protocol: str, low: int, high: int) -> range:
        """The atoms whose intervals make up low..high (cut points include both ends)."""
        import bisect

        numbers = self._numbers.get(protocol)
        if not numbers:
            return range(0)
        start = self._offset[protocol]
        return range(start + bisect.bisect_left(numbers, low), start + bisect.bisect_right(numbers, high))

    def atom_interval(self, atom_index: int) -> tuple[int, int]:
        """First and last port number of an atom."""
        atom = self.atoms[atom_index]
        following = self.atoms[atom_index + 1] if atom_index + 1 < len(self.atoms) else None
        last = following.number - 1 if following is not None and following.protocol == atom.protocol else 65535
        return atom.number, last

    # -- masks over endpoints

    def peer_mask(self, peer: PeerRule, policy_namespace: str) -> int:
        return self.index.peer_mask(peer, policy_namespace)

    def _named_masks(self, name: str, protocol: str) -> dict[int, int]:
        """Atom index -> pods whose container port `name` resolves into that atom."""
        key = (name, protocol)
        found = self._named.get(key)
        if found is None:
            by_atom: dict[int, list[int]] = {}
            for i, pod in enumerate(self.universe.pods):
                number = pod.resolve_port(name, protocol)
                if number is not None:
                    index = self.atom_index(number, protocol)
                    if index is not None:
                        by_atom.setdefault(index, []).append(i)
            found = self._named[key] = {a: _mask(ix, self.index.size) for a, ix in by_atom.items()}
        return found

    # -- per pod

    def selecting(self, pod: Pod) -> tuple[Policy, ...]:
        if self._selection is None:
            # From the policies' side: each policy lists its pods once (shared with the other
            # policy set through the index), instead of every pod testing every policy.
            selection: dict[int, list[Policy]] = {}
            for policy in self.policies.policies:
                for i in self.index.selected(policy.namespace, policy.pod_selector):
                    selection.setdefault(i, []).append(policy)
            self._selection = {i: tuple(found) for i, found in selection.items()}
        return self._selection.get(self.index.position[id(pod)], ())

    def tiered(self, pod: Pod) -> tuple[ClusterPolicy, ...]:
        """The cluster policies whose subject holds the pod, in evaluation order."""
        if not self.policies.cluster:
            return ()
        if self._tiered is None:
            selection: dict[int, list[ClusterPolicy]] = {}
            for policy in self.policies.cluster:
                subject = self.index.peer_mask(policy.subject, "")
                for i in bits(subject):
                    selection.setdefault(i, []).append(policy)
            self._tiered = {i: tuple(found) for i, found in selection.items()}
        return self._tiered.get(self.index.position[id(pod)], ())

    def side(self, pod: Pod, direction: str) -> Allowed | None:
        """None if nothing decides the pod's side in `direction` (everything allowed), else the peers allowed per atom.

        Tiers in order: the Admin tier's first matching rule (Accept, Deny, or Pass to the
        next tier), then NetworkPolicy when one isolates the pod (it decides everything it
        is handed), then the Baseline tier's first matching rule, then allow.
        """
        selected = self.selecting(pod)
        isolated = any(direction in p.isolates for p in selected)
        tiered = tuple(p for p in self.tiered(pod) if p.rules(direction))
        if not isolated and not tiered:
            return None
        # Only policies that speak about this direction decide it: pods that differ elsewhere still share a class.
        selected = tuple(p for p in selected if direction in p.isolates or p.rules(direction)) if isolated else ()
        named_here = direction == INGRESS  # a named port resolves on the destination: this pod
        # The pod's ports by identity (pods share their tuple; hashing 10,000 named ports per call was the cost).
        key = (direction, tuple(id(p) for p in selected), tuple(id(p) for p in tiered), id(pod.ports) if named_here else 0)
        cached = self._class_cache.get(key)
        if cached is not None:
            return cached
        network = self._network_side(pod, direction, selected) if isolated else None
        allowed = self._tiered_side(pod, direction, tiered, network) if tiered else network
        self._class_cache[key] = allowed
        return allowed

    def _ports_into(self, pod: Pod, direction: str, ports, peers: int, protocols: set, atoms: dict) -> None:
        """Add what `peers` on `ports` allow: to `protocols` (every port of one) or to `atoms` (atom -> peers)."""
        for port in ports:
            if port.port is None:
                protocols.add(port.protocol)
            elif isinstance(port.port, int):
                for index in self.atom_range(port.protocol, port.port, port.end_port or port.port):
                    atoms[index] = atoms.get(index, 0) | peers
            elif direction == INGRESS:  # a named port is resolved on the destination: this pod
                number = pod.resolve_port(port.port, port.protocol)
                index = None if number is None else self.atom_index(number, port.protocol)
                if index is not None:
                    atoms[index] = atoms.get(index, 0) | peers
            else:  # ... or on each peer, for egress
                for index, pods in self._named_masks(port.port, port.protocol).items():
                    if peers & pods:
                        atoms[index] = atoms.get(index, 0) | (peers & pods)

    def _network_side(self, pod: Pod, direction: str, selected: tuple[Policy, ...]) -> Allowed:
        """NetworkPolicy (v1) for an isolated side: the union of the rules of every policy selecting the pod."""
        allowed = Allowed()
        base, extra = allowed.base, allowed.extra
        for policy in selected:
            for rule in policy.rules(direction):
                peers = self.full if not rule.peers else 0
                for peer in rule.peers:
                    peers |= self.peer_mask(peer, policy.namespace)
                if not peers:
                    continue
                if not rule.ports:
                    for protocol in PROTOCOLS:
                        base[protocol] |= peers
                    continue
                protocols: set[str] = set()
                self._ports_into(pod, direction, rule.ports, peers, protocols, extra)
                for protocol in protocols:
                    base[protocol] |= peers
        protocol_of = self.protocol_of
        allowed.extra = {i: base[protocol_of[i]] | m for i, m in extra.items() if m & ~base[protocol_of[i]]}
        return allowed

    def _compile(self, pod: Pod, direction: str, rule: ClusterRule) -> _Compiled:
        peers = 0
        for peer in rule.peers:
            peers |= self.peer_mask(peer, "")
        if not rule.ports:
            return _Compiled(rule.action, peers, frozenset(PROTOCOLS), {})
        protocols: set[str] = set()
        atoms: dict[int, int] = {}
        self._ports_into(pod, direction, rule.ports, peers, protocols, atoms)
        return _Compiled(rule.action, peers, frozenset(protocols), atoms)

    def _tiered_side(self, pod: Pod, direction: str, tiered: tuple[ClusterPolicy, ...], network: Allowed | None) -> Allowed:
        admin, baseline = [], []
        for policy in tiered:
            for rule in policy.rules(direction):
                (admin if policy.tier == ADMIN else baseline).append(self._compile(pod, direction, rule))
        full = self.full

        def first_match(rules, atom: int | None, protocol: str) -> tuple[int, int, int]:
            """(accepted, passed, decided) peers: each peer goes by the first rule that matches it."""
            decided = accepted = passed = 0
            for rule in rules:
                matched = rule.peers if protocol in rule.protocols else rule.atoms.get(atom, 0) if atom is not None else 0
                fresh = matched & ~decided
                if fresh:
                    if rule.action == ACCEPT:
                        accepted |= fresh
                    elif rule.action == PASS:
                        passed |= fresh
                    decided |= matched
            return accepted, passed, decided

        def decide(atom: int | None, protocol: str) -> int:
            accepted, passed, decided = first_match(admin, atom, protocol)
            onward = (full & ~decided) | passed  # what the Admin tier leaves to the next tiers
            if network is not None:  # NetworkPolicy isolates the pod: it decides the rest
                below = network.base[protocol] if atom is None else network.at(atom, protocol)
            else:
                b_accepted, b_passed, b_decided = first_match(baseline, atom, protocol)
                below = b_accepted | b_passed | (full & ~b_decided)  # a Pass in the last tier leaves it to the default: allow
            return accepted | (onward & below)

        special = set(network.extra) if network is not None else set()
        for rule in admin + baseline:
            special.update(rule.atoms)
        allowed = Allowed()
        for protocol in PROTOCOLS:
            allowed.base[protocol] = decide(None, protocol)
        protocol_of = self.protocol_of
        for atom in sorted(special):
            value = decide(atom, protocol_of[atom])
            if value != allowed.base[protocol_of[atom]]:
                allowed.extra[atom] = value
        return allowed

    def allowed_mask(self, pod: Pod, direction: str, atom_index: int) -> int:
        """The peers the pod's side allows on an atom (every endpoint when not isolated)."""
        side = self.side(pod, direction)
        return self.full if side is None else side.at(atom_index, self.protocol_of[atom_index])

    def allows(self, source: Endpoint, destination: Endpoint, atom_index: int) -> bool:
        """The flow source -> destination on the atom's port, both sides considered."""
        position = self.index.position
        if source.is_pod and not (self.allowed_mask(source, EGRESS, atom_index) >> position[id(destination)]) & 1:
            return False
        if destination.is_pod and not (self.allowed_mask(destination, INGRESS, atom_index) >> position[id(source)]) & 1:
            return False
        return True

    def class_count(self) -> int:
        """How many distinct (direction, selected policies) classes were computed."""
        return len(self._class_cache)


def bits(mask: int) -> list[int]:
    """Positions of the set bits (one pass over the binary text: linear, unlike peeling bits off)."""
    if mask.bit_count() < 8:  # sparse: peel the lowest bits off
        out = []
        while mask:
            low = mask & -mask
            out.append(low.bit_length() - 1)
            mask ^= low
        return out
    text = bin(mask)[:1:-1]
    out, i = [], text.find("1")
    while i >= 0:
        out.append(i)
        i = text.find("1", i + 1)
    return out
