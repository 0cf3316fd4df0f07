"""``to_graphviz(highlight=...)``: the tensors on the paths from one tensor to the root.

Imports: ``tensor``, ``errors`` and the ``viz`` module ``graph``.
"""

from __future__ import annotations

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError
from nablagraph.viz.graph import GraphInfo, TensorNode

__all__ = ["highlight_set"]


def _start(info: GraphInfo, highlight: Tensor | str) -> TensorNode:
    """The drawn node ``highlight`` names (a tensor, or a tensor's name)."""
    if isinstance(highlight, str):
        matches = [n for n in info.nodes if n.tensor.name == highlight]
        if not matches:
            names = sorted({n.tensor.name for n in info.nodes if n.kind == "parameter" and n.tensor.name})
            raise ConfigError(
                f"to_graphviz: highlight={highlight!r} names no tensor drawn in this graph; "
                f"its named parameters are {', '.join(names) or 'none'}"
            )
        return matches[0]
    if isinstance(highlight, Tensor):
        found = info.node(highlight)
        if found is None:
            raise ConfigError(
                f"to_graphviz: the highlight tensor {highlight.name or tuple(highlight.shape)!r} "
                "is not in the drawn graph (not an input of the root, or beyond max_nodes)"
            )
        return found
    raise ConfigError(
        f"to_graphviz: highlight must be a Tensor or a tensor name, got {type(highlight).__name__}"
    )


def _downstream(info: GraphInfo, start: TensorNode) -> set[int]:
    """``id()`` of ``start``'s tensor and of every drawn tensor computed from it."""
    on: set[int] = {id(start.tensor)}
    stack = [start]
    while stack:
        n = stack.pop()
        for c in info.consumers.get(id(n.tensor), ()):
            if id(c.tensor) not in on:
                on.add(id(c.tensor))
                stack.append(c)
    return on


def highlight_set(info: GraphInfo, highlight: Tensor | str | None) -> tuple[set[int], str | None]:
    """The tensors to draw thick (by ``id()``) and the name the legend gives their start.

    Raises
    ------
    ConfigError
        If ``highlight`` names no drawn tensor, or is neither a tensor nor a name.
    """
    if highlight is None:
        return set(), None
    start = _start(info, highlight)
    return _downstream(info, start), start.tensor.name or "the chosen tensor"
