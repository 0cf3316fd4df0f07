"""The calling thread's recording modes: grad mode, anomaly mode and the layer scope.

Grad mode decides whether ops are recorded (:class:`no_grad`, :class:`enable_grad`,
:class:`set_grad_enabled`, :func:`is_grad_enabled`); the anomaly bit is set by
:func:`nablagraph.detect_anomaly`; :class:`scope` labels the nodes recorded inside a
layer's forward.  All of it belongs to the thread (and asyncio task) that sets it: a
``no_grad()`` block in one thread never changes what another thread records.

This module sits at the bottom of the package, next to ``tensor`` which reads the
modes for every op: it imports only ``errors``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np

from nablagraph.errors import ConfigError

__all__ = [
    "GRAD",
    "ANOMALY",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "RemovableHandle",
    "scope",
    "current_scope",
]

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

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


def is_grad_enabled() -> bool:
    """Whether ops run by the calling thread (or asyncio task) are recorded.

    Grad mode belongs to the thread: a ``no_grad()`` block in one thread does not
    change what another thread records.  A new thread starts with recording on.
    """
    return bool(_get_mode() & GRAD)


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


class scope:  # noqa: N801 - used like a function
    """Tag every node recorded inside the ``with`` block with ``label`` (``Tensor._scope``).

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

    @staticmethod
    def labels() -> list[Any]:
        """The calling thread's stack of open labels, innermost last.

        For a hot path that opens a block by hand (``labels.append(label)``, then
        ``labels.pop()`` in a ``finally``): one call instead of the three of ``with``.
        """
        stack: list[Any] | None = _scopes.__dict__.get("stack")
        if stack is None:
            stack = _scopes.stack = []
        return stack


def current_scope() -> Any:
    """The label of the innermost open :class:`scope` block of this thread, or ``None``."""
    stack = _scopes.__dict__.get("stack")
    return stack[-1] if stack else None
