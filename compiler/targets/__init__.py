"""Per-CNI capability tables: which NetworkPolicy features each CNI enforces, and the check.

The API server accepts every valid NetworkPolicy, but the CNI plugin decides what is enforced,
and some plugins silently enforce less (or more) than written. The facts live as data, one TOML
table per target in `data/`, validated against `data/schema.json` on load; the vocabulary
(`Feature`, `Status`, `Consequence`) lives here, so a table cannot name a feature the code does
not know. `kubernetes.toml` is the upstream baseline that lists every feature as supported;
every other table `extends` it (directly or through another table) and lists only the rows
where it differs, each with a source. `since` is the first version of *that table's product*
that enforces a feature, so a table may only extend one that uses the same version numbers or
has no `since` rows. `check_features` is pure: it turns used features into findings and leaves
rendering and exit codes to the caller.
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

    @property
    def label(self) -> str:
        """How messages name the feature."""
        return _LABELS[self]


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


class Consequence(enum.Enum):
    """What happens to a manifest that uses a feature the target does not enforce."""

    nothing_enforced = "nothing_enforced"
    """No NetworkPolicy is enforced at all."""
    field_ignored = "field_ignored"
    """The field is ignored and the rest of the rule applies: usually wider than intended."""
    rule_dropped = "rule_dropped"
    """The rule containing the feature is dropped: fail-closed, the traffic it allowed is blocked."""
    policy_dropped = "policy_dropped"
    """The whole policy is dropped: the pods it isolates stay open."""
    fails_open = "fails_open"
    """The implementation allows more than written (e.g. a named port opens every port)."""
    limit = "limit"
    """Enforced only up to a limit; the row carries `limit`."""
    denied = "denied"
    """Traffic the feature should allow is blocked."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One feature of one target. `before` is the status for versions older than `since`."""

    feature: Feature
    status: Status
    since: str | None = None
    before: Status = Status.ignored
    consequence: Consequence | None = None
    limit: int | None = None
    source: str = ""
    note: str | None = None


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
        gate = self._at(self.rows[Feature.network_policy], version)
        if feature is not Feature.network_policy and gate.status is not Status.supported:
            # Where nothing is enforced, no single feature is either: report every feature
            # with the reason, so `cni show flannel` does not list ingress as supported.
            return dataclasses.replace(gate, feature=feature)
        return self._at(self.rows[feature], version)

    def _at(self, row: Row, version: str | None) -> Row:
        version = version or self.latest_version
        if row.since and version and _version_key(version) < _version_key(row.since):
            return dataclasses.replace(row, status=row.before)
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
    used = set(features)
    findings = []
    for feature in Feature:
        row = target.row(feature, version)
        if row.status is Status.supported and row.limit is not None:
            over = feature in used if counts is None else counts.get(feature, 0) > row.limit
            if over:
                findings.append(_finding(row, target, version))
        elif feature in used and row.status is not Status.supported:
            findings.append(_finding(row, target, version))
    return findings


def describe_table(target: Target, version: str | None = None) -> list[tuple[str, str, str, str, str]]:
    """(feature, status, since, consequence, source) per feature, for `netpolc cni show`."""
    table = []
    for feature in Feature:
        row = target.row(feature, version)
        consequence = row.consequence.value if row.consequence else ""
        if row.limit is not None:
            consequence += f" ({row.limit})"
        table.append((feature.value, row.status.value, row.since or "", consequence, row.source))
    return table


def summary_line(target: Target) -> str:
    """`name: description [n not enforced, m unknown]`, for `netpolc cni list`."""
    statuses = [target.row(feature).status for feature in Feature]
    bad = sum(status in (Status.unsupported, Status.ignored) for status in statuses)
    unknown = statuses.count(Status.unknown)
    return f"{target.name}: {target.description} [{bad} not enforced, {unknown} unknown]"


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
}

_LIMIT_HINTS = {
    Feature.end_port: "do not use --expand-port-ranges on this target: every expanded port "
    "is a combination of its own",
}


def _finding(row: Row, target: Target, version: str | None) -> Finding:
    feature, label = row.feature, row.feature.label
    who = f"{target.name} {version}" if version else target.name
    effect = _FEATURE_EFFECTS.get((feature, row.consequence)) or _EFFECTS.get(row.consequence, "")
    note = (row.note or "no primary source confirms it").rstrip(".")
    hint = _HINTS.get(feature, f"pick a target that enforces {label} (see `netpolc cni list`)")
    if row.status is Status.supported:  # supported up to a limit
        message = f"{who} enforces {label} only within a limit: {note}"
        hint = f"keep to {row.limit} or fewer; {_LIMIT_HINTS.get(feature, hint)}"
    elif row.status is Status.unknown:
        message = f"{who} may not enforce {label} as written: {note}"
        if not row.since:
            hint = f"test the policy on a cluster running {target.display_name}, or {hint}"
    elif feature is Feature.network_policy:
        message = f"{who} enforces no NetworkPolicy at all: {effect}"
    else:
        verb = "does not support" if row.status is Status.unsupported else "does not enforce"
        message = f"{who} {verb} {label}: {effect}"
    if row.since and row.status is not Status.supported:  # only older versions get here
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
        rows[feature] = Row(
            feature=feature,
            status=Status(fields["status"]),
            since=fields.get("since"),
            before=Status(fields.get("before", "ignored")),
            consequence=Consequence(fields["consequence"]) if "consequence" in fields else None,
            limit=fields.get("limit"),
            source=fields["source"],
            note=fields.get("note"),
        )
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
