"""Shape ops: reshape, transpose, indexing and its adjoint scatter, broadcast_to and
its adjoint sum_to, concatenate and stack.  Each moves entries without arithmetic, so each VJP
is another shape op.

Imports: ``errors``, ``ops.registry`` and NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph.errors import ShapeError
from nablagraph.ops.registry import (
    _broadcast_detail,
    _scatter,
    _transpose,
    defop,
    shape_text,
    sum_to,
)

__all__ = [
    "BROADCAST_TO", "CONCATENATE", "GETITEM", "RESHAPE", "SCATTER", "STACK", "SUM_TO", "TRANSPOSE",
    "IndexShapeError",
]


def _reshape_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, shape: Any) -> tuple[Any, ...]:
    return (F.reshape(g, tuple(x.shape)),)


def _reshape_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    (x,) = inputs
    return (
        f"reshape: cannot reshape a tensor of shape {shape_text(x.shape)} "
        f"({x.size} elements) into shape {tuple(params[0])}"
    )


RESHAPE = defop("reshape", np.reshape, _reshape_vjp, "same data, new shape", _reshape_error,
                kind="shape", rule="g reshaped back to x's shape")


def _transpose_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axes: Any) -> tuple[Any, ...]:
    inv = None if axes is None else tuple(int(i) for i in np.argsort(axes))
    return (F.transpose(g, inv),)


TRANSPOSE = defop("transpose", _transpose, _transpose_vjp, "permute axes (reverse by default)",
                  kind="shape", rule="g transposed by the inverse permutation")


class IndexShapeError(ShapeError, IndexError):
    """An index out of range: a :class:`ShapeError` that is also an ``IndexError``.

    Being an ``IndexError`` lets Python's iteration protocol (``for row in t``, which
    calls ``t[0]``, ``t[1]``, ... until an ``IndexError``) stop at the end of the first
    axis, and lets ``except IndexError`` catch it as for any sequence.
    """


def _getitem(x: np.ndarray, index: Any) -> np.ndarray:
    try:
        return np.asarray(x[index])
    except IndexError as exc:
        raise IndexShapeError(_getitem_text(x.shape, index, exc)) from None


def _getitem_text(shape: tuple[int, ...], index: Any, exc: Exception) -> str:
    return f"getitem: index {index!r} is invalid for a tensor of shape {shape_text(shape)}: {exc}"


def _getitem_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, index: Any) -> tuple[Any, ...]:
    return (F.scatter(g, tuple(x.shape), index),)


def _getitem_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    return _getitem_text(inputs[0].shape, params[0], exc)


GETITEM = defop("getitem", _getitem, _getitem_vjp, "x[index] (slices, integers, arrays)", _getitem_error,
                kind="shape", rule="zeros of x's shape with g added at the index")


def _scatter_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, shape: Any, index: Any) -> tuple[Any, ...]:
    return (F.getitem(g, index),)


SCATTER = defop("scatter", _scatter, _scatter_vjp, "zeros(shape) with x added at index; adjoint of getitem",
                kind="shape", rule="g[index]")


def _broadcast_to_forward(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(x, shape)


def _broadcast_to_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, shape: Any) -> tuple[Any, ...]:
    return (F.sum_to(g, tuple(x.shape)),)


def _broadcast_to_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    shape, target = tuple(inputs[0].shape), tuple(params[0])
    why = (
        f"the target has fewer axes ({len(target)}) than the input ({len(shape)})"
        if len(target) < len(shape)
        else _broadcast_detail([shape, target])
    )
    return f"broadcast_to: cannot broadcast shape {shape_text(shape)} to {shape_text(target)}: {why}"


BROADCAST_TO = defop(
    "broadcast_to", _broadcast_to_forward, _broadcast_to_vjp, "repeat along size-1 axes",
    _broadcast_to_error, kind="shape", rule="g summed back down to x's shape",
)


def _sum_to_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, shape: Any) -> tuple[Any, ...]:
    return (F.broadcast_to(g, tuple(x.shape)),)


def _sum_to_forward(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    try:
        ok = np.broadcast_shapes(shape, x.shape) == x.shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(
            f"sum_to: cannot sum shape {shape_text(x.shape)} down to {shape_text(shape)}; "
            "the target must broadcast to the input's shape (sum_to is the adjoint of "
            "broadcast_to)"
        )
    return sum_to(x, shape)


SUM_TO = defop("sum_to", _sum_to_forward, _sum_to_vjp, "sum down to a shape; adjoint of broadcast_to",
               kind="shape", rule="g broadcast back to x's shape")


def _concatenate_forward(*args: Any) -> np.ndarray:
    *arrays, axis = args
    return np.concatenate(arrays, axis=axis)


def _concatenate_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, *args: Any) -> tuple[Any, ...]:
    *xs, axis = args
    ax = axis % out.ndim
    grads: list[Any] = []
    start = 0
    for x, need in zip(xs, needs):
        n = x.shape[ax]
        grads.append(F.getitem(g, (slice(None),) * ax + (slice(start, start + n),)) if need else None)
        start += n
    return tuple(grads)


def _concatenate_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    shapes = ", ".join(shape_text(t.shape) for t in inputs)
    axis, nd = params[0], inputs[0].ndim
    if nd == 0:
        return f"concatenate: cannot join 0-d tensors (shapes {shapes}); reshape them to 1-D first"
    if not -nd <= axis < nd:
        return (
            f"concatenate: axis {axis} is out of range for tensors of shapes {shapes} "
            f"(valid axes: {-nd} to {nd - 1})"
        )
    return (
        f"concatenate: cannot join shapes {shapes} along axis {axis}; all other axes "
        "must have equal sizes"
    )


CONCATENATE = defop(
    "concatenate", _concatenate_forward, _concatenate_vjp, "join along an axis", _concatenate_error,
    kind="shape", rule="each input gets its slice of g along the axis",
)


def _stack_forward(*args: Any) -> np.ndarray:
    *arrays, axis = args
    return np.stack(arrays, axis=axis)


def _stack_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, *args: Any) -> tuple[Any, ...]:
    ax = args[-1] % out.ndim  # args: the inputs, then the axis
    return tuple(F.getitem(g, (slice(None),) * ax + (i,)) if need else None
                 for i, need in enumerate(needs))


def _stack_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    shapes = [tuple(t.shape) for t in inputs]
    axis, nd = params[0], len(shapes[0]) + 1
    if len(set(shapes)) > 1:
        return (f"stack: all tensors must have the same shape, got "
                f"{', '.join(shape_text(s) for s in shapes)}")
    return (f"stack: axis {axis} is out of range for stacking tensors of shape "
            f"{shape_text(shapes[0])} (valid axes: {-nd} to {nd - 1})")


STACK = defop("stack", _stack_forward, _stack_vjp, "join along a new axis", _stack_error,
              kind="shape", rule="input i gets g's slice i along the new axis")
