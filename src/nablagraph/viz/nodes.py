"""The diagram's nodes as DOT lines: tensors (boxes), ops (ellipses), layers, the rest.

A :class:`NodeDrawer` holds the drawing options and writes each node's label and
attributes; it remembers which kinds of node it drew, so that the legend lists those
only.  In a collapsed diagram (``collapse="layers"``) a layer is one box summarising
its ops, shapes and gradients (:meth:`NodeDrawer.layer_line`).

A tensor that ``backward()`` freed (:attr:`TensorNode.freed`) is drawn with a dashed
border: its shape, op, layer and gradient are known, its values are not, and the
legend says so.

Imports: ``skeleton`` and the ``viz`` modules ``graph``, ``labels`` and ``style``.
"""

from __future__ import annotations

from typing import Any

from nablagraph.skeleton import values_freed
from nablagraph.viz.graph import GraphInfo, Layer, TensorNode, is_cost, superscript
from nablagraph.viz.labels import (
    dot_attrs,
    escape,
    grad_text,
    html_label,
    params_text,
    shape_text,
    values_text,
)
from nablagraph.viz.style import COLOURS, FONT

__all__ = ["FREED_VALUES", "Lines", "NodeDrawer", "cluster_open", "more_line"]

#: What a freed tensor's box says instead of its values (``show_values=True``).
FREED_VALUES = "values freed by backward()"

#: The lines of an HTML-like label: ``(text, style)``, style ``b``, ``small`` or a colour.
Lines = list[tuple[str, str | None]]


class NodeDrawer:
    """Labels and attributes of the nodes of one diagram, and the kinds drawn so far.

    Parameters
    ----------
    info : GraphInfo
        The graph read by :func:`~nablagraph.viz.graph.collect`.
    show_values, show_grads, show_shapes : bool
        As in :func:`~nablagraph.viz.to_graphviz` (``show_grads`` already off in the
        forward view).
    highlight : set of int
        ``id()`` of the tensors on the highlighted paths.
    """

    def __init__(
        self,
        info: GraphInfo,
        *,
        show_values: bool,
        show_grads: bool,
        show_shapes: bool,
        highlight: set[int],
    ) -> None:
        self.info = info
        self.show_values = show_values
        self.show_grads = show_grads
        self.show_shapes = show_shapes
        self.highlight = highlight
        self.is_cost = info.nodes[0].notation == "C"
        self.root_symbol = "C" if self.is_cost else (info.root.name or "out")
        #: Tensor kinds drawn, and ``"op"``/``"cost"`` for the ops drawn: the legend's entries.
        self.kinds_seen: set[str] = set()
        self.ops_seen: set[str] = set()

    # -- labels ------------------------------------------------------------
    def grad_lines(self, n: TensorNode) -> Lines:
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
        """The bold first line of a tensor's box: its name and the notes' name for it."""
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

    def title_lines(self, n: TensorNode) -> Lines:
        """The title and, where shown, the value; a one-element value joins the title."""
        t = n.tensor
        title = self.title(n)
        if values_freed(t):  # its values went with backward()
            lines: Lines = [(title, "b")] if title else []
            return lines + [(FREED_VALUES, "small")] if self.show_values else lines
        value = None
        if self.show_values or n.kind == "constant" or (n.kind == "output" and t.size == 1):
            value = values_text(t.data)
        if value and t.size == 1:
            title, value = (f"{title} {value}" if title else value.lstrip("= ")), None
        lines = []
        if title:
            lines.append((title, "b"))
        if value:
            lines.append((value, None))
        return lines

    def tensor_label(self, n: TensorNode) -> str:
        """A tensor's box: title (and value), shape and dtype, gradient."""
        lines = self.title_lines(n)
        if self.show_shapes:
            lines.append((shape_text(n.tensor), "small"))
        lines += self.grad_lines(n)
        if not lines:
            lines.append(("tensor", None))
        return html_label(lines)

    def op_label(self, n: TensorNode) -> str:
        """An op's ellipse: its name and its note (the registry's) or its parameters."""
        op = n.tensor._op
        assert op is not None
        lines: Lines = [(op.name, "b")]
        note = op.note or params_text(op.name, n.tensor._params)
        if note:
            lines.append((note, "small"))
        return html_label(lines)

    # -- nodes ---------------------------------------------------------------
    def tensor_attrs(self, n: TensorNode) -> dict[str, Any]:
        self.kinds_seen.add(n.kind)
        style = "rounded,filled" if n.kind == "parameter" else "filled"
        if n.freed:
            self.kinds_seen.add("freed")
            style += ",dashed"
        attrs: dict[str, Any] = {
            "label": self.tensor_label(n),
            "shape": "box",
            "style": style,
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

    def tensor_line(self, n: TensorNode) -> str:
        """The DOT line of ``n``'s box."""
        return f"\t{n.id} [{dot_attrs(self.tensor_attrs(n))}]\n"

    def op_line(self, n: TensorNode) -> str:
        """The DOT line of the ellipse of the op that produced ``n``."""
        return f"\t{n.op_id} [{dot_attrs(self.op_attrs(n))}]\n"

    # -- a layer as one box (collapse="layers") ------------------------------
    def layer_shape_lines(self, params: list[TensorNode], named: list[TensorNode]) -> Lines:
        """The shapes of a layer's parameters and named tensors, two to a line."""
        if not self.show_shapes:
            return []
        shapes = [f"{p.tensor.name or 'param'} {tuple(p.tensor.shape)}" for p in params]
        shapes += [f"{n.notation} {tuple(n.tensor.shape)}" for n in named]
        return [(" · ".join(shapes[i : i + 2]), "small") for i in range(0, len(shapes), 2)]

    def layer_grad_lines(self, params: list[TensorNode], named: list[TensorNode]) -> Lines:
        """The gradients of a layer's named tensors, then its parameters' on one line."""
        lines: Lines = []
        for n in named:
            lines += self.grad_lines(n)
        grads = [text for p in params for text, _ in self.grad_lines(p)]
        if grads:
            lines.append((" · ".join(grads), COLOURS["gradient"]))
        return lines

    def layer_label(self, layer: Layer, nodes: list[TensorNode]) -> str:
        """A layer's box: title, its ops, shapes, values (if shown) and gradients."""
        lines: Lines = [(layer.title, "b")]
        ops = [n.tensor._op.name for n in nodes if n.tensor._op is not None]
        if ops:
            lines.append((" → ".join(ops), None))
        params = [n for n in nodes if n.kind == "parameter"]
        named = [n for n in nodes if n.notation]
        lines += self.layer_shape_lines(params, named)
        if self.show_values:
            lines += [(f"{n.notation} {_values(n)}", None) for n in named]
        lines += self.layer_grad_lines(params, named)
        return html_label(lines)

    def layer_line(self, layer: Layer, nodes: list[TensorNode]) -> str:
        """The DOT line of a layer drawn as one box (``L<key>``)."""
        attrs: dict[str, Any] = {
            "label": self.layer_label(layer, nodes),
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": COLOURS["layer"],
            "color": COLOURS["layer_border"],
            "penwidth": 1.5,
        }
        if any(id(m.tensor) in self.highlight for m in nodes):
            attrs.update(color=COLOURS["highlight"], penwidth=3)
        return f"\tL{layer.key} [{dot_attrs(attrs)}]\n"


def _values(n: TensorNode) -> str:
    """The values of ``n``'s tensor as a label shows them, or that backward freed them."""
    t = n.tensor
    return FREED_VALUES if values_freed(t) else values_text(t.data)


def more_line(hidden: int) -> str:
    """The ``… N more nodes`` note standing for the nodes ``max_nodes`` left out."""
    label = html_label(
        [
            (f"… {hidden:,} more nodes", "b"),
            ("(raise max_nodes to draw them)", "small"),
        ]
    )
    attrs = {"label": label, "shape": "note", "style": "filled,dashed", "fillcolor": COLOURS["more"]}
    return f"\tmore [{dot_attrs(attrs)}]\n"


def cluster_open(layer: Layer) -> str:
    """The opening lines of a layer's cluster (closed by ``"\\t}\\n"``)."""
    # One text run: an SVG viewer whose font is wider than Graphviz measured would
    # make separately placed bold and plain runs overlap.
    label = f"<<b>{escape(layer.title)}</b>>"
    return (
        f"\tsubgraph cluster_{layer.key} {{\n\t\tlabel={label}\n"
        f'\t\tstyle="rounded,filled" fillcolor="{COLOURS["layer"]}" '
        f'color="{COLOURS["layer_border"]}" fontname="{FONT}" fontsize=12\n'
    )
