"""What Jupyter shows for a tensor: its values above its graph, kept to a readable size.

:func:`~nablagraph.viz.tensor_mimebundle` (``Tensor._repr_mimebundle_``) uses
:func:`tensor_html`: a header (name, shape, dtype, op), the values as NumPy prints them
(long tensors cut to their first and last entries, with a summary), then the graph as
inline SVG.  The graph is laid out by :func:`display_svg` within
:data:`DISPLAY_MAX_HEIGHT` points: top to bottom when it fits, else left to right when
that fits :data:`DISPLAY_MAX_WIDTH`, else, for a network, with one box per layer, else
top to bottom with only the nodes nearest the output (a ``… N more nodes`` box stands for the rest, and the header says how to draw
them all).  A 200-op chain was a single image 8,600 px tall; it is now at most
:data:`DISPLAY_MAX_HEIGHT` points (1,333 px at 96 dpi).

Imports: ``tensor``, ``errors`` and the ``viz`` modules ``dot``, ``graph`` and ``renderer``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, DTypeError
from nablagraph.viz.dot import to_graphviz
from nablagraph.viz.graph import collect
from nablagraph.viz.renderer import pipe

__all__ = ["DISPLAY_MAX_HEIGHT", "DISPLAY_MAX_NODES", "DISPLAY_MAX_WIDTH", "DisplayGraph",
           "display_svg", "tensor_html", "values_html"]

#: How many nodes a tensor's display draws at most.
DISPLAY_MAX_NODES = 150
#: The tallest graph a tensor's display draws, in points (1,333 px at 96 dpi).
DISPLAY_MAX_HEIGHT = 1000.0
#: The widest left-to-right layout it takes instead of cutting the graph, in points.
DISPLAY_MAX_WIDTH = 1200.0
#: The most entries the values preview prints in full; longer tensors are cut.
PREVIEW_MAX_ENTRIES = 100

_SIZE = re.compile(r'<svg[^>]*?\swidth="([\d.]+)pt"[^>]*?\sheight="([\d.]+)pt"', re.S)


@dataclass(frozen=True)
class DisplayGraph:
    """The graph as a tensor's display draws it.

    Attributes
    ----------
    svg : str
        The SVG element (no XML prolog), ready to inline in HTML.
    width, height : float
        Its size in points (1/72 inch; ``× 96/72`` for CSS pixels).
    direction : str
        ``"TB"`` (top to bottom) or ``"LR"`` (left to right).
    drawn, total : int
        Tensor and op nodes drawn, and in the whole graph.
    collapsed : bool
        Whether each ``Dense`` layer is drawn as one box (``collapse="layers"``).
    """

    svg: str
    width: float
    height: float
    direction: str
    drawn: int
    total: int
    collapsed: bool = False


def _svg_of(root: Tensor, direction: str, max_nodes: int,
            collapse: str | None = None) -> tuple[str, float, float]:
    drawing = to_graphviz(root, direction=direction, max_nodes=max_nodes, collapse=collapse)
    svg = pipe(drawing.source, "svg").decode("utf-8")
    m = _SIZE.search(svg)
    width, height = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
    return svg[svg.find("<svg"):], width, height


def display_svg(root: Tensor, max_height: float = DISPLAY_MAX_HEIGHT,
                max_width: float = DISPLAY_MAX_WIDTH) -> DisplayGraph:
    """Lay out the graph below ``root`` to fit ``max_height`` points (see the module).

    Tries, in order: top to bottom with up to :data:`DISPLAY_MAX_NODES` nodes; left to
    right, if that is at most ``max_height`` tall and ``max_width`` wide; for a network,
    one box per ``Dense`` layer (``collapse="layers"``); top to bottom with fewer nodes, those nearest ``root``: a graph of height :math:`h` drawn with
    :math:`n` nodes is drawn again with about :math:`0.95\\, n\\, H / h` (:math:`H` =
    ``max_height``), until it fits or is down to 3 nodes.

    Parameters
    ----------
    root : Tensor
        A tensor with a recorded graph.
    max_height : float
        The tallest drawing taken, in points (1/72 inch).
    max_width : float
        The widest left-to-right drawing taken instead of cutting the graph, in points.

    Returns
    -------
    DisplayGraph
        The SVG, its size, the direction and how many nodes it draws.

    Raises
    ------
    DTypeError
        If ``root`` is not a Tensor.
    ConfigError
        If ``max_height`` or ``max_width`` is not a positive number.
    RendererError
        If no Graphviz program is installed, or it fails.
    """
    if not isinstance(root, Tensor):
        raise DTypeError(f"display_svg: expected a Tensor, got {type(root).__name__}")
    for name, value in (("max_height", max_height), ("max_width", max_width)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"display_svg: {name} must be a positive number of points, got {value!r}")
    info = collect(root, DISPLAY_MAX_NODES)
    total = info.total_nodes
    drawn = min(total, DISPLAY_MAX_NODES)
    svg, width, height = _svg_of(root, "TB", drawn)
    if height <= max_height:
        return DisplayGraph(svg, width, height, "TB", drawn, total)
    lr_svg, lr_width, lr_height = _svg_of(root, "LR", drawn)
    if lr_height <= max_height and lr_width <= max_width:
        return DisplayGraph(lr_svg, lr_width, lr_height, "LR", drawn, total)
    if info.layers:  # a deep network: one box per layer
        c_svg, c_width, c_height = _svg_of(root, "TB", drawn, collapse="layers")
        if c_height <= max_height:
            return DisplayGraph(c_svg, c_width, c_height, "TB", drawn, total, collapsed=True)
    for _ in range(6):  # node heights vary a little: shrink by the ratio until it fits
        if height <= max_height or drawn <= 3:
            break
        drawn = max(3, min(drawn - 1, int(drawn * max_height / height * 0.95)))
        svg, width, height = _svg_of(root, "TB", drawn)
    return DisplayGraph(svg, width, height, "TB", drawn, total)


def values_html(t: Tensor) -> str:
    """The values of ``t`` as HTML: NumPy's print-out, cut when long, and a summary.

    Up to :data:`PREVIEW_MAX_ENTRIES` entries print in full (4 digits); a longer tensor
    shows its first and last three along each axis.  Numeric tensors of more than one
    entry add ``min``, ``mean`` :math:`= \\frac1n \\sum_i t_i` and ``max`` of the finite
    entries, and the count of non-finite ones.

    Parameters
    ----------
    t : Tensor
        Any tensor (its graph is not read).

    Returns
    -------
    str
        A ``<pre>`` block of the values, then the summary line when there is one.
    """
    data = t.data
    text = np.array2string(data, precision=4, threshold=PREVIEW_MAX_ENTRIES, edgeitems=3,
                           separator=", ", max_line_width=100)
    parts = [f"<pre style=\"margin:0.2em 0\">{html.escape(text)}</pre>"]
    if data.size > 1 and data.dtype.kind in "fiu":
        finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
        bad = data.size - finite.size
        summary = (f"min {finite.min():.4g} · mean {finite.mean():.4g} · max {finite.max():.4g}"
                   if finite.size else "no finite entry")
        if bad:
            summary += f" · {bad} non-finite"
        parts.append(f"<div style=\"color:#555\">{html.escape(summary)}</div>")
    return "".join(parts)


def _header(t: Tensor) -> str:
    bits = [f"name {t.name!r}"] if t.name else []
    bits += [f"shape {t.shape}", str(t.dtype)]
    if t._op is not None:
        bits.append(f"op {t._op.name}")
    return f"<b>Tensor</b> {html.escape(' · '.join(bits))}"


def tensor_html(t: Tensor, graph: DisplayGraph | None) -> str:
    """The HTML display of ``t``: header, values (:func:`values_html`), then ``graph``.

    Parameters
    ----------
    t : Tensor
        The tensor shown.
    graph : DisplayGraph or None
        Its graph from :func:`display_svg`, or ``None`` for the values alone.

    Returns
    -------
    str
        One ``<div>``: the header (name, shape, dtype, op), the values, a line saying how
        many nodes the graph left out (if any) and the inline SVG.
    """
    body = [f"<div>{_header(t)}</div>", values_html(t)]
    if graph is not None:
        if graph.collapsed:
            body.append(
                "<div style=\"color:#555\">graph: one box per layer; <code>nablagraph.viz."
                "render(t, \"graph.svg\")</code> draws every op</div>"
            )
        elif graph.drawn < graph.total:
            body.append(
                f"<div style=\"color:#555\">graph: the {graph.drawn} nodes nearest the output "
                f"of {graph.total:,}; <code>nablagraph.viz.render(t, \"graph.svg\")</code> "
                "draws them all</div>"
            )
        body.append(f"<div style=\"overflow-x:auto\">{graph.svg}</div>")
    return ("<div class=\"nablagraph-tensor\" style=\"font-family:monospace,monospace;"
            f"font-size:12px\">{''.join(body)}</div>")
