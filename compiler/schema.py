"""Every emitted manifest is checked against the NetworkPolicy JSON Schema shipped in `compiler/data/`."""

from __future__ import annotations

import functools
import json
from importlib import resources

from .diagnostics import Diagnostic


@functools.cache
def _validator():
    import jsonschema

    schema = json.loads(resources.files(__package__).joinpath("data/networkpolicy.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(manifest: dict) -> list[str]:
    """Readable schema violations of one manifest (empty when valid)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(_validator().iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))
    ]


def validate_manifests(emitted) -> list[Diagnostic]:
    out = []
    for item in emitted:
        for problem in schema_errors(item.manifest()):
            out.append(
                Diagnostic(
                    "NP501",
                    item.intent.origin.user_span,
                    f"internal error: manifest {item.namespace}/{item.name} violates the NetworkPolicy schema: {problem}",
                    "nothing was written; please report this with the input that caused it",
                )
            )
    return out
