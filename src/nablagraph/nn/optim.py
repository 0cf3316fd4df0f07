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

Imports: ``tensor``, ``parallel``, ``errors``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np

from nablagraph import tensor as _t
from nablagraph.errors import ConfigError, GraphError, ShapeError
from nablagraph.parallel import BLOCK, PARALLEL_MIN, blocks, get_num_threads
from nablagraph.tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


def _number(owner: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{owner}: {what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{owner}: {what} must be finite, got {value!r}")
    return v


def _label(p: Tensor, i: int) -> str:
    return f"parameter {i}" + (f" ({p.name!r}, shape {p.shape})" if p.name else f" (shape {p.shape})")


class _FlatGrads:
    """A flat optimizer's gradient buffer ``G`` and one view of it per parameter.

    Each parameter's ``_gradbuf`` is its view (the engine writes the next gradient
    there) and ``_gradowner`` this object, which tells the engine
    whether a view may be written: only while nothing outside holds a view of ``G``
    (a gradient array or a slice of one a user kept).  ``refs`` is the reference count
    of ``G`` when only this object and its views hold it, measured at creation.
    """

    __slots__ = ("G", "views", "refs")

    def __init__(self, params: list[Tensor], dtype: Any, total: int) -> None:
        G = np.zeros(total, dtype=dtype)
        self.views: list[np.ndarray] = []
        off = 0
        for p in params:
            n = p.size
            g = G[off:off + n].reshape(p.shape)
            self.views.append(g)
            p._gradbuf = g  # the engine writes the next gradient here
            p._gradowner = self
            off += n
        self.G = G
        del G, g
        self.refs = 0
        self.refs = self._count()

    def _count(self) -> int:
        return sys.getrefcount(self.G)

    def writable(self, params: list[Tensor], todo: list[int]) -> bool:
        """Whether ``step()`` may write into the views ``todo`` (parameters whose
        gradient is not in its view already): nobody holds them or a view of ``G``."""
        if sys.getrefcount(self.G) > self.refs:  # (_count, inlined)
            return False
        for i in todo:
            g = self.views[i]
            kept = 1 if params[i]._gradbuf is g else 0
            if sys.getrefcount(g) > 3 + kept:  # views, `g`, the call (+ _gradbuf)
                return False
        return True


def _check_flat(owner: str, flat: bool, weight_decay: float, decay_biases: bool) -> None:
    if flat and weight_decay and not decay_biases:
        raise ConfigError(
            f"{owner}(flat=True) updates all parameters as one buffer, so it cannot leave the "
            "biases undecayed; pass decay_biases=True, weight_decay=0, or flat=False"
        )


class Optimizer:
    """Base class: holds the parameters and their per-parameter buffers.

    Parameters
    ----------
    params : iterable of Tensor, or a Module
        The parameters to update.  A module stands for ``module.parameters()``.  A
        tensor listed twice (shared weights) is updated once.
    """

    def __init__(self, params: Iterable[Tensor] | Any, flat: bool = False) -> None:
        owner = type(self).__name__
        if hasattr(params, "parameters") and callable(params.parameters):
            params = params.parameters()
        if isinstance(params, Tensor):
            raise ConfigError(
                f"{owner}: params must be an iterable of tensors (e.g. model.parameters()), "
                "got a single Tensor; wrap it in a list"
            )
        try:
            items = list(params)
        except TypeError:
            raise ConfigError(
                f"{owner}: params must be an iterable of tensors, got {type(params).__name__}"
            ) from None
        seen: set[int] = set()
        self.params: list[Tensor] = []
        for i, p in enumerate(items):
            if not isinstance(p, Tensor):
                raise ConfigError(f"{owner}: params[{i}] is a {type(p).__name__}, expected a Tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ConfigError(
                    f"{owner}: {_label(p, i)} is not a trainable leaf (requires_grad="
                    f"{p.requires_grad}, leaf={p.is_leaf}); optimizers update leaves created "
                    "with requires_grad=True"
                )
            if id(p) not in seen:
                seen.add(id(p))
                self.params.append(p)
        if not self.params:
            raise ConfigError(f"{owner}: params is empty; there is nothing to optimise")
        self._scratch: list[np.ndarray | None] = [None] * len(self.params)
        self._block_buffers: dict[tuple[int, Any], np.ndarray] = {}
        self.steps = 0
        self._flat: tuple[Tensor, _FlatGrads] | None = None
        if flat:
            self._make_flat()

    def _make_flat(self) -> None:
        """Put every parameter (and gradient) in one contiguous buffer, as views.

        A step is then a handful of NumPy calls on the whole buffer instead of a few per
        parameter — what makes deep, narrow networks cheap to update.  The parameters'
        ``.data`` become views of the buffer (same values); their gradients are written
        into views of a matching gradient buffer by the engine.
        """
        owner = type(self).__name__
        dtypes = {p.dtype for p in self.params}
        if len(dtypes) != 1:
            raise ConfigError(
                f"{owner}(flat=True): the parameters have several dtypes "
                f"({', '.join(sorted(str(d) for d in dtypes))}); a flat buffer needs one"
            )
        dtype = dtypes.pop()
        total = sum(p.size for p in self.params)
        W = np.empty(total, dtype=dtype)
        off = 0
        for p in self.params:
            n = p.size
            w = W[off:off + n].reshape(p.shape)
            w[...] = p._data
            p._data = w  # same values, new home: not an in-place change
            off += n
        grads = _FlatGrads(self.params, dtype, total)
        for p, g in zip(self.params, grads.views):
            if p.grad is not None and not p.grad.requires_grad:
                g[...] = p.grad._data
                p.grad = Tensor(g)
                p._gradbuf = None
            else:
                p.grad = None
        self._flat = (Tensor(W, requires_grad=True, name="flat parameters"), grads)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (see :meth:`Tensor.zero_grad`: the buffers
        are kept and the next backward writes into them)."""
        if self._flat is not None and set_to_none:
            for p, g in zip(self.params, self._flat[1].views):
                p.grad = None
                p._gradbuf = g  # the flat buffer's view
            return  # (the engine writes there only if nobody holds the view or G)
        for p in self.params:
            p.zero_grad(set_to_none)

    def _grads(self) -> list[np.ndarray | None]:
        grads: list[np.ndarray | None] = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                grads.append(None)
                continue
            g = p.grad.data
            if g.shape != p.shape:
                raise ShapeError(
                    f"{type(self).__name__}.step: {_label(p, i)} has a gradient of shape "
                    f"{g.shape}; expected {p.shape}"
                )
            grads.append(g)
        if all(g is None for g in grads):
            raise GraphError(
                f"{type(self).__name__}.step: no parameter has a gradient; call backward() on "
                "the cost before step()"
            )
        return grads

    def _buffer(self, i: int, like: np.ndarray) -> np.ndarray:
        s = self._scratch[i]
        if s is None or s.shape != like.shape or s.dtype != like.dtype:
            s = self._scratch[i] = np.empty_like(like)
        return s

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        if self._flat is not None:
            self._flat_step()
            return
        grads = self._grads()
        params = self.params
        try:
            for i, g in enumerate(grads):
                if g is not None:
                    self._update(i, params[i], g)
        finally:  # one tick of the version clock for the whole step, even after an error
            _t.mark_changed([p for p, g in zip(params, grads) if g is not None])
        self.steps += 1

    def _flat_step(self) -> None:
        assert self._flat is not None
        flat, fg = self._flat
        params = self.params
        views = fg.views
        # The views to write: no gradient (a zero gradient in flat mode), or a gradient
        # that lives elsewhere (set by hand, or a new array because a view was held).
        # Usually there are none: the engine wrote every gradient into its view.
        todo: list[int] | None = None
        for i, p in enumerate(params):
            pg = p.grad
            if pg is None or pg._data is not views[i]:
                todo = [i] if todo is None else [*todo, i]
        if todo is not None:
            fg = self._fill_views(fg, todo)
        try:
            self._update(0, flat, fg.G)
        finally:
            _t.mark_changed(params)
        self.steps += 1

    def _fill_views(self, fg: _FlatGrads, todo: list[int]) -> _FlatGrads:
        """Copy the gradients of the parameters ``todo`` into their views of the flat
        buffer (zeros for no gradient), in a new buffer if a user holds part of it."""
        assert self._flat is not None
        params = self.params
        if not fg.writable(params, todo):  # a user holds part of it: take a new buffer
            fg = _FlatGrads(params, fg.G.dtype, fg.G.size)
            self._flat = (self._flat[0], fg)
            todo = list(range(len(params)))
        seen = len(todo) < len(params)
        for i in todo:
            pg = params[i].grad
            if pg is None:
                fg.views[i][...] = 0
            else:
                seen = True
                fg.views[i][...] = pg._data
        if not seen:
            raise GraphError(
                f"{type(self).__name__}.step: no parameter has a gradient; call backward() on "
                "the cost before step()"
            )
        return fg

    def _update(self, i: int, p: Tensor, g: np.ndarray) -> None:
        """Update parameter ``i`` (or the flat buffer, ``i = 0``) from gradient ``g``.

        The arithmetic is the subclass's :meth:`_kernel`, elementwise on same-shaped
        arrays.  Small arrays get one call on the whole array.  Large contiguous ones
        (a 4096 × 4096 weight matrix) are cut into blocks of :data:`BLOCK` elements
        that fit in the CPU cache, so the scratch array between two NumPy calls never
        goes out to memory (one pass over ``w`` and ``g`` instead of three), and the
        blocks are shared out among :func:`~nablagraph.get_num_threads` threads — NumPy releases
        the GIL inside its loops.  Every element goes through the same operations
        either way, so the numbers are bit for bit the same.
        """
        w = p._data
        state = self._state(i, w)
        c = self._constants(i, w)
        # (step() marks the parameters changed, in a finally: an error part-way through,
        # e.g. under np.errstate(all="raise"), may already have changed w)
        if w.size < PARALLEL_MIN or not _contiguous(w, g, *state):
            self._kernel(w, g, state, self._buffer(i, w), c)
        else:
            _blockwise(self._kernel, w, g, state, c, self._block_buffers)

    def _state(self, i: int, w: np.ndarray) -> list[np.ndarray]:
        """The per-parameter buffers the kernel updates (created at the first step)."""
        return []

    def _constants(self, i: int, w: np.ndarray) -> tuple[Any, ...]:
        """Per-step numbers of the kernel (called once per parameter and step)."""
        return ()

    def _kernel(
        self, w: np.ndarray, g: np.ndarray, state: list[np.ndarray], s: np.ndarray, c: tuple[Any, ...]
    ) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------ checkpoints
    #: Names of the per-parameter buffer lists that make up the state (e.g. SGD's velocity).
    _STATE_BUFFERS: tuple[str, ...] = ()

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The state a resumed run needs: ``(arrays, scalars)``.

        ``arrays`` maps ``"{buffer}.{i}"`` (``velocity.0``, ``m.3`` …) to a copy of each
        buffer that exists; ``i`` is the parameter's index, or ``0`` for the one flat
        buffer of ``flat=True``.  ``scalars`` (JSON-serialisable) holds the class, the
        mode, the step count and per-parameter counters (Adam's ``t``).  Scratch buffers
        are not state.
        """
        arrays: dict[str, np.ndarray] = {}
        for name in self._STATE_BUFFERS:
            for i, buf in enumerate(getattr(self, name)):
                if buf is not None:
                    arrays[f"{name}.{i}"] = buf.copy()
        scalars: dict[str, Any] = {
            "optimizer": type(self).__name__,
            "flat": self._flat is not None,
            "n_params": len(self.params),
            "shapes": [list(p.shape) for p in self.params],
            "steps": self.steps,
        }
        return arrays, scalars

    def load_state_dict(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (checked completely before any change).

        Raises
        ------
        ConfigError
            The state is from another optimizer class, mode (``flat``) or parameter list.
        ShapeError
            A buffer has the wrong shape.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        mine = {"optimizer": type(self).__name__, "flat": self._flat is not None,
                "n_params": len(self.params), "shapes": [list(p.shape) for p in self.params]}
        for key, have in mine.items():
            if scalars.get(key) != have:
                raise ConfigError(
                    f"{owner}: the saved state has {key}={scalars.get(key)!r} but this optimizer has "
                    f"{key}={have!r}; resume with the same optimizer, parameters and flat setting"
                )
        slots = len(self.params) if self._flat is None else 1
        new: dict[str, list[np.ndarray | None]] = {n: [None] * slots for n in self._STATE_BUFFERS}
        for key, arr in arrays.items():
            name, _, index = key.partition(".")
            if name not in new or not index.isdigit() or int(index) >= slots:
                raise ConfigError(f"{owner}: unexpected state entry {key!r} for {type(self).__name__}")
            i = int(index)
            like = self._flat[0] if self._flat is not None else self.params[i]
            if arr.shape != like.shape or arr.dtype != like.dtype:
                raise ShapeError(
                    f"{owner}: {key} has shape {arr.shape} and dtype {arr.dtype}; expected "
                    f"{like.shape} and {like.dtype}"
                )
            new[name][i] = np.array(arr, copy=True)
        self._load_scalars(scalars, slots)  # validates its counters before setting them
        for name, bufs in new.items():
            setattr(self, name, bufs)
        self.steps = int(scalars.get("steps", 0))

    def _load_scalars(self, scalars: dict[str, Any], slots: int) -> None:
        """Subclasses restore their own counters here."""

    weight_decay = 0.0
    decay_biases = False

    def _decayed(self, w: np.ndarray, g: np.ndarray, s: np.ndarray) -> np.ndarray:
        """``g + λ' w`` written into the scratch ``s`` (returned)."""
        np.multiply(w, self.weight_decay, out=s)
        np.add(s, g, out=s, casting="unsafe")
        return s

    def _decays(self, w: np.ndarray) -> bool:
        """Whether L2 weight decay applies to a parameter shaped like ``w`` (the flat
        buffer of ``flat=True`` holds biases too, and then decays them all)."""
        return self.weight_decay != 0.0 and (w.ndim >= 2 or self.decay_biases)


def _contiguous(*arrays: np.ndarray) -> bool:
    shape = arrays[0].shape
    return all(a.flags.c_contiguous and a.shape == shape for a in arrays)


def _blockwise(
    kernel: Any, w: np.ndarray, g: np.ndarray, state: list[np.ndarray], c: tuple[Any, ...],
    buffers: dict[tuple[int, Any], np.ndarray],
) -> None:
    """Run ``kernel`` over cache-sized blocks of flat views, shared among threads."""
    flats = [w.reshape(-1), g.reshape(-1)] + [b.reshape(-1) for b in state]
    threads = get_num_threads()
    for k in range(threads):  # per-thread scratch, made here (not in the threads)
        if (k, w.dtype) not in buffers:
            buffers[(k, w.dtype)] = np.empty(BLOCK, dtype=w.dtype)

    def block(k: int, a: int, b: int) -> None:
        kernel(flats[0][a:b], flats[1][a:b], [f[a:b] for f in flats[2:]], buffers[(k, w.dtype)][: b - a], c)

    blocks(block, flats[0].size, threads)


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
