"""Flow records generated from a model of a cluster (workloads, labels, ports, addresses), as Hubble and Calico write them.

The tests (and bench/flows.py) describe what talks to what; this module writes the records a
real exporter would: Hubble's egress and ingress events of one connection and its replies
(`hubble observe -o json`: `{"flow": {...}, "node_name": ..., "time": ...}`), or Calico's `src`
and `dst` flow log records. Field names follow Cilium's api/v1/flow/flow.proto and Calico's
flow log data types reference.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    labels: tuple  # ((key, value), ...): the pods' own labels
    kind: str = "Deployment"
    replicas: int = 2

    def pods(self) -> list[str]:
        if self.kind == "StatefulSet":
            return [f"{self.name}-{i}" for i in range(self.replicas)]
        return [f"{self.name}-6d8f7b9c4-{chr(97 + i) * 5}" for i in range(self.replicas)]

    def pod_labels(self, pod: str) -> dict:
        extra = {"pod-template-hash": "6d8f7b9c4"} if self.kind == "Deployment" else {"controller-revision-hash": f"{self.name}-5b9c"}
        if self.kind == "StatefulSet":
            extra["statefulset.kubernetes.io/pod-name"] = pod
        return {**dict(self.labels), **extra}

    def ip(self, index: int) -> str:
        serial = zlib.crc32(f"{self.namespace}/{self.name}".encode())
        return f"10.{serial % 250}.{(serial >> 8) % 250}.{10 + index}"


@dataclass(frozen=True)
class Talk:
    """Connections from one end to another on one port: `times` of them, with this verdict."""

    source: Workload | str  # a workload, or an address outside the cluster
    destination: Workload | str
    port: int
    protocol: str = "TCP"
    times: int = 3
    verdict: str = "FORWARDED"  # FORWARDED, AUDIT, DROPPED


@dataclass
class Model:
    talks: list[Talk]
    namespace_labels: dict = field(default_factory=dict)  # namespace -> labels

    def workloads(self) -> list[Workload]:
        found = []
        for talk in self.talks:
            for end in (talk.source, talk.destination):
                if isinstance(end, Workload) and end not in found:
                    found.append(end)
        return found


START = 1714521600  # 2024-05-01T00:00:00Z


def _stamp(second: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(START + second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")


# ---------------------------------------------------------------- Hubble


def _hubble_endpoint(model: Model, end, index: int) -> dict:
    if isinstance(end, str):
        return {"identity": 2, "labels": ["reserved:world"]}
    pod = end.pods()[index % end.replicas]
    labels = [f"k8s:{k}={v}" for k, v in sorted(end.pod_labels(pod).items()) if k not in ("pod-template-hash", "controller-revision-hash")]
    labels += [f"k8s:io.cilium.k8s.namespace.labels.{k}={v}" for k, v in sorted(model.namespace_labels.get(end.namespace, {}).items())]
    labels += [f"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name={end.namespace}"]
    labels += ["k8s:io.cilium.k8s.policy.cluster=default", f"k8s:io.cilium.k8s.policy.serviceaccount={end.name}", f"k8s:io.kubernetes.pod.namespace={end.namespace}"]
    return {
        "ID": 1000 + index,
        "identity": 20000 + zlib.crc32(f"{end.namespace}/{end.name}".encode()) % 10000,
        "namespace": end.namespace,
        "labels": labels,
        "pod_name": pod,
        "workloads": [{"name": end.name, "kind": end.kind}],
    }


def _ip(end, index: int) -> str:
    return end if isinstance(end, str) else end.ip(index % end.replicas)


def hubble_records(model: Model, talk: Talk, serial: int, replies: bool = True, wrap: bool = True) -> list[dict]:
    """Records of `talk.times` connections: egress at the source and ingress at the destination (each end a pod), and replies."""
    out = []
    for n in range(talk.times):
        source, destination = _hubble_endpoint(model, talk.source, n), _hubble_endpoint(model, talk.destination, n)
        sport = 40000 + (serial * 7 + n) % 20000
        points = []
        if not isinstance(talk.source, str):
            points.append("EGRESS")
        if not isinstance(talk.destination, str):
            points.append("INGRESS")
        for direction in points:
            for reply in ((False, True) if replies and talk.verdict != "DROPPED" else (False,)):
                src, dst = (source, destination) if not reply else (destination, source)
                ips = (_ip(talk.source, n), _ip(talk.destination, n))
                ports = (sport, talk.port) if not reply else (talk.port, sport)
                flow = {
                    "time": _stamp(serial + n),
                    "uuid": f"u-{serial}-{n}-{direction}-{reply}",
                    "verdict": talk.verdict,
                    "ethernet": {"source": "aa:bb:cc:dd:ee:01", "destination": "aa:bb:cc:dd:ee:02"},
                    "IP": {"source": ips[reply], "destination": ips[not reply], "ipVersion": "IPv4"},
                    "l4": {talk.protocol: {"source_port": ports[0], "destination_port": ports[1], **({"flags": {"SYN": True}} if talk.protocol == "TCP" else {})}},
                    "source": src,
                    "destination": dst,
                    "Type": "L3_L4",
                    "node_name": "kind-worker",
                    "event_type": {"type": 4 if talk.verdict != "DROPPED" else 1},
                    "traffic_direction": direction,
                    "trace_observation_point": "TO_ENDPOINT",
                    "is_reply": reply,
                    "Summary": "TCP Flags: SYN",
                }
                if isinstance(talk.destination, str) and not reply:
                    flow["destination_names"] = ["api.example.com"]
                if talk.verdict == "DROPPED":
                    flow["drop_reason_desc"] = "POLICY_DENIED"
                out.append({"flow": flow, "node_name": "kind-worker", "time": flow["time"]} if wrap else flow)
    return out


def hubble_lines(model: Model, replies: bool = True, wrap: bool = True, seed: int = 1) -> list[str]:
    records = []
    for serial, talk in enumerate(model.talks):
        records += hubble_records(model, talk, serial * 100, replies, wrap)
    random.Random(seed).shuffle(records)
    return [json.dumps(r) for r in records]


def camel(value):
    """protojson's default JSON names (lowerCamelCase), as `hubble observe -o jsonpb` without proto names would write them."""
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            if "_" in key:
                head, *rest = key.split("_")
                key = head + "".join(part.capitalize() for part in rest)
            out[key] = camel(inner)
        return out
    if isinstance(value, list):
        return [camel(v) for v in value]
    return value


# ---------------------------------------------------------------- Calico


def _calico_end(end, prefix: str) -> dict:
    if isinstance(end, str):
        return {f"{prefix}_ip": end, f"{prefix}_name": "-", f"{prefix}_name_aggr": "pub", f"{prefix}_namespace": "-", f"{prefix}_type": "net", f"{prefix}_labels": None}
    pod = end.pods()[0]
    aggregate = f"{end.name}-6d8f7b9c4-*" if end.kind == "Deployment" else f"{end.name}-*"
    labels = [f"{k}={v}" for k, v in sorted(end.pod_labels(pod).items())]
    return {
        f"{prefix}_ip": None,
        f"{prefix}_name": "-",
        f"{prefix}_name_aggr": aggregate,
        f"{prefix}_namespace": end.namespace,
        f"{prefix}_type": "wep",
        f"{prefix}_labels": {"labels": labels},
    }


def calico_records(talk: Talk, serial: int) -> list[dict]:
    reporters = []
    if not isinstance(talk.source, str):
        reporters.append("src")
    if not isinstance(talk.destination, str):
        reporters.append("dst")
    out = []
    for reporter in reporters:
        record = {
            "start_time": START + serial,
            "end_time": START + serial + 300,
            **_calico_end(talk.source, "source"),
            "source_port": None,
            **_calico_end(talk.destination, "dest"),
            "dest_port": talk.port,
            "dest_service_name": "-",
            "dest_service_namespace": "-",
            "dest_service_port": "-",
            "proto": talk.protocol.lower(),
            "action": "deny" if talk.verdict == "DROPPED" else "allow",
            "reporter": reporter,
            "policies": {"all_policies": ["0|__PROFILE__|__PROFILE__.kns.shop|allow|0"]},
            "bytes_in": 1200,
            "bytes_out": 3400,
            "num_flows": talk.times,
            "num_flows_started": talk.times,
            "num_flows_completed": talk.times,
            "packets_in": 10,
            "packets_out": 12,
            "http_requests_allowed_in": 0,
            "http_requests_denied_in": 0,
            "host": "kind-worker",
        }
        out.append(record)
    return out


def calico_lines(model: Model, seed: int = 1) -> list[str]:
    records = []
    for serial, talk in enumerate(model.talks):
        records += calico_records(talk, serial * 100)
    random.Random(seed).shuffle(records)
    return [json.dumps(r) for r in records]


# ---------------------------------------------------------------- a storefront


def storefront() -> tuple[Model, dict]:
    """A small shop: ingress -> frontend -> cart -> db, checkout -> payment provider, DNS, Prometheus; some AUDIT and DROPPED traffic."""
    w = {
        "ingress": Workload("ingress-nginx", "ingress-nginx-controller", (("app.kubernetes.io/name", "ingress-nginx"), ("app.kubernetes.io/component", "controller"))),
        "frontend": Workload("shop", "frontend", (("app", "frontend"), ("tier", "web"))),
        "cart": Workload("shop", "cart", (("app", "cart"),)),
        "checkout": Workload("shop", "checkout", (("app.kubernetes.io/name", "checkout"), ("app", "checkout"))),
        "db": Workload("shop", "db", (("app", "db"),), kind="StatefulSet", replicas=1),
        "dns": Workload("kube-system", "coredns", (("k8s-app", "kube-dns"),)),
        "prometheus": Workload("monitoring", "prometheus", (("app.kubernetes.io/name", "prometheus"),), kind="StatefulSet", replicas=1),
        "reports": Workload("data", "reports", (("app", "reports"),)),
    }
    talks = [
        Talk(w["ingress"], w["frontend"], 8080, times=5),
        Talk(w["frontend"], w["cart"], 7070, times=4),
        Talk(w["frontend"], w["checkout"], 5050, times=2),
        Talk(w["cart"], w["db"], 5432, times=6),
        Talk(w["checkout"], w["cart"], 7070, times=1, verdict="AUDIT"),
        Talk(w["checkout"], "203.0.113.10", 443, times=2),
        Talk(w["checkout"], "203.0.113.14", 443, times=1),
        Talk(w["frontend"], w["dns"], 53, protocol="UDP", times=3),
        Talk(w["cart"], w["dns"], 53, protocol="UDP", times=2),
        Talk(w["prometheus"], w["cart"], 9090, times=2),
        Talk(w["reports"], w["db"], 5432, times=2),
        Talk(w["frontend"], w["db"], 5432, times=2, verdict="DROPPED"),  # refused today: an attempt, not traffic
        Talk("198.51.100.7", w["frontend"], 8443, times=1),
    ]
    return Model(talks, {"shop": {"team": "shop"}, "data": {"team": "data"}}), w
