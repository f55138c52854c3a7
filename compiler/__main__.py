"""`python -m compiler` and the `netpolc` command."""

import sys


def main() -> int:
    from .cli import main as run

    return run(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
