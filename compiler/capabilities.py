"""Emitted manifests -> the NetworkPolicy and cluster policy features they use -> per-CNI findings as diagnostics, and the opt-in rewrites that avoid them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from . import ir
from .diagnostics import Diagnostic
from .source import Span
from .targets import (
    NOT_ENFORCED,
    Feature,
    Finding,
    Status,
    Target,
    check_cluster_api,
    check_cluster_features,
    check_features,
)

# A range is written as one port per line of YAML; past this the manifests stop being small.
MAX_EXPAND = 256


@dataclass(frozen=True)
class Options:
    """The CNIs the manifests must work on (all of them: a fleet), and the rewrites the user allows."""

    targets: tuple[tuple[Target, str | None], ...] = ()
    expand_port_ranges: int = 0  # 0: never expand
    named_ports: tuple[tuple[str, int], ...] = ()
    pod_cidrs: tuple[str, ...] = ()
    pod_cidrs_span: Span | None = None  # where the config declares them, for a related note


def who(target: Target, version: str | None) -> str:
    return f"{target.name} {version}" if version else target.name


def lacking(options: Options, feature: Feature) -> list[str]:
    """The targets that enforce NetworkPolicy but not `feature` as written (unknown counts as not)."""
    out = []
    for target, version in options.targets:
        if target.row(Feature.network_policy, version).status is not Status.supported:
            continue  # enforces nothing at all: a rewrite would not help, NP601 says so
        if target.row(feature, version).status is not Status.supported:
            out.append(who(target, version))
    return out


# ---------------------------------------------------------------- features of a manifest


def features_of(spec: dict) -> set[Feature]:
    """The features one NetworkPolicy spec uses (ip_block_pod_ips needs the pod CIDRs: see `pod_ip_overlaps`)."""
    used = {Feature.network_policy}
    types = spec.get("policyTypes") or ()
    if "Ingress" in types or spec.get("ingress"):
        used.add(Feature.ingress)
    if "Egress" in types or spec.get("egress"):
        used.add(Feature.egress)
    _selector_features(spec.get("podSelector"), used)
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        for rule in spec.get(key) or ():
            for peer in rule.get(peer_key) or ():
                _peer_features(peer, used)
            for port in rule.get("ports") or ():
                _port_features(port, used)
    return used


def _selector_features(selector: dict | None, used: set[Feature]) -> None:
    for expression in (selector or {}).get("matchExpressions") or ():
        negative = expression["operator"] in ("NotIn", "DoesNotExist")
        used.add(Feature.negative_match if negative else Feature.match_expressions)


def _peer_features(peer: dict, used: set[Feature]) -> None:
    block = peer.get("ipBlock")
    if block is not None:
        used.add(Feature.ip_block)
        if block.get("except"):
            used.add(Feature.ip_block_except)
        if any(":" in cidr for cidr in (block["cidr"], *block.get("except", ()))):
            used.add(Feature.ipv6)
        return
    if "namespaceSelector" in peer:
        used.add(Feature.namespace_selector)
        if "podSelector" in peer:
            used.add(Feature.namespace_and_pod_selector)
        _selector_features(peer["namespaceSelector"], used)
    _selector_features(peer.get("podSelector"), used)


def _port_features(port: dict, used: set[Feature]) -> None:
    protocol = port.get("protocol", "TCP")
    if protocol in ("UDP", "SCTP"):
        used.add(Feature(protocol.lower()))
    if isinstance(port.get("port"), str):
        used.add(Feature.named_port)
    if "endPort" in port:
        used.add(Feature.end_port)


def port_combinations(spec: dict) -> int:
    """The most port entries of one protocol in any one rule (a range is one entry)."""
    most = 0
    for key in ("ingress", "egress"):
        for rule in spec.get(key) or ():
            protocols = [port.get("protocol", "TCP") for port in rule.get("ports") or ()]
            most = max([most, *(protocols.count(p) for p in set(protocols))])
    return most


def pod_ip_overlaps(spec: dict, pod_networks) -> list[tuple[str, str]]:
    """(ipBlock CIDR, pod CIDR) for each ipBlock whose addresses (minus its excepts) include pod IPs."""
    found = []
    for key, peer_key in (("ingress", "from"), ("egress", "to")):
        for rule in spec.get(key) or ():
            peers = rule.get(peer_key) or ()
            if {"namespaceSelector": {}} in peers:
                continue  # the rule names every pod by selector too (`world`): pod IPs need no CIDR
            for peer in peers:
                block = peer.get("ipBlock")
                if block is None:
                    continue
                network = ipaddress.ip_network(block["cidr"])
                # Collapsed, because excepts that are adjacent may cover a pod CIDR only together.
                excepts = list(ipaddress.collapse_addresses(ipaddress.ip_network(e) for e in block.get("except", ())))
                for pods in pod_networks:
                    if pods.version != network.version or not network.overlaps(pods):
                        continue
                    common = pods if pods.subnet_of(network) else network
                    if not any(common.subnet_of(e) for e in excepts):
                        found.append((str(network), str(pods)))
    return found


# ---------------------------------------------------------------- findings


@dataclass
class _Usage:
    """What one intent's manifests use, together (one diagnostic per intent, feature and target)."""

    features: set[Feature] = field(default_factory=set)
    combinations: int = 0  # the most ports of one protocol in one rule
    overlaps: list[tuple[str, str]] = field(default_factory=list)
    policies: int = 0


def check(emitted: list, options: Options, expanded: int = 0) -> list[Diagnostic]:
    """NP600-NP605 for the emitted manifests (`emit.Emitted`) on every target of `options`."""
    emitted = [item for item in emitted if item.kind == "NetworkPolicy"]  # cluster objects: their own tables
    if not options.targets or not emitted:
        return []
    networks = [ipaddress.ip_network(cidr) for cidr in options.pod_cidrs]
    usage: dict[ir.Intent, _Usage] = {}
    for item in emitted:
        found = usage.setdefault(item.intent, _Usage())
        found.features |= features_of(item.spec)
        found.combinations = max(found.combinations, port_combinations(item.spec))
        found.policies += 1
        for overlap in pod_ip_overlaps(item.spec, networks):
            found.features.add(Feature.ip_block_pod_ips)
            if overlap not in found.overlaps:
                found.overlaps.append(overlap)
    first = min(usage, key=lambda intent: intent.origin.user_span)
    out = _expansion_notes(usage, options, expanded)
    for target, version in options.targets:
        gate = target.row(Feature.network_policy, version)
        if gate.status is not Status.supported:
            # One error per target, not one per intent: nothing of the program is enforced.
            (finding,) = check_features((), target, version)
            count = sum(u.policies for u in usage.values())
            message = f"{finding.message} ({count} {'policy' if count == 1 else 'policies'} from this program)"
            out.append(Diagnostic("NP601", first.origin.user_span, message, finding.hint))
            continue
        for intent, used in usage.items():
            for finding in check_features(used.features, target, version, {Feature.end_port: used.combinations}):
                out.append(_diagnostic(finding, intent, used, options, expanded))
    return out


def _diagnostic(finding: Finding, intent: ir.Intent, used: _Usage, options: Options, expanded: int) -> Diagnostic:
    origin = intent.origin
    prefix = f"`{origin.text}` (from `use {origin.module}`): " if origin.module else ""
    message, hint = finding.message, finding.hint
    if finding.feature is Feature.ip_block_pod_ips:
        cidr, pods = used.overlaps[0]
        more = f" (and {len(used.overlaps) - 1} more)" if len(used.overlaps) > 1 else ""
        message = f"ipBlock {cidr} overlaps the pod CIDR {pods}{more}: {message}"
        hint = (
            "to match pods, select them with a pod or namespace selector (`app=x in namespace N`, "
            f"`namespace N`, `cluster`); if the CIDR is meant for addresses outside the cluster, cut the pods out: `{cidr} except {pods}`"
        )
        related = ((options.pod_cidrs_span, "pod CIDRs declared here"),) if options.pod_cidrs_span else ()
        return Diagnostic("NP604", origin.user_span, prefix + message, hint, related=related)
    if finding.status is Status.supported:  # a limit
        message = f"a rule lists {used.combinations} ports of one protocol, more than {finding.limit}: {message}"
        return Diagnostic("NP603", origin.user_span, prefix + message, hint)
    if finding.feature is Feature.named_port:
        hint += (
            "; or map each name to its number (`--named-port NAME=NUMBER`, or `named-ports` in netpolc.toml) "
            "and netpolc writes the number on targets that need it"
        )
    elif finding.feature is Feature.end_port and expanded:
        too_big = [p for p in _ranges(intent) if p.end_port - p.port + 1 > expanded]
        if too_big:
            size = too_big[0].end_port - too_big[0].port + 1
            hint = f"the range {too_big[0]} has {size} ports, more than the {expanded} that expand-port-ranges allows; {hint}"
    elif finding.feature is Feature.ipv6 and any(isinstance(peer, ir.World) for peer in _peers(intent)):
        hint = f"`world` includes ::/0: write `0.0.0.0/0` and `cluster` as two lines instead of `world`, or {hint}"
    code = "NP602" if finding.status in (Status.unknown, Status.opt_in) else "NP600"
    return Diagnostic(code, origin.user_span, prefix + message, hint)


def _peers(intent: ir.Intent) -> tuple:
    if isinstance(intent, ir.Allow):
        return (intent.source, intent.destination)
    return (intent.peer,) if isinstance(intent, ir.Only) else ()


def _ranges(intent: ir.Intent) -> list[ir.PortRange]:
    return [port for port in getattr(intent, "ports", ()) if port.end_port is not None]


# ---------------------------------------------------------------- rewrites


def _enforce(targets: list[str]) -> str:
    return f"{targets[0]} does not enforce" if len(targets) == 1 else f"{', '.join(targets)} do not enforce"


def expand_limit(options: Options) -> int:
    """The N for `emit(expand_ranges=N)`: ranges are expanded only if some target ignores endPort."""
    return options.expand_port_ranges if options.expand_port_ranges and lacking(options, Feature.end_port) else 0


def _expansion_notes(usage: dict, options: Options, expanded: int) -> list[Diagnostic]:
    if not expanded:
        return []
    targets = lacking(options, Feature.end_port)
    out = []
    for intent in usage:
        for port in _ranges(intent):
            size = port.end_port - port.port + 1
            if size <= expanded:
                out.append(Diagnostic(
                    "NP605",
                    intent.origin.user_span,
                    f"port range {port} is written as {size} single ports, because {_enforce(targets)} endPort",
                    "the expansion is exact; drop expand-port-ranges once every target enforces endPort",
                ))
    return out


def substitute_named_ports(program: ir.Program, options: Options) -> tuple[ir.Program, list[Diagnostic]]:
    """Named ports the user maps to numbers, replaced by the numbers in the IR (before emit, so the
    proof covers the manifests), when some target does not enforce named ports."""
    mapping = dict(options.named_ports)
    targets = lacking(options, Feature.named_port)
    if not mapping or not targets:
        return program, []

    def swap(ports: tuple[ir.PortRange, ...]) -> tuple[ir.PortRange, ...]:
        return tuple(dict.fromkeys(
            ir.PortRange(p.protocol, mapping[p.port]) if isinstance(p.port, str) and p.port in mapping else p for p in ports
        ))

    notes, intents = [], []
    for intent in program.intents:
        names = [p.port for p in getattr(intent, "ports", ()) if isinstance(p.port, str) and p.port in mapping]
        if names:
            intent = intent._replace(ports=swap(intent.ports))
            written = ", ".join(f"`{name}` is written as port {mapping[name]}" for name in dict.fromkeys(names))
            notes.append(Diagnostic(
                "NP606",
                intent.origin.user_span,
                f"named port {written}, because {_enforce(targets)} named ports",
                "the number applies to every selected pod: pods whose port of that name has another number are not "
                "matched; drop the mapping once every target enforces named ports",
            ))
        intents.append(intent)
    expects = [e._replace(port=swap((e.port,))[0]) for e in program.expects]
    import dataclasses

    return dataclasses.replace(program, intents=intents, expects=expects), notes


# ---------------------------------------------------------------- cluster policies

# How the user asks for the other API version or for the NetworkPolicy form; named once so the
# hints follow the command line if it changes.
API_V1ALPHA1 = "--api v1alpha1"

# kind -> (the gate feature, the apiVersion that defines it)
CLUSTER_KINDS = {
    "ClusterNetworkPolicy": (Feature.cluster_network_policy, "policy.networking.k8s.io/v1alpha2"),
    "AdminNetworkPolicy": (Feature.admin_network_policy, "policy.networking.k8s.io/v1alpha1"),
    "BaselineAdminNetworkPolicy": (Feature.baseline_admin_network_policy, "policy.networking.k8s.io/v1alpha1"),
}
_V2 = {"networks": Feature.cnp_networks, "nodes": Feature.cnp_nodes, "domainNames": Feature.cnp_domain_names}
_V1 = {"networks": Feature.anp_networks, "nodes": Feature.anp_nodes, "domainNames": Feature.anp_domain_names}


class ClusterManifest(NamedTuple):
    """An emitted cluster policy and where it came from, for `cluster_findings`.

    `span` is where the object as a whole is reported (its cluster section's header line);
    `rules` optionally maps (`"ingress"` or `"egress"`, index in that list) to the line that wrote
    the rule, so a finding about one rule's peer or port points at that line. A plain
    `(manifest, span)` pair is accepted too.
    """

    manifest: Mapping
    span: Span
    rules: Mapping[tuple[str, int], Span] | None = None


def cluster_features_of(manifest: Mapping) -> set[Feature]:
    """The features one ClusterNetworkPolicy (v1alpha2) or AdminNetworkPolicy / BaselineAdminNetworkPolicy
    (v1alpha1) manifest uses, as the upstream types define them; its kind's gate is always among them.
    cnp_networks_pod_ips needs the pod CIDRs: see `cluster_pod_ip_overlaps`. Raises ValueError for
    any other kind, or for a kind under the wrong apiVersion."""
    gate = _cluster_gate(manifest)
    used = {gate}
    if gate is Feature.admin_network_policy:
        used.add(Feature.anp_priority_range)  # every ANP has a priority; the limit decides
    for _, features in _rule_features(manifest):
        used |= features
    return used


def cluster_pod_ip_overlaps(manifest: Mapping, pod_networks) -> list[tuple[str, str]]:
    """(networks CIDR, pod CIDR) for each ClusterNetworkPolicy networks CIDR that covers pod IPs. A rule
    that also names every pod by selector (a `namespaces: {}` peer) is skipped: its pods need no CIDR."""
    return [overlap for overlaps in _egress_overlaps(manifest, pod_networks).values() for overlap in overlaps]


def _egress_overlaps(manifest: Mapping, pod_networks) -> dict[int, list[tuple[str, str]]]:
    if _cluster_gate(manifest) is not Feature.cluster_network_policy:
        return {}  # only v1alpha2 has the row: no v1alpha1 implementation is known to differ here
    found: dict[int, list[tuple[str, str]]] = {}
    for index, rule in enumerate((manifest.get("spec") or {}).get("egress") or ()):
        peers = rule.get("to") or ()
        if {"namespaces": {}} in peers:
            continue
        for peer in peers:
            for cidr in peer.get("networks") or ():
                network = ipaddress.ip_network(cidr, strict=False)
                for pods in pod_networks:
                    if pods.version == network.version and network.overlaps(pods):
                        found.setdefault(index, []).append((str(network), str(pods)))
    return found


def cluster_findings(items: Iterable[ClusterManifest | tuple], options: Options) -> list[Diagnostic]:
    """NP607-NP609 for emitted cluster policies on every target of `options`.

    `items` are `ClusterManifest`s (or `(manifest, span)` pairs), in emission order. Per target and
    object kind: one NP607 (error) when the kind is not enforced at all, at the first object's span,
    with the way out (the other API version, or an upgrade); or one NP609
    (warning) when it is only enforced once switched on, or unknown. Then, per object and rule,
    NP608 (error) for a feature that is not enforced as written or goes past a limit, and NP609 for
    one that is opt-in or unknown. A feature is reported once per line and target.
    """
    items = [item if isinstance(item, ClusterManifest) else ClusterManifest(*item) for item in items]
    if not options.targets or not items:
        return []
    networks = [ipaddress.ip_network(cidr) for cidr in options.pod_cidrs]
    kinds: dict[Feature, list[ClusterManifest]] = {}
    for item in items:
        kinds.setdefault(_cluster_gate(item.manifest), []).append(item)
    out: list[Diagnostic] = []
    for target, version in options.targets:
        seen: set[tuple[Span, Feature]] = set()
        for gate, group in kinds.items():
            finding = check_cluster_api(gate, target, version)
            if finding is not None:
                out.append(_gate_diagnostic(finding, gate, group, target, version))
                if finding.status in NOT_ENFORCED:
                    continue  # nothing of this kind is enforced: its features would only repeat it
            for item in group:
                for span, features, counts, overlaps in _parts(item, networks):
                    for found in check_cluster_features(features, target, version, counts):
                        if (span, found.feature) not in seen:
                            seen.add((span, found.feature))
                            out.append(_feature_diagnostic(found, span, counts, overlaps, options))
    return out


def _cluster_gate(manifest: Mapping) -> Feature:
    kind = manifest.get("kind") if isinstance(manifest, Mapping) else None
    if kind not in CLUSTER_KINDS:
        raise ValueError(f"not a cluster policy: kind {kind!r}")
    gate, api_version = CLUSTER_KINDS[kind]
    if manifest.get("apiVersion") != api_version:
        raise ValueError(f"{kind} is {api_version}, not {manifest.get('apiVersion')!r}")
    return gate


def _rule_features(manifest: Mapping) -> list[tuple[tuple[str, int], set[Feature]]]:
    """((direction, index), features) per rule."""
    v2 = _cluster_gate(manifest) is Feature.cluster_network_policy
    spec = manifest.get("spec") or {}
    out = []
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or ()):
            used: set[Feature] = set()
            for peer in rule.get(peer_key) or ():
                used |= {feature for key, feature in (_V2 if v2 else _V1).items() if key in peer}
            if v2:
                for entry in rule.get("protocols") or ():
                    if "destinationNamedPort" in entry:
                        used.add(Feature.cnp_named_port)
                    if "sctp" in entry:
                        used.add(Feature.cnp_sctp)
                    for protocol in ("tcp", "udp", "sctp"):
                        if "range" in ((entry.get(protocol) or {}).get("destinationPort") or {}):
                            used.add(Feature.cnp_port_range)
            else:
                for entry in rule.get("ports") or ():
                    if "namedPort" in entry:
                        used.add(Feature.anp_named_port)
                    if "portRange" in entry:
                        used.add(Feature.anp_port_range)
                    number = entry.get("portNumber") or entry.get("portRange") or {}
                    if number.get("protocol") == "SCTP":
                        used.add(Feature.anp_sctp)
            out.append(((direction, index), used))
    return out


def _parts(item: ClusterManifest, networks) -> list[tuple[Span, set[Feature], dict, list]]:
    """(span, features, counts, pod CIDR overlaps) for the object as a whole, then per rule."""
    manifest, rules = item.manifest, item.rules or {}
    parts = []
    if _cluster_gate(manifest) is Feature.admin_network_policy:
        priority = (manifest.get("spec") or {}).get("priority", 0)
        parts.append((item.span, {Feature.anp_priority_range}, {Feature.anp_priority_range: priority}, []))
    for where, features in _rule_features(manifest):
        parts.append((rules.get(where, item.span), features, {}, []))
    for index, overlaps in _egress_overlaps(manifest, networks).items():
        parts.append((rules.get(("egress", index), item.span), {Feature.cnp_networks_pod_ips}, {}, overlaps))
    return parts


_KIND_NAMES = {
    Feature.cluster_network_policy: "ClusterNetworkPolicy",
    Feature.admin_network_policy: "AdminNetworkPolicy",
    Feature.baseline_admin_network_policy: "BaselineAdminNetworkPolicy",
}


def _gate_diagnostic(finding: Finding, gate: Feature, group: list, target: Target, version) -> Diagnostic:
    first = min(item.span for item in group)
    count = len(group)
    objects = f"{count} {_KIND_NAMES[gate]} {'object' if count == 1 else 'objects'} from this program"
    message = f"{finding.message} ({objects})"
    if finding.status is Status.opt_in:
        return Diagnostic("NP609", first, message, finding.hint)
    ways = _ways_out(gate, group, target, version)
    if finding.status is Status.unknown:
        hint = f"test the policy on a cluster running {target.display_name}; or " + "; or ".join(ways)
        return Diagnostic("NP609", first, message, hint)
    return Diagnostic("NP607", first, message, "; or ".join(ways))


def _ways_out(gate: Feature, group: list, target: Target, version) -> list[str]:
    """What the user can do when `target` does not enforce `gate`: the other API version if the target
    enforces it, an upgrade if a later version does, and the exact NetworkPolicy form."""
    who_ = who(target, version)
    ways = []
    if gate is Feature.cluster_network_policy:
        # v1alpha1 writes an Admin-tier section as an AdminNetworkPolicy, a Baseline one as the BANP.
        tiers = {(item.manifest.get("spec") or {}).get("tier") for item in group}
        needed = [Feature.admin_network_policy] if "Admin" in tiers else []
        needed += [Feature.baseline_admin_network_policy] if "Baseline" in tiers else []
        statuses = {target.row(other, version).status for other in needed}
        if needed and statuses <= {Status.supported, Status.opt_in}:
            names = " and ".join(_KIND_NAMES[other] for other in needed)
            on = " once switched on" if Status.opt_in in statuses else ""
            ways.append(f"{who_} enforces {names} (v1alpha1){on}: compile with `{API_V1ALPHA1}`")
    else:
        status = target.row(Feature.cluster_network_policy, version).status
        if status in (Status.supported, Status.opt_in):
            on = " once switched on" if status is Status.opt_in else ""
            ways.append(f"{who_} enforces ClusterNetworkPolicy (v1alpha2){on}: compile without `{API_V1ALPHA1}`")
    upgrade = target.enforced_from(gate, version)
    if upgrade:
        ways.append(f"upgrade {target.name} to {upgrade} or later")
    ways.append(
        "keep to namespace intents for this target (NetworkPolicy cannot deny, nor decide before a namespace's own "
        "policies, so cluster sections have no exact NetworkPolicy form); `netpolc cni list` shows the targets that enforce cluster policies"
    )
    return ways


def _feature_diagnostic(finding: Finding, span: Span, counts: dict, overlaps: list, options: Options) -> Diagnostic:
    message, hint = finding.message, finding.hint
    related = ()
    if finding.feature is Feature.cnp_networks_pod_ips:
        cidr, pods = overlaps[0]
        more = f" (and {len(overlaps) - 1} more)" if len(overlaps) > 1 else ""
        message = f"networks {cidr} overlaps the pod CIDR {pods}{more}: {message}"
        hint += (
            f"; if {cidr} is meant for addresses outside the cluster, leave {pods} out of it, or Pass pod traffic "
            "in an earlier rule as the API advises"
        )
        related = ((options.pod_cidrs_span, "pod CIDRs declared here"),) if options.pod_cidrs_span else ()
    if finding.status is Status.supported:  # past a limit; the only one is on AdminNetworkPolicy priorities
        what = "priority" if finding.feature is Feature.anp_priority_range else finding.feature.label
        message = f"{what} {counts.get(finding.feature)} is above {finding.limit}: {message}"
    code = "NP609" if finding.status in (Status.opt_in, Status.unknown) else "NP608"
    return Diagnostic(code, span, message, hint, related=related)
