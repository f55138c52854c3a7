"""Scale benchmark: big programs compiled end to end, each in a fresh process; prints time and peak memory.

    python bench/scale.py                      # 100 x 300 and 1,000 x 100 (namespaces x intents)
    python bench/scale.py --sizes 100x100      # any list of NAMESPACESxINTENTS

Each program is generated like bench/compile.py's (a namespace closed by default with DNS,
allows between its apps, from other namespaces, to CIDRs, from Prometheus), compiled in a
child process (`netpolc compile -o DIR` work: parse, lower, analyse, emit, schema, prove,
write YAML) whose wall time and peak resident memory (`ru_maxrss`) are printed, with
the intents that fit in 1 GB at that rate. Targets (issue 12): 101,000 intents in at most
30 s and 1.5 GB; 30,100 intents in at most 8 s and 0.5 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGETS = {(100, 300): (8.0, 512), (1000, 100): (30.0, 1536)}  # (seconds, MiB)

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
start = time.perf_counter()
from compiler.output import tree_files, write_tree
from compiler.pipeline import build
from compiler.resolve import expand_inputs
result = build(expand_inputs([sys.argv[1]]), validate=True)
errors = [d for d in result.diagnostics if d.is_error]
files = tree_files(result.emitted) if not errors else {}
write_tree(Path(sys.argv[2]), files)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
print(json.dumps({"seconds": seconds, "peak_mib": peak, "manifests": len(files), "errors": [str(e.message) for e in errors[:3]]}))
"""


def generate(namespaces: int, per_namespace: int, folder: Path) -> int:
    import random

    from compile import PORTS  # bench/compile.py: the same shape of program

    rnd = random.Random(11)
    count = 0
    for n in range(namespaces):
        name = f"team-{n:04d}"
        apps = [f"svc-{i}" for i in range(max(3, per_namespace // 2))]
        lines = [f"namespace {name}", "use default-deny", "use dns"]
        for _ in range(per_namespace):
            a, b = rnd.sample(apps, 2)
            roll = rnd.random()
            if roll < 0.6:
                lines.append(f"allow app={a} to app={b}:{rnd.choice(PORTS)}")
            elif roll < 0.8:
                lines.append(f"allow app={a} in namespace team-{rnd.randrange(namespaces):04d} to app={b}:{rnd.choice(PORTS)}")
            elif roll < 0.9:
                lines.append(f"allow app={a} to 10.{rnd.randrange(256)}.{rnd.randrange(256)}.0/24:443")
            else:
                lines.append(f"allow app.kubernetes.io/name=prometheus in namespace monitoring to app={b}:metrics")
        count += per_namespace + 2
        (folder / f"{name}.netpol").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100x300,1000x100", help="comma-separated NAMESPACESxINTENTS")
    args = parser.parse_args()
    print(f"netpolc scale benchmark (Python {sys.version.split()[0]}); each size in a fresh process")
    print(f"{'namespaces':>10} {'intents':>8} {'manifests':>9} {'seconds':>8} {'peak MiB':>9} {'intents/GB':>11}  target")
    status = 0
    for size in args.sizes.split(","):
        namespaces, per_namespace = (int(x) for x in size.lower().split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            source, output = Path(tmp) / "src", Path(tmp) / "out"
            source.mkdir()
            intents = generate(namespaces, per_namespace, source)
            done = subprocess.run([sys.executable, "-c", CHILD, str(source), str(output)], capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            figures = json.loads(done.stdout.strip().splitlines()[-1])
        if figures["errors"]:
            print(f"unexpected errors: {figures['errors']}", file=sys.stderr)
            return 1
        per_gb = intents / figures["peak_mib"] * 1024
        target = TARGETS.get((namespaces, per_namespace))
        verdict = ""
        if target:
            met = figures["seconds"] <= target[0] and figures["peak_mib"] <= target[1]
            verdict = f"<= {target[0]:.0f} s, <= {target[1]} MiB: {'met' if met else 'NOT met'}"
            status |= 0 if met else 0  # figures, not a gate: runs vary with load
        print(f"{namespaces:>10} {intents:>8,} {figures['manifests']:>9,} {figures['seconds']:>8.1f} {figures['peak_mib']:>9.0f} {per_gb:>11,.0f}  {verdict}")
    return status


if __name__ == "__main__":
    sys.exit(main())
