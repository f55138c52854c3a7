"""Truth tables from the upstream Kubernetes network-policy e2e suite.

Each file in ``tests/e2e_cases/`` records one upstream case (see the README there):
the policies that were applied and, per probed (port, protocol), the 9x9 matrix of
expected pod-to-pod reachability over the fixed model x,y,z / a,b,c. This module
builds that universe, asks ``compiler.engine`` for a verdict on every cell and, on a
mismatch, prints expected and actual matrices side by side.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

CASES_DIR = Path(__file__).parent / "e2e_cases"
CASE_FILES = sorted(CASES_DIR.glob("*.yaml"))

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
ORDER = tuple(f"{ns}/{pod}" for ns in NAMESPACES for pod in POD_NAMES)
SERVED_PORTS = (80, 81)
PROTOCOLS = ("TCP", "UDP", "SCTP")
NAME_LABEL = "kubernetes.io/metadata.name"

CASE_KEYS = {"name", "upstream", "step", "namespace_labels", "pod_labels", "policies", "probes"}
REQUIRED_KEYS = {"name", "upstream", "policies", "probes"}
FILE_STEM = re.compile(r"^(\d{2})-[a-z0-9]+(?:-[a-z0-9]+)*$")
ALLOWED, BLOCKED = ".", "X"


# --------------------------------------------------------------------------- loading


def load_case(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: top level must be a mapping")
    return data


def parse_matrix(text: str) -> list[list[bool]]:
    """Parse a 9x9 block of '.'/'X' cells (rows = source, columns = destination)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if len(rows) != len(ORDER):
        raise ValueError(f"matrix has {len(rows)} rows, expected {len(ORDER)}")
    parsed = []
    for i, cells in enumerate(rows):
        if len(cells) != len(ORDER):
            raise ValueError(f"matrix row {i + 1} has {len(cells)} cells, expected {len(ORDER)}")
        bad = [c for c in cells if c not in (ALLOWED, BLOCKED)]
        if bad:
            raise ValueError(f"matrix row {i + 1} has cells other than '.'/'X': {bad}")
        parsed.append([c == ALLOWED for c in cells])
    return parsed


def pod_ip(ns: str, pod: str) -> str:
    """Fixed model IPs: x/a 192.168.1.1 ... z/c 192.168.3.3."""
    return f"192.168.{NAMESPACES.index(ns) + 1}.{POD_NAMES.index(pod) + 1}"


def namespace_labels(case: dict[str, Any], ns: str) -> dict[str, str]:
    labels = dict((case.get("namespace_labels") or {}).get(ns) or {"ns": ns})
    labels[NAME_LABEL] = ns  # set by the API server on every namespace
    return labels


def pod_labels(case: dict[str, Any], ns: str, pod: str) -> dict[str, str]:
    return dict((case.get("pod_labels") or {}).get(f"{ns}/{pod}") or {"pod": pod})


# --------------------------------------------------------------------------- reporting


def render_table(title: str, cells: list[list[str]]) -> list[str]:
    lines = [title, "\t".join(("-",) + ORDER)]
    for src, row in zip(ORDER, cells):
        lines.append("\t".join([src, *row]))
    return lines


def render_report(case_name: str, port: Any, protocol: str,
                  expected: list[list[bool]], actual: list[list[bool]]) -> str:
    """Expected, actual and comparison tables side by side, upstream truth-table style."""
    mark = lambda v: ALLOWED if v else BLOCKED  # noqa: E731
    exp = [[mark(v) for v in row] for row in expected]
    act = [[mark(v) for v in row] for row in actual]
    cmp_ = [["." if e == a else "X" for e, a in zip(er, ar)] for er, ar in zip(expected, actual)]
    blocks = [
        render_table("expected:", exp),
        render_table("actual:", act),
        render_table("comparison ('X' = mismatch):", cmp_),
    ]
    widths = [max(len(line.expandtabs(4)) for line in block) for block in blocks]
    out = [f"{case_name}: port {port}/{protocol}"]
    for i in range(len(blocks[0])):
        out.append("   |   ".join(block[i].expandtabs(4).ljust(w) for block, w in zip(blocks, widths)))
    wrong = [
        f"  {src} -> {dst}: expected {mark(expected[i][j])}, got {mark(actual[i][j])}"
        for i, src in enumerate(ORDER)
        for j, dst in enumerate(ORDER)
        if expected[i][j] != actual[i][j]
    ]
    out.append(f"{len(wrong)} wrong cell(s):")
    out.extend(wrong)
    return "\n".join(out)


# --------------------------------------------------------------------------- tests


def test_case_files_are_well_formed() -> None:
    assert len(CASE_FILES) >= 30, f"expected at least 30 case files, found {len(CASE_FILES)}"
    numbers = []
    for path in CASE_FILES:
        m = FILE_STEM.match(path.stem)
        assert m, f"{path.name}: file name must be NN-short-slug.yaml"
        numbers.append(int(m.group(1)))
        case = load_case(path)
        assert REQUIRED_KEYS <= case.keys(), f"{path.name}: missing {REQUIRED_KEYS - case.keys()}"
        assert case.keys() <= CASE_KEYS, f"{path.name}: unknown keys {case.keys() - CASE_KEYS}"
        assert isinstance(case["name"], str) and case["name"], path.name
        assert isinstance(case["policies"], list), path.name
        for policy in case["policies"]:
            assert policy.get("kind") == "NetworkPolicy", path.name
            assert policy["metadata"]["namespace"] in NAMESPACES, path.name
        assert set(case.get("namespace_labels") or {}) <= set(NAMESPACES), path.name
        assert set(case.get("pod_labels") or {}) <= set(ORDER), path.name
        probes = case["probes"]
        assert isinstance(probes, list) and probes, f"{path.name}: no probes"
        for probe in probes:
            assert isinstance(probe["port"], (int, str)), path.name
            assert probe["protocol"] in PROTOCOLS, path.name
            matrix = parse_matrix(probe["matrix"])  # raises on a wrong shape
            assert len(matrix) == 9 and all(len(row) == 9 for row in matrix), path.name
    assert len(set(numbers)) == len(numbers), "case numbers must be unique"


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_upstream_truth_table(path: Path) -> None:
    from compiler.engine import ContainerPort, Namespace, Pod, Universe, evaluate, load_policies

    case = load_case(path)
    ports = tuple(
        ContainerPort(name=f"serve-{number}-{protocol.lower()}", number=number, protocol=protocol)
        for number in SERVED_PORTS
        for protocol in PROTOCOLS
    )
    namespaces = tuple(Namespace(name=ns, labels=namespace_labels(case, ns)) for ns in NAMESPACES)
    pods = {
        f"{ns}/{pod}": Pod(namespace=ns, name=pod, labels=pod_labels(case, ns, pod), ports=ports, ip=pod_ip(ns, pod))
        for ns in NAMESPACES
        for pod in POD_NAMES
    }
    universe = Universe(namespaces=namespaces, pods=tuple(pods[key] for key in ORDER))
    policies = load_policies(case["policies"])

    failures = []
    for probe in case["probes"]:
        port, protocol = probe["port"], probe["protocol"]
        expected = parse_matrix(probe["matrix"])
        actual = [
            [
                bool(evaluate(policies, universe, pods[src], pods[dst], port=port, protocol=protocol).allowed)
                for dst in ORDER
            ]
            for src in ORDER
        ]
        if actual != expected:
            failures.append(render_report(case["name"], port, protocol, expected, actual))
    if failures:
        pytest.fail(f"{path.name}\n" + "\n\n".join(failures), pytrace=False)
