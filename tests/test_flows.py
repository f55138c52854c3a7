"""`netpolc diff` and `netpolc graph` from their flows, and the proof catching a broken lowering."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import build_text, run_cli

BEFORE = "namespace shop\nallow app=web to app=api:8080\n"
# Someone isolates the web workload, thinking only of what web calls.
AFTER = BEFORE + "deny all for app=web\n"


def diff_rows(*args) -> tuple[int, dict]:
    run = run_cli("diff", "--format", "json", *args)
    data = json.loads(run.out) if run.out else {}
    return run.code, data


def pairs(rows) -> set[tuple[str, str, str]]:
    return {(r["source"], r["destination"], r["ports"]) for r in rows}


# ---------------------------------------------------------------- diff


def test_isolating_a_workload_shows_what_it_cuts(write, tmp_path):
    old = write({"shop.netpol": BEFORE}, tmp_path / "old")
    new = write({"shop.netpol": AFTER}, tmp_path / "new")
    code, data = diff_rows(str(old), str(new))
    assert code == 0 and data["opened"] == []
    closed = pairs(data["closed"])
    # The ingress controller, the Prometheus scrape and DNS, each by name.
    assert ("ingress-nginx/app.kubernetes.io/name=ingress-nginx", "shop/app=web", "all ports") in closed
    assert ("monitoring/app.kubernetes.io/name=prometheus", "shop/app=web", "all ports") in closed
    assert ("shop/app=web", "kube-system/k8s-app=kube-dns", "all ports") in closed
    # What was kept is not reported: web -> api on 8080 stays allowed (and api already refused the rest).
    assert not any(s == "shop/app=web" and d == "shop/app=api" for s, d, _ in closed)
    # Exit 1 only when asked to fail on closed flows.
    assert run_cli("diff", "--fail-on-closed", str(old), str(new)).code == 1


def test_allowing_dns_opens_exactly_dns(write, tmp_path):
    base = "namespace shop\ndeny all for app=web\n"
    old = write({"shop.netpol": base}, tmp_path / "old")
    new = write({"shop.netpol": base + "allow app=web to k8s-app=kube-dns in namespace kube-system:53/udp,53/tcp\n"}, tmp_path / "new")
    code, data = diff_rows(str(old), str(new))
    assert code == 0 and data["closed"] == []
    assert pairs(data["opened"]) == {("shop/app=web", "kube-system/k8s-app=kube-dns", "53/tcp+udp")}
    assert run_cli("diff", "--fail-on-closed", str(old), str(new)).code == 0


def test_same_meaning_different_text_is_no_change(write, tmp_path):
    old = write({"shop.netpol": "namespace shop\ndeny all\nallow app=a to app=b:80\nallow app=a to app=b:81\n"}, tmp_path / "old")
    new = write({"a.netpol": "namespace shop\nuse default-deny\n", "b.netpol": "namespace shop\nallow app=a to app=b:80-81\n"}, tmp_path / "new")
    code, data = diff_rows(str(old), str(new))
    assert (code, data["opened"], data["closed"]) == (0, [], [])
    text = run_cli("diff", str(old), str(new)).out
    assert "No flow changes" in text


def test_program_against_its_own_compiled_yaml_is_no_change(write, tmp_path):
    program = write({"shop.netpol": AFTER + "use dns\n"})
    out = tmp_path / "out"
    assert run_cli("compile", str(program), "-o", str(out)).code == 0
    code, data = diff_rows(str(program), str(out))
    assert (code, data["opened"], data["closed"]) == (0, [], [])


def test_markdown_is_a_table_per_kind(write, tmp_path):
    old = write({"shop.netpol": BEFORE}, tmp_path / "old")
    new = write({"shop.netpol": AFTER}, tmp_path / "new")
    lines = run_cli("diff", "--format", "markdown", str(old), str(new)).out.splitlines()
    assert lines[0].startswith("### netpolc diff: ") and "opened" in lines[0]
    assert "#### Closed (no longer allowed)" in lines and "#### Opened (newly allowed)" not in lines
    assert "| `shop/app=web` | `kube-system/k8s-app=kube-dns`<br>" in "\n".join(lines) or any(
        line.startswith("| `shop/app=web` |") and "kube-dns" in line for line in lines
    )
    assert "| From | To | Ports |" in lines


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_diff_between_git_revisions(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "policies" / "shop.netpol").write_text(BEFORE)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "before")
    (repo / "policies" / "shop.netpol").write_text(AFTER)
    _git(repo, "commit", "-qam", "after")
    monkeypatch.chdir(repo)
    code, data = diff_rows("main~1..main", "policies/")
    assert code == 0 and (data["old"], data["new"]) == ("main~1", "main")
    assert ("monitoring/app.kubernetes.io/name=prometheus", "shop/app=web", "all ports") in pairs(data["closed"])
    unknown = run_cli("diff", "main..nope", "policies/")
    assert unknown.code == 2 and "unknown git revision 'nope'" in unknown.err
    # A folder added by the change: everything it allows is new, nothing is closed.
    (repo / "extra").mkdir()
    (repo / "extra" / "x.netpol").write_text("namespace x\ndeny ingress for app=x\nallow app=y to app=x:80\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "extra")
    missing = run_cli("diff", "main~1..main", "extra/")
    assert missing.code == 2 and "extra/: exists at main but not at main~1; add --allow-missing" in missing.err
    code, data = diff_rows("main~1..main", "extra/", "--allow-missing")
    assert code == 0 and data["opened"] == [] and data["closed"]
    # A path at neither revision is a typo, never "no flow changes".
    typo = run_cli("diff", "main~1..main", "polices/")
    assert typo.code == 2 and "polices/: exists at neither main~1 nor main" in typo.err


def test_diff_outside_git_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = run_cli("diff", "main..HEAD", ".")
    assert run.code == 2 and "not inside a git repository" in run.err


# ---------------------------------------------------------------- graph

GRAPH = """namespace shop
deny all
allow app=web to app=db:5432
allow app=web to app=db:5433
allow app=web to 10.0.0.0/8:443
allow world to app=web:443
"""

DOT_NODE = re.compile(r'^\s*(n\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
DOT_EDGE = re.compile(r'^\s*(n\d+) -> (n\d+) \[label="((?:[^"\\]|\\.)*)"\];$')
MERMAID_NODE = re.compile(r'^\s*(n\d+)\(?\["(.*)"\]\)?:::(\w+)$')
MERMAID_EDGE = re.compile(r'^\s*(n\d+) -->\|"(.*)"\| (n\d+)$')


def parse_dot(text: str):
    nodes, edges, clusters, current = {}, set(), {}, None
    for line in text.splitlines():
        if line.strip().startswith("subgraph"):
            current = line.split('"')[1].removeprefix("cluster_")
        elif line.strip() == "}":
            current = None
        elif m := DOT_NODE.match(line):
            label = m.group(2).replace("\\n", "\n")
            nodes[m.group(1)] = (label.split("\n")[0], label, "fillcolor=\"#fde2e1\"" in m.group(3))
            clusters[m.group(1)] = current
        elif m := DOT_EDGE.match(line):
            edges.add((nodes[m.group(1)][0], nodes[m.group(2)][0], m.group(3)))
    return nodes, edges, clusters


def test_graph_dot_nodes_edges_and_isolation(write):
    root = write({"shop.netpol": GRAPH})
    run = run_cli("graph", str(root))
    assert run.code == 0
    nodes, edges, clusters = parse_dot(run.out)
    assert edges == {
        ("app=web", "app=db", "5432-5433"),  # two intents, one merged edge
        ("app=web", "10.0.0.0/8", "443"),
        # `world` minus shop's own pods, whose egress `deny all` isolates: wholes, not one edge per region
        ("pods of (other namespaces)", "app=web", "443"),
        ("0.0.0.0/0", "app=web", "443"),
        ("::/0", "app=web", "443"),
    }
    by_label = {first: (label, isolated) for first, label, isolated in nodes.values()}
    assert by_label["app=web"] == ("app=web\n(isolated: ingress and egress)", True)
    assert by_label["app=db"][1] is True
    assert {clusters[n] for n, (first, _, _) in nodes.items() if first.startswith("app=")} == {"shop"}


def test_graph_world_into_an_open_cluster_is_one_node(write):
    root = write({"shop.netpol": "namespace shop\ndeny ingress for app=web\nallow world to app=web:443\n"})
    nodes, edges, _ = parse_dot(run_cli("graph", str(root)).out)
    assert edges == {("anything", "app=web", "443")}


def test_graph_shows_open_groups_and_isolated_ones_differently(write):
    root = write({"a.netpol": "namespace a\ndeny ingress for app=db\nallow app=api to app=db:5432\n"})
    nodes, edges, _ = parse_dot(run_cli("graph", str(root)).out)
    styles = {first: isolated for first, _, isolated in nodes.values()}
    assert styles == {"app=db": True, "app=api": False}
    assert edges == {("app=api", "app=db", "5432")}


def test_graph_mermaid_has_the_same_edges(write):
    root = write({"shop.netpol": GRAPH})
    _, dot_edges, _ = parse_dot(run_cli("graph", str(root)).out)
    run = run_cli("graph", "--format", "mermaid", str(root))
    assert run.code == 0 and run.out.startswith("flowchart LR\n")
    nodes, edges = {}, set()
    for line in run.out.splitlines():
        if m := MERMAID_NODE.match(line):
            nodes[m.group(1)] = (m.group(2).split("<br>")[0], m.group(3))
        elif m := MERMAID_EDGE.match(line):
            edges.add((nodes[m.group(1)][0], nodes[m.group(3)][0], m.group(2)))
    assert edges == dot_edges
    assert nodes and all(css == "isolated" for first, css in nodes.values() if first.startswith("app="))
    assert 'subgraph ns0["namespace shop"]' in run.out


def test_graph_of_yaml_policies(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: n}\n"
        "spec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: api}}}]\n"
        "    ports: [{port: 5432}, {port: 5432, protocol: UDP}]\n"
    )
    _, edges, _ = parse_dot(run_cli("graph", "--policies", str(tmp_path)).out)
    assert edges == {("app=api", "app=db", "5432/tcp+udp")}


def test_graph_svg_needs_dot(write, monkeypatch):
    root = write({"shop.netpol": GRAPH})
    monkeypatch.setattr(shutil, "which", lambda name: None)
    run = run_cli("graph", "--format", "svg", str(root))
    assert run.code == 2 and "needs the Graphviz `dot` program" in run.err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_graph_svg_with_dot(write, tmp_path):
    root = write({"shop.netpol": GRAPH})
    target = tmp_path / "g.svg"
    assert run_cli("graph", "--format", "svg", str(root), "-o", str(target)).code == 0
    svg = target.read_text()
    assert "<svg" in svg and svg.count('class="edge"') == 5


# ---------------------------------------------------------------- the proof can fail

PROVED = "namespace shop\ndeny all\nallow app=web to app=db:5432\nuse dns\n"
WIDENED = "namespace shop\ndeny all\nallow app=web to app=db:5432\n"


def test_proof_catches_a_widened_selector(monkeypatch):
    from compiler.backends import networkpolicy as emit

    original = emit.peers_k8s

    def widened(peer, policy_namespace):
        entries = original(peer, policy_namespace)
        return [{k: v for k, v in e.items() if k != "podSelector"} or {"podSelector": {}} for e in entries]

    monkeypatch.setattr(emit, "peers_k8s", widened)
    result = build_text(WIDENED)
    problems = [d for d in result.diagnostics if d.code == "NP500"]
    assert problems and not result.emitted  # nothing is written
    first = problems[0]
    assert first.span.line == 3  # the intent whose rule was widened
    # The flow the widening lets through: web's egress now reaches shop pods that are not db.
    assert "the manifests would allow egress shop/app=web -> shop/(other pods) on 5432/TCP, but the intents deny it" in first.message


def test_proof_catches_a_wrong_port(monkeypatch):
    from compiler.backends import networkpolicy as emit

    original = emit.port_k8s
    monkeypatch.setattr(emit, "port_k8s", lambda port: {**original(port), "port": port.port + 1} if isinstance(port.port, int) else original(port))
    result = build_text(PROVED)
    messages = [d.message for d in result.diagnostics if d.code == "NP500"]
    assert any("shop/app=web -> shop/app=db on 5432/TCP, but the intents allow it" in m for m in messages)


def test_proof_catches_a_dropped_isolation(monkeypatch):
    from compiler.backends import networkpolicy as emit

    original = emit._emit_intent
    monkeypatch.setattr(emit, "_emit_intent", lambda intent, *a: [] if type(intent).__name__ == "Isolate" else original(intent, *a))
    result = build_text(PROVED)
    problems = [d for d in result.diagnostics if d.code == "NP500"]
    assert problems and problems[0].span.line == 2  # `deny all`


def test_proof_passes_on_the_real_lowering():
    result = build_text(PROVED)
    assert result.ok and result.emitted


def test_proof_refuses_a_manifest_written_into_another_namespace(monkeypatch):
    """Manifests are read back by the namespace they were emitted for; one whose metadata says otherwise is refused, never proven elsewhere."""
    from compiler.backends import networkpolicy as emit

    original = emit.Emitted.manifest

    def moved(self):
        manifest = original(self)
        if self.name == "deny-all":
            manifest["metadata"]["namespace"] = "other"
        return manifest

    monkeypatch.setattr(emit.Emitted, "manifest", moved)
    result = build_text(PROVED)
    problems = [d for d in result.diagnostics if d.code == "NP500"]
    assert problems and not result.emitted
    assert "is in namespace other, emitted for shop" in problems[0].message


@pytest.mark.parametrize("batch", [1, 10**9])
def test_proof_finds_the_same_differences_in_any_batching(monkeypatch, batch):
    """Batches of one namespace each, or every namespace at once: the same NP500s for a broken lowering over several namespaces."""
    from compiler import verify
    from compiler.backends import networkpolicy as emit

    text = "".join(f"namespace n{i}\ndeny all\nallow app=web to app=db:5432\nallow app=x in namespace n{(i + 1) % 3} to app=db:80\n" for i in range(3))
    original = emit.port_k8s
    monkeypatch.setattr(emit, "port_k8s", lambda port: {**original(port), "port": port.port + 1} if isinstance(port.port, int) else original(port))
    monkeypatch.setattr(verify, "BATCH_POLICIES", batch)
    messages = sorted(d.message for d in build_text(text).diagnostics if d.code == "NP500")
    assert len(messages) == 5 and all("but the intents allow it" in m for m in messages)
    assert {m.split("->")[1].split("/")[0].strip() for m in messages} >= {"n0", "n1"}


def test_proof_batches_are_freed_as_they_go(monkeypatch, tmp_path):
    """With the cycle collector paused (as during a build), each batch's universe is freed by reference counting: memory stays one batch."""
    import gc
    import importlib.util

    from compiler import verify
    from compiler.pipeline import build
    from compiler.resolve import expand_inputs
    from conftest import REPO

    spec = importlib.util.spec_from_file_location("bench_compile", REPO / "bench" / "compile.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    generator.generate(600, tmp_path)
    result = build(expand_inputs([str(tmp_path)]), prove=False)
    monkeypatch.setattr(verify, "BATCH_POLICIES", 50)  # dozens of batches
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        assert verify.prove(result.program, result.emitted) == []
        left = gc.collect()  # what only the cycle collector could free
    finally:
        if enabled:
            gc.enable()
    assert left < 2000, left
