"""The ``nablagraph`` command's entry point, outside the package on purpose.

Importing ``nablagraph`` (NumPy and the library) takes about half a second; a Ctrl-C
or SIGTERM in that time would otherwise end in a traceback (a ``KeyboardInterrupt``,
or an ``ImportError`` when NumPy's C extensions are interrupted while loading),
because any module inside the package runs ``nablagraph/__init__.py`` first.  This
module needs only the standard library: while the library is imported it holds
SIGINT and SIGTERM back (noting them instead of raising in the middle of an import),
and if one arrived it stops there with one line and exit code 130 (SIGINT) or 143
(SIGTERM), as an interrupt at any later moment does (see :func:`nablagraph.cli.main`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

__all__ = ["main"]


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def main() -> int:
    """Run ``nablagraph`` with ``sys.argv``; return its exit code."""
    pending: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        pending.append(signum)

    saved: list[tuple[int, Any]] = []
    for signum in (int(signal.SIGINT), int(signal.SIGTERM)):
        previous = signal.getsignal(signum)
        if previous is not signal.SIG_IGN:  # a signal the parent ignores stays ignored
            signal.signal(signum, hold)
            saved.append((signum, previous))
    try:
        from nablagraph.cli import main as cli_main
    except Exception as exc:
        if not pending:
            if os.environ.get("NABLAGRAPH_DEBUG", "") not in ("", "0"):
                raise
            first = (str(exc).strip().splitlines() or [""])[0]
            _say(f"nablagraph: cannot start: {type(exc).__name__}: {first} (the installation is "
                 "broken: reinstall nablagraph; NABLAGRAPH_DEBUG=1 shows the traceback)")
            return 1
    finally:
        for signum, previous in saved:
            signal.signal(signum, previous)
    if pending:
        _say(f"nablagraph: interrupted ({signal.Signals(pending[0]).name}) while starting; nothing was written")
        return 128 + pending[0]
    return cli_main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
