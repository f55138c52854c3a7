"""The project config file: where it is found, what it may say, and every mistake at its line."""

from __future__ import annotations

import json

import pytest

from compiler.capabilities import MAX_EXPAND
from compiler.config import discover, find
from conftest import REPO, run_cli

PROGRAM = "namespace shop\ndeny ingress\nallow app=web to app=api:8000-8010\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (a git root, so the search stops there) as the working folder."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    (root / "policies").mkdir()
    (root / "policies" / "shop.netpol").write_text(PROGRAM)
    monkeypatch.chdir(root)

    def write(name: str, text: str):
        (root / name).write_text(text, encoding="utf-8")
        return root

    return write


def config_codes(text: str, name: str = "netpolc.toml", project=None) -> list[tuple[str, int, int]]:
    project(name, text)
    _, diagnostics = discover()
    return sorted((d.code, d.span.line, d.span.column) for d in diagnostics)


# ---------------------------------------------------------------- finding the file


def test_found_from_a_subfolder_and_stops_at_the_git_root(tmp_path):
    outer = tmp_path / "outer"
    (outer / "repo" / ".git").mkdir(parents=True)
    (outer / "repo" / "a" / "b").mkdir(parents=True)
    (outer / "netpolc.toml").write_text('cni = ["weave"]\n')  # above the git root: not ours
    assert find(outer / "repo" / "a" / "b") is None
    (outer / "repo" / "netpolc.toml").write_text('cni = ["calico"]\n')
    assert find(outer / "repo" / "a" / "b") == (outer / "repo" / "netpolc.toml", ())


def test_pyproject_counts_only_with_a_tool_netpolc_table(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "pyproject.toml").write_text('[project]\nname = "netpolc-user"\n')
    (tmp_path / "pyproject.toml").write_text('[tool.netpolc]\ncni = ["calico"]\n')
    assert find(tmp_path / "sub") == (tmp_path / "pyproject.toml", ("tool", "netpolc"))
    (tmp_path / "netpolc.toml").write_text('cni = ["weave"]\n')
    assert find(tmp_path) == (tmp_path / "netpolc.toml", ())  # netpolc.toml wins in one folder


def test_this_repository_has_no_config():
    assert find(REPO) is None


def test_schema_bounds_match_the_command_line():
    schema = json.loads((REPO / "compiler" / "data" / "config.schema.json").read_text())
    assert schema["properties"]["expand-port-ranges"]["maximum"] == MAX_EXPAND
    assert list(schema["properties"]) == ["cni", "pod-cidrs", "expand-port-ranges", "named-ports", "ignore", "paths", "output"]


def test_a_valid_config_is_read(project):
    project("netpolc.toml", '# fleet\ncni = ["calico", "cilium@1.15"]\npod-cidrs = ["10.244.0.0/16"]\n'
            "expand-port-ranges = 16\n\n[named-ports]\nmetrics = 9090\n")
    config, diagnostics = discover()
    assert diagnostics == []
    assert (config.cni, config.pod_cidrs, config.expand_port_ranges, config.named_ports) == (
        ("calico", "cilium@1.15"), ("10.244.0.0/16",), 16, {"metrics": 9090})
    assert (config.spans["pod-cidrs"].line, config.spans["named-ports"].line) == (3, 6)


# ---------------------------------------------------------------- every mistake at its line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('cni = ["calico"]\ncnis = ["weave"]\n', [("NP801", 2, 1)]),
        ('cni = "calico"\n', [("NP802", 1, 1)]),
        ('cni = ["calico", 3]\n', [("NP802", 1, 18)]),
        ('cni = ["calico", "calico"]\n', [("NP802", 1, 1)]),
        ('cni = [\n  "calico",\n  "calcio",\n]\n', [("NP803", 3, 3)]),
        ('cni = ["cilium@latest"]\n', [("NP803", 1, 8)]),
        ('pod-cidrs = ["10.244.0.0/16", "10.1.1.1/8"]\n', [("NP802", 1, 31)]),
        ("expand-port-ranges = 1000\n", [("NP802", 1, 1)]),
        ("expand-port-ranges = true\n", [("NP802", 1, 1)]),
        ("\n[named-ports]\nmetrics = 9090\nMetrics = 1\nweb = \"x\"\n", [("NP802", 4, 1), ("NP802", 5, 1)]),
        ("named-ports = { metrics = 0 }\n", [("NP802", 1, 17)]),
        ('cni = ["calico"\n', [("NP800", 1, 16)]),
        ("cni = [calico]\n", [("NP800", 1, 8)]),
    ],
    ids=["unknown-key", "not-a-list", "not-a-string", "twice", "unknown-cni", "bad-version", "bad-cidr",
         "too-many", "bool", "port-names", "inline-table", "unclosed", "unquoted"],
)
def test_config_errors_name_the_key_and_its_line(project, text, expected):
    assert config_codes(text, project=project) == expected


def test_messages_say_what_is_wrong_and_what_to_write(project):
    project("netpolc.toml", 'cnis = ["weave"]\nexpand-port-ranges = 1000\ncni = ["calcio"]\n')
    _, diagnostics = discover()
    by_code = {d.code: d for d in diagnostics}
    assert by_code["NP801"].message == "unknown key `cnis` in the config file"
    assert by_code["NP801"].hint.startswith("did you mean `cni`?")
    assert by_code["NP802"].message == "`expand-port-ranges`: 1000 is greater than the maximum of 256"
    assert "2 to 256" in by_code["NP802"].hint
    assert by_code["NP803"].message == "`cni`: unknown target `calcio`" and "did you mean `calico`?" in by_code["NP803"].hint


def test_pyproject_errors_point_into_the_pyproject_file(project):
    text = '[project]\nname = "x"\n\n[tool.netpolc]\ncni = ["weave"]\nexpand_port_ranges = 8\n'
    assert config_codes(text, "pyproject.toml", project=project) == [("NP801", 6, 1)]


def test_an_unreadable_config_is_a_diagnostic(project, tmp_path):
    (tmp_path / "project" / "netpolc.toml").write_bytes(b"cni = [\xff]\n")
    _, diagnostics = discover()
    assert [(d.code, d.span.line) for d in diagnostics] == [("NP804", 1)]
    assert "UTF-8" in diagnostics[0].message


# ---------------------------------------------------------------- through the command line


def test_check_with_a_bad_config_exits_1_showing_the_line(project):
    project("netpolc.toml", "cni = [\"calico\"]\nexpand-port-range = 8\n")
    run = run_cli("check", "policies")
    assert run.code == 1
    assert run.out.startswith("netpolc.toml:2:1: error[NP801]: unknown key `expand-port-range` in the config file\n")
    assert " 2 | expand-port-range = 8" in run.out and "did you mean `expand-port-ranges`?" in run.out


def test_compile_with_a_bad_config_writes_nothing(project):
    project("netpolc.toml", 'cni = ["calcio"]\n')
    run = run_cli("compile", "policies")
    assert (run.code, run.out) == (1, "")
    assert "netpolc.toml:1:8: error[NP803]" in run.err


def test_the_config_cni_list_is_checked_and_the_command_line_replaces_it(project):
    project("netpolc.toml", 'cni = ["calico", "weave"]\n')
    run = run_cli("check", "policies")
    assert run.code == 1 and "policies/shop.netpol:3:1: error[NP600]: weave does not enforce endPort" in run.out
    assert "calico" not in run.out
    assert run_cli("check", "--cni", "calico", "policies").code == 0


def test_config_rewrites_apply_and_command_line_values_win(project):
    project("netpolc.toml", 'cni = ["weave"]\nexpand-port-ranges = 4\n')
    assert run_cli("check", "policies").code == 1  # 11 ports: more than 4
    run = run_cli("check", "--expand-port-ranges", "11", "policies")
    assert run.code == 0 and "info[NP605]: port range 8000-8010 is written as 11 single ports" in run.out


def test_pod_cidr_warning_points_at_the_config(project):
    project("netpolc.toml", 'cni = ["cilium"]\npod-cidrs = ["10.244.0.0/16"]\n')
    (project("x", "") / "policies" / "shop.netpol").write_text("namespace shop\ndeny egress\nallow any to 10.0.0.0/8:443\n")
    run = run_cli("check", "policies")
    assert run.code == 0 and "policies/shop.netpol:3:1: warning[NP604]: ipBlock 10.0.0.0/8 overlaps" in run.out
    assert "note: pod CIDRs declared here at netpolc.toml:2:1" in run.out
    assert run_cli("check", "--strict", "policies").code == 1


CONFIGS = [
    {}, {"cni": ["calico"]}, {"cni": ["calico", "calico"]}, {"cni": "calico"}, {"cni": []}, {"cni": [""]},
    {"ignore": ["NP404"]}, {"ignore": ["np404"]}, {"ignore": [404]}, {"paths": ["policies"]}, {"paths": []},
    {"output": "deploy/netpol"}, {"output": 3}, {"expand-port-ranges": 16}, {"expand-port-ranges": 1},
    {"expand-port-ranges": 10**6}, {"expand-port-ranges": "16"}, {"expand-port-ranges": True},
    {"named-ports": {"metrics": 9090}}, {"named-ports": {"Metrics": 9090}}, {"named-ports": {"metrics": 0}},
    {"named-ports": {"metrics": "9090"}}, {"named-ports": {"a" * 16: 80}}, {"pod-cidrs": ["10.0.0.0/8"]},
    {"pod-cidrs": "10.0.0.0/8"}, {"unknown": 1}, {"cni": ["calico"], "extra": {"x": [1]}},
]


@pytest.mark.parametrize("data", CONFIGS, ids=repr)
def test_the_fast_config_check_agrees_with_jsonschema(data):
    """Valid configs skip jsonschema (its import is 50 ms of every run): both must judge every config alike."""
    from compiler import config

    schema, validator = config._validator()
    assert config._fast_validator()(data) == validator.is_valid(data)
