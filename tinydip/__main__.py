"""``python -m tinydip``: the same command line as the ``tinydip`` console script."""

from __future__ import annotations

import sys

from tinydip.cli.entry import main

if __name__ == "__main__":
    sys.exit(main())
