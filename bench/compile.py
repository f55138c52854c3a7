"""Compile-time benchmark: prints figures and ratios measured in one run on this machine.

    python bench/compile.py            # every goal of issue 12, from one run
    python bench/compile.py --quick    # 100 and 1k intents and start-up only (no 10k, no scale)

Figures:
- compile time per intent (the whole `netpolc compile` work in-process: parse, resolve,
  lower, analyse, emit, schema-validate, prove, dump YAML);
- the 10k compile against its floor: the time PyYAML's C dumper (yaml.CSafeDumper)
  needs just to dump the same manifests (target: within 2x);
- the wall time of `netpolc check` on one small file against `python -c "import yaml"`
  (what a pre-commit hook pays is mostly start-up; target: within 3x);
- the scale goals, each compiled to a folder in a fresh process (bench/scale.py): 30,100
  intents (100 namespaces x 300) within 8 s and 0.5 GB, 101,000 (1,000 x 100) within 30 s
  and 1.5 GB, with the intents that fit in 1 GB at that rate.
Peak memory is the process's resident maximum (`resource.getrusage`).
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from compiler.output import to_yaml
from compiler.pipeline import build
from compiler.resolve import expand_inputs

NAMESPACES = 100
PORTS = (80, 443, 5432, 6379, 8080, 9090)


def generate(intents: int, folder: Path, seed: int = 7, namespaces: int = NAMESPACES) -> int:
    """A program of about `intents` allow lines spread over `namespaces` files, each namespace
    closed by default with DNS, talking to its neighbours, other namespaces and CIDRs.

    bench/scale.py uses it too (one generator for every benchmark); returns the intents written
    (the allows plus each namespace's deny all and DNS)."""
    rnd = random.Random(seed)
    per_namespace = max(1, intents // namespaces)
    digits = max(3, len(str(namespaces - 1)))
    for n in range(namespaces):
        name = f"team-{n:0{digits}d}"
        apps = [f"svc-{i}" for i in range(max(3, per_namespace // 2))]
        lines = [f"namespace {name}", "use default-deny", "use dns"]
        for _ in range(per_namespace):
            a, b = rnd.sample(apps, 2)
            roll = rnd.random()
            if roll < 0.6:
                lines.append(f"allow app={a} to app={b}:{rnd.choice(PORTS)}")
            elif roll < 0.8:
                lines.append(f"allow app={a} in namespace team-{rnd.randrange(namespaces):0{digits}d} to app={b}:{rnd.choice(PORTS)}")
            elif roll < 0.9:
                lines.append(f"allow app={a} to 10.{rnd.randrange(256)}.0.0/16:443")
            else:
                lines.append(f"allow app.kubernetes.io/name=prometheus in namespace monitoring to app={b}:metrics")
        (folder / f"{name}.netpol").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return namespaces * (per_namespace + 2)


def best_of(runs: int, function):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def compile_figures(intents: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(intents, folder)
        inputs = expand_inputs([str(folder)])
        runs = 3 if intents <= 1000 else 2

        def whole():
            result = build(inputs, validate=True)
            assert result.ok, [d.message for d in result.diagnostics if d.is_error][:3]
            return result, to_yaml(result.manifests())

        seconds, (result, _) = best_of(runs, whole)
        from compiler import parallel

        allowed = parallel.helper_allowed
        parallel.helper_allowed = lambda: False  # the same compile in one process: what a one-core machine sees
        try:
            alone, _ = best_of(runs, whole)
        finally:
            parallel.helper_allowed = allowed
        manifests = result.manifests()
        floor, _ = best_of(runs, lambda: yaml.dump_all(manifests, Dumper=yaml.CSafeDumper, sort_keys=False))
        proof, _ = best_of(runs, lambda: __import__("compiler.verify").verify.prove(result.program, result.emitted))
    return {"intents": len(result.program.intents), "manifests": len(manifests), "seconds": seconds, "alone": alone, "floor": floor, "proof": proof}


def median_wall(command: list[str], env: dict, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def startup_figures(runs: int = 21) -> tuple[float, float]:
    """Interleaved runs of both commands, so that machine noise hits both alike."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # users have bytecode
    netpolc = [sys.executable, "-c", "import sys; from compiler.__main__ import main; sys.argv[0] = 'netpolc'; sys.exit(main())"]
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "shop.netpol"
        small.write_text("namespace shop\nuse default-deny\nuse dns\nallow app=web to app=api:8080\nallow app=api to app=db:5432\n")
        check = [*netpolc, "check", str(small)]
        bare = [sys.executable, "-c", "import yaml"]
        subprocess.run(check, env=env, check=True, stdout=subprocess.DEVNULL)  # warm caches and bytecode
        checks, bares = [], []
        for _ in range(runs):
            checks.append(median_wall(check, env, 1))
            bares.append(median_wall(bare, env, 1))
    return statistics.median(checks), statistics.median(bares)


def main() -> None:
    sizes = (100, 1000) if "--quick" in sys.argv else (100, 1000, 10000)
    print(f"netpolc compile benchmark ({NAMESPACES} namespaces, Python {sys.version.split()[0]})")
    print(f"{'intents':>8} {'manifests':>9} {'compile s':>10} {'ms/intent':>10} {'1 process s':>12} {'proof s':>8} {'dump floor s':>13} {'ratio':>6} {'1 process':>10}")
    last = None
    for size in sizes:
        figures = compile_figures(size)
        last = figures
        print(
            f"{figures['intents']:>8} {figures['manifests']:>9} {figures['seconds']:>10.2f} "
            f"{figures['seconds'] / figures['intents'] * 1000:>10.3f} {figures['alone']:>12.2f} {figures['proof']:>8.2f} "
            f"{figures['floor']:>13.2f} {figures['seconds'] / figures['floor']:>5.1f}x {figures['alone'] / figures['floor']:>9.1f}x"
        )
    ratio = last["seconds"] / last["floor"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"largest compile vs dump floor: {ratio:.2f}x (target: within 2x) -> {'met' if ratio <= 2 else 'NOT met'}; peak memory of this process {peak:.0f} MiB")
    print(f"the same in one process (no helper, as on one core): {last['alone'] / last['floor']:.2f}x")
    check, bare = startup_figures()
    ratio = check / bare
    print(f"`netpolc check` on a small file: {check * 1000:.0f} ms; `python -c 'import yaml'`: {bare * 1000:.0f} ms")
    print(f"check start-up ratio: {ratio:.2f}x (target: within 3x) -> {'met' if ratio <= 3 else 'NOT met'}")
    if "--quick" in sys.argv:
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import scale

    print("scale, each compiled to a folder in a fresh process (bench/scale.py):")
    print(scale.HEADER)
    for namespaces, per_namespace in ((100, 300), (1000, 100)):
        print(scale.line(namespaces, per_namespace, scale.measure(namespaces, per_namespace)))


if __name__ == "__main__":
    main()
