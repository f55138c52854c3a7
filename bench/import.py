"""Bench: `netpolc import` of 1,000 NetworkPolicies (100 namespaces of hand-written shapes); prints the figures.

    python bench/import.py [--namespaces N]

Each namespace holds ten policies as teams write them: a default deny, the DNS policy, a
web/api/db chain written as ingress and egress halves, an ipBlock egress with an except, a
monitoring rule from another namespace, and a policy with a chart's many labels. Printed: the
time of the whole import (reading, writing the program, compiling it, proving it), its peak
memory (`resource.getrusage`, this process), and the ratio to `netpolc compile` of the
program it wrote.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402


def policy(name: str, namespace: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def pods(**labels) -> dict:
    return {"podSelector": {"matchLabels": labels}}


def namespace_policies(ns: str) -> list[dict]:
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    chart = {"app.kubernetes.io/name": "worker", "app.kubernetes.io/instance": ns, "app.kubernetes.io/component": "queue"}
    return [
        policy("default-deny", ns, {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy("allow-dns", ns, {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [dns], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}),
        policy("api-from-web", ns, {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": [{"from": [pods(app="web")], "ports": [{"port": 8080}]}]}),
        policy("web-to-api", ns, {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "egress": [{"to": [pods(app="api")], "ports": [{"port": 8080}]}]}),
        policy("db-from-api", ns, {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [{"from": [pods(app="api")], "ports": [{"port": 5432}]}]}),
        policy("api-to-db", ns, {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Egress"], "egress": [{"to": [pods(app="db")], "ports": [{"port": 5432}]}]}),
        policy("db-backup", ns, {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.96.0.0/12"]}}], "ports": [{"port": 443}]}]}),
        policy("metrics", ns, {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}], "ports": [{"port": "metrics"}]}]}),
        policy("web-from-ingress", ns, {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"port": 8080}, {"port": 8443}]}]}),
        policy(f"{ns}-worker", ns, {"podSelector": {"matchLabels": chart}, "ingress": [{"from": [pods(**{**chart, "app.kubernetes.io/component": "api"})], "ports": [{"port": "http"}]}]}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--namespaces", type=int, default=100)
    args = parser.parse_args()

    from compiler.commands import import_
    from compiler.pipeline import build
    from compiler.resolve import Input

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        documents = [p for i in range(args.namespaces) for p in namespace_policies(f"team-{i:03d}")]
        source = root / "policies.yaml"
        source.write_text(yaml.safe_dump_all(documents, sort_keys=False), encoding="utf-8")
        out = root / "imported"
        started = time.perf_counter()
        import io
        from contextlib import redirect_stderr

        err = io.StringIO()
        with redirect_stderr(err):
            code = import_.run([str(source)], output=out)
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        summary = [line for line in err.getvalue().splitlines() if line.startswith("import:")]
        assert code == 0, err.getvalue()[-2000:]
        files = sorted(out.glob("*.netpol"))
        started = time.perf_counter()
        result = build([Input(p, p.name, out) for p in files])
        compile_took = time.perf_counter() - started
        assert result.ok
    print(f"import of {len(documents):,} NetworkPolicies ({args.namespaces} namespaces): {took:.2f} s, peak memory {peak:.0f} MiB")
    print(f"  {summary[0] if summary else ''}")
    print(f"compile (with its proof) of the {len(files)} programs it wrote: {compile_took:.2f} s; import / compile = {took / compile_took:.1f}x")


if __name__ == "__main__":
    main()
