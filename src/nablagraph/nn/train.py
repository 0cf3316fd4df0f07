"""The training loop: :func:`fit` runs mini-batch gradient descent and returns a :class:`History`.

Each epoch shuffles the training examples with a seeded ``numpy.random.Generator``,
splits them into mini-batches of ``batch_size`` rows, and for each batch runs the
notes' three steps: forward pass, ``backward()`` (autodiff gives ``∇_w C`` and
``∇_b C`` for every layer), and an optimizer step (by default plain SGD,
``w → w − η ∇_w C``, ``b → b − η ∇_b C``; costs average over the batch, so this is
the notes' ``(η/M) Σ_m`` rule).  After each epoch the cost and accuracy on the whole
training set (and on the validation set, if given) are evaluated under
:func:`~nablagraph.no_grad` with the epoch's final parameters.

Checkpoints (``checkpoint_every``, ``resume_from``) are one safetensors file written by
:func:`nablagraph.io.save_checkpoint`: the model's parameters, the optimizer's buffers
as tensors, and the epoch, the shuffling RNG's state, the history so far and the
optimizer's counters as JSON metadata (never pickle).  A resumed run continues
bit for bit where the uninterrupted one would be.

Imports: ``tensor``, ``functional``, ``errors``, ``replay``, ``nn.module``, ``nn.optim``.  The
optional learning diagnostics (``nablagraph.diagnostics``), the progress bar (``tqdm``) and
the checkpoint files (``nablagraph.io``, which imports this package) are looked up at run
time only, so this layer imports nothing below it.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph import functional as F
from nablagraph.errors import (
    ConfigError,
    DataError,
    FileFormatError,
    LabelError,
    ShapeError,
)
from nablagraph.nn.module import Module, Network, as_numeric_array, index_text, resolve_cost
from nablagraph.nn.optim import SGD, Adam, Optimizer
from nablagraph.replay import compile_step
from nablagraph.tensor import Tensor, no_grad

__all__ = ["fit", "History", "DataError"]

CostFn = Callable[[Tensor, Any], Tensor]
PathLike = str | os.PathLike[str]

#: Version of the training state stored in checkpoints.
CHECKPOINT_FORMAT = 1

#: Examples per forward pass when evaluating the cost and accuracy after an epoch.
EVAL_CHUNK = 4096
#: Training examples handed to the learning diagnostics each epoch (at most).
DIAGNOSTICS_EXAMPLES = 1000




@dataclass
class History:
    """Per-epoch record of a :func:`fit` run.

    Attributes
    ----------
    epoch : list of int
        ``1 … epochs``.
    train_cost, train_accuracy : list of float
        Cost ``C`` and accuracy on the whole training set after each epoch (the cost
        without any weight-decay term; accuracy ``None`` when the targets are not
        classes).
    val_cost, val_accuracy : list of float or None
        The same on ``validation_data`` (``None`` entries without it).
    seconds : list of float
        Wall time of each epoch's training steps (evaluation excluded).
    diagnostics : list
        The learning diagnostics per epoch when ``fit(..., diagnostics=...)`` asked
        for them, else empty.
    config : dict
        The settings of the run (optimizer, batch size, seed, example counts).
    """

    epoch: list[int] = field(default_factory=list)
    train_cost: list[float] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    val_cost: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python lists and numbers (JSON-serialisable)."""
        diags = [d.to_dict() if hasattr(d, "to_dict") else d for d in self.diagnostics]
        return {
            "epoch": list(self.epoch),
            "train_cost": list(self.train_cost),
            "train_accuracy": list(self.train_accuracy),
            "val_cost": list(self.val_cost),
            "val_accuracy": list(self.val_accuracy),
            "seconds": list(self.seconds),
            "diagnostics": diags,
            "config": dict(self.config),
        }

    def __str__(self) -> str:
        def f(v: float | None, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        head = f"{'epoch':>5} {'train cost':>11} {'train acc':>9} {'val cost':>10} {'val acc':>8} {'seconds':>8}"
        rows = [head]
        for i in range(len(self)):
            rows.append(
                f"{self.epoch[i]:>5} {self.train_cost[i]:>11.5f} {f(self.train_accuracy[i], '.4f'):>9} "
                f"{f(self.val_cost[i], '.5f'):>10} {f(self.val_accuracy[i], '.4f'):>8} "
                f"{self.seconds[i]:>8.3f}"
            )
        return "\n".join(rows)


# ------------------------------------------------------------------ validation
def _int_arg(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"fit: {name} must be an integer, got {value!r}")
    if value < minimum:
        raise ConfigError(f"fit: {name} must be at least {minimum}, got {value}")
    return int(value)


def _raw(a: Any) -> np.ndarray:
    return np.asarray(a.data if isinstance(a, Tensor) else a)


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(mask)), mask.shape))


def _non_finite(a: np.ndarray) -> tuple[str, int, tuple[int, ...]] | None:
    """``(what, count, first index)`` of the NaN or infinite values of ``a``, if any."""
    if a.dtype.kind != "f":
        return None
    with np.errstate(over="ignore"):
        if np.isfinite(a.sum()):  # a NaN or inf anywhere makes the sum one
            return None
    bad = ~np.isfinite(a)
    if not bad.any():  # the sum overflowed; every value is finite
        return None
    first = _first(bad)
    nan, inf = bool(np.isnan(a).any()), bool(np.isinf(a).any())
    what = "NaN and infinite values" if nan and inf else "NaN" if nan else "infinite values"
    return what, int(bad.sum()), first


def _check_inputs(X: Any, dtype: np.dtype[Any], what: str) -> np.ndarray:
    x = as_numeric_array(X, "fit", what)
    if x.ndim == 0:
        raise ShapeError(f"fit: {what} must have one example per row, got a scalar")
    if x.shape[0] == 0:
        raise DataError(f"fit: {what} is empty (0 examples, shape {x.shape})")
    x = np.asarray(x, dtype=dtype)
    found = _non_finite(x)
    if found is not None:
        kind, count, first = found
        raise DataError(
            f"fit: {what} contains {kind} ({count} of {x.size} values, first at "
            f"{index_text(first)}: {x[first]}); clean or impute the data first"
        )
    return x


def _one_hot(labels: np.ndarray, n: int, dtype: np.dtype[Any]) -> np.ndarray:
    out = np.zeros((labels.shape[0], n), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def _check_target_values(y: np.ndarray, cost_name: str | None, what: str) -> None:
    """Refuse targets no training can fit: non-finite ones, and values the cost excludes."""
    found = _non_finite(y)
    if found is not None:
        kind, count, first = found
        raise LabelError(
            f"fit: {what} contains {kind} ({count} of {y.size} values, first at "
            f"{index_text(first)}: {y[first]}); targets must be finite"
        )
    if cost_name == "cross_entropy" and y.size and y.min() < 0:
        bad = y < 0
        first = _first(bad)
        raise LabelError(
            f"fit: {what} holds {y[first]:g} at {index_text(first)} ({int(bad.sum())} of {y.size} "
            "values negative); cross_entropy targets must be non-negative (one-hot rows or "
            "probabilities), else the cost is unbounded below"
        )
    if cost_name == "binary_cross_entropy" and y.size and (y.min() < 0 or y.max() > 1):
        bad = (y < 0) | (y > 1)
        first = _first(bad)
        raise LabelError(
            f"fit: {what} holds {y[first]:g} at {index_text(first)} ({int(bad.sum())} of {y.size} "
            "values outside [0, 1]); binary_cross_entropy targets must lie in [0, 1]"
        )


def _check_targets(
    Y: Any, n_rows: int, width: int, dtype: np.dtype[Any], keep_labels: bool, what: str,
    cost_name: str | None = None,
) -> np.ndarray:
    y = as_numeric_array(Y, "fit", what)
    if y.ndim == 0 or y.shape[0] != n_rows:
        got = "a scalar" if y.ndim == 0 else f"{y.shape[0]} row{'s' if y.shape[0] != 1 else ''} (shape {y.shape})"
        raise ShapeError(
            f"fit: {what} has {got} but the inputs have {n_rows} rows; there must be one "
            "target per example"
        )
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind in "iu" and y.ndim == 1:
        hi = max(width, 2) - 1
        if y.min() < 0 or y.max() > hi:
            bad = (y < 0) | (y > hi)
            row = _first(bad)[0]
            raise LabelError(
                f"fit: {what} holds class labels, which must be in [0, {hi}] for a model with "
                f"{width} output{'s' if width > 1 else ''}; got {y[row]} at row {row} "
                f"({int(bad.sum())} of {y.size} labels out of range)"
            )
        if width == 1:
            return y.astype(dtype).reshape(-1, 1)
        return y.astype(np.int64) if keep_labels else _one_hot(y, width, dtype)
    y = np.asarray(y, dtype=dtype)
    _check_target_values(y, cost_name, what)
    if y.ndim == 1:
        if width != 1:
            raise ShapeError(
                f"fit: {what} is 1-D with dtype {y.dtype} but the model has {width} outputs; pass "
                f"integer class labels (y.astype(int)) or targets of shape ({n_rows}, {width})"
            )
        return y.reshape(-1, 1)
    if y.ndim == 2 and y.shape[1] != width:
        raise ShapeError(
            f"fit: {what} has shape {y.shape} but the model has {width} outputs; expected "
            f"({n_rows}, {width}) or integer labels of shape ({n_rows},)"
        )
    return y


# ------------------------------------------------------------------ objective
class _Objective:
    """Cost and outputs of a model on a batch, the same way in training and evaluation."""

    def __init__(self, model: Module, cost: str | CostFn | None) -> None:
        self.model = model
        self.network = model if isinstance(model, Network) and cost is None else None
        self.cost_fn: CostFn | None = None
        self.cost_name: str | None = None
        if self.network is not None:
            self.cost_name = self.network.cost_name
        elif callable(cost):
            self.cost_fn = cost
        elif isinstance(cost, str):
            self.cost_name = resolve_cost(cost)
            self.cost_fn = {
                "quadratic": F.quadratic_cost,
                "mse": F.mse_loss,
                "binary_cross_entropy": F.binary_cross_entropy,
                "cross_entropy": F.cross_entropy,
            }[self.cost_name]
        elif cost is None:
            raise ConfigError(
                f"fit: {type(model).__name__} is not a Network, so fit needs cost=: a name "
                "('quadratic', 'mse', 'binary_cross_entropy', 'cross_entropy' — the last "
                "treats the outputs as logits) or a function cost(outputs, Y) -> Tensor"
            )
        else:
            raise ConfigError(f"fit: cost must be a name or a callable, got {type(cost).__name__}")

    @property
    def keep_labels(self) -> bool:
        """Whether integer labels go to the cost as they are (else one-hot)."""
        return self.cost_name == "cross_entropy" or (self.cost_fn is not None and self.cost_name is None)

    def __call__(self, X: np.ndarray, Y: np.ndarray) -> tuple[Tensor, np.ndarray]:
        if self.network is not None:
            a, tr = self.network.forward_trace(X)
            return self.network.cost_from_trace(tr, Y), a.data
        assert self.cost_fn is not None
        out = self.model(X)
        if not isinstance(out, Tensor):
            raise ConfigError(f"fit: the model returned {type(out).__name__}, expected a Tensor")
        C = self.cost_fn(out, Y)
        if not isinstance(C, Tensor) or C.data.size != 1:
            got = f"shape {C.shape}" if isinstance(C, Tensor) else type(C).__name__
            raise ConfigError(f"fit: the cost must return a one-element Tensor, got {got}")
        return C, out.data


def _correct(out: np.ndarray, Y: np.ndarray) -> int:
    pred = np.argmax(out, axis=1) if out.shape[1] > 1 else (out[:, 0] > 0.5).astype(np.int64)
    if Y.ndim == 1:
        true = Y
    elif Y.shape[1] > 1:
        true = np.argmax(Y, axis=1)
    else:
        true = (Y[:, 0] > 0.5).astype(np.int64)
    return int(np.sum(pred == true))


def _is_classes(Y: np.ndarray, width: int) -> bool:
    if Y.ndim == 1:
        return True
    if Y.ndim != 2:
        return False
    if width > 1:
        return True
    return bool(np.all((Y == 0) | (Y == 1)))


def _evaluate(
    objective: _Objective, X: np.ndarray, Y: np.ndarray, classes: bool
) -> tuple[float, float | None]:
    n = X.shape[0]
    total, correct = 0.0, 0
    with no_grad():
        for s in range(0, n, EVAL_CHUNK):
            xb, yb = X[s : s + EVAL_CHUNK], Y[s : s + EVAL_CHUNK]
            C, out = objective(xb, yb)
            total += float(C.data) * xb.shape[0]
            if classes and out.ndim == 2:
                correct += _correct(out, yb)
    return total / n, (correct / n if classes else None)


# ------------------------------------------------------------------ helpers
def _model_dtype(model: Module) -> np.dtype[Any]:
    if isinstance(model, Network):
        return model.dtype
    params = model.parameters()
    return params[0].dtype if params else np.dtype(np.float64)


def _output_width(model: Module, X: np.ndarray) -> int:
    if isinstance(model, Network):
        return model.sizes[-1]
    with no_grad():
        out = model(X[:1])
    shape = out.shape if isinstance(out, Tensor) else np.shape(out)
    return int(shape[-1]) if len(shape) >= 2 else 1


def _make_optimizer(
    model: Module, optimizer: Optimizer | str | None, lr: float | None,
    momentum: float, weight_decay: float,
) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        if lr is not None or momentum != 0.0 or weight_decay != 0.0:
            raise ConfigError(
                f"fit: got optimizer={optimizer!r} and also lr/momentum/weight_decay; set those "
                "on the optimizer instead"
            )
        return optimizer
    name = "sgd" if optimizer is None else optimizer
    if not isinstance(name, str) or name.lower() not in ("sgd", "adam"):
        raise ConfigError(f"fit: optimizer must be an Optimizer, 'sgd' or 'adam', got {optimizer!r}")
    # One flat parameter buffer (a few NumPy calls per step instead of a few per
    # parameter) whenever it gives the same update: one dtype, no bias-sparing decay.
    flat = weight_decay == 0.0 and len({p.dtype for p in model.parameters()}) == 1
    if name.lower() == "adam":
        if momentum != 0.0:
            raise ConfigError(f"fit: momentum={momentum!r} applies to SGD, not Adam (use betas)")
        return Adam(model, lr=1e-3 if lr is None else lr, weight_decay=weight_decay, flat=flat)
    return SGD(model, lr=0.1 if lr is None else lr, momentum=momentum, weight_decay=weight_decay, flat=flat)


def _diagnostics_fn(diagnostics: bool | Callable[..., Any] | None) -> Callable[..., Any] | None:
    """The per-epoch diagnostics function: a user's callable, or ``nablagraph.diagnostics``."""
    if diagnostics is None or diagnostics is False:
        return None
    if callable(diagnostics):
        return diagnostics
    if diagnostics is True:
        try:
            mod = importlib.import_module("nablagraph.diagnostics")
            fn: Callable[..., Any] = mod.diagnostics
        except (ImportError, AttributeError):
            raise ConfigError(
                "fit: diagnostics=True needs nablagraph.diagnostics.diagnostics(model, X, Y), "
                "which this installation does not have; pass a function f(model, X, Y) instead"
            ) from None
        return fn
    raise ConfigError(f"fit: diagnostics must be True, False or a callable, got {diagnostics!r}")


def _stdout_is_tty() -> bool:
    try:
        return bool(sys.stdout is not None and sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


def _progress_bar(total: int, enabled: bool) -> Any | None:
    """A tqdm bar on stdout when enabled and stdout is a terminal; ``None`` otherwise.

    tqdm is an optional extra (``pip install 'nablagraph[progress]'``): without it
    there is simply no bar.
    """
    if not enabled or not _stdout_is_tty():
        return None
    try:
        tqdm = importlib.import_module("tqdm").tqdm
    except (ImportError, AttributeError):
        return None
    return tqdm(total=total, unit="batch", file=sys.stdout, leave=True, dynamic_ncols=True)


# ------------------------------------------------------------------ checkpoints
_HISTORY_FIELDS = ("epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy", "seconds")


def _io() -> Any:
    return importlib.import_module("nablagraph.io")


def _run_key(batch_size: int, n: int, n_val: int | None, shuffle: bool, drop_last: bool) -> dict[str, Any]:
    """The settings a resumed run must share with the checkpointed one."""
    return {"batch_size": batch_size, "n_train": n, "n_val": n_val, "shuffle": shuffle,
            "drop_last": drop_last}


def _save_checkpoint(
    path: PathLike, model: Module, opt: Optimizer, rng: np.random.Generator,
    history: History, epoch: int, run: dict[str, Any],
) -> None:
    arrays, scalars = opt.state_dict()
    d = history.to_dict()
    state = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "rng": rng.bit_generator.state,
        "optimizer": scalars,
        "run": run,
        "history": {k: d[k] for k in (*_HISTORY_FIELDS, "diagnostics")},
    }
    try:
        json.dumps(state)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"fit: cannot checkpoint the training state as JSON ({exc}); the diagnostics "
            "function must return numbers, strings, lists or dicts (or objects with to_dict())"
        ) from None
    _io().save_checkpoint(model, path, arrays, state)


def _is_number(v: Any, none: bool = False) -> bool:
    return (v is None and none) or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _checked_history(h: Any, done: int, fail: Callable[[str], Exception]) -> dict[str, list[Any]]:
    """The saved history, every field type-checked: ``done`` epochs ``1 … done``."""
    if not isinstance(h, dict):
        raise fail(f"its history is {type(h).__name__}, expected a JSON object")
    out: dict[str, list[Any]] = {}
    for k in (*_HISTORY_FIELDS, "diagnostics"):
        v = h.get(k)
        if not isinstance(v, list):
            raise fail(f"its history has {k}={type(v).__name__}, expected a list")
        out[k] = v
    if out["epoch"] != list(range(1, done + 1)) or any(type(e) is not int for e in out["epoch"]):
        raise fail(f"its history lists the epochs {str(out['epoch'])[:60]}, expected 1 … {done}")
    for k in _HISTORY_FIELDS[1:]:
        none = k not in ("train_cost", "seconds")
        if len(out[k]) != done or not all(_is_number(v, none) for v in out[k]):
            raise fail(f"its history has {k} {str(out[k])[:60]}; expected {done} numbers"
                       + (" or nulls" if none else ""))
    if len(out["diagnostics"]) > done:
        raise fail(f"its history has {len(out['diagnostics'])} diagnostics for {done} epochs")
    return out


def _checked_optimizer(scalars: Any, fail: Callable[[str], Exception]) -> dict[str, Any]:
    """The optimizer's saved counters, type-checked (the optimizer checks that they fit it)."""
    if not isinstance(scalars, dict):
        raise fail(f"its optimizer state is {type(scalars).__name__}, expected a JSON object")
    steps = scalars.get("steps")
    if type(steps) is not int or steps < 0:
        raise fail(f"its optimizer state has steps={str(steps)[:60]}, expected a non-negative integer")
    t = scalars.get("t", [])
    if not isinstance(t, list) or not all(type(k) is int and k >= 0 for k in t):
        raise fail(f"its optimizer state has t={str(t)[:60]}, expected non-negative integers")
    return scalars


def _resume(
    path: PathLike, model: Module, opt: Optimizer, rng: np.random.Generator,
    history: History, epochs: int, run: dict[str, Any],
) -> int:
    """Restore everything from the checkpoint at ``path``; return the epoch it ended.

    The whole file is validated first — format, checksums, architecture, then every
    field of the state (epoch, run, RNG state, optimizer counters and buffers,
    history) — and only then are the optimizer, the parameters, the RNG and the history
    changed: on any error ``model`` and ``opt`` are untouched.
    """
    io = _io()
    params, arrays, state = io.read_checkpoint(model, path)
    where = repr(str(path))

    def fail(why: str) -> Exception:
        return FileFormatError(f"fit: the checkpoint {where} is malformed: {why}")

    if state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"fit: {where} holds checkpoint format {str(state.get('format'))[:60]}; this "
                          f"version of nablagraph reads format {CHECKPOINT_FORMAT}")
    done = state.get("epoch")
    if type(done) is not int or done < 0:
        raise fail(f"its epoch count is {str(done)[:60]!r}, expected a non-negative integer")
    saved_run = state.get("run")
    if not isinstance(saved_run, dict):
        raise fail(f"its run settings are {type(saved_run).__name__}, expected a JSON object")
    diffs = [f"{k}={str(saved_run.get(k))[:40]} there, {v!r} here" for k, v in run.items()
             if saved_run.get(k) != v]
    if diffs:
        raise ConfigError(f"fit: cannot resume from {where}: the run differs ({'; '.join(diffs)}); "
                          "resume with the same data and batch settings")
    if done > epochs:
        raise ConfigError(f"fit: {where} was saved after epoch {done} but epochs={epochs}; ask for "
                          f"at least {done} epochs")
    fresh = np.random.default_rng(0)
    try:
        fresh.bit_generator.state = state["rng"]
    except Exception as exc:  # whatever the bit generator's setter raises for a bad state
        raise ConfigError(f"fit: the shuffling RNG state in {where} does not fit a "
                          f"{type(rng.bit_generator).__name__} generator ({str(exc)[:100]})") from None
    scalars = _checked_optimizer(state.get("optimizer"), fail)
    for key in arrays:
        if not re.fullmatch(r"[A-Za-z_]\w{0,40}\.[0-9]{1,9}", key, re.ASCII):
            raise fail(f"it holds the state array {'fit/' + key[:60]!r}; expected fit/<buffer>.<index>")
    h = _checked_history(state.get("history"), done, fail)
    opt.load_state_dict(arrays, scalars)  # checks that the state fits, then changes the optimizer
    io.copy_parameters(model, params)
    rng.bit_generator.state = fresh.bit_generator.state
    for k in _HISTORY_FIELDS:
        getattr(history, k).extend(h[k])
    history.diagnostics.extend(h["diagnostics"])
    return done


# ------------------------------------------------------------------ fit
def fit(
    model: Module,
    X: Any,
    Y: Any,
    epochs: int,
    batch_size: int,
    lr: float | None = None,
    optimizer: Optimizer | str | None = None,
    *,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    cost: str | CostFn | None = None,
    seed: int | np.random.Generator | None = 0,
    shuffle: bool = True,
    drop_last: bool = False,
    validation_data: tuple[Any, Any] | None = None,
    verbose: bool = True,
    diagnostics: bool | Callable[..., Any] = False,
    compile: bool = False,
    checkpoint_every: int | None = None,
    checkpoint_path: PathLike | None = None,
    resume_from: PathLike | None = None,
) -> History:
    """Train ``model`` on ``(X, Y)`` by mini-batch gradient descent.

    For each of ``epochs`` epochs the rows are shuffled, cut into mini-batches of
    ``M = batch_size`` examples, and for each batch

    .. math:: C = \\frac1M \\sum_m C_m, \\qquad
              w^l \\to w^l - \\eta \\nabla_{w^l} C, \\qquad b^l \\to b^l - \\eta \\nabla_{b^l} C

    (or the given optimizer's rule).  ``n`` need not be a multiple of ``M``: the
    last batch of an epoch holds the ``n mod M`` remaining examples (its cost is
    still an average, so its step has the same scale) unless ``drop_last=True``,
    which skips them for that epoch (the shuffle puts different ones last each time).

    Parameters
    ----------
    model : Module
        A :class:`Network` (its own cost is used) or any module with ``cost=``.
    X : array_like, shape (n, n_0)
        Inputs, one example per row.
    Y : array_like
        Targets: integer class labels of shape ``(n,)`` (turned into one-hot rows when
        the cost needs them), one-hot or real targets of shape ``(n, n_L)``, or 0/1
        labels for a single output neuron.
    epochs : int
        Passes over the data (``0`` trains nothing).
    batch_size : int
        Examples per mini-batch ``M ≥ 1`` (a larger value means one batch per epoch).
    lr : float, optional
        Learning rate ``η`` of the optimizer ``fit`` creates (default 0.1 for SGD,
        0.001 for Adam).  Not allowed together with an optimizer instance.
    optimizer : Optimizer, "sgd" or "adam", optional
        Default: :class:`SGD` with ``lr``, ``momentum`` and ``weight_decay``.
    momentum, weight_decay : float
        Passed to the optimizer ``fit`` creates; ``weight_decay`` is the L2 coefficient
        ``λ/n`` (see :class:`SGD`).
    cost : str or callable, optional
        For modules other than :class:`Network`: a cost name (``cross_entropy`` takes
        the outputs as logits) or ``cost(outputs, Y) -> Tensor``.
    seed : int or numpy.random.Generator, optional
        Seeds the shuffling (``0`` by default, so runs are reproducible).
    shuffle : bool
        Shuffle each epoch (otherwise batches follow the row order).
    drop_last : bool
        Skip the last, partial batch of each epoch.
    validation_data : (X_val, Y_val), optional
        Evaluated after each epoch, never trained on.
    verbose : bool
        Show a tqdm progress bar when stdout is a terminal (silent otherwise, and
        when tqdm is not installed).
    diagnostics : bool or callable
        ``True`` records ``nablagraph.diagnostics.diagnostics(model, X, Y)`` after each
        epoch on up to 1,000 evenly spaced training examples; a callable
        ``f(model, X, Y)`` is used instead.  Results go to ``History.diagnostics``.
    compile : bool
        Record the training step once and replay it (:func:`nablagraph.compile_step`):
        bit-for-bit the same numbers with fewer Python calls (about 1.3× faster on
        small networks).  Only for models whose forward pass runs the same ops on
        every batch (no control flow on the data's values).
    checkpoint_every : int, optional
        Save a checkpoint to ``checkpoint_path`` every this many epochs (and after the
        last epoch): the model (a file :func:`nablagraph.load` reads) plus the optimizer
        state (SGD's velocity, Adam's ``m``, ``v``, ``t``), the epoch, the shuffling RNG's
        state and the history so far, in one safetensors file replaced atomically (a
        crash while writing leaves the previous checkpoint intact).
    checkpoint_path : str or path-like, optional
        Where checkpoints go (required with ``checkpoint_every``).
    resume_from : str or path-like, optional
        A checkpoint to continue from: ``fit`` restores the parameters, the optimizer
        state, the RNG and the history, then runs the remaining epochs up to
        ``epochs``.  With the same model, data, settings and seed the result is bit for
        bit that of an uninterrupted run (``History.seconds`` aside).

    Returns
    -------
    History

    Raises
    ------
    ConfigError
        Bad settings (``epochs < 0``, ``batch_size < 1``, ``lr ≤ 0`` …), a cost that
        became NaN or infinite (the learning rate is then usually too large), or a
        checkpoint that does not fit this run.
    FileFormatError
        ``resume_from`` is not a checkpoint, or is truncated, corrupt or malformed (any
        entry of its state), or not a regular file.  The whole checkpoint is checked
        before the model or the optimizer changes: after any error both are untouched.
    OSError
        ``resume_from`` cannot be opened (``FileNotFoundError``, ``PermissionError`` …),
        or ``checkpoint_path`` is a folder, a link loop or in a folder that does not
        exist (checked before the first epoch; a FIFO or a device there is a
        ``FileFormatError``).
    ShapeError, DataError, LabelError, DTypeError
        Inputs and targets (training or validation) that do not fit the model or each
        other, checked before the first step: ragged lists (``ShapeError``), strings,
        complex numbers or objects (``DTypeError``), NaN or infinite inputs
        (``DataError``), NaN or infinite targets, class labels out of range, negative
        cross-entropy targets or binary cross-entropy targets outside ``[0, 1]``
        (``LabelError``), each naming the row and column at fault.  A cost that is
        not finite on the very first batch, before any update, is a ``DataError`` (the
        data's scale, not the learning rate).

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> y = np.array([0, 1, 1, 0])
    >>> net = ng.nn.Network([2, 4, 1], seed=0)
    >>> h = ng.nn.fit(net, X, y, epochs=3, batch_size=4, lr=1.0, verbose=False)
    >>> len(h), h.epoch
    (3, [1, 2, 3])
    """
    epochs = _int_arg("epochs", epochs, 0)
    batch_size = _int_arg("batch_size", batch_size, 1)
    if checkpoint_every is not None:
        checkpoint_every = _int_arg("checkpoint_every", checkpoint_every, 1)
        if checkpoint_path is None:
            raise ConfigError(f"fit: checkpoint_every={checkpoint_every} needs checkpoint_path=, "
                              "the file to write")
        _io().check_write_target(checkpoint_path, "fit: checkpoint_path")  # before any epoch
    elif checkpoint_path is not None:
        raise ConfigError("fit: checkpoint_path is set but checkpoint_every is not; pass "
                          "checkpoint_every=N to save every N epochs")
    if not isinstance(model, Module):
        raise ConfigError(f"fit: model must be a nablagraph Module, got {type(model).__name__}")
    objective = _Objective(model, cost)
    dtype = _model_dtype(model)
    Xa = _check_inputs(X, dtype, "X")
    if isinstance(model, Network) and Xa.ndim == 1:  # (before Y is compared with its "rows")
        n_in = model.sizes[0]
        hint = (f"X.reshape(-1, 1) for {Xa.shape[0]} examples of one feature" if n_in == 1
                else f"X.reshape(1, {n_in}) for one example" if Xa.shape[0] == n_in
                else f"examples of {n_in} values each")
        raise ShapeError(f"fit: X is 1-D (shape {Xa.shape}) but a Network takes one example per row, "
                         f"shape (M, {n_in}); pass {hint}")
    width = _output_width(model, Xa)
    Ya = _check_targets(Y, Xa.shape[0], width, dtype, objective.keep_labels, "Y", objective.cost_name)
    classes = _is_classes(Ya, width)
    val: tuple[np.ndarray, np.ndarray] | None = None
    if validation_data is not None:
        try:
            Xv_raw, Yv_raw = validation_data
        except (TypeError, ValueError):
            raise ConfigError("fit: validation_data must be a pair (X_val, Y_val)") from None
        Xv = _check_inputs(Xv_raw, dtype, "validation X")
        if Xv.ndim != Xa.ndim or Xv.shape[1:] != Xa.shape[1:]:
            raise ShapeError(
                f"fit: validation X has shape {Xv.shape} but X has shape {Xa.shape}; their "
                f"examples must have the same shape {Xa.shape[1:]}"
            )
        Yv = _check_targets(Yv_raw, Xv.shape[0], width, dtype, objective.keep_labels, "validation Y",
                            objective.cost_name)
        val = (Xv, Yv)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    diag_fn = _diagnostics_fn(diagnostics)
    if diagnostics is True and not (hasattr(model, "forward_trace") and hasattr(model, "layers")):
        raise ConfigError(
            "fit: diagnostics=True reads a layered network (forward_trace and layers, like "
            f"Network); {type(model).__name__} is not one, so pass a function f(model, X, Y)"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    n = Xa.shape[0]
    n_used = (n // batch_size) * batch_size if drop_last else n
    if n_used == 0:
        raise ConfigError(
            f"fit: drop_last=True with batch_size={batch_size} larger than the {n} examples "
            "leaves no batch to train on"
        )
    n_batches = -(-n_used // batch_size)
    history = History(config={
        "optimizer": repr(opt), "epochs": epochs, "batch_size": batch_size,
        "batches_per_epoch": n_batches, "n_train": n, "n_val": None if val is None else len(val[0]),
        "seed": seed if isinstance(seed, (int, type(None))) else "Generator",
        "shuffle": shuffle, "drop_last": drop_last, "compile": bool(compile),
    })
    if diag_fn is not None:
        diag_rows = np.unique(np.linspace(0, n - 1, min(n, DIAGNOSTICS_EXAMPLES)).astype(np.int64))
        diag_data = (Xa[diag_rows], Ya[diag_rows])

    run = _run_key(batch_size, n, None if val is None else len(val[0]), shuffle, drop_last)
    start = 1
    if resume_from is not None:
        start = _resume(resume_from, model, opt, rng, history, epochs, run) + 1

    step = compile_step(lambda xb, yb: objective(xb, yb)[0]) if compile else None
    bar = _progress_bar((epochs - start + 1) * n_batches, verbose)
    try:
        for epoch in range(start, epochs + 1):
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{epochs}")
            t0 = time.perf_counter()
            if shuffle:
                order = rng.permutation(n)
                Xs, Ys = Xa[order], Ya[order]  # one copy per epoch; batches are views
            else:
                Xs, Ys = Xa, Ya
            for k, s in enumerate(range(0, n_used, batch_size)):
                opt.zero_grad()
                xb, yb = Xs[s : s + batch_size], Ys[s : s + batch_size]
                if step is not None:
                    C = step(xb, yb)  # forward and backward, replayed
                else:
                    C, _ = objective(xb, yb)
                c = float(C.data)
                if not math.isfinite(c):
                    if epoch == start and k == 0 and resume_from is None:  # no step yet: not η
                        raise DataError(
                            f"fit: the cost is {c} on the first batch, before any update (the data "
                            "are finite); the model's outputs overflow: scale X (values up to "
                            f"{np.abs(Xa).max():g}) or check the model and cost"
                        )
                    raise ConfigError(
                        f"fit: the cost became {c} at epoch {epoch}, batch {k + 1} of {n_batches} "
                        f"with {opt!r}; the learning rate is probably too large"
                    )
                if step is None:
                    C.backward()
                opt.step()
                if bar is not None:
                    bar.update(1)
            seconds = time.perf_counter() - t0
            tc, ta = _evaluate(objective, Xa, Ya, classes)
            vc, va = _evaluate(objective, val[0], val[1], classes) if val is not None else (None, None)
            history.epoch.append(epoch)
            history.train_cost.append(tc)
            history.train_accuracy.append(ta)
            history.val_cost.append(vc)
            history.val_accuracy.append(va)
            history.seconds.append(seconds)
            if diag_fn is not None:
                history.diagnostics.append(diag_fn(model, *diag_data))
                opt.zero_grad()
            if bar is not None:
                post = f"cost {tc:.4f}" + ("" if ta is None else f" acc {ta:.3f}")
                if vc is not None:
                    post += f" val cost {vc:.4f}" + ("" if va is None else f" val acc {va:.3f}")
                bar.set_postfix_str(post)
            if checkpoint_every is not None and (epoch % checkpoint_every == 0 or epoch == epochs):
                assert checkpoint_path is not None
                _save_checkpoint(checkpoint_path, model, opt, rng, history, epoch, run)
    finally:
        if bar is not None:
            bar.close()
    return history
