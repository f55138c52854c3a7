"""Syntax tree of the intent language: immutable nodes in the words of the source, each with a span.

Nodes are NamedTuples rather than dataclasses: they are created at import by every
`netpolc check`, and a NamedTuple class costs a tenth of a frozen dataclass to define.
"""

from __future__ import annotations

from typing import NamedTuple

from .source import Span


class Word(NamedTuple):
    """A token as written (label key, value, name, port...) and where."""

    text: str
    span: Span


class Requirement(NamedTuple):
    """One term of a label selector: `key=value`, `key!=value`, `key in (...)`, `key notin (...)`, `key`, `!key`."""

    key: Word
    operator: str  # "=", "!=", "in", "notin", "exists", "absent"
    values: tuple[Word, ...]  # as written: the empty value is the word `""`
    span: Span


class Selector(NamedTuple):
    """A pod or namespace label selector; `any` is written out explicitly, never implied."""

    requirements: tuple[Requirement, ...]
    is_any: bool
    span: Span


class NamespaceScope(NamedTuple):
    """Where a pod selector looks: `in namespace N`, `in namespaces SEL`, `in namespaces except N`, `in any namespace`.

    `in namespaces except (a, b)` is kind "labelled" with the selector it means written out
    (`kubernetes.io/metadata.name notin (a, b)`), and `excluded` the names as written.
    """

    kind: str  # "named", "labelled", "all"
    name: Word | None
    selector: Selector | None
    span: Span
    excluded: tuple[Word, ...] = ()


class PodTarget(NamedTuple):
    selector: Selector
    scope: NamespaceScope | None
    span: Span


class NamespaceTarget(NamedTuple):
    """`namespace N`: every pod of one namespace."""

    name: Word
    span: Span


class NamespacesTarget(NamedTuple):
    """`namespaces SEL`: every pod of the namespaces whose labels match.

    `namespaces except (a, b)` carries the selector it means (`kubernetes.io/metadata.name notin (a, b)`)
    and, in `excluded`, the names as written (for the formatter and the namespace-name check).
    """

    selector: Selector
    span: Span
    excluded: tuple[Word, ...] = ()


class ClusterTarget(NamedTuple):
    """`cluster`: every pod of every namespace."""

    span: Span


class WorldTarget(NamedTuple):
    """`world`: every address, inside the cluster and out."""

    span: Span


class IpTarget(NamedTuple):
    cidr: Word
    excepts: tuple[Word, ...]
    span: Span


class NameTarget(NamedTuple):
    """`api.stripe.com`, `*.stripe.com`: a DNS name (or a wildcard over names) as a destination outside the cluster."""

    name: Word
    span: Span


Target = PodTarget | NamespaceTarget | NamespacesTarget | ClusterTarget | WorldTarget | IpTarget | NameTarget


class Port(NamedTuple):
    """`5432`, `8000-8080`, `http`, each optionally `/udp`; `*/udp` is every port of one protocol."""

    value: Word
    protocol: Word | None
    span: Span


class Peer(NamedTuple):
    target: Target
    ports: tuple[Port, ...] | None
    span: Span


# ---------------------------------------------------------------- statements


class NamespaceStmt(NamedTuple):
    name: Word
    span: Span


class ClusterStmt(NamedTuple):
    """`cluster admin priority N` / `cluster baseline [priority N]`: the start of a cluster section."""

    tier: Word  # "admin" or "baseline"
    priority: Word | None
    span: Span


class UseStmt(NamedTuple):
    """`use dns` (a stdlib module) or `use "path.netpol"` (a file of the project)."""

    module: Word
    is_path: bool
    span: Span


class DenyStmt(NamedTuple):
    direction: str  # "all", "ingress", "egress"
    subject: Selector | None
    span: Span


class DenyFlowStmt(NamedTuple):
    source: Peer
    destination: Peer
    span: Span


class AllowStmt(NamedTuple):
    source: Peer
    destination: Peer
    span: Span


class PassStmt(NamedTuple):
    """`pass A to B` (cluster admin sections): the namespaces' own policies decide the flow."""

    source: Peer
    destination: Peer
    span: Span


class OnlyStmt(NamedTuple):
    """`egress only to P [for S]` / `ingress only from P [for S]`."""

    direction: str  # "ingress" or "egress"
    peer: Peer
    subject: Selector | None
    span: Span


class ExpectStmt(NamedTuple):
    source: Peer
    destination: Peer
    verdict: str  # "allowed" or "denied"
    span: Span


Statement = NamespaceStmt | ClusterStmt | UseStmt | DenyStmt | DenyFlowStmt | AllowStmt | PassStmt | OnlyStmt | ExpectStmt


class Module(NamedTuple):
    """One parsed file."""

    name: str
    statements: tuple[Statement, ...]
