"""Tests for the per-CNI capability tables and the feature check."""

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from compiler.targets import (
    Api,
    Consequence,
    Feature,
    Status,
    TargetError,
    _load_from,
    _read_table,
    _version_key,
    check_features,
    describe_table,
    list_targets,
    load_target,
    summary_line,
)

EXPECTED_TARGETS = {
    "kubernetes", "calico", "calico-windows", "canal", "cilium", "azure-cilium",
    "gke-dataplane-v2", "antrea", "weave", "kube-router", "flannel", "aws-vpc-cni",
    "azure-npm", "azure-npm-windows", "ovn-kubernetes", "kindnet", "kube-network-policies",
}
TARGETS = list_targets()


def test_every_expected_table_is_shipped():
    assert set(TARGETS) == EXPECTED_TARGETS
    assert TARGETS == sorted(TARGETS)


@pytest.mark.parametrize("name", TARGETS)
def test_table_loads_with_a_row_for_every_feature(name):
    target, version = load_target(name)
    assert version is None
    assert target.name == name and target.display_name and target.description
    for feature in Feature:
        assert target.row(feature).feature is feature
    assert len(describe_table(target)) == len(Feature)
    assert summary_line(target).startswith(f"{name}: ")


@pytest.mark.parametrize("name", TARGETS)
def test_rows_that_differ_from_the_baseline_have_a_source(name):
    target, _ = load_target(name)
    baseline, _ = load_target("kubernetes")
    for feature, row in target.rows.items():
        assert row.source.strip(), f"{name}.{feature.value}"
        if row.status is not Status.supported:
            assert row.consequence or row.status is Status.unknown, f"{name}.{feature.value}"
        if row != baseline.rows[feature]:
            assert row.source != baseline.rows[feature].source, f"{name}.{feature.value}"


@pytest.mark.parametrize("name", TARGETS)
def test_since_versions_are_not_newer_than_latest_version(name):
    target, _ = load_target(name)
    for row in target.rows.values():
        for era in (row, *row.changes):
            if era.since and target.latest_version:
                assert _version_key(era.since) <= _version_key(target.latest_version), f"{name}.{row.feature.value}"


def test_baseline_supports_everything():
    target, _ = load_target("kubernetes")
    assert target.extends is None
    # Every API feature; DNS names are no part of the API (each CNI that has them brings its own object).
    assert {row.status for row in target.rows.values() if row.feature.api is not Api.fqdn} == {Status.supported}
    assert {row.status for row in target.rows.values() if row.feature.api is Api.fqdn} == {Status.unsupported}


def test_schema_vocabulary_matches_the_enums():
    text = (resources.files("compiler.targets") / "data" / "schema.json").read_text()
    defs = json.loads(text)["$defs"]
    features = json.loads(text)["properties"]["features"]["properties"]
    assert list(features) == [f.value for f in Feature]
    assert defs["status"]["enum"] == [s.value for s in Status]
    assert defs["consequence"]["enum"] == [c.value for c in Consequence]


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndisplay_name = "X"\ndescription = "x"\n{body}')
    return path


def test_unknown_feature_key_fails_naming_file_and_key(tmp_path):
    path = _write(tmp_path, "bad", '[features.port_rangez]\nstatus = "ignored"\nsource = "s"\n')
    with pytest.raises(TargetError, match=r"bad\.toml: features: .*'port_rangez'"):
        _read_table(path)


def test_bad_status_fails_naming_the_key(tmp_path):
    path = _write(tmp_path, "bad", '[features.end_port]\nstatus = "partial"\nsource = "s"\n')
    with pytest.raises(TargetError, match=r"bad\.toml: features\.end_port\.status: 'partial'"):
        _read_table(path)


def test_unsupported_row_without_consequence_fails(tmp_path):
    path = _write(tmp_path, "bad", '[features.end_port]\nstatus = "ignored"\nsource = "s"\n')
    with pytest.raises(TargetError, match=r"features\.end_port: 'consequence' is a required"):
        _read_table(path)


def test_extends_is_resolved_from_the_same_directory(tmp_path):
    base = "".join(f'[features.{f.value}]\nstatus = "supported"\nsource = "s"\n' for f in Feature)
    _write(tmp_path, "base", base)
    _write(tmp_path, "child", 'extends = "base"\n[features.sctp]\nstatus = "unknown"\nsource = "t"\n')
    child = _load_from(tmp_path, "child")
    assert child.row(Feature.sctp).status is Status.unknown
    assert child.row(Feature.udp).source == "s"


def test_a_root_table_must_list_every_feature(tmp_path):
    _write(tmp_path, "root", '[features.udp]\nstatus = "supported"\nsource = "s"\n')
    with pytest.raises(TargetError, match="no row for network_policy"):
        _load_from(tmp_path, "root")


def test_extends_cycle_fails(tmp_path):
    _write(tmp_path, "a", 'extends = "b"\n')
    _write(tmp_path, "b", 'extends = "a"\n')
    with pytest.raises(TargetError, match="extends itself"):
        _load_from(tmp_path, "a")


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ("cilium@1.13", Status.ignored),
        ("cilium@1.15.9", Status.ignored),
        ("cilium@1.16", Status.supported),
        ("cilium@v1.16.0", Status.supported),
        ("cilium@1.16.2", Status.supported),
        ("cilium", Status.supported),
        ("azure-cilium@1.16", Status.ignored),
        ("azure-cilium@1.16.16", Status.ignored),
        ("azure-cilium@1.17", Status.supported),
        ("weave@2.8.1", Status.ignored),
    ],
)
def test_end_port_by_version(spec, status):
    target, version = load_target(spec)
    assert target.row(Feature.end_port, version).status is status


def test_end_port_before_since_keeps_the_consequence():
    target, version = load_target("cilium@1.13")
    (finding,) = check_features([Feature.end_port], target, version)
    assert finding.consequence is Consequence.field_ignored
    assert finding.severity == "error"
    assert "cilium 1.13" in finding.message and "1.16" in finding.hint
    assert check_features([Feature.end_port], *load_target("cilium@1.16")) == []


def test_flannel_gives_exactly_one_finding():
    target, version = load_target("flannel")
    findings = check_features(list(Feature), target, version)
    assert [f.feature for f in findings] == [Feature.network_policy]
    assert findings[0].consequence is Consequence.nothing_enforced
    assert findings[0].severity == "error"
    assert "flannel" in findings[0].message and "kube-network-policies" in findings[0].hint


def test_network_policy_gate_applies_before_since():
    target, version = load_target("kindnet@0.23")
    assert [f.feature for f in check_features([Feature.udp], target, version)] == [
        Feature.network_policy
    ]
    assert check_features([Feature.udp], *load_target("kindnet@0.24")) == []


def test_flannel_describes_every_feature_as_not_enforced():
    target, _ = load_target("flannel")
    assert {status for _, status, *_ in describe_table(target, features=Api.network_policy.features)} == {"ignored"}
    cluster = [f for f in Feature if f.api not in (Api.network_policy, Api.fqdn)]
    assert {(status, consequence) for _, status, _, consequence, _ in describe_table(target, features=cluster)} == {
        ("unsupported", "crd_missing")
    }


@pytest.mark.parametrize(
    ("name", "feature", "status", "consequence"),
    [
        ("weave", Feature.named_port, Status.ignored, Consequence.policy_dropped),
        ("weave", Feature.end_port, Status.ignored, Consequence.field_ignored),
        ("cilium", Feature.ip_block_pod_ips, Status.unsupported, Consequence.denied),
        ("ovn-kubernetes", Feature.named_port, Status.ignored, Consequence.fails_open),
        ("azure-npm-windows", Feature.negative_match, Status.unsupported, Consequence.policy_dropped),
        ("azure-npm-windows", Feature.ipv6, Status.unsupported, Consequence.policy_dropped),
        ("calico-windows", Feature.ip_block_except, Status.ignored, Consequence.rule_dropped),
        ("calico-windows", Feature.ipv6, Status.unsupported, Consequence.rule_dropped),
        ("canal", Feature.ipv6, Status.unknown, None),
    ],
)
def test_researched_rows(name, feature, status, consequence):
    row = load_target(name)[0].row(feature)
    assert (row.status, row.consequence) == (status, consequence)


def test_unknown_is_a_warning_never_supported():
    target, version = load_target("gke-dataplane-v2@1.30.1-gke.100")
    findings = check_features([Feature.sctp, Feature.udp], target, version)
    assert [(f.feature, f.severity) for f in findings] == [(Feature.sctp, "warning")]


def test_limit_row_is_reported_as_a_warning():
    target, version = load_target("aws-vpc-cni")
    (finding,) = check_features([Feature.end_port], target, version)
    assert (finding.consequence, finding.limit, finding.severity) == (Consequence.limit, 24, "warning")


def test_findings_are_in_feature_order_and_one_sentence():
    target, version = load_target("azure-npm-windows")
    findings = check_features(reversed(list(Feature)), target, version)
    assert [f.feature for f in findings] == sorted((f.feature for f in findings), key=list(Feature).index)
    for finding in findings:
        assert finding.message.count(". ") == 0 and finding.hint


def test_unknown_target_suggests_a_close_match():
    with pytest.raises(TargetError) as info:
        load_target("calcio")
    assert "calcio" in info.value.message
    assert "`calico`" in info.value.hint and "flannel" in info.value.hint


@pytest.mark.parametrize("spec", ["cilium@", "cilium@latest", "cilium@1..16", "cilium@kind-0.24"])
def test_malformed_version_is_rejected(spec):
    with pytest.raises(TargetError, match="malformed version"):
        load_target(spec)


def test_version_comparison_is_numeric():
    assert _version_key("1.13") < _version_key("1.16") < _version_key("1.16.2")
    assert _version_key("1.9") < _version_key("1.10")
    assert _version_key("1.16.0") == _version_key("1.16") == _version_key("v1.16.0-rc.1")


def test_importing_does_not_import_jsonschema():
    import subprocess
    import sys

    code = "import sys, compiler.targets; print('jsonschema' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sources_look_like_urls_or_repository_references():
    reference = re.compile(r"^(https://\S+|[\w.-]+/[\w.-]+ \S.*)$")
    for name in TARGETS:
        for row in load_target(name)[0].rows.values():
            for era in (row, *row.changes):
                assert reference.match(era.source), f"{name}: {era.source}"
