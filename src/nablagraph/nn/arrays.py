"""Reading user data as numbers: :func:`as_numeric_array` and its error messages.

Inputs and targets come as arrays, tensors or nested lists.  A ragged list, strings,
complex numbers or objects that are not numbers are refused with a typed error that
names the first place at fault (``row 2``, ``X[0][1]``, ``row 2, column 1``).

Imports: ``tensor``, ``errors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import DTypeError, ShapeError

__all__ = ["as_numeric_array", "index_text"]


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.ndim > 0)


@dataclass(frozen=True)
class _Place:
    """Names item ``i`` of a nested list: ``row i`` at the top, else ``X[0][i]``."""

    path: str
    top: bool

    def __call__(self, i: int) -> str:
        return f"row {i}" if self.top else f"{self.path}[{i}]"


def _ragged(x: Any, name: str) -> str | None:
    """Where a nested list stops being rectangular, in words, or ``None``."""
    stack: list[tuple[Any, str]] = [(x, name)]
    while stack:
        seq, path = stack.pop()
        items = list(seq)
        if not items:
            continue
        nested = [_is_sequence(v) for v in items]
        at = _Place(path, path == name)
        if any(nested) and not all(nested):
            i = nested.index(not nested[0])
            return (f"{at(0)} is {'a list' if nested[0] else 'a single value'} but {at(i)} is "
                    f"{'a list' if nested[i] else 'a single value'}")
        if all(nested):
            lens = [len(v) for v in items]
            for i, n in enumerate(lens):
                if n != lens[0]:
                    s = "s" if n != 1 else ""
                    s0 = "s" if lens[0] != 1 else ""
                    return f"{at(0)} has {lens[0]} value{s0} but {at(i)} has {n} value{s}"
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(items))))
    return None


def index_text(idx: tuple[int, ...]) -> str:
    """Words for an index into examples-as-rows data: ``row 2``, ``row 2, column 1``."""
    if len(idx) == 1:
        return f"row {idx[0]}"
    if len(idx) == 2:
        return f"row {idx[0]}, column {idx[1]}"
    return f"index ({', '.join(str(i) for i in idx)})"


def as_numeric_array(x: Any, where: str, what: str) -> np.ndarray:
    """``x`` as an array of real numbers, or a typed error that says what is wrong.

    Ragged nested lists raise :class:`ShapeError` naming the first row that differs;
    strings, complex numbers and objects that are not numbers raise
    :class:`DTypeError` naming the dtype (and, for object arrays, the first element
    that is not a number).  The array is returned as it is (no dtype conversion).
    """
    raw = x.data if isinstance(x, Tensor) else x
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as exc:
        place = _ragged(raw, what) if _is_sequence(raw) else None
        if place is not None:
            raise ShapeError(
                f"{where}: {what} is ragged: {place}; every example (row) must have the same "
                "number of values"
            ) from None
        raise DTypeError(f"{where}: {what} cannot be read as an array of numbers ({exc})") from None
    kind = arr.dtype.kind
    if kind in "fiub":
        return arr
    if kind == "c":
        raise DTypeError(
            f"{where}: {what} must hold numbers, got dtype {arr.dtype} (complex); a network's "
            "inputs and targets are real (take .real or np.abs first)"
        )
    if kind == "O":
        numbers = (int, float, np.integer, np.floating, np.bool_)
        for k, v in enumerate(arr.flat):
            if not isinstance(v, numbers):
                idx = tuple(int(i) for i in np.unravel_index(k, arr.shape))
                raise DTypeError(
                    f"{where}: {what} must hold numbers, got dtype object with {v!r} "
                    f"({type(v).__name__}) at {index_text(idx)}"
                )
        return arr.astype(np.float64)
    hint = " (strings); convert them with np.asarray(x, dtype=float)" if kind in "US" else ""
    raise DTypeError(f"{where}: {what} must hold numbers, got dtype {arr.dtype}{hint}")
