"""Reductions: ``sum`` and ``mean`` over axes; their VJPs broadcast ``g`` back.

Imports: ``ops.registry`` and NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph.ops.registry import _axis_shape, _sum, defop

__all__ = ["MEAN", "SUM"]


def _sum_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: Any, keepdims: bool) -> tuple[Any, ...]:
    if axis is not None and not keepdims:
        g = F.reshape(g, _axis_shape(tuple(x.shape), axis))
    return (F.broadcast_to(g, tuple(x.shape)),)


SUM = defop("sum", _sum, _sum_vjp, "Σ over axes", kind="reduction", rule="g broadcast back to x's shape")


def _mean_forward(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.mean(x, axis=axis, keepdims=keepdims)


def _mean_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: Any, keepdims: bool) -> tuple[Any, ...]:
    n = x.size // max(out.size, 1) if out.size else 1
    if axis is not None and not keepdims:
        g = F.reshape(g, _axis_shape(tuple(x.shape), axis))
    return (F.broadcast_to(g / n, tuple(x.shape)),)


MEAN = defop("mean", _mean_forward, _mean_vjp, "mean over axes", kind="reduction", rule="g / n broadcast back to x's shape (n entries averaged)")
