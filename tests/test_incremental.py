"""The incremental build (compiler/incremental.py) gives what a full compile gives, after every edit of a random sequence; and it does reuse."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from compiler.incremental import Cache, changed_namespaces, touch
from compiler.output import to_yaml
from compiler.pipeline import build
from compiler.resolve import expand_inputs

NAMESPACES = ["shop", "pay", "auth", "logs"]
APPS = ["web", "api", "db", "cache"]


def random_line(rnd: random.Random, here: str) -> str:
    """One statement of the kinds whose findings and objects cross namespaces (and a few mistakes)."""
    a, b = rnd.sample(APPS, 2)
    other = rnd.choice(NAMESPACES + ["monitoring", "kube-system"])
    port = rnd.choice([80, 443, 5432, "8080-8090", "metrics"])
    return rnd.choice([
        f"allow app={a} to app={b}:{port}",
        f"allow app={a} to app={b}",
        f"allow any to app={b}:{port}",
        f"allow app={a} in namespace {other} to app={b}:{port}",
        f"allow app={a} to app={b} in namespace {other}:{port}",
        f"allow namespace {other} to app={b}",
        f"allow app={a} to 10.{rnd.randrange(3)}.0.0/16:443",
        f"allow app={a} to 10.0.0.0/8:443",
        f"allow app={a} to world:443",
        f"allow app={a} in any namespace to app={b}:{port}",
        f"allow app={a} in namespaces team=blue to app={b}",
        "deny all",
        "deny egress",
        f"deny ingress for app={a}",
        f"egress only to app={b} in namespace {other}:53/udp",
        f"ingress only from app={a}:{port}",
        "use dns",
        "use default-deny",
        'use "common.netpol"',
        f"expect app={a} -> app={b}:80 allowed",
        f"expect app={a} in namespace {other} -> app={b}:443 denied",
        f"allow app={a} to api.example.com:443",  # a DNS name: no target CNI here, so refused (and emitted whole with one)
        f"allow app={a} to app={b}:99999",  # NP306
        f"allow app={a} to",  # a syntax error while typing
    ])


def write_workspace(folder: Path, rnd: random.Random) -> dict[str, list[str]]:
    files = {}
    for name in NAMESPACES:
        files[f"{name}.netpol"] = [f"namespace {name}"] + [random_line(rnd, name) for _ in range(rnd.randrange(3, 9))]
    files["common.netpol"] = ["allow app=api to app=db:5432", "deny egress for app=batch"]  # used by some namespaces: no namespace line
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    return files


def edit(rnd: random.Random, lines: list[str], name: str) -> None:
    """Change, insert, delete, move or duplicate a line; now and then add a namespace or a cluster section."""
    here = name.removesuffix(".netpol")
    roll = rnd.random()
    body = range(1, len(lines)) if lines and lines[0].startswith("namespace") else range(len(lines))
    if roll < 0.35 and body:
        lines[rnd.choice(body)] = random_line(rnd, here)
    elif roll < 0.6:  # a statement, or a comment that only moves the lines below it
        line = random_line(rnd, here) if rnd.random() < 0.7 else "# a comment"
        lines.insert(rnd.randrange(1, len(lines) + 1) if body else len(lines), line)
    elif roll < 0.75 and len(body) > 1:
        del lines[rnd.choice(body)]
    elif roll < 0.82 and len(body) > 1:
        i, j = rnd.sample(list(body), 2)
        lines[i], lines[j] = lines[j], lines[i]
    elif roll < 0.88 and body:
        lines.append(lines[rnd.choice(body)])  # a duplicate (NP402)
    elif roll < 0.92:
        lines.extend([f"namespace extra-{rnd.randrange(2)}", random_line(rnd, "extra")])  # a second namespace in the file
    elif roll < 0.95:
        lines.extend(["cluster admin priority 10", "deny app=web to app=db"])
    elif roll < 0.98 and lines and lines[-1].startswith("deny app=web"):
        del lines[-2:]  # the cluster section goes again
    else:
        lines.append(f"allow app=x to app=y:{rnd.randrange(1, 70000)}")


def same(a, b) -> None:
    assert a.diagnostics == b.diagnostics
    assert to_yaml(a.manifests()) == to_yaml(b.manifests())
    if b.program is not None:
        assert a.program.intents == b.program.intents
        assert a.program.expects == b.program.expects
        assert a.program.namespaces == b.program.namespaces


@pytest.mark.parametrize("seed", range(6))
def test_random_edits_give_what_a_full_compile_gives(tmp_path, monkeypatch, seed):
    monkeypatch.chdir(tmp_path)
    rnd = random.Random(seed)
    files = write_workspace(tmp_path, rnd)
    inputs = expand_inputs(["."])
    cache = Cache()
    prove = seed % 2 == 0  # the proof is the slow part: every other sequence
    same(build(inputs, prove=prove, cache=cache), build(inputs, prove=prove))
    for step in range(40):
        name = rnd.choice(sorted(files))
        edit(rnd, files[name], name)
        text = "\n".join(files[name]) + "\n"
        if rnd.random() < 0.5:
            overrides = {name: text}  # an editor buffer
        else:
            (tmp_path / name).write_text(text)  # a saved file
            overrides = {}
        incremental = build(inputs, overrides=overrides, prove=prove, cache=cache)
        same(incremental, build(inputs, overrides=overrides, prove=prove))
        if not overrides:
            continue
        if rnd.random() < 0.3:  # the buffer is closed unsaved: the file on disk again
            files[name] = (tmp_path / name).read_text().rstrip("\n").split("\n")
            same(build(inputs, prove=prove, cache=cache), build(inputs, prove=prove))


def test_random_edits_in_the_benchmark_program(tmp_path, monkeypatch):
    """The generator of bench/compile.py (every namespace names others and DNS): changes within one file, the proof on."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from compile import generate

    monkeypatch.chdir(tmp_path)
    generate(400, tmp_path)
    inputs = expand_inputs(["."])
    cache = Cache()
    same(build(inputs, cache=cache), build(inputs))
    rnd = random.Random(3)
    names = sorted(p.name for p in tmp_path.glob("*.netpol"))
    texts = {name: (tmp_path / name).read_text().split("\n") for name in names}
    for step in range(10):
        name = names[step % 3]  # a few files, edited again and again: their intents move between edits
        lines = texts[name]
        line = rnd.randrange(3, len(lines) - 1)
        roll = rnd.random()
        if roll < 0.4:
            lines.insert(line, rnd.choice(["", "# a comment", "allow app=svc-0 to app=svc-1:8443"]))  # lines below move
        elif roll < 0.6 and len(lines) > 5:
            del lines[line]
        else:
            lines[line] = rnd.choice([lines[line].replace(":", ":1", 1), lines[line - 1], f"allow app=svc-0 in namespace team-0{rnd.randrange(10, 99)} to app=svc-1:8443"])
        overrides = {n: "\n".join(texts[n]) for n in names[:3]}  # every edited buffer
        prove = step % 2 == 1  # the proof every other step (it is most of the time)
        same(build(inputs, overrides=overrides, prove=prove, cache=cache), build(inputs, overrides=overrides, prove=prove))


def test_one_changed_line_recompiles_only_what_it_touches(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in NAMESPACES:
        (tmp_path / f"{name}.netpol").write_text(f"namespace {name}\nuse default-deny\nallow app=web to app=api:8080\nallow app=api to app=db:5432\n")
    inputs = expand_inputs(["."])
    cache = Cache()
    build(inputs, cache=cache)
    assert (cache.stats.parsed, cache.stats.lowered, cache.stats.touched, cache.stats.proven) == (5, 4, None, None)  # and default-deny

    # A port changed in shop: shop alone is parsed, lowered, emitted and proven again.
    changed = {"shop.netpol": "namespace shop\nuse default-deny\nallow app=web to app=api:8081\nallow app=api to app=db:5432\n"}
    result = build(inputs, overrides=changed, cache=cache)
    stats = cache.stats
    assert (stats.parsed, stats.lowered, stats.touched, stats.emitted, stats.proven) == (1, 1, 1, 1, 1)
    assert stats.analysed == 3  # shop's three intents
    same(result, build(inputs, overrides=changed))
    assert "port: 8081" in to_yaml(result.manifests())

    # An allow from pay's pods: shop and pay are touched, auth and logs are not.
    changed["shop.netpol"] += "allow app=web in namespace pay to app=api:9000\n"
    result = build(inputs, overrides=changed, cache=cache)
    assert (cache.stats.touched, cache.stats.emitted, cache.stats.proven) == (2, 2, 2)
    same(result, build(inputs, overrides=changed))

    # Another port in shop: shop is lowered again (its intents are new objects), pay is not touched.
    changed["shop.netpol"] = changed["shop.netpol"].replace(":8081", ":8082")
    result = build(inputs, overrides=changed, cache=cache)
    assert (cache.stats.touched, cache.stats.moved, cache.stats.emitted) == (1, 0, 1)

    # A new line above it: the allow from pay moves down a line. pay's objects are the old ones
    # at the new line (moved); shop alone is emitted again.
    changed["shop.netpol"] = changed["shop.netpol"].replace("use default-deny\n", "use default-deny\nallow app=x to app=y\n")
    result = build(inputs, overrides=changed, cache=cache)
    assert (cache.stats.touched, cache.stats.moved, cache.stats.emitted) == (1, 1, 1)
    same(result, build(inputs, overrides=changed))
    assert "netpolc.io/source: shop.netpol:6" in to_yaml([m for m in result.manifests() if m["metadata"]["namespace"] == "pay"])

    # The same intent written otherwise: its text is quoted in findings and annotations.
    changed["pay.netpol"] = "namespace pay\nuse default-deny\nallow app=web to app=api:8080\nallow app=api to app=db:5432\nallow app=api to app=db:5432,5432\n"
    result = build(inputs, overrides=changed, cache=cache)
    same(result, build(inputs, overrides=changed))
    changed["pay.netpol"] = changed["pay.netpol"].replace(":5432,5432", ":5432, 5432")
    result = build(inputs, overrides=changed, cache=cache)
    same(result, build(inputs, overrides=changed))
    assert any("5432, 5432" in d.message for d in result.diagnostics if d.code == "NP402")

    # Nothing changed: nothing parsed or lowered again, nothing touched.
    build(inputs, overrides=changed, cache=cache)
    assert (cache.stats.parsed, cache.stats.lowered, cache.stats.touched, cache.stats.moved, cache.stats.analysed) == (0, 0, 0, 0, 0)


def test_what_is_recomputed_whole(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.netpol").write_text("namespace a\ndeny all\nallow app=x to app=y\n")
    (tmp_path / "b.netpol").write_text("namespace b\ndeny all\n")
    inputs = expand_inputs(["."])
    cache = Cache()
    base = build(inputs, cache=cache).program
    for text in (
        "namespace a\ndeny all\nallow app=x in any namespace to app=y\n",  # every namespace
        "namespace a\ndeny all\nallow app=x in namespaces team=blue to app=y\n",  # namespaces by labels
        "namespace a\ndeny all\nallow app=x to app=y\nnamespace c\n",  # a namespace more
        "namespace a\ndeny ingress\nallow app=x to app=y\n",  # b isolates egress still: same flag; a's change only
    ):
        program = build(inputs, overrides={"a.netpol": text}).program
        change = changed_namespaces(base, program)
        if "ingress\n" in text:
            assert (change.real, change.moved) == ({"a"}, set()), text
        else:
            assert change is None, text
    (tmp_path / "b.netpol").write_text("namespace b\ndeny ingress\n")
    no_egress_isolation = build(inputs, overrides={"a.netpol": "namespace a\ndeny ingress\n"}).program
    assert changed_namespaces(build(inputs).program, no_egress_isolation) is None  # NP407 reads whether any egress is isolated
    cluster = build(inputs, overrides={"b.netpol": "namespace b\ndeny ingress\ncluster admin priority 5\ndeny app=x to app=y\n"}).program
    assert changed_namespaces(build(inputs).program, cluster) is None


def test_touch_names_every_namespace_a_peer_names():
    from compiler import ir
    from compiler.source import Span

    origin = ir.Origin(Span("f", 1, 1, 1, 2), "x")
    pods = lambda ns: ir.Pods(ir.NamespaceRef("named", ns), ir.EVERYTHING)  # noqa: E731
    assert touch(ir.Allow("a", pods("b"), pods("c"), (), origin)) == {"a", "b", "c"}
    assert touch(ir.Allow("a", pods("a"), ir.Block("10.0.0.0/8"), (), origin)) == {"a"}
    assert touch(ir.Allow("a", ir.Pods(ir.NamespaceRef("all"), ir.EVERYTHING), pods("a"), (), origin)) is None
    assert touch(ir.Isolate("a", ir.EVERYTHING, ("egress",), origin)) == {"a"}


# ---------------------------------------------------------------- the language server, over the wire


def build_after(wire, uri: str, version: int, first: str, last: str) -> dict[str, list[tuple[str, int, int]]]:
    """What every open file (`first` to `last` in URI order) shows once the build that published `uri` at `version` is in.

    A build sends a file only what changed for it (its diagnostics or version), so a file shows
    the last publication it got. The publications of one build are sent together, before the
    server reads another request: a request answered after `uri`'s publication is a barrier.
    """
    def publication(m) -> bool:
        return m.get("method") == "textDocument/publishDiagnostics"

    wire.wait_for(lambda m: publication(m) and m["params"]["uri"] == uri and m["params"]["version"] == version)
    hover_text(wire, uri, 0)  # the barrier
    shown = {}
    for m in wire.seen:
        if publication(m) and first <= m["params"]["uri"] <= last:
            shown[m["params"]["uri"]] = [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"]) for d in m["params"]["diagnostics"]]
    return shown


def test_an_edit_publishes_only_the_files_whose_diagnostics_changed(tmp_path, monkeypatch):
    """A keystroke in one of many open files answers that file (its new version) and no other whose findings stay."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lsp_wire import Wire

    texts = {f"{n}.netpol": f"namespace {n}\nuse default-deny\nuse dns\nallow app=web to app=db:5432\n" for n in "abcd"}
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    with Wire(tmp_path) as wire:
        uris = {name: wire.open(name, text) for name, text in texts.items()}
        first, last = min(uris.values()), max(uris.values())
        build_after(wire, uris["d.netpol"], 1, first, last)
        before = len(wire.seen)
        wire.change(uris["b.netpol"], 2, texts["b.netpol"].replace(":5432", ":5433"))
        build_after(wire, uris["b.netpol"], 2, first, last)
        sent = [m["params"]["uri"] for m in wire.seen[before:] if m.get("method") == "textDocument/publishDiagnostics"]
        assert sent == [uris["b.netpol"]]
        wire.change(uris["b.netpol"], 3, texts["b.netpol"] + "allow app=web to\n")  # b gets an error; the others keep theirs
        shown = build_after(wire, uris["b.netpol"], 3, first, last)
        assert [code for code, _, _ in shown[uris["b.netpol"]]] == ["NP100"] and shown[uris["a.netpol"]] == []


def hover_text(wire, uri: str, line: int) -> str:
    answer = wire.call("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 1}})
    return answer["result"]["contents"]["value"] if answer["result"] else ""


def test_the_server_rebuilds_incrementally_and_publishes_what_a_full_compile_says(tmp_path, monkeypatch):
    """Edits in one file change another file's diagnostics (a covering allow, DNS); every publication equals a full compile of the same text."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lsp_wire import Wire

    texts = {
        "a.netpol": "namespace a\nuse default-deny\nuse dns\nallow app=web in namespace b to app=db in namespace c:5432\n",
        "b.netpol": "namespace b\nuse default-deny\nuse dns\nallow app=web to app=api:8080\n",
        "c.netpol": "namespace c\nuse default-deny\nuse dns\nallow app=api to app=db:5432\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    inputs = expand_inputs(["."])

    def full(name: str) -> list[tuple[str, int, int]]:
        result = build(inputs, overrides=dict(texts), prove=False)
        return [(d.code, d.span.line - 1, d.span.column - 1) for d in result.diagnostics if d.span.file == name]

    with Wire(tmp_path) as wire:
        uris = {name: wire.open(name, text) for name, text in texts.items()}
        a, b, c = (uris[n] for n in sorted(uris))
        shown = build_after(wire, c, 1, a, c)
        assert shown == {a: full("a.netpol"), b: full("b.netpol"), c: full("c.netpol")} == {a: [], b: [], c: []}

        # b allows every pod of b to c's db: a's narrower allow is now covered (NP403, in a).
        texts["b.netpol"] += "allow any to app=db in namespace c\n"
        wire.change(b, 2, texts["b.netpol"])
        shown = build_after(wire, b, 2, a, c)
        assert shown == {a: full("a.netpol"), b: full("b.netpol"), c: full("c.netpol")} == {a: [("NP403", 3, 0)], b: [], c: []}
        assert "app: db" in hover_text(wire, b, 4)  # hover shows the new line's manifests
        assert "policyTypes:\n  - Egress" in hover_text(wire, b, 4)

        # c loses `use dns`: c's isolated egress has no DNS (NP404 in c); a and b are as they were.
        texts["c.netpol"] = texts["c.netpol"].replace("use dns\n", "")
        wire.change(c, 2, texts["c.netpol"])
        shown = build_after(wire, c, 2, a, c)
        assert shown == {a: full("a.netpol"), b: full("b.netpol"), c: full("c.netpol")} == {a: [("NP403", 3, 0)], b: [], c: [("NP404", 1, 0)]}

        # A half-typed line (a parse error), then the line removed: a's finding goes with it.
        wire.change(b, 3, texts["b.netpol"] + "allow app=web to\n")
        assert [code for code, _, _ in build_after(wire, b, 3, a, c)[b]] == ["NP100"]
        texts["b.netpol"] = texts["b.netpol"].replace("allow any to app=db in namespace c\n", "")
        wire.change(b, 4, texts["b.netpol"])
        shown = build_after(wire, b, 4, a, c)
        assert shown == {a: full("a.netpol"), b: full("b.netpol"), c: full("c.netpol")} == {a: [], b: [], c: [("NP404", 1, 0)]}
        assert "port: 5432" in hover_text(wire, c, 2)


def test_a_finding_that_names_a_moved_line_is_judged_again(tmp_path, monkeypatch):
    """NP430's message says the line of the `only` line it widens: when that line moves, the finding (in another file) follows it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shop.netpol").write_text("namespace shop\nuse dns\negress only to 10.0.0.0/8:443 for app=db\n")
    (tmp_path / "pay.netpol").write_text("namespace pay\nallow app=db in namespace shop to app=x:80\n")
    inputs = expand_inputs(["."])
    cache = Cache()
    [before] = [d for d in build(inputs, cache=cache).diagnostics if d.code == "NP430"]
    assert "(line 3)" in before.message and before.span.file == "pay.netpol"
    moved = {"shop.netpol": "namespace shop\nuse dns\n# a comment: the only line moves down\negress only to 10.0.0.0/8:443 for app=db\n"}
    result = build(inputs, overrides=moved, cache=cache)
    same(result, build(inputs, overrides=moved))
    [after] = [d for d in result.diagnostics if d.code == "NP430"]
    assert "(line 4)" in after.message and after.related[0][0].line == 4


def test_a_difference_found_by_the_proof_of_a_change_is_reported_by_the_whole_proof(tmp_path, monkeypatch):
    """A broken backend after the first build: the proof of the changed namespace finds it, and the whole proof words the NP500."""
    from compiler.backends import networkpolicy

    monkeypatch.chdir(tmp_path)
    for name in ("shop", "pay"):
        (tmp_path / f"{name}.netpol").write_text(f"namespace {name}\ndeny all\nallow app=web to app=api:8080\n")
    inputs = expand_inputs(["."])
    cache = Cache()
    assert build(inputs, cache=cache).ok
    real = networkpolicy.port_k8s
    monkeypatch.setattr(networkpolicy, "port_k8s", lambda port: {**real(port), "port": real(port).get("port", 0) + 1})
    changed = {"shop.netpol": "namespace shop\ndeny all\nallow app=web to app=api:9090\n"}
    result = build(inputs, overrides=changed, cache=cache)
    assert cache.stats.proven is None  # the change's proof found a difference: the whole proof ran
    differences = [d for d in result.diagnostics if d.code == "NP500"]
    assert [(d.span.file, d.span.line) for d in differences] == [("shop.netpol", 3)] * 2  # the egress and the ingress side
    assert all("deny" in d.message and "on 9090/TCP, but the intents allow it" in d.message for d in differences)
    assert not result.ok and result.emitted == []
