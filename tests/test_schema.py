"""The shipped NetworkPolicy schema: valid draft-07, and the fast validator agrees with jsonschema."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from compiler.schema import schema, schema_errors
from conftest import REPO

EXAMPLE = yaml.safe_load((REPO / "examples/three-tier/compiled/webapp/db-allow-from-api-5432.yaml").read_text())


def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(schema())


def mutate(path, value):
    manifest = copy.deepcopy(EXAMPLE)
    target = manifest
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return manifest


INVALID = {
    "name-not-dns1123": mutate(["metadata", "name"], "Db_Policy"),
    "name-too-long": mutate(["metadata", "name"], "a" * 64),
    "no-namespace": mutate(["metadata", "namespace"], KeyError),
    "no-source-annotation": mutate(["metadata", "annotations"], {"netpolc.io/intent": "x"}),
    "bad-policy-type": mutate(["spec", "policyTypes"], ["Sideways"]),
    "unknown-spec-key": mutate(["spec", "priority"], 1),
    "port-zero": mutate(["spec", "ingress"], [{"ports": [{"protocol": "TCP", "port": 0}]}]),
    "end-port-without-port": mutate(["spec", "ingress"], [{"ports": [{"protocol": "TCP", "endPort": 90}]}]),
    "unknown-protocol": mutate(["spec", "ingress"], [{"ports": [{"protocol": "ICMP", "port": 1}]}]),
    "ipblock-with-selector": mutate(["spec", "ingress"], [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]),
    "empty-peer": mutate(["spec", "ingress"], [{"from": [{}]}]),
    "in-without-values": mutate(["spec", "podSelector"], {"matchExpressions": [{"key": "a", "operator": "In"}]}),
    "exists-with-values": mutate(["spec", "podSelector"], {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
    "bad-label-value": mutate(["spec", "podSelector"], {"matchLabels": {"app": "-db"}}),
    "bad-label-key": mutate(["spec", "podSelector"], {"matchLabels": {"App Name": "db"}}),
    "long-port-name": mutate(["spec", "ingress"], [{"ports": [{"port": "a-very-long-port-name"}]}]),
}


def test_examples_are_valid_for_both_validators():
    from compiler.schema import CRD_SCHEMAS, crd_schema

    for path in sorted((REPO / "examples").rglob("compiled/**/*.yaml")):
        for manifest in yaml.safe_load_all(path.read_text()):
            key = (manifest["apiVersion"], manifest["kind"])
            reference = jsonschema.Draft7Validator(crd_schema(*key) if key in CRD_SCHEMAS else schema())
            assert schema_errors(manifest) == [], path
            assert reference.is_valid(manifest), path


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_manifest_is_refused_by_both_validators(name):
    manifest = INVALID[name]
    assert not jsonschema.Draft7Validator(schema()).is_valid(manifest)
    errors = schema_errors(manifest)
    assert len(errors) == 1 and errors[0]


def _program(tmp_path, intents: int = 300):
    import importlib.util

    from compiler.pipeline import build
    from compiler.resolve import expand_inputs

    spec = importlib.util.spec_from_file_location("bench_compile", REPO / "bench" / "compile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.generate(intents, tmp_path)
    result = build(expand_inputs([str(tmp_path)]), prove=False)
    assert result.ok
    return result.emitted


def test_every_manifest_of_a_generated_program_and_the_examples_validates(tmp_path):
    """The one validation path, on every manifest (compile checks one of each shape: see validate_manifests)."""
    from compiler.pipeline import build
    from compiler.resolve import expand_inputs
    from compiler.schema import validate_manifests

    emitted = _program(tmp_path)
    for example in ("examples/three-tier", "examples/storefront", "examples/guardrails"):
        for api in ("v1alpha1", "v1alpha2"):
            emitted += build(expand_inputs([str(REPO / example)]), prove=False, api=api).emitted
    assert len(emitted) > 700
    assert validate_manifests(emitted, every=True) == []


def test_compile_validates_one_manifest_of_each_shape_and_catches_a_structural_fault_in_any(tmp_path, monkeypatch):
    import compiler.schema as schema_module

    emitted = _program(tmp_path)
    checked = []
    original = schema_module.schema_errors
    monkeypatch.setattr(schema_module, "schema_errors", lambda m: checked.append(m) or original(m))
    assert schema_module.validate_manifests(emitted) == []
    shapes = {schema_module.shape(item.manifest()) for item in emitted}
    assert len(checked) == len(shapes) < len(emitted) / 20
    # one manifest deep in the list loses its podSelector: a new shape, so it is checked, and refused
    victim = emitted[len(emitted) // 2]
    del victim.spec["podSelector"]
    checked.clear()
    found = schema_module.validate_manifests(emitted)
    assert [d.code for d in found] == ["NP501"] and victim.name in found[0].message and "podSelector" in found[0].message
