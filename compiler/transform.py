"""Lark parse tree -> syntax tree (`nodes`), keeping the span of every statement and word."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from . import nodes
from .ir import NAME_LABEL
from .source import Span

if TYPE_CHECKING:
    from lark import Token


def to_module(tree, file: str) -> nodes.Module:
    return _transformer(type(tree))(file).transform(tree)


@functools.cache
def _transformer(tree_class):
    """The callbacks on the Transformer of the Lark that built the tree: the standalone parser's own
    (no Lark import on the `check` path) or Lark's, when the standalone one is stale."""
    try:
        from . import _netpol_parser as generated
    except ImportError:  # not written by the build hook: Lark's own parser made the tree
        generated = None
    if generated is not None and tree_class is generated.Tree:
        base = generated.Transformer
    else:
        from lark import Transformer as base
    return type("_ToNodes", (_ToNodes, base), {})


def host_name_term(selector: nodes.Selector, scope) -> nodes.Word | None:
    """The word, when a peer is one bare term that reads as a DNS name (`api.stripe.com`): then it is a name.

    A name is a term alone in its peer (no `=`, no other term, no `in namespace`), with a dot,
    no `/`, and DNS labels (`looks_like_host_name`). Everything else stays a label selector:
    `app.kubernetes.io/part-of` has a `/`, and `api.stripe.com,app=x` or
    `api.stripe.com in namespace shop` can only be labels (NP421 says how they were read).
    """
    from .dnsnames import looks_like_host_name

    if scope is not None or selector.is_any or len(selector.requirements) != 1:
        return None
    term = selector.requirements[0]
    if term.operator != "exists" or not looks_like_host_name(term.key.text):
        return None
    return term.key


class _ToNodes:
    """One `_on_<rule>` callback per grammar rule; positions come from `propagate_positions`.

    Lark hands `__default__` the rule name, children and meta of every rule that has no
    method of its own name; dispatching from there is a third faster on large programs
    than `v_args(meta=True)`, which wraps the callback anew on every call.
    """

    def __default__(self, data, children, meta):
        return getattr(self, "_on_" + data)(meta, children)

    def _on_start(self, meta, children):
        return nodes.Module(self.file, tuple(children))

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    # ------------------------------------------------------------ helpers

    def _span(self, meta) -> Span:
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _word(self, token: Token) -> nodes.Word:
        return nodes.Word(str(token), Span(self.file, token.line, token.column, token.end_line, token.end_column))

    # ------------------------------------------------------------ statements

    def _on_namespace_stmt(self, meta, children):
        return nodes.NamespaceStmt(self._word(children[0]), self._span(meta))

    def _on_cluster_stmt(self, meta, children):
        tier, priority = children
        return nodes.ClusterStmt(tier, self._word(priority) if priority is not None else None, self._span(meta))

    def _on_tier(self, meta, children):
        return self._word(children[0])

    def _on_use_stmt(self, meta, children):
        token = children[0]
        if token.type == "STRING":
            word = self._word(token)
            return nodes.UseStmt(nodes.Word(word.text[1:-1], word.span), True, self._span(meta))
        return nodes.UseStmt(self._word(token), False, self._span(meta))

    def _on_deny_stmt(self, meta, children):
        direction, subject = children
        return nodes.DenyStmt(direction, subject, self._span(meta))

    def _on_deny_flow_stmt(self, meta, children):
        return nodes.DenyFlowStmt(children[0], children[1], self._span(meta))

    def _on_allow_stmt(self, meta, children):
        return nodes.AllowStmt(children[0], children[1], self._span(meta))

    def _on_pass_stmt(self, meta, children):
        return nodes.PassStmt(children[0], children[1], self._span(meta))

    def _on_egress_only_stmt(self, meta, children):
        return nodes.OnlyStmt("egress", children[0], children[1], self._span(meta))

    def _on_ingress_only_stmt(self, meta, children):
        return nodes.OnlyStmt("ingress", children[0], children[1], self._span(meta))

    def _on_expect_stmt(self, meta, children):
        return nodes.ExpectStmt(children[0], children[1], children[2], self._span(meta))

    def _on_direction(self, meta, children):
        return str(children[0])

    def _on_verdict(self, meta, children):
        return str(children[0])

    def _on_for_clause(self, meta, children):
        return children[0]

    # ------------------------------------------------------------ peers

    def _on_peer(self, meta, children):
        target, ports = children
        return nodes.Peer(target, ports, self._span(meta))

    def _on_pod_target(self, meta, children):
        selector, scope = children
        name = host_name_term(selector, scope)
        if name is not None:
            return nodes.NameTarget(name, self._span(meta))
        return nodes.PodTarget(selector, scope, self._span(meta))

    def _on_name_pattern_target(self, meta, children):
        return nodes.NameTarget(self._word(children[0]), self._span(meta))

    def _on_namespace_target(self, meta, children):
        return nodes.NamespaceTarget(self._word(children[0]), self._span(meta))

    def _on_namespaces_target(self, meta, children):
        return nodes.NamespacesTarget(children[0], self._span(meta))

    def _on_namespaces_except_target(self, meta, children):
        names, selector = children[0]
        return nodes.NamespacesTarget(selector, self._span(meta), names)

    def _on_excluded_names(self, meta, children):
        """`except (a, b)` -> (the names, the selector they mean: every namespace whose name is none of them)."""
        names = tuple(self._word(token) for token in children)
        span = self._span(meta)
        key = nodes.Word(NAME_LABEL, names[0].span)
        return names, nodes.Selector((nodes.Requirement(key, "notin", names, span),), False, span)

    def _on_cluster_target(self, meta, children):
        return nodes.ClusterTarget(self._span(meta))

    def _on_world_target(self, meta, children):
        return nodes.WorldTarget(self._span(meta))

    def _on_ip_target(self, meta, children):
        cidr, excepts = children
        return nodes.IpTarget(self._word(cidr), excepts or (), self._span(meta))

    def _on_except_clause(self, meta, children):
        return tuple(self._word(token) for token in children)

    def _on_in_namespace(self, meta, children):
        return nodes.NamespaceScope("named", self._word(children[1]), None, self._span(meta))

    def _on_in_namespaces(self, meta, children):
        return nodes.NamespaceScope("labelled", None, children[1], self._span(meta))

    def _on_in_namespaces_except(self, meta, children):
        names, selector = children[1]
        return nodes.NamespaceScope("labelled", None, selector, self._span(meta), names)

    def _on_in_any_namespace(self, meta, children):
        return nodes.NamespaceScope("all", None, None, self._span(meta))

    # ------------------------------------------------------------ selectors

    def _on_any_pods(self, meta, children):
        return nodes.Selector((), True, self._span(meta))

    def _on_label_selector(self, meta, children):
        return nodes.Selector(tuple(children), False, self._span(meta))

    def _requirement(self, meta, operator, key, values=()):
        return nodes.Requirement(self._word(key), operator, tuple(self._word(v) for v in values), self._span(meta))

    def _on_req_equals(self, meta, children):
        return self._requirement(meta, "=", children[0], children[1:])

    def _on_req_not_equals(self, meta, children):
        return self._requirement(meta, "!=", children[0], children[1:])

    def _on_req_in(self, meta, children):
        return self._requirement(meta, "in", children[0], children[1])

    def _on_req_not_in(self, meta, children):
        return self._requirement(meta, "notin", children[0], children[1])

    def _on_req_exists(self, meta, children):
        return self._requirement(meta, "exists", children[0])

    def _on_req_absent(self, meta, children):
        return self._requirement(meta, "absent", children[0])

    def _on_value_set(self, meta, children):
        return list(children)

    # ------------------------------------------------------------ ports

    def _on_ports(self, meta, children):
        return tuple(children)

    def _on_port(self, meta, children):
        value, protocol = children
        return nodes.Port(self._word(value), self._word(protocol) if protocol is not None else None, self._span(meta))
