"""Debug your own backprop: a student's network with two bugs, found one at a time.

A student has written the notes' network by hand: ``backprop(x, y)`` for one example
(column vectors) and ``update_mini_batch``.  It trains, slowly and badly, and nothing
says why.  :func:`nablagraph.check_backprop` builds the same network in nablagraph,
takes its gradients by autodiff (and by finite differences, to break ties), and says
which equation fails and which mistake reproduces the student's numbers.

Run it::

    python examples/debug_your_backprop.py

Step 1 finds the first bug (σ' taken at a instead of z in BP2), step 2 the second
(the notes' own typo in the update rule, ∇b and ∇w swapped), step 3 shows the fixed
network passing.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

import nablagraph as ng


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return sigmoid(z) * (1.0 - sigmoid(z))


class StudentNetwork:
    """The student's code, as a student might write it from the notes."""

    fixed_bp2 = False     # bug 1: sigmoid_prime(activation) in the backward loop
    fixed_update = False  # bug 2: the update rule as printed in the notes

    def __init__(self, sizes: list[int]) -> None:
        rng = np.random.default_rng(42)
        self.sizes = sizes
        self.weights = [rng.standard_normal((n, k)) / np.sqrt(k) for k, n in itertools.pairwise(sizes)]
        self.biases = [rng.standard_normal((n, 1)) for n in sizes[1:]]

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation, activations, zs = x, [x], []
        for w, b in zip(self.weights, self.biases):
            z = w @ activation + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])        # BP1
        nabla_b[-1], nabla_w[-1] = delta, delta @ activations[-2].T  # BP3, BP4
        for l in range(2, len(self.sizes)):
            sp = sigmoid_prime(zs[-l]) if self.fixed_bp2 else sigmoid_prime(activations[-l])
            delta = (self.weights[-l + 1].T @ delta) * sp            # BP2
            nabla_b[-l], nabla_w[-l] = delta, delta @ activations[-l - 1].T
        return nabla_b, nabla_w

    def update_mini_batch(self, batch: list[tuple[np.ndarray, np.ndarray]], eta: float) -> None:
        nb = [np.zeros(b.shape) for b in self.biases]
        nw = [np.zeros(w.shape) for w in self.weights]
        for x, y in batch:
            dnb, dnw = self.backprop(x, y)
            nb = [s + d for s, d in zip(nb, dnb)]
            nw = [s + d for s, d in zip(nw, dnw)]
        if self.fixed_update:
            self.weights = [w - (eta / len(batch)) * g for w, g in zip(self.weights, nw)]
            self.biases = [b - (eta / len(batch)) * g for b, g in zip(self.biases, nb)]
        else:  # w → w − (η/M) Σ ∇_b C_m, b → b − (η/M) Σ ∇_w C_m, as the notes print it
            self.weights = [w - (eta / len(batch)) * g for w, g in zip(self.weights, nb)]
            self.biases = [b - (eta / len(batch)) * g for b, g in zip(self.biases, nw)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4,5,5,3", help="layer sizes (default 4,5,5,3)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    net = StudentNetwork(sizes)

    print("step 1: the student's network as written\n")
    report = ng.check_backprop(net)
    print(report)
    print(f"\n-> failing equation: {report.failing_equation} at layer {report.failing_layer}")
    print(f"-> likely mistake: {report.mistake}\n")

    print("step 2: σ'(z) in BP2 fixed; the update rule is the next suspect\n")
    StudentNetwork.fixed_bp2 = True
    report = ng.check_backprop(net)
    print(report)
    print(f"\n-> failing equation: {report.failing_equation}")
    print(f"-> likely mistake: {report.mistake}\n")

    print("step 3: both fixed\n")
    StudentNetwork.fixed_update = True
    report = ng.check_backprop(net)
    print(report)
    print(f"\n-> passed: {report.passed}, max rel error {report.max_rel:.1e}")


if __name__ == "__main__":
    main()
