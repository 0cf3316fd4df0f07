"""The training loop: :func:`fit` runs mini-batch gradient descent and returns a :class:`History`.

Each epoch shuffles the training examples with a seeded ``numpy.random.Generator``,
splits them into mini-batches of ``batch_size`` rows, and for each batch runs the
notes' three steps: forward pass, ``backward()`` (autodiff gives ``∇_w C`` and
``∇_b C`` for every layer), and an optimizer step (by default plain SGD,
``w → w − η ∇_w C``, ``b → b − η ∇_b C``; costs average over the batch, so this is
the notes' ``(η/M) Σ_m`` rule).  After each epoch the cost and accuracy on the whole
training set (and on the validation set, if given) are evaluated under
:func:`~nablagraph.no_grad` with the epoch's final parameters.

Checkpoints (``checkpoint_every``, ``resume_from``) are one safetensors file written and
read by :mod:`nablagraph.checkpoints`: the model's parameters, the optimizer's buffers
as tensors, and the epoch, the shuffling RNG's state, the history so far and the
optimizer's counters as JSON metadata (never pickle).  A resumed run continues
bit for bit where the uninterrupted one would be.  Files are the ``io`` floor's
business, above this one: ``nablagraph.checkpoints`` plugs itself in through the named
hook :func:`use_checkpoint_store`, loaded at the first checkpoint.

:func:`fit` runs as a few named steps.  Before the first step it checks the settings
(:func:`_check_settings`), sets up the cost (:mod:`nablagraph.nn.objective`) and
settles the plan of the run in :mod:`nablagraph.nn.fit_plan`: the data checked against
the model, the optimizer, the batches and the history.  Then it resumes from a
checkpoint if asked (:func:`_resume`) and runs the epoch loop (:func:`_train`): per
epoch train (:func:`_train_epoch`), evaluate and record (:func:`_record_epoch`) and
checkpoint (:func:`_checkpoint_if_due`).

Imports: ``errors``, ``replay``, ``nn.base``, ``nn.optim``, ``nn.fit_checks``,
``nn.objective``, ``nn.history``, ``nn.fit_plan``; the progress bar (``tqdm``, an
optional extra) when one is shown.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from nablagraph.engine import backward as _backward
from nablagraph.errors import ConfigError, DataError
from nablagraph.nn.base import Module
from nablagraph.nn.fit_checks import _int_arg
from nablagraph.nn.fit_plan import DIAGNOSTICS_EXAMPLES as DIAGNOSTICS_EXAMPLES
from nablagraph.nn.fit_plan import PathLike as PathLike
from nablagraph.nn.fit_plan import (
    _check_data,
    _diagnostics_fn,
    _make_optimizer,
    _Plan,
    _plan,
)
from nablagraph.nn.history import History
from nablagraph.nn.lr_scheduler import LRScheduler, ReduceLROnPlateau
from nablagraph.nn.objective import CostFn, _evaluate, _Objective
from nablagraph.nn.optim import Optimizer
from nablagraph.replay import compile_step

__all__ = ["fit", "History", "DataError", "CheckpointStore", "use_checkpoint_store"]


# ------------------------------------------------------------------ progress bar
def _stdout_is_tty() -> bool:
    try:
        return bool(sys.stdout is not None and sys.stdout.isatty())
    except (AttributeError, ValueError):
        return False


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel, where stdout is not a terminal but a bar still shows.

    The same test as ``tqdm.autonotebook``: the kernel's shell module is loaded (looked
    up, never imported here).
    """
    return "ipykernel.zmqshell" in sys.modules


def _progress_bar(total: int, enabled: bool) -> Any | None:
    """A tqdm bar when enabled, on a terminal or in Jupyter; ``None`` otherwise.

    On a terminal it is tqdm's text bar on stdout.  In a Jupyter kernel it is
    ``tqdm.auto``'s: a widget when ``ipywidgets`` is installed, else (with tqdm's
    warning saying so) the text bar in the cell's output.  Anywhere else (a pipe, a
    file, a test's captured output) there is no bar.  tqdm is an optional extra
    (``pip install 'nablagraph[progress]'``): without it there is simply no bar.
    """
    if not enabled:
        return None
    jupyter = _in_jupyter()
    if not jupyter and not _stdout_is_tty():
        return None
    try:
        if jupyter:
            from tqdm.auto import tqdm  # type: ignore[import-untyped, unused-ignore]
        else:
            from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore, no-redef]
    except ImportError:
        return None
    return tqdm(total=total, unit="batch", file=sys.stdout, leave=True, dynamic_ncols=True)


# ------------------------------------------------------------------ checkpoint hook
class CheckpointStore(Protocol):
    """Where :func:`fit` saves and resumes checkpoints (:mod:`nablagraph.checkpoints`)."""

    def save(
        self, path: PathLike, model: Module, opt: Optimizer, rng: np.random.Generator,
        history: History, epoch: int, run: dict[str, Any],
    ) -> None:
        """Write the training state after ``epoch``."""

    def resume(
        self, path: PathLike, model: Module, opt: Optimizer, rng: np.random.Generator,
        history: History, epochs: int, run: dict[str, Any],
    ) -> int:
        """Restore the training state; return the epoch it ended."""
        ...

    def check_target(self, path: PathLike) -> None:
        """Refuse, before any epoch, a path a checkpoint cannot be written to."""


_checkpoint_store: CheckpointStore | None = None
_store_is_default = True


def use_checkpoint_store(store: CheckpointStore, *, default: bool = False) -> None:
    """Plug in the checkpoint files: the one hook by which ``nn`` reaches a floor above it.

    ``fit(checkpoint_every=..., resume_from=...)`` writes and reads checkpoints through
    ``store``.  nablagraph plugs in its own with ``default=True``: ``import nablagraph``
    a stand-in that loads :mod:`nablagraph.checkpoints` (on the ``io`` floor) at the
    first checkpoint, and that module its safetensors store when it loads.  A default
    never replaces a store plugged in without it (a user's own).
    """
    global _checkpoint_store, _store_is_default
    if default and not _store_is_default:
        return
    _checkpoint_store = store
    _store_is_default = default


def _checkpoints() -> CheckpointStore:
    if _checkpoint_store is None:
        raise ConfigError("fit: checkpoints need nablagraph.checkpoints, which is not loaded; "
                          "import nablagraph.checkpoints (import nablagraph does)")
    return _checkpoint_store


# ------------------------------------------------------------------ fit, step by step
def _check_settings(
    model: Module, epochs: int, batch_size: int, checkpoint_every: int | None,
    checkpoint_path: PathLike | None,
) -> tuple[int, int, int | None]:
    """Step 1: the counts and the checkpoint options; ``(epochs, batch_size, checkpoint_every)``."""
    epochs = _int_arg("epochs", epochs, 0)
    batch_size = _int_arg("batch_size", batch_size, 1)
    if checkpoint_every is not None:
        checkpoint_every = _int_arg("checkpoint_every", checkpoint_every, 1)
        if checkpoint_path is None:
            raise ConfigError(f"fit: checkpoint_every={checkpoint_every} needs checkpoint_path=, "
                              "the file to write")
        _checkpoints().check_target(checkpoint_path)  # before any epoch, not after the first save
    elif checkpoint_path is not None:
        raise ConfigError("fit: checkpoint_path is set but checkpoint_every is not; pass "
                          "checkpoint_every=N to save every N epochs")
    if not isinstance(model, Module):
        raise ConfigError(f"fit: model must be a nablagraph Module, got {type(model).__name__}")
    return epochs, batch_size, checkpoint_every


def _resume(p: _Plan, resume_from: PathLike | None) -> int:
    """Restore the checkpoint ``resume_from``, if any, into the run; the first epoch to run."""
    if resume_from is None:
        return 1
    return _checkpoints().resume(resume_from, p.model, p.opt, p.rng, p.history, p.epochs, p.run) + 1


def _not_finite(p: _Plan, c: float, epoch: int, k: int, before_any_update: bool) -> Exception:
    """The error for a cost ``c`` that is NaN or infinite at batch ``k`` of ``epoch``."""
    if before_any_update:  # no step yet: not η
        return DataError(
            f"fit: the cost is {c} on the first batch, before any update (the data "
            "are finite); the model's outputs overflow: scale X (values up to "
            f"{np.abs(p.X).max():g}) or check the model and cost"
        )
    return ConfigError(
        f"fit: the cost became {c} at epoch {epoch}, batch {k + 1} of {p.n_batches} "
        f"with {p.opt!r}; the learning rate is probably too large"
    )


def _train_epoch(p: _Plan, epoch: int, step: Any, bar: Any, fresh: bool) -> float:
    """Step 4: one pass of mini-batch steps over the (shuffled) data; its wall time.

    ``fresh``: this is the run's first epoch and nothing was resumed, so a non-finite
    cost on its first batch means the data, not the learning rate.
    """
    opt, objective, batch_size = p.opt, p.objective, p.batch_size
    t0 = time.perf_counter()
    if p.shuffle:
        order = p.rng.permutation(p.X.shape[0])
        Xs, Ys = p.X[order], p.Y[order]  # one copy per epoch; batches are views
    else:
        Xs, Ys = p.X, p.Y
    for k, s in enumerate(range(0, p.n_used, batch_size)):
        opt.zero_grad()
        xb, yb = Xs[s : s + batch_size], Ys[s : s + batch_size]
        if step is not None:
            C = step(xb, yb)  # forward and backward, replayed
        else:
            C, _ = objective(xb, yb)
        c = float(C.data)
        if not math.isfinite(c):
            raise _not_finite(p, c, epoch, k, fresh and k == 0)
        if step is None:  # (nothing draws this graph: its shape need not be kept)
            _backward(C, keep_shape=False)
        opt.step()
        if bar is not None:
            bar.update(1)
    return time.perf_counter() - t0


def _record_epoch(p: _Plan, epoch: int, seconds: float, bar: Any) -> None:
    """Step 5: evaluate on the training (and validation) set and append to the history."""
    tc, ta = _evaluate(p.objective, p.X, p.Y, p.classes)
    vc, va = _evaluate(p.objective, p.val[0], p.val[1], p.classes) if p.val is not None else (None, None)
    history = p.history
    history.epoch.append(epoch)
    history.train_cost.append(tc)
    history.train_accuracy.append(ta)
    history.val_cost.append(vc)
    history.val_accuracy.append(va)
    history.seconds.append(seconds)
    if p.diag_fn is not None:
        assert p.diag_data is not None
        history.diagnostics.append(p.diag_fn(p.model, *p.diag_data))
        p.opt.zero_grad()
    if bar is not None:
        post = f"cost {tc:.4f}" + ("" if ta is None else f" acc {ta:.3f}")
        if vc is not None:
            post += f" val cost {vc:.4f}" + ("" if va is None else f" val acc {va:.3f}")
        bar.set_postfix_str(post)


def _checkpoint_if_due(p: _Plan, epoch: int) -> None:
    """Step 6: save a checkpoint every ``checkpoint_every`` epochs and after the last."""
    every = p.checkpoint_every
    if every is not None and (epoch % every == 0 or epoch == p.epochs):
        assert p.checkpoint_path is not None
        _checkpoints().save(p.checkpoint_path, p.model, p.opt, p.rng, p.history, epoch, p.run)


# ------------------------------------------------------------------ learning-rate schedule
def _make_scheduler(scheduler: Any, opt: Optimizer) -> LRScheduler | None:
    """``scheduler=`` of :func:`fit`: a schedule of fit's optimizer, or a function making one."""
    if scheduler is None:
        return None
    sched = scheduler(opt) if callable(scheduler) and not isinstance(scheduler, LRScheduler) else scheduler
    if not isinstance(sched, LRScheduler):
        raise ConfigError(
            f"fit: scheduler must be a schedule (StepLR, CosineAnnealingLR, ReduceLROnPlateau) or a "
            f"function optimizer -> schedule, got {type(sched).__name__}"
        )
    if sched.optimizer is not opt:
        raise ConfigError(
            "fit: the scheduler sets the learning rate of another optimizer than the one fit "
            "trains with; pass that optimizer as optimizer=, or pass scheduler=lambda opt: "
            "StepLR(opt, ...) to schedule the one fit makes"
        )
    return sched


def _step_scheduler(sched: LRScheduler | None, history: History, i: int) -> None:
    """End of the epoch recorded at ``history[i]``: a plateau schedule watches the
    validation cost (the training cost without validation data)."""
    if sched is None:
        return
    if isinstance(sched, ReduceLROnPlateau):
        val = history.val_cost[i]
        sched.step(history.train_cost[i] if val is None else val)
    else:
        sched.step()


def _train(p: _Plan, start: int, compile: bool, verbose: bool, resumed: bool,
           sched: LRScheduler | None = None) -> History:
    """The epoch loop from ``start`` to ``p.epochs``: train, record, schedule, checkpoint."""
    objective = p.objective
    for i in range(len(p.history.epoch)):  # resumed: the schedule's steps so far, replayed
        _step_scheduler(sched, p.history, i)
    step = compile_step(lambda xb, yb: objective(xb, yb)[0]) if compile else None
    bar = _progress_bar((p.epochs - start + 1) * p.n_batches, verbose)
    try:
        for epoch in range(start, p.epochs + 1):
            if bar is not None:
                bar.set_description(f"epoch {epoch}/{p.epochs}")
            seconds = _train_epoch(p, epoch, step, bar, fresh=epoch == start and not resumed)
            _record_epoch(p, epoch, seconds, bar)
            _step_scheduler(sched, p.history, len(p.history.epoch) - 1)
            _checkpoint_if_due(p, epoch)
    finally:
        if bar is not None:
            bar.close()
    return p.history


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
    scheduler: LRScheduler | Callable[[Optimizer], LRScheduler] | None = None,
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
        Show a tqdm progress bar when stdout is a terminal, or in Jupyter (a widget with
        ``ipywidgets``); silent otherwise, and when tqdm is not installed.
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
    scheduler : LRScheduler or callable, optional
        A learning-rate schedule (:mod:`nablagraph.nn.lr_scheduler`) stepped after each
        epoch: a schedule of the ``optimizer`` you pass, or a function that makes one from
        the optimizer ``fit`` creates (``scheduler=lambda opt: ng.nn.StepLR(opt, 10)``).
        ``ReduceLROnPlateau`` watches the validation cost, or the training cost without
        ``validation_data``.  On ``resume_from`` the schedule's steps are replayed from
        the saved history, so the learning rate continues where it was.

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
    epochs, batch_size, checkpoint_every = _check_settings(
        model, epochs, batch_size, checkpoint_every, checkpoint_path)
    objective = _Objective(model, cost)
    data = _check_data(model, objective, X, Y, validation_data)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    diag_fn = _diagnostics_fn(diagnostics, model)
    p = _plan(model, objective, data, opt, seed, epochs, batch_size, shuffle, drop_last, compile,
              diag_fn, checkpoint_every, checkpoint_path)
    sched = _make_scheduler(scheduler, opt)
    start = _resume(p, resume_from)
    return _train(p, start, compile, verbose, resumed=resume_from is not None, sched=sched)
