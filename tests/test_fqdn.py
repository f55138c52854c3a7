"""Egress to DNS names: the grammar's reading, the wildcard meaning, the engine's verdicts, each backend's golden output
(schema-valid), the refusals (plain NetworkPolicy, Calico OSS, mixed fleets) and every trap's diagnostic."""

from __future__ import annotations

import json

import pytest
import yaml

from compiler import dnsnames, nodes
from compiler.parser import parse
from compiler.schema import crd_schema, schema_errors
from compiler.source import SourceFile
from conftest import REPO, build_text, run_cli

GOLDEN = REPO / "tests" / "fixtures" / "fqdn"
CHECKOUT = "namespace shop\n\negress only to api.stripe.com:443 for app=checkout\n"
EXPECTS = (
    "expect app=checkout -> api.stripe.com:443 allowed\n"
    "expect app=checkout -> api.stripe.com:80 denied\n"
    "expect app=checkout -> evil.example.com:443 denied\n"
    "expect app=checkout -> 203.0.113.7:443 denied\n"
)


def target_of(text: str):
    (statement,) = parse(SourceFile("t.netpol", text))[0].statements
    return statement.peer.target if hasattr(statement, "peer") else statement.destination.target


def error_codes(result) -> list[str]:
    return [d.code for d in result.diagnostics if d.is_error]


# ---------------------------------------------------------------- the language


@pytest.mark.parametrize(
    "line, kind",
    [
        ("egress only to api.stripe.com:443", nodes.NameTarget),
        ("egress only to api.stripe.com.:443", nodes.NameTarget),  # an absolute name, as written
        ("egress only to *.stripe.com:443", nodes.NameTarget),
        ("egress only to **.stripe.com", nodes.NameTarget),
        ("egress only to api-*.stripe.com:443", nodes.NameTarget),
        ("egress only to app.kubernetes.io/part-of", nodes.PodTarget),  # a `/`: a label key
        ("egress only to api.stripe.com,tier=x:443", nodes.PodTarget),  # with other terms: labels only
        ("egress only to api.stripe.com in namespace billing", nodes.PodTarget),
        ("egress only to app=web", nodes.PodTarget),
        ("egress only to 10.0.0.1:443", nodes.IpTarget),
        ("egress only to monitored", nodes.PodTarget),  # no dot
    ],
)
def test_a_lone_dotted_term_is_a_name_and_everything_else_keeps_its_reading(line, kind):
    assert type(target_of(line + "\n")) is kind


def test_ports_keep_their_star_form_next_to_name_wildcards():
    result = build_text("namespace a\ndeny all\nallow app=x to app=y:53/tcp,*/udp\n")
    assert error_codes(result) == []


@pytest.mark.parametrize(
    "pattern, name, covered",
    [
        ("api.stripe.com", "api.stripe.com", True),
        ("api.stripe.com.", "api.stripe.com", True),
        ("api.stripe.com", "eu.api.stripe.com", False),
        ("*.stripe.com", "api.stripe.com", True),
        ("*.stripe.com", "stripe.com", False),  # never the apex
        ("*.stripe.com", "eu.api.stripe.com", False),  # one label only
        ("**.stripe.com", "eu.api.stripe.com", True),
        ("**.stripe.com", "api.stripe.com", True),
        ("**.stripe.com", "stripe.com", False),
        ("api-*.stripe.com", "api-eu.stripe.com", True),
        ("api-*.stripe.com", "api-eu.x.stripe.com", False),  # never across a dot
        ("api-*.stripe.com", "web.stripe.com", False),
    ],
)
def test_wildcard_meaning(pattern, name, covered):
    assert dnsnames.matches(pattern, name) is covered


# ---------------------------------------------------------------- Cilium


def test_cilium_writes_toFQDNs_with_the_dns_rule_golden_and_schema_valid(write):
    root = write({"a.netpol": CHECKOUT})
    run = run_cli("compile", "--cni", "cilium", str(root / "a.netpol"))
    assert run.code == 0, run.out + run.err
    documents = [d for d in yaml.safe_load_all(run.out) if d]
    assert [d["kind"] for d in documents] == ["CiliumNetworkPolicy"]
    (policy,) = documents
    assert schema_errors(policy) == []
    import jsonschema

    jsonschema.validate(policy, crd_schema("cilium.io/v2", "CiliumNetworkPolicy"))
    golden = (GOLDEN / "cilium-checkout.yaml").read_text("utf-8")
    assert run.out.replace(str(root / "a.netpol"), "a.netpol") == golden
    spec = policy["spec"]
    assert spec["endpointSelector"] == {"matchLabels": {"app": "checkout"}}
    assert spec["egress"][0] == {"toFQDNs": [{"matchName": "api.stripe.com"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}
    dns = spec["egress"][1]
    assert dns["toEndpoints"] == [{"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}]
    assert dns["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}  # search-list lookups (musl) pass too
    assert {p["protocol"] for p in dns["toPorts"][0]["ports"]} == {"UDP", "TCP"}
    assert "info[NP615]" in run.err


def test_cilium_output_is_byte_identical_across_runs(write):
    root = write({"a.netpol": CHECKOUT + "allow app=web to *.stripe.com:443\ndeny egress for app=web\nuse dns\n"})
    first = run_cli("compile", "--cni", "cilium", str(root))
    second = run_cli("compile", "--cni", "cilium", str(root))
    assert first.code == 0 and first.out == second.out
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(first.out) if d]
    assert ("CiliumNetworkPolicy", "web-allow-to-any-stripe-com-443") in kinds
    wildcard = next(d for d in yaml.safe_load_all(first.out) if d and d["metadata"]["name"] == "web-allow-to-any-stripe-com-443")
    assert wildcard["spec"]["egress"][0]["toFQDNs"] == [{"matchPattern": "*.stripe.com"}]
    assert wildcard["spec"]["endpointSelector"] == {"matchLabels": {"app": "web"}}  # only the isolated pods: nobody new isolated


def test_engine_verdicts_for_names(write):
    root = write({"a.netpol": CHECKOUT + EXPECTS})
    run = run_cli("test", "--cni", "cilium", str(root))
    assert (run.code, run.out.strip().splitlines()[-1]) == (0, "4 passed, 0 failed")
    wrong = write({"a.netpol": CHECKOUT + "expect app=checkout -> evil.example.com:443 allowed\n"})
    run = run_cli("test", "--cni", "cilium", str(wrong))
    assert run.code == 1
    assert "evil.example.com (IPv4) on 443/TCP is denied" in run.out


def test_wildcard_verdicts_one_label_and_several(write):
    text = (
        "namespace shop\negress only to *.stripe.com:443 for app=a\negress only to **.example.com:443 for app=b\n"
        "expect app=a -> api.stripe.com:443 allowed\nexpect app=a -> stripe.com:443 denied\nexpect app=a -> eu.api.stripe.com:443 denied\n"
        "expect app=b -> eu.api.example.com:443 allowed\nexpect app=b -> example.com:443 denied\n"
    )
    run = run_cli("test", "--cni", "cilium", str(write({"a.netpol": text})))
    assert (run.code, run.out.strip().splitlines()[-1]) == (0, "5 passed, 0 failed")


def test_explain_says_the_address_is_decided_at_run_time(write):
    root = write({"a.netpol": CHECKOUT, "netpolc.toml": 'cni = ["cilium"]\n'})
    import os

    old = os.getcwd()
    os.chdir(root)
    try:
        run = run_cli("explain", "a.netpol", "-n", "shop", "app=checkout -> api.stripe.com:443")
    finally:
        os.chdir(old)
    assert run.code == 0, run.out + run.err
    assert "app=checkout -> api.stripe.com:443 (in namespace shop): allowed" in run.out
    assert "which address it resolves to is decided at run time" in run.out


# ---------------------------------------------------------------- refusals and traps


def test_plain_networkpolicy_refuses_with_the_cnis_that_can_and_the_cidr(write):
    run = run_cli("compile", str(write({"a.netpol": CHECKOUT}) / "a.netpol"))
    assert run.code == 1 and run.out == ""
    assert ":3:1: error[NP610]: NetworkPolicy cannot select by DNS name (`api.stripe.com`)" in run.err
    assert "--cni cilium" in run.err and "--cni antrea" in run.err and "as a CIDR" in run.err


@pytest.mark.parametrize("cni, words", [("calico", "Calico Enterprise"), ("canal", "Calico Enterprise"), ("weave", "no DNS names")])
def test_cnis_without_names_refuse(write, cni, words):
    run = run_cli("compile", "--cni", cni, str(write({"a.netpol": CHECKOUT})))
    assert run.code == 1 and run.out == ""
    assert f"error[NP611]: {cni} cannot enforce egress to DNS names" in run.err and words in run.err


def test_a_fleet_needing_two_objects_is_refused(write):
    result = run_cli("compile", "--cni", "cilium", "--cni", "antrea", str(write({"a.netpol": CHECKOUT})))
    assert result.code == 1 and "error[NP612]" in result.err and "compile once per CNI" in result.err


def test_a_fleet_of_cilium_versions_gets_one_object_checked_on_each(write):
    root = write({"a.netpol": "namespace shop\negress only to **.stripe.com:443 for app=a\n"})
    assert run_cli("compile", "--cni", "cilium@1.19", "--cni", "cilium@1.20", str(root)).code == 0
    run = run_cli("compile", "--cni", "cilium@1.18", "--cni", "cilium@1.20", str(root))
    assert run.code == 1
    assert "error[NP614]: `**.stripe.com` means something else on cilium 1.18 (from cilium 1.19 on)" in run.err
    assert "names the wildcard covers would be blocked" in run.err


def test_wildcard_that_would_be_wider_on_antrea_is_refused(write):
    run = run_cli("check", "--cni", "antrea", str(write({"a.netpol": "namespace shop\nuse dns\negress only to *.stripe.com:443 for app=a\n"})))
    assert run.code == 1
    assert "error[NP614]: `*.stripe.com` means something else on antrea" in run.out
    assert "it would also allow names the wildcard does not cover" in run.out


def test_opt_in_fqdn_is_a_warning_naming_the_switch(write):
    run = run_cli("check", "--cni", "azure-cilium", str(write({"a.netpol": CHECKOUT})))
    assert run.code == 0
    assert "warning[NP613]: azure-cilium enforces DNS names only when switched on (Advanced Container Networking Services" in run.out


def test_names_without_dns_never_resolve(write):
    run = run_cli("check", "--cni", "antrea", str(write({"a.netpol": CHECKOUT})))
    assert run.code == 0
    assert ":3:1: warning[NP616]: `api.stripe.com` can never be resolved by these pods" in run.out
    with_dns = run_cli("check", "--cni", "antrea", str(write({"b/a.netpol": CHECKOUT + "use dns\n"})))
    assert "NP616" not in with_dns.out


def test_cilium_needs_no_use_dns_its_dns_rule_is_written(write):
    run = run_cli("check", "--cni", "cilium", str(write({"a.netpol": CHECKOUT})))
    assert run.code == 0 and "NP616" not in run.out and "NP404" not in run.out and "info[NP615]" in run.out


def test_cilium_dns_rule_counts_in_a_deny_all_namespace(write):
    """`deny all` cuts DNS for the namespace (NP404), but the CiliumNetworkPolicy's own DNS rule serves the name's pods."""
    program = "namespace shop\ndeny all\nallow app=checkout to *.stripe.com:443\n"
    run = run_cli("check", "--cni", "cilium", str(write({"a.netpol": program})))
    assert run.code == 0 and "NP616" not in run.out and "warning[NP404]" in run.out, run.out


@pytest.mark.parametrize("word, message", [("a..b.com", "has an empty label"), ("my_host.example.com", "`my_host` is not a DNS label"), (".x.com", "has an empty label")])
def test_a_mistyped_name_is_refused_not_read_as_a_label(write, word, message):
    """A dotted word that is almost a name is a typo: NP450 with the label way out, never a silent label selector."""
    run = run_cli("check", "--cni", "cilium", str(write({"a.netpol": f"namespace s\nuse dns\negress only to {word}:443 for app=a\n"})))
    assert run.code == 1 and f":3:16: error[NP450]: `" in run.out and message in run.out, run.out
    assert "`KEY in namespace NS`" in run.out


def test_explain_takes_cni_for_names(write):
    path = str(write({"a.netpol": CHECKOUT + "use dns\n"}))
    allowed = run_cli("explain", path, "--cni", "cilium", "app=checkout -> api.stripe.com:443")
    assert allowed.code == 0 and "(in namespace shop): allowed" in allowed.out, allowed.err
    assert "which address it resolves to is decided at run time" in allowed.out
    denied = run_cli("explain", path, "--cni", "cilium", "app=checkout -> evil.example.com:443 denied")
    assert denied.code == 0 and "(in namespace shop): denied" in denied.out
    refused = run_cli("explain", path, "app=checkout -> api.stripe.com:443")
    assert refused.code == 1 and "NP610" in refused.err


def test_graph_and_diff_take_cni_for_names(write):
    project = write({"old/a.netpol": CHECKOUT + "use dns\n", "new/a.netpol": CHECKOUT + "use dns\negress only to *.github.com:443 for app=checkout\n"})
    old, new = str(project / "old"), str(project / "new")
    graph = run_cli("graph", old, "--cni", "cilium", "--format", "mermaid")
    assert graph.code == 0 and '(["api.stripe.com (IPv4)"])' in graph.out, graph.err
    diff = run_cli("diff", old, new, "--cni", "cilium")
    assert diff.code == 0 and "Closed: 0 flows" in diff.out
    assert "shop/app=checkout -> (any).github.com (IPv4), (any).github.com (IPv6): 443" in diff.out
    assert run_cli("graph", old).code == 1  # no CNI: NP610, as compile says


# ---------------------------------------------------------------- Antrea


def test_antrea_writes_fqdn_allow_rules_and_the_isolation_golden_and_schema_valid():
    run = run_cli("compile", "--cni", "antrea", "tests/fixtures/fqdn/antrea-shop.netpol")
    assert run.code == 0, run.err
    assert run.out == (GOLDEN / "antrea-shop.yaml").read_text("utf-8")
    documents = [d for d in yaml.safe_load_all(run.out) if d]
    import jsonschema

    antrea = [d for d in documents if d["apiVersion"] == "crd.antrea.io/v1beta1"]
    assert [d["spec"]["egress"][0]["to"] for d in antrea] == [[{"fqdn": "api.stripe.com"}], [{"fqdn": "*.stripe.com"}]]  # `**.` is Antrea's `*.`
    for document in antrea:
        assert schema_errors(document) == []
        jsonschema.validate(document, crd_schema("crd.antrea.io/v1beta1", "ClusterNetworkPolicy"))
    isolation = next(d for d in documents if d["metadata"]["name"] == "checkout-egress-only-to-api-stripe-com-443" and d["kind"] == "NetworkPolicy")
    assert isolation["spec"] == {"podSelector": {"matchLabels": {"app": "checkout"}}, "policyTypes": ["Egress"]}
    tested = run_cli("test", "--cni", "antrea", "tests/fixtures/fqdn/antrea-shop.netpol")
    assert (tested.code, tested.out.strip().splitlines()[-1]) == (0, "3 passed, 0 failed")


# ---------------------------------------------------------------- ClusterNetworkPolicy domainNames


def test_cluster_admin_allowlist_writes_domainNames_golden_and_experimental_schema_valid():
    run = run_cli("compile", "tests/fixtures/fqdn/cluster-allowlist.netpol")
    assert run.code == 0, run.err
    assert run.out == (GOLDEN / "cluster-allowlist.yaml").read_text("utf-8")
    documents = [d for d in yaml.safe_load_all(run.out) if d]
    egress = next(d for d in documents if "egress" in d["spec"])["spec"]["egress"]
    # The API's `*.x` is one or more labels: the language's `**.x`.
    assert [rule["to"] for rule in egress[:2]] == [[{"domainNames": ["api.stripe.com"]}], [{"domainNames": ["*.stripe.com"]}]]
    assert {rule["action"] for rule in egress[:2]} == {"Accept"}
    import jsonschema

    from compiler.schema import CRDS

    experimental = json.loads((CRDS / "clusternetworkpolicy-v1alpha2-experimental.json").read_text("utf-8"))
    standard = crd_schema("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy")
    for document in documents:
        assert schema_errors(document) == []
        jsonschema.validate(document, experimental)
    # domainNames exists only in the experimental channel (kubectl's strict field validation refuses it on the standard CRD).
    assert "domainNames" in json.dumps(experimental) and "domainNames" not in json.dumps(standard)
    tested = run_cli("test", "tests/fixtures/fqdn/cluster-allowlist.netpol")
    assert (tested.code, tested.out.strip().splitlines()[-1]) == (0, "4 passed, 0 failed")


def test_cluster_names_are_refused_where_they_cannot_be_written():
    run = run_cli("compile", "--api", "v1alpha1", "tests/fixtures/fqdn/cluster-allowlist.netpol")
    assert run.code == 1 and "error[NP452]: `api.stripe.com` in a cluster rule needs ClusterNetworkPolicy v1alpha2" in run.err
    calico = run_cli("compile", "--cni", "calico", "tests/fixtures/fqdn/cluster-allowlist.netpol")
    assert calico.code == 1 and ":2:1: error[NP608]: calico does not support ClusterNetworkPolicy domainNames peers" in calico.err


def test_domainNames_in_yaml_are_judged_as_names(write):
    manifest = {
        "apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy", "metadata": {"name": "allowlist"},
        "spec": {"tier": "Admin", "priority": 5, "subject": {"namespaces": {}}, "egress": [
            {"name": "stripe", "action": "Accept", "to": [{"domainNames": ["*.stripe.com"]}]},
            {"name": "rest", "action": "Deny", "to": [{"networks": ["0.0.0.0/0", "::/0"]}]},
        ]},
    }
    root = write({"p.yaml": yaml.safe_dump(manifest), "e.netpol": "namespace shop\nexpect any -> eu.api.stripe.com:443 allowed\nexpect any -> stripe.com:443 denied\n"})
    run = run_cli("test", str(root / "e.netpol"), "--policies", str(root / "p.yaml"))
    assert (run.code, run.out.strip().splitlines()[-1]) == (0, "2 passed, 0 failed"), run.out + run.err


# ---------------------------------------------------------------- editor


def test_hover_on_a_name_line_shows_the_cnis_object(tmp_path):
    import asyncio

    from test_lsp import Editor

    (tmp_path / "netpolc.toml").write_text('cni = ["cilium"]\n')

    async def scenario():
        async with Editor(tmp_path) as editor:
            uri = editor.open("shop.netpol", CHECKOUT)
            assert [d.code for d in (await editor.diagnostics(uri)).diagnostics] == ["NP615"]
            value = (await editor.request("hover", uri, 2, 3)).contents.value
            assert value.startswith("**1 CiliumNetworkPolicy manifest** from this line")
            assert "matchName: api.stripe.com" in value

    asyncio.run(scenario())


def test_an_absolute_name_keeps_its_trailing_dot_where_the_api_takes_it(write):
    text = "namespace shop\nuse dns\ndeny egress\nallow app=checkout to api.stripe.com.:443\ncluster admin priority 5\nallow app=x to **.example.com.\n"
    run = run_cli("compile", "--cni", "cilium", str(write({"a.netpol": text})))
    assert run.code == 0, run.err
    documents = [d for d in yaml.safe_load_all(run.out) if d]
    cilium = next(d for d in documents if d["kind"] == "CiliumNetworkPolicy")
    assert cilium["spec"]["egress"][0]["toFQDNs"] == [{"matchName": "api.stripe.com."}]
    cluster = next(d for d in documents if d["kind"] == "ClusterNetworkPolicy" and "egress" in d["spec"])
    assert cluster["spec"]["egress"][0]["to"] == [{"domainNames": ["*.example.com."]}]
    assert all(schema_errors(d) == [] for d in documents)


def test_an_allow_on_pods_nothing_isolates_writes_nothing_and_says_why(write):
    run = run_cli("check", "--cni", "cilium", str(write({"a.netpol": "namespace shop\nallow app=checkout to api.stripe.com:443\n"})))
    assert "warning[NP401]" in run.out and "the destination is a DNS name outside the cluster" in run.out
    assert "NP615" not in run.out  # no CiliumNetworkPolicy, no DNS rule


def test_cni_show_lists_the_dns_name_rows_with_their_sources():
    run = run_cli("cni", "show", "cilium@1.18")
    assert run.code == 0
    block = run.out.split("Egress to DNS names", 1)[1]
    rows = {line.split()[0]: line.split() for line in block.splitlines()[2:7]}
    assert rows["fqdn"][1] == "supported"
    assert rows["fqdn_multi_label_wildcard"][1:4] == ["ignored", "1.19", "denied"]
    assert rows["fqdn_deny"][1] == "unsupported"
    calico = run_cli("cni", "show", "calico").out.split("Egress to DNS names", 1)[1]
    assert "fqdn " in calico and "https://docs.tigera.io/security/domain-based-policy" in calico


def test_ovn_kubernetes_is_refused_with_the_reason_and_the_cidr_way_out(write):
    run = run_cli("compile", "--cni", "ovn-kubernetes", str(write({"a.netpol": CHECKOUT})))
    assert run.code == 1 and run.out == ""
    assert "error[NP611]: ovn-kubernetes enforces DNS names with EgressFirewall (k8s.ovn.org/v1), which netpolc does not write" in run.err
    assert "only traffic leaving the cluster" in run.err and "as a CIDR" in run.err


def test_multi_label_wildcard_is_written_as_ciliums_double_star_from_1_19(write):
    run = run_cli("compile", "--cni", "cilium@1.19", str(write({"a.netpol": "namespace shop\nuse dns\negress only to **.stripe.com:443 for app=a\n"})))
    assert run.code == 0, run.err
    (policy,) = [d for d in yaml.safe_load_all(run.out) if d and d["kind"] == "CiliumNetworkPolicy"]
    assert policy["spec"]["egress"][0]["toFQDNs"] == [{"matchPattern": "**.stripe.com"}]


# ---------------------------------------------------------------- the proof covers the DNS-name backends


def test_the_proof_catches_a_cilium_backend_that_writes_a_wider_name(monkeypatch):
    from compiler.backends import ciliumnetworkpolicy as cilium

    real = cilium.cilium_spec

    def wider(shape):
        spec = real(shape)
        spec["egress"][0]["toFQDNs"] = [{"matchPattern": "*.stripe.com"}]  # `api.stripe.com` written as every sibling
        return spec

    monkeypatch.setattr(cilium, "cilium_spec", wider)
    result = build_text(CHECKOUT, cni=_options("cilium"), validate=True)
    assert [d.code for d in result.diagnostics if d.is_error] == ["NP500"] and result.emitted == []


def test_the_proof_catches_a_cilium_backend_that_drops_the_dns_rule(monkeypatch):
    from compiler.backends import ciliumnetworkpolicy as cilium

    real = cilium.cilium_spec
    monkeypatch.setattr(cilium, "cilium_spec", lambda shape: {**real(shape), "egress": real(shape)["egress"][:1]})
    result = build_text(CHECKOUT, cni=_options("cilium"), validate=True)
    assert "NP500" in [d.code for d in result.diagnostics]


def test_the_proof_catches_an_antrea_backend_that_reads_wildcards_as_antrea_does(monkeypatch):
    from compiler.backends import antreapolicy

    monkeypatch.setattr(antreapolicy, "antrea_fqdn", lambda name: "*." + name.split(".", 1)[1] if name.startswith("**.") else name)
    text = "namespace shop\nuse dns\negress only to **.stripe.com:443 for app=a\n"
    assert error_codes(build_text(text, cni=_options("antrea"), validate=True)) == []
    monkeypatch.setattr(antreapolicy, "antrea_fqdn", lambda name: name.replace("**.", "api."))  # narrower: one name only
    assert "NP500" in error_codes(build_text(text, cni=_options("antrea"), validate=True))


def _options(*names):
    from compiler.capabilities import Options
    from compiler.targets import load_target

    return Options(targets=tuple(load_target(name) for name in names))


def test_a_cluster_allowlist_that_cuts_dns_is_reported(write):
    text = "cluster admin priority 10\nallow app=checkout to api.stripe.com:443\ndeny app=checkout to world\n"
    run = run_cli("check", str(write({"a.netpol": text})))
    assert run.code == 0
    assert ":2:1: warning[NP616]: `api.stripe.com` can never be resolved by these pods: ClusterNetworkPolicy `domainNames` grants no DNS" in run.out
    fixed = text.replace("deny", "allow app=checkout to k8s-app=kube-dns in namespace kube-system:53/udp,53/tcp\ndeny")
    assert "NP616" not in run_cli("check", str(write({"b/a.netpol": fixed}))).out
