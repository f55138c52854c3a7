"""Meaning checks on the IR that need no target: dead, duplicate and covered intents, missing DNS."""

from __future__ import annotations

import ipaddress
import itertools

from . import engine, ir
from .diagnostics import Diagnostic
from .emit import egress_isolations, egress_subjects, ingress_target

# Where DNS answers on the platforms the stdlib `dns*` modules cover.
DNS_PROBES = (
    ("kube-system", {"k8s-app": "kube-dns"}, 53),  # CoreDNS / kube-dns
    ("openshift-dns", {"dns.operator.openshift.io/daemonset-dns": "default"}, 5353),  # OpenShift
)
NODE_LOCAL_DNS = "169.254.20.10"


def analyze(program: ir.Program, only: set[int] | None = None, model: engine.PolicySet | None = None) -> list[Diagnostic]:
    """The findings of the program; with `only` (ids of intents), just the findings at those intents, judged against the whole program.

    `model`: the program's `verify.intent_model`, when the caller has it (the build makes it once for the proof too).

    An incremental build (`incremental.Cache`) asks for the intents a change can reach; it never
    passes `only` for a program with cluster sections.
    """
    out: list[Diagnostic] = []
    out += _duplicates_and_covered(program, only)
    out += _covered_only(program, only)
    out += _only_widened(program, only)
    out += _no_effect(program, only)
    out += _egress_without_dns(program, only, model)
    if program.cluster:
        out += _shadowed_cluster_rules(program)
        out += _allows_cut_by_admin(program)
        out += _cluster_names_without_dns(program, model)
    return out


def _cluster_names_without_dns(program: ir.Program, model: engine.PolicySet | None = None) -> list[Diagnostic]:
    """NP616 for cluster rules to DNS names whose pods cannot query DNS: `domainNames` grants no DNS,
    and the usual allowlist (`allow S to NAME`, then `deny S to world`) cuts it too."""
    from .verify import intent_model

    rules = [rule for rule in program.cluster if isinstance(rule.destination, ir.Name)]
    if not rules:
        return []
    model = model or intent_model(program)
    out = []
    for rule in rules:
        ref = rule.source.namespace
        home = ref.name if ref.kind == "named" else engine.OTHER_NAMESPACE
        labels = (ref.selector.witness() or {}) if ref.kind == "labelled" else {}
        namespaces = (engine.Namespace(home, labels), *(engine.Namespace(ns) for ns, _, _ in DNS_PROBES if ns != home))
        servers = [engine.Pod(ns, "dns", dns_labels) for ns, dns_labels, _ in DNS_PROBES]
        client = engine.Pod(home, "client", rule.source.selector.witness() or {})
        universe = engine.Universe(namespaces, (client, *servers), (engine.Address(NODE_LOCAL_DNS),))
        targets = [(server, port) for server, (_, _, port) in zip(servers, DNS_PROBES)] + [(universe.addresses[0], 53)]
        if not any(engine.evaluate(model, universe, client, server, port, "UDP").allowed for server, port in targets):
            out.append(
                Diagnostic(
                    "NP616",
                    rule.origin.user_span,
                    f"`{rule.destination}` can never be resolved by these pods: ClusterNetworkPolicy `domainNames` grants no DNS, "
                    "and the cluster rules leave them none, so the lookup fails and the connection is never made",
                    "allow DNS before the deny: `allow S to k8s-app=kube-dns in namespace kube-system:53/udp,53/tcp` in this section",
                )
            )
    return out


def peer_covers(outer: ir.Peer, inner: ir.Peer) -> bool:
    """Every endpoint of `inner` is in `outer` (judged from how they are written)."""
    if outer == inner or isinstance(outer, ir.World):
        return True
    if isinstance(outer, ir.Pods) and isinstance(inner, ir.Pods):
        same_namespaces = outer.namespace == inner.namespace or outer.namespace.kind == "all"
        return same_namespaces and outer.selector.covers(inner.selector)
    if isinstance(outer, ir.Block) and isinstance(inner, ir.Block):
        wide, narrow = outer.network(), inner.network()
        if wide.version != narrow.version or not narrow.subnet_of(wide):
            return False
        # Each hole in the wide block must miss the narrow one, or be one of its own holes.
        inner_holes = [ipaddress.ip_network(h) for h in inner.excepts]
        for hole in map(ipaddress.ip_network, outer.excepts):
            if hole.overlaps(narrow) and not any(hole.subnet_of(h) for h in inner_holes):
                return False
        return True
    return False


def _destination_covers(outer: ir.Peer, inner: ir.Peer) -> bool:
    """Like peer_covers, but pods must be in the same namespace: an allow to pods also
    writes their ingress policy, which a wider destination (`cluster`) does not."""
    if isinstance(inner, ir.Pods):
        return isinstance(outer, ir.Pods) and outer.namespace == inner.namespace and outer.selector.covers(inner.selector)
    return peer_covers(outer, inner)


def _covering_destinations(destination: ir.Peer):
    """Every destination an allow could name that covers `destination` (see _destination_covers):
    the same pods with a subset of the selector's terms, a supernet, `world`. Looking these up
    in an index keeps the covered-allow check linear in the size of the program."""
    if isinstance(destination, ir.Pods):
        terms = [(True, t) for t in destination.selector.match_labels] + [(False, e) for e in destination.selector.match_expressions]
        if len(terms) > 6:  # 2^n subsets: beyond this only the obvious ones
            yield destination
            yield ir.Pods(destination.namespace, ir.EVERYTHING)
            return
        for size in range(len(terms) + 1):
            for subset in itertools.combinations(terms, size):
                labels = [t for is_label, t in subset if is_label]
                expressions = [t for is_label, t in subset if not is_label]
                yield ir.Pods(destination.namespace, ir.LabelSelector.of(labels, expressions))
    elif isinstance(destination, ir.Block):
        yield ir.World()
        network = destination.network()
        yield destination
        for prefix in range(network.prefixlen + 1):
            yield ir.Block(str(network.supernet(new_prefix=prefix)))
    else:
        yield destination


def _source_key(source: ir.Peer) -> tuple:
    if isinstance(source, ir.Pods):
        return ("pods", source.namespace)
    return ("world",) if isinstance(source, ir.World) else ("block",)


def _covering_source_keys(source: ir.Peer) -> list[tuple]:
    """The source keys whose allows may cover this source (see peer_covers)."""
    if isinstance(source, ir.Pods):
        return [("pods", source.namespace), ("pods", ir.NamespaceRef("all")), ("world",)]
    return [("world",)] if isinstance(source, ir.World) else [("block",), ("world",)]


def _duplicates_and_covered(program: ir.Program, only: set[int] | None = None) -> list[Diagnostic]:
    out = []
    intents = program.intents if only is None else _covering_context(program.intents, only)
    allows = [i for i in intents if isinstance(i, ir.Allow)]
    first_of: dict[tuple, ir.Intent] = {}
    for intent in intents:
        first = first_of.setdefault(ir.intent_key(intent), intent)
        if first is not intent and intent.origin.user_span != first.origin.user_span and (only is None or id(intent) in only):
            out.append(
                Diagnostic(
                    "NP402",
                    intent.origin.user_span,
                    f"`{intent.origin.describe()}` is already stated",
                    "remove one of the two lines",
                    related=((first.origin.user_span, "first stated here"),),
                )
            )
    # Allows indexed by (destination, kind of source): only a source of the same namespace, of every
    # namespace, or `world` can cover a pod source, so a destination shared by every namespace
    # (CoreDNS) does not make the check quadratic.
    by_destination: dict[tuple, list[ir.Allow]] = {}
    for intent in allows:
        if first_of[ir.intent_key(intent)] is intent:
            by_destination.setdefault((intent.destination, _source_key(intent.source)), []).append(intent)
    position = {id(intent): i for i, intent in enumerate(allows)}
    covering: dict[ir.Peer, set] = {}  # destinations repeat (the same pods named by many allows): their covers, made once
    for intent in allows:
        if first_of[ir.intent_key(intent)] is not intent or only is not None and id(intent) not in only:
            continue
        sources = _covering_source_keys(intent.source)
        covers = covering.get(intent.destination)
        if covers is None:
            covers = covering[intent.destination] = set(_covering_destinations(intent.destination))
        candidates = sorted(
            (o for d in covers for k in sources for o in by_destination.get((d, k), ())),
            key=lambda o: position[id(o)],
        )
        for other in candidates:
            if other is intent or ir.intent_key(other) == ir.intent_key(intent):
                continue
            if (
                peer_covers(other.source, intent.source)
                and _destination_covers(other.destination, intent.destination)
                and ir.ports_contain(other.ports, intent.ports)
            ):
                out.append(_covered(intent, other))
                break
    return out


def _covered(intent, other) -> Diagnostic:
    """NP403: `intent` allows nothing that `other` does not."""
    return Diagnostic(
        "NP403",
        intent.origin.user_span,
        f"`{intent.origin.describe()}` is already covered by `{other.origin.describe()}`",
        "remove this line, or narrow the wider one if it allows more than you meant",
        related=((other.origin.user_span, "covered by this intent"),),
    )


def _covering_context(intents: list, only: set[int]) -> list:
    """The intents, in order, that the duplicate and covered checks of the intents in `only` read.

    A duplicate has the same namespace; an allow that covers another has a destination of the
    same namespace (or, for addresses, a source of the same namespace) or names namespaces by
    labels. Intents of one key are alike, so each key is kept whole (which is first stays right).
    """
    asked = [i for i in intents if id(i) in only]
    homes = {i.namespace for i in asked}
    targets, sources = set(), set()
    for intent in asked:
        if isinstance(intent, ir.Allow):
            destination, source = intent.destination, intent.source
            if isinstance(destination, ir.Pods) and destination.namespace.kind == "named":
                targets.add(destination.namespace.name)
            elif not isinstance(destination, ir.Pods) and isinstance(source, ir.Pods) and source.namespace.kind == "named":
                sources.add(source.namespace.name)

    def read(intent) -> bool:
        if intent.namespace in homes:
            return True
        if not isinstance(intent, ir.Allow):
            return False
        destination, source = intent.destination, intent.source
        if isinstance(destination, ir.Pods):
            return destination.namespace.kind != "named" or destination.namespace.name in targets
        return not (isinstance(source, ir.Pods) and source.namespace.kind == "named") or source.namespace.name in sources

    return [i for i in intents if read(i)]


def _no_effect(program: ir.Program, only: set[int] | None = None) -> list[Diagnostic]:
    out = []
    managed = set(program.namespaces)
    isolations = egress_isolations(program)
    any_egress_isolation = bool(isolations)
    for intent in program.intents:
        if not isinstance(intent, ir.Allow) or only is not None and id(intent) not in only:
            continue
        source, destination = intent.source, intent.destination
        writes_ingress = ingress_target(destination, managed) is not None
        writes_egress = isinstance(source, ir.Pods) and bool(egress_subjects(source, isolations))
        if isinstance(source, ir.Pods) and source.namespace.kind != "named" and any_egress_isolation:
            out.append(
                Diagnostic(
                    "NP407",
                    intent.origin.user_span,
                    f"the source `{source}` gets no egress rule: netpolc writes egress rules only for pods of a named namespace",
                    "if those pods' namespace isolates egress, allow this flow there too (e.g. `allow ... to ...` in that namespace)",
                )
            )
        if isinstance(source, ir.World) and isolations.get(intent.namespace):
            # `world` holds the namespace's own pods too, and an allow from world writes them no egress rule.
            out.append(
                Diagnostic(
                    "NP407",
                    intent.origin.user_span,
                    f"the source `world` includes the pods of namespace {intent.namespace}, whose egress is isolated here, and they get no egress rule: netpolc writes egress rules only for pod sources",
                    f"if those pods should reach it too, add `allow any to {_destination_text(destination)}{_ports_suffix(intent.ports)}` in namespace {intent.namespace}",
                )
            )
        if writes_ingress or writes_egress:
            continue
        if isinstance(source, ir.Pods) and source.namespace.kind == "named":
            why_source = f"the egress of `{source.selector}` in namespace {source.namespace.name} is not isolated (no `deny all`, `deny egress` or `egress only` selects it)"
            fix = f"add `deny egress` or `use default-deny` in namespace {source.namespace.name} if it should be restricted"
        else:
            why_source = f"the source `{source}` is not pods of a named namespace"
            fix = "name the source's namespace"
        if isinstance(destination, ir.Pods) and destination.namespace.kind == "named":
            why_destination = f"namespace {destination.namespace.name} is not part of this program, so its ingress is not written"
            fix += f", or add the files of namespace {destination.namespace.name} to the program"
        elif isinstance(destination, ir.Pods):
            why_destination = "the destination's namespaces are chosen by labels, so no ingress policy can be placed for them"
        elif isinstance(destination, ir.World):
            why_destination = "the destination `world` is every address and every pod, for which no single ingress policy can be placed"
        else:
            why_destination = (
                "the destination is a DNS name outside the cluster, which has no ingress policy"
                if isinstance(destination, ir.Name)
                else "the destination is addresses, which have no ingress policy"
            )
        out.append(
            Diagnostic(
                "NP401",
                intent.origin.user_span,
                f"this allow has no effect: {why_source}, and {why_destination}",
                fix + "; otherwise remove the line",
            )
        )
    return out


def _destination_text(destination: ir.Peer) -> str:
    if isinstance(destination, ir.Pods) and destination.namespace.kind == "named":
        return str(destination.selector) if not destination.selector.is_empty else f"namespace {destination.namespace.name}"
    return str(destination)


def _covered_only(program: ir.Program, only: set[int] | None = None) -> list[Diagnostic]:
    """NP403 for `only` lines: `ingress only from world:80` next to `ingress only from world` adds nothing."""
    out = []
    onlys = [i for i in program.intents if isinstance(i, ir.Only)]
    by_side: dict[tuple, list[ir.Only]] = {}
    for intent in onlys:
        by_side.setdefault((intent.namespace, intent.direction), []).append(intent)
    for group in by_side.values():
        for intent in group:
            if only is not None and id(intent) not in only:
                continue
            for other in group:
                if other is intent or ir.intent_key(other) == ir.intent_key(intent):
                    continue  # the same line twice is NP402
                if (
                    other.subject.covers(intent.subject)
                    and peer_covers(other.peer, intent.peer)
                    and ir.ports_contain(other.ports, intent.ports)
                    and not (_only_covers(intent, other) and onlys.index(intent) < onlys.index(other))
                ):
                    out.append(_covered(intent, other))
                    break
    return out


def _only_covers(outer: ir.Only, inner: ir.Only) -> bool:
    return outer.subject.covers(inner.subject) and peer_covers(outer.peer, inner.peer) and ir.ports_contain(outer.ports, inner.ports)


def _only_widened(program: ir.Program, asked: set[int] | None = None) -> list[Diagnostic]:
    """NP430: an `allow` that gives pods an `only` line restricts a flow outside it (Kubernetes unions
    the rules of every policy, so "only" would not be only). Allows from stdlib modules (`use dns`)
    are the namespace's infrastructure and not reported."""
    out = []
    onlys = [i for i in program.intents if isinstance(i, ir.Only)]
    if not onlys:
        return out
    managed = set(program.namespaces)
    by_namespace: dict[str, list[ir.Only]] = {}  # an allow can widen only the `only` lines of its pods' namespace
    for only in onlys:
        by_namespace.setdefault(only.namespace, []).append(only)
    for intent in program.intents:
        if not isinstance(intent, ir.Allow) or intent.origin.module or asked is not None and id(intent) not in asked:
            continue
        near = {
            pods.namespace.name
            for pods in (intent.source, intent.destination)
            if isinstance(pods, ir.Pods) and pods.namespace.kind == "named"
        }
        for only in (o for name in sorted(near) for o in by_namespace.get(name, ())):
            if only.direction == "egress":
                pods, peer = intent.source, intent.destination
                if not isinstance(pods, ir.Pods) or pods.namespace != ir.NamespaceRef("named", only.namespace):
                    continue
            else:
                pods, peer = intent.destination, intent.source
                if ingress_target(pods, managed) is None or pods.namespace.name != only.namespace:
                    continue
            overlap = pods.selector.intersect(only.subject)
            if overlap is None or (peer_covers(only.peer, peer) and ir.ports_contain(only.ports, intent.ports)):
                continue
            who = "pods" if only.subject.is_empty else f"pods `{only.subject}`"
            if only.direction == "egress":
                what = f"{who} may also send to `{_destination_text(peer)}{_ports_suffix(intent.ports)}`"
                rewrite = f"`deny egress{_for(only)}` and `allow {_for_subject(only)} to {_destination_text(only.peer)}{_ports_suffix(only.ports)}`"
            else:
                what = f"{who} may also receive from `{_destination_text(peer)}`" + (f" on {_ports_suffix(intent.ports)[1:]}" if intent.ports else "")
                rewrite = f"`deny ingress{_for(only)}` and `allow {_destination_text(only.peer)} to {_for_subject(only)}{_ports_suffix(only.ports)}`"
            out.append(
                Diagnostic(
                    "NP430",
                    intent.origin.user_span,
                    f"this allow widens `{only.origin.describe()}` (line {only.origin.user_span.line}): {what}, since Kubernetes adds up the rules of every policy",
                    f"if `only` is meant, remove this allow; if both are meant, replace the `only` line by {rewrite}, so that no line says only",
                    related=((only.origin.user_span, "the `only` line it widens"),),
                )
            )
            break
    return out


def _for(only: ir.Only) -> str:
    return "" if only.subject.is_empty else f" for {only.subject}"


def _for_subject(only: ir.Only) -> str:
    return "any" if only.subject.is_empty else str(only.subject)


def _ports_suffix(ports: tuple[ir.PortRange, ...]) -> str:
    return ":" + ",".join(_port_text(p) for p in ports) if ports else ""


def _port_text(port: ir.PortRange) -> str:
    """A port as the language writes it (`*/udp` for every port of one protocol)."""
    return f"*/{port.protocol.lower()}" if port.port is None else str(port)


def _egress_without_dns(program: ir.Program, only: set[int] | None = None, model: engine.PolicySet | None = None) -> list[Diagnostic]:
    from .verify import intent_model

    isolating = [
        i
        for i in program.intents
        if isinstance(i, ir.Isolate) and "egress" in i.directions or isinstance(i, ir.Only) and i.direction == "egress"
    ]
    if not isolating:
        return []
    if only is None:
        model = model or intent_model(program)
    else:
        # A pod's egress is decided by the policies of its own namespace: the model of the intents
        # that write into the asked namespaces holds all of those (and is far smaller).
        asked = {i.namespace for i in isolating if id(i) in only}
        if not asked:
            return []
        model = intent_model(ir.Program([i for i in program.intents if _writes_into(i, asked)], [], program.namespaces))
    namespaces = tuple(engine.Namespace(n) for n in sorted({i.namespace for i in isolating} | {ns for ns, _, _ in DNS_PROBES}))
    servers = [engine.Pod(ns, "dns", labels) for ns, labels, _ in DNS_PROBES]
    node_local = engine.Address(NODE_LOCAL_DNS)
    universe = engine.Universe(namespaces, tuple(servers), (node_local,))
    out = []
    seen = set()
    for intent in isolating:
        key = (intent.namespace, intent.subject)
        if key in seen:
            continue
        seen.add(key)  # the first intent of a key is the one reported, whether it is asked for or not
        if only is not None and id(intent) not in only:
            continue
        client = engine.Pod(intent.namespace, "client", intent.subject.witness() or {})
        reachable = any(
            engine.evaluate(model, universe, client, server, port, protocol).egress.allowed
            for server, (_, _, port) in zip(servers, DNS_PROBES)
            for protocol in ("UDP",)
        ) or engine.evaluate(model, universe, client, node_local, 53, "UDP").egress.allowed
        if not reachable:
            who = "pods" if intent.subject.is_empty else f"pods `{intent.subject}`"
            out.append(
                Diagnostic(
                    "NP404",
                    intent.origin.user_span,
                    f"egress of {who} in namespace {intent.namespace} is isolated and DNS is not allowed: name lookups will fail",
                    "add `use dns` to this namespace (or `use dns-node-local` / `use dns-openshift` on those platforms)",
                )
            )
            out += _names_never_resolved(program, intent)
    return out


def _names_never_resolved(program: ir.Program, isolation) -> list[Diagnostic]:
    """NP616: the intents to DNS names of pods that cannot query DNS (the lookup fails, so the connection is never made)."""
    from .fqdn import name_intents, peer_of

    if program.fqdn_backend == "cilium":
        return []  # the CiliumNetworkPolicy carries its own DNS rule for the pods of each name (NP615)
    out = []
    for intent in name_intents(program):
        if isinstance(intent, ir.Only):
            same = intent.namespace == isolation.namespace and isolation.subject.covers(intent.subject)
        else:
            source = intent.source
            same = source.namespace == ir.NamespaceRef("named", isolation.namespace) and source.selector.intersect(isolation.subject) is not None
        if same:
            out.append(
                Diagnostic(
                    "NP616",
                    intent.origin.user_span,
                    f"`{peer_of(intent)}` can never be resolved by these pods: their egress is isolated and DNS is not allowed, "
                    "so the lookup fails and the connection is never made",
                    "add `use dns` to this namespace (the CNI's name rule allows the addresses, not the lookup)",
                )
            )
    return out


def _writes_into(intent, namespaces: set[str]) -> bool:
    """Whether the intent model gives the intent a policy in one of `namespaces` (its own, its source's or its destination's)."""
    if intent.namespace in namespaces:
        return True
    peers = (intent.source, intent.destination) if isinstance(intent, ir.Allow) else ()
    return any(isinstance(p, ir.Pods) and p.namespace.kind == "named" and p.namespace.name in namespaces for p in peers)


# ---------------------------------------------------------------- cluster sections


def _ports_overlap(a: tuple[ir.PortRange, ...], b: tuple[ir.PortRange, ...]) -> bool:
    """Some port is in both (empty means every port); named ports are judged by name."""
    if not a or not b:
        return True
    for x in a:
        for y in b:
            if x.protocol != y.protocol:
                continue
            if x.port is None or y.port is None or isinstance(x.port, str) or isinstance(y.port, str):
                if x.port is None or y.port is None or x.port == y.port or isinstance(x.port, str) != isinstance(y.port, str):
                    return True
                continue
            if x.port <= (y.end_port or y.port) and y.port <= (x.end_port or x.port):
                return True
    return False


def _peers_overlap(a: ir.Peer, b: ir.Peer) -> bool:
    """Some endpoint may be in both (judged from how they are written; unsure means yes)."""
    from .tiers import may_share_pods

    if isinstance(a, ir.World) or isinstance(b, ir.World):
        return True
    if isinstance(a, ir.Pods) and isinstance(b, ir.Pods):
        return may_share_pods(a, b)
    if isinstance(a, ir.Block) and isinstance(b, ir.Block):
        return a.network().overlaps(b.network())
    return True  # pods and addresses: a pod IP may lie in the block


def _covers_rule(outer, inner) -> bool:
    return (
        peer_covers(outer.source, inner.source)
        and peer_covers(outer.destination, inner.destination)
        and ir.ports_contain(outer.ports, inner.ports)
    )


def _shadowed_cluster_rules(program: ir.Program) -> list[Diagnostic]:
    """NP417: a rule of a section that an earlier rule of the same section always decides first."""
    out = []
    earlier: dict[ir.Section, list[ir.ClusterIntent]] = {}
    for rule in program.cluster:
        before = earlier.setdefault(rule.section, [])
        cover = next((other for other in before if other.origin.span != rule.origin.span and _covers_rule(other, rule)), None)
        if cover is not None:
            out.append(
                Diagnostic(
                    "NP417",
                    rule.origin.user_span,
                    f"`{rule.origin.describe()}` never decides anything: the earlier `{cover.origin.describe()}` matches every flow it does",
                    "in a cluster section the first matching rule decides: move this line above the wider one, or remove it",
                    related=((cover.origin.user_span, "decides first"),),
                )
            )
        before.append(rule)
    return out


def _allows_cut_by_admin(program: ir.Program) -> list[Diagnostic]:
    """NP418: a namespace allow whose every flow an admin section denies first (NetworkPolicy is never asked)."""
    admin = [rule for rule in program.cluster if rule.section.tier == ir.ADMIN]
    admin.sort(key=lambda rule: (rule.section.priority, rule.position))
    out = []
    for intent in program.intents:
        if not isinstance(intent, ir.Allow) or not isinstance(intent.source, ir.Pods):
            continue
        for rule in admin:
            if not (_peers_overlap(rule.source, intent.source) and _peers_overlap(rule.destination, intent.destination) and _ports_overlap(rule.ports, intent.ports)):
                continue  # cannot match any of the allow's flows
            if rule.action == ir.DENY and _covers_rule(rule, intent):
                out.append(
                    Diagnostic(
                        "NP418",
                        intent.origin.user_span,
                        f"this allow never lets anything through: `{rule.origin.describe()}` in `{rule.section}` denies all of it first",
                        "the admin tier decides before namespace policies: remove this line, or make the admin section `pass` these flows",
                        related=((rule.origin.user_span, "denies it first"),),
                    )
                )
            break  # the first admin rule that may match decides (some of) it: past here nothing is certain
    return out
