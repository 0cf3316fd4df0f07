"""Optimizers: stochastic gradient descent (with momentum and L2 weight decay) and Adam.

An optimizer holds a list of parameters (leaf tensors with ``requires_grad=True``) and,
after ``backward()`` has filled their ``.grad``, :meth:`Optimizer.step` changes them in
place.  Costs in nablagraph already average over the mini-batch,
``C = (1/M) Σ_m C_m``, so ``p.grad`` is ``∇C = (1/M) Σ_m ∇C_m`` and the notes'
mini-batch rule (with ``∇_w`` and ``∇_b`` in their right places; the notes swap them
by a typo) is one SGD step::

    w^l → w^l − (η/M) Σ_m ∇_{w^l} C_m = w^l − η ∇_{w^l} C
    b^l → b^l − (η/M) Σ_m ∇_{b^l} C_m = b^l − η ∇_{b^l} C

Updates are NumPy calls on the parameters' arrays with ``out=`` arguments, outside any
graph; each updated parameter's ``version`` changes, so a graph recorded before the
step refuses to backpropagate through the old values.  One scratch buffer (and the
momentum or moment buffers) per parameter is reused, so a step allocates nothing after
the first and float32 parameters stay float32.  Large parameters (from
``PARALLEL_MIN`` elements, see :mod:`nablagraph.parallel`) are updated block by block,
the blocks shared among :func:`~nablagraph.set_num_threads` threads: one pass over
memory instead of three, on every core, with the same numbers.

A parameter whose ``.grad`` is ``None`` at ``step()`` (one the cost did not use) is
skipped, as in PyTorch; if *no* parameter has a gradient, ``step()`` raises
:class:`~nablagraph.errors.GraphError`, since that means ``backward()`` was not run.

The code lives in three modules, each importing only the ones above it in this list;
this module holds the two optimizers and gathers the others' names, so
``from nablagraph.nn.optim import Optimizer`` (and a pickle that names a class by this
path) keeps working:

* :mod:`nablagraph.nn.optim_buffers` — the flat buffer of ``flat=True`` and the
  blockwise, threaded walk over large parameters;
* :mod:`nablagraph.nn.optimizer` — :class:`~nablagraph.nn.optimizer.Optimizer`, the
  base class: the parameter list, the step, the per-parameter buffers and the
  checkpoint state;
* :mod:`nablagraph.nn.optim` (this module) — :class:`SGD` and :class:`Adam`, their
  settings and their update kernels.

Imports: ``errors``, ``parallel``, ``tensor``, ``nn.optim_buffers``, ``nn.optimizer``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError
from nablagraph.nn.optim_buffers import _blockwise as _blockwise
from nablagraph.nn.optim_buffers import _contiguous as _contiguous
from nablagraph.nn.optim_buffers import _FlatGrads as _FlatGrads
from nablagraph.nn.optimizer import Optimizer
from nablagraph.nn.optimizer import _label as _label
from nablagraph.parallel import BLOCK as BLOCK
from nablagraph.parallel import PARALLEL_MIN as PARALLEL_MIN

# ``_blockwise``, ``_contiguous``, ``_FlatGrads``, ``_label``, ``BLOCK`` and
# ``PARALLEL_MIN`` (imported ``as`` themselves) are importable from here as before the
# split.  The step reads ``PARALLEL_MIN`` in nablagraph.nn.optimizer.
__all__ = ["Optimizer", "SGD", "Adam"]


def _number(owner: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{owner}: {what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{owner}: {what} must be finite, got {value!r}")
    return v


def _check_flat(owner: str, flat: bool, weight_decay: float, decay_biases: bool) -> None:
    if flat and weight_decay and not decay_biases:
        raise ConfigError(
            f"{owner}(flat=True) updates all parameters as one buffer, so it cannot leave the "
            "biases undecayed; pass decay_biases=True, weight_decay=0, or flat=False"
        )


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    With ``g = ∇C + λ' w`` (``λ' = weight_decay``; see below) one step is

    .. math::

        \\text{momentum } \\mu = 0:\\quad & w \\to w - \\eta\\, g \\\\
        \\text{momentum } \\mu > 0:\\quad & v \\to \\mu v - \\eta\\, g,\\qquad w \\to w + v

    (the velocity form of the notes' book, chapter 3; ``v`` starts at zero).

    Parameters
    ----------
    params : iterable of Tensor, or a Module
        The parameters to update.
    lr : float
        The learning rate ``η > 0``.
    momentum : float
        The momentum coefficient ``μ ∈ [0, 1)``.
    weight_decay : float
        L2 regularisation as in the notes' book, ``C = C_0 + (λ/2n) Σ_w w²``, whose
        gradient adds ``(λ/n) w``.  **This argument is the coefficient ``λ/n``**,
        not ``λ``: to use the book's ``λ = 5.0`` with ``n = 50,000`` training
        examples pass ``weight_decay=5.0 / 50_000``.  Without momentum the step is
        the book's ``w → (1 − ηλ/n) w − η ∇C_0``.
    decay_biases : bool
        The book does not regularise the biases, and neither do we by default:
        weight decay applies to parameters with two or more dimensions (weight
        matrices ``W^l``) and skips one-dimensional ones (bias vectors ``b^l``)
        unless ``decay_biases=True``.
    flat : bool
        Keep all parameters (and their gradients) in one contiguous buffer and update
        it with a few NumPy calls per step instead of a few per parameter: the same
        numbers, much less overhead for networks with many small layers.  A parameter
        without a gradient then counts as having gradient zero.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> w = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    >>> opt = ng.nn.SGD([w], lr=0.1)
    >>> (w * w).sum().backward()          # ∇ = 2w
    >>> opt.step()
    >>> w.data                            # w − 0.1 · 2w
    array([0.8, 1.6])
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Any,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        decay_biases: bool = False,
        flat: bool = False,
    ) -> None:
        self.lr = _number("SGD", "lr", lr)
        if self.lr <= 0:
            raise ConfigError(f"SGD: lr (the learning rate η) must be positive, got {lr!r}")
        self.momentum = _number("SGD", "momentum", momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise ConfigError(f"SGD: momentum must be in [0, 1), got {momentum!r}")
        self.weight_decay = _number("SGD", "weight_decay", weight_decay)
        if self.weight_decay < 0:
            raise ConfigError(
                f"SGD: weight_decay (the L2 coefficient λ/n) must be non-negative, got {weight_decay!r}"
            )
        self.decay_biases = bool(decay_biases)
        _check_flat(type(self).__name__, flat, self.weight_decay, self.decay_biases)
        super().__init__(params, flat)
        self.velocity: list[np.ndarray | None] = [None] * len(self.params)

    _STATE_BUFFERS = ("velocity",)

    def _state(self, i: int, w: np.ndarray) -> list[np.ndarray]:
        if self.momentum == 0.0:
            return []
        v = self.velocity[i]
        if v is None:
            v = self.velocity[i] = np.zeros_like(w)
        return [v]

    def _constants(self, i: int, w: np.ndarray) -> tuple[Any, ...]:
        return (self._decays(w),)

    def _kernel(
        self, w: np.ndarray, g: np.ndarray, state: list[np.ndarray], s: np.ndarray, c: tuple[Any, ...]
    ) -> None:
        if c[0]:
            g = self._decayed(w, g, s)
        np.multiply(g, self.lr, out=s, casting="unsafe")  # η g
        if not state:
            np.subtract(w, s, out=w, casting="same_kind")
            return
        v = state[0]
        np.multiply(v, self.momentum, out=v)
        np.subtract(v, s, out=v)
        np.add(w, v, out=w, casting="same_kind")

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self.lr:g}, momentum={self.momentum:g}, weight_decay={self.weight_decay:g}, "
            f"{len(self.params)} parameters)"
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias-corrected moment estimates.

    With ``g = ∇C (+ λ' w)`` at step ``t = 1, 2, …``:

    .. math::

        m &\\to \\beta_1 m + (1 - \\beta_1)\\, g, \\qquad
        v \\to \\beta_2 v + (1 - \\beta_2)\\, g \\odot g \\\\
        \\hat m &= m / (1 - \\beta_1^t), \\qquad \\hat v = v / (1 - \\beta_2^t) \\\\
        w &\\to w - \\eta\\, \\hat m / (\\sqrt{\\hat v} + \\epsilon)

    Parameters
    ----------
    params : iterable of Tensor, or a Module
        The parameters to update.
    lr : float
        The step size ``η > 0``.
    betas : (float, float)
        Decay rates ``β1, β2 ∈ [0, 1)`` of the first and second moment estimates.
    eps : float
        ``ε > 0`` added to ``√v̂`` so the division is safe.
    weight_decay : float
        L2 coefficient ``λ/n`` added to the gradient before the moments (as in
        :class:`SGD`, not decoupled AdamW); biases are skipped unless
        ``decay_biases=True``.
    decay_biases : bool
        Also decay one-dimensional parameters.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> w = ng.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    >>> opt = ng.nn.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()                         # the first step moves each weight by ≈ η
    >>> np.round(w.data, 6)
    array([ 0.9, -1.9])
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decay_biases: bool = False,
        flat: bool = False,
    ) -> None:
        self.lr = _number("Adam", "lr", lr)
        if self.lr <= 0:
            raise ConfigError(f"Adam: lr must be positive, got {lr!r}")
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ConfigError(f"Adam: betas must be a pair (β1, β2), got {betas!r}") from None
        self.betas = (_number("Adam", "betas[0]", b1), _number("Adam", "betas[1]", b2))
        for k, b in enumerate(self.betas):
            if not 0.0 <= b < 1.0:
                raise ConfigError(f"Adam: betas[{k}] must be in [0, 1), got {betas[k]!r}")
        self.eps = _number("Adam", "eps", eps)
        if self.eps <= 0:
            raise ConfigError(f"Adam: eps must be positive, got {eps!r}")
        self.weight_decay = _number("Adam", "weight_decay", weight_decay)
        if self.weight_decay < 0:
            raise ConfigError(f"Adam: weight_decay must be non-negative, got {weight_decay!r}")
        self.decay_biases = bool(decay_biases)
        _check_flat(type(self).__name__, flat, self.weight_decay, self.decay_biases)
        super().__init__(params, flat)
        self.m: list[np.ndarray | None] = [None] * len(self.params)
        self.v: list[np.ndarray | None] = [None] * len(self.params)
        self.t: list[int] = [0] * len(self.params)

    _STATE_BUFFERS = ("m", "v")

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """As :meth:`Optimizer.state_dict`, plus the step counters ``t``."""
        arrays, scalars = super().state_dict()
        scalars["t"] = list(self.t)
        return arrays, scalars

    def _load_scalars(self, scalars: dict[str, Any], slots: int) -> None:
        t = scalars.get("t")
        if not isinstance(t, list) or len(t) != len(self.t) or not all(isinstance(k, int) for k in t):
            raise ConfigError(
                f"Adam.load_state_dict: the saved step counters t={t!r} do not fit "
                f"{len(self.t)} parameters"
            )
        self.t = list(t)

    def _state(self, i: int, w: np.ndarray) -> list[np.ndarray]:
        m, v = self.m[i], self.v[i]
        if m is None or v is None:
            m = self.m[i] = np.zeros_like(w)
            v = self.v[i] = np.zeros_like(w)
        return [m, v]

    def _constants(self, i: int, w: np.ndarray) -> tuple[Any, ...]:
        self.t[i] += 1
        t = self.t[i]
        b1, b2 = self.betas
        return (self._decays(w), 1.0 / math.sqrt(1.0 - b2**t), self.lr / (1.0 - b1**t))

    def _kernel(
        self, w: np.ndarray, g: np.ndarray, state: list[np.ndarray], s: np.ndarray, c: tuple[Any, ...]
    ) -> None:
        decay, inv_sqrt_bias2, step = c
        b1, b2 = self.betas
        m, v = state
        if decay:
            g = self._decayed(w, g, s)
        # m ← β1 m + (1 − β1) g ;  v ← β2 v + (1 − β2) g².  (s may alias g: use g first.)
        np.multiply(m, b1, out=m)
        np.multiply(v, b2, out=v)
        np.multiply(g, 1.0 - b1, out=s, casting="unsafe")
        np.add(m, s, out=m)
        np.multiply(s, s, out=s)  # ((1 − β1) g)²
        np.multiply(s, (1.0 - b2) / (1.0 - b1) ** 2, out=s)
        np.add(v, s, out=v)
        # w ← w − η m̂ / (√v̂ + ε), with m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t).
        np.sqrt(v, out=s)
        np.multiply(s, inv_sqrt_bias2, out=s)
        np.add(s, self.eps, out=s)
        np.divide(m, s, out=s)
        np.multiply(s, step, out=s)
        np.subtract(w, s, out=w, casting="same_kind")

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self.lr:g}, betas={self.betas}, eps={self.eps:g}, "
            f"{len(self.params)} parameters)"
        )
