"""Text -> syntax tree (`nodes.Module`) in one LALR pass; parse errors become diagnostics in plain words.

The parser runs the node builder (`transform.BUILDER`) as its inline transformer: the nodes are
made during the parse, no parse tree is built. It is the standalone parser written at install
time when it is current (no Lark import at start-up), else Lark's own with the same builder; both
give the same nodes and the same diagnostics. `lalr_parser` is Lark's, plain (no builder): the
language server asks it what can come next (`parse_interactive`, `accepts`).
"""

from __future__ import annotations

import functools
import re

from .diagnostics import Diagnostic
from .parser_gen import LALR_OPTIONS  # how the parser is built; the generated standalone parser records the same
from .paths import shipped_dir
from .source import SourceFile, Span

STATEMENT_KEYWORDS = ("namespace", "cluster", "use", "allow", "deny", "pass", "egress", "ingress", "expect")

# What each terminal means to a user; anonymous keyword terminals are shown as `keyword`.
TERMINAL_WORDS = {
    "_NL": "the end of the line",
    "$END": "the end of the file",
    "KEY": "a label selector such as app=web",
    "VALUE": 'a label value (`""` for the empty value)',
    "NAME": "a namespace name",
    "MODULE": "a module name such as dns",
    "STRING": 'a quoted path such as "common.netpol"',
    "PORT": "a port (a number, a range such as 8000-8080, or a port name)",
    "ALL_PORTS": "`*/tcp` (every port of one protocol)",
    "PROTOCOL": "a protocol (tcp, udp or sctp)",
    "IP": "an address or CIDR such as 10.0.0.0/8",
    "IN_NAMESPACE": "`in namespace NAME`",
    "IN_NAMESPACES": "`in namespaces SELECTOR`",
    "IN_ANY_NAMESPACE": "`in any namespace`",
    "NAME_PATTERN": "a DNS name wildcard such as *.stripe.com",
}
PEER_START = {"KEY", "ANY", "NAMESPACE", "NAMESPACES", "CLUSTER", "WORLD", "IP", "BANG", "NAME_PATTERN"}
PEER_WORDS = "a peer: pods (app=web or any), `namespace NAME`, `namespaces SELECTOR`, `cluster`, `world`, a CIDR or a DNS name"
STATEMENT_START = {"NAMESPACE", "CLUSTER", "USE", "ALLOW", "DENY", "PASS", "EGRESS", "INGRESS", "EXPECT"}
STATEMENT_WORDS = "a statement (" + ", ".join(f"`{k}`" for k in STATEMENT_KEYWORDS) + ")"




def grammar_text() -> str:
    return (shipped_dir("grammar") / "netpol.lark").read_text(encoding="utf-8")


@functools.cache
def lalr_parser():
    """Lark's LALR parser without the node builder (its parse gives a bare Lark tree), built once per process;
    the tables are cached on disk by Lark. The language server's completion runs it interactively."""
    import lark

    return lark.Lark.open(str(shipped_dir("grammar") / "netpol.lark"), cache=True, **LALR_OPTIONS)


@functools.cache
def lark_parser():
    """Lark's LALR parser with the node builder: `parse`'s when the standalone one is absent or stale."""
    import lark

    from .transform import BUILDER

    return lark.Lark.open(str(shipped_dir("grammar") / "netpol.lark"), cache=True, transformer=BUILDER, **LALR_OPTIONS)


@functools.cache
def standalone_parser():
    """The standalone parser written at build and install time (compiler/parser_gen.py: no Lark import and no
    grammar load at start-up) with the node builder, or None when it is absent or was generated from another
    grammar or other options than the ones shipped: then Lark's own."""
    try:
        from . import _netpol_parser as generated
    except ImportError:
        return None
    if generated.GRAMMAR != grammar_text() or generated.OPTIONS != LALR_OPTIONS:
        return None  # stale (the grammar changed since): never parse with it; `pip install -e .` writes it again
    from .transform import BUILDER

    return generated.Lark_StandAlone(transformer=BUILDER)


def active_parser():
    """The parser `parse` uses: the standalone one when it is current, else Lark's (the same nodes)."""
    return standalone_parser() or lark_parser()


def _errors(parser):
    """(UnexpectedToken, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput) of the parser's own Lark."""
    if parser is standalone_parser():
        from . import _netpol_parser as errors
    else:
        from lark import exceptions as errors
    return errors.UnexpectedToken, errors.UnexpectedCharacters, errors.UnexpectedEOF, errors.UnexpectedInput


def parse(source: SourceFile, parser=None):
    """Parse one file; returns (nodes.Module or None, diagnostics). `parser`: the active one unless given, one built
    with the node builder (tests compare `standalone_parser()` and `lark_parser()`)."""
    from .transform import BUILDER

    parser = parser or active_parser()
    UnexpectedToken, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput = _errors(parser)
    BUILDER.file = source.name  # this thread's: the builder is a threading.local
    try:
        return parser.parse(source.text), []
    except UnexpectedToken as err:
        return None, [_unexpected_token(source, err, parser)]
    except UnexpectedCharacters as err:
        return None, [_unexpected_characters(source, err, parser)]
    except UnexpectedEOF as err:
        span = source.span_of(len(source.text), len(source.text))
        return None, [Diagnostic("NP100", span, "unexpected end of file", _expected_hint(err.expected, parser))]
    except UnexpectedInput as err:  # any other lexer/parser complaint still gets a position
        span = Span(source.name, getattr(err, "line", 1) or 1, getattr(err, "column", 1) or 1, 0, 0)
        return None, [Diagnostic("NP100", span, "cannot parse this line", "check the statement against the README")]


def _describe(terminal: str, parser) -> str:
    if terminal in TERMINAL_WORDS:
        return TERMINAL_WORDS[terminal]
    try:
        pattern = parser.get_terminal(terminal).pattern
        if pattern.type == "str":
            return f"`{pattern.value}`"
    except KeyError:
        pass
    return terminal.lower()


def expected_words(expected, parser) -> list[str]:
    expected = set(expected)
    if "_NL" in expected:  # "end of the line" already says it
        expected.discard("$END")
    words = []
    if len(expected & STATEMENT_START) >= 5:
        words.append(STATEMENT_WORDS)
        expected -= STATEMENT_START
    if len(expected & PEER_START) >= 5:
        words.append(PEER_WORDS)
        expected -= PEER_START
    words.extend(sorted({_describe(t, parser) for t in expected}))
    return words


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _expected_hint(expected, parser) -> str:
    words = expected_words(expected, parser)
    return f"expected {_join(words)}" if words else ""


def _token_text(token) -> str:
    return f"`{_shorten(str(token))}`"


def _unexpected_token(source: SourceFile, err, parser) -> Diagnostic:
    token = err.token
    if token.type == "$END":
        span = source.span_of(len(source.text), len(source.text))
    else:
        line, column = token.line or 1, token.column or 1
        end_line = token.end_line or line
        end_column = token.end_column or column + 1
        if token.type == "_NL":  # point at the end of the line, not the next one
            end_line, end_column = line, column + 1
        span = Span(source.name, line, column, end_line, end_column)
    expected = _acceptable(err)
    if expected >= STATEMENT_START:
        return _statement_typo(source, span, str(token), parser, expected)
    if token.type in ("_NL", "$END"):
        message = "the line ends too early" if token.type == "_NL" else "the file ends too early"
    else:
        message = f"unexpected {_token_text(token)}"
    return Diagnostic("NP100", span, message, _expected_hint(expected, parser))


def _acceptable(err) -> set[str]:
    """Terminals that can really come next. LALR merges states, so the raw lookahead set
    can list tokens of other statements (`->` inside an allow); asking the interactive
    parser filters those out."""
    try:
        accepted = err.interactive_parser.accepts()
    except Exception:  # older Lark, or a state it cannot replay: fall back to the raw set
        return set(err.expected)
    return set(accepted) or set(err.expected)


def _unexpected_characters(source: SourceFile, err, parser) -> Diagnostic:
    line, column = err.line, err.column
    rest = source.text[err.pos_in_stream:]
    word = re.match(r"[^\s]+", rest)
    shown = word.group(0) if word else rest[:1]
    span = Span(source.name, line, column, line, column + max(1, len(shown)))
    expected = set(err.allowed or ())
    if expected >= STATEMENT_START:
        return _statement_typo(source, span, shown, parser, expected)
    char = rest[:1]
    if char and not char.isprintable():
        message = f"unexpected character U+{ord(char):04X}"
    else:
        message = f"unexpected `{_shorten(shown)}`"
    return Diagnostic("NP101", span, message, _expected_hint(expected, parser))


def _statement_typo(source, span, word: str, parser, expected) -> Diagnostic:
    keyword = re.match(r"[A-Za-z][\w-]*", word)
    import difflib

    close = difflib.get_close_matches(keyword.group(0), STATEMENT_KEYWORDS, n=1) if keyword else []
    hint = f"did you mean `{close[0]}`?" if close else f"a line starts with {STATEMENT_WORDS}"
    return Diagnostic("NP102", span, f"unknown statement `{_shorten(word)}`", hint)


def _shorten(text: str, limit: int = 40) -> str:
    text = text.replace("`", "'")
    return text if len(text) <= limit else text[: limit - 1] + "…"
