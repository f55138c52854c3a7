"""Command line: thin Typer commands over `compiler.commands`; each command imports its stages when run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .commands import EXIT_USAGE, UsageError

app = typer.Typer(
    name="netpolc",
    help="Compile concise network intents into small, verified Kubernetes NetworkPolicy manifests.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"netpolc {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: Annotated[bool, typer.Option("--version", "-V", help="Print the version and exit.", callback=_version, is_eager=True)] = False,
) -> None:
    """Compile concise network intents into small, verified Kubernetes NetworkPolicy manifests.

    Start with `netpolc compile examples/three-tier`, `netpolc check FILES`, or `netpolc COMMAND --help`.
    """


Paths = Annotated[list[str], typer.Argument(help=".netpol files or folders (folders are searched recursively).", show_default=False)]
Strict = Annotated[bool, typer.Option("--strict", help="Treat warnings as errors (exit 1).")]
Cni = Annotated[Optional[list[str]], typer.Option("--cni", help="Check the manifests against this CNI's capability table; repeat for a fleet (all must pass). It also picks the object DNS names are written as (`--cni cilium`: CiliumNetworkPolicy). Replaces `cni` of netpolc.toml. See `netpolc cni list`.", metavar="NAME[@VERSION]", show_default=False)]
NamesCni = Annotated[
    Optional[list[str]],
    typer.Option("--cni", help="The CNIs the program is for: they pick the object DNS names are written as (default: `cni` of netpolc.toml). Repeatable.", metavar="NAME[@VERSION]", show_default=False),
]
Expand = Annotated[Optional[int], typer.Option("--expand-port-ranges", help="For CNIs that ignore endPort: write each port range of at most N ports (2-256) as single ports.", metavar="N", show_default=False)]
NamedPort = Annotated[Optional[list[str]], typer.Option("--named-port", help="For CNIs that do not enforce named ports: write NAME as NUMBER. Repeatable; adds to `named-ports` of netpolc.toml.", metavar="NAME=NUMBER", show_default=False)]
Api = Annotated[str, typer.Option("--api", help="The API cluster sections are written in: v1alpha2 (ClusterNetworkPolicy, the default) or v1alpha1 (AdminNetworkPolicy / BaselineAdminNetworkPolicy, for clusters that have only those).", metavar="VERSION")]
Format = Annotated[str, typer.Option("--format", help="How to print diagnostics: text, json, github (workflow commands) or sarif (SARIF 2.1.0 for code scanning).")]


def _finish(run, *args, **kwargs) -> None:
    try:
        code = run(*args, **kwargs)
    except UsageError as err:
        typer.echo(f"netpolc: {err}", err=True)
        code = EXIT_USAGE
    raise typer.Exit(code)


@app.command("compile")
def compile_command(
    paths: Annotated[Optional[list[str]], typer.Argument(help=".netpol files or folders (folders are searched recursively); none: the `paths` of netpolc.toml.", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write one file per policy under DIR/<namespace>/ instead of printing a YAML stream.", metavar="DIR")] = None,
    check: Annotated[bool, typer.Option("--check", help="With -o (or `output` of netpolc.toml): write nothing; exit 1 and list what differs when DIR is stale.")] = False,
    strict: Strict = False,
    fmt: Format = "text",
    cni: Cni = None,
    expand_port_ranges: Expand = None,
    named_port: NamedPort = None,
    api: Api = "v1alpha2",
) -> None:
    """Compile intents to NetworkPolicy manifests (and cluster sections to ClusterNetworkPolicy).

    Prints a multi-document YAML stream (pipe it to `kubectl apply -f -`), or with
    -o DIR replaces the generated files under DIR/<namespace>/ atomically, keeping
    files netpolc did not generate. Nothing is written unless the whole program
    compiles, proves and validates. Diagnostics go to standard error.

    Examples:

      netpolc compile examples/three-tier | kubectl apply -f -

      netpolc compile examples/storefront -o deploy/netpol

      netpolc compile examples/storefront -o deploy/netpol --check

      netpolc compile policies/ --cni weave --expand-port-ranges 16 --named-port metrics=9090

      netpolc compile guardrails.netpol --api v1alpha1

      netpolc compile saas-egress.netpol --cni cilium   # `egress only to api.stripe.com:443` as CiliumNetworkPolicy
    """
    from .commands import compile as command

    _finish(command.run, list(paths or []), output, check, strict, fmt, cni or [], expand_port_ranges, named_port or [], api)


@app.command("check")
def check_command(
    paths: Annotated[Optional[list[str]], typer.Argument(help=".netpol files or folders.", show_default=False)] = None,
    fmt: Format = "text",
    strict: Strict = False,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the file to check from standard input (editor buffers).")] = False,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="The path standard input stands for; positions are reported in it.", metavar="PATH")] = None,
    cni: Cni = None,
    expand_port_ranges: Expand = None,
    named_port: NamedPort = None,
    sarif: Annotated[Optional[str], typer.Option("--sarif", help="Also write the diagnostics to FILE as SARIF 2.1.0 (one run: annotations with --format github, and a code-scanning log).", metavar="FILE")] = None,
) -> None:
    """Report problems without writing anything (editors, pre-commit, CI).

    With no paths, the `paths` of netpolc.toml are checked.

    Exit status: 0 clean (warnings allowed unless --strict), 1 errors found,
    2 bad usage or unreadable input.

    Examples:

      netpolc check examples/

      netpolc check --format json policies/shop.netpol

      netpolc check --stdin --stdin-filename policies/shop.netpol < shop.netpol

      netpolc check policies/ --cni calico --cni cilium@1.15

      netpolc check --format github --sarif netpolc.sarif policies/
    """
    from .commands import check as command

    _finish(command.run, list(paths or []), fmt, strict, stdin, stdin_filename, cni or [], expand_port_ranges, named_port or [], sarif)


@app.command("fmt")
def fmt_command(
    paths: Annotated[list[str], typer.Argument(help=".netpol files or folders, or - to format standard input to standard output.", show_default=False)],
    check: Annotated[bool, typer.Option("--check", help="Write nothing; print a unified diff and exit 1 when a file is not formatted.")] = False,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="With -: the file name to report errors under.", metavar="PATH")] = None,
) -> None:
    """Rewrite .netpol files in the one canonical layout.

    One space between words, selector terms sorted by key, values of `in (...)`
    sorted, comments kept on their line, runs of blank lines collapsed to one,
    one newline at the end. A file that does not parse is reported and left
    untouched (exit 1). Files are replaced atomically, keeping their mode.

    Examples:

      netpolc fmt policies/

      netpolc fmt --check policies/shop.netpol

      netpolc fmt - --stdin-filename shop.netpol < shop.netpol
    """
    from .commands import fmt as command

    _finish(command.run, paths, check, stdin_filename)


PolicyDirs = Annotated[
    Optional[list[str]],
    typer.Option("--policies", help="NetworkPolicy YAML files or folders to evaluate too, or - for standard input (repeatable; other kinds are skipped).", metavar="DIR"),
]
Cluster = Annotated[
    Optional[list[str]],
    typer.Option(
        "--cluster",
        help="Answer over real pods: the output of `kubectl get namespaces,pods -A -o yaml` (or -o json), or workload manifests "
        "(`helm template`, `kustomize build`: one pod per Deployment, StatefulSet, DaemonSet, Job...); - for standard input; repeatable.",
        metavar="FILE",
        show_default=False,
    ),
]
Namespace = Annotated[
    Optional[str],
    typer.Option("--namespace", "-n", help="Namespace for YAML objects without metadata.namespace, as with `kubectl apply -n`; an object of another namespace is an error.", metavar="NAME", show_default=False),
]


@app.command("test")
def test_command(
    paths: Paths,
    policies: PolicyDirs = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json or github.")] = "text",
    strict: Strict = False,
    namespace: Namespace = None,
    cluster: Cluster = None,
    cni: Annotated[Optional[list[str]], typer.Option("--cni", help="With --cluster: judge ipBlocks over pod IPs as these CNIs do (Cilium never matches pods by ipBlock); every expectation must hold on each. Repeatable.", metavar="NAME[@VERSION]", show_default=False)] = None,
) -> None:
    """Compile, then check every `expect` statement against the result.

    `expect A -> B:PORT allowed` holds when every pod or address A stands for can
    reach every one B stands for; `denied` when none can. Each failure is printed
    at its file:line with the flow that happened instead and the policies (and
    intent lines) that allowed it, or the side that isolated it. The last line
    is `N passed, M failed`; exit 1 on any failure.

    With --policies, NetworkPolicy YAML you did not write with netpolc is
    evaluated too: the .netpol files then only need `namespace` and `expect` lines.
    `--policies -` reads the YAML from standard input; -n NAME is the namespace of
    objects that name none.

    Examples:

      netpolc test examples/storefront

      netpolc test --format json policies/

      netpolc test expectations.netpol --policies deploy/netpol/

      helm template . | netpolc test expectations.netpol --policies - -n shop

      kubectl get namespaces,pods -A -o yaml > snapshot.yaml; netpolc test policies/ --cluster snapshot.yaml
    """
    from .commands import test as command

    _finish(command.run, paths, list(policies or []), fmt, strict, namespace=namespace, cluster=list(cluster or []), cni=list(cni or []))


@app.command("explain")
def explain_command(
    arguments: Annotated[list[str], typer.Argument(help=".netpol files or folders, then the flow in quotes: 'SOURCE -> DESTINATION:PORT'.", metavar="[FILES]... FLOW", show_default=False)],
    policies: PolicyDirs = None,
    namespace: Annotated[Optional[str], typer.Option("--namespace", "-n", help="Namespace the flow's selectors are relative to (default: the only one); also the namespace of YAML objects that name none.", metavar="NAME")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    cluster: Cluster = None,
    cni: NamesCni = None,
) -> None:
    """Can SOURCE reach DESTINATION on PORT, and why: the verdict and the chain.

    The flow uses the peer syntax of `expect` lines (other namespaces, CIDRs,
    protocols, named ports). For each side (egress of the source, ingress of
    the destination) it says whether the pod is isolated and by which policy,
    and which rule of which policy allows the flow, with its intent line.
    Ending the flow with `allowed` or `denied` makes the exit code 1 when that
    verdict does not hold. With --cluster, the flow's selectors pick real pods
    and workloads, and the pods judged are listed.

    Examples:

      netpolc explain examples/storefront 'app=frontend -> app=cart:8080' -n shop

      netpolc explain --policies deploy/netpol/ 'app=web -> 10.0.0.0/8:5432' -n shop

      netpolc explain shop.netpol 'app=web -> k8s-app=kube-dns in namespace kube-system:53/udp'

      netpolc explain policies/ --cluster snapshot.yaml -n shop 'app=cart -> app=db:5432'

      netpolc explain checkout.netpol --cni cilium 'app=checkout -> api.stripe.com:443'
    """
    from .commands import explain as command

    _finish(command.run, arguments, list(policies or []), namespace, fmt, cluster=list(cluster or []), cni=list(cni or []))


@app.command("diff")
def diff_command(
    arguments: Annotated[list[str], typer.Argument(help="OLD NEW (files or folders), or a git range OLD..NEW followed by paths.", metavar="OLD NEW | REV..REV [PATHS]...", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="text, json or markdown (for a pull-request comment).")] = "text",
    fail_on_closed: Annotated[bool, typer.Option("--fail-on-closed", help="Exit 1 when the change closes any flow.")] = False,
    namespace: Namespace = None,
    cluster: Cluster = None,
    allow_missing: Annotated[bool, typer.Option("--allow-missing", help="With REV..REV: a path that exists at one revision only is compared against no policies at the other (otherwise exit 2).")] = False,
    flows: Annotated[Optional[list[str]], typer.Option("--flows", help="Only the connections seen in these flow records (Hubble or Calico JSON, as for `replay`), with how often each was seen.", metavar="FILE", show_default=False)] = None,
    cni: NamesCni = None,
) -> None:
    """The flows a change opens and closes, computed by the engine (not a text diff).

    Both sides are evaluated over one set of representative pods and addresses,
    including the cluster DNS, Prometheus and an ingress controller, so that
    isolating a workload shows what it silently cuts. Flows are grouped by pod
    group and port. A side is .netpol files (compiled) or NetworkPolicy YAML: a
    folder holding any .netpol file is a program, otherwise its YAML is read;
    - is YAML from standard input. With --flows, only the connections seen in
    flow records, each with how often it was seen. Exit 0 unless
    --fail-on-closed and something closed.

    Examples:

      netpolc diff policies-before/ policies/

      netpolc diff main..HEAD policies/

      netpolc diff --format markdown main..HEAD policies/ > comment.md

      helm template . | netpolc diff -n shop deploy/netpol/ -

      netpolc diff main..HEAD policies/ --cluster snapshot.yaml

      netpolc diff --format markdown main..HEAD policies/ --flows flows.json > comment.md
    """
    from .commands import diff as command

    _finish(
        command.run, arguments, fmt, fail_on_closed, namespace=namespace, cluster=list(cluster or []), allow_missing=allow_missing,
        flows=list(flows or []), cni=list(cni or []),
    )


@app.command("graph")
def graph_command(
    paths: Annotated[Optional[list[str]], typer.Argument(help=".netpol files or folders.", show_default=False)] = None,
    policies: PolicyDirs = None,
    fmt: Annotated[str, typer.Option("--format", help="dot (Graphviz), mermaid, or svg (needs Graphviz's `dot` program).")] = "dot",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to FILE instead of standard output.", metavar="FILE")] = None,
    namespace: Namespace = None,
    cluster: Cluster = None,
    cni: NamesCni = None,
) -> None:
    """Draw the allowed flows between pod groups and address blocks.

    One node per pod group the policies name, grouped by namespace; an edge per
    flow a policy decides, labelled with its ports (parallel edges merged).
    Isolated (default-deny) groups are filled red. Groups that make a whole
    (every pod of a namespace, every IPv4 address) are one node.

    Examples:

      netpolc graph examples/storefront -o storefront.dot

      netpolc graph --format mermaid examples/storefront > storefront.mmd

      netpolc graph --format svg examples/storefront -o storefront.svg

      kustomize build overlays/prod | netpolc graph policies/ --cluster -
    """
    from .commands import graph as command

    _finish(command.run, list(paths or []), list(policies or []), fmt, output, namespace=namespace, cluster=list(cluster or []), cni=list(cni or []))


Flows = Annotated[
    list[str],
    typer.Option(
        "--flows",
        help="Observed traffic: `hubble observe -o json` (or -o jsonpb) output, or a Calico flow log in JSON, one record per line; "
        "gzip is read as it is; - for standard input; repeatable.",
        metavar="FILE",
        show_default=False,
    ),
]
MaxConnections = Annotated[
    Optional[int],
    typer.Option("--max-connections", help="Distinct connections kept in memory (default 100,000, about 300 bytes each); more is an error (NP907).", metavar="N", show_default=False),
]


@app.command("replay")
def replay_command(
    paths: Annotated[Optional[list[str]], typer.Argument(help=".netpol files or folders (compiled with the proof).", show_default=False)] = None,
    flows: Flows = ...,
    policies: PolicyDirs = None,
    namespace: Namespace = None,
    cluster: Cluster = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json or github (an annotation at the policy line that isolates each denied connection).")] = "text",
    max_connections: MaxConnections = None,
) -> None:
    """Which observed connections would the policies deny? The CI gate before enforcing.

    Reads Hubble or Calico flow records, reduces them to distinct connections
    (replies and the second end's record of a connection left out, each
    connection counted with its first and last time), and evaluates every
    connection that carried traffic (FORWARDED, AUDIT; Calico `allow`) against
    the compiled program or YAML policies. The denied ones are listed by
    workload pair and port, each with the policy and intent line that isolates
    it (the chain `explain` shows), then `N connections observed, M would be
    denied`. Exit 1 when any would be. --cluster gives the pods' named ports
    and the namespaces' labels.

    Examples:

      hubble observe -o json --since 24h > flows.json; netpolc replay policies/ --flows flows.json

      netpolc replay --policies deploy/netpol/ --flows flows.json.gz --format github

      kubectl get namespaces,pods -A -o yaml > snapshot.yaml; netpolc replay policies/ --flows flows.json --cluster snapshot.yaml
    """
    from .commands import replay as command

    _finish(command.run, list(paths or []), list(flows or []), list(policies or []), namespace, list(cluster or []), fmt, max_connections)


@app.command("suggest")
def suggest_command(
    flows: Flows = ...,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write one DIR/<namespace>.netpol per namespace (replacing the ones suggest wrote before) instead of printing the program.", metavar="DIR")] = None,
    namespaces: Annotated[Optional[list[str]], typer.Option("--namespace", "-n", help="Write programs for this namespace only (repeatable). Default: every namespace with observed pods, except kube-system, kube-public and kube-node-lease.", metavar="NAME", show_default=False)] = None,
    max_prefix: Annotated[int, typer.Option("--max-prefix", help="The widest CIDR that addresses seen may be merged into: /N for IPv4 (N+96 for IPv6). 32: each address on its own.", metavar="N")] = 32,
    max_connections: MaxConnections = None,
) -> None:
    """Write .netpol programs that allow exactly the observed connections, with an expectation for each.

    Per namespace: `deny all`, `use dns` when DNS to CoreDNS was seen, one
    `allow` per observed workload pair and port (workloads named by stable
    labels: app.kubernetes.io/name, app, k8s-app; never pod-template-hash),
    addresses as the narrowest CIDRs covering what was seen (no wider than
    --max-prefix), and `expect ... allowed` for every observed connection.
    The program is then compiled, proven, and replayed against the same
    flows (every observed connection must be allowed), and what else it
    allows beyond the observations is listed, as `diff` would.

    Examples:

      netpolc suggest --flows flows.json -o policies/

      netpolc suggest --flows flows.json -n shop --max-prefix 24

      hubble observe -o json --since 24h | netpolc suggest --flows - > suggested.netpol
    """
    from .commands import suggest as command

    _finish(command.run, list(flows or []), output, list(namespaces or []), max_prefix, max_connections)


@app.command("import")
def import_command(
    paths: Annotated[list[str], typer.Argument(help="NetworkPolicy YAML files or folders (searched for .yaml/.yml), or - for standard input.", show_default=False)],
    namespace: Namespace = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write one DIR/<namespace>.netpol per namespace (replacing the ones import wrote before) instead of printing the program.", metavar="DIR")] = None,
    cluster: Cluster = None,
) -> None:
    """Turn existing NetworkPolicy YAML into .netpol programs, proven equivalent.

    Reads every NetworkPolicy (multi-document YAML, kind: List, JSON; other kinds
    skipped with a note), writes idiomatic intents (deny all, use dns, allow A to
    B, ingress only from ...), one program per namespace, formatted as `netpolc
    fmt` formats it, each intent with a comment naming its policy and file:line.
    Then it compiles the program and the engine compares its manifests with the
    YAML on every flow (with --cluster also over the real pods). Exit 0 when all
    was imported and proven; 1 when a policy was refused (listed at its YAML line,
    kept as YAML) or the proof failed; 2 for bad usage or unreadable input. With
    -o nothing is written unless what is written is proven.

    Examples:

      netpolc import deploy/netpol -o policies/

      helm template . | netpolc import - -n shop

      netpolc import deploy/netpol --cluster snapshot.yaml > imported.netpol
    """
    from .commands import import_ as command

    _finish(command.run, list(paths or []), namespace, output, list(cluster or []))


@app.command("lsp")
def lsp_command() -> None:
    """Run the language server on standard input and output (for editors).

    Diagnostics as you type, completion, hover showing the manifests a line
    compiles to, go-to-definition on `use`, and formatting. Point your editor's
    LSP client at the command `netpolc lsp` for files ending in .netpol.

    Example:

      netpolc lsp
    """
    from .commands import lsp as command

    _finish(command.run)


cni_app = typer.Typer(
    name="cni",
    help="The per-CNI capability tables that `check --cni` and `compile --cni` use.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(cni_app)


@cni_app.command("list")
def cni_list_command() -> None:
    """One line per CNI target: what it is, and how many features it does not enforce or may not.

    Example:

      netpolc cni list
    """
    from .commands import cni as command

    _finish(command.run_list)


@cni_app.command("show")
def cni_show_command(
    target: Annotated[str, typer.Argument(help="A target from `netpolc cni list`, optionally with the CNI's version.", metavar="NAME[@VERSION]", show_default=False)],
) -> None:
    """Show one capability table: per feature the status, since which version, the consequence and the source; then the notes.

    Statuses: supported; ignored (accepted, silently not enforced as written:
    an error); unsupported (documented as not supported: an error); unknown (no
    primary source: a warning). Without a version, the newest version in the
    table is shown.

    Examples:

      netpolc cni show calico

      netpolc cni show cilium@1.15
    """
    from .commands import cni as command

    _finish(command.run_show, target)


def main(argv: list[str]) -> int:
    """Run the app; an unexpected failure is reported in one line, never as a traceback."""
    import os

    try:
        app(args=argv, prog_name="netpolc", standalone_mode=True)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # the last line of defence: a bug must not print a traceback at a user
        if os.environ.get("NETPOLC_DEBUG"):
            raise
        typer.echo(f"netpolc: internal error: {type(err).__name__}: {err} (set NETPOLC_DEBUG=1 for details; please report it)", err=True)
        return EXIT_USAGE
    return 0
