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


def analyze(program: ir.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    out += _duplicates_and_covered(program)
    out += _no_effect(program)
    out += _egress_without_dns(program)
    if program.cluster:
        out += _shadowed_cluster_rules(program)
        out += _allows_cut_by_admin(program)
        out += _cluster_names_without_dns(program)
    return out


def _cluster_names_without_dns(program: ir.Program) -> list[Diagnostic]:
    """NP616 for cluster rules to DNS names whose pods cannot query DNS: `domainNames` grants no DNS,
    and the usual allowlist (`allow S to NAME`, then `deny S to world`) cuts it too."""
    from .verify import intent_model

    rules = [rule for rule in program.cluster if isinstance(rule.destination, ir.Name)]
    if not rules:
        return []
    model = intent_model(program)
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


def _duplicates_and_covered(program: ir.Program) -> list[Diagnostic]:
    out = []
    allows = [i for i in program.intents if isinstance(i, ir.Allow)]
    first_of: dict[tuple, ir.Intent] = {}
    for intent in program.intents:
        first = first_of.setdefault(ir.intent_key(intent), intent)
        if first is not intent and intent.origin.user_span != first.origin.user_span:
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
    for intent in allows:
        if first_of[ir.intent_key(intent)] is not intent:
            continue
        sources = _covering_source_keys(intent.source)
        candidates = sorted(
            (o for d in set(_covering_destinations(intent.destination)) for k in sources for o in by_destination.get((d, k), ())),
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
                out.append(
                    Diagnostic(
                        "NP403",
                        intent.origin.user_span,
                        f"`{intent.origin.describe()}` is already covered by `{other.origin.describe()}`",
                        "remove this line, or narrow the wider one if it allows more than you meant",
                        related=((other.origin.user_span, "covered by this intent"),),
                    )
                )
                break
    return out


def _no_effect(program: ir.Program) -> list[Diagnostic]:
    out = []
    managed = set(program.namespaces)
    isolations = egress_isolations(program)
    any_egress_isolation = bool(isolations)
    for intent in program.intents:
        if not isinstance(intent, ir.Allow):
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


def _egress_without_dns(program: ir.Program) -> list[Diagnostic]:
    from .verify import intent_model

    isolating = [
        i
        for i in program.intents
        if isinstance(i, ir.Isolate) and "egress" in i.directions or isinstance(i, ir.Only) and i.direction == "egress"
    ]
    if not isolating:
        return []
    model = intent_model(program)
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
        seen.add(key)
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
