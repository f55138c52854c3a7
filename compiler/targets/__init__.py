"""Per-CNI capability tables: which NetworkPolicy and cluster policy features each CNI enforces, and the check.

The API server accepts every valid NetworkPolicy, but the CNI plugin decides what is enforced,
and some plugins silently enforce less (or more) than written. The facts live as data, one TOML
table per target in `data/`, validated against `data/schema.json` on load; the vocabulary
(`Feature`, `Status`, `Consequence`) lives here, so a table cannot name a feature the code does
not know. `kubernetes.toml` is the upstream baseline that lists every feature as supported;
every other table `extends` it (directly or through another table) and lists only the rows
where it differs, each with a source. `since` is the first version of *that table's product*
that enforces a feature, so a table may only extend one that uses the same version numbers or
has no `since` rows. A row may also list `changes`: later eras that replace it from their own
`since` on (Calico enforced AdminNetworkPolicy from 3.29 and stopped at 3.32).

Besides NetworkPolicy (networking.k8s.io/v1) the tables cover the cluster policy APIs of
kubernetes-sigs/network-policy-api: ClusterNetworkPolicy (v1alpha2) and AdminNetworkPolicy /
BaselineAdminNetworkPolicy (v1alpha1). They are CRDs, not part of Kubernetes, so what a missing
implementation does depends on the CRD: absent, `kubectl apply` fails (`crd_missing`);
installed but nothing implements it, the objects are accepted and ignored (`object_ignored`).
Each API has a gate feature (`Feature.gate`); where the gate is not enforced at all, every
feature of that API reports the gate's row. `check_features` (NetworkPolicy) and
`check_cluster_api` / `check_cluster_features` are pure: they turn used features into findings
and leave rendering and exit codes to the caller.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# The pre-commit hook imports this module on every run, so what only loading needs (tomllib,
# importlib.resources, jsonschema, difflib) is imported inside the functions that use it.


class Feature(enum.Enum):
    """A NetworkPolicy capability that a CNI may or may not enforce."""

    network_policy = "network_policy"
    """NetworkPolicy is enforced at all (a policy engine is installed and running)."""
    ingress = "ingress"
    """`policyTypes: [Ingress]` and ingress rules."""
    egress = "egress"
    """`policyTypes: [Egress]` and egress rules."""
    match_expressions = "match_expressions"
    """Pod and namespace selectors with `matchExpressions` using `In` or `Exists`."""
    negative_match = "negative_match"
    """Selectors with the `NotIn` or `DoesNotExist` operators."""
    namespace_selector = "namespace_selector"
    """A peer with `namespaceSelector`."""
    namespace_and_pod_selector = "namespace_and_pod_selector"
    """A peer with both `namespaceSelector` and `podSelector` (pods matching both)."""
    ip_block = "ip_block"
    """A peer with `ipBlock.cidr`."""
    ip_block_except = "ip_block_except"
    """`ipBlock.except`: ranges cut out of the CIDR."""
    ipv6 = "ipv6"
    """IPv6 CIDRs in `ipBlock`."""
    ip_block_pod_ips = "ip_block_pod_ips"
    """An `ipBlock` that covers pod IPs is expected to match pod-to-pod traffic."""
    udp = "udp"
    """Ports with `protocol: UDP`."""
    sctp = "sctp"
    """Ports with `protocol: SCTP`."""
    named_port = "named_port"
    """A port given by container port name instead of number."""
    end_port = "end_port"
    """Port ranges via `endPort`."""

    # ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2 (network-policy-api v0.2.0).
    cluster_network_policy = "cluster_network_policy"
    """ClusterNetworkPolicy objects are enforced at all (the gate of the v1alpha2 features)."""
    cnp_networks = "cnp_networks"
    """An egress peer with `networks` (CIDRs)."""
    cnp_networks_pod_ips = "cnp_networks_pod_ips"
    """A `networks` CIDR that covers pod IPs matches pod traffic, as the API says it does."""
    cnp_nodes = "cnp_nodes"
    """An egress peer with `nodes` (experimental channel)."""
    cnp_domain_names = "cnp_domain_names"
    """An egress peer with `domainNames` (experimental channel)."""
    cnp_named_port = "cnp_named_port"
    """A protocol entry with `destinationNamedPort`."""
    cnp_port_range = "cnp_port_range"
    """A destination port given as `range`."""
    cnp_sctp = "cnp_sctp"
    """A protocol entry with `sctp`."""

    # AdminNetworkPolicy and BaselineAdminNetworkPolicy, policy.networking.k8s.io/v1alpha1.
    admin_network_policy = "admin_network_policy"
    """AdminNetworkPolicy objects are enforced at all (the gate of the v1alpha1 features)."""
    baseline_admin_network_policy = "baseline_admin_network_policy"
    """The BaselineAdminNetworkPolicy singleton is enforced at all."""
    anp_priority_range = "anp_priority_range"
    """AdminNetworkPolicy priorities over the API's whole range, 0 to 1000."""
    anp_networks = "anp_networks"
    """An egress peer with `networks` (CIDRs)."""
    anp_nodes = "anp_nodes"
    """An egress peer with `nodes` (experimental channel)."""
    anp_domain_names = "anp_domain_names"
    """An egress peer with `domainNames` (experimental channel, AdminNetworkPolicy only)."""
    anp_named_port = "anp_named_port"
    """A port with `namedPort` (experimental channel)."""
    anp_port_range = "anp_port_range"
    """A port with `portRange`."""
    anp_sctp = "anp_sctp"
    """A port with `protocol: SCTP`."""

    # Egress to DNS names (`egress only to api.stripe.com:443`): no NetworkPolicy field; each CNI
    # that can has its own object (the `fqdn` row's `backend`). Wildcards as the language means them
    # (`dnsnames`): the rows say whether the CNI has a form that means exactly that.
    fqdn = "fqdn"
    """Egress rules to DNS names, with the CNI's own policy object (the gate of the DNS-name features)."""
    fqdn_one_label_wildcard = "fqdn_one_label_wildcard"
    """`*.example.com`: exactly one label more (not example.com, not a.b.example.com)."""
    fqdn_multi_label_wildcard = "fqdn_multi_label_wildcard"
    """`**.example.com`: one or more labels more (never example.com itself)."""
    fqdn_partial_wildcard = "fqdn_partial_wildcard"
    """`api-*.example.com`: a `*` inside the first label, never across a dot."""
    fqdn_deny = "fqdn_deny"
    """A DNS name in a rule that denies (safe only where the CNI knows every address of the name)."""

    @property
    def label(self) -> str:
        """How messages name the feature."""
        return _LABELS[self]

    @property
    def api(self) -> Api:
        """The API the feature belongs to."""
        return _APIS.get(self, Api.network_policy)

    @property
    def gate(self) -> Feature:
        """The feature that says whether the API (or, for the gates, the object kind) is enforced at all."""
        return self if self in GATES else _API_GATES[self.api]


class Api(enum.Enum):
    """The policy APIs the tables cover, by apiVersion."""

    network_policy = "networking.k8s.io/v1"
    cluster_network_policy = "policy.networking.k8s.io/v1alpha2"
    admin_network_policy = "policy.networking.k8s.io/v1alpha1"
    fqdn = "fqdn"  # not an API of Kubernetes: the CNI's own object (CiliumNetworkPolicy, ...)

    @property
    def features(self) -> tuple[Feature, ...]:
        return tuple(feature for feature in Feature if feature.api is self)


class Status(enum.Enum):
    """Whether a target enforces a feature as the API defines it."""

    supported = "supported"
    """Enforced with upstream semantics."""
    unsupported = "unsupported"
    """Documented by the vendor as not supported; an error."""
    ignored = "ignored"
    """Accepted by the API server but silently not enforced as written; always an error."""
    unknown = "unknown"
    """Not established by a primary source, or it depends on cluster setup the tables cannot see;
    a warning, never treated as supported."""
    opt_in = "opt_in"
    """Enforced only when the cluster operator switches it on (the row's `switch` says how);
    off by default, so a warning: the tables cannot see the cluster's configuration."""


class Consequence(enum.Enum):
    """What happens to a manifest that uses a feature the target does not enforce."""

    nothing_enforced = "nothing_enforced"
    """No NetworkPolicy is enforced at all."""
    field_ignored = "field_ignored"
    """The field is ignored and the rest of the rule applies: usually wider than intended."""
    rule_dropped = "rule_dropped"
    """The rule containing the feature is dropped: fail-closed, the traffic it allowed is blocked
    (in a cluster policy a dropped Deny rule lets its traffic through)."""
    policy_dropped = "policy_dropped"
    """The whole policy is dropped: the pods it isolates stay open (a cluster policy's Deny rules
    deny nothing)."""
    fails_open = "fails_open"
    """The implementation allows more than written (e.g. a named port opens every port)."""
    limit = "limit"
    """Enforced only up to a limit; the row carries `limit`."""
    denied = "denied"
    """Traffic the feature should allow is blocked."""
    crd_missing = "crd_missing"
    """The API's CRD (or the CRD channel with the field) is not installed: `kubectl apply` fails
    loudly, nothing is silently ignored."""
    object_ignored = "object_ignored"
    """The CRD is installed but nothing implements it: the objects are accepted by the API server
    and never enforced. The dangerous case."""
    fail_closed = "fail_closed"
    """The rule is read in the API's fail-closed form: an Accept rule matches nothing, a Deny or
    Pass rule becomes deny-all."""


# The gates: one per object kind, and the statuses under which a gate hides its API's features.
GATES = (
    Feature.network_policy,
    Feature.cluster_network_policy,
    Feature.admin_network_policy,
    Feature.baseline_admin_network_policy,
)
NOT_ENFORCED = (Status.unsupported, Status.ignored)

_APIS = {
    **{feature: Api.cluster_network_policy for feature in Feature if feature.value.startswith(("cluster_", "cnp_"))},
    **{feature: Api.admin_network_policy for feature in Feature if feature.value.startswith(("admin_", "baseline_", "anp_"))},
    **{feature: Api.fqdn for feature in Feature if feature.value.startswith("fqdn")},
}
# The v1alpha1 features are gated by AdminNetworkPolicy: a BaselineAdminNetworkPolicy's own gate
# is checked before its features (`check_cluster_api`), and no table enforces BANP without ANP.
_API_GATES = {
    Api.network_policy: Feature.network_policy,
    Api.cluster_network_policy: Feature.cluster_network_policy,
    Api.admin_network_policy: Feature.admin_network_policy,
    Api.fqdn: Feature.fqdn,
}


@dataclasses.dataclass(frozen=True)
class Row:
    """One feature of one target. `before` is the status for versions older than `since`;
    `changes` are later rows that replace this one from their own `since` on (`is_change`);
    `switch` says how an `opt_in` row is switched on."""

    feature: Feature
    status: Status
    since: str | None = None
    before: Status = Status.ignored
    consequence: Consequence | None = None
    limit: int | None = None
    source: str = ""
    note: str | None = None
    switch: str | None = None
    changes: tuple[Row, ...] = ()
    backend: str | None = None  # the `fqdn` row: which object writes DNS-name rules (`fqdn.BACKENDS`)
    is_change: bool = False
    is_before: bool = False  # the row as it applies to versions older than `since`


@dataclasses.dataclass(frozen=True)
class Target:
    """A resolved capability table: its own rows merged over those of the table it extends."""

    name: str
    display_name: str
    extends: str | None
    latest_version: str | None
    rows: dict[Feature, Row]
    notes: tuple[str, ...] = ()
    description: str = ""

    def row(self, feature: Feature, version: str | None = None) -> Row:
        """The row in effect for `feature` at `version` (None: the newest version)."""
        gate = self._at(self.rows[feature.gate], version)
        if feature is not feature.gate and gate.status in NOT_ENFORCED:
            # Where nothing of an API is enforced, no single feature is either: report every
            # feature with the reason, so `cni show flannel` does not list ingress as supported.
            # An opt-in or unknown gate leaves the features their own rows: they apply once on.
            return dataclasses.replace(gate, feature=feature)
        return self._at(self.rows[feature], version)

    def enforced_from(self, feature: Feature, version: str | None = None) -> str | None:
        """The first version after `version` (None: the newest) from which `feature` is enforced or
        can be switched on, if the table knows one; for the way out of a finding."""
        current = version or self.latest_version
        if not current:
            return None
        row = self.rows[feature]
        eras = [(row.since, row.status)] if row.since else []
        eras += [(change.since, change.status) for change in row.changes]
        for since, status in eras:
            if _version_key(since) > _version_key(current) and status in (Status.supported, Status.opt_in):
                return since
        return None

    def _at(self, row: Row, version: str | None) -> Row:
        version = version or self.latest_version
        for change in reversed(row.changes):
            # Without any version to compare (no latest_version either), the newest era applies.
            if version is None or _version_key(version) >= _version_key(change.since):
                return change
        if row.since and version and _version_key(version) < _version_key(row.since):
            return dataclasses.replace(row, status=row.before, is_before=True)
        return row


@dataclasses.dataclass(frozen=True)
class Finding:
    """A used feature that the target does not enforce as written."""

    feature: Feature
    target_name: str
    version: str | None
    status: Status
    consequence: Consequence | None
    limit: int | None
    source: str
    message: str
    hint: str

    @property
    def severity(self) -> str:
        return "error" if self.status in (Status.unsupported, Status.ignored) else "warning"


class TargetError(Exception):
    """A target that cannot be named or loaded; `hint` says what to do instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def list_targets() -> list[str]:
    return list(_names())


def load_target(spec: str) -> tuple[Target, str | None]:
    """Resolve `NAME` or `NAME@VERSION` to its table and the version (None if not given)."""
    name, sep, version = spec.strip().partition("@")
    if name not in _names():
        import difflib

        names = ", ".join(_names())
        close = difflib.get_close_matches(name, _names(), n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        raise TargetError(f"unknown target `{name}`", f"{hint}available targets: {names}")
    if sep:
        _version_key(version)  # raises on a malformed version
    return _bundled(name), version if sep else None


def check_features(
    features: Iterable[Feature], target: Target, version: str | None, counts: Mapping[Feature, int] | None = None
) -> list[Finding]:
    """Findings, in `Feature` order, for the used features that `target` does not enforce as written.

    A supported row with a `limit` is enforced only up to it, and only the caller knows the
    counts: without `counts` every use is reported; with them, a count above the limit is
    (whether or not the feature itself is used: the limit on port combinations sits on the
    end_port row, and expanding a range removes endPort but adds combinations).
    """
    # Every policy depends on network_policy, so it is checked even if the caller omits it; if
    # nothing is enforced, one finding says so instead of one per feature.
    gate = target.row(Feature.network_policy, version)
    if gate.status is not Status.supported:
        return [_finding(gate, target, version)]
    return _feature_findings(set(features), Api.network_policy.features, target, version, counts)


def check_cluster_api(gate: Feature, target: Target, version: str | None) -> Finding | None:
    """The finding for a cluster policy kind (`gate`: cluster_network_policy, admin_network_policy or
    baseline_admin_network_policy) that `target` does not enforce as such, or None. A finding with a
    status in NOT_ENFORCED means nothing of that kind is enforced: skip its features."""
    if gate not in GATES[1:]:
        raise ValueError(f"{gate.value} is not a cluster policy kind")
    row = target.row(gate, version)
    return None if row.status is Status.supported else _finding(row, target, version)


def check_cluster_features(
    features: Iterable[Feature], target: Target, version: str | None, counts: Mapping[Feature, int] | None = None
) -> list[Finding]:
    """Findings, in `Feature` order, for the features (gates excluded) of one cluster policy, or of
    one of its rules, that `target` does not enforce as written. Limits as in `check_features`, but
    a limit row is only reported when its feature is used. Check the gate first (`check_cluster_api`)."""
    used = {feature for feature in features if feature not in GATES}
    wanted = [feature for feature in Feature if feature in used]
    return _feature_findings(used, wanted, target, version, counts)


def _feature_findings(used, features, target, version, counts) -> list[Finding]:
    findings = []
    for feature in features:
        row = target.row(feature, version)
        if row.status is Status.supported and row.limit is not None:
            over = feature in used if counts is None else counts.get(feature, 0) > row.limit
            if over:
                findings.append(_finding(row, target, version))
        elif feature in used and row.status is not Status.supported:
            findings.append(_finding(row, target, version))
    return findings


def describe_table(
    target: Target, version: str | None = None, features: Iterable[Feature] | None = None
) -> list[tuple[str, str, str, str, str]]:
    """(feature, status, since, consequence, source) per feature (default: all), for `netpolc cni show`;
    for an opt_in row the consequence is what happens while it is off (`Row.switch` says how to switch it on)."""
    table = []
    for feature in Feature if features is None else features:
        row = target.row(feature, version)
        consequence = row.consequence.value if row.consequence else ""
        if row.limit is not None:
            consequence += f" ({row.limit})"
        table.append((feature.value, row.status.value, row.since or "", consequence, row.source))
    return table


def summary_line(target: Target) -> str:
    """`name: description [n not enforced, m unknown; cluster APIs]`, for `netpolc cni list`; the counts
    are over the NetworkPolicy features, the cluster part says per API whether it is enforced."""
    statuses = [target.row(feature).status for feature in Api.network_policy.features]
    bad = sum(status in NOT_ENFORCED for status in statuses)
    unknown = statuses.count(Status.unknown)
    return f"{target.name}: {target.description} [{bad} not enforced, {unknown} unknown; {cluster_summary(target)}]"


def cluster_summary(target: Target, version: str | None = None) -> str:
    """`ClusterNetworkPolicy yes, ANP/BANP no`: the cluster API gates in a word each."""

    def word(feature: Feature) -> str:
        return _WORDS[target.row(feature, version).status]

    v1alpha1 = word(Feature.admin_network_policy), word(Feature.baseline_admin_network_policy)
    old = f"ANP/BANP {v1alpha1[0]}" if v1alpha1[0] == v1alpha1[1] else f"ANP {v1alpha1[0]}, BANP {v1alpha1[1]}"
    return f"ClusterNetworkPolicy {word(Feature.cluster_network_policy)}, {old}"


_WORDS = {Status.supported: "yes", Status.opt_in: "opt-in", Status.unknown: "?", Status.unsupported: "no", Status.ignored: "no"}


# --- messages --------------------------------------------------------------------------------

_LABELS = {
    Feature.network_policy: "NetworkPolicy",
    Feature.ingress: "ingress rules",
    Feature.egress: "egress rules",
    Feature.match_expressions: "matchExpressions selectors",
    Feature.negative_match: "NotIn/DoesNotExist selectors",
    Feature.namespace_selector: "namespaceSelector peers",
    Feature.namespace_and_pod_selector: "peers with both namespaceSelector and podSelector",
    Feature.ip_block: "ipBlock peers",
    Feature.ip_block_except: "ipBlock.except",
    Feature.ipv6: "IPv6 CIDRs in ipBlock",
    Feature.ip_block_pod_ips: "ipBlock CIDRs that cover pod IPs",
    Feature.udp: "UDP ports",
    Feature.sctp: "SCTP ports",
    Feature.named_port: "named ports",
    Feature.end_port: "endPort",
    Feature.cluster_network_policy: "ClusterNetworkPolicy (v1alpha2)",
    Feature.cnp_networks: "ClusterNetworkPolicy networks peers",
    Feature.cnp_networks_pod_ips: "ClusterNetworkPolicy networks CIDRs that cover pod IPs",
    Feature.cnp_nodes: "ClusterNetworkPolicy nodes peers",
    Feature.cnp_domain_names: "ClusterNetworkPolicy domainNames peers",
    Feature.cnp_named_port: "ClusterNetworkPolicy named ports",
    Feature.cnp_port_range: "ClusterNetworkPolicy port ranges",
    Feature.cnp_sctp: "ClusterNetworkPolicy SCTP ports",
    Feature.admin_network_policy: "AdminNetworkPolicy (v1alpha1)",
    Feature.baseline_admin_network_policy: "BaselineAdminNetworkPolicy (v1alpha1)",
    Feature.anp_priority_range: "AdminNetworkPolicy priorities",
    Feature.anp_networks: "AdminNetworkPolicy networks peers",
    Feature.anp_nodes: "AdminNetworkPolicy nodes peers",
    Feature.anp_domain_names: "AdminNetworkPolicy domainNames peers",
    Feature.anp_named_port: "AdminNetworkPolicy named ports",
    Feature.anp_port_range: "AdminNetworkPolicy port ranges",
    Feature.anp_sctp: "AdminNetworkPolicy SCTP ports",
    Feature.fqdn: "egress to DNS names",
    Feature.fqdn_one_label_wildcard: "one-label wildcards (`*.example.com`)",
    Feature.fqdn_multi_label_wildcard: "several-label wildcards (`**.example.com`)",
    Feature.fqdn_partial_wildcard: "wildcards inside a label (`api-*.example.com`)",
    Feature.fqdn_deny: "denying by DNS name",
}

_EFFECTS = {
    Consequence.nothing_enforced: "every policy is accepted by the API server and then ignored",
    Consequence.field_ignored: "the field is ignored and the rest of the rule still applies, "
    "which usually allows more than written",
    Consequence.rule_dropped: "the rule that uses it is dropped, so the traffic it allows is blocked",
    Consequence.policy_dropped: "the whole policy is dropped, so the pods it selects are not "
    "isolated by it",
    Consequence.fails_open: "more traffic is allowed than written",
    Consequence.denied: "traffic it should allow is blocked",
    Consequence.crd_missing: "the CRD is not installed, so `kubectl apply` fails",
    Consequence.object_ignored: "the API server accepts the objects and nothing enforces them, so "
    "every Deny is silently absent",
    Consequence.fail_closed: "the rule fails closed: an Accept rule matches nothing, a Deny or Pass "
    "rule becomes deny-all",
}

# In a cluster policy a dropped rule may be a Deny: dropping it lets traffic through.
_CLUSTER_EFFECTS = {
    Consequence.rule_dropped: "the rule that uses it is dropped: an Accept rule no longer accepts, a Deny "
    "rule no longer denies",
    Consequence.policy_dropped: "the whole policy is not applied, so none of its rules take effect",
    Consequence.fails_open: "more traffic gets through than written",
}

# Where the generic effect would mislead. Ignoring a field that *widens* a rule narrows it:
# an ignored endPort leaves an allow rule for the single `port`, so the rest of the range is
# blocked (kubernetes.io network-policies page, "Targeting a range of ports").
_FEATURE_EFFECTS = {
    (Feature.end_port, Consequence.field_ignored): "only the first port of each range is allowed, "
    "connections to the other ports of the range are blocked",
    (Feature.egress, Consequence.field_ignored): "egress from the selected pods stays open",
    (Feature.ip_block_except, Consequence.field_ignored): "the excepted ranges are allowed too",
    (Feature.ipv6, Consequence.field_ignored): "rules meant for IPv6 traffic are not enforced",
    (Feature.named_port, Consequence.fails_open): "the rule allows every port of the protocol, "
    "not only the named one",
    (Feature.ip_block_pod_ips, Consequence.denied): "pod traffic is not matched by CIDRs, so "
    "traffic the ipBlock should allow to or from pods is blocked, even with 0.0.0.0/0",
    (Feature.cnp_networks_pod_ips, Consequence.fails_open): "pod traffic is not matched by the CIDR: a "
    "Deny lets it through and an Accept does not accept it",
}

_HINTS = {
    Feature.network_policy: "pick a CNI that enforces NetworkPolicy (see `netpolc cni list`) "
    "or add kube-network-policies",
    Feature.match_expressions: "select with matchLabels",
    Feature.negative_match: "select with matchLabels, In or Exists on a label the wanted pods carry",
    Feature.ip_block_except: "split the CIDR into blocks that leave out the excepted ranges",
    Feature.ipv6: "keep ipBlock rules to IPv4 CIDRs on this target",
    Feature.ip_block_pod_ips: "select pods with podSelector and namespaceSelector, not by IP",
    Feature.sctp: "use TCP or UDP",
    Feature.named_port: "use numeric ports",
    Feature.end_port: "use single ports, or pass --expand-port-ranges to let netpolc expand "
    "small ranges",
    Feature.cnp_networks_pod_ips: "select pods with namespaces or pods peers, not by CIDR",
    Feature.cnp_nodes: "name the node addresses with a networks CIDR instead",
    Feature.anp_nodes: "name the node addresses with a networks CIDR instead",
    Feature.cnp_domain_names: "name the addresses with a networks CIDR instead",
    Feature.anp_domain_names: "name the addresses with a networks CIDR instead",
    Feature.cnp_named_port: "use numeric ports",
    Feature.anp_named_port: "use numeric ports",
    Feature.cnp_port_range: "use single ports",
    Feature.anp_port_range: "use single ports",
    Feature.cnp_sctp: "use TCP or UDP",
    Feature.anp_sctp: "use TCP or UDP",
    Feature.fqdn: "write the addresses the name resolves to as a CIDR (`203.0.113.0/24:443`), or compile with a --cni that enforces DNS names (see `netpolc cni show NAME`)",
    Feature.fqdn_one_label_wildcard: "list the names you mean, or write the wildcard this CNI has (see the README's DNS names table)",
    Feature.fqdn_multi_label_wildcard: "list the names you mean, or use `*.` for one label",
    Feature.fqdn_partial_wildcard: "list the names you mean",
    Feature.fqdn_deny: "allow the names you need instead, and deny the rest",
}

_LIMIT_HINTS = {
    Feature.end_port: "do not use --expand-port-ranges on this target: every expanded port "
    "is a combination of its own",
    Feature.anp_priority_range: "renumber the AdminNetworkPolicy priorities",
}


def _finding(row: Row, target: Target, version: str | None) -> Finding:
    feature, label = row.feature, row.feature.label
    who = f"{target.name} {version}" if version else target.name
    effects = _CLUSTER_EFFECTS if feature.api is not Api.network_policy else {}
    effect = (
        _FEATURE_EFFECTS.get((feature, row.consequence))
        or effects.get(row.consequence)
        or _EFFECTS.get(row.consequence, "")
    )
    note = (row.note or "no primary source confirms it").rstrip(".")
    hint = _HINTS.get(feature, f"pick a target that enforces {label} (see `netpolc cni list`)")
    if row.status is Status.supported:  # supported up to a limit
        message = f"{who} enforces {label} only within a limit: {note}"
        hint = f"keep to {row.limit} or fewer; {_LIMIT_HINTS.get(feature, hint)}"
    elif row.status is Status.unknown:
        message = f"{who} may not enforce {label} as written: {note}"
        if not row.since:
            hint = f"test the policy on a cluster running {target.display_name}, or {hint}"
    elif row.status is Status.opt_in:
        message = f"{who} enforces {label} only when switched on ({row.switch})"
        if effect:
            message += f"; while off, {effect}"
        hint = f"switch it on where it is off ({row.switch}): netpolc cannot see the cluster's configuration; or {hint}"
    elif feature is Feature.network_policy:
        message = f"{who} enforces no NetworkPolicy at all: {effect}"
    else:
        verb = "does not support" if row.status is Status.unsupported else "does not enforce"
        message = f"{who} {verb} {label}: {effect}"
    if row.is_change and row.status in NOT_ENFORCED:
        message += f" (from {target.name} {row.since} on)"
    elif row.is_before:
        message += f" (enforced since {target.name} {row.since})"
        hint = f"upgrade {target.name} to {row.since} or later, or {hint}"
    return Finding(
        feature, target.name, version, row.status, row.consequence, row.limit, row.source,
        message, hint,
    )


# --- loading ---------------------------------------------------------------------------------

# Numeric dot-separated versions, optionally with a leading `v` and a suffix such as `-rc.1` or
# `-gke.700`; the suffix is ignored when comparing, so 1.16.0-rc.1 counts as 1.16.
_VERSION = re.compile(r"v?([0-9]{1,9}(?:\.[0-9]{1,9})*)(?:[-+][0-9A-Za-z.+-]*)?")  # bounded: int() of 4,301 digits raises


def _version_key(version: str) -> tuple[int, ...]:
    match = _VERSION.fullmatch(version)
    if not match:
        raise TargetError(
            f"malformed version `{version if len(version) <= 40 else version[:20] + '…'}`",
            "write the CNI version as numbers separated by dots, e.g. cilium@1.16 or cilium@1.16.2",
        )
    parts = [int(part) for part in match.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 1.16.0 == 1.16
        parts.pop()
    return tuple(parts)


def _data() -> Traversable:
    from importlib import resources

    return resources.files(__name__) / "data"


@functools.cache
def _names() -> tuple[str, ...]:
    files = [path.name for path in _data().iterdir()]
    return tuple(sorted(name.removesuffix(".toml") for name in files if name.endswith(".toml")))


@functools.cache
def _bundled(name: str) -> Target:
    return _load_from(_data(), name)


@functools.cache
def _validator():
    import json

    import jsonschema

    schema = json.loads((_data() / "schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _read_table(path: Traversable) -> dict:
    """Parse and validate one table file; errors name the file and the offending key."""
    import tomllib

    from jsonschema.exceptions import best_match

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path.name}: cannot read the table: {exc}") from exc
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "top level"
        raise TargetError(
            f"{path.name}: {where}: {error.message}",
            "table keys, features, statuses and consequences are listed in data/schema.json",
        )
    if data["name"] != path.name.removesuffix(".toml"):
        raise TargetError(f"{path.name}: name `{data['name']}` does not match the file name")
    return data


def _row(feature: Feature, fields: dict, is_change: bool = False) -> Row:
    return Row(
        feature=feature,
        status=Status(fields["status"]),
        since=fields.get("since"),
        before=Status(fields.get("before", "ignored")),
        consequence=Consequence(fields["consequence"]) if "consequence" in fields else None,
        limit=fields.get("limit"),
        source=fields["source"],
        note=fields.get("note"),
        switch=fields.get("switch"),
        backend=fields.get("backend"),
        is_change=is_change,
    )


def _load_from(directory: Traversable, name: str, _seen: tuple[str, ...] = ()) -> Target:
    """Load `name` from `directory` and resolve what it extends from the same directory."""
    if name in _seen:
        raise TargetError(f"{name}.toml: extends itself through {' -> '.join(_seen)}")
    data = _read_table(directory / f"{name}.toml")
    base = data.get("extends")
    rows, notes = {}, ()
    if base:
        parent = _load_from(directory, base, (*_seen, name))
        rows, notes = dict(parent.rows), parent.notes
    for key, fields in data.get("features", {}).items():
        feature = Feature(key)
        changes = tuple(_row(feature, change, is_change=True) for change in fields.get("changes", ()))
        versions = [fields["since"]] if "since" in fields else []
        versions += [change.since for change in changes]
        keys = [_version_key(version) for version in versions]
        if keys != sorted(set(keys)):
            raise TargetError(f"{name}.toml: features.{key}: since and the changes' since must rise strictly")
        rows[feature] = dataclasses.replace(_row(feature, fields), changes=changes)
    missing = [feature.value for feature in Feature if feature not in rows]
    if missing:
        raise TargetError(f"{name}.toml: no row for {', '.join(missing)} and nothing to inherit it from")
    return Target(
        name=name,
        display_name=data["display_name"],
        extends=base,
        latest_version=data.get("latest_version"),
        rows=rows,
        notes=(*notes, *data.get("notes", ())),
        description=data["description"],
    )
