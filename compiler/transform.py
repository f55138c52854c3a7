"""Lark parse tree -> syntax tree (`nodes`), keeping the span of every statement and word."""

from __future__ import annotations

from lark import Token, Transformer, v_args

from . import nodes
from .source import Span


def to_module(tree, file: str) -> nodes.Module:
    return nodes.Module(file, tuple(_ToNodes(file).transform(tree).children))


@v_args(meta=True)
class _ToNodes(Transformer):
    """One callback per grammar rule; positions come from `propagate_positions`."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    # ------------------------------------------------------------ helpers

    def _span(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _word(self, token: Token) -> nodes.Word:
        return nodes.Word(str(token), Span(self.file, token.line, token.column, token.end_line, token.end_column))

    # ------------------------------------------------------------ statements

    def namespace_stmt(self, meta, children):
        return nodes.NamespaceStmt(self._word(children[0]), self._span(meta))

    def use_stmt(self, meta, children):
        token = children[0]
        if token.type == "STRING":
            word = self._word(token)
            return nodes.UseStmt(nodes.Word(word.text[1:-1], word.span), True, self._span(meta))
        return nodes.UseStmt(self._word(token), False, self._span(meta))

    def deny_stmt(self, meta, children):
        direction, subject = children
        return nodes.DenyStmt(direction, subject, self._span(meta))

    def deny_flow_stmt(self, meta, children):
        return nodes.DenyFlowStmt(children[0], children[1], self._span(meta))

    def allow_stmt(self, meta, children):
        return nodes.AllowStmt(children[0], children[1], self._span(meta))

    def egress_only_stmt(self, meta, children):
        return nodes.OnlyStmt("egress", children[0], children[1], self._span(meta))

    def ingress_only_stmt(self, meta, children):
        return nodes.OnlyStmt("ingress", children[0], children[1], self._span(meta))

    def expect_stmt(self, meta, children):
        return nodes.ExpectStmt(children[0], children[1], children[2], self._span(meta))

    def direction(self, meta, children):
        return str(children[0])

    def verdict(self, meta, children):
        return str(children[0])

    def for_clause(self, meta, children):
        return children[0]

    # ------------------------------------------------------------ peers

    def peer(self, meta, children):
        target, ports = children
        return nodes.Peer(target, ports, self._span(meta))

    def pod_target(self, meta, children):
        selector, scope = children
        return nodes.PodTarget(selector, scope, self._span(meta))

    def namespace_target(self, meta, children):
        return nodes.NamespaceTarget(self._word(children[0]), self._span(meta))

    def namespaces_target(self, meta, children):
        return nodes.NamespacesTarget(children[0], self._span(meta))

    def cluster_target(self, meta, children):
        return nodes.ClusterTarget(self._span(meta))

    def world_target(self, meta, children):
        return nodes.WorldTarget(self._span(meta))

    def ip_target(self, meta, children):
        cidr, excepts = children
        return nodes.IpTarget(self._word(cidr), excepts or (), self._span(meta))

    def except_clause(self, meta, children):
        return tuple(self._word(token) for token in children)

    def in_namespace(self, meta, children):
        return nodes.NamespaceScope("named", self._word(children[1]), None, self._span(meta))

    def in_namespaces(self, meta, children):
        return nodes.NamespaceScope("labelled", None, children[1], self._span(meta))

    def in_any_namespace(self, meta, children):
        return nodes.NamespaceScope("all", None, None, self._span(meta))

    # ------------------------------------------------------------ selectors

    def any_pods(self, meta, children):
        return nodes.Selector((), True, self._span(meta))

    def label_selector(self, meta, children):
        return nodes.Selector(tuple(children), False, self._span(meta))

    def _requirement(self, meta, operator, key, values=()):
        return nodes.Requirement(self._word(key), operator, tuple(self._word(v) for v in values), self._span(meta))

    def req_equals(self, meta, children):
        return self._requirement(meta, "=", children[0], children[1:])

    def req_not_equals(self, meta, children):
        return self._requirement(meta, "!=", children[0], children[1:])

    def req_in(self, meta, children):
        return self._requirement(meta, "in", children[0], children[1])

    def req_not_in(self, meta, children):
        return self._requirement(meta, "notin", children[0], children[1])

    def req_exists(self, meta, children):
        return self._requirement(meta, "exists", children[0])

    def req_absent(self, meta, children):
        return self._requirement(meta, "absent", children[0])

    def value_set(self, meta, children):
        return list(children)

    # ------------------------------------------------------------ ports

    def ports(self, meta, children):
        return tuple(children)

    def port(self, meta, children):
        value, protocol = children
        return nodes.Port(self._word(value), self._word(protocol) if protocol is not None else None, self._span(meta))
