"""Turn a recorded graph into DOT: :func:`to_graphviz` and :func:`to_dot`.

The DOT text is written line by line (the ``graphviz`` package's ``body``), which
keeps a 200,000-node diagram to a second or two; every label is an HTML-like label
with its text escaped.  The colours are those of :data:`COLOURS`, explained in the
legend drawn in every diagram (see :mod:`nablagraph.viz`).

Imports: ``tensor``, ``errors`` and the ``viz`` modules ``graph``, ``labels`` and
``diagram``.
"""

from __future__ import annotations

from typing import Any

from nablagraph.errors import ConfigError, DTypeError
from nablagraph.tensor import Tensor
from nablagraph.viz.diagram import Diagram
from nablagraph.viz.graph import GraphInfo, Layer, TensorNode, collect, is_cost, superscript
from nablagraph.viz.labels import (
    dot_attrs,
    escape,
    grad_text,
    html_label,
    params_text,
    shape_text,
    values_text,
)

__all__ = ["COLOURS", "DIRECTIONS", "VIEWS", "Diagram", "to_dot", "to_graphviz"]

#: Fill colours by node kind, plus the colours of gradients, highlights and layers.
COLOURS = {
    "parameter": "#a6cee3",
    "input": "#b2df8a",
    "target": "#ffed6f",
    "constant": "#d9d9d9",
    "intermediate": "#ffffff",
    "output": "#fb9a99",
    "op": "#fdbf6f",
    "cost": "#cab2d6",
    "layer": "#f2f2f2",
    "layer_border": "#8c8c8c",
    "gradient": "#b2182b",
    "highlight": "#e7298a",
    "more": "#f0f0f0",
}

_KIND_TEXT = {
    "parameter": "parameter (requires grad)",
    "input": "input data",
    "target": "target y",
    "constant": "constant",
    "intermediate": "intermediate tensor",
    "output": "output (root)",
}

DIRECTIONS = ("TB", "LR", "BT", "RL")
VIEWS = ("auto", "forward", "forward+backward")

_FONT = "Helvetica"


# ------------------------------------------------------------------ building
class _Builder:
    def __init__(
        self,
        info: GraphInfo,
        *,
        show_values: bool,
        show_grads: bool,
        show_shapes: bool,
        backward_edges: bool,
        highlight: set[int],
        highlight_name: str | None,
    ) -> None:
        self.info = info
        self.show_values = show_values
        self.show_grads = show_grads
        self.show_shapes = show_shapes
        self.backward_edges = backward_edges
        self.highlight = highlight
        self.highlight_name = highlight_name
        self.is_cost = info.nodes[0].notation == "C"
        self.root_symbol = "C" if self.is_cost else (info.root.name or "out")
        self.kinds_seen: set[str] = set()
        self.ops_seen: set[str] = set()

    # -- labels ------------------------------------------------------------
    def grad_lines(self, n: TensorNode) -> list[tuple[str, str | None]]:
        """The gradient of the root with respect to ``n``, named as in the notes."""
        g = n.tensor.grad
        if not self.show_grads or g is None:
            return []
        colour, R = COLOURS["gradient"], self.root_symbol
        if n.delta is not None:
            l = superscript(n.delta)
            if self.is_cost:
                return [(f"δ{l} = ∂C/∂z{l}", colour), (grad_text(f"δ{l}", g.data), colour)]
            return [(grad_text(f"∂{R}/∂z{l}", g.data), colour)]
        if n.grad_symbol and self.is_cost:
            symbol = n.grad_symbol
        elif n.tensor.name or n.notation:
            symbol = f"∂{R}/∂{n.tensor.name or n.notation}"
        else:
            symbol = "grad"
        return [(grad_text(symbol, g.data), colour)]

    def title(self, n: TensorNode) -> str | None:
        t = n.tensor
        name, note = t.name, n.notation
        if name and note and name.lower() != note.lower():
            return f"{name} = {note}"
        if name or note:
            return name or note
        if n.kind == "output":
            return self.root_symbol
        if n.kind in ("input", "parameter"):
            return n.kind
        return None

    def tensor_label(self, n: TensorNode) -> str:
        t = n.tensor
        lines: list[tuple[str, str | None]] = []
        title = self.title(n)
        value = None
        if self.show_values or n.kind == "constant" or (n.kind == "output" and t.size == 1):
            value = values_text(t.data)
        if value and t.size == 1:
            title, value = (f"{title} {value}" if title else value.lstrip("= ")), None
        if title:
            lines.append((title, "b"))
        if value:
            lines.append((value, None))
        if self.show_shapes:
            lines.append((shape_text(t), "small"))
        lines += self.grad_lines(n)
        if not lines:
            lines.append(("tensor", None))
        return html_label(lines)

    def op_label(self, n: TensorNode) -> str:
        op = n.tensor._op
        assert op is not None
        lines: list[tuple[str, str | None]] = [(op.name, "b")]
        note = op.note or params_text(op.name, n.tensor._params)
        if note:
            lines.append((note, "small"))
        return html_label(lines)

    # -- nodes and edges ---------------------------------------------------
    def tensor_attrs(self, n: TensorNode) -> dict[str, Any]:
        self.kinds_seen.add(n.kind)
        attrs: dict[str, Any] = {
            "label": self.tensor_label(n),
            "shape": "box",
            "style": "rounded,filled" if n.kind == "parameter" else "filled",
            "fillcolor": COLOURS[n.kind],
        }
        if n.kind == "output":
            attrs["peripheries"] = 2
        if id(n.tensor) in self.highlight:
            attrs.update(color=COLOURS["highlight"], penwidth=3)
        return attrs

    def op_attrs(self, n: TensorNode) -> dict[str, Any]:
        op = n.tensor._op
        assert op is not None
        cost = is_cost(op)
        self.ops_seen.add("cost" if cost else "op")
        attrs: dict[str, Any] = {
            "label": self.op_label(n),
            "shape": "ellipse",
            "style": "filled",
            "fillcolor": COLOURS["cost" if cost else "op"],
        }
        if id(n.tensor) in self.highlight:
            attrs.update(color=COLOURS["highlight"], penwidth=3)
        return attrs

    def forward_edges(self) -> list[tuple[str, str, bool]]:
        """``(tail, head, highlighted)`` for every edge of the recorded graph drawn."""
        edges: list[tuple[str, str, bool]] = []
        info, hl = self.info, self.highlight
        for n in info.topo:
            if not n.has_op:
                continue
            on = id(n.tensor) in hl
            hidden = False
            for p in n.tensor.parents:
                pn = info.node(p)
                if pn is None:
                    hidden = True
                    continue
                edges.append((pn.id, n.op_id, on and id(p) in hl))
            if hidden:
                edges.append(("more", n.op_id, False))
            edges.append((n.op_id, n.id, on))
        return edges

    def backward_edge_list(self) -> list[tuple[str, str]]:
        edges: list[tuple[str, str]] = []
        for n in self.info.topo:
            if not n.has_op:
                continue
            for p in n.tensor.parents:
                pn = self.info.node(p)
                if pn is not None and p.requires_grad:
                    edges.append((n.op_id, pn.id))
        return edges

    def edge_line(self, tail: str, head: str, highlighted: bool, spine: bool = False) -> str:
        # Spine edges (an op's output, and a computed tensor into the next op) weigh more,
        # so dot draws the data path straight and puts parameters and constants beside it;
        # otherwise a chain of ops with a constant each drifts into a wide staircase.
        weight = " weight=4" if spine else ""
        if highlighted:
            return f'\t{tail} -> {head} [color="{COLOURS["highlight"]}" penwidth=2.5{weight}]\n'
        return f"\t{tail} -> {head} [{weight.strip()}]\n" if spine else f"\t{tail} -> {head}\n"

    def backward_line(self, tail: str, head: str) -> str:
        c = COLOURS["gradient"]
        return f'\t{tail} -> {head} [style=dashed color="{c}" arrowsize=0.6 constraint=false]\n'

    def more_line(self) -> str:
        hidden = self.info.hidden_nodes
        label = html_label(
            [
                (f"… {hidden:,} more nodes", "b"),
                ("(raise max_nodes to draw them)", "small"),
            ]
        )
        attrs = {"label": label, "shape": "note", "style": "filled,dashed", "fillcolor": COLOURS["more"]}
        return f"\tmore [{dot_attrs(attrs)}]\n"

    # -- the whole graph ----------------------------------------------------
    def cluster_open(self, layer: Layer) -> str:
        # One text run: an SVG viewer whose font is wider than Graphviz measured would
        # make separately placed bold and plain runs overlap.
        label = f"<<b>{escape(layer.title)}</b>>"
        return (
            f"\tsubgraph cluster_{layer.key} {{\n\t\tlabel={label}\n"
            f'\t\tstyle="rounded,filled" fillcolor="{COLOURS["layer"]}" '
            f'color="{COLOURS["layer_border"]}" fontname="{_FONT}" fontsize=12\n'
        )

    def full_body(self) -> list[str]:
        body: list[str] = []
        groups: dict[int | None, list[str]] = {}
        for n in self.info.topo:
            key = n.layer.key if n.layer is not None else None
            lines = groups.setdefault(key, [])
            lines.append(f"\t{n.id} [{dot_attrs(self.tensor_attrs(n))}]\n")
            if n.has_op:
                lines.append(f"\t{n.op_id} [{dot_attrs(self.op_attrs(n))}]\n")
        layers = {layer.key: layer for layer in self.info.layers.values()}
        for key, lines in groups.items():
            if key is None:
                body += lines
            else:
                body.append(self.cluster_open(layers[key]))
                body += ["\t" + line for line in lines]
                body.append("\t}\n")
        if self.info.hidden_nodes:
            body.append(self.more_line())
        spine = {i for n in self.info.topo if n.has_op for i in (n.id, n.op_id)}
        body += [self.edge_line(*e, spine=e[0] in spine) for e in self.forward_edges()]
        if self.backward_edges:
            body += [self.backward_line(*e) for e in self.backward_edge_list()]
        return body

    def collapsed_body(self) -> list[str]:
        info = self.info
        body: list[str] = []
        group_of: dict[str, str] = {}
        members: dict[int, list[TensorNode]] = {}
        for n in info.topo:
            if n.layer is not None:
                members.setdefault(n.layer.key, []).append(n)
                group_of[n.id] = group_of[n.op_id] = f"L{n.layer.key}"
            else:
                body.append(f"\t{n.id} [{dot_attrs(self.tensor_attrs(n))}]\n")
                group_of[n.id] = n.id
                if n.has_op:
                    body.append(f"\t{n.op_id} [{dot_attrs(self.op_attrs(n))}]\n")
                    group_of[n.op_id] = n.op_id
        layers = {layer.key: layer for layer in info.layers.values()}
        for key, nodes in members.items():
            attrs = {
                "label": self.layer_label(layers[key], nodes),
                "shape": "box",
                "style": "rounded,filled",
                "fillcolor": COLOURS["layer"],
                "color": COLOURS["layer_border"],
                "penwidth": 1.5,
            }
            if any(id(m.tensor) in self.highlight for m in nodes):
                attrs.update(color=COLOURS["highlight"], penwidth=3)
            body.append(f"\tL{key} [{dot_attrs(attrs)}]\n")
        if info.hidden_nodes:
            body.append(self.more_line())
            group_of["more"] = "more"
        seen: dict[tuple[str, str], bool] = {}
        for tail, head, on in self.forward_edges():
            e = (group_of[tail], group_of[head])
            if e[0] != e[1]:
                seen[e] = seen.get(e, False) or on
        body += [self.edge_line(t, h, on) for (t, h), on in seen.items()]
        if self.backward_edges:
            grad_groups = {group_of[n.id] for n in info.nodes if n.tensor.requires_grad}
            grad_groups |= {group_of[n.op_id] for n in info.nodes if n.has_op}
            body += [self.backward_line(h, t) for (t, h) in seen if t in grad_groups]
        return body

    def layer_label(self, layer: Layer, nodes: list[TensorNode]) -> str:
        lines: list[tuple[str, str | None]] = [(layer.title, "b")]
        ops = [n.tensor._op.name for n in nodes if n.tensor._op is not None]
        if ops:
            lines.append((" → ".join(ops), None))
        params = [n for n in nodes if n.kind == "parameter"]
        named = [n for n in nodes if n.notation]
        if self.show_shapes:
            shapes = [f"{p.tensor.name or 'param'} {tuple(p.tensor.shape)}" for p in params]
            shapes += [f"{n.notation} {tuple(n.tensor.shape)}" for n in named]
            for i in range(0, len(shapes), 2):
                lines.append((" · ".join(shapes[i : i + 2]), "small"))
        if self.show_values:
            lines += [(f"{n.notation} {values_text(n.tensor.data)}", None) for n in named]
        for n in named:
            lines += self.grad_lines(n)
        grads = [text for p in params for text, _ in self.grad_lines(p)]
        if grads:
            lines.append((" · ".join(grads), COLOURS["gradient"]))
        return html_label(lines)

    def legend_line(self, collapsed: bool, columns: int) -> str:
        cells: list[str] = []

        def swatch(colour: str, text: str, rounded: bool = False) -> None:
            style = ' style="rounded"' if rounded else ""
            cells.append(
                f'<td bgcolor="{colour}" width="22"{style}> </td>'
                f'<td align="left" border="0">{escape(text)}</td>'
            )

        def mark(symbol: str, colour: str, text: str) -> None:
            cells.append(
                f'<td border="0"><font color="{colour}">{escape(symbol)}</font></td>'
                f'<td align="left" border="0">{escape(text)}</td>'
            )

        for kind in ("parameter", "input", "target", "constant", "intermediate", "output"):
            if kind in self.kinds_seen:
                swatch(COLOURS[kind], _KIND_TEXT[kind], rounded=kind == "parameter")
        if "op" in self.ops_seen:
            swatch(COLOURS["op"], "op (ellipse)", rounded=True)
        if "cost" in self.ops_seen:
            swatch(COLOURS["cost"], "cost op (ellipse)", rounded=True)
        if self.info.layers:
            swatch(COLOURS["layer"], "layer l (box)" if collapsed else "layer l (cluster)")
        if self.show_grads and self.info.has_grads():
            text = "gradient after backward"
            if self.is_cost:
                text += ": δˡ = ∂C/∂zˡ"
            mark("‖g‖", COLOURS["gradient"], text)
        if self.backward_edges:
            mark("- - →", COLOURS["gradient"], "backward: gradient flow")
        if self.highlight_name:
            target = "C" if self.is_cost else "the root"
            swatch(COLOURS["highlight"], f"thick: path from {self.highlight_name} to {target}")
        if self.info.hidden_nodes:
            swatch(COLOURS["more"], "nodes left out (max_nodes)")
        rows = [
            "<tr>" + "".join(cells[i : i + columns]) + "</tr>"
            for i in range(0, len(cells), columns)
        ]
        table = (
            '<<table border="0" cellborder="1" cellspacing="3" cellpadding="2">'
            f'<tr><td colspan="{2 * columns}" border="0"><b>legend</b></td></tr>'
            + "".join(rows)
            + "</table>>"
        )
        return f"\tlegend [{dot_attrs({'label': table, 'shape': 'plaintext'})}]\n"


def _highlight_set(info: GraphInfo, highlight: Tensor | str | None) -> tuple[set[int], str | None]:
    if highlight is None:
        return set(), None
    if isinstance(highlight, str):
        matches = [n for n in info.nodes if n.tensor.name == highlight]
        if not matches:
            names = sorted({n.tensor.name for n in info.nodes if n.kind == "parameter" and n.tensor.name})
            raise ConfigError(
                f"to_graphviz: highlight={highlight!r} names no tensor drawn in this graph; "
                f"its named parameters are {', '.join(names) or 'none'}"
            )
        start = matches[0]
    elif isinstance(highlight, Tensor):
        found = info.node(highlight)
        if found is None:
            raise ConfigError(
                f"to_graphviz: the highlight tensor {highlight.name or tuple(highlight.shape)!r} "
                "is not in the drawn graph (not an input of the root, or beyond max_nodes)"
            )
        start = found
    else:
        raise ConfigError(
            f"to_graphviz: highlight must be a Tensor or a tensor name, got {type(highlight).__name__}"
        )
    on: set[int] = {id(start.tensor)}
    stack = [start]
    while stack:
        n = stack.pop()
        for c in info.consumers.get(id(n.tensor), ()):
            if id(c.tensor) not in on:
                on.add(id(c.tensor))
                stack.append(c)
    return on, start.tensor.name or "the chosen tensor"


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
        If ``backward()`` freed the graph (use ``retain_graph=True``, or draw first).
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

    info = collect(root, max_nodes)
    backward = view == "forward+backward" or (view == "auto" and info.has_grads())
    hl, hl_name = _highlight_set(info, highlight)
    b = _Builder(
        info,
        show_values=show_values,
        show_grads=show_grads and backward,
        show_shapes=show_shapes,
        backward_edges=backward,
        highlight=hl,
        highlight_name=hl_name,
    )
    body = b.collapsed_body() if collapse == "layers" else b.full_body()
    if legend:
        # Top to bottom: a column beside the graph; left to right: rows above it.
        body.append(b.legend_line(collapse == "layers", 1 if direction in ("TB", "BT") else 4))
    if title:
        body.insert(0, f"\tlabel=<<b>{escape(title)}</b>> labelloc=t fontsize=14\n")
    return Diagram(
        name="nablagraph",
        graph_attr={
            "rankdir": direction,
            "fontname": _FONT,
            "nodesep": "0.3",
            "ranksep": "0.35",
            "pad": "0.2",
        },
        node_attr={"fontname": _FONT, "fontsize": "10", "margin": "0.12,0.05"},
        edge_attr={"arrowsize": "0.7", "color": "#404040"},
        body=body,
    )


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
