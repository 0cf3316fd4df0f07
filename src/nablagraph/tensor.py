"""The Tensor node and the recording of ops.

A :class:`Tensor` wraps a NumPy array.  When an op is applied to tensors of which at
least one requires a gradient (and recording is on, see :func:`no_grad`), the result
remembers the op, its parent tensors and the op's non-tensor parameters: that is the
computation graph.  :mod:`nablagraph.engine` walks it backwards.

This module sits at the bottom of the package: it imports only ``errors``.  Tensor
methods such as ``t.exp()`` or ``a + b`` are thin aliases of the functions in
:mod:`nablagraph.functional`; that module registers itself here when imported
(``_bind``), so the import direction stays one-way.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, Union

import numpy as np

from nablagraph.errors import ConfigError, DTypeError, GraphError, NablaGraphError

if TYPE_CHECKING:  # pragma: no cover
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
]

ArrayLike = Union["Tensor", np.ndarray, float, int, Sequence[Any]]

# The modes of the running thread (and asyncio task): bit GRAD is recording (no_grad,
# enable_grad, set_grad_enabled), bit ANOMALY is detect_anomaly(). One ContextVar, read
# once per op (one C call): each thread has its own context, and each asyncio task a
# copy of its creator's, so a mode set in one thread or task is never seen by another.
GRAD, ANOMALY = 1, 2
_mode: contextvars.ContextVar[int] = contextvars.ContextVar("nablagraph_mode", default=GRAD)
_get_mode = _mode.get
_set_mode = _mode.set
# The labels of the open scope() blocks of each thread (see scope).
_scopes = threading.local()

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

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

_refcount = sys.getrefcount


def _unshared(buf: np.ndarray, meta: dict[str, Any] | None, held: int) -> bool:
    """Whether the library may write into gradient buffer ``buf``: nobody else holds it.

    ``held`` counts the references the caller knows of (its locals, the ``gradbuf``
    entry, a tensor's ``_data``).  Any other reference means a user kept the array, a
    tensor around it or a view of it (a view references its base), and the library
    then hands out a fresh array instead of changing the one the user has.  A buffer
    that is a view is reused only when its owner (``meta["gradowner"]``, a flat
    optimizer) holds it and says no other view of its memory exists.
    """
    base = buf.base
    if base is None:
        return _refcount(buf) <= held + 2  # + this function's argument + getrefcount's
    owner = meta.get("gradowner") if meta else None
    return (owner is not None and base is owner.G and _refcount(buf) <= held + 3
            and _refcount(base) <= owner.refs + 1)  # + the local `base`

# Filled by nablagraph.functional when it is imported (see _bind).
_F: Any = None


def _bind(functional_module: Any) -> None:
    global _F
    _F = functional_module


def is_grad_enabled() -> bool:
    """Whether ops run by the calling thread (or asyncio task) are recorded.

    Grad mode belongs to the thread: a ``no_grad()`` block in one thread does not
    change what another thread records.  A new thread starts with recording on.
    """
    return bool(_get_mode() & GRAD)


def _tick() -> int:
    """Advance the version clock by one and return the new time (thread-safe)."""
    global _clock
    with _clock_lock:
        _clock += 1
        return _clock


def mark_changed(tensors: Sequence[Tensor]) -> None:
    """Record an in-place change of each tensor (as :meth:`Tensor.sub_` does), at once."""
    now = _tick()
    for t in tensors:
        t._version = now


def _with_grad_bit(mode: int, on: int) -> int:
    return mode | GRAD if on else mode & ~GRAD


class _GradMode:
    """Grad mode for a ``with`` block, or for every call of a decorated function.

    Only the calling thread's (or asyncio task's) mode changes.  On exit the mode
    the block found is restored.  A class rather than a generator: entering it is
    on the path of every optimizer step.
    """

    __slots__ = ("enabled", "prev")

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.prev = GRAD

    # (the bit arithmetic is written out: these run at every optimizer step)
    def __enter__(self) -> None:
        m = _get_mode()
        self.prev = m & GRAD
        _set_mode(m | GRAD if self.enabled else m & ~GRAD)

    def __exit__(self, *exc: object) -> None:
        m = _get_mode()
        _set_mode(m | GRAD if self.prev else m & ~GRAD)

    def __call__(self, fn: _Fn) -> _Fn:
        """Use as a decorator: ``fn`` runs in this grad mode at every call.

        Each call gets its own block, so the decorated function may run in several
        threads at once.  A generator function runs in the mode each time it resumes
        (the caller's mode is restored at each ``yield``).
        """
        return _decorate(fn, self.enabled, type(self).__name__)


def _decorate(fn: _Fn, enabled: bool, name: str) -> _Fn:
    if not callable(fn):
        raise ConfigError(
            f"{name}: used as a decorator on {type(fn).__name__}; expected a function "
            f"(write @{name}() above a def, or use `with {name}():`)"
        )
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise ConfigError(
            f"{name}: cannot decorate the coroutine function {getattr(fn, '__name__', fn)!r}: "
            f"its body runs later, outside the decorator; use `with {name}():` inside it"
        )
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(enabled):
                gen = fn(*args, **kwargs)
            return _run_generator(gen, enabled)

        return gen_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _GradMode(enabled):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _run_generator(gen: Any, enabled: bool) -> Iterator[Any]:
    # Resume the generator in the mode, hand each value out in the caller's mode.
    try:
        with _GradMode(enabled):
            value = next(gen)
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                with _GradMode(enabled):
                    gen.close()
                raise
            except BaseException as exc:
                with _GradMode(enabled):
                    value = gen.throw(exc)
            else:
                with _GradMode(enabled):
                    value = gen.send(sent)
    except StopIteration as stop:
        return stop.value


class no_grad(_GradMode):  # noqa: N801 - named as in PyTorch
    """Record nothing in this thread: a ``with`` block or a function decorator.

    Inside it, ops run by the calling thread (or asyncio task) do not record a graph
    and their results never require grad; other threads keep their own mode.  Use it
    for evaluation and for parameter updates::

        with nablagraph.no_grad():
            W.data -= lr * W.grad.data

        @nablagraph.no_grad()         # or @nablagraph.no_grad
        def evaluate(net, X):
            return net(X)

    Examples
    --------
    >>> import nablagraph as ng
    >>> x = ng.Tensor([1.0, 2.0], requires_grad=True)
    >>> with ng.no_grad():
    ...     y = x * 2
    >>> y.requires_grad, ng.is_grad_enabled()
    (False, True)
    """

    __slots__ = ()

    def __new__(cls, fn: Any = None) -> Any:
        if fn is None:
            return object.__new__(cls)
        return _decorate(fn, False, "no_grad")  # bare @no_grad

    def __init__(self, fn: Any = None) -> None:
        self.enabled = False


class enable_grad(_GradMode):  # noqa: N801 - named as in PyTorch
    """Record again in this thread inside a ``no_grad`` block (``with`` or decorator)."""

    __slots__ = ()

    def __new__(cls, fn: Any = None) -> Any:
        if fn is None:
            return object.__new__(cls)
        return _decorate(fn, True, "enable_grad")  # bare @enable_grad

    def __init__(self, fn: Any = None) -> None:
        self.enabled = True


class set_grad_enabled(_GradMode):  # noqa: N801 - named as in PyTorch
    """Turn recording on or off for the calling thread.

    Called as a function it sets the mode at once (until changed again); as a
    ``with`` block or decorator the previous mode comes back on exit::

        ng.set_grad_enabled(False)          # this thread stops recording
        with ng.set_grad_enabled(train):    # recording iff train, inside the block
            ...

    Parameters
    ----------
    mode : bool
        ``True`` to record, ``False`` not to.
    """

    __slots__ = ()

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, (bool, np.bool_)):
            raise ConfigError(
                f"set_grad_enabled: mode must be True or False, got {mode!r} "
                f"({type(mode).__name__})"
            )
        super().__init__(bool(mode))
        m = _get_mode()
        self.prev = bool(m & GRAD)
        _set_mode(_with_grad_bit(m, self.enabled))

    def __enter__(self) -> None:
        pass  # set already by __init__

    def __call__(self, fn: _Fn) -> _Fn:
        # As a decorator the mode applies to the calls only: undo what __init__ set.
        _set_mode(_with_grad_bit(_get_mode(), self.prev))
        return _decorate(fn, self.enabled, "set_grad_enabled")


class RemovableHandle:
    """What :meth:`Tensor.register_hook` returns: ``handle.remove()`` takes the hook off.

    Calling the handle (``handle()``) also removes it, and ``with`` removes it at the
    end of the block.  Removing twice does nothing.
    """

    __slots__ = ("_hooks", "_fn")

    def __init__(self, hooks: list[Any], fn: Any) -> None:
        self._hooks: list[Any] | None = hooks
        self._fn = fn

    def remove(self) -> None:
        """Remove the hook (no effect if it was removed already)."""
        hooks, self._hooks = self._hooks, None
        if hooks is not None:
            for i, f in enumerate(hooks):
                if f is self._fn:
                    del hooks[i]
                    break

    __call__ = remove

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_FLOAT_KINDS = ("f",)


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


class Tensor:
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
        "_meta",
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
    _meta: dict[str, Any] | None

    def __init__(
        self,
        data: ArrayLike,
        requires_grad: bool = False,
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
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
        self._meta = None

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
    def shape(self) -> tuple[int, ...]:
        """The shape of the data."""
        return self._data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the data."""
        return self._data.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._data.size

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
        """True when ``backward()`` has released the graph below this tensor."""
        return self._op is not None and self._parents is None

    def __len__(self) -> int:
        return len(self._data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None:
            return self._data
        return self._data.astype(dtype, copy=bool(copy))

    # Identity hashing (elementwise __eq__ below would otherwise disable hashing); the
    # C slot of object is kept because the engine's dicts hash tensors constantly.
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"Tensor: the truth value of a tensor of shape {self.shape} is ambiguous; "
                "use .data.any() or .data.all()"
            )
        return bool(self._data)

    def __repr__(self) -> str:
        body = np.array2string(
            self._data, precision=4, threshold=20, edgeitems=2, separator=", ", prefix="Tensor("
        )
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
        from nablagraph.viz import tensor_mimebundle

        return tensor_mimebundle(self, include, exclude)

    # ------------------------------------------------------------ conversions
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to a Python number, "
                f"got shape {self.shape}"
            )
        return self._data.item()

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
        """
        from nablagraph import engine

        engine.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

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
            meta = self._meta if self._meta is not None else {}
            meta["gradbuf"] = g._data
            self._meta = meta

    # ---------------------------------------------------- operators (aliases)
    def __add__(self, other: ArrayLike) -> Tensor:
        return _F.add(self, other)

    def __radd__(self, other: ArrayLike) -> Tensor:
        return _F.add(other, self)

    def __sub__(self, other: ArrayLike) -> Tensor:
        return _F.sub(self, other)

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return _F.sub(other, self)

    def __mul__(self, other: ArrayLike) -> Tensor:
        return _F.mul(self, other)

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return _F.mul(other, self)

    def __truediv__(self, other: ArrayLike) -> Tensor:
        return _F.div(self, other)

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return _F.div(other, self)

    def __pow__(self, other: ArrayLike) -> Tensor:
        return _F.pow(self, other)

    def __rpow__(self, other: ArrayLike) -> Tensor:
        return _F.pow(other, self)

    def __matmul__(self, other: ArrayLike) -> Tensor:
        return _F.matmul(self, other)

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return _F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _F.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _F.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _F.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        raise GraphError(
            "Tensor: item assignment is not recorded in the graph; build a new tensor "
            "(e.g. with where()) or, outside any graph, write to t.data[...]"
        )

    # Comparisons give boolean tensors that never require grad.
    def __lt__(self, other: ArrayLike) -> Tensor:
        return Tensor(self._data < _raw(other))

    def __le__(self, other: ArrayLike) -> Tensor:
        return Tensor(self._data <= _raw(other))

    def __gt__(self, other: ArrayLike) -> Tensor:
        return Tensor(self._data > _raw(other))

    def __ge__(self, other: ArrayLike) -> Tensor:
        return Tensor(self._data >= _raw(other))

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return Tensor(self._data == _raw(other))

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return Tensor(self._data != _raw(other))

    # ------------------------------------------------------ methods (aliases)
    @property
    def T(self) -> Tensor:
        """The transpose (all axes reversed)."""
        return _F.transpose(self)

    def transpose(self, *axes: int) -> Tensor:
        """Permute the axes (reverse them when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _F.transpose(self, axes or None)

    def reshape(self, *shape: Any) -> Tensor:
        """The same data in a new shape (``-1`` infers one dimension)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _F.reshape(self, shape)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default)."""
        return _F.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes by default)."""
        return _F.mean(self, axis=axis, keepdims=keepdims)

    def exp(self) -> Tensor:
        """Elementwise ``e^x``."""
        return _F.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return _F.log(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return _F.sqrt(self)

    def abs(self) -> Tensor:
        """Elementwise absolute value."""
        return _F.abs(self)

    def maximum(self, other: ArrayLike) -> Tensor:
        """Elementwise maximum with ``other``."""
        return _F.maximum(self, other)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Clamp values into ``[min, max]``."""
        return _F.clip(self, min, max)

    def sigmoid(self) -> Tensor:
        """Elementwise logistic function ``σ(z) = 1 / (1 + e^{-z})``."""
        return _F.sigmoid(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return _F.tanh(self)

    def relu(self) -> Tensor:
        """Elementwise ``max(z, 0)``."""
        return _F.relu(self)

    def softmax(self, axis: int = -1) -> Tensor:
        """Softmax along ``axis``."""
        return _F.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """Log-softmax along ``axis``."""
        return _F.log_softmax(self, axis=axis)


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
def _new(data: np.ndarray) -> Tensor:
    t = Tensor.__new__(Tensor)
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
    t._meta = None
    return t


def apply(op: Op, inputs: tuple[Tensor, ...], params: tuple[Any, ...] = ()) -> Tensor:
    """Run ``op`` forward on the inputs' arrays and record it if a gradient is needed.

    ``inputs`` is a tuple of tensors (``(x,)`` for one input); ``params`` holds the
    op's non-differentiable arguments (axes, shapes, constants).
    """
    try:
        if type(inputs) is not tuple:
            raise AttributeError
        arrays = [t._data for t in inputs]
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
    t = _new(out)
    mode = _get_mode()
    if mode & GRAD:
        for p in inputs:
            if p.requires_grad:
                t.requires_grad = True
                t._op = op
                t._parents = inputs
                t._params = params
                t._stamp = _clock
                scopes = _scopes.__dict__.get("stack")
                if scopes:
                    t._meta = {"scope": scopes[-1]}
                break
    if mode & ANOMALY:
        from nablagraph import anomaly

        anomaly.check_forward(op, inputs, t)
    return t


class scope:  # noqa: N801 - used like a function
    """Tag every node recorded inside the ``with`` block with ``label`` (in ``t._meta``).

    The label (e.g. the Dense layer being run) is per thread, like grad mode; graph
    diagrams use it to draw layer clusters.  Blocks nest: the innermost label wins.
    The labels live on a per-thread stack rather than in a context variable: a scope
    opens and closes inside one synchronous call (a layer's forward), so no other
    thread or asyncio task can run in between, and a list push/pop is several times
    cheaper than setting a context variable (it runs for every layer of every step).
    """

    __slots__ = ("label", "stack")

    def __init__(self, label: Any) -> None:
        self.label = label

    def __enter__(self) -> None:
        stack = _scopes.__dict__.get("stack")
        if stack is None:
            stack = _scopes.stack = []
        self.stack = stack
        stack.append(self.label)

    def __exit__(self, *exc: object) -> None:
        self.stack.pop()
