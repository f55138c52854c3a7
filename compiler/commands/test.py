"""`netpolc test`: compile, then evaluate every `expect`; failures name the flow and the policies why."""

from __future__ import annotations

import json
import sys

from . import EXIT_FINDINGS, EXIT_OK, UsageError, check_format, exit_code, workspace

FORMATS = ("text", "json", "github")


def run(
    paths: list[str], policies: list[str] | None = None, fmt: str = "text", strict: bool = False, namespace: str | None = None, cluster: list[str] = (),
    cni: list[str] = (),
) -> int:
    from ..diagnostics import sorted_unique
    from ..expect import check_all, unmatched

    check_format(fmt, FORMATS)
    if not paths:
        raise UsageError("nothing to test: pass the .netpol files or folders that hold the `expect` lines")
    space = workspace(paths, policies, namespace, warn=False, cluster=cluster, cni=cni)  # printed below, with the results
    if not space.ok:
        _print(fmt, space, [], space.diagnostics)
        return exit_code(space.diagnostics, strict)
    expects = space.expects
    if not expects:
        sys.stderr.write("netpolc: no `expect` statements in the inputs: nothing was tested (write e.g. `expect app=web -> app=db:5432 allowed`)\n")
        _print(fmt, space, [], space.diagnostics)
        return EXIT_FINDINGS
    from . import block_readings

    outcomes = check_all(space.policies, space.context, expects, space.snapshot, block_readings(list(cni)))
    failures = [o.diagnostic() for o in outcomes if not o.passed and not o.vacuous]
    from ..suppress import project_ignore, silence

    about_nothing = silence(unmatched(outcomes, [space.policies, *space.context]), space.files, project_ignore()[0])
    findings = sorted_unique(space.diagnostics + about_nothing)
    _print(fmt, space, outcomes, findings + failures)
    if failures:
        return EXIT_FINDINGS
    return exit_code(findings, strict) if findings else EXIT_OK


def _print(fmt: str, space, outcomes, diagnostics) -> None:
    from ..render import as_dict, render

    passed = sum(o.passed for o in outcomes)
    vacuous = sum(o.vacuous for o in outcomes)
    failed = len(outcomes) - passed - vacuous
    if fmt == "json":
        document = {
            "passed": passed,
            "failed": failed,
            "about_nothing": vacuous,
            "expectations": [o.as_dict() for o in outcomes],
            "diagnostics": [as_dict(d) for d in diagnostics],
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    failures = [d for d in diagnostics if d.code == "NP700"]
    others = [d for d in diagnostics if d.code != "NP700"]
    if others:  # compile findings go to standard error, as with `compile`
        sys.stderr.write(render(others, "text" if fmt == "text" else fmt, space.files))
    if fmt == "github":
        sys.stdout.write(render(failures, "github", space.files))
    elif failures:
        # The renderer's own summary counts errors; the test summary below says it better.
        sys.stdout.write(render(failures, "text", space.files).rsplit("\n", 2)[0] + "\n")
    if outcomes or not others:
        nothing = f", {vacuous} about no pod (NP707)" if vacuous else ""
        sys.stdout.write(f"{passed} passed, {failed} failed{nothing}\n")
