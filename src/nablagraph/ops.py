"""Every primitive op: its forward and its vector-Jacobian product, side by side.

The rules every entry obeys
---------------------------
1. ``forward(*arrays, *params) -> ndarray`` works on raw NumPy arrays only.  ``params``
   are the op's non-tensor arguments (axis, shape, index, slope, labels ...).
2. ``vjp(F, needs, g, out, *inputs, *params) -> tuple`` returns one gradient per tensor
   input, or ``None`` where ``needs[i]`` is false (no work is done for inputs that do
   not require a gradient, such as the data ``X`` and targets ``Y``).
   ``g`` is ``∂C/∂out``, ``out`` is the op's output, ``inputs`` its inputs.
3. A VJP is written once, with Python operators and the functions of the namespace
   ``F``.  The engine passes raw arrays and the NumPy namespace :data:`RAW` for an
   ordinary backward pass, or tensors and :mod:`nablagraph.functional` when
   ``create_graph=True``: the same rule then records its own graph, which is how
   second derivatives work.  Constants (masks, one-hot labels) are built from
   ``F.data(x)`` so they never enter the graph.
4. A VJP may return a gradient of the *broadcast* shape; the engine, not the rule,
   sums it back to the input's shape (``sum_to``) and then checks the shape.
5. Costs follow the notes: ``C = (1/M) Σ_m C_m``, an average over the ``M`` examples
   of the batch (the first axis), each ``C_m`` a sum over the output neurons.

To add an op, write its two functions here, register them with :func:`defop`, expose
a user function in :mod:`nablagraph.functional`, and add a gradient-test entry in
``tests/test_ops_gradcheck.py`` (a completeness test fails until you do).

This module imports ``errors``, ``parallel`` (blocks and threads for large elementwise
work) and NumPy only.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph.errors import LabelError, NablaGraphError, ShapeError
from nablagraph.parallel import PARALLEL_MIN, blocks

__all__ = ["Op", "OPS", "defop", "RAW", "sum_to", "shape_text", "IndexShapeError"]

VJP = Callable[..., tuple[Any, ...]]


def shape_text(shape: tuple[int, ...]) -> str:
    """``(3, 4)`` as text, ``()`` for scalars."""
    return str(tuple(shape))


class Op:
    """A registered primitive: a name, a forward on arrays and a VJP."""

    __slots__ = ("name", "forward", "vjp", "doc", "_error", "writes_into")

    def __init__(
        self,
        name: str,
        forward: Callable[..., np.ndarray],
        vjp: VJP,
        doc: str = "",
        error: Callable[[tuple[Any, ...], tuple[Any, ...], Exception], str] | None = None,
        writes_into: bool = False,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjp = vjp
        self.doc = doc
        self._error = error
        #: The VJP takes ``dest=`` (one optional buffer per input) in an ordinary
        #: backward pass and may write that input's gradient straight into it.
        self.writes_into = writes_into

    def input_error(
        self, inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception
    ) -> NablaGraphError:
        """Turn a NumPy error raised in ``forward`` into a message naming this op."""
        if self._error is not None:
            return ShapeError(self._error(inputs, params, exc))
        shapes = " and ".join(shape_text(t.shape) for t in inputs)
        if len(inputs) >= 2 and "broadcast" in str(exc):
            return ShapeError(
                f"{self.name}: shapes {shapes} cannot be broadcast together "
                f"({_broadcast_detail([t.shape for t in inputs])})"
            )
        return ShapeError(f"{self.name}: invalid input of shape {shapes}: {exc}")

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}


def defop(
    name: str,
    forward: Callable[..., np.ndarray],
    vjp: VJP,
    doc: str = "",
    error: Callable[[tuple[Any, ...], tuple[Any, ...], Exception], str] | None = None,
    writes_into: bool = False,
) -> Op:
    """Register a primitive op and return it."""
    if name in OPS:
        raise ValueError(f"defop: an op named {name!r} is already registered")
    op = Op(name, forward, vjp, doc, error, writes_into)
    OPS[name] = op
    return op


def _broadcast_detail(shapes: list[tuple[int, ...]]) -> str:
    nd = max(len(s) for s in shapes)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
    for axis in range(nd):
        sizes = {p[axis] for p in padded} - {1}
        if len(sizes) > 1:
            got = " vs ".join(str(p[axis]) for p in padded)
            return f"axis {axis - nd} (counted from the end: {-(axis - nd)}): sizes {got}; " \
                "sizes must be equal or 1"
    return "no compatible broadcast"


# --------------------------------------------------------------------- helpers
def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting ``shape`` to ``x.shape``."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1
    )
    r = x.sum(axis=axes, keepdims=True) if axes else x
    return r.reshape(shape)


def _scatter(g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices add up)."""
    z = np.zeros(shape, dtype=g.dtype)
    np.add.at(z, index, g)
    return z


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # σ(z) = 1 / (1 + e^{-z}), in one buffer. Accurate to the last bit for every z
    # (the tanh form ½ tanh(z/2) + ½ loses all relative accuracy below z ≈ −30). For
    # very negative z, e^{-z} overflows to inf and σ rounds to 0, the right answer; the
    # overflow warning is silenced only when it can happen (np.errstate costs ~2 µs).
    # Large arrays go block by block, in threads (nablagraph.parallel): same numbers.
    if x.size >= PARALLEL_MIN and type(x) is np.ndarray and x.flags.c_contiguous:
        t = np.empty_like(x)
        xf, tf = x.reshape(-1), t.reshape(-1)

        def block(k: int, a: int, b: int) -> None:
            np.negative(xf[a:b], out=tf[a:b])
            _sigmoid_of_negative(tf[a:b])

        blocks(block, tf.size)
        return t
    t = np.negative(x)
    if not isinstance(t, np.ndarray):  # a 0-d input gives a NumPy scalar, not a buffer
        t = np.asarray(t)
    _sigmoid_of_negative(t)
    return t


def _sigmoid_of_negative(t: np.ndarray) -> None:
    """``t ← 1 / (1 + e^t)`` in place (``t = −z``)."""
    if t.size and _max(t, axis=None) > _EXP_SAFE.get(t.dtype, 10.0):
        with np.errstate(over="ignore"):
            np.exp(t, out=t)
    else:
        np.exp(t, out=t)
    t += 1
    np.reciprocal(t, out=t)


_max = np.maximum.reduce  # ndarray.max goes through a Python wrapper
_add_reduce: Any = np.add.reduce

# Largest argument for which exp does not overflow, with margin, per dtype.
_EXP_SAFE = {np.dtype(np.float64): 700.0, np.dtype(np.float32): 85.0, np.dtype(np.float16): 10.0}


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    s = x - x.max(axis=axis, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return s


def _mT(x: np.ndarray) -> np.ndarray:
    return x.T if x.ndim == 2 else x.swapaxes(-1, -2)  # methods skip np.swapaxes' dispatch


def _transpose(x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
    return np.transpose(x, axes)


def _sum(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    # The ufunc's reduce directly: np.sum and ndarray.sum both go through Python wrappers
    # (which also count booleans as integers, as np.add.reduce would not).
    if x.dtype.kind == "b":
        return x.sum(axis=axis, keepdims=keepdims)
    return _add_reduce(x, axis=axis, keepdims=keepdims)


def _data(x: Any) -> Any:
    return x


#: The namespace VJPs use in an ordinary backward pass: plain NumPy.
RAW = types.SimpleNamespace(
    exp=np.exp,
    log=np.log,
    sqrt=np.sqrt,
    tanh=np.tanh,
    sigmoid=_sigmoid,
    softmax=_softmax,
    log_softmax=_log_softmax,
    clip=np.clip,
    sum=_sum,
    sum_to=sum_to,
    broadcast_to=np.broadcast_to,
    reshape=np.reshape,
    transpose=_transpose,
    mT=_mT,
    matmul=np.matmul,
    getitem=lambda x, index: x[index],
    scatter=_scatter,
    data=_data,
)


def _axis_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as size 1."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = len(shape)
    axes = tuple(a % nd for a in axes)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _batch_size(a: np.ndarray) -> int:
    """M, the number of examples: the first axis (a 0-d value is one example)."""
    return a.shape[0] if a.ndim >= 1 else 1


def _as_float(v: Any, like: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=like.dtype if like.dtype.kind == "f" else np.float64)


# ================================================================ arithmetic
def _add_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return (g if needs[0] else None, g if needs[1] else None)


ADD = defop("add", np.add, _add_vjp, "x + y (broadcasting)")


def _sub_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return (g if needs[0] else None, -g if needs[1] else None)


SUB = defop("sub", np.subtract, _sub_vjp, "x - y (broadcasting)")


def _mul_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return (g * y if needs[0] else None, g * x if needs[1] else None)


MUL = defop("mul", np.multiply, _mul_vjp, "x ⊙ y, the Hadamard product (broadcasting)")


def _div_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    gx = g / y if needs[0] else None
    gy = -(g * out) / y if needs[1] else None
    return (gx, gy)


DIV = defop("div", np.true_divide, _div_vjp, "x / y (broadcasting)")


def _pow_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    gx = g * y * x ** (y - 1) if needs[0] else None
    gy = g * out * F.log(x) if needs[1] else None
    return (gx, gy)


POW = defop("pow", np.power, _pow_vjp, "x ** y with a tensor exponent (d/dy needs x > 0)")


def _pow_scalar_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, p: float) -> tuple[Any, ...]:
    if p == 0:
        return (g * 0,)
    if p == 1:
        return (g,)
    if p == 2:
        return (g * (2 * x),)
    return (g * (p * x ** (p - 1)),)


POW_SCALAR = defop("pow_scalar", np.power, _pow_scalar_vjp, "x ** p for a constant number p")


def _neg_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (-g,)


NEG = defop("neg", np.negative, _neg_vjp, "-x")


def _matmul_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(
            f"matmul: operands must be at least 1-D, got shapes {shape_text(a.shape)} "
            f"and {shape_text(b.shape)}; use * for scalar multiplication"
        )
    return np.matmul(a, b)


def _matmul_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    a, b = inputs
    an, bn = a.name or "a", b.name or "b"
    k1 = a.shape[-1]
    k2 = b.shape[-2] if b.ndim >= 2 else b.shape[0]
    if k1 == k2:  # the contracted axes agree, so the batch axes do not broadcast
        ba, bb = a.shape[:-2], b.shape[:-2]
        return (
            f"matmul: shapes {shape_text(a.shape)} and {shape_text(b.shape)} have batch "
            f"axes {shape_text(ba)} and {shape_text(bb)} that cannot be broadcast together "
            f"({_broadcast_detail([ba, bb])})"
        )
    msg = (
        f"matmul: shapes {shape_text(a.shape)} and {shape_text(b.shape)} are not aligned "
        f"({k1} != {k2})"
    )
    if b.ndim >= 2 and b.shape[-1] == k1:
        msg += f"; did you mean {an} @ {bn}.T?"
    elif a.ndim >= 2 and a.shape[-2] == k2:
        msg += f"; did you mean {an}.T @ {bn}?"
    elif a.ndim == 1 and b.ndim == 1:
        msg += "; the two vectors must have the same length"
    else:
        last = "the length of" if b.ndim == 1 else "the second-to-last axis of"
        msg += f"; the last axis of {an} must equal {last} {bn}"
    return msg


def _matmul_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, a: Any, b: Any) -> tuple[Any, ...]:
    if a.ndim == 2 and b.ndim == 2:
        return (
            F.matmul(g, F.mT(b)) if needs[0] else None,
            F.matmul(F.mT(a), g) if needs[1] else None,
        )
    if a.ndim == 1 and b.ndim == 1:
        return (g * b if needs[0] else None, g * a if needs[1] else None)
    # Promote 1-D operands as NumPy does, then drop the inserted axis again.
    a2 = a if a.ndim > 1 else F.reshape(a, (1,) + tuple(a.shape))
    b2 = b if b.ndim > 1 else F.reshape(b, tuple(b.shape) + (1,))
    g2 = g
    if a.ndim == 1:
        g2 = F.reshape(g2, tuple(g2.shape[:-1]) + (1,) + tuple(g2.shape[-1:]))
    if b.ndim == 1:
        g2 = F.reshape(g2, tuple(g2.shape) + (1,))
    ga = gb = None
    if needs[0]:
        ga = F.matmul(g2, F.mT(b2))
        if a.ndim == 1:
            ga = F.reshape(ga, tuple(ga.shape[:-2]) + tuple(ga.shape[-1:]))
    if needs[1]:
        gb = F.matmul(F.mT(a2), g2)
        if b.ndim == 1:
            gb = F.reshape(gb, tuple(gb.shape[:-1]))
    return (ga, gb)


MATMUL = defop("matmul", _matmul_forward, _matmul_vjp, "a @ b (NumPy matmul rules)", _matmul_error)


def _linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise ShapeError(
            f"linear: input of shape {shape_text(x.shape)} has {x.shape[-1] if x.ndim else 0} "
            f"features but the weight of shape {shape_text(w.shape)} expects "
            f"{w.shape[1] if w.ndim == 2 else '?'} (W is (n_out, n_in); z = x @ W.T + b)"
        )
    out = np.matmul(x, w.T)
    if b is not None:
        if b.shape != (w.shape[0],):
            raise ShapeError(
                f"linear: bias of shape {shape_text(b.shape)} does not match "
                f"{w.shape[0]} output neurons; expected shape ({w.shape[0]},)"
            )
        out += b
    return out


def _linear_vjp(
    F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, w: Any, b: Any = None,
    dest: tuple[np.ndarray | None, ...] = (None, None, None),
) -> tuple[Any, ...]:
    # ``dest`` (ordinary backward only): buffers the engine already owns for W's and b's
    # gradients, e.g. those zero_grad() kept; writing into them saves a fresh
    # (n_out, n_in) array and a copy per step.
    gx = F.matmul(g, w) if needs[0] else None
    gw = gb = None
    if needs[1] or (len(needs) > 2 and needs[2]):
        g2 = g if g.ndim == 2 else F.reshape(g, (-1, g.shape[-1]))
        if needs[1]:
            x2 = x if x.ndim == 2 else F.reshape(x, (-1, x.shape[-1]))
            gw = F.matmul(F.mT(g2), x2) if dest[1] is None else np.matmul(g2.T, x2, out=dest[1])
        if len(needs) > 2 and needs[2]:
            gb = F.sum(g2, 0) if dest[2] is None else _add_reduce(g2, axis=0, out=dest[2])
    return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


LINEAR = defop(
    "linear",
    _linear_forward,
    _linear_vjp,
    "z = x @ W.T + b in one primitive (the notes' z^l = w^l a^{l-1} + b^l, batch as rows)",
    writes_into=True,
)


# ================================================================ elementwise
def _exp_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * out,)


EXP = defop("exp", np.exp, _exp_vjp, "e^x")


def _log_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / x,)


LOG = defop("log", np.log, _log_vjp, "natural logarithm")


def _sqrt_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (2 * out),)


SQRT = defop("sqrt", np.sqrt, _sqrt_vjp, "square root")


def _abs_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    xd = F.data(x)
    return (g * np.sign(xd),)


ABS = defop("abs", np.abs, _abs_vjp, "|x| (subgradient 0 at 0)")


def _maximum_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    xd, yd = F.data(x), F.data(y)
    dt = np.result_type(xd, yd)
    # Ties split the gradient evenly, so maximum(x, x) has derivative 1.
    wx = (xd > yd).astype(dt) + (xd == yd).astype(dt) * 0.5
    return (g * wx if needs[0] else None, g * (1 - wx) if needs[1] else None)


MAXIMUM = defop("maximum", np.maximum, _maximum_vjp, "elementwise max (ties split the gradient)")


def _clip_forward(x: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    if lo is None and hi is None:
        return x.copy()
    return np.clip(x, lo, hi)


def _clip_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, lo: Any, hi: Any) -> tuple[Any, ...]:
    xd = F.data(x)
    inside = np.ones(xd.shape, dtype=bool)
    if lo is not None:
        inside &= xd >= lo
    if hi is not None:
        inside &= xd <= hi
    return (g * inside.astype(xd.dtype),)


CLIP = defop("clip", _clip_forward, _clip_vjp, "clamp into [lo, hi] (gradient 1 inside, 0 outside)")


# =============================================================== activations
def _sigmoid_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    # σ'(z) = σ(z)(1 − σ(z)), multiplied into g; with arrays, in one buffer (the same
    # products, so the same bits, as g * (out * (1 − out))), block by block in threads
    # for large arrays.
    if F is RAW and type(g) is np.ndarray and g.ndim and g.shape == out.shape and g.dtype == out.dtype:
        t = np.empty_like(out)
        if out.size >= PARALLEL_MIN and g.flags.c_contiguous and out.flags.c_contiguous:
            gf, of, tf = g.reshape(-1), out.reshape(-1), t.reshape(-1)
            blocks(lambda k, a, b: _sigmoid_grad_into(gf[a:b], of[a:b], tf[a:b]), tf.size)
        else:
            _sigmoid_grad_into(g, out, t)
        return (t,)
    return (g * (out * (1 - out)),)


def _sigmoid_grad_into(g: np.ndarray, out: np.ndarray, t: np.ndarray) -> None:
    """``t ← g ⊙ σ(1 − σ)`` with ``σ = out``."""
    np.subtract(1, out, out=t)
    t *= out
    np.multiply(g, t, out=t)


SIGMOID = defop("sigmoid", _sigmoid, _sigmoid_vjp, "σ(z) = 1 / (1 + e^{-z})")


def _tanh_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (1 - out * out),)


TANH = defop("tanh", np.tanh, _tanh_vjp, "tanh(z)")


def _relu_forward(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _relu_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    xd = F.data(x)
    return (g * (xd > 0).astype(xd.dtype),)


RELU = defop("relu", _relu_forward, _relu_vjp, "max(z, 0) (derivative 0 at z = 0)")


def _leaky_relu_forward(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x > 0, x, x * slope)


def _leaky_relu_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, slope: float) -> tuple[Any, ...]:
    xd = F.data(x)
    return (g * np.where(xd > 0, 1.0, slope).astype(xd.dtype),)


LEAKY_RELU = defop("leaky_relu", _leaky_relu_forward, _leaky_relu_vjp, "z if z > 0 else slope·z")


def _softmax_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: int) -> tuple[Any, ...]:
    return (out * (g - F.sum(g * out, axis, True)),)


SOFTMAX = defop("softmax", _softmax, _softmax_vjp, "e^{z_j} / Σ_k e^{z_k} along an axis")


def _log_softmax_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: int) -> tuple[Any, ...]:
    return (g - F.exp(out) * F.sum(g, axis, True),)


LOG_SOFTMAX = defop("log_softmax", _log_softmax, _log_softmax_vjp, "z_j − log Σ_k e^{z_k}")


# ============================================================ shape and reduce
def _sum_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: Any, keepdims: bool) -> tuple[Any, ...]:
    if axis is not None and not keepdims:
        g = F.reshape(g, _axis_shape(tuple(x.shape), axis))
    return (F.broadcast_to(g, tuple(x.shape)),)


SUM = defop("sum", _sum, _sum_vjp, "Σ over axes")


def _mean_forward(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.mean(x, axis=axis, keepdims=keepdims)


def _mean_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: Any, keepdims: bool) -> tuple[Any, ...]:
    n = x.size // max(out.size, 1) if out.size else 1
    if axis is not None and not keepdims:
        g = F.reshape(g, _axis_shape(tuple(x.shape), axis))
    return (F.broadcast_to(g / n, tuple(x.shape)),)


MEAN = defop("mean", _mean_forward, _mean_vjp, "mean over axes")


def _reshape_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, shape: Any) -> tuple[Any, ...]:
    return (F.reshape(g, tuple(x.shape)),)


def _reshape_error(inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception) -> str:
    (x,) = inputs
    return (
        f"reshape: cannot reshape a tensor of shape {shape_text(x.shape)} "
        f"({x.size} elements) into shape {tuple(params[0])}"
    )


RESHAPE = defop("reshape", np.reshape, _reshape_vjp, "same data, new shape", _reshape_error)


def _transpose_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axes: Any) -> tuple[Any, ...]:
    inv = None if axes is None else tuple(int(i) for i in np.argsort(axes))
    return (F.transpose(g, inv),)


TRANSPOSE = defop("transpose", _transpose, _transpose_vjp, "permute axes (reverse by default)")


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


GETITEM = defop("getitem", _getitem, _getitem_vjp, "x[index] (slices, integers, arrays)", _getitem_error)


def _scatter_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, shape: Any, index: Any) -> tuple[Any, ...]:
    return (F.getitem(g, index),)


SCATTER = defop("scatter", _scatter, _scatter_vjp, "zeros(shape) with x added at index; adjoint of getitem")


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
    _broadcast_to_error,
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


SUM_TO = defop("sum_to", _sum_to_forward, _sum_to_vjp, "sum down to a shape; adjoint of broadcast_to")


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
    "concatenate", _concatenate_forward, _concatenate_vjp, "join along an axis", _concatenate_error
)


# ===================================================================== costs
def _check_targets(op: str, a: np.ndarray, y: np.ndarray) -> None:
    if a.shape != y.shape:
        hint = ""
        if a.size == y.size:
            hint = f"; reshape the targets with y.reshape{shape_text(a.shape)}"
        raise ShapeError(
            f"{op}: outputs have shape {shape_text(a.shape)} but targets have shape "
            f"{shape_text(y.shape)}; they must be equal (no broadcasting in costs){hint}"
        )
    _check_finite(op, y)


def _first_index(mask: np.ndarray) -> str:
    """``(i, j, ...)`` of the first ``True`` in ``mask`` (row-major order)."""
    idx = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return "(" + ", ".join(str(int(i)) for i in idx) + (",)" if len(idx) == 1 else ")")


def _check_finite(op: str, y: np.ndarray) -> None:
    """Refuse NaN or infinite targets: no cost of them is finite, and no step can fix it."""
    if y.dtype.kind == "f" and y.size:
        s = y.sum()
        if not np.isfinite(s):  # one pass; locate only on failure (a finite overflow passes)
            nan = np.isnan(y)
            bad = nan if nan.any() else np.isinf(y)
            if bad.any():
                what = "NaN" if bad is nan else "infinite values"
                raise LabelError(
                    f"{op}: targets contain {what} ({int(bad.sum())} of {y.size} values); "
                    f"the first is at index {_first_index(bad)}"
                )


_check_nan = _check_finite  # the older name, kept for callers outside this module


def _quadratic_forward(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    _check_targets("quadratic_cost", a, y)
    d = a - y
    return np.asarray(0.5 * np.vdot(d, d) / _batch_size(a), dtype=d.dtype)


def _quadratic_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, a: Any, y: Any) -> tuple[Any, ...]:
    ga = a - y  # ∇_a C = (a − y) / M, in the buffer of a − y when the dtypes allow
    s = g / _batch_size(a)
    if type(ga) is np.ndarray and getattr(s, "dtype", None) == ga.dtype:
        ga *= s
    else:
        ga = ga * s
    return (ga if needs[0] else None, -ga if needs[1] else None)


QUADRATIC = defop(
    "quadratic_cost", _quadratic_forward, _quadratic_vjp, "C = (1/M) Σ_m ½‖y_m − a_m‖²"
)


def _mse_forward(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    _check_targets("mse_loss", a, y)
    d = a - y
    return np.asarray(np.vdot(d, d) / max(d.size, 1), dtype=d.dtype)


def _mse_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, a: Any, y: Any) -> tuple[Any, ...]:
    ga = (a - y) * (g * (2.0 / max(a.size, 1)))
    return (ga if needs[0] else None, -ga if needs[1] else None)


MSE = defop("mse_loss", _mse_forward, _mse_vjp, "C = (1/M) Σ_m (1/n) ‖y_m − a_m‖² (mean over all elements)")


BCE_EPS = 1e-12


def _bce_bounds(eps: float, dtype: Any) -> tuple[float, float]:
    """``[ε, 1 − ε]``, with ``1 − ε`` kept below 1 in the array's own precision.

    In float32, ``1 − 1e-12`` rounds to 1, which would let a saturated sigmoid output
    give ``ln 0``; the upper bound is then the largest float below 1.
    """
    tiny = float(np.finfo(dtype).epsneg) if np.dtype(dtype).kind == "f" else 0.0
    return eps, 1 - max(eps, tiny)


def _bce_forward(a: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    _check_targets("binary_cross_entropy", a, y)
    _check_unit_interval("binary_cross_entropy", y)
    ac = np.clip(a, *_bce_bounds(eps, a.dtype))
    c = -(np.vdot(y, np.log(ac)) + np.vdot(1 - y, np.log1p(-ac)))
    return np.asarray(c / _batch_size(a), dtype=ac.dtype)


def _check_unit_interval(op: str, y: np.ndarray) -> None:
    if y.size and (y.min() < 0 or y.max() > 1):
        bad = (y < 0) | (y > 1)
        first = y[np.unravel_index(int(np.argmax(bad)), y.shape)]
        raise LabelError(
            f"{op}: targets must lie in [0, 1], got values in [{y.min():g}, {y.max():g}]; "
            f"the first outside is {first:g} at index {_first_index(bad)} ({int(bad.sum())} of "
            f"{y.size} values outside)"
        )


def check_nonnegative_targets(op: str, y: np.ndarray) -> None:
    """Refuse negative cross-entropy targets.

    ``C = −Σ_j y_j ln p_j`` is bounded below only when every ``y_j ≥ 0``: a negative
    ``y_j`` rewards driving ``p_j → 0`` and the cost falls without limit.  Rows need not
    sum to 1 (the minimum is then at ``p = y / Σ_j y_j``), as in PyTorch.
    """
    if y.dtype.kind == "f" and y.size and y.min() < 0:
        bad = y < 0
        first = y[np.unravel_index(int(np.argmax(bad)), y.shape)]
        raise LabelError(
            f"{op}: targets must be non-negative (one-hot rows or probabilities), got {first:g} "
            f"at index {_first_index(bad)} ({int(bad.sum())} of {y.size} values negative); a "
            "negative target makes the cost unbounded below"
        )


def _bce_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, a: Any, y: Any, eps: float) -> tuple[Any, ...]:
    m = _batch_size(a)
    ac = F.clip(a, *_bce_bounds(eps, F.data(a).dtype))
    # ∂C/∂a = (a − y) / (a (1 − a)) / M, evaluated at the clipped a so that a
    # saturated output (a = 1 in floating point) still receives a finite gradient.
    ga = (ac - y) / (ac * (1 - ac)) * (g / m) if needs[0] else None
    gy = (F.log(1 - ac) - F.log(ac)) * (g / m) if needs[1] else None
    return (ga, gy)


BCE = defop(
    "binary_cross_entropy",
    _bce_forward,
    _bce_vjp,
    "C = −(1/M) Σ_m Σ_j [y ln a + (1 − y) ln(1 − a)], a clipped to [ε, 1 − ε] (1 − ε < 1 in a's dtype)",
)


def _bce_logits_forward(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    _check_targets("binary_cross_entropy_with_logits", z, y)
    _check_unit_interval("binary_cross_entropy_with_logits", y)
    # ln(1 + e^{-|z|}) + max(z, 0) − z y: exact and finite for every z.
    c = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return np.asarray(c.sum() / _batch_size(z), dtype=c.dtype)


def _bce_logits_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, z: Any, y: Any) -> tuple[Any, ...]:
    m = _batch_size(z)
    gz = (F.sigmoid(z) - y) * (g / m) if needs[0] else None  # δ^L = σ(z) − y
    gy = z * (-g / m) if needs[1] else None
    return (gz, gy)


BCE_LOGITS = defop(
    "binary_cross_entropy_with_logits",
    _bce_logits_forward,
    _bce_logits_vjp,
    "binary cross-entropy of σ(z), computed from z without overflow",
)


def _ce_batch(z: np.ndarray) -> int:
    return max(z.size // z.shape[-1], 1) if z.ndim else 1


def _ce_forward(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    if z.ndim == 0:
        raise ShapeError("cross_entropy: logits must have a class axis (the last), got a scalar")
    _check_targets("cross_entropy", z, y)
    return np.asarray(-np.vdot(y, _log_softmax(z)) / _ce_batch(z), dtype=z.dtype)


def _ce_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, z: Any, y: Any) -> tuple[Any, ...]:
    m = _ce_batch(F.data(z))
    # δ^L = softmax(z) − y for one-hot y (times Σ_j y_j for unnormalised targets).
    gz = (F.softmax(z, -1) * F.sum(y, -1, True) - y) * (g / m) if needs[0] else None
    gy = F.log_softmax(z, -1) * (-g / m) if needs[1] else None
    return (gz, gy)


CROSS_ENTROPY = defop(
    "cross_entropy",
    _ce_forward,
    _ce_vjp,
    "C = −(1/M) Σ_m Σ_j y_j ln softmax(z)_j, targets one-hot or probabilities",
)


def check_class_labels(op: str, z: np.ndarray, labels: np.ndarray) -> None:
    """Validate integer class labels for logits ``z`` of shape ``(..., C)``."""
    if z.ndim == 0:
        raise ShapeError(f"{op}: logits must have a class axis (the last), got a scalar")
    if labels.dtype.kind not in "iu":
        raise LabelError(f"{op}: class labels must be integers, got dtype {labels.dtype}")
    if labels.shape != z.shape[:-1]:
        raise ShapeError(
            f"{op}: logits of shape {shape_text(z.shape)} need labels of shape "
            f"{shape_text(z.shape[:-1])}, got {shape_text(labels.shape)}"
        )
    n = z.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        bad = labels[(labels < 0) | (labels >= n)]
        raise LabelError(
            f"{op}: class labels must be in [0, {n - 1}] for {n} classes, "
            f"got {bad.ravel()[0]} ({bad.size} label{'s' if bad.size > 1 else ''} out of range)"
        )


def _ce_index_forward(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    check_class_labels("cross_entropy", z, labels)
    picked = np.take_along_axis(_log_softmax(z), labels[..., None], axis=-1)
    return np.asarray(-picked.sum() / _ce_batch(z), dtype=z.dtype)


def _ce_index_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, z: Any, labels: np.ndarray) -> tuple[Any, ...]:
    zd = F.data(z)
    onehot = np.zeros(zd.shape, dtype=zd.dtype)
    np.put_along_axis(onehot, labels[..., None], 1, axis=-1)
    return ((F.softmax(z, -1) - onehot) * (g / _ce_batch(zd)),)


CROSS_ENTROPY_INDEX = defop(
    "cross_entropy_index",
    _ce_index_forward,
    _ce_index_vjp,
    "softmax cross-entropy with integer class labels (a parameter, not an input)",
)
