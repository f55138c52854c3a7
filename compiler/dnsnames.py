"""DNS names as peers: which words are names, their validation, the wildcard forms, and what a pattern matches.

The language's meaning, the one every backend is checked against:

- `api.stripe.com` is that name only (a trailing dot, `api.stripe.com.`, is the same absolute name);
- `*.stripe.com` is every name with exactly one more label (`api.stripe.com`, not `stripe.com`,
  not `eu.api.stripe.com`);
- `**.stripe.com` is every name with one or more labels more (never `stripe.com` itself);
- `api-*.stripe.com` is a wildcard inside the first label: `*` matches letters, digits, `-`
  and `_`, never a dot.

A CNI whose wildcard means something else either has a form that means the same (Antrea's
`*.stripe.com` is our `**.stripe.com`) or is refused (`fqdn.py`): never broader than written.
"""

from __future__ import annotations

import functools
import re

MAX_NAME = 253
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_NAME_LIKE_PART = re.compile(r"^[-a-z0-9_]*$", re.IGNORECASE)  # what a mistyped DNS label may hold
# The first label of a wildcard: `*`, `**`, or letters, digits and '-' then one `*` (never first:
# Cilium reads a leading `*` not followed by a dot as "this name and its subdomains").
PARTIAL = re.compile(r"^[a-z0-9-]+\*[a-z0-9-]*$")

EXACT, ONE_LABEL, MULTI_LABEL, PARTIAL_LABEL = "exact", "one-label", "multi-label", "partial-label"


def bare(name: str) -> str:
    """The name without the trailing dot of an absolute name (`api.stripe.com.` -> `api.stripe.com`)."""
    return name[:-1] if name.endswith(".") else name


def looks_like_host_name(text: str) -> bool:
    """A DNS name such as `api.stripe.com`: two or more dot-separated DNS labels, the last alphabetic, and no `/` or `=`.

    A label key with a prefix (`app.kubernetes.io/part-of`) has a `/` and is not one. Letters of
    either case count here (so that `API.stripe.com` is reported as a name written in capitals).
    """
    if "/" in text or "=" in text or len(text) > MAX_NAME + 1:
        return False
    parts = bare(text).split(".")
    # Loose on purpose: `a..b.com` or `my_host.example.com` are mistyped names, not label keys; read as
    # names they get NP450 with the fix, where a label reading would silently match no pod.
    return len(parts) >= 2 and all(_NAME_LIKE_PART.match(part) for part in parts) and parts[-1].isalpha() and len(parts[-1]) >= 2


def kind(pattern: str) -> str:
    """exact, one-label (`*.x.com`), multi-label (`**.x.com`) or partial-label (`api-*.x.com`)."""
    first = bare(pattern).split(".", 1)[0]
    if "*" not in first:
        return EXACT
    if first == "*":
        return ONE_LABEL
    if first == "**":
        return MULTI_LABEL
    return PARTIAL_LABEL


LABEL_KEY_HINT = "; a label key with dots keeps its label reading when its namespace is written (`KEY in namespace NS`)"


def problem(text: str) -> tuple[str, str] | None:
    """(message, hint) when `text` is not a name or wildcard the language accepts; None when it is."""
    name = bare(text)
    example = "write a name such as `api.stripe.com` or a wildcard such as `*.stripe.com`"
    if text != text.lower():
        return f"`{_cut(text)}`: DNS names are written in lowercase", f"write `{_cut(text.lower())}` (names match whatever their case; the CNIs compare them in lowercase)"
    if len(name) > MAX_NAME:
        return f"the name is {len(name)} characters, more than {MAX_NAME}", "a DNS name is at most 253 characters"
    labels = name.split(".")
    first, rest = labels[0], labels[1:]
    if "*" in "".join(rest):
        return f"`{_cut(text)}`: a wildcard may stand only in the first label", f"{example}; for several labels write `**.` first (`**.stripe.com`)"
    if "*" in first and not (first in ("*", "**") or (PARTIAL.match(first) and first.count("*") == 1)):
        return f"`{_cut(text)}`: `{_cut(first)}` is not a wildcard label", "the first label is `*` (one label), `**` (one or more labels) or one `*` after a letter or digit (`api-*`)"
    fixed = rest if "*" in first else labels
    if "*" in first and len(fixed) < 2:
        return f"`{_cut(text)}` would match names under a whole top-level domain", "name the domain the wildcard stands under, e.g. `*.stripe.com`"
    for label in fixed:
        if not label:
            return f"`{_cut(text)}` has an empty label (two dots, or a dot at the start)", example + LABEL_KEY_HINT
        if len(label) > 63:
            return f"the label `{_cut(label)}` is {len(label)} characters, more than 63", "a DNS label is at most 63 characters"
        if not LABEL.match(label):
            return f"`{_cut(label)}` is not a DNS label", "a DNS label is letters, digits and '-', starting and ending with a letter or digit (RFC 1123)" + LABEL_KEY_HINT
    if not fixed[-1].isalpha():
        return f"`{_cut(text)}` does not end in a top-level domain", f"{example}; for an address write it as a CIDR (`203.0.113.7/32`)"
    return None


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str):
    first, _, rest = bare(pattern).partition(".")
    tail = r"\." + re.escape(rest)
    if first == "**":
        return re.compile(r"(?:[-a-z0-9_]+\.)+" + re.escape(rest))
    return re.compile(re.escape(first).replace(r"\*", "[-a-z0-9_]*") + tail)


def matches(pattern: str, name: str) -> bool:
    """Whether the language's `pattern` (a name or wildcard) covers the name `name`."""
    name = bare(name)
    if "*" not in pattern:
        return bare(pattern) == name
    return _regex(pattern).fullmatch(name) is not None


def representatives(pattern: str) -> tuple[str, ...]:
    """Names that tell a pattern's meaning apart from its neighbours': the name itself, or for a
    wildcard one name of one label more, one of two labels more, and the domain itself."""
    name = bare(pattern)
    if "*" not in name:
        return (name,)
    first, _, rest = name.partition(".")
    one = (ANY if first in ("*", "**") else first.replace("*", ANY)) + "." + rest
    return (one, ANY + "." + one, rest)


ANY = "netpolc-any"  # the made-up label of a wildcard's representatives (shown as `(any)`)


def shown_name(name: str) -> str:
    """A representative as people read it: `(any).stripe.com`, `(any).(any).stripe.com`."""
    return name.replace(ANY, "(any)")


def _cut(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
