"""Autodiff vs the backpropagation equations vs finite differences, on one network.

Builds a small network (by default the notes' shape with 64 inputs: [64, 30, 10],
sigmoid hidden layer, softmax + cross-entropy), takes a seeded random batch, and
proves its gradients three ways with :func:`nablagraph.check.compare_gradients`:

* autodiff — the engine's reverse pass;
* the closed form — BP1–BP4 written out in NumPy (:mod:`nablagraph.reference`);
* central finite differences of the cost, every coordinate.

It prints the per-layer and per-parameter table, what each route cost (the notes'
"in what sense is backpropagation a fast algorithm", measured), and then shows the
check catching a bug injected into a copy of the closed form (σ' returning σ).

Run::

    python examples/autodiff_vs_backprop.py
    python examples/autodiff_vs_backprop.py --sizes 784,30,10 --batch 16   # sampled FD
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

import nablagraph as ng
from nablagraph import reference
from nablagraph.activations import ACTIVATIONS
from nablagraph.check import compare_gradients


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"--sizes must be comma-separated positive integers, got {text!r} (e.g. 64,30,10)"
        )
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="64,30,10",
                        help="neurons per layer, input first (default 64,30,10)")
    parser.add_argument("--batch", type=int, default=32, help="examples in the batch (default 32)")
    parser.add_argument("--activation", default="sigmoid", help="hidden activation (default sigmoid)")
    parser.add_argument("--cost", default="cross_entropy", help="cost (default cross_entropy)")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data (default 0)")
    args = parser.parse_args(argv)
    try:
        sizes = _sizes(args.sizes)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.batch < 1:
        parser.error(f"--batch must be a positive integer, got {args.batch}")

    rng = np.random.default_rng(args.seed)
    net = ng.nn.Network(sizes, activation=args.activation, cost=args.cost, seed=args.seed)
    X = rng.uniform(0.0, 1.0, (args.batch, sizes[0]))  # like pixel intensities
    if net.cost_name == "cross_entropy":
        Y: np.ndarray = rng.integers(0, sizes[-1], args.batch)
    else:
        Y = rng.uniform(0.0, 1.0, (args.batch, sizes[-1]))

    report = compare_gradients(net, X, Y)
    print(report)

    # The check must also fail when it should: a copy of the closed form whose σ'
    # returns σ(z) (sigmoid_prime giving σ instead of σ(1 − σ), and likewise for the rest).
    wrong = {name: sigma for name, (sigma, _) in ACTIVATIONS.items()}
    broken = reference.BackpropEquations(wrong)
    bad = compare_gradients(net, X, Y, equations=broken, fd="sampled", n_samples=4,
                            n_directions=1, repeats=1)
    uses_sigma_prime = net.L > 2 or not (
        net.cost_name == "cross_entropy"
        or (net.cost_name == "binary_cross_entropy" and net.output_activation == "sigmoid")
    )
    print()
    print("Injected bug (σ' returning σ):")
    if not uses_sigma_prime:
        print("  not applicable: no equation of this network uses σ'")
        return 0 if report.passed else 1
    print(f"  {'caught' if not bad.passed else 'NOT caught'}: first failing equation: {bad.failure}")
    return 0 if report.passed and not bad.passed else 1


if __name__ == "__main__":
    sys.exit(main())
