"""`--cni` on check and compile, version selection, and `netpolc cni list/show`, as users meet them."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from compiler.cli import main as cli_main
from compiler.targets import Api, Feature, list_targets
from conftest import REPO, run_cli

RANGES = "namespace shop\ndeny ingress\nallow app=web to app=api:8000-8010\n"
PROGRAMS = {
    "ranges": RANGES,
    "egress": "namespace shop\ndeny egress\nuse dns\n",
    "three-tier": (REPO / "examples" / "three-tier" / "app.netpol").read_text(),
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Files in a git root (so no config above it is found) that is the working folder."""
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)

    def write(text: str, name: str = "a.netpol") -> str:
        (tmp_path / name).write_text(text, encoding="utf-8")
        return name

    return write


# ---------------------------------------------------------------- the "done means"


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_flannel_fails_any_program_with_a_policy(project, program):
    run = run_cli("check", "--cni", "flannel", project(PROGRAMS[program]))
    assert run.code == 1
    (finding,) = [line for line in run.out.splitlines() if "[NP6" in line]
    assert "error[NP601]: flannel enforces no NetworkPolicy at all: every policy is accepted by the API server and then ignored" in finding
    assert "help: pick a CNI that enforces NetworkPolicy" in run.out


def test_weave_fails_a_port_range_naming_the_line_and_calico_passes(project):
    name = project(RANGES)
    weave = run_cli("check", "--cni", "weave", name)
    assert weave.code == 1
    assert weave.out.startswith("a.netpol:3:1: error[NP600]: weave does not enforce endPort: only the first port of each range is allowed")
    assert " 3 | allow app=web to app=api:8000-8010" in weave.out
    assert "--expand-port-ranges" in weave.out
    calico = run_cli("check", "--cni", "calico", name)
    assert (calico.code, calico.out) == (0, "")


def test_a_fleet_must_pass_every_cni(project):
    name = project(RANGES)
    run = run_cli("check", "--cni", "calico", "--cni=weave", name)
    assert run.code == 1 and "weave does not enforce endPort" in run.out and "calico" not in run.out
    assert run_cli("check", "--cni", "calico", "--cni", "antrea", name).code == 0


def test_compile_refuses_what_a_target_would_not_enforce(project):
    name = project(RANGES)
    run = run_cli("compile", "--cni", "weave", name)
    assert (run.code, run.out) == (1, "")
    assert "a.netpol:3:1: error[NP600]" in run.err
    assert run_cli("compile", "--cni", "calico", name).code == 0


def test_compile_with_rewrites_writes_exact_single_ports(project):
    name = project("namespace shop\ndeny ingress\nuse monitoring\nallow app=web to app=api:8000-8002\n")
    run = run_cli("compile", "--cni", "weave", "--expand-port-ranges", "3", "--named-port", "metrics=9090", name)
    assert run.code == 0, run.err
    assert "info[NP605]" in run.err and "info[NP606]" in run.err
    ports = [p for doc in yaml.safe_load_all(run.out) for rule in doc["spec"].get("ingress", ()) for p in rule.get("ports", ())]
    assert sorted(p["port"] for p in ports) == [8000, 8001, 8002, 9090]


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize(
    ("spec", "code", "text"),
    [
        ("cilium@1.15", 1, "cilium 1.15 does not enforce endPort"),
        ("cilium@1.15.9", 1, "(enforced since cilium 1.16)"),
        ("cilium@1.16", 0, ""),
        ("cilium@v1.16.2", 0, ""),
        ("cilium", 0, ""),  # the newest version in the table
        ("azure-cilium@1.16", 1, "upgrade azure-cilium to 1.17 or later"),
        ("kindnet@0.23", 1, "error[NP601]: kindnet 0.23 enforces no NetworkPolicy at all"),
        ("kindnet@0.24", 0, ""),
    ],
)
def test_version_selection(project, spec, code, text):
    run = run_cli("check", "--cni", spec, project(RANGES))
    assert run.code == code and text in run.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cni", "calcio"], "netpolc: --cni calcio: unknown target `calcio`; did you mean `calico`?"),
        (["--cni", "cilium@latest"], "netpolc: --cni cilium@latest: malformed version `latest`"),
        (["--cni", "weave", "--expand-port-ranges", "1"], "netpolc: --expand-port-ranges 1: give the most ports"),
        (["--cni", "weave", "--named-port", "metrics"], "netpolc: --named-port metrics: write NAME=NUMBER"),
        (["--cni", "weave", "--named-port", "Metrics=9"], "netpolc: --named-port Metrics=9: write NAME=NUMBER"),
        (["--expand-port-ranges", "8"], "netpolc: --expand-port-ranges rewrites the manifests for target CNIs"),
    ],
)
@pytest.mark.parametrize("command", ["check", "compile"])
def test_bad_cni_options_are_usage_errors(project, command, args, message):
    run = run_cli(command, *args, project(RANGES))
    assert run.code == 2 and run.err.startswith(message) and run.out == ""


def test_check_through_typer_and_the_fast_path_agree(project):
    name = project(RANGES)
    fast = run_cli("check", "--cni", "weave", name)
    assert cli_main(["check", "--cni", "weave", name]) == fast.code == 1
    assert cli_main(["check", "--cni", "calcio", name]) == 2


def test_the_fast_path_stays_typer_free_with_cni(project):
    name = project(RANGES)
    code = (
        "import sys; from compiler.commands.check import fast_main; "
        f"rc = fast_main(['--cni', 'weave', '--expand-port-ranges', '11', {name!r}]); "
        "print(rc, 'typer' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 False"


# ---------------------------------------------------------------- netpolc cni list / show


def test_cni_list_has_one_line_per_target():
    run = run_cli("cni", "list")
    lines = run.out.splitlines()
    assert run.code == 0 and [line.split(":")[0] for line in lines] == list_targets()
    assert next(line for line in lines if line.startswith("flannel:")).endswith(
        "[15 not enforced, 0 unknown; ClusterNetworkPolicy no, ANP/BANP no]"
    )
    assert next(line for line in lines if line.startswith("calico:")).endswith("; ClusterNetworkPolicy yes, ANP/BANP no]")
    assert next(line for line in lines if line.startswith("ovn-kubernetes:")).endswith("; ClusterNetworkPolicy no, ANP/BANP yes]")


def test_cni_show_prints_every_feature_and_the_notes():
    run = run_cli("cni", "show", "weave")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0] == "weave: Weave Net (unmaintained), at 2.8.1, the newest version the table knows (pick another with weave@VERSION)"
    header = next(i for i, line in enumerate(lines) if line.startswith("feature "))
    assert lines[header].split() == ["feature", "status", "since", "consequence", "source"]
    rows = {line.split()[0]: line.split() for line in lines[header + 1 : header + 1 + len(Api.network_policy.features)]}
    assert list(rows) == [f.value for f in Api.network_policy.features]
    assert rows["end_port"][1:3] == ["ignored", "field_ignored"]
    assert rows["egress"][1:3] == ["supported", "2.4"]
    assert "Notes:" in lines and any("Unmaintained" in line for line in lines)


def test_cni_show_at_a_version():
    run = run_cli("cni", "show", "cilium@1.15")
    row = next(line for line in run.out.splitlines() if line.startswith("end_port "))
    assert run.out.startswith("cilium: Cilium, at version 1.15\n") and row.split()[1:4] == ["ignored", "1.16", "field_ignored"]
    assert next(line for line in run_cli("cni", "show", "cilium@1.16").out.splitlines() if line.startswith("end_port ")).split()[1] == "supported"


def test_cni_show_unknown_name_is_a_usage_error():
    run = run_cli("cni", "show", "calcio")
    assert run.code == 2 and "unknown target `calcio`; did you mean `calico`?" in run.err


def test_cni_help_has_examples():
    for args in (["cni", "list", "--help"], ["cni", "show", "--help"], ["check", "--help"], ["compile", "--help"]):
        run = run_cli(*args)
        assert run.code == 0 and "netpolc " in run.out.split("Example")[1], args
    assert "--cni NAME[@VERSION]" in run_cli("check", "--help").out
