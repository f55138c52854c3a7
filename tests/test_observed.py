"""Flow records in (Hubble `hubble observe -o json` / jsonpb, Calico flow logs): reduction to distinct connections, bad input, streaming."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys

import pytest

from conftest import REPO, run_cli
from flowgen import Model, Talk, Workload, calico_lines, camel, hubble_lines, hubble_records, storefront

from compiler.observed import read_flows


def write_lines(path, lines) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def end_name(endpoint) -> str:
    return endpoint.ip if endpoint.kind == "address" else f"{endpoint.namespace}/{endpoint.workload}"


def table(observed) -> dict:
    """(source, destination, port, protocol) -> (times seen, times seen dropped)."""
    out = {}
    for c in observed.connections:
        key = (end_name(observed.endpoints[c.source]), end_name(observed.endpoints[c.destination]), c.port, c.protocol)
        out[key] = (c.seen, c.refused)
    return out


def model_table(model: Model) -> dict:
    def name(end):
        return end if isinstance(end, str) else f"{end.namespace}/{end.kind.lower()}/{end.name}"

    out = {}
    for talk in model.talks:
        key = (name(talk.source), name(talk.destination), talk.port, talk.protocol)
        seen, refused = out.get(key, (0, 0))
        if talk.verdict == "DROPPED":
            refused += talk.times
        else:
            seen += talk.times
        out[key] = (seen, refused)
    return out


# ---------------------------------------------------------------- reduction


@pytest.mark.parametrize("shape", ["hubble", "hubble-jsonpb-camel", "hubble-bare", "calico", "calico-elasticsearch"])
def test_each_format_reduces_to_the_model_connections(tmp_path, shape):
    model, _ = storefront()
    if shape == "hubble":
        lines = hubble_lines(model)
    elif shape == "hubble-jsonpb-camel":
        lines = [json.dumps(camel(json.loads(line))) for line in hubble_lines(model)]
    elif shape == "hubble-bare":
        lines = hubble_lines(model, wrap=False)
    elif shape == "calico":
        lines = calico_lines(model)
    else:
        lines = [json.dumps({"_index": "tigera_secure_ee_flows", "_source": json.loads(line)}) for line in calico_lines(model)]
    observed = read_flows([write_lines(tmp_path / "flows.json", lines)])
    assert observed.diagnostics == []
    # Every connection once, counted as often as it happened (both ends' records count once), dropped ones apart.
    assert table(observed) == model_table(model)
    assert {c.port for c in observed.refused_only()} == {5432}  # frontend -> db was refused: an attempt, not traffic
    audit = [c for c in observed.happened() if end_name(observed.endpoints[c.source]) == "shop/deployment/checkout" and c.port == 7070]
    assert audit and audit[0].seen == 1  # AUDIT: would be dropped if enforced, but the traffic happened


def test_replies_and_the_other_ends_record_count_once(tmp_path):
    web = Workload("shop", "web", (("app", "web"),))
    api = Workload("shop", "api", (("app", "api"),))
    model = Model([Talk(web, api, 8080, times=3)])
    records = hubble_records(model, model.talks[0], 0)
    # Three connections, each seen at both ends, each with its reply: twelve records.
    assert len(records) == 12 and sum(r["flow"]["is_reply"] for r in records) == 6
    observed = read_flows([write_lines(tmp_path / "f.json", [json.dumps(r) for r in records])])
    assert table(observed) == {("shop/deployment/web", "shop/deployment/api", 8080, "TCP"): (3, 0)}
    assert (observed.records, observed.replies) == (12, 6)
    first, last = observed.span()
    assert first == 1714521600.123456 and last == 1714521602.123456  # the fraction's nanoseconds read to the microsecond


def test_labels_namespace_labels_and_workloads_are_read_from_hubble(tmp_path):
    model, w = storefront()
    observed = read_flows([write_lines(tmp_path / "f.json", hubble_lines(model))])
    cart = next(e for e in observed.endpoints if e.kind == "pod" and e.workload == "deployment/cart")
    assert cart.labels == {"app": "cart"}  # Cilium's own labels (namespace, service account, cluster) are not the pod's
    assert cart.namespace == "shop" and cart.pods == ["cart-6d8f7b9c4-aaaaa", "cart-6d8f7b9c4-bbbbb"][: len(cart.pods)]
    assert observed.namespace_labels["shop"] == {"team": "shop", "kubernetes.io/metadata.name": "shop"}
    payment = next(e for e in observed.endpoints if e.kind == "address" and e.ip == "203.0.113.10")
    assert payment.note == "api.example.com"  # destination_names


def test_node_local_traffic_icmp_and_events_are_not_connections(tmp_path):
    web = Workload("shop", "web", (("app", "web"),))
    model = Model([Talk(web, web, 8080, times=1)])
    base = hubble_records(model, model.talks[0], 0, replies=False)[0]
    host_to_pod = json.loads(json.dumps(base))
    host_to_pod["flow"]["source"] = {"identity": 1, "labels": ["reserved:host"]}
    host_to_pod["flow"]["IP"]["source"] = "172.18.0.2"
    to_self = json.loads(json.dumps(base))
    to_self["flow"]["IP"]["destination"] = to_self["flow"]["IP"]["source"]
    icmp = json.loads(json.dumps(base))
    icmp["flow"]["l4"] = {"ICMPv4": {"type": 8}}
    arp = json.loads(json.dumps(base))
    del arp["flow"]["IP"], arp["flow"]["l4"]
    status = {"node_status": {"state_change": "NODE_CONNECTED", "node_names": ["kind-worker"]}, "time": "2024-05-01T00:00:00Z"}
    lines = [json.dumps(x) for x in (host_to_pod, to_self, icmp, arp, status)]
    observed = read_flows([write_lines(tmp_path / "f.json", lines)])
    assert observed.diagnostics == [] and observed.connections == []
    assert (observed.node_local, observed.not_connections) == (2, 3)


def test_reserved_identities_are_addresses(tmp_path):
    web = Workload("shop", "web", (("app", "web"),))
    base = hubble_records(Model([Talk(web, "10.96.0.1", 443, times=1)]), Talk(web, "10.96.0.1", 443, times=1), 0, replies=False)[0]
    apiserver = json.loads(json.dumps(base))
    apiserver["flow"]["destination"] = {"identity": 7, "labels": ["reserved:kube-apiserver"]}
    world = json.loads(json.dumps(base))
    world["flow"]["destination"] = {"identity": 2}  # no labels: the reserved identity's number says it
    world["flow"]["IP"]["destination"] = "8.8.8.8"
    world["flow"].pop("destination_names", None)
    observed = read_flows([write_lines(tmp_path / "f.json", [json.dumps(apiserver), json.dumps(world)])])
    notes = {e.ip: e.note for e in observed.endpoints if e.kind == "address"}
    assert notes == {"10.96.0.1": "kube-apiserver", "8.8.8.8": ""}
    assert len(observed.connections) == 2


# ---------------------------------------------------------------- bad input


def test_bad_lines_give_one_diagnostic_per_kind_with_the_first_line_and_a_count(tmp_path):
    model, _ = storefront()
    good = sorted(hubble_lines(model), key=lambda line: '"is_reply": true' in line)  # originals first, replies after
    pod = json.loads(good[0])
    unknown = json.loads(good[1])
    unknown["flow"]["sparkle"] = 1
    unlabelled = json.loads(json.dumps(pod))
    unlabelled["flow"]["source"] = {"namespace": "shop", "pod_name": "web-1"}
    unlabelled["flow"]["is_reply"] = False
    bad_port = json.loads(json.dumps(pod))
    bad_port["flow"]["is_reply"] = False
    bad_port["flow"]["l4"] = {"TCP": {"destination_port": 70000}}
    no_address = json.loads(json.dumps(pod))
    no_address["flow"]["is_reply"] = False
    no_address["flow"]["destination"] = {"identity": 2, "labels": ["reserved:world"]}
    del no_address["flow"]["IP"]["destination"]
    lines = (
        ["Apr 30 12:00:01 TIMESTAMP SOURCE DESTINATION", good[0], json.dumps(unknown)]  # 1: a table header, not JSON; 3: a field too many
        + good[2:10]  # 4-11
        + ['{"flow": {"source": {"namespace": "sh', "not json either", "[1, 2]", '{"kind": "Pod"}']  # 12-15
        + [json.dumps(unlabelled), json.dumps(bad_port), json.dumps(no_address)]  # 16-18
        + good[10:]
        + ['{"flow": {"verdict": "FORWARDED"']  # the last line, cut by the export
    )
    path = write_lines(tmp_path / "flows.json", lines)
    observed = read_flows([path])
    found = {d.code: d for d in observed.diagnostics}
    assert {code: (d.span.line, d.span.column) for code, d in found.items()} == {
        "NP900": (1, 1),
        "NP901": (12, 38),
        "NP902": (14, 1),
        "NP903": (3, found["NP903"].span.column),
        "NP904": (16, found["NP904"].span.column),
        "NP905": (17, found["NP905"].span.column),
        "NP908": (18, found["NP908"].span.column),
    }
    assert found["NP900"].message.startswith("2 lines not JSON") and found["NP901"].message.startswith("2 lines of truncated JSON")
    assert found["NP902"].message.startswith("2 lines not a flow record")
    assert "`flow.sparkle` (1 record)" in found["NP903"].message
    assert lines[2][found["NP903"].span.column - 1:].startswith('"sparkle"')  # the column is the field's
    assert "pod shop/web-1 has no labels" in found["NP904"].message
    assert "70000" in found["NP905"].message
    assert all(d.severity == "warning" and d.hint for d in observed.diagnostics)
    # The rest of the file was read: every connection of the model is there.
    assert table(observed) == model_table(model)
    # On the command line: warnings on stderr at file:line:col, the replay still answers.
    run = run_cli("replay", "--policies", str(REPO / "tests/fixtures/flows/open.yaml"), "--flows", path)
    assert run.code == 0, run.err
    assert f"{path}:1:1: warning[NP900]: 2 lines not JSON" in run.err and f"{path}:14:1: warning[NP902]" in run.err


def test_calico_records_without_addresses_or_labels(tmp_path):
    model, _ = storefront()
    records = [json.loads(line) for line in calico_lines(model)]
    aggregated = next(r for r in records if r["dest_type"] == "net")
    aggregated = {**aggregated, "dest_ip": None}
    unlabelled = {**records[0], "source_labels": "-", "source_type": "wep", "source_namespace": "shop"}
    odd = {**records[0], "proto": "gre"}
    path = write_lines(tmp_path / "f.json", [json.dumps(r) for r in (aggregated, unlabelled, odd)])
    codes = {d.code: d.span.line for d in read_flows([path]).diagnostics}
    assert codes == {"NP908": 1, "NP904": 2, "NP905": 3}


def test_a_line_past_the_bound_is_skipped_to_its_end(tmp_path):
    model, _ = storefront()
    good = hubble_lines(model)
    path = tmp_path / "f.json"
    with open(path, "w", encoding="utf-8") as out:
        out.write(good[0] + "\n")
        out.write('{"flow": "' + "x" * (3 * 1024 * 1024) + '"}\n')  # 3 MiB on one line
        out.write("\n".join(good[1:]) + "\n")
    observed = read_flows([str(path)])
    assert [(d.code, d.span.line) for d in observed.diagnostics] == [("NP906", 2)]
    assert table(observed) == model_table(model)


def test_the_connection_table_is_bounded(tmp_path):
    model, _ = storefront()
    path = write_lines(tmp_path / "f.json", hubble_lines(model))
    observed = read_flows([path], max_connections=5)
    assert len(observed.connections) == 5 and observed.untracked > 0
    [full] = [d for d in observed.diagnostics if d.code == "NP907"]
    assert full.severity == "error" and "more than 5 distinct connections" in full.message
    run = run_cli("replay", "--policies", str(REPO / "tests/fixtures/flows/open.yaml"), "--flows", path, "--max-connections", "5")
    assert run.code == 1 and "error[NP907]" in run.err  # an incomplete answer is not a pass
    assert run_cli("replay", "--policies", "x.yaml", "--flows", path, "--max-connections", "0").code == 2


# ---------------------------------------------------------------- streaming


class _Generated(io.RawIOBase):
    """A flow file produced while it is read: the whole file never exists in memory."""

    def __init__(self, lines: list[bytes], repeat: int):
        self.lines, self.repeat, self.index = lines, repeat, 0
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self.pending) < len(buffer) and self.index < len(self.lines) * self.repeat:
            self.pending += self.lines[self.index % len(self.lines)]
            self.index += 1
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


def test_a_large_file_is_read_in_bounded_memory(monkeypatch):
    import tracemalloc

    from compiler import observed as module

    model, _ = storefront()
    lines = [(line + "\n").encode() for line in hubble_lines(model)]
    repeat = 40  # 4,800 lines, 7 MB of flows
    stream = io.BufferedReader(_Generated(lines, repeat), buffer_size=1 << 16)
    reader = module._Reader(module.MAX_CONNECTIONS)
    tracemalloc.start()
    reader.read("flows.json", stream, None)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    observed = reader.finish()
    assert observed.lines == len(lines) * repeat
    expected = {key: (seen * repeat, refused * repeat) for key, (seen, refused) in model_table(model).items()}
    assert table(observed) == expected
    assert peak < 1024 * 1024, f"peak {peak:,} bytes while reading {observed.lines:,} lines"


def test_gzip_files_are_read_as_they_are(tmp_path):
    model, _ = storefront()
    path = tmp_path / "flows.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(calico_lines(model)) + "\n")
    assert table(read_flows([str(path)])) == model_table(model)
    broken = tmp_path / "cut.json.gz"
    broken.write_bytes(path.read_bytes()[:-20])
    observed = read_flows([str(broken)])
    assert [d.code for d in observed.diagnostics] == ["NP900"] and "cannot be read past here" in observed.diagnostics[0].message


def test_progress_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    from compiler import observed as module

    model, _ = storefront()
    path = write_lines(tmp_path / "f.json", hubble_lines(model) * 40)  # 4,800 lines: past the first redraw
    small = write_lines(tmp_path / "small.json", hubble_lines(model))
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert module._progress_wanted()
    monkeypatch.setenv("CI", "true")
    assert not module._progress_wanted()
    read_flows([path], progress=True)
    err = capsys.readouterr().err
    assert "netpolc: reading " in err and "lines (" in err and err.endswith("\r\033[K")
    # A real process writing to a pipe draws nothing.
    run = subprocess.run(
        [sys.executable, "-m", "compiler", "suggest", "--flows", small, "-n", "shop"], capture_output=True, text=True, cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert "reading" not in run.stderr and "\r" not in run.stderr


def test_flows_from_standard_input(tmp_path):
    model, _ = storefront()
    data = "\n".join(hubble_lines(model)) + "\n"
    run = subprocess.run(
        [sys.executable, "-m", "compiler", "replay", "--policies", "tests/fixtures/flows/open.yaml", "--flows", "-"],
        input=data, capture_output=True, text=True, cwd=REPO,
    )
    assert run.returncode == 0, run.stderr
    assert "Read 120 lines of <stdin>" in run.stdout and run.stdout.rstrip().endswith("12 connections observed, 0 would be denied")


def test_unreadable_flow_arguments_are_usage_errors(tmp_path):
    policies = str(REPO / "tests/fixtures/flows/open.yaml")
    assert "no such file" in run_cli("replay", "--policies", policies, "--flows", str(tmp_path / "none.json")).err
    assert run_cli("replay", "--policies", policies, "--flows", str(tmp_path)).code == 2
    assert run_cli("replay", "--policies", policies).code == 2  # --flows is required
    twice = run_cli("replay", "--policies", "-", "--flows", "-")
    assert twice.code == 2 and "standard input can be read once" in twice.err


def test_text_from_the_records_never_reaches_a_terminal_raw(tmp_path):
    web = Workload("shop", "web", (("app", "web"),))
    [record] = hubble_lines(Model([Talk(web, "8.8.8.8", 443, times=1)]), replies=False)
    data = json.loads(record)
    data["flow"]["source"]["workloads"] = [{"name": "web\x1b[2J", "kind": "Deployment"}]  # an escape code in a name
    data["flow"]["destination_names"] = ["evil\x1b]0;owned\x07.example"]
    odd = {"\x1b[31mkey": 1}
    path = write_lines(tmp_path / "f.json", [json.dumps(data), json.dumps(odd)])
    observed = read_flows([path])
    [source] = [e for e in observed.endpoints if e.kind == "pod"]
    assert source.workload == ""  # not a workload name: the endpoint is named by its label instead
    assert [e.note for e in observed.endpoints if e.kind == "address"] == [""]
    [shape] = observed.diagnostics
    assert shape.code == "NP902" and "\x1b" not in shape.message and "'\\x1b[31mkey'" in shape.message
