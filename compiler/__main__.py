"""`python -m compiler` and the `netpolc` command."""

import os
import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["check"]:
        # The pre-commit / editor path: answer without importing the full command line.
        try:
            from .commands.check import fast_main

            code = fast_main(argv[1:])
        except KeyboardInterrupt:
            return 130
        except Exception as err:  # same last line of defence as the full command line
            if os.environ.get("NETPOLC_DEBUG"):
                raise
            sys.stderr.write(f"netpolc: internal error: {type(err).__name__}: {err} (set NETPOLC_DEBUG=1 for details; please report it)\n")
            return 2
        if code is not None:
            return code
    from .cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
