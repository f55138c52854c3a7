"""Target-neutral intermediate representation in Kubernetes words; every intent keeps its origin.

Values are NamedTuples (cheap to define at start-up, immutable, hashable); an intent's
last field is always its origin, which `intent_key` leaves out.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

from .source import Span

NAME_LABEL = "kubernetes.io/metadata.name"
PROTOCOLS = ("TCP", "UDP", "SCTP")


# ---------------------------------------------------------------- selectors


class Expression(NamedTuple):
    """A matchExpressions entry; operator is In, NotIn, Exists or DoesNotExist."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":  # an absent key satisfies NotIn, as in Kubernetes
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        raise ValueError(f"unknown selector operator {self.operator!r}")


class LabelSelector(NamedTuple):
    """matchLabels AND matchExpressions, kept sorted so that equal selectors compare equal.

    The empty selector selects everything; it is only ever built where the source
    says so (`any`, `all`, `cluster`, `world`, or a statement without `for`).
    """

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Expression, ...] = ()

    @classmethod
    def of(cls, match_labels=(), match_expressions=()) -> "LabelSelector":
        labels = dict(match_labels)
        return cls(tuple(sorted(labels.items())), tuple(sorted(set(match_expressions))))

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels) and all(
            e.matches(labels) for e in self.match_expressions
        )

    def requirement_count(self) -> int:
        return len(self.match_labels) + len(self.match_expressions)

    def covers(self, other: "LabelSelector") -> bool:
        """True when every pod `other` selects is also selected by self (judged by its terms)."""
        return set(self.match_labels) <= set(other.match_labels) and set(self.match_expressions) <= set(
            other.match_expressions
        )

    def intersect(self, other: "LabelSelector") -> "LabelSelector | None":
        """The selector matching pods both select; None when no pod can match both."""
        labels = dict(self.match_labels)
        for key, value in other.match_labels:
            if labels.setdefault(key, value) != value:
                return None
        merged = LabelSelector.of(labels, self.match_expressions + other.match_expressions)
        return merged if merged.satisfiable() else None

    def satisfiable(self) -> bool:
        """False when the terms contradict each other (app=a,app!=a; x in (a) with x notin (a); ...)."""
        witness = self.witness()
        return witness is not None

    def witness(self, avoid: str = "netpolc-other") -> dict[str, str] | None:
        """The smallest label set this selector matches, or None if it matches nothing."""
        labels = dict(self.match_labels)
        for key in sorted({e.key for e in self.match_expressions} - set(labels)):
            terms = [e for e in self.match_expressions if e.key == key]
            if any(e.operator == "DoesNotExist" for e in terms):
                continue
            allowed = None
            for e in terms:
                if e.operator == "In":
                    allowed = set(e.values) if allowed is None else allowed & set(e.values)
            excluded = {v for e in terms if e.operator == "NotIn" for v in e.values}
            if allowed is not None:
                choices = sorted(allowed - excluded)
                if not choices:
                    return None
                labels[key] = choices[0]
            elif any(e.operator == "Exists" for e in terms):
                labels[key] = avoid if avoid not in excluded else avoid + "-x"
        return labels if self.matches(labels) else None

    def to_k8s(self) -> dict:
        out: dict = {}
        if self.match_labels:
            out["matchLabels"] = dict(self.match_labels)
        if self.match_expressions:
            out["matchExpressions"] = [
                {"key": e.key, "operator": e.operator, **({"values": list(e.values)} if e.values else {})}
                for e in self.match_expressions
            ]
        return out

    @classmethod
    def from_k8s(cls, raw) -> "LabelSelector":
        """Read a Kubernetes LabelSelector dict; raises ValueError when it is malformed."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError("a label selector must be a mapping")
        unknown = set(raw) - {"matchLabels", "matchExpressions"}
        if unknown:
            raise ValueError(f"unknown selector field {sorted(unknown)[0]!r}")
        labels = raw.get("matchLabels") or {}
        if not isinstance(labels, dict):
            raise ValueError("matchLabels must be a mapping")
        expressions = []
        for entry in raw.get("matchExpressions") or []:
            if not isinstance(entry, dict) or "key" not in entry or "operator" not in entry:
                raise ValueError("each matchExpressions entry needs key and operator")
            operator = entry["operator"]
            values = tuple(sorted(str(v) for v in entry.get("values") or ()))
            if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise ValueError(f"unknown matchExpressions operator {operator!r}")
            if operator in ("In", "NotIn") and not values:
                raise ValueError(f"operator {operator} needs at least one value")
            if operator in ("Exists", "DoesNotExist") and values:
                raise ValueError(f"operator {operator} takes no values")
            expressions.append(Expression(str(entry["key"]), operator, values))
        return cls.of({str(k): str(v) for k, v in labels.items()}, expressions)

    def __str__(self) -> str:
        if self.is_empty:
            return "any"
        terms = [f"{k}={v}" for k, v in self.match_labels]
        for e in self.match_expressions:
            if e.operator == "In":
                terms.append(f"{e.key} in ({', '.join(e.values)})")
            elif e.operator == "NotIn":
                terms.append(f"{e.key}!={e.values[0]}" if len(e.values) == 1 else f"{e.key} notin ({', '.join(e.values)})")
            elif e.operator == "Exists":
                terms.append(e.key)
            else:
                terms.append(f"!{e.key}")
        return ",".join(terms)


EVERYTHING = LabelSelector()


# ---------------------------------------------------------------- peers


class NamespaceRef(NamedTuple):
    """Which namespaces a pod peer looks in: one by name, those whose labels match, or all."""

    kind: str  # "named", "labelled", "all"
    name: str = ""
    selector: LabelSelector = EVERYTHING

    def __str__(self) -> str:
        if self.kind == "named":
            return f"namespace {self.name}"
        if self.kind == "labelled":
            return f"namespaces {self.selector}"
        return "any namespace"


class Pods(NamedTuple):
    """Pods matching `selector` in the namespaces `namespace` refers to."""

    namespace: NamespaceRef
    selector: LabelSelector

    def __str__(self) -> str:
        if self.namespace.kind == "all" and self.selector.is_empty:
            return "cluster"
        return f"{self.selector} in {self.namespace}"


class Block(NamedTuple):
    """Addresses in `cidr` but not in any of `excepts` (normalised network strings)."""

    cidr: str
    excepts: tuple[str, ...] = ()

    def network(self):
        return ipaddress.ip_network(self.cidr)

    def __str__(self) -> str:
        if not self.excepts:
            return self.cidr
        return f"{self.cidr} except ({', '.join(self.excepts)})"


class World(NamedTuple):
    """Every address inside the cluster and outside it."""

    name: str = "world"  # a field, so that World() is not equal to an empty tuple

    def __str__(self) -> str:
        return "world"


class Name(NamedTuple):
    """A DNS name or wildcard as written (`api.stripe.com`, `*.stripe.com`): the addresses it resolves to, learned at run time.

    Target-neutral: which object enforces it is the backend's choice (`fqdn.py`); what a
    wildcard matches is defined once, in `dnsnames`.
    """

    name: str

    def __str__(self) -> str:
        return self.name


Peer = Pods | Block | World | Name


# ---------------------------------------------------------------- ports


class PortRange(NamedTuple):
    """One NetworkPolicyPort: protocol with a number, a number range, a name, or every port (None)."""

    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None

    def contains(self, other: "PortRange") -> bool:
        if self.protocol != other.protocol:
            return False
        if self.port is None:
            return True
        if isinstance(self.port, str) or isinstance(other.port, str) or other.port is None:
            return self.port == other.port and other.end_port is None
        low, high = self.port, self.end_port or self.port
        return low <= other.port and (other.end_port or other.port) <= high

    def __str__(self) -> str:
        if self.port is None:
            text = "all ports"
        elif self.end_port is not None:
            text = f"{self.port}-{self.end_port}"
        else:
            text = str(self.port)
        return text if self.protocol == "TCP" else f"{text}/{self.protocol.lower()}"


def ports_contain(outer: tuple[PortRange, ...], inner: tuple[PortRange, ...]) -> bool:
    """Every port of `inner` is in `outer`; an empty tuple means every port of every protocol."""
    if not outer:
        return True
    if not inner:
        return False
    return all(any(o.contains(i) for o in outer) for i in inner)


# ---------------------------------------------------------------- intents


class Origin(NamedTuple):
    """Where an intent comes from: the statement, its text, and the `use` line that brought it in."""

    span: Span
    text: str
    via: Span | None = None
    module: str | None = None

    @property
    def user_span(self) -> Span:
        """The position in the user's own files (the `use` line for stdlib statements)."""
        return self.via or self.span

    def describe(self) -> str:
        return f"use {self.module}: {self.text}" if self.module else self.text


class Isolate(NamedTuple):
    """`deny all|ingress|egress [for S]`: the subject pods accept / send only what is allowed."""

    namespace: str
    subject: LabelSelector
    directions: tuple[str, ...]  # subset of ("ingress", "egress"), sorted
    origin: Origin


class Allow(NamedTuple):
    """`allow A to B[:ports]`."""

    namespace: str
    source: Peer
    destination: Peer
    ports: tuple[PortRange, ...]  # empty: every port
    origin: Origin


class Only(NamedTuple):
    """`egress only to P` / `ingress only from P` for the subject pods."""

    namespace: str
    direction: str
    subject: LabelSelector
    peer: Peer
    ports: tuple[PortRange, ...]
    origin: Origin


class Expect(NamedTuple):
    """`expect A -> B:port allowed|denied`."""

    namespace: str
    source: Peer
    destination: Peer
    port: PortRange
    verdict: str
    origin: Origin


Intent = Isolate | Allow | Only


# ---------------------------------------------------------------- cluster sections

ADMIN, BASELINE = "admin", "baseline"
ACCEPT, DENY, PASS = "accept", "deny", "pass"


class Section(NamedTuple):
    """`cluster admin priority 10`: a cluster section; its rules are tried in order, the first match decides."""

    tier: str  # "admin" or "baseline"
    priority: int
    origin: Origin

    def __str__(self) -> str:
        return f"cluster {self.tier} priority {self.priority}"


class ClusterIntent(NamedTuple):
    """One rule of a cluster section: `allow|deny|pass A to B[:ports]` (position = order in the section)."""

    section: Section
    position: int
    action: str  # "accept", "deny" or "pass"
    source: Pods  # cluster rules see pods as sources (the API has no address peers for ingress)
    destination: Peer
    ports: tuple[PortRange, ...]  # empty: every port
    origin: Origin


def intent_key(intent) -> tuple:
    """What makes two intents the same, whatever line they are written on."""
    return (type(intent).__name__,) + tuple(intent[:-1])


@dataclass
class Program:
    """Everything the lowering produced: intents, expectations, the namespaces the program manages, and cluster sections."""

    intents: list[Intent]
    expects: list[Expect]
    namespaces: tuple[str, ...]
    cluster: list[ClusterIntent] = field(default_factory=list)  # in section order, then rule order
    sections: list[Section] = field(default_factory=list)
    # The backend that writes the namespace intents' DNS names (`fqdn.BACKENDS`), chosen from --cni;
    # "" when the program has none. Its implied rules (Cilium's DNS rule) are part of the meaning.
    fqdn_backend: str = ""
