"""ONNX back to nablagraph: :func:`from_onnx` reads a chain of dense layers.

The forward model :func:`~nablagraph.interop.to_onnx` writes for a ``Network`` (or a
``Sequential`` of ``Dense``), and the same layers written by other tools, are a chain
from one input to one output of

* ``Gemm(a, W, b, transB=1)`` — or ``MatMul(a, Wᵀ)`` then ``Add(·, b)`` — the weighted
  input ``z^l = a^{l-1} (w^l)ᵀ + b^l``, with ``W``, ``b`` constant;
* at most one activation after it: ``Sigmoid``, ``Tanh``, ``Relu``, ``Softplus``,
  ``Softmax`` over the last axis, ``LeakyRelu`` (slope 0.01) or the dtype-exact leaky
  ReLU that ``to_onnx`` writes (``Mul``, ``Greater``, ``Where``);
* ``Identity`` nodes, which are skipped.

Anything else is refused by name: it is not a stack of dense layers.

Imports: ``errors``, ``files``, ``nn``, ``interop``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError
from nablagraph.files import _check_path
from nablagraph.interop.onnx_export import _onnx
from nablagraph.interop.torch_bridge import build_model
from nablagraph.nn import Sequential

__all__ = ["from_onnx"]

_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Relu": "relu", "Softplus": "softplus"}


class _Chain:
    """Walks the nodes one after another, following the value the layers pass on."""

    def __init__(self, onnx: Any, graph: Any) -> None:
        self.consts: dict[str, np.ndarray] = {
            i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
        self.attr = onnx.helper.get_attribute_value
        self.nodes = list(graph.node)
        self.i = 0
        self.layers: list[list[Any]] = []

    def const(self, name: str, node: Any) -> np.ndarray:
        if name not in self.consts:
            raise ConfigError(f"from_onnx: node {node.name or node.op_type} ({node.op_type}) reads {name!r}, "
                              "which is not a constant; a dense layer's weights are initializers")
        return self.consts[name]

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self.attr(a) for a in node.attribute}

    def peek(self, k: int = 0) -> Any:
        return self.nodes[self.i + k] if self.i + k < len(self.nodes) else None

    def activation(self, name: str, node: Any) -> None:
        if not self.layers or self.layers[-1][2] != "identity":
            where = "comes before any dense layer" if not self.layers else "follows another activation"
            raise ConfigError(f"from_onnx: the activation {node.op_type} ({node.name or node.output[0]}) "
                              f"{where}; a Dense layer is a Gemm followed by at most one activation")
        self.layers[-1][2] = name


def _gemm(c: _Chain, node: Any, x: str) -> str:
    a = c.attrs(node)
    if (a.get("transA", 0), a.get("transB", 0), a.get("alpha", 1.0), a.get("beta", 1.0)) != (0, 1, 1.0, 1.0) \
            or len(node.input) < 3:
        raise ConfigError(f"from_onnx: Gemm {node.name or node.output[0]} is not a dense layer "
                          "(expected Gemm(a, W, b) with transB=1, alpha=beta=1 and a bias)")
    c.layers.append([c.const(node.input[1], node), c.const(node.input[2], node), "identity"])
    return str(node.output[0])


def _matmul(c: _Chain, node: Any, x: str) -> str:
    add = c.peek(1)
    if add is None or add.op_type != "Add" or node.output[0] not in add.input:
        raise ConfigError(f"from_onnx: MatMul {node.name or node.output[0]} is not followed by the Add of a bias")
    bias = [n for n in add.input if n != node.output[0]]
    c.layers.append([c.const(node.input[1], node).T, c.const(bias[0], add), "identity"])
    c.i += 1
    return str(add.output[0])


def _softmax(c: _Chain, node: Any, x: str) -> str:
    if c.attrs(node).get("axis", -1) not in (-1, 1):
        raise ConfigError(f"from_onnx: Softmax {node.name or node.output[0]} is not over the last axis")
    c.activation("softmax", node)
    return str(node.output[0])


def _leaky(c: _Chain, node: Any, x: str) -> str:
    """``LeakyRelu(alpha≈0.01)``, or our ``Mul``/``Greater``/``Where`` form of it."""
    if node.op_type == "LeakyRelu":
        slope, out = float(c.attrs(node).get("alpha", 0.01)), node.output[0]
    else:
        mul, gt, where = node, c.peek(1), c.peek(2)
        if gt is None or where is None or (gt.op_type, where.op_type) != ("Greater", "Where") or \
                list(where.input) != [gt.output[0], x, mul.output[0]]:
            raise ConfigError(f"from_onnx: Mul {node.name or node.output[0]} is not part of a dense layer")
        slope, out = float(c.const(mul.input[1], mul)), where.output[0]
        c.i += 2
    if not np.isclose(slope, 0.01, rtol=1e-6):
        raise ConfigError(f"from_onnx: a leaky ReLU of slope {slope:g}; Dense's leaky_relu has slope 0.01")
    c.activation("leaky_relu", node)
    return str(out)


_READERS: dict[str, Callable[[_Chain, Any, str], str]] = {
    "Gemm": _gemm, "MatMul": _matmul, "Softmax": _softmax, "LeakyRelu": _leaky, "Mul": _leaky,
}


def from_onnx(model_or_path: Any, cost: str | None = None) -> Sequential:
    """The nablagraph model of an ONNX chain of dense layers (see the module docstring).

    Parameters
    ----------
    model_or_path : onnx.ModelProto, str or path-like
        A forward model, such as ``to_onnx(net)`` writes (one input, one output).
    cost : str, optional
        The cost of the returned ``Network`` (default: ``cross_entropy`` after a
        softmax, else ``quadratic``).

    Returns
    -------
    Network or Sequential
        As :func:`~nablagraph.interop.from_torch` decides; the weights are the file's,
        bit for bit.

    Raises
    ------
    ConfigError
        A node that is not part of a chain of dense layers (named), several inputs or
        outputs, or weights that are not constants.
    """
    onnx = _onnx("from_onnx")
    if isinstance(model_or_path, onnx.ModelProto):
        model = model_or_path
    else:
        _check_path(model_or_path, "from_onnx")
        model = onnx.load(os.fspath(model_or_path))
    graph = model.graph
    c = _Chain(onnx, graph)
    inputs = [i.name for i in graph.input if i.name not in c.consts]
    outputs = [o.name for o in graph.output]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError(
            f"from_onnx: the model has inputs {inputs} and outputs {outputs}; a chain of dense layers "
            "has one of each (export the forward only: to_onnx(model) without Y)"
        )
    x = inputs[0]
    while c.peek() is not None:
        node = c.peek()
        if node.input and node.input[0] != x:
            raise ConfigError(f"from_onnx: node {node.name or node.output[0]} ({node.op_type}) does not "
                              f"read the previous layer's output {x!r}; the model is not a chain")
        if node.op_type in _ACTIVATIONS:
            c.activation(_ACTIVATIONS[node.op_type], node)
            x = node.output[0]
        elif node.op_type == "Identity":
            x = node.output[0]
        elif node.op_type in _READERS:
            x = _READERS[node.op_type](c, node, x)
        else:
            raise ConfigError(f"from_onnx: node {node.name or node.output[0]} ({node.op_type}) is not part of "
                              "a chain of dense layers (Gemm or MatMul + Add, then Sigmoid, Tanh, Relu, "
                              "LeakyRelu, Softplus or Softmax)")
        c.i += 1
    if not c.layers or x != outputs[0]:
        raise ConfigError(f"from_onnx: no chain of dense layers leads from {inputs[0]!r} to {outputs[0]!r}")
    return build_model([(np.asarray(W), np.asarray(b), act) for W, b, act in c.layers], cost)
