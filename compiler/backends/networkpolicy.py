"""Backend for NetworkPolicy (networking.k8s.io/v1): one small policy per namespace intent and side, with stable readable names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import ir

MANAGED_BY = {"app.kubernetes.io/managed-by": "netpolc"}
SOURCE_ANNOTATION = "netpolc.io/source"
INTENT_ANNOTATION = "netpolc.io/intent"


def metadata(name: str, origin, namespace: str | None = None) -> dict:
    """Every object's metadata, in one key order: its name, namespace (unless cluster-scoped), managed-by label,
    and the annotations that point back to the line it came from."""
    out: dict = {"name": name}
    if namespace is not None:
        out["namespace"] = namespace
    out["labels"] = dict(MANAGED_BY)
    out["annotations"] = {SOURCE_ANNOTATION: f"{origin.user_span.file}:{origin.user_span.line}", INTENT_ANNOTATION: origin.describe()}
    return out
MAX_NAME = 63


@dataclass(slots=True)  # one per manifest: tens of thousands in a big program
class Emitted:
    """One manifest and the intent it came from."""

    namespace: str
    name: str
    spec: dict
    intent: ir.Intent
    side: str  # "ingress", "egress" or "both"
    subject: ir.LabelSelector | None = None  # the podSelector, as the IR has it (names are made from it)

    kind = "NetworkPolicy"

    @property
    def path(self) -> str:
        """Where `compile -o DIR` writes it, relative to DIR."""
        return f"{self.namespace}/{self.name}.yaml"

    @property
    def origins(self) -> tuple[ir.Origin, ...]:
        return (self.intent.origin,)

    def manifest(self) -> dict:
        origin = self.intent.origin
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(self.name, origin, self.namespace),
            "spec": self.spec,
        }


def egress_isolations(program: ir.Program) -> dict[str, list[ir.LabelSelector]]:
    """Per namespace, the subjects whose egress is isolated (`deny all|egress`, `egress only`)."""
    found: dict[str, list[ir.LabelSelector]] = {}
    for intent in program.intents:
        if isinstance(intent, ir.Isolate) and "egress" in intent.directions or isinstance(intent, ir.Only) and intent.direction == "egress":
            subjects = found.setdefault(intent.namespace, [])
            if intent.subject not in subjects:
                subjects.append(intent.subject)
    return found


def egress_subjects(source: ir.Pods, isolations: dict[str, list[ir.LabelSelector]]) -> list[ir.LabelSelector]:
    """The selectors to put A's egress rule on: A narrowed to each isolated subject it overlaps.

    Emitting the rule on all of A would isolate A's pods that nothing isolates, which
    would block their other traffic; narrowing to A AND S isolates nobody new.
    """
    if source.namespace.kind != "named":
        return []
    subjects = isolations.get(source.namespace.name, [])
    if any(subject.covers(source.selector) for subject in subjects):
        return [source.selector]
    narrowed = []
    for subject in subjects:
        both = source.selector.intersect(subject)
        if both is not None and both not in narrowed:
            narrowed.append(both)
    return narrowed


def ingress_target(destination: ir.Peer, managed: set[str]) -> ir.Pods | None:
    """Destination pods whose ingress this program writes: pods of a namespace it manages."""
    if isinstance(destination, ir.Pods) and destination.namespace.kind == "named" and destination.namespace.name in managed:
        return destination
    return None


def emit(program: ir.Program, expand_ranges: int = 0) -> list[Emitted]:
    """Every manifest of the program, deduplicated, named, in a stable order.

    `expand_ranges` N > 0 writes each port range of at most N ports as single ports (for CNIs
    that ignore endPort); the expansion is exact, and the proof checks it like any rule.
    """
    from ..fqdn import name_intents

    managed = set(program.namespaces)
    isolations = egress_isolations(program)
    names = set(map(id, name_intents(program)))  # NetworkPolicy has no DNS names: their backend writes them (emit.py)
    out: list[Emitted] = []
    for intent in program.intents:
        if id(intent) not in names:
            out.extend(_emit_intent(intent, managed, isolations, expand_ranges))
    return _name(_dedupe(out))


def expand_ports(ports: tuple[ir.PortRange, ...], limit: int) -> tuple[ir.PortRange, ...]:
    """Ranges of at most `limit` ports as single ports, in order, each port once."""
    out: list[ir.PortRange] = []
    for port in ports:
        if limit and port.end_port is not None and port.end_port - port.port + 1 <= limit:
            out.extend(ir.PortRange(port.protocol, number) for number in range(port.port, port.end_port + 1))
        else:
            out.append(port)
    return tuple(dict.fromkeys(out))


def _emit_intent(intent: ir.Intent, managed: set[str], isolations, expand_ranges: int = 0) -> list[Emitted]:
    if isinstance(intent, ir.Isolate):
        types = [d.capitalize() for d in ("ingress", "egress") if d in intent.directions]
        spec = {"podSelector": intent.subject.to_k8s(), "policyTypes": types}
        side = "both" if len(types) == 2 else intent.directions[0]
        return [Emitted(intent.namespace, "", spec, intent, side)]
    if isinstance(intent, ir.Only):
        key, peer_key = ("ingress", "from") if intent.direction == "ingress" else ("egress", "to")
        spec = {
            "podSelector": intent.subject.to_k8s(),
            "policyTypes": [intent.direction.capitalize()],
            key: [_rule(peer_key, intent.peer, intent.namespace, expand_ports(intent.ports, expand_ranges))],
        }
        return [Emitted(intent.namespace, "", spec, intent, intent.direction)]
    out = []
    ports = expand_ports(intent.ports, expand_ranges)
    target = ingress_target(intent.destination, managed)
    if target is not None:
        namespace = target.namespace.name
        spec = {
            "podSelector": target.selector.to_k8s(),
            "policyTypes": ["Ingress"],
            "ingress": [_rule("from", intent.source, namespace, ports)],
        }
        out.append(Emitted(namespace, "", spec, intent, "ingress", target.selector))
    if isinstance(intent.source, ir.Pods):
        namespace = intent.source.namespace.name
        for subject in egress_subjects(intent.source, isolations):
            spec = {
                "podSelector": subject.to_k8s(),
                "policyTypes": ["Egress"],
                "egress": [_rule("to", intent.destination, namespace, ports)],
            }
            out.append(Emitted(namespace, "", spec, intent, "egress", subject))
    return out


def _rule(peer_key: str, peer: ir.Peer, policy_namespace: str, ports: tuple[ir.PortRange, ...]) -> dict:
    # `world` is a rule without `from`/`to`: every source or destination, the one form every CNI
    # enforces the same (naming 0.0.0.0/0 and ::/0 instead needs IPv6 and pod-IP matching).
    rule: dict = {} if isinstance(peer, ir.World) else {peer_key: peers_k8s(peer, policy_namespace)}
    if ports:
        rule["ports"] = [port_k8s(p) for p in ports]
    return rule


def peers_k8s(peer: ir.Peer, policy_namespace: str) -> list[dict]:
    """The NetworkPolicyPeer entries for a peer, written from inside `policy_namespace`."""
    if isinstance(peer, ir.Block):
        block: dict = {"cidr": peer.cidr}
        if peer.excepts:
            block["except"] = list(peer.excepts)
        return [{"ipBlock": block}]
    entry: dict = {}
    ref = peer.namespace
    if ref.kind == "named" and ref.name == policy_namespace:
        entry["podSelector"] = peer.selector.to_k8s()
        return [entry]
    if ref.kind == "named":
        entry["namespaceSelector"] = {"matchLabels": {ir.NAME_LABEL: ref.name}}
    else:
        entry["namespaceSelector"] = ref.selector.to_k8s() if ref.kind == "labelled" else {}
    if not peer.selector.is_empty:
        entry["podSelector"] = peer.selector.to_k8s()
    return [entry]


def port_k8s(port: ir.PortRange) -> dict:
    out: dict = {"protocol": port.protocol}
    if port.port is not None:
        out["port"] = port.port
    if port.end_port is not None:
        out["endPort"] = port.end_port
    return out


# ---------------------------------------------------------------- names


def _dedupe(emitted: list[Emitted]) -> list[Emitted]:
    """The same policy twice (e.g. `deny all` and `use default-deny`) is emitted once, from its first intent."""
    seen: dict[tuple, Emitted] = {}
    for item in emitted:
        seen.setdefault((item.namespace, _canonical(item.spec)), item)
    return list(seen.values())


def _canonical(spec: dict) -> str:
    import json  # here, not at the top: `check` imports this module but never emits

    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


_NOT_NAME = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lowercase letters and digits, every other run (dashes included) one dash: never two dashes in a row."""
    return _NOT_NAME.sub("-", text.lower()).strip("-")


def selector_words(selector: ir.LabelSelector) -> str:
    if selector.is_empty:
        return "all"
    words = [v for _, v in selector.match_labels]
    for e in selector.match_expressions:
        if e.operator == "In":
            words.append("-".join(e.values))
        elif e.operator == "NotIn":
            words.append("not-" + "-".join(e.values))
        elif e.operator == "Exists":
            words.append(e.key.rpartition("/")[2])
        else:
            words.append("no-" + e.key.rpartition("/")[2])
    return "-".join(words)


def peer_words(peer: ir.Peer, policy_namespace: str) -> str:
    if isinstance(peer, ir.World):
        return "world"
    if isinstance(peer, ir.Name):  # `*.stripe.com` -> any-stripe-com, `**.stripe.com` -> all-stripe-com
        return peer.name.rstrip(".").replace("**", "all").replace("*", "any")
    if isinstance(peer, ir.Block):
        words = {"0.0.0.0/0": "any-ipv4", "::/0": "any-ipv6"}.get(peer.cidr) or peer.cidr.replace(":", "-").replace("/", "-")
        return words + ("-except" if peer.excepts else "")
    ref, selector = peer.namespace, peer.selector
    if ref.kind == "named" and ref.name == policy_namespace:
        return selector_words(selector)
    if ref.kind == "named":
        return ref.name if selector.is_empty else f"{ref.name}-{selector_words(selector)}"
    if ref.kind == "all":
        return "cluster" if selector.is_empty else f"any-ns-{selector_words(selector)}"
    return f"ns-{selector_words(ref.selector)}" + ("" if selector.is_empty else f"-{selector_words(selector)}")


def ports_words(ports: tuple[ir.PortRange, ...]) -> str:
    only_tcp = all(port.protocol == "TCP" for port in ports)
    words = []
    for port in ports:
        text = "all" if port.port is None else str(port.port) + (f"-{port.end_port}" if port.end_port else "")
        words.append(text if only_tcp else f"{text}-{port.protocol}")
    return "-".join(words)


def base_name(item: Emitted) -> str:
    intent = item.intent
    if isinstance(intent, ir.Isolate):
        subject = selector_words(intent.subject)
        direction = "all" if item.side == "both" else item.side
        name = f"deny-{direction}" if intent.subject.is_empty else f"{subject}-deny-{direction}"
    elif isinstance(intent, ir.Only):
        subject = "" if intent.subject.is_empty else selector_words(intent.subject) + "-"
        verb = "egress-only-to" if intent.direction == "egress" else "ingress-only-from"
        name = f"{subject}{verb}-{peer_words(intent.peer, intent.namespace)}"
        if intent.ports:
            name += f"-{ports_words(intent.ports)}"
    elif item.side == "ingress":
        name = f"{selector_words(_subject(item))}-allow-from-{peer_words(intent.source, item.namespace)}"
        if intent.ports:
            name += f"-{ports_words(intent.ports)}"
    else:
        name = f"{selector_words(_subject(item))}-allow-to-{peer_words(intent.destination, item.namespace)}"
        if intent.ports:
            name += f"-{ports_words(intent.ports)}"
    name = slug(name) or "policy"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 7].rstrip("-") + "-" + _short_hash(name)
    return name


def _subject(item: Emitted) -> ir.LabelSelector:
    """The podSelector of an allow's object: the IR's, or read back from the spec (an object made elsewhere)."""
    return item.subject if item.subject is not None else ir.LabelSelector.from_k8s(item.spec["podSelector"])


def _name(emitted: list[Emitted]) -> list[Emitted]:
    by_name: dict[tuple[str, str], list[Emitted]] = {}
    for item in emitted:
        by_name.setdefault((item.namespace, base_name(item)), []).append(item)
    for (namespace, name), items in by_name.items():
        if len(items) == 1:
            items[0].name = name
            continue
        # Different policies that read the same: tell them apart by a hash of their content.
        for item in items:
            suffix = _short_hash(_canonical(item.spec))
            item.name = name[: MAX_NAME - 7].rstrip("-") + "-" + suffix
    return sorted(emitted, key=lambda e: (e.namespace, e.name))
