"""For each intent form, the emitted manifests give the intended reachability.

The program is compiled for real; its manifests are read back by the engine and
evaluated over a small hand-made cluster (concrete pods with labels and named ports,
and outside addresses). Assertions are on verdicts, never on YAML text.
"""

from __future__ import annotations

import pytest

from compiler import engine
from conftest import build_text

METRICS = engine.ContainerPort("metrics", 9090, "TCP")

NAMESPACES = [
    engine.Namespace("prod"),
    engine.Namespace("other"),
    engine.Namespace("monitoring", {"team": "obs"}),
    engine.Namespace("kube-system"),
    engine.Namespace("b"),
]
PODS = {
    "prod/web": engine.Pod("prod", "web", {"app": "web"}, (METRICS,)),
    "prod/db": engine.Pod("prod", "db", {"app": "db"}, (METRICS,)),
    "prod/api": engine.Pod("prod", "api", {"app": "api", "tier": "back"}, (METRICS,)),
    "prod/legacy": engine.Pod("prod", "legacy", {"app": "web", "tier": "x"}, (METRICS,)),
    "prod/plain": engine.Pod("prod", "plain", {}),
    "other/web": engine.Pod("other", "web", {"app": "web"}),
    "monitoring/prom": engine.Pod("monitoring", "prom", {"app": "prometheus"}),
    "kube-system/dns": engine.Pod("kube-system", "dns", {"k8s-app": "kube-dns"}),
    "b/y": engine.Pod("b", "y", {"app": "y"}),
}
ADDRESSES = {ip: engine.Address(ip) for ip in ("10.1.2.3", "10.9.0.1", "8.8.8.8", "2001:db8::1", "2001:db9::1")}
UNIVERSE = engine.Universe(NAMESPACES, list(PODS.values()), list(ADDRESSES.values()))


def endpoint(name: str):
    return PODS.get(name) or ADDRESSES[name]


def compiled(text: str) -> engine.PolicySet:
    result = build_text(text, validate=True)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return engine.load_policies(result.manifests())


def check(text: str, flows: list[tuple[str, str, int | str, str, bool]]) -> None:
    policies = compiled(text)
    wrong = []
    for source, destination, port, protocol, expected in flows:
        verdict = engine.evaluate(policies, UNIVERSE, endpoint(source), endpoint(destination), port, protocol)
        if verdict.allowed != expected:
            wrong.append(f"{source} -> {destination}:{port}/{protocol}: expected {'allowed' if expected else 'denied'}")
    assert not wrong, "\n".join(wrong)


A, D = True, False  # allowed, denied

CASES = {
    "nothing-means-open": ("namespace prod\n", [("prod/web", "prod/db", 5432, "TCP", A), ("prod/web", "8.8.8.8", 443, "TCP", A)]),
    "deny-all": (
        "namespace prod\ndeny all\n",
        [
            ("prod/web", "prod/db", 5432, "TCP", D),
            ("other/web", "prod/db", 5432, "TCP", D),
            ("prod/web", "8.8.8.8", 443, "TCP", D),
            ("other/web", "other/web", 80, "TCP", A),
        ],
    ),
    "deny-ingress": (
        "namespace prod\ndeny ingress\n",
        [("other/web", "prod/db", 5432, "TCP", D), ("prod/web", "8.8.8.8", 443, "TCP", A), ("prod/web", "other/web", 80, "TCP", A)],
    ),
    "deny-egress": (
        "namespace prod\ndeny egress\n",
        [("prod/web", "8.8.8.8", 443, "TCP", D), ("other/web", "prod/db", 5432, "TCP", A), ("prod/web", "prod/db", 5432, "TCP", D)],
    ),
    "deny-ingress-for-selector": (
        "namespace prod\ndeny ingress for app=db\n",
        [("prod/web", "prod/db", 5432, "TCP", D), ("prod/db", "prod/web", 80, "TCP", A)],
    ),
    "allow-alone-isolates-only-the-destination": (
        "namespace prod\nallow app=web to app=db:5432\n",
        [
            ("prod/web", "prod/db", 5432, "TCP", A),
            ("prod/api", "prod/db", 5432, "TCP", D),
            ("prod/web", "prod/db", 80, "TCP", D),
            ("prod/web", "8.8.8.8", 443, "TCP", A),
            ("prod/db", "prod/web", 80, "TCP", A),
        ],
    ),
    "brief-lines": (
        "namespace prod\ndeny all\nallow app=web to app=db:5432\negress only to 10.0.0.0/8\n",
        [
            ("prod/web", "prod/db", 5432, "TCP", A),
            ("prod/web", "prod/db", 5433, "TCP", D),
            ("prod/db", "prod/web", 5432, "TCP", D),
            ("prod/api", "10.1.2.3", 443, "TCP", A),
            ("prod/api", "8.8.8.8", 443, "TCP", D),
            ("other/web", "prod/web", 80, "TCP", D),
        ],
    ),
    "egress-only-with-except": (
        "namespace prod\negress only to 10.0.0.0/8 except 10.9.0.0/16\n",
        [("prod/web", "10.1.2.3", 1, "UDP", A), ("prod/web", "10.9.0.1", 443, "TCP", D), ("other/web", "prod/db", 80, "TCP", A)],
    ),
    "ingress-only-from": (
        "namespace prod\ningress only from app=web for app=db\n",
        [("prod/web", "prod/db", 1234, "TCP", A), ("prod/api", "prod/db", 1234, "TCP", D), ("prod/api", "prod/web", 80, "TCP", A)],
    ),
    "named-port-from-other-namespace": (
        "namespace prod\nallow app=prometheus in namespace monitoring to any:metrics\n",
        [
            ("monitoring/prom", "prod/web", 9090, "TCP", A),
            ("monitoring/prom", "prod/web", "metrics", "TCP", A),
            ("monitoring/prom", "prod/web", 80, "TCP", D),
            ("prod/api", "prod/web", 9090, "TCP", D),
        ],
    ),
    "namespaces-by-label": (
        "namespace prod\nallow namespaces team=obs to app=db:5432\n",
        [("monitoring/prom", "prod/db", 5432, "TCP", A), ("other/web", "prod/db", 5432, "TCP", D)],
    ),
    "cluster": (
        "namespace prod\nallow cluster to app=web:80\n",
        [("other/web", "prod/web", 80, "TCP", A), ("prod/db", "prod/web", 80, "TCP", A), ("8.8.8.8", "prod/web", 80, "TCP", D)],
    ),
    "world-includes-pods-and-both-families": (
        "namespace prod\nallow world to app=web:443\n",
        [
            ("8.8.8.8", "prod/web", 443, "TCP", A),
            ("2001:db8::1", "prod/web", 443, "TCP", A),
            ("other/web", "prod/web", 443, "TCP", A),
            ("8.8.8.8", "prod/web", 444, "TCP", D),
        ],
    ),
    "egress-rule-only-where-isolated": (
        "namespace prod\ndeny egress for tier=back\nallow app in (web, api) to 10.0.0.0/8:443\n",
        [
            ("prod/api", "10.1.2.3", 443, "TCP", A),
            ("prod/api", "8.8.8.8", 443, "TCP", D),
            ("prod/web", "8.8.8.8", 443, "TCP", A),  # web's egress was never isolated: still open
        ],
    ),
    "not-equals": (
        "namespace prod\nallow app=web,tier!=x to app=db:5432\n",
        [("prod/web", "prod/db", 5432, "TCP", A), ("prod/legacy", "prod/db", 5432, "TCP", D)],
    ),
    "exists-and-absent": (
        "namespace prod\nallow tier to app=db:1\nallow !app to app=db:2\n",
        [
            ("prod/api", "prod/db", 1, "TCP", A),
            ("prod/web", "prod/db", 1, "TCP", D),
            ("prod/plain", "prod/db", 2, "TCP", A),
            ("prod/web", "prod/db", 2, "TCP", D),
        ],
    ),
    "protocols": (
        "namespace prod\nallow app=web to app=db:53/udp,5000/sctp\n",
        [
            ("prod/web", "prod/db", 53, "UDP", A),
            ("prod/web", "prod/db", 53, "TCP", D),
            ("prod/web", "prod/db", 5000, "SCTP", A),
            ("prod/web", "prod/db", 5000, "UDP", D),
        ],
    ),
    "port-range": (
        "namespace prod\nallow app=web to app=db:8000-8080\n",
        [("prod/web", "prod/db", 8000, "TCP", A), ("prod/web", "prod/db", 8080, "TCP", A), ("prod/web", "prod/db", 8081, "TCP", D)],
    ),
    "ipv6": (
        "namespace prod\negress only to 2001:db8::/32\n",
        [("prod/web", "2001:db8::1", 443, "TCP", A), ("prod/web", "2001:db9::1", 443, "TCP", D), ("prod/web", "8.8.8.8", 443, "TCP", D)],
    ),
    "same-namespace-module": (
        "namespace prod\nuse default-deny\nuse same-namespace\n",
        [("prod/web", "prod/db", 5, "TCP", A), ("other/web", "prod/db", 5, "TCP", D), ("prod/web", "other/web", 5, "TCP", D)],
    ),
    "dns-module": (
        "namespace prod\nuse default-deny\nuse dns\n",
        [
            ("prod/web", "kube-system/dns", 53, "UDP", A),
            ("prod/web", "kube-system/dns", 53, "TCP", A),
            ("prod/web", "kube-system/dns", 54, "UDP", D),
            ("prod/web", "8.8.8.8", 53, "UDP", D),
        ],
    ),
    "other-namespace-both-sides": (
        "namespace prod\ndeny all\nallow app=web to app=y in namespace b:80\nnamespace b\ndeny all\n",
        [("prod/web", "b/y", 80, "TCP", A), ("prod/api", "b/y", 80, "TCP", D), ("prod/web", "b/y", 81, "TCP", D)],
    ),
    "unmanaged-destination-namespace-keeps-its-ingress": (
        "namespace prod\ndeny egress\nallow app=web to app=web in namespace other:80\n",
        [("prod/web", "other/web", 80, "TCP", A), ("prod/db", "other/web", 80, "TCP", D)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_intent_form_reachability(name):
    text, flows = CASES[name]
    check(text, flows)


def test_egress_rule_lands_in_the_source_namespace_of_another_file(write):
    """`allow A to B` written in B's file still emits A's egress rule in A's namespace."""
    from compiler.pipeline import build
    from compiler.resolve import expand_inputs

    root = write({"a.netpol": "namespace prod\ndeny all\n", "b.netpol": "namespace b\ndeny all\nallow app=web in namespace prod to app=y:80\n"})
    result = build(expand_inputs([str(root)]))
    assert result.ok
    egress = [e for e in result.emitted if e.side == "egress"]
    assert [(e.namespace, e.name) for e in egress] == [("prod", "web-allow-to-b-y-80")]
    policies = engine.load_policies(result.manifests())
    assert engine.evaluate(policies, UNIVERSE, PODS["prod/web"], PODS["b/y"], 80).allowed
    assert not engine.evaluate(policies, UNIVERSE, PODS["prod/web"], PODS["b/y"], 81).allowed
