"""A keystroke in the language server on a 10,000-intent workspace: how long until its diagnostics arrive.

    python bench/lsp_edit.py                  # 10,000 intents over 100 files, 5 edits of each kind
    python bench/lsp_edit.py --intents 2000 --edits 3

Writes the program of bench/compile.py (100 namespace files), starts `netpolc lsp` over stdio
(tests/lsp_wire.py), opens every file and times the first diagnostics of all of them (a full
compile); then edits one namespace file, as typing does, and times each didChange until the
publishDiagnostics of that version arrives (debounce included): a keystroke inside a line
(a digit of a port typed over), and a new line (every later line of the file moves); the file
stays free of errors, so that every build goes through every stage. Prints the
figures, their ratio to a full compile in this process (what the server did before it kept a
cache) and the server's peak memory (VmHWM). Goal: a keystroke's diagnostics within 200 ms.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

from compile import generate  # noqa: E402  (bench/compile.py)
from lsp_wire import Wire  # noqa: E402  (tests/lsp_wire.py)

GOAL_SECONDS = 0.2


def publication(uri: str, version: int):
    return lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri and m["params"]["version"] == version


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def full_compile_seconds(folder: Path) -> tuple[float, int]:
    """The server's compile without a cache (pipeline.build as the server calls it), best of two, in this process."""
    import os

    from compiler.pipeline import build
    from compiler.resolve import expand_inputs

    here = os.getcwd()
    os.chdir(folder)
    try:
        inputs = expand_inputs(["."])
        times = []
        for _ in range(2):
            start = time.perf_counter()
            result = build(inputs, prove=False)
            times.append(time.perf_counter() - start)
    finally:
        os.chdir(here)
    return min(times), len(result.program.intents)


def keystroke(lines: list[str], rnd: random.Random) -> list[str]:
    """The last digit of a port typed over, in an allow in the middle of the file: no line moves, the port stays valid."""
    candidates = [i for i, line in enumerate(lines) if line.startswith("allow") and ":" in line and line.rsplit(":", 1)[1].isdigit()]
    i = rnd.choice(candidates[len(candidates) // 4: 3 * len(candidates) // 4] or candidates)
    out = list(lines)
    out[i] = out[i][:-1] + rnd.choice([d for d in "123456789" if d != out[i][-1]])
    return out


def new_line(lines: list[str], rnd: random.Random) -> list[str]:
    """A new allow in the middle of the file: every line after it moves down."""
    out = list(lines)
    out.insert(len(out) // 2, f"allow app=svc-{rnd.randrange(3)} to app=svc-{rnd.randrange(3, 6)}:{rnd.randrange(1024, 65535)}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--intents", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(args.intents, folder)
        files = sorted(folder.glob("*.netpol"))
        full, intents = full_compile_seconds(folder)
        print(f"workspace: {intents:,} intents in {len(files)} files; a full compile (no cache, no proof) in this process: {full * 1000:.0f} ms")
        wire = Wire(folder)
        wire.initialize()
        start = time.perf_counter()
        uris = [wire.open(path.name, path.read_text()) for path in files]
        wire.wait_for(publication(uris[-1], 1), timeout=600)
        first = time.perf_counter() - start
        print(f"open {len(files)} files: first diagnostics of all of them after {first * 1000:.0f} ms")
        target = files[len(files) // 2]
        uri = uris[len(files) // 2]
        lines = target.read_text().rstrip("\n").split("\n")
        version = 1
        figures = {}
        for kind, change in (("keystroke in a line", keystroke), ("new line", new_line)):
            waits = []
            for _ in range(args.edits):
                lines = change(lines, rnd)
                version += 1
                time.sleep(0.5)  # the previous build's publication is out; the user pauses
                sent = time.perf_counter()
                wire.change(uri, version, "\n".join(lines) + "\n")
                message = wire.wait_for(publication(uri, version), timeout=600)
                waits.append(time.perf_counter() - sent)
                # No error: the build went through every stage (an error would stop it early, and fast).
                assert not [d for d in message["params"]["diagnostics"] if d["severity"] == 1], message["params"]["diagnostics"][:1]
            figures[kind] = waits
            print(f"{kind} ({target.name}): diagnostics after median {statistics.median(waits) * 1000:.0f} ms, "
                  f"max {max(waits) * 1000:.0f} ms over {len(waits)} edits; {statistics.median(waits) / full:.3f}x a full compile")
        server_peak = peak_kib(wire.process.pid)
        wire.close()
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory: server {server_peak / 1024:.0f} MB, this process (generator and full compile) {own_peak / 1024:.0f} MB")
    for kind, waits in figures.items():
        median = statistics.median(waits)
        print(f"goal, {kind}: diagnostics within {GOAL_SECONDS * 1000:.0f} ms -> {'met' if median <= GOAL_SECONDS else 'NOT met'} (median {median * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
