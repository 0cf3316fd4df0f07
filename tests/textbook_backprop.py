"""A student's backprop, written for these tests: correct, or with one mistake injected.

:class:`StudentNet` is the textbook form (per example, column vectors, ``(nabla_b,
nabla_w)``, a mini-batch update); :func:`student_grads` the vectorised form (one
example per row, a dict of batch gradients).  ``mistake`` names the one mistake a
student might make (see :data:`MISTAKES`); ``None`` is the correct code.  Written from
the notes' equations BP1–BP4, line for line, and nothing else.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

#: mistake -> (the equation check_backprop should name, words its mistake should contain)
MISTAKES: dict[str, tuple[str, str]] = {
    "bp1_no_sigma_prime": ("BP1", "σ' is missing"),
    "bp2_no_sigma_prime": ("BP2", "σ' is missing"),
    "bp1_sigma_prime_of_a": ("BP1", "σ' is evaluated at a instead of z"),
    "bp2_sigma_prime_of_a": ("BP2", "σ' is evaluated at a instead of z"),
    "bp2_no_transpose": ("BP2", "missing transpose"),
    "bp4_transposed": ("BP4", "missing transpose"),
    "bp4_wrong_activation": ("BP4", "the wrong layer's activation"),
    "wrong_sign": ("BP1", "wrong sign"),
    "update_swapped": ("update", "swapped in the update rule"),
    "update_sum": ("update", "without the 1/M"),
    "update_sign": ("update", "wrong sign in the update rule"),
}
#: Mistakes only the vectorised (batch) form can make.
BATCH_MISTAKES: dict[str, tuple[str, str]] = {
    "sum_not_mean": ("", "missing 1/M"),
}


def sigma(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigma_prime(z: np.ndarray) -> np.ndarray:
    return sigma(z) * (1.0 - sigma(z))


class StudentNet:
    """A sigmoid network in the notes' column form, with at most one mistake."""

    mistake: str | None = None
    cost = "quadratic"

    def __init__(self, sizes: Sequence[int], seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.num_layers = len(sizes)
        self.weights = [rng.standard_normal((n, k)) / np.sqrt(k) for k, n in itertools.pairwise(sizes)]
        self.biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]

    def feedforward(self, a: np.ndarray) -> np.ndarray:
        for w, b in zip(self.weights, self.biases):
            a = sigma(w @ a + b)
        return a

    def _sp(self, z: np.ndarray, a: np.ndarray, where: str) -> np.ndarray:
        if self.mistake == f"{where}_no_sigma_prime":
            return np.ones_like(z)
        if self.mistake == f"{where}_sigma_prime_of_a":
            return sigma_prime(a)
        return sigma_prime(z)

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, activations, zs = x, [x], []
        for w, b in zip(self.weights, self.biases):  # feedforward, keeping z^l and a^l
            z = w @ activation + b
            zs.append(z)
            activation = sigma(z)
            activations.append(activation)
        a, z = activations[-1], zs[-1]
        # BP1 (with the cross-entropy cost σ' cancels: δ^L = a − y)
        delta = (a - y) * self._sp(z, a, "bp1") if self.cost == "quadratic" else a - y
        if self.mistake == "wrong_sign":
            delta = -delta
        layers = len(self.weights)
        for k in range(layers - 1, -1, -1):  # k = l - 2, from the output layer down
            if k < layers - 1:  # BP2
                w_next = self.weights[k + 1]
                back = (w_next if self.mistake == "bp2_no_transpose" else w_next.T) @ delta
                delta = back * self._sp(zs[k], activations[k + 1], "bp2")
            nabla_b[k] = delta  # BP3
            if self.mistake == "bp4_transposed":
                nabla_w[k] = activations[k] @ delta.T
            elif self.mistake == "bp4_wrong_activation":
                nabla_w[k] = delta @ activations[k + 1].T
            else:
                nabla_w[k] = delta @ activations[k].T  # BP4
        return nabla_b, nabla_w

    def update_mini_batch(self, batch: list[tuple[np.ndarray, np.ndarray]], eta: float) -> None:
        sum_b = [np.zeros(b.shape) for b in self.biases]
        sum_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in batch:
            nb, nw = self.backprop(x, y)
            sum_b = [s + g for s, g in zip(sum_b, nb)]
            sum_w = [s + g for s, g in zip(sum_w, nw)]
        rate = eta if self.mistake == "update_sum" else eta / len(batch)
        sign = -1.0 if self.mistake == "update_sign" else 1.0
        if self.mistake == "update_swapped":  # the notes' own typo
            sum_b, sum_w = sum_w, sum_b
        self.weights = [w - sign * rate * g for w, g in zip(self.weights, sum_w)]
        self.biases = [b - sign * rate * g for b, g in zip(self.biases, sum_b)]


def student_net(sizes: Sequence[int], mistake: str | None = None, cost: str = "quadratic") -> StudentNet:
    net = StudentNet(sizes)
    net.mistake, net.cost = mistake, cost
    return net


def student_grads(mistake: str | None = None, cost: str = "quadratic") -> Callable[..., dict[str, Any]]:
    """The vectorised form: ``grads(params, X, Y)`` with rows as examples, mean cost."""

    def sp(z: np.ndarray, a: np.ndarray, where: str) -> np.ndarray:
        if mistake == f"{where}_no_sigma_prime":
            return np.ones_like(z)
        if mistake == f"{where}_sigma_prime_of_a":
            return sigma_prime(a)
        return sigma_prime(z)

    def grads(params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
        L = len(params) // 2 + 1
        A, Z = [X], []
        for l in range(2, L + 1):
            Z.append(A[-1] @ params[f"W{l}"].T + params[f"b{l}"])
            A.append(sigma(Z[-1]))
        M = 1 if mistake == "sum_not_mean" else X.shape[0]
        D = (A[-1] - Y) * sp(Z[-1], A[-1], "bp1") if cost == "quadratic" else A[-1] - Y
        if mistake == "wrong_sign":
            D = -D
        out: dict[str, Any] = {}
        for l in range(L, 1, -1):
            if l < L:
                W_next = params[f"W{l + 1}"]
                D = (D @ (W_next.T if mistake == "bp2_no_transpose" else W_next)) * sp(Z[l - 2], A[l - 1], "bp2")
            out[f"b{l}"] = D.sum(axis=0) / M
            if mistake == "bp4_transposed":
                out[f"W{l}"] = A[l - 2].T @ D / M
            elif mistake == "bp4_wrong_activation":
                out[f"W{l}"] = D.T @ A[l - 1] / M
            else:
                out[f"W{l}"] = D.T @ A[l - 2] / M
        return out

    return grads
