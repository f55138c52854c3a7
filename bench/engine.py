"""Bench: compile and prove a generated program of 1,000 namespaces and 10,000 intents; print the figures.

    python bench/engine.py [--namespaces N] [--keep DIR]

Writes one .netpol file per namespace into a temporary folder, runs every stage of the
pipeline with timings, then times the engine alone (representative universe, Reach for
the intents and for the manifests, compare) and evaluates every `expect` of the program.
Unset PYTHONDONTWRITEBYTECODE first so that imports are measured as a user sees them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

INTENTS_PER_NAMESPACE = 10


def namespace_text(i: int, count: int) -> str:
    """Ten intents for namespace i (two of them through stdlib modules), plus two expectations.

    Each namespace has its own ports and CIDRs, reaches the next namespace's cache, and is
    scraped by a shared monitoring namespace: cross-namespace peers, named ports,
    expressions, ranges and excepts all appear, as in a real fleet.
    """
    name = f"team-{i:04d}"
    following = f"team-{(i + 1) % count:04d}"
    port = 8000 + i % 500
    net = f"10.{i // 250}.{i % 250}.0/24"
    hole = f"10.{i // 250}.{i % 250}.128/25"
    return f"""namespace {name}
use default-deny
use dns
allow app=web to app=api:{port}
allow app=api to app=db:5432
allow app=api to app=cache in namespace {following}:6379
allow app=web in namespace {following} to app=api:{port}
allow app.kubernetes.io/name=prometheus in namespace monitoring to any:metrics
allow tier=frontend,env!=dev to app=api:9000-9100
allow app=batch to {net} except {hole}:443
allow world to app=web:443,80
expect app=web -> app=api:{port} allowed
expect app=web -> app=db:5432 denied
"""


def generate(folder: Path, count: int) -> int:
    for i in range(count):
        (folder / f"team-{i:04d}.netpol").write_text(namespace_text(i, count), encoding="utf-8")
    return count * INTENTS_PER_NAMESPACE


def timed(label: str, figures: dict, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    figures[label] = time.perf_counter() - start
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="write the program here instead of a temporary folder")
    args = parser.parse_args()

    figures: dict[str, float] = {}
    start_import = time.perf_counter()
    from compiler import emit, engine, lower, pipeline, resolve, verify
    from compiler.analyze import analyze
    from compiler.expect import check_expectations

    figures["import"] = time.perf_counter() - start_import

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        intents = generate(folder, args.namespaces)
        inputs = resolve.expand_inputs([str(folder)])

        # What `netpolc compile` does, whole, with and without the proof.
        result = timed("build (compile, proof on)", figures, pipeline.build, inputs, prove=True, validate=True)
        timed("build (proof off)", figures, pipeline.build, inputs, prove=False, validate=True)
        errors = [d for d in result.diagnostics if d.is_error]
        if errors:
            print(f"unexpected errors: {errors[:3]}", file=sys.stderr)
            return 1

        # Stage by stage, as `build` runs them (cycle collector paused).
        with engine.paused_gc():
            resolved = timed("  parse + resolve", figures, resolve.resolve, inputs, pipeline.parse_file)
            program, _ = timed("  lower", figures, lower.lower, resolved)
            timed("  analyze", figures, analyze, program)
            emitted, _ = timed("  emit", figures, emit.emit, program)
            proof = timed("  prove", figures, verify.prove, program, emitted)

            # The engine alone (what `prove` does inside).
            intended = timed("    intent model", figures, verify.intent_model, program)
            manifests = [e.manifest() for e in emitted]
            actual = timed("    read manifests", figures, engine.load_policies, manifests)
            universe = timed("    universe", figures, engine.representative_universe, [intended, actual])
            atoms = engine.port_atoms([intended, actual], universe)
            first = engine.Reach(intended, universe, atoms)
            second = engine.Reach(actual, universe, atoms)
            differences = timed("    Reach x2 + compare", figures, engine.compare, first, second)
        results = timed("expect: all expectations", figures, check_expectations, program, emitted)
        failed = [r for r in results if not r.passed]

    whole, without = figures["build (compile, proof on)"], figures["build (proof off)"]
    endpoints = len(universe.endpoints)
    print(f"program: {args.namespaces:,} namespaces, {intents:,} intents, {len(program.expects):,} expectations")
    print(f"output: {len(emitted):,} NetworkPolicies")
    print(
        f"universe: {len(universe.namespaces):,} namespaces, {len(universe.pods):,} pods, "
        f"{len(universe.addresses):,} address regions ({endpoints:,} endpoints), {len(atoms)} port atoms"
    )
    print(
        f"classes: {first.class_count():,} (intents) and {second.class_count():,} (manifests), "
        f"instead of {endpoints * endpoints * len(atoms):,} endpoint pairs x ports"
    )
    for label, seconds in figures.items():
        print(f"  {label:<28}{seconds:8.3f} s")
    print(f"proof: {figures['  prove']:.2f} s of a {whole:.2f} s compile ({figures['  prove'] / whole:.0%}); "
          f"compile without it: {without:.2f} s")
    print(f"proof differences: {len(differences) + len(proof)} (0 expected); "
          f"expectations: {len(results) - len(failed):,} passed, {len(failed):,} failed")
    return 0 if not differences and not proof and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
