"""Property tests: any input gives diagnostics or valid, verified, round-trippable output; never an exception."""

from __future__ import annotations


import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.output import to_yaml
from compiler.schema import schema_errors
from conftest import REPO, build_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- generated programs

keys = st.sampled_from(["app", "tier", "env", "app.kubernetes.io/name", "team", "Bad Key", "-x"])
values = st.sampled_from(["web", "db", "api", "prod", "a-b", "v1.2", "world", "all", "x_", "UPPER"])
requirement = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", keys, values),
    st.builds(lambda k, v: f"{k}!={v}", keys, values),
    st.builds(lambda k, vs: f"{k} in ({', '.join(vs)})", keys, st.lists(values, min_size=1, max_size=3)),
    st.builds(lambda k, vs: f"{k} notin ({', '.join(vs)})", keys, st.lists(values, min_size=1, max_size=3)),
    keys,
    st.builds(lambda k: f"!{k}", keys),
)
selector = st.one_of(st.just("any"), st.lists(requirement, min_size=1, max_size=3).map(",".join))
namespace_name = st.sampled_from(["prod", "shop", "data", "monitoring", "Bad_NS"])
cidr = st.sampled_from(
    ["10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "0.0.0.0/0", "2001:db8::/32", "::/0", "10.0.0.1/8", "300.1.1.1/8", "8.8.8.8"]
)
pods = st.one_of(
    selector,
    st.builds(lambda s, n: f"{s} in namespace {n}", selector, namespace_name),
    st.builds(lambda s, t: f"{s} in namespaces {t}", selector, selector.filter(lambda x: x != "any")),
    st.builds(lambda s: f"{s} in any namespace", selector),
    st.builds(lambda n: f"namespace {n}", namespace_name),
    st.just("cluster"),
)
addresses = st.one_of(cidr, st.builds(lambda c, e: f"{c} except {e}", cidr, cidr), st.just("world"))
peer = st.one_of(pods, addresses)
port = st.one_of(
    st.integers(min_value=0, max_value=70000).map(str),
    st.sampled_from(["8000-8080", "9000-8000", "metrics", "http", "Bad_Name", "53/udp", "5000/sctp", "53/icmp"]),
)
ports = st.one_of(st.just(""), st.lists(port, min_size=1, max_size=3).map(lambda p: ":" + ",".join(p)))
statement = st.one_of(
    st.builds(lambda d, s: f"deny {d}{s}", st.sampled_from(["all", "ingress", "egress"]), st.one_of(st.just(""), selector.map(lambda s: f" for {s}"))),
    st.builds(lambda a, b, p: f"allow {a} to {b}{p}", pods, peer, ports),
    st.builds(lambda a, b, p: f"allow {a} to {b}{p}", addresses, pods, ports),
    st.builds(lambda b, p, s: f"egress only to {b}{p}{s}", peer, ports, st.one_of(st.just(""), selector.map(lambda s: f" for {s}"))),
    st.builds(lambda b, p, s: f"ingress only from {b}{p}{s}", peer, ports, st.one_of(st.just(""), selector.map(lambda s: f" for {s}"))),
    st.sampled_from(["use default-deny", "use dns", "use same-namespace", "use monitoring", "use kube-apiserver", "use nope"]),
    st.builds(lambda n: f"namespace {n}", namespace_name),
)
programs = st.builds(
    lambda ns, body: f"namespace {ns}\n" + "\n".join(body) + "\n", namespace_name, st.lists(statement, min_size=1, max_size=8)
)


def assert_sound(result, text: str) -> None:
    """Either errors (with positions inside the file), or output that validates, is proved and round-trips."""
    lines = text.count("\n") + 1
    for d in result.diagnostics:
        assert d.code != "NP500", f"the compiler's own proof failed: {d.message}\n{text}"
        assert d.code != "NP501", f"schema violation: {d.message}\n{text}"
        assert d.message and d.hint
        if d.span.file == "main.netpol":
            assert 1 <= d.span.line <= lines, (d, text)
    if result.ok:
        manifests = result.manifests()
        for manifest in manifests:
            assert not schema_errors(manifest), (manifest, text)
        assert list(yaml.safe_load_all(to_yaml(manifests))) == manifests


@SETTINGS
@given(programs)
def test_generated_programs_give_diagnostics_or_verified_output(text):
    result = build_text(text, validate=True)
    assert_sound(result, text)
    again = build_text(text, validate=True)
    assert to_yaml(again.manifests()) == to_yaml(result.manifests())


# ---------------------------------------------------------------- arbitrary and mutated text


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text_never_raises(text):
    assert_sound(build_text(text, validate=True), text)


# Seed: the example files that stand alone (no `use "file"`, a namespace of their own).
EXAMPLE_TEXT = "\n".join(
    text
    for text in (p.read_text() for p in sorted((REPO / "examples").rglob("*.netpol")))
    if 'use "' not in text and "\nnamespace " in "\n" + text
)


@st.composite
def mutated(draw):
    text = EXAMPLE_TEXT
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        position = draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate-line", "swap"]))
        if action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 12)) :]
        elif action == "insert":
            text = text[:position] + draw(st.sampled_from([" ", ",", ":", "=", "!", "(", ")", "/", "-", "x", "9", "\n", "\t", "in ", "to ", "é"])) + text[position:]
        elif action == "duplicate-line":
            lines = text.split("\n")
            index = position % len(lines)
            lines.insert(index, lines[index])
            text = "\n".join(lines)
        else:
            words = text.split(" ")
            if len(words) > 2:
                i = position % (len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
                text = " ".join(words)
    return text


@SETTINGS
@given(mutated())
def test_mutated_examples_never_raise(text):
    assert_sound(build_text(text, validate=True), text)


def test_examples_text_is_a_valid_seed():
    assert build_text(EXAMPLE_TEXT).ok
