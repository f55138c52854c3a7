"""One module per subcommand; each exposes `run(...) -> exit code` and imports what it needs when called."""

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line use: the message is printed and the exit code is 2."""


def exit_code(diagnostics, strict: bool) -> int:
    """0 clean (warnings allowed unless strict), 1 errors found, 2 unreadable input."""
    if any(d.code == "NP103" for d in diagnostics):
        return EXIT_USAGE
    if any(d.is_error for d in diagnostics) or (strict and any(d.severity == "warning" for d in diagnostics)):
        return EXIT_FINDINGS
    return EXIT_OK


def project_defaults() -> tuple[list[str], str | None]:
    """The config's `paths` and `output` (what `check` and `compile` read when the command line names none)."""
    from ..config import discover

    config, _ = discover()  # a bad config is reported by targets(), with its lines
    return (list(config.paths), config.output) if config else ([], None)


def inputs(paths: list[str]):
    from ..resolve import InputError, expand_inputs

    try:
        return expand_inputs(paths)
    except InputError as err:
        raise UsageError(str(err)) from None


def workspace(
    paths: list[str], policies: list[str] | None, namespace: str | None = None, match_namespace: bool = True, warn: bool = True, cluster: list[str] = (),
    cni: list[str] = (),
):
    """The programs and YAML policies the flow commands (test, explain, graph) look at.

    `namespace` (-n) is where YAML objects without one go; with `warn`, the warnings of a
    workspace that has no error go to standard error here (the command prints errors itself).
    """
    from ..workspace import InputsError, open_workspace

    check_namespace(namespace)
    options = None
    if paths:  # DNS names are written as the target CNIs' objects: --cni, else the project config
        options, found, _ = targets(list(cni))
        options = None if found else options
    try:
        space = open_workspace(paths, policies or [], namespace=namespace, match_namespace=match_namespace, cluster=cluster or [], fqdn_targets=options)
    except InputsError as err:
        raise UsageError(str(err)) from None
    if warn and space.ok and space.diagnostics:
        import sys

        from ..render import render

        sys.stderr.write(render(space.diagnostics, "text", space.files))
    return space


def check_namespace(namespace: str | None) -> None:
    """-n NAME must be a namespace name (a DNS-1123 label), as kubectl requires."""
    import re

    if namespace is not None and not (len(namespace) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace)):
        raise UsageError(f"-n {namespace!r}: a namespace name is at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit")


def check_api(api: str) -> None:
    from ..emit import CLUSTER_APIS

    if api not in CLUSTER_APIS:
        raise UsageError(f"unknown --api {api!r}; choose v1alpha2 (ClusterNetworkPolicy) or v1alpha1 (AdminNetworkPolicy / BaselineAdminNetworkPolicy)")


def check_format(fmt: str, formats) -> None:
    if fmt not in formats:
        raise UsageError(f"unknown --format {fmt!r}; choose from {', '.join(formats)}")


# A named port is an IANA service name: at most 15 of a-z, 0-9 and '-', a letter, no '--'.
PORT_NAME = r"(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?"


def targets(cni=(), expand_port_ranges=None, named_ports=()):
    """Target CNIs and rewrites: the project config (netpolc.toml or [tool.netpolc]) under the command line.

    Returns (`capabilities.Options` or None when no CNI is named, the config file's
    diagnostics, {config file name: SourceFile} for rendering them). A bad command-line
    value is a UsageError (exit 2); a bad config file is a diagnostic at its line (exit 1),
    like any other problem in a project file.
    """
    from ..config import discover

    config, diagnostics = discover()
    files = {config.source.name: config.source} if config else {}
    if diagnostics:
        from ..diagnostics import sorted_unique

        return None, sorted_unique(diagnostics), files
    specs = cni or (config.cni if config else ())
    if not specs and expand_port_ranges is None and not named_ports:
        return None, [], files  # the common case: nothing CNI-related to load (start-up matters here)
    import re

    from ..capabilities import MAX_EXPAND, Options
    from ..targets import TargetError, load_target
    from ..values import decimal, shown

    loaded = []
    for spec in dict.fromkeys(specs):  # --cni replaces the config's list
        try:
            loaded.append(load_target(spec))
        except TargetError as err:
            raise UsageError(f"--cni {shown(spec, 40)}: {err.message}; {err.hint}") from None
    expand = config.expand_port_ranges if config and expand_port_ranges is None else expand_port_ranges
    if expand is not None:
        number = decimal(str(expand))  # bounded: a 5,000-digit or "²" argument is a usage error, not a crash
        if number is None or not 2 <= number <= MAX_EXPAND:
            raise UsageError(f"--expand-port-ranges {shown(str(expand))}: give the most ports a range may have to be expanded, a whole number from 2 to {MAX_EXPAND}")
        expand = number
    mapping = dict(config.named_ports) if config else {}
    for entry in named_ports:
        name, _, number = entry.partition("=")
        port = decimal(number)
        if not (re.fullmatch(PORT_NAME, name) and port is not None and 1 <= port <= 65535):
            raise UsageError(f"--named-port {shown(entry, 40)}: write NAME=NUMBER, e.g. --named-port metrics=9090 (a port name as in the pod spec, a port from 1 to 65535)")
        mapping[name] = port
    if not loaded:
        if expand_port_ranges is not None or named_ports:
            option = "--expand-port-ranges" if expand_port_ranges is not None else "--named-port"
            raise UsageError(f"{option} rewrites the manifests for target CNIs that need it: name them with --cni NAME (or `cni` in netpolc.toml)")
        return None, [], files
    return Options(
        targets=tuple(loaded),
        expand_port_ranges=expand or 0,
        named_ports=tuple(sorted(mapping.items())),
        pod_cidrs=config.pod_cidrs if config else (),
        pod_cidrs_span=config.spans.get("pod-cidrs") if config else None,
    ), [], files



def block_readings(cni: list[str]) -> dict[bool, list[str]] | None:
    """{whether ipBlocks match pod IPs: the --cni targets that read them so}; None without --cni.

    A target whose table says `unknown` counts under both readings: the expectation must hold either way.
    """
    if not cni:
        return None
    from ..targets import Feature, Status

    options, found, _ = targets(cni)
    if found or options is None:
        return None
    readings: dict[bool, list[str]] = {}
    for target, version in options.targets:
        status = target.row(Feature.ip_block_pod_ips, version).status
        name = f"{target.name}@{version}" if version else target.name
        for reading in ((True,) if status is Status.supported else (False,) if status is not Status.unknown else (True, False)):
            readings.setdefault(reading, []).append(name)
    return readings


def write_output(output, files: dict, noun: tuple[str, str], layout=None, before: str = "") -> int:
    """Write a tree with `output.write_tree` and say what happened on standard error, as every writing command does:
    the notes, then `wrote N NOUNs to DIR (… added, … changed, … removed)` or the error at its path. `noun`: (one, many)."""
    import sys

    from ..output import OutputError, write_tree

    try:
        written = write_tree(output, files) if layout is None else write_tree(output, files, layout)
    except OutputError as err:
        sys.stderr.write(_notes_text(err.notes) + err.report())
        return EXIT_FINDINGS
    counts = {kind: sum(c.kind == kind for c in written.changes) for kind in ("added", "changed", "removed")}
    into = f" (into {written.into}, the folder it links to)" if written.into else ""
    sys.stderr.write(
        _notes_text(written.notes) + before
        + f"wrote {len(files)} {noun[0] if len(files) == 1 else noun[1]} to {output.as_posix()}{into} "
        f"({counts['added']} added, {counts['changed']} changed, {counts['removed']} removed)\n"
    )
    return EXIT_OK


def _notes_text(notes) -> str:
    return "".join(f"warning[{note.code}]: {note.message}\n  help: {note.hint}\n" for note in notes)
