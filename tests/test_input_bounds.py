"""Every input is bounded before it is read: only regular files, at most the limit, and a folder walk stays in its folder.

FIFOs, devices and endless standard input run in a real process with a timeout, so that a
regression fails instead of hanging the suite; the 3 GiB sparse file runs under an address
space limit far below its size, so reading it whole cannot pass.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli

GOOD = "namespace shop\ndeny ingress\nallow app=web to app=db:5432\n"
TIMEOUT = 60


def netpolc(*args: str, cwd: Path | None = None, stdin=None, memory: int | None = None) -> subprocess.CompletedProcess:
    """`python -m compiler ARGS` in its own process; `memory` caps its address space (bytes)."""

    def cap():
        if memory is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "compiler", *args], cwd=cwd or REPO, stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True, text=True, timeout=TIMEOUT, env=env, preexec_fn=cap,
    )


def assert_refused(result, path: str, words: str, code: str = "NP103", exit_code: int = 2) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == exit_code, output
    assert f"{path}:1:1: error[{code}]" in output, output
    assert words in output, output
    assert "Traceback" not in output and "internal error" not in output


# ---------------------------------------------------------------- not a regular file


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.netpol"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [["check"], ["compile"], ["test"], ["graph"], ["fmt"], ["fmt", "--check"]])
def test_a_fifo_is_refused_without_blocking(fifo, command):
    # Nobody ever writes to the FIFO: an open() that waits for a writer hangs until the timeout.
    assert_refused(netpolc(*command, str(fifo)), str(fifo), "named pipe (FIFO)")


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_directly_and_through_a_symlink(tmp_path, target):
    if not os.path.exists(target):
        pytest.skip(f"no {target} here")
    assert_refused(netpolc("check", target), target, "character device")
    link = tmp_path / "zero.netpol"
    link.symlink_to(target)
    assert_refused(netpolc("check", str(link)), str(link), "character device")
    assert_refused(netpolc("fmt", str(link)), str(link), "character device")


def test_a_sparse_3_gib_file_is_refused_by_its_size_with_little_memory(tmp_path):
    path = tmp_path / "huge.netpol"
    with open(path, "wb") as handle:
        handle.truncate(3 * 1024**3)  # sparse: no disk used
    started = time.monotonic()
    result = netpolc("check", str(path), memory=1024**3)  # reading it whole would need 3 GiB
    assert_refused(result, str(path), "file is 3,221,225,472 bytes, more than the 2,097,152 bytes")
    assert time.monotonic() - started < 30


def test_a_folder_input_holding_a_fifo_and_a_device_link_reports_each_and_checks_the_rest(tmp_path, fifo):
    (tmp_path / "good.netpol").write_text(GOOD)
    (tmp_path / "zero.netpol").symlink_to("/dev/zero")
    result = netpolc("check", str(tmp_path))
    assert_refused(result, str(fifo), "named pipe (FIFO)")
    assert f"{tmp_path}/zero.netpol:1:1: error[NP203]: symlink to `/dev/zero` leads out of the folder" in result.stdout
    assert result.stdout.count("error[") == 2  # good.netpol was read and is fine


def test_use_of_a_fifo_or_device_is_refused_at_the_use_line(tmp_path):
    os.mkfifo(tmp_path / "pipe.netpol")
    (tmp_path / "zero.netpol").symlink_to("/dev/zero")
    main = tmp_path / "main.netpol"
    main.write_text('namespace shop\nuse "pipe.netpol"\nuse "zero.netpol"\ndeny all\n')
    result = netpolc("check", str(main))
    assert result.returncode == 2, result.stdout
    assert f"{main}:2:5: error[NP103]: {tmp_path}/pipe.netpol: is a named pipe (FIFO)" in result.stdout
    assert f"{main}:3:5: error[NP203]: `use \"zero.netpol\"` leaves the project folder" in result.stdout  # it leads to /dev


def test_use_of_a_folder_says_it_is_a_folder(write):
    root = write({"main.netpol": 'namespace shop\nuse "shared"\n', "shared/a.netpol": "deny all\n"})
    run = run_cli("check", str(root / "main.netpol"))
    assert run.code == 1
    assert ':2:5: error[NP202]: "shared" is a folder, not a file' in run.out


@pytest.mark.parametrize("command", ["check", "compile", "test"])
def test_use_of_a_name_too_long_for_the_file_system_is_a_diagnostic(write, command):
    """Found by the fuzzer: a path component longer than the file system allows (ENAMETOOLONG) made `use` raise."""
    long = "9" * 300
    root = write({"main.netpol": f'namespace shop\nuse "{long}.netpol"\nuse {long}\ndeny all\n'})
    run = run_cli(command, str(root / "main.netpol"))
    assert run.code == 1, run.out + run.err
    said = run.out + run.err
    assert ':2:5: error[NP202]: "' + "9" * 57 + '..." cannot be looked up: file name too long' in said
    assert ":3:5: error[NP201]: no stdlib module `" + "9" * 57 + "...`" in said
    assert "internal error" not in said and "Traceback" not in said


def test_a_loop_of_links_is_a_diagnostic_wherever_it_is_named(write):
    """A link to itself: Python 3.11's Path.resolve raises RuntimeError on it; every command reports it instead."""
    root = write({"main.netpol": 'namespace shop\nuse "loop"\ndeny all\n', "ok.netpol": "namespace shop\ndeny all\n"})
    (root / "loop").symlink_to("loop")
    used = run_cli("check", str(root / "main.netpol"))
    assert used.code == 1 and ':2:5: error[NP202]: "loop" cannot be looked up: too many levels of symbolic links' in used.out
    named = run_cli("check", str(root / "loop"))
    assert named.code == 2 and "error[NP103]: cannot be read: Too many levels of symbolic links" in named.out + named.err
    written = run_cli("compile", str(root / "ok.netpol"), "-o", str(root / "loop"))
    assert written.code == 1 and "error[NP503]" in written.err and "which is not a folder" in written.err
    for run in (used, named, written):
        assert "internal error" not in run.out + run.err


def test_a_file_argument_that_is_a_folder_inside_a_folder_walk_is_walked(write):
    # A folder named like a .netpol file is a folder: its files are read, it is not refused.
    root = write({"odd.netpol/inner.netpol": GOOD})
    run = run_cli("check", str(root))
    assert run.code == 0, run.out


# ---------------------------------------------------------------- standard input


@pytest.mark.parametrize("command", [["check", "--stdin"], ["fmt", "-"]])
def test_endless_standard_input_is_refused_after_the_limit(command):
    with open("/dev/zero", "rb") as zero:
        result = netpolc(*command, stdin=zero, memory=1024**3)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "<stdin>:1:1: error[NP103]: standard input: more than the 2,097,152 bytes" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", [["check", "--stdin"], ["fmt", "-"]])
def test_standard_input_over_the_limit_and_binary_get_NP103(command):
    big = run_cli(*command, stdin="# " + "x" * (2 * 1024 * 1024))
    assert big.code == 2 and "error[NP103]: standard input: more than" in big.out + big.err
    binary = run_cli(*command, stdin="namespace a\x00\n")
    assert binary.code == 2 and "error[NP103]: standard input: file is binary" in binary.out + binary.err


def test_standard_input_at_the_limit_is_read():
    text = "namespace shop\ndeny ingress\n"
    text += "#" * (2 * 1024 * 1024 - len(text) - 1) + "\n"
    assert len(text.encode()) == 2 * 1024 * 1024
    assert run_cli("check", "--stdin", stdin=text).code == 0


# ---------------------------------------------------------------- config files


@pytest.fixture
def project(tmp_path):
    (tmp_path / ".git").mkdir()  # the config search stops here
    (tmp_path / "a.netpol").write_text(GOOD)
    return tmp_path


def test_a_config_file_that_is_a_fifo_is_refused_not_skipped(project):
    os.mkfifo(project / "netpolc.toml")
    result = netpolc("check", "a.netpol", cwd=project)
    # Skipping it would check without the CNIs it may name: refused instead (NP804, exit 1 like every config problem).
    assert_refused(result, "netpolc.toml", "named pipe (FIFO)", code="NP804", exit_code=1)


def test_a_huge_sparse_pyproject_is_refused_by_its_size(project):
    with open(project / "pyproject.toml", "wb") as handle:
        handle.truncate(3 * 1024**3)
    result = netpolc("check", "a.netpol", cwd=project, memory=1024**3)
    assert_refused(result, "pyproject.toml", "3,221,225,472 bytes", code="NP804", exit_code=1)


def test_a_pyproject_without_netpolc_is_still_ignored(project):
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert netpolc("check", "a.netpol", cwd=project).returncode == 0


def test_a_config_integer_of_5000_digits_is_a_diagnostic(project):
    (project / "netpolc.toml").write_text(f'cni = ["calico"]\nexpand-port-ranges = {"9" * 5000}\n')
    result = netpolc("check", "a.netpol", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "netpolc.toml:2:22: error[NP800]: config file is not valid TOML: a number of 5,000 digits is too long to read" in result.stdout
    assert "Traceback" not in result.stderr and max(map(len, result.stdout.splitlines())) < 200


# ---------------------------------------------------------------- symlinks in a folder input


@pytest.fixture
def linked(tmp_path):
    """proj/ with its own file, a link to a file outside, a link to a folder outside, a link to its own sub-folder."""
    outside = tmp_path / "elsewhere"
    (outside / "more").mkdir(parents=True)
    (outside / "theirs.netpol").write_text("namespace theirs\ndeny   all\n")
    (outside / "more" / "deep.netpol").write_text("namespace deep\ndeny all\n")
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "sub" / "own.netpol").write_text(GOOD)
    (proj / "theirs.netpol").symlink_to("../elsewhere/theirs.netpol")
    (proj / "more").symlink_to("../elsewhere/more")
    (proj / "same").symlink_to("sub")
    (proj / "loop").symlink_to(".")
    return proj


def test_a_folder_walk_refuses_symlinks_leading_out_at_their_path(linked):
    run = run_cli("check", str(linked))
    assert run.code == 1, run.out
    assert f"{linked}/more:1:1: error[NP203]: symlink to `../elsewhere/more` leads out of the folder" in run.out
    assert f"{linked}/theirs.netpol:1:1: error[NP203]: symlink to `../elsewhere/theirs.netpol` leads out of the folder" in run.out
    assert run.out.count("error[") == 2  # the link to its own sub-folder and the loop are fine, read once


def test_a_folder_walk_follows_a_symlink_that_stays_inside_once(write, tmp_path):
    root = write({"sub/own.netpol": GOOD})
    (root / "same").symlink_to("sub")
    (root / "loop").symlink_to(".")
    run = run_cli("compile", str(root))
    assert run.code == 0, run.err
    assert run.out.count("kind: NetworkPolicy") == 2  # deny ingress + the allow: not twice


def test_a_symlink_out_of_the_folder_is_never_rewritten_by_fmt(linked):
    target = linked.parent / "elsewhere" / "theirs.netpol"
    before = target.read_bytes()
    run = run_cli("fmt", str(linked))
    assert run.code == 1
    assert f"{linked}/theirs.netpol:1:1: error[NP203]" in run.err
    assert target.read_bytes() == before  # "deny   all" would be reformatted if it were followed


def test_a_symlinked_file_given_by_name_is_read(linked):
    # Named on the command line, the link is the user's choice: no folder rule applies.
    run = run_cli("check", str(linked / "theirs.netpol"))
    assert run.code == 0, run.out


# ---------------------------------------------------------------- files that vanish


def test_a_file_listed_but_gone_when_read_is_NP103_and_the_others_are_read(write):
    root = write({"a.netpol": GOOD, "b.netpol": "namespace  other\ndeny all\n"})
    (root / "gone.netpol").symlink_to("deleted.netpol")  # listed by the walk, missing when opened
    check = run_cli("check", str(root))
    assert check.code == 2 and f"{root}/gone.netpol:1:1: error[NP103]: no such file" in check.out
    fmt = run_cli("fmt", str(root))
    assert fmt.code == 2 and f"{root}/gone.netpol:1:1: error[NP103]: no such file" in fmt.err
    assert (root / "b.netpol").read_text() == "namespace other\ndeny all\n"  # formatted all the same


def test_fmt_of_a_folder_whose_files_are_deleted_meanwhile_reports_them_and_goes_on(tmp_path):
    """The race of the issue: sub-folders deleted and made again while `fmt DIR` walks and reads them.

    Before the fix, 3 runs in 5 ended in an internal FileNotFoundError (a folder listed, then
    gone when it was entered); now a vanished file is NP103 and the others are formatted.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for attempt in range(3):
        root = tmp_path / f"run{attempt}"
        folders = []
        for i in range(1000):
            folder = root / f"s{i}"
            folder.mkdir(parents=True)
            (folder / "f.netpol").write_text(f"namespace n{i}\ndeny all\n")  # formatted: the run reads, not fsyncs
            folders.append(folder)
        process = subprocess.Popen([sys.executable, "-m", "compiler", "fmt", str(root)], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def churn(rng=random.Random(attempt)):
            while process.poll() is None:
                folder = rng.choice(folders)
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(exist_ok=True)
                (folder / "f.netpol").write_text("namespace again\ndeny all\n")

        worker = threading.Thread(target=churn)
        worker.start()
        out, err = process.communicate(timeout=TIMEOUT)
        worker.join()
        assert "Traceback" not in err and "internal error" not in err, err[-2000:]
        refused = [line for line in err.splitlines() if "error[" in line]
        assert all("error[NP103]: no such file" in line for line in refused), refused[:5]
        assert process.returncode == (2 if refused or "cannot write" in err else 0), err[-2000:]
        assert err.splitlines()[-1].startswith("0 files reformatted, ")
