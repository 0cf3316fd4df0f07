"""Is a model a chain of dense layers?  Found on the batch, by running its forward once.

:func:`inspect_chain` records each dense layer's ``forward_z`` while ``model(X)`` runs
(an instance attribute shadows the method for that one call and is removed after),
then checks conditions 2–4 of :mod:`nablagraph.check.model`: every parameter in a dense
layer; each layer called once, the first on ``X``, each next on the previous one's
output; no op recorded outside a layer (walking the graph back from the output); the
model's output that of its last layer, equal to the layers rerun in order.
:func:`kinked_ops` lists the graph's ops whose derivative jumps (a registry fact), which
finite differences must step around.

Imports: ``tensor``, ``errors``; the layers are taken by duck typing (``W``, ``b``,
``activation_name``, ``forward_z``, as ``nn.Dense``), never by importing ``nn``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor, no_grad
from nablagraph.errors import ConfigError

__all__ = ["ChainReport", "inspect_chain", "kinked_ops", "as_output", "recording"]

_WHERE = "compare_gradients"


def as_output(out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise ConfigError(
            f"{_WHERE}: the model must return a Tensor built from nablagraph ops, got "
            f"{type(out).__name__}"
        )
    return out



@dataclass
class _Call:
    """One recorded call of a dense layer's ``forward_z``: its input, ``z`` and ``a``."""

    layer: Any
    x: Any
    z: Tensor
    a: Tensor


def _is_dense(x: Any) -> bool:
    return (
        isinstance(getattr(x, "W", None), Tensor) and isinstance(getattr(x, "b", None), Tensor)
        and isinstance(getattr(x, "activation_name", None), str) and callable(getattr(x, "forward_z", None))
    )


def _dense_layers(root: Any) -> list[Any]:
    """The dense layers inside a module, in attribute order (each once)."""
    found: dict[int, Any] = {}
    stack, seen = [root], set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if _is_dense(obj):
            found.setdefault(id(obj), obj)
            continue
        if isinstance(obj, (list, tuple)):
            children = list(obj)
        elif hasattr(obj, "named_parameters") and hasattr(obj, "__dict__"):
            children = [v for k, v in vars(obj).items() if not k.startswith("_")]
        else:
            continue
        stack.extend(reversed(children))
    return list(found.values())


@contextmanager
def recording(layers: list[Any]) -> Iterator[list[_Call]]:
    """Record every call of each layer's ``forward_z`` while the block runs."""
    calls: list[_Call] = []
    for layer in layers:
        def rec(a_prev: Any, _orig: Any = layer.forward_z, _layer: Any = layer) -> tuple[Tensor, Tensor]:
            z, a = _orig(a_prev)
            calls.append(_Call(_layer, a_prev, z, a))
            return z, a
        layer.forward_z = rec
    try:
        yield calls
    finally:
        for layer in layers:
            vars(layer).pop("forward_z", None)


def _walk(out: Tensor, inputs: Callable[[Tensor], Sequence[Tensor]]) -> Iterator[Tensor]:
    """Every tensor reachable from ``out`` through ``inputs(t)``, once each (iterative)."""
    stack, seen = [out], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        yield t
        stack.extend(inputs(t))


def _ops_outside(out: Tensor, calls: list[_Call]) -> list[str]:
    """The ops recorded between the layers and after the last one, walking back from ``out``."""
    by_output = {id(c.a): c for c in calls}

    def inputs(t: Tensor) -> Sequence[Tensor]:
        call = by_output.get(id(t))  # a layer's output: jump to the layer's input
        if call is None:
            return t.parents
        return (call.x,) if isinstance(call.x, Tensor) else ()

    return sorted({t.op for t in _walk(out, inputs) if id(t) not in by_output and t.op is not None})


def kinked_ops(out: Tensor) -> list[str]:
    """The ops of the whole graph of ``out`` that are not smooth (a registry fact)."""
    return sorted({
        t._op.name for t in _walk(out, lambda t: t.parents)  # the op's facts, as viz reads them
        if t._op is not None and not t._op.smooth
    })


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names)


@dataclass
class ChainReport:
    """What :func:`inspect_chain` found: the layers in call order, or why not a chain."""

    layers: list[Any] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    output: Tensor | None = None


def inspect_chain(model: Any, named: list[tuple[str, Tensor]], X: Tensor) -> ChainReport:
    """Run ``model(X)`` once, recording its dense layers, and decide whether the model is
    a chain of them: ``model(X) = σ^L(w^L … σ^2(w^2 X + b^2) … + b^L)``.

    Parameters
    ----------
    model : Module-like
        Called as ``model(X)``; its dense layers are found among its attributes (and
        lists of them), and their ``forward_z`` is recorded for this one call.
    named : list of (str, Tensor)
        The parameters that must all belong to dense layers.
    X : Tensor
        The batch the decision is made on.

    Returns
    -------
    ChainReport
        ``layers`` in call order (layer ``l = 2, 3 …``) and no ``reasons`` when the
        model is a chain (conditions 2–4 of the module docstring), else the reasons.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> seq = ng.nn.Sequential(ng.nn.Dense(3, 4, rng=0), ng.nn.Dense(4, 2, rng=1))
    >>> rep = inspect_chain(seq, seq.named_parameters(), ng.Tensor(np.ones((5, 3))))
    >>> len(rep.layers), rep.reasons
    (2, [])
    """
    dense = _dense_layers(model)
    rep = ChainReport()
    in_layers = {id(t) for d in dense for t in (d.W, d.b)}
    outside = [n for n, p in named if id(p) not in in_layers]
    with recording(dense) as calls:
        rep.output = out = as_output(model(X))
    if not dense:
        rep.reasons.append("it has no Dense layers")
        return rep
    if outside:
        rep.reasons.append(f"it has parameters outside Dense layers: {', '.join(outside)}")
    ops = _ops_outside(out, calls)
    if ops:
        rep.reasons.append(f"it uses op{'s' if len(ops) > 1 else ''} {_quoted(ops)} outside a layer")
    order = [id(c.layer) for c in calls]
    if len(set(order)) != len(order):
        rep.reasons.append("it calls a Dense layer more than once")
    elif len(order) != len(dense):
        rep.reasons.append(f"its forward calls {len(order)} of its {len(dense)} Dense layers")
    if rep.reasons:
        return rep
    prev: Any = X
    for k, c in enumerate(calls):
        same = c.x is prev or np.array_equal(np.asarray(getattr(c.x, "data", c.x)), prev.data)
        if not same:
            what = "X" if k == 0 else "the previous Dense layer's output"
            rep.reasons.append(f"Dense layer {k + 1} in call order is not applied to {what}")
            return rep
        prev = c.a
    if out is not calls[-1].a:
        rep.reasons.append("its output is not the last Dense layer's output")
        return rep
    with no_grad():  # the chain, rerun on X, gives the model's output
        a: Any = X
        for c in calls:
            a = c.layer.forward_z(a)[1]
    if not np.allclose(a.data, out.data, rtol=1e-12, atol=0.0):
        rep.reasons.append("its output differs from its Dense layers applied in order")
        return rep
    rep.layers = [c.layer for c in calls]
    return rep
