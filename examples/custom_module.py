"""Your own module: a residual block used twice (shared weights) and a custom activation.

Anything built from nablagraph's ops differentiates.  This defines

* ``swish(z) = z σ(z)``, an activation written from primitives;
* ``Residual``: ``a → a + tanh(a Wᵀ + b)``, a skip connection;
* ``ResidualNet``: ``Dense(64 → h, swish)`` → the *same* ``Residual`` block twice →
  ``Dense(h → 10)`` logits, so the block's ``W`` and ``b`` are shared by two uses and
  their gradients are the sums over both.

It first proves the gradients of every parameter (through the shared block and the
custom activation) against central finite differences with ``nablagraph.gradcheck``,
then trains the module on the digits with Adam and the softmax cross-entropy, and
checks that a save / load_into round trip is bit-exact.

The digits ship inside nablagraph (no scikit-learn needed).

Run::

    python examples/custom_module.py
    python examples/custom_module.py --epochs 3 --hidden 16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

import nablagraph as ng
from nablagraph import io
from nablagraph.data import digits
from nablagraph.nn import Adam, Dense, Module, fit


def swish(z: ng.Tensor) -> ng.Tensor:
    """``z σ(z)``: its derivative ``σ(z) + z σ(z)(1 − σ(z))`` comes from the engine."""
    return z * ng.sigmoid(z)


class Residual(Module):
    """``a → a + tanh(a Wᵀ + b)`` with ``W`` of shape ``(n, n)``."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.W = ng.Tensor(rng.standard_normal((n, n)) / (2 * np.sqrt(n)), requires_grad=True, name="W_res")
        self.b = ng.Tensor(np.zeros(n), requires_grad=True, name="b_res")

    def forward(self, a: ng.Tensor) -> ng.Tensor:
        return a + ng.tanh(ng.linear(a, self.W, self.b))


class ResidualNet(Module):
    """``Dense(swish)`` → one ``Residual`` block applied twice → ``Dense`` logits."""

    def __init__(self, n_in: int, hidden: int, n_out: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.inp = Dense(n_in, hidden, activation=swish, init="xavier", rng=rng, index=2)
        self.block = Residual(hidden, rng)
        self.out = Dense(hidden, n_out, activation="identity", init="xavier", rng=rng, index=3)

    def forward(self, x: Any) -> ng.Tensor:
        h = self.inp(x)
        h = self.block(self.block(h))  # shared weights: the same block twice
        return self.out(h)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    parser.add_argument("--hidden", type=int, default=32, help="width h of the hidden layers (default 32)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam step size (default 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    args = parser.parse_args(argv)
    if args.epochs < 0 or args.hidden < 1 or not args.lr > 0:
        parser.error("--epochs must be >= 0, --hidden >= 1 and --lr > 0")

    X_train, y_train, X_test, y_test = digits(test_size=0.2, seed=args.seed)
    model = ResidualNet(64, args.hidden, 10, seed=args.seed)
    names = [n for n, _ in model.named_parameters()]
    print(f"ResidualNet: parameters {', '.join(names)} ({model.num_parameters()} numbers; "
          "the residual block is used twice but listed once)")

    def cost(*_: ng.Tensor) -> ng.Tensor:
        return ng.cross_entropy(model(X_train[:8]), y_train[:8])

    print("\nGradient check: autodiff vs central differences on 8 examples (float64)")
    report = ng.gradcheck(cost, model.parameters(), raise_exception=False)
    print(report)
    print(f"gradcheck: {'passed' if report.passed else 'FAILED'}")

    print(f"\nTraining with Adam (η = {args.lr}), softmax cross-entropy on the logits")
    history = fit(model, X_train, y_train, epochs=args.epochs, batch_size=16,
                  optimizer=Adam(model, lr=args.lr), cost="cross_entropy", seed=args.seed,
                  validation_data=(X_test, y_test), verbose=False)
    print(history)
    acc = history.val_accuracy[-1] if len(history) else None
    if acc is not None:
        print(f"test accuracy: {acc:.4f}; training time {sum(history.seconds):.2f} s")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "residual.safetensors")
        io.save(model, path)
        fresh = ResidualNet(64, args.hidden, 10, seed=args.seed + 1)
        io.load_into(fresh, path)
        same = all(np.array_equal(a.data, b.data) for a, b in zip(model.parameters(), fresh.parameters()))
        print(f"save / load_into round trip: {'bit-exact' if same else 'DIFFERENT'}")
    return 0 if report.passed and same else 1


if __name__ == "__main__":
    sys.exit(main())
