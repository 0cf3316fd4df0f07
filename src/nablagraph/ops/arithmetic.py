"""Arithmetic ops: ``+ − ⊙ / **``, negation, ``matmul`` and the fused ``linear``
(the notes' ``z^l = w^l a^{l-1} + b^l`` with the batch as rows).

Imports: ``errors``, ``ops.registry`` and NumPy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph.errors import ShapeError
from nablagraph.ops.registry import _add_reduce, _broadcast_detail, defop, shape_text

__all__ = ["ADD", "DIV", "LINEAR", "MATMUL", "MUL", "NEG", "POW", "POW_SCALAR", "SUB"]


def _add_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return (g if needs[0] else None, g if needs[1] else None)


ADD = defop("add", np.add, _add_vjp, "x + y (broadcasting)", kind="arithmetic", rule="∂/∂x = g, ∂/∂y = g (each summed over the axes it was broadcast along)")


def _sub_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return (g if needs[0] else None, -g if needs[1] else None)


SUB = defop("sub", np.subtract, _sub_vjp, "x - y (broadcasting)", kind="arithmetic", rule="∂/∂x = g, ∂/∂y = −g")


def _mul_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return (g * y if needs[0] else None, g * x if needs[1] else None)


MUL = defop("mul", np.multiply, _mul_vjp, "x ⊙ y, the Hadamard product (broadcasting)",
            kind="arithmetic", rule="∂/∂x = g ⊙ y, ∂/∂y = g ⊙ x", note="Hadamard product")


def _div_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    gx = g / y if needs[0] else None
    gy = -(g * out) / y if needs[1] else None
    return (gx, gy)


DIV = defop("div", np.true_divide, _div_vjp, "x / y (broadcasting)", kind="arithmetic", rule="∂/∂x = g / y, ∂/∂y = −g ⊙ x / y²")


def _pow_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    gx = g * y * x ** (y - 1) if needs[0] else None
    gy = g * out * F.log(x) if needs[1] else None
    return (gx, gy)


POW = defop("pow", np.power, _pow_vjp, "x ** y with a tensor exponent (d/dy needs x > 0)",
            kind="arithmetic", rule="∂/∂x = g ⊙ y x^(y−1), ∂/∂y = g ⊙ x^y ln x")


def _pow_scalar_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any, p: float) -> tuple[Any, ...]:
    if p == 0:
        return (g * 0,)
    if p == 1:
        return (g,)
    if p == 2:
        return (g * (2 * x),)
    return (g * (p * x ** (p - 1)),)


POW_SCALAR = defop("pow_scalar", np.power, _pow_scalar_vjp, "x ** p for a constant number p",
                   kind="arithmetic", rule="∂/∂x = g ⊙ p x^(p−1)")


def _neg_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (-g,)


NEG = defop("neg", np.negative, _neg_vjp, "-x", kind="arithmetic", rule="∂/∂x = −g", elementwise=True)


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


MATMUL = defop("matmul", _matmul_forward, _matmul_vjp, "a @ b (NumPy matmul rules)", _matmul_error,
               kind="arithmetic", rule="∂C/∂A = G·Bᵀ, ∂C/∂B = Aᵀ·G", note="a @ b")


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
    kind="arithmetic", rule="z = x Wᵀ + b: ∂C/∂x = G·W, ∂C/∂W = Gᵀ·x, ∂C/∂b = Σ_rows G",
    note="a Wᵀ + b",
)
