"""Bench: `netpolc replay` of 1,000,000 flow lines (Hubble and Calico), and `suggest` on the same flows; prints time and peak memory.

    python bench/flows.py [--lines N] [--namespaces N] [--clients N] [--skip-suggest]

The cluster (tests/flowgen.py's model): per namespace an ingress path (web, api, db, cache,
worker), DNS, a Prometheus scrape and a few external APIs; besides, `--clients` distinct
internet addresses reach one ingress controller. The records a real exporter writes for
that traffic (Hubble: each connection's egress and ingress events and their replies; Calico:
the `src` and `dst` reporters' records) are repeated, an hour apart, up to `--lines` lines.
The program isolates every namespace and allows all but the Prometheus scrape in one
namespace of ten, so replay finds denied connections to list. Each command runs in its own
process (`python -m compiler`), so its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowgen import Model, Talk, Workload, calico_lines, hubble_lines  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def model(namespaces: int, clients: int) -> tuple[Model, str]:
    talks = []
    program = []
    dns = Workload("kube-system", "coredns", (("k8s-app", "kube-dns"),))
    prometheus = Workload("monitoring", "prometheus", (("app.kubernetes.io/name", "prometheus"),), kind="StatefulSet", replicas=1)
    ingress = Workload("ingress-nginx", "controller", (("app.kubernetes.io/name", "ingress-nginx"),))
    for i in range(namespaces):
        ns = f"team-{i:03d}"
        web, api, worker = (Workload(ns, name, (("app", name),)) for name in ("web", "api", "worker"))
        db = Workload(ns, "db", (("app", "db"),), kind="StatefulSet", replicas=1)
        cache = Workload(ns, "cache", (("app", "cache"),), kind="StatefulSet", replicas=1)
        talks += [
            Talk(ingress, web, 8080, times=1), Talk(web, api, 8000, times=1), Talk(api, db, 5432, times=1), Talk(api, cache, 6379, times=1),
            Talk(worker, api, 8000, times=1), Talk(web, dns, 53, "UDP", times=1), Talk(api, dns, 53, "UDP", times=1),
            Talk(prometheus, api, 9090, times=1), Talk(api, f"203.0.{113 + i % 10}.{i % 250}", 443, times=1),
        ]
        program += [
            f"namespace {ns}", "deny all", "use dns",
            "allow app.kubernetes.io/name=ingress-nginx in namespace ingress-nginx to app=web:8080",
            "allow app=web to app=api:8000", "allow app=worker to app=api:8000", "allow app=api to app=db:5432", "allow app=api to app=cache:6379",
            f"allow app=api to 203.0.{113 + i % 10}.0/24:443",
        ]
        if i % 10:
            program.append("allow app.kubernetes.io/name=prometheus in namespace monitoring to app=api:9090")
    talks += [Talk(f"198.{18 + c // 65536}.{c // 256 % 256}.{c % 256}", ingress, 443, times=1) for c in range(clients)]
    program += ["namespace ingress-nginx", "deny ingress", "allow world to app.kubernetes.io/name=ingress-nginx:443"]
    return Model(talks), "\n".join(program) + "\n"


def write(path: Path, base: list[str], lines: int) -> int:
    """`base` repeated, each repetition an hour later, up to `lines` lines."""
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        hour = 0
        while written < lines:
            stamp = f"2024-05-{1 + hour // 24:02d}T{hour % 24:02d}:"
            chunk = base[: lines - written]
            out.write("\n".join(line.replace("2024-05-01T00:", stamp) for line in chunk) + "\n")
            written += len(chunk)
            hour += 1
    return written


def run(*args: str) -> tuple[float, float, int, str, str]:
    """Seconds, peak memory (MiB, the process's own max RSS), exit code, stdout and stderr of one `python -m compiler` process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "compiler", *args], stdout=out, stderr=err, cwd=REPO, env={**os.environ, "CI": "1"})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return seconds, usage.ru_maxrss / 1024, child.returncode, out.read(), err.read()


def generate(folder: Path, lines: int, namespaces: int, clients: int) -> None:
    """The program and both flow files (in a process of their own: the bench's parent stays small, so a child's
    max RSS, which on Linux starts from its parent's when it is spawned, is its own)."""
    cluster, program = model(namespaces, clients)
    (folder / "policies").mkdir()
    (folder / "policies" / "program.netpol").write_text(program)
    for shape, lines_of in (("hubble", hubble_lines), ("calico", calico_lines)):
        base = lines_of(cluster)
        count = write(folder / f"{shape}.json", base, lines)
        (folder / f"{shape}.txt").write_text(f"{count} {len(base)}")
    (folder / "cluster.txt").write_text(f"{len(cluster.workloads())} {len(cluster.talks)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--namespaces", type=int, default=100)
    parser.add_argument("--clients", type=int, default=15_000)
    parser.add_argument("--skip-suggest", action="store_true")
    parser.add_argument("--write", metavar="DIR", help=argparse.SUPPRESS)  # the generating child
    args = parser.parse_args()
    if args.write:
        generate(Path(args.write), args.lines, args.namespaces, args.clients)
        return 0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        options = ["--lines", str(args.lines), "--namespaces", str(args.namespaces), "--clients", str(args.clients)]
        subprocess.run([sys.executable, __file__, "--write", tmp, *options], check=True)
        workloads, connections = (folder / "cluster.txt").read_text().split()
        print(f"cluster: {args.namespaces} namespaces, {int(workloads):,} workloads, {int(connections):,} distinct connections "
              f"({args.clients:,} of them internet clients of the ingress controller)")
        for shape in ("hubble", "calico"):
            path = folder / f"{shape}.json"
            count, base = map(int, (folder / f"{shape}.txt").read_text().split())
            print(f"{shape}: {count:,} lines ({path.stat().st_size / 1e6:,.0f} MB), {base:,} records per hour repeated")
            seconds, peak, code, out, err = run("replay", str(folder / "policies"), "--flows", str(path))
            summary = out.strip().splitlines()[-1] if out.strip() else err[-400:]
            print(f"  replay                     {seconds:8.1f} s  ({count / seconds:,.0f} lines/s)   peak memory {peak:6.0f} MiB   exit {code}: {summary}")
            results.append(code)
            if shape == "hubble" and not args.skip_suggest:
                seconds, peak, code, out, err = run("suggest", "--flows", str(path), "-o", str(folder / "suggested"), "--max-prefix", "16")
                proven = next((line for line in err.splitlines() if line.startswith("Proven")), err[-400:])
                print(f"  suggest --max-prefix 16    {seconds:8.1f} s  ({count / seconds:,.0f} lines/s)   peak memory {peak:6.0f} MiB   exit {code}: {proven[:150]}")
            path.unlink()
    return 0 if all(code == 1 for code in results) else 1  # replay must find the scrapes the program leaves out


if __name__ == "__main__":
    sys.exit(main())
