"""Real workloads for the engine: a cluster snapshot (`kubectl get namespaces,pods -A -o yaml`) or workload manifests -> namespaces and pods.

`--cluster FILE` on test, explain, diff and graph. What is read, per kind:

- `Namespace`: its name and labels (`kubernetes.io/metadata.name` is always there);
- `Pod`: namespace, labels, the named ports of its containers (init containers that run
  beside them too), `status.podIPs`, `spec.hostNetwork` (never selected by a policy), and
  the workload it belongs to, from `ownerReferences` and the `pod-template-hash` convention
  (`shop/deployment/cart`); pods that have finished (`Succeeded`, `Failed`) do not run and
  are left out;
- `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job`, `CronJob` (rendered chart or
  kustomize output, no cluster needed): one pod made from the pod template, unless the
  snapshot also holds pods of that workload;
- `Node`: its labels and addresses (for the `nodes` peers of cluster policies).

Other kinds are skipped with one note per kind (NP705). A field of the wrong type is NP706 at
the field; two pods with one namespace/name leave the later (NP708); pods of a namespace with
no `Namespace` object get a warning, since its labels are unknown (NP709).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from . import engine
from .diagnostics import Diagnostic

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")
KINDS = ("Namespace", "Pod", "Node", *WORKLOADS)
FINISHED = ("Succeeded", "Failed")
MAX_BYTES = 64 * 1024 * 1024  # a snapshot: `kubectl get namespaces,pods -A -o yaml` of ~10,000 pods
PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass
class Node:
    name: str
    labels: dict[str, str]
    addresses: tuple[str, ...]


@dataclass
class Snapshot:
    """What the cluster holds: namespaces (with labels), pods, nodes; and what could not be read."""

    namespaces: dict[str, engine.Namespace] = field(default_factory=dict)
    pods: list[engine.Pod] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    declared: set[str] = field(default_factory=set)  # namespaces that had a Namespace object
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: dict = field(default_factory=dict)

    def universe(self, addresses: tuple = (), blocks_match_pods: bool = True) -> engine.Universe:
        """The real pods and nodes, plus the address regions given; `blocks_match_pods`: the CNI's reading of ipBlocks."""
        names = sorted(set(self.namespaces) | {pod.namespace for pod in self.pods})
        namespaces = [self.namespaces.get(name) or engine.Namespace(name) for name in names]
        nodes = [engine.Node(node.name, node.labels, node.addresses) for node in self.nodes if node.addresses]
        # A region of one address that a pod or node holds is that pod or node, not a second endpoint.
        held = {ip for endpoint in [*self.pods, *nodes] for ip in endpoint.ips}
        single = {f"{a.ip}/32" for a in addresses} | {f"{a.ip}/128" for a in addresses}
        addresses = tuple(a for a in addresses if not (a.ip in held and str(a) in single))
        return engine.Universe(namespaces, self.pods, addresses, nodes, blocks_match_pods)


class SnapshotError(Exception):
    """A --cluster argument that does not exist or holds nothing to read (exit code 2)."""


def read_snapshot(arguments: list[str], namespace: str | None = None) -> Snapshot:
    """Read every --cluster argument (files, folders, `-`) into one snapshot; `namespace` is `-n`'s default."""
    from .manifests import PolicyInputError, read_inputs

    try:
        stream = read_inputs(arguments, MAX_BYTES)
    except PolicyInputError as err:
        raise SnapshotError(str(err)) from None
    snapshot = Snapshot(diagnostics=list(stream.diagnostics), files=dict(stream.files))
    _Reader(snapshot, namespace).read(stream.objects)
    return snapshot


class _Bad(Exception):
    """A field of a snapshot object that cannot be read: (path, what was expected)."""

    def __init__(self, path: tuple, message: str):
        super().__init__(message)
        self.path, self.message = path, message


class _Reader:
    def __init__(self, snapshot: Snapshot, namespace: str | None):
        self.snapshot = snapshot
        self.default_namespace = namespace
        self.skipped: dict[str, list] = {}
        self.pods: dict[tuple[str, str], tuple[object, engine.Pod]] = {}
        self.templates: list[tuple[object, engine.Pod, str]] = []  # (object, pod, workload)
        self.finished = 0

    def read(self, objects) -> None:
        for obj in objects:
            kind = obj.kind
            if kind not in KINDS:
                self.skipped.setdefault(kind, []).append(obj)
                continue
            try:
                if kind == "Namespace":
                    self.namespace(obj)
                elif kind == "Pod":
                    self.pod(obj)
                elif kind == "Node":
                    self.node(obj)
                else:
                    self.workload(obj)
            except _Bad as bad:
                from .manifests import path_text

                self.snapshot.diagnostics.append(
                    Diagnostic(
                        "NP706",
                        obj.at(bad.path),
                        f"{obj.label}: {kind} {obj.name or '(unnamed)'}: {path_text(bad.path)}: {bad.message}",
                        "fix the object, or leave it out of the snapshot; `kubectl get pods -A -o yaml` writes these fields correctly",
                    )
                )
        self.finish()

    # ------------------------------------------------------------ kinds

    def namespace(self, obj) -> None:
        name = _name(obj)
        labels = _labels(obj.data, ("metadata", "labels"))
        self.snapshot.namespaces[name] = engine.Namespace(name, labels)
        self.snapshot.declared.add(name)

    def pod(self, obj) -> None:
        name, namespace = _name(obj), self.namespace_of(obj)
        if _get(obj.data, ("status", "phase"), str) in FINISHED:
            self.finished += 1
            return
        spec = _get(obj.data, ("spec",), dict) or {}
        labels = _labels(obj.data, ("metadata", "labels"))
        pod = engine.Pod(
            namespace,
            name,
            labels,
            _container_ports(spec, ("spec",)),
            ips=_pod_ips(obj.data),
            host_network=_get(obj.data, ("spec", "hostNetwork"), bool) is True,
            workload=_workload(obj.data, name, labels),
        )
        earlier = self.pods.pop((namespace, name), None)
        if earlier is not None:
            self.snapshot.diagnostics.append(
                Diagnostic(
                    "NP708",
                    obj.at(("metadata", "name")),
                    f"pod {namespace}/{name} is in the snapshot twice (also at {earlier[0].span}): only the later is used",
                    "take the snapshot once (`kubectl get namespaces,pods -A -o yaml > snapshot.yaml`), or remove the older copy",
                    related=((earlier[0].span, "the earlier copy"),),
                )
            )
        self.pods[(namespace, name)] = (obj, pod)

    def node(self, obj) -> None:
        addresses = []
        for index, entry in enumerate(_get(obj.data, ("status", "addresses"), list) or []):
            if not isinstance(entry, dict):
                raise _Bad(("status", "addresses", index), "expected a mapping with type and address")
            if entry.get("type") in ("InternalIP", "ExternalIP"):
                addresses.append(_ip(entry.get("address"), ("status", "addresses", index, "address")))
        self.snapshot.nodes.append(Node(_name(obj), _labels(obj.data, ("metadata", "labels")), tuple(addresses)))

    def workload(self, obj) -> None:
        name, namespace = _name(obj), self.namespace_of(obj)
        path = ("spec", "jobTemplate", "spec", "template") if obj.kind == "CronJob" else ("spec", "template")
        template = _get(obj.data, path, dict)
        if template is None:
            raise _Bad(path, "expected the pod template (a mapping)")
        workload = f"{obj.kind.lower()}/{name}"
        pod = engine.Pod(
            namespace,
            workload,
            _labels(obj.data, (*path, "metadata", "labels")),
            _container_ports(_get(obj.data, (*path, "spec"), dict) or {}, (*path, "spec")),
            host_network=_get(obj.data, (*path, "spec", "hostNetwork"), bool) is True,
            workload=workload,
        )
        self.templates.append((obj, pod, workload))

    def namespace_of(self, obj) -> str:
        written = _get(obj.data, ("metadata", "namespace"), str)
        namespace = written or self.default_namespace
        if not namespace:
            raise _Bad(("metadata",), "no metadata.namespace: name the namespace with -n NAME (as with `kubectl apply -n NAME`)")
        return namespace

    # ------------------------------------------------------------ the whole snapshot

    def finish(self) -> None:
        snapshot = self.snapshot
        pods = [pod for _, pod in self.pods.values()]
        running = {(pod.namespace, pod.workload) for pod in pods}
        for _, pod, workload in self.templates:
            if (pod.namespace, workload) not in running:  # its pods are in the snapshot: they are the truth
                pods.append(pod)
                running.add((pod.namespace, workload))
        snapshot.pods = sorted(pods, key=lambda p: (p.namespace, p.name))
        for kind, objects in sorted(self.skipped.items()):
            snapshot.diagnostics.append(
                Diagnostic(
                    "NP705",
                    objects[0].span,
                    f"{len(objects)} {kind} object{'s' * (len(objects) != 1)} skipped: a snapshot is read for its namespaces, pods, workloads and nodes",
                    "nothing to do; `kubectl get namespaces,pods -A -o yaml` is all netpolc needs",
                )
            )
        unknown = sorted({pod.namespace for pod in snapshot.pods} - snapshot.declared)
        if unknown:
            first = next((obj for obj, pod in self.pods.values() if pod.namespace == unknown[0]), None)
            if first is None:
                first = next(obj for obj, pod, _ in self.templates if pod.namespace == unknown[0])
            shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            snapshot.diagnostics.append(
                Diagnostic(
                    "NP709",
                    first.span,
                    f"no Namespace object for {shown}: its labels are unknown (only kubernetes.io/metadata.name), "
                    "so namespace selectors are judged without them",
                    "add the namespaces to the snapshot: `kubectl get namespaces,pods -A -o yaml`",
                    # Rendered manifests rarely hold their namespaces: there it is a note, in a cluster snapshot a warning.
                    severity="warning" if snapshot.declared else "info",
                )
            )


# ---------------------------------------------------------------- fields


def _get(data, path: tuple, kind: type):
    """The value at `path`, None when absent; a value of another type is _Bad (never a wrong guess)."""
    value = data
    for step in path:
        if not isinstance(value, dict):
            return None
        value = value.get(step)
        if value is None:
            return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        words = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", int: "a whole number"}
        raise _Bad(path, f"expected {words[kind]}, got {type(value).__name__}")
    return value


def _name(obj) -> str:
    name = _get(obj.data, ("metadata", "name"), str)
    if not name:
        raise _Bad(("metadata", "name"), "metadata.name is missing")
    return name


def _labels(data, path: tuple) -> dict[str, str]:
    labels = _get(data, path, dict) or {}
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise _Bad((*path, key), "labels are strings (a number or true must be quoted in YAML)")
    return dict(labels)


def _container_ports(spec: dict, path: tuple) -> tuple[engine.ContainerPort, ...]:
    out = []
    for group in ("containers", "initContainers"):
        containers = _get(spec, (group,), list) or []
        for c, container in enumerate(containers):
            if not isinstance(container, dict):
                raise _Bad((*path, group, c), "expected a container (a mapping)")
            if group == "initContainers" and container.get("restartPolicy") != "Always":
                continue  # a plain init container has finished before the pod serves anything
            for p, port in enumerate(_get(container, ("ports",), list) or []):
                here = (*path, group, c, "ports", p)
                if not isinstance(port, dict):
                    raise _Bad(here, "expected a port (a mapping with containerPort)")
                number = port.get("containerPort")
                if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
                    raise _Bad((*here, "containerPort"), "expected a port number from 1 to 65535")
                protocol = port.get("protocol", "TCP")
                if protocol not in PROTOCOLS:
                    raise _Bad((*here, "protocol"), "expected TCP, UDP or SCTP")
                name = port.get("name")
                if name is not None and (not isinstance(name, str) or not PORT_NAME.match(name)):
                    raise _Bad((*here, "name"), "expected a port name (an IANA service name: at most 15 of a-z, 0-9 and '-')")
                out.append(engine.ContainerPort(name, number, protocol))
    return tuple(out)


def _ip(value, path: tuple) -> str:
    if not isinstance(value, str):
        raise _Bad(path, "expected an IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise _Bad(path, f"{value[:40]!r} is not an IP address") from None


def _pod_ips(data) -> tuple[str, ...]:
    found = []
    for index, entry in enumerate(_get(data, ("status", "podIPs"), list) or []):
        if not isinstance(entry, dict):
            raise _Bad(("status", "podIPs", index), "expected a mapping with ip")
        found.append(_ip(entry.get("ip"), ("status", "podIPs", index, "ip")))
    single = _get(data, ("status", "podIP"), str)
    if single and not found:
        found.append(_ip(single, ("status", "podIP")))
    return tuple(dict.fromkeys(found))


def _workload(data, name: str, labels: dict[str, str]) -> str:
    """`deployment/cart` for a pod of a Deployment's ReplicaSet, `statefulset/db`, ...; `pod/NAME` for a bare pod."""
    owners = _get(data, ("metadata", "ownerReferences"), list) or []
    owner = next((o for o in owners if isinstance(o, dict) and o.get("controller") is True), owners[0] if owners else None)
    if not isinstance(owner, dict) or not isinstance(owner.get("kind"), str) or not isinstance(owner.get("name"), str):
        return f"pod/{name}"
    kind, owner_name = owner["kind"], owner["name"]
    template_hash = labels.get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and owner_name.endswith(f"-{template_hash}"):
        return f"deployment/{owner_name[: -len(template_hash) - 1]}"
    if kind == "Job" and re.search(r"-\d{8,}$", owner_name):  # a CronJob's job: NAME-<scheduled time>
        return f"cronjob/{owner_name.rsplit('-', 1)[0]}"
    return f"{kind.lower()}/{owner_name}"
