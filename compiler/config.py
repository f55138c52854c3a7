"""Project configuration: `netpolc.toml`, or `[tool.netpolc]` in pyproject.toml, found from the working folder upward."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic
from .paths import resolved
from .source import SourceFile, Span, UnreadableSource, read_bounded, read_source

CONFIG_NAME = "netpolc.toml"
PYPROJECT = "pyproject.toml"
SECTION = ("tool", "netpolc")
KEYS = ("cni", "pod-cidrs", "expand-port-ranges", "named-ports", "ignore", "paths", "output")


@dataclass
class Config:
    """The validated keys of a config file, and where each top-level key is written."""

    source: SourceFile
    cni: tuple[str, ...] = ()
    pod_cidrs: tuple[str, ...] = ()
    expand_port_ranges: int | None = None
    named_ports: dict[str, int] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()  # warning codes silenced in the whole project (compiler/suppress.py)
    paths: tuple[str, ...] = ()  # the sources `check` and `compile` read when given none (relative to the working folder)
    output: str | None = None  # the output folder `compile --check` compares when given no -o
    spans: dict[str, Span] = field(default_factory=dict)
    ignore_spans: dict[str, Span] = field(default_factory=dict)


def find(start: Path) -> tuple[Path, tuple[str, ...]] | None:
    """The config file that applies in `start`, and the table its keys live in.

    Searched from `start` upward; the search stops at a folder holding `.git` (the project
    root) or at the filesystem root. In one folder netpolc.toml wins over pyproject.toml,
    and a pyproject.toml without `[tool.netpolc]` does not count.
    """
    for folder in (start, *start.parents):
        # Whatever stands under the name counts (a FIFO, a folder, a dangling link): load()
        # refuses it (NP804) rather than checking without the config it may hold.
        if os.path.lexists(folder / CONFIG_NAME):
            return folder / CONFIG_NAME, ()
        pyproject = folder / PYPROJECT
        if os.path.lexists(pyproject) and _has_section(pyproject):
            return pyproject, SECTION
        if (folder / ".git").exists():
            return None
    return None


def _has_section(path: Path) -> bool:
    """Whether pyproject.toml has [tool.netpolc]; True when it cannot be read safely (load() then says why)."""
    try:
        data = read_bounded(path, PYPROJECT, kind="a config file")
    except UnreadableSource:
        return True  # not a regular file, too large, unreadable: it may hold the config, so refuse it
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False  # not ours to report: the build tool will
    if "netpolc" not in text:  # most pyproject files: no need to parse (tomllib costs start-up time)
        return False
    import tomllib

    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):  # ValueError: an integer of more than 4,300 digits
        return False  # not ours to report: the build tool will
    return isinstance(data.get("tool"), dict) and "netpolc" in data["tool"]


def discover(start: Path | None = None) -> tuple[Config | None, list[Diagnostic]]:
    """Find and load the config for the working folder (None: there is none)."""
    found = find(resolved(start or Path.cwd()))
    if found is None:
        return None, []
    return load(*found)


def load(path: Path, section: tuple[str, ...] = ()) -> tuple[Config | None, list[Diagnostic]]:
    """Read, parse and validate a config file; every problem is a diagnostic at the key's line."""
    import tomllib

    from .resolve import display_name

    name = display_name(path)
    try:
        source = read_source(path, name, kind="a config file")
    except UnreadableSource as err:
        return None, [Diagnostic("NP804", Span.whole_file(name), f"config file {err.reason}", err.hint)]
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as err:
        return Config(source), [_syntax_error(source, err)]
    except ValueError:  # Python refuses to convert an integer of more than 4,300 digits
        return Config(source), [_huge_number(source)]
    for key in section:
        data = data[key]
    config = Config(source)
    if not isinstance(data, dict):
        span = _span(source, section)
        return config, [Diagnostic("NP802", span, f"`{'.'.join(section)}` must be a table", "write it as a [tool.netpolc] section")]
    found = _schema_errors(source, section, data)
    diagnostics = [d for _, d in found]
    bad = {key for key, _ in found}  # keys with a schema error are not checked further or used
    config.spans = {key: _span(source, (*section, key)) for key in data if key in KEYS}
    if "cni" in data and "cni" not in bad:
        diagnostics += _check_cni(source, section, data["cni"])
        config.cni = tuple(data["cni"])
    if "pod-cidrs" in data and "pod-cidrs" not in bad:
        diagnostics += _check_cidrs(source, section, data["pod-cidrs"])
        config.pod_cidrs = tuple(data["pod-cidrs"])
    if "expand-port-ranges" in data and "expand-port-ranges" not in bad:
        config.expand_port_ranges = data["expand-port-ranges"]
    if "named-ports" in data and "named-ports" not in bad:
        config.named_ports = dict(data["named-ports"])
    # Paths are written relative to the config file's folder and used relative to the working folder.
    if "paths" in data and "paths" not in bad:
        config.paths = tuple(_from_config(path, p) for p in data["paths"])
    if "output" in data and "output" not in bad:
        config.output = _from_config(path, data["output"])
    if "ignore" in data and "ignore" not in bad:
        config.ignore = tuple(data["ignore"])
        config.ignore_spans = {code: _span(source, (*section, "ignore", index), code) for index, code in enumerate(config.ignore)}
    return config, diagnostics


def _from_config(config_file: Path, written: str) -> str:
    """A path of the config file (relative to its folder) as the command line would name it."""
    target = Path(os.path.normpath(config_file.parent / written))
    try:
        return os.path.relpath(target, Path.cwd()) if target.is_absolute() else target.as_posix()
    except ValueError:
        return str(target)


# ---------------------------------------------------------------- validation


def _syntax_error(source: SourceFile, err) -> Diagnostic:
    message = str(err)
    match = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if match:
        line, column = int(match.group(1)), int(match.group(2))
    else:  # "(at end of document)"
        line = max(1, source.text.count("\n") + (0 if source.text.endswith("\n") else 1))
        column = len(source.line_text(line)) + 1
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    return Diagnostic(
        "NP800",
        Span(source.name, line, column, line, column + 1),
        f"config file is not valid TOML: {reason[:1].lower()}{reason[1:]}",
        'keys look like `cni = ["calico", "cilium@1.15"]`; strings need double quotes',
    )


def _huge_number(source: SourceFile) -> Diagnostic:
    match = re.search(r"[0-9][0-9_]{99,}", source.text)
    start, end = (match.start(), match.end()) if match else (0, 1)
    span = source.span_of(start, end)
    return Diagnostic(
        "NP800",
        span._replace(end_line=span.line, end_column=span.column + 1) if span.end_line != span.line else span,
        f"config file is not valid TOML: a number of {end - start:,} digits is too long to read",
        "every number in netpolc.toml is small (a port, a count of ports): write it without the extra digits",
    )


def _schema_errors(source: SourceFile, section: tuple[str, ...], data: dict) -> list[tuple[str, Diagnostic]]:
    """(top-level key, diagnostic) for each way `data` breaks the schema."""
    if _fast_validator()(data):
        return []  # the common case, on every run of every command: jsonschema (50 ms to import) only to say what is wrong
    schema, validator = _validator()
    out = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = tuple(error.absolute_path)
        top = str(path[0]) if path else ""
        hint = schema["properties"].get(top, {}).get("description", "")
        if error.validator == "additionalProperties":
            for key in sorted(set(error.instance) - set(schema["properties"])):
                out.append((key, _unknown_key(source, section, key)))
            continue
        if "propertyNames" in error.relative_schema_path:
            where = (*section, *path, error.instance)
            message = f"`{top}.{error.instance}`: `{error.instance}` is not a valid port name"
            hint = "a port name is at most 15 characters of lowercase letters, digits and '-', with a letter (as in the pod's containerPort name)"
            out.append((top, Diagnostic("NP802", _span(source, where), message, hint)))
            continue
        if error.validator == "type":
            expected = _TYPE_WORDS.get(error.validator_value, error.validator_value)
            message = f" must be {expected}, not {_describe(error.instance)}"
        elif error.validator == "uniqueItems":
            message = " lists the same entry twice"
        else:
            message = f": {error.message}"
        value = error.instance if path and isinstance(path[-1], int) else _MISSING
        out.append((top, Diagnostic("NP802", _span(source, (*section, *path), value), f"`{_dotted(path)}`{message}", hint)))
    return out


def _unknown_key(source: SourceFile, section: tuple[str, ...], key: str) -> Diagnostic:
    import difflib

    close = difflib.get_close_matches(key, KEYS, n=1)
    hint = (f"did you mean `{close[0]}`? " if close else "") + f"the keys are {', '.join(KEYS)}"
    return Diagnostic("NP801", _span(source, (*section, key)), f"unknown key `{key}` in the config file", hint)


def _check_cni(source: SourceFile, section: tuple[str, ...], specs: list[str]) -> list[Diagnostic]:
    from .targets import TargetError, load_target

    out = []
    for index, spec in enumerate(specs):
        try:
            load_target(spec)
        except TargetError as err:
            out.append(Diagnostic("NP803", _span(source, (*section, "cni", index), spec), f"`cni`: {err.message}", err.hint))
    return out


def _check_cidrs(source: SourceFile, section: tuple[str, ...], cidrs: list[str]) -> list[Diagnostic]:
    import ipaddress

    out = []
    for index, cidr in enumerate(cidrs):
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as err:
            out.append(Diagnostic(
                "NP802",
                _span(source, (*section, "pod-cidrs", index), cidr),
                f"`pod-cidrs`: `{cidr}` is not a CIDR ({err})",
                "write the network address and prefix length, e.g. 10.244.0.0/16 or fd00:10:244::/56",
            ))
    return out


_TYPE_WORDS = {"array": "a list", "object": "a table", "integer": "a whole number", "string": "a string"}


def _describe(value) -> str:
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "a table"}.get(type(value), "a value")
    return f"{kind} ({value!r})" if isinstance(value, (bool, int, float, str)) else kind


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_VALIDATOR = None


@functools.cache
def _fast_validator():
    """Whether a config is valid, by fastjsonschema (the schema uses draft-07 keywords only, which it implements
    as jsonschema does; tests/test_config.py checks that both agree on every config the tests write)."""
    import json

    import fastjsonschema

    check = fastjsonschema.compile(json.loads((Path(__file__).parent / "data" / "config.schema.json").read_text(encoding="utf-8")))

    def valid(data) -> bool:
        try:
            check(data)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return valid


def _validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        import json

        import jsonschema

        schema = json.loads((Path(__file__).parent / "data" / "config.schema.json").read_text(encoding="utf-8"))
        _VALIDATOR = (schema, jsonschema.Draft202012Validator(schema))
    return _VALIDATOR


# ---------------------------------------------------------------- positions
# tomllib gives values, not positions: keys are found again in the text, line by line.

_MISSING = object()
_SIMPLE = r"[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_KEY_PATH = rf"(?:{_SIMPLE})(?:[ \t]*\.[ \t]*(?:{_SIMPLE}))*"
_HEADER = rf"^[ \t]*\[\[?[ \t]*({_KEY_PATH})[ \t]*\]"  # compiled on use (re caches): start-up
_ASSIGN = rf"^[ \t]*({_KEY_PATH})[ \t]*="


def _key_parts(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_SIMPLE, text))


def _keys(text: str) -> list[tuple[tuple[str, ...], int, int]]:
    """(full key path, start offset, end offset) of every table header and `key =` line."""
    found, table, offset = [], (), 0
    for line in text.splitlines(keepends=True):
        header = re.match(_HEADER, line)
        assign = None if header else re.match(_ASSIGN, line)
        if header:
            table = _key_parts(header.group(1))
            found.append((table, offset + header.start(1), offset + header.end(1)))
        elif assign:
            found.append(((*table, *_key_parts(assign.group(1))), offset + assign.start(1), offset + assign.end(1)))
        offset += len(line)
    return found


def _span(source: SourceFile, path: tuple, value=_MISSING) -> Span:
    """Where `path` (keys, then list indexes) is written; with `value`, where that value is."""
    text = source.text
    keys = tuple(p for p in path if isinstance(p, str))
    entries = _keys(text)
    start = end = 0
    limit = len(text)
    for n in range(len(keys), 0, -1):  # the longest prefix of the path that has a line of its own
        hits = [(s, e) for k, s, e in entries if k == keys[:n]]
        if hits:
            start, end = hits[0]
            later = [s for _, s, _ in entries if s > start]
            limit = min(later, default=len(text))
            for key in keys[n:]:  # the rest is inside an inline table: `named-ports = {metrics = 9090}`
                match = re.compile(rf"(?<![\w-])([\"']?){re.escape(key)}\1[ \t]*=").search(text, end, limit)
                if match:
                    start, end = match.start(), match.start() + len(match.group(0).rstrip("= \t"))
            break
    if value is not _MISSING:
        literal = re.escape(str(value).lower() if isinstance(value, bool) else str(value))
        pattern = rf"([\"']){literal}\1" if isinstance(value, str) else rf"(?<![\w.]){literal}(?![\w.])"
        match = re.compile(pattern).search(text, end, limit)
        if match:
            start, end = match.start(), match.end()
    span = source.span_of(start, max(end, start + 1))
    return span if span.end_line == span.line else span._replace(end_line=span.line, end_column=span.column + 1)
