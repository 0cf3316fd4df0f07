"""What ``backward()`` keeps of the graph it frees: its shape, to draw it after.

A backward pass without ``retain_graph`` frees the graph: every processed node drops
the links to its parent tensors, and with them the arrays the VJPs needed, so a
forward/backward step leaves nothing behind.  When the tensor it ran on is held
(``C = ...; C.backward()``, see :meth:`nablagraph.Tensor.backward`), it keeps the
graph's *shape* instead: :func:`freeze` records one tuple per op output (op,
parameters, layer scope, name, shape, dtype, retained gradient, the ``id()`` of its
inputs) in a :class:`GraphShape` shared by the freed tensors (``Tensor._skeleton``).
A diagram drawn after ``backward()`` asks :func:`inputs_of` for a tensor's inputs and
walks the :class:`FreedNode` objects made from those tuples on the first request (see
:mod:`nablagraph.viz.graph`), showing the gradients:

>>> import nablagraph as ng
>>> W = ng.Tensor([[0.5, -1.0]], requires_grad=True, name="W")
>>> C = ng.quadratic_cost(ng.sigmoid(ng.linear([[1.0, 2.0]], W)), [[1.0]])
>>> C.backward()
>>> C.is_freed, [p.op for p in inputs_of(C)]
(True, ['sigmoid', None])

What a skeleton holds, and what it does not:

* an intermediate tensor becomes a :class:`FreedNode`: no values, so it never keeps
  an array alive (the tensor itself is garbage once nobody holds it); its ``grad`` is
  the gradient kept by ``retain_grad()`` (``δ^l`` on ``z^l``), else ``None``;
* a leaf that requires a gradient (a parameter) is the leaf tensor itself, so the
  diagram shows its current ``.grad`` and values;
* a leaf that does not (inputs ``X``, targets ``y``) is a :class:`FreedNode` without
  values, except a one-element constant, which is kept (its value is drawn);
* the op's non-tensor parameters (axes, shapes, an index or the labels of
  ``cross_entropy_index``) are kept as they were.

A second ``backward()`` through a freed graph still fails: the engine follows
``_parents`` only, never a skeleton.  :func:`freeze` runs once per backward pass of a
held tensor; it makes one tuple per op and no object per node.

Imports: ``tensor`` and the standard library only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from math import prod
from typing import TYPE_CHECKING, Any, Union

from nablagraph.tensor import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from nablagraph.ops import Op

__all__ = ["FreedNode", "GraphShape", "Node", "freeze", "inputs_of"]

#: A node of a graph as a diagram sees it: a live tensor or what backward kept of one.
Node = Union[Tensor, "FreedNode"]


class FreedNode:
    """What remains of a tensor of a graph that ``backward()`` freed: no values.

    It answers what a diagram asks of a tensor (``op``, ``parents``, ``name``,
    ``shape``, ``dtype``, ``size``, ``requires_grad``, ``grad``) and holds no array
    but a retained gradient.  Built by :func:`freeze`; users meet it only through
    ``nablagraph.viz.collect``.

    Attributes
    ----------
    shape : tuple of int
        The shape the tensor had.
    dtype : numpy.dtype
        Its dtype.
    name : str or None
        Its name at the time of ``backward()``.
    requires_grad : bool
        Whether it required a gradient (True for an op's output in the graph).
    grad : Tensor or None
        ``∂C/∂t`` when ``retain_grad()`` kept it (``δ^l`` on ``z^l``), else ``None``.
    """

    __slots__ = ("_op", "_parents", "_params", "_scope", "name", "shape", "dtype",
                 "requires_grad", "grad")

    _op: Op | None
    _parents: tuple[Node, ...]
    _params: tuple[Any, ...]
    _scope: Any
    name: str | None
    shape: tuple[int, ...]
    dtype: Any
    requires_grad: bool
    grad: Tensor | None

    @property
    def op(self) -> str | None:
        """Name of the op that produced the tensor (``None`` for a leaf)."""
        return None if self._op is None else self._op.name

    @property
    def parents(self) -> tuple[Node, ...]:
        """The skeletons (or parameter tensors) of the op's inputs."""
        return self._parents

    @property
    def size(self) -> int:
        """Number of elements the tensor had."""
        return prod(self.shape)

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    def __repr__(self) -> str:
        what = f"op={self._op.name}" if self._op is not None else "leaf"
        name = f"name={self.name!r}, " if self.name else ""
        return f"FreedNode({name}{what}, shape={self.shape}, dtype={self.dtype})"


class GraphShape:
    """What one backward pass kept of the graph it freed, shared by its freed tensors.

    :func:`freeze` records, keyed by ``id()``, one plain tuple per op output of the
    pass (op, parameters, scope, name, shape, dtype, retained gradient and the
    ``id()`` of its inputs), the parameters themselves, and shape and dtype of the
    inputs that needed no gradient.  The :class:`FreedNode` objects a diagram walks
    are made from these the first time one is asked for (:meth:`inputs`), so a
    backward pass whose graph is never drawn pays for tuples only.
    """

    __slots__ = ("_info", "_live", "_nodes")

    _info: dict[int, tuple[Any, ...]]
    _live: dict[int, Tensor]
    _nodes: dict[int, Node] | None

    def inputs(self, key: int) -> tuple[Node, ...]:
        """The inputs of the op whose output had ``id()`` ``key``, as drawable nodes."""
        nodes = self._nodes
        if nodes is None:
            with _building:  # two threads drawing at once must share one set of nodes
                if self._nodes is None:
                    self._nodes = self._build()
                nodes = self._nodes
        return tuple([nodes[k] for k in self._info[key][7]])

    def _build(self) -> dict[int, Node]:
        """One :class:`FreedNode` per recorded tensor, linked to its inputs' nodes."""
        nodes: dict[int, Node] = dict(self._live)
        made: list[tuple[FreedNode, tuple[int, ...]]] = []
        for key, (op, params, scope, name, shape, dtype, grad, links) in self._info.items():
            n = _alloc(FreedNode)
            n._op, n._params, n._scope, n.name, n.shape, n.dtype = op, params, scope, name, shape, dtype
            n.grad = grad
            n.requires_grad = op is not None
            nodes[key] = n
            made.append((n, links))
        for n, links in made:
            n._parents = tuple([nodes[k] for k in links])
        return nodes


_alloc = FreedNode.__new__
_new_shape = GraphShape.__new__
_building = threading.Lock()


def freeze(order: Sequence[Tensor]) -> None:
    """Free the graph of the engine's schedule ``order``, keeping its shape.

    ``order`` is :func:`nablagraph.engine.schedule`'s list: every tensor of the pass
    that requires a gradient.  Each op's output loses its links to its parent tensors
    (``_parents`` becomes ``None``, ``_params`` empty: :attr:`Tensor.is_freed`) and
    gets ``_skeleton``: the pass's :class:`GraphShape`, which records it in one tuple
    (this runs for every op of a backward pass: no object per node is made here).
    """
    shape = _new_shape(GraphShape)  # (no __init__ call: this runs for every backward)
    shape._info = info = {}
    shape._live = live = {}
    shape._nodes = None
    inputs: list[tuple[Tensor, ...]] = []
    for t in order:
        parents = t._parents
        if parents is None:
            live[id(t)] = t  # a leaf that requires grad: a parameter, drawn with its .grad
            continue
        inputs.append(parents)  # (keeps them alive until every id() below is taken)
        data = t._data
        info[id(t)] = (t._op, t._params, t._scope, t.name, data.shape, data.dtype, t.grad,
                       tuple(map(id, parents)))
        t._parents = None
        t._params = ()
        t._skeleton = shape
    # The inputs that need no gradient (X, y, constants), which the pass did not visit
    # (one used twice is recorded twice, under the same key).
    for p in [p for parents in inputs for p in parents if not p.requires_grad]:
        data = p._data
        if data.size == 1:
            live[id(p)] = p  # a one-element constant: kept, its value is drawn
        else:
            info[id(p)] = (None, (), None, p.name, data.shape, data.dtype, None, ())


def inputs_of(t: Node) -> tuple[Node, ...] | None:
    """The inputs of ``t``'s op: live tensors, or the skeleton ``backward()`` kept.

    ``()`` for a leaf; ``None`` when the graph was freed without a skeleton (by a
    ``backward()`` on a tensor nobody else held), which a diagram reports.
    """
    if isinstance(t, FreedNode):
        return t._parents
    parents = t._parents
    if parents is not None:
        return parents
    if t._op is None:
        return ()
    shape = t._skeleton
    return None if shape is None else shape.inputs(id(t))
