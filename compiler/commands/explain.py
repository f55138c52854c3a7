"""`netpolc explain`: the verdict on one flow and the chain behind it, egress side then ingress side."""

from __future__ import annotations

import json
import sys

from .. import ir
from . import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, check_format, exit_code, workspace

FORMATS = ("text", "json")
MAX_FLOWS = 64  # endpoint pairs looked at when a query's peers stand for many groups


def run(
    arguments: list[str], policies: list[str] | None = None, namespace: str | None = None, fmt: str = "text", cluster: list[str] = (),
    cni: list[str] = (),
) -> int:
    from .. import engine
    from ..expect import DENIED, chain_lines, check, flow_dict, port_text, scene_for
    from ..flows import name
    from ..query import QUERY_FILE, parse_query
    from ..render import render

    check_format(fmt, FORMATS)
    if not arguments:
        raise UsageError("missing the flow to explain, e.g. netpolc explain shop.netpol 'app=web -> app=db:5432'")
    *paths, text = arguments
    if not paths and not policies:
        raise UsageError("nothing to explain against: pass .netpol files or folders, or --policies DIR")
    # -n is the flow's namespace and where YAML without one goes; objects of other namespaces are read as written.
    space = workspace(paths, policies, namespace, match_namespace=False, cluster=cluster, cni=cni)  # --cni: how DNS names are written
    if not space.ok:
        sys.stderr.write(render(space.diagnostics, "text", space.files))
        return exit_code(space.diagnostics, False)
    namespaces = space.namespaces()
    if namespace is None:
        if len(namespaces) != 1:
            listed = ", ".join(namespaces) if namespaces else "none"
            raise UsageError(f"say which namespace the query's selectors are in with --namespace NAME (namespaces here: {listed})")
        namespace = namespaces[0]
    expect, found, shown = parse_query(text, namespace)
    if expect is None:
        sys.stderr.write(render(found, "text", {QUERY_FILE: shown}))
        return EXIT_USAGE
    if not space.mentions(namespace):
        from ..diagnostics import Diagnostic

        listed = ", ".join(namespaces) if namespaces else "none"
        unknown = Diagnostic(
            "NP710",
            expect.origin.span,
            f"namespace {namespace} is not mentioned by any policy, intent or snapshot here: the answer is about a namespace that may not exist",
            f"check -n (namespaces here: {listed})",
        )
        sys.stderr.write(render([unknown], "text", {QUERY_FILE: shown}))

    with engine.paused_gc():
        scene = scene_for([space.policies, *space.context], [expect], space.snapshot)
        outcome = check(scene, space.policies, expect)
        pairs = _pairs(scene, expect)
        port = expect.port
        verdicts = [engine.evaluate(space.policies, scene.universe, s, d, port.port, port.protocol) for s, d in pairs]
    groups: dict[tuple, list] = {}
    for verdict in verdicts:
        groups.setdefault(_signature(verdict), []).append(verdict)

    query = text.strip()
    if fmt == "json":
        document = {
            "query": query,
            "namespace": namespace,
            "verdict": outcome.actual,
            "flows": [flow_dict(v, port, scene.universe) for v in verdicts],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        out = [f"{query} (in namespace {namespace}): {outcome.actual}"]
        if outcome.vacuous:
            out += _nobody(scene, expect)

        def pod_text(endpoint) -> str:  # a real pod: its workload and, when the workload has several, its own name
            shown = name(endpoint, scene.universe)
            return f"{shown} (pod {endpoint.name})" if getattr(endpoint, "workload", "") and endpoint.name != endpoint.workload else shown

        for members in groups.values():
            first = members[0]
            verdict_word = "allowed" if first.allowed else "denied"
            out.append("")
            out.append(f"{pod_text(first.source)} -> {pod_text(first.destination)} on {port_text(port, first)}: {verdict_word}")
            for other in members[1:4]:
                out.append(f"  same for {pod_text(other.source)} -> {pod_text(other.destination)}")
            if len(members) > 4:
                out.append(f"  same for {len(members) - 4} more flows")
            for line in chain_lines(first, scene.universe, port_text(port, first)):
                out.append(f"  {line}")
        total = _count(scene, expect)
        if total > len(pairs):
            out.append("")
            out.append(f"(showed {len(pairs)} of {total} flows between the groups the query stands for)")
        sys.stdout.write("\n".join(out) + "\n")
    written = query.rsplit(None, 1)[-1]
    if written in ("allowed", DENIED) and not outcome.passed:
        return EXIT_FINDINGS  # the query stated a verdict and it does not hold
    return EXIT_OK


def _nobody(scene, expect) -> list[str]:
    """Why a side of the query stands for nothing: no such pod, or only host-network pods (never selected by a policy)."""
    lines = []
    for side, peer in (("source", expect.source), ("destination", expect.destination)):
        if scene.members(peer, expect.namespace):
            continue
        matching = []
        if isinstance(peer, ir.Pods):
            ref = peer.namespace
            for pod in scene.universe.pods:
                if not pod.host_network or not peer.selector.matches(pod.labels):
                    continue
                labels = scene.universe.namespace(pod.namespace).labels
                in_scope = {
                    "named": lambda: pod.namespace == (ref.name or expect.namespace),
                    "labelled": lambda: ref.selector.matches(labels),
                    "all": lambda: True,
                }[ref.kind]()
                if in_scope:
                    matching.append(pod)
        if matching:
            listed = ", ".join(f"{p.namespace}/{p.name}" for p in matching[:4]) + (f" and {len(matching) - 4} more" if len(matching) > 4 else "")
            lines.append(f"  the {side} matches only host-network pods ({listed}): no policy selects them, their traffic is the node's")
        else:
            lines.append(f"  the {side} matches no pod" + (" of the snapshot" if scene.snapshot is not None else ""))
    return lines


def _pairs(scene, expect) -> list[tuple]:
    """Endpoint pairs the query stands for, simplest first, at most MAX_FLOWS."""
    sources = scene.endpoints(scene.members(expect.source, expect.namespace))
    destinations = scene.endpoints(scene.members(expect.destination, expect.namespace))
    ranked = [(i + j, i, j) for i in range(min(len(sources), MAX_FLOWS)) for j in range(min(len(destinations), MAX_FLOWS))]
    return [(sources[i], destinations[j]) for _, i, j in sorted(ranked)[:MAX_FLOWS]]


def _count(scene, expect) -> int:
    from ..flows import bits

    return len(bits(scene.members(expect.source, expect.namespace))) * len(bits(scene.members(expect.destination, expect.namespace)))


def _signature(verdict) -> tuple:
    """Flows decided by the same policies and rules read the same: they are shown once."""

    def side(s):
        return (s.applies, tuple(p.name for p in s.isolated_by), tuple((p.name, r.number) for p, r in s.allowed_by))

    return (verdict.allowed, verdict.reason, side(verdict.egress), side(verdict.ingress))
