"""Activation functions and their derivatives σ'(z) on plain NumPy arrays.

These are what the notes' equations use: BP1 ``δ^L = ∇_a C ⊙ σ'(z^L)`` and BP2
``δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)``.  They are written independently of the ops
in :mod:`nablagraph.ops` (whose derivatives are VJP rules), so the closed-form
reference that uses them is an independent route to the same gradients.

This module imports NumPy only, never the engine.

Examples
--------
>>> import numpy as np
>>> from nablagraph.activations import sigmoid_prime
>>> float(sigmoid_prime(np.array(0.0)))
0.25
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "sigmoid", "sigmoid_prime", "tanh", "tanh_prime", "relu", "relu_prime",
    "leaky_relu", "leaky_relu_prime", "softplus", "softplus_prime", "identity", "identity_prime", "softmax",
    "ACTIVATIONS",
]

Array = np.ndarray


def sigmoid(z: Array) -> Array:
    """``σ(z) = 1 / (1 + e^{-z})``."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: Array) -> Array:
    """``σ'(z) = σ(z)(1 − σ(z))``."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: Array) -> Array:
    """``tanh(z)``."""
    return np.tanh(z)


def tanh_prime(z: Array) -> Array:
    """``1 − tanh²(z)``."""
    t = np.tanh(z)
    return 1.0 - t * t


def relu(z: Array) -> Array:
    """``max(z, 0)``."""
    return np.maximum(z, 0.0)


def relu_prime(z: Array) -> Array:
    """1 where ``z > 0``, else 0 (the value 0 is taken at the kink)."""
    return (z > 0).astype(np.result_type(z, np.float32))


def leaky_relu(z: Array, negative_slope: float = 0.01) -> Array:
    """``z`` for ``z > 0``, ``negative_slope · z`` otherwise."""
    return np.where(z > 0, z, negative_slope * z)


def leaky_relu_prime(z: Array, negative_slope: float = 0.01) -> Array:
    """1 where ``z > 0``, else ``negative_slope``."""
    return np.where(z > 0, 1.0, negative_slope).astype(np.result_type(z, np.float32))


def softplus(z: Array) -> Array:
    """``ln(1 + e^z)``, as ``max(z, 0) + ln(1 + e^{-|z|})`` (no overflow)."""
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def softplus_prime(z: Array) -> Array:
    """``σ(z) = 1 / (1 + e^{-z})``, the logistic function (written out, not imported)."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def identity(z: Array) -> Array:
    """``σ(z) = z``."""
    return z


def identity_prime(z: Array) -> Array:
    """``σ'(z) = 1``."""
    return np.ones_like(z)


def softmax(z: Array, axis: int = -1) -> Array:
    """``e^{z_j} / Σ_k e^{z_k}`` along ``axis`` (max subtracted first)."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


#: Elementwise activations by name: ``(σ, σ')``.
ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array], Array]]] = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "leaky_relu": (leaky_relu, leaky_relu_prime),
    "softplus": (softplus, softplus_prime),
    "identity": (identity, identity_prime),
}
