"""What ``backward()`` keeps of the graph it frees: its shape, to draw it after.

A backward pass without ``retain_graph`` frees the graph: a second pass through it
must fail, and the arrays the VJPs needed (the values of the intermediate tensors,
of the inputs ``X`` and targets ``y``) must not outlive the pass.  When the tensor it
ran on is held (``C = ...; C.backward()``, see :meth:`nablagraph.Tensor.backward`),
:func:`freeze` keeps the graph's *shape* instead of cutting it:

* every op output of the pass is marked freed (``_parents`` becomes ``None``: the
  engine and replay refuse it, ``is_freed`` is True) and keeps its inputs in
  ``_inputs``, which only drawings read (:func:`inputs_of`);
* a tensor of the graph that nothing but the graph holds loses its values: its array
  is replaced by a :class:`FreedData` (shape and dtype, no values), so the memory goes
  at once.  A tensor you hold (``a = net(X)``), a parameter, the root and a
  one-element constant keep theirs.  "Held" is told by reference counts, calibrated
  at import against the same loop; where the interpreter cannot tell, every value is
  kept (never dropped by mistake).

The op, its parameters, layer, name, shape, dtype and any retained gradient (``δ^l``
on ``z^l``) stay, so a diagram after ``backward()`` shows the gradients:

>>> import nablagraph as ng
>>> W = ng.Tensor([[0.5, -1.0]], requires_grad=True, name="W")
>>> C = ng.quadratic_cost(ng.sigmoid(ng.linear([[1.0, 2.0]], W)), [[1.0]])
>>> C.backward()
>>> C.is_freed, [p.op for p in inputs_of(C)], values_freed(inputs_of(C)[0])
(True, ['sigmoid', None], True)

Imports: ``tensor``, ``errors`` and the standard library only.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Iterable, Sequence
from math import prod
from typing import Any

from nablagraph._tensor import Tensor
from nablagraph.errors import GraphError

__all__ = ["FreedData", "freeze", "inputs_of", "values_freed"]

_refcount = sys.getrefcount


class FreedData:
    """Stands in for the array of a tensor whose values ``backward()`` freed.

    It has the array's ``shape``, ``dtype``, ``ndim`` and ``size`` (what a diagram
    draws) and no values: turning it into an array raises :class:`GraphError`.
    """

    __slots__ = ("dtype", "shape")

    shape: tuple[int, ...]
    dtype: Any

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return prod(self.shape)

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise GraphError(
            f"the values of this {self.shape} {self.dtype} tensor were freed by backward() "
            "(nothing else held the tensor); hold it (a = ...) before backward(), or pass "
            "retain_graph=True, to read them after"
        )

    def __repr__(self) -> str:
        return f"<values freed by backward(): shape {self.shape}, {self.dtype}>"


_new_freed = FreedData.__new__


def _drop_values(t: Tensor) -> None:
    data = t._data
    freed = _new_freed(FreedData)
    freed.shape = data.shape
    freed.dtype = data.dtype
    t._data = freed  # type: ignore[assignment]


def _count(items: Iterable[object]) -> int:
    for t in items:  # the same loop as freeze's: the list, the loop variable, the call
        return _refcount(t)
    raise AssertionError("unreachable")


def _calibrate() -> int | None:
    """References to a tensor that only ``freeze``'s loop holds, or ``None``.

    Measured, not assumed (interpreters count differently); ``None`` when a held object
    cannot be told from one the loop alone holds, and then no value is ever dropped.
    """
    alone = _count([object()])
    held = object()
    return alone if _count([held]) == alone + 1 else None


_ALONE = _calibrate()


def freeze(order: Sequence[Tensor], consumers: dict[Tensor, int], roots: Collection[Tensor]
           ) -> None:
    """Free the graph of a backward pass, keeping its shape (see the module's notes).

    ``order`` and ``consumers`` are :func:`nablagraph.engine.schedule`'s: every tensor
    of the pass that requires a gradient, consumers first, and how many recorded ops
    use each.  ``roots`` keep their values.  Called with no other reference to the
    graph's tensors on the caller's frame, so that the counts below are exact.
    """
    alone = _ALONE
    if alone is None:
        for t in order:
            if t._parents is not None:
                t._inputs = t._parents
                t._parents = None
        return
    kept = {id(r) for r in roots}
    held = alone + 1  # the list, the loop, the call, and the consumers dict's key
    plain: dict[Tensor, int] = {}  # inputs that need no gradient (X, y): their uses
    for t in order:
        parents = t._parents
        if parents is None:  # a leaf (a parameter): keeps its values and .grad
            continue
        t._parents = None
        t._inputs = parents
        for p in parents:
            if not p.requires_grad:
                plain[p] = plain.get(p, 0) + 1
        # Values nobody else can read go now: referenced by its consumers' inputs alone?
        if _refcount(t) <= held + consumers[t] and id(t) not in kept:
            _drop_values(t)
    for t in list(plain):  # (the consumers' inputs, the dict, the list, the loop, the call)
        if _refcount(t) <= held + plain[t] and t._op is None and t._data.size > 1:
            _drop_values(t)


def inputs_of(t: Tensor) -> tuple[Tensor, ...] | None:
    """The inputs of ``t``'s op, also after ``backward()`` freed it.

    ``()`` for a leaf; ``None`` when the graph was freed without keeping its shape (by
    a ``backward()`` on a tensor nothing held), which a diagram reports.
    """
    parents = t._parents
    if parents is not None:
        return parents
    if t._op is None:
        return ()
    return getattr(t, "_inputs", None)


def values_freed(t: Tensor) -> bool:
    """Whether ``backward()`` freed ``t``'s values (its shape and dtype are kept)."""
    return type(t._data) is FreedData
