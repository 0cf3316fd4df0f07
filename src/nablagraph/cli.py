"""The ``nablagraph`` command: a thin layer over the library.

Subcommands: ``demo`` (the README's main job), ``train``, ``check``, ``graph``,
``bench``.  Every subcommand has ``--help``.  Exit codes: 0 success, 1 a check or a
result failed (or an internal error), 2 bad arguments, input or resources (one line
on stderr, never a traceback), 130 interrupted (SIGINT), 143 terminated (SIGTERM).

Every output file is checked before any work: its extension names a format the
option writes, it is distinct from the other outputs and from every input (after
following links), and its folder exists or can be created and is writable.  Outputs
are written atomically (a temporary file beside the target, renamed over it), missing
folders are created, and a symbolic link is followed (the file it points to is
replaced, the link stays).

Imports: everything public; nothing imports this module except the launcher
``_nablagraph_main`` (the ``nablagraph`` command's entry point).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import secrets
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

import nablagraph as ng
from nablagraph import data as ngdata
from nablagraph import io as ngio
from nablagraph._memory import available_memory, format_bytes
from nablagraph.errors import ConfigError, NablaGraphError
from nablagraph.nn import Network
from nablagraph.nn.module import ACTIVATION_NAMES, COST_NAMES, INIT_SCHEMES, resolve_cost
from nablagraph.viz import RasterTooLargeError

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT; SIGTERM gives 128 + 15 = 143

PLOT_INSTALL = "pip install 'nablagraph[plot]'"
#: The formats each output option writes, by the file's extension.
MODEL_SUFFIXES = (".safetensors",)
HISTORY_SUFFIXES = (".json", ".csv")
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
GRAPH_SUFFIXES = (".svg", ".png", ".pdf", ".dot", ".gv")


class CLIError(Exception):
    """A bad argument or input: reported as one line, exit code 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (or another terminating signal), raised like Ctrl-C so cleanups run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# ----------------------------------------------------------------- outputs
def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def _probe_writable(directory: Path) -> str | None:
    """``None`` if a file can be created in ``directory``, else why not."""
    probe = directory / f".nablagraph-probe.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def _kind(path: Path) -> str:
    """What is in the way of a folder at ``path``."""
    return "a symbolic link that loops" if path.is_symlink() else "a file"


def _same(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _plan_outputs(
    outputs: Sequence[tuple[str, str | None, tuple[str, ...], str]],
    inputs: Sequence[tuple[str, Path]] = (),
) -> dict[str, Path]:
    """Check every output before any work; return ``{option: the file to write}``.

    ``outputs`` holds ``(option, value, accepted extensions, what it writes)``;
    ``inputs`` ``(what, path)`` for every file read.  Links are followed: the file
    written is the one a link points to, and that is the file compared with the others.
    """
    planned: dict[str, Path] = {}
    shown: dict[str, str] = {}
    for option, value, suffixes, what in outputs:
        if value is None:
            continue
        if not value.strip():
            raise CLIError(f"{option} needs a file name, got an empty string")
        suffix = Path(value).suffix
        if suffix not in suffixes:
            got = f"'{suffix}'" if suffix else "no extension"
            raise CLIError(
                f"{option} {value}: {what} are written as {_or(suffixes)}, chosen by the file's "
                f"extension; got {got}"
            )
        target = Path(os.path.realpath(value))
        if target.is_symlink():  # realpath stops where the links loop
            raise CLIError(f"{option} {value}: the symbolic link loops (it leads back to itself); "
                           "remove it or choose another name")
        if target.is_dir():
            raise CLIError(f"{option} {value}: is a folder; give a file name ending in {_or(suffixes)}")
        if target.exists() and not target.is_file():
            raise CLIError(f"{option} {value}: is not a regular file (a device or a pipe); give a file name")
        if target.exists() and not os.access(target, os.W_OK):
            raise CLIError(f"{option} {value}: the file is read-only; make it writable or choose another name")
        base = _nearest_existing(target.parent)
        if not base.is_dir():
            raise CLIError(f"{option} {value}: cannot create the folder {target.parent}: {base} is {_kind(base)}")
        why = _probe_writable(base)
        if why is not None:
            where = "its folder" if base == target.parent else "the folder"
            raise CLIError(f"{option} {value}: cannot create a file in {where} {base} ({why})")
        for other, path in planned.items():
            if _same(path, target):
                raise CLIError(
                    f"{option} {value} and {other} {shown[other]} are the same file; "
                    "each output needs its own file"
                )
        for in_what, in_path in inputs:
            if _same(Path(os.path.realpath(in_path)), target):
                raise CLIError(
                    f"{option} {value} is the {in_what} being read ({in_path}); "
                    "writing it would destroy the input: choose another output file"
                )
        planned[option] = target
        shown[option] = value
    return planned


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _replace_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` beside ``target`` (same extension), then rename it over ``target``.

    Missing folders are created.  On any exception or interrupt the temporary file
    is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{ngio.tmp_stem(target.stem)}.{os.getpid()}.{secrets.token_hex(6)}.tmp{target.suffix}"
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    ngio._atomic_write(target, [text.encode("utf-8")])


def _needs_matplotlib(option: str) -> None:
    """Refuse an explicit plot request up front when matplotlib is missing."""
    if not _have_matplotlib():
        raise CLIError(f"{option} needs matplotlib, which is not installed: {PLOT_INSTALL}")


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _needs_renderer(option: str, target: Path) -> None:
    """Refuse up front an image format no installed Graphviz program writes."""
    fmt = target.suffix.lstrip(".")
    if fmt in ("dot", "gv"):
        return
    from nablagraph.viz.renderer import _require

    try:
        _require(fmt)
    except NablaGraphError as exc:
        raise CLIError(f"{option} {target.name}: {str(exc).splitlines()[0]}") from None


# ----------------------------------------------------------------- memory
def _check_memory(option: str, sizes: Sequence[int], batch: int, gradients: bool,
                  batch_option: str = "--batch") -> None:
    """Refuse sizes whose parameters (and gradients) and one batch cannot fit in memory.

    The estimate is a lower bound in float64: the parameters ``P = Σ n_l (n_{l-1} + 1)``,
    their gradients when backward runs, and one batch of ``z^l`` and ``a^l``.
    """
    P = sum(n * (m + 1) for m, n in itertools.pairwise(sizes))
    need = 8 * ((2 if gradients else 1) * P + 2 * batch * sum(sizes))
    have = available_memory()
    if have is None or need <= have:
        return
    what = "parameters and their gradients" if gradients else "parameters"
    # Name what to change: the batch of z^l and a^l when the parameters alone would fit.
    fix = ("use smaller layers" if 8 * (2 if gradients else 1) * P > have
           else f"use a smaller {batch_option}")
    raise CLIError(
        f"{option} {','.join(map(str, sizes))}: {P:,} {what} and a batch of {batch:,} need at least "
        f"{format_bytes(need)} in float64, but {format_bytes(have)} of memory is available; {fix}"
    )


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
        X, Y = ngdata.xor()
        return X, Y, None, None, "XOR (4 examples)"
    if spec == "digits":
        s = ngdata.digits(seed=seed)
        return s.X_train, s.Y_train, s.X_test, s.Y_test, (
            f"handwritten digits ({len(s.X_train)} train / {len(s.X_test)} test, 8×8 images)"
        )
    if spec.startswith("mnist:"):
        images, labels = _mnist_files(spec)
        X, y = ngdata.load_mnist_idx(images, labels)
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
    return Path(spec).suffix in (".safetensors", ".st") or os.path.exists(spec)


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
    if _is_model_file(spec):
        if not p.exists():
            if p.is_symlink():
                raise CLIError(f"model file {spec} is a symbolic link that loops or leads nowhere")
            raise CLIError(f"model file {spec} does not exist")
        try:
            return ngio.load(p), f"model {spec}"
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
        from nablagraph.plot import plot_history

        _replace_atomically(_target(out / "training.png"), lambda tmp: plot_history(
            hist, tmp, title="digits [64, 30, 10]: training curves"))
        wrote.append(out / "training.png")
    _say(f"\noutputs written to {out.resolve()}/:")
    for w in wrote:
        _say(f"   {w.name}")
    if not plots:
        _say(f"   (training.png skipped: the training curves need matplotlib: {PLOT_INSTALL})")
    ok = rep.passed and acc >= 0.9
    _say(f"\nresult: {'gradients proved and the network learned' if ok else 'FAILED'}")
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
        ngio.save(net, target)
        _say(f"saved the model to {args.save}")
    if "--history" in outputs:
        target = outputs["--history"]
        if target.suffix == ".csv":
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
        from nablagraph.plot import plot_history

        _replace_atomically(outputs["--plot"], lambda tmp: plot_history(hist, tmp))
        _say(f"wrote the training curves to {args.plot}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
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
    fmt = "dot" if target.suffix == ".gv" else target.suffix.lstrip(".")

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
        except RasterTooLargeError:
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


def cmd_bench(args: argparse.Namespace) -> int:
    from nablagraph import bench

    for option, value in (("--json", args.json), ("--markdown", args.markdown)):
        if value is not None and args.workloads is None:
            raise CLIError(f"{option} {value}: the results it writes are those of --workloads; add "
                           "--workloads W1,W2,... (or leave it out for the finite-differences benchmark)")
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
                       description="Train a [64, 30, 10] sigmoid network on the handwritten digits "
                       "that ship with nablagraph (no download), print accuracy per epoch, the "
                       "three-way gradient table and the finite-difference vs backprop cost, and "
                       "write the graph diagram and training curves (with matplotlib) to an "
                       "output folder, created if missing.")
    p.add_argument("--out", default="nablagraph-out", help="output folder (default ./nablagraph-out)")
    p.add_argument("--epochs", type=_positive(int, "--epochs"), default=30, help="epochs (default 30)")
    p.add_argument("--lr", type=_positive(float, "--lr"), default=0.5, help="learning rate η (default 0.5)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the weights, the shuffling and the split (default 0)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("train", help="train a network and save it",
                       description="Train a network by mini-batch SGD; optionally save it "
                       "(safetensors), its history (JSON or CSV) and training curves (PNG, SVG, "
                       "PDF). Every output is checked before training starts.")
    p.add_argument("--data", default="digits", help="digits, xor or mnist:PATH (default digits)")
    p.add_argument("--sizes", default="64,30,10", help="layer sizes, input first (default 64,30,10)")
    _add_net_options(p)
    p.add_argument("--init", default="scaled", choices=INIT_SCHEMES, help="weight init (default scaled)")
    p.add_argument("--epochs", type=_positive(int, "--epochs"), default=10, help="epochs (default 10)")
    p.add_argument("--batch-size", type=_positive(int, "--batch-size"), default=10, help="mini-batch size M (default 10)")
    p.add_argument("--lr", type=_positive(float, "--lr"), default=0.5, help="learning rate η (default 0.5)")
    p.add_argument("--save", help="write the trained model to this .safetensors file")
    p.add_argument("--history", help="write the per-epoch history to this .json or .csv file")
    p.add_argument("--plot", help="write training curves to this image (.png, .svg, .pdf; needs matplotlib)")
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
    p.add_argument("-o", "--output", required=True, help="the image to write (.svg .png .pdf .dot .gv)")
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
    p.add_argument("--plot", help="write the log-log plot to this image (.png, .svg, .pdf; needs matplotlib)")
    p.add_argument("--seed", type=_seed, default=0, help="seed (default 0)")
    p.add_argument("--workloads", help="instead: time training steps of workloads W1..W5 "
                   "(e.g. W1,W2,W5) against handwritten NumPy (and PyTorch when installed)")
    p.add_argument("--scale", type=_positive(float, "--scale"), default=1.0,
                   help="shrink the workloads' widths and batch by this factor (quick runs)")
    p.add_argument("--json", help="with --workloads: write medians, ratios and machine info to this .json file")
    p.add_argument("--markdown", help="with --workloads: write the Markdown table to this .md file")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nablagraph`` command.

    Returns the exit code: 0 success, 1 a failed check or result (or an internal
    error), 2 a bad argument, input or resource problem, 130 interrupted (SIGINT),
    143 terminated (SIGTERM).  Errors are one line on stderr; ``NABLAGRAPH_DEBUG=1``
    adds the traceback.
    """
    command = ["nablagraph"]
    with _signals_interrupt():
        try:
            return _run(argv, command)
        except KeyboardInterrupt as exc:
            signum = exc.signum if isinstance(exc, Terminated) else int(signal.SIGINT)
            return _interrupted(command[0], signum)
        except BaseException as exc:
            if _received:  # an interrupt that a library turned into another exception
                return _interrupted(command[0], _received[0])
            if not isinstance(exc, Exception):  # SystemExit from argparse, GeneratorExit
                raise
            return _report(command[0], exc)


def _run(argv: Sequence[str] | None, command: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    command[0] = f"nablagraph {args.command}"
    return int(args.func(args))


def _interrupted(command: str, signum: int) -> int:
    _fail_line(f"{command}: interrupted ({signal.Signals(signum).name}); nothing more was written")
    return 128 + signum


def _report(command: str, exc: Exception) -> int:
    """One line for an error: exit 2 for bad input or resources, 1 for a bug."""
    if isinstance(exc, BrokenPipeError):  # `nablagraph train | head`: the reader is gone
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail too
        return 128 + 13  # as if killed by SIGPIPE, silently
    if isinstance(exc, (CLIError, NablaGraphError, OSError)):
        _debug_traceback()
        _fail_line(f"{command}: error: {_first_line(exc)}")
        return EXIT_USAGE
    if isinstance(exc, MemoryError):
        _debug_traceback()
        detail = f": {_first_line(exc)}" if str(exc) else ""
        _fail_line(f"{command}: error: out of memory{detail}; try smaller layers, batches or data")
        return EXIT_USAGE
    if not _debug_traceback():
        _fail_line(
            f"{command}: internal error: {type(exc).__name__}: {_first_line(exc)} — this is a bug "
            "in nablagraph, please report it (NABLAGRAPH_DEBUG=1 shows the traceback)"
        )
    return EXIT_FAILED


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail_line(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


def _debug_traceback() -> bool:
    """Print the traceback of the exception being handled when NABLAGRAPH_DEBUG=1."""
    if os.environ.get("NABLAGRAPH_DEBUG", "") not in ("", "0"):
        traceback.print_exc()
        return True
    return False


#: The signals received during the current run of :func:`main` (an interrupt that a
#: library turned into another exception, e.g. an ImportError, is still an interrupt).
_received: list[int] = []


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt``, SIGTERM (and SIGHUP) :class:`Terminated`.

    So ``finally`` blocks and the atomic writers' cleanups run, and no temporary file
    is left; each signal is also noted in ``_received``.  Only in the main thread,
    never over a signal the parent ignores (or a handler someone else installed for
    SIGINT), and the previous handlers are restored on the way out.
    """
    saved: list[tuple[int, Any]] = []
    _received.clear()

    def interrupt(signum: int, frame: object) -> None:
        _received.append(signum)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(signum)

    signums = [int(signal.SIGINT), int(signal.SIGTERM)]
    signums += [int(signal.SIGHUP)] if hasattr(signal, "SIGHUP") else []
    for signum in signums:
        try:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or (
                signum == signal.SIGINT and previous is not signal.default_int_handler
            ):
                continue
            signal.signal(signum, interrupt)
            saved.append((signum, previous))
        except (ValueError, OSError):  # not the main thread
            break
    try:
        yield
    finally:
        for signum, previous in saved:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
