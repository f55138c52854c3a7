"""One fixture per diagnostic code (ruff-style): each fixture states the diagnostics it must give.

A fixture is `tests/diagnostics/CODE_name.netpol`, or a folder `CODE_name/` compiled as
one project. Lines `# expect: CODE [FILE:]LINE:COL` list exactly the diagnostics the
fixture must produce (FILE relative to the fixture folder).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.diagnostics import registry
from compiler.pipeline import build
from compiler.resolve import expand_inputs

FIXTURES = Path(__file__).parent / "diagnostics"
EXPECT = re.compile(r"#\s*expect:\s*(NP\d{3})\s+(?:(\S+):)?(\d+):(\d+)")


def fixtures() -> list[Path]:
    return sorted(p for p in FIXTURES.iterdir() if p.suffix == ".netpol" or p.is_dir())


def expected(fixture: Path) -> set[tuple[str, str, int, int]]:
    files = [fixture] if fixture.is_file() else sorted(fixture.rglob("*.netpol"))
    out = set()
    for file in files:
        for match in EXPECT.finditer(file.read_text("utf-8")):
            code, name, line, column = match.groups()
            target = (fixture / name) if name else file
            out.add((code, target.relative_to(Path.cwd()).as_posix(), int(line), int(column)))
    return out


@pytest.mark.parametrize("fixture", fixtures(), ids=lambda p: p.name)
def test_fixture_gives_exactly_its_diagnostics(fixture):
    want = expected(fixture)
    assert want, f"{fixture.name} states no `# expect:` line"
    inputs = expand_inputs([str(fixture / "project") if (fixture / "project").is_dir() else str(fixture)])
    result = build(inputs)
    got = {(d.code, d.span.file, d.span.line, d.span.column) for d in result.diagnostics}
    assert got == want
    for d in result.diagnostics:
        assert d.message and d.hint, f"{d.code} needs a message and a hint"


def test_every_code_has_a_fixture_or_a_test():
    """A code nobody can trigger in a test is a code nobody knows works."""
    fixture_codes = {p.name[:5] for p in fixtures()}
    test_text = "\n".join(p.read_text("utf-8") for p in Path(__file__).parent.glob("test_*.py") if p.name != Path(__file__).name)
    missing = [code for code in registry() if code not in fixture_codes and code not in test_text]
    assert not missing, f"codes without a fixture or a test: {missing}"


def test_registry_rows_are_complete():
    for code, info in registry().items():
        assert re.fullmatch(r"NP\d{3}", code)
        assert re.fullmatch(r"[a-z]+(-[a-z0-9]+)*", info.name), code
        assert info.severity in ("error", "warning", "info"), code
        assert info.summary.endswith("."), code
    names = [info.name for info in registry().values()]
    assert len(names) == len(set(names)), "diagnostic names must be unique"
