"""The command line as users meet it: exit codes, formats, bad input (the output folder: test_output_safety.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, run_cli

GOOD = "namespace prod\nuse default-deny\nuse dns\nallow app=web to app=db:5432\n"
BAD = "namespace prod\nallow app=web to app=db:99999\n"


def assert_no_traceback(run):
    assert "Traceback" not in run.out + run.err


# ---------------------------------------------------------------- check


def test_check_clean_program_exits_0_and_prints_nothing(write):
    root = write({"a.netpol": GOOD})
    run = run_cli("check", str(root))
    assert (run.code, run.out) == (0, "")


def test_check_error_exits_1_with_position_code_and_hint(write):
    root = write({"a.netpol": BAD})
    run = run_cli("check", str(root / "a.netpol"))
    assert run.code == 1
    first = run.out.splitlines()[0]
    assert first.endswith(":2:25: error[NP306]: port 99999 is out of range")
    assert "help: a port is a number from 1 to 65535" in run.out


def test_check_warnings_pass_unless_strict(write):
    root = write({"a.netpol": "namespace prod\ndeny all\n"})  # NP404: no DNS
    assert run_cli("check", str(root)).code == 0
    strict = run_cli("check", "--strict", str(root))
    assert strict.code == 1 and "warning[NP404]" in strict.out


def test_check_json_format(write):
    root = write({"a.netpol": BAD})
    run = run_cli("check", "--format", "json", str(root))
    (item,) = json.loads(run.out)
    assert run.code == 1
    assert item["code"] == "NP306" and item["name"] == "port-out-of-range" and item["severity"] == "error"
    assert item["location"] == {"row": 2, "column": 25} and item["end_location"] == {"row": 2, "column": 30}
    assert item["hint"]


def test_check_github_format(write):
    root = write({"a.netpol": BAD})
    run = run_cli("check", "--format=github", str(root))
    assert run.out.startswith("::error file=")
    assert ",line=2,col=25,endLine=2,endColumn=30,title=NP306 port-out-of-range::port 99999 is out of range%0A" in run.out


def test_check_stdin_reports_positions_in_the_named_file(write):
    run = run_cli("check", "--stdin", "--stdin-filename", "policies/shop.netpol", stdin=BAD)
    assert run.code == 1
    assert run.out.startswith("policies/shop.netpol:2:25: error[NP306]")


@pytest.mark.parametrize(
    "args, words",
    [
        (["check", "no/such/path.netpol"], "no such file or folder"),
        (["check"], "nothing to check"),
        (["check", "--format", "xml", "examples"], "unknown --format"),
        (["compile", "--check", "examples/three-tier"], "add -o DIR"),
        (["check", "--no-such-option", "examples"], "No such option"),
    ],
)
def test_bad_usage_exits_2(args, words):
    run = run_cli(*args)
    assert run.code == 2
    assert words in run.out + run.err
    assert_no_traceback(run)


def test_folder_without_sources_is_bad_usage(tmp_path):
    run = run_cli("check", str(tmp_path))
    assert run.code == 2 and "no .netpol files" in run.err


@pytest.mark.parametrize(
    "content, words",
    [
        (b"\x00\x01\x02binary", "binary"),
        (b"namespace prod\n\xff\xfe deny all\n", "not valid UTF-8"),
        (b"# " + b"x" * (3 * 1024 * 1024), "more than"),
    ],
    ids=["binary", "not-utf8", "huge"],
)
def test_unreadable_input_is_NP103_exit_2_without_traceback(tmp_path, content, words):
    path = tmp_path / "bad.netpol"
    path.write_bytes(content)
    run = run_cli("check", str(path))
    assert run.code == 2
    assert "error[NP103]" in run.out and words in run.out
    assert_no_traceback(run)


@pytest.mark.parametrize(
    "text",
    [
        "namespace prod\nallow " + "(" * 5000 + "\n",
        "namespace prod\nallow " + ",".join(f"k{i}=v" for i in range(3000)) + " to any\n",
        "namespace prod\n" + "allow app=web to app=db:5432\n" * 3000,
        "\n" * 10000,
        "namespace prod\nallow app=web to " + "1" * 5000 + "\n",
    ],
    ids=["nested-parens", "long-selector", "many-lines", "blank", "long-port"],
)
def test_pathological_input_never_raises(tmp_path, text):
    path = tmp_path / "p.netpol"
    path.write_text(text)
    run = run_cli("check", str(path))
    assert run.code in (0, 1)
    assert_no_traceback(run)


def test_internal_error_is_one_line_exit_2(monkeypatch, write):
    import compiler.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(compiler.pipeline, "build", broken)
    root = write({"a.netpol": GOOD})
    for command in ("check", "compile"):
        run = run_cli(command, str(root))
        assert run.code == 2
        assert "netpolc: internal error: RuntimeError: boom" in run.err
        assert_no_traceback(run)


# ---------------------------------------------------------------- compile to standard output


def test_compile_prints_a_yaml_stream_of_network_policies(write):
    root = write({"a.netpol": GOOD})
    run = run_cli("compile", str(root))
    assert run.code == 0
    documents = list(yaml.safe_load_all(run.out))
    assert {d["kind"] for d in documents} == {"NetworkPolicy"}
    assert [d["metadata"]["name"] for d in documents] == sorted(d["metadata"]["name"] for d in documents)
    assert run.out.startswith("---\napiVersion: networking.k8s.io/v1\n")


def test_compile_with_errors_prints_no_yaml(write):
    root = write({"a.netpol": GOOD + BAD.split("\n", 1)[1]})
    run = run_cli("compile", str(root))
    assert run.code == 1
    assert run.out == ""
    assert "error[NP306]" in run.err


def test_compile_is_byte_identical_across_runs_and_input_order(write):
    root = write({"a.netpol": "namespace a\ndeny all\nuse dns\n", "b.netpol": "namespace b\n" + GOOD.split("\n", 1)[1]})
    first = run_cli("compile", str(root / "a.netpol"), str(root / "b.netpol")).out
    second = run_cli("compile", str(root / "b.netpol"), str(root / "a.netpol")).out
    assert first and first == second == run_cli("compile", str(root / "a.netpol"), str(root / "b.netpol")).out


def test_compile_in_a_fresh_process_matches_in_process():
    """Same bytes from another interpreter (hash seeds differ between processes)."""
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-m", "compiler", "compile", "examples/storefront"], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == run_cli("compile", "examples/storefront").out


# ---------------------------------------------------------------- compile -o DIR: see test_output_safety.py


def test_schema_violation_is_NP501_and_nothing_is_printed(monkeypatch, write):
    import compiler.backends.networkpolicy

    original = compiler.backends.networkpolicy.Emitted.manifest

    def corrupt(self):
        manifest = original(self)
        manifest["spec"]["policyTypes"] = ["Sideways"]
        return manifest

    monkeypatch.setattr(compiler.backends.networkpolicy.Emitted, "manifest", corrupt)
    root = write({"a.netpol": "namespace prod\ndeny ingress\n"})
    run = run_cli("compile", str(root))
    assert run.code == 1
    assert "error[NP501]" in run.err and "policyTypes" in run.err
    assert run.out == ""


# ---------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["compile", "check"])
def test_every_command_has_help_with_an_example(command):
    run = run_cli(command, "--help")
    assert run.code == 0
    assert "Examples:" in run.out and f"netpolc {command}" in run.out


def test_python_dash_m_compiler_works():
    out = subprocess.run([sys.executable, "-m", "compiler", "--help"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0
    assert "compile" in out.stdout and "check" in out.stdout


def test_shared_file_checked_alone_is_checked_where_it_is_used(write):
    root = write({"common.netpol": "use default-deny\nuse dns\n", "shop.netpol": 'namespace shop\nuse "common.netpol"\n'})
    assert run_cli("check", str(root / "common.netpol")).code == 0
    (root / "common.netpol").write_text("use default-deny\nuse dsn\n")
    run = run_cli("check", str(root / "common.netpol"))
    assert run.code == 1 and ":2:5: error[NP201]" in run.out
    (root / "orphan.netpol").write_text("deny all\n")  # used by nobody: it has no namespace at all
    run = run_cli("check", str(root / "orphan.netpol"))
    assert run.code == 1 and "orphan.netpol:1:1: error[NP200]" in run.out


def test_caret_line_counts_only_newlines_as_line_ends(write):
    root = write({"a.netpol": "namespace prod\n# a form feed \x0c here\nallow app=web to app=db:0\n"})
    run = run_cli("check", str(root))
    assert ":3:25: error[NP306]" in run.out and " 3 | allow app=web to app=db:0" in run.out
