"""The ``nablagraph`` command: a thin layer over the library.

Subcommands: ``demo`` (the README's main job), ``train``, ``check``, ``graph``,
``bench``.  Every subcommand has ``--help``.  Exit codes: 0 success, 1 a check or a
result failed, 2 bad arguments or input (one line on stderr, never a traceback).

Imports: everything public; nothing imports this module.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import nablagraph as ng
from nablagraph import data as ngdata
from nablagraph import io as ngio
from nablagraph.errors import NablaGraphError
from nablagraph.nn import Network
from nablagraph.nn.module import ACTIVATION_NAMES, COST_NAMES, INIT_SCHEMES

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CLIError(Exception):
    """A bad argument or input: reported as one line, exit code 2."""


# ----------------------------------------------------------------- helpers
def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise CLIError(f"--sizes must be comma-separated integers such as 64,30,10, got {text!r}") from None
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise CLIError(f"--sizes needs at least two positive layer sizes (input first), got {text!r}")
    return sizes


def _positive(kind: type, what: str) -> Any:
    def parse(text: str) -> Any:
        try:
            v = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{what} must be {noun}, got {text!r}") from None
        if not v > 0:
            raise argparse.ArgumentTypeError(f"{what} must be positive, got {text}")
        return v

    return parse


def _load_data(spec: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """``(X_train, Y_train, X_test, Y_test, description)`` for --data."""
    if spec == "xor":
        X, Y = ngdata.xor()
        return X, Y, None, None, "XOR (4 examples)"
    if spec == "digits":
        s = ngdata.digits(seed=seed)
        return s.X_train, s.Y_train, s.X_test, s.Y_test, (
            f"scikit-learn digits ({len(s.X_train)} train / {len(s.X_test)} test, 8×8 images)"
        )
    if spec.startswith("mnist:"):
        path = spec[len("mnist:"):]
        if "," in path:
            images, labels = path.split(",", 1)
        else:
            d = Path(path)
            if not d.is_dir():
                raise CLIError(
                    f"--data mnist:{path}: not a directory; give mnist:DIR (holding "
                    "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]) or mnist:IMAGES,LABELS"
                )
            images = _find(d, "train-images-idx3-ubyte")
            labels = _find(d, "train-labels-idx1-ubyte")
        X, y = ngdata.load_mnist_idx(images, labels)
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(X))
        n_test = max(1, len(X) // 6)
        te, tr = idx[:n_test], idx[n_test:]
        return X[tr], y[tr], X[te], y[te], f"MNIST IDX files ({len(tr)} train / {len(te)} test)"
    raise CLIError(f"--data must be digits, xor or mnist:PATH, got {spec!r}")


def _find(d: Path, stem: str) -> str:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (d / name).exists():
            return str(d / name)
    raise CLIError(f"--data mnist:{d}: no {stem} or {stem}.gz in that directory")


def _targets_for(net: Network, Y: np.ndarray) -> np.ndarray:
    """Class labels become one-hot rows unless the cost takes labels (cross-entropy)."""
    n_out = net.sizes[-1]
    if Y.ndim == 1 and Y.dtype.kind in "iu":
        if net.cost_name == "cross_entropy":
            return Y
        if n_out == 1:
            return Y.reshape(-1, 1).astype(net.dtype)
        return ngdata.one_hot(Y, n_out, dtype=net.dtype)
    return Y


def _check_fit(net: Network, X: np.ndarray, Y: np.ndarray, data_desc: str) -> None:
    if X.shape[1] != net.sizes[0]:
        raise CLIError(
            f"the network's input layer has {net.sizes[0]} neurons (sizes {','.join(map(str, net.sizes))}) "
            f"but {data_desc} has {X.shape[1]} features per example"
        )
    n_classes = int(Y.max()) + 1 if Y.ndim == 1 and Y.dtype.kind in "iu" else (Y.shape[1] if Y.ndim == 2 else 1)
    if Y.ndim == 1 and n_classes > net.sizes[-1] and net.sizes[-1] > 1:
        raise CLIError(
            f"the output layer has {net.sizes[-1]} neurons but the data has {n_classes} classes"
        )
    if Y.ndim == 2 and Y.shape[1] != net.sizes[-1]:
        raise CLIError(
            f"the output layer has {net.sizes[-1]} neurons but the targets have {Y.shape[1]} "
            f"column{'s' if Y.shape[1] != 1 else ''}"
        )


def _model(spec: str, args: argparse.Namespace) -> tuple[Network, str]:
    """A saved model file, or a new network from comma-separated sizes."""
    p = Path(spec)
    if p.suffix in (".safetensors", ".st") or p.exists():
        if not p.exists():
            raise CLIError(f"model file {spec} does not exist")
        return ngio.load(p), f"model {spec}"
    sizes = _sizes(spec)
    net = Network(
        sizes, activation=args.activation, cost=_cost(args, sizes), init=getattr(args, "init", "scaled"),
        seed=args.seed,
    )
    return net, f"new network {spec}"


def _cost(args: argparse.Namespace, sizes: list[int]) -> str:
    """--cost, or by default cross-entropy (softmax) for several outputs, binary for one."""
    if args.cost is not None:
        return str(args.cost)
    return "cross_entropy" if sizes[-1] > 1 else "binary_cross_entropy"


def _add_net_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", default="sigmoid", help=f"hidden-layer σ: {', '.join(ACTIVATION_NAMES)} (default sigmoid)")
    p.add_argument("--cost", default=None, help=f"cost: {', '.join(COST_NAMES)} (default: cross_entropy with a softmax output, or binary_cross_entropy for one output neuron)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights, shuffling and splits (default 0)")


def _say(*parts: Any) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------- commands
def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _say(f"nablagraph {ng.__version__} demo: backpropagation on real data, proved three ways\n")
    X, y, Xt, yt, desc = _load_data("digits", args.seed)
    assert Xt is not None and yt is not None
    net = Network([64, 30, 10], activation="sigmoid", cost="cross_entropy", seed=args.seed)
    _say(f"data: {desc}")
    _say(f"model: {net}  ({net.num_parameters():,} parameters)\n")
    _say(f"1. training: {args.epochs} epochs of mini-batch SGD (batch 10, η = {args.lr}, "
         "momentum 0.5), each step recorded once and replayed (fit(compile=True))")
    t0 = time.perf_counter()
    hist = ng.nn.fit(net, X, y, epochs=args.epochs, batch_size=10, lr=args.lr, momentum=0.5,
                     seed=args.seed, validation_data=(Xt, yt), verbose=True, compile=True)
    secs = time.perf_counter() - t0
    _say(_indent(str(hist)))
    _say(f"   (val = the {len(Xt)} held-out test images, never trained on)")
    acc = net.accuracy(Xt, yt)
    _say(f"   test accuracy {100 * acc:.2f}% after {secs:.1f} s of training\n")

    _say("2. the three-way proof on a batch of 16 test images: autodiff vs the closed-form")
    _say("   BP1–BP4 vs central finite differences (every one of the parameters)")
    rep = ng.compare_gradients(net, Xt[:16], yt[:16], fd="full")
    _say(_indent(str(rep)))
    (out / "gradient_check.json").write_text(rep.to_json(), encoding="utf-8")
    _say("")

    _say("3. pictures")
    diagram = ng.viz.draw_network(net, Xt[:4], yt[:4], collapse="layers",
                                  title="digits network [64, 30, 10] · cross-entropy · batch of 4")
    graph_paths = []
    for ext in ("svg", "png"):
        path = out / f"graph.{ext}"
        ng.viz.render(diagram, path)
        graph_paths.append(path)
    wrote = [*graph_paths, out / "gradient_check.json", out / "history.json"]
    (out / "history.json").write_text(json.dumps(hist.to_dict(), indent=2), encoding="utf-8")
    try:
        from nablagraph.plot import plot_history

        wrote.append(Path(plot_history(hist, out / "training.png",
                                       title="digits [64, 30, 10]: training curves")))
    except NablaGraphError as exc:
        _say(f"   (no training plot: {exc})")
    _say(f"\noutputs written to {out.resolve()}/:")
    for w in wrote:
        _say(f"   {w.name}")
    ok = rep.passed and acc >= 0.9
    _say(f"\nresult: {'gradients proved and the network learned' if ok else 'FAILED'}")
    return EXIT_OK if ok else EXIT_FAILED


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def cmd_train(args: argparse.Namespace) -> int:
    X, Y, Xt, Yt, desc = _load_data(args.data, args.seed)
    sizes = _sizes(args.sizes)
    net = Network(sizes, activation=args.activation, cost=_cost(args, sizes), init=args.init, seed=args.seed)
    _check_fit(net, X, Y, f"--data {args.data}")
    Ytr = _targets_for(net, Y)
    val = (Xt, _targets_for(net, Yt)) if Xt is not None and Yt is not None else None
    _say(f"training {net} on {desc}")
    hist = ng.nn.fit(net, X, Ytr, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                     seed=args.seed, validation_data=val, verbose=not args.quiet)
    _say(str(hist))
    if val is not None:
        _say(f"test accuracy: {100 * net.accuracy(*val):.2f}%")
    else:
        _say(f"training accuracy: {100 * net.accuracy(X, Ytr):.2f}%")
    if args.save:
        ngio.save(net, args.save)
        _say(f"saved the model to {args.save}")
    if args.history:
        h = Path(args.history)
        if h.suffix == ".csv":
            d = hist.to_dict()
            cols = ["epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy", "seconds"]
            lines = [",".join(cols)] + [
                ",".join("" if d[c][i] is None else repr(d[c][i]) for c in cols) for i in range(len(hist))
            ]
            h.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            h.write_text(json.dumps(hist.to_dict(), indent=2), encoding="utf-8")
        _say(f"wrote the history to {h}")
    if args.plot:
        from nablagraph.plot import plot_history

        _say(f"wrote the training curves to {plot_history(hist, args.plot)}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    net, what = _model(args.model, args)
    X, Y, _, _, desc = _load_data(args.data, args.seed)
    _check_fit(net, X, Y, f"--data {args.data}")
    Yc = _targets_for(net, Y)
    X, Yc = X[: args.batch], Yc[: args.batch]
    rep = ng.compare_gradients(net, X, Yc, fd=args.fd, seed=args.seed)
    if args.json:
        print(rep.to_json())
    else:
        _say(f"{what}, {desc}, first {len(X)} examples")
        _say(str(rep))
    return EXIT_OK if rep.passed else EXIT_FAILED


def cmd_graph(args: argparse.Namespace) -> int:
    net, what = _model(args.model, args)
    X, Y, _, _, desc = _load_data(args.data, args.seed)
    _check_fit(net, X, Y, f"--data {args.data}")
    Yc = _targets_for(net, Y)
    d = ng.viz.draw_network(
        net, X[: args.batch], Yc[: args.batch], backward=args.grads,
        collapse=args.collapse, direction=args.direction,
    )
    path = ng.viz.render(d, args.output)
    _say(f"wrote the graph of {what} ({desc}, batch of {min(args.batch, len(X))}) to {path}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from nablagraph import bench

    if args.workloads is None:
        return bench.fd_vs_backprop(hidden=args.hidden, repeats=args.repeats, plot=args.plot, seed=args.seed)
    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in bench.WORKLOADS]
    if unknown or not names:
        raise CLIError(
            f"--workloads takes names from {', '.join(bench.WORKLOADS)}, got {args.workloads!r}"
        )
    _say("one training step (forward, cost, backward, SGD update), sigmoid layers, quadratic "
         f"cost; median of {args.repeats} interleaved repeats; ratio = time / handwritten NumPy"
         + (f"; sizes scaled by {args.scale}" if args.scale != 1.0 else ""))
    rows = bench.run_workloads(names, repeats=args.repeats, scale=args.scale, out=_say)
    table = bench.markdown_table(rows)
    _say("\n" + table)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": bench.machine_info(), "rows": rows}, indent=1), encoding="utf-8"
        )
        _say(f"wrote {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(table + "\n", encoding="utf-8")
        _say(f"wrote {args.markdown}")
    return EXIT_OK


# ------------------------------------------------------------------ parser
class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nablagraph",
        description="Backpropagation you can see, check and trust: train networks, prove "
        "their gradients three ways, draw their graphs.",
    )
    parser.add_argument("--version", action="version", version=f"nablagraph {ng.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("demo", help="train on the digits set, prove the gradients, draw the graph",
                       description="Train a [64, 30, 10] sigmoid network on scikit-learn's digits "
                       "(no download), print accuracy per epoch, the three-way gradient table and "
                       "the finite-difference vs backprop cost, and write the graph diagram and "
                       "training curves to an output folder.")
    p.add_argument("--out", default="nablagraph-out", help="output folder (default ./nablagraph-out)")
    p.add_argument("--epochs", type=_positive(int, "--epochs"), default=30, help="epochs (default 30)")
    p.add_argument("--lr", type=_positive(float, "--lr"), default=0.5, help="learning rate η (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the shuffling and the split (default 0)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a network and save it",
                       description="Train a network by mini-batch SGD; optionally save it "
                       "(safetensors), its history (JSON or CSV) and training curves (PNG).")
    p.add_argument("--data", default="digits", help="digits, xor or mnist:PATH (default digits)")
    p.add_argument("--sizes", default="64,30,10", help="layer sizes, input first (default 64,30,10)")
    _add_net_options(p)
    p.add_argument("--init", default="scaled", choices=INIT_SCHEMES, help="weight init (default scaled)")
    p.add_argument("--epochs", type=_positive(int, "--epochs"), default=10, help="epochs (default 10)")
    p.add_argument("--batch-size", type=_positive(int, "--batch-size"), default=10, help="mini-batch size M (default 10)")
    p.add_argument("--lr", type=_positive(float, "--lr"), default=0.5, help="learning rate η (default 0.5)")
    p.add_argument("--save", help="write the trained model to this .safetensors file")
    p.add_argument("--history", help="write the per-epoch history to this .json or .csv file")
    p.add_argument("--plot", help="write training curves to this image (.png, .svg)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("check", help="prove a network's gradients three ways",
                       description="Compare autodiff, the closed-form BP1–BP4 and central finite "
                       "differences on a batch; exit 1 if they disagree.")
    p.add_argument("model", help="a .safetensors model file or layer sizes such as 64,30,10")
    p.add_argument("--data", default="digits", help="digits, xor or mnist:PATH (default digits)")
    _add_net_options(p)
    p.add_argument("--batch", type=_positive(int, "--batch"), default=16, help="examples used (default 16)")
    p.add_argument("--fd", default="auto", choices=["auto", "full", "sampled", "off"],
                   help="finite differences: every parameter, a sample, or none (default auto)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("graph", help="draw the recorded graph of a network's cost",
                       description="Run a network on a small batch and draw the graph of its cost "
                       "(.svg, .png, .pdf or .dot by the output's extension).")
    p.add_argument("model", help="a .safetensors model file or layer sizes such as 64,30,10")
    p.add_argument("-o", "--output", required=True, help="the image to write (.svg .png .pdf .dot)")
    p.add_argument("--data", default="digits", help="digits, xor or mnist:PATH (default digits)")
    _add_net_options(p)
    p.add_argument("--batch", type=_positive(int, "--batch"), default=4, help="examples drawn (default 4)")
    p.add_argument("--collapse", choices=["layers"], default=None, help="one box per layer")
    p.add_argument("--grads", action="store_true", help="run backward and show δ and gradient norms")
    p.add_argument("--direction", default="TB", choices=["TB", "LR", "BT", "RL"], help="layout direction")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("bench", help="why backprop is fast; training-step workloads vs NumPy",
                       description="Time one gradient by backprop and by finite differences as the "
                       "number of parameters grows (a table and a log-log plot), and autodiff vs "
                       "the handwritten closed form. With --workloads: the W1–W5 training-step "
                       "table against handwritten NumPy (and PyTorch when installed).")
    p.add_argument("--hidden", default="4,16,64,256", help="hidden widths of [64, h, 10] networks (default 4,16,64,256)")
    p.add_argument("--repeats", type=_positive(int, "--repeats"), default=5, help="timing repeats (default 5)")
    p.add_argument("--plot", help="write the log-log plot to this image")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--workloads", help="instead: time training steps of workloads W1..W5 "
                   "(e.g. W1,W2,W5) against handwritten NumPy (and PyTorch when installed)")
    p.add_argument("--scale", type=_positive(float, "--scale"), default=1.0,
                   help="shrink the workloads' widths and batch by this factor (quick runs)")
    p.add_argument("--json", help="with --workloads: write medians, ratios and machine info as JSON")
    p.add_argument("--markdown", help="with --workloads: write the Markdown table")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nablagraph`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except (CLIError, NablaGraphError, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"nablagraph {args.command}: error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
