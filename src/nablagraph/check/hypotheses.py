"""Candidate mistakes in a handwritten backprop, and the numbers each one produces.

:func:`backprop_with` is the notes' backprop of a sigmoid network (BP1–BP4, one
example per row, every example's gradient kept) in plain NumPy, with at most one
:class:`Mistake` injected.  :func:`candidates` lists the mistakes worth testing for a
network: σ' missing or evaluated at ``a`` instead of ``z`` (in BP1, in BP2 at one
layer or at all of them), a missing transpose (BP2's ``w^{l+1} δ^{l+1}``, BP4's
``a^{l-1} (δ^l)ᵀ``), the wrong layer's activation in BP4 (``a^l`` for ``a^{l-1}``),
a wrong sign, the sum instead of the mean over the batch, the two gradients returned
in the wrong order; and, for an update rule, ``∇_b`` and ``∇_w`` swapped (the notes'
own typo), the missing ``1/M`` and the wrong sign (:func:`update_with`).

:mod:`nablagraph.check.yours` recomputes the gradients under each candidate and
names the one that reproduces the user's numbers.  The correct gradients come from
autodiff, never from here: a mistake's numbers only explain a mismatch.

Imports: nothing from the package (plain NumPy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Mistake", "Gradients", "backprop_with", "candidates", "update_candidates", "update_with"]

#: What each kind of mistake is, in words a student recognises.
KINDS: dict[str, str] = {
    "sigma_prime_missing": "σ' is missing: δ^{l} without the factor ⊙ σ'(z^{l})",
    "sigma_prime_at_a": "σ' is evaluated at a instead of z: σ'(a^{l}) where σ'(z^{l}) belongs",
    "extra_sigma_prime": "an extra σ'(z^L): δ^L = (a^L − y) ⊙ σ'(z^L) is the quadratic cost's "
                         "δ^L; with the cross-entropy cost δ^L = a^L − y",
    "missing_sigma_prime_ce": "σ' cancels only once: with the cross-entropy cost δ^L = a^L − y, "
                              "but ∇_a C = (a − y)/(a(1 − a)) was used without ⊙ σ'(z^L)",
    "no_transpose": "a missing transpose: w^{l+1} δ^{l+1} where (w^{l+1})ᵀ δ^{l+1} belongs",
    "nabla_w_transposed": "a missing transpose: a^{l-1} (δ^{l})ᵀ, the transpose of ∇w^{l} = "
                          "δ^{l} (a^{l-1})ᵀ",
    "wrong_activation": "the wrong layer's activation: δ^{l} (a^{l})ᵀ where δ^{l} (a^{l-1})ᵀ "
                        "belongs",
    "wrong_sign": "a wrong sign: y − a where a − y belongs (every gradient is negated)",
    "sum_not_mean": "the sum instead of the mean over the batch (a missing 1/M): every "
                    "gradient is M times too large",
    "returned_swapped": "(nabla_w, nabla_b) returned where (nabla_b, nabla_w) is expected",
    "update_swapped": "∇_b and ∇_w swapped in the update rule (the notes' own typo): "
                      "w − (η/M) Σ ∇_b C_m and b − (η/M) Σ ∇_w C_m",
    "update_sum": "the update rule sums without the 1/M: w − η Σ ∇_w C_m",
    "update_sign": "a wrong sign in the update rule: w + (η/M) Σ ∇_w C_m (gradient ascent)",
}


@dataclass(frozen=True)
class Mistake:
    """One candidate mistake: its kind (a key of :data:`KINDS`), the equation it sits in
    and the layers it is injected at (empty: wherever the kind applies)."""

    kind: str
    equation: str
    layers: tuple[int, ...] = ()

    def at(self, l: int) -> bool:
        return not self.layers or l in self.layers

    def describe(self) -> str:
        text = KINDS[self.kind]
        if len(self.layers) == 1:
            l = self.layers[0]
            text = text.replace("{l+1}", str(l + 1)).replace("{l-1}", str(l - 1))
            return text.replace("{l}", str(l))
        return text.replace("{l+1}", "(l+1)").replace("{l-1}", "(l-1)").replace("{l}", "l")

    def where(self, L: int) -> str:
        """``"BP2 at layer 3"``, ``"BP2 at every hidden layer"``, ``"BP1 at L = 4"``..."""
        if self.equation == "BP1":
            return f"BP1 at the output layer L = {L}"
        if self.equation in ("BP2", "BP4", "BP3"):
            if len(self.layers) == 1:
                return f"{self.equation} at layer {self.layers[0]}"
            return f"{self.equation} at every layer" if self.equation != "BP2" else \
                "BP2 at every hidden layer"
        return {"update": "the update rule", "result": "the returned pair (nabla_b, nabla_w)",
                "mean": "the mean over the batch (∇C = (1/M) Σ_m ∇C_m)"}.get(self.equation, self.equation)


@dataclass
class Gradients:
    """Per-example results of backprop, stacked: ``nabla_b[i]`` is ``(M, n_l)``,
    ``nabla_w[i]`` is ``(M, n_l, n_{l-1})`` (or what a mistake makes of it) and
    ``deltas[i]`` is ``(M, n_l)``, for ``l = i + 2``."""

    nabla_b: list[np.ndarray]
    nabla_w: list[np.ndarray]
    deltas: list[np.ndarray]

    def mean(self, total: bool = False) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The batch gradient: the mean over the examples (the sum with ``total``)."""
        if total:
            return [g.sum(axis=0) for g in self.nabla_b], [g.sum(axis=0) for g in self.nabla_w]
        return [g.mean(axis=0) for g in self.nabla_b], [g.mean(axis=0) for g in self.nabla_w]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1.0 - s)


def backprop_with(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], X: np.ndarray, Y: np.ndarray,
    cost: str, mistake: Mistake | None = None,
) -> Gradients:
    """The notes' BP1–BP4 for every row of ``X`` at once, with ``mistake`` injected.

    ``weights[i]`` is ``w^l`` of shape ``(n_l, n_{l-1})`` and ``biases[i]`` is ``b^l`` of
    shape ``(n_l,)``, for ``l = i + 2``; ``cost`` is ``"quadratic"`` (``½‖a − y‖²``) or
    ``"cross_entropy"`` (``−Σ_j [y ln a + (1 − y) ln(1 − a)]``).  Raises ``ValueError``
    when the mistake cannot be computed for these shapes (a missing transpose of a
    non-square matrix): the user's code would have raised there too.
    """
    m = mistake
    L = len(weights) + 1
    acts, zs = [X], []
    for W, b in zip(weights, biases):
        zs.append(acts[-1] @ W.T + b)
        acts.append(_sigmoid(zs[-1]))

    def sp(l: int, eq: str) -> np.ndarray:
        i = l - 2
        if m is not None and m.equation == eq and m.at(l):
            if m.kind == "sigma_prime_missing":
                return np.ones_like(zs[i])
            if m.kind == "sigma_prime_at_a":
                return _sigmoid_prime(acts[i + 1])
        return _sigmoid_prime(zs[i])

    a, y = acts[-1], Y
    if cost == "quadratic":
        delta = (a - y) * sp(L, "BP1")
    elif m is not None and m.kind == "extra_sigma_prime":
        delta = (a - y) * _sigmoid_prime(zs[-1])
    elif m is not None and m.kind == "missing_sigma_prime_ce":
        delta = (a - y) / (a * (1.0 - a))
    else:
        delta = a - y
    if m is not None and m.kind == "wrong_sign":
        delta = -delta
    deltas = [delta]
    for l in range(L - 1, 1, -1):
        W_next = weights[l - 1]  # w^{l+1}
        back = delta @ (W_next.T if m is not None and m.kind == "no_transpose" and m.at(l) else W_next)
        delta = back * sp(l, "BP2")
        deltas.insert(0, delta)
    nabla_b, nabla_w = [], []
    for i, d in enumerate(deltas):
        l = i + 2
        a_prev = acts[i]
        if m is not None and m.kind == "wrong_activation" and m.at(l):
            a_prev = acts[i + 1]
        g = d[:, :, None] * a_prev[:, None, :]
        if m is not None and m.kind == "nabla_w_transposed" and m.at(l):
            g = np.swapaxes(g, 1, 2)
        nabla_b.append(d)
        nabla_w.append(g)
    if m is not None and m.kind == "returned_swapped":
        return Gradients(nabla_w, nabla_b, deltas)
    return Gradients(nabla_b, nabla_w, deltas)


def candidates(sizes: Sequence[int], cost: str, batched: bool) -> list[Mistake]:
    """Every mistake worth testing for a sigmoid network of ``sizes`` and this cost.

    ``batched``: the user's gradients are batch gradients (the vectorised form), so the
    missing ``1/M`` is a candidate too.  Mistakes at one layer come before the same
    mistake at every layer, so that the most specific explanation is found first.
    """
    L = len(sizes)
    hidden = list(range(2, L))
    out: list[Mistake] = []
    if cost == "quadratic":
        out += [Mistake("sigma_prime_missing", "BP1", (L,)), Mistake("sigma_prime_at_a", "BP1", (L,))]
    else:
        out += [Mistake("extra_sigma_prime", "BP1", (L,)), Mistake("missing_sigma_prime_ce", "BP1", (L,))]
    out.append(Mistake("wrong_sign", "BP1", (L,)))
    for kind in ("sigma_prime_missing", "sigma_prime_at_a"):
        out += [Mistake(kind, "BP2", (l,)) for l in hidden]
        if len(hidden) > 1:
            out.append(Mistake(kind, "BP2", tuple(hidden)))
    out += [Mistake("no_transpose", "BP2", (l,)) for l in hidden]
    if len(hidden) > 1:
        out.append(Mistake("no_transpose", "BP2", tuple(hidden)))
    every = tuple(range(2, L + 1))
    for kind in ("nabla_w_transposed", "wrong_activation"):
        out += [Mistake(kind, "BP4", (l,)) for l in every]
        if len(every) > 1:
            out.append(Mistake(kind, "BP4", every))
    if batched:
        out.append(Mistake("sum_not_mean", "mean"))
    out.append(Mistake("returned_swapped", "result"))
    return out


def update_candidates() -> list[Mistake]:
    """The update rule's candidate mistakes."""
    return [Mistake("update_swapped", "update"), Mistake("update_sum", "update"),
            Mistake("update_sign", "update")]


def update_with(
    weights: Sequence[np.ndarray], biases: Sequence[np.ndarray], sum_b: Sequence[np.ndarray],
    sum_w: Sequence[np.ndarray], eta: float, M: int, mistake: Mistake | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The mini-batch step from the summed per-example gradients, with ``mistake`` injected.

    Arrays are in the user's shapes (``b^l`` a column ``(n_l, 1)``); NumPy broadcasting
    applies as it would in the user's code, so the notes' swapped rule gives the same
    (wrongly shaped) arrays it gives there.  Raises ``ValueError`` when the shapes do
    not broadcast.
    """
    kind = None if mistake is None else mistake.kind
    rate = eta if kind == "update_sum" else eta / M
    sign = -1.0 if kind == "update_sign" else 1.0
    gw, gb = (sum_b, sum_w) if kind == "update_swapped" else (sum_w, sum_b)
    new_w = [w - sign * rate * g for w, g in zip(weights, gw)]
    new_b = [b - sign * rate * g for b, g in zip(biases, gb)]
    return new_w, new_b
