"""Reuse between builds of one workspace: unchanged files are not parsed again, unchanged namespaces not lowered, analysed, emitted or proven again.

A `Cache` is handed to `pipeline.build(..., cache=)` build after build (the language server
keeps one per project). Each stage keeps what it produced last time together with the
program it produced it for; the next build compares the new program with that one and
recomputes only what a change can reach:

- parsing: per file, keyed by its text;
- lowering: per namespace, keyed by the namespace's placed statements (statements compare
  by value, positions included, so a shifted line counts as changed);
- analysis, emission and the proof: the changed intents (per namespace, old and new
  compared) name the namespaces they touch (their own, and every namespace a peer names);
  only intents touching one of those are analysed again, only those namespaces' objects
  emitted again and only their pods proven again. An intent that only moved (lines added or
  removed above it) keeps its objects and findings, at its new line.

Why that is exact: an intent's objects live in its own namespace and in the namespaces its
peers name, and each namespace's objects (deduplicated, named, proven) depend only on the
intents that write into it, in order, and not on their lines; an intent's findings are judged
against intents that share a namespace with it (a duplicate has the same namespace, a covering
allow the same source and destination namespaces, a covering `only` line the same namespace,
a widened `only` line (NP430) the namespace of the allow's pods, DNS reachability the
policies of the client's namespace). Whatever this reasoning does not cover is recomputed whole (conservative):
cluster sections, a changed intent whose peer selects namespaces by labels or names every
namespace, namespaces added or removed, the order of namespaces across files, the
program-wide "some egress is isolated" that NP407 reads, CNI rewrites, port expansion, a
moved line whose finding names a line (MOVABLE_FINDINGS), and a proof that finds a
difference (the whole proof then words the report as it always does). tests/test_incremental.py
compares incremental builds with full compiles after random edit sequences.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from . import ir, nodes
from .diagnostics import Diagnostic

WIDE = None  # touch() of an intent whose peer is namespaces chosen by labels, or every namespace
# Findings whose text names no line: when their intents move, they move with them. Any other
# finding that involves a moved line is judged again (NP430 says the line of the `only` it widens).
MOVABLE_FINDINGS = frozenset({"NP401", "NP402", "NP403", "NP404", "NP407"})


def touch(intent) -> frozenset[str] | None:
    """The namespaces an intent can write into or be judged with: its own and every namespace its peers name (WIDE: all)."""
    names = {intent.namespace}
    if isinstance(intent, ir.Allow):
        peers = (intent.source, intent.destination)
    elif isinstance(intent, ir.Only):
        peers = (intent.peer,)
    else:
        peers = ()
    for peer in peers:
        if isinstance(peer, ir.Pods):
            if peer.namespace.kind != "named":
                return WIDE
            names.add(peer.namespace.name)
    return frozenset(names)


def _egress_isolated(program: ir.Program) -> bool:
    return any(
        isinstance(i, ir.Isolate) and "egress" in i.directions or isinstance(i, ir.Only) and i.direction == "egress" for i in program.intents
    )


def _homes(program: ir.Program) -> tuple[dict[str, list], list[str]]:
    """Intents by the namespace they are written in, and that namespace's runs in program order."""
    by_home: dict[str, list] = {}
    runs: list[str] = []
    for intent in program.intents:
        home = intent.namespace
        if not runs or runs[-1] != home:
            runs.append(home)
        by_home.setdefault(home, []).append(intent)
    return by_home, runs


@dataclass
class Change:
    """What a change from one program to the next touches.

    `real`: the namespaces touched by intents that are new or gone. `moved`: the namespaces
    touched only by intents that moved (the same intent on another line, because lines were
    added or removed above it), with `pairs` (the old intent -> the new one, by value: an object
    emitted builds ago holds an equal intent, not the same one) and `spans`
    (old line -> new line): their objects and findings are the old ones at the new lines.
    """

    real: frozenset[str]
    moved: frozenset[str] = frozenset()
    pairs: dict = field(default_factory=dict)
    spans: dict = field(default_factory=dict)

    @property
    def touched(self) -> frozenset[str]:
        return self.real | self.moved


def changed_namespaces(old: ir.Program | None, new: ir.Program) -> Change | None:
    """What a change from `old` to `new` touches; None when the whole program must be recomputed."""
    if old is None or old.cluster or new.cluster or old.sections or new.sections or old.namespaces != new.namespaces:
        return None
    if _egress_isolated(old) != _egress_isolated(new):
        return None
    old_homes, old_runs = _homes(old)
    new_homes, new_runs = _homes(new)
    if old_runs != new_runs:  # the relative order of unchanged intents must stay as it was
        return None
    real: set[str] = set()
    moved: set[str] = set()
    pairs: dict = {}
    spans: dict = {}
    fixed_old, fixed_new = set(), set()  # lines of intents that did not move: a moved line must not be one of them
    unchanged = []
    for home in set(old_homes) | set(new_homes):
        before, intents = old_homes.get(home, []), new_homes.get(home, [])
        if intents == before:  # the cached namespaces' intents are the same objects: compared by identity first
            unchanged.append(home)
            continue
        # The intents before and after the edited part are the same intents, perhaps on other lines.
        keys_before, keys = [ir.intent_key(i) for i in before], [ir.intent_key(i) for i in intents]
        head = 0
        while head < min(len(before), len(intents)) and keys_before[head] == keys[head]:
            head += 1
        tail = 0
        while tail < min(len(before), len(intents)) - head and keys_before[-1 - tail] == keys[-1 - tail]:
            tail += 1
        for old_intent, new_intent in zip(before[:head] + before[len(before) - tail:], intents[:head] + intents[len(intents) - tail:]):
            if old_intent == new_intent:
                fixed_old.add(old_intent.origin.user_span)
                fixed_new.add(new_intent.origin.user_span)
                continue
            names = touch(new_intent)
            if names is WIDE:
                return None
            if (old_intent.origin.text, old_intent.origin.module) != (new_intent.origin.text, new_intent.origin.module):
                real |= names  # the same intent written otherwise (`:80,80`): findings quote the text, so it is a change
                fixed_old.add(old_intent.origin.user_span)
                fixed_new.add(new_intent.origin.user_span)
                continue
            moved |= names
            pairs[old_intent] = new_intent
            was, now = old_intent.origin.user_span, new_intent.origin.user_span
            if spans.setdefault(was, now) != now:
                return None  # one line's intents moved apart
        for intent in before[head:len(before) - tail] + intents[head:len(intents) - tail]:
            names = touch(intent)
            if names is WIDE:
                return None
            real |= names
        fixed_old.update(i.origin.user_span for i in before[head:len(before) - tail])
        fixed_new.update(i.origin.user_span for i in intents[head:len(intents) - tail])
    if spans:  # the lines of unchanged namespaces are looked at only when something moved
        for home in unchanged:
            fixed_old.update(i.origin.user_span for i in old_homes[home])
            fixed_new.update(i.origin.user_span for i in new_homes[home])
    if len(set(spans.values())) != len(spans) or not fixed_old.isdisjoint(spans) or not fixed_new.isdisjoint(spans.values()):
        return None  # a line that holds moved and unmoved intents (or two lines that became one): not a move
    return Change(frozenset(real), frozenset(moved - real), pairs, spans)


def _reaching(program: ir.Program, namespaces: frozenset[str], memo: dict | None = None) -> list:
    """The intents that touch one of `namespaces` (WIDE ones always), in program order.

    `memo` maps id(intent) -> (intent, touch): unchanged namespaces keep their intent objects
    from build to build, so their touches are computed once.
    """
    memo = {} if memo is None else memo
    out = []
    for intent in program.intents:
        known = memo.get(id(intent))
        if known is None or known[0] is not intent:
            known = memo[id(intent)] = (intent, touch(intent))
        names = known[1]
        if names is WIDE or not names.isdisjoint(namespaces):
            out.append(intent)
    return out


@dataclass
class _Namespace:
    """One namespace's lowering: the key it was made from and the result of each placed statement, in order."""

    key: tuple
    results: list  # per placed statement: an intent, an expect, or None
    diagnostics: list[Diagnostic]


@dataclass
class Stats:
    """What the last build reused (for the benchmark and the tests)."""

    parsed: int = 0
    lowered: int = 0  # namespaces lowered again
    touched: int | None = None  # namespaces a change touched (None: everything recomputed)
    moved: int = 0  # namespaces touched only by intents that moved to other lines
    analysed: int = 0  # intents analysed again
    emitted: int = 0  # namespaces emitted again
    proven: int | None = None  # namespaces proven again (None: the whole proof)


@dataclass
class Cache:
    parsed: dict = field(default_factory=dict)  # display name -> (text, module, diagnostics)
    namespaces: dict[str, _Namespace] = field(default_factory=dict)
    analysed: tuple | None = None  # (program, findings)
    emitted: tuple | None = None  # (program, emitted)
    proven: tuple | None = None  # (program, emitted by namespace) of a proof that found nothing
    stats: Stats = field(default_factory=Stats)
    _changes: tuple = (None, None, None)
    _touches: dict = field(default_factory=dict)  # id(intent) -> (intent, touch(intent))
    _kept: tuple = (None, None)
    _reached: list = field(default_factory=list)  # (program, namespaces, intents reaching them), the last few

    # ------------------------------------------------------------ parse

    def parse_file(self, source):
        """pipeline.parse_file, once per text of a file."""
        from .pipeline import parse_file

        hit = self.parsed.get(source.name)
        if hit is not None and hit[0] == source.text:
            return hit[1], list(hit[2])
        module, diagnostics = parse_file(source)
        self.parsed[source.name] = (source.text, module, tuple(diagnostics))
        self.stats.parsed += 1
        return module, diagnostics

    def begin(self) -> None:
        self.stats = Stats()
        if len(self._touches) > 4 * sum(len(entry.results) for entry in self.namespaces.values()) + 1000:
            self._touches.clear()  # intents of old builds

    def resolved(self, resolved) -> None:
        """Forget the files the program no longer has."""
        for name in [n for n in self.parsed if n not in resolved.files]:
            del self.parsed[name]

    # ------------------------------------------------------------ lower

    def lower(self, resolved):
        from .lower import lower
        from .resolve import Resolved

        if any(placed.section is not None or isinstance(placed.statement, nodes.ClusterStmt) for placed in resolved.statements):
            self.namespaces.clear()
            self.stats.lowered = len(resolved.namespaces)
            return lower(resolved)
        groups: dict[str, list] = {name: [] for name in resolved.namespaces}
        for placed in resolved.statements:
            groups.setdefault(placed.namespace, []).append(placed)
        entries: dict[str, _Namespace] = {}
        diagnostics: list[Diagnostic] = []
        for name, statements in groups.items():
            key = (tuple(statements), resolved.namespace_spans.get(name))
            entry = self.namespaces.get(name)
            if entry is None or entry.key != key:
                spans = {name: key[1]} if key[1] is not None else {}
                part = Resolved(statements, (name,), spans, resolved.files, resolved.modules)
                program, found = lower(part)
                by_origin = {id(item.origin): item for item in list(program.intents) + list(program.expects)}
                entry = _Namespace(key, [by_origin.get(id(placed.origin)) for placed in statements], found)
                self.stats.lowered += 1
            entries[name] = entry
            diagnostics += entry.diagnostics
        self.namespaces = entries
        intents, expects = [], []
        position = dict.fromkeys(groups, 0)
        for placed in resolved.statements:
            name = placed.namespace
            item = entries[name].results[position[name]]
            position[name] += 1
            if isinstance(item, ir.Expect):
                expects.append(item)
            elif item is not None:
                intents.append(item)
        return ir.Program(intents, expects, tuple(sorted(resolved.namespaces))), diagnostics

    # ------------------------------------------------------------ what changed

    def kept(self, program: ir.Program) -> ir.Program:
        """The program as the next build compares with it: its own lists (the language server empties an old build's lists to free them); one copy per program."""
        if self._kept[0] is not program:
            self._kept = (program, _kept(program))
        return self._kept[1]

    def changes(self, old: ir.Program | None, new: ir.Program) -> Change | None:
        last_old, last_new, answer = self._changes
        if last_old is not old or last_new is not new:
            answer = changed_namespaces(old, new)
            self._changes = (old, new, answer)
        self.stats.touched = None if answer is None else len(answer.real)
        self.stats.moved = 0 if answer is None else len(answer.moved)
        return answer

    def reaching(self, program: ir.Program, namespaces: frozenset[str]) -> list:
        """_reaching, once per program and namespaces (the analysis and the emission ask alike)."""
        for known, names, found in self._reached:
            if known is program and names == namespaces:
                return found
        found = _reaching(program, namespaces, self._touches)
        self._reached = (self._reached + [(program, namespaces, found)])[-3:]
        return found

    # ------------------------------------------------------------ analyse

    def analyze(self, program: ir.Program) -> list[Diagnostic]:
        from .analyze import analyze

        old, findings = self.analysed if self.analysed is not None else (None, [])
        change = self.changes(old, program)
        found = None
        if change is not None:
            touched = change.real
            # Findings sit at their intent's line; a line (a `use` of a shared file) can hold intents
            # of several namespaces: every intent at a line of a recomputed intent is recomputed too.
            again, stale = self.reaching(program, touched), self.reaching(old, touched)
            lines = {i.origin.user_span for i in again} | {i.origin.user_span for i in stale}
            while True:
                more = [i for i in program.intents if i.origin.user_span in lines]
                more_old = [i for i in old.intents if i.origin.user_span in lines]
                grown = lines | {i.origin.user_span for i in more} | {i.origin.user_span for i in more_old}
                if grown == lines:
                    break
                lines = grown
            # The other findings are the old ones, at the new lines of the intents that moved.
            pairs = [(d, _moved(d, change.spans)) for d in findings if d.span not in lines]
            kept = [new for _, new in pairs]
            if all(d.span not in lines for d in kept) and all(new is old or old.code in MOVABLE_FINDINGS for old, new in pairs):
                found = kept + analyze(program, only={id(i) for i in more})
                self.stats.analysed = len(more)
        if found is None:
            found = analyze(program)
            self.stats.analysed = len(program.intents)
        self.analysed = (self.kept(program), list(found))
        return found

    # ------------------------------------------------------------ emit

    def emit(self, program: ir.Program, expand_ranges: int = 0, api: str = "v1alpha2", blocks=None):
        from .emit import emit

        old, emitted = self.emitted if self.emitted is not None else (None, [])
        change = self.changes(old, program) if not expand_ranges and not program.cluster else None
        if change is None:
            out, diagnostics = emit(program, expand_ranges, api, blocks)
            self.stats.emitted = len(program.namespaces)
        else:
            from .backends import networkpolicy

            touched, pairs, moved = change.real, change.pairs, change.moved
            part = ir.Program(self.reaching(program, touched), [], program.namespaces)
            fresh = [item for item in networkpolicy.emit(part) if item.namespace in touched]
            out = []
            for item in emitted:
                if item.namespace in touched:
                    continue
                new_intent = pairs.get(item.intent) if item.namespace in moved else None  # only there are objects of moved intents
                # A moved intent writes the same objects (names and specs do not depend on lines), from its new line.
                out.append(item if new_intent is None else networkpolicy.Emitted(item.namespace, item.name, item.spec, new_intent, item.side))
            out = sorted(out + fresh, key=lambda e: (e.namespace, e.name))
            diagnostics = []
            self.stats.emitted = len(touched)
            if len({(e.namespace, e.name) for e in out}) != len(out):  # names the sort cannot order as emit did
                out, diagnostics = emit(program, expand_ranges, api, blocks)
        self.emitted = (self.kept(program), list(out)) if not diagnostics else None
        return out, diagnostics

    # ------------------------------------------------------------ prove

    def prove(self, program: ir.Program, emitted: list) -> list[Diagnostic]:
        from .verify import prove

        by_namespace: dict[str, list] = {}
        for item in emitted:
            by_namespace.setdefault(item.namespace, []).append(item)
        old, proven = self.proven if self.proven is not None else (None, {})
        change = self.changes(old, program)
        touched = None if change is None else change.touched  # moved intents' namespaces are proven again too
        if touched is not None and not _same_objects(proven, by_namespace, touched):
            touched = None  # the objects outside the change are not the ones proven last time
        found: list[Diagnostic] = []
        if touched is not None:
            part = ir.Program(self.reaching(program, touched), [], program.namespaces)
            found = prove(part, [item for item in emitted if item.namespace in touched], namespaces=touched)
            self.stats.proven = len(touched)
        if touched is None or found:  # a difference is reported by the whole proof, worded as always
            found = prove(program, emitted)
            self.stats.proven = None
        self.proven = (self.kept(program), by_namespace) if not found else None
        return found


def _moved(diagnostic: Diagnostic, spans: dict) -> Diagnostic:
    """A finding at the new lines of the intents it names."""
    if not spans or diagnostic.span not in spans and not any(span in spans for span, _ in diagnostic.related):
        return diagnostic
    related = tuple((spans.get(span, span), note) for span, note in diagnostic.related)
    return dataclasses.replace(diagnostic, span=spans.get(diagnostic.span, diagnostic.span), related=related)


def _kept(program: ir.Program) -> ir.Program:
    return ir.Program(list(program.intents), list(program.expects), program.namespaces, list(program.cluster), list(program.sections))


def _same_objects(before: dict[str, list], after: dict[str, list], touched: frozenset[str]) -> bool:
    if set(before) - touched != set(after) - touched:
        return False
    for name, items in after.items():
        if name in touched:
            continue
        old = before[name]
        if len(old) != len(items) or any(a is not b for a, b in zip(old, items)):
            return False
    return True
