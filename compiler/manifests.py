"""NetworkPolicy YAML from any source -> engine policies with positions; NP701 for what cannot be read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import engine
from .diagnostics import Diagnostic
from .source import SourceFile, Span, UnreadableSource, read_source

SUFFIXES = (".yaml", ".yml")
API_VERSION = "networking.k8s.io/v1"


@dataclass
class Loaded:
    """Policies read from YAML files, the files themselves (for carets) and the problems found."""

    policies: list[engine.Policy] = field(default_factory=list)
    files: dict[str, SourceFile] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    documents: int = 0  # every document read, NetworkPolicy or not


class PolicyInputError(Exception):
    """A --policies argument that does not exist or holds no YAML file (exit code 2)."""


def yaml_files(arguments: list[str]) -> list[tuple[Path, str]]:
    """Files and folders -> YAML files (folders searched recursively, hidden entries skipped), sorted."""
    from .resolve import display_name

    found: dict[str, Path] = {}
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in SUFFIXES and p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                raise PolicyInputError(f"{argument}: no .yaml or .yml files in this folder")
            for file in files:
                found.setdefault(display_name(file), file)
        elif path.is_file():
            found.setdefault(display_name(path), path)
        else:
            raise PolicyInputError(f"{argument}: no such file or folder")
    return [(path, name) for name, path in found.items()]


def load(arguments: list[str]) -> Loaded:
    """Read every NetworkPolicy of the given files and folders; other kinds are skipped."""
    loaded = Loaded()
    for path, name in yaml_files(arguments):
        try:
            source = read_source(path, name)
        except UnreadableSource as err:
            loaded.diagnostics.append(Diagnostic("NP103", Span.whole_file(err.name), err.reason, err.hint))
            continue
        loaded.files[name] = source
        read_text(source, loaded)
    return loaded


def read_text(source: SourceFile, loaded: Loaded) -> None:
    """One YAML stream: each document that is a NetworkPolicy (or a List of them) becomes a policy."""
    import yaml

    try:
        documents = list(_documents(source.text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        loaded.diagnostics.append(
            Diagnostic(
                "NP701",
                Span(source.name, line, column, line, column + 1),
                f"not valid YAML: {problem}",
                "fix the YAML syntax (indentation, a missing ':' or an unclosed quote); `kubectl apply --dry-run=client -f FILE` shows the same problem",
            )
        )
        return
    for number, (line, document) in enumerate(documents, start=1):
        if document is None:
            continue  # an empty document (`---` at the end of a file)
        loaded.documents += 1
        span = Span(source.name, line, 1, line, 1)
        items = document.get("items") if isinstance(document, dict) and str(document.get("kind", "")).endswith("List") else [document]
        if not isinstance(document, dict) or not isinstance(items, list):
            loaded.diagnostics.append(
                Diagnostic(
                    "NP701",
                    span,
                    f"document {number} is not a Kubernetes object (a mapping with apiVersion and kind)",
                    "each YAML document must be one manifest; separate manifests with `---`",
                )
            )
            continue
        for item in items:
            if not isinstance(item, dict) or item.get("kind") != "NetworkPolicy":
                continue  # Deployments, Services... sit beside policies in real folders
            _read_policy(item, number, span, loaded)


def _read_policy(manifest: dict, number: int, span: Span, loaded: Loaded) -> None:
    if manifest.get("apiVersion") != API_VERSION:
        loaded.diagnostics.append(
            Diagnostic(
                "NP701",
                span,
                f"document {number}: NetworkPolicy with apiVersion {manifest.get('apiVersion')!r}; netpolc reads {API_VERSION}",
                f"set `apiVersion: {API_VERSION}` (other APIs, e.g. Cilium's or Calico's own policies, have other meanings)",
            )
        )
        return
    try:
        policy = engine.read_policy(manifest, len(loaded.policies))
    except engine.PolicyError as err:
        loaded.diagnostics.append(
            Diagnostic(
                "NP701",
                span,
                f"document {number}: invalid NetworkPolicy: {err}",
                "fix the manifest; the Kubernetes API server would reject it or netpolc cannot tell what it means",
            )
        )
        return
    if not policy.source:  # not generated by netpolc: name the YAML document instead of an intent line
        policy = policy._replace(source=f"{span.file}:{span.line}")
    loaded.policies.append(policy)


def _documents(text: str):
    """(first line, data) for each YAML document, with the safe loader (libyaml when present)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield node.start_mark.line + 1, loader.construct_document(node)
    finally:
        loader.dispose()
