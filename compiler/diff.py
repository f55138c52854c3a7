"""What a change to the policies does to traffic: flows opened and closed, from the engine over one universe of both sides.

Well-known platform workloads (cluster DNS, Prometheus, an ingress controller) are always
in the universe, so that isolating a workload shows by name what it silently cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import engine, ir
from .flows import Scene, bits, name, simplicity

# (namespace, labels) of workloads nearly every cluster runs, which policies cut most often.
PLATFORM = (
    ("kube-system", {"k8s-app": "kube-dns"}),  # CoreDNS / kube-dns
    ("monitoring", {"app.kubernetes.io/name": "prometheus"}),  # Prometheus Operator layout
    ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),  # the ingress-nginx controller
)


@dataclass
class Change:
    source: engine.Endpoint
    destination: engine.Endpoint
    opened: tuple[int, ...]  # atom indices
    closed: tuple[int, ...]


@dataclass
class Isolation:
    """A pod group whose side in `direction` nothing decided before the change and something decides after it."""

    group: str
    direction: str
    kept: list[tuple[list[str], str]]  # (peers, ports) its side still allows, every other flow of that side is cut


@dataclass
class Diff:
    scene: Scene
    old: engine.Reach
    new: engine.Reach
    changes: list[Change]

    def rows(self, kind: str) -> list[dict]:
        """One row per (source group, destination group): the ports opened or closed between them (pods of one workload are one group)."""
        out = []
        for change in self.changes:
            atoms = change.opened if kind == "opened" else change.closed
            if atoms:
                row = {
                    "source": name(change.source, self.scene.universe),
                    "destination": name(change.destination, self.scene.universe),
                    "ports": self.scene.describe_atoms(self.new, atoms),
                }
                if row not in out:
                    out.append(row)
        return out

    def grouped(self, kind: str) -> list[tuple[list[str], list[str], str]]:
        """Rows merged for reading: sources sharing a destination and ports, then destinations sharing a source."""
        by_destination: dict[tuple, list] = {}
        for change in self.changes:
            atoms = change.opened if kind == "opened" else change.closed
            if atoms:
                by_destination.setdefault((id(change.destination), atoms), [change.destination]).append(change.source)
        merged: list[tuple[list, list, tuple]] = []
        by_source: dict[tuple, list] = {}
        for (_, atoms), (destination, *sources) in by_destination.items():
            if len(sources) == 1:
                by_source.setdefault((id(sources[0]), atoms), [sources[0]]).append(destination)
            else:
                merged.append((sources, [destination], atoms))
        merged += [([source], destinations, atoms) for (_, atoms), (source, *destinations) in by_source.items()]
        out = {(tuple(self.names(sources)), tuple(self.names(destinations)), self.scene.describe_atoms(self.new, atoms)) for sources, destinations, atoms in merged}
        return [(list(a), list(b), ports) for a, b, ports in sorted(out, key=lambda g: (g[1][0], g[0][0], g[2]))]

    def isolations(self) -> list[Isolation]:
        """The groups the change newly isolates, each with what its isolated side still allows: the
        summary that comes before the flows (which then list every address range that is cut).
        Groups left with the same allowances read as one line."""
        universe = self.scene.universe
        endpoints = universe.endpoints
        merged: dict[tuple, list[engine.Endpoint]] = {}
        seen: set[tuple[str, str]] = set()
        for pod in sorted(universe.pods, key=simplicity):
            for direction in engine.DIRECTIONS:
                key = (name(pod, universe), direction)
                if key in seen or self.old.side(pod, direction) is not None or self.new.side(pod, direction) is None:
                    continue
                seen.add(key)
                atoms_of: dict[int, list[int]] = {}
                for atom in range(len(self.scene.atoms)):
                    for other in bits(self.new.allowed_mask(pod, direction, atom)):
                        atoms_of.setdefault(other, []).append(atom)
                peers_of: dict[tuple[int, ...], list[engine.Endpoint]] = {}
                for other, atoms in atoms_of.items():
                    peers_of.setdefault(tuple(atoms), []).append(endpoints[other])
                kept = tuple(sorted(
                    (tuple(self.names(peers)), self.scene.describe_atoms(self.new, atoms)) for atoms, peers in peers_of.items()
                ))
                merged.setdefault((direction, kept), []).append(pod)
        out = [
            Isolation(", ".join(self.names(pods)), direction, [(list(peers), ports) for peers, ports in kept])
            for (direction, kept), pods in merged.items()
        ]
        return sorted(out, key=lambda i: (i.group, i.direction))

    def names(self, endpoints: list[engine.Endpoint]) -> list[str]:
        """Names for a set of endpoints: `anything` for all of them, near-miss pods folded into their namespace's other pods."""
        universe = self.scene.universe
        chosen = {id(e) for e in endpoints}
        missing = [e for e in universe.endpoints if id(e) not in chosen]
        if len(missing) <= 3 and len(chosen) > 6:
            # (Nearly) everything: name the workloads people know, then say "the rest" once.
            known = [e for e in sorted(endpoints, key=simplicity) if isinstance(e, engine.Pod) and e.labels and simplicity(e)[:2] == (0, 0)]
            rest = "every other pod and address"
            if missing:
                rest += " except " + ", ".join(name(e, universe) for e in sorted(missing, key=simplicity))
            return [name(e, universe) for e in known] + [rest]
        present = {(e.namespace, not e.labels) for e in endpoints if isinstance(e, engine.Pod)}
        shown = []
        for endpoint in sorted(endpoints, key=simplicity):
            near_miss = isinstance(endpoint, engine.Pod) and engine.OTHER_VALUE in endpoint.labels.values()
            if near_miss and (endpoint.namespace, True) in present:
                continue  # "app=(other)" adds nothing to "(other pods)" of the same namespace
            shown.append(name(endpoint, universe))
        return list(dict.fromkeys(shown))  # pods of one workload read as one


def platform_peers() -> list[tuple[str, ir.Peer]]:
    return [(ns, ir.Pods(ir.NamespaceRef("named", ns), ir.LabelSelector.of(labels))) for ns, labels in PLATFORM]


def diff(old: engine.PolicySet, new: engine.PolicySet, context: list[engine.PolicySet] = (), snapshot=None) -> Diff:
    """Every flow whose verdict differs between the two policy sets, with the ports on which it does (over a snapshot's pods if given)."""
    with engine.paused_gc():
        # A snapshot has the cluster's own DNS, Prometheus and ingress controller, or not: never made-up ones.
        scene = Scene([old, new, *context], platform_peers() if snapshot is None else (), snapshot=snapshot)
        a, b = scene.reach(old), scene.reach(new)
        return Diff(scene, a, b, _changes(scene, a, b))


def _changes(scene: Scene, a: engine.Reach, b: engine.Reach) -> list[Change]:
    endpoints = scene.universe.endpoints
    position = scene.index.position
    candidates: dict[tuple[int, int], set[int]] = {}  # (source, destination) positions -> atoms to look at
    # A flow can change only where one of its two sides changed: start from the pods whose side did.
    for pod in scene.universe.pods:
        here = position[id(pod)]
        for direction in engine.DIRECTIONS:
            side_a, side_b = a.side(pod, direction), b.side(pod, direction)
            if side_a == side_b or (side_a is None and side_b is None):
                continue
            for atom in range(len(scene.atoms)):
                delta = a.allowed_mask(pod, direction, atom) ^ b.allowed_mask(pod, direction, atom)
                for other in bits(delta):
                    key = (here, other) if direction == engine.EGRESS else (other, here)
                    candidates.setdefault(key, set()).add(atom)
    changes = []
    for (s, d), atoms in candidates.items():
        source, destination = endpoints[s], endpoints[d]
        opened, closed = [], []
        for atom in sorted(atoms):
            before, after = a.allows(source, destination, atom), b.allows(source, destination, atom)
            if before != after:
                (opened if after else closed).append(atom)
        if opened or closed:
            changes.append(Change(source, destination, tuple(opened), tuple(closed)))
    changes.sort(key=lambda c: (simplicity(c.destination), simplicity(c.source)))
    return changes
