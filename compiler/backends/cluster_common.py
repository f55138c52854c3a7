"""What both cluster backends share: the emitted object, subjects and peers in the upstream shape, names."""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir, tiers
from .networkpolicy import MAX_NAME, _short_hash, metadata, peer_words, slug

CLUSTER_FOLDER = "_cluster"  # where `compile -o DIR` writes cluster-scoped objects
RULE_NAME_LENGTH = 100  # the API's limit on a rule's `name`


@dataclass
class ClusterEmitted:
    """One cluster-scoped object (ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy) and its block."""

    api_version: str
    kind: str
    name: str
    spec: dict
    block: tiers.Block | None  # None for a singleton made of several blocks (BaselineAdminNetworkPolicy)
    section: ir.Section
    rule_origins: tuple[ir.Origin, ...]

    namespace = ""  # cluster-scoped

    @property
    def path(self) -> str:
        return f"{CLUSTER_FOLDER}/{self.name}.yaml"

    @property
    def origins(self) -> tuple[ir.Origin, ...]:
        return self.rule_origins

    @property
    def intent(self):
        """Where diagnostics about the object point: its section's header line."""
        return self.section

    def manifest(self) -> dict:
        origin = self.section.origin
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata(self.name, origin),
            "spec": self.spec,
        }


def namespaces_k8s(ref: ir.NamespaceRef) -> dict:
    return tiers.namespace_selector(ref).to_k8s()


def pods_k8s(pods: ir.Pods) -> dict:
    """A subject or a pod peer: `namespaces` alone when every pod of them, else `pods`."""
    if pods.selector.is_empty:
        return {"namespaces": namespaces_k8s(pods.namespace)}
    return {"pods": {"namespaceSelector": namespaces_k8s(pods.namespace), "podSelector": pods.selector.to_k8s()}}


def peers_k8s(peer: ir.Peer, named_only: bool) -> list[dict]:
    """The peers of one rule. `named_only`: the rule's ports are named, which only pods have (the API forbids them with networks)."""
    if isinstance(peer, ir.Pods):
        return [pods_k8s(peer)]
    if isinstance(peer, ir.World):  # every address and every pod (networks match pod IPs only where they are known)
        return [{"namespaces": {}}] if named_only else [{"networks": ["0.0.0.0/0", "::/0"]}, {"namespaces": {}}]
    if isinstance(peer, ir.Name):  # the API's `*.x.com` is one or more labels: the language's `**.x.com` (lower.py)
        name = peer.name  # as written: the API takes a trailing dot
        return [{"domainNames": ["*." + name[3:] if name.startswith("**.") else name]}]
    return [{"networks": [peer.cidr]}]


def rule_name(rule: tiers.SideRule) -> str:
    """`L3: deny namespaces env=dev to namespaces env=prod`, within the API's 100 characters."""
    origin = rule.intent.origin
    text = f"L{origin.user_span.line}: {origin.describe()}"
    return text if len(text) <= RULE_NAME_LENGTH else text[: RULE_NAME_LENGTH - 1] + "…"


def object_name(block: tiers.Block) -> str:
    subject = block.subject
    words = peer_words(subject, "") if not (subject.namespace.kind == "all" and subject.selector.is_empty) else "all"
    name = slug(f"{block.section.tier}-{block.priority}-{words}") or "policy"
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 7].rstrip("-") + "-" + _short_hash(name)
    return name


def unique_names(items: list[ClusterEmitted]) -> list[ClusterEmitted]:
    """Objects that read the same get a hash of their content; sorted by name (cluster-scoped names must be unique)."""
    import json

    counts: dict[str, int] = {}
    for item in items:
        counts[item.name] = counts.get(item.name, 0) + 1
    for item in items:
        if counts[item.name] > 1:
            digest = _short_hash(json.dumps(item.spec, sort_keys=True))
            item.name = item.name[: MAX_NAME - 7].rstrip("-") + "-" + digest
    return sorted(items, key=lambda i: i.name)
