"""`netpolc cni list` and `netpolc cni show NAME[@VERSION]`: the capability tables, as the checks read them."""

from __future__ import annotations

import sys

from . import EXIT_OK, UsageError

COLUMNS = ("feature", "status", "since", "consequence", "source")


def run_list() -> int:
    from ..targets import list_targets, load_target, summary_line

    for name in list_targets():
        sys.stdout.write(summary_line(load_target(name)[0]) + "\n")
    return EXIT_OK


def run_show(spec: str) -> int:
    from ..targets import Api, TargetError, cluster_summary, describe_table, load_target

    try:
        target, version = load_target(spec)
    except TargetError as err:
        raise UsageError(f"{err.message}; {err.hint}") from None
    if version:
        at = f"at version {version}"
    elif target.latest_version:
        at = f"at {target.latest_version}, the newest version the table knows (pick another with {target.name}@VERSION)"
    else:
        at = "at every version"
    lines = [f"{target.name}: {target.display_name}, {at}", target.description]
    if target.extends:
        lines.append(f"Rows not listed in {target.name}.toml come from {target.extends}.")
    # One width for every block, so the NetworkPolicy and the cluster API rows line up.
    blocks = [(api, describe_table(target, version, api.features)) for api in Api]
    rows = [COLUMNS, *(row for _, table in blocks for row in table)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]

    def render(row) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]

    for api, table in blocks:
        lines.append("")
        if api is not Api.network_policy:
            lines.append(f"{_HEADINGS[api.value]}:")
        lines += [render(row) for row in [COLUMNS, *table]]
        switches = [(feature, target.row(feature, version).switch) for feature in api.features]
        lines += [f"  {feature.value} is off unless switched on: {switch}" for feature, switch in switches if switch]
    lines += ["", f"Cluster policy APIs: {cluster_summary(target, version)}.", _CRD_NOTE]
    if target.notes:
        lines += ["", "Notes:"] + [f"- {note}" for note in target.notes]
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")
    return EXIT_OK


# Headings of the cluster API blocks, by apiVersion.
_HEADINGS = {
    "policy.networking.k8s.io/v1alpha2": "ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha2",
    "policy.networking.k8s.io/v1alpha1": "AdminNetworkPolicy and BaselineAdminNetworkPolicy, policy.networking.k8s.io/v1alpha1",
    "fqdn": "Egress to DNS names (the CNI's own object; `netpolc compile --cni NAME` writes it)",
}
_CRD_NOTE = (
    "They are CRDs from kubernetes-sigs/network-policy-api, not part of Kubernetes: crd_missing means "
    "`kubectl apply` fails, object_ignored that the objects are accepted and never enforced."
)
