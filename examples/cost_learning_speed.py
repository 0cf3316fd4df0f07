"""Why cross-entropy learns faster than the quadratic cost from a saturated neuron.

The notes observe that a sigmoid neuron whose output is stuck near 0 or 1 learns
slowly, because every gradient carries the factor σ'(z) ≈ 0.  With the quadratic cost
the output error is BP1 ``δ = (a − y) σ'(z)``; with the cross-entropy cost the σ'(z)
cancels and ``δ = a − y``, so the worse the output, the faster it learns.

This trains one sigmoid neuron (input x = 1, target y = 0), started badly saturated
(w = b = 2, so a = σ(4) ≈ 0.98), once with each cost, and prints and plots the cost and
the output per epoch.

Run::

    python examples/cost_learning_speed.py                    # writes cost_learning_speed.png
    python examples/cost_learning_speed.py --epochs 100 --out speed.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

import nablagraph as ng


def train(cost: str, epochs: int, lr: float) -> tuple[list[float], list[float]]:
    """Gradient descent on one neuron from w = b = 2; return (costs, outputs) per epoch."""
    net = ng.nn.Network([1, 1], activation="sigmoid", cost=cost, seed=0)
    layer = net.layers[0]
    layer.W.data[...] = 2.0
    layer.b.data[...] = 2.0
    X, Y = np.array([[1.0]]), np.array([[0.0]])
    opt = ng.SGD(net.parameters(), lr=lr)
    costs, outputs = [], []
    for _ in range(epochs + 1):
        C = net.cost(X, Y)
        with ng.no_grad():
            outputs.append(float(net(X).item()))
        costs.append(C.item())
        opt.zero_grad()
        C.backward()
        opt.step()
    return costs, outputs


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.15, help="η (default 0.15, as in the notes' book)")
    p.add_argument("--out", default="cost_learning_speed.png", help="the plot to write ('' for none)")
    args = p.parse_args(argv)

    quad_c, quad_a = train("quadratic", args.epochs, args.lr)
    ce_c, ce_a = train("binary_cross_entropy", args.epochs, args.lr)
    print("one sigmoid neuron, x = 1, y = 0, started at w = b = 2 (a = σ(4) = 0.982)")
    print(f"{'epoch':>6} {'quadratic: a':>14} {'C':>9} {'cross-entropy: a':>18} {'C':>9}")
    for e in sorted({0, 10, 25, 50, 100, 200, args.epochs} & set(range(args.epochs + 1))):
        print(f"{e:>6} {quad_a[e]:>14.4f} {quad_c[e]:>9.4f} {ce_a[e]:>18.4f} {ce_c[e]:>9.4f}")
    # Epochs for the output to fall below 0.5: the quadratic cost's plateau at the start.
    first = {
        name: next((i for i, a in enumerate(outs) if a < 0.5), None)
        for name, outs in (("quadratic", quad_a), ("cross-entropy", ce_a))
    }
    print(f"epochs until a < 0.5: quadratic {first['quadratic']}, cross-entropy {first['cross-entropy']}")
    if args.out:
        from nablagraph.tools.plot import plot_costs

        path = plot_costs(
            {"quadratic cost ½(a − y)²": quad_c, "cross-entropy −[y ln a + (1 − y) ln(1 − a)]": ce_c},
            args.out, title="one saturated sigmoid neuron (x = 1, y = 0, w = b = 2 at the start)",
        )
        print(f"wrote {path}")
    fq, fc = first["quadratic"], first["cross-entropy"]
    return 0 if fc is not None and (fq is None or fc < fq) else 1


if __name__ == "__main__":
    sys.exit(main())
