"""Kubernetes objects from YAML/JSON streams, bounded and with positions; the NetworkPolicy reader on top of them.

Two layers:

- **Objects** (`read_inputs`, `read_objects`, `KubeObject`): files, folders and `-` (standard
  input) become Kubernetes objects in the order `kubectl apply` would apply them, each
  with its data (plain dicts, lists and scalars, as kubectl reads the YAML) and its
  composed YAML node, so that `KubeObject.at(path)` gives the line:col of any field.
  A `kind: List` (or `*List`) document yields its items, each at its own line. The
  stream is bounded before anything is built: its size, the nesting depth, and what
  YAML aliases may add when expanded (a "billion laughs" is refused at its document).
  Whatever cannot be read is NP701 at its position; the other documents are still read.
- **NetworkPolicy** (`network_policies`, `load`): each NetworkPolicy object is checked
  against the input schema `data/networkpolicy-input.schema.json` (the API's shape),
  then against the rules a schema cannot say, given its namespace (`-n`, as
  `kubectl apply -n`), and read into the engine's model; two objects with the same
  namespace/name leave only the later one (NP702).
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from . import engine
from .diagnostics import Diagnostic
from .source import SourceFile, Span, UnreadableSource, decode_source, read_source

SUFFIXES = (".yaml", ".yml")  # what a folder is searched for
STREAM_SUFFIXES = (*SUFFIXES, ".json")  # a file named on the command line with one of these is YAML/JSON, not .netpol
API_VERSION = "networking.k8s.io/v1"
STDIN = "-"
STDIN_NAME = "<stdin>"

# Bounds on one stream, checked on the composed nodes before any Python object is built.
MAX_BYTES = 32 * 1024 * 1024  # a YAML input: `helm template` of a big chart, `kustomize build` of an overlay
YAML_KIND = "a YAML input"
MAX_DEPTH = 100  # nesting of mappings and lists (a NetworkPolicy needs 8, a Pod with managedFields ~20)
ALIAS_FACTOR, ALIAS_FLOOR, ALIAS_CAP = 10, 10_000, 1_000_000  # nodes aliases may add: FACTOR x the document's own, within [FLOOR, CAP]
MAX_NUMBER_CHARS = 100  # longer numbers fit no Kubernetes field (and int() refuses past 4,300 digits)
MAX_PROBLEMS = 100  # per stream: past this, a stream is not Kubernetes YAML, and reading on only floods the output

YAML_HINT = "fix the YAML; `kubectl apply --dry-run=client -f FILE` shows the same problem"


class PolicyInputError(Exception):
    """A command-line input that does not exist, holds no YAML file, or reads standard input twice (exit code 2)."""


# ---------------------------------------------------------------- objects


class KubeObject:
    """One object of a stream: its data, its composed YAML node, and where it begins.

    An object read by the JSON fast path has no node until a position is asked for: then
    its document is composed once (JSON is YAML) and the node found by the object's index.
    """

    __slots__ = ("data", "_node", "_span", "label", "_lazy")

    def __init__(self, data: dict, node, span: Span | None, label: str, lazy: tuple | None = None):
        self.data = data  # as kubectl reads it: str keys; str, int, float, bool, None, dict and list values
        self._node = node  # the yaml.MappingNode it was built from (aliases shared, not copied), or None
        self._span = span  # its first line: the document's, or its own as an item of a List
        self.label = label  # "document 3", or "document 2, items[4]" for an item of a List
        self._lazy = lazy  # (_LazyDocument, index in items or None) for the JSON fast path

    @property
    def node(self):
        if self._node is None and self._lazy is not None:
            document, index = self._lazy
            self._node = document.node(index)
        return self._node

    @property
    def span(self) -> Span:
        if self._span is None:
            self._span = _span(self._lazy[0].file, self.node)
        return self._span

    @property
    def kind(self) -> str:
        return self.data["kind"]

    @property
    def api_version(self) -> str:
        return self.data["apiVersion"]

    @property
    def metadata(self) -> dict:
        metadata = self.data.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def name(self) -> str | None:
        name = self.metadata.get("name")
        return name if isinstance(name, str) and name else None

    @property
    def namespace(self) -> str | None:
        namespace = self.metadata.get("namespace")
        return namespace if isinstance(namespace, str) and namespace else None

    def at(self, path: tuple = (), key: bool = False) -> Span:
        """Where the field at `path` (keys and list indexes) is written: its value, or its key with key=True.

        A path that goes past what is written (a missing field) stops at the deepest
        field that exists, so a diagnostic always lands on a line of the object.
        """
        node, key_node = self.node, None
        for step in path:
            found = _child(node, step)
            if found is None:
                return _span(self.span.file, node)
            key_node, node = found
        return _span(self.span.file, key_node if key and key_node is not None else node)


@dataclass
class Stream:
    """Every object of the inputs in apply order, the texts (for carets) and what could not be read."""

    objects: list[KubeObject] = field(default_factory=list)
    files: dict[str, SourceFile] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    documents: int = 0  # non-empty documents read


def path_text(path: tuple) -> str:
    """("spec", "ingress", 0, "from") -> "spec.ingress[0].from"; keys with dots or slashes in brackets."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step):
            out += f".{step}" if out else step
        else:
            out += f"[{_short(step)}]"
    return out or "(the object)"


def yaml_files(arguments: list[str]) -> list[tuple[Path | None, str, tuple]]:
    """Files, folders and `-` -> (path, display name, refusal) in apply order; folders searched for .yaml/.yml, hidden entries skipped.

    Standard input is (None, "<stdin>", ()). Within a folder files are sorted, as `kubectl apply -f DIR`
    applies them; the walk keeps to the folder as every folder input does (`resolve.folder_entries`):
    a symlink that leads out of it is refused (NP203) at its own path, and nothing but regular
    files is ever read.
    """
    from .resolve import display_name, folder_entries

    if arguments.count(STDIN) > 1:
        raise PolicyInputError("standard input (-) can be read only once: give `-` once")
    found: dict[str, tuple[Path | None, tuple]] = {}
    for argument in arguments:
        if argument == STDIN:
            found.setdefault(STDIN_NAME, (None, ()))
            continue
        path = Path(argument)
        if path.is_dir():
            entries = folder_entries(path, SUFFIXES)
            if not entries:
                raise PolicyInputError(f"{argument}: no .yaml or .yml files in this folder")
            for entry in entries:
                found.setdefault(entry.name, (entry.path, entry.refused))
        elif path.exists() or path.is_symlink():
            found.setdefault(display_name(path), (path, ()))  # a FIFO or device is refused by the bounded reader, by name
        else:
            raise PolicyInputError(f"{argument}: no such file or folder")
    return [(path, name, refused) for name, (path, refused) in found.items()]


def read_inputs(arguments: list[str], limit: int = MAX_BYTES) -> Stream:
    """Read every object of the given files, folders and `-`; unreadable files are NP103 (exit 2). At most `limit` bytes each."""
    stream = Stream()
    for path, name, refused in yaml_files(arguments):
        if refused:
            code, message, hint = refused
            stream.diagnostics.append(Diagnostic(code, Span.whole_file(name), message, hint))
            continue
        try:
            source = _read_stdin(limit) if path is None else read_source(path, name, limit, YAML_KIND)
        except UnreadableSource as err:
            stream.diagnostics.append(Diagnostic("NP103", Span.whole_file(err.name), err.reason, err.hint))
            continue
        stream.files[name] = source
        objects, diagnostics, documents = read_objects(source)
        stream.objects += objects
        stream.diagnostics += diagnostics
        stream.documents += documents
    return stream


def _read_stdin(limit: int = MAX_BYTES) -> SourceFile:
    """Standard input, at most `limit` bytes (one byte more is read to tell)."""
    from .source import read_stream

    data = read_stream(sys.stdin.buffer, STDIN_NAME, limit, YAML_KIND)
    return decode_source(STDIN_NAME, data, None, limit, YAML_KIND)


def read_objects(source: SourceFile) -> tuple[list[KubeObject], list[Diagnostic], int]:
    """One YAML/JSON stream -> its objects, NP701 for what cannot be read, and the number of non-empty documents."""
    # Composing allocates a node per scalar: with the cycle collector on, 2 MiB take 3x as long.
    with engine.paused_gc():
        return _read_objects(source)


def _read_objects(source: SourceFile) -> tuple[list[KubeObject], list[Diagnostic], int]:
    import yaml

    fast = _json_objects(source)
    if fast is not None:
        return fast
    objects: list[KubeObject] = []
    diagnostics: list[Diagnostic] = []
    documents = 0
    number = 0
    nodes = _compose(source.text)
    while True:
        try:
            node = next(nodes, None)
        except (yaml.YAMLError, RecursionError) as err:
            diagnostics.append(_syntax_error(source, err))
            break
        if node is None:
            break
        number += 1
        problem = _bounds_problem(node, number) if node.id != "scalar" else ""
        if problem:
            diagnostics.append(Diagnostic("NP701", _span(source.name, node), problem, "write the repeated or nested part out plainly; no NetworkPolicy or workload needs this"))
            continue
        try:
            data = _construct(node)
        except _Unreadable as err:
            diagnostics.append(Diagnostic("NP701", _span(source.name, err.node), f"document {number}: {err.message}", YAML_HINT))
            continue
        if data is None:
            continue  # an empty document (`---` at the end of a file)
        documents += 1
        objects += _objects_of(source.name, number, node, data, diagnostics)
        if len(diagnostics) >= MAX_PROBLEMS:
            stop = diagnostics[MAX_PROBLEMS - 1].span
            del diagnostics[MAX_PROBLEMS - 1 :]
            diagnostics.append(Diagnostic("NP701", stop, f"{MAX_PROBLEMS - 1} problems in this stream already: stopped reading it here", "is this the file you meant? fix the problems above and run again"))
            break
    return objects, diagnostics, documents


class _Refused(Exception):
    """The JSON fast path cannot vouch for this stream: read it the YAML way, which says where and why."""


class _LazyDocument:
    """A JSON document whose YAML nodes are composed only when a position is needed (once)."""

    def __init__(self, file: str, text: str):
        self.file, self.text, self.root = file, text, None

    def node(self, index: int | None):
        if self.root is None:
            self.root = next(_compose(self.text))
        if index is None:
            return self.root
        _, items = _child(self.root, "items")
        return items.value[index]


def _json_objects(source: SourceFile) -> tuple[list[KubeObject], list[Diagnostic], int] | None:
    """`kubectl get ... -o json` read by the JSON parser (a hundred times faster than YAML on a snapshot); None to read it as YAML.

    Only a stream the YAML path would read the same way is taken here: one JSON object, no
    duplicate keys, numbers of bounded length, nesting within MAX_DEPTH. Anything else goes
    the YAML way, which bounds and explains it with positions.
    """
    import json

    text = source.text
    if not text.lstrip().startswith("{"):
        return None

    def pairs(items):
        out = dict(items)
        if len(out) != len(items):
            raise _Refused("a duplicate key")
        return out

    def number(text: str):
        if len(text) > MAX_NUMBER_CHARS:
            raise _Refused("a number too long")
        return int(text)

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_int=number, parse_constant=lambda c: (_ for _ in ()).throw(_Refused(c)))
    except (ValueError, RecursionError, _Refused):
        return None
    if not isinstance(data, dict) or _depth(data) > MAX_DEPTH:
        return None
    document = _LazyDocument(source.name, text)
    diagnostics: list[Diagnostic] = []
    label = "document 1"
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in data:
        items = data["items"]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return None
        objects = [KubeObject(item, None, None, f"{label}, items[{i}]", (document, i)) for i, item in enumerate(items)]
    else:
        objects = [KubeObject(data, None, None, label, (document, None))]
    return [obj for obj in objects if _is_object(obj, diagnostics)], diagnostics, 1


def _depth(data) -> int:
    """Nesting depth of plain data, without recursion."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, level = pending.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        if isinstance(value, dict):
            pending.extend((v, level + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            pending.extend((v, level + 1) for v in value if isinstance(v, (dict, list)))
    return deepest


def _objects_of(file: str, number: int, node, data, diagnostics: list[Diagnostic]) -> list[KubeObject]:
    """A document -> its object, or the items of a List, each checked to be an object (apiVersion and kind)."""
    label = f"document {number}"
    if not isinstance(data, dict):
        diagnostics.append(
            Diagnostic("NP701", _span(file, node), f"{label} is not a Kubernetes object (a mapping with apiVersion and kind)", "each YAML document must be one manifest; separate manifests with `---`")
        )
        return []
    whole = KubeObject(data, node, _span(file, node), label)
    kind = data.get("kind")
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in data):
        return [whole] if _is_object(whole, diagnostics) else []
    items = data["items"]
    if items is None:
        return []
    if not isinstance(items, list):
        diagnostics.append(Diagnostic("NP701", whole.at(("items",)), f"{label}: {kind}.items: expected a list of objects, got {_show(items)}", "a List holds its objects under `items:`, one `- ` per object"))
        return []
    _, items_node = _child(node, "items")
    out = []
    for index, (item, item_node) in enumerate(zip(items, items_node.value)):
        item_label = f"{label}, items[{index}]"
        if not isinstance(item, dict):
            diagnostics.append(Diagnostic("NP701", _span(file, item_node), f"{item_label}: expected a Kubernetes object (a mapping with apiVersion and kind), got {_show(item)}", "each item of a List is one manifest"))
            continue
        candidate = KubeObject(item, item_node, _span(file, item_node), item_label)
        if _is_object(candidate, diagnostics):
            out.append(candidate)
    return out


def _is_object(obj: KubeObject, diagnostics: list[Diagnostic]) -> bool:
    for field_name in ("apiVersion", "kind"):
        value = obj.data.get(field_name)
        if not (isinstance(value, str) and value):
            problem = "has no " + field_name if value is None else f"{field_name}: expected a string, got {_show(value)}"
            diagnostics.append(
                Diagnostic("NP701", obj.at((field_name,)), f"{obj.label} {problem}", "every manifest names its apiVersion and kind (kubectl refuses it otherwise), e.g. `apiVersion: networking.k8s.io/v1` and `kind: NetworkPolicy`")
            )
            return False
    return True


def _compose(text: str) -> Iterator:
    """The root node of each document, composed with the safe loader (libyaml's when present)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def _syntax_error(source: SourceFile, err: Exception) -> Diagnostic:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(getattr(err, "position", None), int):  # a ReaderError: a character YAML does not allow
        start = source.span_of(err.position, err.position)
        line, column = start.line, start.column
    else:
        line, column = 1, 1
    if isinstance(err, RecursionError):
        problem = f"nested too deeply (more than {MAX_DEPTH} levels)"
    else:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return Diagnostic(
        "NP701",
        Span(source.name, line, column, line, column + 1),
        f"not valid YAML: {problem}",
        "fix the YAML syntax (indentation, a missing ':' or an unclosed quote); `kubectl apply --dry-run=client -f FILE` shows the same problem",
    )


def _span(file: str, node) -> Span:
    start, end = node.start_mark, node.end_mark
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _children(node) -> list:
    """The nodes under a node: keys and values of a mapping, items of a list (node.id is PyYAML's kind of node)."""
    if node.id == "mapping":
        return [n for pair in node.value for n in pair]
    return node.value if node.id == "sequence" else []


def _bounds_problem(root, number: int) -> str:
    """Depth, and nodes added by aliases when expanded, computed on the node graph without expanding it."""
    size: dict[int, int] = {}  # id(node) -> nodes it stands for, aliases expanded
    depth: dict[int, int] = {}
    path: dict[int, list] = {}  # nodes being measured (the ancestors of the top of the stack) -> their children
    stack = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in size:
            stack.pop()
            continue
        children = path.get(key)
        if children is None:  # first visit: measure the children first
            children = path[key] = _children(node)
            if len(path) > MAX_DEPTH:
                return f"document {number}: nested more than {MAX_DEPTH} levels deep"
            for child in children:
                child_key = id(child)
                if child_key in size:
                    continue
                if child_key in path:
                    return f"document {number}: a YAML alias refers to the node that contains it (a recursive structure has no end)"
                if child.id == "scalar":
                    size[child_key], depth[child_key] = 1, 0
                else:
                    stack.append(child)
            continue
        del path[key]
        size[key] = 1 + sum(size[id(c)] for c in children)
        depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
        stack.pop()
    own = len(size)
    added = size[id(root)] - own
    allowed = min(ALIAS_CAP, max(ALIAS_FLOOR, ALIAS_FACTOR * own))
    if added > allowed:
        return (
            f"document {number}: its YAML aliases expand to {_count(size[id(root)])} nodes from {own:,} written "
            f"(aliases may add at most {allowed:,}): refused before expanding it"
        )
    if depth[id(root)] > MAX_DEPTH:
        return f"document {number}: nested more than {MAX_DEPTH} levels deep once its aliases are expanded"
    return ""


def _count(number: int) -> str:
    return f"{number:,}" if number < 10**15 else f"about 10^{len(str(number)) - 1}"


class _Unreadable(Exception):
    def __init__(self, node, message: str):
        super().__init__(message)
        self.node, self.message = node, message


_TAG = "tag:yaml.org,2002:"


@functools.cache
def _scalar_constructor():
    import yaml

    return yaml.constructor.SafeConstructor()


def _scalar(node):
    """A scalar as kubectl's YAML reader (go-yaml) reads it: timestamps and base-60 numbers stay strings."""
    tag = node.tag
    if tag in (_TAG + "str", _TAG + "timestamp", _TAG + "value"):
        return node.value
    if tag == _TAG + "null":
        return None
    constructor = _scalar_constructor()
    try:
        if tag == _TAG + "bool":
            return constructor.construct_yaml_bool(node)
        if tag in (_TAG + "int", _TAG + "float"):
            if ":" in node.value:
                return node.value  # YAML 1.1 base 60 (`1:30`); kubectl reads a string
            if len(node.value) > MAX_NUMBER_CHARS:
                raise _Unreadable(node, f"a number of {len(node.value):,} characters: no Kubernetes field holds one")
            return constructor.construct_yaml_int(node) if tag == _TAG + "int" else constructor.construct_yaml_float(node)
    except (ValueError, KeyError):
        raise _Unreadable(node, f"{_short(node.value)} is not a valid {tag.removeprefix(_TAG)}") from None
    raise _Unreadable(node, f"unsupported YAML tag {tag}: Kubernetes manifests use plain strings, numbers, booleans, mappings and lists")


def _merge_sources(value_node) -> list:
    if value_node.id == "mapping":
        return [value_node]
    if value_node.id == "sequence" and all(n.id == "mapping" for n in value_node.value):
        return list(value_node.value)
    raise _Unreadable(value_node, "a merge key `<<` takes a mapping or a list of mappings")


def _construct(root):
    """Nodes -> plain data, bottom up without recursion; a node shared by aliases becomes one shared object."""
    built: dict[int, object] = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in built:
            continue
        if node.id == "scalar":
            built[key] = _scalar(node)
        elif not done:
            stack.append((node, True))
            stack.extend((c, False) for c in _value_nodes(node) if id(c) not in built)
        elif node.id == "sequence":
            _check_tag(node, "seq")
            built[key] = [built[id(c)] for c in node.value]
        else:
            _check_tag(node, "map")
            built[key] = _mapping(node, built)
    return built[id(root)]


def _value_nodes(node) -> list:
    if node.id == "sequence":
        return node.value
    out = []
    for key_node, value_node in node.value:
        if key_node.tag == _TAG + "merge":
            out += _merge_sources(value_node)
        else:
            out.append(value_node)
    return out


def _check_tag(node, kind: str) -> None:
    if node.tag != _TAG + kind:
        raise _Unreadable(node, f"unsupported YAML tag {node.tag}: Kubernetes manifests use plain mappings and lists")


def _mapping(node, built: dict) -> dict:
    result: dict = {}
    merged = [source for key_node, value_node in node.value if key_node.tag == _TAG + "merge" for source in _merge_sources(value_node)]
    for source in reversed(merged):  # the first mapping merged wins, as in YAML 1.1
        result.update(built[id(source)])
    seen: dict[str, object] = {}
    for key_node, value_node in node.value:
        if key_node.tag == _TAG + "merge":
            continue
        if key_node.id != "scalar":
            raise _Unreadable(key_node, "a mapping key must be a string, not a mapping or a list")
        name = key_node.value
        if name in seen:
            raise _Unreadable(key_node, f"key {_short(name)} appears twice in one mapping (first at line {seen[name].start_mark.line + 1}); kubectl refuses duplicate fields")
        seen[name] = key_node
        result[name] = built[id(value_node)]
    return result


def _child(node, step) -> tuple | None:
    """(key node, value node) of one step of a path, looking through merge keys; None when not written."""
    import yaml

    if isinstance(node, yaml.SequenceNode):
        index = step if isinstance(step, int) else int(step) if str(step).isdigit() else -1
        return (None, node.value[index]) if 0 <= index < len(node.value) else None
    if not isinstance(node, yaml.MappingNode):
        return None
    pending = [node]
    while pending:
        mapping = pending.pop(0)
        merged = []
        for key_node, value_node in mapping.value:
            if key_node.tag == _TAG + "merge":
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                merged += [n for n in sources if isinstance(n, yaml.MappingNode)]
            elif isinstance(key_node, yaml.ScalarNode) and key_node.value == str(step):
                return key_node, value_node
        pending = merged + pending  # explicit keys first, then the merged mappings in order
    return None


def _short(value: str, limit: int = 40) -> str:
    """A value quoted for a message, cut to `limit` characters (a message never echoes a whole huge input)."""
    text = str(value)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _show(value) -> str:
    """What a value is, in the words of YAML, for `expected X, got Y`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 20 else text[:17] + "..."
    if isinstance(value, str):
        return f"the string {_short(value)}"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}" if value else "an empty list"
    return type(value).__name__


# ---------------------------------------------------------------- NetworkPolicy


@dataclass
class Loaded:
    """Policies read from YAML inputs, the texts (for carets) and the problems found."""

    policies: list[engine.Policy] = field(default_factory=list)
    files: dict[str, SourceFile] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    documents: int = 0  # every non-empty document read, NetworkPolicy or not


def load(arguments: list[str], namespace: str | None = None, match_namespace: bool = True, nodes: bool = False) -> Loaded:
    """Read every NetworkPolicy of the given files, folders and `-`; other kinds are skipped.

    `namespace` is where objects without metadata.namespace go (`kubectl apply -n`); with
    `match_namespace`, an object in another namespace is refused (NP704), as kubectl does.
    """
    stream = read_inputs(arguments)
    policies, diagnostics = network_policies(stream.objects, namespace, match_namespace)
    cluster, found = cluster_policies(stream.objects, nodes)
    return Loaded(policies + cluster, stream.files, stream.diagnostics + diagnostics + found, stream.documents)


def network_policies(objects: list[KubeObject], namespace: str | None = None, match_namespace: bool = True) -> tuple[list[engine.Policy], list[Diagnostic]]:
    """The NetworkPolicy objects among `objects`, validated and read; the later of two with one namespace/name wins (NP702)."""
    diagnostics: list[Diagnostic] = []
    kept: dict[tuple[str, str], tuple[KubeObject, engine.Policy]] = {}
    for obj in objects:
        if obj.kind != "NetworkPolicy":
            continue  # Deployments, Services... sit beside policies in real folders
        policy = _read_network_policy(obj, len(kept), namespace, match_namespace, diagnostics)
        if policy is None:
            continue
        _keep_later(kept, (policy.namespace, policy.name), f"NetworkPolicy {policy.namespace}/{policy.name}", obj, policy, diagnostics)
    return [policy for _, policy in kept.values()], diagnostics


def _keep_later(kept: dict, identity: tuple, what: str, obj: KubeObject, policy, diagnostics: list[Diagnostic]) -> None:
    """Keep `policy` under `identity`; one already kept there is dropped with NP702 (the later `kubectl apply` wins)."""
    earlier = kept.pop(identity, None)
    if earlier is not None:
        diagnostics.append(
            Diagnostic(
                "NP702",
                obj.at(("metadata", "name")),
                f"{what} is defined twice (also at {earlier[0].span}); "
                "the API server keeps one object of a name, and the later `kubectl apply` wins: only this one is evaluated",
                "give one of them another name, or delete the one that is out of date",
                related=((earlier[0].span, "the earlier definition, not evaluated"),),
            )
        )
    kept[identity] = (obj, policy)


def _read_network_policy(obj: KubeObject, position: int, namespace: str | None, match_namespace: bool, diagnostics: list) -> engine.Policy | None:
    def problem(path: tuple, message: str, hint: str, code: str = "NP701", key: bool = False) -> None:
        diagnostics.append(Diagnostic(code, obj.at(path, key), f"{obj.label}: NetworkPolicy {name}: {message}", hint))

    name = obj.name or "(unnamed)"
    if obj.api_version != API_VERSION:
        problem(("apiVersion",), f"apiVersion {_short(obj.api_version)}; netpolc reads {API_VERSION}", f"set `apiVersion: {API_VERSION}` (other APIs, e.g. Cilium's or Calico's own policies, have other meanings)")
        return None
    manifest = _without_nulls(obj.data)
    metadata = manifest.get("metadata")
    if isinstance(metadata, dict) and metadata.get("namespace") == "":
        del metadata["namespace"]  # an empty namespace is no namespace, to the API server as to kubectl
    found = _schema_problem(manifest) or _value_problem(manifest)
    if found:
        path, message, on_key = found
        problem(path, message, "fix the field; the Kubernetes API server would reject this NetworkPolicy (`kubectl apply --dry-run=server` says the same)", key=on_key)
        return None
    written = manifest["metadata"].get("namespace")
    if written is None and namespace is None:
        problem(
            ("metadata",),
            "no metadata.namespace: kubectl would put it into the namespace of its current context, which netpolc cannot know and does not guess",
            "name the namespace with -n NAME (as with `kubectl apply -n NAME`), or set metadata.namespace",
            code="NP703",
            key=True,
        )
        return None
    if written is not None and namespace is not None and written != namespace and match_namespace:
        problem(
            ("metadata", "namespace"),
            f"the namespace of the object ({written}) does not match -n {namespace}; kubectl refuses it the same way",
            f"drop -n to read each object in its own namespace, or change metadata.namespace to {namespace}",
            code="NP704",
        )
        return None
    try:
        policy = engine.read_policy(manifest, position, namespace=namespace)
    except engine.PolicyError as err:
        problem(_where_path(err.where), err.message, "fix the manifest; the Kubernetes API server would reject it or netpolc cannot tell what it means")
        return None
    if not policy.source:  # not generated by netpolc: name the YAML object instead of an intent line
        policy = policy._replace(source=f"{obj.span.file}:{obj.span.line}")
    return policy


# ---------------------------------------------------------------- cluster policies


def cluster_policies(objects: list[KubeObject], nodes: bool = False) -> tuple[list, list[Diagnostic]]:
    """ClusterNetworkPolicy (v1alpha2), AdminNetworkPolicy and BaselineAdminNetworkPolicy (v1alpha1) objects, validated and read.

    Each is checked against its upstream CRD schema (`compiler/data/crds/`), then read by the
    engine, which refuses what it cannot judge exactly (`domainNames` peers, and `nodes` peers
    unless `nodes`: a snapshot gave the Node objects): NP701 at the field. Cluster-scoped names are unique per kind: the later of two wins (NP702).
    """
    from .engine.read_cluster import KINDS, read_cluster_policy

    diagnostics: list[Diagnostic] = []
    kept: dict[tuple[str, str], tuple[KubeObject, object]] = {}
    for obj in objects:
        if obj.kind not in KINDS:
            continue
        name = obj.name or "(unnamed)"

        def problem(path: tuple, message: str, hint: str, key: bool = False) -> None:
            diagnostics.append(Diagnostic("NP701", obj.at(path, key), f"{obj.label}: {obj.kind} {name}: {message}", hint))

        if obj.api_version != KINDS[obj.kind]:
            problem(("apiVersion",), f"apiVersion {_short(obj.api_version)}; {obj.kind} is {KINDS[obj.kind]}", f"set `apiVersion: {KINDS[obj.kind]}`")
            continue
        manifest = _without_nulls(obj.data)
        found = _crd_problem(manifest)
        if found:
            path, message = found
            problem(path, message, "fix the field; the API server would reject this object (the CRD's schema says so)")
            continue
        try:
            policy = read_cluster_policy(manifest, len(kept), nodes)
        except engine.PolicyError as err:
            problem(_where_path(err.where), err.message, "fix the object; netpolc refuses what it cannot judge exactly rather than guess")
            continue
        if not policy.source:
            policy = policy._replace(source=f"{obj.span.file}:{obj.span.line}")
        _keep_later(kept, (obj.kind, policy.name), f"{obj.kind} {policy.name}", obj, policy, diagnostics)
    return [policy for _, policy in kept.values()], diagnostics


def _crd_problem(manifest: dict) -> tuple[tuple, str] | None:
    """The first violation of the kind's CRD schema: (path of the field, message)."""
    from fastjsonschema import JsonSchemaValueException

    from .schema import _validate

    try:
        _validate(manifest.get("apiVersion", ""), manifest.get("kind", ""))(manifest)
    except JsonSchemaValueException as err:
        path = _typed_path(manifest, err.path[1:])
        message = err.message.removeprefix(err.name).strip()
        return path, f"{path_text(path) or '(the object)'}: {message}"
    return None


_STRING_MAPS = ("labels", "annotations", "matchLabels")  # map[string]string: a null value there is a wrong type, not an absent field


def _without_nulls(value, parent: str = ""):
    """A copy without the fields set to null: the API server reads `field: null` as a field not written."""
    if isinstance(value, dict):
        if parent in _STRING_MAPS:
            return dict(value)
        return {k: _without_nulls(v, k) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v, parent) for v in value]
    return value


@functools.cache
def input_schema() -> dict:
    import json

    return json.loads((Path(__file__).parent / "data" / "networkpolicy-input.schema.json").read_text("utf-8"))


@functools.cache
def _validator():
    import fastjsonschema

    return fastjsonschema.compile(input_schema())


_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false", "null": "null"}


def _schema_problem(manifest: dict) -> tuple[tuple, str, bool] | None:
    """The first violation of the input schema: (path, message, whether it is about the key)."""
    from fastjsonschema import JsonSchemaValueException

    try:
        _validator()(manifest)
    except JsonSchemaValueException as err:
        return _explain(err, manifest)
    return None


def _explain(err, manifest: dict) -> tuple[tuple, str, bool]:
    path = _typed_path(manifest, err.path[1:])
    definition = err.definition if isinstance(err.definition, dict) else {}
    expected = definition.get("description")
    value = err.value
    where = path_text(path)
    rule = err.rule
    if rule == "required":
        missing = next((k for k in err.rule_definition if not (isinstance(value, dict) and k in value)), err.rule_definition[0])
        return path, f"{path_text(path + (missing,))} is missing" + (f" ({expected})" if expected and path else ""), False
    if rule == "additionalProperties":
        known = sorted(definition.get("properties", {}))
        extra = sorted(k for k in value if k not in known)[0] if isinstance(value, dict) else "?"
        return path + (extra,), f"{path_text(path + (extra,))}: unknown field{_did_you_mean(extra, known)}; the fields here are {', '.join(known)}", True
    if rule == "type":
        wanted = err.rule_definition if isinstance(err.rule_definition, list) else [err.rule_definition]
        what = expected or " or ".join(_TYPE_WORDS.get(t, t) for t in wanted)
        return path, f"{where}: expected {what}, got {_show(value)}", False
    if rule in ("enum", "const"):
        options = err.rule_definition if rule == "enum" else [err.rule_definition]
        return path, f"{where}: expected {expected or ' or '.join(map(str, options))}, got {_show(value)}", False
    if rule == "propertyNames":
        bad = next((k for k in value if not _valid_key(k)), "?") if isinstance(value, dict) else "?"
        key_rule = input_schema()["definitions"]["qualifiedName"]["description"]
        return path + (bad,), f"{path_text(path + (bad,))}: {_short(bad)} is not a valid key: expected {key_rule}", True
    if expected and "type" not in definition:  # a rule of an `if`/`then`: its description is a sentence
        return path, f"{where}: {expected}", False
    if expected:
        return path, f"{where}: expected {expected}, got {_show(value)}", False
    return path, f"{where}: {err.message.removeprefix(err.name).strip()}", False


def _typed_path(manifest, raw: list) -> tuple:
    """fastjsonschema's path (indexes as strings) -> keys and int indexes, by walking the data."""
    out: list = []
    value = manifest
    for step in raw:
        if isinstance(value, list) and str(step).isdigit():
            step = int(step)
            value = value[step] if step < len(value) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
        out.append(step)
    return tuple(out)


@functools.cache
def _key_pattern():
    return re.compile(input_schema()["definitions"]["qualifiedName"]["pattern"].replace("$", r"\Z"))


def _valid_key(key: str) -> bool:
    return bool(_key_pattern().search(key))


def _did_you_mean(word: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _value_problem(manifest: dict) -> tuple[tuple, str, bool] | None:
    """What the API server checks and a JSON Schema cannot say: floats, CIDRs, endPort against port."""
    import ipaddress

    found = _first_float(manifest, ())
    if found is not None:
        path, value = found
        return path, f"{path_text(path)}: expected an integer, got {_show(value)}", False
    spec = manifest["spec"]
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(spec.get(direction) or ()):
            rule = rule or {}
            for number, peer in enumerate(rule.get(peers_key) or ()):
                block = peer.get("ipBlock")
                if block is None:
                    continue
                here = ("spec", direction, index, peers_key, number, "ipBlock")
                network = _cidr(block["cidr"], ipaddress)
                if network is None:
                    return here + ("cidr",), f"{path_text(here + ('cidr',))}: {_short(block['cidr'])} is not a CIDR (expected an address and a prefix length, e.g. 10.0.0.0/8 or 2001:db8::/32)", False
                for position, hole in enumerate(block.get("except") or ()):
                    inner = _cidr(hole, ipaddress)
                    where = here + ("except", position)
                    if inner is None:
                        return where, f"{path_text(where)}: {_short(hole)} is not a CIDR (expected e.g. 10.1.0.0/16)", False
                    if inner.version != network.version or not inner.subnet_of(network) or inner.prefixlen <= network.prefixlen:
                        return where, f"{path_text(where)}: {hole} must be a strict subset of the cidr {block['cidr']}", False
            for number, port in enumerate(rule.get("ports") or ()):
                if "endPort" not in port:
                    continue
                where = ("spec", direction, index, "ports", number, "endPort")
                if not isinstance(port.get("port"), int):
                    return where, f"{path_text(where)}: endPort needs a numeric port to start the range", False
                if port["endPort"] < port["port"]:
                    return where, f"{path_text(where)}: {port['endPort']} is below the port it ends ({port['port']})", False
    return None


def _cidr(text: str, ipaddress):
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _first_float(value, path: tuple):
    """The first float in the data, and where (JSON Schema calls 80.0 an integer; the API's integer fields do not take it)."""
    if isinstance(value, float):
        return path, value
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _first_float(item, path + (key,))
        if found is not None:
            return found
    return None


def _where_path(where: str) -> tuple:
    """PolicyError's `where` ("NetworkPolicy web spec.ingress[0].from[1]") -> the path of its field."""
    parts = where.split(" ", 2)
    if len(parts) < 3:
        return ()
    return tuple(int(t[1:-1]) if t.startswith("[") else t for t in re.findall(r"\[\d+\]|[^.\[\]]+", parts[2]))
