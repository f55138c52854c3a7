"""Observed traffic: Hubble and Calico flow records, streamed line by line and reduced to distinct connections.

Inputs (one JSON object per line, plain or gzip-compressed, `-` for standard input):

- Hubble, as `hubble observe -o json` / `-o jsonpb` print it: `{"flow": {...}, "node_name": ...,
  "time": ...}` (a bare flow object is read too). Field names are those of Cilium's
  `api/v1/flow/flow.proto` (proto names, or the lowerCamelCase JSON names): `source` /
  `destination` (`namespace`, `pod_name`, `labels` such as `k8s:app=web`, `workloads`),
  `IP.source` / `IP.destination`, `l4.TCP` / `l4.UDP` / `l4.SCTP` `destination_port`,
  `traffic_direction`, `is_reply`, `verdict`, `destination_names`, `Type`. Namespace labels
  come as `k8s:io.cilium.k8s.namespace.labels.KEY=VALUE`; reserved identities
  (`reserved:world`, `reserved:host`, `reserved:kube-apiserver`, ...) are addresses, except the
  local node (`reserved:host`), whose traffic with its pods Kubernetes always allows.
- Calico flow logs in their JSON form (`source_namespace`, `source_name_aggr`, `source_labels`,
  `source_type`, `dest_*`, `dest_port`, `proto`, `action`, `reporter`, `num_flows`, ...), also as
  Elasticsearch hits (`{"_source": {...}}`).

Records are reduced to distinct connections (source, destination, port, protocol), where an
end is a workload (pods of one namespace with one label set) or an address. Replies are
dropped; the records of one connection seen at both ends (Hubble's egress and ingress
events, Calico's `src` and `dst` reporters) count once: a connection's count is the larger of
its two ends' counts. Connections seen only dropped (`DROPPED`, Calico `deny`) are kept apart:
they are attempts, not traffic the workloads have. `AUDIT` (would be dropped, let through) is
traffic that happened.

Everything is bounded: a line is at most MAX_LINE_BYTES, the table of distinct connections at
most `max_connections` (NP907 when more are seen). Bad input is one diagnostic per kind of
problem (NP900-NP906, NP908) with its first line and a count; the rest of the file is read.
Records that are not connections (Hubble's node status events, ICMP, ARP) are only counted.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time as _time
from dataclasses import dataclass, field

from .diagnostics import Diagnostic
from .source import Span

MAX_LINE_BYTES = 1024 * 1024  # a Hubble flow is ~2 KB; an L7 flow with every header still far below this
MAX_CONNECTIONS = 100_000  # distinct connections kept (about 30 MB); --max-connections raises it
MAX_LABELS = 256  # labels on one endpoint: far more than any pod carries
MAX_NAMED = 8  # pod names and DNS names remembered per endpoint (for display and --cluster matching)
PROTOCOLS = ("TCP", "UDP", "SCTP")

# What a connection's ends are.
POD, ADDRESS, HOST = "pod", "address", "host"

# Hubble verdicts: traffic that happened, and attempts that were refused (the enum's numbers too).
HAPPENED = {"FORWARDED", "AUDIT", "REDIRECTED", "TRACED", "TRANSLATED"}
REFUSED = {"DROPPED"}
VERDICT_NUMBERS = {0: "VERDICT_UNKNOWN", 1: "FORWARDED", 2: "DROPPED", 3: "ERROR", 4: "AUDIT", 5: "REDIRECTED", 6: "TRACED", 7: "TRANSLATED"}
DIRECTION_NUMBERS = {0: "TRAFFIC_DIRECTION_UNKNOWN", 1: "INGRESS", 2: "EGRESS"}
TYPE_NUMBERS = {0: "UNKNOWN_TYPE", 1: "L3_L4", 2: "L7", 3: "SOCK"}

# Reserved identities by number (Cilium's), for endpoints that carry no labels.
RESERVED_IDENTITIES = {1: "host", 2: "world", 3: "unmanaged", 4: "health", 5: "init", 6: "remote-node", 7: "kube-apiserver", 8: "ingress", 9: "world-ipv4", 10: "world-ipv6"}
RESERVED_NOTES = {
    "world": "", "world-ipv4": "", "world-ipv6": "", "remote-node": "remote node", "kube-apiserver": "kube-apiserver",
    "health": "cilium-health", "unmanaged": "unmanaged by Cilium", "ingress": "Cilium ingress",
}

# Fields of flow.proto (current Cilium, proto names), of the messages read here.
HUBBLE_RESPONSE = {"flow", "node_status", "lost_events", "agent_event", "debug_event", "node_name", "node_labels", "time"}
HUBBLE_EVENTS = frozenset({"node_status", "lost_events", "agent_event", "debug_event"})
HUBBLE_FLOW = {
    "time", "uuid", "emitter", "verdict", "drop_reason", "auth_type", "ethernet", "IP", "l4", "tunnel", "source", "destination",
    "Type", "node_name", "node_labels", "source_names", "destination_names", "l7", "reply", "event_type", "source_service",
    "destination_service", "traffic_direction", "policy_match_type", "trace_observation_point", "trace_reason", "file",
    "drop_reason_desc", "is_reply", "debug_capture_point", "interface", "proxy_port", "trace_context", "sock_xlate_point",
    "socket_cookie", "cgroup_id", "Summary", "extensions", "egress_allowed_by", "ingress_allowed_by", "egress_denied_by",
    "ingress_denied_by", "policy_log", "aggregate", "ip_trace_id",
}
HUBBLE_ENDPOINT = {"ID", "identity", "cluster_name", "namespace", "labels", "pod_name", "workloads"}
HUBBLE_IP = {"source", "source_xlated", "destination", "ipVersion", "encrypted"}
HUBBLE_L4 = {"TCP", "UDP", "ICMPv4", "ICMPv6", "SCTP", "VRRP", "IGMP"}
HUBBLE_PORTS = {"source_port", "destination_port", "flags"}
# Calico flow log fields (the flow log data types reference).
CALICO_FIELDS = {
    "host", "start_time", "end_time", "action", "bytes_in", "bytes_out", "dest_ip", "dest_name", "dest_name_aggr",
    "dest_namespace", "dest_port", "dest_service_name", "dest_service_namespace", "dest_service_port", "dest_service_port_num",
    "dest_type", "dest_labels", "dest_domains", "reporter", "num_flows", "num_flows_completed", "num_flows_started",
    "num_process_names", "num_process_ids", "num_process_args", "nat_outgoing_ports", "packets_in", "packets_out", "proto",
    "policies", "process_name", "process_id", "process_args", "source_ip", "source_name", "source_name_aggr", "source_namespace",
    "source_port", "source_type", "source_labels", "original_source_ips", "num_original_source_ips", "transit_bytes_in",
    "transit_bytes_out", "transit_packets_in", "transit_packets_out", "http_requests_allowed_in", "http_requests_denied_in",
    "tcp_mean_send_congestion_window", "tcp_min_send_congestion_window", "tcp_mean_smooth_rtt", "tcp_max_smooth_rtt",
    "tcp_mean_min_rtt", "tcp_max_min_rtt", "tcp_mean_mss", "tcp_min_mss", "tcp_total_retransmissions", "tcp_lost_packets",
    "tcp_unrecovered_to", "cluster",
}
CALICO_MARKERS = {"source_type", "dest_type", "reporter", "source_namespace", "dest_namespace", "source_name_aggr", "dest_name_aggr"}
HUBBLE_MARKERS = {"source", "destination", "IP", "l4", "verdict", "Type", "traffic_direction", "trafficDirection", "event_type", "eventType"}
CALICO_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP", "6": "TCP", "17": "UDP", "132": "SCTP"}
CALICO_NOT_PORTS = {"icmp", "icmp6", "1", "58", "ipip", "4", "esp", "50"}

# Labels Cilium adds to identities that are not the pod's own.
CILIUM_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
CILIUM_NAMESPACE_LABELS = "io.cilium.k8s.namespace.labels."
CILIUM_OWN = "io.cilium.k8s.policy."

LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
NAMESPACE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")  # pods and workloads: DNS subdomains
AGGREGATED_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?(-\*)?$")  # Calico's `cart-6d8f7b9c4-*`
KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
DNS_NAME = re.compile(r"^[A-Za-z0-9_*]([-A-Za-z0-9_.]{0,252})?$")


@dataclass
class Endpoint:
    """One end of observed connections: a workload (pods of one namespace with one label set), an address, or the local node."""

    kind: str  # POD, ADDRESS or HOST
    namespace: str = ""
    labels: dict = field(default_factory=dict)
    workload: str = ""  # deployment/cart, statefulset/db, ... when the records say
    ip: str = ""  # an address's
    note: str = ""  # an address's identity (kube-apiserver, remote node) or DNS name
    pods: list = field(default_factory=list)  # pod names seen (a few)


@dataclass
class Connection:
    """A distinct connection and how often it was seen: at its source, at its destination, elsewhere; and refused."""

    source: int  # index into Observed.endpoints
    destination: int
    port: int
    protocol: str
    counts: list  # [at source, at destination, elsewhere (L7, SOCK), refused at source, refused at destination, first, last]

    @property
    def seen(self) -> int:
        """Times the connection happened: each end saw it, so the larger count (not the sum)."""
        return max(self.counts[0], self.counts[1]) or self.counts[2]

    @property
    def refused(self) -> int:
        return max(self.counts[3], self.counts[4])

    @property
    def happened(self) -> bool:
        return self.seen > 0

    @property
    def first(self) -> float | None:
        return self.counts[5]

    @property
    def last(self) -> float | None:
        return self.counts[6]


@dataclass
class Observed:
    """What the flow files hold: endpoints, distinct connections, what was left out, and the problems found."""

    files: list[str] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    connections: list[Connection] = field(default_factory=list)
    namespace_labels: dict = field(default_factory=dict)  # namespace -> labels (Hubble's k8s:io.cilium.k8s.namespace.labels.*)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    lines: int = 0
    records: int = 0  # flow records read (original direction and replies)
    replies: int = 0
    node_local: int = 0  # records between a pod and its own node (or itself): always allowed
    not_connections: int = 0  # events and records that are not connections (ICMP, non-IP, node status)
    left_out: int = 0  # records not used because of a problem (diagnosed)
    untracked: int = 0  # records of connections past the table's bound

    def happened(self) -> list[Connection]:
        """Connections that carried traffic (FORWARDED, AUDIT, Calico `allow`)."""
        return [c for c in self.connections if c.happened]

    def refused_only(self) -> list[Connection]:
        return [c for c in self.connections if not c.happened]

    def span(self) -> tuple[float | None, float | None]:
        firsts = [c.first for c in self.connections if c.first is not None]
        lasts = [c.last for c in self.connections if c.last is not None]
        return (min(firsts) if firsts else None, max(lasts) if lasts else None)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


class FlowsError(Exception):
    """A --flows argument that cannot be opened (exit code 2)."""


# ---------------------------------------------------------------- reading


def read_flows(arguments: list[str], max_connections: int = MAX_CONNECTIONS, progress: bool | None = None) -> Observed:
    """Read every --flows argument (files, `-`) into one table of distinct connections."""
    if arguments.count("-") > 1:
        raise FlowsError("standard input (-) can be read only once: give --flows - once")
    reader = _Reader(max_connections)
    show = _progress_wanted() if progress is None else progress
    for argument in arguments:
        name = "<stdin>" if argument == "-" else argument
        reader.observed.files.append(name)
        with _open(argument) as (stream, size, position):
            reader.read(name, stream, _Progress(name, size, position) if show else None)
    return reader.finish()


def _progress_wanted() -> bool:
    """A progress line on a terminal only: nothing on a pipe, in a file or in CI."""
    return bool(sys.stderr.isatty()) and not os.environ.get("CI")


class _open:
    """The file as a binary stream (gzip undone), its size and a way to ask how far it has been read."""

    def __init__(self, argument: str):
        self.argument = argument
        self.handles: list = []

    def __enter__(self):
        import gzip

        if self.argument == "-":
            stream = sys.stdin.buffer
            return stream, None, None
        try:
            raw = open(self.argument, "rb")  # noqa: SIM115 (closed in __exit__)
        except IsADirectoryError:
            raise FlowsError(f"{self.argument}: is a folder; give the flow file (e.g. the output of hubble observe -o json)") from None
        except FileNotFoundError:
            raise FlowsError(f"{self.argument}: no such file") from None
        except OSError as err:
            raise FlowsError(f"{self.argument}: cannot be read: {err.strerror or err}") from None
        self.handles.append(raw)
        try:
            size = os.fstat(raw.fileno()).st_size
            magic = raw.peek(2)[:2]
        except OSError as err:
            raise FlowsError(f"{self.argument}: cannot be read: {err.strerror or err}") from None
        if magic == b"\x1f\x8b":  # gzip: read through it; progress follows the compressed bytes read
            stream = gzip.GzipFile(fileobj=raw, mode="rb")
            self.handles.append(stream)
            return stream, size, raw.tell
        return raw, size, raw.tell

    def __exit__(self, *exc):
        for handle in reversed(self.handles):
            try:
                handle.close()
            except OSError:
                pass
        return False


class _Progress:
    """`netpolc: reading flows.json: 412,000 lines (31%)` on standard error, redrawn at most five times a second."""

    def __init__(self, name: str, size: int | None, position):
        self.name, self.size, self.position = name, size, position
        self.next = 0.0
        self.drawn = False

    def tick(self, lines: int) -> None:
        now = _time.monotonic()
        if now < self.next:
            return
        self.next = now + 0.2
        share = ""
        if self.size and self.position is not None:
            try:
                share = f" ({min(100, 100 * self.position() // self.size)}%)"
            except (OSError, ValueError):
                share = ""
        sys.stderr.write(f"\rnetpolc: reading {self.name}: {lines:,} lines{share}\033[K")
        sys.stderr.flush()
        self.drawn = True

    def done(self) -> None:
        if self.drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class _Problems:
    """One diagnostic per kind of problem: where it was first seen, how often, and an example."""

    def __init__(self):
        self.kinds: dict[tuple, list] = {}  # (code, kind) -> [file, line, column, count, detail]
        self.unknown: dict[str, list] = {}  # field path -> [count, file, line, column]

    def add(self, code: str, kind: str, file: str, line: int, column: int = 1, detail: str = "") -> None:
        found = self.kinds.get((code, kind))
        if found is None:
            self.kinds[(code, kind)] = [file, line, column, 1, detail]
        else:
            found[3] += 1

    def unknown_field(self, path: str, file: str, line: int, column: int) -> None:
        found = self.unknown.get(path)
        if found is not None:
            found[0] += 1
        elif len(self.unknown) < 64:
            self.unknown[path] = [1, file, line, column]


class _Reader:
    def __init__(self, max_connections: int):
        self.observed = Observed()
        self.max_connections = max_connections
        self.problems = _Problems()
        self.endpoint_ids: dict[tuple, int] = {}
        self.hubble_cache: dict[tuple, tuple] = {}  # (namespace, labels, workloads, identity, pod) -> classification
        self.calico_cache: dict[tuple, tuple] = {}
        self.table: dict[tuple, list] = {}  # (source, destination, port, protocol) -> counts
        self.ips: dict[str, str | None] = {}
        self.file = ""
        self.number = 0

    # ------------------------------------------------------------ lines

    def read(self, name: str, stream, progress: "_Progress | None") -> None:
        self.file = name
        number = 0
        observed = self.observed
        record = self.record
        readline = stream.readline
        limit = MAX_LINE_BYTES + 1
        try:
            while True:
                line = readline(limit)
                if not line:
                    break
                number += 1
                if len(line) == limit and not line.endswith(b"\n"):
                    self._skip_rest(readline)
                    self.number = number
                    self.problems.add("NP906", "long", name, number, 1, f"more than {MAX_LINE_BYTES:,} bytes")
                    observed.left_out += 1
                    continue
                if progress is not None and not number & 0xFFF:
                    progress.tick(number)
                if line.isspace():
                    continue
                self.number = number
                record(line)
        except (OSError, EOFError) as err:  # a corrupt gzip stream, a read error: what was read counts
            self.problems.add("NP900", "unreadable", name, number + 1, 1, f"the file cannot be read past here: {err}")
        finally:
            if progress is not None:
                progress.done()
        observed.lines += number

    @staticmethod
    def _skip_rest(readline) -> None:
        while True:
            rest = readline(65536)
            if not rest or rest.endswith(b"\n"):
                return

    def record(self, line: bytes) -> None:
        if b'is_reply"' in line and (b'"is_reply":true' in line or b'"is_reply": true' in line) and line.rstrip()[-1:] == b"}" and line[:1] == b"{":
            # A Hubble reply (most of a stream): nothing of it is kept, so it is not decoded. The marker
            # cannot come from inside a JSON string, where its quotes would be escaped.
            self.observed.records += 1
            self.observed.replies += 1
            return
        try:
            data = _decode(line.decode("utf-8"))
        except (ValueError, RecursionError) as err:
            self._not_json(line, err)
            return
        if not isinstance(data, dict):
            self._problem("NP902", "shape", 1, f"a JSON {type(data).__name__}, not an object")
            return
        flow = data.get("flow")
        if isinstance(flow, dict):
            if not HUBBLE_RESPONSE.issuperset(data):
                data = _snake_keys(data, HUBBLE_RESPONSE)
                extra = data.keys() - HUBBLE_RESPONSE
                if extra:
                    self._unknown(line, "", extra)
            self.hubble(line, flow, data.get("time"))
            return
        if flow is None and not HUBBLE_EVENTS.isdisjoint(data):
            self.observed.not_connections += 1  # node status, lost events: part of the stream, not flows
            return
        source = data.get("_source")
        if isinstance(source, dict) and not CALICO_MARKERS.isdisjoint(source):
            data = source  # an Elasticsearch hit
        if len(CALICO_MARKERS.intersection(data)) >= 2:
            self.calico(line, data)
        elif not HUBBLE_MARKERS.isdisjoint(data):
            self.hubble(line, data, None)
        else:
            keys = ", ".join(_clean(key) for key in sorted(data)[:4]) or "no field"
            self._problem("NP902", "shape", 1, f"an object with {keys}: neither a Hubble flow nor a Calico flow log")

    def _not_json(self, line: bytes, err: Exception) -> None:
        stripped = line.strip()
        position = getattr(err, "pos", None)
        if position is not None and stripped[:1] == b"{" and stripped[-1:] != b"}":
            self._problem("NP901", "truncated", len(line.rstrip(b"\r\n")) + 1, "the line ends before its JSON object does")
        else:
            column = (getattr(err, "colno", None) or 1) if position is not None else 1
            reason = getattr(err, "msg", None) or ("not UTF-8 text" if isinstance(err, UnicodeDecodeError) else type(err).__name__)
            self._problem("NP900", "json", column, reason.lower() if reason[:1].isupper() else reason)

    def _problem(self, code: str, kind: str, column: int, detail: str) -> None:
        self.problems.add(code, kind, self.file, self.number, column, detail)
        self.observed.left_out += 1

    def _unknown(self, line: bytes, prefix: str, keys) -> None:
        for key in sorted(keys):
            where = line.find(f'"{key}"'.encode())
            self.problems.unknown_field(prefix + key, self.file, self.number, where + 1 if where >= 0 else 1)

    # ------------------------------------------------------------ Hubble

    def hubble(self, line: bytes, flow: dict, outer_time) -> None:
        observed = self.observed
        observed.records += 1
        if not HUBBLE_FLOW.issuperset(flow):
            flow = _snake_keys(flow, HUBBLE_FLOW)
            extra = flow.keys() - HUBBLE_FLOW
            if extra:
                self._unknown(line, "flow.", extra)
        if _hubble_is_reply(flow):
            observed.replies += 1
            return
        verdict = flow.get("verdict", "VERDICT_UNKNOWN")
        if isinstance(verdict, int) and not isinstance(verdict, bool):
            verdict = VERDICT_NUMBERS.get(verdict, str(verdict))
        if verdict in HAPPENED:
            refused = False
        elif verdict in REFUSED:
            refused = True
        elif isinstance(verdict, str) and verdict in ("ERROR", "VERDICT_UNKNOWN"):
            observed.not_connections += 1  # no verdict (a debug or capture event): not a connection's
            return
        else:
            self._problem("NP905", "verdict", _column(line, "verdict"), f"verdict {_show(verdict)} is not one of flow.proto's")
            return
        ip = flow.get("IP")
        l4 = flow.get("l4")
        if not isinstance(ip, dict) or not isinstance(l4, dict):
            if ip is None or l4 is None:
                observed.not_connections += 1  # not IP (ARP), or no layer 4 (an L7 record without it)
            else:
                self._problem("NP905", "shape", _column(line, "IP" if not isinstance(ip, dict) else "l4"), "IP and l4 are objects in flow.proto")
            return
        port_protocol = self._hubble_port(line, l4)
        if port_protocol is None:
            return
        port, protocol = port_protocol
        if not HUBBLE_IP.issuperset(ip):
            ip = _snake_keys(ip, HUBBLE_IP)
            if ip.keys() - HUBBLE_IP:
                self._unknown(line, "flow.IP.", ip.keys() - HUBBLE_IP)
        source = self._hubble_end(line, flow.get("source"), ip.get("source"), "source", None)
        if source is None:
            return
        destination = self._hubble_end(line, flow.get("destination"), ip.get("destination"), "destination", flow.get("destination_names"))
        if destination is None:
            return
        kind = flow.get("Type", "UNKNOWN_TYPE")
        if isinstance(kind, int) and not isinstance(kind, bool):
            kind = TYPE_NUMBERS.get(kind, "")
        direction = flow.get("traffic_direction")
        if isinstance(direction, int) and not isinstance(direction, bool):
            direction = DIRECTION_NUMBERS.get(direction, "")
        if kind in ("L7", "SOCK"):
            slot = 2  # the proxy's or the socket's view of a connection the L3/L4 events also show
        elif direction == "EGRESS":
            slot = 0
        elif direction == "INGRESS":
            slot = 1
        else:
            slot = 2
        if refused:
            slot = 3 if slot != 1 else 4
        moment = flow.get("time", outer_time)
        self._count(source, destination, port, protocol, slot, moment, ip)

    def _hubble_port(self, line: bytes, l4: dict) -> tuple[int, str] | None:
        for protocol in PROTOCOLS:
            inner = l4.get(protocol)
            if inner is None:
                continue
            if not isinstance(inner, dict):
                self._problem("NP905", "shape", _column(line, protocol), f"l4.{protocol} is an object in flow.proto")
                return None
            if not HUBBLE_PORTS.issuperset(inner):
                inner = _snake_keys(inner, HUBBLE_PORTS)
                if inner.keys() - HUBBLE_PORTS:
                    self._unknown(line, f"flow.l4.{protocol}.", inner.keys() - HUBBLE_PORTS)
            port = inner.get("destination_port")
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                self._problem("NP905", "port", _column(line, "destination_port"), f"destination port {_show(port)} is not a port number from 1 to 65535")
                return None
            return port, protocol
        if l4.keys() - HUBBLE_L4:
            self._unknown(line, "flow.l4.", l4.keys() - HUBBLE_L4)
        self.observed.not_connections += 1  # ICMP and other protocols without ports: NetworkPolicy names none
        return None

    def _hubble_end(self, line: bytes, end, ip, side: str, names) -> int | None:
        """The endpoint id of one end, or None (the problem recorded)."""
        if end is None:
            end = {}
        if not isinstance(end, dict):
            self._problem("NP905", "shape", _column(line, side), f"{side} is an object in flow.proto")
            return None
        labels = end.get("labels") or ()
        workloads = end.get("workloads")
        try:
            workload = (workloads[0].get("kind"), workloads[0].get("name")) if workloads else None
            key = (end.get("namespace"), tuple(labels), workload, end.get("identity"), end.get("pod_name") or end.get("podName"))
            found = self.hubble_cache.get(key)
        except (TypeError, AttributeError, KeyError, IndexError):  # a list of objects where strings go, a number where a list goes
            self._problem("NP905", "shape", _column(line, side), f"{side}.labels is a list of strings and {side}.workloads a list of objects in flow.proto")
            return None
        if found is None:
            if end.keys() - HUBBLE_ENDPOINT:
                end = _snake_keys(end, HUBBLE_ENDPOINT)
                if end.keys() - HUBBLE_ENDPOINT:
                    self._unknown(line, f"flow.{side}.", end.keys() - HUBBLE_ENDPOINT)
            found = self._hubble_classify(end)
            if len(self.hubble_cache) < 100_000:
                self.hubble_cache[key] = found
        kind, value = found
        if kind == "bad":
            self._problem("NP905", "label", _column(line, side), value)
            return None
        if kind == "unlabelled":
            self._problem("NP904", "unlabelled", _column(line, side), value)
            return None
        if kind == POD:
            return value
        if kind == HOST:
            return -1
        address = self._ip(ip)
        if address is None:
            if ip in (None, ""):
                self._problem("NP908", "address", _column(line, "IP"), f"the {side} is outside the cluster but the record has no IP.{side}")
            else:
                self._problem("NP905", "ip", _column(line, "IP"), f"IP.{side} {_show(ip)} is not an IP address")
            return None
        note = value
        if not note and isinstance(names, list) and names and isinstance(names[0], str):
            note = names[0].rstrip(".") if DNS_NAME.match(names[0]) else ""
        return self._address(address, note)

    def _hubble_classify(self, end: dict) -> tuple[str, object]:
        """(POD, id), (ADDRESS, note), (HOST, None), ("unlabelled", why) or ("bad", why) for one endpoint object."""
        labels = end.get("labels") or []
        namespace = end.get("namespace") or ""
        if not isinstance(labels, list) or len(labels) > MAX_LABELS or not all(isinstance(label, str) for label in labels):
            return "bad", f"labels: expected at most {MAX_LABELS} strings such as k8s:app=web"
        own: dict[str, str] = {}
        namespace_labels: dict[str, str] = {}
        reserved = ""
        for label in labels:
            origin, _, text = label.partition(":") if ":" in label else ("k8s", "", label)
            key, _, value = text.partition("=")
            if origin == "reserved":
                reserved = reserved or key
                continue
            if origin != "k8s":
                continue  # cidr:, fqdn:, container: ... labels are not the pod's
            if key == CILIUM_NAMESPACE_LABEL:
                namespace = namespace or value
            elif key.startswith(CILIUM_NAMESPACE_LABELS):
                namespace_labels[key[len(CILIUM_NAMESPACE_LABELS):]] = value
            elif key.startswith(CILIUM_OWN):
                continue
            else:
                own[key] = value
        identity = end.get("identity")
        if not reserved and not labels and isinstance(identity, int) and identity in RESERVED_IDENTITIES:
            reserved = RESERVED_IDENTITIES[identity]
        if reserved == "host":
            return HOST, None
        if reserved == "init":
            return "unlabelled", "the endpoint's identity is not resolved yet (reserved:init): its labels are unknown"
        if reserved:
            return ADDRESS, RESERVED_NOTES.get(reserved, reserved)
        pod = end.get("pod_name") or ""
        if not namespace and not pod:
            return ADDRESS, ""  # no pod named: an address the records do not say more about
        if not isinstance(namespace, str) or not NAMESPACE_NAME.match(namespace):
            return "bad", f"namespace {_show(namespace)} is not a namespace name"
        if not isinstance(pod, str) or (pod and not OBJECT_NAME.match(pod)):
            return "bad", f"pod_name {_show(pod)} is not a pod name"
        if not labels:
            return "unlabelled", f"pod {namespace}/{pod or '?'} has no labels in the record: a policy's selectors cannot be judged"
        problem = _label_problem(own) or _label_problem(namespace_labels)
        if problem:
            return "bad", problem
        workload = ""
        workloads = end.get("workloads") or []
        if workloads and isinstance(workloads[0], dict):
            name, kind = workloads[0].get("name"), workloads[0].get("kind")
            if isinstance(name, str) and isinstance(kind, str) and OBJECT_NAME.match(name) and KIND.match(kind):
                workload = f"{kind.lower()}/{name}"
        if namespace_labels and namespace not in self.observed.namespace_labels:
            self.observed.namespace_labels[namespace] = namespace_labels
        return POD, self._pod(namespace, own, workload, pod)

    # ------------------------------------------------------------ Calico

    def calico(self, line: bytes, data: dict) -> None:
        observed = self.observed
        observed.records += 1
        if not CALICO_FIELDS.issuperset(data):
            self._unknown(line, "", data.keys() - CALICO_FIELDS)
        action = data.get("action")
        action = action.lower() if isinstance(action, str) else action
        if action == "allow":
            refused = False
        elif action == "deny":
            refused = True
        else:
            self._problem("NP905", "action", _column(line, "action"), f"action {_show(action)} is not allow or deny")
            return
        proto = data.get("proto")
        proto = str(proto).lower() if isinstance(proto, (str, int)) and not isinstance(proto, bool) else proto
        protocol = CALICO_PROTOCOLS.get(proto) if isinstance(proto, str) else None
        if protocol is None:
            if proto in CALICO_NOT_PORTS:
                observed.not_connections += 1
            else:
                self._problem("NP905", "proto", _column(line, "proto"), f"proto {_show(proto)} is not tcp, udp, sctp or icmp")
            return
        port = data.get("dest_port")
        if isinstance(port, str) and port.isdigit():
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            self._problem("NP905", "port", _column(line, "dest_port"), f"dest_port {_show(port)} is not a port number from 1 to 65535")
            return
        source = self._calico_end(line, data, "source")
        if source is None:
            return
        destination = self._calico_end(line, data, "dest")
        if destination is None:
            return
        reporter = data.get("reporter")
        reporter = reporter.lower() if isinstance(reporter, str) else ""
        slot = 0 if reporter == "src" else 1 if reporter == "dst" else 2
        if refused:
            slot = 4 if reporter == "dst" else 3
        times = data.get("num_flows")
        times = times if isinstance(times, int) and not isinstance(times, bool) and times > 0 else 1
        start, end = data.get("start_time"), data.get("end_time")
        moments = [float(t) for t in (start, end) if isinstance(t, (int, float)) and not isinstance(t, bool)]
        addresses = {"source": data.get("source_ip"), "destination": data.get("dest_ip")}
        self._count(source, destination, port, protocol, slot, moments or None, addresses, times)

    def _calico_end(self, line: bytes, data: dict, side: str) -> int | None:
        kind = data.get(f"{side}_type")
        namespace = data.get(f"{side}_namespace")
        aggregated = data.get(f"{side}_name_aggr")
        name = data.get(f"{side}_name")
        labels = data.get(f"{side}_labels")
        ip = data.get(f"{side}_ip")
        if kind == "wep":
            if isinstance(labels, dict):  # {"labels": [...]}, as Calico writes them
                labels = labels.get("labels")
            try:
                key = (namespace, aggregated, name, tuple(labels) if isinstance(labels, list) else labels)
                found = self.calico_cache.get(key)
            except TypeError:  # something unhashable where strings go: judged (and refused) below
                key = found = None
            if found is None:
                found = self._calico_pod(namespace, aggregated, name, labels)
                if key is not None and len(self.calico_cache) < 100_000:
                    self.calico_cache[key] = found
            outcome, value = found
            if outcome == POD:
                return value
            code = "NP904" if outcome == "unlabelled" else "NP905"
            self._problem(code, outcome if outcome == "unlabelled" else "label", _column(line, f"{side}_labels"), value)
            return None
        if kind in ("hep", "ns", "net"):
            address = self._ip(ip)
            if address is None:
                if ip in (None, "", "-"):
                    what = {"hep": "a host endpoint", "ns": "a network set", "net": "a network"}[kind]
                    self._problem("NP908", "address", _column(line, f"{side}_ip"), f"the {side} is {what} whose address was aggregated away ({side}_ip is null)")
                else:
                    self._problem("NP905", "ip", _column(line, f"{side}_ip"), f"{side}_ip {_show(ip)} is not an IP address")
                return None
            note = ""
            if kind == "ns" and isinstance(aggregated, str) and aggregated not in ("-", ""):
                note = f"network set {aggregated}"
            elif kind == "hep":
                note = "host endpoint"
            return self._address(address, note)
        self._problem("NP905", "type", _column(line, f"{side}_type"), f"{side}_type {_show(kind)} is not wep, hep, ns or net")
        return None

    def _calico_pod(self, namespace, aggregated, name, labels) -> tuple[str, object]:
        if not isinstance(namespace, str) or not NAMESPACE_NAME.match(namespace):
            return "bad", f"namespace {_show(namespace)} is not a namespace name"
        for value, field_name in ((aggregated, "name_aggr"), (name, "name")):
            if value is not None and (not isinstance(value, str) or not (value == "-" or AGGREGATED_NAME.match(value))):
                return "bad", f"{field_name} {_show(value)} is not a pod name"
        if labels in (None, "-", []) or (isinstance(labels, list) and labels == ["-"]):
            shown = aggregated or name
            return "unlabelled", f"pod {namespace}/{shown} has no labels in the record (aggregated away): a policy's selectors cannot be judged"
        if not isinstance(labels, list) or len(labels) > MAX_LABELS or not all(isinstance(x, str) for x in labels):
            return "bad", f"labels: expected at most {MAX_LABELS} strings such as app=web"
        own = {}
        for label in labels:
            key, _, value = label.partition("=")
            own[key] = value
        problem = _label_problem(own)
        if problem:
            return "bad", problem
        pod = name if isinstance(name, str) and name not in ("-", "") else ""
        base = aggregated if isinstance(aggregated, str) and aggregated not in ("-", "") else pod
        return POD, self._pod(namespace, own, _calico_workload(base, own), pod)

    # ------------------------------------------------------------ the table

    def _ip(self, value) -> str | None:
        """An address in its canonical form (each one parsed once)."""
        if type(value) is not str:
            return None
        found = self.ips.get(value, False)
        if found is False:
            found = _ip_text(value)
            if len(self.ips) < 200_000:
                self.ips[value] = found
        return found

    def _pod(self, namespace: str, labels: dict, workload: str, pod: str) -> int:
        key = (POD, namespace, tuple(sorted(labels.items())), workload)
        found = self.endpoint_ids.get(key)
        if found is None:
            found = self.endpoint_ids[key] = len(self.observed.endpoints)
            self.observed.endpoints.append(Endpoint(POD, namespace, dict(labels), workload))
        endpoint = self.observed.endpoints[found]
        if pod and len(endpoint.pods) < MAX_NAMED and pod not in endpoint.pods:
            endpoint.pods.append(pod)
        return found

    def _address(self, ip: str, note: str) -> int:
        key = (ADDRESS, ip)
        found = self.endpoint_ids.get(key)
        if found is None:
            found = self.endpoint_ids[key] = len(self.observed.endpoints)
            self.observed.endpoints.append(Endpoint(ADDRESS, ip=ip, note=note))
        elif note and not self.observed.endpoints[found].note:
            self.observed.endpoints[found].note = note
        return found

    def _count(self, source: int, destination: int, port: int, protocol: str, slot: int, moment, ips, times: int = 1) -> None:
        if source < 0 or destination < 0:
            self.observed.node_local += 1  # Kubernetes always allows traffic between a pod and its node
            return
        if source == destination and _same_address(ips):
            self.observed.node_local += 1  # a pod cannot block access to itself
            return
        key = (source, destination, port, protocol)
        counts = self.table.get(key)
        if counts is None:
            if len(self.table) >= self.max_connections:
                self.observed.untracked += 1
                if self.observed.untracked == 1:
                    self.problems.add("NP907", "full", self.file, self.number, 1, "")
                return
            counts = self.table[key] = [0, 0, 0, 0, 0, None, None, None, None]
        counts[slot] += times
        if moment is not None:
            if type(moment) is not list and type(moment) is not float:
                if type(moment) is str and len(moment) == 30 and moment[19] == "." and moment[-1] == "Z":
                    # protojson's usual UTC form, nanoseconds: these strings sort as the times they say
                    if counts[7] is None or moment < counts[7]:
                        counts[7] = moment
                    if counts[8] is None or moment > counts[8]:
                        counts[8] = moment
                    return
                moment = _hubble_time(moment)
                if moment is None:
                    return
            if isinstance(moment, list):
                low, high = min(moment), max(moment)
            else:
                low = high = moment
            if counts[5] is None or low < counts[5]:
                counts[5] = low
            if counts[6] is None or high > counts[6]:
                counts[6] = high

    def finish(self) -> Observed:
        observed = self.observed
        for counts in self.table.values():
            for text in counts[7:]:
                moment = _hubble_time(text) if text is not None else None
                if moment is not None:
                    counts[5] = moment if counts[5] is None else min(counts[5], moment)
                    counts[6] = moment if counts[6] is None else max(counts[6], moment)
            del counts[7:]
        observed.connections = [Connection(s, d, port, protocol, counts) for (s, d, port, protocol), counts in self.table.items()]
        observed.connections.sort(key=lambda c: (c.source, c.destination, c.protocol, c.port))
        observed.diagnostics = self._diagnostics()
        return observed

    def _diagnostics(self) -> list[Diagnostic]:
        out = []
        for (code, kind), (file, line, column, count, detail) in self.problems.kinds.items():
            out.append(_diagnostic(code, kind, file, line, column, count, detail, self))
        if self.problems.unknown:
            ordered = sorted(self.problems.unknown.items(), key=lambda item: (item[1][1], item[1][2], item[0]))
            path, (count, file, line, column) = ordered[0]
            listed = ", ".join(f"`{_clean(p)}` ({n:,} record{'s' * (n != 1)})" for p, (n, *_) in sorted(self.problems.unknown.items())[:6])
            more = f" and {len(self.problems.unknown) - 6} more" if len(self.problems.unknown) > 6 else ""
            out.append(
                Diagnostic(
                    "NP903",
                    Span(file, line, column, line, column),
                    f"fields that are not in Cilium's flow.proto or Calico's flow log reference were ignored: {listed}{more}",
                    "check that the file is `hubble observe -o json` output or a Calico flow log; if a newer version added these fields, the rest of each record was still read",
                )
            )
        return out


def _diagnostic(code: str, kind: str, file: str, line: int, column: int, count: int, detail: str, reader: "_Reader") -> Diagnostic:
    span = Span(file, line, column, line, column)
    more = f" ({count:,} lines like it)" if count > 1 else ""
    lines = "lines" if count > 1 else "line"
    if code == "NP900":
        return Diagnostic(code, span, f"{count:,} {lines} not JSON, left out; the first here: {detail}",
                          "give the output of `hubble observe -o json` (one JSON flow per line) or a Calico flow log in its JSON form")
    if code == "NP901":
        return Diagnostic(code, span, f"{count:,} {lines} of truncated JSON, left out: {detail}",
                          "the file was cut while being written (the last line of a running export, or a full disk): export it again, or ignore this if it is the last line")
    if code == "NP902":
        return Diagnostic(code, span, f"{count:,} {lines} not a flow record, left out; the first here: {detail}",
                          "give Hubble flows (`hubble observe -o json`) or Calico flow logs (JSON), one record per line")
    if code == "NP904":
        return Diagnostic(code, span, f"{count:,} flow record{'s' * (count != 1)} without labels, left out: {detail}",
                          "export the flows with their labels (Hubble: do not strip `source.labels` / `destination.labels`; Calico: a flow log aggregation level that keeps labels)")
    if code == "NP905":
        return Diagnostic(code, span, f"{count:,} flow record{'s' * (count != 1)} with a field netpolc cannot read, left out; the first here: {detail}",
                          "check the export: the field does not have the type or value Cilium's flow.proto or Calico's flow log reference gives it")
    if code == "NP906":
        return Diagnostic(code, span, f"{count:,} {lines} longer than {MAX_LINE_BYTES:,} bytes, left out{more if count > 1 else ''}",
                          "a flow record is a few kilobytes: check that the file holds one JSON record per line")
    if code == "NP907":
        return Diagnostic(code, span,
                          f"more than {reader.max_connections:,} distinct connections: {reader.observed.untracked:,} records of connections first seen from here on were not evaluated",
                          "raise the bound with --max-connections (each connection takes about 300 bytes), or export fewer flows (a shorter time, or `hubble observe --namespace NAME`)")
    return Diagnostic(code, span, f"{count:,} flow record{'s' * (count != 1)} whose address is unknown, left out; the first here: {detail}",
                      "export flows with their addresses (Calico: a flow log aggregation level that keeps dest_ip and source_ip for networks)")


# ---------------------------------------------------------------- fields


_decode = json.JSONDecoder().decode


def _snake_keys(data: dict, known: set) -> dict:
    """lowerCamelCase JSON names (protojson's default) -> flow.proto's names, for the keys that are not known as they are."""
    out = {}
    for key, value in data.items():
        if key not in known:
            snake = re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)
            if snake in known:
                key = snake
        out[key] = value
    return out


def _hubble_is_reply(flow: dict) -> bool:
    reply = flow.get("is_reply")
    if isinstance(reply, dict):  # the BoolValue wrapper, as Go's encoding/json writes it
        reply = reply.get("value")
    if reply is None:
        reply = flow.get("reply")  # deprecated, but older exports only have it
    if reply is True:
        return True
    l7 = flow.get("l7")
    return isinstance(l7, dict) and l7.get("type") in ("RESPONSE", 2)


_HOURS: dict[str, float] = {}  # "2024-05-01T12" -> its epoch seconds: one datetime per hour of records, not one per record


def _hubble_time(value) -> float | None:
    """RFC 3339 (protojson) or {seconds, nanos} (Go's encoding/json) -> seconds since the epoch; None when absent or unreadable."""
    from datetime import datetime

    if isinstance(value, str) and len(value) >= 20 and value[-1] == "Z" and value[13] == ":" and value[16] == ":" and value[19] in ".Z":
        hour = _HOURS.get(value[:13])  # the common UTC form: the hour looked up, minutes, seconds and fraction added
        if hour is None and len(_HOURS) < 100_000:
            try:
                hour = _HOURS[value[:13]] = datetime.fromisoformat(value[:13] + ":00:00+00:00").timestamp()
            except ValueError:
                return None
        fraction = value[20:-1]
        minutes, seconds = value[14:16], value[17:19]
        if hour is not None and minutes.isdigit() and seconds.isdigit() and (not fraction or fraction.isdigit()):
            return hour + int(minutes) * 60 + int(seconds) + (int(fraction[:6]) / 10 ** len(fraction[:6]) if fraction else 0.0)
    if isinstance(value, str):
        text = value
        if "." in text:  # datetime reads at most six digits of a fraction
            head, _, rest = text.partition(".")
            digits = len(rest) - len(rest.lstrip("0123456789"))
            text = head + "." + rest[: min(digits, 6)] + rest[digits:]
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    if isinstance(value, dict):
        seconds, nanos = value.get("seconds", 0), value.get("nanos", 0)
        if isinstance(seconds, str) and seconds.isdigit():
            seconds = int(seconds)
        if isinstance(seconds, (int, float)) and isinstance(nanos, (int, float)):
            return float(seconds) + nanos / 1e9
    return None


def _ip_text(value) -> str | None:
    import ipaddress

    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _same_address(ips) -> bool:
    """Both ends have the same address: one pod talking to itself (through a service)."""
    if isinstance(ips, dict):
        return bool(ips.get("source")) and ips.get("source") == ips.get("destination")
    return False


def _label_problem(labels: dict) -> str:
    for key, value in labels.items():
        if not LABEL_KEY.match(key) or len(key.rpartition("/")[2]) > 63 or len(key) > 317:
            return f"label key {_show(key)} is not a Kubernetes label key"
        if len(value) > 63 or not LABEL_VALUE.match(value):
            return f"label {key}={_show(value)}: the value is not a Kubernetes label value"
    return ""


def _calico_workload(base: str, labels: dict) -> str:
    """`deployment/cart` from Calico's aggregated name `cart-6d8f7b9c4-*` and the pod-template-hash label; others by their controller's label."""
    stem = base[:-2] if base.endswith("-*") else base
    template_hash = labels.get("pod-template-hash")
    if template_hash and stem.endswith(f"-{template_hash}"):
        return f"deployment/{stem[: -len(template_hash) - 1]}"
    if "statefulset.kubernetes.io/pod-name" in labels and base.endswith("-*"):
        return f"statefulset/{stem}"
    if "pod-template-generation" in labels and base.endswith("-*"):
        return f"daemonset/{stem}"
    job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
    if job:
        return f"job/{job}"
    return ""


def _clean(text: str) -> str:
    """Text from the records as a message may show it: printable, and short (a terminal never gets escape codes from a flow file)."""
    return text if text.isprintable() and len(text) <= 60 else repr(text[:57])


def _column(line: bytes, key: str) -> int:
    where = line.find(f'"{key}"'.encode())
    return where + 1 if where >= 0 else 1


def _show(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------- naming


STABLE_KEYS = ("app.kubernetes.io/name", "app", "k8s-app")
# Labels that differ between pods of one workload, or between rollouts: never a workload's name.
VOLATILE_KEYS = frozenset({
    "pod-template-hash", "controller-revision-hash", "pod-template-generation", "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index", "controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
    "batch.kubernetes.io/job-name", "batch.kubernetes.io/job-completion-index",
})


def display_name(endpoint: Endpoint) -> str:
    """How an observed workload reads when the records do not name it: its stable label, else its pod."""
    if endpoint.workload:
        return endpoint.workload
    for key in STABLE_KEYS:
        if endpoint.labels.get(key):
            return f"{key}={endpoint.labels[key]}"
    return f"pod/{endpoint.pods[0]}" if endpoint.pods else "(pods without labels)"


def time_text(moment: float | None) -> str:
    if moment is None:
        return "?"
    from datetime import datetime, timezone

    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
