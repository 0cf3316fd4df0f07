"""How an optimizer lays out and walks its memory: one flat buffer, or cache-sized blocks.

With ``flat=True`` (see :class:`~nablagraph.nn.optimizer.Optimizer`) every parameter
and every gradient lives in one contiguous buffer, as views: :func:`_flat_buffers`
moves the parameters there and :class:`_FlatGrads` holds the gradient buffer ``G``,
its views and the rule for when the engine and ``step()`` may write into them.

A large parameter (from ``PARALLEL_MIN`` elements, see :mod:`nablagraph.parallel`)
is updated block by block by :func:`_blockwise`, the blocks shared among threads:
one pass over memory instead of three, with the same numbers.

Imports: ``tensor``, ``parallel``, ``errors``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError
from nablagraph.parallel import block_size, blocks, get_num_threads, kernel_key


class _FlatGrads:
    """A flat optimizer's gradient buffer ``G`` and one view of it per parameter.

    Each parameter's ``_gradbuf`` is its view (the engine writes the next gradient
    there) and ``_gradowner`` this object, which tells the engine
    whether a view may be written: only while nothing outside holds a view of ``G``
    (a gradient array or a slice of one a user kept).  ``refs`` is the reference count
    of ``G`` when only this object and its views hold it, measured at creation.
    """

    __slots__ = ("G", "views", "refs")

    def __init__(self, params: list[Tensor], dtype: Any, total: int) -> None:
        G = np.zeros(total, dtype=dtype)
        self.views: list[np.ndarray] = []
        off = 0
        for p in params:
            n = p.size
            g = G[off:off + n].reshape(p.shape)
            self.views.append(g)
            p._gradbuf = g  # the engine writes the next gradient here
            p._gradowner = self
            off += n
        self.G = G
        del G, g
        self.refs = 0
        self.refs = self._count()

    def _count(self) -> int:
        return sys.getrefcount(self.G)

    def writable(self, params: list[Tensor], todo: list[int]) -> bool:
        """Whether ``step()`` may write into the views ``todo`` (parameters whose
        gradient is not in its view already): nobody holds them or a view of ``G``."""
        if sys.getrefcount(self.G) > self.refs:  # (_count, inlined)
            return False
        for i in todo:
            g = self.views[i]
            kept = 1 if params[i]._gradbuf is g else 0
            if sys.getrefcount(g) > 3 + kept:  # views, `g`, the call (+ _gradbuf)
                return False
        return True


def _flat_buffers(owner: str, params: list[Tensor]) -> tuple[Tensor, _FlatGrads]:
    """Move ``params`` into one contiguous buffer, as views, with a matching gradient buffer.

    The work of ``Optimizer._make_flat``: the parameters keep their values (a new home
    is not an in-place change); a gradient already set outside any graph is copied into
    its view, any other is dropped.  Returns the parameter buffer, as one tensor, and
    the gradients.
    """
    dtypes = {p.dtype for p in params}
    if len(dtypes) != 1:
        raise ConfigError(
            f"{owner}(flat=True): the parameters have several dtypes "
            f"({', '.join(sorted(str(d) for d in dtypes))}); a flat buffer needs one"
        )
    dtype = dtypes.pop()
    total = sum(p.size for p in params)
    W = np.empty(total, dtype=dtype)
    off = 0
    for p in params:
        n = p.size
        w = W[off:off + n].reshape(p.shape)
        w[...] = p._data
        p._data = w  # same values, new home: not an in-place change
        off += n
    grads = _FlatGrads(params, dtype, total)
    for p, g in zip(params, grads.views):
        if p.grad is not None and not p.grad.requires_grad:
            g[...] = p.grad._data
            p.grad = Tensor(g)
            p._gradbuf = None
        else:
            p.grad = None
    return Tensor(W, requires_grad=True, name="flat parameters"), grads


def _contiguous(*arrays: np.ndarray) -> bool:
    shape = arrays[0].shape
    return all(a.flags.c_contiguous and a.shape == shape for a in arrays)


def _blockwise(
    kernel: Any, w: np.ndarray, g: np.ndarray, state: list[np.ndarray], c: tuple[Any, ...],
    buffers: dict[tuple[int, Any], np.ndarray],
) -> None:
    """Run ``kernel`` over cache-sized blocks of flat views, shared among threads.

    A block is :func:`~nablagraph.parallel.block_size` elements of ``w``'s dtype
    (256 KiB); without state (plain SGD) no per-block list of state views is built.
    """
    wf, gf = w.reshape(-1), g.reshape(-1)
    states = [b.reshape(-1) for b in state]
    dtype = w.dtype
    size = block_size(dtype)
    scratch = []
    for k in range(get_num_threads()):  # per-thread scratch, made here (not in the threads)
        s = buffers.get((k, dtype))
        if s is None or s.size != size:
            s = buffers[(k, dtype)] = np.empty(size, dtype=dtype)
        scratch.append(s)

    if states:
        def block(k: int, a: int, b: int) -> None:
            kernel(wf[a:b], gf[a:b], [f[a:b] for f in states], scratch[k][: b - a], c)
    else:
        def block(k: int, a: int, b: int) -> None:
            kernel(wf[a:b], gf[a:b], states, scratch[k][: b - a], c)

    # the thread count is measured per kernel and size (nablagraph.parallel)
    owner = getattr(kernel, "__self__", None)
    name = type(owner).__name__ if owner is not None else getattr(kernel, "__name__", "update")
    blocks(block, wf.size, key=kernel_key(f"{name} update", dtype), block=size)

