"""Bench: a cluster snapshot of 1,000 namespaces and 10,000 pods, read and tested against 2,000 expectations; prints the figures.

    python bench/snapshot.py [--namespaces N]

The program is bench/engine.py's (ten intents and two expectations per namespace); the
snapshot gives each namespace ten pods of those workloads (three web, three api, a db, a
cache, a batch and a frontend pod, with IPs and named ports), plus Prometheus and CoreDNS.
Printed: the time to read the snapshot (`kubectl get namespaces,pods -A -o yaml` shape, a
v1 List), to compile the program, and to check every expectation over the real pods
(by equivalence classes, never pod pair by pod pair), and the peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import generate  # noqa: E402  (bench/engine.py: the same program)

WORKLOADS = (("web", 3, 8080), ("api", 3, 8000), ("db", 1, 5432), ("cache", 1, 6379), ("batch", 1, None), ("frontend", 1, 3000))


def snapshot_text(count: int) -> str:
    lines = ["apiVersion: v1", "kind: List", "items:"]

    def namespace(name: str) -> None:
        lines.extend([
            "- apiVersion: v1", "  kind: Namespace",
            f"  metadata: {{name: {name}, labels: {{kubernetes.io/metadata.name: {name}, team: t{len(lines) % 7}}}}}",
        ])

    def pod(ns: str, name: str, labels: str, port: int | None, ip: str, owner: str) -> None:
        ports = f"[{{name: metrics, containerPort: 9090}}, {{name: http, containerPort: {port}}}]" if port else "[{name: metrics, containerPort: 9090}]"
        lines.extend([
            "- apiVersion: v1", "  kind: Pod",
            f"  metadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}, "
            f"ownerReferences: [{{apiVersion: apps/v1, kind: {owner}, controller: true, uid: u}}]}}",
            f"  spec: {{containers: [{{name: c, image: x, ports: {ports}}}]}}",
            f"  status: {{phase: Running, podIP: {ip}, podIPs: [{{ip: {ip}}}]}}",
        ])

    serial = 0
    for i in range(count):
        name = f"team-{i:04d}"
        namespace(name)
        for app, replicas, port in WORKLOADS:
            for r in range(replicas):
                serial += 1
                tier = ", tier: frontend, env: prod" if app == "frontend" else ""
                pod(name, f"{app}-{r}", f"app: {app}{tier}", port, f"10.{100 + serial // 65536}.{serial // 256 % 256}.{serial % 256}", f"ReplicaSet, name: {app}-rs")
    for ns, labels in (("monitoring", "app.kubernetes.io/name: prometheus"), ("kube-system", "k8s-app: kube-dns")):
        namespace(ns)
        serial += 1
        pod(ns, "p-0", labels, 53, f"10.99.0.{serial % 250}", "ReplicaSet, name: x-rs")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1000)
    args = parser.parse_args()
    from compiler import engine
    from compiler.expect import check_all
    from compiler.snapshot import read_snapshot
    from compiler.workspace import open_workspace

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "program").mkdir()
        generate(folder / "program", args.namespaces)
        (folder / "snapshot.yaml").write_text(snapshot_text(args.namespaces))
        size = (folder / "snapshot.yaml").stat().st_size

        start = time.perf_counter()
        snapshot = read_snapshot([str(folder / "snapshot.yaml")])
        read = time.perf_counter() - start
        errors = [d for d in snapshot.diagnostics if d.is_error]
        if errors:
            print(f"unexpected errors: {errors[:3]}", file=sys.stderr)
            return 1

        start = time.perf_counter()
        space = open_workspace([str(folder / "program")], [], prove=False)
        compiled = time.perf_counter() - start

        start = time.perf_counter()
        with engine.paused_gc():
            outcomes = check_all(space.policies, space.context, space.expects, snapshot)
        checked = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    passed = sum(o.passed for o in outcomes)
    scene = outcomes[0].scene if outcomes else None
    print(f"snapshot: {len(snapshot.namespaces):,} namespaces, {len(snapshot.pods):,} pods ({size / 1e6:.1f} MB of YAML)")
    print(f"program: {len(space.policies):,} policies, {len(space.expects):,} expectations")
    if scene is not None:
        first = scene.reach(space.policies)
        print(f"universe: {len(scene.universe.endpoints):,} endpoints, {len(scene.atoms)} port atoms, {first.class_count():,} classes")
    print(f"  read snapshot              {read:8.2f} s")
    print(f"  compile program            {compiled:8.2f} s")
    print(f"  check expectations         {checked:8.2f} s  ({checked / max(1, len(outcomes)) * 1000:.2f} ms each)")
    print(f"  peak memory                {peak:8.0f} MiB")
    print(f"expectations: {passed:,} passed, {len(outcomes) - passed:,} did not (over real pods some differ from the representative verdicts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
