"""``python -m nablagraph`` / ``nablagraph``: the main job.

For now: train a 2-4-1 sigmoid network on XOR with the autodiff engine and mini-batch
gradient descent, then prove its gradients by central finite differences.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

import nablagraph as ng


def xor_demo(epochs: int = 3000, lr: float = 2.0, seed: int = 0, hidden: int = 4) -> int:
    """Train XOR, print the cost curve, predictions and a gradient check; 0 on success."""
    rng = np.random.default_rng(seed)
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])
    # Layers numbered as in the notes: input = layer 1, then W2/b2, W3/b3.
    W2 = ng.Tensor(rng.standard_normal((hidden, 2)), requires_grad=True, name="W2")
    b2 = ng.Tensor(rng.standard_normal(hidden), requires_grad=True, name="b2")
    W3 = ng.Tensor(rng.standard_normal((1, hidden)), requires_grad=True, name="W3")
    b3 = ng.Tensor(rng.standard_normal(1), requires_grad=True, name="b3")
    params = [W2, b2, W3, b3]

    def cost(W2: ng.Tensor, b2: ng.Tensor, W3: ng.Tensor, b3: ng.Tensor) -> ng.Tensor:
        a2 = ng.sigmoid(ng.linear(X, W2, b2))  # a^2 = σ(z^2), z^2 = x W2ᵀ + b2
        a3 = ng.sigmoid(ng.linear(a2, W3, b3))  # a^3 = σ(z^3)
        return ng.quadratic_cost(a3, Y)  # C = (1/M) Σ ½‖y − a^3‖²

    print(f"nablagraph {ng.__version__}: XOR with a 2-{hidden}-1 sigmoid network, "
          f"quadratic cost, full-batch gradient descent (lr={lr}, seed={seed})")
    t0 = time.perf_counter()
    for epoch in range(epochs + 1):
        C = cost(*params)
        if epoch % (epochs // 6 or 1) == 0:
            print(f"  epoch {epoch:5d}  cost {C.item():.6f}")
        if epoch == epochs:
            break
        for p in params:
            p.grad = None
        C.backward()
        with ng.no_grad():
            for p in params:
                assert p.grad is not None
                p.data -= lr * p.grad.data
    elapsed = time.perf_counter() - t0

    with ng.no_grad():
        a2 = ng.sigmoid(ng.linear(X, W2, b2))
        out = ng.sigmoid(ng.linear(a2, W3, b3)).data
    print(f"trained in {elapsed:.2f} s")
    print("  x1 x2 | target | output")
    for x, y, a in zip(X, Y, out):
        print(f"   {x[0]:.0f}  {x[1]:.0f} |   {y[0]:.0f}    | {a[0]:.4f}")
    learned = bool(np.all((out > 0.5) == (Y > 0.5)))
    print(f"XOR learned: {'yes' if learned else 'NO'}")

    print("\nGradient check of ∂C/∂W and ∂C/∂b: autodiff vs central differences (float64)")
    report = ng.gradcheck(cost, params, raise_exception=False)
    print(report)
    print(f"gradient check: {'passed' if report.passed else 'FAILED'}")
    return 0 if (learned and report.passed) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nablagraph`` command."""
    parser = argparse.ArgumentParser(
        prog="nablagraph",
        description="Train XOR with the autodiff engine and check its gradients.",
    )
    parser.add_argument("--epochs", type=int, default=3000, help="gradient steps (default 3000)")
    parser.add_argument("--lr", type=float, default=2.0, help="learning rate η (default 2.0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    return xor_demo(epochs=args.epochs, lr=args.lr, seed=args.seed)


if __name__ == "__main__":
    sys.exit(main())
