"""What the flow commands (test, explain, diff, graph) look at: .netpol programs compiled plus NetworkPolicy YAML, as one policy set."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import engine


@dataclass
class Workspace:
    diagnostics: list = field(default_factory=list)
    files: dict = field(default_factory=dict)  # display name -> SourceFile, for carets
    program: object | None = None  # ir.Program of the .netpol files (None without any)
    emitted: list = field(default_factory=list)
    policies: engine.PolicySet = field(default_factory=lambda: engine.PolicySet(()))  # what a cluster would hold
    context: list = field(default_factory=list)  # policy sets that only shape the universe (the intents)
    documents: int = 0  # YAML documents read
    snapshot: object | None = None  # snapshot.Snapshot from --cluster: verdicts over its real pods

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def expects(self) -> list:
        return list(self.program.expects) if self.program is not None else []

    def namespaces(self) -> list[str]:
        """Namespaces the program manages and namespaces the policies live in."""
        names = set(self.program.namespaces) if self.program is not None else set()
        names.update(p.namespace for p in self.policies.policies)
        return sorted(names)

    def mentions(self, namespace: str) -> bool:
        """Whether any policy, intent, expectation or snapshot pod speaks of the namespace."""
        if namespace in self.namespaces():
            return True
        if self.snapshot is not None and (namespace in self.snapshot.namespaces or any(p.namespace == namespace for p in self.snapshot.pods)):
            return True
        sets = [self.policies, *self.context]
        for policy_set in sets:
            for policy in policy_set.items:
                for rule in policy.ingress + policy.egress:
                    if any(peer.namespace_name == namespace or (peer.namespace_selector is not None and
                           dict(peer.namespace_selector.match_labels).get("kubernetes.io/metadata.name") == namespace) for peer in rule.peers):
                        return True
        return False


class InputsError(Exception):
    """Command-line inputs that do not exist or hold nothing to read (exit code 2)."""


def open_workspace(
    netpol: list[str], yaml: list[str], prove: bool = True, namespace: str | None = None, match_namespace: bool = True, cluster: list[str] = (),
    fqdn_targets=None,
) -> Workspace:
    """Compile the .netpol inputs (with the proof) and read the YAML inputs (`-` is standard input); union of their policies.

    `namespace` is where YAML objects without metadata.namespace go (`kubectl apply -n`); with
    `match_namespace` an object of another namespace is an error, as kubectl makes it.
    `cluster` (--cluster) are snapshots or workload manifests: the real pods to answer over.
    `fqdn_targets`: the CNIs (--cni or the config) whose object the program's DNS names are written as.
    """
    from .diagnostics import sorted_unique
    from .manifests import PolicyInputError, load
    from .resolve import InputError, expand_inputs

    from .snapshot import SnapshotError, read_snapshot

    if "-" in yaml and "-" in cluster:
        raise InputsError("standard input can be read once: give --policies - or --cluster -, not both")
    try:
        items = expand_inputs(netpol) if netpol else []
        snapshot = read_snapshot(list(cluster), namespace) if cluster else None
        nodes = snapshot is not None and bool(snapshot.nodes)  # `nodes` peers are judged over real Node objects only
        loaded = load(yaml, namespace, match_namespace, nodes) if yaml else None
    except (InputError, PolicyInputError, SnapshotError) as err:
        raise InputsError(str(err)) from None
    space = Workspace(snapshot=snapshot)
    if snapshot is not None:
        space.diagnostics += snapshot.diagnostics
        space.files.update(snapshot.files)
    extra: list[engine.Policy] = []
    if loaded is not None:
        space.diagnostics += loaded.diagnostics
        space.files.update(loaded.files)
        space.documents = loaded.documents
        extra = loaded.policies
    if items:
        from .pipeline import build

        result = build(items, prove=prove, fqdn_targets=fqdn_targets)
        space.diagnostics += result.diagnostics
        if result.resolved is not None:
            space.files.update(result.resolved.files)
        space.program = result.program
        space.emitted = result.emitted
    space.diagnostics = sorted_unique(space.diagnostics)
    if not space.ok:
        return space
    own = engine.load_policies(item.manifest() for item in space.emitted)
    space.policies = engine.PolicySet(list(own.items) + list(extra))
    if space.program is not None and space.program.intents:
        from .verify import intent_model

        space.context = [intent_model(space.program)]
    return space


def split_kinds(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Files, folders and `-` -> (.netpol inputs, YAML inputs): a folder holding any .netpol file is a program; `-` is YAML."""
    from .manifests import STDIN, STREAM_SUFFIXES

    netpol, yaml = [], []
    for argument in arguments:
        path = Path(argument)
        if argument == STDIN:
            yaml.append(argument)
        elif path.is_dir():
            from .resolve import folder_entries

            has_netpol = bool(folder_entries(path))  # the walk every folder input takes (symlinks out of it refused)
            (netpol if has_netpol else yaml).append(argument)
        elif path.suffix in STREAM_SUFFIXES:
            yaml.append(argument)
        else:
            netpol.append(argument)
    return netpol, yaml
