"""The shipped pre-commit hooks, run by the real `pre-commit` in a temporary git repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

GOOD = "namespace shop\nallow app=web to app=db:5432\n"
BAD = "namespace shop\nallow app=web to\n"
MANIFEST = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
HOOKS = {hook["id"]: hook for hook in MANIFEST}


def pre_commit_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version("pre-commit").split(".")[:2])


@pytest.fixture
def repo(tmp_path):
    """A git repository whose PATH finds `netpolc` = this checkout, and a private pre-commit cache."""
    root = tmp_path / "repo"
    root.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "netpolc"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m compiler "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }

    def sh(*args: str, check: bool = False) -> subprocess.CompletedProcess:
        if args[0] == "pre-commit":  # the one installed beside these tests, whether or not its script is on PATH
            args = (sys.executable, "-m", "pre_commit", *args[1:])
        # One stream, as a terminal shows it (git prints the hooks' output on stderr).
        result = subprocess.run(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if check:
            assert result.returncode == 0, result.stdout
        return result

    sh("git", "init", "-q", "-b", "main", check=True)
    return root, sh


def local_config(root: Path, hooks: list[dict]) -> None:
    """The shipped hook definitions as a `repo: local` config; only the language differs.

    `language: python` makes pre-commit pip-install netpolc into a fresh virtualenv,
    which needs the package index; a local hook runs the `netpolc` on PATH (this
    checkout) and keeps this test offline. `test_try_repo_with_the_shipped_manifest`
    covers the python language itself.
    """
    language = "unsupported" if pre_commit_version() >= (4, 4) else "system"
    entries = [{**HOOKS[override["id"]], **override, "language": language} for override in hooks]
    config = {"repos": [{"repo": "local", "hooks": entries}]}
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def test_manifest_declares_the_three_hooks():
    assert list(HOOKS) == ["netpolc-check", "netpolc-fmt", "netpolc-compile"]
    for hook in MANIFEST:
        assert hook["language"] == "python"
        assert hook["files"] == r"\.netpol$"
        assert hook["entry"].split()[0] == "netpolc"
    assert HOOKS["netpolc-compile"]["pass_filenames"] is False
    assert HOOKS["netpolc-compile"]["entry"] == "netpolc compile --check"


def test_check_hook_blocks_a_commit_with_an_error(repo):
    root, sh = repo
    local_config(root, [{"id": "netpolc-check"}])
    (root / "good.netpol").write_text(GOOD)
    (root / "notes.txt").write_text("not a policy\n")
    sh("pre-commit", "install", check=True)
    sh("git", "add", ".", check=True)
    result = sh("git", "commit", "-m", "good")
    assert result.returncode == 0, result.stdout
    assert "netpolc check" in result.stdout and "Passed" in result.stdout

    (root / "bad.netpol").write_text(BAD)
    sh("git", "add", "bad.netpol", check=True)
    result = sh("git", "commit", "-m", "bad")
    assert result.returncode == 1
    assert "Failed" in result.stdout
    assert "bad.netpol:2:17: error[NP100]: the line ends too early" in result.stdout
    assert sh("git", "log", "--format=%s").stdout.split() == ["good"]

    (root / "bad.netpol").write_text(GOOD.replace("shop", "other"))
    sh("git", "add", "bad.netpol", check=True)
    assert sh("git", "commit", "-m", "fixed").returncode == 0


def test_check_hook_on_a_project_with_shared_files(repo):
    """A shared file has no namespace of its own: changed alone, it is checked where it is used."""
    root, sh = repo
    (root / "common.netpol").write_text("use dns\n")  # only ever used by other files
    (root / "shop.netpol").write_text('namespace shop\nuse "common.netpol"\n' + GOOD.split("\n", 1)[1])
    sh("git", "add", ".", check=True)
    sh("git", "commit", "-q", "--no-verify", "-m", "project", check=True)
    local_config(root, [{"id": "netpolc-check"}])  # default: the changed files only

    (root / "common.netpol").write_text("use dns\nuse same-namespace\n")
    sh("git", "add", "common.netpol", check=True)
    result = sh("pre-commit", "run")
    assert result.returncode == 0, result.stdout

    (root / "common.netpol").write_text("use dns\nuse same-namespcae\n")
    sh("git", "add", "common.netpol", check=True)
    result = sh("pre-commit", "run")
    assert result.returncode == 1
    assert "common.netpol:2:5: error[NP201]: no stdlib module `same-namespcae`" in result.stdout


def test_fmt_hook_rewrites_and_fails_once(repo):
    root, sh = repo
    local_config(root, [{"id": "netpolc-fmt"}])
    messy = root / "shop.netpol"
    messy.write_text("namespace   shop\nallow  tier=x,app=web to any\n\n\n")
    sh("git", "add", ".", check=True)
    result = sh("pre-commit", "run", "--all-files")
    assert result.returncode == 1
    assert "files were modified by this hook" in result.stdout
    assert messy.read_text() == "namespace shop\nallow app=web,tier=x to any\n"
    sh("git", "add", ".", check=True)
    assert sh("pre-commit", "run", "--all-files").returncode == 0


def test_compile_hook_fails_when_the_output_is_stale(repo):
    root, sh = repo
    local_config(root, [{"id": "netpolc-compile", "args": ["policies", "-o", "deploy/netpol"]}])
    policies = root / "policies"
    policies.mkdir()
    (policies / "shop.netpol").write_text(GOOD)
    sh("git", "add", ".", check=True)
    result = sh("pre-commit", "run", "--all-files")
    assert result.returncode == 1
    assert "deploy/netpol is stale" in result.stdout

    sh("netpolc", "compile", "policies", "-o", "deploy/netpol", check=True)
    sh("git", "add", ".", check=True)
    result = sh("pre-commit", "run", "--all-files")
    assert result.returncode == 0, result.stdout
    assert "up to date" not in result.stdout  # pre-commit shows a passing hook's output only with -v


def test_try_repo_with_the_shipped_manifest(repo):
    """`pre-commit try-repo` on this checkout: the real `language: python` install (pip needs the package index)."""
    root, sh = repo
    (root / "good.netpol").write_text(GOOD)
    (root / "bad.netpol").write_text(BAD)
    sh("git", "add", ".", check=True)
    result = sh("pre-commit", "try-repo", str(REPO), "netpolc-check", "--files", "good.netpol")
    if result.returncode != 0 and "Installing environment" in result.stdout and "netpolc check" not in result.stdout:
        log = root.parent / "cache" / "pre-commit.log"
        details = log.read_text() if log.exists() else result.stdout
        if any(word in details for word in ("Could not find a version", "No matching distribution", "NewConnectionError", "Network is unreachable")):
            pytest.skip("pre-commit's python environment needs the package index, which is not reachable")
    assert result.returncode == 0, result.stdout
    assert "netpolc check" in result.stdout and "Passed" in result.stdout
    result = sh("pre-commit", "try-repo", str(REPO), "netpolc-check", "--files", "bad.netpol")
    assert result.returncode == 1
    assert "bad.netpol:2:17: error[NP100]" in result.stdout
