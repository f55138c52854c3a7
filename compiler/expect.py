"""`expect` statements, checked over the representative universe; a failure names the flow and the policies why.

`expect A -> B:port allowed` holds when every representative endpoint A stands for can
reach every one B stands for on that port; `denied` when none can. Pods and address
regions are grouped by the policy classes the engine computes, so a check costs one
mask operation per pair of classes, never one per pair of pods.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import engine, ir
from .diagnostics import Diagnostic
from .flows import Scene, name, policy_name, rule_name, simplicity, source_span

ALLOWED, DENIED, PARTLY, NO_ENDPOINT = "allowed", "denied", "partly allowed", "no endpoint"


@dataclass
class Outcome:
    """What one expectation found: the verdict over all its endpoints, and one flow that shows it."""

    expect: ir.Expect
    actual: str  # "allowed", "denied", "partly allowed", or "no endpoint"
    verdict: engine.Verdict | None  # the flow that contradicts the expectation (or illustrates it)
    scene: Scene
    on: str = ""  # under which CNIs' reading, when the fleet's readings differ

    @property
    def passed(self) -> bool:
        return self.actual == self.expect.verdict

    @property
    def vacuous(self) -> bool:
        """A side stands for no endpoint (a snapshot without such pods): it neither holds nor fails (NP707)."""
        return self.actual == NO_ENDPOINT

    def flow_text(self) -> str:
        v = self.verdict
        return f"{name(v.source, self.scene.universe)} -> {name(v.destination, self.scene.universe)} on {port_text(self.expect.port, v)}"

    def diagnostic(self) -> Diagnostic:
        expect, v = self.expect, self.verdict
        statement = expect.origin.text or f"expect {expect.source} -> {expect.destination}:{expect.port} {expect.verdict}"
        if v is None:
            return Diagnostic(
                "NP700",
                expect.origin.user_span,
                f"`{statement}` does not hold: one side stands for no pod or address",
                "check the selectors of the expectation",
            )
        happened = ALLOWED if v.allowed else DENIED
        partly = " (allowed for some of the pods it stands for, denied for others)" if self.actual == PARTLY else ""
        if v.allowed:
            fix = "narrow or remove the intent (policy) that allows it, or correct the expectation"
        else:
            fix = _yaml_fix(v, expect) or f"allow it (e.g. `allow {_flow_words(expect)}`), or correct the expectation"
        where = f" ({self.on})" if self.on else ""
        return Diagnostic(
            "NP700",
            expect.origin.user_span,
            f"`{statement}` does not hold{where}: {self.flow_text()} is {happened}{partly}",
            "; ".join(chain(v, self.scene.universe)) + f". To fix: {fix}",
            related=related(v, self.scene.universe),
        )

    def as_dict(self) -> dict:
        span = self.expect.origin.user_span
        out = {
            "file": span.file,
            "line": span.line,
            "column": span.column,
            "expect": self.expect.origin.text,
            "namespace": self.expect.namespace,
            "expected": self.expect.verdict,
            "actual": self.actual,
            "passed": self.passed,
        }
        if self.verdict is not None:
            out["flow"] = flow_dict(self.verdict, self.expect.port, self.scene.universe)
        return out


def _yaml_fix(v: engine.Verdict, expect: ir.Expect) -> str | None:
    """For a flow that policies read from YAML (`--policies`) deny: the rule to add there, not a `.netpol` line."""
    for side in (v.ingress, v.egress):
        if side.allowed or not side.isolated_by or any(p.intent for p in side.isolated_by):
            continue  # allowed here, decided by a cluster tier only, or by netpolc's own intents
        policy = sorted(side.isolated_by, key=lambda p: (not p.rules(side.direction), p.name))[0]
        key, peer = ("from", "the source") if side.direction == engine.INGRESS else ("to", "the destination")
        where = f" ({policy.source})" if policy.source else ""
        port = f"{expect.port.port}/{expect.port.protocol}"
        return (
            f"allow it in the YAML: add to `{policy.namespace}/{policy.name}`{where} an {side.direction} rule whose `{key}` "
            f"matches {peer} and whose `ports` include {port} (or a new NetworkPolicy selecting the same pods with that rule), "
            "or correct the expectation"
        )
    return None


def _flow_words(expect: ir.Expect) -> str:
    """`app=web to app=db:5432` from the expectation as written."""
    text = expect.origin.text.strip()
    if text.startswith("expect ") and text.rsplit(" ", 1)[-1] in (ALLOWED, DENIED):
        return text[len("expect ") :].rsplit(" ", 1)[0].replace(" -> ", " to ", 1)
    return f"{expect.source} to {expect.destination}:{expect.port}"


def port_text(port: ir.PortRange, verdict: engine.Verdict) -> str:
    """`5432/TCP`, or `metrics (9090/TCP)` for a named port."""
    if isinstance(port.port, str):  # the number is the representative pod's, not a real one: not shown
        missing = "" if verdict.port is not None else ", which the destination does not have"
        return f"named port {port.port}/{port.protocol}{missing}"
    return f"{port.port}/{port.protocol}"


def _isolators(side: engine.SideVerdict) -> list[engine.Policy]:
    """Policies isolating a side, pure isolation (`deny`) first: the one a reader looks for."""
    return sorted(side.isolated_by, key=lambda p: (bool(p.rules(side.direction)), not p.pod_selector.is_empty, p.name))


TIER_WORDS = {"admin": "the admin tier", "baseline": "the baseline tier"}


def _tier_line(side: engine.SideVerdict, tier: str, detailed: bool) -> str | None:
    """What a cluster tier did on this side: decided (accept/deny) or passed; None when no rule of it matched."""
    found = side.admin if tier == "admin" else side.baseline
    if found is None:
        return None
    policy, rule = found
    by = f"{rule_name(policy, rule)} of {policy_name(policy, short=not detailed)}"
    if rule.action == engine.PASS:
        return f"{TIER_WORDS[tier]} passes it on ({by})"
    verdict = "allowed" if rule.action == engine.ACCEPT else "denied"
    return f"{TIER_WORDS[tier]} decides: {verdict} by {by}"


def _unisolated(side: engine.SideVerdict) -> str:
    return f"not isolated (no policy selecting it has {side.direction.capitalize()} in policyTypes)"


def _address_words(endpoint) -> str:
    if isinstance(endpoint, engine.NameAddress):  # judged as the name: its addresses are only known from DNS
        return ("a DNS name outside the cluster, no policy applies; which address it resolves to is decided at run time, "
                "from the DNS answers the pods receive (a CIDR counts for it only when it holds every address of the family)")
    return "an address, no policy applies"


def chain(verdict: engine.Verdict, universe: engine.Universe, detailed: bool = False) -> list[str]:
    """The egress side and the ingress side of a flow, one sentence each (every policy named when detailed)."""
    lines = []
    if verdict.reason:
        lines.append(verdict.reason)
    for side, subject, peer in ((verdict.egress, verdict.source, verdict.destination), (verdict.ingress, verdict.destination, verdict.source)):
        who = name(subject, universe)
        if not side.applies:
            what = "a host-network pod: no policy selects it" if side.host_network else _address_words(subject)
            lines.append(f"{side.direction}: {who} is {what}")
            continue
        tiers_said = [line for line in (_tier_line(side, "admin", detailed),) if line]
        decided = side.decided_by
        if decided == "admin":
            lines.append(f"{side.direction}: {who}: {tiers_said[0]}")
            continue
        prefix = f"{side.direction}: {who}" + (f": {tiers_said[0]};" if tiers_said else "")
        if not side.isolated:
            baseline = _tier_line(side, "baseline", detailed)
            if decided == "baseline":
                lines.append(f"{prefix} is {_unisolated(side)}; {baseline}")
            else:
                lines.append(f"{prefix} is {_unisolated(side)}" + (f"; {baseline}" if baseline else "") + ": allowed")
            continue
        isolators = _isolators(side)
        if detailed:
            isolated = "isolated by " + ", ".join(policy_name(p) for p in isolators)
        else:
            more = f" and {len(isolators) - 1} more" if len(isolators) > 1 else ""
            isolated = f"isolated by {policy_name(isolators[0], short=True)}{more}"
        if side.allowed_by:
            rules = ", ".join(f"{policy_name(p, short=not detailed)} {side.direction} rule {r.number + 1}" for p, r in side.allowed_by)
            lines.append(f"{prefix} is {isolated}; allowed by {rules}")
        else:
            lines.append(f"{prefix} is {isolated}; no rule allows {name(peer, universe)} on this port: denied")
    return lines


def chain_lines(verdict: engine.Verdict, universe: engine.Universe, port: str) -> list[str]:
    """The chain for `explain`: each side tier by tier (admin, NetworkPolicy, baseline), each policy on its line."""
    lines = []
    if verdict.reason:
        lines.append(verdict.reason)
    for side, subject, peer in ((verdict.egress, verdict.source, verdict.destination), (verdict.ingress, verdict.destination, verdict.source)):
        who = f"{side.direction} of {name(subject, universe)}"
        if not side.applies:
            if side.host_network:
                lines.append(f"{who}: a host-network pod: no policy selects it (its traffic is the node's): allowed")
            else:
                lines.append(f"{who}: {_address_words(subject)}: allowed")
            continue
        admin = _tier_line(side, "admin", True)
        if admin:
            lines.append(f"{who}: {admin}")
            if side.decided_by == "admin":
                continue
        if not side.isolated:
            baseline = _tier_line(side, "baseline", True)
            lines.append(f"{who}: {_unisolated(side)}" + ("" if baseline else ": allowed"))
            if baseline:
                lines.append(f"  {baseline}" + (": allowed" if side.decided_by != "baseline" else ""))
            continue
        lines.append(f"{who}: isolated by")
        lines.extend(f"    {policy_name(p)}" for p in _isolators(side))
        if side.allowed_by:
            lines.extend(f"  allowed by {side.direction} rule {r.number + 1} of {policy_name(p)}" for p, r in side.allowed_by)
        else:
            lines.append(f"  no {side.direction} rule allows {name(peer, universe)} on {port}: denied")
    return lines


def related(verdict: engine.Verdict, universe: engine.Universe) -> tuple:
    """(span, note) for the policies that decided the flow, at their intent line or YAML document."""
    out = []
    for side in (verdict.egress, verdict.ingress):
        deciding = []
        tier = side.decided_by
        if tier in ("admin", "baseline"):
            policy, rule = side.admin if tier == "admin" else side.baseline
            deciding = [(policy, f"{side.direction} decided by {policy_name(policy, short=True)} {rule_name(policy, rule)}: {rule.action}")]
        elif tier == "networkpolicy" and side.allowed_by:
            deciding = [(p, f"{side.direction} allowed by {p.namespace}/{p.name}") for p, _ in side.allowed_by]
        elif tier == "networkpolicy":
            deciding = [(p, f"{side.direction} isolated by {p.namespace}/{p.name}, and no rule allows the flow") for p in _isolators(side)[:1]]
        for policy, note in deciding:
            span = source_span(policy)
            note += f": {policy.intent}" if policy.intent else ""
            if span is not None and (span, note) not in out:
                out.append((span, note))
    return tuple(out)


def flow_dict(verdict: engine.Verdict, port: ir.PortRange, universe: engine.Universe) -> dict:
    def policy(p: engine.Policy) -> dict:
        return {"namespace": p.namespace, "name": p.name, "source": p.source, "intent": p.intent}

    def side(s: engine.SideVerdict) -> dict:
        out = {
            "applies": s.applies,
            "isolated": s.isolated,
            "allowed": s.allowed,
            "decided_by": s.decided_by,
            "isolated_by": [policy(p) for p in s.isolated_by],
            "allowed_by": [{**policy(p), "rule": r.number + 1} for p, r in s.allowed_by],
        }
        for tier in ("admin", "baseline"):
            found = getattr(s, tier)
            if found is not None:
                out[tier] = {**policy(found[0]), "kind": found[0].kind, "rule": found[1].number + 1, "rule_name": found[1].name, "action": found[1].action}
        if s.host_network:
            out["host_network"] = True
        return out

    return {
        "source": name(verdict.source, universe),
        "destination": name(verdict.destination, universe),
        "port": None if isinstance(port.port, str) else verdict.port,  # a named port's number is the representative pod's
        "port_name": port.port if isinstance(port.port, str) else None,
        "protocol": verdict.protocol,
        "allowed": verdict.allowed,
        "egress": side(verdict.egress),
        "ingress": side(verdict.ingress),
        "reason": verdict.reason,
    }


# ---------------------------------------------------------------- checking


def scene_for(policy_sets: list[engine.PolicySet], expects: list[ir.Expect], snapshot=None, blocks_match_pods: bool = True) -> Scene:
    """One universe for the policies and every endpoint the expectations name (or the snapshot's real pods)."""
    peers = [(e.namespace, peer) for e in expects for peer in (e.source, e.destination)]
    return Scene(policy_sets, peers, [e.port for e in expects], snapshot, blocks_match_pods)


def check(scene: Scene, policies: engine.PolicySet, expect: ir.Expect) -> Outcome:
    """Evaluate one expectation over every endpoint its peers stand for, class by class."""
    reach = scene.reach(policies)
    position = scene.index.position
    sources = scene.members(expect.source, expect.namespace)
    destinations = scene.members(expect.destination, expect.namespace)
    if not sources or not destinations:
        return Outcome(expect, NO_ENDPOINT, None, scene)
    port = expect.port

    # Sources by egress class; destinations by (ingress class, atom the port resolves to).
    source_groups: dict = {}
    for endpoint in scene.endpoints(sources):
        side = reach.side(endpoint, engine.EGRESS) if isinstance(endpoint, engine.Pod) else None
        group = source_groups.setdefault(id(side), [side, 0, endpoint])
        group[1] |= 1 << position[id(endpoint)]
    destination_groups: dict = {}
    unresolved = 0  # destinations without the named port: nothing can reach them on it
    for endpoint in scene.endpoints(destinations):
        number = scene.port_number(port, endpoint)
        atom = None if number is None else reach.atom_index(number, port.protocol)
        if atom is None:
            unresolved |= 1 << position[id(endpoint)]
            continue
        side = reach.side(endpoint, engine.INGRESS) if isinstance(endpoint, engine.Pod) else None
        group = destination_groups.setdefault((id(side), atom), [side, atom, 0, endpoint])
        group[2] |= 1 << position[id(endpoint)]

    def allowed_by(side, atom) -> int:
        return reach.full if side is None else side.at(atom, port.protocol)

    # Some flow allowed: a source class and a destination class that let each other through.
    some = None
    for e_side, s_mask, _ in source_groups.values():
        for i_side, atom, d_mask, _ in destination_groups.values():
            reachable = d_mask & allowed_by(e_side, atom)
            admitted = s_mask & allowed_by(i_side, atom)
            if reachable and admitted:
                some = (admitted, reachable)
                break
        if some:
            break
    # Every flow allowed: each source class reaches every destination, each destination admits every source.
    missing = None
    if unresolved:
        missing = (sources, unresolved)
    else:
        for e_side, s_mask, first in source_groups.values():
            for i_side, atom, d_mask, _ in destination_groups.values():
                lost = d_mask & ~allowed_by(e_side, atom)
                if lost:
                    missing = (s_mask, lost)
                    break
            if missing:
                break
        for i_side, atom, d_mask, _ in destination_groups.values() if missing is None else ():
            refused = sources & ~allowed_by(i_side, atom)
            if refused:
                missing = (refused, d_mask)
                break

    actual = ALLOWED if missing is None else (DENIED if some is None else PARTLY)
    if expect.verdict == DENIED:
        pair = some or missing
    else:
        pair = missing or some
    source = scene.endpoints(pair[0])[0]
    destination = scene.endpoints(pair[1])[0]
    verdict = engine.evaluate(policies, scene.universe, source, destination, port.port, port.protocol)
    return Outcome(expect, actual, verdict, scene)


def check_all(
    policies: engine.PolicySet, context: list[engine.PolicySet], expects: list[ir.Expect], snapshot=None, readings: dict | None = None
) -> list[Outcome]:
    """Every expectation against `policies`; `context` adds policy sets that shape the universe only; `snapshot`: over its pods.

    `readings` (with a snapshot): {whether ipBlocks match pod IPs: the CNIs that read them so}; an
    expectation holds only if it holds under every reading of the fleet, and a failure names the CNIs.
    """
    with engine.paused_gc():
        if snapshot is None or not readings or set(readings) == {True}:
            scene = scene_for([policies, *context], expects, snapshot)
            return [check(scene, policies, expect) for expect in expects]
        found: list[Outcome] | None = None
        for reading, cnis in sorted(readings.items()):
            scene = scene_for([policies, *context], expects, snapshot, reading)
            outcomes = [check(scene, policies, expect) for expect in expects]
            for outcome in outcomes:
                outcome.on = "" if len(readings) == 1 else f"on {', '.join(cnis)}, where ipBlocks {'match' if reading else 'do not match'} pod IPs"
            found = outcomes if found is None else [old if not old.passed else new for old, new in zip(found, outcomes)]
        return found


def unmatched(outcomes: list[Outcome], policy_sets: list[engine.PolicySet]) -> list[Diagnostic]:
    """NP707 for each expectation about nothing: a side matching no pod of the snapshot, or a label no policy or intent names.

    Over the representative universe every selector has a pod of its own, so a typo
    (`app=chekout`) would hold as `denied`; the label vocabulary of the policies tells it.
    """
    out: list[Diagnostic] = []
    vocabulary = _vocabulary(policy_sets)
    for outcome in outcomes:
        expect = outcome.expect
        if outcome.vacuous:
            out.append(
                Diagnostic(
                    "NP707",
                    expect.origin.user_span,
                    f"`{expect.origin.text}` is about nothing: "
                    + ("its source" if not outcome.scene.members(expect.source, expect.namespace) else "its destination")
                    + " matches no pod of the cluster snapshot",
                    "check the spelling of the selector, or the snapshot: it holds the pods that run (or the workloads given)",
                )
            )
            continue
        if outcome.scene.snapshot is not None:
            continue
        for peer in (expect.source, expect.destination):
            term = _unknown_term(peer, vocabulary)
            close = _close_to(term, vocabulary) if term is not None else None
            if close is not None:  # unnamed and one letter from a named label: a typo (a workload no policy names is fine)
                written = f"{term[0]}={term[1]}" if term[1] is not None else term[0]
                out.append(
                    Diagnostic(
                        "NP707",
                        expect.origin.user_span,
                        f"`{expect.origin.text}` speaks of `{written}`, which no policy or intent names, but `{close}` is named: "
                        "an expectation about a typo holds or fails about pods nothing governs",
                        f"did you mean `{close}`?",
                    )
                )
                break
    return out


def _vocabulary(policy_sets: list[engine.PolicySet]) -> set:
    """(key, value) and (key, None) for every label a selector of the policies names."""
    found: set = set()

    def add(selector) -> None:
        if selector is None:
            return
        for key, value in selector.match_labels:
            found.update({(key, value), (key, None)})
        for e in selector.match_expressions:
            found.add((e.key, None))
            found.update((e.key, v) for v in e.values)

    for policy_set in policy_sets:
        for policy in policy_set.items:
            add(getattr(policy, "pod_selector", None))
            subject = getattr(policy, "subject", None)
            if subject is not None:
                add(subject.pod_selector)
                add(subject.namespace_selector)
            for rule in policy.ingress + policy.egress:
                for peer in rule.peers:
                    add(peer.pod_selector)
                    add(peer.namespace_selector)
    return found


def _unknown_term(peer: ir.Peer, vocabulary: set) -> tuple[str, str | None] | None:
    """The first positive term of a pod peer's selectors (`key=value`, `key in (...)`, `key`) that no policy names."""
    if not isinstance(peer, ir.Pods):
        return None
    selectors = [peer.selector] + ([peer.namespace.selector] if peer.namespace.kind == "labelled" else [])
    for selector in selectors:
        for key, value in selector.match_labels:
            if (key, value) not in vocabulary:
                return key, value
        for e in selector.match_expressions:
            if e.operator == "Exists" and (e.key, None) not in vocabulary:
                return e.key, None
            if e.operator == "In" and not any((e.key, v) in vocabulary for v in e.values):
                return e.key, e.values[0]
    return None


def _close_to(term: tuple[str, str | None], vocabulary: set) -> str | None:
    import difflib

    key, value = term
    if value is None:
        keys = sorted({k for k, v in vocabulary if v is None})
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.8)
        return close[0] if close else None
    candidates = sorted(f"{k}={v}" for k, v in vocabulary if v is not None and k == key)  # same key, another value
    close = difflib.get_close_matches(f"{key}={value}", candidates, n=1, cutoff=0.8)
    return close[0] if close else None


def check_expectations(program: ir.Program, emitted: list, extra: list[engine.Policy] = ()) -> list[Outcome]:
    """A compiled program's expectations, against its manifests plus any policies read from YAML."""
    from .verify import intent_model

    actual = engine.load_policies(item.manifest() for item in emitted)
    policies = engine.PolicySet(list(actual.items) + list(extra))
    return check_all(policies, [intent_model(program)], program.expects)


__all__ = ["Outcome", "check", "check_all", "check_expectations", "chain", "simplicity"]
