"""Handwritten digits: the notes' network trained with mini-batch SGD on real images.

nablagraph ships 1,797 8×8 images of the digits 0–9 (scikit-learn's copy; no download).  This splits them
(seeded, stratified), trains ``Network([64, hidden, 10])`` — sigmoid hidden layer,
softmax output with the cross-entropy cost — by mini-batch SGD with momentum
(``nablagraph.nn.fit``), prints the cost and accuracy on the training and test sets
after each epoch, the test accuracy and the training time, and (with
``--diagnostics``) how saturated each layer is at the end.

Needs nothing beyond a plain ``pip install``: the digits ship inside nablagraph.

Run::

    python examples/digits.py
    python examples/digits.py --epochs 5 --hidden 16 --save digits.safetensors
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import nablagraph as ng
from nablagraph import io
from nablagraph.data import digits


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    parser.add_argument("--batch-size", type=int, default=10, help="mini-batch size M (default 10)")
    parser.add_argument("--lr", type=float, default=0.5, help="learning rate η (default 0.5)")
    parser.add_argument("--momentum", type=float, default=0.5, help="momentum μ (default 0.5)")
    parser.add_argument("--hidden", type=int, default=30, help="hidden neurons (default 30)")
    parser.add_argument("--test-size", type=float, default=0.2, help="test fraction (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, weights, shuffling (default 0)")
    parser.add_argument("--diagnostics", action="store_true", help="record learning diagnostics per epoch")
    parser.add_argument("--save", metavar="PATH", help="save the trained weights (safetensors)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    try:
        X_train, y_train, X_test, y_test = digits(test_size=args.test_size, seed=args.seed)
        net = ng.nn.Network([64, args.hidden, 10], activation="sigmoid", cost="cross_entropy",
                            seed=args.seed)
        print(f"digits: {len(X_train)} training and {len(X_test)} test images; {net}")
        history = ng.nn.fit(
            net, X_train, y_train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
            momentum=args.momentum, seed=args.seed, validation_data=(X_test, y_test),
            verbose=not args.quiet, diagnostics=args.diagnostics,
        )
    except (ng.NablaGraphError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("(val = the held-out test set, never trained on)")
    print(history)
    acc = net.accuracy(X_test, y_test)
    print(f"test accuracy: {acc:.4f} ({round(acc * len(X_test))}/{len(X_test)})")
    print(f"training time: {sum(history.seconds):.2f} s for {args.epochs} epochs "
          f"({history.config['batches_per_epoch']} mini-batches each)")
    if history.diagnostics:
        print(history.diagnostics[-1])
    if args.save:
        io.save(net, args.save, metadata={"dataset": "sklearn digits", "test_accuracy": f"{acc:.4f}"})
        print(f"saved to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
