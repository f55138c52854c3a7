"""`netpolc fmt`: canonical layout, comments kept, refusal on parse errors, atomic writes; idempotent and meaning-preserving (hypothesis)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.fmt import format_source
from compiler.source import SourceFile
from conftest import REPO, build_text, run_cli

MESSY = """\
#  storefront policies


  namespace   shop   # the shop
allow tier=front ,app=web  to app=db : 5432,53/UDP



expect app=web -> app=db:5432 allowed
allow app in (web,api , db) in namespaces team=a,env to 10.0.0.0/8 except (10.1.0.0/16)
use "x#y.netpol"   # a '#' inside quotes is part of the path
\t# indented comment
deny   egress   for  !legacy,tier notin (b,a)


"""

CANONICAL = """\
#  storefront policies

namespace shop  # the shop
allow app=web,tier=front to app=db:5432,53/udp

expect app=web -> app=db:5432 allowed
allow app in (api, db, web) in namespaces env,team=a to 10.0.0.0/8 except 10.1.0.0/16
use "x#y.netpol"  # a '#' inside quotes is part of the path
# indented comment
deny egress for !legacy,tier notin (a, b)
"""


def fmt(text: str) -> str | None:
    return format_source(SourceFile("t.netpol", text))[0]


def netpolc(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The installed command line in a subprocess: real exit codes, real files."""
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )


def test_canonical_layout():
    assert fmt(MESSY) == CANONICAL


def test_every_form_prints_canonically():
    lines = [
        "namespace shop",
        "use default-deny",
        'use "common.netpol"',
        "deny all",
        "deny ingress for app=web",
        "deny app=a to app=b",
        "allow any to any",
        "allow app=web to app=db:5432",
        "allow app=web to app=db:80,443,8000-8080,metrics,53/udp,9/sctp",
        "allow app=web in namespace front to app=db",
        "allow app=web in namespaces team=a to app=db",
        "allow app=web in any namespace to app=db",
        "allow namespace front to namespaces team=a,tier",
        "allow cluster to world",
        "allow app=web to 10.0.0.0/8 except (10.1.0.0/16, 10.2.0.0/16)",
        "allow app=web to [2001:db8::1]:443",
        "allow app=web to ::/0:443",
        "egress only to 10.0.0.0/8:443 for app=db",
        "ingress only from app=web:8080 for app=api",
        "expect app=web -> app=db:5432 denied",
        "allow a!=b,c,!d,e in (f, g),h notin (i) to any",
        "allow app=web to app=db:*/udp,53/tcp,*/sctp",
        "allow namespaces except kube-system to app=web",
        "allow app=agent in namespaces except (kube-public, kube-system) to app=web",
        'allow app=x in namespaces policy-group.network.openshift.io/ingress="" to app=web',
        'allow tier in ("", front),zone!="" to any',
    ]
    text = "\n".join(lines) + "\n"
    assert fmt(text) == text


def test_blank_lines_collapse_and_one_newline_at_the_end():
    assert fmt("\n\n\nnamespace a\n\n\n\n# c\n\n") == "namespace a\n\n# c\n"
    assert fmt("namespace a") == "namespace a\n"
    assert fmt("namespace a\r\n\r\n\r\nallow any to any\r\n") == "namespace a\n\nallow any to any\n"
    assert fmt("") == ""
    assert fmt("\n \t\n") == ""


def test_a_file_that_does_not_parse_is_refused_and_left_untouched(tmp_path):
    bad = tmp_path / "bad.netpol"
    original = "namespace shop\nallow app=web too app=db\n"
    bad.write_text(original)
    result = netpolc("fmt", "bad.netpol", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.netpol:2:19: error[NP100]" in result.stderr
    assert "not formatted" in result.stderr
    assert bad.read_text() == original


def test_rewrites_in_place_keeping_mode_and_symlinks(tmp_path):
    real = tmp_path / "real.netpol"
    real.write_text("namespace   a\nallow   any to any\n")
    os.chmod(real, 0o640)
    link = tmp_path / "link.netpol"
    link.symlink_to(real)
    result = netpolc("fmt", "link.netpol", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 file reformatted" in result.stderr
    assert link.is_symlink()
    assert real.read_text() == "namespace a\nallow any to any\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.netpol", "real.netpol"]  # no temp file left


def test_check_prints_a_diff_and_exits_1_without_writing(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "ok.netpol").write_text("namespace a\nallow any to any\n")
    (project / "messy.netpol").write_text("namespace a\nallow  app=b,  a=c to any\n")
    result = netpolc("fmt", "--check", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "--- p/messy.netpol (original)",
        "+++ p/messy.netpol (formatted)",
        "@@ -1,2 +1,2 @@",
        " namespace a",
        "-allow  app=b,  a=c to any",
        "+allow a=c,app=b to any",
    ]
    assert "would reformat p/messy.netpol" in result.stderr
    assert (project / "messy.netpol").read_text() == "namespace a\nallow  app=b,  a=c to any\n"
    assert netpolc("fmt", "--check", "p/ok.netpol", cwd=tmp_path).returncode == 0


def test_stdin_to_stdout_for_editors():
    result = run_cli("fmt", "-", stdin="namespace  a\nallow any   to any # x\n")
    assert (result.code, result.out) == (0, "namespace a\nallow any to any  # x\n")
    result = run_cli("fmt", "-", "--stdin-filename", "p/shop.netpol", stdin="namespace a\nallow\n")
    assert result.code == 1 and result.out == ""
    assert "p/shop.netpol:2:6: error[NP100]" in result.err


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("fmt", str(tmp_path / "missing.netpol")).code == 2
    binary = tmp_path / "bin.netpol"
    binary.write_bytes(b"\x00\x01")
    result = run_cli("fmt", str(binary))
    assert result.code == 2 and "NP103" in result.err


def test_the_shipped_files_are_formatted():
    files = sorted((REPO / "stdlib").glob("*.netpol")) + sorted((REPO / "examples").rglob("*.netpol"))
    assert files
    for path in files:
        text = path.read_text()
        assert fmt(text) == text, path


# ---------------------------------------------------------------- properties

GAP = st.sampled_from([" ", "  ", "\t", " \t "])  # where the grammar needs a space
OPT = st.sampled_from(["", "", " ", "  "])  # where it needs none
KEYS = {"app": ["web", "db", "api"], "tier": ["front", "back", '""'], "env": ["prod", "dev"], "team": ["a", "b"]}


@st.composite
def spaced(draw, *parts):
    """Join parts; a str part is a word, None a place where spaces are optional."""
    out = ""
    for index, part in enumerate(parts):
        if part is None:
            out += draw(OPT)
        else:
            if index and parts[index - 1] is not None and out:
                out += draw(GAP)
            out += part
    return out


@st.composite
def requirement(draw, key):
    values = KEYS[key]
    kind = draw(st.sampled_from(["=", "=", "=", "!=", "in", "notin", "exists", "absent"]))
    if kind in ("=", "!="):
        return draw(spaced(key, None, kind, None, draw(st.sampled_from(values))))
    if kind in ("in", "notin"):
        chosen = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
        inner = "".join(draw(OPT) + v + draw(OPT) + ("," if i < len(chosen) - 1 else "") for i, v in enumerate(chosen))
        return draw(spaced(key, kind, None, "(")) + inner + ")"
    return key if kind == "exists" else draw(spaced("!", None, key))


@st.composite
def selector(draw):
    if draw(st.integers(0, 5)) == 0:
        return "any"
    keys = draw(st.lists(st.sampled_from(sorted(KEYS)), min_size=1, max_size=3, unique=True))
    terms = [draw(requirement(k)) for k in keys]
    return "".join(t + (draw(OPT) + "," + draw(OPT) if i < len(terms) - 1 else "") for i, t in enumerate(terms))


@st.composite
def peer(draw, ports=True):
    target = draw(
        st.one_of(
            selector(),
            st.builds(lambda s, n: f"{s} in namespace {n}", selector(), st.sampled_from(["other", "shop"])),
            st.builds(lambda s, n: f"{s} in  namespaces {n}", selector(), selector()),
            st.builds(lambda s: f"{s} in any namespace", selector()),
            st.builds(lambda n: f"namespace {n}", st.sampled_from(["other", "kube-system"])),
            st.builds(lambda s: f"namespaces {s}", selector()),
            st.builds(lambda names: "namespaces except " + (names[0] if len(names) == 1 else "(" + " , ".join(names) + ")"),
                      st.lists(st.sampled_from(["kube-system", "other", "shop"]), min_size=1, max_size=3)),
            st.builds(lambda s: f"{s} in namespaces except (kube-system,other )", selector()),
            st.just("cluster"),
            st.just("world"),
            st.sampled_from(["10.0.0.0/8", "10.0.0.0/8 except 10.1.0.0/16", "10.0.0.0/8 except ( 10.2.0.0/16 ,10.1.0.0/16 )"]),
        )
    )
    if ports and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(["80", "443", "53/udp", "53 / UDP", "8000-8080", "metrics", "*/udp", "* / TCP"]), min_size=1, max_size=3, unique=True))
        target += draw(OPT) + ":" + draw(OPT) + (draw(OPT) + "," + draw(OPT)).join(chosen)
    return target


@st.composite
def statement(draw):
    kind = draw(st.sampled_from(["allow", "allow", "allow", "deny", "egress", "ingress", "expect", "use"]))
    if kind == "allow":
        return draw(spaced("allow", draw(peer(ports=False)), "to", draw(peer())))  # ports on a source: an error
    if kind == "deny":
        direction = draw(st.sampled_from(["all", "ingress", "egress"]))
        return draw(spaced("deny", direction, *(("for", draw(selector())) if draw(st.booleans()) else ())))
    if kind in ("egress", "ingress"):
        words = ("egress", "only", "to") if kind == "egress" else ("ingress", "only", "from")
        return draw(spaced(*words, draw(peer()), *(("for", draw(selector())) if draw(st.booleans()) else ())))
    if kind == "expect":
        port = draw(st.sampled_from(["80", "5432", "53/udp"]))
        return draw(spaced("expect", draw(peer(ports=False)), "->", draw(peer(ports=False)) + ":" + port, draw(st.sampled_from(["allowed", "denied"]))))
    return draw(spaced("use", draw(st.sampled_from(["dns", "default-deny", "same-namespace"]))))


COMMENT = st.text(alphabet=st.sampled_from(list("ab #\"'x-:")), max_size=12).map(lambda t: "#" + t)


@st.composite
def program(draw):
    lines = [draw(st.sampled_from(["", " ", "\t"])) + draw(spaced("namespace", "shop"))]
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["statement", "statement", "statement", "blank", "comment", "namespace"]))
        if kind == "statement":
            line = draw(OPT) + draw(statement()) + draw(OPT)
            if draw(st.booleans()):
                line += draw(OPT) + draw(COMMENT)
        elif kind == "blank":
            line = draw(st.sampled_from(["", "  ", "\t"]))
        elif kind == "comment":
            line = draw(OPT) + draw(COMMENT)
        else:
            line = draw(spaced("namespace", draw(st.sampled_from(["shop", "other"]))))
        lines.append(line)
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines) + draw(st.sampled_from(["", ending, ending * 3]))


def meaning(text: str):
    """What a program compiles to, source annotations aside: error codes, or the manifests."""
    result = build_text(text)
    if not result.ok:
        return ("errors", sorted(d.code for d in result.diagnostics if d.is_error))
    manifests = []
    for manifest in result.manifests():
        manifest = dict(manifest, metadata={k: v for k, v in manifest["metadata"].items() if k != "annotations"})
        manifests.append(manifest)
    return ("ok", manifests, sorted(d.code for d in result.diagnostics))


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(program())
def test_fmt_is_idempotent(text):
    once = fmt(text)
    assert once is not None, text
    assert fmt(once) == once


@PROPERTY
@given(program())
def test_fmt_preserves_meaning(text):
    once = fmt(text)
    assert meaning(once) == meaning(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("namespc owlgtdy=,:()!#\"-> 0189/\n\r\t.")), max_size=60))
def test_fmt_never_crashes_on_arbitrary_text(text):
    """Any text: refused with a diagnostic, or formatted into text that parses and is stable."""
    formatted, diagnostics = format_source(SourceFile("t.netpol", text))
    if formatted is None:
        assert diagnostics and all(d.code.startswith("NP1") for d in diagnostics)
    else:
        assert fmt(formatted) == formatted
