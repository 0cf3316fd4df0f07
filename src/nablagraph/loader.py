"""Seeded mini-batches for a hand-written training loop: :class:`DataLoader` and :func:`batches`.

The same batches :func:`~nablagraph.nn.fit` uses: each epoch draws one permutation of
the rows from a ``numpy.random.Generator`` seeded once (``seed=0`` by default), takes
the rows in that order and cuts them into slices of ``batch_size`` (the last one
shorter unless ``drop_last=True``).  So a manual loop over
``DataLoader(X, Y, batch_size, seed=s)`` with the same optimizer reproduces
``fit(..., seed=s)`` bit for bit (tested).

Batches are NumPy arrays (views of one shuffled copy per epoch); models and costs take
them as they are.  Available as ``nablagraph.data.DataLoader`` and
``nablagraph.data.batches``.

Imports: ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, DataError, ShapeError

__all__ = ["DataLoader", "batches"]


def _rows(where: str, what: str, A: Any) -> np.ndarray:
    arr = np.asarray(A.data if hasattr(A, "_data") else A)
    if arr.ndim == 0:
        raise ShapeError(f"{where}: {what} must have one example per row, got a 0-d value")
    return arr


class DataLoader:
    """Mini-batches of ``(X, Y)`` (or of ``X`` alone), reshuffled every epoch.

    Parameters
    ----------
    X : array_like, shape (n, ...)
        Inputs, one example per row.
    Y : array_like, shape (n, ...), optional
        Targets, row ``i`` for example ``i``.  Without it the batches are ``X`` slices.
    batch_size : int
        Rows per batch ``M ≥ 1``.
    shuffle : bool
        Draw a new order of the rows at the start of every epoch (every ``iter()``).
    seed : int or numpy.random.Generator, optional
        Seeds the order (``0`` by default, as :func:`~nablagraph.nn.fit`); a generator
        is used, and advanced, as it is.
    drop_last : bool
        Skip the last batch of an epoch when it is shorter than ``batch_size``.

    Examples
    --------
    >>> import numpy as np
    >>> from nablagraph.data import DataLoader
    >>> loader = DataLoader(np.arange(10.0).reshape(5, 2), np.arange(5), batch_size=2, seed=0)
    >>> len(loader), [yb.tolist() for _, yb in loader]
    (3, [[2, 4], [3, 0], [1]])
    """

    def __init__(self, X: Any, Y: Any = None, batch_size: int = 32, shuffle: bool = True,
                 seed: int | np.random.Generator | None = 0, drop_last: bool = False) -> None:
        self.X = _rows("DataLoader", "X", X)
        self.Y = None if Y is None else _rows("DataLoader", "Y", Y)
        if self.Y is not None and len(self.Y) != len(self.X):
            raise ShapeError(
                f"DataLoader: X has {len(self.X)} rows but Y has {len(self.Y)}; "
                "they must hold one row per example"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ConfigError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator)):
            raise ConfigError(
                f"DataLoader: seed must be an int or a numpy.random.Generator, got {type(seed).__name__}"
            )
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n = len(self.X)
        self.n_used = (n // self.batch_size) * self.batch_size if self.drop_last else n
        if self.n_used == 0:
            raise DataError(
                f"DataLoader: no batch to give: {n} examples"
                + (f" and drop_last=True with batch_size={self.batch_size}" if n else "")
            )

    def __len__(self) -> int:
        """Batches per epoch, ``⌈n / M⌉`` (``⌊n / M⌋`` with ``drop_last``)."""
        return -(-self.n_used // self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        if self.shuffle:
            order = self.rng.permutation(len(self.X))  # as fit: one draw per epoch
            Xs = self.X[order]
            Ys = None if self.Y is None else self.Y[order]
        else:
            Xs, Ys = self.X, self.Y
        for s in range(0, self.n_used, self.batch_size):
            if Ys is None:
                yield Xs[s : s + self.batch_size]
            else:
                yield Xs[s : s + self.batch_size], Ys[s : s + self.batch_size]

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.X)} examples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, {len(self)} batches)")


def batches(X: Any, Y: Any = None, batch_size: int = 32, shuffle: bool = True,
            seed: int | np.random.Generator | None = 0, drop_last: bool = False) -> Iterator[Any]:
    """One epoch of mini-batches: ``iter(DataLoader(X, Y, batch_size, shuffle, seed, drop_last))``.

    Examples
    --------
    >>> import numpy as np
    >>> from nablagraph.data import batches
    >>> [xb.shape for xb, yb in batches(np.zeros((5, 2)), np.zeros(5), batch_size=2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    return iter(DataLoader(X, Y, batch_size, shuffle, seed, drop_last))
