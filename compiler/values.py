"""Numbers and addresses as written in .netpol text and manifests: bounded before they are converted, and only in forms every implementation reads alike."""

from __future__ import annotations

import ipaddress
import re

# Larger than every number netpolc checks (ports, prefix lengths): a longer string of
# digits is never converted (Python refuses 4,301 digits and more, and would be slow).
TOO_LARGE = 10**18
_MAX_DIGITS = len(str(TOO_LARGE)) - 1

_IPV4 = re.compile(r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_PREFIX = re.compile(r"/([0-9]{1,3})")
_LONGEST_CIDR = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128")


def decimal(text: str) -> int | None:
    """The value of a string of ASCII digits (None for anything else); more than 18 digits is TOO_LARGE."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else TOO_LARGE


def shown(text: str, limit: int = 24) -> str:
    """`text` as a message may echo it: a long one is cut and its length said (`999999999999… (4,301 characters)`)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}… ({len(text):,} characters)"


def quoted(text: str, limit: int = 24) -> str:
    """`text` in backticks, cut like `shown` (the length stays outside the backticks)."""
    if len(text) <= limit:
        return f"`{text}`"
    return f"`{text[: limit // 2]}…` ({len(text):,} characters)"


class AddressProblem(ValueError):
    """Text that netpolc does not read as an address or CIDR. `code` is the diagnostic it becomes in .netpol text."""

    def __init__(self, code: str, message: str, hint: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def network(text: str, strict: bool = True, needs_prefix: bool = False) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4 or IPv6 CIDR (a bare address is one host unless `needs_prefix`), or AddressProblem.

    Go (which most CNIs and the API server are written in) and Python read some forms
    differently; those are refused, never guessed: leading zeros (`010.0.0.0/8` is octal
    10 to some parsers, decimal to others), netmask prefixes (`/255.0.0.0`), zone ids
    (`fe80::1%eth0`), and IPv6 addresses that embed an IPv4 one (`::ffff:10.0.0.0/104` is
    IPv4 10.0.0.0/8 to Go and IPv6 only to Python). `strict` refuses host bits.
    """
    example = "write e.g. 10.0.0.0/8 or 2001:db8::/32"
    written = quoted(text, 48)
    if len(text) > _LONGEST_CIDR:
        raise AddressProblem("NP304", f"{written} is not a valid IP address or CIDR: it is longer than any address", example)
    address, slash, prefix = text.partition("/")
    if "%" in address:
        raise AddressProblem("NP304", f"{written} has a zone id (`%{address.partition('%')[2]}`)", "a zone id names an interface of one host, which a policy cannot: " + example)
    if slash and not _PREFIX.fullmatch(slash + prefix):
        raise AddressProblem("NP304", f"{written} is not a valid CIDR: the prefix length {quoted('/' + prefix)} is not a number", "the prefix length is the number of network bits, e.g. /8 or /64 (not a netmask such as /255.0.0.0)")
    if slash and len(prefix) > 1 and prefix.startswith("0"):
        raise AddressProblem("NP304", f"{written} has a leading zero in its prefix length", f"write /{int(prefix)}")
    if needs_prefix and not slash:
        raise AddressProblem("NP304", f"{written} is an address, not a CIDR", f"write {address}/32 for one IPv4 address, or {address}/128 for one IPv6 address")
    if _IPV4.fullmatch(address):
        octets = address.split(".")
        if any(len(o) > 1 and o.startswith("0") for o in octets):
            fixed = ".".join(str(int(o)) for o in octets)
            raise AddressProblem("NP304", f"{written} has an octet with a leading zero", f"leading zeros mean octal to some parsers and decimal to others: write {fixed}{slash}{prefix} if you mean decimal")
    elif not _IPV6.fullmatch(address):
        raise AddressProblem("NP304", f"{written} is not a valid IP address or CIDR", example)
    try:
        parsed = ipaddress.ip_network(text, strict=strict)
    except ValueError as err:
        if strict:
            try:
                loose = ipaddress.ip_network(text, strict=False)
            except ValueError:
                pass
            else:
                raise AddressProblem(
                    "NP304", f"{written} has host bits set",
                    f"write `{loose}` for the whole network, or `{address}/{loose.max_prefixlen}` for one address",
                ) from None
        raise AddressProblem("NP304", f"{written} is not a valid IP address or CIDR", f"{err}; {example}") from None
    embedded = _embedded_ipv4(parsed)
    if embedded is not None:
        kind, meaning = embedded
        if kind == "mapped":
            message = f"{written} is an IPv4-mapped IPv6 CIDR: Go's net.ParseCIDR reads it as IPv4 {meaning}, other parsers as IPv6 only, so what a CNI enforces depends on its parser"
        else:
            message = f"{written} is an IPv4-compatible IPv6 CIDR (deprecated by RFC 4291): it names {meaning} but matches no IPv4 traffic"
        raise AddressProblem("NP311", message, f"write `{meaning}` for IPv4 addresses, or a plain IPv6 CIDR such as 2001:db8::/32")
    return parsed


def _embedded_ipv4(net) -> tuple[str, ipaddress.IPv4Network] | None:
    """("mapped" for ::ffff:0:0/96 or "compatible" for ::/96, the IPv4 network it stands for), or None."""
    if net.version != 6:
        return None
    value = int(net.network_address)
    if value >> 32 == 0xFFFF:
        kind = "mapped"
    elif value >> 32 == 0 and value > 1:  # :: and ::1 (loopback) are IPv6 addresses of their own
        kind = "compatible"
    else:
        return None
    return kind, ipaddress.IPv4Network((value & 0xFFFFFFFF, max(0, net.prefixlen - 96)), strict=False)
