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
