"""The Tensor node and the recording of ops.

A :class:`Tensor` wraps a NumPy array.  When an op is applied to tensors of which at
least one requires a gradient (and recording is on, see :func:`no_grad`), the result
remembers the op, its parent tensors and the op's non-tensor parameters: that is the
computation graph.  :mod:`nablagraph.engine` walks it backwards.

(This was ``nablagraph.tensor`` until ``ng.tensor`` became PyTorch's factory,
:func:`nablagraph.factories.tensor`; that path still imports, see
:mod:`nablagraph.tensor`.)

This module sits at the bottom of the package: it imports ``errors`` and ``modes``
(the thread's grad mode).  Four things it needs live above it: the functions behind
the methods and operators (``t.exp()`` and ``a + b`` are aliases of
:mod:`nablagraph.functional`), :func:`nablagraph.engine.backward`, the anomaly checks
and the Jupyter drawing.  The package connects them once, through the one named hook
:func:`connect`, so every import still points one way.

A node's fields are the documented internal interface of the modules that work with
the graph (engine, replay, viz, anomaly, the optimizers); nothing else of tensor's
private state is theirs to read or write:

``_data``
    The array (``.data`` without the version bump of the setter: the engine and the
    VJPs read it; an optimizer rebinds it to a view of its flat buffer, same values).
``_op``, ``_parents``, ``_params``
    The graph links: the op that made the node (``None`` for a leaf), its input
    tensors and the op's non-tensor arguments.  ``_parents`` is ``None`` for a leaf
    and, once ``backward()`` has freed it, for an op node (see ``is_freed``).
``_version``, ``_stamp``
    In-place changes: the version clock's time of the last change of the data, and of
    the node's creation (see :func:`mark_changed`).
``_hooks``, ``_retain``
    The gradient hooks (:meth:`Tensor.register_hook`) and whether an intermediate
    keeps its gradient (:meth:`Tensor.retain_grad`).
``_scope``
    The label of the :class:`~nablagraph.modes.scope` the node was recorded in (a
    Dense layer), or ``None``; graph diagrams and anomaly messages name layers by it.
``_frame``
    Under :func:`~nablagraph.detect_anomaly`, where the op was called; else ``None``.
``_gradbuf``, ``_gradowner``
    The gradient buffer :meth:`Tensor.zero_grad` (or a flat optimizer) kept for the
    next gradient, and the flat optimizer owning it when it is a view of its buffer.
    :func:`nablagraph.gradbuf.reusable_grad_buffer` is the one rule for writing into it.
``_inputs``
    Set by ``backward()`` when it frees the node but keeps the graph's shape
    (``_parents`` becomes ``None``, the inputs move here, where only drawings look:
    :mod:`nablagraph.skeleton`).  Unset until then (read it with ``getattr``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from nablagraph import tensor_ops as _tensor_ops
from nablagraph.errors import DTypeError, GraphError, NablaGraphError
from nablagraph.modes import (
    ANOMALY,
    GRAD,
    RemovableHandle,
    _get_mode,
    _scopes,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
    set_grad_enabled,
)

if TYPE_CHECKING:  # pragma: no cover
    from nablagraph.gradbuf import GradOwner
    from nablagraph.ops import Op

__all__ = [
    "Tensor",
    "ArrayLike",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "RemovableHandle",
    "as_tensor",
    "connect",
    "scope",
]

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence[Any]]

# In-place changes: a process-wide clock ticks at every change and stamps the changed
# tensor (``_version``); each recorded node keeps the clock value at its creation
# (``_stamp``). A parent whose version is newer than its consumer's stamp was changed
# after being used. One integer per node, no per-parent bookkeeping on the hot path.
# The clock is shared by all threads (a tensor may be shared by them) and only moves
# forward: ticks take a lock, as ``_clock += 1`` interleaved by two threads would lose
# a tick or move the clock back (a change then missed, or a false alarm). CPython 3.11
# does not switch threads inside that statement, free-threaded builds may.
_clock = 0
_clock_lock = threading.Lock()



# The layers above tensor that it reaches through connect() (see the module docstring).
_backward: Callable[..., None] | None = None
_check_forward: Callable[..., None] | None = None
_display: Callable[..., dict[str, Any]] | None = None


def connect(
    *,
    functional: Any,
    backward: Callable[..., None],
    check_forward: Callable[..., None],
    display: Callable[..., dict[str, Any]],
) -> None:
    """The one hook from tensor to the layers above it, called once by the package.

    ``functional`` is the module whose functions the methods and operators call;
    ``backward`` is :func:`nablagraph.engine.backward`; ``check_forward`` is
    :func:`nablagraph.anomaly.check_forward`, run by :func:`apply` for every op under
    anomaly detection; ``display`` is :func:`nablagraph.viz.tensor_mimebundle`.
    """
    global _backward, _check_forward, _display
    _tensor_ops._F = functional
    _backward, _check_forward, _display = backward, check_forward, display


def _tick() -> int:
    """Advance the version clock by one and return the new time (thread-safe)."""
    global _clock
    with _clock_lock:
        _clock += 1
        return _clock


def mark_changed(tensors: Sequence[Tensor]) -> None:
    """Record an in-place change of each tensor (as :meth:`Tensor.sub_` does), at once."""
    global _clock
    with _clock_lock:  # (_tick, inlined: an optimizer step calls this)
        _clock += 1
        now = _clock
    for t in tensors:
        t._version = now


_FLOAT_KINDS = ("f",)

_refcount = sys.getrefcount


class _Probe:
    __slots__ = ()

    def backward(self) -> int:
        return _refcount(self)


def _probe_held() -> int:
    held = _Probe()
    return held.backward()


# Whether anything but the call holds a tensor whose backward() runs: only then is the
# graph's shape worth keeping for a drawing (nablagraph.skeleton).  The references of
# a temporary (``net.cost(X, Y).backward()``) are measured here with the same call, not
# assumed, as interpreters count them differently; where a held tensor cannot be told
# from a temporary, every backward() keeps the shape.
_TEMPORARY_REFS = _Probe().backward()
_TELLS_HELD = _probe_held() > _TEMPORARY_REFS


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        # Python scalars and nested lists: float64 unless they hold something else.
        arr = np.asarray(data)
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.float64)
    if arr.dtype.kind not in "fbiu":
        raise DTypeError(
            f"Tensor: cannot hold data of dtype {arr.dtype}; "
            "expected floating-point, integer or boolean numbers"
        )
    return arr


class Tensor(_tensor_ops.TensorOps):
    """An n-dimensional array that records the ops applied to it.

    Parameters
    ----------
    data : array_like
        The values.  A NumPy array is wrapped without a copy and keeps its dtype
        (float32 stays float32); Python numbers and lists become float64.
    requires_grad : bool
        Whether gradients with respect to this tensor are wanted.  Only floating-point
        data can require a gradient.
    name : str, optional
        A label used in error messages and graph diagrams (``"W2"``, ``"b2"``).
    dtype : numpy dtype, optional
        Convert the data to this dtype first.

    Examples
    --------
    >>> import nablagraph as ng
    >>> x = ng.Tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad.data
    array([2., 4., 6.])
    """

    __slots__ = (
        "_data",
        "_version",
        "_stamp",
        "grad",
        "requires_grad",
        "name",
        "_op",
        "_parents",
        "_params",
        "_hooks",
        "_retain",
        "_scope",
        "_frame",
        "_gradbuf",
        "_gradowner",
        "_inputs",
        "__weakref__",
    )

    # NumPy binary operators defer to Tensor's reflected methods (ndarray + Tensor
    # records the op), and ufuncs such as np.exp(t) refuse instead of silently
    # returning an array that has left the graph.
    __array_ufunc__ = None

    _data: np.ndarray
    _version: int
    _stamp: int
    grad: Tensor | None
    requires_grad: bool
    name: str | None
    _op: Op | None
    _parents: tuple[Tensor, ...] | None
    _params: tuple[Any, ...]
    _hooks: list[Callable[[Tensor], Tensor | None]] | None
    _retain: bool
    _scope: Any
    _frame: Any
    _gradbuf: np.ndarray | None
    _gradowner: GradOwner | None
    _inputs: tuple[Tensor, ...]

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        if type(data) is np.ndarray and dtype is None and data.dtype.kind in "fbiu":
            arr = data  # (_to_array's answer for an array, without the call)
        else:
            arr = _to_array(data, dtype)
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise DTypeError(
                f"Tensor: requires_grad=True needs floating-point data, got {arr.dtype}"
                f"{' (' + repr(name) + ')' if name else ''}; "
                "convert it first, e.g. np.asarray(data, dtype=np.float64)"
            )
        self._data = arr
        self._version = 0
        self._stamp = 0
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._op = None
        self._parents = None
        self._params = ()
        self._hooks = None
        self._retain = False
        self._scope = None
        self._frame = None
        self._gradbuf = None
        self._gradowner = None

    # ----------------------------------------------------------------- the data
    @property
    def data(self) -> np.ndarray:
        """The values, a NumPy array (shared, not copied).

        Assigning to ``t.data`` (including ``t.data -= lr * g``) counts as an in-place
        change: a graph that used ``t`` before then refuses to backpropagate through
        it instead of silently using the new values.  Writes *into* the array
        (``t.data[...] = v``) cannot be seen; use :meth:`sub_`, :meth:`copy_` … for
        those.
        """
        return self._data

    @data.setter
    def data(self, value: np.ndarray) -> None:
        self._data = value if isinstance(value, np.ndarray) else _to_array(value)
        self._bump()

    def _bump(self) -> None:
        self._version = _tick()

    @property
    def version(self) -> int:
        """Changes each time the data is modified in place."""
        return self._version

    def _inplace_check(self, what: str) -> None:
        if self.requires_grad and _get_mode() & GRAD:
            raise GraphError(
                f"{what}: in-place change of a tensor that requires grad"
                f"{' (' + repr(self.name) + ')' if self.name else ''} while recording; "
                "do it inside `with nablagraph.no_grad():` (as an optimizer step does)"
            )

    def sub_(self, other: ArrayLike) -> Tensor:
        """``self -= other`` in place (not recorded); bumps :attr:`version`."""
        self._inplace_check("sub_")
        np.subtract(self._data, _raw(other), out=self._data, casting="same_kind")
        self._bump()
        return self

    def add_(self, other: ArrayLike) -> Tensor:
        """``self += other`` in place (not recorded); bumps :attr:`version`."""
        self._inplace_check("add_")
        np.add(self._data, _raw(other), out=self._data, casting="same_kind")
        self._bump()
        return self

    def mul_(self, other: ArrayLike) -> Tensor:
        """``self *= other`` in place (not recorded); bumps :attr:`version`."""
        self._inplace_check("mul_")
        np.multiply(self._data, _raw(other), out=self._data, casting="same_kind")
        self._bump()
        return self

    def copy_(self, other: ArrayLike) -> Tensor:
        """Overwrite the values with ``other`` (broadcast), in place; bumps :attr:`version`."""
        self._inplace_check("copy_")
        self._data[...] = _raw(other)
        self._bump()
        return self

    # ----------------------------------------------------------------- metadata
    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user rather than by an op."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the op that produced this tensor (``None`` for leaves)."""
        return None if self._op is None else self._op.name

    @property
    def parents(self) -> tuple[Tensor, ...]:
        """The tensors this one was computed from (empty for leaves or a freed graph)."""
        return self._parents or ()

    @property
    def params(self) -> tuple[Any, ...]:
        """The op's non-tensor arguments (axis, shape, index, ...)."""
        return self._params

    @property
    def is_freed(self) -> bool:
        """True when ``backward()`` has released the graph below this tensor.

        Its arrays are gone and a second ``backward()`` through it raises; its shape
        (ops, names, shapes, gradients) is kept, so it can still be drawn."""
        return self._op is not None and self._parents is None

    # Identity hashing (elementwise __eq__ below would otherwise disable hashing); the
    # C slot of object is kept because the engine's dicts hash tensors constantly.
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        data = self._data
        body = np.array2string(
            data, precision=4, threshold=20, edgeitems=2, separator=", ", prefix="Tensor("
        ) if type(data) is np.ndarray else repr(data)  # (or values freed by backward())
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self.name:
            extras.insert(0, f"name={self.name!r}")
        if self._op is not None:
            extras.append(f"op={self._op.name}{' (freed)' if self._parents is None else ''}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"Tensor({body}, {', '.join(extras)})"

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Jupyter display: the recorded graph as SVG (with the text repr) for a tensor
        computed by ops; leaves and freed graphs display as text only.
        See :func:`nablagraph.viz.tensor_mimebundle`."""
        assert _display is not None, "nablagraph._tensor.connect() was not called"
        return _display(self, include, exclude)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut from the graph."""
        return Tensor(self._data, name=self.name)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf in place and return it."""
        if not self.is_leaf:
            raise GraphError(
                "requires_grad_: only leaves can change requires_grad; "
                "use .detach() to get a leaf from an intermediate tensor"
            )
        if flag and self.dtype.kind not in _FLOAT_KINDS:
            raise DTypeError(
                f"requires_grad_: needs floating-point data, got {self.dtype}"
            )
        self.requires_grad = flag
        return self

    # ------------------------------------------------------------- autograd
    def backward(
        self,
        grad: ArrayLike | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate ``d self / d leaf`` into every leaf's ``.grad``.

        Parameters
        ----------
        grad : array_like, optional
            The vector ``v`` of the vector-Jacobian product ``vᵀ J``.  Required unless
            this tensor holds a single element (then it defaults to 1).
        retain_graph : bool, optional
            Keep the graph so backward can run through it again.  Defaults to
            ``create_graph``.
        create_graph : bool
            Record the backward pass itself, so the gradients are differentiable
            (second derivatives, Hessian-vector products).

        Notes
        -----
        Without ``retain_graph`` the graph's arrays are freed, but if this tensor is
        held (``C = ...; C.backward()``) its graph's shape is kept, so it can still be
        drawn, with the gradients; on a temporary (``net.cost(X, Y).backward()``)
        nothing is kept, as nothing could draw it.
        """
        assert _backward is not None, "nablagraph._tensor.connect() was not called"
        keep = not _TELLS_HELD or _refcount(self) > _TEMPORARY_REFS
        _backward(self, grad, retain_graph=retain_graph, create_graph=create_graph,
                  keep_shape=keep)

    def register_hook(self, fn: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``fn(grad)`` when this tensor's gradient has been computed.

        If ``fn`` returns a tensor it replaces the gradient that flows on.  Returns a
        handle: ``handle.remove()`` (or ``handle()``) removes the hook, as in PyTorch.
        """
        if not self.requires_grad:
            raise GraphError(
                "register_hook: this tensor does not require grad, so no gradient "
                "will ever reach the hook"
            )
        if self._hooks is None:
            self._hooks = []
        self._hooks.append(fn)
        return RemovableHandle(self._hooks, fn)

    def retain_grad(self) -> Tensor:
        """Keep this intermediate tensor's gradient in ``.grad`` after backward.

        In the notes' terms, ``z.retain_grad()`` on a weighted input ``z^l`` makes
        ``z.grad`` the error ``δ^l = ∂C/∂z^l``.
        """
        if not self.requires_grad:
            raise GraphError("retain_grad: this tensor does not require grad")
        if self._op is not None:
            self._retain = True
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear ``.grad``.

        By default ``.grad`` becomes ``None`` and its buffer is kept: the next
        backward writes the new gradient straight into it, so a training loop neither
        allocates gradient buffers nor spends a pass zeroing them.  The buffer is
        reused only if nothing else holds it: a gradient tensor or array you kept
        (``g = W.grad`` before ``zero_grad()``) is never changed by the library; the
        next gradient then goes into a new array.  With ``set_to_none=False`` the
        gradient is zeroed in place instead (you asked for that change).
        """
        g = self.grad
        if g is None:
            return
        if not set_to_none:
            g._data[...] = 0
            return
        self.grad = None
        if not g.requires_grad:
            self._gradbuf = g._data

    def __setitem__(self, index: Any, value: Any) -> None:
        raise GraphError(
            "Tensor: item assignment is not recorded in the graph; build a new tensor "
            "(e.g. with where()) or, outside any graph, write to t.data[...]"
        )



def describe(t: Tensor) -> str:
    """How error messages name a tensor: its name, the op that made it, or a leaf."""
    if t.name:
        return repr(t.name)
    if t._op is not None:
        return f"the output of '{t._op.name}'"
    return "an unnamed leaf"


def _raw(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def as_tensor(x: ArrayLike, like: Tensor | None = None) -> Tensor:
    """Return ``x`` if it is a tensor, else wrap it as a constant tensor.

    A Python number takes the floating dtype of ``like`` so that ``x32 * 2.0``
    stays float32.
    """
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (int, float)) and not isinstance(x, bool):
        kind = like.data.dtype.kind
        return Tensor(np.asarray(x, dtype=like.data.dtype if kind == "f" else np.float64))
    return Tensor(x)


# ------------------------------------------------------------------ recording
_alloc = Tensor.__new__


def _new(data: np.ndarray) -> Tensor:
    """A new leaf around ``data`` that requires no gradient, without ``__init__``'s checks."""
    t = _alloc(Tensor)
    t._data = data
    t._version = 0
    t._stamp = 0
    t.grad = None
    t.requires_grad = False
    t.name = None
    t._op = None
    t._parents = None
    t._params = ()
    t._hooks = None
    t._retain = False
    t._scope = None
    t._frame = None
    t._gradbuf = None
    t._gradowner = None
    return t


def apply(op: Op, inputs: tuple[Tensor, ...], params: tuple[Any, ...] = ()) -> Tensor:
    """Run ``op`` forward on the inputs' arrays and record it if a gradient is needed.

    ``inputs`` is a tuple of tensors (``(x,)`` for one input); ``params`` holds the
    op's non-differentiable arguments (axes, shapes, constants).  Every op of every
    step comes here: ops of one to three inputs (nearly all) read their inputs'
    arrays and flags without a comprehension, and each of the node's fields is
    written once.
    """
    try:
        if type(inputs) is not tuple:
            raise AttributeError
        n = len(inputs)
        if n == 1:
            x = inputs[0]
            arrays: Any = (x._data,)
            wanted = x.requires_grad
        elif n == 2:
            x, y = inputs
            arrays = (x._data, y._data)
            wanted = x.requires_grad or y.requires_grad
        elif n == 3:
            x, y, z = inputs
            arrays = (x._data, y._data, z._data)
            wanted = x.requires_grad or y.requires_grad or z.requires_grad
        else:
            arrays = [t._data for t in inputs]
            wanted = any([t.requires_grad for t in inputs])
    except AttributeError:
        raise TypeError(
            f"apply({op.name}): inputs must be a tuple of Tensors, e.g. (x,) or (x, y); got "
            f"{type(inputs).__name__}"
            + ("" if type(inputs) is not tuple else
               f" holding {', '.join(type(t).__name__ for t in inputs)}")
        ) from None
    try:
        out = op.forward(*arrays, *params)
    except NablaGraphError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise op.input_error(inputs, params, exc) from None
    if type(out) is not np.ndarray:  # reductions give NumPy scalars; keep .data an array
        out = np.asarray(out)
    t = _alloc(Tensor)
    t._data = out
    t._version = 0
    t.grad = None
    t.name = None
    t._hooks = None
    t._retain = False
    t._frame = None
    t._gradbuf = None
    t._gradowner = None
    mode = _get_mode()
    if wanted and mode & GRAD:
        t.requires_grad = True
        t._op = op
        t._parents = inputs
        t._params = params
        t._stamp = _clock
        scopes = _scopes.__dict__.get("stack")
        t._scope = scopes[-1] if scopes else None
    else:
        t.requires_grad = False
        t._op = None
        t._parents = None
        t._params = ()
        t._stamp = 0
        t._scope = None
    if mode & ANOMALY:
        assert _check_forward is not None, "nablagraph._tensor.connect() was not called"
        _check_forward(op, inputs, t)
    return t
