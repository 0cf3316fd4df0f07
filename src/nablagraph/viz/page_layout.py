"""A layered layout for the interactive graph page, fast enough for 10,000 nodes.

Graphviz lays out a graph of 1,000 tensors in seconds but one of 10,000 in minutes
(``docs/rendering.md`` has the figures), so the page lays its graph out itself, in
the classic three steps of a layered (Sugiyama) drawing, each linear in the number
of edges per sweep:

1. **Ranks** by longest path from the root: ``rank(root) = 0`` and a tensor sits one
   rank above its highest consumer, ``rank(p) = max over consumers c of rank(c) + 1``,
   so every edge points down and a parameter sits just above the op that uses it; an
   edge into or out of a layer spans two ranks, so that layers' boxes never share a row.
   The root is drawn at the bottom, the inputs at the top (as in the diagrams).
2. **Order** within a rank by barycentres: a few sweeps up and down, each placing a
   node at the mean position of its neighbours (consumers on the way up, inputs on
   the way down), which untangles most crossings.
3. **Coordinates**: each node at its barycentre, pushed right just enough not to
   overlap its left neighbour, then the rank is centred.

Imports: the ``viz`` module ``graph`` only.
"""

from __future__ import annotations

from nablagraph.viz.graph import GraphInfo

__all__ = ["GAP", "ROW", "layout"]

#: Vertical distance between ranks and horizontal gap between boxes, in page units (px
#: at zoom 1).
ROW = 96
GAP = 18


def _ranks(info: GraphInfo, index: dict[int, int]) -> list[int]:
    """Longest-path rank from the root of every node (root 0)."""
    rank = [0] * len(info.nodes)
    for n in reversed(info.topo):  # consumers before their inputs
        r = rank[index[id(n.tensor)]]
        for p in n.inputs:
            j = index.get(id(p))
            if j is None:
                continue
            # An edge into or out of a layer spans two ranks, so that no row holds the
            # nodes of two layers and the layers' boxes do not overlap.
            layer = info.nodes[j].layer
            step = 2 if layer is not n.layer and (layer is not None or n.layer is not None) else 1
            if rank[j] < r + step:
                rank[j] = r + step
    return rank


def _sweep(rows: list[list[int]], x: list[float], widths: list[float],
           neighbours: list[list[int]], order: range, leaf: list[bool]) -> None:
    """One barycentre sweep over the ranks in ``order``: sort, then place."""
    for r in order:
        row = rows[r]
        bary = {}
        for i in row:
            ns = neighbours[i]
            bary[i] = sum(x[j] for j in ns) / len(ns) if ns else x[i]
        row.sort(key=bary.__getitem__)
        rows[r] = row = _centre_ties(row, bary, leaf)
        _place(row, bary, x, widths)


def _centre_ties(row: list[int], bary: dict[int, float], leaf: list[bool]) -> list[int]:
    """Among nodes that want the same place (``W``, ``b`` and the edge from ``aˡ⁻¹``,
    all feeding ``zˡ``), put the leaves on both sides and the rest in the middle, so
    that a chain of layers runs straight down instead of drifting sideways."""
    out: list[int] = []
    k = 0
    while k < len(row):
        end = k + 1
        while end < len(row) and bary[row[end]] == bary[row[k]]:
            end += 1
        group = row[k:end]
        leaves = [i for i in group if leaf[i]]
        if len(group) > 1 and leaves:
            others = [i for i in group if not leaf[i]]
            group = leaves[0::2] + others + leaves[1::2]
        out += group
        k = end
    return out


def _place(row: list[int], want: dict[int, float], x: list[float], widths: list[float]) -> None:
    """Put each node of ``row`` (in order) at its wanted x, without overlaps, centred
    on the mean of the wanted positions."""
    if not row:
        return
    left = -1e18
    for i in row:
        half = widths[i] / 2
        x[i] = max(want[i], left + half)
        left = x[i] + half + GAP
    shift = sum(want[i] for i in row) / len(row) - sum(x[i] for i in row) / len(row)
    for i in row:
        x[i] += shift


def layout(info: GraphInfo, widths: list[float], sweeps: int = 4
           ) -> tuple[list[float], list[float], list[list[list[float]]]]:
    """Centres ``(x, y)`` of ``info.nodes`` (in their order) for boxes ``widths`` wide.

    An edge spanning several ranks goes through a thin virtual node in each rank it
    crosses (its bends), so that it is ordered like a node and no box sits on it.

    Parameters
    ----------
    info : GraphInfo
        The graph read by :func:`~nablagraph.viz.graph.collect` (every node drawn).
    widths : list of float
        The width of each node's box.
    sweeps : int
        Barycentre sweeps (each one up and one down).

    Returns
    -------
    x, y : list of float
        The centre of each box; ``y`` grows downwards and the root is lowest.
    bends : list of list of list of float
        For node ``i``, one list per input (in the order of its parents that are
        drawn): the bends ``[x0, y0, x1, y1, …]`` of the edge from that input, from the
        input down to node ``i`` (empty for an edge between adjacent ranks).
    """
    index = {id(n.tensor): i for i, n in enumerate(info.nodes)}
    rank = _ranks(info, index)
    depth = max(rank) if rank else 0
    real = len(info.nodes)
    width = list(widths)
    rows: list[list[int]] = [[] for _ in range(depth + 1)]
    for i in range(real):  # breadth-first order: a sensible first guess
        rows[rank[i]].append(i)
    inputs: list[list[int]] = [[] for _ in range(real)]
    consumers: list[list[int]] = [[] for _ in range(real)]
    chains: list[list[list[int]]] = [[] for _ in range(real)]
    for i, n in enumerate(info.nodes):
        for p in n.inputs:
            j = index.get(id(p))
            if j is None:
                continue
            chain = []
            below = i
            for r in range(rank[i] + 1, rank[j]):  # a virtual node in each rank crossed
                d = len(width)
                width.append(8.0)
                rank.append(r)
                rows[r].append(d)
                inputs.append([])
                consumers.append([below])
                inputs[below].append(d)
                chain.append(d)
                below = d
            inputs[below].append(j)
            consumers[j].append(below)
            chains[i].append(chain)
    x = [0.0] * len(width)
    for row in rows:
        _place(row, {i: 0.0 for i in row}, x, width)
    leaf = [i < real and not inputs[i] for i in range(len(width))]
    for _ in range(sweeps):
        _sweep(rows, x, width, consumers, range(1, depth + 1), leaf)  # away from the root
        _sweep(rows, x, width, inputs, range(depth - 1, -1, -1), leaf)  # back towards it
    y = [float((depth - r) * ROW) for r in rank]
    bends = [[[v for d in reversed(chain) for v in (round(x[d], 1), y[d])] for chain in chains[i]]
             for i in range(real)]
    return x[:real], y[:real], bends
