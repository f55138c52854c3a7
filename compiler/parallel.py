"""Independent tasks shared with one forked helper process on a multi-core Linux machine, results in task order.

A big compile's proof is a list of independent batches. On a machine with a second core,
`share` forks a helper that starts claiming batches at once, while this process goes on
with its own work (schema checks, YAML) and then claims what is left. Both take task
numbers from one pipe (a read of a few bytes from a pipe is atomic: each number goes to
exactly one process); the helper sends back what it computed, pickled, and exits.

The result never depends on the split: `results()` is `[task(0), ..., task(count - 1)]`.
Anything the helper did not deliver (it was killed, ran out of memory, or a task raised
there) is computed again here, so a failure shows up exactly as it would without a helper.
Without fork, with one core, from a threaded process (the language server) or with
NETPOLC_JOBS=1, every task runs here, in order.
"""

from __future__ import annotations

import mmap
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable

_BOUNDS = struct.Struct("<qq")


def helper_allowed() -> bool:
    """Whether a helper process may be forked here: Linux, a second usable core, no other thread, NETPOLC_JOBS not 1."""
    if (
        os.environ.get("NETPOLC_JOBS", "").strip() == "1"
        or not sys.platform.startswith("linux")
        or not hasattr(os, "fork")
    ):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    # A fork copies only the calling thread: another thread's locks would stay held in the helper forever.
    return cores >= 2 and threading.active_count() == 1


def share(
    task: Callable[[int], object], count: int, first: Callable[[], object] | None = None
):
    """Start computing `task(0..count-1)`, in a helper process when one is allowed and there is enough work.

    `first`, when given, is the helper's own job, done before it claims any task (this process
    claims tasks from the start): `results()` then returns (first(), [task results]).
    Use as a context manager; call `results()` inside it once this process's own work is done.
    """
    if count + (first is not None) >= 2 and helper_allowed():
        return _Forked(task, count, first)
    return _Here(task, count, first)


class _Here:
    """Every task in this process, in order (no helper)."""

    helper = False

    def __init__(self, task, count: int, first=None):
        self.task, self.count, self.first = task, count, first

    def results(self):
        done = [self.task(index) for index in range(self.count)]
        return done if self.first is None else (self.first(), done)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Forked:
    helper = True

    def __init__(self, task, count: int, first=None):
        self.task, self.count, self.first = task, count, first
        # Which tasks are left: [front, back) in memory both processes map; a byte in a pipe is its lock.
        self.bounds = mmap.mmap(-1, _BOUNDS.size)
        self.bounds[:] = _BOUNDS.pack(0, count)
        self.lock_read, self.lock_write = os.pipe()
        os.write(self.lock_write, b"x")
        result_read, result_write = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # nothing buffered is written twice
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        pid = os.fork()
        if (
            pid == 0
        ):  # the helper: claim, compute, send, and leave without running anything of the parent's
            code = 1
            try:
                os.close(result_read)
                signal.signal(
                    signal.SIGINT, signal.SIG_DFL
                )  # Ctrl-C ends it quietly; the parent reports
                done = {}
                if first is not None:
                    done[-1] = first()
                while (index := self._claim(from_back=True)) is not None:
                    done[index] = task(index)
                _write_all(
                    result_write, pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL)
                )
                code = 0
            except BaseException:  # noqa: BLE001, S110 - whatever happened, the parent computes the rest itself
                pass
            finally:
                os._exit(code)
        os.close(result_write)
        self.pid, self.incoming = pid, result_read

    def _claim(self, from_back: bool) -> int | None:
        """The next task from the front (this process) or the back (the helper): each process works through
        its own end of the list, so it touches the objects of its own part of the program (fewer pages copied)."""
        os.read(self.lock_read, 1)
        try:
            front, back = _BOUNDS.unpack(self.bounds[:])
            if front >= back:
                return None
            if from_back:
                back -= 1
                index = back
            else:
                index = front
                front += 1
            self.bounds[:] = _BOUNDS.pack(front, back)
            return index
        finally:
            os.write(self.lock_write, b"x")

    def results(self):
        mine = {}
        while (index := self._claim(from_back=False)) is not None:
            mine[index] = self.task(index)
        data = _read_all(self.incoming)
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        theirs: dict = {}
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                theirs = pickle.loads(data)
            except Exception:  # noqa: BLE001 - a cut-off message: its tasks are computed here
                theirs = {}
        del data
        done = [
            mine[i] if i in mine else theirs[i] if i in theirs else self.task(i)
            for i in range(self.count)
        ]
        if self.first is None:
            return done
        return (theirs[-1] if -1 in theirs else self.first()), done

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if (
            self.pid is not None
        ):  # this process failed or was interrupted first: the helper's work is not wanted
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = None
        for fd in (self.incoming, self.lock_read, self.lock_write):
            try:
                os.close(fd)
            except OSError:
                pass
        self.bounds.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
