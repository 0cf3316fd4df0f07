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

The package: :func:`main` and the parser here, the subcommands in
:mod:`nablagraph.cli.commands`, output planning, atomic writes and signals in
:mod:`nablagraph.cli.outputs`.

Imports: everything public; nothing imports this package except the launcher
``_nablagraph_main`` (the ``nablagraph`` command's entry point) and ``__main__``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import nablagraph as ng
from nablagraph._memory import available_memory
from nablagraph.cli.commands import (
    _add_net_options,
    _positive,
    _seed,
    cmd_bench,
    cmd_check,
    cmd_demo,
    cmd_graph,
    cmd_train,
)
from nablagraph.cli.outputs import (
    EXIT_FAILED,
    EXIT_USAGE,
    CLIError,
    Terminated,
    _check_memory,
    _received,
    _signals_interrupt,
)
from nablagraph.errors import NablaGraphError
from nablagraph.nn.module import INIT_SCHEMES

__all__ = ["main", "build_parser", "CLIError", "Terminated", "_check_memory", "available_memory"]


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
    _add_demo(sub)
    _add_train(sub)
    _add_check(sub)
    _add_graph(sub)
    _add_bench(sub)
    return parser


def _add_demo(sub: Any) -> None:
    """The ``demo`` subcommand's options."""
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


def _add_train(sub: Any) -> None:
    """The ``train`` subcommand's options."""
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


def _add_check(sub: Any) -> None:
    """The ``check`` subcommand's options."""
    p = sub.add_parser("check", help="prove gradients three ways, or check your own backprop",
                       description="Compare autodiff, the closed-form BP1–BP4 and central finite "
                       "differences on a batch; exit 1 if they disagree. With --backprop "
                       "FILE.py:Name, check YOUR backprop instead (a textbook network class or "
                       "object with backprop(x, y), or a function grads(params, X, Y)): exit 0 "
                       "if it agrees with autodiff, 1 if not, naming the failing equation and "
                       "the likely mistake. WARNING: --backprop runs FILE.py (as Python's import "
                       "would): only give it code you trust.")
    p.add_argument("model", nargs="?", help="a .safetensors model file or layer sizes such as 64,30,10")
    p.add_argument("--backprop", metavar="FILE.py:NAME",
                   help="check your own backprop: the class, object or function NAME in FILE.py "
                   "(the file is executed to load it); --sizes builds a class or seeds a function's "
                   "weights, --cost quadratic or cross_entropy (sigmoid outputs)")
    p.add_argument("--sizes", help="with --backprop: layer sizes, input first, such as 3,4,2")
    p.add_argument("--data", default="digits", help="digits, xor or mnist:PATH (default digits)")
    _add_net_options(p)
    p.add_argument("--batch", type=_positive(int, "--batch"), default=16, help="examples used (default 16)")
    p.add_argument("--fd", default="auto", choices=["auto", "full", "sampled", "off"],
                   help="finite differences: every parameter, a sample, or none (default auto)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_check)


def _add_graph(sub: Any) -> None:
    """The ``graph`` subcommand's options."""
    p = sub.add_parser("graph", help="draw the recorded graph of a network's cost",
                       description="Run a network on a small batch and draw the graph of its cost "
                       "(.svg, .png, .pdf or .dot by the output's extension), or write an interactive .html page "
                       "(pan, zoom, inspect each tensor, step the backward pass; one offline file).")
    p.add_argument("model", help="a .safetensors model file or layer sizes such as 64,30,10")
    p.add_argument("-o", "--output", required=True, help="the image to write (.svg .png .pdf .dot .gv) or page (.html)")
    p.add_argument("--data", default="digits", help="digits, xor or mnist:PATH (default digits)")
    _add_net_options(p)
    p.add_argument("--batch", type=_positive(int, "--batch"), default=4, help="examples drawn (default 4)")
    p.add_argument("--collapse", choices=["layers"], default=None, help="one box per layer")
    p.add_argument("--grads", action="store_true", help="run backward and show δ and gradient norms")
    p.add_argument("--direction", default="TB", choices=["TB", "LR", "BT", "RL"], help="layout direction")
    p.set_defaults(func=cmd_graph)


def _add_bench(sub: Any) -> None:
    """The ``bench`` subcommand's options."""
    p = sub.add_parser("bench", help="why backprop is fast; training-step workloads vs NumPy",
                       description="Time one gradient by backprop and by finite differences as the "
                       "number of parameters grows (a table and a log-log plot), and autodiff vs "
                       "the handwritten closed form. With --workloads: the W1–W5 training-step "
                       "table against handwritten NumPy (and PyTorch when installed). With --import: "
                       "the start-up time of import nablagraph against import numpy.")
    p.add_argument("--hidden", default="4,16,64,256", help="hidden widths of [64, h, 10] networks (default 4,16,64,256)")
    p.add_argument("--repeats", type=_positive(int, "--repeats"), default=5, help="timing repeats (default 5)")
    p.add_argument("--plot", help="write the log-log plot to this image (.png, .svg, .pdf; needs matplotlib)")
    p.add_argument("--seed", type=_seed, default=0, help="seed (default 0)")
    p.add_argument("--workloads", help="instead: time training steps of workloads W1..W5 "
                   "(e.g. W1,W2,W5) against handwritten NumPy (and PyTorch when installed)")
    p.add_argument("--scale", type=_positive(float, "--scale"), default=1.0,
                   help="shrink the workloads' widths and batch by this factor (quick runs)")
    p.add_argument("--runs", type=_positive(int, "--runs"), default=1,
                   help="with --workloads: run the table this many times, each in a new process, "
                   "and report the median and range of the ratios over the runs")
    p.add_argument("--settings", help="with --workloads: run under these BLAS settings, each in a new "
                   "process: 'all' (OpenBLAS kernel default/haswell x 1/2 threads x sklearn imported "
                   "or not) or names such as default-1t,haswell-2t-sklearn")
    p.add_argument("--json", help="with --workloads: write medians, ratios and machine info to this .json file")
    p.add_argument("--markdown", help="with --workloads: write the Markdown table to this .md file")
    p.add_argument("--import", dest="import_rounds", nargs="?", const=20, type=_positive(int, "--import"),
                   metavar="ROUNDS", help="instead: time python -c pass, import numpy and import nablagraph, "
                   "each in a fresh interpreter, median of ROUNDS interleaved rounds (default 20)")
    p.set_defaults(func=cmd_bench)


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
