"""Placed statements -> IR intents, validating every name, label, address and port on the way."""

from __future__ import annotations

import re

from . import dnsnames, ir, nodes, values
from .diagnostics import Diagnostic
from .dnsnames import looks_like_host_name  # re-exported: the one test of what reads as a name
from .resolve import Placed, Resolved
from .source import Span
from .values import quoted, shown

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = LABEL_NAME
PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
PORT_RANGE = re.compile(r"^([0-9]+)-([0-9]+)$")
ALL_PORTS = "*"  # `:*/udp`: every port of one protocol
EMPTY_VALUE = '""'  # `key=""`: the empty label value, as written
# Port names that a reader takes for "every port" or a protocol: as a named port they would
# match only a container port of that name (none, usually), silently.
PORT_WORDS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "any": None, "all": None}
MAX_PRIORITY = 1000  # ClusterNetworkPolicy spec.priority


class _Lowering:
    def __init__(self, resolved: Resolved):
        self.resolved = resolved
        self.diagnostics: list[Diagnostic] = []

    def error(self, code: str, span: Span, message: str, hint: str = "", **kw) -> None:
        self.diagnostics.append(Diagnostic(code, span, message, hint, **kw))

    # ------------------------------------------------------------ names and labels

    def namespace_name(self, word: nodes.Word) -> bool:
        text = word.text
        if len(text) > 63 or not DNS1123_LABEL.match(text):
            suggestion = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].strip("-") or "my-namespace"
            self.error(
                "NP300",
                word.span,
                f"{quoted(text, 64)} is not a valid namespace name",
                f"a namespace name is at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (DNS-1123 label), e.g. `{suggestion}`",
            )
            return False
        return True

    def label_key(self, word: nodes.Word) -> bool:
        text = word.text
        prefix, _, name = text.rpartition("/")
        problem = ""
        if "/" in text and not prefix:
            problem = "the prefix before '/' is empty"
        elif prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
            problem = f"the prefix {quoted(prefix, 64)} is not a DNS subdomain (lowercase letters, digits, '-' and '.')"
        elif len(name) > 63:
            problem = f"the name part is {len(name)} characters, more than 63"
        elif not LABEL_NAME.match(name):
            problem = "the name part must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        if problem:
            self.error("NP301", word.span, f"{quoted(text, 64)} is not a valid label key: {problem}", "label keys look like `app` or `app.kubernetes.io/name`")
            return False
        return True

    def label_value(self, word: nodes.Word) -> bool:
        text = word.text
        if text == EMPTY_VALUE:
            return True
        if len(text) > 63 or not LABEL_VALUE.match(text):
            self.error(
                "NP302",
                word.span,
                f"{quoted(text, 64)} is not a valid label value",
                "a label value is at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
            )
            return False
        return True

    def selector(self, node: nodes.Selector | None) -> ir.LabelSelector | None:
        """None means the selector was invalid (a diagnostic says why)."""
        if node is None or node.is_any:
            return ir.EVERYTHING
        ok = True
        equals: dict[str, str] = {}
        expressions: list[ir.Expression] = []
        for req in node.requirements:
            ok &= self.label_key(req.key)
            for value in req.values:
                ok &= self.label_value(value)
            key = req.key.text
            values = tuple(sorted({value_of(v) for v in req.values}))
            if req.operator == "=":
                if key in equals and equals[key] != values[0]:
                    self.error(
                        "NP303",
                        req.span,
                        f"selector `{_source(node)}` can never match: `{key}` cannot be both `{_written(equals[key])}` and `{_written(values[0])}`",
                        f"to select either, write `{key} in ({_written(equals[key])}, {_written(values[0])})`",
                    )
                    ok = False
                equals[key] = values[0]
            elif req.operator == "!=":
                expressions.append(ir.Expression(key, "NotIn", values))
            elif req.operator == "in":
                expressions.append(ir.Expression(key, "In", values))
            elif req.operator == "notin":
                expressions.append(ir.Expression(key, "NotIn", values))
            elif req.operator == "exists":
                expressions.append(ir.Expression(key, "Exists"))
            else:
                expressions.append(ir.Expression(key, "DoesNotExist"))
        if not ok:
            return None
        # `key in (v)` with one value is the same as key=v: emit the simpler matchLabels form.
        for e in list(expressions):
            if e.operator == "In" and len(e.values) == 1 and e.key not in equals:
                equals[e.key] = e.values[0]
                expressions.remove(e)
        selector = ir.LabelSelector.of(equals, expressions)
        if not selector.satisfiable():
            self.error(
                "NP303",
                node.span,
                f"selector `{_source(node)}` can never match: its terms contradict each other",
                "remove the contradicting term; a selector that matches nothing selects no pod",
            )
            return None
        return selector

    # ------------------------------------------------------------ addresses

    def network(self, word: nodes.Word):
        text = word.text[1:].replace("]", "") if word.text.startswith("[") else word.text
        try:
            return values.network(text, strict=True)
        except values.AddressProblem as problem:
            self.error(problem.code, word.span, problem.message, problem.hint)
            return None

    def block(self, node: nodes.IpTarget) -> ir.Block | None:
        network = self.network(node.cidr)
        ok = network is not None
        excepts = []
        for word in node.excepts:
            excluded = self.network(word)
            if excluded is None or network is None:
                ok = False
                continue
            if excluded.version != network.version or not excluded.subnet_of(network):
                self.error(
                    "NP305",
                    word.span,
                    f"except `{excluded}` is not inside `{network}`",
                    "an except entry must be a part of the CIDR it is cut from; remove it or fix the address",
                )
                ok = False
            elif excluded == network:
                self.error("NP305", word.span, f"except `{excluded}` removes the whole of `{network}`", "remove the peer instead, it allows nothing")
                ok = False
            else:
                excepts.append(excluded)
        if not ok:
            return None
        # An except inside another except adds nothing: keep the outer one only.
        kept = sorted({e for e in excepts if not any(e != o and e.subnet_of(o) for o in excepts)}, key=lambda n: (n.version, n))
        return ir.Block(str(network), tuple(str(e) for e in kept))

    # ------------------------------------------------------------ ports

    def ports(self, nodes_: tuple[nodes.Port, ...] | None) -> tuple[ir.PortRange, ...] | None:
        if not nodes_:
            return ()
        result = []
        ok = True
        for port in nodes_:
            lowered = self.port(port)
            if lowered is None:
                ok = False
            else:
                result.append(lowered)
        if not ok:
            return None
        # Keep order of first appearance, drop exact repeats.
        return tuple(dict.fromkeys(result))

    def port(self, node: nodes.Port) -> ir.PortRange | None:
        protocol = "TCP"
        if node.protocol is not None:
            protocol = node.protocol.text.upper()
            if protocol not in ir.PROTOCOLS:
                self.error("NP308", node.protocol.span, f"unknown protocol {quoted(node.protocol.text)}", "NetworkPolicy knows tcp, udp and sctp")
                return None
        text = node.value.text
        span = node.value.span
        if text == ALL_PORTS:
            if node.protocol is None:
                self.error(
                    "NP312",
                    span,
                    "`*` without a protocol",
                    "for every port of every protocol, leave the ports out (`app=db`); for every port of one protocol, name it: `:*/tcp`, `:*/udp` or `:*/sctp`",
                )
                return None
            return ir.PortRange(protocol, None)
        word = text.lower()
        if word in PORT_WORDS:
            meant = PORT_WORDS[word]
            fix = f"for every {meant} port write `:*/{meant.lower()}`" if meant else "for every port leave the ports out, or write `:*/tcp` for every TCP port"
            self.error(
                "NP313",
                span,
                f"`:{shown(text)}` would be a container port named `{shown(text)}`, which pods rarely have: the rule would silently match nothing",
                f"{fix}; a port name is the name of a container port in the pod spec",
            )
            return None
        number = values.decimal(text)
        if number is not None:
            if not 1 <= number <= 65535:
                self.error("NP306", span, f"port {shown(text)} is out of range", "a port is a number from 1 to 65535")
                return None
            return ir.PortRange(protocol, number)
        match = PORT_RANGE.match(text)
        if match:
            low, high = values.decimal(match.group(1)), values.decimal(match.group(2))
            for written, number in ((match.group(1), low), (match.group(2), high)):
                if not 1 <= number <= 65535:
                    self.error("NP306", span, f"port {shown(written)} is out of range", "a port is a number from 1 to 65535")
                    return None
            if low > high:
                self.error("NP307", span, f"port range {text} runs backwards", f"write {high}-{low}")
                return None
            if low == high:
                return ir.PortRange(protocol, low)
            return ir.PortRange(protocol, low, high)
        if len(text) > 15 or not PORT_NAME.match(text) or "--" in text or not re.search(r"[a-z]", text):
            self.error(
                "NP309",
                span,
                f"{quoted(text)} is not a valid port name",
                "a named port is at most 15 characters of lowercase letters, digits and '-', with at least one letter (IANA service name), as in the pod's containerPort name",
            )
            return None
        return ir.PortRange(protocol, text)

    # ------------------------------------------------------------ peers

    def peer(self, node: nodes.Peer, namespace: str) -> ir.Peer | None:
        """`namespace` is "" in a cluster section, where a bare selector looks in every namespace."""
        self.host_names(node)
        target = node.target
        if isinstance(target, nodes.PodTarget):
            selector = self.selector(target.selector)
            scope = target.scope
            if scope is None:
                ref = ir.NamespaceRef("named", namespace) if namespace else ir.NamespaceRef("all")
            elif scope.kind == "named":
                if not self.namespace_name(scope.name):
                    return None
                ref = ir.NamespaceRef("named", scope.name.text)
            elif scope.kind == "labelled":
                if not self.excluded_names(scope.excluded):
                    return None
                namespaces = self.selector(scope.selector)
                if namespaces is None:
                    return None
                ref = ir.NamespaceRef("labelled", selector=namespaces)
            else:
                ref = ir.NamespaceRef("all")
            return None if selector is None else ir.Pods(ref, selector)
        if isinstance(target, nodes.NamespaceTarget):
            if not self.namespace_name(target.name):
                return None
            return ir.Pods(ir.NamespaceRef("named", target.name.text), ir.EVERYTHING)
        if isinstance(target, nodes.NamespacesTarget):
            if not self.excluded_names(target.excluded):
                return None
            namespaces = self.selector(target.selector)
            return None if namespaces is None else ir.Pods(ir.NamespaceRef("labelled", selector=namespaces), ir.EVERYTHING)
        if isinstance(target, nodes.ClusterTarget):
            return ir.Pods(ir.NamespaceRef("all"), ir.EVERYTHING)
        if isinstance(target, nodes.WorldTarget):
            return ir.World()
        if isinstance(target, nodes.NameTarget):
            return self.dns_name(target.name)
        return self.block(target)

    def dns_name(self, word: nodes.Word) -> ir.Name | None:
        found = dnsnames.problem(word.text)
        if found is not None:
            self.error("NP450", word.span, *found)
            return None
        return ir.Name(word.text)

    def excluded_names(self, names: tuple[nodes.Word, ...]) -> bool:
        """The names of `namespaces except (...)` are namespace names (checked as such, not as label values)."""
        ok = True
        for name in names:
            ok &= self.namespace_name(name)
        return ok

    def host_names(self, node: nodes.Peer) -> None:
        """NP421: a pod selector term that reads as a host name (`api.stripe.com`) is a label key to Kubernetes."""
        target = node.target
        if not isinstance(target, nodes.PodTarget) or target.selector.is_any:
            return
        for req in target.selector.requirements:
            if req.operator == "exists" and looks_like_host_name(req.key.text):
                self.diagnostics.append(
                    Diagnostic(
                        "NP421",
                        req.key.span,
                        f"`{shown(req.key.text)}` is read as a label: pods that carry a label key `{shown(req.key.text)}`, not the host of that name "
                        "(it stands with other terms or a namespace, where a name cannot)",
                        f"for the host, write the name alone as the destination (`to {shown(req.key.text)}:443`); "
                        "if it is a label key, this warning can be ignored",
                    )
                )

    def source_peer(self, node: nodes.Peer, namespace: str) -> ir.Peer | None:
        if isinstance(node.target, nodes.NameTarget):
            self.name_as_source(node.target)
            return None
        if node.ports:
            self.error(
                "NP310",
                node.ports[0].span,
                "ports on the source side",
                "NetworkPolicy filters on the destination port: write the ports after the destination, e.g. `allow app=web to app=db:5432`",
            )
            return None
        return self.peer(node, namespace)

    def name_as_source(self, target: nodes.NameTarget, how: str = "the source of a flow") -> None:
        """NP451: CNIs learn a name's addresses from the DNS answers the selected pods receive, so a name can only be a destination."""
        self.error(
            "NP451",
            target.span,
            f"a DNS name cannot be {how}: `{shown(target.name.text)}`",
            "CNIs learn which addresses a name has from the DNS answers their own pods receive, so a name can only be "
            "an egress destination; for traffic coming from outside write its addresses as a CIDR (`ingress only from 203.0.113.0/24`)",
        )

    def flow(self, st: nodes.AllowStmt | nodes.ExpectStmt, namespace: str):
        """(source, destination, destination ports) of `allow` and `expect`, or None if any is invalid."""
        source = self.source_peer(st.source, namespace)
        destination = self.peer(st.destination, namespace)
        ports = self.ports(st.destination.ports)
        if source is None or destination is None or ports is None or not self.name_ports(st.destination, ports):
            return None
        return source, destination, ports

    def name_ports(self, peer: nodes.Peer, ports: tuple[ir.PortRange, ...]) -> bool:
        """NP453: a named port is a container port of the destination pod; a DNS name has none, so it would match nothing."""
        if not isinstance(peer.target, nodes.NameTarget):
            return True
        named = {port.port for port in ports if isinstance(port.port, str)}
        for node in peer.ports or ():
            if node.value.text in named:
                self.error(
                    "NP453",
                    node.value.span,
                    f"`:{shown(node.value.text)}` is a named port, which only pods have: to `{shown(peer.target.name.text)}` it would match nothing",
                    "write the port number (`:443`)",
                )
                return False
        return True

    # ------------------------------------------------------------ statements

    def statement(self, placed: Placed):
        st, ns, origin = placed.statement, placed.namespace, placed.origin
        if isinstance(st, nodes.DenyStmt):
            subject = self.selector(st.subject)
            if subject is None:
                return None
            directions = ("egress", "ingress") if st.direction == "all" else (st.direction,)
            return ir.Isolate(ns, subject, directions, origin)
        if isinstance(st, nodes.DenyFlowStmt):
            self.error(
                "NP400",
                st.span,
                "`deny A to B` cannot be expressed in a namespace: NetworkPolicy can only allow traffic, never deny one flow",
                "isolate the destination and allow the others instead (e.g. `deny ingress for app=db` then `allow app=api to app=db:5432`), "
                "or write the deny in a cluster section (`cluster admin priority 10` above it) to emit a ClusterNetworkPolicy",
            )
            return None
        if isinstance(st, nodes.PassStmt):
            self.error("NP414", st.span, "`pass` outside a cluster section", "`pass A to B` belongs in a `cluster admin priority N` section, where it leaves the flow to the namespaces' own policies")
            return None
        if isinstance(st, nodes.AllowStmt):
            flow = self.flow(st, ns)
            if flow is None:
                return None
            source, destination, ports = flow
            if not isinstance(source, ir.Pods) and not isinstance(destination, ir.Pods):
                self.error(
                    "NP406",
                    st.span,
                    "neither side of this allow is a pod",
                    "NetworkPolicy governs traffic of pods: one side must be pods (app=web, any, namespace NAME, cluster)",
                )
                return None
            return ir.Allow(ns, source, destination, ports, origin)
        if isinstance(st, nodes.OnlyStmt):
            if st.direction == "ingress" and isinstance(st.peer.target, nodes.NameTarget):
                self.name_as_source(st.peer.target, "a source (`ingress only from`)")
                return None
            subject = self.selector(st.subject)
            peer = self.peer(st.peer, ns)
            ports = self.ports(st.peer.ports)
            if subject is None or peer is None or ports is None or not self.name_ports(st.peer, ports):
                return None
            return ir.Only(ns, st.direction, subject, peer, ports, origin)
        if isinstance(st, nodes.ExpectStmt):
            flow = self.flow(st, ns)
            if flow is None:
                return None
            source, destination, ports = flow
            if len(ports) != 1 or ports[0].end_port is not None or ports[0].port is None:
                self.error(
                    "NP409",
                    st.destination.span,
                    "an expect needs exactly one destination port" if len(ports) != 1
                    else "an expect checks one port, not every port of a protocol" if ports[0].port is None
                    else "an expect checks one port, not a range",
                    "write the port the flow uses, e.g. `expect app=web -> app=db:5432 allowed`",
                )
                return None
            return ir.Expect(ns, source, destination, ports[0], st.verdict, origin)
        raise AssertionError(f"unexpected statement {type(st).__name__}")

    # ------------------------------------------------------------ cluster sections

    def distinct_priorities(self, sections: list[ir.Section]) -> None:
        """Two sections of one tier with the same priority: the API leaves their order undefined, so netpolc refuses."""
        first: dict[tuple[str, int], ir.Section] = {}
        for section in sections:
            other = first.setdefault((section.tier, section.priority), section)
            if other is not section:
                self.error(
                    "NP416",
                    section.origin.span,
                    f"another `cluster {section.tier}` section has priority {section.priority}",
                    "give every section of a tier its own priority: when two could match the same traffic the API does not say which decides",
                    related=((other.origin.span, "the other section"),),
                )

    def section(self, placed: Placed) -> ir.Section | None:
        st = placed.statement
        tier = st.tier.text
        if st.priority is None:
            if tier == ir.ADMIN:
                self.error("NP410", st.span, "a cluster admin section needs a priority", "write e.g. `cluster admin priority 10` (0 to 1000, lower first)")
                return None
            return ir.Section(tier, 0, placed.origin)
        text = st.priority.text
        if not text.isdigit() or len(text) > 4 or int(text) > MAX_PRIORITY:
            shown = text if len(text) <= 12 else text[:10] + "…"
            self.error("NP410", st.priority.span, f"priority `{shown}` is not a number from 0 to {MAX_PRIORITY}", "write a whole number from 0 to 1000; sections with a lower priority are tried first")
            return None
        return ir.Section(tier, int(text), placed.origin)

    def cluster_rules(self, placed: Placed, section: ir.Section, position: int) -> list[ir.ClusterIntent] | None:
        """A statement of a cluster section as its rules, in order (None: invalid, a diagnostic says why)."""
        st, origin = placed.statement, placed.origin
        if isinstance(st, (nodes.AllowStmt, nodes.DenyFlowStmt, nodes.PassStmt)):
            action = ir.ACCEPT if isinstance(st, nodes.AllowStmt) else ir.DENY if isinstance(st, nodes.DenyFlowStmt) else ir.PASS
            if action == ir.PASS and section.tier == ir.BASELINE:
                self.error(
                    "NP414",
                    st.span,
                    "`pass` in a cluster baseline section",
                    "after the baseline tier comes the default (allow), so `pass` there means `allow`; write `allow`, or move the line to an admin section",
                )
                return None
            source = self.source_peer(st.source, "")
            if isinstance(st.destination.target, nodes.NameTarget) and not self.cluster_name(st, action, section):
                return None
            destination = self.peer(st.destination, "")
            ports = self.cluster_ports(st.destination.ports)
            if source is None or destination is None or ports is None or not self.name_ports(st.destination, ports):
                return None
            if not isinstance(source, ir.Pods):
                self.error(
                    "NP411",
                    st.source.span,
                    f"the source of a cluster rule must be pods, not `{source}`",
                    "ClusterNetworkPolicy ingress rules name pods and namespaces only; traffic from addresses is left to NetworkPolicy "
                    "(`ingress only from` in the destination's namespace); for every pod write `cluster`",
                )
                return None
            if isinstance(destination, ir.Block) and destination.excepts:
                self.error(
                    "NP412",
                    st.destination.span,
                    "`except` cannot be written in a cluster rule",
                    "ClusterNetworkPolicy `networks` are whole CIDRs; write the parts you mean as separate rules (an earlier rule decides first)",
                )
                return None
            return [ir.ClusterIntent(section, position, action, source, destination, ports, origin)]
        if isinstance(st, nodes.DenyStmt):
            subject = self.selector(st.subject)
            if subject is None:
                return None
            pods = ir.Pods(ir.NamespaceRef("all"), subject)
            every_pod = ir.Pods(ir.NamespaceRef("all"), ir.EVERYTHING)
            # As flows: all = S to anything and any pod to S (one rule: `world` holds every pod); egress = S to anything.
            if st.direction == "ingress":
                rule = ir.ClusterIntent(section, position, ir.DENY, every_pod, pods, (), origin)
            else:
                rule = ir.ClusterIntent(section, position, ir.DENY, pods, ir.World(), (), origin)
            out = [rule]
            if st.direction == "all" and not subject.is_empty:
                out.append(ir.ClusterIntent(section, position + 1, ir.DENY, every_pod, pods, (), origin))
            if st.direction in ("all", "ingress"):
                self.diagnostics.append(
                    Diagnostic(
                        "NP419",
                        st.span,
                        f"`deny {st.direction}` in a cluster section cuts traffic from pods only",
                        "ClusterNetworkPolicy cannot name sources outside the cluster; to cut those too, add `deny ingress` in the namespaces (NetworkPolicy)",
                    )
                )
            return out
        if isinstance(st, nodes.ExpectStmt):
            return None  # lowered with the namespace statements (bare selectors look in every namespace)
        if isinstance(st, nodes.OnlyStmt):
            verb = "egress only to" if st.direction == "egress" else "ingress only from"
            self.error(
                "NP415",
                st.span,
                f"`{verb}` in a cluster section",
                "in a cluster section, rules are tried in order: write the flows you allow, then a `deny` for the rest "
                "(e.g. `allow app=x to 10.0.0.0/8:443` then `deny app=x to world`), or `pass` to leave them to the namespace",
            )
            return None
        raise AssertionError(f"unexpected statement {type(st).__name__} in a cluster section")

    def cluster_name(self, st, action: str, section: ir.Section) -> bool:
        """A DNS name in a cluster rule: ClusterNetworkPolicy `domainNames`, in Admin-tier Accept rules only (NP452).

        Its `*.x.com` matches one or more labels, which the language writes `**.x.com`; the
        language's one-label `*.` and wildcards inside a label have no form there.
        """
        span = st.destination.target.span
        text = st.destination.target.name.text
        if action != ir.ACCEPT:
            verb = "deny" if action == ir.DENY else "pass"
            message = f"a DNS name in a `{verb}` rule: a CNI that has not seen every DNS answer for the name lets the traffic through"
            hint = "allow the names you need, then deny the rest (`allow app=x to api.stripe.com:443` then `deny app=x to world`)"
        elif section.tier == ir.BASELINE:
            message = "a DNS name in a baseline section: ClusterNetworkPolicy allows `domainNames` in the Admin tier only"
            hint = "move the rule to a `cluster admin priority N` section, or write it in the namespace (`egress only to NAME for S`)"
        elif dnsnames.problem(text) is None and dnsnames.kind(text) in (dnsnames.ONE_LABEL, dnsnames.PARTIAL_LABEL):
            rest = dnsnames.bare(text).partition(".")[2]
            message = f"`{shown(text)}` has no ClusterNetworkPolicy form: its `*.` matches one or more labels, and never part of a label"
            hint = f"write `**.{rest}` if names at every depth are meant, or list the names"
        else:
            return True
        self.error("NP452", span, message, hint)
        return False

    def cluster_ports(self, nodes_: tuple[nodes.Port, ...] | None) -> tuple[ir.PortRange, ...] | None:
        """Ports of a cluster rule: a named port means that container port whatever its protocol (the API gives none)."""
        ports = self.ports(nodes_)
        if ports is None:
            return None
        out: list[ir.PortRange] = []
        for node, port in zip(nodes_ or (), ports):
            if isinstance(port.port, str):
                if node.protocol is not None:
                    self.error(
                        "NP413",
                        node.protocol.span,
                        f"a named port in a cluster rule cannot name a protocol (`{node.value.text}/{node.protocol.text}`)",
                        f"write `:{node.value.text}`: ClusterNetworkPolicy matches the container port of that name, whatever its protocol",
                    )
                    return None
                out.extend(ir.PortRange(protocol, port.port) for protocol in ir.PROTOCOLS)
            else:
                out.append(port)
        return tuple(dict.fromkeys(out))


def lower(resolved: Resolved) -> tuple[ir.Program, list[Diagnostic]]:
    lowering = _Lowering(resolved)
    for name, span in resolved.namespace_spans.items():
        lowering.namespace_name(nodes.Word(name, span))
    intents: list[ir.Intent] = []
    expects: list[ir.Expect] = []
    sections: dict[int, ir.Section | None] = {}  # id of the `cluster` line's Placed -> its section
    cluster: list[ir.ClusterIntent] = []
    positions: dict[ir.Section, int] = {}
    for placed in resolved.statements:
        if isinstance(placed.statement, nodes.ClusterStmt):
            sections[id(placed)] = lowering.section(placed)
            continue
        if placed.section is not None and not isinstance(placed.statement, nodes.ExpectStmt):
            section = sections.get(id(placed.section))
            if section is None:
                continue  # its header is invalid: reported there
            rules = lowering.cluster_rules(placed, section, positions.get(section, 0))
            if rules:
                cluster.extend(rules)
                positions[section] = positions.get(section, 0) + len(rules)
            continue
        result = lowering.statement(placed)
        if isinstance(result, ir.Expect):
            expects.append(result)
        elif result is not None:
            intents.append(result)
    ordered = sorted({s for s in sections.values() if s is not None}, key=lambda s: (s.tier != ir.ADMIN, s.priority, s.origin.span))
    lowering.distinct_priorities(ordered)
    program = ir.Program(intents, expects, tuple(sorted(resolved.namespaces)), cluster, ordered)
    return program, lowering.diagnostics


def value_of(word: nodes.Word) -> str:
    """A label value as Kubernetes stores it: the written `""` is the empty value."""
    return "" if word.text == EMPTY_VALUE else word.text


def _written(value: str) -> str:
    return EMPTY_VALUE if value == "" else value


def _source(node: nodes.Selector) -> str:
    parts = []
    for req in node.requirements:
        if req.operator in ("=", "!="):
            parts.append(f"{req.key.text}{req.operator}{req.values[0].text}")
        elif req.operator in ("in", "notin"):
            parts.append(f"{req.key.text} {req.operator} ({', '.join(v.text for v in req.values)})")
        elif req.operator == "exists":
            parts.append(req.key.text)
        else:
            parts.append(f"!{req.key.text}")
    return ",".join(parts)
