"""The grammar and the stdlib travel inside the wheel: a plain `pip install .` must find them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory):
    """Build the wheel from this checkout (offline: no build isolation) and unpack it."""
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = out.glob("netpolc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "compiler/_data/grammar/netpol.lark" in names
    assert "compiler/_data/stdlib/dns.netpol" in names
    assert "compiler/data/codes.toml" in names
    target = out / "site"
    zipfile.ZipFile(wheel).extractall(target)
    return target


def run_from(site, cwd, *args):
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_installed_wheel_compiles_an_example_without_the_checkout(unpacked_wheel, tmp_path):
    shutil.copytree(REPO / "examples" / "storefront", tmp_path / "storefront")
    where = run_from(unpacked_wheel, tmp_path, "-c", "import compiler.paths as p; print(p.__file__); print(p.shipped_dir('stdlib'))")
    module_file, stdlib = where.stdout.split()
    assert module_file.startswith(str(unpacked_wheel)) and stdlib.startswith(str(unpacked_wheel)), where.stdout
    run = run_from(unpacked_wheel, tmp_path, "-m", "compiler", "compile", "storefront", "-o", "out")
    assert run.returncode == 0, run.stderr
    produced = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.yaml"))
    expected = sorted(p.relative_to(REPO / "examples/storefront/compiled").as_posix() for p in (REPO / "examples/storefront/compiled").rglob("*.yaml"))
    assert produced == expected
