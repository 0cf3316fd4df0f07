"""The closed-form backpropagation equations BP1–BP4 for dense networks, in NumPy.

This is the notes' algorithm written out by hand, with the notes' (and Nielsen's)
names — ``zs``, ``activations``, ``delta``, ``nabla_b``, ``nabla_w``,
``sigmoid_prime`` — so that it reads line for line like the equations::

    feedforward   z^l = w^l a^{l-1} + b^l,   a^l = σ(z^l)               l = 2 … L
    BP1           δ^L = ∇_a C ⊙ σ'(z^L)
    BP2           δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)                   l = L−1 … 2
    BP3           ∂C/∂b^l = δ^l
    BP4           ∂C/∂w^l = δ^l (a^{l-1})ᵀ

for one example, and, since the costs average over the mini-batch
(``C = (1/M) Σ_m C_m``), ``∇_b C = (1/M) Σ_m δ_m^l`` and
``∇_w C = (1/M) Σ_m δ_m^l (a_m^{l-1})ᵀ``.

Two forms compute the same numbers:

* :func:`backprop_example` — the notes' loop over the mini-batch, one example at a
  time, as column vectors: ``x`` is ``(n_1, 1)``, ``b^l`` is used as ``(n_l, 1)``.
* :func:`backprop_batch` — vectorised over the batch with the examples as rows, as in
  the rest of the library: ``Z^l = A^{l-1} (W^l)ᵀ + b^l`` is ``(M, n_l)``, BP2 reads
  ``Δ^l = (Δ^{l+1} W^{l+1}) ⊙ σ'(Z^l)`` (the transpose of the column form), BP3
  ``∇_b = (1/M) Σ_m Δ^l_m`` and BP4 ``∇_W = (1/M) (Δ^l)ᵀ A^{l-1}``.

Both take plain arrays — ``(W, b)`` per layer with ``W`` of shape ``(n_l, n_{l-1})``
and ``b`` of shape ``(n_l,)``, the activation name of each layer and the cost name —
gathered in a :class:`DenseParams`; :func:`params_from_network` reads them from a
``nablagraph.nn.Network`` (by duck typing, without importing ``nn``).

``δ^L`` for each supported cost / output pairing (``∇_a C_m`` is the gradient of one
example's cost):

============================  =========================================================
quadratic, any elementwise σ  ``δ^L = (a − y) ⊙ σ'(z)``   (``C_m = ½‖a − y‖²``)
mse, any elementwise σ        ``δ^L = (2/n_L)(a − y) ⊙ σ'(z)``   (``C_m = ‖a − y‖²/n_L``)
binary cross-entropy, sigmoid ``δ^L = a − y``   (σ' cancels)
binary cross-entropy, other σ ``δ^L = (a − y)/(a(1 − a)) ⊙ σ'(z)``   (``a`` clipped to
                              ``[ε, 1 − ε]``, ``ε = 1e-12``, as the library's cost does)
cross-entropy, softmax        ``δ^L = a − y``   (``a Σ_j y_j − y`` for unnormalised y)
quadratic / mse / bce,        ``δ^L = a ⊙ (∇_a C − (aᵀ ∇_a C))``, the softmax Jacobian
softmax                       ``(diag(a) − a aᵀ)`` applied to ``∇_a C``
============================  =========================================================

Cross-entropy with any output other than softmax, softmax in a hidden layer (BP2 needs
an elementwise ``σ'``) and activation names not in
:data:`nablagraph.activations.ACTIVATIONS` raise :class:`~nablagraph.errors.ConfigError`.

The equations are methods of :class:`BackpropEquations`, which takes the table of
derivatives ``σ'`` as an argument, so a test can build a deliberately wrong copy (a
wrong ``σ'``, a missing transpose) and check that the three-way comparison in
:mod:`nablagraph.check` catches it.

Imports: NumPy, ``nablagraph.activations``, ``nablagraph.errors`` — never the engine,
``tensor``, ``ops``, ``functional`` or ``nn``: this module's value is that it is an
independent route to the gradients.

Examples
--------
>>> import numpy as np
>>> from nablagraph.reference import DenseParams, backprop
>>> rng = np.random.default_rng(0)
>>> p = DenseParams.from_arrays(
...     [(rng.standard_normal((3, 2)), np.zeros(3)), (rng.standard_normal((1, 3)), np.zeros(1))],
...     ["sigmoid", "sigmoid"], "quadratic")
>>> bp = backprop(p, rng.standard_normal((4, 2)), np.ones((4, 1)))
>>> sorted(bp.gradients())
['W2', 'W3', 'b2', 'b3']
>>> bp.nabla_W[2].shape, bp.deltas[3].shape
((3, 2), (4, 1))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph.activations import ACTIVATIONS, softmax
from nablagraph.errors import ConfigError, NablaGraphError, ShapeError

__all__ = [
    "COSTS", "SIGMA_PRIMES", "DenseParams", "Backprop", "BackpropEquations",
    "params_from_network", "backprop", "backprop_example", "backprop_batch",
    "failed_stage",
]

Array = np.ndarray
Prime = Callable[[Array], Array]

#: Cost names the closed form knows (the library's canonical names).
COSTS = ("quadratic", "mse", "binary_cross_entropy", "cross_entropy")

#: ``σ'`` by activation name: the derivative table BP1 and BP2 use by default.
SIGMA_PRIMES: Mapping[str, Prime] = {name: prime for name, (_, prime) in ACTIVATIONS.items()}

_SIGMAS: Mapping[str, Prime] = {name: sigma for name, (sigma, _) in ACTIVATIONS.items()}

# The clipping of binary_cross_entropy on probabilities (functional.binary_cross_entropy
# uses the same ε); duplicated on purpose: this module imports nothing from the engine.
_BCE_EPS = 1e-12

_FORMS = ("batch", "example")


# ----------------------------------------------------------------- parameters
@dataclass(frozen=True)
class DenseParams:
    """The arrays of a dense network: ``w^l``, ``b^l``, ``σ`` per layer and the cost.

    Parameters
    ----------
    weights : tuple of ndarray
        ``w^2 … w^L``, each of shape ``(n_l, n_{l-1})``.
    biases : tuple of ndarray
        ``b^2 … b^L``, each of shape ``(n_l,)``.
    activations : tuple of str
        The activation name of each weighted layer (``"sigmoid"``, ``"tanh"``,
        ``"relu"``, ``"leaky_relu"``, ``"identity"``; ``"softmax"`` at the output).
    cost : str
        ``"quadratic"``, ``"mse"``, ``"binary_cross_entropy"`` or ``"cross_entropy"``.

    Raises
    ------
    ShapeError
        When the shapes do not chain.
    ConfigError
        For an unknown activation or cost, or an unsupported cost / output pairing.

    Examples
    --------
    >>> import numpy as np
    >>> p = DenseParams.from_arrays([(np.ones((3, 2)), np.zeros(3))], ["softmax"], "cross_entropy")
    >>> p.sizes, p.L
    ([2, 3], 2)
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    activations: tuple[str, ...]
    cost: str

    @classmethod
    def from_arrays(
        cls, layers: Sequence[tuple[Any, Any]], activations: Sequence[str], cost: str
    ) -> DenseParams:
        """Build from a list of ``(W, b)`` pairs (arrays are not copied)."""
        return cls(
            tuple(np.asarray(W) for W, _ in layers),
            tuple(np.asarray(b) for _, b in layers),
            tuple(activations),
            cost,
        )

    def __post_init__(self) -> None:
        n = len(self.weights)
        if n == 0 or len(self.biases) != n or len(self.activations) != n:
            raise ConfigError(
                f"closed form: need one (W, b) pair and one activation per weighted layer, got "
                f"{n} weights, {len(self.biases)} biases and {len(self.activations)} activations"
            )
        for l, W, b in zip(self.layer_numbers, self.weights, self.biases):
            if W.ndim != 2:
                raise ShapeError(f"closed form: W{l} must be 2-D (n_l, n_(l-1)), got shape {W.shape}")
            if b.shape != (W.shape[0],):
                raise ShapeError(
                    f"closed form: b{l} has shape {b.shape}, expected ({W.shape[0]},) "
                    f"to match W{l} of shape {W.shape}"
                )
            if l > 2 and W.shape[1] != self.weights[l - 3].shape[0]:
                raise ShapeError(
                    f"closed form: W{l} has shape {W.shape} but layer {l - 1} has "
                    f"{self.weights[l - 3].shape[0]} neurons; expected ({W.shape[0]}, "
                    f"{self.weights[l - 3].shape[0]})"
                )
        if self.cost not in COSTS:
            raise ConfigError(
                f"closed form: unknown cost {self.cost!r}; expected one of {', '.join(COSTS)}"
            )
        known = (*SIGMA_PRIMES, "softmax")
        for l, name in zip(self.layer_numbers, self.activations):
            if name not in known:
                raise ConfigError(
                    f"closed form: layer {l} has activation {name!r}, which the closed form "
                    f"does not know; expected one of {', '.join(known)}"
                )
            if name == "softmax" and l != self.L:
                raise ConfigError(
                    f"closed form: softmax in hidden layer {l} is not supported: BP2 "
                    "(δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)) needs an elementwise σ'"
                )
        out = self.activations[-1]
        if self.cost == "cross_entropy" and out != "softmax":
            raise ConfigError(
                f"closed form: the pairing cost 'cross_entropy' + output activation {out!r} is "
                "not supported: cross_entropy is the softmax cross-entropy of the logits z^L, "
                "so the output layer must be softmax"
            )

    @property
    def L(self) -> int:
        """Number of layers, counting the input layer (the output layer's number)."""
        return len(self.weights) + 1

    @property
    def layer_numbers(self) -> range:
        """``2 … L``, the numbers of the weighted layers."""
        return range(2, len(self.weights) + 2)

    @property
    def sizes(self) -> list[int]:
        """``[n_1, …, n_L]``."""
        return [int(self.weights[0].shape[1])] + [int(W.shape[0]) for W in self.weights]

    def layers(self) -> Iterator[tuple[int, Array, Array, str]]:
        """``(l, w^l, b^l, σ name)`` for ``l = 2 … L``."""
        yield from zip(self.layer_numbers, self.weights, self.biases, self.activations)


def params_from_network(model: Any) -> DenseParams:
    """The arrays of a ``nablagraph.nn.Network`` (or any dense stack), by duck typing.

    Reads ``model.layers[i].W.data``, ``.b.data`` and ``.activation_name`` and
    ``model.cost_name``; the arrays are the model's own (not copied), so the closed form
    works on the very numbers autodiff uses.

    Raises
    ------
    ConfigError
        When the model does not look like a dense network.

    Examples
    --------
    >>> import nablagraph as ng
    >>> from nablagraph.reference import params_from_network
    >>> net = ng.nn.Network([4, 3, 2], cost="cross_entropy", seed=0)
    >>> p = params_from_network(net)
    >>> p.sizes, p.activations, p.cost
    ([4, 3, 2], ('sigmoid', 'softmax'), 'cross_entropy')
    """
    layers = getattr(model, "layers", None)
    cost = getattr(model, "cost_name", None)
    if layers is None or cost is None:
        raise ConfigError(
            f"closed form: {type(model).__name__} is not a dense network: expected "
            "attributes .layers (each with .W, .b, .activation_name) and .cost_name"
        )
    pairs, names = [], []
    for i, layer in enumerate(layers):
        try:
            pairs.append((layer.W.data, layer.b.data))
            names.append(str(layer.activation_name))
        except AttributeError as exc:
            raise ConfigError(
                f"closed form: layer {i} ({type(layer).__name__}) of {type(model).__name__} is "
                "not a dense layer: expected .W, .b and .activation_name"
            ) from exc
    return DenseParams.from_arrays(pairs, names, str(cost))


# ------------------------------------------------------------------ the result
@dataclass
class Backprop:
    """What one run of the closed form gives, keyed by layer number ``l``.

    Attributes
    ----------
    zs, activations : dict of int to ndarray
        ``z^l`` (``l = 2 … L``) and ``a^l`` (``l = 1 … L``, ``a^1 = x``), rows ``(M, n_l)``.
    deltas : dict of int to ndarray
        The notes' per-example errors ``δ_m^l = ∂C_m/∂z_m^l`` as rows ``(M, n_l)``.
        The gradient of the batch cost with respect to ``z^l`` is ``deltas[l] / M``.
    nabla_W, nabla_b : dict of int to ndarray
        ``∇_{w^l} C`` and ``∇_{b^l} C`` of the batch cost, shaped like ``W`` and ``b``
        (the per-example loop's running sums keep Nielsen's ``nabla_w``, ``nabla_b``).
    cost : float
        ``C = (1/M) Σ_m C_m``.
    form : str
        ``"batch"`` or ``"example"``.
    """

    zs: dict[int, Array] = field(default_factory=dict)
    activations: dict[int, Array] = field(default_factory=dict)
    deltas: dict[int, Array] = field(default_factory=dict)
    nabla_W: dict[int, Array] = field(default_factory=dict)  # noqa: N815 (design.md's name)
    nabla_b: dict[int, Array] = field(default_factory=dict)
    cost: float = float("nan")
    form: str = "batch"

    def gradients(self) -> dict[str, Array]:
        """``{"W2": ∇_{w^2} C, "b2": ∇_{b^2} C, …}``, the library's parameter names."""
        out: dict[str, Array] = {}
        for l in sorted(self.nabla_W):
            out[f"W{l}"] = self.nabla_W[l]
            out[f"b{l}"] = self.nabla_b[l]
        return out


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


# ---------------------------------------------------------------- the equations
class BackpropEquations:
    """BP1–BP4 as small methods, with the derivative table ``σ'`` as a parameter.

    Subclass and override one method (or pass a wrong table) to build a deliberately
    broken copy of the closed form; :func:`backprop` takes an instance.

    Parameters
    ----------
    sigma_primes : mapping of str to callable, optional
        ``σ'`` by activation name; defaults to :data:`SIGMA_PRIMES`.

    Examples
    --------
    >>> import numpy as np
    >>> eq = BackpropEquations()
    >>> W3, delta3, z2 = np.ones((1, 2)), np.array([[2.0]]), np.zeros((2, 1))
    >>> eq.bp2(W3, delta3, z2, "sigmoid").ravel()   # (w³)ᵀ δ³ ⊙ σ'(z²)
    array([0.5, 0.5])
    """

    def __init__(self, sigma_primes: Mapping[str, Prime] | None = None) -> None:
        self.sigma_primes = dict(SIGMA_PRIMES if sigma_primes is None else sigma_primes)

    # -- σ and σ' ---------------------------------------------------------------
    def sigma(self, name: str, z: Array, axis: int) -> Array:
        """``a = σ(z)``; softmax normalises along the neuron ``axis``."""
        if name == "softmax":
            return softmax(z, axis=axis)
        return _SIGMAS[name](z)

    def sigma_prime(self, name: str, z: Array) -> Array:
        """``σ'(z)`` from the derivative table."""
        try:
            prime = self.sigma_primes[name]
        except KeyError:
            raise ConfigError(
                f"closed form: no σ' for activation {name!r} in the derivative table "
                f"(has {', '.join(self.sigma_primes)})"
            ) from None
        return prime(z)

    # -- BP1 --------------------------------------------------------------------
    def nabla_a_cost(self, cost: str, a: Array, y: Array, axis: int) -> Array:
        """``∇_a C_m``, the gradient of one example's cost with respect to ``a^L``."""
        if cost == "quadratic":  # C_m = ½‖a − y‖²
            return a - y
        if cost == "mse":  # C_m = (1/n_L)‖a − y‖²
            return 2.0 * (a - y) / a.shape[axis]
        if cost == "binary_cross_entropy":  # C_m = −Σ_j [y ln a + (1 − y) ln(1 − a)]
            a = np.clip(a, _BCE_EPS, 1 - _BCE_EPS)
            return (a - y) / (a * (1 - a))
        raise ConfigError(f"closed form: ∇_a C is not defined here for the cost {cost!r}")

    def bp1(self, cost: str, name: str, z: Array, a: Array, y: Array, axis: int) -> Array:
        """BP1, the output error: ``δ^L = ∇_a C ⊙ σ'(z^L)`` (or its simplified forms)."""
        if cost == "cross_entropy":  # softmax + cross-entropy: δ^L = a − y
            return a * y.sum(axis=axis, keepdims=True) - y
        if cost == "binary_cross_entropy" and name == "sigmoid":  # σ' cancels: δ^L = a − y
            return a - y
        nabla_a = self.nabla_a_cost(cost, a, y, axis)
        if name == "softmax":  # (diag(a) − a aᵀ) ∇_a C: softmax is not elementwise
            return a * (nabla_a - np.sum(a * nabla_a, axis=axis, keepdims=True))
        return nabla_a * self.sigma_prime(name, z)

    # -- BP2, BP3, BP4: the notes' column form ------------------------------------
    def bp2(self, w_next: Array, delta_next: Array, z: Array, name: str) -> Array:
        """BP2: ``δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)``, column vectors."""
        return (w_next.T @ delta_next) * self.sigma_prime(name, z)

    def bp3(self, delta: Array) -> Array:
        """BP3: ``∂C_m/∂b^l = δ^l``."""
        return delta

    def bp4(self, delta: Array, a_prev: Array) -> Array:
        """BP4: ``∂C_m/∂w^l = δ^l (a^{l-1})ᵀ``."""
        return delta @ a_prev.T

    # -- BP2, BP3, BP4: vectorised, examples as rows ------------------------------
    def bp2_batch(self, W_next: Array, Delta_next: Array, Z: Array, name: str) -> Array:
        """BP2 for all examples: ``Δ^l = (Δ^{l+1} W^{l+1}) ⊙ σ'(Z^l)``, rows ``(M, n_l)``.

        Row ``m`` is ``((w^{l+1})ᵀ δ_m^{l+1})ᵀ ⊙ σ'(z_m^l)ᵀ``: the column form, transposed.
        """
        return (Delta_next @ W_next) * self.sigma_prime(name, Z)

    def bp3_batch(self, Delta: Array) -> Array:
        """BP3 averaged over the batch: ``∇_b C = (1/M) Σ_m δ_m^l``."""
        return Delta.sum(axis=0) / Delta.shape[0]

    def bp4_batch(self, Delta: Array, A_prev: Array) -> Array:
        """BP4 averaged over the batch: ``∇_W C = (1/M) Σ_m δ_m^l (a_m^{l-1})ᵀ = (1/M) Δᵀ A``."""
        return Delta.T @ A_prev / Delta.shape[0]


# --------------------------------------------------------------------- helpers
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


def _cost(cost: str, name: str, zL: Array, aL: Array, y: Array) -> float:
    """``C = (1/M) Σ_m C_m`` from the output layer (the same formulas as the library)."""
    M = zL.shape[0]
    if cost == "quadratic":
        return float(0.5 * np.sum((aL - y) ** 2) / M)
    if cost == "mse":
        return float(np.sum((aL - y) ** 2) / aL.size)
    if cost == "binary_cross_entropy":
        if name == "sigmoid":  # from the logits, finite for any z
            c = np.maximum(zL, 0) - zL * y + np.log1p(np.exp(-np.abs(zL)))
            return float(c.sum() / M)
        a = np.clip(aL, _BCE_EPS, 1 - _BCE_EPS)
        return float(-(np.sum(y * np.log(a)) + np.sum((1 - y) * np.log1p(-a))) / M)
    zmax = zL.max(axis=1, keepdims=True)
    log_softmax = zL - zmax - np.log(np.exp(zL - zmax).sum(axis=1, keepdims=True))
    return float(-np.sum(y * log_softmax) / M)


# ------------------------------------------------------------------ the two forms
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
    L, M = p.L, X_.shape[0]
    weights = [W.astype(np.float64) for W in p.weights]
    biases = [b.astype(np.float64).reshape(-1, 1) for b in p.biases]  # b^l as (n_l, 1)
    nabla_b = [np.zeros(b.shape) for b in biases]
    nabla_w = [np.zeros(W.shape) for W in weights]
    rows: dict[str, dict[int, list[Array]]] = {"zs": {}, "activations": {}, "deltas": {}}
    for m in range(M):
        x, y = X_[m].reshape(-1, 1), Y_[m].reshape(-1, 1)
        # Feedforward, keeping every z^l and a^l (Nielsen's zs and activations).
        activation = x
        activations = [x]
        zs = []
        for i, (W, b, name) in enumerate(zip(weights, biases, p.activations)):
            with _stage("feedforward", i + 2):
                z = W @ activation + b
                activation = eq.sigma(name, z, axis=0)
            zs.append(z)
            activations.append(activation)
        deltas: list[Array] = [np.empty(0)] * len(weights)
        # BP1
        with _stage("BP1", L):
            delta = eq.bp1(p.cost, p.activations[-1], zs[-1], activations[-1], y, axis=0)
        deltas[-1] = delta
        # BP2, from layer L−1 down to 2 (index i is layer i + 2).
        for i in range(len(weights) - 2, -1, -1):
            with _stage("BP2", i + 2):
                delta = eq.bp2(weights[i + 1], delta, zs[i], p.activations[i])
            deltas[i] = delta
        # BP3 and BP4 for this example, summed over the mini-batch.
        for i in range(len(weights)):
            with _stage("BP3", i + 2):
                nabla_b[i] = nabla_b[i] + eq.bp3(deltas[i])
            with _stage("BP4", i + 2):
                nabla_w[i] = nabla_w[i] + eq.bp4(deltas[i], activations[i])
        for i in range(len(weights)):
            rows["zs"].setdefault(i + 2, []).append(zs[i].ravel())
            rows["deltas"].setdefault(i + 2, []).append(deltas[i].ravel())
        for i, a in enumerate(activations):
            rows["activations"].setdefault(i + 1, []).append(a.ravel())
    bp = Backprop(form="example")
    bp.zs = {l: np.stack(v) for l, v in rows["zs"].items()}
    bp.activations = {l: np.stack(v) for l, v in rows["activations"].items()}
    bp.deltas = {l: np.stack(v) for l, v in rows["deltas"].items()}
    for i, l in enumerate(p.layer_numbers):
        bp.nabla_b[l] = nabla_b[i].reshape(-1) / M  # ∇_b C = (1/M) Σ_m ∂C_m/∂b
        bp.nabla_W[l] = nabla_w[i] / M  # ∇_w C = (1/M) Σ_m ∂C_m/∂w
    bp.cost = _cost(p.cost, p.activations[-1], bp.zs[L], bp.activations[L], Y_)
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
