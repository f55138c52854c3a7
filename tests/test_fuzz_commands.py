"""Random .netpol mutations over every command (a short run; `python tests/fuzz/netpol_mutations.py` is the long one)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import run_cli
from fuzz.netpol_mutations import EXAMPLES, apply, broken_rule, operations_strategy, run_case, write_case


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(st.sampled_from(EXAMPLES), operations_strategy(), st.booleans())
def test_mutated_examples_never_break_a_command(example, operations, broken_bytes):
    text = apply(example.read_text("utf-8"), operations)
    with tempfile.TemporaryDirectory(prefix="netpolc-fuzz-") as tmp:
        folder = Path(tmp) / "case"
        target = write_case(folder, example, text, broken_bytes=broken_bytes)
        assert run_case(folder, target, run_cli) == []


def test_the_rules_catch_what_they_are_about():
    """The checker itself: each rule it enforces fails on a run that breaks it."""
    coded = "/p/a.netpol:1:1: error[NP100]: x\n"
    assert broken_rule(["check"], 0, "", "") is None
    assert broken_rule(["check"], 1, coded, "") is None
    assert broken_rule(["check"], 3, "", "") == "exit code 3"
    assert broken_rule(["check"], 2, "", "netpolc: internal error: KeyError: 'x'\n").startswith("internal error")
    assert broken_rule(["check"], 1, "/p/a.netpol:1:1: error: no code\n", "").startswith("diagnostic without a code")
    assert broken_rule(["compile"], 1, "", "something went wrong\n").startswith("exit 1 without a coded error")
    assert broken_rule(["check"], 2, "", "").startswith("exit 2 without a coded error")
    assert broken_rule(["fmt", "--check"], 1, "", "would reformat a.netpol\n") is None
    assert broken_rule(["check"], 0, coded, "") == "exit 0 with an error"


def test_mutations_do_what_they_say():
    assert apply("allow a to b", [("insert", 0.0, 1, "# ")]) == "# allow a to b"
    assert apply("allow a to b", [("delete", 0.0, 6, "")]) == "a to b"
    assert apply("allow a to b # x y z", [("replace-token", 0.5, 1, "deny")]) == "allow a deny b # x y z"
    assert apply("x\ny", [("duplicate-line", 0.9, 2, "")]) == "x\nyy\ny"
