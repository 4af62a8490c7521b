"""The ``tinydip`` console script: start-up itself answers Ctrl-C with one line (exit 130).

Importing the command line pulls in NumPy, numba and every command (a second or more);
a Ctrl-C in that window would otherwise print an import traceback.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from .main import main as run
    except KeyboardInterrupt:
        print("tinydip: interrupted", file=sys.stderr)
        return 130
    return run(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
