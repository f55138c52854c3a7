"""Syntax tree of the intent language: frozen dataclasses in the words of the source, each with a span."""

from __future__ import annotations

from dataclasses import dataclass

from .source import Span


@dataclass(frozen=True)
class Word:
    """A token as written (label key, value, name, port...) and where."""

    text: str
    span: Span


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: `key=value`, `key!=value`, `key in (...)`, `key notin (...)`, `key`, `!key`."""

    key: Word
    operator: str  # "=", "!=", "in", "notin", "exists", "absent"
    values: tuple[Word, ...]
    span: Span


@dataclass(frozen=True)
class Selector:
    """A pod or namespace label selector; `any` is written out explicitly, never implied."""

    requirements: tuple[Requirement, ...]
    is_any: bool
    span: Span


@dataclass(frozen=True)
class NamespaceScope:
    """Where a pod selector looks: `in namespace N`, `in namespaces SEL`, `in any namespace`."""

    kind: str  # "named", "labelled", "all"
    name: Word | None
    selector: Selector | None
    span: Span


@dataclass(frozen=True)
class PodTarget:
    selector: Selector
    scope: NamespaceScope | None
    span: Span


@dataclass(frozen=True)
class NamespaceTarget:
    """`namespace N`: every pod of one namespace."""

    name: Word
    span: Span


@dataclass(frozen=True)
class NamespacesTarget:
    """`namespaces SEL`: every pod of the namespaces whose labels match."""

    selector: Selector
    span: Span


@dataclass(frozen=True)
class ClusterTarget:
    """`cluster`: every pod of every namespace."""

    span: Span


@dataclass(frozen=True)
class WorldTarget:
    """`world`: every address, inside the cluster and out."""

    span: Span


@dataclass(frozen=True)
class IpTarget:
    cidr: Word
    excepts: tuple[Word, ...]
    span: Span


Target = PodTarget | NamespaceTarget | NamespacesTarget | ClusterTarget | WorldTarget | IpTarget


@dataclass(frozen=True)
class Port:
    """`5432`, `8000-8080`, `http`, each optionally `/udp`."""

    value: Word
    protocol: Word | None
    span: Span


@dataclass(frozen=True)
class Peer:
    target: Target
    ports: tuple[Port, ...] | None
    span: Span


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class NamespaceStmt:
    name: Word
    span: Span


@dataclass(frozen=True)
class UseStmt:
    """`use dns` (a stdlib module) or `use "path.netpol"` (a file of the project)."""

    module: Word
    is_path: bool
    span: Span


@dataclass(frozen=True)
class DenyStmt:
    direction: str  # "all", "ingress", "egress"
    subject: Selector | None
    span: Span


@dataclass(frozen=True)
class DenyFlowStmt:
    source: Peer
    destination: Peer
    span: Span


@dataclass(frozen=True)
class AllowStmt:
    source: Peer
    destination: Peer
    span: Span


@dataclass(frozen=True)
class OnlyStmt:
    """`egress only to P [for S]` / `ingress only from P [for S]`."""

    direction: str  # "ingress" or "egress"
    peer: Peer
    subject: Selector | None
    span: Span


@dataclass(frozen=True)
class ExpectStmt:
    source: Peer
    destination: Peer
    verdict: str  # "allowed" or "denied"
    span: Span


Statement = NamespaceStmt | UseStmt | DenyStmt | DenyFlowStmt | AllowStmt | OnlyStmt | ExpectStmt


@dataclass(frozen=True)
class Module:
    """One parsed file."""

    name: str
    statements: tuple[Statement, ...]
