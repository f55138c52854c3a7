"""The README's Neovim snippet for the installed Neovim, run headless against the real server (skipped without `nvim`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

README = (REPO / "README.md").read_text("utf-8")
HEADINGS = {"0.11": "Neovim 0.11 and later:", "0.8": "Neovim 0.8 to 0.10", "0.7": "Neovim 0.7 ("}


def snippet(heading: str) -> str:
    start = README.index(heading)
    match = re.compile(r"```lua\n(.*?)```", re.S).search(README, start)
    assert match, heading
    return match.group(1)


def test_the_readme_has_a_snippet_per_neovim_api():
    assert 'vim.lsp.config("netpolc"' in snippet(HEADINGS["0.11"])
    assert "vim.lsp.start({" in snippet(HEADINGS["0.8"])
    assert "vim.lsp.start_client(" in snippet(HEADINGS["0.7"])


def nvim_version() -> tuple[int, int] | None:
    if shutil.which("nvim") is None:
        return None
    out = subprocess.run(["nvim", "--version"], capture_output=True, text=True, timeout=30).stdout
    match = re.search(r"NVIM v(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


# After the snippet: wait for the server's diagnostics of the opened buffer, write them out, quit.
PROBE = r"""
vim.api.nvim_create_autocmd("VimEnter", { callback = function()
  local ok = vim.wait(20000, function() return #vim.diagnostic.get(0) > 0 end, 100)
  local lines = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(lines, string.format("%d:%d:%s:%s", d.lnum + 1, d.col + 1, tostring(d.code), (d.message:gsub("\n.*", ""))))
  end
  for _, client in pairs(vim.lsp.get_active_clients()) do table.insert(lines, "root=" .. tostring(client.config.root_dir)) end
  if not ok then lines = { "timeout" } end
  vim.fn.writefile(lines, os.getenv("NETPOLC_PROBE_OUT"))
  vim.cmd("qa!")
end })
"""


@pytest.mark.skipif(nvim_version() is None, reason="nvim is not installed")
def test_the_snippet_for_the_installed_neovim_gets_diagnostics_from_the_server(tmp_path):
    major, minor = nvim_version()
    heading = HEADINGS["0.11"] if (major, minor) >= (0, 11) else HEADINGS["0.8"] if (major, minor) >= (0, 8) else HEADINGS["0.7"]
    project = tmp_path / "project"
    (project / "policies").mkdir(parents=True)
    (project / "netpolc.toml").write_text("")
    (project / "policies" / "shop.netpol").write_text("namespace shop\nallow app=web to app=db:99999\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "netpolc").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m compiler "$@"\n')
    (bin_dir / "netpolc").chmod(0o755)
    init = tmp_path / "init.lua"
    init.write_text(snippet(heading) + PROBE)
    out = tmp_path / "diagnostics.txt"
    env = {
        **os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO),
        "NETPOLC_PROBE_OUT": str(out), "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        ["nvim", "--headless", "-n", "-i", "NONE", "-u", str(init), "policies/shop.netpol"],
        cwd=project, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert out.exists(), done.stderr
    lines = out.read_text().splitlines()
    # the position the server sent, and the client started in the project folder the snippet found
    assert lines == ["2:25:NP306:port 99999 is out of range", f"root={project.resolve()}"], (lines, done.stderr)
