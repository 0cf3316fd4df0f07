"""Turn a recorded graph into DOT: :func:`to_graphviz` and :func:`to_dot`.

The DOT text is written line by line (the ``graphviz`` package's ``body``), which
keeps a 200,000-node diagram to a second or two; every label is an HTML-like label
with its text escaped.  The colours are those of :data:`COLOURS`, explained in the
legend drawn in every diagram (see :mod:`nablagraph.viz`).

:func:`to_graphviz` checks its options, reads the graph (:mod:`~nablagraph.viz.graph`),
finds the highlighted paths (``viz.highlight``), writes the nodes (``viz.nodes``: in
layer clusters, or one box per layer) and the edges (``viz.edges``), then the legend
(``viz.legend``); the colours and font are ``viz.style``'s.

Imports: ``tensor``, ``errors`` and the ``viz`` modules ``graph``, ``labels``,
``style``, ``nodes``, ``edges``, ``legend``, ``highlight`` and ``diagram``.
"""

from __future__ import annotations

from typing import Any

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, DTypeError
from nablagraph.viz.diagram import Diagram
from nablagraph.viz.edges import backward_edge_list, backward_line, edge_line, forward_edges
from nablagraph.viz.graph import TensorNode, collect
from nablagraph.viz.highlight import highlight_set
from nablagraph.viz.labels import escape
from nablagraph.viz.legend import legend_line
from nablagraph.viz.nodes import NodeDrawer, cluster_open, more_line
from nablagraph.viz.style import COLOURS, FONT

__all__ = ["COLOURS", "DIRECTIONS", "VIEWS", "Diagram", "to_dot", "to_graphviz"]

DIRECTIONS = ("TB", "LR", "BT", "RL")
VIEWS = ("auto", "forward", "forward+backward")


# ------------------------------------------------------- the graph, layers as clusters
def _clustered_nodes(nodes: NodeDrawer) -> list[str]:
    """Every node's line, in topological order; a layer's inside its cluster."""
    groups: dict[int | None, list[str]] = {}
    for n in nodes.info.topo:
        key = n.layer.key if n.layer is not None else None
        lines = groups.setdefault(key, [])
        lines.append(nodes.tensor_line(n))
        if n.has_op:
            lines.append(nodes.op_line(n))
    layers = {layer.key: layer for layer in nodes.info.layers.values()}
    body: list[str] = []
    for key, lines in groups.items():
        if key is None:
            body += lines
        else:
            body.append(cluster_open(layers[key]))
            body += ["\t" + line for line in lines]
            body.append("\t}\n")
    return body


def _full_body(nodes: NodeDrawer, backward_edges: bool) -> list[str]:
    """Every drawn tensor and op, and every edge between them."""
    info = nodes.info
    body = _clustered_nodes(nodes)
    if info.hidden_nodes:
        body.append(more_line(info.hidden_nodes))
    spine = {i for n in info.topo if n.has_op for i in (n.id, n.op_id)}
    body += [edge_line(*e, spine=e[0] in spine) for e in forward_edges(info, nodes.highlight)]
    if backward_edges:
        body += [backward_line(*e) for e in backward_edge_list(info)]
    return body


# ----------------------------------------------- collapse="layers": one box per layer
def _collapsed_nodes(nodes: NodeDrawer) -> tuple[list[str], dict[str, str]]:
    """The lines of the nodes outside layers and of one box per layer, and the group
    (the layer's box, or the node itself) of every drawn node's DOT id."""
    info = nodes.info
    body: list[str] = []
    group_of: dict[str, str] = {}
    members: dict[int, list[TensorNode]] = {}
    for n in info.topo:
        if n.layer is not None:
            members.setdefault(n.layer.key, []).append(n)
            group_of[n.id] = group_of[n.op_id] = f"L{n.layer.key}"
        else:
            body.append(nodes.tensor_line(n))
            group_of[n.id] = n.id
            if n.has_op:
                body.append(nodes.op_line(n))
                group_of[n.op_id] = n.op_id
    layers = {layer.key: layer for layer in info.layers.values()}
    body += [nodes.layer_line(layers[key], members_of) for key, members_of in members.items()]
    if info.hidden_nodes:
        body.append(more_line(info.hidden_nodes))
        group_of["more"] = "more"
    return body, group_of


def _collapsed_edges(nodes: NodeDrawer, group_of: dict[str, str], backward_edges: bool) -> list[str]:
    """The edges between groups, each once (highlighted if any edge it stands for is)."""
    info = nodes.info
    seen: dict[tuple[str, str], bool] = {}
    for tail, head, on in forward_edges(info, nodes.highlight):
        e = (group_of[tail], group_of[head])
        if e[0] != e[1]:
            seen[e] = seen.get(e, False) or on
    body = [edge_line(t, h, on) for (t, h), on in seen.items()]
    if backward_edges:
        grad_groups = {group_of[n.id] for n in info.nodes if n.tensor.requires_grad}
        grad_groups |= {group_of[n.op_id] for n in info.nodes if n.has_op}
        body += [backward_line(h, t) for (t, h) in seen if t in grad_groups]
    return body


def _collapsed_body(nodes: NodeDrawer, backward_edges: bool) -> list[str]:
    """One box per layer, the nodes outside layers, and the edges between them."""
    body, group_of = _collapsed_nodes(nodes)
    return body + _collapsed_edges(nodes, group_of, backward_edges)


# ------------------------------------------------------------------------ the diagram
def _check_options(
    root: object, direction: str, view: str, collapse: str | None, max_nodes: int | None
) -> None:
    """A :class:`DTypeError` or :class:`ConfigError` naming an option :func:`to_graphviz`
    cannot take."""
    if not isinstance(root, Tensor):
        raise DTypeError(f"to_graphviz: expected a Tensor (e.g. the cost C), got {type(root).__name__}")
    if direction not in DIRECTIONS:
        raise ConfigError(f"to_graphviz: direction={direction!r}; expected one of {', '.join(DIRECTIONS)}")
    if view not in VIEWS:
        raise ConfigError(f"to_graphviz: view={view!r}; expected one of {', '.join(VIEWS)}")
    if collapse not in (None, "layers"):
        raise ConfigError(f"to_graphviz: collapse={collapse!r}; expected None or 'layers'")
    if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
        raise ConfigError(f"to_graphviz: max_nodes must be a positive integer or None, got {max_nodes!r}")


def _diagram(direction: str, body: list[str]) -> Diagram:
    """The :class:`Diagram` of ``body`` with the graph-wide attributes."""
    return Diagram(
        name="nablagraph",
        graph_attr={
            "rankdir": direction,
            "fontname": FONT,
            "nodesep": "0.3",
            "ranksep": "0.35",
            "pad": "0.2",
        },
        node_attr={"fontname": FONT, "fontsize": "10", "margin": "0.12,0.05"},
        edge_attr={"arrowsize": "0.7", "color": "#404040"},
        body=body,
    )


def to_graphviz(
    root: Tensor,
    *,
    direction: str = "TB",
    show_values: bool = False,
    show_grads: bool = True,
    show_shapes: bool = True,
    view: str = "auto",
    collapse: str | None = None,
    highlight: Tensor | str | None = None,
    max_nodes: int | None = 2000,
    legend: bool = True,
    title: str | None = None,
) -> Diagram:
    """Draw the graph recorded below ``root`` as a :class:`graphviz.Digraph`.

    Tensors are boxes (title, shape and dtype; after backward a gradient summary),
    ops are ellipses; ``Dense`` layers are clusters titled ``layer l``.  Reads the
    graph, never changes it.

    Parameters
    ----------
    root : Tensor
        Usually the cost ``C``.
    direction : {"TB", "LR", "BT", "RL"}
        Top to bottom (inputs at the top) or left to right, or their reverses.
    show_values : bool
        Add values (one-element tensors), or mean and norm (larger ones).  Constants
        and a one-element root always show theirs.
    show_grads : bool
        Add gradient summaries where ``.grad`` is set: the norm ``‖g‖``, or the value
        of a one-element gradient, named as in the notes: ``δˡ = ∂C/∂zˡ`` on ``zˡ``,
        ``‖∇W²‖`` on parameters.
    show_shapes : bool
        Add shape and dtype.
    view : {"auto", "forward", "forward+backward"}
        ``forward`` draws the forward graph only (no gradients); ``forward+backward``
        adds dashed edges along which gradients flow back to every input that requires
        one, and the gradients; ``auto`` is ``forward+backward`` when any gradient is set.
    collapse : {None, "layers"}
        ``"layers"`` draws one box per layer, summarising its ops, parameters, ``zˡ``,
        ``aˡ`` and gradients: for big networks.
    highlight : Tensor or str, optional
        A tensor (or the name of one, e.g. ``"W2"``): the paths from it to the root are
        drawn thick, in the highlight colour.
    max_nodes : int or None
        Draw at most this many tensor and op nodes, those nearest the root; one node
        ``… N more nodes`` stands for the rest.  ``None`` draws everything.
    legend : bool
        Draw the colour legend.
    title : str, optional
        A title above the diagram.

    Returns
    -------
    Diagram
        A ``graphviz.Digraph`` (``.source`` is the DOT text) that also renders without
        the system Graphviz (``.svg()``, ``.png()``, ``.write(path)``, Jupyter display).

    Raises
    ------
    GraphError
        If the backward of a temporary freed the graph (hold the tensor ``backward()``
        runs on, use ``retain_graph=True``, or draw first).  After the backward of a
        held tensor the graph is drawn, with its gradients; freed tensors are dashed.
    ConfigError
        For an unknown option value.

    Examples
    --------
    >>> import nablagraph as ng
    >>> from nablagraph.viz import to_graphviz
    >>> w = ng.Tensor([1.0, 2.0], requires_grad=True, name="w")
    >>> C = (w * w).sum()
    >>> g = to_graphviz(C)
    >>> print(g.source.count(" -> "))   # w -> mul (twice), mul -> t, t -> sum, sum -> C
    5
    """
    _check_options(root, direction, view, collapse, max_nodes)
    info = collect(root, max_nodes)
    backward = view == "forward+backward" or (view == "auto" and info.has_grads())
    hl, hl_name = highlight_set(info, highlight)
    nodes = NodeDrawer(
        info,
        show_values=show_values,
        show_grads=show_grads and backward,
        show_shapes=show_shapes,
        highlight=hl,
    )
    collapsed = collapse == "layers"
    body = _collapsed_body(nodes, backward) if collapsed else _full_body(nodes, backward)
    if legend:
        # Top to bottom: a column beside the graph; left to right: rows above it.
        columns = 1 if direction in ("TB", "BT") else 4
        body.append(legend_line(
            nodes, collapsed=collapsed, columns=columns, backward_edges=backward, highlight_name=hl_name
        ))
    if title:
        body.insert(0, f"\tlabel=<<b>{escape(title)}</b>> labelloc=t fontsize=14\n")
    return _diagram(direction, body)


def to_dot(root: Tensor, **options: Any) -> str:
    """The DOT text of :func:`to_graphviz` (same options); needs no Graphviz program.

    Examples
    --------
    >>> import nablagraph as ng
    >>> from nablagraph.viz import to_dot
    >>> x = ng.Tensor(2.0, requires_grad=True, name="x")
    >>> print(to_dot(x * 3.0).splitlines()[0])
    digraph nablagraph {
    """
    source: str = to_graphviz(root, **options).source
    return source
