"""Issue 13, the rest: `only` widened by an allow (NP430), covered `only` lines, `world` sources in
isolated namespaces, suppressions, project roots, exit-2 reports in machine formats, diff summaries."""

from __future__ import annotations

from compiler import engine
from conftest import build_text, codes, run_cli


def diagnostics(text: str, code: str):
    return [d for d in build_text(text).diagnostics if d.code == code]


# ---------------------------------------------------------------- `only` is only (item 4)


def test_egress_only_widened_by_an_allow_names_the_only_line_and_both_ways_out():
    text = "namespace prod\nuse dns\negress only to 10.0.0.0/8:443 for app=db\nallow app=db to app=x:80\n"
    [warning] = diagnostics(text, "NP430")
    assert (warning.span.line, warning.span.column) == (4, 1)
    assert "widens `egress only to 10.0.0.0/8:443 for app=db` (line 3)" in warning.message
    assert "`app=x:80`" in warning.message
    assert "remove this allow" in warning.hint
    assert "`deny egress for app=db` and `allow app=db to 10.0.0.0/8:443`" in warning.hint
    assert [(s.line, s.column) for s, _ in warning.related] == [(3, 1)]
    # and the warning tells the truth: db really reaches x, which the `only` line alone would forbid
    result = build_text(text + "namespace other\n", validate=True)
    policies = engine.load_policies(result.manifests())
    universe = engine.Universe([engine.Namespace("prod")], [], [])
    db, x = engine.Pod("prod", "db", {"app": "db"}), engine.Pod("prod", "x", {"app": "x"})
    assert engine.evaluate(policies, universe, db, x, 80, "TCP").egress.allowed


def test_ingress_only_widened_by_an_allow():
    text = "namespace prod\ningress only from app=lb for app=web\nallow app=x to app=web:80\n"
    [warning] = diagnostics(text, "NP430")
    assert (warning.span.line, "(line 2)" in warning.message) == (3, True)
    assert "`deny ingress for app=web` and `allow app=lb to app=web`" in warning.hint


def test_allows_inside_the_only_line_or_beside_its_pods_or_from_stdlib_do_not_warn():
    inside = "namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow app=db to 10.1.0.0/16:443\n"
    other_pods = "namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow app=web to app=x:80\n"
    contradicting = "namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow app!=db to app=x:80\n"
    stdlib = "namespace prod\nuse dns\negress only to 10.0.0.0/8:443\n"
    ingress_inside = "namespace prod\ningress only from app=lb:80 for app=web\nallow app=lb to app=web:80\n"
    for text in (inside, other_pods, contradicting, stdlib, ingress_inside):
        assert not diagnostics(text, "NP430"), text
    # the overlapping pods of a wider allow are widened too
    assert diagnostics("namespace prod\negress only to 10.0.0.0/8:443 for app=db\nallow any to app=x:80\n", "NP430")


# ---------------------------------------------------------------- covered intent, world (item 6)


def test_only_line_covered_by_a_wider_only_line_is_np403():
    text = "namespace prod\ningress only from world\ningress only from world:80\n"
    assert ("NP403", 3, 1) in codes(build_text(text))
    [warning] = diagnostics(text, "NP403")
    assert "covered by `ingress only from world`" in warning.message
    # a narrower subject, or other ports, is not covered
    assert not diagnostics("namespace prod\ningress only from world:80\ningress only from world:443\n", "NP403")
    assert not diagnostics("namespace prod\ningress only from world for app=web\ningress only from world:80\n", "NP403")
    assert ("NP403", 2, 1) in codes(build_text("namespace prod\ningress only from world:80 for app=web\ningress only from world\n"))


def test_allow_from_world_in_an_isolated_namespace_warns_like_cluster():
    text = "namespace prod\nuse dns\ndeny all\nallow world to app=web:443\n"
    [warning] = diagnostics(text, "NP407")
    assert (warning.span.line, warning.span.column) == (4, 1)
    assert "`world` includes the pods of namespace prod" in warning.message
    assert "`allow any to app=web:443`" in warning.hint
    assert not diagnostics("namespace prod\nuse dns\ndeny ingress\nallow world to app=web:443\n", "NP407")


def test_np401_for_world_destination_says_it_includes_pods():
    [warning] = diagnostics("namespace prod\nallow app=web to world\n", "NP401")
    assert "every address and every pod" in warning.message
    assert "is addresses" not in warning.message
    [block] = diagnostics("namespace prod\nallow app=web to 8.8.8.8\n", "NP401")
    assert "the destination is addresses" in block.message


# ---------------------------------------------------------------- suppressions (item 7)

NO_EGRESS = "namespace prod\ndeny all  # this workload talks to nobody: netpolc: ignore[NP404]\n"


def test_a_suppression_silences_its_codes_on_its_line_and_strict_passes(tmp_path):
    assert codes(build_text("namespace prod\ndeny all\n")) == [("NP404", 2, 1)]
    assert codes(build_text(NO_EGRESS)) == []
    (tmp_path / "a.netpol").write_text(NO_EGRESS, encoding="utf-8")
    run = run_cli("check", "--strict", str(tmp_path / "a.netpol"))
    assert (run.code, run.out) == (0, "")
    # several codes, comma-separated; each silences only its own code
    two = "namespace prod\nallow any to app=db:5432\nallow app=web to app=db:5432  # netpolc: ignore[NP404,NP403]\ndeny all\n"
    assert codes(build_text(two)) == [("NP431", 3, 49), ("NP404", 4, 1)]  # NP403 silenced; no NP404 on line 3


def test_a_suppression_on_another_line_silences_nothing_and_says_so():
    text = "namespace prod\n# netpolc: ignore[NP404]\ndeny all\n"
    result = build_text(text)
    assert codes(result) == [("NP431", 2, 19), ("NP404", 3, 1)]
    [unused] = [d for d in result.diagnostics if d.code == "NP431"]
    assert unused.severity == "warning" and "silences nothing" in unused.message


def test_errors_are_never_silenced_and_the_attempt_is_reported():
    text = "namespace prod\nallow app=web to app=db:99999  # netpolc: ignore[NP306]\n"
    result = build_text(text)
    assert [c for c, _, _ in codes(result)] == ["NP306", "NP432"]
    [attempt] = [d for d in result.diagnostics if d.code == "NP432"]
    assert (attempt.span.line, attempt.span.column, attempt.span.end_column) == (2, 50, 55)
    assert "errors are never silenced" in attempt.message
    assert not result.ok
    unknown = build_text("namespace prod\ndeny all  # netpolc: ignore[NP404, NP9999]\n")
    assert codes(unknown) == [("NP432", 2, 36)]
    assert "not a diagnostic code" in unknown.diagnostics[0].message


def test_a_hash_inside_a_quoted_file_name_is_not_a_comment():
    from compiler.suppress import comments

    assert comments("x", 'use "a#netpolc: ignore[NP404].netpol"\n') == []
    assert [s.code for s in comments("x", 'use "a#b.netpol"  # netpolc: ignore[NP205]\n')] == ["NP205"]


def test_a_suppression_of_a_cni_warning_is_not_called_unused_when_no_cni_was_checked():
    text = "namespace prod\nallow app=web to app=db:metrics  # netpolc: ignore[NP602]\n"
    assert "NP431" not in [c for c, _, _ in codes(build_text(text))]


def test_config_ignore_silences_a_warning_everywhere_and_refuses_errors(tmp_path, monkeypatch):
    project = tmp_path / "p"
    project.mkdir()
    (project / ".git").mkdir()
    (project / "a.netpol").write_text("namespace prod\ndeny all\n", encoding="utf-8")
    (project / "b.netpol").write_text("namespace dev\ndeny egress\n", encoding="utf-8")
    monkeypatch.chdir(project)
    before = run_cli("check", "--strict", ".")
    assert before.code == 1 and before.out.count("NP404") == 2
    (project / "netpolc.toml").write_text('ignore = ["NP404"]\n', encoding="utf-8")
    after = run_cli("check", "--strict", ".")
    assert (after.code, after.out) == (0, "")
    (project / "netpolc.toml").write_text('ignore = ["NP404", "NP200"]\n', encoding="utf-8")
    refused = run_cli("check", ".")
    assert refused.code == 0
    assert "netpolc.toml:1:20: warning[NP432]: NP200 is an error, and errors are never silenced" in refused.out
    (project / "netpolc.toml").write_text('ignore = ["NP4"]\n', encoding="utf-8")
    bad = run_cli("check", ".")
    assert bad.code == 1 and "netpolc.toml:1:11: error[NP802]" in bad.out


# ---------------------------------------------------------------- diff summary, graph labels (item 12)

OLD = "namespace shop\nallow app=api to app=db:5432\nallow 10.0.0.0/8 to app=api:80\nallow 192.168.0.0/16 to app=api:80\nallow 172.16.0.0/12 to app=api:80\n"
NEW = OLD + "allow 203.0.113.0/24 to app=web:443\nallow 198.51.100.0/24 to app=web:443\nallow app=api to app=web:8080\n"


def test_diff_summarises_a_newly_isolated_group_before_its_details(write, tmp_path):
    old = write({"a.netpol": OLD}, tmp_path / "old")
    new = write({"a.netpol": NEW}, tmp_path / "new")
    run = run_cli("diff", str(old), str(new))
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    summary = "shop/app=web newly isolated for ingress: everything except 198.51.100.0/24, 203.0.113.0/24 on 443; shop/app=api on 8080 is cut"
    assert lines[2] == summary
    assert lines.index(summary) < next(i for i, line in enumerate(lines) if line.startswith("Closed:"))
    assert sum("newly isolated" in line for line in lines) == 1  # app=api was isolated before: not new
    # the details still list every range that is cut
    assert any(line.endswith("-> shop/app=web: all ports") and "kube-dns" in line for line in lines)
    markdown = run_cli("diff", "--format", "markdown", str(old), str(new))
    assert f"- **{summary}**" in markdown.out.splitlines()[:6]
    import json

    data = json.loads(run_cli("diff", "--format", "json", str(old), str(new)).out)
    assert data["newly_isolated"] == [
        {"group": "shop/app=web", "direction": "ingress", "still_allowed": [
            {"peers": ["198.51.100.0/24", "203.0.113.0/24"], "ports": "443"}, {"peers": ["shop/app=api"], "ports": "8080"},
        ]},
    ]
    # a change that isolates nobody new has no summary
    same = run_cli("diff", str(new), str(write({"a.netpol": NEW + "allow app=db to app=web:9090\n"}, tmp_path / "newer")))
    assert "newly isolated" not in same.out and "Opened: 1 flow:" in same.out


def test_diff_of_an_isolation_that_keeps_nothing_says_everything_is_cut(write, tmp_path):
    old = write({"a.netpol": "namespace shop\nallow app=api to app=db\n"}, tmp_path / "old")
    new = write({"a.netpol": "namespace shop\nallow app=api to app=db\ndeny egress for app=web\n"}, tmp_path / "new")
    run = run_cli("diff", str(old), str(new))
    assert "shop/app=web newly isolated for egress: everything is cut" in run.out.splitlines()


def test_graph_labels_one_port_over_two_protocols_once(write):
    folder = write({"a.netpol": "namespace shop\ndeny all\nuse dns\nallow app=web to app=db:5432\n"})
    run = run_cli("graph", str(folder))
    assert run.code == 0, run.err
    assert 'label="53/tcp+udp"' in run.out and "53,53/udp" not in run.out
    assert 'label="5432"' in run.out


# ---------------------------------------------------------------- messages (item 13)


def test_a_failing_expectation_over_yaml_policies_suggests_a_yaml_rule(tmp_path):
    policy = (
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: db\n  namespace: shop\n"
        "spec:\n  podSelector:\n    matchLabels:\n      app: db\n  policyTypes: [Ingress]\n"
        "  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app: api\n    ports:\n    - port: 5432\n"
    )
    (tmp_path / "p.yaml").write_text(policy, encoding="utf-8")
    (tmp_path / "e.netpol").write_text("namespace shop\nexpect app=web -> app=db:5432 allowed\n", encoding="utf-8")
    run = run_cli("test", str(tmp_path / "e.netpol"), "--policies", str(tmp_path / "p.yaml"))
    assert run.code == 1
    [help_line] = [line for line in run.out.splitlines() if line.startswith("  help:")]
    assert "allow it in the YAML: add to `shop/db`" in help_line and "an ingress rule whose `from` matches the source" in help_line
    assert "5432/TCP" in help_line
    assert "`allow " not in help_line  # no .netpol line for a YAML policy
    # a program of intents still gets the intent to write
    (tmp_path / "f.netpol").write_text("namespace shop\ndeny all\nuse dns\nexpect app=web -> app=db:5432 allowed\n", encoding="utf-8")
    own = run_cli("test", str(tmp_path / "f.netpol"))
    assert "To fix: allow it (e.g. `allow app=web to app=db:5432`)" in own.out


def test_an_output_error_starts_with_the_path_at_fault(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.netpol").write_text("namespace shop\ndeny ingress\n", encoding="utf-8")
    (tmp_path / "out" / "shop").mkdir(parents=True)
    (tmp_path / "out" / "x.yaml").write_text("# Generated by netpolc\n", encoding="utf-8")
    (tmp_path / "out" / "shop" / "deny-ingress.yaml").symlink_to("../elsewhere")
    run = run_cli("compile", "a.netpol", "-o", "out")
    assert run.code == 1
    assert run.err.startswith("out/shop/deny-ingress.yaml: error[NP503]: out/shop/deny-ingress.yaml is a symbolic link")
    (tmp_path / "graph").mkdir()
    drawn = run_cli("graph", "a.netpol", "-o", "graph")
    assert drawn.code == 1 and drawn.err.startswith("graph: error[NP503]: graph is a folder")


def test_hover_names_files_relative_to_the_workspace_not_the_servers_folder(tmp_path):
    import asyncio
    import os
    import sys

    from lsprotocol import types
    from pygls.uris import from_fs_path

    from conftest import REPO
    from test_lsp import TIMEOUT, Editor

    workspace = tmp_path / "ws"
    (workspace / "policies").mkdir(parents=True)
    elsewhere = tmp_path / "editor-started-here"
    elsewhere.mkdir()

    class EditorElsewhere(Editor):
        async def __aenter__(self):
            env = {**os.environ, "PYTHONPATH": str(REPO)}
            await self.client.start_io(sys.executable, "-m", "compiler", "lsp", cwd=str(elsewhere), env=env)
            uri = from_fs_path(str(self.root))
            params = types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=uri, workspace_folders=[types.WorkspaceFolder(uri, "ws")])
            await asyncio.wait_for(self.client.initialize_async(params), TIMEOUT)
            self.client.initialized(types.InitializedParams())
            return self

    async def scenario():
        async with EditorElsewhere(workspace) as editor:
            uri = editor.open("policies/shop.netpol", "namespace shop\nallow app=web to app=db:5432\n")
            assert list((await editor.diagnostics(uri)).diagnostics) == []
            hover = await editor.request("hover", uri, 1, 3)
            assert "netpolc.io/source: policies/shop.netpol:2" in hover.contents.value
            assert "editor-started-here" not in hover.contents.value and "../" not in hover.contents.value

    asyncio.run(scenario())


# ---------------------------------------------------------------- project root, nested layouts (item 8)

from test_precommit import local_config, repo  # noqa: E402,F401  (the real pre-commit in a temporary repository)

BASE = "deny all\nuse dns\n"
BILLING = 'namespace billing\nuse "shared/base.netpol"\nallow app=web to app=db:5432\n'
CART = 'namespace cart\nuse "../shared/base.netpol"\nallow app=web to app=db:5432\n'


def nested(root):
    (root / "policies" / "shared").mkdir(parents=True)
    (root / "policies" / "apps").mkdir()
    (root / "policies" / "shared" / "base.netpol").write_text(BASE)
    (root / "policies" / "billing.netpol").write_text(BILLING)
    (root / "policies" / "apps" / "cart.netpol").write_text(CART)


def test_precommit_on_a_nested_layout_checks_shared_files_where_they_are_used(repo):
    root, sh = repo
    nested(root)
    sh("git", "add", ".", check=True)
    sh("git", "commit", "-q", "--no-verify", "-m", "project", check=True)
    local_config(root, [{"id": "netpolc-check"}])

    # only the shared file changes: it is checked in billing and in cart (another folder), not alone
    (root / "policies" / "shared" / "base.netpol").write_text(BASE + "use same-namespace\n")
    sh("git", "add", "policies/shared/base.netpol", check=True)
    result = sh("pre-commit", "run")
    assert result.returncode == 0, result.stdout
    assert "NP200" not in result.stdout

    # only cart changes: its `use "../shared/base.netpol"` stays in the repository, the project
    (root / "policies" / "apps" / "cart.netpol").write_text(CART + "allow app=api to app=web:80\n")
    sh("git", "add", "policies/apps/cart.netpol", check=True)
    result = sh("pre-commit", "run")
    assert result.returncode == 0, result.stdout
    assert "NP203" not in result.stdout

    # a mistake in the shared file is reported at its line, once, through its users
    (root / "policies" / "shared" / "base.netpol").write_text(BASE + "use same-namespcae\n")
    sh("git", "add", "policies/shared/base.netpol", check=True)
    result = sh("pre-commit", "run")
    assert result.returncode == 1
    assert result.stdout.count("policies/shared/base.netpol:3:5: error[NP201]") == 1, result.stdout


def test_use_may_not_leave_the_nearest_netpolc_toml_folder(write, tmp_path):
    folder = write({"repo/policies/apps/cart.netpol": CART, "repo/policies/shared/base.netpol": BASE}, tmp_path)
    (folder / "repo" / ".git").mkdir()
    run = run_cli("check", str(folder / "repo" / "policies" / "apps" / "cart.netpol"))
    assert (run.code, run.out) == (0, "")  # the repository root is the project
    (folder / "repo" / "policies" / "apps" / "netpolc.toml").write_text("")
    run = run_cli("check", str(folder / "repo" / "policies" / "apps" / "cart.netpol"))
    assert run.code == 1
    assert 'error[NP203]: `use "../shared/base.netpol"` leaves the project folder' in run.out
    assert "(it holds netpolc.toml)" in run.out
    (folder / "repo" / "policies" / "apps" / "netpolc.toml").unlink()
    (folder / "repo" / "policies" / "apps" / "pyproject.toml").write_text("[tool.netpolc]\n")
    assert "(its pyproject.toml has [tool.netpolc])" in run_cli("check", str(folder / "repo" / "policies" / "apps" / "cart.netpol")).out
    (folder / "repo" / "policies" / "apps" / "pyproject.toml").write_text("[tool.black]\n")  # not netpolc's: does not count
    assert run_cli("check", str(folder / "repo" / "policies" / "apps" / "cart.netpol")).code == 0


def test_without_a_repository_or_config_the_project_is_the_files_folder(write, tmp_path):
    folder = write({"policies/apps/cart.netpol": CART, "policies/shared/base.netpol": BASE}, tmp_path)
    run = run_cli("check", str(folder / "policies" / "apps" / "cart.netpol"))
    assert run.code == 1 and "error[NP203]" in run.out


def test_stdin_filename_uses_the_project_root(repo):
    root, sh = repo
    nested(root)
    result = subprocess_check(root, "--stdin", "--stdin-filename", "policies/apps/cart.netpol", stdin=CART)
    assert (result.returncode, result.stdout) == (0, "")
    result = subprocess_check(root, "--stdin", "--stdin-filename", "policies/shared/base.netpol", stdin=BASE + "use nope\n")
    assert result.returncode == 1
    assert "policies/shared/base.netpol:3:5: error[NP201]" in result.stdout and "NP200" not in result.stdout


def subprocess_check(cwd, *args, stdin: str):
    import os
    import subprocess
    import sys

    from conftest import REPO

    return subprocess.run(
        [sys.executable, "-m", "compiler", "check", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60,
    )


def test_diff_of_a_revision_range_reads_what_a_subfolder_uses_from_the_project(repo):
    root, sh = repo
    nested(root)
    sh("git", "add", ".", check=True)
    sh("git", "commit", "-q", "--no-verify", "-m", "one", check=True)
    (root / "policies" / "apps" / "cart.netpol").write_text(CART + "allow app=api to app=web:80\n")
    sh("git", "commit", "-q", "--no-verify", "-am", "two", check=True)
    result = sh("netpolc", "diff", "HEAD~1..HEAD", "policies/apps")
    assert result.returncode == 0, result.stdout
    assert "Opened: 1 flow:\n  cart/app=api -> cart/app=web: 80\n" in result.stdout


def test_compile_hook_without_args_reads_paths_and_output_from_the_config(repo):
    root, sh = repo
    nested(root)
    (root / "v1").mkdir()
    (root / "v1" / "old.netpol").write_text("namespace billing\nallow app=web to\n")  # an old copy: not the project's
    (root / "netpolc.toml").write_text('paths = ["policies"]\noutput = "deploy/netpol"\n')
    local_config(root, [{"id": "netpolc-compile"}])
    sh("git", "add", ".", check=True)
    result = sh("pre-commit", "run", "--all-files")
    assert result.returncode == 1 and "deploy/netpol is stale" in result.stdout, result.stdout
    sh("netpolc", "compile", "-o", "deploy/netpol", check=True)
    sh("git", "add", ".", check=True)
    result = sh("pre-commit", "run", "--all-files")
    assert result.returncode == 0, result.stdout


def test_a_suppression_on_an_expect_line_silences_tests_own_warning(tmp_path):
    text = (
        "namespace shop\ndeny all\nuse dns\nallow app=cart to app=db:5432\n"
        "expect app=chart -> app=db:5432 denied\n"
        "expect app=chrt -> app=db:5432 denied  # a deliberate probe: netpolc: ignore[NP707]\n"
    )
    (tmp_path / "t.netpol").write_text(text, encoding="utf-8")
    run = run_cli("test", str(tmp_path / "t.netpol"))
    assert run.err.count("warning[NP707]") == 1 and "t.netpol:5:1: warning[NP707]" in run.err
    assert "NP431" not in run.err  # the build cannot report NP707, so it does not call the comment unused
    assert run_cli("test", "--strict", str(tmp_path / "t.netpol")).code == 1
    (tmp_path / "t.netpol").write_text(text.replace("expect app=chart -> app=db:5432 denied\n", ""), encoding="utf-8")
    assert run_cli("test", "--strict", str(tmp_path / "t.netpol")).code == 0


def test_groups_left_with_the_same_allowances_read_as_one_summary_line(write, tmp_path):
    old = write({"a.netpol": "namespace shop\nallow app=api to app=db:5432\n"}, tmp_path / "old")
    new = write({"a.netpol": "namespace shop\ndeny all\nuse dns\nallow app=api to app=db:5432\nallow app=web to app=api:80\n"}, tmp_path / "new")
    lines = run_cli("diff", str(old), str(new)).out.splitlines()
    summary = lines[2:lines.index("Details follow.")]
    assert summary == [
        "shop/app=api newly isolated for egress: everything except kube-system/k8s-app=kube-dns on 53/tcp+udp; shop/app=db on 5432 is cut",
        "shop/app=api newly isolated for ingress: everything except shop/app=web on 80 is cut",
        "shop/app=db, shop/(other pods) newly isolated for egress: everything except kube-system/k8s-app=kube-dns on 53/tcp+udp is cut",
        "shop/app=web newly isolated for egress: everything except kube-system/k8s-app=kube-dns on 53/tcp+udp; shop/app=api on 80 is cut",
        "shop/app=web, shop/(other pods) newly isolated for ingress: everything is cut",
    ]
