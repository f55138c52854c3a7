"""IR -> manifests: the backend of each target API writes its objects (`backends/`); this module picks them.

NetworkPolicy v1 (`backends.networkpolicy`) writes the namespace intents, except those to DNS
names, which go to the object of the target CNI (`backends.ciliumnetworkpolicy`,
`backends.antreapolicy`, chosen by `fqdn.select` from --cni); cluster sections
go to ClusterNetworkPolicy v1alpha2 (`backends.clusternetworkpolicy`, the default) or to
AdminNetworkPolicy / BaselineAdminNetworkPolicy v1alpha1 (`backends.adminnetworkpolicy`,
`--api v1alpha1`). Every backend returns objects with `manifest()`, `path`, `origins`.
"""

from __future__ import annotations

from . import ir
from .backends.networkpolicy import (  # re-exported: analysis and the proof share where NetworkPolicy puts things
    Emitted,
    egress_isolations,
    egress_subjects,
    ingress_target,
)
from .diagnostics import Diagnostic

CLUSTER_APIS = ("v1alpha2", "v1alpha1")


def cluster_backend(api: str):
    """The backend module that writes cluster sections for `api` (its MAX_RULES and MAX_PORTS shape the placement)."""
    if api == "v1alpha1":
        from .backends import adminnetworkpolicy as backend
    else:
        from .backends import clusternetworkpolicy as backend
    return backend


def _names_v1alpha1(program: ir.Program) -> list[Diagnostic]:
    """NP452: cluster rules to DNS names are written as ClusterNetworkPolicy v1alpha2 `domainNames` only."""
    return [
        Diagnostic(
            "NP452",
            rule.origin.user_span,
            f"`{rule.destination}` in a cluster rule needs ClusterNetworkPolicy v1alpha2 (`domainNames`): netpolc does not write it as AdminNetworkPolicy v1alpha1",
            "compile without --api v1alpha1, or write the addresses as a CIDR",
        )
        for rule in program.cluster
        if isinstance(rule.destination, ir.Name)
    ]


def fqdn_backend(name: str):
    """The backend module that writes the namespace intents to DNS names (`fqdn.BACKENDS`)."""
    if name == "antrea":
        from .backends import antreapolicy as backend
    else:
        from .backends import ciliumnetworkpolicy as backend
    return backend


def place(program: ir.Program, api: str = "v1alpha2"):
    """Where the cluster sections' rules go for `api`: (blocks, NP416 diagnostics); decided once per build."""
    from . import tiers

    backend = cluster_backend(api)
    return tiers.place(program, backend.MAX_RULES, backend.MAX_PORTS)


def emit(program: ir.Program, expand_ranges: int = 0, api: str = "v1alpha2", blocks=None) -> tuple[list, list[Diagnostic]]:
    """Every object of the program, in a stable order (namespaced first), and what the backends could not write."""
    from .backends import networkpolicy

    out: list = networkpolicy.emit(program, expand_ranges)
    diagnostics: list[Diagnostic] = []
    if program.fqdn_backend:  # the intents to DNS names, in the object the target CNIs know (`fqdn.select`)
        out += fqdn_backend(program.fqdn_backend).emit(program, egress_isolations(program), expand_ranges)
        out.sort(key=lambda item: (item.namespace, item.name, item.kind))
    if program.cluster:
        if blocks is None:
            blocks, found = place(program, api)
            diagnostics += found
        if api == "v1alpha1":
            diagnostics += _names_v1alpha1(program)
        if not diagnostics:
            objects, found = cluster_backend(api).emit(blocks)
            out += objects
            diagnostics += found
    return out, diagnostics


__all__ = ["CLUSTER_APIS", "Emitted", "cluster_backend", "fqdn_backend", "egress_isolations", "egress_subjects", "emit", "ingress_target", "place"]
