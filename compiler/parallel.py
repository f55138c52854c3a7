"""Independent tasks shared with one forked helper process on a multi-core Linux machine, results in task order.

A big compile's last stages (schema check, YAML, proof) run in batches of namespaces that do
not depend on each other. Where a second core is free, `share` forks a helper: this process
works through the batches from the first, the helper from the last, until they meet (each
touches the objects of its own end of the program, so fewer of the pages they share are
copied). The helper sends each result as soon as it has it, pickled, and a thread here
receives it, so neither process holds the other's results twice.

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

_BOUNDS = struct.Struct("<qq")  # the tasks left: [front, back)
_FRAME = struct.Struct("<qq")  # a result: task number, length of its pickle


def helper_allowed() -> bool:
    """Whether a helper process may be forked here: Linux, a second usable core, no other thread, NETPOLC_JOBS not 1."""
    if os.environ.get("NETPOLC_JOBS", "").strip() == "1" or not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    # A fork copies only the calling thread: another thread's locks would stay held in the helper forever.
    return cores >= 2 and threading.active_count() == 1


def share(task: Callable[[int], object], count: int):
    """Start computing `task(0..count-1)`, in a helper process too when one is allowed and there are two tasks or more.

    Use as a context manager; `results()` inside it computes this process's share and collects the helper's.
    """
    if count >= 2 and helper_allowed():
        return _Forked(task, count)
    return _Here(task, count)


class _Here:
    """Every task in this process, in order (no helper)."""

    helper = False

    def __init__(self, task, count: int):
        self.task, self.count = task, count

    def results(self) -> list:
        return [self.task(index) for index in range(self.count)]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class _Forked:
    helper = True

    def __init__(self, task, count: int):
        self.task, self.count = task, count
        self.bounds = mmap.mmap(-1, _BOUNDS.size)  # shared with the helper; a byte in a pipe is its lock
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
        if pid == 0:
            os.close(result_read)
            self._help(result_write)  # never returns
        os.close(result_write)
        self.pid, self.incoming, self.received = pid, result_read, {}
        self.receiver = threading.Thread(target=self._receive, name="netpolc-helper-results", daemon=True)
        self.receiver.start()

    def _help(self, out: int) -> None:
        """The helper: claim from the back, compute, send each result, and leave without running anything of the parent's."""
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it quietly; the parent reports
            while (index := self._claim(from_back=True)) is not None:
                data = pickle.dumps(self.task(index), protocol=pickle.HIGHEST_PROTOCOL)
                _write_all(out, _FRAME.pack(index, len(data)) + data)
                del data
            code = 0
        except BaseException:  # noqa: BLE001, S110 - whatever happened, the parent computes the rest itself
            pass
        finally:
            os._exit(code)

    def _receive(self) -> None:
        """Here, on a thread: the helper's results as they come (a cut-off last one is dropped)."""
        try:
            while (head := _read_exactly(self.incoming, _FRAME.size)) is not None:
                index, size = _FRAME.unpack(head)
                data = _read_exactly(self.incoming, size)
                if data is None:
                    return
                self.received[index] = pickle.loads(data)  # noqa: S301 - our own child's bytes, over a pipe only we hold
        except Exception:  # noqa: BLE001, S110 - what did not arrive is computed by the caller
            return

    def _claim(self, from_back: bool) -> int | None:
        """The next task from the front (this process) or the back (the helper)."""
        os.read(self.lock_read, 1)
        try:
            front, back = _BOUNDS.unpack(self.bounds[:])
            if front >= back:
                return None
            index = back - 1 if from_back else front
            self.bounds[:] = _BOUNDS.pack(front, back - 1) if from_back else _BOUNDS.pack(front + 1, back)
            return index
        finally:
            os.write(self.lock_write, b"x")

    def results(self) -> list:
        mine = {}
        while (index := self._claim(from_back=False)) is not None:
            mine[index] = self.task(index)
        self.receiver.join()  # the helper has claimed the rest: its results, then end of file when it exits
        os.waitpid(self.pid, 0)
        self.pid = None
        theirs = self.received
        return [mine[i] if i in mine else theirs[i] if i in theirs else self.task(i) for i in range(self.count)]

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.pid is not None:  # this process failed or was interrupted first: the helper's work is not wanted
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
            self.pid = None
        self.receiver.join()  # ends at the end of file the helper's exit gives
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


def _read_exactly(fd: int, size: int) -> bytes | None:
    """`size` bytes, or None at an end of file before them."""
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
