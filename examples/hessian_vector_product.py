"""Hessian-vector products by differentiating the backward pass (``create_graph=True``).

With ``create_graph=True`` the backward pass records its own operations, so the
gradient ``g(w) = ∇C(w)`` is itself a differentiable function of the parameters.  The
Hessian-vector product is then one more backward pass:

    H v = ∇_w ⟨∇_w C(w), v⟩,

at the cost of about two gradients, without ever forming the P × P Hessian.  This
example computes ``H v`` for a small network's cost, checks it against central finite
differences of the gradient, ``(g(w + εv) − g(w − εv)) / 2ε``, and then estimates the
largest eigenvalue of H by power iteration (which sets the largest stable learning
rate of gradient descent, about 2 / λ_max).

Run::

    python examples/hessian_vector_product.py
    python examples/hessian_vector_product.py --sizes 8,16,4 --iterations 50
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

import nablagraph as ng


def hvp(net: ng.nn.Network, X: np.ndarray, Y: np.ndarray, v: list[np.ndarray]) -> list[np.ndarray]:
    """``H v`` for the cost of ``net`` on ``(X, Y)`` (v: one array per parameter)."""
    params = net.parameters()
    grads = ng.grad(net.cost(X, Y), params, create_graph=True)
    gv = ng.sum(ng.concatenate([(g * vi).sum().reshape(1) for g, vi in zip(grads, v)]))  # type: ignore[operator]
    return [h.data for h in ng.grad(gv, params)]  # type: ignore[union-attr]


def gradient(net: ng.nn.Network, X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
    return [g.data.copy() for g in ng.grad(net.cost(X, Y), net.parameters())]  # type: ignore[union-attr]


def fd_hvp(net: ng.nn.Network, X: np.ndarray, Y: np.ndarray, v: list[np.ndarray], eps: float = 1e-5) -> list[np.ndarray]:
    """Central differences of the gradient along v."""
    params = net.parameters()
    with ng.no_grad():
        for p, vi in zip(params, v):
            p.add_(eps * vi)
    plus = gradient(net, X, Y)
    with ng.no_grad():
        for p, vi in zip(params, v):
            p.sub_(2 * eps * vi)
    minus = gradient(net, X, Y)
    with ng.no_grad():
        for p, vi in zip(params, v):
            p.add_(eps * vi)
    return [(a - b) / (2 * eps) for a, b in zip(plus, minus)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="4,6,3", help="layer sizes (default 4,6,3)")
    p.add_argument("--iterations", type=int, default=30, help="power-iteration steps (default 30)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(args.seed)
    net = ng.nn.Network(sizes, activation="tanh", cost="cross_entropy", seed=args.seed)
    X = rng.standard_normal((16, sizes[0]))
    Y = rng.integers(0, sizes[-1], 16)
    P = net.num_parameters()

    v = [rng.standard_normal(q.shape) for q in net.parameters()]
    hv = hvp(net, X, Y, v)
    fd = fd_hvp(net, X, Y, v)
    scale = max(float(np.abs(f).max()) for f in fd)
    err = max(float(np.abs(a - b).max()) for a, b in zip(hv, fd)) / scale
    print(f"network {sizes}, P = {P} parameters, cost = softmax cross-entropy on 16 examples")
    print(f"H v by double backprop vs central differences of the gradient: max rel error {err:.2e}")

    # Power iteration: v ← H v / ‖H v‖ converges to the eigenvector of the largest |λ|.
    lam = 0.0
    for _ in range(args.iterations):
        hv = hvp(net, X, Y, v)
        norm = float(np.sqrt(sum(float((h * h).sum()) for h in hv)))
        lam = sum(float((h * vi).sum()) for h, vi in zip(hv, v)) / sum(float((vi * vi).sum()) for vi in v)
        v = [h / norm for h in hv]
    print(f"largest-magnitude Hessian eigenvalue ≈ {lam:.6g} after {args.iterations} iterations "
          f"(gradient descent is stable for η < 2/λ ≈ {2 / abs(lam):.3g})")
    return 0 if err < 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main())
