"""action.yml: a valid composite action whose steps, run here with bash as the runner would, call real netpolc commands."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
STEPS = ACTION["runs"]["steps"]
EXPRESSION = re.compile(r"\$\{\{\s*([\w.-]+)\s*\}\}")
GOOD = "namespace shop\nallow app=web to app=db:5432\n"


def test_structure():
    assert {"name", "description", "inputs", "runs"} <= set(ACTION)
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {"paths", "output", "cni", "strict", "sarif", "python-version", "version"}
    for name, spec in ACTION["inputs"].items():
        assert spec["description"] and "default" in spec, name
    for step in STEPS:
        assert ("uses" in step) != ("run" in step), step
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], "inputs reach scripts through env, never pasted into them"
        for value in list(step.get("env", {}).values()) + list(step.get("with", {}).values()):
            for expression in EXPRESSION.findall(str(value)):
                scope, _, name = expression.partition(".")
                assert scope in ("inputs", "github"), expression
                if scope == "inputs":
                    assert name in ACTION["inputs"], expression


def test_every_netpolc_command_and_option_exists():
    commands = []
    for step in STEPS:
        script = step.get("run", "")
        collected = re.findall(r"options\+=\(([^)]*)\)", script)  # options gathered in an array first
        for line in script.splitlines():
            for match in re.finditer(r"\bnetpolc ([a-z]+)", line):
                options = re.findall(r"(?<![\w-])--?[a-z][a-z-]*", line[match.end():] + " " + " ".join(collected))
                commands.append((match.group(1), options))
    assert {name for name, _ in commands} == {"check", "compile"}
    assert ("compile", ["--check", "-o", "--format", "--cni"]) in commands
    for name, options in commands:
        result = subprocess.run([sys.executable, "-m", "compiler", name, "--help"], capture_output=True, text=True, cwd=REPO, env={**os.environ, "COLUMNS": "200"})
        assert result.returncode == 0, name
        for option in options:
            assert re.search(rf"(^|[\s,]){re.escape(option)}\b", result.stdout, re.M), (name, option)


class Runner:
    """Runs the action's `run` steps with bash, in order, the way a GitHub runner does."""

    def __init__(self, workspace: Path, tmp_path: Path):
        self.workspace = workspace
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        shim = bin_dir / "netpolc"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m compiler "$@"\n')
        shim.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}

    def run(self, inputs: dict[str, str], skip=("install",)) -> list[tuple[str, int, str]]:
        values = {name: spec["default"] for name, spec in ACTION["inputs"].items()} | inputs
        context = {f"inputs.{k}": v for k, v in values.items()} | {"github.action_path": str(REPO)}
        done = []
        for step in STEPS:
            if "run" not in step or step.get("id") in skip:
                continue
            env = {key: EXPRESSION.sub(lambda m: context[m.group(1)], str(value)) for key, value in step.get("env", {}).items()}
            result = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=self.workspace, env={**self.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
            )
            done.append((step["id"], result.returncode, result.stdout))
            if result.returncode != 0:
                break  # later steps do not run after a failure
        return done


@pytest.fixture
def runner(write, tmp_path):
    workspace = write({"policies/shop.netpol": GOOD}, tmp_path / "workspace")
    return Runner(workspace, tmp_path)


def test_errors_become_annotations_and_sarif(runner):
    (runner.workspace / "policies" / "bad.netpol").write_text("namespace data\nallow app=web to\n")
    [(step, code, out)] = runner.run({"paths": "policies", "output": "deploy/netpol", "sarif": "netpolc.sarif"})
    assert (step, code) == ("check", 1)
    assert out.startswith("::error file=policies/bad.netpol,line=2,col=17,endLine=2,endColumn=18,title=NP100 syntax-error::")
    log = json.loads((runner.workspace / "netpolc.sarif").read_text())
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["NP100"]


def test_stale_output_fails_the_compile_step(runner):
    done = runner.run({"paths": "policies", "output": "deploy/netpol"})
    assert [(step, code) for step, code, _ in done] == [("check", 0), ("compile", 1)]
    assert "::error title=netpolc::deploy/netpol does not match the sources" in done[-1][2]


def test_up_to_date_output_with_cnis_passes(runner):
    subprocess.run(["netpolc", "compile", "policies", "-o", "deploy/netpol"], cwd=runner.workspace, env=runner.env, check=True, capture_output=True)
    done = runner.run({"paths": "policies", "output": "deploy/netpol", "cni": "calico  cilium", "strict": "true"})
    assert [(step, code) for step, code, _ in done] == [("check", 0), ("compile", 0)], done
    done = runner.run({"paths": "policies", "cni": "no-such-cni"})
    assert done[0][:2] == ("check", 2) and "no-such-cni" in done[0][2]


@pytest.mark.parametrize(
    "version, installed",
    [("", str(REPO)), ("0.2.0", "netpolc==0.2.0"), ("git+https://example.com/netpolc@main", "git+https://example.com/netpolc@main")],
)
def test_install_step_chooses_what_to_install(runner, tmp_path, version, installed):
    # A stand-in `python` records what pip would be asked to install (no network here).
    fake = tmp_path / "bin" / "python"
    fake.write_text('#!/bin/sh\necho "python $*" >> "$PIP_LOG"\n')
    fake.chmod(0o755)
    runner.env["PIP_LOG"] = str(tmp_path / "pip.log")
    step = next(s for s in STEPS if s.get("id") == "install")
    env = {"NETPOLC_VERSION": version, "ACTION_PATH": str(REPO)}
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], env={**runner.env, **env}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pip.log").read_text().split() == ["python", "-m", "pip", "install", "--disable-pip-version-check", "--quiet", installed]


def test_check_runs_once_writing_annotations_and_sarif():
    script = next(s for s in STEPS if s.get("id") == "check")["run"]
    assert len(re.findall(r"\bnetpolc check\b", script)) == 1
    assert "--sarif" in script and "--format github" in script


def test_default_paths_are_the_config_files_not_the_whole_repository(runner):
    # An old copy of the policies elsewhere in the repository: read as part of the program it breaks it.
    (runner.workspace / "v1").mkdir()
    (runner.workspace / "v1" / "old.netpol").write_text("namespace shop\nallow app=web to\n")
    (runner.workspace / "netpolc.toml").write_text('paths = ["policies"]\n')
    (step, code, out), _ = runner.run({"sarif": "netpolc.sarif"})
    assert (step, code, out) == ("check", 0, "")
    log = json.loads((runner.workspace / "netpolc.sarif").read_text())
    assert log["runs"][0]["results"] == []
    [(step, code, out)] = runner.run({"paths": "."})  # a failed check stops the job
    assert (step, code) == ("check", 1) and "file=v1/old.netpol" in out


def test_without_paths_anywhere_the_check_fails_and_says_why(runner):
    [(step, code, out)] = runner.run({"sarif": "netpolc.sarif"})
    assert (step, code) == ("check", 2)
    assert "::error title=netpolc::netpolc: nothing to check" in out and "set `paths` in netpolc.toml" in out
    log = json.loads((runner.workspace / "netpolc.sarif").read_text())
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "nothing to check" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_compile_step_reads_the_config_paths_too(runner):
    (runner.workspace / "v1").mkdir()
    (runner.workspace / "v1" / "old.netpol").write_text("namespace shop\nallow app=web to\n")
    (runner.workspace / "netpolc.toml").write_text('paths = ["policies"]\n')
    subprocess.run(["netpolc", "compile", "policies", "-o", "deploy/netpol"], cwd=runner.workspace, env=runner.env, check=True, capture_output=True)
    done = runner.run({"output": "deploy/netpol"})
    assert [(step, code) for step, code, _ in done] == [("check", 0), ("compile", 0)], done
