"""The subcommands ``demo``, ``train``, ``check``, ``graph`` and ``bench``, and their inputs.

Each ``cmd_*`` function takes the parsed arguments, plans its outputs first
(:mod:`nablagraph.cli.outputs`), does the work through the public library and
returns the exit code.

Imports: the public package, ``tools`` (benchmarks and plots), ``cli.outputs``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import nablagraph as ng
from nablagraph.cli.outputs import (
    EXIT_FAILED,
    EXIT_OK,
    GRAPH_SUFFIXES,
    HISTORY_SUFFIXES,
    MODEL_SUFFIXES,
    PLOT_INSTALL,
    PLOT_SUFFIXES,
    CLIError,
    _check_memory,
    _have_matplotlib,
    _kind,
    _nearest_existing,
    _needs_matplotlib,
    _needs_renderer,
    _plan_outputs,
    _probe_writable,
    _replace_atomically,
    _write_text,
)
from nablagraph.errors import ConfigError
from nablagraph.nn import Network
from nablagraph.nn.module import ACTIVATION_NAMES, COST_NAMES, resolve_cost
from nablagraph.tools import bench
from nablagraph.tools.plot import plot_history


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
        if v == float("inf"):
            raise argparse.ArgumentTypeError(f"{what} must be a finite number, got {text}")
        return v

    return parse


def _seed(text: str) -> int:
    """A seed for NumPy's generators: a non-negative integer."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--seed must be a non-negative integer, got {text}")
    return v


def _load_data(spec: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """``(X_train, Y_train, X_test, Y_test, description)`` for --data."""
    if spec == "xor":
        X, Y = ng.data.xor()
        return X, Y, None, None, "XOR (4 examples)"
    if spec == "digits":
        s = ng.data.digits(seed=seed)
        return s.X_train, s.Y_train, s.X_test, s.Y_test, (
            f"handwritten digits ({len(s.X_train)} train / {len(s.X_test)} test, 8×8 images)"
        )
    if spec.startswith("mnist:"):
        images, labels = _mnist_files(spec)
        X, y = ng.data.load_mnist_idx(images, labels)
        if len(X) < 2:
            raise CLIError(f"--data {spec}: the MNIST files hold {len(X)} example{'' if len(X) == 1 else 's'}; "
                           "at least 2 are needed (a sixth, at least one, is held out as the test set)")
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(X))
        n_test = max(1, len(X) // 6)
        te, tr = idx[:n_test], idx[n_test:]
        return X[tr], y[tr], X[te], y[te], f"MNIST IDX files ({len(tr)} train / {len(te)} test)"
    raise CLIError(f"--data must be digits, xor or mnist:PATH, got {spec!r}")


def _mnist_files(spec: str) -> tuple[str, str]:
    """The images and labels files of ``--data mnist:DIR`` or ``mnist:IMAGES,LABELS``."""
    path = spec[len("mnist:"):]
    if "," in path and not os.path.isdir(path):  # (a folder may have a comma in its name)
        cuts = [i for i, c in enumerate(path) if c == ","]
        # IMAGES,LABELS: the comma between two existing files, else after an existing
        # images file (the labels file is then reported missing), else the first comma.
        i = next((i for i in cuts if os.path.exists(path[:i]) and os.path.exists(path[i + 1:])),
                 next((i for i in cuts if os.path.exists(path[:i])), cuts[0]))
        return path[:i], path[i + 1:]
    d = Path(path)
    if not d.is_dir():
        raise CLIError(
            f"--data mnist:{path}: not a directory; give mnist:DIR (holding "
            "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz]) or mnist:IMAGES,LABELS"
        )
    return _find(d, "train-images-idx3-ubyte"), _find(d, "train-labels-idx1-ubyte")


def _inputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Every file the command reads: the model file and the MNIST files."""
    found: list[tuple[str, Path]] = []
    model = getattr(args, "model", None)
    if model is not None and _is_model_file(model):
        found.append(("model file", Path(model)))
    spec = getattr(args, "data", "")
    if spec.startswith("mnist:"):
        images, labels = _mnist_files(spec)
        found += [("MNIST images file", Path(images)), ("MNIST labels file", Path(labels))]
    return found


def _is_model_file(spec: str) -> bool:
    # os.path.exists: False (not OSError) for a name too long to be a file, e.g. 300 layer sizes.
    return Path(spec).suffix.lower() in (".safetensors", ".st") or os.path.exists(spec)


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
        return ng.data.one_hot(Y, n_out, dtype=net.dtype)
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
    if _is_model_file(spec):
        if not p.exists():
            if p.is_symlink():
                raise CLIError(f"model file {spec} is a symbolic link that loops or leads nowhere")
            raise CLIError(f"model file {spec} does not exist")
        try:
            return ng.io.load(p), f"model {spec}"
        except ConfigError as exc:
            # The library's remedy (build the model, call load_into) is Python, not an option here.
            why, api_remedy, _ = str(exc).partition("; build ")
            if not api_remedy:
                raise
            raise CLIError(f"{why}; the command reads only Networks with built-in activations "
                           "(files written by nablagraph train --save or nablagraph.save)") from None
    sizes = _sizes(spec)
    _check_memory("model", sizes, args.batch, gradients=args.command != "graph" or args.grads)
    cost = _cost(args, sizes)
    net = Network(
        sizes, activation=args.activation, cost=cost, output_activation=_output_activation(cost),
        init=getattr(args, "init", "scaled"), seed=args.seed,
    )
    return net, f"new network {spec}"


def _cost(args: argparse.Namespace, sizes: list[int]) -> str:
    """--cost, or by default cross-entropy (softmax) for several outputs, binary for one."""
    if args.cost is not None:
        return str(args.cost)
    return "cross_entropy" if sizes[-1] > 1 else "binary_cross_entropy"


def _output_activation(cost: str) -> str | None:
    """--activation is the hidden layers' σ: binary cross-entropy needs a sigmoid output
    (outputs in (0, 1)) whatever it is; the other costs keep the library's default."""
    return "sigmoid" if resolve_cost(cost) == "binary_cross_entropy" else None


def _add_net_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--activation", default="sigmoid", help=f"hidden-layer σ: {', '.join(ACTIVATION_NAMES)} (default sigmoid)")
    p.add_argument("--cost", default=None, help=f"cost: {', '.join(COST_NAMES)} (default: cross_entropy with a softmax output, or binary_cross_entropy for one output neuron)")
    p.add_argument("--seed", type=_seed, default=0, help="seed for weights, shuffling and splits (default 0)")


def _say(*parts: Any) -> None:
    print(*parts, flush=True)


# ---------------------------------------------------------------- commands
def cmd_demo(args: argparse.Namespace) -> int:
    if not args.out.strip():
        raise CLIError("--out needs a folder name, got an empty string")
    out = Path(args.out)
    _plan_demo_folder(out)
    plots = _have_matplotlib()
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
    _write_text(_target(out / "gradient_check.json"), rep.to_json())
    _say("")

    _say("3. pictures")
    diagram = ng.viz.draw_network(net, Xt[:4], yt[:4], collapse="layers",
                                  title="digits network [64, 30, 10] · cross-entropy · batch of 4")
    graph_paths = []
    for ext in ("svg", "png"):
        path = out / f"graph.{ext}"
        _replace_atomically(_target(path), functools.partial(_render_to, diagram, fmt=ext))
        graph_paths.append(path)
    wrote = [*graph_paths, out / "gradient_check.json", out / "history.json"]
    _write_text(_target(out / "history.json"), json.dumps(hist.to_dict(), indent=2))
    if plots:

        _replace_atomically(_target(out / "training.png"), lambda tmp: plot_history(
            hist, tmp, title="digits [64, 30, 10]: training curves"))
        wrote.append(out / "training.png")
    _say(f"\noutputs written to {out.resolve()}/:")
    for w in wrote:
        _say(f"   {w.name}")
    if not plots:
        _say(f"   (training.png skipped: the training curves need matplotlib: {PLOT_INSTALL})")
    ok = rep.passed and acc >= 0.9
    why = ([] if rep.passed else ["the three-way gradient check failed (see 2.)"]) + (
        [] if acc >= 0.9 else [f"test accuracy {acc:.2%} is under the 90% a trained network reaches "
                               f"(after {args.epochs} epoch{'s' if args.epochs != 1 else ''}; "
                               "the default is 30)"])
    _say(f"\nresult: {'gradients proved and the network learned' if ok else 'FAILED: ' + '; '.join(why)}")
    return EXIT_OK if ok else EXIT_FAILED


def _render_to(diagram: Any, tmp: Path, fmt: str) -> None:
    ng.viz.render(diagram, tmp, format=fmt)


def _target(path: Path) -> Path:
    """The file to write for ``path``: the one a symbolic link points to."""
    return Path(os.path.realpath(path))


def _plan_demo_folder(out: Path) -> None:
    """The demo's --out folder: a folder, or creatable, and writable; its files regular."""
    if Path(os.path.realpath(out)).is_symlink():  # realpath stops where the links loop
        raise CLIError(f"--out {out}: the symbolic link loops (it leads back to itself); give a folder")
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: is a file, not a folder; give a folder for the demo's outputs")
    base = _nearest_existing(Path(os.path.realpath(out)))
    if not base.is_dir():
        raise CLIError(f"--out {out}: cannot create the folder: {base} is {_kind(base)}")
    why = _probe_writable(base)
    if why is not None:
        raise CLIError(f"--out {out}: cannot create a file in the folder {base} ({why})")
    for name in ("graph.svg", "graph.png", "gradient_check.json", "history.json", "training.png"):
        target = _target(out / name)
        if target.is_symlink():
            raise CLIError(f"--out {out}: {name} there is a symbolic link that loops; remove it or choose another folder")
        if target.exists() and not target.is_file():
            raise CLIError(f"--out {out}: {name} there is not a regular file; remove it or choose another folder")


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


def cmd_train(args: argparse.Namespace) -> int:
    # Everything that can be checked is checked before the data is loaded.
    outputs = _plan_outputs(
        [("--save", args.save, MODEL_SUFFIXES, "models"),
         ("--history", args.history, HISTORY_SUFFIXES, "histories"),
         ("--plot", args.plot, PLOT_SUFFIXES, "plots")],
        _inputs(args),
    )
    if args.plot is not None:
        _needs_matplotlib("--plot")
    sizes = _sizes(args.sizes)
    _check_memory("--sizes", sizes, args.batch_size, gradients=True, batch_option="--batch-size")
    X, Y, Xt, Yt, desc = _load_data(args.data, args.seed)
    cost = _cost(args, sizes)
    net = Network(sizes, activation=args.activation, cost=cost, output_activation=_output_activation(cost),
                  init=args.init, seed=args.seed)
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
    if "--save" in outputs:
        target = outputs["--save"]
        target.parent.mkdir(parents=True, exist_ok=True)
        ng.io.save(net, target)
        _say(f"saved the model to {args.save}")
    if "--history" in outputs:
        target = outputs["--history"]
        if target.suffix.lower() == ".csv":
            d = hist.to_dict()
            cols = ["epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy", "seconds"]
            lines = [",".join(cols)] + [
                ",".join("" if d[c][i] is None else repr(d[c][i]) for c in cols) for i in range(len(hist))
            ]
            _write_text(target, "\n".join(lines) + "\n")
        else:
            _write_text(target, json.dumps(hist.to_dict(), indent=2))
        _say(f"wrote the history to {args.history}")
    if "--plot" in outputs:

        _replace_atomically(outputs["--plot"], lambda tmp: plot_history(hist, tmp))
        _say(f"wrote the training curves to {args.plot}")
    return EXIT_OK


def _check_backprop(args: argparse.Namespace) -> int:
    """``check --backprop FILE.py:Name``: the user's own backprop against autodiff."""
    if args.model is not None:
        raise CLIError(f"give either a model ({args.model}) or --backprop, not both")
    cost = args.cost or "quadratic"
    if cost.replace("-", "_") not in ("quadratic", "cross_entropy"):
        raise CLIError(f"--cost with --backprop must be quadratic or cross_entropy (sigmoid outputs), got {cost!r}")
    sizes = _sizes(args.sizes) if args.sizes is not None else None
    impl = ng.check.load_user_object(args.backprop)
    if isinstance(impl, type) and sizes is None:
        raise CLIError(f"--backprop {args.backprop}: {impl.__name__} is a class; give --sizes (such as 3,4,2) "
                       f"to build it as {impl.__name__}(sizes)")
    rep = ng.check_backprop(impl, sizes=sizes, cost=cost, batch_size=min(args.batch, 64),
                            seed=args.seed, fd=args.fd)
    print(rep.to_json() if args.json else str(rep), flush=True)
    return EXIT_OK if rep.passed else EXIT_FAILED


def cmd_check(args: argparse.Namespace) -> int:
    if args.backprop is not None:
        return _check_backprop(args)
    if args.sizes is not None:
        raise CLIError("--sizes goes with --backprop; give the network's sizes as the model, such as 64,30,10")
    if args.model is None:
        raise CLIError("give a model (a .safetensors file or sizes such as 64,30,10) or --backprop FILE.py:NAME")
    _inputs(args)  # a bad --data mnist: path is reported before any work
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
        _say(str(rep).replace("pass fd='full'", "pass --fd full"))  # the option, not the argument
    return EXIT_OK if rep.passed else EXIT_FAILED


def cmd_graph(args: argparse.Namespace) -> int:
    outputs = _plan_outputs([("-o", args.output, GRAPH_SUFFIXES, "graphs")], _inputs(args))
    target = outputs["-o"]
    _needs_renderer("-o", target)
    net, what = _model(args.model, args)
    X, Y, _, _, desc = _load_data(args.data, args.seed)
    _check_fit(net, X, Y, f"--data {args.data}")
    Yc = _targets_for(net, Y)
    suffix = target.suffix.lower()
    fmt = "dot" if suffix == ".gv" else suffix.lstrip(".")
    if fmt == "html":
        return _graph_page(args, net, what, X[: args.batch], Yc[: args.batch], desc, target)

    def draw(collapse: str | None) -> Any:
        return ng.viz.draw_network(
            net, X[: args.batch], Yc[: args.batch], backward=args.grads,
            collapse=collapse, direction=args.direction,
        )

    def write(collapse: str | None) -> bool:
        """Draw and write the picture; False when it is over the pixel budget."""
        d = draw(collapse)
        try:
            _replace_atomically(target, lambda tmp: ng.viz.render(d, tmp, format=fmt))
        except ng.viz.RasterTooLargeError:  # ng.viz: loaded by the drawing above, not at start-up
            return False
        return True

    if not write(args.collapse):
        if args.collapse is None:
            # A picture is what was asked for: one box per layer keeps it readable and in budget.
            _say(f"the full graph is too large for a {fmt.upper()}; drawing one box per layer "
                 "(--collapse layers; write .svg for every op)")
        # (The library's message speaks of render(), collapse= and max_pixels=: not options here.)
        if args.collapse is not None or not write("layers"):
            raise CLIError(
                f"-o {args.output}: the diagram is too large for a {fmt.upper()} even with one box "
                "per layer; write .svg instead"
            )
    _say(f"wrote the graph of {what} ({desc}, batch of {min(args.batch, len(X))}) to {args.output}")
    return EXIT_OK


def _graph_page(args: argparse.Namespace, net: Network, what: str, X: np.ndarray,
                Y: np.ndarray, desc: str, target: Path) -> int:
    """``nablagraph graph … -o g.html``: the interactive page (gradients always shown)."""
    if args.collapse is not None:
        raise CLIError(f"-o {args.output}: --collapse applies to pictures; the .html page "
                       "collapses layers itself (the checkboxes of its Layers list)")
    p = ng.viz.network_page(net, X, Y)
    _replace_atomically(target, lambda tmp: p.write(tmp))
    _say(f"wrote the interactive graph page of {what} ({desc}, batch of {len(X)}; "
         f"{len(p.data['nodes'])} tensors, {len(p.data['order'])} backward steps) to "
         f"{args.output}; open it in a browser, no network needed")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    for option, value in (("--json", args.json), ("--markdown", args.markdown)):
        if value is not None and args.workloads is None:
            raise CLIError(f"{option} {value}: the results it writes are those of --workloads; add "
                           "--workloads W1,W2,... (or leave it out for the finite-differences benchmark)")
    for option, value in (("--runs", args.runs if args.runs != 1 else None), ("--settings", args.settings)):
        if value is not None and args.workloads is None:
            raise CLIError(f"{option} {value}: it repeats the --workloads table; add --workloads W1,W2,...")
    if args.import_rounds is not None:
        if args.workloads is not None or args.plot is not None:
            raise CLIError("--import times the start-up alone; leave out --workloads and --plot")
        bench.import_times(rounds=args.import_rounds, out=_say)
        return EXIT_OK
    outputs = _plan_outputs(
        [("--plot", args.plot, PLOT_SUFFIXES, "plots"),
         ("--json", args.json, (".json",), "results"),
         ("--markdown", args.markdown, (".md",), "tables")],
    )
    if args.plot is not None:
        _needs_matplotlib("--plot")
        outputs["--plot"].parent.mkdir(parents=True, exist_ok=True)
    if args.workloads is None:
        widths = [w for w in args.hidden.replace(" ", "").split(",") if w]
        if not widths or not all(w.isdigit() and int(w) > 0 for w in widths):
            raise CLIError(f"--hidden must be comma-separated positive widths such as 4,16,64, got {args.hidden!r}")
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
    if args.runs > 1 or args.settings is not None:
        return _bench_matrix(args, names, outputs)
    rows = bench.run_workloads(names, repeats=args.repeats, scale=args.scale, out=_say)
    table = bench.markdown_table(rows)
    _say("\n" + table)
    if "--json" in outputs:
        _write_text(outputs["--json"], json.dumps({"machine": bench.machine_info(), "rows": rows}, indent=1))
        _say(f"wrote {args.json}")
    if "--markdown" in outputs:
        _write_text(outputs["--markdown"], table + "\n")
        _say(f"wrote {args.markdown}")
    return EXIT_OK


def _bench_matrix(args: argparse.Namespace, names: list[str], outputs: dict[str, Path]) -> int:
    """``bench --workloads … --runs N --settings …``: the table under each setting, N runs."""
    from nablagraph.tools import bench_matrix  # here: every nablagraph command imports this module
    chosen = ([bench_matrix.Setting("current")] if args.settings is None  # --runs alone
              else bench_matrix.choose_settings(args.settings))
    _say(f"{args.runs} run(s) of each of {len(chosen)} setting(s), each in a new process: "
         + "; ".join(f"{s.name} ({s.describe()})" for s in chosen))
    result = bench_matrix.run_matrix(names, chosen, runs=args.runs, repeats=args.repeats,
                                     scale=args.scale, out=_say)
    table = bench_matrix.matrix_table(result["summary"])
    _say("\nmedian (min–max) over the runs of each ratio to the handwritten step\n" + table)
    if "--json" in outputs:
        _write_text(outputs["--json"], json.dumps({"machine": bench.machine_info(), **result}, indent=1))
        _say(f"wrote {args.json}")
    if "--markdown" in outputs:
        _write_text(outputs["--markdown"], table + "\n")
        _say(f"wrote {args.markdown}")
    return EXIT_OK
