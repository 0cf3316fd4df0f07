"""Costs, following the notes: ``C = (1/M) Σ_m C_m``, an average over the ``M``
examples of the batch (the first axis), each ``C_m`` a sum over the output neurons;
the targets' checks; and :data:`COSTS`, the one table of cost names.

Imports: ``errors``, ``ops.registry``, ``ops.elementwise`` and NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite
from typing import Any

import numpy as np

from nablagraph.errors import LabelError, ShapeError
from nablagraph.ops.elementwise import _log_softmax
from nablagraph.ops.registry import _batch_size, defop, shape_text

__all__ = [
    "BCE", "BCE_EPS", "BCE_LOGITS", "COSTS", "CROSS_ENTROPY", "CROSS_ENTROPY_INDEX", "MSE",
    "QUADRATIC", "Cost", "check_class_labels", "check_nonnegative_targets",
]


def _check_targets(op: str, a: np.ndarray, y: np.ndarray) -> None:
    _check_shapes(op, a, y)
    _check_finite(op, y)


def _check_shapes(op: str, a: np.ndarray, y: np.ndarray) -> None:
    if a.shape != y.shape:
        hint = ""
        if a.size == y.size:
            hint = f"; reshape the targets with y.reshape{shape_text(a.shape)}"
        raise ShapeError(
            f"{op}: outputs have shape {shape_text(a.shape)} but targets have shape "
            f"{shape_text(y.shape)}; they must be equal (no broadcasting in costs){hint}"
        )


def _first_index(mask: np.ndarray) -> str:
    """``(i, j, ...)`` of the first ``True`` in ``mask`` (row-major order)."""
    idx = np.unravel_index(int(np.argmax(mask)), mask.shape)
    return "(" + ", ".join(str(int(i)) for i in idx) + (",)" if len(idx) == 1 else ")")


def _check_finite(op: str, y: np.ndarray) -> None:
    """Refuse NaN or infinite targets: no cost of them is finite, and no step can fix it."""
    if y.dtype.kind == "f" and y.size:
        s = y.sum()
        if not isfinite(s):  # one pass; locate only on failure (a finite overflow passes)
            # (math.isfinite on the NumPy scalar: a plain C call, where the ufunc costs ~1 µs)
            nan = np.isnan(y)
            bad = nan if nan.any() else np.isinf(y)
            if bad.any():
                what = "NaN" if bad is nan else "infinite values"
                raise LabelError(
                    f"{op}: targets contain {what} ({int(bad.sum())} of {y.size} values); "
                    f"the first is at index {_first_index(bad)}"
                )




def _quadratic_forward(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    _check_shapes("quadratic_cost", a, y)
    d = a - y
    c = 0.5 * np.vdot(d, d) / _batch_size(a)
    if not isfinite(c):  # NaN or infinite targets always make it so: only then look
        _check_finite("quadratic_cost", y)
    return np.asarray(c, dtype=d.dtype)


def _quadratic_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, a: Any, y: Any) -> tuple[Any, ...]:
    ga = a - y  # ∇_a C = (a − y) / M, in the buffer of a − y when the dtypes allow
    s = g / _batch_size(a)
    if type(ga) is np.ndarray and getattr(s, "dtype", None) == ga.dtype:
        ga *= s
    else:
        ga = ga * s
    return (ga if needs[0] else None, -ga if needs[1] else None)


QUADRATIC = defop(
    "quadratic_cost", _quadratic_forward, _quadratic_vjp, "C = (1/M) Σ_m ½‖y_m − a_m‖²",
    kind="cost", rule="∂C/∂a = g (a − y) / M, ∂C/∂y = −g (a − y) / M", cost="quadratic",
)


def _mse_forward(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    _check_targets("mse_loss", a, y)
    d = a - y
    return np.asarray(np.vdot(d, d) / max(d.size, 1), dtype=d.dtype)


def _mse_vjp(F: Any, needs: tuple[bool, ...], g: Any, out: Any, a: Any, y: Any) -> tuple[Any, ...]:
    ga = (a - y) * (g * (2.0 / max(a.size, 1)))
    return (ga if needs[0] else None, -ga if needs[1] else None)


MSE = defop("mse_loss", _mse_forward, _mse_vjp, "C = (1/M) Σ_m (1/n) ‖y_m − a_m‖² (mean over all elements)",
            kind="cost", rule="∂C/∂a = g · 2 (a − y) / n (n entries), ∂C/∂y = its negative", cost="mse")


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
    kind="cost", rule="∂C/∂a = g (a − y) / (a(1 − a)) / M (a clipped to [ε, 1 − ε])",
    cost="binary_cross_entropy",
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
    kind="cost", rule="∂C/∂z = g (σ(z) − y) / M, ∂C/∂y = −g z / M",
    cost="binary_cross_entropy",
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
    kind="cost", rule="∂C/∂z = g (softmax(z) Σ_j y_j − y) / M, ∂C/∂y = −g log softmax(z) / M",
    cost="cross_entropy",
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
    kind="cost", rule="∂C/∂z = g (softmax(z) − onehot(labels)) / M",
    cost="cross_entropy",
)


@dataclass(frozen=True)
class Cost:
    """A cost a network is trained with: its name, its user function, its other names.

    ``function`` names the function of :mod:`nablagraph.functional` that computes it;
    ``ops`` are the registered ops it may record (each has the fact ``cost == name``).
    """

    name: str
    function: str
    aliases: tuple[str, ...]
    ops: tuple[str, ...]
    doc: str


#: The one table of cost names, in the order they are listed to users.
COSTS: dict[str, Cost] = {
    c.name: c
    for c in (
        Cost("quadratic", "quadratic_cost", ("quadratic_cost",), ("quadratic_cost",),
             "C = (1/M) Σ_m ½‖y_m − a_m‖²"),
        Cost("mse", "mse_loss", ("mse_loss",), ("mse_loss",),
             "the mean of (y − a)² over all entries"),
        Cost("binary_cross_entropy", "binary_cross_entropy", ("bce",),
             ("binary_cross_entropy", "binary_cross_entropy_with_logits"),
             "−(1/M) Σ [y ln a + (1 − y) ln(1 − a)]; from z when the output is sigmoid"),
        Cost("cross_entropy", "cross_entropy", ("crossentropy", "softmax_cross_entropy"),
             ("cross_entropy", "cross_entropy_index"),
             "softmax cross-entropy of the logits z^L (one-hot, probabilities or labels)"),
    )
}
