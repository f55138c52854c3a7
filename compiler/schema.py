"""Every emitted manifest is checked against its kind's JSON Schema in `compiler/data/` before it is written.

NetworkPolicy: netpolc's own schema (`networkpolicy.schema.json`, stricter than the API).
Cluster objects: the upstream CRDs' OpenAPI schemas (`crds/`, see `crds/SOURCE.md`).

The schema is written in JSON Schema draft-07 so that two validators read it:
fastjsonschema compiles it into Python once per process and checks a manifest in
~0.07 ms (jsonschema, the reference implementation, takes ~0.7 ms: 13 s on a
10,000-intent program); the tests check the schema itself and cross-check both
validators with jsonschema.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from .diagnostics import Diagnostic

SCHEMA_PATH = Path(__file__).parent / "data" / "networkpolicy.schema.json"
CRDS = Path(__file__).parent / "data" / "crds"
CRD_SCHEMAS = {
    ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"): "clusternetworkpolicy-v1alpha2.json",
    ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy"): "adminnetworkpolicy-v1alpha1.json",
    ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy"): "baselineadminnetworkpolicy-v1alpha1.json",
    ("cilium.io/v2", "CiliumNetworkPolicy"): "ciliumnetworkpolicy-v2-trimmed.json",
    ("crd.antrea.io/v1beta1", "ClusterNetworkPolicy"): "antrea-clusternetworkpolicy-v1beta1.json",
}
# OpenAPI formats of Kubernetes schemas; JSON types already bound them enough for emitted objects.
OPENAPI_FORMATS = {"int32": lambda value: True, "int64": lambda value: True}


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text("utf-8"))


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict:
    return json.loads((CRDS / CRD_SCHEMAS[(api_version, kind)]).read_text("utf-8"))


@functools.cache
def _validate(api_version: str = "networking.k8s.io/v1", kind: str = "NetworkPolicy", *experimental: str):
    import fastjsonschema

    if api_version == "experimental":  # (channel, apiVersion, kind)
        name = EXPERIMENTAL[(kind, experimental[0])][0]
        return fastjsonschema.compile(json.loads((CRDS / name).read_text("utf-8")), formats=OPENAPI_FORMATS)
    if kind == "NetworkPolicy":
        return fastjsonschema.compile(schema())
    return fastjsonschema.compile(crd_schema(api_version, kind), formats=OPENAPI_FORMATS)


# Fields only the experimental-channel CRD has: an object that uses one is checked against that CRD.
EXPERIMENTAL = {("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy"): ("clusternetworkpolicy-v1alpha2-experimental.json", '"domainNames"')}


def schema_errors(manifest: dict) -> list[str]:
    """The first schema violation of one manifest, readable (empty when valid)."""
    from fastjsonschema import JsonSchemaException

    key = (manifest.get("apiVersion", ""), manifest.get("kind", ""))
    if key in EXPERIMENTAL and EXPERIMENTAL[key][1] in json.dumps(manifest.get("spec")):
        key = ("experimental",) + key
    try:
        _validate(*key)(manifest)
    except JsonSchemaException as err:
        where = "/".join(str(p) for p in (err.path or [])[1:]) or "(root)"
        return [f"{where}: {err.message.removeprefix('data.').removeprefix('data ')}"]
    return []


def validate_manifests(emitted, every: bool = False) -> list[Diagnostic]:
    """NP501 for each manifest that violates its schema; by default one manifest of each shape.

    Why one of each shape is enough at compile time: a manifest is correct by construction for
    its shape. The backends build every manifest from the same few templates (compiler/backends/),
    so which keys and nesting appear, and which value types, is all the shape says; every value
    in it comes from the IR, which lowering admitted only after checking it against the same
    rules the schema states (compiler/lower.py: namespace names as DNS-1123 labels, label keys
    and values, port numbers 1-65535 and names, protocols from the grammar's closed set,
    addresses in values.py), and policy names are made DNS-1123 and at most 63 characters by
    the backends. So a structural mistake in a backend shows on the first manifest of its
    shape, and the schema is checked on that one. The tests call this with `every=True` over
    every example and generated program (the same validator, on every manifest), and
    fastjsonschema is cross-checked with jsonschema (tests/test_schema.py).
    """
    out = []
    seen: set = set()
    for item in emitted:
        if not every:
            # A NetworkPolicy's metadata is one template (compiler/backends/networkpolicy.py): its spec decides the shape.
            spec = getattr(item, "spec", None)
            key = (type(item), item.kind, shape(spec)) if type(spec) is dict else shape(item.manifest())
            if key in seen:
                continue
            seen.add(key)
        manifest = item.manifest()
        for problem in schema_errors(manifest):
            out.append(
                Diagnostic(
                    "NP501",
                    item.intent.origin.user_span,
                    f"internal error: {item.kind} {item.namespace + '/' if item.namespace else ''}{item.name} violates its schema: {problem}",
                    "nothing was written; please report this with the input that caused it",
                )
            )
    return out


def shape(value):
    """The structure of a manifest: keys in order, list lengths, scalar types (never the values
    themselves, which lowering checked), and the values of the few closed-set fields the schema
    enumerates (apiVersion, kind, policyTypes, protocol), so that each of their choices is a shape."""
    kind = type(value)
    if kind is dict:
        return tuple((k, v if k in _ENUMERATED and type(v) is str else shape(v)) for k, v in value.items())
    if kind is list:
        return ("[",) + tuple(v if type(v) is str and v in _POLICY_TYPES else shape(v) for v in value)
    return kind.__name__


_ENUMERATED = frozenset({"apiVersion", "kind", "protocol", "action"})
_POLICY_TYPES = frozenset({"Ingress", "Egress"})
