"""`netpolc suggest --flows FILE [-o DIR]`: programs that allow exactly the observed connections, proven by replaying the flows."""

from __future__ import annotations

import sys
from pathlib import Path

from . import EXIT_FINDINGS, EXIT_OK, UsageError, check_namespace, write_output
from .replay import check_stdin, nothing_observed, observed_traffic, reading_lines

SUGGESTED = "suggested"  # the folder files are named in when the program is printed, not written


def run(flows: list[str], output: Path | None = None, namespaces: list[str] = (), max_prefix: int = 32, max_connections: int | None = None) -> int:
    from ..output import Layout
    from ..suggest import managed_namespaces, prove, suggest

    check_stdin(flows, [])
    for namespace in namespaces:
        check_namespace(namespace)
    if not 0 <= max_prefix <= 32:
        raise UsageError(f"--max-prefix {max_prefix}: give the widest IPv4 prefix addresses may be merged into, 0 to 32 (32: each address on its own)")
    observed = observed_traffic(flows, max_connections)
    found = list(observed.diagnostics)
    if not observed.happened():
        _problems(found + [nothing_observed(observed)], {})
        return EXIT_FINDINGS
    present = sorted({e.namespace for e in observed.endpoints if e.kind == "pod"})
    for namespace in namespaces:
        if namespace not in present:
            raise UsageError(f"-n {namespace}: no pod of that namespace is in the flow records (namespaces seen: {', '.join(present)})")
    chosen = managed_namespaces(observed, list(namespaces))
    if not chosen:
        raise UsageError(f"the observed pods are all in system namespaces ({', '.join(present)}): name the ones to write with -n NAME")
    suggestion = suggest(observed, chosen, max_prefix, source=", ".join("<stdin>" if f == "-" else f for f in flows))
    folder = output.as_posix().rstrip("/") if output is not None else SUGGESTED
    proof = prove(suggestion, observed, folder)
    found += suggestion.diagnostics + proof.diagnostics
    _problems(found, proof.files)
    if not proof.ok:
        return EXIT_FINDINGS
    report = _report(observed, suggestion, proof)
    if output is None:
        sys.stdout.write("\n".join(suggestion.files[n] for n in chosen))
        sys.stderr.write(report)
        return EXIT_OK
    files = {f"{namespace}.netpol": text for namespace, text in suggestion.files.items()}
    return write_output(output, files, ("file", "files"), Layout(".netpol", depth=1), before=report)


def _problems(diagnostics, files) -> None:
    from ..diagnostics import sorted_unique
    from ..render import render

    if diagnostics:
        sys.stderr.write(render(sorted_unique(diagnostics), "text", files))


def _report(observed, suggestion, proof) -> str:
    out = reading_lines(observed)
    count = len(suggestion.namespaces)
    out.append(
        f"Suggested {count} namespace{'s' * (count != 1)} ({', '.join(suggestion.namespaces)}): "
        f"{suggestion.allows:,} allow line{'s' * (suggestion.allows != 1)} and {suggestion.expects:,} expectation{'s' * (suggestion.expects != 1)}."
    )
    replayed = f"{proof.allowed:,} of {proof.observed:,} observed connections are allowed"
    if suggestion.skipped:
        skipped = len(suggestion.skipped)
        replayed += f" (the other {skipped:,} are of workloads without a stable label: NP913 above)"
    out.append(f"Proven: it compiles with the compiler's proof; replayed against the flows, {replayed}; its {proof.expectations:,} expectations hold.")
    if proof.surplus:
        out.append("Beyond the observations it also allows (over the observed workloads and the address ranges it names):")
        out += [f"  {', '.join(sources)} -> {', '.join(destinations)}: {ports}" for sources, destinations, ports in proof.surplus]
    else:
        out.append("Beyond the observations it allows nothing between the observed workloads and addresses.")
    return "\n".join(out) + "\n"
