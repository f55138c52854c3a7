"""Language-server responsiveness: how long requests wait while a big buffer compiles.

    python bench/lsp.py                 # a 1.5 MB buffer of intents
    python bench/lsp.py --bytes 500000
    python bench/lsp.py --repo PATH     # the server of another checkout (a before/after comparison)

Opens one buffer of real intents (the generator of bench/compile.py, all namespaces in one file),
sends a hover every 0.25 s until the buffer's diagnostics arrive, then edits it and does the same
again; prints how long the hovers waited for an answer next to how long the compile took.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from compile import generate  # noqa: E402  (bench/compile.py)
from lsp_wire import Wire  # noqa: E402  (tests/lsp_wire.py)


def buffer_of(size: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generate(max(100, size // 40), folder)
        text = "".join(path.read_text() for path in sorted(folder.glob("*.netpol")))
    return text[: text.rfind("\n", 0, size) + 1]


def hovers_until_diagnostics(wire: Wire, uri: str) -> tuple[float, list[float]]:
    """Hover every 0.25 s until the buffer's diagnostics arrive: (seconds to diagnostics, each hover's wait)."""
    start = time.perf_counter()
    waits = []
    while True:
        sent = time.perf_counter()
        request = wire.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 3, "character": 2}})
        wire.wait_for(lambda m: m.get("id") == request, timeout=600)
        waits.append(time.perf_counter() - sent)
        try:
            wire.wait_for(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri, timeout=0.25)
            return time.perf_counter() - start, waits
        except Exception:
            pass


def report(what: str, seconds: float, waits: list[float]) -> None:
    print(f"{what}: diagnostics after {seconds:.2f} s; {len(waits)} hovers, first answered in {waits[0] * 1000:.0f} ms, "
          f"median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bytes", type=int, default=1_500_000)
    parser.add_argument("--repo", type=Path, default=HERE.parent)
    args = parser.parse_args()
    text = buffer_of(args.bytes)
    print(f"buffer: {len(text.encode()):,} bytes, {text.count(chr(10)):,} lines")
    with tempfile.TemporaryDirectory() as tmp:
        wire = Wire(Path(tmp), repo=args.repo.resolve())
        wire.initialize()
        uri = wire.open("big.netpol", text)
        report("open", *hovers_until_diagnostics(wire, uri))
        wire.change(uri, 2, text + "# one more line\n")
        report("edit", *hovers_until_diagnostics(wire, uri))
        wire.close()


if __name__ == "__main__":
    main()
