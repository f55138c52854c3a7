"""The compiler proves its output: the meaning of the intents, computed from the intents, against the emitted manifests."""

from __future__ import annotations

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
    return engine.PolicySet(policies)


def prove(program: ir.Program, emitted: list[Emitted]) -> list[Diagnostic]:
    """NP500 for each flow where the manifests and the intents disagree (none when the compiler is right)."""
    with engine.paused_gc():
        return _prove(program, emitted)


def _prove(program: ir.Program, emitted: list[Emitted]) -> list[Diagnostic]:
    intended = intent_model(program)
    try:
        actual = engine.load_policies(item.manifest() for item in emitted)
    except engine.PolicyError as err:
        span = emitted[0].intent.origin.user_span if emitted else program.intents[0].origin.user_span
        return [Diagnostic("NP500", span, f"internal error: an emitted manifest cannot be read back: {err}", "nothing was written; please report this with the input that caused it")]
    universe = engine.representative_universe([intended, actual])
    atoms = engine.port_atoms([intended, actual], universe)
    differences = engine.compare(engine.Reach(intended, universe, atoms), engine.Reach(actual, universe, atoms))
    from .flows import name

    out = []
    for difference in differences:
        subject = difference.subject
        direction, peer, atom = difference.direction, difference.peer, difference.atom

        def rank(policy: engine.Policy) -> tuple:
            # The intent whose rule is about this peer and port first, then about the port, the peer, any rule; isolation last.
            rules = policy.rules(direction)
            peer_ok = [not r.peers or any(p.matches(peer, policy.namespace, universe) for p in r.peers) for r in rules]
            port_ok = [not r.ports or any(p.protocol == atom.protocol and (p.port is None or isinstance(p.port, str) or p.port <= atom.number <= (p.end_port or p.port)) for p in r.ports) for r in rules]
            both = any(a and b for a, b in zip(peer_ok, port_ok))
            return (not both, not any(port_ok), not any(peer_ok), not rules)

        involved = sorted(intended.selecting(subject), key=rank) or list(intended.policies)
        source, destination = difference.flow()
        said = "allow" if difference.first_allows else "deny"
        did = "deny" if difference.first_allows else "allow"
        by_intent = _intent_of(involved[0], program)
        out.append(
            Diagnostic(
                "NP500",
                by_intent.origin.user_span,
                f"internal error: the manifests would {did} {difference.direction} {name(source, universe)} -> {name(destination, universe)} "
                f"on {atom.number}/{atom.protocol}, but the intents {said} it",
                "nothing was written; please report this with the input that caused it",
                related=tuple((_intent_of(p, program).origin.user_span, "intent involved") for p in involved[1:4]),
            )
        )
    return out


def _intent_of(policy: engine.Policy, program: ir.Program) -> ir.Intent:
    for intent in program.intents:
        if intent.origin.describe() == policy.intent and f"{intent.origin.user_span.file}:{intent.origin.user_span.line}" == policy.source:
            return intent
    return program.intents[0]
