"""YAML inputs as kubectl reads them: objects with positions, bounded streams, NetworkPolicy checked at the field,
duplicates, -n NAME and standard input, through test, explain, diff and graph."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import manifests
from compiler.diagnostics import registry
from compiler.source import SourceFile
from conftest import REPO, run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "real-world"
CHECKS = "namespace shop\nexpect app=api -> app=db:5432 allowed\n"


def read(text: str, name: str = "in.yaml"):
    """The generic layer on one text: (objects, diagnostics)."""
    objects, diagnostics, _ = manifests.read_objects(SourceFile(name, text))
    return objects, diagnostics


def where(diagnostic) -> tuple[str, int, int]:
    return diagnostic.code, diagnostic.span.line, diagnostic.span.column


def json_diagnostics(run) -> list[dict]:
    return json.loads(run.out)["diagnostics"]


@pytest.fixture
def checks(write):
    return write({"checks.netpol": CHECKS}) / "checks.netpol"


# ---------------------------------------------------------------- objects and their positions

STREAM = """# leading comment
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: List
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: a, namespace: shop}
  spec:
    podSelector: {matchLabels: {app: db}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
---
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": [
  {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "b", "namespace": "shop"}, "spec": {"podSelector": {}}}]}
---
"""


def test_each_object_and_each_list_item_has_its_own_line():
    objects, diagnostics = read(STREAM)
    assert diagnostics == []
    assert [(o.kind, o.span.line, o.span.column, o.label) for o in objects] == [
        ("Deployment", 2, 1, "document 1"),
        ("NetworkPolicy", 9, 3, "document 2, items[0]"),
        ("ConfigMap", 14, 3, "document 2, items[1]"),
        ("NetworkPolicy", 19, 3, "document 3, items[0]"),
    ]
    # A field's own line:col, and the key when asked; a missing field stops at what is written.
    policy = objects[1]
    assert policy.at(("spec", "podSelector", "matchLabels", "app"))[1:3] == (13, 38)
    assert policy.at(("spec", "podSelector"), key=True)[1:3] == (13, 5)
    assert policy.at(("spec", "ingress", 0, "from"))[1:3] == (13, 5)
    assert (policy.name, policy.namespace, objects[2].namespace) == ("a", "shop", None)


def test_field_positions_look_through_merge_keys():
    text = (
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "- {apiVersion: v1, kind: ConfigMap, data: &base {podSelector: {matchLabels: {app: db}}}}\n"
        "- apiVersion: networking.k8s.io/v1\n"
        "  kind: NetworkPolicy\n"
        "  metadata: {name: m, namespace: shop}\n"
        "  spec:\n"
        "    <<: *base\n"
        "    policyTypes: [Ingress]\n"
    )
    objects, diagnostics = read(text)
    assert diagnostics == []
    policy = objects[1]
    assert policy.data["spec"] == {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"]}
    assert policy.at(("spec", "podSelector"))[1:3] == (4, 63)  # where the merged field is written
    assert policy.at(("spec", "policyTypes"))[1:3] == (10, 18)


@pytest.mark.parametrize(
    "text, line, column, words",
    [
        ("just a string\n", 1, 1, "is not a Kubernetes object"),
        ("- a\n- b\n", 1, 1, "is not a Kubernetes object"),
        ("apiVersion: v1\nmetadata: {name: x}\n", 1, 1, "has no kind"),
        ("apiVersion: v1\nkind: [x]\n", 2, 7, "kind: expected a string"),
        ("apiVersion: v1\nkind: List\nitems: 5\n", 3, 8, "items: expected a list"),
        ("apiVersion: v1\nkind: List\nitems:\n- 5\n", 4, 3, "items[0]: expected a Kubernetes object"),
        ("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1}\n", 4, 3, "items[0] has no kind"),
        ("a: 1\na: 2\n", 2, 1, "appears twice"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: !!binary aGVsbG8=\n", 3, 7, "unsupported YAML tag"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: !Ref x\n", 3, 7, "unsupported YAML tag"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: !!set {a, b}\n", 3, 7, "unsupported YAML tag"),
        ("apiVersion: v1\nkind: ConfigMap\n? [a]\n: b\n", 3, 3, "a mapping key must be a string"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: !!int abc\n", 3, 7, "not a valid int"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: {<<: 5}\n", 3, 12, "merge key"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: {a: *nope}\n", 3, 11, "not valid YAML: found undefined alias"),
        ("apiVersion: v1\nkind: ConfigMap\ndata: \"\x01\"\n", 3, 8, "not valid YAML"),
    ],
)
def test_what_is_not_an_object_is_np701_at_its_line(text, line, column, words):
    objects, diagnostics = read(text)
    assert objects == []
    (problem,) = diagnostics
    assert where(problem) == ("NP701", line, column) and words in problem.message


def test_scalars_read_as_kubectl_reads_them():
    (obj,), _ = read(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  creationTimestamp: 2024-01-02T03:04:05Z\n"
        "data: {sixty: 1:30, int: 0x10, float: 1.5, yes: yes, empty: ~, text: !!str 80}\n"
    )
    assert obj.data["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"  # a string, not a datetime
    assert obj.data["data"] == {"sixty": "1:30", "int": 16, "float": 1.5, "yes": True, "empty": None, "text": "80"}


# ---------------------------------------------------------------- bounds: aliases, depth, numbers (issue 8, item 7)


def fan_out(aliases: int = 3000, peers: int = 300) -> str:
    """A 50 KB NetworkPolicy whose one big rule is referenced `aliases` times: about 6 million nodes expanded."""
    rule = "\n".join(f"      - podSelector: {{matchLabels: {{app: p{i}}}}}" for i in range(peers))
    head = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bomb, namespace: shop}\n"
    return head + f"spec:\n  podSelector: {{}}\n  ingress:\n    - &rule\n      from:\n{rule}\n" + "    - *rule\n" * aliases


@pytest.mark.parametrize("command", ["test", "explain", "diff", "graph"])
def test_alias_fan_out_is_refused_at_its_document_before_expansion(command, checks, tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(fan_out())
    args = {
        "test": ["test", str(checks), "--policies", str(bomb)],
        "explain": ["explain", "--policies", str(bomb), "app=a -> app=b:80"],
        "diff": ["diff", str(bomb), str(bomb)],
        "graph": ["graph", "--policies", str(bomb)],
    }[command]
    started = time.perf_counter()
    run = run_cli(*args)
    assert time.perf_counter() - started < 10  # was past 120 s and 1.7 GB for diff
    assert run.code == 1
    assert re.search(r"bomb\.yaml:1:1: error\[NP701\]: document 1: its YAML aliases expand to 6,\d{3},\d{3} nodes from 2,1\d\d written", run.err)


def test_billion_laughs_and_recursive_aliases_are_refused():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)
    )
    (problem,) = read("---\napiVersion: v1\nkind: ConfigMap\n" + laughs)[1]
    assert where(problem) == ("NP701", 2, 1) and re.search(r"expand to 12,345,679,\d{3} nodes from \d\d written", problem.message)
    (problem,) = read("apiVersion: v1\nkind: ConfigMap\ndata: &a [*a]\n")[1]
    assert where(problem) == ("NP701", 1, 1) and "refers to the node that contains it" in problem.message


def test_aliases_a_manifest_really_uses_are_read():
    text = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: m, namespace: shop}\nspec:\n"
        "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: a}}}]\n    ports: &web [{port: 80}, {port: 443}]\n"
        "  - from: [{podSelector: {matchLabels: {app: b}}}]\n    ports: *web\n"
    )
    objects, diagnostics = read(text)
    policies, problems = manifests.network_policies(objects)
    assert diagnostics == problems == []
    assert [[p.port for p in rule.ports] for rule in policies[0].ingress] == [[80, 443], [80, 443]]


@pytest.mark.parametrize(
    "data, message",
    [
        ("[" * 150 + "]" * 150, "nested more than 100 levels deep"),
        ("[" * 5000 + "]" * 5000, "not valid YAML: exceeded maximum nesting depth"),  # libyaml's own bound
        ("\n" + "- " * 5000 + "x", "not valid YAML: exceeded maximum nesting depth"),
    ],
)
def test_deep_nesting_is_refused_without_recursion_error(data, message):
    (problem,) = read(f"apiVersion: v1\nkind: ConfigMap\ndata: {data}\n")[1]
    assert problem.code == "NP701" and message in problem.message


def test_deep_nesting_with_the_pure_python_yaml_loader(monkeypatch):
    monkeypatch.delattr(yaml, "CSafeLoader", raising=False)  # PyYAML without libyaml recurses per level
    for depth in (150, 600):  # 150: our own bound; 600: past what its recursion can take
        (problem,) = read("apiVersion: v1\nkind: ConfigMap\ndata: " + "[" * depth + "]" * depth + "\n")[1]
        assert problem.code == "NP701" and "nested" in problem.message


def test_a_stream_of_garbage_stops_after_a_hundred_problems():
    _, diagnostics = read("a: 1\n---\n" * 5000)
    assert len(diagnostics) == manifests.MAX_PROBLEMS
    assert [d.span.line for d in diagnostics[:3]] == [1, 3, 5]
    assert where(diagnostics[-1]) == ("NP701", 199, 1) and "stopped reading it here" in diagnostics[-1].message


def test_huge_integer_is_np701_at_its_column(checks, tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: " + "9" * 5000 + "}]\n"
    )
    run = run_cli("test", "--format", "json", str(checks), "--policies", str(policy))
    (problem,) = json_diagnostics(run)
    assert run.code == 1 and (problem["code"], problem["location"]) == ("NP701", {"row": 7, "column": 20})
    assert "a number of 5,000 characters" in problem["message"] and len(problem["message"]) < 200


# ---------------------------------------------------------------- NetworkPolicy fields: type and value (item 8)

BASE = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: db
  namespace: shop
  labels: {app: db}
  annotations: {owner: team-a}
spec:
  podSelector:
    matchLabels: {app: db}
    matchExpressions: [{key: tier, operator: In, values: [backend]}]
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
    ports: [{protocol: TCP, port: 5432, endPort: 5440}]
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: x}}}]
    ports: [{port: dns}]
"""

# (line or (first, last) lines, their new text (None deletes them), the token the diagnostic points at, the field's path, words of the message)
BAD_FIELDS = [
    (12, "  policyTypes: [[]]", "[]]", "spec.policyTypes[0]", "expected Ingress or Egress, got an empty list"),
    (12, "  policyTypes: [Ingress, Egress, Ingress]", "[Ingress, Egress, Ingress]", "spec.policyTypes", "at most two"),
    (14, "  - from: true", "true", "spec.ingress[0].from", "expected a list of peers, got true"),
    (15, '    ports: [{protocol: TCP, port: 5432, endPort: "5440"}]', '"5440"', "spec.ingress[0].ports[0].endPort", "got the string '5440'"),
    (14, "  - from: [{ipBlock: [a]}]", "[a]", "spec.ingress[0].from[0].ipBlock", "got a list of 1 item"),
    (7, "  annotations: x", "x", "metadata.annotations", "expected a mapping of annotation keys"),
    (7, "  annotations: {owner: 5}", "5", "metadata.annotations.owner", "expected a string"),
    (15, "    ports: 5432", "5432", "spec.ingress[0].ports", "expected a list of ports, got 5432"),
    (17, "  - to: x", "x", "spec.egress[0].to", "expected a list of peers"),
    (11, "    matchExpressions: 1", "1", "spec.podSelector.matchExpressions", "expected a list of expressions"),
    (11, "    matchExpressions: [{key: tier, operator: In, values: backend}]", "backend", "spec.podSelector.matchExpressions[0].values", "expected a list of label values"),
    (11, "    matchExpressions: [{key: tier, operator: Exists, values: [x]}]", "[x]", "spec.podSelector.matchExpressions[0].values", "take no values"),
    (11, "    matchExpressions: [{key: tier, operator: In}]", "{key", "spec.podSelector.matchExpressions[0].values is missing", "need values"),
    (11, "    matchExpressions: [{key: tier, operator: Near, values: [x]}]", "Near", "spec.podSelector.matchExpressions[0].operator", "In, NotIn, Exists or DoesNotExist"),
    (14, "  - from: [{ipBlock: {cidr: 10.0.0.0/33}}]", "10.0.0.0/33", "spec.ingress[0].from[0].ipBlock.cidr", "is not a CIDR"),
    (14, "  - from: [{ipBlock: {cidr: 10.0.0.1}}]", "10.0.0.1", "spec.ingress[0].from[0].ipBlock.cidr", "is not a CIDR"),
    (14, "  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16]}}]", "11.0.0.0/16", "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"),
    (14, "  - from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]", "10.0.0.0/8]", "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"),
    (14, "  - from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]", "{ipBlock", "spec.ingress[0].from[0]", "may not also set podSelector"),
    (14, "  - from: [{}]", "{}", "spec.ingress[0].from[0]", "got an empty mapping"),
    (14, "  - from: [{podSelector: {matchLabel: {app: api}}}]", "matchLabel:", "spec.ingress[0].from[0].podSelector.matchLabel", "unknown field (did you mean matchLabels?)"),
    (6, "  labels: {app: " + "x" * 64 + "}", "x" * 64, "metadata.labels.app", "expected a label value"),
    (6, '  labels: {"a b": db}', '"a b"', "metadata.labels['a b']", "is not a valid key"),
    (10, "    matchLabels: {app: 1}", "1}", "spec.podSelector.matchLabels.app", "got 1"),
    (10, "    matchLabels: {app: true}", "true", "spec.podSelector.matchLabels.app", "got true"),
    (15, "    ports: [{protocol: TCP, port: 0}]", "0}", "spec.ingress[0].ports[0].port", "got 0"),
    (15, "    ports: [{protocol: TCP, port: 65536}]", "65536", "spec.ingress[0].ports[0].port", "from 1 to 65535"),
    (15, '    ports: [{protocol: TCP, port: "80"}]', '"80"', "spec.ingress[0].ports[0].port", "got the string '80'"),
    (15, "    ports: [{protocol: TCP, port: 80.0}]", "80.0", "spec.ingress[0].ports[0].port", "expected an integer, got 80.0"),
    (15, "    ports: [{protocol: tcp, port: 80}]", "tcp", "spec.ingress[0].ports[0].protocol", "TCP, UDP or SCTP"),
    (15, "    ports: [{protocol: TCP, port: 5432, endPort: 5000}]", "5000", "spec.ingress[0].ports[0].endPort", "below the port it ends"),
    (15, "    ports: [{protocol: TCP, port: 5432, endport: 5440}]", "endport", "spec.ingress[0].ports[0].endport", "did you mean endPort?"),
    (18, "    ports: [{port: dns, endPort: 60}]", "60", "spec.egress[0].ports[0].endPort", "needs a numeric port"),
    (18, "    ports: [{port: a-very-long-port-name}]", "a-very-long-port-name", "spec.egress[0].ports[0].port", "at most 15"),
    (13, "  ingres:", "ingres", "spec.ingres", "unknown field (did you mean ingress?)"),
    ((13, 15), "  ingress: {from: []}", "{from", "spec.ingress", "expected a list of ingress rules"),
    (4, "  name: Db", "Db", "metadata.name", "a DNS-1123 subdomain"),
    (5, "  namespace: Shop", "Shop", "metadata.namespace", "a DNS-1123 label"),
    (4, "  name: [db]", "[db]", "metadata.name", "expected a DNS-1123 subdomain"),
    (4, None, "namespace", "metadata.name is missing", "at least `name`"),
    ((9, 11), "  podSelector: null", "podSelector", "spec.podSelector is missing", ""),
    ((9, 11), "  podSelector: []", "[]", "spec.podSelector", "expected a label selector"),
    (12, "  policyTypes: [Ingress]\n  policyTypes: [Egress]", "policyTypes: [Egress]", "appears twice", "first at line 12"),
    (2, "kind: NetworkPolicy\nspex: {}", "spex", "spex", "unknown field (did you mean spec?)"),
]


def mutate(line: int | tuple[int, int], new: str | None) -> str:
    first, last = line if isinstance(line, tuple) else (line, line)
    lines = BASE.splitlines()
    lines[first - 1 : last] = [] if new is None else [new]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("line, new, token, path, words", BAD_FIELDS, ids=[f"{c[3]}:{c[4][:20]}" for c in BAD_FIELDS])
def test_wrong_field_is_np701_at_the_field_with_its_path(line, new, token, path, words, checks, tmp_path):
    text = mutate(line, new)
    (tmp_path / "p.yaml").write_text(text)
    run = run_cli("test", "--format", "json", str(checks), "--policies", str(tmp_path / "p.yaml"))
    assert run.code == 1, run.err
    (problem,) = json_diagnostics(run)
    first = line[0] if isinstance(line, tuple) else line
    offset = text.index(token, sum(len(x) + 1 for x in text.splitlines()[: first - 1]))
    row = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    assert problem["code"] == "NP701"
    assert (problem["location"]["row"], problem["location"]["column"]) == (row, column), problem["message"]
    assert path in problem["message"] and words in problem["message"]
    assert problem["message"].startswith("document 1: ")
    assert problem["hint"]


def test_the_base_of_the_table_is_valid(checks, tmp_path):
    (tmp_path / "p.yaml").write_text(BASE)
    run = run_cli("test", str(checks), "--policies", str(tmp_path / "p.yaml"))
    assert run.code == 0 and "1 passed, 0 failed" in run.out


def test_fields_set_to_null_are_absent_as_for_the_api_server(checks, tmp_path):
    # recipe 04 writes `matchLabels:` with nothing after it; a null peer selector is no selector at all.
    text = BASE.replace("    matchLabels: {app: db}\n    matchExpressions: [{key: tier, operator: In, values: [backend]}]\n", "    matchLabels:\n")
    (tmp_path / "p.yaml").write_text(text)
    run = run_cli("explain", "--format", "json", "--policies", str(tmp_path), "app=web -> app=db:5432")
    assert run.code == 0 and json.loads(run.out)["verdict"] == "denied"  # every pod of shop is selected now
    (tmp_path / "p.yaml").write_text(BASE.replace("[{podSelector: {matchLabels: {app: api}}}, ", "[{podSelector: null}, "))
    run = run_cli("test", "--format", "json", str(checks), "--policies", str(tmp_path / "p.yaml"))
    (problem,) = json_diagnostics(run)
    assert (problem["code"], problem["location"]["row"]) == ("NP701", 14) and "spec.ingress[0].from[0]" in problem["message"]


def test_invalid_policy_among_others_is_np701_at_its_field(write, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\n"
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: both, namespace: shop}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]\n"
    )
    root = write({"checks.netpol": "namespace shop\nexpect any -> any:80 allowed\n"})
    run = run_cli("test", str(root), "--policies", str(bad))
    assert run.code == 1
    assert "bad.yaml:11:12: error[NP701]: document 2: NetworkPolicy both: spec.ingress[0].from[0]: a peer with ipBlock" in run.err


def test_other_api_versions_are_refused_at_the_field(checks, tmp_path):
    (tmp_path / "p.yaml").write_text(BASE.replace("networking.k8s.io/v1", "extensions/v1beta1"))
    (problem,) = json_diagnostics(run_cli("test", "--format", "json", str(checks), "--policies", str(tmp_path / "p.yaml")))
    assert (problem["code"], problem["location"]) == ("NP701", {"row": 1, "column": 13}) and "netpolc reads networking.k8s.io/v1" in problem["message"]


def test_invalid_yaml_is_np701_at_its_line(write, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x\n")
    root = write({"checks.netpol": "namespace shop\nexpect any -> any:80 allowed\n"})
    run = run_cli("test", "--format", "json", str(root), "--policies", str(bad))
    assert run.code == 1
    (item,) = json.loads(run.out)["diagnostics"]
    assert item["code"] == "NP701" and item["filename"].endswith("bad.yaml") and item["location"]["row"] == 4


def test_unreadable_policy_file_exits_2(write, tmp_path):
    bad = tmp_path / "binary.yaml"
    bad.write_bytes(b"\x00\x01\x02")
    root = write({"checks.netpol": "namespace shop\nexpect any -> any:80 allowed\n"})
    run = run_cli("test", str(root), "--policies", str(bad))
    assert run.code == 2 and "NP103" in run.err


def test_missing_policies_folder_is_a_usage_error(write, tmp_path):
    root = write({"checks.netpol": "namespace shop\nexpect any -> any:80 allowed\n"})
    run = run_cli("test", str(root), "--policies", str(tmp_path / "nowhere"))
    assert run.code == 2 and "no such file or folder" in run.err


# ---------------------------------------------------------------- the input schema


def test_input_schema_is_valid_draft7_and_both_validators_agree(tmp_path):
    import fastjsonschema
    import jsonschema

    schema = manifests.input_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    reference = jsonschema.Draft7Validator(schema)
    fast = fastjsonschema.compile(schema)
    samples = [yaml.safe_load(BASE)] + [yaml.safe_load(mutate(line, new)) for line, new, _, path, _ in BAD_FIELDS if "twice" not in path]
    samples += [m for p in sorted(REPO.glob("examples/*/compiled/**/*.yaml")) for m in yaml.safe_load_all(p.read_text())]
    agreed = 0
    for sample in samples:
        sample = manifests._without_nulls(sample)
        try:
            fast(sample)
            fast_ok = True
        except fastjsonschema.JsonSchemaValueException:
            fast_ok = False
        assert fast_ok == reference.is_valid(sample), sample
        agreed += 1
    assert agreed > 60


# ---------------------------------------------------------------- the same object twice (item 9)

ALLOW = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: db, {ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: db}}}}\n  ingress: [{{from: [{{podSelector: {{matchLabels: {{app: api}}}}}}]}}]\n"
DENY = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: db, {ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: db}}}}\n  ingress: []\n"
SAME = "namespace shop\nexpect app=api -> app=db:5432 denied\n"


def test_same_name_twice_in_one_file_warns_and_only_the_later_counts(write, tmp_path):
    (tmp_path / "p.yaml").write_text(ALLOW.format(ns="namespace: shop") + "---\n" + DENY.format(ns="namespace: shop"))
    root = write({"checks.netpol": SAME})
    run = run_cli("test", str(root), "--policies", str(tmp_path / "p.yaml"))
    assert run.code == 0 and "1 passed, 0 failed" in run.out  # the later one (no rule) decides
    assert re.search(r"p\.yaml:10:18: warning\[NP702\]: NetworkPolicy shop/db is defined twice \(also at \S+p\.yaml:1:1\)", run.err)
    assert "the later `kubectl apply` wins" in run.err and "note: the earlier definition, not evaluated at" in run.err
    (tmp_path / "p.yaml").write_text(DENY.format(ns="namespace: shop") + "---\n" + ALLOW.format(ns="namespace: shop"))
    assert run_cli("test", str(root), "--policies", str(tmp_path / "p.yaml")).code == 1  # now the allowing one is later


def test_same_name_across_files_and_with_the_default_namespace(write, tmp_path):
    (tmp_path / "a.yaml").write_text(ALLOW.format(ns="namespace: shop"))
    (tmp_path / "b.yaml").write_text(DENY.format(ns="labels: {x: y}"))  # no namespace: -n shop puts it there
    root = write({"checks.netpol": SAME})
    run = run_cli("test", "--format", "json", str(root), "--policies", str(tmp_path), "-n", "shop")
    data = json.loads(run.out)
    (warning,) = data["diagnostics"]
    assert run.code == 0 and data["passed"] == 1
    assert (warning["code"], warning["filename"].endswith("b.yaml"), warning["location"]["row"]) == ("NP702", True, 3)
    assert warning["related"][0]["filename"].endswith("a.yaml")
    # Same name in two namespaces: two objects, no warning.
    (tmp_path / "b.yaml").write_text(DENY.format(ns="namespace: other"))
    run = run_cli("test", "--format", "json", str(root), "--policies", str(tmp_path))
    assert [d["code"] for d in json.loads(run.out)["diagnostics"]] == ["NP700"]  # both count: shop/db allows


@pytest.mark.parametrize("command", ["explain", "graph", "diff"])
def test_duplicate_warning_is_shown_by_every_command(command, tmp_path):
    (tmp_path / "p.yaml").write_text(ALLOW.format(ns="namespace: shop") + "---\n" + DENY.format(ns="namespace: shop"))
    args = {"explain": ["explain", "--policies", str(tmp_path), "app=api -> app=db:5432"], "graph": ["graph", "--policies", str(tmp_path)], "diff": ["diff", str(tmp_path), str(tmp_path)]}[command]
    run = run_cli(*args)
    assert run.code == 0 and "warning[NP702]" in run.err


# ---------------------------------------------------------------- -n NAME and standard input (issue 9, part 1)

NO_NAMESPACE = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: db\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress: [{from: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 5432}]}]\n"


def command_line(command: str, policies: str, checks: Path, *extra: str) -> list[str]:
    return {
        "test": ["test", str(checks), "--policies", policies, *extra],
        "explain": ["explain", "--format", "json", "--policies", policies, "app=api -> app=db:5432", *extra],
        "diff": ["diff", "--format", "json", str(checks.parent / "empty.yaml"), policies, *extra],
        "graph": ["graph", "--policies", policies, *extra],
    }[command]


@pytest.fixture
def sides(checks):
    (checks.parent / "empty.yaml").write_text("# no policies\n")
    return checks


@pytest.mark.parametrize("command", ["test", "explain", "diff", "graph"])
def test_without_a_namespace_the_message_says_the_truth_and_the_fix(command, sides, tmp_path):
    (tmp_path / "p.yaml").write_text(NO_NAMESPACE)
    run = run_cli(*command_line(command, str(tmp_path / "p.yaml"), sides, *(["-n", "shop"] if command == "explain" else [])))
    if command == "explain":  # its -n is the flow's namespace and also the default: accepted
        assert run.code == 0 and json.loads(run.out)["verdict"] == "allowed"
        return
    assert run.code == 1
    assert re.search(r"p\.yaml:3:1: error\[NP703\]: document 1: NetworkPolicy db: no metadata\.namespace: kubectl would put it into the namespace of its current context", run.err)
    assert "help: name the namespace with -n NAME (as with `kubectl apply -n NAME`)" in run.err
    assert "API server would reject" not in run.err


@pytest.mark.parametrize("command", ["test", "explain", "diff", "graph"])
def test_dash_n_is_the_namespace_of_yaml_without_one(command, sides, tmp_path):
    (tmp_path / "p.yaml").write_text(NO_NAMESPACE)
    run = run_cli(*command_line(command, str(tmp_path / "p.yaml"), sides, "-n", "shop"))
    assert run.code == 0, run.err
    if command == "test":
        assert "1 passed, 0 failed" in run.out
    elif command == "explain":
        assert json.loads(run.out)["namespace"] == "shop" and json.loads(run.out)["verdict"] == "allowed"
    elif command == "diff":
        opened = json.loads(run.out)["opened"]
        assert opened == [] and any(row["destination"].startswith("shop/app=db") for row in json.loads(run.out)["closed"])
    else:
        assert '"namespace shop"' in run.out or "namespace shop" in run.out


@pytest.mark.parametrize("command", ["test", "diff", "graph"])
def test_an_object_of_another_namespace_than_dash_n_is_refused_as_kubectl_does(command, sides, tmp_path):
    (tmp_path / "p.yaml").write_text(NO_NAMESPACE.replace("  name: db\n", "  name: db\n  namespace: prod\n"))
    run = run_cli(*command_line(command, str(tmp_path / "p.yaml"), sides, "-n", "shop"))
    assert run.code == 1
    assert re.search(r"p\.yaml:5:14: error\[NP704\]: document 1: NetworkPolicy db: the namespace of the object \(prod\) does not match -n shop", run.err)


def test_explain_reads_objects_of_other_namespaces_as_written(tmp_path):
    (tmp_path / "p.yaml").write_text(NO_NAMESPACE.replace("  name: db\n", "  name: db\n  namespace: prod\n") + "---\n" + NO_NAMESPACE)
    run = run_cli("explain", "--format", "json", "--policies", str(tmp_path), "-n", "shop", "app=api -> app=db:5432")
    assert run.code == 0 and json.loads(run.out)["verdict"] == "allowed"
    run = run_cli("explain", "--format", "json", "--policies", str(tmp_path), "-n", "prod", "app=api -> app=db:5432")
    assert run.code == 0 and json.loads(run.out)["verdict"] == "allowed"


def test_dash_n_must_be_a_namespace_name(sides, tmp_path):
    (tmp_path / "p.yaml").write_text(NO_NAMESPACE)
    for command in ("test", "diff", "graph", "explain"):
        run = run_cli(*command_line(command, str(tmp_path / "p.yaml"), sides, "-n", "Bad_NS"))
        assert run.code == 2 and "a namespace name is at most 63 lowercase letters" in run.err


@pytest.mark.parametrize("command", ["test", "explain", "diff", "graph"])
def test_policies_from_standard_input(command, sides):
    run = run_cli(*command_line(command, "-", sides, "-n", "shop"), stdin=NO_NAMESPACE)
    assert run.code == 0, run.err
    if command == "test":
        assert "1 passed, 0 failed" in run.out
    if command == "explain":
        (flow,) = json.loads(run.out)["flows"]
        assert flow["ingress"]["allowed_by"][0]["source"] == "<stdin>:1"


def test_standard_input_diagnostics_are_named_stdin(sides):
    text = NO_NAMESPACE.replace("port: 5432", "port: 0")
    run = run_cli("test", str(sides), "--policies", "-", "-n", "shop", stdin=text)
    column = text.splitlines()[6].index("0}") + 1
    assert run.code == 1 and f"<stdin>:7:{column}: error[NP701]: document 1: NetworkPolicy db: spec.ingress[0].ports[0].port" in run.err
    run = run_cli("diff", str(sides.parent / "empty.yaml"), "-", "-n", "shop", stdin="kind: [\n")
    assert run.code == 1 and "<stdin>:2:1: error[NP701]: not valid YAML" in run.err


def test_a_list_and_several_documents_from_standard_input(sides):
    listed = {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(NO_NAMESPACE)]}
    stream = json.dumps(listed) + "\n---\n" + DENY.format(ns="namespace: shop").replace("name: db", "name: other")
    run = run_cli("test", "--format", "json", str(sides), "--policies", "-", "-n", "shop", stdin=stream)
    assert run.code == 0 and json.loads(run.out)["passed"] == 1  # the List's policy allows; the other only isolates db


def test_standard_input_read_once_and_bounded(sides):
    run = run_cli("test", str(sides), "--policies", "-", "--policies", "-", stdin=NO_NAMESPACE)
    assert run.code == 2 and "standard input (-) can be read only once" in run.err
    run = run_cli("diff", "-", "-", stdin=NO_NAMESPACE)
    assert run.code == 2 and "standard input (-) can be one side only" in run.err
    run = run_cli("diff", "main..HEAD", "-", stdin=NO_NAMESPACE)
    assert run.code == 2 and "standard input (-) is not one" in run.err
    run = run_cli("test", str(sides), "--policies", "-", stdin="#" * (manifests.MAX_BYTES + 1))
    assert run.code == 2 and f"<stdin>:1:1: error[NP103]: more than the {manifests.MAX_BYTES:,} bytes a YAML input may have" in run.err


def test_standard_input_through_a_real_pipe(sides):
    done = subprocess.run(
        [sys.executable, "-m", "compiler", "test", str(sides), "--policies", "-", "-n", "shop"],
        input=NO_NAMESPACE.encode(), capture_output=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )
    assert done.returncode == 0 and b"1 passed, 0 failed" in done.stdout


# ---------------------------------------------------------------- real-world files


def real_world() -> list[Path]:
    return sorted(FIXTURES.glob("*/*.yaml"))


@pytest.mark.parametrize("path", real_world(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_world_policy_is_accepted_with_dash_n(path):
    """Accepted as kubectl would: `-n` fills in a missing namespace, and must agree with one that is written."""
    written = sorted(set(re.findall(r"(?m)^  namespace: (\S+)$", path.read_text())))
    run = run_cli("graph", "--policies", str(path), "-n", written[0] if written else "default")
    assert run.code == 0 and run.err == "", run.err
    without = run_cli("graph", "--policies", str(path))
    assert without.code == (0 if written else 1)
    assert "NP703" in without.err or without.code == 0
    if written:  # another -n than the file's own: refused, as `kubectl apply -n` refuses it (NP704)
        other = run_cli("graph", "--policies", str(path), "-n", "elsewhere")
        assert other.code == 1 and "NP704" in other.err


def test_real_world_folders_read_as_written():
    recipes, docs = str(FIXTURES / "recipes"), str(FIXTURES / "kubernetes-docs")

    def verdict(folder: str, flow: str) -> str:
        run = run_cli("explain", "--format", "json", "--policies", folder, "-n", "default", flow)
        assert run.code == 0, run.err
        return json.loads(run.out)["verdict"]

    docs_only = str(FIXTURES / "kubernetes-docs" / "networkpolicy.yaml")
    assert verdict(docs_only, "role=frontend -> role=db:6379") == "allowed"
    assert verdict(docs_only, "role=frontend -> role=db:6380") == "denied"
    assert verdict(docs_only, "172.17.0.5 -> role=db:6379") == "allowed"
    assert verdict(docs_only, "172.17.1.5 -> role=db:6379") == "denied"  # the except
    assert verdict(str(FIXTURES / "kubernetes-docs" / "networkpolicy-multiport-egress.yaml"), "role=db -> 10.0.0.1:32768") == "allowed"
    assert verdict(str(FIXTURES / "kubernetes-docs" / "network-policy-default-deny-all.yaml"), "app=x -> app=y:80") == "denied"
    assert verdict(docs, "app=x -> app=y:80") == "allowed"  # allow-all-ingress and allow-all-egress are among them
    assert verdict(recipes, "app=bookstore -> app=bookstore,role=api:80") == "denied"  # egress denied by recipe 12


def test_real_world_charts_read_as_their_authors_describe():
    """Argo CD's and kube-prometheus's published policies: the flows their components need, and a few they must not get."""

    def verdict(folder: str, namespace: str, flow: str) -> str:
        run = run_cli("explain", "--format", "json", "--policies", str(FIXTURES / folder), "-n", namespace, flow)
        assert run.code == 0, run.err
        return json.loads(run.out)["verdict"]

    def argo(flow: str) -> str:
        return verdict("argo-cd/install-networkpolicies.yaml", "argocd", flow)

    name = "app.kubernetes.io/name"
    assert argo(f"{name}=argocd-server -> {name}=argocd-redis:6379") == "allowed"
    assert argo(f"{name}=argocd-application-controller -> {name}=argocd-repo-server:8081") == "allowed"
    assert argo(f"{name}=argocd-dex-server -> {name}=argocd-redis:6379") == "denied"
    assert argo(f"{name}=argocd-server -> {name}=argocd-redis:6380") == "denied"
    assert argo(f"203.0.113.9 -> {name}=argocd-server:8080") == "allowed"  # its policy allows every source (`- {{}}`)
    assert argo(f"app=x in namespace other -> {name}=argocd-application-controller:8082") == "allowed"  # namespaceSelector: {{}}
    assert argo(f"203.0.113.9 -> {name}=argocd-application-controller:8082") == "denied"  # ...which holds pods only
    alertmanager = f"{name}=alertmanager,app.kubernetes.io/component=alert-router,app.kubernetes.io/instance=main,app.kubernetes.io/part-of=kube-prometheus"

    def monitoring(flow: str) -> str:
        return verdict("kube-prometheus", "monitoring", flow)

    assert monitoring(f"{name}=prometheus -> {alertmanager}:9093") == "allowed"
    assert monitoring(f"{name}=grafana -> {alertmanager}:9093") == "denied"
    assert monitoring(f"{name}=alertmanager -> {alertmanager}:9094/udp") == "allowed"
    assert monitoring(f"{name}=alertmanager -> {alertmanager}:9093") == "denied"
    assert monitoring(f"{alertmanager} -> 198.51.100.1:443") == "allowed"  # egress `- {{}}`: everything


# ---------------------------------------------------------------- property: corrupted policies give a diagnostic with a line

# NETPOLC_FUZZ_EXAMPLES=5000 pytest tests/test_yaml_input.py -k property  runs the same properties longer.
EXAMPLES = int(os.environ.get("NETPOLC_FUZZ_EXAMPLES", "0"))
READER = settings(max_examples=EXAMPLES or 200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI = settings(max_examples=EXAMPLES // 5 or 30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

labels = st.dictionaries(st.sampled_from(["app", "tier", "example.com/team"]), st.sampled_from(["web", "db", "a.b-c"]), max_size=2)
selector = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": labels,
        "matchExpressions": st.lists(
            st.one_of(
                st.fixed_dictionaries({"key": st.just("tier"), "operator": st.sampled_from(["In", "NotIn"]), "values": st.lists(st.sampled_from(["a", "b"]), min_size=1, max_size=2)}),
                st.fixed_dictionaries({"key": st.just("env"), "operator": st.sampled_from(["Exists", "DoesNotExist"])}),
            ),
            max_size=2,
        ),
    },
)
peer = st.one_of(
    st.fixed_dictionaries({"podSelector": selector}, optional={"namespaceSelector": selector}),
    st.fixed_dictionaries({"namespaceSelector": selector}),
    st.fixed_dictionaries({"ipBlock": st.fixed_dictionaries({"cidr": st.just("10.0.0.0/8")}, optional={"except": st.just(["10.1.0.0/16"])})}),
)
port = st.one_of(
    st.fixed_dictionaries({"port": st.integers(1, 65535)}, optional={"protocol": st.sampled_from(["TCP", "UDP", "SCTP"])}),
    st.fixed_dictionaries({"port": st.just(8000), "endPort": st.integers(8000, 9000)}),
    st.fixed_dictionaries({"port": st.sampled_from(["http", "metrics"])}),
)
rule = lambda key: st.fixed_dictionaries({}, optional={key: st.lists(peer, max_size=3), "ports": st.lists(port, max_size=3)})  # noqa: E731
policy = st.builds(
    lambda name, spec: {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": "shop"}, "spec": spec},
    st.sampled_from(["db", "web", "a.b"]),
    st.fixed_dictionaries(
        {"podSelector": selector},
        optional={"policyTypes": st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]), "ingress": st.lists(rule("from"), max_size=2), "egress": st.lists(rule("to"), max_size=2)},
    ),
)
junk = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.integers(min_value=10**30), st.floats(allow_nan=True), st.text(max_size=12), st.sampled_from(["80", "10.0.0.0/33", "In", "TCP", "", "*", "a" * 70])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["podSelector", "from", "ports", "cidr", "x", "matchLabels"]), inner, max_size=3)),
    max_leaves=6,
)


def paths_of(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_of(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_of(item, path + (index,))


@st.composite
def corrupted(draw):
    """A valid policy, then: a field replaced by junk, deleted, or added; or its YAML text mutated."""
    document = copy.deepcopy(draw(policy))  # drawn values may be shared (st.just): never change them
    how = draw(st.sampled_from(["replace", "delete", "add", "text"]))
    paths = [p for p in paths_of(document) if p]
    target = draw(st.sampled_from(paths))
    parent = document
    for step in target[:-1]:
        parent = parent[step]
    if how == "replace":
        parent[target[-1]] = draw(junk)
    elif how == "delete":
        del parent[target[-1]]
    elif how == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "ports", "ipBlock", "endPort", "policyTypes", "namespace"]))] = draw(junk)
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=draw(st.booleans()))
    if how == "text":
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            piece = draw(st.sampled_from(["", ":", "- ", "[", "]", "{", "}", "&a ", "*a", "\n  ", "\t", "'", '"', "!!binary ", "<<: ", "\x00", "~", "9" * 50]))
            cut = draw(st.integers(0, 3))
            text = text[:at] + piece + text[at + cut :]
    return text


def assert_diagnostics_have_lines(diagnostics, text: str) -> None:
    lines = text.count("\n") + 2
    for d in diagnostics:
        assert d.code in registry()
        assert 1 <= d.span.line <= lines and d.span.column >= 1, d
        assert "internal error" not in d.message


@READER
@given(corrupted())
def test_property_reader_gives_a_policy_or_diagnostics_with_lines(text):
    objects, diagnostics = read(text)
    policies, problems = manifests.network_policies(objects)
    assert_diagnostics_have_lines(diagnostics + problems, text)
    assert len(policies) + len(problems) >= sum(o.kind == "NetworkPolicy" for o in objects)  # each read, or said why not


@CLI
@given(corrupted(), st.sampled_from(["test", "diff"]))
def test_property_commands_give_exit_0_or_1_with_located_diagnostics(text, command):
    run = run_cli(*command_line(command, "-", property_checks(), "-n", "shop"), stdin=text)
    assert run.code in (0, 1) or (run.code == 2 and "error[NP103]" in run.err), run.err  # 2: not text (a NUL byte)
    assert "internal error" not in run.err and "Traceback" not in run.err
    for line in run.err.splitlines():
        if "error[" in line:
            assert re.match(r"<stdin>:\d+:\d+: error\[NP(7\d\d|103)\]: ", line), line


def property_checks() -> Path:
    folder = REPO / "tests" / "fixtures" / "property"
    return folder / "checks.netpol"


@READER
@given(policy, junk, st.data())
def test_property_engine_reader_raises_only_policy_error(document, value, data):
    """The engine's reader is the second line of defence: junk anywhere gives a Policy or a PolicyError."""
    from compiler import engine

    document = copy.deepcopy(document)
    target = data.draw(st.sampled_from([p for p in paths_of(document) if p]))
    parent = document
    for step in target[:-1]:
        parent = parent[step]
    parent[target[-1]] = copy.deepcopy(value)
    try:
        engine.read_policy(document, 0, "shop")
    except engine.PolicyError as err:
        assert err.where.startswith("NetworkPolicy ")
