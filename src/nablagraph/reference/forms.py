"""The closed form run over a mini-batch, in the two forms of the notes.

:func:`backprop_example` is the notes' loop, one example at a time as column vectors;
:func:`backprop_batch` the same equations vectorised, examples as rows; :func:`backprop`
picks one.  A numerical error inside an equation is re-raised naming the equation and
the layer (:func:`failed_stage` reads them back).

Imports: NumPy, ``errors``, ``reference.equations``, ``reference.params``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, NablaGraphError, ShapeError
from nablagraph.reference.equations import Array, BackpropEquations, _cost
from nablagraph.reference.params import Backprop, DenseParams, params_from_network

__all__ = ["backprop", "backprop_example", "backprop_batch", "failed_stage"]

_FORMS = ("batch", "example")

_STAGE = re.compile(r"^closed form: (feedforward|BP[1-4]) at layer (\d+) failed")


@contextmanager
def _stage(equation: str, l: int) -> Iterator[None]:
    """Name the equation and layer in any numerical error raised while computing it."""
    try:
        yield
    except NablaGraphError:
        raise
    except (ValueError, TypeError, IndexError, FloatingPointError) as exc:
        raise ShapeError(f"closed form: {equation} at layer {l} failed: {exc}") from exc


def failed_stage(exc: BaseException) -> tuple[str, int] | None:
    """``(equation, layer)`` named by an error the closed form raised, else ``None``.

    Examples
    --------
    >>> failed_stage(ShapeError("closed form: BP2 at layer 3 failed: shapes ..."))
    ('BP2', 3)
    """
    m = _STAGE.match(str(exc))
    return (m.group(1), int(m.group(2))) if m else None



def _targets(p: DenseParams, X: Array, Y: Any) -> Array:
    y = np.asarray(Y)
    n_L, M = p.sizes[-1], X.shape[0]
    if p.cost == "cross_entropy" and y.dtype.kind in "iu":
        if y.shape != (M,):
            raise ShapeError(
                f"closed form: class labels have shape {y.shape}, expected ({M},) for {M} examples"
            )
        if y.size and (y.min() < 0 or y.max() >= n_L):
            raise ShapeError(
                f"closed form: class labels must be in [0, {n_L - 1}], got values in "
                f"[{y.min()}, {y.max()}]"
            )
        return np.eye(n_L)[y]  # one-hot, so that δ^L = a − y
    if y.shape != (M, n_L):
        raise ShapeError(
            f"closed form: targets have shape {y.shape}, expected ({M}, {n_L}) "
            f"(one row per example, one column per output neuron)"
        )
    return y.astype(np.float64)


def _inputs(p: DenseParams, X: Any) -> Array:
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != p.sizes[0] or x.shape[0] == 0:
        raise ShapeError(
            f"closed form: input has shape {x.shape}, expected (M, {p.sizes[0]}) with M ≥ 1 "
            "(one example per row)"
        )
    return x



def backprop_batch(
    p: DenseParams, X: Any, Y: Any, equations: BackpropEquations | None = None
) -> Backprop:
    """BP1–BP4 vectorised over the mini-batch, one example per row.

    .. math::

        Z^l = A^{l-1} (W^l)^T + b^l,\\quad A^l = σ(Z^l);\\qquad
        Δ^L = ∇_A C ⊙ σ'(Z^L);\\qquad Δ^l = (Δ^{l+1} W^{l+1}) ⊙ σ'(Z^l);

        ∇_{b^l} C = \\tfrac1M \\textstyle\\sum_m Δ^l_m;\\qquad
        ∇_{W^l} C = \\tfrac1M (Δ^l)^T A^{l-1}

    Parameters
    ----------
    p : DenseParams
        The network's arrays.
    X : array_like, shape (M, n_1)
        Inputs, one example per row.
    Y : array_like, shape (M, n_L)
        Targets (or integer class labels of shape ``(M,)`` for ``cross_entropy``).
    equations : BackpropEquations, optional
        The equations to use (a deliberately wrong copy in tests).

    Returns
    -------
    Backprop

    Examples
    --------
    >>> import numpy as np
    >>> p = DenseParams.from_arrays([(np.array([[1.0, -1.0]]), np.zeros(1))], ["identity"], "quadratic")
    >>> bp = backprop_batch(p, [[1.0, 2.0], [3.0, 1.0]], [[0.0], [0.0]])
    >>> bp.deltas[2].ravel(), bp.nabla_W[2]     # δ = a − y; ∇_W = (1/M) Δᵀ X
    (array([-1.,  2.]), array([[2.5, 0. ]]))
    """
    eq = equations or BackpropEquations()
    x = _inputs(p, X)
    y = _targets(p, x, Y)
    L = p.L
    bp = Backprop(form="batch")
    # Feedforward: z^l = w^l a^{l-1} + b^l, a^l = σ(z^l), every example at once.
    activation = x
    bp.activations[1] = activation
    for l, W, b, name in p.layers():
        with _stage("feedforward", l):
            z = activation @ W.T.astype(np.float64) + b.astype(np.float64)
            activation = eq.sigma(name, z, axis=1)
        bp.zs[l], bp.activations[l] = z, activation
    # BP1: the error in the output layer.
    with _stage("BP1", L):
        delta = eq.bp1(p.cost, p.activations[-1], bp.zs[L], bp.activations[L], y, axis=1)
    bp.deltas[L] = delta
    # BP2: backpropagate the error, l = L−1 … 2.
    for l in range(L - 1, 1, -1):
        with _stage("BP2", l):
            W_next = p.weights[l - 1].astype(np.float64)  # w^{l+1}
            delta = eq.bp2_batch(W_next, delta, bp.zs[l], p.activations[l - 2])
        bp.deltas[l] = delta
    # BP3, BP4: the gradients, averaged over the batch.
    for l in p.layer_numbers:
        with _stage("BP3", l):
            bp.nabla_b[l] = eq.bp3_batch(bp.deltas[l])
        with _stage("BP4", l):
            bp.nabla_W[l] = eq.bp4_batch(bp.deltas[l], bp.activations[l - 1])
    bp.cost = _cost(p.cost, p.activations[-1], bp.zs[L], bp.activations[L], y)
    return bp


def backprop_example(
    p: DenseParams, X: Any, Y: Any, equations: BackpropEquations | None = None
) -> Backprop:
    """BP1–BP4 the notes' way: a loop over the mini-batch, one column vector at a time.

    For each example ``x`` (a column ``(n_1, 1)``): feedforward ``z^l = w^l a^{l-1} + b^l``
    (``b^l`` as ``(n_l, 1)``), then ``δ^L = ∇_a C_m ⊙ σ'(z^L)`` (BP1),
    ``δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)`` (BP2), ``∂C_m/∂b^l = δ^l`` (BP3),
    ``∂C_m/∂w^l = δ^l (a^{l-1})ᵀ`` (BP4); finally ``∇C = (1/M) Σ_m ∇C_m``.

    Parameters and return value as :func:`backprop_batch` (``zs``, ``activations`` and
    ``deltas`` are stacked back into rows, one per example).

    Examples
    --------
    >>> import numpy as np
    >>> p = DenseParams.from_arrays([(np.array([[1.0, -1.0]]), np.zeros(1))], ["identity"], "quadratic")
    >>> backprop_example(p, [[1.0, 2.0], [3.0, 1.0]], [[0.0], [0.0]]).nabla_W[2]
    array([[2.5, 0. ]])
    """
    eq = equations or BackpropEquations()
    X_ = _inputs(p, X)
    Y_ = _targets(p, X_, Y)
    weights = [W.astype(np.float64) for W in p.weights]
    biases = [b.astype(np.float64).reshape(-1, 1) for b in p.biases]  # b^l as (n_l, 1)
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(W.shape) for W in weights]
    rows: dict[str, dict[int, list[Array]]] = {"zs": {}, "activations": {}, "deltas": {}}
    for m in range(X_.shape[0]):
        x, y = X_[m].reshape(-1, 1), Y_[m].reshape(-1, 1)
        zs, activations = _feedforward(eq, weights, biases, p.activations, x)
        deltas = _backpropagate(eq, p, weights, zs, activations, y)
        _sum_gradients(eq, nabla_b, nabla_w, deltas, activations)
        _keep_rows(rows, zs, activations, deltas)
    return _example_result(p, rows, nabla_b, nabla_w, Y_)


def _feedforward(
    eq: BackpropEquations, weights: list[Array], biases: list[Array], names: tuple[str, ...], x: Array
) -> tuple[list[Array], list[Array]]:
    """Feedforward of one example (a column), keeping every z^l and a^l (Nielsen's zs and activations)."""
    activation = x
    activations = [x]
    zs = []
    for i, (W, b, name) in enumerate(zip(weights, biases, names)):
        with _stage("feedforward", i + 2):
            z = W @ activation + b
            activation = eq.sigma(name, z, axis=0)
        zs.append(z)
        activations.append(activation)
    return zs, activations


def _backpropagate(
    eq: BackpropEquations, p: DenseParams, weights: list[Array], zs: list[Array],
    activations: list[Array], y: Array,
) -> list[Array]:
    """BP1 and BP2 for one example: ``δ^l`` for ``l = 2 … L`` (index ``i`` is layer ``i + 2``)."""
    deltas: list[Array] = [np.empty(0)] * len(weights)
    # BP1
    with _stage("BP1", p.L):
        delta = eq.bp1(p.cost, p.activations[-1], zs[-1], activations[-1], y, axis=0)
    deltas[-1] = delta
    # BP2, from layer L−1 down to 2.
    for i in range(len(weights) - 2, -1, -1):
        with _stage("BP2", i + 2):
            delta = eq.bp2(weights[i + 1], delta, zs[i], p.activations[i])
        deltas[i] = delta
    return deltas


def _sum_gradients(
    eq: BackpropEquations, nabla_b: list[Array], nabla_w: list[Array], deltas: list[Array],
    activations: list[Array],
) -> None:
    """BP3 and BP4 for one example, added to the mini-batch's running sums ``nabla_b``, ``nabla_w``."""
    for i in range(len(deltas)):
        with _stage("BP3", i + 2):
            nabla_b[i] = nabla_b[i] + eq.bp3(deltas[i])
        with _stage("BP4", i + 2):
            nabla_w[i] = nabla_w[i] + eq.bp4(deltas[i], activations[i])


def _keep_rows(
    rows: dict[str, dict[int, list[Array]]], zs: list[Array], activations: list[Array], deltas: list[Array]
) -> None:
    """Append one example's columns as rows, by layer number, to be stacked into ``(M, n_l)``."""
    for i in range(len(zs)):
        rows["zs"].setdefault(i + 2, []).append(zs[i].ravel())
        rows["deltas"].setdefault(i + 2, []).append(deltas[i].ravel())
    for i, a in enumerate(activations):
        rows["activations"].setdefault(i + 1, []).append(a.ravel())


def _example_result(
    p: DenseParams, rows: dict[str, dict[int, list[Array]]], nabla_b: list[Array],
    nabla_w: list[Array], Y: Array,
) -> Backprop:
    """The per-example rows stacked into ``(M, n_l)`` and the sums averaged: ``∇C = (1/M) Σ_m ∇C_m``."""
    L, M = p.L, Y.shape[0]
    bp = Backprop(form="example")
    bp.zs = {l: np.stack(v) for l, v in rows["zs"].items()}
    bp.activations = {l: np.stack(v) for l, v in rows["activations"].items()}
    bp.deltas = {l: np.stack(v) for l, v in rows["deltas"].items()}
    for i, l in enumerate(p.layer_numbers):
        bp.nabla_b[l] = nabla_b[i].reshape(-1) / M  # ∇_b C = (1/M) Σ_m ∂C_m/∂b
        bp.nabla_W[l] = nabla_w[i] / M  # ∇_w C = (1/M) Σ_m ∂C_m/∂w
    bp.cost = _cost(p.cost, p.activations[-1], bp.zs[L], bp.activations[L], Y)
    return bp


def backprop(
    p: DenseParams | Any,
    X: Any,
    Y: Any,
    form: str = "batch",
    equations: BackpropEquations | None = None,
) -> Backprop:
    """The closed-form gradients of a dense network, in either form.

    Parameters
    ----------
    p : DenseParams or a Network
        The arrays, or a model to read them from with :func:`params_from_network`.
    X, Y : array_like
        The mini-batch (rows are examples).
    form : {"batch", "example"}
        Vectorised over the batch (rows) or the notes' per-example loop (columns).
    equations : BackpropEquations, optional
        The equations (a deliberately wrong copy in tests).

    Returns
    -------
    Backprop

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> net = ng.nn.Network([3, 4, 2], activation="tanh", cost="cross_entropy", seed=1)
    >>> X, y = np.random.default_rng(0).standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    >>> a, b = backprop(net, X, y), backprop(net, X, y, form="example")
    >>> bool(np.allclose(a.nabla_W[2], b.nabla_W[2], rtol=1e-12))
    True
    """
    if form not in _FORMS:
        raise ConfigError(f"closed form: form must be 'batch' or 'example', got {form!r}")
    params = p if isinstance(p, DenseParams) else params_from_network(p)
    run = backprop_batch if form == "batch" else backprop_example
    return run(params, X, Y, equations)
