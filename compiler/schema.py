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


def validate_manifests(emitted) -> list[Diagnostic]:
    out = []
    for item in emitted:
        for problem in schema_errors(item.manifest()):
            out.append(
                Diagnostic(
                    "NP501",
                    item.intent.origin.user_span,
                    f"internal error: {item.kind} {item.namespace + '/' if item.namespace else ''}{item.name} violates its schema: {problem}",
                    "nothing was written; please report this with the input that caused it",
                )
            )
    return out
