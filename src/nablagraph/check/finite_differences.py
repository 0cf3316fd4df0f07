"""Finite differences of a model's cost: stencils, probes, and a kink-safe step.

The notes' estimate ``∂C/∂w_j ≈ (C(w + ε e_j) − C(w))/ε`` costs one forward pass per
weight; its central forms cancel the even error terms.  :class:`FiniteDifferences`
evaluates ``model.cost`` with one parameter entry (or one direction ``v`` in a
parameter's space) moved by ``±kε`` and counts the forward passes; :class:`Probe`
holds the estimates for one parameter, at every coordinate or at a seeded sample plus
random directions, and compares an analytic gradient with them.

Imports: ``tensor``, ``functional`` (the op registry's facts of an activation:
kinks, Lipschitz bound), ``check.report``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor, no_grad
from nablagraph.check.report import (
    PairError,
    Tolerances,
    index_label,
    merge_pair_errors,
    pair_error,
)
from nablagraph.functional import activation_op

__all__ = [
    "STENCILS", "DEFAULT_EPS", "FiniteDifferences", "Probe", "kink_safe_eps", "fd_mode", "fd_method",
]

#: Central-difference stencils by order, ``{k: w_k}`` for ``k > 0``:
#: ``∂C/∂θ ≈ Σ_k w_k (C(θ + kε) − C(θ − kε)) / ε``.  Pairing ``±k`` makes the estimate
#: exactly 0 when the cost does not change at all (a dead ReLU), whatever the rounding.
STENCILS: dict[int, dict[int, float]] = {
    2: {1: 1 / 2},
    4: {1: 8 / 12, 2: -1 / 12},
    6: {1: 45 / 60, 2: -9 / 60, 3: 1 / 60},
}
# Steps near the balance of truncation (ε^order) and rounding (u/ε) errors in float64.
DEFAULT_EPS = {2: 1e-5, 4: 5e-4, 6: 1e-3}
#: The step for a model with kinks that no bound reaches (not a chain of dense layers):
#: small enough that a probe rarely crosses one, large enough that rounding (u·|C|/ε)
#: stays near 1e-10 of the cost.
UNBOUNDED_KINK_EPS = 1e-6



def _kinked(name: Any) -> bool:
    """Whether the activation ``name`` has a kink (a registry fact of its op)."""
    op = activation_op(str(name))
    return op is not None and bool(op.kinks)


def _lipschitz(name: Any) -> float:
    """``sup |σ'|`` of the activation ``name`` (1 for identity and unknown functions)."""
    op = activation_op(str(name))
    return op.lipschitz if op is not None and op.lipschitz is not None else 1.0


def _a_max(name: Any, z_max: float) -> float:
    """A bound on ``max |a|`` from ``max |z|``: ``min(sup |σ|, |σ(0)| + L·max|z|)``."""
    op = activation_op(str(name))
    if op is None:
        return z_max
    reach = (op.at_zero or 0.0) + _lipschitz(name) * z_max
    return reach if op.bound is None else min(op.bound, reach)


def kink_safe_eps(
    model: Any, X: np.ndarray, z: dict[int, np.ndarray], eps: float, reach: int,
    directions: bool = False,
) -> tuple[float, str | None]:
    """Shrink ``eps`` so that no probe moves a ReLU input ``z`` across 0.

    Perturbing one parameter of layer ``l`` by ``δ`` moves ``z^l`` by at most
    ``δ · max(1, max|a^{l-1}|)`` (times ``√(n_{l-1} + 1)`` for a unit direction), and
    each later layer multiplies that by at most ``‖W^{j+1}‖_∞ · max|σ'_j|``; the stencil
    reaches ``reach · eps``.  The step is kept below half the smallest ``|z|`` of every
    ReLU-family layer it can reach.  Returns the step and a note when it was shrunk.
    """
    kinked = list(getattr(model, "kinked_ops", []) or [])
    if kinked and not hasattr(model, "layers"):
        return _unbounded_kink_step(eps, kinked)
    layers = list(getattr(model, "layers", []) or [])
    names = [getattr(layer, "activation_name", None) for layer in layers]
    keys = sorted(z)
    if not any(_kinked(n) for n in names) or len(keys) != len(layers):
        return eps, None
    try:
        W = [np.asarray(layer.W.data, dtype=np.float64) for layer in layers]
    except AttributeError:
        return eps, None
    a_max = [float(np.abs(X).max(initial=0.0))]
    for n, l in zip(names, keys):  # max |a^l| from max |z^l|
        z_max = float(np.abs(np.asarray(z[l], dtype=np.float64)).max(initial=0.0))
        a_max.append(_a_max(n, z_max))
    safe, worst = eps, None
    for i in range(len(layers)):
        growth = max(1.0, a_max[i]) * (np.sqrt(W[i].shape[1] + 1) if directions else 1.0)
        for j in range(i, len(layers)):
            if j > i:
                growth *= float(np.abs(W[j]).sum(axis=1).max()) * _lipschitz(names[j - 1])
            if _kinked(names[j]):
                margin = float(np.abs(z[keys[j]]).min(initial=np.inf))
                limit = 0.5 * margin / (reach * growth)
                if limit < safe:
                    safe, worst = limit, (keys[j], margin)
    if worst is None:
        return eps, None
    floor = 1e-9
    note = (
        f"eps reduced from {eps:g} to {max(safe, floor):.3g} so that no probe moves a "
        f"{names[keys.index(worst[0])]} input across its kink at 0 (min |z^{worst[0]}| = "
        f"{worst[1]:.3g})"
    )
    if safe < floor:
        note += "; that is below 1e-9, so finite differences will be inaccurate near the kink"
    return max(safe, floor), note


def _unbounded_kink_step(eps: float, kinked: list[str]) -> tuple[float, str | None]:
    """A small fixed step for kinks no bound reaches, and the note saying so."""
    if eps <= UNBOUNDED_KINK_EPS:
        return eps, None
    ops = ", ".join(repr(k) for k in kinked)
    return UNBOUNDED_KINK_EPS, (
        f"eps reduced from {eps:g} to {UNBOUNDED_KINK_EPS:g}: the model uses {ops} (a derivative "
        "that jumps) and is not a chain of Dense layers, so no bound keeps a probe off the "
        "kink; a small step makes crossing it unlikely (pass eps= to choose another)"
    )


class FiniteDifferences:
    """Central differences of ``model.cost`` with a stencil; counts its forward passes."""

    def __init__(self, model: Any, X: Any, Y: Any, eps: float, order: int) -> None:
        self.model, self.X, self.Y, self.eps = model, X, Y, eps
        self.stencil = STENCILS[order]
        self.passes = 0
        self.seconds = 0.0

    def cost(self) -> float:
        t0 = time.perf_counter()
        with no_grad():
            c = float(self.model.cost(self.X, self.Y).item())
        self.seconds += time.perf_counter() - t0
        self.passes += 1
        return c

    def _derivative(self, at: Callable[[float], None]) -> float:
        total = 0.0
        for k, w in self.stencil.items():
            at(k * self.eps)
            plus = self.cost()
            at(-k * self.eps)
            total += w * (plus - self.cost())
        return total / self.eps

    def coordinate(self, p: Tensor, index: tuple[int, ...]) -> float:
        """``∂C/∂p[index]``; the entry is restored exactly afterwards."""
        orig = p.data[index]

        def at(h: float) -> None:
            p.data[index] = orig + h

        try:
            return self._derivative(at)
        finally:
            p.data[index] = orig

    def direction(self, p: Tensor, v: np.ndarray) -> float:
        """``∂C/∂v`` along a unit direction ``v`` in ``p``'s space."""
        orig = p.data.copy()

        def at(h: float) -> None:
            p.data[...] = orig + h * v

        try:
            return self._derivative(at)
        finally:
            p.data[...] = orig


@dataclass
class Probe:
    """Finite-difference estimates for one parameter: at coordinates and along directions."""

    shape: tuple[int, ...]
    index: np.ndarray
    values: np.ndarray
    directions: list[np.ndarray]
    along: np.ndarray

    @classmethod
    def run(
        cls, fdiff: FiniteDifferences, p: Tensor, full: bool, n_samples: int,
        n_directions: int, rng: np.random.Generator,
    ) -> Probe:
        shape = tuple(p.shape)
        sample = not full and p.size > n_samples
        if sample:
            index = np.sort(rng.choice(p.size, size=n_samples, replace=False))
        else:
            index = np.arange(p.size)
        values = np.array([fdiff.coordinate(p, np.unravel_index(j, shape)) for j in index])
        directions = []
        for _ in range(n_directions if sample else 0):
            v = rng.standard_normal(shape)
            directions.append(v / np.linalg.norm(v))
        along = np.array([fdiff.direction(p, v) for v in directions])
        return cls(shape, index, values, directions, along)

    def compare(self, g: np.ndarray, tol: Tolerances) -> PairError:
        """An analytic gradient ``g`` (full) against these estimates."""
        scale = max(float(np.abs(g).max(initial=0.0)), float(np.abs(self.values).max(initial=0.0)))
        parts = [pair_error(g.ravel()[self.index], self.values, tol.fd, tol.floor, scale,
                       lambda i: index_label(self.shape, int(self.index[i])))]
        if self.directions:
            ana = np.array([float(np.vdot(g, v)) for v in self.directions])
            parts.append(pair_error(ana, self.along, tol.fd, tol.floor, float(np.linalg.norm(g)),
                               lambda i: f"direction {i}"))
        return merge_pair_errors(parts)


def fd_mode(
    fd: str, dtype: np.dtype[Any], P: int, max_full: int, step: float, tol: Tolerances,
    notes: list[str],
) -> str:
    """``"full"``, ``"sampled"`` or ``"off"``, with a note when float32 is involved."""
    if fd == "auto":
        if dtype != np.float64:
            notes.append(
                f"finite differences skipped: the parameters are {dtype}; a {dtype} cost is "
                f"rounded to about {np.finfo(dtype).eps:.0e} relative, which divided by "
                f"ε = {step:g} swamps the derivative; check a float64 copy of the model "
                "(or pass fd='full' to see it anyway)"
            )
            return "off"
        return "full" if max_full >= P else "sampled"
    if fd != "off" and dtype != np.float64:
        notes.append(
            f"finite differences in {dtype} are unreliable (rounding error / ε); their "
            f"tolerance is loosened to {tol.fd:g}"
        )
    return fd


def fd_method(mode: str, fd_order: int, step: float, n_samples: int, n_directions: int) -> str:
    """One line saying how the finite differences were taken."""
    if mode == "off":
        return "off"
    k = 2 * len(STENCILS[fd_order])
    return (
        f"central differences of order {fd_order} ({k} cost evaluations per probe), "
        f"eps = {step:.3g}, "
        + ("every coordinate" if mode == "full" else
           f"{n_samples} random coordinates + {n_directions} random directions per parameter")
    )
