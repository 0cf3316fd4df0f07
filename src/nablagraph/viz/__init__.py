"""Diagrams of the recorded graph: DOT, SVG, PNG, PDF and Jupyter display.

>>> from nablagraph.viz import to_graphviz, to_dot, render, draw_network

* :func:`to_graphviz` / :func:`to_dot` draw the graph below any tensor (the cost,
  usually) as a ``graphviz.Digraph`` or DOT text.  The walk is iterative, so a
  100,000-op chain is fine; ``max_nodes`` keeps the nodes nearest the root and
  draws one ``… N more nodes`` node for the rest.
* :func:`render` writes ``.dot``, ``.svg``, ``.png`` or ``.pdf``.  DOT needs no
  program; the others use the system Graphviz ``dot`` when installed, else the PyPI
  package ``graphviz-pure`` (SVG and PNG).  Without either, a
  :class:`RendererError` says what to install.  A PNG keeps to a pixel budget
  (:data:`MAX_PIXELS`): it is laid out first, drawn at a lower dpi when too big, and
  refused with :class:`RasterTooLargeError` (or, for a tensor, cut to the nodes
  nearest the root) rather than take the machine's memory.
* :func:`draw_network` runs a network forward and backward on a batch and draws its
  cost's graph with the notes' labels, in one call.
* Diagrams display as SVG in Jupyter; a tensor with a recorded graph shows its
  values above its graph, kept to a readable height (:mod:`nablagraph.viz.notebook`).

The legend
----------
Every diagram draws its legend; the colours (:data:`COLOURS`) are:

==========================  ==========================================================
box, light blue, rounded    parameter: a leaf with ``requires_grad`` (``W2``, ``b2``)
box, light green            input data (``X = a¹``: the first input of layer 2)
box, yellow                 target ``y`` (a cost op's second input)
box, grey                   constant (a one-element leaf; its value is shown)
box, white                  intermediate tensor (``zˡ``, ``aˡ`` where they apply)
box, pink, double border    the root (``C`` when it is a cost)
ellipse, orange             op (``linear``, ``sigmoid``, ``mul`` …)
ellipse, lavender           cost op (``quadratic_cost``, ``cross_entropy`` …)
grey rounded cluster        a ``Dense`` layer, titled ``layer l · n_in → n_out · σ``
dark red text               gradient after backward: ``‖g‖`` (the norm) or the value
                            of a one-element gradient; ``δˡ = ∂C/∂zˡ`` on ``zˡ``
                            (kept with ``z.retain_grad()``), ``‖∇W²‖`` on parameters
dashed dark red edge        backward view: the gradient flows from an op back to an
                            input that requires one
thick magenta               ``highlight=``: the paths from a tensor to the root
grey note                   ``… N more nodes`` left out by ``max_nodes``
dashed border               freed by ``backward()``: shape, op, layer and gradient
                            kept, values not (``show_values`` says so)
==========================  ==========================================================

Drawing reads the graph and changes nothing.  ``backward()`` frees the graph's arrays
unless ``retain_graph=True`` but keeps its shape when the tensor it ran on is held
(:mod:`nablagraph.skeleton`), so ``C.backward(); render(C, "g.svg")`` draws the graph
with its gradients.  Drawing below a tensor freed by the backward of a temporary
(``net.cost(X, Y).backward()``) raises :class:`~nablagraph.GraphError`.

Imports: ``tensor``, ``skeleton``, ``ops`` names, ``errors``, the ``graphviz`` package;
``nn`` is duck-typed, never imported.
"""

from nablagraph.viz.diagram import Diagram
from nablagraph.viz.dot import COLOURS, DIRECTIONS, VIEWS, to_dot, to_graphviz
from nablagraph.viz.export import FORMATS, render, tensor_mimebundle, write_source
from nablagraph.viz.graph import COST_OPS, GraphInfo, collect
from nablagraph.viz.network import draw_network
from nablagraph.viz.page import GraphPage, network_page, page
from nablagraph.viz.renderer import (
    MAX_PIXELS,
    RasterTooLargeError,
    Renderer,
    RendererError,
    find_renderer,
    pipe,
)

__all__ = [
    "to_graphviz", "to_dot", "render", "draw_network", "Diagram",
    "page", "network_page", "GraphPage",
    "find_renderer", "Renderer", "RendererError", "RasterTooLargeError", "MAX_PIXELS", "pipe",
    "write_source",
    "collect", "GraphInfo", "tensor_mimebundle",
    "COLOURS", "COST_OPS", "DIRECTIONS", "VIEWS", "FORMATS",
]
