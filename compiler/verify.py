"""The compiler proves its output: the meaning of the intents, computed from the intents, against the emitted manifests."""

from __future__ import annotations

from typing import NamedTuple

from . import engine, ir
from .diagnostics import Diagnostic
from .emit import Emitted, ingress_target
from .engine.read import merge_ports

ALL_PEERS = engine.PeerRule("all")


def peer_rules(peer: ir.Peer) -> tuple[engine.PeerRule, ...]:
    """What a peer means, in the engine's terms (never via the manifest encoding)."""
    if isinstance(peer, ir.World):
        return (ALL_PEERS,)
    if isinstance(peer, ir.Block):
        return (engine.PeerRule("block", cidr=peer.cidr, excepts=peer.excepts),)
    if isinstance(peer, ir.Name):
        return (engine.PeerRule("name", dns_name=peer.name),)
    ref = peer.namespace
    if ref.kind == "named":
        return (engine.PeerRule("pods", "named", namespace_name=ref.name, pod_selector=peer.selector),)
    namespaces = ref.selector if ref.kind == "labelled" else ir.EVERYTHING
    return (engine.PeerRule("pods", "labelled", namespace_selector=namespaces, pod_selector=peer.selector),)


def port_rules(ports: tuple[ir.PortRange, ...]) -> tuple[engine.PortRule, ...]:
    """The ports of an intent as engine ports, merged into ranges as manifests are when read (few atoms)."""
    return merge_ports(tuple(engine.PortRule(p.protocol, p.port, p.end_port) for p in ports))


def intent_model(program: ir.Program) -> engine.PolicySet:
    """The intents as engine policies. The meaning, written down once:

    - `deny D for S` isolates S in the directions D;
    - `D only to/from P for S` isolates S in D and allows P;
    - `allow A to B` isolates B's ingress and allows A in, when B is pods of a namespace
      the program manages; and grants A egress to B without isolating A (A's egress is
      restricted only where something isolates it).
    """
    managed = set(program.namespaces)
    policies = []
    for intent in program.intents:
        origin = intent.origin
        source = f"{origin.user_span.file}:{origin.user_span.line}"
        name, text = origin.describe(), origin.describe()
        if isinstance(intent, ir.Isolate):
            policies.append(engine.Policy(name, intent.namespace, intent.subject, frozenset(intent.directions), source=source, intent=text))
        elif isinstance(intent, ir.Only):
            rule = engine.Rule(peer_rules(intent.peer), port_rules(intent.ports))
            rules = {"ingress": (rule,) if intent.direction == "ingress" else (), "egress": (rule,) if intent.direction == "egress" else ()}
            policies.append(
                engine.Policy(name, intent.namespace, intent.subject, frozenset([intent.direction]), **rules, source=source, intent=text)
            )
        else:
            target = ingress_target(intent.destination, managed)
            if target is not None:
                rule = engine.Rule(peer_rules(intent.source), port_rules(intent.ports))
                policies.append(
                    engine.Policy(name, target.namespace.name, target.selector, frozenset(["ingress"]), ingress=(rule,), source=source, intent=text)
                )
            if isinstance(intent.source, ir.Pods) and intent.source.namespace.kind == "named":
                rule = engine.Rule(peer_rules(intent.destination), port_rules(intent.ports))
                policies.append(
                    engine.Policy(name, intent.source.namespace.name, intent.source.selector, frozenset(), egress=(rule,), source=source, intent=text)
                )
    policies += implied_model(program)
    policies += cluster_model(program)
    return engine.PolicySet(policies)


DNS_PORTS = (engine.PortRule("UDP", 53), engine.PortRule("TCP", 53))


def implied_model(program: ir.Program) -> list[engine.Policy]:
    """What the chosen DNS-name backend adds to the meaning, by design: on Cilium, the pods that get a
    toFQDNs rule may query kube-dns on port 53 (the DNS rule its proxy needs), without being isolated by it."""
    if program.fqdn_backend != "cilium":
        return []
    from .backends import ciliumnetworkpolicy as cilium
    from .emit import egress_isolations

    out = []
    for namespace, subject in cilium.dns_subjects(program, egress_isolations(program)):
        dns = engine.PeerRule("pods", "named", namespace_name=cilium.DNS_NAMESPACE, pod_selector=ir.LabelSelector.of(cilium.DNS_LABELS))
        rule = engine.Rule((dns,), DNS_PORTS)
        out.append(engine.Policy("Cilium's DNS rule", namespace, subject, frozenset(), egress=(rule,), source="", intent="the DNS rule of toFQDNs"))
    return out


CLUSTER_TIERS = {ir.ADMIN: engine.ADMIN, ir.BASELINE: engine.BASELINE}
CLUSTER_ACTIONS = {ir.ACCEPT: engine.ACCEPT, ir.DENY: engine.DENY, ir.PASS: engine.PASS}
RULES_PER_PRIORITY = 100_000  # the intent model orders rules by (section priority, position): no API limit applies to it


def subject_rule(pods: ir.Pods) -> engine.PeerRule:
    ref = pods.namespace
    namespaces = ir.LabelSelector.of({ir.NAME_LABEL: ref.name}) if ref.kind == "named" else ref.selector if ref.kind == "labelled" else ir.EVERYTHING
    return engine.PeerRule("pods", "labelled", namespace_selector=namespaces, pod_selector=pods.selector)


def cluster_model(program: ir.Program) -> list[engine.ClusterPolicy]:
    """Cluster sections as engine cluster policies. The meaning, written down once:

    - a section's rules are tried in order and the first that matches a flow decides it
      (accept, deny, or pass to the namespaces' policies); sections of a tier by priority;
    - a rule `A to B` applies at each end that is pods: the egress of A (towards B) and the
      ingress of B (from A; `world` as B holds every pod); an end of addresses has no policy.

    Each rule is its own policy, ordered by (section priority, position), so that the proof
    checks the placement's objects and priorities against the order the user wrote.
    """
    out = []
    for intent in program.cluster:
        section, origin = intent.section, intent.origin
        source = f"{origin.user_span.file}:{origin.user_span.line}"
        priority = section.priority * RULES_PER_PRIORITY + intent.position
        action, ports = CLUSTER_ACTIONS[intent.action], port_rules(intent.ports)
        name = f"{section} rule {intent.position + 1}"
        common = {"source": source, "intent": origin.describe()}
        egress = engine.ClusterRule(action, peer_rules(intent.destination), ports, 0, origin.describe())
        out.append(engine.ClusterPolicy(name, CLUSTER_TIERS[section.tier], priority, subject_rule(intent.source), egress=(egress,), **common))
        destination = intent.destination
        if isinstance(destination, ir.World):
            destination = ir.Pods(ir.NamespaceRef("all"), ir.EVERYTHING)
        if isinstance(destination, ir.Pods):
            ingress = engine.ClusterRule(action, peer_rules(intent.source), ports, 0, origin.describe())
            out.append(engine.ClusterPolicy(name, CLUSTER_TIERS[section.tier], priority, subject_rule(destination), ingress=(ingress,), **common))
    return out


def prove(program: ir.Program, emitted: list[Emitted], namespaces=None) -> list[Diagnostic]:
    """NP500 for each flow where the manifests and the intents disagree (none when the compiler is right).

    `namespaces` limits the proof to the pods of those namespaces (no cluster sections): an
    incremental build proves again only the namespaces a change touched.
    """
    with engine.paused_gc():
        proof = Proof(program, emitted, namespaces)
        return proof.findings([proof.batch(index) for index in range(proof.count)])


DIFFERENCES_SHOWN = 5  # a broken backend is reported by its first few differences, not by thousands


class Proof:
    """The proof of one build, as independent batches of namespaces (`batch(i)` for i < `count`), so that a
    caller can compute them in any order or process (compiler/parallel.py); `findings` puts them together
    in batch order, as if they had been computed one after another."""

    def __init__(self, program: ir.Program, emitted: list[Emitted], only=None, model: engine.PolicySet | None = None):
        self.program = program
        self.intended = model if model is not None else intent_model(program)
        # The manifests are read back one batch of namespaces at a time (and dropped after it): the
        # model of every manifest at once was most of the proof's memory.
        self.written: dict[str, list[Emitted]] = {}
        self.cluster_items: list[Emitted] = []  # every other kind: cluster objects, DNS-name policies
        for item in emitted:
            if item.kind == "NetworkPolicy":
                self.written.setdefault(item.namespace, []).append(item)
            else:
                self.cluster_items.append(item)
        self.first_item = emitted[0] if emitted else None
        self.failure: str | None = None
        self.plan: list = []
        try:  # the other kinds (cluster objects, DNS-name policies) are few: read once, namespaced ones placed by their namespace
            self.others = engine.load_policies(item.manifest() for item in self.cluster_items)
        except engine.PolicyError as err:
            self.failure = str(err)
            return
        self.actual_cluster = list(self.others.cluster)
        for namespace in self.others.by_namespace:
            self.written.setdefault(namespace, [])
        self.plan = plan_batches(self.intended, self.written, self.actual_cluster, only)

    @property
    def count(self) -> int:
        return len(self.plan)

    def items(self, index: int) -> list[Emitted]:
        """The emitted items that belong with batch `index`: its namespaces' NetworkPolicies (the first
        batch also takes every other kind), so that each item is in exactly one batch."""
        planned = self.plan[index]
        own = [] if planned.rest else [item for n in planned.namespaces for item in self.written.get(n, ())]
        return (self.cluster_items + own) if index == 0 else own

    def read(self, namespaces: list[str]) -> list:
        written = [item for n in namespaces for item in self.written.get(n, ())]
        policies = engine.load_policies(item.manifest() for item in written).policies
        for policy, item in zip(policies, written):
            if policy.namespace != item.namespace:  # never for netpolc's backends; refused rather than proven elsewhere
                raise engine.PolicyError(f"NetworkPolicy {policy.name}", f"is in namespace {policy.namespace}, emitted for {item.namespace}")
        return list(policies) + [p for n in namespaces for p in self.others.by_namespace.get(n, ())]

    def batch(self, index: int) -> tuple[str | None, list[Diagnostic]]:
        """(why the manifests could not be read, or None; the first differences of this batch as NP500)."""
        with engine.paused_gc():
            try:
                mine, theirs, subjects = batch_sets(self.plan[index], self.intended, self.read, self.actual_cluster)
                ((_, universe, differences),) = compare_batches([(mine, theirs, subjects)], DIFFERENCES_SHOWN)
                return None, [_difference(d, mine, universe, self.program) for d in differences]
            except engine.PolicyError as err:
                return str(err), []

    def findings(self, results: list) -> list[Diagnostic]:
        if self.failure is not None:
            return self._unreadable(self.failure)
        out: list[Diagnostic] = []
        for failure, found in results:
            if failure is not None:
                return self._unreadable(failure)
            out += found[: DIFFERENCES_SHOWN - len(out)]
            if len(out) >= DIFFERENCES_SHOWN:
                break
        return out

    def _unreadable(self, why: str) -> list[Diagnostic]:
        span = self.first_item.origins[0].user_span if self.first_item is not None else _statements(self.program)[0].origin.user_span
        return [Diagnostic("NP500", span, f"internal error: an emitted manifest cannot be read back: {why}", "nothing was written; please report this with the input that caused it")]


def compare_batches(batches, limit: int):
    """The proof's comparison, batch by batch: (intended, universe, differences) for each batch of
    (intended, actual, which namespaces' pods to compare), until `limit` differences are found.

    Each batch's universe is freed before the next is built (its index refers back to it, and the
    cycle collector is paused during a build): memory stays that of one batch.
    """
    found = 0
    for mine, theirs, subjects in batches:
        universe = engine.representative_universe([mine, theirs])
        atoms = engine.port_atoms([mine, theirs], universe)
        pods = [pod for pod in universe.pods if subjects(pod.namespace)]
        differences = engine.compare(engine.Reach(mine, universe, atoms), engine.Reach(theirs, universe, atoms), limit - found, pods)
        yield mine, universe, differences
        found += len(differences)
        universe.drop_index()
        del universe, atoms, pods
        if found >= limit:
            return


def rule_fits(rule: engine.Rule, policy_namespace: str, peer, atom, universe: engine.Universe) -> tuple[bool, bool]:
    """(whether the rule is about this peer, about this port) for a differing flow: what blames a rule. A named
    port counts as this port (which number it resolves to is the pod's)."""
    peer_ok = not rule.peers or any(p.matches(peer, policy_namespace, universe) for p in rule.peers)
    port_ok = not rule.ports or any(
        p.protocol == atom.protocol and (p.port is None or isinstance(p.port, str) or p.port <= atom.number <= (p.end_port or p.port)) for p in rule.ports
    )
    return peer_ok, port_ok


BATCH_POLICIES = 2000  # namespaces are proven in batches of about this many policies: small universes, few of them


def batches(intended: engine.PolicySet, actual: engine.PolicySet, only=None):
    """The proof's batches over two policy sets already read (the importer's proof)."""
    by_namespace = actual.by_namespace
    cluster = list(actual.cluster)

    def read(batch):
        return [p for n in batch for p in by_namespace.get(n, ())]

    for planned in plan_batches(intended, by_namespace, cluster, only):
        yield batch_sets(planned, intended, read, cluster)


class Batch(NamedTuple):
    """The namespaces whose pods one batch compares; with `rest`, every namespace but those (under the cluster policies)."""

    namespaces: tuple[str, ...]
    rest: bool = False


def plan_batches(intended: engine.PolicySet, written: dict, actual_cluster: list, only=None) -> list[Batch]:
    """The proof, split by the namespace of the pods compared; last, when there are cluster policies, the
    pods of namespaces with no NetworkPolicy (compared once, under the cluster policies).

    A pod's sides depend only on the NetworkPolicies of its own namespace and on the cluster
    policies, so namespaces are proven in batches, each over a universe built from the
    batch's policies alone (memory stays linear in the program: one batch lives at a time).
    `written`: namespace -> its emitted policies (what is counted).
    """
    namespaces = sorted(set(intended.by_namespace) | set(written))
    if only is not None:
        namespaces = [n for n in namespaces if n in only]
    plan: list[Batch] = []
    batch: list[str] = []
    size = 0
    for position, namespace in enumerate(namespaces):
        batch.append(namespace)
        size += len(intended.by_namespace.get(namespace, ())) + len(written.get(namespace, ()))
        if size < BATCH_POLICIES and position + 1 < len(namespaces):
            continue
        plan.append(Batch(tuple(batch)))
        batch, size = [], 0
    if intended.cluster or actual_cluster:
        plan.append(Batch(tuple(namespaces), rest=True))
    return plan


def batch_sets(planned: Batch, intended: engine.PolicySet, read, actual_cluster: list):
    """(intended, actual, which namespaces' pods to compare) of one planned batch; `read(namespaces)`: their policies, read back."""
    cluster = list(intended.cluster), actual_cluster
    if planned.rest:
        held = set(planned.namespaces)
        return engine.PolicySet(cluster[0]), engine.PolicySet(cluster[1]), lambda name: name not in held
    members = set(planned.namespaces)
    mine = engine.PolicySet([p for n in planned.namespaces for p in intended.by_namespace.get(n, ())] + cluster[0])
    theirs = engine.PolicySet(read(list(planned.namespaces)) + cluster[1])
    return mine, theirs, members.__contains__


def _difference(difference: engine.Difference, intended: engine.PolicySet, universe: engine.Universe, program: ir.Program) -> Diagnostic:
    from .flows import name

    subject = difference.subject
    direction, peer, atom = difference.direction, difference.peer, difference.atom

    def rank(policy: engine.Policy) -> tuple:
        # The intent whose rule is about this peer and port first, then about the port, the peer, any rule; isolation last.
        rules = policy.rules(direction)
        fits = [rule_fits(r, policy.namespace, peer, atom, universe) for r in rules]
        both = any(a and b for a, b in fits)
        return (not both, not any(b for _, b in fits), not any(a for a, _ in fits), not rules)

    involved = sorted(intended.selecting(subject), key=rank) or intended.selecting_cluster(subject, universe) or list(intended.items)
    source, destination = difference.flow()
    said = "allow" if difference.first_allows else "deny"
    did = "deny" if difference.first_allows else "allow"
    by_intent = _intent_of(involved[0], program)
    return Diagnostic(
        "NP500",
        by_intent.origin.user_span,
        f"internal error: the manifests would {did} {difference.direction} {name(source, universe)} -> {name(destination, universe)} "
        f"on {atom.number}/{atom.protocol}, but the intents {said} it",
        "nothing was written; please report this with the input that caused it",
        related=tuple((_intent_of(p, program).origin.user_span, "intent involved") for p in involved[1:4]),
    )


def _statements(program: ir.Program) -> list:
    return list(program.intents) + list(program.cluster)


def _intent_of(policy, program: ir.Program):
    """The intent (or cluster rule) an intent-model policy was made from."""
    statements = _statements(program)
    for intent in statements:
        if intent.origin.describe() == policy.intent and f"{intent.origin.user_span.file}:{intent.origin.user_span.line}" == policy.source:
            return intent
    return statements[0]
