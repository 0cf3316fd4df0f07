"""Elementwise work on large arrays, in cache-sized blocks shared among threads.

NumPy runs each ufunc call on one core and, for an expression of several calls,
streams every intermediate array through memory.  For arrays of at least
:data:`PARALLEL_MIN` elements nablagraph instead cuts the flat array into blocks of
:data:`BLOCK` elements (256 KiB of float64: a block and its temporaries stay in the
CPU cache between calls) and shares the blocks out among :func:`get_num_threads`
threads — NumPy releases the GIL inside its loops.  Each element goes through the same
operations either way, so the numbers do not depend on the blocking or the number of
threads.

Who uses it: the optimizers' updates (:class:`~nablagraph.SGD`, :class:`~nablagraph.Adam`:
one pass over ``w`` and ``g`` instead of three) and ``sigmoid`` with its VJP.  Matrix
products are BLAS's business and follow its own thread setting
(``OPENBLAS_NUM_THREADS`` …).

The thread count is the ``NABLAGRAPH_NUM_THREADS`` environment variable, else the
number of CPUs the process may use (at most 8); :func:`set_num_threads` changes it:

>>> import nablagraph as ng
>>> n = ng.get_num_threads()
>>> ng.set_num_threads(1)      # everything on the calling thread
>>> ng.get_num_threads()
1
>>> ng.set_num_threads(n)

Imports: ``errors``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError

__all__ = ["PARALLEL_MIN", "BLOCK", "get_num_threads", "set_num_threads", "blocks"]

#: Arrays with at least this many elements are processed block by block, in threads.
PARALLEL_MIN = 1 << 18
#: Elements per block.
BLOCK = 1 << 15

_pool: Any = None
_pool_workers = 0
_pool_pid = 0
_pool_lock = threading.Lock()
_threads: int | None = None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for elementwise work on large arrays (``1``: the calling
    thread only).  BLAS (matrix products) keeps its own setting.  Safe to call while
    other threads compute: work already split keeps its split."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _threads = n


def get_num_threads() -> int:
    """The number of threads for elementwise work on large arrays (see the module)."""
    global _threads
    if _threads is None:
        env = os.environ.get("NABLAGRAPH_NUM_THREADS")
        if env is not None:
            try:
                value = int(env)
            except ValueError:
                value = 0
            if value < 1:
                raise ConfigError(f"NABLAGRAPH_NUM_THREADS must be a positive integer, got {env!r}")
            _threads = value
        else:
            try:
                cpus = len(os.sched_getaffinity(0))
            except AttributeError:  # not on Linux
                cpus = os.cpu_count() or 1
            _threads = max(1, min(cpus, 8))
    return _threads


def _executor(workers: int) -> Any:
    """A worker pool with at least ``workers`` threads.

    Made anew in a forked child (whose threads are gone) or when more workers are
    asked for; a pool that is replaced is never shut down, so a thread still holding
    it can submit to it (its idle workers exit once it is garbage-collected).
    """
    global _pool, _pool_pid, _pool_workers
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_workers < workers:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nablagraph")
            _pool_pid = os.getpid()
            _pool_workers = workers
        return _pool


def blocks(fn: Callable[[int, int, int], None], n: int, threads: int | None = None) -> None:
    """Call ``fn(worker, lo, hi)`` for consecutive blocks ``[lo, hi)`` covering
    ``range(n)``, the blocks shared among up to ``threads`` (default
    :func:`get_num_threads`) threads, each given at least ``PARALLEL_MIN / 2``
    elements.  ``worker`` numbers the thread (``0`` is the caller, always below
    ``threads``), so ``fn`` can keep per-thread scratch buffers.

    The worker threads run under the caller's ``np.errstate`` (NumPy keeps it per
    thread).  An exception is raised after every block has finished; the caller's own
    comes first, else the first worker's.
    """
    limit = get_num_threads() if threads is None else threads
    parts = min(limit, max(1, 2 * n // PARALLEL_MIN))

    def part(k: int, lo: int, hi: int) -> None:
        for a in range(lo, hi, BLOCK):
            fn(k, a, min(a + BLOCK, hi))

    if parts == 1:
        part(0, 0, n)
        return
    err = np.geterr()

    def worker(k: int, lo: int, hi: int) -> None:
        with np.errstate(**err):
            part(k, lo, hi)

    bounds = [n * k // parts for k in range(parts + 1)]
    pool = _executor(parts - 1)
    futures = [pool.submit(worker, k, bounds[k], bounds[k + 1]) for k in range(1, parts)]
    try:
        part(0, bounds[0], bounds[1])
    except BaseException:
        for f in futures:
            f.exception()  # wait; the caller's error is the one to report
        raise
    for f in futures:
        f.result()
