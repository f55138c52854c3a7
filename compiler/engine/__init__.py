"""The reachability engine: which flows a set of policies allows, as the Kubernetes API defines it.

One engine answers for the compiler's proof, `analyze`, `test`, `explain`, `diff`, `graph`
and the language server. Its modules:

- `model`: policies in the engine's terms (rules, peers, ports) and policy sets;
- `read`: NetworkPolicy manifests (dicts) into that model;
- `universe`: the endpoints reasoned about (namespaces, pods, addresses), and the
  representative universe built from the policies themselves;
- `evaluate`: one flow, with the policies and rules that decide it (for people);
- `reach`: every flow at once, by equivalence classes of pods and port atoms;
- `compare`: where two policy sets disagree.

Semantics implemented (networking.k8s.io/v1):
- A pod is isolated for a direction when any policy in its namespace selects it and
  lists that direction in policyTypes (defaulting: Ingress always; Egress when the
  policy has egress rules). An unisolated direction allows everything.
- An isolated direction allows the union of the rules of every policy selecting the pod.
- A rule matches when one of its peers matches (no peers: every endpoint) and one of its
  ports matches (no ports: every port). Ports default to TCP; a named port is resolved
  on the destination pod's container ports; endPort makes a range.
- A peer is podSelector (policy's namespace), namespaceSelector (all pods there),
  both (AND), or ipBlock (cidr minus except). ipBlock matches addresses, and pods only
  when the universe gives them an IP (behaviour for pod IPs is implementation-defined).
- A pod-to-pod flow needs the source's egress AND the destination's ingress to allow it.

The model also allows a policy to carry rules without isolating (`isolates` empty):
that is how the meaning of intents is expressed (`allow A to B` grants A egress but does
not isolate A), so intents and manifests are compared with the same machinery.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

from .model import (
    ACCEPT,
    ACTIONS,
    ADMIN,
    BASELINE,
    DENY,
    DIRECTIONS,
    EGRESS,
    INGRESS,
    PASS,
    PROTOCOLS,
    ClusterPolicy,
    ClusterRule,
    PeerRule,
    Policy,
    PolicyError,
    PolicySet,
    PortRule,
    Rule,
)
from .universe import (
    OTHER_NAMESPACE,
    OTHER_VALUE,
    Address,
    ContainerPort,
    Endpoint,
    NameAddress,
    Namespace,
    Node,
    Pod,
    Universe,
    address_regions,
    representative_universe,
)
from .read import load_policies, read_policy
from .evaluate import SideVerdict, Verdict, evaluate
from .reach import Allowed, Atom, Reach, bits, port_atoms
from .compare import Difference, compare


@contextmanager
def paused_gc():
    """Pause the cycle collector while building many small acyclic objects.

    A proof of 10,000 intents allocates millions of tuples and ints that are freed by
    reference counting; the collector would rescan every live object dozens of times.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = [
    "ACCEPT", "ACTIONS", "ADMIN", "BASELINE", "DENY", "PASS", "ClusterPolicy", "ClusterRule", "bits",
    "DIRECTIONS", "EGRESS", "INGRESS", "PROTOCOLS", "PeerRule", "Policy", "PolicyError", "PolicySet", "PortRule", "Rule",
    "OTHER_NAMESPACE", "OTHER_VALUE", "Address", "ContainerPort", "Endpoint", "NameAddress", "Namespace", "Node", "Pod", "Universe",
    "representative_universe", "address_regions", "load_policies", "read_policy", "SideVerdict", "Verdict", "evaluate",
    "Allowed", "Atom", "Reach", "port_atoms", "Difference", "compare", "paused_gc",
]
