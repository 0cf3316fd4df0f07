"""Elementwise ops and activations: each forward next to its VJP and its facts.

``exp``, ``log``, ``sqrt``, ``abs``, ``maximum``, ``clip``; then the activations a
layer can use by name (``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``, ``softplus``,
``softmax``)
and ``log_softmax``.  Large sigmoid arrays go block by block in threads
(:mod:`nablagraph.parallel`): the same numbers as one call.

Imports: ``parallel``, ``ops.registry`` and NumPy only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph.ops.registry import RAW, defop
from nablagraph.parallel import PARALLEL_MIN, block_size, blocks, kernel_key

__all__ = [
    "ABS", "CAST", "CLIP", "EXP", "LEAKY_RELU", "LOG", "LOG_SOFTMAX", "MAXIMUM", "RELU", "SIGMOID",
    "SOFTMAX", "SOFTPLUS", "SQRT", "TANH",
]


def _exp_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * out,)


EXP = defop("exp", np.exp, _exp_vjp, "e^x", kind="elementwise", rule="g ⊙ eˣ (the output itself)", elementwise=True)


def _log_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / x,)


LOG = defop("log", np.log, _log_vjp, "natural logarithm", kind="elementwise", rule="g / x", elementwise=True)


def _sqrt_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (2 * out),)


SQRT = defop("sqrt", np.sqrt, _sqrt_vjp, "square root", kind="elementwise", rule="g / (2√x)", elementwise=True)


def _abs_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    xd = F.data(x)
    return (g * np.sign(xd),)


ABS = defop("abs", np.abs, _abs_vjp, "|x| (subgradient 0 at 0)", kind="elementwise", rule="g ⊙ sign(x)",
            elementwise=True, kinks=(0.0,))


def _maximum_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    xd, yd = F.data(x), F.data(y)
    dt = np.result_type(xd, yd)
    # Ties split the gradient evenly, so maximum(x, x) has derivative 1.
    wx = (xd > yd).astype(dt) + (xd == yd).astype(dt) * 0.5
    return (g * wx if needs[0] else None, g * (1 - wx) if needs[1] else None)


MAXIMUM = defop("maximum", np.maximum, _maximum_vjp, "elementwise max (ties split the gradient)",
                kind="elementwise", rule="g to the larger input (x > y → x, else y); a tie gives each half", elementwise=True, smooth=False)  # kinks where x = y


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


CLIP = defop("clip", _clip_forward, _clip_vjp, "clamp into [lo, hi] (gradient 1 inside, 0 outside)",
             kind="elementwise", rule="g where lo ≤ x ≤ hi, 0 outside", elementwise=True, smooth=False)  # kinks at lo and hi


def _cast_forward(x: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    return x.astype(dtype)  # always a new array, as ndarray.astype


def _cast_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, dtype: Any) -> tuple[Any, ...]:
    # The identity on the values: the gradient goes back in the input's dtype (a float32
    # parameter used as float64 gets a float32 gradient, as in PyTorch).
    return (F.astype(g, x.dtype),)


CAST = defop("cast", _cast_forward, _cast_vjp, "x in another floating dtype (gradient cast back)",
             kind="elementwise", elementwise=True, rule="g cast back to x's dtype")
RAW.astype = lambda g, dtype: g.astype(dtype, copy=False)


# =============================================================== activations
# Each activation is a layer's σ, chosen by name (``Dense(activation="tanh")``); its facts
# are what finite differences need (``kinks``, ``lipschitz`` = sup |σ'|, ``bound`` =
# sup |σ|, ``at_zero`` = |σ(0)|).  Its σ' for the closed form is written again,
# independently, in :mod:`nablagraph.activations`.
def _blockwise(kernel: Callable[..., None], t: np.ndarray, *args: np.ndarray) -> None:
    """``kernel(t, *args)``: in one call, or block by block in threads for large arrays.

    ``kernel`` works entrywise and writes into ``t``, so both ways give the same bits.
    """
    if t.size >= PARALLEL_MIN and t.flags.c_contiguous and all(a.flags.c_contiguous for a in args):
        tf, fs = t.reshape(-1), [a.reshape(-1) for a in args]
        blocks(lambda k, a, b: kernel(tf[a:b], *(f[a:b] for f in fs)), tf.size,
               key=kernel_key(kernel.__name__.strip("_"), t.dtype), block=block_size(t.dtype))
    else:
        kernel(t, *args)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # σ(z) = 1 / (1 + e^{-z}), in one buffer. Accurate to the last bit for every z
    # (the tanh form ½ tanh(z/2) + ½ loses all relative accuracy below z ≈ −30). For
    # very negative z, e^{-z} overflows to inf and σ rounds to 0, the right answer; the
    # overflow warning is silenced only when it can happen (np.errstate costs ~2 µs).
    if x.size >= PARALLEL_MIN and type(x) is np.ndarray:
        t = np.empty_like(x)
        _blockwise(_sigmoid_into, t, x)
        return t
    t = np.negative(x)  # small: one call, without the helper's ~1 µs
    if not isinstance(t, np.ndarray):  # a 0-d input gives a NumPy scalar, not a buffer
        t = np.asarray(t)
    _sigmoid_of_negative(t)
    return t


def _sigmoid_into(t: np.ndarray, x: np.ndarray) -> None:
    """``t ← σ(x)``."""
    np.negative(x, out=t)
    _sigmoid_of_negative(t)


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

# Largest argument for which exp does not overflow, with margin, per dtype.
_EXP_SAFE = {np.dtype(np.float64): 700.0, np.dtype(np.float32): 85.0, np.dtype(np.float16): 10.0}


def _sigmoid_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    # σ'(z) = σ(z)(1 − σ(z)), multiplied into g. With arrays, in one buffer (the same
    # products, so the same bits, as g * (out * (1 − out))); with tensors, recorded.
    if F is RAW and type(g) is np.ndarray and g.ndim and g.shape == out.shape and g.dtype == out.dtype:
        t = np.empty(out.shape, out.dtype)  # (empty_like goes through a Python dispatcher)
        if t.size < PARALLEL_MIN:  # small: _sigmoid_grad_into written out, no helper
            np.subtract(1, out, out=t)
            t *= out
            np.multiply(g, t, out=t)
        else:
            _blockwise(_sigmoid_grad_into, t, g, out)
        return (t,)
    return (g * (out * (1 - out)),)


def _sigmoid_grad_into(t: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:
    """``t ← g ⊙ σ(1 − σ)`` with ``σ = out``."""
    np.subtract(1, out, out=t)
    t *= out
    np.multiply(g, t, out=t)


RAW.sigmoid = _sigmoid
SIGMOID = defop("sigmoid", _sigmoid, _sigmoid_vjp, "σ(z) = 1 / (1 + e^{-z})",
                kind="activation", rule="g ⊙ σ(z)(1−σ(z))", elementwise=True, lipschitz=0.25, bound=1.0, at_zero=0.5)


def _tanh_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (1 - out * out),)


TANH = defop("tanh", np.tanh, _tanh_vjp, "tanh(z)",
             kind="activation", rule="g ⊙ (1 − tanh²(z))", elementwise=True, lipschitz=1.0, bound=1.0, at_zero=0.0)


def _relu_forward(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _relu_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    xd = F.data(x)
    return (g * (xd > 0).astype(xd.dtype),)


RELU = defop("relu", _relu_forward, _relu_vjp, "max(z, 0) (derivative 0 at z = 0)",
             kind="activation", rule="g ⊙ [z > 0]", elementwise=True, kinks=(0.0,), lipschitz=1.0, at_zero=0.0)


def _leaky_relu_forward(x: np.ndarray, slope: float) -> np.ndarray:
    return np.where(x > 0, x, x * slope)


def _leaky_relu_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, slope: float) -> tuple[Any, ...]:
    xd = F.data(x)
    return (g * np.where(xd > 0, 1.0, slope).astype(xd.dtype),)


LEAKY_RELU = defop("leaky_relu", _leaky_relu_forward, _leaky_relu_vjp, "z if z > 0 else slope·z",
                   kind="activation", rule="g ⊙ (1 where z > 0, else slope)", elementwise=True, kinks=(0.0,), lipschitz=1.0, at_zero=0.0)


def _softplus(x: np.ndarray) -> np.ndarray:
    # ln(1 + e^z) = max(z, 0) + ln(1 + e^{-|z|}): no overflow for large z, no loss for
    # very negative z (np.logaddexp does exactly this).
    return np.logaddexp(0.0, x)


def _softplus_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * F.sigmoid(x),)  # d/dz ln(1 + e^z) = σ(z)


SOFTPLUS = defop("softplus", _softplus, _softplus_vjp, "ln(1 + e^z), a smooth relu; derivative σ(z)",
                 kind="activation", rule="g ⊙ σ(z)", elementwise=True, lipschitz=1.0, at_zero=float(np.log(2.0)))


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _softmax_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: int) -> tuple[Any, ...]:
    return (out * (g - F.sum(g * out, axis, True)),)


RAW.softmax = _softmax
SOFTMAX = defop("softmax", _softmax, _softmax_vjp, "e^{z_j} / Σ_k e^{z_k} along an axis",
                kind="activation", rule="s ⊙ (g − Σ_k g_k s_k) along the axis, s = softmax(z)", lipschitz=1.0, bound=1.0)


def _log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    s = x - x.max(axis=axis, keepdims=True)
    s -= np.log(np.exp(s).sum(axis=axis, keepdims=True))
    return s


def _log_softmax_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, axis: int) -> tuple[Any, ...]:
    return (g - F.exp(out) * F.sum(g, axis, True),)


RAW.log_softmax = _log_softmax
LOG_SOFTMAX = defop("log_softmax", _log_softmax, _log_softmax_vjp, "z_j − log Σ_k e^{z_k}",
                    kind="normalisation", rule="g − softmax(z) Σ_k g_k along the axis")
