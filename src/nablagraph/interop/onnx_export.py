"""ONNX export of a model or of any recorded graph, gradients included: :func:`to_onnx`.

The recorded graph is walked from its roots (iteratively, inputs first) and each op is
written as ONNX nodes by :data:`~nablagraph.interop.onnx_ops.EMITTERS`.  Leaves become:

* graph inputs: the tensors named in ``inputs`` (``X``, ``Y``);
* initializers: the parameters, under their names (``W2``, ``b2`` …), and every other
  leaf (constants such as ``1`` in ``1 − σ``) as it was recorded.

Intermediates take the notes' names where the graph diagram gives one (``z2``, ``a2``,
``C``; see :func:`nablagraph.viz.graph.collect`), else the op's name (``mul_3``).

A graph recorded by ``grad(C, params, create_graph=True)`` is made of ordinary ops,
so exporting those gradient tensors as outputs makes the ONNX model compute
``∇W^l`` and ``∇b^l`` too.  Values that a backward rule takes from the data as
constants (ReLU's mask ``z > 0``) are baked in at their recorded values: such a
gradient is exact only where the masks are the same (:func:`to_onnx` counts them in
the model's ``baked_constants`` metadata).  Smooth networks (sigmoid, tanh, softmax)
have none.  So are values computed only from leaves that need no gradient (an op on
constants is not recorded): a model's ``X`` and ``Y`` are therefore recorded as if they
required one; for a graph of your own, do the same with its inputs.

``onnx`` is optional (``nablagraph[onnx]``) and imported inside :func:`to_onnx`.

Imports: ``errors``, ``files``, ``tensor``, ``engine``, ``nn``, ``viz``, ``interop``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor, enable_grad
from nablagraph._version import __version__
from nablagraph.engine import grad
from nablagraph.errors import ConfigError, GraphError
from nablagraph.files import _atomic_write, _check_path
from nablagraph.interop.onnx_ops import Builder, emitter
from nablagraph.interop.torch_bridge import dense_layers
from nablagraph.io.format import PathLike
from nablagraph.nn import Module, Network
from nablagraph.nn.module import COST_FUNCTIONS, resolve_cost
from nablagraph.viz.graph import collect

__all__ = ["to_onnx", "OPSET"]

#: The ONNX opset the models use (``ReduceSum``/``ReduceMean`` take their axes as inputs).
OPSET = 18

_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹ˡ", "0123456789l")


def _onnx(where: str = "to_onnx") -> Any:
    try:
        import onnx
    except ImportError:
        raise ConfigError(f"{where}: onnx is not installed; pip install 'nablagraph[onnx]'") from None
    return onnx


def _ascii(notation: str) -> str | None:
    """``z² = a²`` → ``z2``; ``None`` for what is not a plain name."""
    name = notation.split(" = ")[0].translate(_DIGITS)
    return name if name.replace("_", "").isalnum() and name.isascii() else None


def _freed(t: Tensor) -> GraphError:
    assert t._op is not None
    return GraphError(
        f"to_onnx: the graph was freed by backward() at op '{t._op.name}' (shape "
        f"{tuple(t.shape)}); record it again, or call backward(retain_graph=True)"
    )


def _topological(roots: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor the roots depend on, inputs first (iterative depth-first search)."""
    out: list[Tensor] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack: list[tuple[Tensor, int]] = [(root, 0)]
        while stack:
            t, i = stack[-1]
            if t._op is not None and t._parents is None:
                raise _freed(t)
            parents = t._parents or ()
            if i < len(parents):
                stack[-1] = (t, i + 1)
                p = parents[i]
                if id(p) not in seen:
                    seen.add(id(p))
                    stack.append((p, 0))
            else:
                stack.pop()
                out.append(t)
    return out


def _notation(roots: Sequence[Tensor]) -> dict[int, str]:
    """The notes' names (``z2``, ``a2``, ``C``) the graph diagram gives the tensors."""
    names: dict[int, str] = {}
    for root in roots:
        for n in collect(root).nodes:
            name = _ascii(n.notation) if n.notation else None
            if name and n.tensor._op is not None:
                names.setdefault(id(n.tensor), name)
    return names


def _guess_inputs(order: list[Tensor]) -> dict[str, Tensor]:
    """``X``: leaves fed to ``linear``/``matmul`` first; ``Y``: targets of a cost op."""
    found: dict[str, Tensor] = {}
    for t in order:
        for i, p in enumerate(t._parents or ()):
            if p._op is not None or p.requires_grad or any(p is v for v in found.values()):
                continue
            if i == 0 and t._op is not None and t._op.name in ("linear", "matmul"):
                found[_next("X", found)] = p
            elif i >= 1 and t._op is not None and t._op.kind == "cost":
                found[_next("Y", found)] = p
    return found


def _next(base: str, taken: Mapping[str, Any]) -> str:
    k, name = 0, base
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _value_info(onnx: Any, name: str, t: Tensor, dynamic: bool) -> Any:
    shape: list[Any] = list(t.shape)
    if dynamic and shape:
        shape[0] = "M"
    elem = onnx.helper.np_dtype_to_tensor_dtype(t.data.dtype)
    return onnx.helper.make_tensor_value_info(name, elem, shape)


def build(
    outputs: Mapping[str, Tensor],
    inputs: Mapping[str, Tensor] | None = None,
    *,
    dynamic_batch: bool = False,
    weights_as_inputs: bool = False,
    name: str = "nablagraph",
) -> Any:
    """The ONNX ``ModelProto`` computing ``outputs`` from ``inputs`` (see :func:`to_onnx`)."""
    onnx = _onnx()
    roots = list(outputs.values())
    for k, t in outputs.items():
        if not isinstance(t, Tensor):
            raise ConfigError(f"to_onnx: output {k!r} is a {type(t).__name__}, not a Tensor")
    order = _topological(roots)
    given = dict(_guess_inputs(order) if inputs is None else inputs)
    b = Builder(onnx)
    names: dict[int, str] = {}
    for k, t in given.items():
        if not isinstance(t, Tensor):
            raise ConfigError(f"to_onnx: input {k!r} is a {type(t).__name__}, not a Tensor")
        names[id(t)] = b.fresh(k)
    preset: dict[int, str] = {}
    for k, t in outputs.items():
        if t._op is not None and id(t) not in preset:
            preset[id(t)] = b.fresh(k)
    notation = _notation(roots)
    graph_inputs = [_value_info(onnx, names[id(t)], t, dynamic_batch) for t in given.values()]
    for t in order:
        if id(t) in names:
            continue
        if t._op is None:
            names[id(t)] = b.const(t.data, t.data.dtype, t.name or ("param" if t.requires_grad else "const"))
            if t.requires_grad and weights_as_inputs:
                graph_inputs.append(_value_info(onnx, names[id(t)], t, False))
            elif not t.requires_grad and t.size > 1:
                b.constants += 1
            continue
        out = preset.get(id(t)) or b.fresh(notation.get(id(t)) or t._op.name)
        emitter(t._op.name)(b, t, [names[id(p)] for p in t._parents or ()], out)
        names[id(t)] = out
    graph_outputs = []
    for k, t in outputs.items():
        out = names[id(t)]
        if preset.get(id(t)) != k:  # a leaf, or a tensor listed twice
            out = b.node("Identity", [out], b.fresh(k))
        graph_outputs.append(_value_info(onnx, out, t, dynamic_batch))
    graph = onnx.helper.make_graph(b.nodes, name, graph_inputs, graph_outputs, b.initializers)
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
        producer_name="nablagraph", producer_version=__version__,
    )
    model.ir_version = 8
    onnx.helper.set_model_props(model, {"baked_constants": str(b.constants)})
    onnx.checker.check_model(model, full_check=True)
    return model


def _labels_as_onehot(Y: np.ndarray, n: int, dtype: Any) -> np.ndarray:
    onehot = np.zeros((Y.shape[0], n), dtype=dtype)
    onehot[np.arange(Y.shape[0]), Y] = 1
    return onehot


def _record_module(
    model: Module, X: Any, Y: Any, cost: str | None, grads: bool
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Record the model's forward (and cost, and gradients) on ``X``: ``(outputs, inputs)``."""
    layers = dense_layers(model, "to_onnx")
    dtype = layers[0].W.dtype
    # X and Y are recorded as if they required a gradient: what the backward computes
    # from them alone (Σ_j y_j in the cross-entropy's rule) is then an op, not a constant.
    Xt = Tensor(np.zeros((1, layers[0].n_in), dtype) if X is None else np.asarray(X, dtype=dtype),
                requires_grad=True)
    inputs = {"X": Xt}
    L = layers[-1].index if layers[-1].index is not None else len(layers) + 1
    with enable_grad():
        if Y is None:
            if grads:
                raise ConfigError("to_onnx: grads=True needs targets Y (the gradient of the cost C)")
            return {f"a{L}": model(Xt)}, inputs
        y = np.asarray(Y)
        name = resolve_cost(cost) if cost is not None else (
            model.cost_name if isinstance(model, Network) else "quadratic")
        if y.dtype.kind in "iu" and name == "cross_entropy":
            y = _labels_as_onehot(y, layers[-1].n_out, dtype)
        Yt = inputs["Y"] = Tensor(np.asarray(y, dtype=dtype), requires_grad=True)
        if isinstance(model, Network) and cost is None:
            aL, tr = model.forward_trace(Xt)
            C = model.cost_from_trace(tr, Yt)
        else:
            aL = model(Xt)
            C = COST_FUNCTIONS[name](aL, Yt)
        outputs = {f"a{L}": aL, "C": C}
        if grads:
            named = model.named_parameters()
            gs = grad(C, [t for _, t in named], create_graph=True)
            outputs.update({f"nabla_{n}": g for (n, _), g in zip(named, gs) if g is not None})
    return outputs, inputs


def to_onnx(
    model_or_root: Module | Tensor | Sequence[Tensor] | Mapping[str, Tensor],
    path: PathLike | None = None,
    *,
    X: Any = None,
    Y: Any = None,
    cost: str | None = None,
    grads: bool = False,
    inputs: Mapping[str, Tensor] | None = None,
    dynamic_batch: bool | None = None,
    weights_as_inputs: bool = False,
) -> Any:
    """Export a model, or any recorded graph, to ONNX (checked with ``onnx.checker``).

    Parameters
    ----------
    model_or_root : Network, Sequential of Dense, Tensor, list or dict of Tensor
        A model is recorded on ``X`` (forward), ``X, Y`` (forward and cost ``C``) or
        with ``grads=True`` also ``∇W^l = ∂C/∂w^l`` and ``∇b^l`` (outputs ``aL``, ``C``,
        ``nabla_W2``, ``nabla_b2`` …).  A tensor (or several, or a dict name → tensor)
        is exported as recorded, with everything it depends on.
    path : str or path-like, optional
        Write the model there (atomically).
    X, Y : array_like, optional
        A model's sample batch and targets (integer labels for ``cross_entropy`` are
        exported as a one-hot ``Y``).  Without ``Y`` the batch axis is free
        (``"M"``): the model runs on any batch size.
    cost : str, optional
        The cost (default: the Network's, else ``quadratic``).
    grads : bool
        Also export the gradients of ``C`` with respect to every parameter.
    inputs : dict of str to Tensor, optional
        For a recorded graph: the leaves that are graph inputs, by name.  Default: the
        leaves fed to ``linear``/``matmul`` (``X``) and the targets of a cost (``Y``).
    dynamic_batch : bool, optional
        Make the first axis of inputs and outputs symbolic (default: for a model's
        forward only; costs divide by the recorded batch size).
    weights_as_inputs : bool
        List the parameters as graph inputs as well (their values stay the
        defaults), so a runtime can feed other weights.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ConfigError
        An op with no ONNX form here (named), a model that is not made of ``Dense``
        layers, or ``grads=True`` without ``Y``.
    GraphError
        A graph already freed by ``backward()``.
    """
    if path is not None:
        _check_path(path, "to_onnx")
    if isinstance(model_or_root, Module):
        outputs, given = _record_module(model_or_root, X, Y, cost, grads)
        dyn = Y is None if dynamic_batch is None else dynamic_batch
        model = build(outputs, given, dynamic_batch=dyn, weights_as_inputs=weights_as_inputs,
                      name=type(model_or_root).__name__)
    else:
        model = build(_named_roots(model_or_root), inputs, dynamic_batch=bool(dynamic_batch),
                      weights_as_inputs=weights_as_inputs)
    if path is not None:
        _atomic_write(Path(path), [model.SerializeToString()], "to_onnx")
    return model


def _named_roots(roots: Tensor | Sequence[Tensor] | Mapping[str, Tensor]) -> dict[str, Tensor]:
    if isinstance(roots, Mapping):
        return dict(roots)
    seq = [roots] if isinstance(roots, Tensor) else list(roots)
    if not seq or not all(isinstance(t, Tensor) for t in seq):
        raise ConfigError(
            "to_onnx: expected a Module, a Tensor, a list of Tensors or a dict of name → Tensor, "
            f"got {type(roots).__name__}"
        )
    _topological(seq)  # a freed graph is refused before the diagram code reads it
    notation = _notation(seq)
    out: dict[str, Tensor] = {}
    for i, t in enumerate(seq):
        base = notation.get(id(t)) or t.name or ("output" if len(seq) == 1 else f"output_{i}")
        out[_next(base, out)] = t
    return out
