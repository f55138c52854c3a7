"""`netpolc replay PATHS... --flows FILE`: the observed connections the policies would deny, and why (the CI gate before enforcing)."""

from __future__ import annotations

import json
import sys

from . import EXIT_FINDINGS, EXIT_OK, UsageError, check_format, exit_code, workspace

FORMATS = ("text", "json", "github")
SHOWN = 200  # denied groups printed in text; --format json lists every one


def run(
    paths: list[str], flows: list[str], policies: list[str] | None = None, namespace: str | None = None, cluster: list[str] = (),
    fmt: str = "text", max_connections: int | None = None,
) -> int:
    from ..render import render
    from ..replay import replay

    check_format(fmt, FORMATS)
    if not paths and not policies:
        raise UsageError("nothing to replay against: pass .netpol files or folders, or --policies DIR (NetworkPolicy YAML)")
    check_stdin(flows, list(policies or []) + list(cluster))
    space = workspace(paths, policies, namespace, warn=False, cluster=cluster)
    if not space.ok:
        sys.stderr.write(render(space.diagnostics, "text", space.files))
        return exit_code(space.diagnostics, False)
    observed = observed_traffic(flows, max_connections)
    found = list(space.diagnostics) + list(observed.diagnostics)
    happened = observed.happened()
    if not happened:
        found.append(nothing_observed(observed))
        _problems(fmt, found, space.files)
        return EXIT_FINDINGS
    result = replay(observed, space.policies, space.context, space.snapshot)
    found += [d for d in result.diagnostics if d.code != "NP911"]
    denials = [d for d in result.diagnostics if d.code == "NP911"]
    if fmt == "json":
        _problems("text", found, space.files)
        sys.stdout.write(json.dumps(_document(result, observed, found + denials), indent=2) + "\n")
    elif fmt == "github":
        sys.stdout.write(render(found + denials, "github", space.files))
        sys.stdout.write(_summary(result) + "\n")
    else:
        _problems("text", found, space.files)
        sys.stdout.write(_text(result, observed))
    if result.denied or any(d.is_error for d in found):
        return EXIT_FINDINGS
    return EXIT_OK


# ---------------------------------------------------------------- shared with suggest and diff


def check_stdin(flows: list[str], others: list[str]) -> None:
    if not flows:
        raise UsageError("give the observed traffic with --flows FILE (e.g. `hubble observe -o json --since 24h > flows.json`)")
    if flows.count("-") + others.count("-") > 1:
        raise UsageError("standard input can be read once: give --flows -, --policies - or --cluster -, not two of them")


def observed_traffic(flows: list[str], max_connections: int | None):
    """Read the flow files (exit 2 when one cannot be opened)."""
    from ..observed import MAX_CONNECTIONS, FlowsError, read_flows

    if max_connections is not None and max_connections < 1:
        raise UsageError("--max-connections: give how many distinct connections to keep, a whole number of at least 1")
    try:
        return read_flows(flows, max_connections or MAX_CONNECTIONS)
    except FlowsError as err:
        raise UsageError(str(err)) from None


def nothing_observed(observed):
    from ..diagnostics import Diagnostic
    from ..source import Span

    left = []
    if observed.replies:
        left.append(f"{observed.replies:,} replies")
    refused = len(observed.refused_only())
    if refused:
        left.append(f"{refused:,} connections seen only dropped")
    if observed.node_local:
        left.append(f"{observed.node_local:,} records of node-local traffic")
    if observed.left_out:
        left.append(f"{observed.left_out:,} records with problems")
    what = f" ({', '.join(left)})" if left else ""
    name = observed.files[0] if observed.files else "<flows>"
    return Diagnostic(
        "NP912",
        Span(name, 1, 1, 1, 1),
        f"no connection that carried traffic in {observed.lines:,} lines of {', '.join(observed.files)}{what}",
        "check the export: `hubble observe -o json --since 24h > flows.json` (a filter that matched nothing, or the wrong file, gives this)",
    )


def reading_lines(observed) -> list[str]:
    """What was read and what was left out, in two lines."""
    files = ", ".join(observed.files)
    happened = len(observed.happened())
    out = [f"Read {observed.lines:,} lines of {files}: {observed.records:,} flow records, {happened:,} distinct connections"]
    left = []
    if observed.replies:
        left.append(f"{observed.replies:,} replies")
    duplicates = _duplicates(observed)
    if duplicates:
        left.append(f"{duplicates:,} second observations of a connection (its other end's)")
    refused = len(observed.refused_only())
    if refused:
        left.append(f"{refused:,} connection{'s' * (refused != 1)} seen only dropped")
    if observed.node_local:
        left.append(f"{observed.node_local:,} records between a pod and its node or itself (always allowed)")
    if observed.not_connections:
        left.append(f"{observed.not_connections:,} records that are not connections (ICMP, events)")
    if observed.left_out:
        left.append(f"{observed.left_out:,} records with problems (above)")
    if observed.untracked:
        left.append(f"{observed.untracked:,} records past --max-connections")
    if left:
        out.append("  left out: " + "; ".join(left))
    return out


def _duplicates(observed) -> int:
    """Records of connections that happened beyond the one observation point counted."""
    total = sum(c.counts[0] + c.counts[1] + c.counts[2] for c in observed.connections)
    return max(0, total - sum(c.seen for c in observed.connections))


def times(group) -> str:
    from ..observed import time_text

    seen = f"seen {group.seen:,} time{'s' * (group.seen != 1)}"
    if group.first is None:
        return seen
    first, last = time_text(group.first), time_text(group.last)
    return f"{seen}, {first} UTC" if first == last else f"{seen}, {first} to {last} UTC"


# ---------------------------------------------------------------- output


def _problems(fmt: str, diagnostics, files) -> None:
    from ..diagnostics import sorted_unique
    from ..render import render

    if diagnostics:
        sys.stderr.write(render(sorted_unique(diagnostics), fmt, files))


def _summary(result) -> str:
    count, denied = len(result.connections), result.denied_count
    return f"{count:,} connection{'s' * (count != 1)} observed, {denied:,} would be denied"


def _text(result, observed) -> str:
    from ..expect import chain_lines

    out = reading_lines(observed)
    if result.denied:
        total = sum(g.seen for g in result.denied)
        out += ["", f"Would be denied: {result.denied_count:,} connection{'s' * (result.denied_count != 1)} of {len(result.denied):,} workload pair{'s' * (len(result.denied) != 1)} and port{'s' * (len(result.denied) != 1)}, seen {total:,} times:"]
        for found in result.denied[:SHOWN]:
            out.append("")
            out.append(f"{found.flow_text()}: {times(found)}")
            port = f"{found.port}/{found.protocol}"
            out += [f"  {line}" for line in chain_lines(found.verdict, result.traffic.universe, port)]
        if len(result.denied) > SHOWN:
            out += ["", f"... and {len(result.denied) - SHOWN:,} more groups (--format json lists them all)"]
    out += ["", _summary(result)]
    return "\n".join(out) + "\n"


def _document(result, observed, diagnostics) -> dict:
    from .. import ir
    from ..expect import flow_dict
    from ..render import as_dict

    def connection(c) -> dict:
        return {
            "source": result.traffic.name(c.source),
            "destination": result.traffic.name(c.destination),
            "port": c.port,
            "protocol": c.protocol,
            "seen": c.seen,
            "first": c.first,
            "last": c.last,
        }

    return {
        "flows": observed.files,
        "lines": observed.lines,
        "records": observed.records,
        "replies": observed.replies,
        "connections": len(result.connections),
        "denied": result.denied_count,
        "denied_groups": [
            {
                "sources": g.sources,
                "destinations": g.destinations,
                "port": g.port,
                "protocol": g.protocol,
                "seen": g.seen,
                "first": g.first,
                "last": g.last,
                "connections": [connection(c) for c in g.connections],
                "flow": flow_dict(g.verdict, ir.PortRange(g.protocol, g.port), result.traffic.universe),
            }
            for g in result.denied
        ],
        "diagnostics": [as_dict(d) for d in diagnostics],
    }


# ---------------------------------------------------------------- diff --flows


def diff_flows(old, new, labels: tuple, flows: list[str], fmt: str, fail_on_closed: bool, snapshot) -> int:
    """`netpolc diff OLD NEW --flows FILE`: the opened and closed flows limited to the connections seen, with their counts."""
    from ..replay import observed_diff

    observed = observed_traffic(flows, None)
    _problems("text", observed.diagnostics, {})
    if not observed.connections:
        _problems("text", [nothing_observed(observed)], {})
        return EXIT_FINDINGS
    result = observed_diff(observed, old.policies, new.policies, old.context + new.context, snapshot)
    if fmt == "json":
        document = {"old": labels[0], "new": labels[1], "flows": observed.files, "connections": len(observed.connections),
                    "closed": [_row(g) for g in result.closed], "opened": [_row(g) for g in result.opened]}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(_diff_markdown(result, labels))
    else:
        sys.stdout.write(_diff_text(result, labels))
    if not observed.ok:
        return EXIT_FINDINGS
    return EXIT_FINDINGS if fail_on_closed and result.closed else EXIT_OK


def _row(found) -> dict:
    return {
        "sources": found.sources,
        "destinations": found.destinations,
        "port": found.port,
        "protocol": found.protocol,
        "connections": len(found.connections),
        "seen": found.seen,
        "seen_dropped": found.refused,
        "first": found.first,
        "last": found.last,
    }


def _count_text(groups) -> str:
    connections = sum(len(g.connections) for g in groups)
    seen = sum(g.seen for g in groups)
    text = f"{connections:,} connection{'s' * (connections != 1)}"
    return text + (f", seen {seen:,} time{'s' * (seen != 1)}" if seen else "")


def _seen(found) -> str:
    if found.seen:
        return f"seen {found.seen:,} time{'s' * (found.seen != 1)}"
    return f"seen dropped {found.refused:,} time{'s' * (found.refused != 1)}"


def _over(result) -> str:
    from ..observed import time_text

    first, last = result.observed.span()
    when = f", {time_text(first)} to {time_text(last)} UTC" if first is not None else ""
    return f"the {len(result.observed.connections):,} connections seen in {', '.join(result.observed.files)}{when}"


def _diff_text(result, labels) -> str:
    out = [f"netpolc diff {labels[0]} -> {labels[1]}, over {_over(result)}"]
    for kind, groups in (("closed", result.closed), ("opened", result.opened)):
        out.append("")
        out.append(f"{kind.capitalize()}: {_count_text(groups)}" + (":" if groups else ""))
        out += [f"  {g.flow_text()}: {_seen(g)}" for g in groups]
    if not result.closed and not result.opened:
        out += ["", "No observed connection changes: both sides decide every one of them the same way."]
    return "\n".join(out) + "\n"


def _diff_markdown(result, labels) -> str:
    closed = sum(len(g.connections) for g in result.closed)
    seen = sum(g.seen for g in result.closed)
    opened = sum(len(g.connections) for g in result.opened)
    out = [
        f"### netpolc diff: {closed:,} observed connection{'s' * (closed != 1)} cut" + (f" (seen {seen:,} time{'s' * (seen != 1)})" if seen else "") + f", {opened:,} opened",
        "",
        f"Comparing `{labels[0]}` with `{labels[1]}` over {_over(result)}: only the flows real traffic uses.",
    ]
    if not result.closed and not result.opened:
        out += ["", "No observed connection changes."]
    for groups, title in ((result.closed, "Closed (no longer allowed)"), (result.opened, "Opened (newly allowed)")):
        if not groups:
            continue
        out += ["", f"#### {title}", "", "| From | To | Port | Seen |", "| --- | --- | --- | --- |"]
        for g in groups:
            cells = ["<br>".join(f"`{x}`" for x in g.sources), "<br>".join(f"`{x}`" for x in g.destinations), f"{g.port}/{g.protocol}",
                     f"{g.seen:,}" if g.seen else f"{g.refused:,} (dropped)"]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out) + "\n"
