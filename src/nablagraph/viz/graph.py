"""Read a recorded graph into a plain description a diagram can be drawn from.

:func:`collect` walks the graph from a root tensor breadth-first with an explicit
queue (no recursion, so a 100,000-op chain is fine), keeps the first ``max_nodes``
diagram nodes nearest the root and counts the rest, and works out for every tensor
what it is (parameter, input, target, constant, intermediate, output), which layer it
belongs to and, where the notes have a name for it, that name: ``z^l``, ``a^l``,
``δ^l = ∂C/∂z^l``, ``∇W^l``, ``C``.

It only reads: no tensor, gradient or link of the graph is changed.

After ``backward()`` (without ``retain_graph``) the graph is freed but its shape is
not: below a freed tensor the walk follows the inputs backward kept
(:func:`nablagraph.skeleton.inputs_of`).  A tensor whose values backward freed
(nothing else held it) keeps its op, name, shape, dtype, layer and retained gradient
(``TensorNode.freed``); parameters keep their values and ``.grad``.

Layers are found through the scope tag that ``Dense.forward_z`` puts on the nodes it
records (``t._scope``): any object with an integer ``index`` is treated as the
notes' layer ``l`` (``activation_name``, ``n_in`` and ``n_out`` are used when
present), so this module needs nothing from :mod:`nablagraph.nn`.

Imports: ``tensor``, ``skeleton``, ``errors``, ``ops`` (the facts of an op) and NumPy only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import GraphError
from nablagraph.ops import COST_OPS
from nablagraph.skeleton import inputs_of, values_freed

__all__ = ["COST_OPS", "GraphInfo", "Layer", "TensorNode", "collect", "is_cost", "superscript"]

def is_cost(op: Any) -> bool:
    """Whether ``op`` computes a cost ``C`` (its registry fact ``kind == "cost"``): it is
    drawn outside the layer clusters and its target inputs are drawn as targets."""
    return op is not None and op.kind == "cost"


#: What a tensor is; each kind has a colour in the legend.
KINDS = ("parameter", "input", "target", "constant", "intermediate", "output")

_SUPERSCRIPT = str.maketrans("0123456789-+l", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺ˡ")


def superscript(text: str | int) -> str:
    """``12`` → ``¹²``: the notes' layer index written as a superscript."""
    return str(text).translate(_SUPERSCRIPT)


@dataclass
class Layer:
    """One layer cluster: the scope object (e.g. a ``Dense``) and its title."""

    key: int
    scope: Any
    index: int | None
    title: str
    activation: str | None


@dataclass
class TensorNode:
    """A tensor of the diagram, with what the diagram needs to know about it.

    ``tensor`` may be one whose values ``backward()`` freed (:attr:`freed`).
    """

    tensor: Tensor
    number: int
    kind: str
    layer: Layer | None = None
    notation: str | None = None
    delta: int | None = None  # the layer l when this tensor is z^l (its grad is δ^l)
    grad_symbol: str | None = None  # "∇W²" for a named parameter

    @property
    def id(self) -> str:
        """DOT id of the tensor node."""
        return f"t{self.number}"

    @property
    def op_id(self) -> str:
        """DOT id of the op node that produced the tensor."""
        return f"o{self.number}"

    @property
    def has_op(self) -> bool:
        """Whether the tensor was produced by a recorded op."""
        return self.tensor._op is not None

    @property
    def freed(self) -> bool:
        """Whether ``backward()`` freed the tensor's values: its shape is known, they not."""
        return values_freed(self.tensor)

    @property
    def inputs(self) -> tuple[Tensor, ...]:
        """The inputs of the tensor's op (also after ``backward()``), ``()`` for a leaf."""
        return inputs_of(self.tensor) or ()


@dataclass
class GraphInfo:
    """Everything drawn, in breadth-first order from the root (the root first)."""

    root: Tensor
    nodes: list[TensorNode]
    by_id: dict[int, TensorNode]
    layers: dict[int, Layer]
    hidden_nodes: int = 0
    total_nodes: int = 0
    consumers: dict[int, list[TensorNode]] = field(default_factory=dict)
    topo: list[TensorNode] = field(default_factory=list)

    def node(self, t: Tensor) -> TensorNode | None:
        """The drawn node of ``t`` (``None`` when it is not drawn)."""
        return self.by_id.get(id(t))

    def has_grads(self) -> bool:
        """Whether any drawn tensor holds a gradient."""
        return any(n.tensor.grad is not None for n in self.nodes)


def _freed_error(t: Tensor, root: Tensor) -> GraphError:
    assert t._op is not None
    where = "this tensor" if t is root else f"the output of '{t._op.name}' it depends on"
    return GraphError(
        f"viz: cannot draw the graph: {where} (op '{t._op.name}', shape {tuple(t.shape)}) "
        "was freed by an earlier backward() on a tensor nothing held, which keeps no "
        "shape of the graph, so the diagram would be cut off there; hold the tensor you "
        "call backward() on (C = ...; C.backward()) to draw its graph after, "
        "call backward(retain_graph=True) to keep the graph (and z.retain_grad() for "
        "δ^l), or draw before backward(); viz.draw_network(model, X, Y) does both in "
        "one call"
    )


def _layer_of_scope(scope: Any, layers: dict[int, Layer]) -> Layer:
    key = id(scope)
    layer = layers.get(key)
    if layer is None:
        index = getattr(scope, "index", None)
        index = int(index) if isinstance(index, (int, np.integer)) else None
        activation = getattr(scope, "activation_name", None)
        activation = activation if isinstance(activation, str) else None
        if index is not None:
            title = f"layer {index}"
            n_in, n_out = getattr(scope, "n_in", None), getattr(scope, "n_out", None)
            if isinstance(n_in, int) and isinstance(n_out, int):
                title += f" · {n_in} → {n_out}"
            if activation:
                title += f" · {activation}"
        else:
            title = scope if isinstance(scope, str) else type(scope).__name__
        layer = Layer(len(layers), scope, index, title, activation)
        layers[key] = layer
    return layer


def _walk(root: Tensor) -> tuple[list[Tensor], dict[int, list[tuple[Tensor, int]]]]:
    """Every tensor reachable from ``root`` in breadth-first order, and its consumers."""
    order: list[Tensor] = [root]
    seen = {id(root)}
    consumers: dict[int, list[tuple[Tensor, int]]] = {}
    queue: deque[Tensor] = deque(order)
    while queue:
        t = queue.popleft()
        inputs = inputs_of(t)
        if inputs is None:
            raise _freed_error(t, root)
        for i, p in enumerate(inputs):
            consumers.setdefault(id(p), []).append((t, i))
            if id(p) not in seen:
                seen.add(id(p))
                order.append(p)
                queue.append(p)
    return order, consumers


def collect(root: Tensor, max_nodes: int | None = None) -> GraphInfo:
    """Read the graph below ``root``.

    Parameters
    ----------
    root : Tensor
        The tensor to draw the graph of (usually the cost ``C``).
    max_nodes : int, optional
        Draw at most this many nodes (tensors and ops count one each), the ones
        nearest the root; the rest are counted in ``hidden_nodes``.

    Returns
    -------
    GraphInfo

    Raises
    ------
    GraphError
        If part of the graph was freed and its shape not kept: by a ``backward()`` on
        a temporary (``net.cost(X, Y).backward()``).  A graph freed by the backward of
        a tensor that is held keeps its shape and is drawn (without values).
    """
    order, consumer_pairs = _walk(root)
    total = sum(2 if t._op is not None else 1 for t in order)

    # Keep a breadth-first prefix: the nodes nearest the root (the root always).
    kept: list[Tensor] = []
    used = 0
    for t in order:
        cost = 2 if t._op is not None else 1
        if max_nodes is not None and used + cost > max_nodes and kept:
            break
        kept.append(t)
        used += cost

    layers: dict[int, Layer] = {}
    nodes = [TensorNode(t, i, "intermediate") for i, t in enumerate(kept)]
    by_id = {id(n.tensor): n for n in nodes}
    info = GraphInfo(root, nodes, by_id, layers, hidden_nodes=total - used, total_nodes=total)

    def op_layer(t: Tensor) -> Layer | None:
        if t._op is None or is_cost(t._op) or t._scope is None:
            return None
        return _layer_of_scope(t._scope, layers)

    info.topo = _topological(root, by_id)
    # Layers first, from the op nodes, numbered from the inputs up.
    for n in info.topo:
        n.layer = op_layer(n.tensor)
    for n in nodes:
        t = n.tensor
        info.consumers[id(t)] = [by_id[id(c)] for c, _ in consumer_pairs.get(id(t), ()) if id(c) in by_id]
        n.kind = _kind(t, root, consumer_pairs.get(id(t), ()))
        if n.kind in ("parameter", "constant"):
            # A leaf used by one layer only is drawn inside it (W2, b2).
            used_in = [op_layer(c) for c, _ in consumer_pairs.get(id(t), ()) if id(c) in by_id]
            if used_in and all(layer is used_in[0] for layer in used_in):
                n.layer = used_in[0]
    for n in nodes:
        _name(n, info, consumer_pairs.get(id(n.tensor), ()))
    return info


def _topological(root: Tensor, by_id: dict[int, TensorNode]) -> list[TensorNode]:
    """The drawn nodes, inputs first, each op's inputs in their order (iterative DFS)."""
    out: list[TensorNode] = []
    visited = {id(root)}
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:
        t, i = stack[-1]
        parents = inputs_of(t) or ()
        if i < len(parents):
            stack[-1] = (t, i + 1)
            p = parents[i]
            if id(p) in by_id and id(p) not in visited:
                visited.add(id(p))
                stack.append((p, 0))
        else:
            stack.pop()
            out.append(by_id[id(t)])
    return out


def _kind(t: Tensor, root: Tensor, consumers: Any) -> str:
    if t is root:
        return "output"
    if t._op is not None:
        return "intermediate"
    if t.requires_grad:
        return "parameter"
    if any(is_cost(c._op) and i >= 1 for c, i in consumers):
        return "target"
    return "constant" if t.size == 1 else "input"


def _name(n: TensorNode, info: GraphInfo, consumers: Any) -> None:
    """Give ``n`` the notes' name where one applies."""
    _name_by_kind(n, info, consumers)
    if n.layer is not None and n.layer.index is not None and n.tensor._op is not None:
        _name_in_layer(n, n.layer, info, consumers)


def _name_by_kind(n: TensorNode, info: GraphInfo, consumers: Any) -> None:
    """``C`` for a cost root, ``y`` for a target, ``aˡ⁻¹`` for a layer's input, ``∇W²``."""
    t = n.tensor
    if n.kind == "output" and is_cost(t._op):
        n.notation = "C"
    elif n.kind == "target":
        n.notation = "y"
    elif n.kind == "input":
        n.notation = _input_notation(info, consumers)
    elif n.kind == "parameter" and t.name:
        head = t.name.rstrip("0123456789")
        tail = t.name[len(head):]
        n.grad_symbol = f"∇{head}{superscript(tail)}" if head and tail else f"∇{t.name}"


def _input_notation(info: GraphInfo, consumers: Any) -> str | None:
    """The first input of layer l's linear op is a^{l-1}."""
    for c, i in consumers:
        cl = info.node(c)
        if (
            i == 0
            and c._op is not None
            and c._op.name == "linear"
            and cl is not None
            and cl.layer is not None
            and cl.layer.index is not None
        ):
            return f"a{superscript(cl.layer.index - 1)}"
    return None


def _name_in_layer(n: TensorNode, layer: Layer, info: GraphInfo, consumers: Any) -> None:
    """``zˡ`` (whose gradient is ``δˡ``) and ``aˡ`` for the tensors layer l computes."""
    t, op = n.tensor, n.tensor._op
    assert layer.index is not None and op is not None
    l = superscript(layer.index)
    is_z = op.name == "linear"
    # a^l leaves the layer: it is the root or is consumed by an op of another layer.
    leaves = t is info.root or any(
        (cn := info.node(c)) is None or cn.layer is not layer for c, _ in consumers
    )
    is_a = (leaves and not is_z) or (is_z and layer.activation == "identity")
    if is_z:
        n.delta = layer.index
    if is_z and is_a:
        n.notation = f"z{l} = a{l}"
    elif is_z:
        n.notation = f"z{l}"
    elif is_a:
        n.notation = f"a{l}"
