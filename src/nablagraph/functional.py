"""The user-facing functions: arithmetic, activations and costs on tensors.

Each function turns its arguments into tensors and applies one primitive from
:mod:`nablagraph.ops`.  Names follow PyTorch where the concept is the same
(``sigmoid``, ``softmax(z, axis)``, ``mse_loss``, ``cross_entropy``); the notes'
quadratic cost is :func:`quadratic_cost`.

All costs average over the batch, ``C = (1/M) Σ_m C_m``, where the examples are the
rows (first axis) and each ``C_m`` sums over the output neurons, as in the notes.
(PyTorch's ``binary_cross_entropy`` instead averages over every element: for ``n``
outputs it is ours divided by ``n``.)

This module also serves as the namespace the VJPs in :mod:`nablagraph.ops` use when
``create_graph=True`` (``exp``, ``sum``, ``sum_to``, ``mT``, ``data`` ...), and tensor
methods (``t.exp()``, ``a @ b``) call it: the package hands it to
:func:`nablagraph._tensor.connect`.

Imports: ``_tensor``, ``factories`` (dtype names), ``ops``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nablagraph import ops as _ops
from nablagraph._tensor import ArrayLike, Tensor, apply, as_tensor
from nablagraph.errors import ConfigError, DTypeError, LabelError, ShapeError
from nablagraph.factories import as_dtype

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "matmul", "linear",
    "exp", "log", "sqrt", "abs", "maximum", "clip", "where", "concatenate", "cat", "stack",
    "astype", "max", "min", "argmax", "argmin",
    "sum", "mean", "reshape", "transpose", "getitem", "broadcast_to", "sum_to",
    "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax", "log_softmax", "identity",
    "quadratic_cost", "mse_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "cross_entropy",
]

def _pair(x: ArrayLike, y: ArrayLike) -> tuple[Tensor, Tensor]:
    if isinstance(x, Tensor):
        return x, (y if isinstance(y, Tensor) else as_tensor(y, like=x))
    if isinstance(y, Tensor):
        return as_tensor(x, like=y), y
    return Tensor(x), Tensor(y)


def _t(x: ArrayLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------- arithmetic
def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise ``x + y`` with NumPy broadcasting."""
    return apply(_ops.ADD, _pair(x, y))


def sub(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise ``x − y`` with NumPy broadcasting."""
    return apply(_ops.SUB, _pair(x, y))


def mul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """The Hadamard (elementwise) product ``x ⊙ y``, with broadcasting.

    ``(s ⊙ t)_j = s_j t_j``; its VJP is ``(g ⊙ y, g ⊙ x)``.
    """
    return apply(_ops.MUL, _pair(x, y))


def div(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise ``x / y`` with broadcasting."""
    return apply(_ops.DIV, _pair(x, y))


def pow(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise ``x ** y``.

    A plain number exponent records ``pow_scalar`` (``d/dx = p x^{p-1}``); a tensor
    exponent records ``pow``, whose derivative in ``y`` is ``x^y ln x`` (``x > 0``).
    """
    if isinstance(x, Tensor) and isinstance(y, (int, float)) and not isinstance(y, bool):
        return apply(_ops.POW_SCALAR, (x,), (y,))
    return apply(_ops.POW, _pair(x, y))


def neg(x: ArrayLike) -> Tensor:
    """``−x``."""
    return apply(_ops.NEG, (_t(x),))


def matmul(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Matrix product ``a @ b`` (NumPy rules for 1-D and batched operands).

    The VJP of ``C = A B`` is ``(G Bᵀ, Aᵀ G)``.
    """
    return apply(_ops.MATMUL, _pair(a, b))


def linear(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None) -> Tensor:
    """The weighted input ``z = x Wᵀ + b`` of a dense layer, as one primitive.

    Row form of the notes' ``z^l = w^l a^{l-1} + b^l``: ``x`` is ``(M, n_in)`` (one
    example per row), ``weight`` is ``w^l`` with shape ``(n_out, n_in)`` and
    ``bias`` is ``b^l`` with shape ``(n_out,)``.  Its VJP gives BP3 and BP4 directly:
    ``∂C/∂b = Σ_m δ_m``, ``∂C/∂W = δᵀ a^{l-1}``, and ``∂C/∂x = δ W``.
    """
    if type(x) is Tensor and type(weight) is Tensor and type(bias) is Tensor:
        return apply(_ops.LINEAR, (x, weight, bias))  # a layer's step: nothing to convert
    x, w = _pair(x, weight)
    if bias is None:
        return apply(_ops.LINEAR, (x, w))
    return apply(_ops.LINEAR, (x, w, as_tensor(bias, like=w)))


# --------------------------------------------------------------- elementwise
def exp(x: ArrayLike) -> Tensor:
    """Elementwise ``e^x``."""
    return apply(_ops.EXP, (_t(x),))


def log(x: ArrayLike) -> Tensor:
    """Elementwise natural logarithm."""
    return apply(_ops.LOG, (_t(x),))


def sqrt(x: ArrayLike) -> Tensor:
    """Elementwise square root."""
    return apply(_ops.SQRT, (_t(x),))


def abs(x: ArrayLike) -> Tensor:
    """Elementwise ``|x|`` (derivative ``sign(x)``, 0 at 0)."""
    return apply(_ops.ABS, (_t(x),))


def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """Elementwise maximum; where ``x == y`` each side gets half the gradient."""
    return apply(_ops.MAXIMUM, _pair(x, y))


def clip(x: ArrayLike, min: float | None = None, max: float | None = None) -> Tensor:
    """Clamp into ``[min, max]``; the gradient is 1 inside (bounds included), 0 outside."""
    if min is not None and max is not None and min > max:
        raise ConfigError(
            f"clip: min ({min}) must not exceed max ({max}); every value would be clipped to "
            "max, which is surely a mistake (swap the bounds?)"
        )
    return apply(_ops.CLIP, (_t(x),), (min, max))


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """``x`` where ``condition`` holds, else ``y`` (the condition is a constant)."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    xt, yt = _pair(x, y)
    c = cond.astype(np.result_type(xt.data, yt.data))
    return add(mul(xt, c), mul(yt, 1 - c))


def concatenate(tensors: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ts = tuple(_t(t) for t in tensors)
    if not ts:
        raise ShapeError("concatenate: need at least one tensor")
    return apply(_ops.CONCATENATE, ts, (axis,))


def cat(tensors: Sequence[ArrayLike], dim: int = 0) -> Tensor:
    """PyTorch's name for :func:`concatenate` (``dim`` is the axis)."""
    return concatenate(tensors, axis=dim)


def stack(tensors: Sequence[ArrayLike], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors of one shape along a new axis (``dim`` is PyTorch's name for it).

    ``out[..., i, ...] = tensors[i]``, so the VJP hands input ``i`` the slice ``g[..., i, ...]``.
    """
    axis = axis if dim is None else dim
    if isinstance(tensors, (Tensor, np.ndarray)) or not isinstance(tensors, Sequence) or not tensors:
        raise ShapeError(f"stack: expected a non-empty list of tensors, got {_what(tensors)}")
    return apply(_ops.STACK, tuple(_t(t) for t in tensors), (int(axis),))


def _what(x: Any) -> str:
    return f"a {type(x).__name__}" + (f" of length {len(x)}" if isinstance(x, (list, tuple)) else "")


def astype(x: ArrayLike, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype``, recorded so gradients flow back (in ``x``'s dtype).

    A floating ``dtype`` records the op ``cast`` (identity on values: ``∂y/∂x = 1``); an
    integer or boolean ``dtype`` gives a tensor outside the graph (no gradient through
    rounding), as PyTorch's ``x.long()``.
    """
    xt, dt = _t(x), as_dtype("astype", dtype)
    if dt.kind != "f":
        return Tensor(xt.data.astype(dt))
    return apply(_ops.CAST, (xt,), (dt,))


def max(x: ArrayLike, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Largest entry over ``axis`` (all axes by default); the gradient goes to the
    entries that attain it, split evenly among ties (as PyTorch's ``amax``)."""
    return apply(_ops.MAX, (_t(x),), (axis, keepdims))


def min(x: ArrayLike, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Smallest entry over ``axis``; gradient as for :func:`max`."""
    return apply(_ops.MIN, (_t(x),), (axis, keepdims))


def _arg(name: str, fn: Any, x: ArrayLike, axis: int | None, keepdims: bool) -> Tensor:
    xt = _t(x)
    if xt.size == 0 or (axis is not None and xt.ndim and xt.shape[axis % xt.ndim] == 0):
        raise ShapeError(f"{name}: cannot take the {name} of an empty axis (shape {xt.shape}, axis {axis})")
    try:
        return Tensor(np.asarray(fn(xt.data, axis=axis, keepdims=keepdims)))
    except (ValueError, TypeError, IndexError) as exc:  # NumPy's AxisError is a ValueError
        raise ShapeError(f"{name}: invalid axis {axis!r} for a tensor of shape {xt.shape}: {exc}") from None


def argmax(x: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the largest entry (of the flattened tensor when ``axis`` is None): an
    int64 tensor outside the graph.  Ties give the first index, as NumPy and PyTorch."""
    return _arg("argmax", np.argmax, x, axis, keepdims)


def argmin(x: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """Index of the smallest entry; see :func:`argmax`."""
    return _arg("argmin", np.argmin, x, axis, keepdims)


# ---------------------------------------------------------- shape and reduce
def sum(x: ArrayLike, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes by default)."""
    return apply(_ops.SUM, (_t(x),), (axis, keepdims))


def mean(x: ArrayLike, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes by default)."""
    return apply(_ops.MEAN, (_t(x),), (axis, keepdims))


def reshape(x: ArrayLike, shape: Sequence[int] | int) -> Tensor:
    """The same data in a new shape."""
    shp = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    return apply(_ops.RESHAPE, (_t(x),), (shp,))


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    xt = _t(x)
    ax = None if axes is None else tuple(int(a) for a in axes)
    if ax is not None:
        nd = xt.ndim
        if len(ax) != nd or any(not -nd <= a < nd for a in ax) or len({a % nd for a in ax}) != nd:
            raise ShapeError(
                f"transpose: axes {ax} are not a permutation of the {nd} axes of a tensor "
                f"of shape {xt.shape}"
            )
        # Non-negative axes, so the VJP's inverse permutation (an argsort) is right.
        ax = tuple(a % nd for a in ax)
    return apply(_ops.TRANSPOSE, (xt,), (ax,))


def mT(x: ArrayLike) -> Tensor:
    """Swap the last two axes."""
    xt = _t(x)
    axes = list(range(xt.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return apply(_ops.TRANSPOSE, (xt,), (tuple(axes),))


def _index(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def getitem(x: ArrayLike, index: Any) -> Tensor:
    """``x[index]`` with NumPy indexing; repeated fancy indices accumulate gradients."""
    return apply(_ops.GETITEM, (_t(x),), (_index(index),))


def scatter(g: ArrayLike, shape: tuple[int, ...], index: Any) -> Tensor:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the adjoint of ``getitem``)."""
    return apply(_ops.SCATTER, (_t(g),), (tuple(shape), index))


def broadcast_to(x: ArrayLike, shape: tuple[int, ...]) -> Tensor:
    """Repeat ``x`` along size-1 (or missing leading) axes to ``shape``."""
    return apply(_ops.BROADCAST_TO, (_t(x),), (tuple(shape),))


def sum_to(x: ArrayLike, shape: tuple[int, ...]) -> Tensor:
    """Sum ``x`` down to ``shape`` (the adjoint of :func:`broadcast_to`)."""
    xt = _t(x)
    if xt.shape == tuple(shape):
        return xt
    return apply(_ops.SUM_TO, (xt,), (tuple(shape),))


def data(x: Any) -> Any:
    """The raw array of a tensor (VJP namespace helper for constants)."""
    return x.data if isinstance(x, Tensor) else x


# --------------------------------------------------------------- activations
def sigmoid(z: ArrayLike) -> Tensor:
    """The logistic function ``σ(z) = 1 / (1 + e^{-z})``, elementwise.

    Its derivative is ``σ'(z) = σ(z)(1 − σ(z))``; the VJP reuses the output.

    Examples
    --------
    >>> import nablagraph as ng
    >>> ng.sigmoid(ng.Tensor([0.0])).data
    array([0.5])
    """
    return apply(_ops.SIGMOID, (z if isinstance(z, Tensor) else Tensor(z),))  # (_t, inlined)


def tanh(z: ArrayLike) -> Tensor:
    """Hyperbolic tangent; ``tanh'(z) = 1 − tanh²(z)``."""
    return apply(_ops.TANH, (_t(z),))


def relu(z: ArrayLike) -> Tensor:
    """``max(z, 0)``; derivative 1 for ``z > 0`` and 0 otherwise."""
    return apply(_ops.RELU, (_t(z),))


def leaky_relu(z: ArrayLike, negative_slope: float = 0.01) -> Tensor:
    """``z`` for ``z > 0``, ``negative_slope · z`` otherwise."""
    return apply(_ops.LEAKY_RELU, (_t(z),), (float(negative_slope),))


def softplus(z: ArrayLike) -> Tensor:
    r"""The softplus activation, a smooth ReLU, elementwise.

    .. math:: \operatorname{softplus}(z) = \ln(1 + e^{z}), \qquad
              \operatorname{softplus}'(z) = \sigma(z) = \frac{1}{1 + e^{-z}}

    Computed as ``max(z, 0) + ln(1 + e^{-|z|})``: finite for every ``z``.

    Parameters
    ----------
    z : array_like or Tensor
        Weighted inputs ``z^l``.

    Returns
    -------
    Tensor
        ``a^l = softplus(z^l)``, of ``z``'s shape.

    Examples
    --------
    >>> import nablagraph as ng
    >>> round(float(ng.softplus(ng.Tensor([0.0])).data[0]), 6)
    0.693147
    """
    return apply(_ops.SOFTPLUS, (_t(z),))


def softmax(z: ArrayLike, axis: int = -1) -> Tensor:
    """``softmax(z)_j = e^{z_j} / Σ_k e^{z_k}`` along ``axis`` (stable: max subtracted)."""
    return apply(_ops.SOFTMAX, (_t(z),), (int(axis),))


def log_softmax(z: ArrayLike, axis: int = -1) -> Tensor:
    """``z_j − log Σ_k e^{z_k}`` along ``axis``, computed stably."""
    return apply(_ops.LOG_SOFTMAX, (_t(z),), (int(axis),))


def identity(z: ArrayLike) -> Tensor:
    """``σ(z) = z``: records nothing and returns its input."""
    return _t(z)


# --------------------------------------------------------------------- costs
def _targets(y: ArrayLike, a: Tensor) -> Tensor:
    if type(y) is np.ndarray and y.dtype == a.dtype and y.dtype.kind == "f":
        return Tensor(y)  # a training batch: wrapped as it is (astype would not copy)
    if isinstance(y, Tensor):
        if not y.requires_grad and y.dtype != a.dtype and a.dtype.kind == "f":
            return Tensor(y.data.astype(a.dtype))
        return y
    arr = np.asarray(y)
    if arr.dtype.kind not in "fiub":
        raise DTypeError(f"cost: targets must be numbers, got dtype {arr.dtype}")
    return Tensor(arr.astype(a.dtype if a.dtype.kind == "f" else np.float64, copy=False))


def quadratic_cost(a: ArrayLike, y: ArrayLike) -> Tensor:
    """The notes' quadratic cost, averaged over the batch.

    .. math:: C = \\frac{1}{M} \\sum_m \\tfrac12 \\lVert y_m - a_m \\rVert^2,
       \\qquad \\nabla_a C = (a - y) / M

    ``a`` and ``y`` are ``(M, n)`` (one example per row) and must have the same shape.

    Examples
    --------
    >>> import nablagraph as ng
    >>> ng.quadratic_cost(ng.Tensor([[1.0, 0.0]]), [[0.0, 0.0]]).item()
    0.5
    """
    at = a if isinstance(a, Tensor) else Tensor(a)
    return apply(_ops.QUADRATIC, (at, _targets(y, at)))


def mse_loss(a: ArrayLike, y: ArrayLike) -> Tensor:
    """Mean squared error over every element: ``C = (1/M) Σ_m (1/n) ‖y_m − a_m‖²``."""
    at = _t(a)
    return apply(_ops.MSE, (at, _targets(y, at)))


def binary_cross_entropy(a: ArrayLike, y: ArrayLike, eps: float = _ops.BCE_EPS) -> Tensor:
    """Cross-entropy of probabilities ``a`` against targets ``y ∈ [0, 1]``.

    .. math:: C = -\\frac1M \\sum_m \\sum_j \\left[y \\ln a + (1-y) \\ln(1-a)\\right]

    ``a`` is clipped to ``[eps, 1 − eps]`` so the logarithms stay finite.  With a sigmoid
    output layer prefer :func:`binary_cross_entropy_with_logits`; with either, the
    output error is ``δ^L = a − y``.
    """
    at = _t(a)
    return apply(_ops.BCE, (at, _targets(y, at)), (float(eps),))


def binary_cross_entropy_with_logits(z: ArrayLike, y: ArrayLike) -> Tensor:
    """Binary cross-entropy of ``σ(z)``, computed from ``z`` stably for any ``|z|``.

    ``C_m = Σ_j [max(z, 0) − z y + ln(1 + e^{−|z|})]``; ``∂C/∂z = (σ(z) − y) / M``.
    """
    zt = _t(z)
    return apply(_ops.BCE_LOGITS, (zt, _targets(y, zt)))


def cross_entropy(z: ArrayLike, y: ArrayLike) -> Tensor:
    """Softmax cross-entropy from logits ``z`` of shape ``(M, C)``.

    ``y`` is either integer class labels of shape ``(M,)`` or one-hot (or probability)
    targets of shape ``(M, C)``, which must be non-negative (a negative ``y_j`` makes
    ``C`` unbounded below); rows need not sum to 1:

    .. math:: C = -\\frac1M \\sum_m \\sum_j y_{mj} \\ln \\operatorname{softmax}(z_m)_j,
       \\qquad \\delta^L = (\\operatorname{softmax}(z) - y) / M

    computed with the log-sum-exp trick, so large logits do not overflow.
    """
    zt = _t(z)
    raw = y.data if isinstance(y, Tensor) else np.asarray(y)
    if raw.dtype.kind in "iu" and not (isinstance(y, Tensor) and y.requires_grad):
        return apply(_ops.CROSS_ENTROPY_INDEX, (zt,), (raw,))
    if zt.ndim >= 1 and raw.shape == zt.shape[:-1] and raw.dtype.kind in "fb":
        # Class labels stored as floats (a common result of np.loadtxt or pandas).
        _ops._check_finite("cross_entropy", raw)
        raise LabelError(
            f"cross_entropy: targets of shape {raw.shape} look like class labels for logits "
            f"of shape {zt.shape}, but their dtype is {raw.dtype}; class labels must be "
            f"integers (y.astype(np.int64)), or pass one-hot targets of shape {zt.shape}"
        )
    yt = _targets(y, zt)
    if not yt.requires_grad:  # targets being differentiated are not labels: any value goes
        _ops.check_nonnegative_targets("cross_entropy", yt.data)
    return apply(_ops.CROSS_ENTROPY, (zt, yt))


# ------------------------------------------------- the registry's tables, for nn and check
def activation_table() -> dict[str, Callable[[Tensor], Tensor]]:
    """Every activation a layer can use by name, with its function, from the op registry.

    The registered ops of kind ``"activation"`` that act elementwise, in the order they
    were registered, then ``identity`` (no op), then the others (``softmax``).  An
    activation op needs a function of the same name in this module.
    """
    acts = _ops.activation_ops()
    names = [n for n, op in acts.items() if op.elementwise] + ["identity"]
    names += [n for n, op in acts.items() if not op.elementwise]
    here = globals()
    return {n: here[n] for n in names}


def activation_op(name: str) -> _ops.Op | None:
    """The registered activation op called ``name`` (its facts), or ``None`` (``identity``,
    a custom function)."""
    op = _ops.OPS.get(name)
    return op if op is not None and op.kind == "activation" else None


def cost_table() -> dict[str, _ops.Cost]:
    """The one table of cost names (:data:`nablagraph.ops.COSTS`), in the order listed to users."""
    return dict(_ops.COSTS)

