"""BP1–BP4 as the methods of :class:`BackpropEquations`, with the derivative table ``σ'`` as a parameter.

Each method is one equation of the notes, in the column form (one example, ``δ^l`` a
column ``(n_l, 1)``) and vectorised over a batch of rows (``bp2_batch``, …); the forms
of :mod:`nablagraph.reference.forms` call them.  Also the cost ``C`` itself, with the
library's formulas.

Imports: NumPy, ``activations``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from nablagraph.activations import ACTIVATIONS, softmax
from nablagraph.errors import ConfigError

__all__ = ["SIGMA_PRIMES", "BackpropEquations"]

Array = np.ndarray
Prime = Callable[[Array], Array]

#: ``σ'`` by activation name: the derivative table BP1 and BP2 use by default.
SIGMA_PRIMES: Mapping[str, Prime] = {name: prime for name, (_, prime) in ACTIVATIONS.items()}

_SIGMAS: Mapping[str, Prime] = {name: sigma for name, (sigma, _) in ACTIVATIONS.items()}

# The clipping of binary_cross_entropy on probabilities (functional.binary_cross_entropy
# uses the same ε); duplicated on purpose: this module imports nothing from the engine.
_BCE_EPS = 1e-12


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
