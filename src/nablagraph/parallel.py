"""Elementwise work on large arrays, in cache-sized blocks shared among threads.

NumPy runs each ufunc call on one core and, for an expression of several calls,
streams every intermediate array through memory.  For arrays of at least
:data:`PARALLEL_MIN` elements nablagraph instead cuts the flat array into blocks of
:data:`BLOCK_BYTES` (256 KiB: :func:`block_size` elements of the array's dtype, so a
block and its temporaries stay in the CPU cache between calls) and shares the blocks out among :func:`get_num_threads`
threads — NumPy releases the GIL inside its loops.  Each element goes through the same
operations either way, so the numbers do not depend on the blocking or the number of
threads.

Who uses it: the optimizers' updates (:class:`~nablagraph.SGD`, :class:`~nablagraph.Adam`:
one pass over ``w`` and ``g`` instead of three) and ``sigmoid`` with its VJP.  Matrix
products are BLAS's business and follow its own thread setting
(``OPENBLAS_NUM_THREADS`` …).

Threads do not always pay: on two cores the helper thread competes with BLAS's own
workers (OpenBLAS keeps them spinning for a while after each matrix product, and a
second OpenBLAS — SciPy's, loaded by scikit-learn — brings a second pool).  So unless
the thread count was set, each kernel *measures* at first use: for each kernel and
size (a power-of-two bucket of the element count, and the dtype) its first
:data:`TUNE_CALLS` calls per candidate alternate between one thread and
:func:`get_num_threads`, timed where they really run (inside the training step); then
the kernel keeps the faster, and more than one thread only when it was at least
:data:`TUNE_MARGIN` faster; it measures again every :data:`RETUNE_EVERY` calls.
:func:`thread_choices` shows what was chosen.  The numbers never depend on the choice.

The thread count is the ``NABLAGRAPH_NUM_THREADS`` environment variable (then fixed,
no measuring), else the number of CPUs the process may use (at most 8);
:func:`set_num_threads` fixes it:

>>> import nablagraph as ng
>>> ng.set_num_threads(1)      # everything on the calling thread
>>> ng.get_num_threads()
1
>>> ng.set_num_threads(None)   # back to the default: measured per kernel

Imports: ``errors``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError

__all__ = ["PARALLEL_MIN", "BLOCK", "BLOCK_BYTES", "block_size", "get_num_threads", "set_num_threads", "blocks", "thread_choices", "kernel_key"]

#: Arrays with at least this many elements are processed block by block, in threads.
PARALLEL_MIN = 1 << 18
#: Bytes per block: 256 KiB, which with a kernel's scratch block stays in a core's cache.
BLOCK_BYTES = 1 << 18
#: Elements per block of float64 (the default of :func:`blocks`).
BLOCK = BLOCK_BYTES // 8


def block_size(dtype: Any) -> int:
    """Elements per block for arrays of ``dtype``: :data:`BLOCK_BYTES` of them.

    Sized in bytes rather than elements, a float32 array is cut into half as many
    blocks as a float64 one of the same length, so the Python between two blocks is
    paid half as often for the same cache footprint (W3's float32 SGD update of 269,322
    elements: 9 blocks → 5, 200 → 179 µs).
    """
    return max(1, BLOCK_BYTES // np.dtype(dtype).itemsize)

_pool: Any = None
_pool_workers = 0
_pool_pid = 0
_pool_lock = threading.Lock()
_threads: int | None = None
_fixed = False  # the count was set (environment or set_num_threads): no measuring

#: Timed calls per candidate thread count before a kernel settles on one.
TUNE_CALLS = 5
#: More threads are kept only when their median time is below this fraction of one thread's.
TUNE_MARGIN = 0.9
#: A kernel measures again after this many calls with its choice (the load changes).
RETUNE_EVERY = 2000
#: (kernel, size bucket) -> the thread count chosen, or the timings so far.
_tuned: dict[tuple[str, int], int] = {}
_trials: dict[tuple[str, int], dict[int, list[float]]] = {}
_medians: dict[tuple[str, int], dict[int, float]] = {}
_calls: dict[tuple[str, int], int] = {}


def set_num_threads(n: int | None) -> None:
    """Use ``n`` threads for elementwise work on large arrays (``1``: the calling
    thread only), without measuring; ``None`` goes back to the default (the
    environment, else the CPUs, measured per kernel).  BLAS (matrix products) keeps its
    own setting.  Safe to call while other threads compute: work already split keeps
    its split."""
    global _threads, _fixed
    if n is None:
        _threads, _fixed = None, False
        return
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"set_num_threads: n must be a positive integer, got {n!r} (None: back to the default)")
    _threads = n
    _fixed = True


def get_num_threads() -> int:
    """The number of threads for elementwise work on large arrays (see the module)."""
    global _threads, _fixed
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
            _fixed = True
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


def thread_choices() -> dict[str, tuple[int, dict[int, float]]]:
    """What each measured kernel settled on: by ``"kernel dtype, 2^k+ elements"``, the
    thread count chosen and the median seconds of a call with each candidate count
    (empty until a large kernel has run :data:`TUNE_CALLS` times per candidate, and
    while the count is fixed)."""
    return {f"{key}, 2^{bucket - 1}+ elements": (n, _medians.get((key, bucket), {}))
            for (key, bucket), n in sorted(_tuned.items())}


_keys: dict[tuple[str, str], str] = {}


def kernel_key(name: str, dtype: np.dtype[Any]) -> str:
    """``"name dtype"``, the ``key`` of :func:`blocks` for a kernel on arrays of
    ``dtype`` (cached: formatting a dtype's name costs microseconds, every call)."""
    key = _keys.get((name, dtype.char))
    if key is None:
        key = _keys[(name, dtype.char)] = f"{name} {dtype}"
    return key


def _candidates(limit: int) -> tuple[int, ...]:
    return (1, limit) if limit <= 2 else (1, 2, limit)


def _pick(key: tuple[str, int], limit: int) -> tuple[int, dict[int, list[float]] | None]:
    """The thread count for the next call of a kernel, and the trial record to time it
    into (``None`` once the kernel has settled)."""
    chosen = _tuned.get(key)
    if chosen is not None:
        calls = _calls[key] = _calls.get(key, 0) + 1
        if calls < RETUNE_EVERY:
            return min(chosen, limit), None
        _tuned.pop(key, None)  # the machine's load changes: measure again (pop: another
        _calls[key] = 0        # thread may have got here first)
    trials = _trials.setdefault(key, {})
    cands = _candidates(limit)
    done = sum(len(trials.get(c, ())) for c in cands)
    return cands[done % len(cands)], trials


def _settle(key: tuple[str, int], trials: dict[int, list[float]], limit: int) -> None:
    """Keep the faster thread count once every candidate has been timed enough."""
    cands = _candidates(limit)
    if any(len(trials.get(c, ())) < TUNE_CALLS for c in cands):
        return
    med = {c: sorted(trials[c])[len(trials[c]) // 2] for c in cands}
    best = min(cands, key=lambda c: med[c])
    _medians[key] = med
    _tuned[key] = best if med[best] < TUNE_MARGIN * med[1] else 1
    _trials.pop(key, None)


def blocks(fn: Callable[[int, int, int], None], n: int, threads: int | None = None,
           key: str | None = None, block: int = BLOCK) -> None:
    """Call ``fn(worker, lo, hi)`` for consecutive blocks ``[lo, hi)`` of ``block``
    elements (the last may be shorter) covering ``range(n)``, the blocks shared among up to ``threads`` (default: the count
    measured for ``key``, see the module, else :func:`get_num_threads`) threads, each
    given at least ``PARALLEL_MIN / 2`` elements.  ``worker`` numbers the thread
    (``0`` is the caller, always below :func:`get_num_threads`), so ``fn`` can keep
    per-thread scratch buffers.  ``key`` names the kernel (with its dtype) for the
    measurement; calls of one key must do the same work per element.

    The worker threads run under the caller's ``np.errstate`` (NumPy keeps it per
    thread).  An exception is raised after every block has finished; the caller's own
    comes first, else the first worker's.
    """
    limit = get_num_threads() if threads is None else threads
    if threads is None and key is not None and not _fixed and limit > 1 and n >= PARALLEL_MIN:
        bucket = (key, n.bit_length())
        threads, trials = _pick(bucket, limit)
        if trials is not None:
            t0 = time.perf_counter()
            _run_blocks(fn, n, threads, block)
            trials.setdefault(threads, []).append(time.perf_counter() - t0)
            _settle(bucket, trials, limit)
            return
        limit = threads
    _run_blocks(fn, n, limit, block)


def _run_blocks(fn: Callable[[int, int, int], None], n: int, limit: int, block: int) -> None:
    parts = min(limit, max(1, 2 * n // PARALLEL_MIN))

    def part(k: int, lo: int, hi: int) -> None:
        for a in range(lo, hi, block):
            fn(k, a, min(a + block, hi))

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
