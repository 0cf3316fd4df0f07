"""``python -m nablagraph.cli``: the same as the ``nablagraph`` command."""

import sys

from nablagraph.cli import main

if __name__ == "__main__":
    sys.exit(main())
