"""`expect`, `netpolc test` and `netpolc explain`: verdicts, failing lines, the policies named, YAML policies read."""

from __future__ import annotations

import json

import pytest

from conftest import build_text, run_cli

SHOP = """namespace shop
use default-deny
use dns
allow app=web to app=api:8080
allow app=api to app=db:5432
allow app=api to 10.0.0.0/8 except 10.1.0.0/16:443
allow app.kubernetes.io/name=prometheus in namespace monitoring to any:metrics
"""


def outcomes(text: str):
    from compiler.expect import check_expectations

    result = build_text(text)
    assert result.ok, result.diagnostics
    return check_expectations(result.program, result.emitted)


# ---------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    "flow, verdict",
    [
        ("app=web -> app=api:8080", "allowed"),
        ("app=web -> app=api:8081", "denied"),
        ("app=web -> app=db:5432", "denied"),
        ("app=api -> app=db:5432", "allowed"),
        ("app=api -> app=db:5432/udp", "denied"),
        ("app=api -> 10.2.3.4:443", "allowed"),
        ("app=api -> 10.1.2.3:443", "denied"),  # inside the except
        ("app=api -> 11.0.0.1:443", "denied"),
        ("app=api -> 10.0.0.0/8:443", "partly allowed"),  # the except is inside it
        ("app=web -> k8s-app=kube-dns in namespace kube-system:53/udp", "allowed"),
        ("app=web -> k8s-app=kube-dns in namespace kube-system:54/udp", "denied"),
        ("app=web -> 8.8.8.8:53/udp", "denied"),
        ("app.kubernetes.io/name=prometheus in namespace monitoring -> app=db:metrics", "allowed"),
        ("app.kubernetes.io/name=prometheus in namespace monitoring -> app=db:9090", "denied"),
        ("any in namespace monitoring -> app=db:metrics", "partly allowed"),
        ("any -> app=db:5432", "partly allowed"),  # api may, the others may not
        ("world -> app=web:80", "denied"),
        ("app=x in namespace elsewhere -> app=elsewhere in namespace elsewhere:80", "allowed"),  # nobody isolates them
    ],
)
def test_expectation_verdicts(flow, verdict):
    expected = "denied" if verdict == "allowed" else "allowed"  # a wrong guess shows `actual`
    (outcome,) = outcomes(SHOP + f"expect {flow} {expected}\n")
    assert outcome.actual == verdict
    assert not outcome.passed


def test_reachability_matrix_between_groups():
    """Every pair of three groups on one port, as a matrix, against the intents' meaning."""
    groups = ["app=web", "app=api", "app=db"]
    lines = [f"expect {a} -> {b}:5432 denied" for a in groups for b in groups]
    results = outcomes(SHOP + "\n".join(lines) + "\n")
    matrix = [["." if r.actual == "allowed" else "X" for r in results[i * 3 : i * 3 + 3]] for i in range(3)]
    assert matrix == [
        ["X", "X", "X"],
        ["X", "X", "."],  # only api -> db on 5432
        ["X", "X", "X"],
    ]


def test_allowed_means_every_pod_the_source_stands_for():
    text = "namespace shop\ndeny ingress for app=db\nallow app=web,tier=front to app=db:5432\n"
    (wide,) = outcomes(text + "expect app=web -> app=db:5432 allowed\n")
    assert wide.actual == "partly allowed"
    # The witness is a web pod without tier=front, and it is denied at db's ingress.
    assert wide.verdict.source.labels.get("tier") != "front" and not wide.verdict.allowed
    (narrow,) = outcomes(text + "expect app=web,tier=front -> app=db:5432 allowed\n")
    assert narrow.passed


# ---------------------------------------------------------------- netpolc test


def test_netpolc_test_reports_failing_lines_and_exits_1(write):
    root = write(
        {
            "shop.netpol": SHOP
            + "expect app=web -> app=api:8080 allowed\n"  # line 8
            + "expect app=web -> app=db:5432 allowed\n"  # line 9: fails (denied)
            + "expect app=api -> app=db:5432 denied\n"  # line 10: fails (allowed)
            + "expect app=api -> 8.8.8.8:53/udp denied\n"  # line 11
        }
    )
    run = run_cli("test", str(root))
    assert run.code == 1
    assert run.out.splitlines()[-1] == "2 passed, 2 failed"
    assert ":9:1: error[NP700]: `expect app=web -> app=db:5432 allowed` does not hold" in run.out
    assert ":10:1: error[NP700]: `expect app=api -> app=db:5432 denied` does not hold" in run.out
    # The denied flow names the isolating side; the allowed one names the intent line that allowed it.
    assert "shop/app=web -> shop/app=db on 5432/TCP is denied" in run.out
    assert "ingress allowed by shop/db-allow-from-api-5432: allow app=api to app=db:5432 at" in run.out

    data = json.loads(run_cli("test", "--format", "json", str(root)).out)
    assert (data["passed"], data["failed"]) == (2, 2)
    failing = {(e["line"], e["actual"]) for e in data["expectations"] if not e["passed"]}
    assert failing == {(9, "denied"), (10, "allowed")}
    flow = next(e["flow"] for e in data["expectations"] if e["line"] == 10)
    assert [p["source"].rsplit(":", 1)[1] for p in flow["ingress"]["allowed_by"]] == ["5"]
    assert [p["source"].rsplit(":", 1)[1] for p in flow["egress"]["allowed_by"]] == ["5"]
    denied = next(e["flow"] for e in data["expectations"] if e["line"] == 9)
    assert denied["ingress"]["isolated"] and denied["ingress"]["allowed_by"] == []


def test_netpolc_test_passes_with_exit_0(write):
    root = write({"shop.netpol": SHOP + "expect app=web -> app=api:8080 allowed\n"})
    run = run_cli("test", str(root))
    assert (run.code, run.out) == (0, "1 passed, 0 failed\n")


def test_netpolc_test_without_expectations_fails_closed(write):
    root = write({"shop.netpol": SHOP})
    run = run_cli("test", str(root))
    assert run.code == 1 and "no `expect` statements" in run.err


def test_netpolc_test_compile_error_is_reported_not_tested(write):
    root = write({"shop.netpol": "namespace shop\nexpect app=web -> app=db:99999 allowed\n"})
    run = run_cli("test", str(root))
    assert run.code == 1 and ":2:" in run.err and "NP306" in run.err


# ---------------------------------------------------------------- YAML policies

POLICIES = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-from-api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: app, operator: In, values: [api, worker]}]}
    ports:
    - port: 5432
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: 2001:db8::/32, except: ["2001:db8:1::/48"]}
"""


def test_policies_folder_with_expect_only_file(write, tmp_path):
    policies = tmp_path / "deploy"
    policies.mkdir()
    (policies / "all.yaml").write_text(POLICIES)
    root = write(
        {
            "checks.netpol": "namespace shop\n"
            "expect app=api -> app=db:5432 allowed\n"
            "expect app=worker -> app=db:5432 allowed\n"
            "expect app=web -> app=db:5432 allowed\n"  # line 4: fails
            "expect app=web -> [2001:db8::5]:443 allowed\n"
            "expect app=web -> [2001:db8:1::5]:443 allowed\n"  # line 6: fails (except)
        }
    )
    run = run_cli("test", "--format", "json", str(root), "--policies", str(policies))
    data = json.loads(run.out)
    assert run.code == 1
    assert {e["line"] for e in data["expectations"] if not e["passed"]} == {4, 6}
    # A policy not written with netpolc is named by its YAML file and document line.
    flow = next(e["flow"] for e in data["expectations"] if e["line"] == 4)
    (isolating,) = flow["ingress"]["isolated_by"]
    assert isolating["name"] == "db-from-api" and isolating["source"].endswith("all.yaml:6")


# Errors in YAML inputs (positions, types, bounds, -n, standard input): tests/test_yaml_input.py


# ---------------------------------------------------------------- explain


def test_explain_names_the_policies_of_each_side(write):
    root = write({"shop.netpol": SHOP})
    run = run_cli("explain", "--format", "json", str(root), "app=api -> app=db:5432")
    assert run.code == 0
    data = json.loads(run.out)
    assert (data["namespace"], data["verdict"]) == ("shop", "allowed")
    (flow,) = data["flows"]
    assert flow["source"] == "shop/app=api" and flow["destination"] == "shop/app=db"
    assert [(p["name"], p["rule"]) for p in flow["egress"]["allowed_by"]] == [("api-allow-to-db-5432", 1)]
    assert [p["intent"] for p in flow["ingress"]["allowed_by"]] == ["allow app=api to app=db:5432"]
    assert {p["name"] for p in flow["ingress"]["isolated_by"]} == {"deny-all", "db-allow-from-api-5432", "all-allow-from-monitoring-prometheus-metrics"}
    assert flow["ingress"]["allowed_by"][0]["source"].endswith("shop.netpol:5")


def test_explain_denied_flow_text_says_which_side_and_that_no_rule_allows(write):
    root = write({"shop.netpol": SHOP})
    run = run_cli("explain", str(root), "app=web -> app=db:5432")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "app=web -> app=db:5432 (in namespace shop): denied"
    assert "  no egress rule allows shop/app=db on 5432/TCP: denied" in "\n".join(lines)
    assert "  no ingress rule allows shop/app=web on 5432/TCP: denied" in "\n".join(lines)


def test_explain_with_a_stated_verdict_exits_1_when_it_does_not_hold(write):
    root = write({"shop.netpol": SHOP})
    assert run_cli("explain", str(root), "app=web -> app=db:5432 allowed").code == 1
    assert run_cli("explain", str(root), "app=web -> app=db:5432 denied").code == 0


def test_explain_against_yaml(tmp_path):
    (tmp_path / "p.yaml").write_text(POLICIES)
    run = run_cli("explain", "--format", "json", "--policies", str(tmp_path), "app=worker -> app=db:5432")
    data = json.loads(run.out)
    assert data["verdict"] == "allowed"
    assert data["flows"][0]["ingress"]["allowed_by"][0]["name"] == "db-from-api"


def test_explain_needs_a_namespace_when_there_are_several(write):
    root = write({"a.netpol": "namespace a\ndeny all\n", "b.netpol": "namespace b\ndeny all\n"})
    run = run_cli("explain", str(root), "any -> any:80")
    assert run.code == 2 and "--namespace" in run.err and "a, b" in run.err
    chosen = run_cli("explain", "-n", "b", "--format", "json", str(root), "any -> any:80")
    assert json.loads(chosen.out)["verdict"] == "denied"


def test_explain_bad_query_points_into_the_query(write):
    root = write({"shop.netpol": SHOP})
    run = run_cli("explain", str(root), "app=web -> app=db:99999")
    assert run.code == 2
    assert run.err.startswith("<query>:1:19: error[NP306]")


def test_query_parses_with_the_language_grammar():
    from compiler import ir
    from compiler.query import parse_query

    expect, found, _ = parse_query("app=web in namespace x -> 10.0.0.0/8 except 10.1.0.0/16:53/udp denied", "shop")
    assert not found
    assert expect.verdict == "denied" and expect.port == ir.PortRange("UDP", 53)
    assert expect.source == ir.Pods(ir.NamespaceRef("named", "x"), ir.LabelSelector.of({"app": "web"}))
    assert expect.destination == ir.Block("10.0.0.0/8", ("10.1.0.0/16",))
