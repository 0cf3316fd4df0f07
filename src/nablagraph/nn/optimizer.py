"""The optimizer base class: the parameters, the step, its buffers and its state.

:class:`Optimizer` takes the parameter list (trainable leaves, each once), and its
:meth:`~Optimizer.step` updates every parameter that has a gradient, in place: one
parameter at a time, or the whole flat buffer at once with ``flat=True`` (see
:mod:`nablagraph.nn.optim_buffers`).  The arithmetic is a subclass's ``_kernel``
(:class:`~nablagraph.nn.optim.SGD`, :class:`~nablagraph.nn.optim.Adam`); the base
class feeds it each parameter whole, or block by block when it is large.
:meth:`~Optimizer.state_dict` and :meth:`~Optimizer.load_state_dict` save and restore
the per-parameter buffers for checkpoints.

Imports: ``tensor``, ``parallel``, ``errors``, ``nn.optim_buffers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nablagraph import _tensor as _t
from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, GraphError, ShapeError
from nablagraph.nn.optim_buffers import _blockwise, _contiguous, _flat_buffers, _FlatGrads
from nablagraph.parallel import PARALLEL_MIN

__all__ = ["Optimizer"]


def _label(p: Tensor, i: int) -> str:
    return f"parameter {i}" + (f" ({p.name!r}, shape {p.shape})" if p.name else f" (shape {p.shape})")


def _listed(owner: str, params: Iterable[Tensor] | Any) -> list[Any]:
    """``params`` as a list (a module stands for its ``parameters()``), not yet checked."""
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        raise ConfigError(
            f"{owner}: params must be an iterable of tensors (e.g. model.parameters()), "
            "got a single Tensor; wrap it in a list"
        )
    try:
        return list(params)
    except TypeError:
        raise ConfigError(
            f"{owner}: params must be an iterable of tensors, got {type(params).__name__}"
        ) from None


def _trainable_leaves(owner: str, params: Iterable[Tensor] | Any) -> list[Tensor]:
    """The tensors of ``params``, each once, all trainable leaves, at least one."""
    seen: set[int] = set()
    leaves: list[Tensor] = []
    for i, p in enumerate(_listed(owner, params)):
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
            leaves.append(p)
    if not leaves:
        raise ConfigError(f"{owner}: params is empty; there is nothing to optimise")
    return leaves


class Optimizer:
    """Base class: holds the parameters and their per-parameter buffers.

    Parameters
    ----------
    params : iterable of Tensor, or a Module
        The parameters to update.  A module stands for ``module.parameters()``.  A
        tensor listed twice (shared weights) is updated once.
    """

    def __init__(self, params: Iterable[Tensor] | Any, flat: bool = False) -> None:
        self.params: list[Tensor] = _trainable_leaves(type(self).__name__, params)
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
        self._flat = _flat_buffers(type(self).__name__, self.params)

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
        (a 4096 × 4096 weight matrix) are cut into blocks of 256 KiB (:func:`~nablagraph.parallel.block_size`)
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

    def _state_header(self) -> dict[str, Any]:
        """What a saved state must match: the class, the mode and the parameter shapes."""
        return {"optimizer": type(self).__name__, "flat": self._flat is not None,
                "n_params": len(self.params), "shapes": [list(p.shape) for p in self.params]}

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
        scalars: dict[str, Any] = {**self._state_header(), "steps": self.steps}
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
        self._check_header(owner, scalars)
        slots = len(self.params) if self._flat is None else 1
        new = self._saved_buffers(owner, arrays, slots)
        self._load_scalars(scalars, slots)  # validates its counters before setting them
        for name, bufs in new.items():
            setattr(self, name, bufs)
        self.steps = int(scalars.get("steps", 0))

    def _check_header(self, owner: str, scalars: dict[str, Any]) -> None:
        """Refuse a state saved by another optimizer class, mode or parameter list."""
        for key, have in self._state_header().items():
            if scalars.get(key) != have:
                raise ConfigError(
                    f"{owner}: the saved state has {key}={scalars.get(key)!r} but this optimizer has "
                    f"{key}={have!r}; resume with the same optimizer, parameters and flat setting"
                )

    def _saved_buffers(
        self, owner: str, arrays: dict[str, np.ndarray], slots: int
    ) -> dict[str, list[np.ndarray | None]]:
        """Copies of the saved buffers by name and slot, each checked against its parameter."""
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
        return new

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

