"""``python -m nablagraph``: the same as the ``nablagraph`` command.

(Python imports the package before this module runs, so an interrupt during that
import is Python's own; the ``nablagraph`` command's launcher, ``_nablagraph_main``,
covers start-up too.)
"""

import sys

from nablagraph.cli import main

if __name__ == "__main__":
    sys.exit(main())
