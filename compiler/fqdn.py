"""DNS-name egress: which backend writes the program's names for the target CNIs (`--cni`), and the traps of each.

NetworkPolicy has no DNS names, so a program that names one needs a CNI with its own object
for them; the capability tables say which (`fqdn` row, `backend`) and what each wildcard form
means there. A fleet must agree on one object, or the program is refused: an object one CNI
does not know is applied nowhere (its CRD is missing) or ignored.
"""

from __future__ import annotations

from . import dnsnames, ir
from .diagnostics import Diagnostic

# The CNI tables are loaded only for a program that names a DNS name (`check` stays fast).

# The backends netpolc writes, by the tables' `backend` value.
BACKENDS = {"cilium": "CiliumNetworkPolicy (cilium.io/v2)", "antrea": "Antrea ClusterNetworkPolicy (crd.antrea.io/v1beta1)"}
NOT_WRITTEN = {
    "egressfirewall": "EgressFirewall (k8s.ovn.org/v1), which netpolc does not write: it filters only traffic leaving the cluster, "
    "for every pod of a namespace, and needs a NetworkPolicy that allows the same addresses, which netpolc cannot narrow to a name",
}


def wildcard_feature(name: str):
    """The table row that says what this wildcard means on a CNI (None for a plain name)."""
    from .targets import Feature

    return {
        dnsnames.ONE_LABEL: Feature.fqdn_one_label_wildcard,
        dnsnames.MULTI_LABEL: Feature.fqdn_multi_label_wildcard,
        dnsnames.PARTIAL_LABEL: Feature.fqdn_partial_wildcard,
    }.get(dnsnames.kind(name))
CIDR_HINT = "or write the addresses the name resolves to as a CIDR (e.g. `203.0.113.0/24:443`)"


def name_intents(program: ir.Program) -> list:
    """The namespace intents whose peer is a DNS name (written by the FQDN backend, not as NetworkPolicy)."""
    return [intent for intent in program.intents if isinstance(peer_of(intent), ir.Name)]


def peer_of(intent) -> ir.Peer | None:
    if isinstance(intent, ir.Only):
        return intent.peer
    if isinstance(intent, ir.Allow):
        return intent.destination
    return None


def config_targets(start):
    """The project config's `cni` list as `capabilities.Options` (None without one, or when it cannot be read):
    what the language server compiles DNS names for, as the command line does without --cni."""
    from .capabilities import Options
    from .config import discover
    from .targets import TargetError, load_target

    config, problems = discover(start)
    if config is None or problems or not config.cni:
        return None
    try:
        return Options(targets=tuple(load_target(spec) for spec in dict.fromkeys(config.cni)))
    except TargetError:
        return None


def capable_targets() -> list[str]:
    """The --cni names whose table says they enforce DNS names with an object netpolc writes."""
    from .targets import Feature, Status, list_targets, load_target

    out = []
    for name in list_targets():
        row = load_target(name)[0].row(Feature.fqdn)
        if row.status in (Status.supported, Status.opt_in) and row.backend in BACKENDS:
            out.append(name)
    return out


def select(program: ir.Program, options) -> list[Diagnostic]:
    """Choose the backend for the program's names from the targets (sets `program.fqdn_backend`); the refusals and traps."""
    intents = name_intents(program)
    if not intents:
        return []
    from .targets import Feature, Status

    first = min(intents, key=lambda intent: intent.origin.user_span)
    targets = tuple(options.targets) if options is not None else ()
    if not targets:
        capable = ", ".join(f"--cni {name}" for name in capable_targets())
        return [
            Diagnostic(
                "NP610",
                first.origin.user_span,
                f"NetworkPolicy cannot select by DNS name (`{peer_of(first)}`): no CNI is named, so netpolc would write plain NetworkPolicy",
                f"compile for a CNI that enforces DNS names with its own object ({capable}), {CIDR_HINT}",
            )
        ]
    out: list[Diagnostic] = []
    backends: dict[str, list[str]] = {}
    for target, version in targets:
        who = f"{target.name} {version}" if version else target.name
        row = target.row(Feature.fqdn, version)
        if row.status not in (Status.supported, Status.opt_in):
            capable = ", ".join(f"--cni {name}" for name in capable_targets())
            note = (row.note or "no source says it does").rstrip(".")
            out.append(Diagnostic("NP611", first.origin.user_span, f"{who} cannot enforce egress to DNS names: {note}", f"compile for a CNI that can ({capable}), {CIDR_HINT}"))
            continue
        if row.backend not in BACKENDS:
            out.append(Diagnostic("NP611", first.origin.user_span, f"{who} enforces DNS names with {NOT_WRITTEN.get(row.backend, row.backend)}", CIDR_HINT.removeprefix("or ")))
            continue
        if row.status is Status.opt_in:
            out.append(Diagnostic("NP613", first.origin.user_span, f"{who} enforces DNS names only when switched on ({row.switch})", "switch it on where it is off: netpolc cannot see the cluster's configuration"))
        backends.setdefault(row.backend, []).append(who)
        out += _wildcards(intents, target, version, who)
    if len(backends) > 1:
        kinds = "; ".join(f"{BACKENDS[b]} for {', '.join(w)}" for b, w in sorted(backends.items()))
        out.append(
            Diagnostic(
                "NP612",
                first.origin.user_span,
                f"the targets need different objects for DNS names ({kinds}): each is unknown to the others' clusters",
                "compile once per CNI (`--cni cilium -o deploy/cilium`, `--cni antrea -o deploy/antrea`)",
            )
        )
    if len(backends) == 1 and not any(d.is_error for d in out):
        program.fqdn_backend = next(iter(backends))
        if program.fqdn_backend == "cilium" and _cilium_subjects(program):
            out.append(
                Diagnostic(
                    "NP615",
                    first.origin.user_span,
                    "Cilium learns a name's addresses from the DNS answers its proxy sees: netpolc adds a DNS rule to kube-dns "
                    "(port 53) that lets those pods look up every name (`matchPattern: \"*\"`)",
                    f"keep it that wide: musl (Alpine) resolvers try the search-list names first ({_search_example(first)}), "
                    "and a DNS rule that refused them would make the lookups fail; the rule also makes the pods' egress isolated",
                )
            )
    return out


def _search_example(intent) -> str:
    """The first name a musl resolver asks for `intent`'s name from a pod of its namespace."""
    name = dnsnames.bare(str(peer_of(intent).name)).replace("**.", "api.").replace("*", "api")
    return f"{name}.{intent.namespace}.svc.cluster.local"


def _cilium_subjects(program: ir.Program) -> list:
    """The pods that get a CiliumNetworkPolicy (an `allow` only on pods something isolates)."""
    from .backends.ciliumnetworkpolicy import dns_subjects
    from .backends.networkpolicy import egress_isolations

    return dns_subjects(program, egress_isolations(program))


def _wildcards(intents, target, version, who: str) -> list[Diagnostic]:
    """NP614: a wildcard whose meaning this CNI does not have (never written broader or narrower than meant)."""
    from .targets import Status

    out = []
    for intent in intents:
        name = peer_of(intent).name
        feature = wildcard_feature(name)
        if feature is None:
            continue
        row = target.row(feature, version)
        if row.status is Status.supported:
            continue
        note = (row.note or "no source says what it matches").rstrip(".")
        if row.status is Status.opt_in:
            out.append(Diagnostic("NP613", intent.origin.user_span, f"{who} matches `{name}` only when switched on ({row.switch})", "switch it on where it is off, or list the names you mean"))
            continue
        if row.status is Status.unknown:
            continue
        wider = row.consequence is not None and row.consequence.value == "fails_open"
        effect = "it would also allow names the wildcard does not cover" if wider else "names the wildcard covers would be blocked"
        since = f" (from {target.name} {row.since} on)" if row.is_before else ""
        out.append(
            Diagnostic(
                "NP614",
                intent.origin.user_span,
                f"`{name}` means something else on {who}{since}: {note}; {effect}",
                _wildcard_hint(name, feature),
            )
        )
    return out


def _wildcard_hint(name: str, feature) -> str:
    from .targets import Feature

    rest = dnsnames.bare(name).partition(".")[2]
    if feature is Feature.fqdn_one_label_wildcard:
        return f"list the names you mean (`api.{rest}`), or write `**.{rest}` if every depth is meant"
    if feature is Feature.fqdn_multi_label_wildcard:
        return f"list the names you mean, or write `*.{rest}` for one label"
    return "list the names you mean"
