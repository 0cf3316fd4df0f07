"""The legend drawn in every diagram: one entry per kind of node and mark it shows.

Only what the diagram draws is listed (the kinds a :class:`NodeDrawer` met, the
gradients, backward edges, highlight and ``… N more`` note when present), in a table
of ``columns`` entries a row.

Imports: the ``viz`` modules ``labels``, ``nodes`` and ``style``.
"""

from __future__ import annotations

from nablagraph.viz.labels import dot_attrs, escape
from nablagraph.viz.nodes import NodeDrawer
from nablagraph.viz.style import COLOURS, KIND_TEXT

__all__ = ["FREED_TEXT", "legend_line"]

#: The legend's entry for the dashed boxes of tensors ``backward()`` freed.
FREED_TEXT = "dashed: freed by backward(), values not kept"


def _swatch(colour: str, text: str, rounded: bool = False, dashed: bool = False) -> str:
    style = ' style="rounded"' if rounded else ' style="dashed"' if dashed else ""
    return (
        f'<td bgcolor="{colour}" width="22"{style}> </td>'
        f'<td align="left" border="0">{escape(text)}</td>'
    )


def _mark(symbol: str, colour: str, text: str) -> str:
    return (
        f'<td border="0"><font color="{colour}">{escape(symbol)}</font></td>'
        f'<td align="left" border="0">{escape(text)}</td>'
    )


def _node_cells(nodes: NodeDrawer, collapsed: bool) -> list[str]:
    """The swatches of the tensor kinds, ops and layers drawn."""
    cells = [
        _swatch(COLOURS[kind], text, rounded=kind == "parameter")
        for kind, text in KIND_TEXT.items()
        if kind in nodes.kinds_seen
    ]
    if "op" in nodes.ops_seen:
        cells.append(_swatch(COLOURS["op"], "op (ellipse)", rounded=True))
    if "cost" in nodes.ops_seen:
        cells.append(_swatch(COLOURS["cost"], "cost op (ellipse)", rounded=True))
    if nodes.info.layers:
        cells.append(_swatch(COLOURS["layer"], "layer l (box)" if collapsed else "layer l (cluster)"))
    if "freed" in nodes.kinds_seen:
        cells.append(_swatch(COLOURS["intermediate"], FREED_TEXT, dashed=True))
    return cells


def _mark_cells(nodes: NodeDrawer, backward_edges: bool, highlight_name: str | None) -> list[str]:
    """The entries of gradients, backward edges, the highlight and the ``more`` note."""
    cells: list[str] = []
    if nodes.show_grads and nodes.info.has_grads():
        text = "gradient after backward"
        if nodes.is_cost:
            text += ": δˡ = ∂C/∂zˡ"
        cells.append(_mark("‖g‖", COLOURS["gradient"], text))
    if backward_edges:
        cells.append(_mark("- - →", COLOURS["gradient"], "backward: gradient flow"))
    if highlight_name:
        target = "C" if nodes.is_cost else "the root"
        cells.append(_swatch(COLOURS["highlight"], f"thick: path from {highlight_name} to {target}"))
    if nodes.info.hidden_nodes:
        cells.append(_swatch(COLOURS["more"], "nodes left out (max_nodes)"))
    return cells


def legend_line(
    nodes: NodeDrawer,
    *,
    collapsed: bool,
    columns: int,
    backward_edges: bool,
    highlight_name: str | None,
) -> str:
    """The DOT line of the legend node, for the nodes ``nodes`` drew (draw them first).

    Parameters
    ----------
    nodes : NodeDrawer
        The drawer of the diagram's nodes, after it drew them.
    collapsed : bool
        Whether layers are boxes (``collapse="layers"``) rather than clusters.
    columns : int
        Entries per row: 1 beside a top-to-bottom diagram, 4 above a left-to-right one.
    backward_edges : bool
        Whether the diagram draws the backward view's dashed edges.
    highlight_name : str, optional
        The name of the highlighted tensor, if any.
    """
    cells = _node_cells(nodes, collapsed) + _mark_cells(nodes, backward_edges, highlight_name)
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
