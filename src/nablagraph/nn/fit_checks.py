"""Checks of what :func:`nablagraph.nn.fit` is given, before the first step.

Settings (integers in range), inputs (numeric, one example per row, finite) and
targets (one per example, class labels in range, finite, in the cost's domain).  Each
error names ``fit``, the argument, what it got and what was expected.

Imports: ``errors``, ``tensor``, ``nn.module``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, DataError, LabelError, ShapeError
from nablagraph.nn.module import as_numeric_array, index_text


def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"fit: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"fit: {name} must be at least {minimum}, got {value}")
    return int(value)


def _raw(a: Any) -> np.ndarray:
    return np.asarray(a.data if isinstance(a, Tensor) else a)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _non_finite(a: np.ndarray) -> tuple[str, int, tuple[int, ...]] | None:
    """``(what, count, first index)`` of the NaN or infinite values of ``a``, if any."""
    if a.dtype.kind != "f":
        return None
    with np.errstate(over="ignore"):
        if np.isfinite(a.sum()):  # a NaN or inf anywhere makes the sum one
            return None
    bad = ~np.isfinite(a)
    if not bad.any():  # the sum overflowed; every value is finite
        return None
    first = _first(bad)
    nan, inf = bool(np.isnan(a).any()), bool(np.isinf(a).any())
    what = "NaN and infinite values" if nan and inf else "NaN" if nan else "infinite values"
    return what, int(bad.sum()), first


def _check_inputs(X: Any, dtype: np.dtype[Any], what: str) -> np.ndarray:
    x = as_numeric_array(X, "fit", what)
    if x.ndim == 0:
        raise ShapeError(f"fit: {what} must have one example per row, got a scalar")
    if x.shape[0] == 0:
        raise DataError(f"fit: {what} is empty (0 examples, shape {x.shape})")
    x = np.asarray(x, dtype=dtype)
    found = _non_finite(x)
    if found is not None:
        kind, count, first = found
        raise DataError(
            f"fit: {what} contains {kind} ({count} of {x.size} values, first at "
            f"{index_text(first)}: {x[first]}); clean or impute the data first"
        )
    return x


def _one_hot(labels: np.ndarray, n: int, dtype: np.dtype[Any]) -> np.ndarray:
    out = np.zeros((labels.shape[0], n), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _check_target_values(y: np.ndarray, cost_name: str | None, what: str) -> None:
    """Refuse targets no training can fit: non-finite ones, and values the cost excludes."""
    found = _non_finite(y)
    if found is not None:
        kind, count, first = found
        raise LabelError(
            f"fit: {what} contains {kind} ({count} of {y.size} values, first at "
            f"{index_text(first)}: {y[first]}); targets must be finite"
        )
    if cost_name == "cross_entropy" and y.size and y.min() < 0:
        bad = y < 0
        first = _first(bad)
        raise LabelError(
            f"fit: {what} holds {y[first]:g} at {index_text(first)} ({int(bad.sum())} of {y.size} "
            "values negative); cross_entropy targets must be non-negative (one-hot rows or "
            "probabilities), else the cost is unbounded below"
        )
    if cost_name == "binary_cross_entropy" and y.size and (y.min() < 0 or y.max() > 1):
        bad = (y < 0) | (y > 1)
        first = _first(bad)
        raise LabelError(
            f"fit: {what} holds {y[first]:g} at {index_text(first)} ({int(bad.sum())} of {y.size} "
            "values outside [0, 1]); binary_cross_entropy targets must lie in [0, 1]"
        )


def _check_targets(
    Y: Any, n_rows: int, width: int, dtype: np.dtype[Any], keep_labels: bool, what: str,
    cost_name: str | None = None,
) -> np.ndarray:
    y = as_numeric_array(Y, "fit", what)
    if y.ndim == 0 or y.shape[0] != n_rows:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]} row{'s' if y.shape[0] != 1 else ''} (shape {y.shape})"
        raise ShapeError(
            f"fit: {what} has {got} but the inputs have {n_rows} rows; there must be one "
            "target per example"
        )
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind in "iu" and y.ndim == 1:
        hi = max(width, 2) - 1
        if y.min() < 0 or y.max() > hi:
            bad = (y < 0) | (y > hi)
            row = _first(bad)[0]
            raise LabelError(
                f"fit: {what} holds class labels, which must be in [0, {hi}] for a model with "
                f"{width} output{'s' if width > 1 else ''}; got {y[row]} at row {row} "
                f"({int(bad.sum())} of {y.size} labels out of range)"
            )
        if width == 1:
            return y.astype(dtype).reshape(-1, 1)
        return y.astype(np.int64) if keep_labels else _one_hot(y, width, dtype)
    y = np.asarray(y, dtype=dtype)
    _check_target_values(y, cost_name, what)
    if y.ndim == 1:
        if width != 1:
            raise ShapeError(
                f"fit: {what} is 1-D with dtype {y.dtype} but the model has {width} outputs; pass "
                f"integer class labels (y.astype(int)) or targets of shape ({n_rows}, {width})"
            )
        return y.reshape(-1, 1)
    if y.ndim == 2 and y.shape[1] != width:
        raise ShapeError(
            f"fit: {what} has shape {y.shape} but the model has {width} outputs; expected "
            f"({n_rows}, {width}) or integer labels of shape ({n_rows},)"
        )
    return y
