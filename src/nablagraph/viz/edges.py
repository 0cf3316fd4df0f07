"""The diagram's edges: the recorded graph's forward edges and the backward view's.

Edges are found as ``(tail, head)`` pairs of DOT ids first and written as DOT lines
after, so that a collapsed diagram can merge them per layer in between.

Imports: the ``viz`` modules ``graph`` and ``style``.
"""

from __future__ import annotations

from nablagraph.viz.graph import GraphInfo
from nablagraph.viz.style import COLOURS

__all__ = ["backward_edge_list", "backward_line", "edge_line", "forward_edges"]


def forward_edges(info: GraphInfo, highlight: set[int]) -> list[tuple[str, str, bool]]:
    """``(tail, head, highlighted)`` for every edge of the recorded graph drawn.

    An op with inputs beyond ``max_nodes`` gets one edge from the ``more`` note.
    """
    edges: list[tuple[str, str, bool]] = []
    for n in info.topo:
        if not n.has_op:
            continue
        on = id(n.tensor) in highlight
        hidden = False
        for p in n.inputs:
            pn = info.node(p)
            if pn is None:
                hidden = True
                continue
            edges.append((pn.id, n.op_id, on and id(p) in highlight))
        if hidden:
            edges.append(("more", n.op_id, False))
        edges.append((n.op_id, n.id, on))
    return edges


def backward_edge_list(info: GraphInfo) -> list[tuple[str, str]]:
    """``(op, input)`` for every drawn input of an op that requires a gradient."""
    edges: list[tuple[str, str]] = []
    for n in info.topo:
        if not n.has_op:
            continue
        for p in n.inputs:
            pn = info.node(p)
            if pn is not None and p.requires_grad:
                edges.append((n.op_id, pn.id))
    return edges


def edge_line(tail: str, head: str, highlighted: bool, spine: bool = False) -> str:
    """The DOT line of a forward edge."""
    # Spine edges (an op's output, and a computed tensor into the next op) weigh more,
    # so dot draws the data path straight and puts parameters and constants beside it;
    # otherwise a chain of ops with a constant each drifts into a wide staircase.
    weight = " weight=4" if spine else ""
    if highlighted:
        return f'\t{tail} -> {head} [color="{COLOURS["highlight"]}" penwidth=2.5{weight}]\n'
    return f"\t{tail} -> {head} [{weight.strip()}]\n" if spine else f"\t{tail} -> {head}\n"


def backward_line(tail: str, head: str) -> str:
    """The DOT line of a backward edge: dashed, in the gradient colour, not ranked."""
    c = COLOURS["gradient"]
    return f'\t{tail} -> {head} [style=dashed color="{c}" arrowsize=0.6 constraint=false]\n'
