"""Learning-rate schedules under PyTorch's names: ``StepLR``, ``CosineAnnealingLR`` and
``ReduceLROnPlateau``.

A schedule holds an optimizer and sets its learning rate ``η`` (``optimizer.lr``) each
time :meth:`LRScheduler.step` is called, once per epoch: by hand after each epoch of a
manual loop, or by :func:`~nablagraph.nn.fit` given ``scheduler=``.  After ``k`` calls,
with ``η₀`` the optimizer's learning rate when the schedule was made:

* ``StepLR(opt, step_size, gamma)``: ``η = η₀ γ^⌊k / step_size⌋``;
* ``CosineAnnealingLR(opt, T_max, eta_min)``:
  ``η = η_min + (η₀ − η_min)(1 + cos(π k / T_max)) / 2``;
* ``ReduceLROnPlateau(opt, ...)``: ``step(metric)``; ``η ← max(η · factor, min_lr)``
  once the metric has not improved for more than ``patience`` epochs.

These are PyTorch's formulas (its closed forms; its defaults too), checked against
PyTorch in the tests where it is installed.  One difference comes from the optimizer,
not the schedule: :class:`~nablagraph.nn.optim.SGD` with momentum keeps the book's
velocity ``v → μv − ηg``, so a new ``η`` applies to new steps only, where PyTorch's
``v → μv + g, w → w − ηv`` rescales the velocity too (the same while ``η`` is constant).

Imports: ``errors``, ``nn.optimizer``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError
from nablagraph.nn.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau"]


def _number(owner: str, what: str, value: Any, low: float, *, strict: bool, integer: bool = False) -> Any:
    """``value`` if it is a (finite) number ``> low`` (``≥ low`` unless ``strict``), else ConfigError."""
    kinds: tuple[type, ...] = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    ok = not isinstance(value, bool) and isinstance(value, kinds)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and (v > low if strict else v >= low)
    if not ok:
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{owner}: {what} must be {kind} {'>' if strict else '≥'} {low:g}, got {value!r}")
    return int(value) if integer else float(value)


class LRScheduler:
    """Base class: holds the optimizer, counts the epochs, sets ``optimizer.lr``."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ConfigError(
                f"{type(self).__name__}: expected a nablagraph optimizer (SGD, Adam …), got "
                f"{type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lr: float = optimizer.lr  # type: ignore[attr-defined]
        self.last_epoch = 0

    def get_last_lr(self) -> list[float]:
        """The learning rate now, in a list (PyTorch's, one per parameter group)."""
        return [self.optimizer.lr]  # type: ignore[attr-defined]

    def _lr(self, epoch: int) -> float:  # pragma: no cover - every schedule defines it
        raise NotImplementedError

    def step(self) -> None:
        """End of an epoch: set the learning rate for the next one."""
        self.last_epoch += 1
        self.optimizer.lr = self._lr(self.last_epoch)  # type: ignore[attr-defined]

    def state_dict(self) -> dict[str, Any]:
        """The counters and settings (no optimizer), for :meth:`load_state_dict`."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; sets the optimizer's learning rate to match it."""
        vars(self).update(state)
        self.optimizer.lr = state.get("_lr_now", self._lr(self.last_epoch))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()[0]:g})"


class StepLR(LRScheduler):
    """``η = η₀ γ^⌊k / step_size⌋`` after ``k`` epochs: multiply by ``gamma`` every
    ``step_size`` epochs.

    Examples
    --------
    >>> import nablagraph as ng
    >>> opt = ng.nn.SGD([ng.tensor([1.0], requires_grad=True)], lr=0.1)
    >>> sched = ng.nn.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     sched.step()                  # after the epoch's training
    ...     lrs.append(opt.lr)
    >>> lrs
    [0.1, 0.05, 0.05, 0.025, 0.025]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size = _number("StepLR", "step_size", step_size, 0, strict=True, integer=True)
        self.gamma = _number("StepLR", "gamma", gamma, 0, strict=True)

    def _lr(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """``η = η_min + (η₀ − η_min)(1 + cos(π k / T_max)) / 2`` after ``k`` epochs: from
    ``η₀`` down to ``eta_min`` over ``T_max`` epochs along half a cosine."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self.T_max = _number("CosineAnnealingLR", "T_max", T_max, 0, strict=True, integer=True)
        self.eta_min = _number("CosineAnnealingLR", "eta_min", eta_min, 0, strict=False)

    def _lr(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2


class ReduceLROnPlateau(LRScheduler):
    """Divide the learning rate when a metric stops improving: ``step(metric)`` each epoch.

    The metric (a validation cost, say) improves when it is below ``best · (1 −
    threshold)`` (``mode="min"``, ``threshold_mode="rel"``; ``"abs"``: below ``best −
    threshold``; ``mode="max"``: above).  After more than ``patience`` epochs without
    improvement, ``η ← max(η · factor, min_lr)`` (changes smaller than ``eps`` are
    skipped), then ``cooldown`` epochs pass before counting again.  PyTorch's rule and
    defaults.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        super().__init__(optimizer)
        owner = "ReduceLROnPlateau"
        if mode not in ("min", "max"):
            raise ConfigError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ConfigError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = _number(owner, "factor", factor, 0, strict=True)
        if self.factor >= 1.0:
            raise ConfigError(f"{owner}: factor must be < 1 (it divides the learning rate), got {factor!r}")
        self.mode, self.threshold_mode = mode, threshold_mode
        self.patience = _number(owner, "patience", patience, 0, strict=False, integer=True)
        self.threshold = _number(owner, "threshold", threshold, 0, strict=False)
        self.cooldown = _number(owner, "cooldown", cooldown, 0, strict=False, integer=True)
        self.min_lr = _number(owner, "min_lr", min_lr, 0, strict=False)
        self.eps = _number(owner, "eps", eps, 0, strict=False)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def _better(self, a: float) -> bool:
        t, best = self.threshold, self.best
        if self.mode == "min":
            return a < (best * (1 - t) if self.threshold_mode == "rel" else best - t)
        return a > (best * (1 + t) if self.threshold_mode == "rel" else best + t)

    def step(self, metric: Any = None) -> None:
        """End of an epoch with the value of the watched ``metric`` (a number or 0-d tensor)."""
        if metric is None:
            raise ConfigError("ReduceLROnPlateau.step: pass the metric it watches, e.g. step(val_cost)")
        value = float(np.asarray(getattr(metric, "data", metric)))
        if math.isnan(value):
            raise ConfigError("ReduceLROnPlateau.step: the metric is NaN")
        self.last_epoch += 1
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr  # type: ignore[attr-defined]
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new  # type: ignore[attr-defined]
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._lr_now = self.optimizer.lr  # type: ignore[attr-defined]

    def _lr(self, epoch: int) -> float:
        return float(getattr(self, "_lr_now", self.base_lr))
