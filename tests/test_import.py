"""`netpolc import`: NetworkPolicy YAML into idiomatic .netpol programs, golden text, the proof, round trips and exit codes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli

FIXTURES = Path(__file__).parent / "fixtures" / "import"
ROOT = Path(__file__).parent.parent
CASES = {  # fixture -> (arguments after the file, exit code)
    "default-deny": ((), 0),
    "dns": ((), 0),
    "selectors": ((), 0),
    "blocks-ports": ((), 0),
    "no-namespace": (("-n", "team"), 0),
    "refused": ((), 1),
}


def imported(tmp_path, monkeypatch, name: str, *extra: str):
    shutil.copy(FIXTURES / f"{name}.yaml", tmp_path / f"{name}.yaml")
    monkeypatch.chdir(tmp_path)
    return run_cli("import", f"{name}.yaml", *extra)


def assert_formatted(text: str) -> None:
    from compiler.fmt import format_source
    from compiler.source import SourceFile

    formatted, diagnostics = format_source(SourceFile("imported.netpol", text))
    assert formatted == text, diagnostics


def policy_set(paths: list[str], namespace: str | None = None):
    from compiler import engine
    from compiler.manifests import load

    loaded = load(paths, namespace)
    return engine.PolicySet(p for p in loaded.policies if isinstance(p, engine.Policy))


def compiled_set(tmp_path, text: str):
    """The program compiled by the normal pipeline (with the compiler's own proof), as engine policies."""
    from compiler import engine
    from compiler.pipeline import build
    from compiler.resolve import Input

    path = tmp_path / "imported.netpol"
    path.write_text(text, encoding="utf-8")
    result = build([Input(path, "imported.netpol", tmp_path)])
    assert result.ok, result.diagnostics
    return engine.PolicySet(engine.load_policies(m for m in result.manifests()).items)


def no_change(old, new) -> bool:
    """`diff`'s machinery (its own universe, with the platform workloads): nothing opened or closed."""
    from compiler.diff import diff

    return diff(old, new).changes == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_program_proven_and_formatted(tmp_path, monkeypatch, name):
    extra, code = CASES[name]
    run = imported(tmp_path, monkeypatch, name, *extra)
    assert run.code == code, run.err
    assert run.out == (FIXTURES / f"{name}.expected").read_text("utf-8")
    assert "proof: equivalent" in run.err
    assert_formatted(run.out)
    # Round trip: the written program, compiled, is what the YAML says on every flow (diff's universe, not the proof's).
    expected = policy_set([f"{name}.yaml"], extra[1] if extra else None)
    refused = {line.split()[3] for line in run.err.splitlines() if "error[NP720]" in line}
    expected = type(expected)(p for p in expected.items if f"{p.namespace}/{p.name}" not in refused)
    assert no_change(expected, compiled_set(tmp_path, run.out))


def test_idioms(tmp_path, monkeypatch):
    dns = imported(tmp_path, monkeypatch, "dns").out
    assert "deny all  # default-deny (dns.yaml:5)\nuse dns  # allow-dns (dns.yaml:21)\n" in dns
    deny = imported(tmp_path, monkeypatch, "default-deny").out
    assert "deny ingress  # default-deny-ingress (default-deny.yaml:5)" in deny and "deny all for app=jobs" in deny
    assert "allow world to app=dashboard" in deny  # `ingress: [{}]` under an isolation
    ports = imported(tmp_path, monkeypatch, "blocks-ports").out
    assert "allow app=gateway to 0.0.0.0/0 except (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16):443,8000-8080" in ports
    assert "allow app=gateway to 192.0.2.10:3868/sctp,*/udp" in ports and "allow 198.51.100.0/24 to app=gateway:metrics,syslog/udp" in ports
    sel = imported(tmp_path, monkeypatch, "selectors").out
    assert "ingress only from role=web in namespaces team=frontend:8080 for app=api" in sel  # AND: one peer
    assert "ingress only from namespaces team=frontend:8443 for app=admin" in sel and "ingress only from role=web:8443 for app=admin" in sel  # OR
    assert "ingress only from namespace ops for " in sel and "app=probe in any namespace" in sel
    assert "ingress only from namespaces except (dev, kube-system) for app=public" in sel


def test_warnings_at_their_yaml_lines(tmp_path, monkeypatch):
    err = imported(tmp_path, monkeypatch, "dns").err
    assert "dns.yaml:45:7: warning[NP726]: NetworkPolicy apps/legacy-dns-udp-only: DNS over UDP only" in err
    assert "dns.yaml:67:7: warning[NP726]: NetworkPolicy apps/worker-dns-by-name-label: selects kube-system by a `name` label" in err
    assert "dns.yaml:45:7: warning[NP724]" in err  # covered by `use dns`
    run = imported(tmp_path, monkeypatch, "refused")
    assert "refused.yaml:22:7: error[NP720]: NetworkPolicy legacy/port-named-tcp has no intent form: `ingress only from app=client:tcp for app=old`" in run.err
    assert "refused.yaml:40:7: warning[NP722]: NetworkPolicy legacy/dead-parts: selector `app=api,app!=api` can never match" in run.err
    assert "refused.yaml:54:3: warning[NP722]: NetworkPolicy legacy/dead-parts: its egress rules are ignored" in run.err
    assert "refused.yaml:61:9: warning[NP723]: NetworkPolicy legacy/deny-all-again" in run.err
    assert "not imported: 1 policy (legacy/port-named-tcp at refused.yaml:14)" in run.err and "--policies leftovers.yaml" in run.err
    assert "import: 5 NetworkPolicies read, 4 imported as 3 intents in 1 namespace; manifests: 4 before, 3 after; proof: equivalent" in run.err


def test_leftovers_beside_the_program_equal_the_input(tmp_path, monkeypatch):
    """The refused policy kept as YAML next to the program: together they are the input."""
    run = imported(tmp_path, monkeypatch, "refused")
    program = compiled_set(tmp_path, run.out)
    everything = policy_set(["refused.yaml"])
    left = [p for p in everything.items if p.name == "port-named-tcp"]
    assert no_change(everything, type(everything)(list(program.items) + left))


@pytest.mark.parametrize("example", ["three-tier", "storefront", "guardrails"])
def test_import_of_compile_output_gives_back_the_program(tmp_path, example):
    compiled = run_cli("compile", str(ROOT / "examples" / example))
    assert compiled.code == 0
    (tmp_path / "compiled.yaml").write_text(compiled.out, encoding="utf-8")
    run = run_cli("import", str(tmp_path / "compiled.yaml"))
    assert run.code == 0 and "proof: equivalent" in run.err, run.err
    assert no_change(policy_set([str(tmp_path / "compiled.yaml")]), compiled_set(tmp_path, run.out))
    if example == "three-tier":
        body = [line.split("  #")[0] for line in run.out.splitlines() if line and not line.startswith("#")]
        source = (ROOT / "examples" / example / "app.netpol").read_text("utf-8").splitlines()
        intents = [line for line in source if line and not line.startswith(("#", "expect"))]
        assert body == intents  # the same lines: netpolc's own annotations, proven like any candidate
    # Without the annotations (hand-written YAML of the same shape), the idioms give an equivalent program.
    plain = yaml.safe_load_all(compiled.out)
    stripped = []
    for manifest in plain:
        if manifest:
            del manifest["metadata"]["annotations"], manifest["metadata"]["labels"]
            stripped.append(manifest)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump_all(stripped), encoding="utf-8")
    run = run_cli("import", str(tmp_path / "plain.yaml"))
    assert run.code == 0 and "proof: equivalent" in run.err, run.err
    assert no_change(policy_set([str(tmp_path / "plain.yaml")]), compiled_set(tmp_path, run.out))
    if example == "three-tier":
        body = [line.split("  #")[0] for line in run.out.splitlines() if line and not line.startswith("#")]
        assert body == [
            "namespace webapp", "deny all", "use dns", "allow app=web to app=api:8080", "allow app=api to app=db:5432",
            "allow app=db to 10.0.0.0/8:443",  # `egress only to ... for app=db` under `deny all`: the same policy
            "allow app.kubernetes.io/name=ingress-nginx in namespace ingress-nginx to app=web:8080",
        ]


def test_cluster_snapshot_proof(tmp_path):
    compiled = run_cli("compile", str(ROOT / "examples" / "storefront"))
    (tmp_path / "c.yaml").write_text(compiled.out, encoding="utf-8")
    run = run_cli("import", str(tmp_path / "c.yaml"), "--cluster", str(ROOT / "examples" / "storefront" / "cluster-snapshot.yaml"))
    assert run.code == 0 and "proof: equivalent" in run.err, run.err
    assert run_cli("import", str(tmp_path / "c.yaml"), "--cluster", str(tmp_path / "missing.yaml")).code == 2


def test_a_broken_import_rule_is_caught_by_the_proof(tmp_path, monkeypatch):
    """Drop `in namespace` from every peer of another namespace: the proof refuses those policies (NP721), exit 1."""
    from compiler import importer

    real = importer.peer_text

    def broken(peer, home):
        text = real(peer, home)
        return text.split(" in namespace ")[0]

    monkeypatch.setattr(importer, "peer_text", broken)
    out = tmp_path / "out"
    shutil.copy(FIXTURES / "dns.yaml", tmp_path / "dns.yaml")
    monkeypatch.chdir(tmp_path)
    run = run_cli("import", "dns.yaml", "-o", str(out))
    assert run.code == 1
    assert "error[NP721]: NetworkPolicy apps/allow-dns is not imported: no program written for it is proven equivalent" in run.err
    assert "egress apps/(other pods) -> apps/k8s-app=kube-dns on 53/TCP: the YAML denies it, the program allows it" in run.err
    written = (out / "apps.netpol").read_text("utf-8")
    assert "allow-dns" not in written and "deny all" in written  # the rest is imported, and proven


def test_nothing_is_written_unless_proven(tmp_path, monkeypatch):
    from compiler import importer

    monkeypatch.setattr(importer, "prove", lambda *a, **k: (["ingress a -> b on 80/TCP: the YAML allows it, the program denies it"], []))
    shutil.copy(FIXTURES / "dns.yaml", tmp_path / "dns.yaml")
    monkeypatch.chdir(tmp_path)
    run = run_cli("import", "dns.yaml", "-o", "out")
    assert run.code == 1 and "error[NP721]: the imported program is not proven equivalent to the YAML" in run.err
    assert "proof: NOT equivalent" in run.err and not (tmp_path / "out").exists() and run.out == ""


def test_output_folder_written_and_replaced(tmp_path, monkeypatch):
    for name in ("dns", "default-deny"):
        shutil.copy(FIXTURES / f"{name}.yaml", tmp_path / f"{name}.yaml")
    monkeypatch.chdir(tmp_path)
    run = run_cli("import", ".", "-o", "policies")
    assert run.code == 0, run.err
    assert sorted(p.name for p in (tmp_path / "policies").iterdir()) == ["apps.netpol", "batch.netpol", "web.netpol"]
    assert "wrote 3 files to policies (3 added, 0 changed, 0 removed)" in run.err
    text = (tmp_path / "policies" / "apps.netpol").read_text("utf-8")
    assert text.startswith("# Generated by netpolc import from ") and "policies/apps.netpol" not in text
    again = run_cli("import", ".", "-o", "policies")
    assert "(0 added, 0 changed, 0 removed)" in again.err
    assert run_cli("check", "policies").code == 0
    assert run_cli("fmt", "--check", "policies").code == 0


def test_stdin_list_and_other_kinds(tmp_path):
    stream = (FIXTURES / "no-namespace.yaml").read_text("utf-8") + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    run = run_cli("import", "-", "-n", "team", stdin=stream)
    assert run.code == 0, run.err
    assert "namespace team" in run.out and "# web-from-lb (<stdin>:12)" in run.out
    assert "info[NP725]: 1 Service object skipped" in run.err and "info[NP725]: 1 ConfigMap object skipped" in run.err
    assert run_cli("import", "-", stdin=stream).code == 1  # no namespace and no -n: NP703


def test_exit_codes_and_usage(tmp_path):
    assert run_cli("import", str(tmp_path / "missing.yaml")).code == 2
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x00\xff\xfe")
    assert run_cli("import", str(binary)).code == 2
    empty = tmp_path / "e.yaml"
    empty.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: a}\n", encoding="utf-8")
    run = run_cli("import", str(empty))
    assert run.code == 1 and "error[NP727]" in run.err
    assert run_cli("import", str(empty), "-n", "Not_A_Name").code == 2
    help_ = run_cli("import", "--help")
    assert help_.code == 0 and "netpolc import deploy/netpol -o policies/" in help_.out


# ---------------------------------------------------------------- generated policy sets

LABELS = st.sampled_from([("app", "web"), ("app", "db"), ("app", "api"), ("tier", "back"), ("env", "prod")])
NAMESPACES = ["shop", "data"]


@st.composite
def selectors(draw, allow_empty=True):
    out: dict = {}
    labels = draw(st.lists(LABELS, max_size=2))
    if labels:
        out["matchLabels"] = dict(labels)
    if draw(st.booleans()) and draw(st.booleans()):
        key, value = draw(LABELS)
        out["matchExpressions"] = [draw(st.sampled_from([
            {"key": key, "operator": "In", "values": [value, "x"]},
            {"key": key, "operator": "NotIn", "values": [value]},
            {"key": key, "operator": "Exists"},
            {"key": key, "operator": "DoesNotExist"},
        ]))]
    if not out and not allow_empty:
        out = {"matchLabels": {"app": "web"}}
    return out


@st.composite
def peers(draw):
    kind = draw(st.sampled_from(["pod", "ns", "both", "named", "block", "except"]))
    if kind == "except":
        return {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": draw(st.sampled_from([["kube-system"], ["shop", "data"]]))}]}}
    if kind == "pod":
        return {"podSelector": draw(selectors())}
    if kind == "ns":
        return {"namespaceSelector": draw(st.sampled_from([{}, {"matchLabels": {"team": "a"}}]))}
    if kind == "named":
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": draw(st.sampled_from(NAMESPACES + ["kube-system"]))}}, "podSelector": draw(selectors())}
    if kind == "both":
        return {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": draw(selectors())}
    return {"ipBlock": draw(st.sampled_from([{"cidr": "10.0.0.0/8"}, {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}, {"cidr": "2001:db8::/32"}]))}


PORTS = st.lists(st.sampled_from([{"port": 80}, {"port": 53, "protocol": "UDP"}, {"port": 8000, "endPort": 8080}, {"port": "metrics"}, {"protocol": "SCTP"}]), max_size=2, unique_by=str)


@st.composite
def rules(draw, key):
    rule: dict = {}
    if draw(st.integers(0, 4)):
        rule[key] = draw(st.lists(peers(), min_size=1, max_size=2))
    ports = draw(PORTS)
    if ports:
        rule["ports"] = ports
    return rule


@st.composite
def pairs(draw, index: int) -> list[dict]:
    """An ingress rule on B from A and (maybe) A's egress rule to B: the halves `allow A to B` compiles to."""
    a_ns, b_ns = draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(NAMESPACES))
    a, b = draw(selectors(allow_empty=False)), draw(selectors())
    ports = draw(PORTS)
    a_peer = {"podSelector": a} if a_ns == b_ns else {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": a_ns}}, "podSelector": a}
    b_peer = {"podSelector": b} if a_ns == b_ns else {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": b_ns}}, "podSelector": b}
    rule_in, rule_out = {"from": [a_peer]}, {"to": [b_peer]}
    if ports:
        rule_in["ports"] = rule_out["ports"] = ports
    meta = lambda name, ns: {"name": name, "namespace": ns}  # noqa: E731
    out = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(f"in{index}", b_ns), "spec": {"podSelector": b, "ingress": [rule_in]}}]
    if draw(st.booleans()):
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(f"out{index}", a_ns), "spec": {"podSelector": a, "policyTypes": ["Egress"], "egress": [rule_out]}})
    if draw(st.booleans()):
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(f"deny{index}", draw(st.sampled_from(NAMESPACES))),
                    "spec": {"podSelector": draw(st.sampled_from([{}, a])), "policyTypes": draw(st.sampled_from([["Ingress", "Egress"], ["Egress"], ["Ingress"]]))}})
    return out


@st.composite
def policy_sets(draw):
    out = []
    for index in range(draw(st.integers(0, 2))):
        out += draw(pairs(index))
    for index in range(draw(st.integers(0 if out else 1, 4))):
        spec: dict = {"podSelector": draw(selectors())}
        types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
        if types is not None:
            spec["policyTypes"] = types
        if types is None or "Ingress" in types:
            if draw(st.booleans()):
                spec["ingress"] = draw(st.lists(rules("from"), max_size=2))
        if types is None or "Egress" in types:
            if draw(st.booleans()):
                spec["egress"] = draw(st.lists(rules("to"), max_size=2))
        namespace = draw(st.sampled_from(NAMESPACES))
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": f"p{index}", "namespace": namespace}, "spec": spec})
    return out


@settings(max_examples=int(os.environ.get("NETPOLC_FUZZ_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(policy_sets())
def test_generated_policy_sets_import_and_prove(tmp_path, policies):
    path = tmp_path / "generated.yaml"
    path.write_text(yaml.safe_dump_all(policies), encoding="utf-8")
    run = run_cli("import", str(path))
    assert "proof: equivalent" in run.err, run.err
    assert "error[NP721]" not in run.err, run.err  # never refused for want of a proof: every generated shape has an exact form
    assert run.code == 0, run.err
    assert no_change(policy_set([str(path)]), compiled_set(tmp_path, run.out))


def test_label_keys_the_language_cannot_spell_are_refused(tmp_path):
    path = tmp_path / "kw.yaml"
    path.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: kw, namespace: a}\nspec:\n"
        "  podSelector:\n    matchExpressions: [{key: world, operator: Exists}]\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ip, namespace: a}\nspec:\n"
        "  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels: {10.0.0.1: 'yes'}\n"
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: fine, namespace: a}\nspec:\n"
        "  podSelector: {matchLabels: {example.com/any: 'yes'}}\n",
        encoding="utf-8",
    )
    run = run_cli("import", str(path))
    assert run.code == 1
    assert "kw.yaml:6:5: error[NP720]: NetworkPolicy a/kw has no intent form: the label key `world` would read as the keyword `world`" in run.err
    assert "error[NP720]: NetworkPolicy a/ip has no intent form: the label key `10.0.0.1` would read as an address" in run.err
    assert "deny ingress for example.com/any=yes  # fine (" in run.out and "proof: equivalent" in run.err


def test_rules_of_a_direction_policytypes_leaves_out_are_ignored():
    """policyTypes [Ingress] with egress rules: the API ignores the egress rules; they allow nothing on top of another isolation."""
    from compiler import engine

    manifest = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "a"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}], "egress": [{}]}}
    policy = engine.read_policy(manifest)
    assert policy.isolates == frozenset({"ingress"}) and policy.egress == () and len(policy.ingress) == 1


def test_real_world_policies_import_and_prove(tmp_path):
    """The upstream docs' and recipes' policies (tests/fixtures/real-world/): every one imported, proven, dead parts said."""
    folders = [str(Path(__file__).parent / "fixtures" / "real-world" / name) for name in ("recipes", "kubernetes-docs")]
    run = run_cli("import", "-n", "default", *folders)
    assert run.code == 0, run.err
    assert "import: 22 NetworkPolicies read, 22 imported as 23 intents in 1 namespace; manifests: 22 before, 23 after; proof: equivalent" in run.err
    assert "warning[NP723]: NetworkPolicy default/web-allow-external allows and isolates exactly what web-allow-all" in run.err
    assert "\ningress only from any  # " in run.out  # not `allow any to any`: egress is isolated there, and no egress rule says so
    assert no_change(policy_set(folders, "default"), compiled_set(tmp_path, run.out))


@pytest.mark.parametrize(
    "name, namespace, figures",
    [
        ("argo-cd/install-networkpolicies.yaml", "argocd", "7 NetworkPolicies read, 7 imported as 14 intents in 1 namespace"),
        ("argo-cd/ha-install-networkpolicies.yaml", "argocd", "8 NetworkPolicies read, 8 imported as"),
        ("kube-prometheus", "monitoring", "8 NetworkPolicies read, 8 imported as 19 intents in 1 namespace"),
    ],
)
def test_published_chart_policies_import_and_prove(tmp_path, name, namespace, figures):
    """Argo CD's and kube-prometheus's policies (fixtures the importer was not written against): imported whole, proven."""
    path = str(Path(__file__).parent / "fixtures" / "real-world" / name)
    run = run_cli("import", "-n", namespace, path)
    assert run.code == 0, run.err
    assert figures in run.err and "proof: equivalent" in run.err, run.err
    assert no_change(policy_set([path], namespace), compiled_set(tmp_path, run.out))


def test_an_unreadable_policy_is_reported_alone(tmp_path):
    """The only policy is refused by the reader (NP701): that error, not also "no NetworkPolicy to import"."""
    (tmp_path / "mapped.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: s}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: \"::ffff:10.0.0.0/104\"}}]\n",
        encoding="utf-8",
    )
    run = run_cli("import", str(tmp_path / "mapped.yaml"))
    assert run.code == 1 and ":7:29: error[NP701]" in run.err and "NP727" not in run.err, run.err


def test_a_lone_dotted_label_key_stays_a_label(tmp_path):
    """`example.com` alone would be a DNS name: the import writes `in namespace` so that it reads as the label it is."""
    (tmp_path / "dotted.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: dotted, namespace: shop}\n"
        "spec:\n  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n"
        "  egress:\n  - to:\n    - podSelector: {matchExpressions: [{key: example.com, operator: Exists}]}\n",
        encoding="utf-8",
    )
    run = run_cli("import", str(tmp_path / "dotted.yaml"))
    assert run.code == 0 and "proof: equivalent" in run.err, run.err
    assert "egress only to example.com in namespace shop for app=web  #" in run.out


def test_annotations_are_candidates_only(tmp_path):
    """A hand-edited netpolc.io/intent that says more than the policy: the proof rejects it, and the idioms import the policy."""
    compiled = run_cli("compile", str(ROOT / "examples" / "three-tier")).out
    edited = compiled.replace("netpolc.io/intent: allow app=api to app=db:5432", "netpolc.io/intent: allow app=api to app=db")
    assert edited != compiled
    (tmp_path / "edited.yaml").write_text(edited, encoding="utf-8")
    run = run_cli("import", str(tmp_path / "edited.yaml"))
    assert run.code == 0 and "proof: equivalent" in run.err, run.err
    assert "allow app=api to app=db:5432  #" in run.out and "allow app=api to app=db  #" not in run.out
    injected = compiled.replace("netpolc.io/intent: deny all", "netpolc.io/intent: \"deny all\\nallow world to any\"")
    (tmp_path / "injected.yaml").write_text(injected, encoding="utf-8")
    run = run_cli("import", str(tmp_path / "injected.yaml"))
    assert run.code == 0 and "allow world to any" not in run.out and "deny all  #" in run.out
