"""Values: numbers bounded before they are converted, addresses read only in forms every parser agrees on, ports merged exactly."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler import engine, values
from compiler.engine.read import merge_ports
from conftest import run_cli

HUGE = "9" * 4301  # one digit more than Python converts
PROGRAM = "namespace shop\ndeny ingress\nallow app=web to app=db:{ports}\n"


def assert_short_output(run, longest: int = 240) -> None:
    """A diagnostic echoes a short prefix of a huge value, and its caret line is cut too (file names aside)."""
    output = run.out + run.err
    assert "Traceback" not in output and "internal error" not in output, output[:2000]
    lines = [line.rpartition(".netpol:")[2].rpartition(".yaml:")[2] for line in output.splitlines()]
    assert max(map(len, lines)) <= longest, max(lines, key=len)[:300]


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("ports", [HUGE, f"1-{HUGE}", f"{HUGE}-2", "9" * 4300, "1" + "0" * 30])
@pytest.mark.parametrize("command", ["check", "compile"])
def test_a_port_of_thousands_of_digits_is_NP306_with_a_short_echo(write, ports, command):
    root = write({"a.netpol": PROGRAM.format(ports=ports)})
    run = run_cli(command, str(root))
    assert run.code == 1
    text = run.out + run.err
    assert ":3:25: error[NP306]: port " in text and "is out of range" in text
    if len(ports) > 30:
        assert "… (" in text and " characters) is out of range" in text
    assert_short_output(run)


def test_a_port_with_leading_zeros_is_its_number(write):
    root = write({"a.netpol": PROGRAM.format(ports="0000000000000000000000000080")})
    run = run_cli("compile", str(root))
    assert run.code == 0, run.err
    assert "port: 80\n" in run.out


def test_explain_a_query_with_a_huge_port(write):
    root = write({"a.netpol": PROGRAM.format(ports="5432")})
    run = run_cli("explain", str(root), f"app=web -> app=db:{HUGE}")
    assert run.code == 2  # a bad query is bad usage
    assert "<query>:1:19: error[NP306]: port 999999999999… (4,301 characters) is out of range" in run.out + run.err
    assert_short_output(run)


@pytest.mark.parametrize(
    "ports",
    ["10.0.0.0/" + "9" * 5000, "1" * 5000 + ".0.0.0/8", "::" + "0" * 5000 + "/8", "[" + "1:" * 3000 + "]"],
    ids=["prefix", "octet", "ipv6", "bracketed"],
)
def test_huge_numbers_in_addresses_are_diagnostics_with_a_short_echo(write, ports):
    root = write({"a.netpol": f"namespace shop\ndeny egress\nallow app=web to {ports}\n"})
    run = run_cli("check", str(root))
    assert run.code == 1
    assert ":3:18: error[NP" in run.out
    assert_short_output(run)


def manifest(rule: str) -> str:
    return (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\n"
        f"spec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - {rule}\n"
    )


YAML_PORTS = [
    (f'{{port: "{HUGE}"}}', "port 999999999999… (4,301 characters) is out of range 1-65535"),
    ("{port: 70000}", "port 70000 is out of range 1-65535"),
    ("{port: 0}", "port 0 is out of range"),
    ('{port: "²"}', "port `²` is not a valid port name"),
    ('{port: ""}', "port `` is not a valid port name"),
    (f'{{port: "{"a" * 5000}"}}', "port `aaaaaaaaaaaa…` (5,000 characters) is not a valid port name"),
    ("{port: 80, endPort: 70000}", "endPort 70000 must be from port (80) to 65535"),
    ("{port: 80, endPort: 79}", "endPort 79 must be from port (80) to 65535"),
    ("{port: true}", "port must be a number or a name"),
    (f'{{protocol: "{"X" * 5000}"}}', "unknown protocol `XXXXXXXXXXXX…` (5,000 characters)"),
]


@pytest.mark.parametrize("port", [port for port, _ in YAML_PORTS])
def test_yaml_port_values_are_NP701_at_the_field_with_a_short_echo(tmp_path, port):
    path = tmp_path / "p.yaml"
    path.write_text(manifest(f"ports: [{port}]"))
    run = run_cli("explain", "--policies", str(path), "-n", "shop", "app=a -> app=b:80")
    assert run.code != 0
    assert f"{path}:8:" in run.err and "error[NP701]" in run.err and "spec.egress[0].ports[0]." in run.err, run.err
    assert_short_output(run, longest=400)


@pytest.mark.parametrize("port, words", YAML_PORTS)
def test_the_engine_reader_bounds_ports_itself(port, words):
    """compiler/manifests.py validates first; the engine's reader still refuses on its own (its callers vary)."""
    import yaml

    document = yaml.safe_load(manifest(f"ports: [{port}]"))
    with pytest.raises(engine.PolicyError) as caught:
        engine.read_policy(document)
    assert caught.value.where == "NetworkPolicy p spec.egress[0].ports[0]" and words in caught.value.message
    assert len(str(caught.value)) < 200


# ---------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "text, network",
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("8.8.8.8", "8.8.8.8/32"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("::/0", "::/0"),
        ("::1", "::1/128"),
        ("::/96", "::/96"),
        ("64:ff9b::10.0.0.0/120", "64:ff9b::a00:0/120"),  # NAT64: IPv6 to every parser
        ("0010::/16", "10::/16"),  # leading zeros in IPv6 groups are hex to everyone
    ],
)
def test_addresses_every_parser_reads_alike_are_accepted(text, network):
    assert str(values.network(text)) == network


@pytest.mark.parametrize(
    "text, code, words",
    [
        ("::ffff:10.0.0.0/104", "NP311", "IPv4 10.0.0.0/8"),
        ("::FFFF:a00:0/104", "NP311", "IPv4 10.0.0.0/8"),
        ("::ffff:0:0/96", "NP311", "IPv4 0.0.0.0/0"),
        ("::10.0.0.0/104", "NP311", "deprecated"),
        ("::a00:1", "NP311", "10.0.0.1/32"),
        ("010.0.0.0/8", "NP304", "leading zero"),
        ("10.0.0.00/8", "NP304", "leading zero"),
        ("10.0.0.0/08", "NP304", "leading zero in its prefix length"),
        ("10.0.0.0/255.0.0.0", "NP304", "is not a number"),
        ("10.0.0.0/0.255.255.255", "NP304", "is not a number"),
        ("fe80::1%eth0", "NP304", "zone id"),
        ("fe80::%eth0/64", "NP304", "zone id"),
        ("10.0.0.0/+8", "NP304", "is not a number"),
        ("10.0.0.0/٨", "NP304", "is not a number"),
        ("١٠.0.0.0/8", "NP304", "not a valid IP address"),
        ("0x0a.0.0.0/8", "NP304", "not a valid IP address"),
        ("10.0.0/8", "NP304", "not a valid IP address"),
        (" 10.0.0.0/8", "NP304", "not a valid IP address"),
        ("10.0.0.0/33", "NP304", "not a valid IP address"),
        ("10.0.0.1/8", "NP304", "host bits"),
        ("1" * 5000, "NP304", "(5,000 characters)"),
    ],
)
def test_addresses_parsers_read_differently_are_refused(text, code, words):
    with pytest.raises(values.AddressProblem) as caught:
        values.network(text)
    assert caught.value.code == code and words in caught.value.message + caught.value.hint
    assert len(caught.value.message) < 300 and caught.value.hint


def test_python_alone_would_accept_what_is_refused():
    """The refusals above are netpolc's, not Python's: these all parse in ipaddress."""
    for text in ("::ffff:10.0.0.0/104", "::10.0.0.0/104", "10.0.0.0/08", "10.0.0.0/255.0.0.0", "fe80::%eth0/64"):
        ipaddress.ip_network(text, strict=False)


def test_an_ipv4_mapped_cidr_is_NP311_with_the_ipv4_form(write):
    root = write({"a.netpol": "namespace shop\ndeny egress\negress only to ::ffff:10.0.0.0/104:443 for app=web\n"})
    run = run_cli("compile", str(root))
    assert run.code == 1 and run.out == ""
    assert ":3:16: error[NP311]: `::ffff:10.0.0.0/104` is an IPv4-mapped IPv6 CIDR" in run.err
    assert "help: write `10.0.0.0/8` for IPv4 addresses" in run.err


YAML_BLOCKS = [
    ('{cidr: "::ffff:10.0.0.0/104"}', "ipBlock.cidr", "`::ffff:10.0.0.0/104` is an IPv4-mapped IPv6 CIDR"),
    ('{cidr: "::/0", except: ["::ffff:0:0/96"]}', "ipBlock.except[0]", "`::ffff:0:0/96` is an IPv4-mapped"),
    ('{cidr: "010.0.0.0/8"}', "ipBlock.cidr", "octet with a leading zero"),
    ('{cidr: "fe80::%eth0/64"}', "ipBlock.cidr", "zone id"),
    ('{cidr: "10.0.0.0/255.0.0.0"}', "ipBlock.cidr", "is not a number"),
    ('{cidr: "10.0.0.1"}', "ipBlock.cidr", "is an address, not a CIDR"),
]


@pytest.mark.parametrize("block", [block for block, _, _ in YAML_BLOCKS])
def test_yaml_ipblocks_refuse_the_same_forms(tmp_path, block):
    path = tmp_path / "p.yaml"
    path.write_text(manifest(f"to: [{{ipBlock: {block}}}]"))
    run = run_cli("explain", "--policies", str(path), "-n", "shop", "app=a -> 10.1.2.3:80")
    assert run.code != 0
    assert f"{path}:8:" in run.err and "error[NP701]" in run.err, run.err
    assert_short_output(run, longest=400)


@pytest.mark.parametrize("block, field, words", YAML_BLOCKS)
def test_the_engine_reader_refuses_those_forms_itself(block, field, words):
    import yaml

    document = yaml.safe_load(manifest(f"to: [{{ipBlock: {block}}}]"))
    with pytest.raises(engine.PolicyError) as caught:
        engine.read_policy(document)
    assert caught.value.where == f"NetworkPolicy p spec.egress[0].to[0].{field}" and words in caught.value.message


def test_yaml_ipblock_with_host_bits_is_still_read_as_its_network(tmp_path):
    # Go's ParseCIDR masks host bits too: both read 10.0.0.0/8, so this is not refused.
    path = tmp_path / "p.yaml"
    path.write_text(manifest("to: [{ipBlock: {cidr: 10.1.2.3/8}}]"))
    run = run_cli("explain", "--policies", str(path), "-n", "shop", "app=a -> 10.9.9.9:80")
    assert run.code == 0, run.err
    assert "allowed" in run.out


# ---------------------------------------------------------------- ports merged into ranges

NUMBERS = st.integers(1, 200)
PORT = st.one_of(
    st.builds(lambda p, n: engine.PortRule(p, n), st.sampled_from(engine.PROTOCOLS), NUMBERS),
    st.builds(lambda p, n, w: engine.PortRule(p, n, n + w), st.sampled_from(engine.PROTOCOLS), NUMBERS, st.integers(1, 30)),
    st.builds(lambda p, name: engine.PortRule(p, name), st.sampled_from(engine.PROTOCOLS), st.sampled_from(["http", "metrics"])),
    st.builds(lambda p: engine.PortRule(p), st.sampled_from(engine.PROTOCOLS)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(PORT, max_size=12))
def test_merged_ports_match_exactly_the_same_numbers(ports):
    merged = merge_ports(tuple(ports))
    for protocol in engine.PROTOCOLS:
        for number in range(1, 235):
            before = any(p.matches(number, protocol, None) for p in ports)
            after = any(p.matches(number, protocol, None) for p in merged)
            assert before == after, (protocol, number, ports, merged)
    # Named ports are resolved on pods, not merged: every one written is kept.
    assert {p for p in ports if isinstance(p.port, str)} == {p for p in merged if isinstance(p.port, str)}
    # No two numeric ranges of a protocol touch or overlap any more.
    for protocol in engine.PROTOCOLS:
        spans = sorted((p.port, p.end_port or p.port) for p in merged if p.protocol == protocol and isinstance(p.port, int))
        assert all(a[1] + 1 < b[0] for a, b in zip(spans, spans[1:]))


def test_merging_examples():
    tcp = [engine.PortRule("TCP", n) for n in (80, 81, 82, 90, 85)]
    assert merge_ports(tuple(tcp)) == (engine.PortRule("TCP", 80, 82), engine.PortRule("TCP", 85), engine.PortRule("TCP", 90))
    inside = (engine.PortRule("TCP", 8000, 8080), engine.PortRule("TCP", 8040), engine.PortRule("UDP", 8040))
    assert merge_ports(inside) == (engine.PortRule("TCP", 8000, 8080), engine.PortRule("UDP", 8040))
    every = (engine.PortRule("TCP", 53), engine.PortRule("TCP"), engine.PortRule("TCP", "dns"))
    assert merge_ports(every) == (engine.PortRule("TCP"), engine.PortRule("TCP", "dns"))


TEN_THOUSAND = ",".join(str(n) for n in range(1, 10001))


def atoms_of(space) -> int:
    sets = [space.policies, *space.context]
    return len(engine.port_atoms(sets, engine.representative_universe(sets)))


def test_ten_thousand_ports_on_one_line_are_a_few_atoms_in_diff(write):
    from compiler.workspace import open_workspace

    old = write({"a.netpol": PROGRAM.format(ports="80")}, root=write({}) / "old")
    new = write({"a.netpol": PROGRAM.format(ports=TEN_THOUSAND)}, root=old.parent / "new")
    assert atoms_of(open_workspace([str(new)], [])) <= 8  # 10,000 before the merge

    diff = run_cli("diff", str(old), str(new))
    assert diff.code == 0, diff.err
    assert "Opened: 1 flow:\n  shop/app=web -> shop/app=db: 1-79,81-10000\n" in diff.out
    assert "Closed: 0 flows" in diff.out


def test_ten_thousand_ports_in_a_manifest_are_a_few_atoms_in_graph_and_explain(tmp_path):
    from compiler.workspace import open_workspace

    ports = "\n".join(f"    - port: {n}" for n in range(1, 10001))
    text = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: shop}\n"
        "spec:\n  podSelector: {matchLabels: {app: db}}\n  policyTypes: [Ingress]\n  ingress:\n"
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports:\n" + ports + "\n"
    )
    path = tmp_path / "db.yaml"
    path.write_text(text)
    assert atoms_of(open_workspace([], [str(path)])) <= 8
    graph = run_cli("graph", "--policies", str(path))
    edges = [line.strip() for line in graph.out.splitlines() if "->" in line]
    assert graph.code == 0 and len(edges) == 1 and edges[0].endswith('[label="1-10000"];')
    outside = run_cli("explain", "--policies", str(path), "-n", "shop", "app=web -> app=db:10001 denied")
    assert outside.code == 0, outside.out


def test_thousands_of_ports_that_do_not_merge_are_handled_each_once(write):
    """Every other number cannot merge: 3,000 atoms, each described once (a set per atom made this quadratic)."""
    old = write({"a.netpol": PROGRAM.format(ports="80")}, root=write({}) / "old")
    new = write({"a.netpol": PROGRAM.format(ports=",".join(str(n) for n in range(1, 6000, 2)))}, root=old.parent / "new")
    diff = run_cli("diff", str(old), str(new))
    assert diff.code == 0, diff.err
    opened = diff.out.split("Opened: ", 1)[1]
    assert "shop/app=web -> shop/app=db: 1,3,5,7," in opened and ",5997,5999\n" in opened and "6001" not in opened


def test_thousands_of_named_ports_resolve_by_lookup(write):
    root = write({"a.netpol": PROGRAM.format(ports=",".join(f"p{n}" for n in range(1, 3001)))})
    allowed = run_cli("explain", str(root), "app=web -> app=db:p2999 allowed")
    assert allowed.code == 0, allowed.out
    denied = run_cli("explain", str(root), "app=web -> app=db:p3001 denied")
    assert denied.code == 0, denied.out
    graph = run_cli("graph", str(root))
    assert graph.code == 0 and sum("->" in line for line in graph.out.splitlines()) == 1


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.tuples(st.text("abc", min_size=1, max_size=3), st.sampled_from(engine.PROTOCOLS)), max_size=10),
    st.lists(st.builds(lambda p, low, width: engine.PortRule(p, low, low + width if width else None),
                       st.sampled_from(engine.PROTOCOLS), st.integers(39990, 40040), st.integers(0, 15)), max_size=10),
)
def test_synthetic_container_ports_avoid_every_numeric_rule(names, numeric):
    """Named ports get numbers no numeric rule of their protocol covers, so names and numbers stay apart."""
    from compiler.engine.universe import _synthetic_ports

    ports = _synthetic_ports(names, numeric)
    assert sorted((p.name, p.protocol) for p in ports) == sorted(names)
    assert [p.number for p in ports] == sorted({p.number for p in ports})  # distinct, increasing
    for port in ports:
        assert not any(r.matches(port.number, port.protocol, None) for r in numeric), (port, numeric)


@pytest.mark.parametrize("network, words", [("::ffff:10.0.0.0/104", "IPv4-mapped"), ("010.0.0.0/8", "leading zero"), ("fe80::%eth0/64", "zone id")])
def test_cluster_policy_networks_refuse_the_same_forms(network, words):
    manifest = {
        "apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy", "metadata": {"name": "p"},
        "spec": {"tier": "Admin", "priority": 10, "subject": {"namespaces": {}},
                 "egress": [{"name": "r", "action": "Deny", "to": [{"networks": [network]}]}]},
    }
    with pytest.raises(engine.PolicyError) as caught:
        engine.load_policies([manifest])
    assert caught.value.where.endswith(".networks") and words in caught.value.message
    good = dict(manifest, spec=dict(manifest["spec"], egress=[{"name": "r", "action": "Deny", "to": [{"networks": ["10.0.0.0/8"]}]}]))
    assert len(engine.load_policies([good]).cluster) == 1
