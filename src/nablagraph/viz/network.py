"""``draw_network``: the training graph of a network's cost, drawn in one call.

The model is duck-typed (``forward_trace``, ``cost_from_trace``, ``parameters``:
a :class:`nablagraph.nn.Network`), so this module does not import ``nn``.

Imports: ``tensor``, ``errors`` and the other ``viz`` modules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph._tensor import ArrayLike, Tensor
from nablagraph.errors import ConfigError
from nablagraph.viz.diagram import Diagram
from nablagraph.viz.dot import to_graphviz

__all__ = ["draw_network"]


def _named(x: ArrayLike, name: str, dtype: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f" or (arr.dtype.kind in "biu" and name == "X"):
        arr = arr.astype(dtype, copy=False)
    return Tensor(arr, name=name)


def _check_model(model: Any) -> None:
    """A :class:`ConfigError` unless ``model`` has the methods of a ``Network`` used here."""
    for method in ("forward_trace", "cost_from_trace", "parameters"):
        if not callable(getattr(model, method, None)):
            raise ConfigError(
                f"draw_network: expected a nablagraph.nn.Network (with forward_trace and "
                f"cost_from_trace), got {type(model).__name__} without {method}(); for "
                "another model compute its cost C, call C.backward(retain_graph=True) and "
                "draw it with viz.to_graphviz(C)"
            )


def _title(model: Any, M: int) -> str:
    """``network [2, 3, 1] · quadratic cost · batch of M = 4``."""
    sizes = getattr(model, "sizes", None)
    cost = getattr(model, "cost_name", None)
    parts = [f"network {list(sizes)}" if sizes else type(model).__name__]
    if cost:
        parts.append(f"{cost} cost")
    parts.append(f"batch of M = {M}")
    return " · ".join(parts)


def draw_network(
    model: Any,
    X: ArrayLike,
    Y: ArrayLike,
    *,
    backward: bool = True,
    **options: Any,
) -> Diagram:
    """Run the network on ``(X, Y)`` and draw the graph of its cost ``C``.

    Runs the forward pass keeping every ``zˡ``'s gradient, then (with ``backward=True``)
    ``C.backward(retain_graph=True)``, and draws the graph with the notes' labels:
    ``X = a¹``, ``zˡ``, ``aˡ``, ``δˡ = ∂C/∂zˡ``, ``‖∇Wˡ‖``, ``C``.  The parameters'
    ``.grad`` are put back as they were afterwards, so calling this in the middle of
    training changes nothing.

    Parameters
    ----------
    model : nablagraph.nn.Network
        The network.
    X : array_like, shape (M, n_1)
        A batch of inputs (rows are examples).
    Y : array_like
        Its targets.
    backward : bool
        Also run backward and show the gradients (the forward graph alone otherwise).
    **options
        Options of :func:`~nablagraph.viz.to_graphviz` (``collapse="layers"``,
        ``highlight="W2"``, ``direction="LR"`` …).

    Returns
    -------
    Diagram

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> from nablagraph.viz import draw_network
    >>> net = ng.nn.Network([2, 3, 1], seed=0)
    >>> d = draw_network(net, np.zeros((4, 2)), np.ones((4, 1)))
    >>> "δ² = ∂C/∂z²" in d.source and "cluster_" in d.source
    True
    """
    _check_model(model)
    dtype = getattr(model, "dtype", np.float64)
    Xt, Yt = _named(X, "X", dtype), _named(Y, "Y", dtype)
    params = list(model.parameters())
    saved = [p.grad for p in params]
    try:
        for p in params:
            p.grad = None
        _, trace = model.forward_trace(Xt, retain_deltas=backward)
        C = model.cost_from_trace(trace, Yt)
        if backward:
            C.backward(retain_graph=True)
        if "title" not in options:
            options["title"] = _title(model, Xt.shape[0])
        return to_graphviz(C, **options)
    finally:
        for p, g in zip(params, saved):
            p.grad = g
