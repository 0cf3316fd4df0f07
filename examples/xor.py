"""XOR with the notes' network: 2 inputs, a hidden layer of sigmoid neurons, 1 output.

XOR is the classic problem no network without a hidden layer can learn (the two
classes are not linearly separable).  This trains ``Network([2, hidden, 1])`` with the
quadratic cost ``C = (1/M) Σ ½‖y − a‖²`` by gradient descent on the full batch of four
examples (``nablagraph.nn.fit``), prints the cost as it falls and the final outputs,
then saves the weights to a safetensors file, loads them back and checks they are
bit-for-bit the same.

Run::

    python examples/xor.py
    python examples/xor.py --epochs 500 --lr 4 --hidden 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

import numpy as np

import nablagraph as ng
from nablagraph import io
from nablagraph.data import xor


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2000, help="gradient steps (default 2000)")
    parser.add_argument("--lr", type=float, default=2.0, help="learning rate η (default 2.0)")
    parser.add_argument("--hidden", type=int, default=4, help="hidden neurons (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default 0)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    if not args.lr > 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.hidden < 1:
        parser.error(f"--hidden must be at least 1, got {args.hidden}")

    X, Y = xor()
    net = ng.nn.Network([2, args.hidden, 1], activation="sigmoid", cost="quadratic",
                        init="normal", seed=args.seed)
    print(f"XOR: {net}, η = {args.lr}, {args.epochs} epochs of one batch of 4 examples")
    history = ng.nn.fit(net, X, Y, epochs=args.epochs, batch_size=4, lr=args.lr,
                        seed=args.seed, verbose=False)
    step = max(args.epochs // 5, 1)
    for e in [*range(1, args.epochs, step), args.epochs]:
        print(f"  epoch {e:5d}  cost {history.train_cost[e - 1]:.6f}")
    print(f"trained in {sum(history.seconds):.2f} s")

    out = net(X).data
    print("  x1 x2 | target | output a^L")
    for x, y, a in zip(X, Y, out):
        print(f"   {x[0]:.0f}  {x[1]:.0f} |   {y[0]:.0f}    | {a[0]:.4f}")
    learned = bool(np.all((out > 0.5) == (Y > 0.5)))
    print(f"XOR learned: {'yes' if learned else 'NO'}")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "xor.safetensors")
        io.save(net, path)
        back = io.load(path)
        same = all(
            np.array_equal(a.data, b.data) and a.dtype == b.dtype
            for a, b in zip(net.parameters(), back.parameters())
        )
        print(f"saved to safetensors ({os.path.getsize(path)} bytes) and loaded back: "
              f"{'bit-exact' if same else 'DIFFERENT'}")
    return 0 if learned and same else 1


if __name__ == "__main__":
    sys.exit(main())
