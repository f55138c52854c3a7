"""Shipped examples: checked-in output stays current (golden), validates upstream, and holds its expectations."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO, run_cli

EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())


def relative(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_compiles_clean_and_checked_in_output_is_current(example):
    """The golden test: fails when the compiler's output for an example changes.

    Regenerate with `netpolc compile examples/NAME -o examples/NAME/compiled` and review the diff.
    """
    check = run_cli("check", "--strict", relative(example))
    assert check.code == 0, check.out
    run = run_cli("compile", relative(example), "-o", relative(example / "compiled"), "--check")
    assert run.code == 0, run.err


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_output_validates_against_upstream_schemas(example):
    """An independent check: the Kubernetes OpenAPI schemas (kubernetes-validate, strict)."""
    import kubernetes_validate

    documents = [
        document
        for path in sorted((example / "compiled").rglob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    ]
    assert documents
    for document in documents:
        if document["apiVersion"].startswith("policy.networking.k8s.io/"):
            # Not part of Kubernetes (kubernetes-validate has no schema for it): the upstream CRD's own, by the reference validator.
            import json

            import jsonschema

            from compiler.schema import CRD_SCHEMAS, CRDS

            schema = json.loads((CRDS / CRD_SCHEMAS[(document["apiVersion"], document["kind"])]).read_text())
            jsonschema.validate(document, schema)
            continue
        for version in ("1.29.0", kubernetes_validate.latest_version()):
            kubernetes_validate.validate(document, version, strict=True)


def test_stream_output_equals_the_folder_output():
    stream = list(yaml.safe_load_all(run_cli("compile", "examples/storefront").out))
    folder = [
        yaml.safe_load(p.read_text()) for p in sorted((REPO / "examples/storefront/compiled").rglob("*.yaml"))
    ]
    key = lambda d: (d["metadata"].get("namespace", ""), d["metadata"]["name"])  # noqa: E731
    assert sorted(stream, key=key) == sorted(folder, key=key)


def test_storefront_is_a_dozen_services_across_namespaces():
    documents = list(yaml.safe_load_all(run_cli("compile", "examples/storefront").out))
    apps = {
        d["spec"]["podSelector"].get("matchLabels", {}).get("app")
        for d in documents
        if d["metadata"]["namespace"] == "shop"
    } - {None}
    assert len(apps) >= 10
    assert {d["metadata"]["namespace"] for d in documents} == {"shop", "data", "monitoring"}
    cidrs = {
        peer["ipBlock"]["cidr"]
        for d in documents
        for rule in d["spec"].get("egress", [])
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    }
    assert "203.0.113.0/24" in cidrs  # the payment provider


def test_brief_example_compiles_verbatim():
    from conftest import build_text

    result = build_text("namespace prod\ndeny all\nallow app=web to app=db:5432\negress only to 10.0.0.0/8\n", validate=True)
    assert result.ok
    assert [e.name for e in result.emitted] == ["db-allow-from-web-5432", "deny-all", "egress-only-to-10-0-0-0-8", "web-allow-to-db-5432"]


def test_ci_runs_exactly_the_readme_commands():
    """README's two set-up commands and .ci/run must not drift apart."""
    import re

    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Set up.*?```sh\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2, block
    ci = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines() if line.strip() and not line.startswith("#")]
    for command in block:
        assert command in ci, f"{command!r} is in README.md but not run by .ci/run"


def test_storefront_holds_over_its_cluster_snapshot():
    run = run_cli("test", "examples/storefront", "--cluster", "examples/storefront/cluster-snapshot.yaml")
    assert run.code == 0 and "9 passed, 0 failed" in run.out, run.out + run.err
    graph = run_cli("graph", "--format", "mermaid", "examples/storefront", "--cluster", "examples/storefront/cluster-snapshot.yaml")
    assert "deployment/frontend" in graph.out and "statefulset/redis" in graph.out


def test_guardrails_example_holds_its_expectations():
    run = run_cli("test", "examples/guardrails")
    assert run.code == 0 and "6 passed, 0 failed" in run.out, run.out + run.err
