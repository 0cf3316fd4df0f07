"""How much memory there is, and how to say how much something needs.

Models estimate the bytes of their parameters *before* allocating them and refuse,
with a :class:`~nablagraph.errors.ResourceError`, sizes that cannot fit
(:func:`check_fits`); the command line uses the same estimate.

The memory available is, in order of preference:

1. ``MemAvailable`` from ``/proc/meminfo`` (Linux: what can be allocated without
   swapping), lowered to what a cgroup v2 memory limit still allows when the process
   runs under one (containers);
2. the physical memory from ``os.sysconf`` (``SC_PHYS_PAGES × SC_PAGE_SIZE``);
3. unknown (``None``): the check is skipped.

Imports: ``errors`` only.
"""

from __future__ import annotations

import os

from nablagraph.errors import ResourceError

__all__ = ["available_memory", "format_bytes", "check_fits"]

#: Allocations below this many bytes (1 MiB) are not checked: any machine running Python
#: has that much, and reading ``/proc/meminfo`` costs about 0.1 ms per model built.
SMALL = 1 << 20

_MEMINFO = "/proc/meminfo"  # paths as text: pathlib would add ~5 ms to ``import nablagraph``
_CGROUP = "/sys/fs/cgroup"


def _read(path: str | os.PathLike[str], errors: str = "strict") -> str:
    with open(path, encoding="ascii", errors=errors) as f:
        return f.read()


def _meminfo_available() -> int | None:
    try:
        text = _read(_MEMINFO, errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            try:
                value = int(parts[1])
            except (IndexError, ValueError):
                return None
            unit = parts[2].lower() if len(parts) > 2 else "b"
            return value * (1024 if unit == "kb" else 1)
    return None


def _cgroup_room() -> int | None:
    """Bytes a cgroup v2 ``memory.max`` still allows, or ``None`` without a limit."""
    try:
        limit = _read(os.path.join(_CGROUP, "memory.max")).strip()
        if limit == "max":
            return None
        used = int(_read(os.path.join(_CGROUP, "memory.current")).strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def _sysconf_total() -> int | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if pages <= 0 or size <= 0:
        return None
    return int(pages) * int(size)


def available_memory() -> int | None:
    """Bytes of memory this process can still allocate, or ``None`` when unknown.

    ``MemAvailable`` from ``/proc/meminfo`` (capped by a cgroup v2 limit), else the
    physical memory reported by ``os.sysconf``, else ``None``.

    Examples
    --------
    >>> from nablagraph._memory import available_memory
    >>> n = available_memory()
    >>> n is None or n >= 0
    True
    """
    avail = _meminfo_available()
    if avail is not None:
        room = _cgroup_room()
        return avail if room is None else min(avail, room)
    return _sysconf_total()


def format_bytes(n: int | float) -> str:
    """``n`` bytes in decimal units with one decimal: ``24.0 GB``, ``512 B``.

    Examples
    --------
    >>> from nablagraph._memory import format_bytes
    >>> format_bytes(24_000_000_016), format_bytes(512), format_bytes(1536)
    ('24.0 GB', '512 B', '1.5 kB')
    """
    if n < 1000:
        return f"{int(n)} B"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        value /= 1000.0
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value:.3g} ZB"


def check_fits(what: str, nbytes: int, available: int | None = None) -> None:
    """Raise :class:`ResourceError` when ``nbytes`` exceed the memory available.

    Parameters
    ----------
    what : str
        The message up to the available memory, naming the caller and what needs the
        memory, with ``{need}`` where the size goes, e.g.
        ``"Network: sizes [2, 1000000000, 1] need {need} for parameters (float64)"``;
        the check appends ``" but only 21.3 GB of memory is available"``.
    nbytes : int
        Bytes the allocation needs.
    available : int, optional
        Bytes available; by default :func:`available_memory` (the check is skipped
        when that is unknown, and for allocations below :data:`SMALL`).

    Examples
    --------
    >>> from nablagraph._memory import check_fits
    >>> check_fits("x: {need} for data", 3 * 10**9, available=2 * 10**9)
    Traceback (most recent call last):
    ...
    nablagraph.errors.ResourceError: x: 3.0 GB for data but only 2.0 GB of memory is available
    """
    if available is None and nbytes < SMALL:
        return  # not worth reading /proc/meminfo (about 0.1 ms) for
    avail = available_memory() if available is None else available
    if avail is not None and nbytes > avail:
        raise ResourceError(
            f"{what.replace('{need}', format_bytes(nbytes))} but only {format_bytes(avail)} "
            "of memory is available"
        )
