"""The allowed flows between pod groups and address blocks, as a graph: Graphviz DOT, Mermaid, or SVG through `dot`.

An edge is a flow some policy decides (the source's egress or the destination's ingress is
isolated and a rule allows it); traffic between two unisolated ends is open and shown by
the node style instead. Endpoints that together make a whole (every pod of a namespace,
every IPv4 address, everything) collapse into one node, and parallel edges merge into one
labelled with the port list.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import engine
from .flows import Scene, bits, namespace_name, pod_part, simplicity

ANYTHING = "anything"


@dataclass
class Node:
    id: str
    label: str
    namespace: str | None  # cluster to draw it in (None: outside the cluster)
    kind: str  # "pod", "namespace", "pods", "address", "anything"
    ingress_isolated: bool = False
    egress_isolated: bool = False

    @property
    def isolated(self) -> bool:
        return self.ingress_isolated or self.egress_isolated

    def status(self) -> str:
        sides = [s for s, on in (("ingress", self.ingress_isolated), ("egress", self.egress_isolated)) if on]
        return "isolated: " + " and ".join(sides) if sides else ("open" if self.kind == "pod" else "")


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (from, to) -> atoms
    labels: dict[tuple[str, str], str] = field(default_factory=dict)


def build(policies: engine.PolicySet, context: list[engine.PolicySet] = (), snapshot=None) -> Graph:
    """Nodes for the pod groups and address blocks the policies mention (or a snapshot's workloads); an edge per governed flow."""
    with engine.paused_gc():
        scene = Scene([policies, *context], snapshot=snapshot)
        return _Builder(scene, scene.reach(policies), [policies, *context]).run()


class _Builder:
    def __init__(self, scene: Scene, reach: engine.Reach, sets: list[engine.PolicySet]):
        self.scene, self.reach, self.sets = scene, reach, sets
        self.universe = scene.universe
        self.endpoints = scene.universe.endpoints
        self.graph = Graph()
        self.position = scene.index.position
        pods = self.universe.pods
        self.namespace_masks: dict[str, int] = {}
        for i, pod in enumerate(pods):
            self.namespace_masks[pod.namespace] = self.namespace_masks.get(pod.namespace, 0) | (1 << i)
        self.all_pods = (1 << len(pods)) - 1
        self.family_masks = {4: 0, 6: 0}
        for i, endpoint in enumerate(self.endpoints):
            if isinstance(endpoint, engine.Address):
                self.family_masks[6 if ":" in endpoint.ip else 4] |= 1 << i

    def run(self) -> Graph:
        reach, atoms = self.reach, range(len(self.scene.atoms))
        egress = {i: reach.side(p, engine.EGRESS) for i, p in enumerate(self.universe.pods)}
        open_egress = self.scene.index.full
        for i, side in egress.items():
            if side is not None:
                open_egress &= ~(1 << i)
        # Transpose egress: who may send to each endpoint, per atom (one pass per class of pods).
        senders: dict[tuple[int, int], int] = {}
        classes: dict[int, list] = {}
        for i, side in egress.items():
            if side is not None:
                classes.setdefault(id(side), [side, 0])[1] |= 1 << i
        for side, members in classes.values():
            for atom in atoms:
                for d in bits(side.at(atom, reach.protocol_of[atom])):
                    senders[(d, atom)] = senders.get((d, atom), 0) | members
        # Per destination, the governed sources per atom, grouped by identical source sets.
        by_source_set: list[tuple[int, int, tuple[int, ...]]] = []  # (destination, sources mask, atoms)
        for d, destination in enumerate(self.endpoints):
            ingress = reach.side(destination, engine.INGRESS) if isinstance(destination, engine.Pod) else None
            groups: dict[int, list[int]] = {}
            for atom in atoms:
                may_send = open_egress | senders.get((d, atom), 0)
                if ingress is None:
                    governed = may_send & ~open_egress  # open to open is not drawn
                else:
                    governed = may_send & ingress.at(atom, reach.protocol_of[atom])
                if governed:
                    groups.setdefault(governed, []).append(atom)
            for sources, atom_list in groups.items():
                by_source_set.append((d, sources, tuple(atom_list)))
        # Collapse sources per destination, then destinations per (source node, port atom).
        fan_out: dict[tuple[str, int], int] = {}
        for d, sources, atom_list in by_source_set:
            for node in self.collapse(sources):
                for atom in atom_list:
                    fan_out[(node, atom)] = fan_out.get((node, atom), 0) | (1 << d)
        for (source, atom), destinations in fan_out.items():
            for target in self.collapse(destinations):
                self.graph.edges.setdefault((source, target), []).append(atom)
        for key, atom_list in self.graph.edges.items():
            self.graph.labels[key] = self.scene.describe_atoms(reach, atom_list)
        self.add_groups()
        return self.graph

    # -- nodes

    def collapse(self, mask: int) -> list[str]:
        """Node ids for a set of endpoints: wholes (everything, a namespace, an address family) as one node."""
        if mask == self.scene.index.full:
            return [self.node_anything()]
        out = []
        if mask & self.all_pods == self.all_pods:
            out.append(self.node_pods_everywhere())
            mask &= ~self.all_pods
        for namespace, members in self.namespace_masks.items():
            if mask & members == members:
                out.append(self.node_namespace(namespace))
                mask &= ~members
        for family, members in self.family_masks.items():
            if members and mask & members == members:
                out.append(self.node_family(family))
                mask &= ~members
        out += [self.node_endpoint(self.endpoints[i]) for i in bits(mask)]
        return [n for n in out if n is not None]

    def add(self, node: Node) -> str:
        self.graph.nodes.setdefault(node.id, node)
        return node.id

    def node_anything(self) -> str:
        return self.add(Node("anything", "anything\n(every pod and address)", None, "anything"))

    def node_pods_everywhere(self) -> str:
        return self.add(Node("all-pods", "every pod\n(all namespaces)", None, "pods"))

    def node_namespace(self, namespace: str) -> str:
        label = "every pod" if not namespace.startswith("netpolc") else f"pods of {namespace_name(namespace, self.universe)}"
        return self.add(Node(f"ns:{namespace}", label, None if namespace.startswith("netpolc") else namespace, "namespace"))

    def node_family(self, family: int) -> str:
        cidr = "0.0.0.0/0" if family == 4 else "::/0"
        return self.add(Node(f"ip:{cidr}", f"{cidr}\n(every IPv{family} address)", None, "address"))

    def node_endpoint(self, endpoint: engine.Endpoint) -> str:
        if isinstance(endpoint, engine.Address):
            return self.add(Node(f"ip:{endpoint}", str(endpoint), None, "address"))
        synthetic = endpoint.namespace.startswith("netpolc")
        label = pod_part(endpoint) if not synthetic else f"{namespace_name(endpoint.namespace, self.universe)}/{pod_part(endpoint)}"
        node = Node(
            f"pod:{endpoint.namespace}/{endpoint.name}",
            label,
            None if synthetic else endpoint.namespace,
            "pod",
            self.reach.side(endpoint, engine.INGRESS) is not None,
            self.reach.side(endpoint, engine.EGRESS) is not None,
        )
        return self.add(node)

    def add_groups(self) -> None:
        """Every pod group the policies name is a node, with or without edges: isolation shows even when nothing is allowed."""
        named = set()
        for policy_set in self.sets:
            for policy in policy_set.items:
                if policy.namespace:
                    named.add((policy.namespace, policy.pod_selector))
                peers = [policy.subject] if not policy.namespace else []
                for rule in policy.ingress + policy.egress:
                    peers.extend(rule.peers)
                for peer in peers:
                    if peer.kind == "pods" and peer.pod_selector is not None:
                        if peer.namespace_kind == "policy":
                            named.add((policy.namespace, peer.pod_selector))
                        elif peer.namespace_kind == "named":
                            named.add((peer.namespace_name, peer.pod_selector))
                        else:
                            named.update((ns, peer.pod_selector) for ns in self.scene.index.namespaces_matching(peer.namespace_selector))
        witnesses = {(ns, tuple(sorted((s.witness(engine.OTHER_VALUE) or {}).items()))) for ns, s in named if not s.is_empty}
        for pod in sorted(self.universe.pods, key=simplicity):
            if not pod.namespace.startswith("netpolc") and (pod.namespace, tuple(sorted(pod.labels.items()))) in witnesses:
                self.node_endpoint(pod)


# ---------------------------------------------------------------- output


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


STYLE = {
    # kind -> DOT attributes; isolated pods are filled red, open ones white
    "pod": 'shape=box, style="rounded,filled"',
    "namespace": 'shape=box, style="rounded,dashed"',
    "pods": 'shape=box, style="rounded,dashed"',
    "address": 'shape=ellipse, style=filled, fillcolor="#dbeafe"',
    "anything": 'shape=ellipse, style=filled, fillcolor="#e5e7eb"',
}
ISOLATED_FILL, OPEN_FILL = "#fde2e1", "#ffffff"


def _node_label(node: Node) -> str:
    status = node.status()
    return f"{node.label}\n({status})" if node.kind == "pod" and status else node.label


def to_dot(graph: Graph) -> str:
    """Graphviz DOT: a cluster per namespace, isolated groups filled red, edges labelled with ports."""
    ids = {node_id: f"n{i}" for i, node_id in enumerate(sorted(graph.nodes))}
    lines = [
        "digraph netpolc {",
        '  graph [rankdir=LR, fontname="Helvetica", label="netpolc: allowed flows (red: isolated, default deny)", labelloc=t];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    namespaces = sorted({n.namespace for n in graph.nodes.values() if n.namespace})
    for namespace in namespaces:
        lines.append(f"  subgraph {_quote('cluster_' + namespace)} {{")
        lines.append(f"    label={_quote('namespace ' + namespace)}; style=rounded; color=\"#6b7280\";")
        for node_id in sorted(graph.nodes):
            node = graph.nodes[node_id]
            if node.namespace == namespace:
                lines.append(f"    {ids[node_id]} {_dot_node(node)};")
        lines.append("  }")
    for node_id in sorted(graph.nodes):
        node = graph.nodes[node_id]
        if not node.namespace:
            lines.append(f"  {ids[node_id]} {_dot_node(node)};")
    for (source, target), label in sorted(graph.labels.items()):
        lines.append(f"  {ids[source]} -> {ids[target]} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_node(node: Node) -> str:
    style = STYLE[node.kind]
    if node.kind == "pod":
        style += f', fillcolor="{ISOLATED_FILL if node.isolated else OPEN_FILL}"'
        if node.isolated:
            style += ', color="#b91c1c", penwidth=2'
    return f"[label={_quote(_node_label(node))}, {style}]"


def to_mermaid(graph: Graph) -> str:
    """Mermaid flowchart: a subgraph per namespace, isolated groups in the `isolated` class."""
    ids = {node_id: f"n{i}" for i, node_id in enumerate(sorted(graph.nodes))}

    def text(value: str) -> str:
        return value.replace('"', "#quot;").replace("\n", "<br>")

    def node_line(node: Node) -> str:
        shape = ("([", "])") if node.kind in ("address", "anything") else ("[", "]")
        css = "isolated" if node.kind == "pod" and node.isolated else ("open" if node.kind == "pod" else node.kind)
        return f'{ids[node.id]}{shape[0]}"{text(_node_label(node))}"{shape[1]}:::{css}'

    lines = ["flowchart LR"]
    namespaces = sorted({n.namespace for n in graph.nodes.values() if n.namespace})
    for i, namespace in enumerate(namespaces):
        lines.append(f'  subgraph ns{i}["namespace {text(namespace)}"]')
        lines += [f"    {node_line(graph.nodes[n])}" for n in sorted(graph.nodes) if graph.nodes[n].namespace == namespace]
        lines.append("  end")
    lines += [f"  {node_line(graph.nodes[n])}" for n in sorted(graph.nodes) if not graph.nodes[n].namespace]
    for (source, target), label in sorted(graph.labels.items()):
        lines.append(f'  {ids[source]} -->|"{text(label)}"| {ids[target]}')
    lines += [
        f"  classDef isolated fill:{ISOLATED_FILL},stroke:#b91c1c,stroke-width:2px",
        f"  classDef open fill:{OPEN_FILL},stroke:#374151",
        "  classDef address fill:#dbeafe,stroke:#1e3a8a",
        "  classDef anything fill:#e5e7eb,stroke:#374151",
        "  classDef namespace fill:#ffffff,stroke:#6b7280,stroke-dasharray:4",
        "  classDef pods fill:#ffffff,stroke:#6b7280,stroke-dasharray:4",
    ]
    return "\n".join(lines) + "\n"
