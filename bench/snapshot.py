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


def snapshot_items(count: int) -> list[dict]:
    items: list[dict] = []

    def namespace(name: str) -> None:
        items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, "team": f"t{len(items) % 7}"}}})

    def pod(ns: str, name: str, labels: dict, port: int | None, ip: str) -> None:
        ports = [{"name": "metrics", "containerPort": 9090}] + ([{"name": "http", "containerPort": port}] if port else [])
        items.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{labels.get('app', 'x')}-rs", "controller": True, "uid": "u"}]},
            "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
        })

    serial = 0
    for i in range(count):
        name = f"team-{i:04d}"
        namespace(name)
        for app, replicas, port in WORKLOADS:
            for r in range(replicas):
                serial += 1
                labels = {"app": app, **({"tier": "frontend", "env": "prod"} if app == "frontend" else {})}
                pod(name, f"{app}-{r}", labels, port, f"10.{100 + serial // 65536}.{serial // 256 % 256}.{serial % 256}")
    for ns, labels in (("monitoring", {"app.kubernetes.io/name": "prometheus"}), ("kube-system", {"k8s-app": "kube-dns"})):
        namespace(ns)
        serial += 1
        pod(ns, "p-0", labels, 53, f"10.99.0.{serial % 250}")
    return items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=1000)
    args = parser.parse_args()
    from compiler import engine
    from compiler.expect import check_all
    from compiler.snapshot import read_snapshot
    from compiler.workspace import open_workspace

    import json

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "program").mkdir()
        generate(folder / "program", args.namespaces)
        snapshot_list = {"apiVersion": "v1", "kind": "List", "items": snapshot_items(args.namespaces)}
        (folder / "snapshot.json").write_text(json.dumps(snapshot_list, indent=4))  # as `kubectl get -o json` prints it
        (folder / "snapshot.yaml").write_text(yaml.dump(snapshot_list, Dumper=yaml.CSafeDumper, sort_keys=False))
        sizes = {suffix: (folder / f"snapshot.{suffix}").stat().st_size for suffix in ("json", "yaml")}

        reads = {}
        for suffix in ("json", "yaml"):
            start = time.perf_counter()
            snapshot = read_snapshot([str(folder / f"snapshot.{suffix}")])
            reads[suffix] = time.perf_counter() - start
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
    print(f"snapshot: {len(snapshot.namespaces):,} namespaces, {len(snapshot.pods):,} pods ({sizes['json'] / 1e6:.1f} MB of JSON, {sizes['yaml'] / 1e6:.1f} MB of YAML)")
    print(f"program: {len(space.policies):,} policies, {len(space.expects):,} expectations")
    if scene is not None:
        first = scene.reach(space.policies)
        print(f"universe: {len(scene.universe.endpoints):,} endpoints, {len(scene.atoms)} port atoms, {first.class_count():,} classes")
    print(f"  read snapshot, -o json     {reads['json']:8.2f} s")
    print(f"  read snapshot, -o yaml     {reads['yaml']:8.2f} s  ({reads['yaml'] / reads['json']:.0f}x: PyYAML builds every node in Python)")
    print(f"  compile program            {compiled:8.2f} s")
    print(f"  check expectations         {checked:8.2f} s  ({checked / max(1, len(outcomes)) * 1000:.2f} ms each)")
    print(f"  peak memory                {peak:8.0f} MiB")
    print(f"expectations: {passed:,} passed, {len(outcomes) - passed:,} did not (over real pods some differ from the representative verdicts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
