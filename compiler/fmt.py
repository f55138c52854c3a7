"""Canonical layout of a .netpol file: each statement reprinted from its syntax tree, comments and blank lines kept."""

from __future__ import annotations

from . import nodes
from .source import SourceFile

# Canonical order of the terms of a selector: by key, then by operator in this order.
OPERATOR_RANK = {"=": 0, "!=": 1, "in": 2, "notin": 3, "exists": 4, "absent": 5}


def format_source(source: SourceFile):
    """Returns (formatted text, diagnostics); the text is None when the file does not parse."""
    from .pipeline import parse_file

    module, diagnostics = parse_file(source)
    if module is None:
        return None, diagnostics
    return format_module(source.text, module), diagnostics


def format_module(text: str, module: nodes.Module) -> str:
    """Reprint every line: the statement on it (if any) canonically, its comment verbatim."""
    by_line = {statement.span.line: statement for statement in module.statements}
    out: list[str] = []
    # Only "\n" ends a line for the grammar; a lone "\r" or form feed is blank space.
    for number, line in enumerate(text.split("\n"), start=1):
        code, comment = split_comment(line)
        statement = by_line.get(number)
        if statement is not None:
            printed = statement_text(statement)
            out.append(f"{printed}  {comment}" if comment else printed)
        elif comment:
            out.append(comment)
        elif out and out[-1] != "":
            out.append("")  # a run of blank lines becomes one
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def split_comment(line: str) -> tuple[str, str]:
    """(code, comment) of one line; `#` inside a quoted path does not start a comment."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index], line[index:].rstrip()
    return line, ""


# ---------------------------------------------------------------- statements


def statement_text(statement: nodes.Statement) -> str:
    if isinstance(statement, nodes.NamespaceStmt):
        return f"namespace {statement.name.text}"
    if isinstance(statement, nodes.ClusterStmt):
        return f"cluster {statement.tier.text}" + (f" priority {statement.priority.text}" if statement.priority else "")
    if isinstance(statement, nodes.UseStmt):
        return f'use "{statement.module.text}"' if statement.is_path else f"use {statement.module.text}"
    if isinstance(statement, nodes.DenyStmt):
        return f"deny {statement.direction}" + _for(statement.subject)
    if isinstance(statement, nodes.DenyFlowStmt):
        return f"deny {peer_text(statement.source)} to {peer_text(statement.destination)}"
    if isinstance(statement, nodes.AllowStmt):
        return f"allow {peer_text(statement.source)} to {peer_text(statement.destination)}"
    if isinstance(statement, nodes.PassStmt):
        return f"pass {peer_text(statement.source)} to {peer_text(statement.destination)}"
    if isinstance(statement, nodes.OnlyStmt):
        verb = "egress only to" if statement.direction == "egress" else "ingress only from"
        return f"{verb} {peer_text(statement.peer)}" + _for(statement.subject)
    if isinstance(statement, nodes.ExpectStmt):
        return f"expect {peer_text(statement.source)} -> {peer_text(statement.destination)} {statement.verdict}"
    raise TypeError(f"no printer for {type(statement).__name__}")


def _for(subject: nodes.Selector | None) -> str:
    return f" for {selector_text(subject)}" if subject is not None else ""


def peer_text(peer: nodes.Peer) -> str:
    text = target_text(peer.target)
    if peer.ports:
        text += ":" + ",".join(port_text(port) for port in peer.ports)  # order kept: it orders the manifest's ports
    return text


def target_text(target: nodes.Target) -> str:
    if isinstance(target, nodes.PodTarget):
        return selector_text(target.selector) + (" " + scope_text(target.scope) if target.scope else "")
    if isinstance(target, nodes.NamespaceTarget):
        return f"namespace {target.name.text}"
    if isinstance(target, nodes.NamespacesTarget):
        if target.excluded:
            return f"namespaces {excluded_text(target.excluded)}"
        return f"namespaces {selector_text(target.selector)}"
    if isinstance(target, nodes.ClusterTarget):
        return "cluster"
    if isinstance(target, nodes.WorldTarget):
        return "world"
    if isinstance(target, nodes.NameTarget):  # as written (a trailing dot is the user's)
        return target.name.text
    if isinstance(target, nodes.IpTarget):
        excepts = [word.text for word in target.excepts]
        if not excepts:
            return target.cidr.text
        if len(excepts) == 1:
            return f"{target.cidr.text} except {excepts[0]}"
        return f"{target.cidr.text} except ({', '.join(excepts)})"
    raise TypeError(f"no printer for {type(target).__name__}")


def scope_text(scope: nodes.NamespaceScope) -> str:
    if scope.kind == "named":
        return f"in namespace {scope.name.text}"
    if scope.kind == "labelled":
        if scope.excluded:
            return f"in namespaces {excluded_text(scope.excluded)}"
        return f"in namespaces {selector_text(scope.selector)}"
    return "in any namespace"


def excluded_text(names: tuple[nodes.Word, ...]) -> str:
    """`except kube-system`, `except (a, b)`: a set of names, sorted, each once."""
    unique = sorted({word.text for word in names})
    return f"except {unique[0]}" if len(unique) == 1 else f"except ({', '.join(unique)})"


def port_text(port: nodes.Port) -> str:
    # The protocol is matched without regard to case: print it the way the README writes it.
    return port.value.text + (f"/{port.protocol.text.lower()}" if port.protocol is not None else "")


# ---------------------------------------------------------------- selectors


def selector_text(selector: nodes.Selector) -> str:
    if selector.is_any:
        return "any"
    # A selector is an AND of its terms, so their order carries no meaning.
    terms = sorted(selector.requirements, key=_requirement_key)
    return ",".join(requirement_text(term) for term in terms)


def _requirement_key(requirement: nodes.Requirement):
    return (requirement.key.text, OPERATOR_RANK[requirement.operator], _values(requirement))


def _values(requirement: nodes.Requirement) -> list[str]:
    return sorted(word.text for word in requirement.values)  # a set: order carries no meaning


def requirement_text(requirement: nodes.Requirement) -> str:
    key, operator = requirement.key.text, requirement.operator
    if operator == "exists":
        return key
    if operator == "absent":
        return f"!{key}"
    if operator in ("=", "!="):
        return f"{key}{operator}{requirement.values[0].text}"
    return f"{key} {operator} ({', '.join(_values(requirement))})"
