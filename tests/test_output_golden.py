"""Every output byte-identical to what netpolc wrote before the speed work: hashes of the YAML of the examples and of the benchmarks' programs.

The hashes in tests/golden/outputs.json were taken from the compiler as it was before the fast YAML
writer, the standalone parser and the split proof went in. A change that alters any byte of any
of these outputs fails here; regenerate deliberately with `python tests/test_output_golden.py`
and explain the change in the commit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden" / "outputs.json"

# (name, how the program is made, options of `netpolc compile`)
CASES = [
    ("three-tier", "examples/three-tier", []),
    ("storefront", "examples/storefront", []),
    ("storefront-cni", "examples/storefront", ["--cni", "calico", "--cni", "cilium"]),
    ("storefront-named", "examples/storefront", ["--cni", "calico", "--named-port", "metrics=9090"]),
    ("storefront-expand", "examples/storefront", ["--cni", "kube-router", "--expand-port-ranges", "16", "--named-port", "metrics=9090"]),
    ("three-tier-weave", "examples/three-tier", ["--cni", "weave", "--expand-port-ranges", "16"]),
    ("guardrails", "examples/guardrails", []),
    ("guardrails-v1alpha1", "examples/guardrails", ["--api", "v1alpha1"]),
    ("bench-compile-300", "bench:compile:300", []),
    ("bench-scale-10x30", "bench:scale:10x30", []),
    ("bench-scale-1000x2", "bench:scale:1000x2", []),
]


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(REPO / "bench"))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "bench"))
    return module


def _source(how: str, tmp: Path) -> Path:
    if not how.startswith("bench:"):
        return REPO / how
    _, script, size = how.split(":")
    folder = tmp / "src"
    folder.mkdir()
    if script == "compile":
        _bench("compile").generate(int(size), folder)
    else:  # bench/scale.py's programs: the same generator, more namespaces, its own seed
        namespaces, per = (int(x) for x in size.split("x"))
        _bench("compile").generate(namespaces * per, folder, seed=11, namespaces=namespaces)
    return folder


def outputs(how: str, options: list[str]) -> dict[str, str]:
    """sha256 of the YAML stream and of every file of `-o DIR`, as `netpolc compile` writes them."""
    from conftest import run_cli

    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        source = _source(how, Path(tmp))
        os.chdir(REPO if source.is_relative_to(REPO) else tmp)  # sources named relatively: the annotations hold no temporary path
        try:
            shown = source.relative_to(Path.cwd()).as_posix()
            stream = run_cli("compile", shown, *options)
            assert stream.code == 0, stream.err
            out = Path(tmp) / "out"
            tree = run_cli("compile", shown, "-o", str(out), *options)
            assert tree.code == 0, tree.err
        finally:
            os.chdir(here)
        files = sorted(out.rglob("*.yaml"))
        tree_digest = hashlib.sha256()
        for path in files:
            tree_digest.update(path.relative_to(out).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        return {"stream": hashlib.sha256(stream.out.encode("utf-8")).hexdigest(), "files": len(files), "tree": tree_digest.hexdigest()}


@pytest.mark.parametrize("name,how,options", CASES, ids=[c[0] for c in CASES])
def test_output_is_byte_identical_to_the_recorded_one(name, how, options):
    expected = json.loads(GOLDEN.read_text())[name]
    assert outputs(how, options) == expected


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps({name: outputs(how, options) for name, how, options in CASES}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
