"""Manifests -> YAML text for netpolc's fixed shape without PyYAML's representer; any document it cannot prove it writes as PyYAML does goes to PyYAML.

`to_yaml` used to spend almost all of its time in PyYAML's Python representer and resolver
(the C emitter is a small part). The output of this module is byte-identical to

    yaml.dump_all(docs, Dumper=CSafeDumper, sort_keys=False, default_flow_style=False,
                  explicit_start=True, allow_unicode=True, width=4096)

because it writes only what that call provably writes the same way, and refuses everything else:
- a document is a non-empty dict whose containers are exactly dict and list, nested at most
  MAX_DEPTH deep, no container reached twice (PyYAML would write an anchor and an alias), and
  whose scalars are exactly str (never a subclass) and int (never bool);
- a string is written plain only when PyYAML's own resolver table reads it back as a string and
  it is printable ASCII that no YAML indicator rule touches (see `_PLAIN`); single-quoted only
  when it is printable ASCII, one line, and would not be plain (resolved to another type, or it
  starts with an indicator, holds ": " or " #", ends in ":" or a space, starts with a space);
- every string is short enough (MAX_SCALAR) that no line reaches the width at which PyYAML
  folds, and a key short enough (MAX_KEY) to stay a simple key in both emitters (libyaml's limit
  is 128, PyYAML's 127);
- anything else (unicode, tabs, newlines, floats, None, bools, long strings, odd shapes): the
  whole document is handed to PyYAML, so its bytes are PyYAML's by definition.
tests/test_yamlout.py checks this differentially against PyYAML (generated manifests and
adversarial strings); the golden hashes in tests/test_output_golden.py check the examples.
"""

from __future__ import annotations

import re

MAX_DEPTH = 40
MAX_SCALAR = 1000  # with MAX_DEPTH, every line stays far below width 4096: no folding anywhere
MAX_KEY = 100

# Printable ASCII without '#' (a comment after a space), first character a letter, digit, '_',
# '/' or a ':' not followed by a space (`::/0`; never another indicator such as - ? , [ ] { } # &
# * ! | > ' " % @ ` or '.', which starts `...`), not ending in ':' or a space, no ": " (a
# mapping value), no two spaces in a row.
_PLAIN = re.compile(r"(?:[A-Za-z0-9_/]|:(?=[!-~]))(?:[ ]?[!-\"$-~])*\Z")
_PRINTABLE = re.compile(r"[ -~]*\Z")


_STYLES: dict[str, str] = {}  # string -> how it is written; shared by calls (tree_files writes one document per call)


class _Unsafe(Exception):
    """This document is not provably written like PyYAML writes it: hand it to PyYAML."""


def to_yaml(manifests: list[dict]) -> str:
    """A multi-document YAML stream: the fast writer for each document it can prove, PyYAML for the others."""
    if not manifests:
        return ""
    styles = _STYLES
    if len(styles) > 200_000:  # a long-lived process (the language server) keeps it bounded
        styles.clear()
    parts = []
    for manifest in manifests:
        try:
            parts.append(_document(manifest, styles))
        except _Unsafe:
            parts.append(pyyaml([manifest]))
    return "".join(parts)


def pyyaml(manifests: list[dict]) -> str:
    """PyYAML's own writing of `manifests` (libyaml's emitter when present): the reference this module must equal."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(
        manifests, Dumper=dumper, sort_keys=False, default_flow_style=False, explicit_start=True, allow_unicode=True, width=4096
    )


def _document(manifest, styles: dict) -> str:
    if type(manifest) is not dict or not manifest:
        raise _Unsafe
    lines = ["---"]
    _mapping(manifest, "", lines, styles, set(), 0)
    lines.append("")
    return "\n".join(lines)


def _mapping(mapping: dict, indent: str, lines: list, styles: dict, seen: set, depth: int) -> None:
    """Block mapping lines at `indent` (the caller turns the first line's indent into "- " inside a sequence)."""
    _enter(mapping, seen, depth)
    append = lines.append
    for key, value in mapping.items():
        head = _KEYS.get(key) if type(key) is str else None
        if head is None:
            head = _key(key, styles)
        kind = type(value)
        if kind is str or kind is int:
            text = styles.get(value) if kind is str else None
            append(f"{indent}{head} {text if text is not None else _scalar(value, styles)}")
        elif kind is dict:
            if value:
                append(indent + head)
                _mapping(value, indent + "  ", lines, styles, seen, depth + 1)
            else:
                _enter(value, seen, depth + 1)
                append(f"{indent}{head} {{}}")
        elif kind is list:
            if value:
                append(indent + head)
                _sequence(value, indent, lines, styles, seen, depth + 1)  # a sequence in a mapping is not indented
            else:
                _enter(value, seen, depth + 1)
                append(f"{indent}{head} []")
        else:
            raise _Unsafe


_KEYS: dict[str, str] = {}  # key -> `key:` as written (keys repeat in every manifest)


def _key(key, styles: dict) -> str:
    if type(key) is not str or not key or len(key) > MAX_KEY:  # PyYAML's Python emitter writes `? ''` for an empty key
        raise _Unsafe
    head = _scalar(key, styles) + ":"
    if len(_KEYS) < 10_000:
        _KEYS[key] = head
    return head


def _sequence(sequence: list, indent: str, lines: list, styles: dict, seen: set, depth: int) -> None:
    _enter(sequence, seen, depth)
    inner = indent + "  "
    dash = indent + "- "
    for item in sequence:
        kind = type(item)
        if kind is str or kind is int:
            lines.append(dash + _scalar(item, styles))
        elif kind is dict or kind is list:
            if not item:
                _enter(item, seen, depth + 1)
                lines.append(dash + ("{}" if kind is dict else "[]"))
                continue
            first = len(lines)
            if kind is dict:
                _mapping(item, inner, lines, styles, seen, depth + 1)
            else:
                _sequence(item, inner, lines, styles, seen, depth + 1)
            lines[first] = dash + lines[first][len(inner):]  # the first entry shares the dash's line
        else:
            raise _Unsafe


def _enter(container, seen: set, depth: int) -> None:
    """Refuse a container met twice (PyYAML writes &id001 / *id001) and documents deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH or id(container) in seen:
        raise _Unsafe
    seen.add(id(container))


def _scalar(value, styles: dict) -> str:
    if type(value) is int:
        text = str(value)  # SafeRepresenter writes str(int); the resolver reads it back as an int: plain
        if len(text) > MAX_SCALAR:
            raise _Unsafe
        return text
    written = styles.get(value)
    if written is None:
        written = styles[value] = _string(value)
    return written


def _string(value: str) -> str:
    if len(value) > MAX_SCALAR:
        raise _Unsafe
    if _PLAIN.match(value) and not value.endswith(":") and ": " not in value:  # printable ASCII, no indicator
        return value if _resolves_to_string(value) else "'" + value.replace("'", "''") + "'"
    if not _PRINTABLE.match(value):
        raise _Unsafe
    if _resolves_to_string(value) and not _not_plain(value):
        raise _Unsafe  # neither provably plain nor provably quoted
    return "'" + value.replace("'", "''") + "'"


def _not_plain(value: str) -> bool:
    """Rules under which both emitters refuse the plain style in block context (for printable ASCII)."""
    return (
        value == ""
        or value[0] in ",[]{}#&*!|>'\"%@` "
        or value in ("-", "?")
        or value.startswith(("- ", "? ", "---", "..."))
        or value.endswith((" ", ":"))
        or ": " in value
        or " #" in value
    )


_RESOLVERS: dict | None = None  # first character -> the regexps of PyYAML's implicit resolvers that may match


def _resolves_to_string(value: str) -> bool:
    """Whether PyYAML's resolver reads `value`, written plain, back as a string (its own table: bool, int, float, null, timestamp, ...)."""
    global _RESOLVERS
    if _RESOLVERS is None:
        from yaml.resolver import Resolver

        table = Resolver.yaml_implicit_resolvers
        anywhere = tuple(regexp for _, regexp in table.get(None, []))
        _RESOLVERS = {first: tuple(regexp for _, regexp in resolvers) + anywhere for first, resolvers in table.items() if first is not None}
        _RESOLVERS[None] = anywhere
    regexps = _RESOLVERS.get(value[0] if value else "")
    if regexps is None:
        regexps = _RESOLVERS[None]
    for regexp in regexps:
        if regexp.match(value):
            return False
    return True
