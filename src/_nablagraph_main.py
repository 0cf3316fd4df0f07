"""The ``nablagraph`` command's entry point, outside the package on purpose.

Importing ``nablagraph`` (NumPy and the library) takes about half a second; a Ctrl-C
or SIGTERM in that time would otherwise end in a ``KeyboardInterrupt`` traceback,
because any module inside the package runs ``nablagraph/__init__.py`` first.  This
module imports nothing but the standard library before it is ready for them, so an
interrupt during start-up is one line and exit code 130 (SIGINT) or 143 (SIGTERM),
like an interrupt at any later moment (see :func:`nablagraph.cli.main`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Any

__all__ = ["main"]


class _StartupTerminated(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main() -> int:
    """Run ``nablagraph`` with ``sys.argv``; return its exit code."""

    def terminated(signum: int, frame: Any) -> None:
        raise _StartupTerminated(signum)

    previous: Any = None
    try:
        try:
            previous = signal.getsignal(signal.SIGTERM)
            if previous is not signal.SIG_IGN:
                signal.signal(signal.SIGTERM, terminated)
            from nablagraph.cli import main as cli_main
        finally:
            if previous is not None and previous is not signal.SIG_IGN:
                signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, _StartupTerminated) else int(signal.SIGINT)
        with contextlib.suppress(OSError, ValueError):
            print(f"nablagraph: interrupted ({signal.Signals(signum).name}) while starting; "
                  "nothing was written", file=sys.stderr, flush=True)
        return 128 + signum
    return cli_main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
