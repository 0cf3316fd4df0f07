"""What :func:`~nablagraph.nn.train.fit` settles before its first step: the plan of a run.

The data checked against the model (:func:`_check_data`, with
:mod:`nablagraph.nn.fit_checks`), the optimizer (:func:`_make_optimizer`), the
per-epoch diagnostics (:func:`_diagnostics_fn`), and the batches of an epoch, the
history's settings and the diagnostics sample (:func:`_plan`), gathered in one
:class:`_Plan` that the epoch loop of :mod:`nablagraph.nn.train` reads.

Imports: ``errors``, ``diagnostics``, ``nn.base``, ``nn.network``, ``nn.optim``,
``nn.fit_checks``, ``nn.objective``, ``nn.history``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablagraph.diagnostics import diagnostics as learning_diagnostics
from nablagraph.errors import ConfigError, ShapeError
from nablagraph.nn.base import Module
from nablagraph.nn.fit_checks import _check_inputs, _check_targets
from nablagraph.nn.history import History
from nablagraph.nn.network import Network
from nablagraph.nn.objective import _is_classes, _model_dtype, _Objective, _output_width
from nablagraph.nn.optim import SGD, Adam, Optimizer

__all__ = ["PathLike", "DIAGNOSTICS_EXAMPLES"]

PathLike = str | os.PathLike[str]

#: Training examples handed to the learning diagnostics each epoch (at most).
DIAGNOSTICS_EXAMPLES = 1000


def _make_optimizer(
    model: Module, optimizer: Optimizer | str | None, lr: float | None,
    momentum: float, weight_decay: float,
) -> Optimizer:
    """The run's optimizer: the one given, or a new SGD (the default) or Adam."""
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
    return _new_optimizer(model, name.lower(), lr, momentum, weight_decay)


def _new_optimizer(
    model: Module, name: str, lr: float | None, momentum: float, weight_decay: float,
) -> Optimizer:
    """A new ``"sgd"`` or ``"adam"`` (default ``lr`` 0.1 and 0.001) for ``model``."""
    # One flat parameter buffer (a few NumPy calls per step instead of a few per
    # parameter) whenever it gives the same update: one dtype, no bias-sparing decay.
    flat = weight_decay == 0.0 and len({p.dtype for p in model.parameters()}) == 1
    if name == "adam":
        if momentum != 0.0:
            raise ConfigError(f"fit: momentum={momentum!r} applies to SGD, not Adam (use betas)")
        return Adam(model, lr=1e-3 if lr is None else lr, weight_decay=weight_decay, flat=flat)
    return SGD(model, lr=0.1 if lr is None else lr, momentum=momentum, weight_decay=weight_decay, flat=flat)


def _diagnostics_fn(diagnostics: bool | Callable[..., Any] | None, model: Module) -> Callable[..., Any] | None:
    """The per-epoch diagnostics function: a user's callable, or ``nablagraph.diagnostics``."""
    if diagnostics is None or diagnostics is False:
        return None
    if callable(diagnostics):
        return diagnostics
    if diagnostics is not True:
        raise ConfigError(f"fit: diagnostics must be True, False or a callable, got {diagnostics!r}")
    if not (hasattr(model, "forward_trace") and hasattr(model, "layers")):
        raise ConfigError(
            "fit: diagnostics=True reads a layered network (forward_trace and layers, like "
            f"Network); {type(model).__name__} is not one, so pass a function f(model, X, Y)"
        )
    return learning_diagnostics


def _run_key(batch_size: int, n: int, n_val: int | None, shuffle: bool, drop_last: bool) -> dict[str, Any]:
    """The settings a resumed run must share with the checkpointed one."""
    return {"batch_size": batch_size, "n_train": n, "n_val": n_val, "shuffle": shuffle,
            "drop_last": drop_last}


# ------------------------------------------------------------------ fit, step by step
@dataclass
class _Plan:
    """One checked ``fit`` run: the data, the optimizer, the batches and the record."""

    model: Module
    objective: _Objective
    X: np.ndarray
    Y: np.ndarray
    classes: bool
    val: tuple[np.ndarray, np.ndarray] | None
    opt: Optimizer
    rng: np.random.Generator
    epochs: int
    batch_size: int
    n_used: int
    n_batches: int
    shuffle: bool
    history: History
    run: dict[str, Any]
    diag_fn: Callable[..., Any] | None
    diag_data: tuple[np.ndarray, np.ndarray] | None
    checkpoint_every: int | None
    checkpoint_path: PathLike | None


def _check_data(
    model: Module, objective: _Objective, X: Any, Y: Any, validation_data: tuple[Any, Any] | None,
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None, bool]:
    """Step 2: inputs and targets, training and validation: ``(X, Y, val, classes)``."""
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
    if validation_data is None:
        return Xa, Ya, None, classes
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
    return Xa, Ya, (Xv, Yv), classes


def _plan(
    model: Module, objective: _Objective, data: tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None, bool],
    opt: Optimizer, seed: int | np.random.Generator | None, epochs: int, batch_size: int,
    shuffle: bool, drop_last: bool, compile: bool, diag_fn: Callable[..., Any] | None,
    checkpoint_every: int | None, checkpoint_path: PathLike | None,
) -> _Plan:
    """Step 3: the batches of an epoch, the history's settings and the diagnostics sample."""
    Xa, Ya, val, classes = data
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
    diag_data = None
    if diag_fn is not None:
        diag_rows = np.unique(np.linspace(0, n - 1, min(n, DIAGNOSTICS_EXAMPLES)).astype(np.int64))
        diag_data = (Xa[diag_rows], Ya[diag_rows])
    run = _run_key(batch_size, n, None if val is None else len(val[0]), shuffle, drop_last)
    return _Plan(model, objective, Xa, Ya, classes, val, opt, rng, epochs, batch_size, n_used,
                 n_batches, shuffle, history, run, diag_fn, diag_data, checkpoint_every, checkpoint_path)

