"""The engine's class-based `Reach` (used by the proof, expect, diff and graph) agrees cell by cell with `evaluate`.

`evaluate` is the reference the upstream e2e truth tables check; `Reach` computes the same
verdicts per class of pods with bitmasks. Every (source, destination, port atom) of the
representative universe of a varied program is compared.
"""

from __future__ import annotations

import pytest

from conftest import build_text

PROGRAMS = {
    "varied": """namespace shop
deny all for tier=back
deny egress for app=batch
allow app=web,env!=dev to app=api:8080-8090
allow app=api to app=db in namespace data:5432
allow app=api to tier in (back, cache):metrics
allow namespaces team=ops to app=api:9090/udp
allow app=x in any namespace to app=db:5432/sctp
egress only to 10.0.0.0/8 except (10.1.0.0/16, 10.2.0.0/16):443 for app=batch
allow app=batch to [2001:db8::1]:53/udp
namespace data
deny ingress
allow app=api in namespace shop to app=db:5432
ingress only from cluster:5432 for app=db
""",
    "world": """namespace edge
deny all
allow world to app=lb:443,80
allow app=lb to app=web:8080
allow app=web to 0.0.0.0/0 except 169.254.169.254/32:443
""",
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_reach_agrees_with_evaluate_on_every_cell(name):
    from compiler import engine

    result = build_text(PROGRAMS[name])
    assert result.ok, result.diagnostics
    policies = engine.load_policies(result.manifests())
    universe = engine.representative_universe([policies])
    atoms = engine.port_atoms([policies], universe)
    reach = engine.Reach(policies, universe, atoms)
    endpoints = universe.endpoints
    wrong = []
    for index, atom in enumerate(atoms):
        for source in endpoints:
            for destination in endpoints:
                fast = reach.allows(source, destination, index)
                slow = engine.evaluate(policies, universe, source, destination, atom.number, atom.protocol).allowed
                if fast != slow:
                    wrong.append(f"{source} -> {destination} {atom.number}/{atom.protocol}: Reach {fast}, evaluate {slow}")
    assert not wrong, "\n".join(wrong[:10])
    assert len(endpoints) > 8 and len(atoms) > 5  # the check covered something


def test_classes_are_shared_between_pods_selected_alike():
    from compiler import engine

    result = build_text("namespace a\ndeny all\nallow app=x to app=y:80\n")
    policies = engine.load_policies(result.manifests())
    universe = engine.representative_universe([policies])
    reach = engine.Reach(policies, universe, engine.port_atoms([policies], universe))
    sides = [reach.side(p, engine.INGRESS) for p in universe.pods if p.namespace == "a" and "app" not in p.labels]
    sides += [reach.side(p, engine.INGRESS) for p in universe.pods if p.labels.get("app") == "x"]
    assert len({id(s) for s in sides}) == 1  # all selected by `deny all` only: one computation
