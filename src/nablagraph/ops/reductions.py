"""Reductions: ``sum``, ``mean``, ``max`` and ``min`` over axes; their VJPs broadcast ``g`` back.

Imports: ``ops.registry`` and NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph.ops.registry import _axis_shape, _sum, defop, shape_text

__all__ = ["MAX", "MEAN", "MIN", "SUM"]


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


# max and min: the gradient goes to the entries that attain the extreme.  Ties split it
# evenly (each of k tied entries gets g/k), as PyTorch's amax/amin and the full
# reduction x.max() do and as our elementwise maximum does; PyTorch's x.max(dim) instead
# gives all of it to the one index it returns.  Away from ties both agree, and the
# derivative is the indicator of the arg-extreme.
def _extreme_error(name: str) -> Any:
    def text(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
        shape, axis = tuple(inputs[0].shape), params[0]
        if "zero-size" in str(exc) or "identity" in str(exc):
            over = "an empty tensor" if axis is None else f"axis {axis}, which is empty"
            return f"{name}: cannot take the {name}imum over {over} (shape {shape_text(shape)})"
        return f"{name}: invalid axis {axis!r} for a tensor of shape {shape_text(shape)}: {exc}"

    return text


def _extreme_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: Any, keepdims: bool) -> tuple[Any, ...]:
    xd, od = F.data(x), F.data(out)
    kept = (1,) * xd.ndim if axis is None else _axis_shape(tuple(xd.shape), axis)
    hit = xd == np.reshape(od, kept)
    share = (hit / hit.sum(axis=axis, keepdims=True)).astype(xd.dtype)  # 1/k on each of k ties
    return (F.reshape(g, kept) * share,)


def _max_forward(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.max(x, axis=axis, keepdims=keepdims)


def _min_forward(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.min(x, axis=axis, keepdims=keepdims)


MAX = defop("max", _max_forward, _extreme_vjp, "max over axes (ties split the gradient)",
            _extreme_error("max"), kind="reduction", smooth=False,
            rule="g to the entries equal to the max (k ties share g/k each), 0 elsewhere")
MIN = defop("min", _min_forward, _extreme_vjp, "min over axes (ties split the gradient)",
            _extreme_error("min"), kind="reduction", smooth=False,
            rule="g to the entries equal to the min (k ties share g/k each), 0 elsewhere")
