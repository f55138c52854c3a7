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
    rendered: object | None = None  # what `render` made of the emitted manifests (build's argument), once proven
    # build(defer=True): the schema check and proof are left to `finish`, which runs them while it writes the files
    pending: object | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)

    def finish(self, write) -> dict[str, bool]:
        """The deferred last stage of `build(defer=True)`: schema check and proof, each file written by
        `write(path, bytes)` (an `output.Deferred` tree's writer) as its batch is made; its findings are
        added to `diagnostics` (then, on an error, `ok` is false). Returns what `write` said per path."""
        if self.pending is None:  # never write what was not proven
            raise RuntimeError("build(defer=True) left no schema check and proof to finish")
        program, validate, model = self.pending
        self.pending = None
        found, written = _checked_and_proven(program, self, validate, None, model, write)
        self.diagnostics = sorted_unique(self.diagnostics + found)
        if not self.ok:
            self.emitted = []
        return written or {}

    def manifests(self) -> list[dict]:
        from .output import paused_gc

        with paused_gc():  # thousands of small dicts: no cycle collection over the whole program meanwhile
            return [item.manifest() for item in self.emitted]


def parse_file(source):
    """One file: text -> syntax tree (made during the parse) and its diagnostics."""
    from .parser import parse

    return parse(source)


def build(
    inputs: list[Input], overrides: dict[str, str] | None = None, prove: bool = True, validate: bool = False, cni=None, emit: bool = True,
    api: str = "v1alpha2", ignore: tuple[tuple[str, ...], dict] | None = None, cache=None, fqdn_targets=None, render=None,
    keep_syntax: bool = True, defer: bool = False,
) -> Result:
    """Parse, resolve, lower, analyse, emit, (optionally schema-validate,) prove a program.

    `emit=False` stops after the checks of the source (what `netpolc check` reports when no
    CNI is named: emitting and proving would add start-up time and no diagnostic).
    `ignore` is (codes, {code: span}) silenced project-wide; None reads the config's `ignore`.
    `cache` (an `incremental.Cache`, kept from build to build) reuses what unchanged files and
    namespaces gave last time; the result is the same as without it.
    `fqdn_targets` (`capabilities.Options`): the CNIs that choose the DNS-name backend when `cni`
    is not given (the flow commands: they evaluate, they do not check capabilities).
    `render(emitted)` -> {path: bytes} (`output.tree_files`) renders the output folder's files beside
    the proof, batch by batch; `result.rendered` holds them only when the build has no error.
    `keep_syntax=False` drops the syntax trees once lowered (`result.resolved` keeps the files):
    what `compile` needs, in far less memory.
    `defer=True` stops before the schema check and the proof: `result.finish(write)` runs them
    while `compile -o` writes the files (nothing is swapped in unless they pass).
    """
    from .engine import paused_gc

    # Every stage allocates many small acyclic objects that reference counting frees; the cycle
    # collector would rescan them all repeatedly (a 10,000-intent compile: 7.5 s -> 5.5 s without it).
    with paused_gc():
        result = _build(inputs, overrides, prove, validate, cni, emit, api, cache, fqdn_targets, render, keep_syntax, defer)
        return _suppressed(result, ignore, emit and prove, cni is not None)


def _build(
    inputs: list[Input], overrides, prove: bool, validate: bool, cni, emit_manifests: bool, api: str, cache=None, fqdn_targets=None, render=None,
    keep_syntax: bool = True, defer: bool = False,
) -> Result:
    from .resolve import resolve

    if cache is not None:
        cache.begin()
    resolved = resolve(inputs, cache.parse_file if cache is not None else parse_file, overrides)  # parse every file; imports; namespaces
    if cache is not None:
        cache.resolved(resolved)
    diagnostics = list(resolved.diagnostics)
    result = Result(diagnostics, resolved)
    if has_errors(diagnostics):
        return _done(result)

    from .lower import lower

    program, found = (cache.lower if cache is not None else lower)(resolved)  # validate values, build intents
    diagnostics += found
    if not keep_syntax:  # the IR holds positions and texts, not syntax nodes: a big program's largest part, freed
        resolved.statements, resolved.modules = [], {}
    result.program = program
    if has_errors(diagnostics):
        return _done(result)

    from .fqdn import select

    diagnostics += select(program, cni if cni is not None else fqdn_targets)  # DNS names: the object the target CNIs know, or a refusal
    if has_errors(diagnostics):
        return _done(result)
    if program.fqdn_backend:
        cache = None  # the backend follows the target CNIs, not the files: a program with names is emitted and proven whole

    blocks = None
    if program.cluster:  # where cluster rules go, decided once for the target API: objects and priorities
        from .emit import place

        blocks, found = place(program, api)
        diagnostics += found

    from .analyze import analyze

    model = None
    if prove and cache is None and (emit_manifests or cni is not None):  # the meaning of the intents: made once, for the analysis and the proof
        from .verify import intent_model

        model = intent_model(program)
    diagnostics += (cache.analyze if cache is not None else lambda p: analyze(p, model=model))(program)  # dead, duplicate, covered intents; DNS
    if has_errors(diagnostics) or not (emit_manifests or cni is not None):
        return _done(result)

    from .emit import emit

    expand = 0
    if cni is not None:  # target CNIs (`capabilities.Options`): their rewrites first
        from .capabilities import expand_limit, substitute_named_ports

        rewritten, notes = substitute_named_ports(program, cni)  # in the IR, so the proof covers it
        if rewritten is not program:
            program, model = rewritten, None  # the proof is of the rewritten program
        diagnostics += notes
        result.program = program
        expand = expand_limit(cni)
        cache = None  # the CNIs' rewrites change the program: emitted and proven whole
    result.emitted, found = (cache.emit if cache is not None else emit)(program, expand, api, blocks)  # manifests of every backend, named
    diagnostics += found
    if has_errors(found):
        return _done(result)
    if prove and cache is None:
        if defer:
            result.pending = (program, validate, model)
        else:
            found, result.rendered = _checked_and_proven(program, result, validate, render, model)
            diagnostics += found
    else:
        if validate:
            from .schema import validate_manifests

            diagnostics += validate_manifests(result.emitted)  # before the proof, which reads them back
        if prove and not has_errors(diagnostics):
            diagnostics += cache.prove(program, result.emitted)
        if render is not None and not has_errors(diagnostics):
            result.rendered = render(result.emitted)
    if cni is not None:
        from .capabilities import check, cluster_findings

        diagnostics += check(result.emitted, cni, expand)  # what each target CNI enforces of them
        diagnostics += cluster_findings(cluster_manifests(result.emitted), cni)
    return _done(result)


def _checked_and_proven(program, result: Result, validate: bool, render, model=None, write=None) -> tuple[list[Diagnostic], dict | None]:
    """Schema check, rendering (or writing) and proof of the emitted manifests, in the proof's batches of namespaces.

    Where a second core is free, a helper process takes batches too (compiler/parallel.py); the
    batches are put together in order, so the findings and the output are those of one process.
    A batch whose manifests break their schema is not proven (the proof reads manifests back).
    `render(items)` -> {path: bytes}; or `write(path, bytes)` -> bool each file (`result.finish`).
    Returns the findings and, when nothing failed, what was made: {path: bytes} or {path: bool}.
    """
    from .output import tree_file
    from .parallel import share
    from .verify import Proof

    proof = Proof(program, result.emitted, model=model)
    if proof.failure is not None or sum(len(proof.items(i)) for i in range(proof.count)) != len(result.emitted):
        batches = 0  # nothing to split (or items outside every batch): all in one piece, as a single process would
    else:
        batches = proof.count

    def checked_made_proven(index: int):
        items = proof.items(index) if batches else result.emitted
        found = []
        if validate:
            from .schema import validate_manifests

            found = validate_manifests(items)
        if has_errors(found):
            return found, None, None
        if write is not None:
            made = {item.path: write(item.path, tree_file(item)) for item in items}
        else:
            made = render(items) if render is not None else None
        proven = proof.batch(index) if batches else None
        return found, made, proven

    with share(checked_made_proven, batches or 1) as shared:
        done = shared.results()
    found = [d for schema, _, _ in done for d in schema]
    if has_errors(found):  # a manifest off its schema: that is the finding, whatever the proof says
        return found, None
    if batches:
        found += proof.findings([proven for _, _, proven in done])
    else:
        from .verify import prove as prove_output

        found += prove_output(program, result.emitted)
    if has_errors(found) or (render is None and write is None):
        return found, None
    made_all: dict = {}
    for _, made, _ in done:
        made_all.update(made)
    return found, made_all


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


def _suppressed(result: Result, ignore, proved: bool, targets: bool) -> Result:
    """Warnings silenced by `# netpolc: ignore[...]` comments and the config's `ignore` (never errors)."""
    from .suppress import apply, project_ignore

    codes, spans = project_ignore() if ignore is None else ignore
    files = result.resolved.files if result.resolved else {}
    if not codes and not any("netpolc:" in source.text for source in files.values()):
        return result

    def judged(code: str) -> bool:
        """Whether this build could have reported `code` (else an unused suppression of it is not stale)."""
        family = code[2:3]
        return result.ok and (family in "1234" or family == "5" and proved or family == "6" and targets)

    result.diagnostics = sorted_unique(apply(result.diagnostics, files, codes, spans, judged))
    return result


def _done(result: Result) -> Result:
    result.diagnostics = sorted_unique(result.diagnostics)
    if not result.ok:
        result.emitted = []
    return result
