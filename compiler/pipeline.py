"""The stages in order; `build` runs them and stops after the first stage that reports an error."""

from __future__ import annotations

from dataclasses import dataclass, field

from .diagnostics import Diagnostic, has_errors, sorted_unique
from .resolve import Input, Resolved


@dataclass
class Result:
    diagnostics: list[Diagnostic]
    resolved: Resolved | None = None
    program: object | None = None  # ir.Program
    emitted: list = field(default_factory=list)  # list[emit.Emitted]

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def manifests(self) -> list[dict]:
        return [item.manifest() for item in self.emitted]


def parse_file(source):
    """One file: text -> parse tree -> syntax tree."""
    from .parser import parse

    tree, diagnostics = parse(source)
    if tree is None:
        return None, diagnostics
    from .transform import to_module

    return to_module(tree, source.name), diagnostics


def build(
    inputs: list[Input], overrides: dict[str, str] | None = None, prove: bool = True, validate: bool = False, cni=None, emit: bool = True,
    api: str = "v1alpha2", fqdn_targets=None,
) -> Result:
    """Parse, resolve, lower, analyse, emit, (optionally schema-validate,) prove a program.

    `emit=False` stops after the checks of the source (what `netpolc check` reports when no
    CNI is named: emitting and proving would add start-up time and no diagnostic).
    `fqdn_targets` (`capabilities.Options`): the CNIs that choose the DNS-name backend when `cni`
    is not given (the flow commands: they evaluate, they do not check capabilities).
    """
    import gc

    # Every stage allocates many small acyclic objects that reference counting frees; the cycle
    # collector would rescan them all repeatedly (a 10,000-intent compile: 7.5 s -> 5.5 s without it).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(inputs, overrides, prove, validate, cni, emit, api, fqdn_targets)
    finally:
        if enabled:
            gc.enable()


def _build(inputs: list[Input], overrides, prove: bool, validate: bool, cni, emit_manifests: bool, api: str, fqdn_targets=None) -> Result:
    from .resolve import resolve

    resolved = resolve(inputs, parse_file, overrides)  # parse every file; imports; namespaces
    diagnostics = list(resolved.diagnostics)
    result = Result(diagnostics, resolved)
    if has_errors(diagnostics):
        return _done(result)

    from .lower import lower

    program, found = lower(resolved)  # validate values, build intents
    diagnostics += found
    result.program = program
    if has_errors(diagnostics):
        return _done(result)

    from .fqdn import select

    diagnostics += select(program, cni if cni is not None else fqdn_targets)  # DNS names: the object the target CNIs know, or a refusal
    if has_errors(diagnostics):
        return _done(result)

    blocks = None
    if program.cluster:  # where cluster rules go, decided once for the target API: objects and priorities
        from .emit import place

        blocks, found = place(program, api)
        diagnostics += found

    from .analyze import analyze

    diagnostics += analyze(program)  # dead, duplicate, covered intents; DNS (needs lowering)
    if has_errors(diagnostics) or not (emit_manifests or cni is not None):
        return _done(result)

    from .emit import emit

    expand = 0
    if cni is not None:  # target CNIs (`capabilities.Options`): their rewrites first
        from .capabilities import expand_limit, substitute_named_ports

        program, notes = substitute_named_ports(program, cni)  # in the IR, so the proof covers it
        diagnostics += notes
        result.program = program
        expand = expand_limit(cni)
    result.emitted, found = emit(program, expand, api, blocks)  # manifests of every backend, named
    diagnostics += found
    if has_errors(found):
        return _done(result)
    if validate:
        from .schema import validate_manifests

        diagnostics += validate_manifests(result.emitted)  # before the proof, which reads them back
    if prove and not has_errors(diagnostics):
        from .verify import prove as prove_output

        diagnostics += prove_output(program, result.emitted)
    if cni is not None:
        from .capabilities import check, cluster_findings

        diagnostics += check(result.emitted, cni, expand)  # what each target CNI enforces of them
        diagnostics += cluster_findings(cluster_manifests(result.emitted), cni)
    return _done(result)


def cluster_manifests(emitted) -> list:
    """The emitted cluster objects as the capability check reads them: manifest, section line, and each rule's line."""
    from .capabilities import ClusterManifest

    out = []
    for item in emitted:
        if not hasattr(item, "block"):  # NetworkPolicy and the DNS-name objects: checked by their own rows
            continue
        rules = {}
        if item.block is not None:
            for direction in ("ingress", "egress"):
                for index, rule in enumerate(item.block.rules(direction)):
                    rules[(direction, index)] = rule.intent.origin.user_span
        out.append(ClusterManifest(item.manifest(), item.section.origin.user_span, rules))
    return out


def _done(result: Result) -> Result:
    result.diagnostics = sorted_unique(result.diagnostics)
    if not result.ok:
        result.emitted = []
    return result
