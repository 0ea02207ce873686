"""``python -m fastact``: the command line lives in ``fastact._tools.cli`` (never imported by the
runtime)."""

import sys

from ._tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
