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


def inputs(paths: list[str]):
    from ..resolve import InputError, expand_inputs

    try:
        return expand_inputs(paths)
    except InputError as err:
        raise UsageError(str(err)) from None


def check_format(fmt: str, formats) -> None:
    if fmt not in formats:
        raise UsageError(f"unknown --format {fmt!r}; choose from {', '.join(formats)}")
