"""Where cluster rules go: the cluster objects (one subject each), their rules in order, and the priorities that keep that order.

Decided once, here, and used by both cluster backends and by the analysis. A rule of a
cluster section is written at each end that is pods: as an egress rule of the source
pods and as an ingress rule of the destination pods (a destination of addresses has no
ingress end). Each object has one subject, so a section becomes several objects; two
objects whose subjects may share a pod and that both hold rules of one direction must be
tried in section order, so the later one gets a higher priority (a level above the
section's own). Objects that can never share a pod keep the same priority.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from . import ir
from .diagnostics import Diagnostic

INGRESS, EGRESS = "ingress", "egress"
MAX_PRIORITY = 1000


class SideRule(NamedTuple):
    """One rule as one end sees it: the intent, and the other end (`peer`) with the ports."""

    intent: ir.ClusterIntent
    peer: ir.Peer
    ports: tuple[ir.PortRange, ...]


@dataclass
class Block:
    """One cluster object to emit: a subject and its ingress and egress rules, in order."""

    section: ir.Section
    subject: ir.Pods
    level: int
    ingress: list[SideRule] = field(default_factory=list)
    egress: list[SideRule] = field(default_factory=list)

    @property
    def priority(self) -> int:
        return self.section.priority + self.level

    def rules(self, direction: str) -> list[SideRule]:
        return self.ingress if direction == INGRESS else self.egress

    def origins(self) -> tuple[ir.Origin, ...]:
        seen: dict = {}
        for rule in self.egress + self.ingress:
            seen.setdefault(rule.intent.origin.span, rule.intent.origin)
        return tuple(seen.values())


def sides(intent: ir.ClusterIntent) -> list[tuple[str, ir.Pods, ir.Peer]]:
    """(direction, subject, peer) for each end of the rule that is pods."""
    out: list[tuple[str, ir.Pods, ir.Peer]] = [(EGRESS, intent.source, intent.destination)]
    if isinstance(intent.destination, ir.Pods):
        out.append((INGRESS, intent.destination, intent.source))
    elif isinstance(intent.destination, ir.World):  # `world` holds every pod too
        out.append((INGRESS, ir.Pods(ir.NamespaceRef("all"), ir.EVERYTHING), intent.source))
    return out


def namespace_selector(ref: ir.NamespaceRef) -> ir.LabelSelector:
    if ref.kind == "named":
        return ir.LabelSelector.of({ir.NAME_LABEL: ref.name})
    return ref.selector if ref.kind == "labelled" else ir.EVERYTHING


def may_share_pods(a: ir.Pods, b: ir.Pods) -> bool:
    """False only when no pod can be in both (judged from the selectors)."""
    if a == b:
        return True
    return (
        namespace_selector(a.namespace).intersect(namespace_selector(b.namespace)) is not None
        and a.selector.intersect(b.selector) is not None
    )


def place(program: ir.Program, max_rules: int, max_ports: int) -> tuple[list[Block], list[Diagnostic]]:
    """The objects of every cluster section, in section order, and NP416 for sections whose priorities collide."""
    blocks: list[Block] = []
    by_section: dict[ir.Section, list[Block]] = {}
    for intent in program.cluster:
        section_blocks = by_section.setdefault(intent.section, [])
        for direction, subject, peer in sides(intent):
            for chunk in _chunks(intent.ports, max_ports):
                _add(section_blocks, intent.section, direction, subject, SideRule(intent, peer, chunk), max_rules)
    diagnostics: list[Diagnostic] = []
    taken: dict[str, list[tuple[int, int, ir.Section]]] = {}
    for section in program.sections:
        section_blocks = by_section.get(section, [])
        top = max((b.level for b in section_blocks), default=0)
        low, high = section.priority, section.priority + top
        if high > MAX_PRIORITY:
            diagnostics.append(
                Diagnostic(
                    "NP416",
                    section.origin.span,
                    f"this section needs priorities {low}-{high} ({top + 1} ordered objects), past the highest, {MAX_PRIORITY}",
                    f"give it a priority of at most {MAX_PRIORITY - top}",
                )
            )
        for other_low, other_high, other in taken.get(section.tier, []):
            if low <= other_high and other_low <= high:
                diagnostics.append(
                    Diagnostic(
                        "NP416",
                        section.origin.span,
                        f"this section's objects need priorities {low}-{high}, which overlap the {other_low}-{other_high} "
                        f"of the section at line {other.origin.span.line}",
                        f"leave a gap of at least {top + 1} between section priorities (the ranges are the section's priority plus the objects it must order)",
                        related=((other.origin.span, "the other section"),),
                    )
                )
                break
        taken.setdefault(section.tier, []).append((low, high, section))
        blocks.extend(section_blocks)
    return blocks, diagnostics


def _chunks(ports: tuple[ir.PortRange, ...], size: int) -> list[tuple[ir.PortRange, ...]]:
    """Ports split into runs of at most `size` (consecutive rules with one action mean their union)."""
    merged = _merge_named(ports)
    if not merged:
        return [()]
    return [tuple(p for group in merged[i : i + size] for p in group) for i in range(0, len(merged), size)]


def _merge_named(ports: tuple[ir.PortRange, ...]) -> list[tuple[ir.PortRange, ...]]:
    """Ports grouped as the API counts them: a named port (all three protocols) is one entry."""
    groups: list[list[ir.PortRange]] = []
    named: dict[str, int] = {}
    for port in ports:
        if isinstance(port.port, str) and port.port in named:
            groups[named[port.port]].append(port)
            continue
        if isinstance(port.port, str):
            named[port.port] = len(groups)
        groups.append([port])
    return [tuple(group) for group in groups]


def _add(blocks: list[Block], section: ir.Section, direction: str, subject: ir.Pods, rule: SideRule, max_rules: int) -> None:
    """Append the rule to the newest object of its subject when order allows; else start an object a level higher."""
    rivals = [b for b in blocks if b.rules(direction) and may_share_pods(b.subject, subject)]
    for block in reversed(blocks):
        if block.subject == subject:
            others = [b.level for b in rivals if b is not block]
            if len(block.rules(direction)) < max_rules and all(level < block.level for level in others):
                block.rules(direction).append(rule)
                return
            break
    level = 1 + max((b.level for b in rivals), default=-1)
    block = Block(section, subject, level)
    block.rules(direction).append(rule)
    blocks.append(block)
