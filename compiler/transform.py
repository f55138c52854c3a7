"""The node builder: the callbacks that make the syntax tree (`nodes`) during the LALR parse, with the span of every statement and word.

`parser.py` hands `BUILDER` to Lark as its inline transformer (`transformer=`): Lark calls a
method named after a terminal on every token it shifts (`KEY`, `NAME`, ...: each becomes a
`nodes.Word`), and a method named after a rule (or its alias) on every reduction, with the
rule's children; no parse tree is built and none is walked again. The parser is built with
`keep_all_tokens` so that keyword tokens (`allow`, `(`, `)`) are children too, and without
`propagate_positions`: each callback spans from its first child's start to its last child's
end, as Lark's positions did. An absent `[...]` part is no child at all (no `maybe_placeholders`:
filling in Nones would cost a filter on every reduction of such a rule): the children's count says.
"""

from __future__ import annotations

import threading

from . import nodes
from .ir import NAME_LABEL
from .source import Span

Word = nodes.Word
# A NamedTuple's own __new__ is a Python function around tuple.__new__; calling this directly makes the same
# tuple at half the cost (every field given, in order), for the spans and words of every token.
_new = tuple.__new__


def host_name_term(selector: nodes.Selector, scope) -> nodes.Word | None:
    """The word, when a peer is one bare term that reads as a DNS name (`api.stripe.com`): then it is a name.

    A name is a term alone in its peer (no `=`, no other term, no `in namespace`), with a dot,
    no `/`, and DNS labels (`looks_like_host_name`). Everything else stays a label selector:
    `app.kubernetes.io/part-of` has a `/`, and `api.stripe.com,app=x` or
    `api.stripe.com in namespace shop` can only be labels (NP421 says how they were read).
    """
    if scope is not None or selector.is_any or len(selector.requirements) != 1:
        return None
    term = selector.requirements[0]
    if term.operator != "exists":
        return None
    from .dnsnames import looks_like_host_name  # here: nearly every pod selector was told apart above, by the parse of each

    return term.key if looks_like_host_name(term.key.text) else None


class NodeBuilder(threading.local):
    """One method per named terminal (upper case) and per grammar rule or alias (lower case).

    Children are Lark tokens (keywords, `STRING`, the `in namespace...` tokens), `Word`s (the
    terminals below) and the nodes of the rules below them. `file`, the name every span
    carries, is set by `parser.parse` before each parse; the builder is a `threading.local`,
    so one parser serves every thread (the language server compiles off its reader thread)
    and each thread's parse names its own file. A name that is neither a terminal nor a rule
    must not be an attribute here: Lark would call it.
    """

    file: str

    def _token_span(self, token) -> Span:
        return _new(Span, (self.file, token.line, token.column, token.end_line, token.end_column))

    def _to(self, token, last) -> Span:
        """From a token to the end of a node."""
        end = last.span
        return _new(Span, (self.file, token.line, token.column, end.end_line, end.end_column))

    def _from(self, first, last) -> Span:
        """From the start of a node to the end of another."""
        start, end = first.span, last.span
        return _new(Span, (self.file, start.line, start.column, end.end_line, end.end_column))

    def _to_token(self, token, last) -> Span:
        """From a token to the end of another."""
        return _new(Span, (self.file, token.line, token.column, last.end_line, last.end_column))

    def _from_to_token(self, first, token) -> Span:
        """From the start of a node to the end of a token."""
        start = first.span
        return _new(Span, (self.file, start.line, start.column, token.end_line, token.end_column))

    # ------------------------------------------------------------ words (one per token shifted)

    def _word(self, token) -> Word:
        return _new(Word, (str(token), _new(Span, (self.file, token.line, token.column, token.end_line, token.end_column))))

    KEY = VALUE = NAME = MODULE = PORT = PROTOCOL = ALL_PORTS = IP = NAME_PATTERN = _word

    # ------------------------------------------------------------ statements

    def start(self, children):
        return nodes.Module(self.file, tuple(child for child in children if isinstance(child, tuple)))  # not the _NL tokens

    def namespace_stmt(self, children):
        keyword, name = children
        return nodes.NamespaceStmt(name, self._to(keyword, name))

    def cluster_stmt(self, children):
        keyword, tier = children[:2]
        priority = children[3] if len(children) == 4 else None  # `priority N`
        return nodes.ClusterStmt(tier, priority, self._to(keyword, children[-1]))

    def tier(self, children):
        return self._word(children[0])

    def use_stmt(self, children):
        keyword, module = children
        if isinstance(module, Word):
            return nodes.UseStmt(module, False, self._to(keyword, module))
        # a STRING token: the path is written in quotes
        return nodes.UseStmt(Word(module[1:-1], self._token_span(module)), True, self._to_token(keyword, module))

    def deny_stmt(self, children):
        if len(children) == 3:  # `for SELECTOR`
            keyword, direction, subject = children
            return nodes.DenyStmt(str(direction), subject, self._to(keyword, subject))
        keyword, direction = children
        return nodes.DenyStmt(str(direction), None, self._to_token(keyword, direction))

    def deny_flow_stmt(self, children):
        keyword, source, _, destination = children
        return nodes.DenyFlowStmt(source, destination, self._to(keyword, destination))

    def allow_stmt(self, children):
        keyword, source, _, destination = children
        return nodes.AllowStmt(source, destination, self._to(keyword, destination))

    def pass_stmt(self, children):
        keyword, source, _, destination = children
        return nodes.PassStmt(source, destination, self._to(keyword, destination))

    def egress_only_stmt(self, children):
        subject = children[4] if len(children) == 5 else None  # `for SELECTOR`
        return nodes.OnlyStmt("egress", children[3], subject, self._to(children[0], children[-1]))

    def ingress_only_stmt(self, children):
        subject = children[4] if len(children) == 5 else None
        return nodes.OnlyStmt("ingress", children[3], subject, self._to(children[0], children[-1]))

    def expect_stmt(self, children):
        keyword, source, _, destination, verdict = children
        return nodes.ExpectStmt(source, destination, str(verdict), self._to_token(keyword, verdict))

    def direction(self, children):
        return children[0]  # the token: its statement needs where it ends

    verdict = direction

    def for_clause(self, children):
        return children[1]  # the selector, which ends where the clause does

    # ------------------------------------------------------------ peers

    def peer(self, children):
        if len(children) == 1:
            (target,) = children
            return nodes.Peer(target, None, target.span)
        target, ports = children
        return nodes.Peer(target, ports, self._from(target, ports[-1]))

    def pod_target(self, children):
        if len(children) == 1:
            (selector,) = children
            scope, span = None, selector.span
        else:
            selector, scope = children
            span = self._from(selector, scope)
        name = host_name_term(selector, scope)
        if name is not None:
            return nodes.NameTarget(name, span)
        return nodes.PodTarget(selector, scope, span)

    def name_pattern_target(self, children):
        (name,) = children
        return nodes.NameTarget(name, name.span)

    def namespace_target(self, children):
        keyword, name = children
        return nodes.NamespaceTarget(name, self._to(keyword, name))

    def namespaces_target(self, children):
        keyword, selector = children
        return nodes.NamespacesTarget(selector, self._to(keyword, selector))

    def namespaces_except_target(self, children):
        keyword, (names, selector) = children
        return nodes.NamespacesTarget(selector, self._to(keyword, selector), names)

    def _listed(self, children) -> tuple[tuple[Word, ...], Span]:
        """`except W` or `except (W, W, ...)` -> (the words, the clause's span)."""
        if len(children) == 2:
            return (children[1],), self._to(children[0], children[1])
        return tuple(children[2:-1:2]), self._to_token(children[0], children[-1])

    def excluded_names(self, children):
        """`except (a, b)` -> (the names, the selector they mean: every namespace whose name is none of them)."""
        names, span = self._listed(children)
        key = nodes.Word(NAME_LABEL, names[0].span)
        return names, nodes.Selector((nodes.Requirement(key, "notin", names, span),), False, span)

    def cluster_target(self, children):
        return nodes.ClusterTarget(self._token_span(children[0]))

    def world_target(self, children):
        return nodes.WorldTarget(self._token_span(children[0]))

    def ip_target(self, children):
        if len(children) == 1:
            (cidr,) = children
            return nodes.IpTarget(cidr, (), cidr.span)
        cidr, (words, span) = children
        start = cidr.span
        return nodes.IpTarget(cidr, words, Span(self.file, start.line, start.column, span.end_line, span.end_column))

    except_clause = _listed

    def in_namespace(self, children):
        token, name = children
        return nodes.NamespaceScope("named", name, None, self._to(token, name))

    def in_namespaces(self, children):
        token, selector = children
        return nodes.NamespaceScope("labelled", None, selector, self._to(token, selector))

    def in_namespaces_except(self, children):
        token, (names, selector) = children
        return nodes.NamespaceScope("labelled", None, selector, self._to(token, selector), names)

    def in_any_namespace(self, children):
        return nodes.NamespaceScope("all", None, None, self._token_span(children[0]))

    # ------------------------------------------------------------ selectors

    def any_pods(self, children):
        return nodes.Selector((), True, self._token_span(children[0]))

    def label_selector(self, children):
        if len(children) == 1:  # most selectors: one term, whose span is the selector's
            return nodes.Selector((children[0],), False, children[0].span)
        return nodes.Selector(tuple(children[::2]), False, self._from(children[0], children[-1]))  # requirements and commas

    def req_equals(self, children):
        key, _, value = children
        return nodes.Requirement(key, "=", (value,), self._from(key, value))

    def req_not_equals(self, children):
        key, _, value = children
        return nodes.Requirement(key, "!=", (value,), self._from(key, value))

    def req_in(self, children):
        key, _, values = children
        return nodes.Requirement(key, "in", tuple(values[1::2]), self._from_to_token(key, values[-1]))

    def req_not_in(self, children):
        key, _, values = children
        return nodes.Requirement(key, "notin", tuple(values[1::2]), self._from_to_token(key, values[-1]))

    def req_exists(self, children):
        (key,) = children
        return nodes.Requirement(key, "exists", (), key.span)

    def req_absent(self, children):
        bang, key = children
        return nodes.Requirement(key, "absent", (), self._to(bang, key))

    def value_set(self, children):
        return children  # `(`, the values between commas, `)`: its requirement takes the values and the end

    # ------------------------------------------------------------ ports

    def ports(self, children):
        return tuple(children[1::2])  # after the `:`, between the commas

    def port(self, children):
        if len(children) == 1:
            (value,) = children
            return nodes.Port(value, None, value.span)
        value, _, protocol = children
        return nodes.Port(value, protocol, self._from(value, protocol))


BUILDER = NodeBuilder()  # the one every parser is built with (parser.py); its `file` is per thread
