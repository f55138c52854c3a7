"""Where two policy sets disagree over one universe: the proof's and `import`'s comparison."""

from __future__ import annotations

from typing import Iterable, NamedTuple

from .model import DIRECTIONS, INGRESS
from .reach import Atom, Reach
from .universe import Endpoint, Pod


class Difference(NamedTuple):
    """A flow on which two policy sets disagree, seen from one side."""

    direction: str
    subject: Pod
    peer: Endpoint
    atom: Atom
    first_allows: bool

    def flow(self) -> tuple[Endpoint, Endpoint]:
        return (self.peer, self.subject) if self.direction == INGRESS else (self.subject, self.peer)


def compare(first: Reach, second: Reach, limit: int = 5, pods: Iterable[Pod] | None = None) -> list[Difference]:
    """Differences between two policy sets over the same universe and atoms, per side (of `pods`, default every pod).

    Sides are compared class by class (pods with the same selecting policies in both sets
    are compared once), and only a class pair that differs is searched atom by atom.
    """
    assert first.universe is second.universe and first.atoms == second.atoms
    differences: list[Difference] = []
    seen: set = set()
    endpoints = first.endpoints
    protocol_of = first.protocol_of
    for pod in first.universe.pods if pods is None else pods:
        for direction in DIRECTIONS:
            a = first.side(pod, direction)
            b = second.side(pod, direction)
            key = (direction, id(a), id(b))
            if key in seen or a == b or (a is None and b is None):
                continue
            seen.add(key)
            for index, atom in enumerate(first.atoms):
                va = first.full if a is None else a.at(index, protocol_of[index])
                vb = second.full if b is None else b.at(index, protocol_of[index])
                delta = va ^ vb
                if delta:
                    bit = (delta & -delta).bit_length() - 1
                    differences.append(Difference(direction, pod, endpoints[bit], atom, bool((va >> bit) & 1)))
                    break
            if len(differences) >= limit:
                return differences
    return differences
