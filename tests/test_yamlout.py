"""The fast YAML writer against PyYAML: byte-identical on generated manifests, adversarial strings and every example; the fast path really taken."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import yamlout
from compiler.output import to_yaml

OPTIONS = dict(sort_keys=False, default_flow_style=False, explicit_start=True, allow_unicode=True, width=4096)
DUMPERS = [yaml.SafeDumper] + ([yaml.CSafeDumper] if hasattr(yaml, "CSafeDumper") else [])


def reference(documents, dumper=None) -> str:
    return yaml.dump_all(documents, Dumper=dumper or getattr(yaml, "CSafeDumper", yaml.SafeDumper), **OPTIONS)


def fast(document) -> str | None:
    """The fast writer's own text, or None when it hands the document to PyYAML."""
    try:
        return yamlout._document(document, {})
    except yamlout._Unsafe:
        return None


ADVERSARIAL = [
    "", " ", "  ", "a b", "a  b", " a", "a ", "'", "''", '"', "a'b", 'a"b', "'a'", '"a"',
    "yes", "no", "on", "off", "y", "n", "Y", "N", "YES", "No", "On", "OFF", "true", "False", "TRUE",
    "null", "Null", "NULL", "~", "=", "<<", "-", "?", ":", "--", "---", "...", "---a", "...a", "- a", "? a", ": a",
    "0", "1", "-1", "+1", "007", "08", "0x1F", "0o17", "0b101", "1_000", "1e3", "1.0e+3", "1.5", ".5", "5.",
    ".inf", "-.inf", ".Inf", ".nan", ".NaN", "1:30", "190:20:30", "1:30.5", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
    "2002-12-14 21:59:43.10 -5", "12:30", "8080", "80,443", "53/udp", "10.0.0.0/8", "::/0", "::1", "2001:db8::/32",
    "fe80::1%eth0", "[2001:db8::1]", "a:b", "a: b", "a:", "a :b", "a #b", "a#b", "#a", "a #", "&a", "*a", "!a", "%a",
    "@a", "`a", "|a", ">a", "a|b", "a>b", "{a}", "[a]", "a,b", ",a", "a, b", "a{b", "a}b", "a[b", "a]b", "?a", "a?",
    "a-b", "-a", "a -b", "a - b", "app.kubernetes.io/name", "kubernetes.io/metadata.name", "k8s-app",
    "allow app=web to app=db:5432", "use dns: allow any to k8s-app=kube-dns in namespace kube-system:53/udp,53/tcp",
    "allow app=x in namespaces except (kube-system, kube-public)", 'tier in ("", front)', "a\\b", "a\\", "\\",
    "café", "日本", "ü", "\u00a0", "\u2028", "\ufeff", "\x85", "a\tb", "\t", "a\nb", "a\n", "\n", "a\rb", "\x00", "\x7f", "\x1b[31m",
    "x" * 127, "x" * 128, "x" * 129, "x " * 600, "y" * 5000, ("word " * 1000).strip(), "a" + " " * 3000 + "b",
]

keys = st.one_of(st.sampled_from(ADVERSARIAL), st.text(max_size=12), st.text(alphabet="abz09-./_: #'\"", max_size=12))
scalars = st.one_of(
    st.sampled_from(ADVERSARIAL),
    st.text(max_size=20),
    st.text(alphabet=string.printable, max_size=30),
    st.text(alphabet="abz09-./_: #'\"=,()", max_size=30),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, min_size=1, max_size=6)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=3))
def test_generated_documents_are_written_as_pyyaml_writes_them(docs):
    assert to_yaml(docs) == reference(docs)
    for doc in docs:
        text = fast(doc)
        if text is not None:  # what the fast path writes, both of PyYAML's emitters write alike
            for dumper in DUMPERS:
                assert text == reference([doc], dumper), dumper


@pytest.mark.parametrize("value", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_strings_as_keys_values_and_items(value):
    docs = [
        {"metadata": {"name": value, "labels": {value: value}}},
        {"spec": {"items": [value, {"k": value, value: [value, [value]]}]}},
        {value: {}},
        {"annotations": {"netpolc.io/intent": value}, "ports": [{"port": 80, "name": value}]},
    ]
    assert to_yaml(docs) == reference(docs)
    for doc in docs:
        text = fast(doc)
        if text is not None:
            for dumper in DUMPERS:
                assert text == reference([doc], dumper)


def test_the_fast_path_quotes_what_yaml_would_read_as_another_type():
    """Not only a fallback: these go through the fast writer and come back as the same strings."""
    doc = {"metadata": {"labels": {"a": "yes", "b": "8080", "c": "", "d": "0x1F", "e": "~", "f": "1e3", "g": "it's: x"}}}
    text = fast(doc)
    assert text is not None
    assert "a: 'yes'\n" in text and "b: '8080'\n" in text and "c: ''\n" in text and "g: 'it''s: x'\n" in text
    assert yaml.safe_load(text) == doc


def test_unsafe_documents_go_to_pyyaml():
    shared = {"app": "web"}
    for doc in (
        {"a": shared, "b": shared},  # PyYAML writes an anchor and an alias
        {"a": "café"}, {"a": "x\ny"}, {"a": 1.5}, {"a": None}, {"a": True}, {"a": "y" * 5000}, {"k" * 200: 1},
        {1: "a"}, {"a": ("t",)},
    ):
        assert fast(doc) is None, doc
    assert "&id001" in to_yaml([{"a": shared, "b": shared}])


def test_every_example_manifest_takes_the_fast_path_and_equals_pyyaml():
    from compiler.pipeline import build
    from compiler.resolve import expand_inputs

    for example in ("examples/three-tier", "examples/storefront", "examples/guardrails"):
        for api in ("v1alpha1", "v1alpha2"):
            result = build(expand_inputs([example]), validate=True, api=api)
            assert result.ok
            manifests = result.manifests()
            assert manifests
            for manifest in manifests:
                text = fast(manifest)
                assert text is not None, manifest["metadata"]["name"]
                for dumper in DUMPERS:
                    assert text == reference([manifest], dumper)
            assert to_yaml(manifests) == reference(manifests)
