"""Random mutations of the shipped examples' .netpol text, run through every command: never an internal error.

    python tests/fuzz/netpol_mutations.py [--runs N] [--seed S] [--keep DIR]

Each run copies one example folder, mutates one of its files (characters and tokens
inserted, deleted, replaced; huge numbers, Unicode, NUL, invalid UTF-8, line breaks), and
runs check, compile, test, explain, fmt --check and graph on it in-process. Every result
must exit 0, 1 or 2, print no traceback or internal error, and give every error a code.
Prints counts per command and exit code, and the inputs that broke a rule (kept under
--keep). tests/test_fuzz_commands.py runs the same mutations briefly in the suite.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLES = sorted(p for p in (REPO / "examples").rglob("*.netpol"))

# What a mutation may insert or put in place of a word: the language's own words, and
# hostile values (those that broke it before: huge numbers, IPv4 inside IPv6, leading zeros).
TOKENS = (
    "namespace", "use", "allow", "deny", "egress", "ingress", "only", "to", "from", "for", "expect", "->",
    "allowed", "denied", "any", "all", "cluster", "world", "in", "notin", "namespaces", "except", "(", ")",
    ",", ":", "=", "!=", "==", "!", "/", "/udp", "/sctp", "#", '"', "dns", "default-deny", '"common.netpol"',
    '"../x.netpol"', '"/etc/passwd"', '"."', "app=web", "app.kubernetes.io/name=x", "tier in (a, b)",
    "in namespace kube-system", "in any namespace", "\n", "\r\n", "\t",
)
HUGE = "9" * 4301
VALUES = (
    "10.0.0.0/8", "::ffff:10.0.0.0/104", "::10.0.0.0/104", "010.0.0.0/8", "10.0.0.0/08", "[::1]", "[::ffff:1.2.3.4]",
    "2001:db8::/32", "0.0.0.0/0", "::/0", "8.8.8.8", "999.1.1.1", "1" * 5000 + ".0.0.0/8", "10.0.0.0/" + "9" * 5000,
    "::" + "0" * 3000 + "/8", "80", "0", "65535", "65536", "99999", "1-65535", "8080-80", "metrics", "a--b",
    HUGE, ":" + HUGE, "app=db:" + HUGE, "app=db:1-" + HUGE, "10.0.0.0/8:" + HUGE, ":" + "0" * 100 + "80",
    ":" + ",".join(map(str, range(1, 3000))), "app=" + "x" * 300, "x" * 300 + "=y",
    "\x00", "\ufeff", "\r", "\f", "\u2028", "\u00a0", "é", "٣", "²", "🙂", "\u202e", " " * 50,
)
NUMBERS = (HUGE, "9" * 4300, "0" * 100 + "80", "0", "65536", "99999", "1" * 19, "00", "٣", "²", "1-" + HUGE, HUGE + "-1")
CHARACTERS = "aZ09=-_./:,()!#\"' \t\n\x00é٣²🙂\u2028"
MAX_OPERATIONS = 4
KINDS = ("insert", "delete", "replace", "replace-token", "replace-number", "duplicate-line")


# ---------------------------------------------------------------- mutations


def apply(text: str, operations: list[tuple[str, float, int, str]]) -> str:
    """Each operation: (kind, where as a fraction of the text, how many characters, what to put)."""
    for kind, where, length, payload in operations:
        at = int(where * len(text))
        if kind == "insert":
            text = text[:at] + payload + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + length :]
        elif kind == "replace":
            text = text[:at] + payload + text[at + length :]
        elif kind in ("replace-token", "replace-number"):  # in code, not in a comment: code is what the compiler reads
            words = _code_words(text, r"\S+" if kind == "replace-token" else r"[0-9]+")
            if words:
                begin, finish = words[int(where * len(words)) % len(words)]
                text = text[:begin] + payload + text[finish:]
        elif kind == "duplicate-line":
            lines = text.split("\n")
            line = int(where * len(lines)) % len(lines)
            lines.insert(line, lines[line] * max(1, length % 4))
            text = "\n".join(lines)
    return text


def _code_words(text: str, pattern: str) -> list[tuple[int, int]]:
    """(start, end) of each match of `pattern` before the `#` of its line."""
    words, offset = [], 0
    for line in text.split("\n"):
        code = line.split("#", 1)[0]
        words += [(offset + m.start(), offset + m.end()) for m in re.finditer(pattern, code)]
        offset += len(line) + 1
    return words


def random_operations(rng: random.Random) -> list[tuple[str, float, int, str]]:
    operations = []
    # One mutation often: an input still valid enough to reach lowering, the proof and the engine.
    for _ in range(rng.choice((1, 1, 1, 2, 3, MAX_OPERATIONS))):
        kind = rng.choices(KINDS, weights=(2, 1, 1, 3, 4, 1))[0]
        pick = rng.random()
        if kind == "replace-number" and pick < 0.8:
            payload = rng.choice(NUMBERS)
        elif pick < 0.4:
            payload = rng.choice(TOKENS)
        elif pick < 0.7:
            payload = rng.choice(VALUES)
        else:
            payload = "".join(rng.choice(CHARACTERS) for _ in range(rng.randint(1, 8)))
        operations.append((kind, rng.random(), rng.randint(1, 40), payload))
    return operations


def operations_strategy():
    """The same operations for hypothesis (imported only by the test, not by the script)."""
    from hypothesis import strategies as st

    payload = st.one_of(
        st.sampled_from(TOKENS), st.sampled_from(VALUES), st.sampled_from(NUMBERS), st.text(min_size=1, max_size=8), st.text(alphabet=CHARACTERS, min_size=1, max_size=8)
    )
    operation = st.tuples(
        st.sampled_from(KINDS),
        st.floats(0, 1, exclude_max=True),
        st.integers(1, 40),
        payload,
    )
    return st.lists(operation, min_size=1, max_size=MAX_OPERATIONS)


def write_case(folder: Path, example: Path, text: str, broken_bytes: bool = False) -> Path:
    """A copy of the example's folder with its file replaced by `text` (its UTF-8 cut short when `broken_bytes`)."""
    shutil.copytree(example.parent, folder, ignore=shutil.ignore_patterns("compiled", "*.svg"))
    target = folder / example.name
    data = text.encode("utf-8")
    if broken_bytes:
        data = data[: len(data) // 2] + b"\xff\xfe" + data[len(data) // 2 :]
    target.write_bytes(data)
    return target


# ---------------------------------------------------------------- commands and the rules they must keep

HEADER = re.compile(r":\d+:\d+: (error|warning|info)\b(\[NP\d{3}\])?")


def commands(folder: Path, target: Path) -> list[list[str]]:
    return [
        ["check", str(folder)],
        ["compile", str(folder)],
        ["test", str(folder)],
        ["explain", str(folder), "-n", "shop", "app=web -> app=api:8080"],
        ["fmt", "--check", str(target)],
        ["graph", str(folder)],
    ]


def broken_rule(args: list[str], code: int, out: str, err: str) -> str | None:
    """What a run did wrong, or None."""
    output = out + err
    if code not in (0, 1, 2):
        return f"exit code {code}"
    if "Traceback" in output or "internal error" in output:
        return "internal error: " + next(line for line in output.splitlines() if "Traceback" in line or "internal error" in line)
    for line in output.splitlines():
        match = HEADER.search(line)
        if match and line.startswith(("/", ".", "<")) and not match.group(2):
            return f"diagnostic without a code: {line[:200]}"
    coded = re.search(r": error\[NP\d{3}\]: ", output)
    if code == 2 and not coded:
        return "exit 2 without a coded error: " + output[:300]
    if code == 1 and not coded and not (args[0] == "fmt" and "would reformat" in err):
        return "exit 1 without a coded error: " + output[:300]
    if code == 0 and coded:
        return "exit 0 with an error"
    return None


def run_case(folder: Path, target: Path, run_cli, counts: Counter | None = None) -> list[str]:
    problems = []
    for args in commands(folder, target):
        run = run_cli(*args)
        if counts is not None:
            counts[(args[0], run.code)] += 1
        problem = broken_rule(args, run.code, run.out, run.err)
        if problem:
            problems.append(f"netpolc {' '.join(a if len(a) < 60 else a[:57] + '...' for a in args)}: {problem}")
    return problems


# ---------------------------------------------------------------- the long run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="folder to copy the inputs that broke a rule into")
    options = parser.parse_args()

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import run_cli  # the in-process command line of the suite (it changes to the repository)

    rng = random.Random(options.seed)
    counts: Counter = Counter()
    failures = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="netpolc-fuzz-") as tmp:
        for number in range(options.runs):
            example = rng.choice(EXAMPLES)
            text = apply(example.read_text("utf-8"), random_operations(rng))
            folder = Path(tmp) / f"case{number}"
            target = write_case(folder, example, text, broken_bytes=rng.random() < 0.03)
            problems = run_case(folder, target, run_cli, counts)
            if problems:
                failures += 1
                print(f"case {number} ({example.relative_to(REPO)}):", *problems, sep="\n  ")
                if options.keep:
                    shutil.copytree(folder, options.keep / f"case{number}", dirs_exist_ok=True)
            shutil.rmtree(folder)
            if (number + 1) % 100 == 0:
                print(f"{number + 1} runs, {failures} broke a rule, {time.monotonic() - started:.0f} s", flush=True)
    print(f"\n{options.runs} mutated inputs, {sum(counts.values())} command runs, {failures} inputs broke a rule")
    for command in ("check", "compile", "test", "explain", "fmt", "graph"):
        print(f"  {command:8} " + ", ".join(f"exit {code}: {counts[(command, code)]}" for code in (0, 1, 2) if counts[(command, code)]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
