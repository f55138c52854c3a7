"""`netpolc cni list` and `netpolc cni show NAME[@VERSION]`: the capability tables, as the checks read them."""

from __future__ import annotations

import sys

from . import EXIT_OK, UsageError

COLUMNS = ("feature", "status", "since", "consequence", "source")


def run_list() -> int:
    from ..targets import list_targets, load_target, summary_line

    for name in list_targets():
        sys.stdout.write(summary_line(load_target(name)[0]) + "\n")
    return EXIT_OK


def run_show(spec: str) -> int:
    from ..targets import TargetError, describe_table, load_target

    try:
        target, version = load_target(spec)
    except TargetError as err:
        raise UsageError(f"{err.message}; {err.hint}") from None
    if version:
        at = f"at version {version}"
    elif target.latest_version:
        at = f"at {target.latest_version}, the newest version the table knows (pick another with {target.name}@VERSION)"
    else:
        at = "at every version"
    lines = [f"{target.name}: {target.display_name}, {at}", target.description]
    if target.extends:
        lines.append(f"Rows not listed in {target.name}.toml come from {target.extends}.")
    rows = [COLUMNS, *describe_table(target, version)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines.append("")
    for row in rows:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    if target.notes:
        lines += ["", "Notes:"] + [f"- {note}" for note in target.notes]
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")
    return EXIT_OK
