"""compiler/parallel.py and the build's use of it: the same results with or without a helper process, whatever happens to the helper."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from compiler import parallel, verify

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not hasattr(os, "fork"),
    reason="the helper process is Linux-only",
)


@pytest.fixture
def helper(monkeypatch):
    """A helper is forked whenever there are two tasks, on any machine (a one-core CI runner included)."""
    monkeypatch.setattr(parallel, "helper_allowed", lambda: True)


def square(index: int) -> tuple[int, int]:
    return index, index * index


def test_results_are_in_task_order_and_the_helper_did_some(helper):
    parent = os.getpid()
    with parallel.share(
        lambda i: (time.sleep(0.01), square(i), os.getpid())[1:], 40
    ) as shared:
        assert shared.helper
        done = shared.results()
    assert [value for value, _ in done] == [square(i) for i in range(40)]
    assert {pid for _, pid in done} - {parent}, "the helper computed none of the tasks"


def test_without_a_helper_everything_runs_here_in_order(monkeypatch):
    monkeypatch.setenv("NETPOLC_JOBS", "1")
    assert not parallel.helper_allowed()
    with parallel.share(square, 5) as shared:
        assert not shared.helper
        assert shared.results() == [square(i) for i in range(5)]


def test_no_helper_from_a_threaded_process(monkeypatch):
    monkeypatch.delenv("NETPOLC_JOBS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert (
            not parallel.helper_allowed()
        )  # the language server compiles off its reader thread
    finally:
        stop.set()
        thread.join()
    assert parallel.helper_allowed() == (
        sys.platform.startswith("linux") and threading.active_count() == 1
    )


def test_a_helper_that_dies_is_made_up_for_here(helper):
    """The helper is killed (out of memory, say) after its first task: every result still arrives, the same."""
    parent = os.getpid()

    def task(index):
        if os.getpid() != parent and index < 30:
            os._exit(9)
        return square(index)

    with parallel.share(task, 40) as shared:
        assert shared.results() == [square(i) for i in range(40)]


def test_a_task_that_fails_fails_here_as_without_a_helper(helper):
    def task(index):
        if index == 25:
            raise ValueError("task 25 is broken")
        return index

    with (
        pytest.raises(ValueError, match="task 25 is broken"),
        parallel.share(task, 40) as shared,
    ):
        shared.results()


def test_the_helper_is_reaped_when_this_process_fails_first(helper):
    with (
        pytest.raises(RuntimeError),
        parallel.share(lambda i: __import__("time").sleep(0.05), 40),
    ):
        raise RuntimeError("interrupted")
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, not even a zombie


def test_results_sent_before_the_helper_died_are_kept(helper):
    """The helper computes the last tasks first and sends each at once; killed later, what it sent is used, the rest made here."""
    parent = os.getpid()

    def task(index):
        here = os.getpid() == parent
        if here:
            time.sleep(0.01)  # the helper gets to its end of the list
        elif index < 35:
            os._exit(9)
        return index, here

    with parallel.share(task, 40) as shared:
        done = shared.results()
    assert [i for i, _ in done] == list(range(40))
    assert any(not here for _, here in done[35:]), "nothing the helper sent was kept"


# ------------------------------------------------------------ the build


def generated_program(tmp_path, intents: int = 400):
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location(
        "bench_compile", REPO / "bench" / "compile.py"
    )
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    tmp_path.mkdir(exist_ok=True)
    generator.generate(intents, tmp_path, seed=3, namespaces=8)
    return tmp_path


def build_both(monkeypatch, folder):
    """The same compile with a helper (batches of a few namespaces, shared) and without one."""
    from compiler.output import tree_files
    from compiler.pipeline import build
    from compiler.resolve import expand_inputs

    monkeypatch.setattr(verify, "BATCH_POLICIES", 60)
    results = []
    for allowed in (True, False):
        monkeypatch.setattr(parallel, "helper_allowed", lambda allowed=allowed: allowed)
        results.append(build(expand_inputs([str(folder)]), validate=True, render=tree_files, keep_syntax=False))
    return results


def wrong_ports(monkeypatch, port=lambda number: number + 1):
    """A NetworkPolicy backend that writes the wrong port (the proof's case) or a value off the schema."""
    from compiler.backends import networkpolicy as backend

    original = backend.port_k8s
    monkeypatch.setattr(backend, "port_k8s", lambda p: {**original(p), "port": port(p.port)} if isinstance(p.port, int) else original(p))


def test_a_build_with_a_helper_writes_the_same_bytes_and_findings(monkeypatch, tmp_path):
    shared, alone = build_both(monkeypatch, generated_program(tmp_path))
    assert shared.ok and alone.ok
    assert len(shared.rendered) == len(shared.emitted) > 300
    assert shared.rendered == alone.rendered
    assert shared.diagnostics == alone.diagnostics


def test_a_broken_backend_is_caught_the_same_with_a_helper(monkeypatch, tmp_path):
    """The proof's batches run in both processes: a backend that writes the wrong port is reported by the same NP500s, and nothing is rendered."""
    wrong_ports(monkeypatch)
    shared, alone = build_both(monkeypatch, generated_program(tmp_path))
    problems = [d for d in shared.diagnostics if d.code == "NP500"]
    assert len(problems) == verify.DIFFERENCES_SHOWN
    assert shared.diagnostics == alone.diagnostics
    assert shared.rendered is None and alone.rendered is None and not shared.emitted


def test_a_manifest_off_its_schema_is_reported_not_proven(monkeypatch, tmp_path):
    wrong_ports(monkeypatch, lambda number: "not a port at all!")
    shared, alone = build_both(monkeypatch, generated_program(tmp_path, 120))
    codes = {d.code for d in shared.diagnostics if d.is_error}
    assert codes == {"NP501"} and shared.diagnostics == alone.diagnostics


# ------------------------------------------------------------ compile -o: files written beside the proof


def tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def compile_to(monkeypatch, source, out, helper: bool):
    from conftest import run_cli

    monkeypatch.setattr(verify, "BATCH_POLICIES", 60)
    monkeypatch.setattr(parallel, "helper_allowed", lambda: helper)
    return run_cli("compile", str(source), "-o", str(out))


def test_compile_writes_the_same_tree_with_and_without_a_helper(monkeypatch, tmp_path):
    source = generated_program(tmp_path / "src")
    shared = compile_to(monkeypatch, source, tmp_path / "shared", True)
    alone = compile_to(monkeypatch, source, tmp_path / "alone", False)
    assert shared.code == alone.code == 0, shared.err + alone.err
    assert tree(tmp_path / "shared") == tree(tmp_path / "alone") and len(tree(tmp_path / "alone")) > 300
    assert shared.err.replace("shared", "alone") == alone.err
    again = compile_to(monkeypatch, source, tmp_path / "shared", True)
    assert again.code == 0 and "(0 added, 0 changed, 0 removed)" in again.err, again.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "shared", "src"]  # no staging folder left


def test_a_proof_that_fails_while_writing_changes_nothing(monkeypatch, tmp_path):
    """The files are written into the new tree as their batches are made; the proof fails in some batch: the old tree stays, byte for byte."""
    source = generated_program(tmp_path / "src")
    out = tmp_path / "out"
    assert compile_to(monkeypatch, source, out, True).code == 0
    before = tree(out)
    (source / "team-000.netpol").write_text((source / "team-000.netpol").read_text() + "allow app=new to app=db:5432\n")
    wrong_ports(monkeypatch)
    run = compile_to(monkeypatch, source, out, True)
    assert run.code == 1 and "error[NP500]" in run.err and "wrote" not in run.err
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_a_helper_that_dies_while_writing_leaves_no_half_file(monkeypatch, tmp_path):
    """The helper is killed after writing part of a batch: this process writes that batch again (over the half-written files)."""
    from compiler import output

    source = generated_program(tmp_path / "src")
    parent = os.getpid()
    original = output._write_file
    count = [0]

    def write_file(tree_fd, relative, data, before, batched, again=False):
        if os.getpid() != parent:
            count[0] += 1
            if count[0] == 20:  # in the middle of a batch: a file created and cut short, then death
                fd = os.open(relative, os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=tree_fd)
                os.write(fd, data[:10])
                (tmp_path / "helper-died").touch()
                os._exit(9)
        return original(tree_fd, relative, data, before, batched, again)

    monkeypatch.setattr(output, "_write_file", write_file)
    shared = compile_to(monkeypatch, source, tmp_path / "shared", True)
    monkeypatch.setattr(output, "_write_file", original)
    assert (tmp_path / "helper-died").exists(), "the helper never got to its 20th file"
    alone = compile_to(monkeypatch, source, tmp_path / "alone", False)
    assert shared.code == alone.code == 0, shared.err
    assert tree(tmp_path / "shared") == tree(tmp_path / "alone")
