"""Each recorded op of :data:`nablagraph.ops.OPS` as ONNX nodes: the table :data:`EMITTERS`.

An emitter writes the ONNX nodes computing one recorded tensor from the ONNX names of
its inputs; shapes are read from the recorded arrays, so every node sees static
shapes except the batch axis of a module's forward, which none of the ops it uses
(``linear`` → ``Gemm``, the activations, ``softmax`` along the last axis) depends on.

The costs are compositions with the notes' average over the batch,
``C = (1/M) Σ_m C_m``: the quadratic cost is ``½ ΣΣ (a − y)² / M`` written as
``Sub``, ``Mul``, ``ReduceSum``, ``Mul``, ``Div``.  Integer class labels (a parameter of
``cross_entropy_index``, not a tensor) are baked in as a one-hot constant.

An op missing from the table is refused by name (:func:`emitter`).

Imports: ``errors``, ``ops``, ``tensor`` and NumPy; ``onnx`` is passed in by the
exporter (an optional extra).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError
from nablagraph.ops import OPS, _bce_bounds

__all__ = ["Builder", "EMITTERS", "emitter"]

_INT64_MIN = int(np.iinfo(np.int64).min)


class Builder:
    """The nodes and constants of an ONNX graph being written, with unique names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.used: set[str] = set()
        self.constants = 0  # non-scalar constants baked in (not inputs, not parameters)

    def fresh(self, base: str) -> str:
        """``base``, or ``base_1``, ``base_2`` … if taken."""
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def node(self, op_type: str, inputs: list[str], out: str | None = None, **attrs: Any) -> str:
        """Add a node; return its output's name (a fresh one unless ``out`` is given)."""
        name = out if out is not None else self.fresh(op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [name], **attrs))
        return name

    def const(self, value: Any, dtype: Any, base: str = "const") -> str:
        """An initializer holding ``value`` as ``dtype``."""
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh(base)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values: Any, base: str = "shape") -> str:
        return self.const(np.asarray(values, dtype=np.int64).reshape(-1), np.int64, base)


Emitter = Callable[[Builder, Tensor, list[str], str], None]


def _dt(t: Tensor) -> Any:
    return t.data.dtype


def _simple(op_type: str) -> Emitter:
    def emit(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
        b.node(op_type, ins, out)
    return emit


def _pow_scalar(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    b.node("Pow", [ins[0], b.const(t.params[0], _dt(t), "exponent")], out)


def _linear(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    x = t.parents[0]
    if x.ndim == 2:
        b.node("Gemm", ins, out, transB=1)
        return
    wt = b.node("Transpose", [ins[1]])
    if len(ins) == 2:
        b.node("MatMul", [ins[0], wt], out)
    else:
        b.node("Add", [b.node("MatMul", [ins[0], wt]), ins[2]], out)


def _clip(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    lo, hi = t.params
    bounds = ["" if v is None else b.const(v, _dt(t), "bound") for v in (lo, hi)]
    b.node("Clip", [ins[0], *bounds], out)


def _leaky_relu(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    # Not LeakyRelu: its alpha is a float32 attribute (0.01 would lose 1e-10 in float64).
    dt = _dt(t)
    scaled = b.node("Mul", [ins[0], b.const(t.params[0], dt, "slope")])
    b.node("Where", [b.node("Greater", [ins[0], b.const(0, dt, "zero")]), ins[0], scaled], out)


def _axis_op(op_type: str) -> Emitter:
    def emit(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
        b.node(op_type, ins, out, axis=int(t.params[0]))
    return emit


def _axes(axis: Any, nd: int) -> list[int] | None:
    if axis is None:
        return None
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    return [int(a) % max(nd, 1) for a in axes]


def _reduce(op_type: str) -> Emitter:
    def emit(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
        axis, keepdims = t.params
        axes = _axes(axis, t.parents[0].ndim)
        extra = [] if axes is None else [b.ints(axes, "axes")]
        b.node(op_type, [ins[0], *extra], out, keepdims=int(bool(keepdims)))
    return emit


def _reshape(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    b.node("Reshape", [ins[0], b.ints(t.shape)], out)


def _transpose(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    axes = t.params[0]
    perm = list(range(t.ndim))[::-1] if axes is None else [int(a) for a in axes]
    b.node("Transpose", ins, out, perm=perm)


def _broadcast_to(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    b.node("Expand", [ins[0], b.ints(t.shape)], out)


def _sum_to(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    src, shape = t.parents[0].shape, tuple(t.shape)
    lead = len(src) - len(shape)
    axes = list(range(lead)) + [lead + i for i, s in enumerate(shape) if s == 1 and src[lead + i] != 1]
    summed = b.node("ReduceSum", [ins[0], b.ints(axes, "axes")], keepdims=1) if axes else ins[0]
    b.node("Reshape", [summed, b.ints(shape)], out)


def _basic_index(index: Any, shape: tuple[int, ...], op: str) -> list[tuple[int, int, int, int, bool]]:
    """``(axis, start, stop, step, squeeze)`` per indexed axis of a basic index, else refuse."""
    items = index if isinstance(index, tuple) else (index,)
    if len(items) > len(shape) or not all(isinstance(i, (slice, int, np.integer)) for i in items):
        raise ConfigError(
            f"to_onnx: op {op!r} with index {index!r} is not supported; only integers and "
            "slices (x[1], x[:, 2:5], x[::2]) are exported"
        )
    out = []
    for axis, item in enumerate(items):
        n = shape[axis]
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            if step < 0 and stop < 0:
                stop = _INT64_MIN
            out.append((axis, start, stop, step, False))
        else:
            i = int(item) % n
            out.append((axis, i, i + 1, 1, True))
    return out


def _getitem(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    index, src = t.params[0], t.parents[0].shape
    if isinstance(index, np.ndarray) and index.dtype.kind in "iu" and index.ndim == 1:
        b.node("Gather", [ins[0], b.ints(index % src[0], "indices")], out, axis=0)
        return
    parts = _basic_index(index, src, "getitem")
    cols = list(zip(*parts)) if parts else [(), (), (), (), ()]
    sliced = b.node("Slice", [ins[0], b.ints(cols[1], "starts"), b.ints(cols[2], "ends"),
                              b.ints(cols[0], "axes"), b.ints(cols[3], "steps")])
    squeeze = [a for a, *_, sq in parts if sq]
    if squeeze:
        b.node("Squeeze", [sliced, b.ints(squeeze, "axes")], out)
    else:
        b.node("Identity", [sliced], out)


def _scatter(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    shape, index = tuple(t.params[0]), t.params[1]
    if isinstance(index, np.ndarray) and index.dtype.kind in "iu" and index.ndim == 1:
        zeros = b.const(np.zeros(shape), _dt(t), "zeros")
        idx = b.ints(index % shape[0], "indices")
        idx2 = b.node("Reshape", [idx, b.ints([-1, 1])])
        b.node("ScatterND", [zeros, idx2, ins[0]], out, reduction="add")
        return
    parts = _basic_index(index, shape, "scatter")
    if any(step != 1 for _, _, _, step, _ in parts):
        raise ConfigError(f"to_onnx: op 'scatter' with the strided index {index!r} is not supported")
    x = ins[0]
    squeezed = [a for a, *_, sq in parts if sq]
    if squeezed:
        x = b.node("Unsqueeze", [x, b.ints(squeezed, "axes")])
    before = [0] * len(shape)
    after = [0] * len(shape)
    for axis, start, stop, _, _ in parts:
        before[axis], after[axis] = start, shape[axis] - max(stop, start)
    b.node("Pad", [x, b.ints(before + after, "pads"), b.const(0, _dt(t), "zero")], out)


def _concatenate(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    b.node("Concat", ins, out, axis=int(t.params[0]))


def _stack(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    axis = b.ints([int(t.params[-1]) % t.ndim], "axes")
    b.node("Concat", [b.node("Unsqueeze", [x, axis]) for x in ins], out, axis=int(t.params[-1]) % t.ndim)


def _cast(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    b.node("Cast", ins, out, to=b.onnx.helper.np_dtype_to_tensor_dtype(np.dtype(t.params[0])))


# ------------------------------------------------------------------ costs
def _batch(a: Tensor) -> int:
    return a.shape[0] if a.ndim >= 1 else 1


def _total(b: Builder, x: str) -> str:
    return b.node("ReduceSum", [x], keepdims=0)


def _quadratic(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    d = b.node("Sub", ins)
    s = _total(b, b.node("Mul", [d, d]))
    half = b.node("Mul", [s, b.const(0.5, _dt(t), "half")])
    b.node("Div", [half, b.const(_batch(t.parents[0]), _dt(t), "M")], out)


def _mse(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    d = b.node("Sub", ins)
    s = _total(b, b.node("Mul", [d, d]))
    b.node("Div", [s, b.const(max(t.parents[0].size, 1), _dt(t), "n")], out)


def _bce(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    a, y = ins
    dt = _dt(t)
    lo, hi = _bce_bounds(t.params[0], dt)
    ac = b.node("Clip", [a, b.const(lo, dt, "eps"), b.const(hi, dt, "one_minus_eps")])
    one = b.const(1.0, dt, "one")
    t1 = _total(b, b.node("Mul", [y, b.node("Log", [ac])]))
    t2 = _total(b, b.node("Mul", [b.node("Sub", [one, y]), b.node("Log", [b.node("Sub", [one, ac])])]))
    neg = b.node("Neg", [b.node("Add", [t1, t2])])
    b.node("Div", [neg, b.const(_batch(t.parents[0]), dt, "M")], out)


def _bce_logits(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    z, y = ins
    dt = _dt(t)
    soft = b.node("Log", [b.node("Add", [b.const(1.0, dt, "one"), b.node("Exp", [b.node("Neg", [b.node("Abs", [z])])])])])
    c = b.node("Add", [b.node("Sub", [b.node("Relu", [z]), b.node("Mul", [z, y])]), soft])
    b.node("Div", [_total(b, c), b.const(_batch(t.parents[0]), dt, "M")], out)


def _ce_with(b: Builder, t: Tensor, z: str, y: str, out: str) -> None:
    zt = t.parents[0]
    m = max(zt.size // zt.shape[-1], 1) if zt.ndim else 1
    picked = _total(b, b.node("Mul", [y, b.node("LogSoftmax", [z], axis=-1)]))
    b.node("Div", [b.node("Neg", [picked]), b.const(m, _dt(t), "M")], out)


def _ce(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    _ce_with(b, t, ins[0], ins[1], out)


def _ce_index(b: Builder, t: Tensor, ins: list[str], out: str) -> None:
    z, labels = t.parents[0], np.asarray(t.params[0])
    onehot = np.zeros(z.shape, dtype=z.dtype)
    np.put_along_axis(onehot, labels[..., None], 1, axis=-1)
    b.constants += 1
    _ce_with(b, t, ins[0], b.const(onehot, z.dtype, "onehot_labels"), out)


#: The ONNX form of each registered op, by op name.
EMITTERS: dict[str, Emitter] = {
    "add": _simple("Add"), "sub": _simple("Sub"), "mul": _simple("Mul"), "div": _simple("Div"),
    "pow": _simple("Pow"), "pow_scalar": _pow_scalar, "neg": _simple("Neg"),
    "matmul": _simple("MatMul"), "linear": _linear,
    "exp": _simple("Exp"), "log": _simple("Log"), "sqrt": _simple("Sqrt"), "abs": _simple("Abs"),
    "maximum": _simple("Max"), "clip": _clip,
    "sigmoid": _simple("Sigmoid"), "tanh": _simple("Tanh"), "relu": _simple("Relu"),
    "leaky_relu": _leaky_relu, "softplus": _simple("Softplus"),
    "softmax": _axis_op("Softmax"), "log_softmax": _axis_op("LogSoftmax"),
    "sum": _reduce("ReduceSum"), "mean": _reduce("ReduceMean"),
    "max": _reduce("ReduceMax"), "min": _reduce("ReduceMin"), "cast": _cast, "stack": _stack,
    "reshape": _reshape, "transpose": _transpose, "broadcast_to": _broadcast_to, "sum_to": _sum_to,
    "getitem": _getitem, "scatter": _scatter, "concatenate": _concatenate,
    "quadratic_cost": _quadratic, "mse_loss": _mse, "binary_cross_entropy": _bce,
    "binary_cross_entropy_with_logits": _bce_logits, "cross_entropy": _ce,
    "cross_entropy_index": _ce_index,
}


def emitter(op: str) -> Emitter:
    """The emitter of ``op``, or a :class:`ConfigError` naming it and what is supported."""
    fn = EMITTERS.get(op)
    if fn is None:
        known = "a registered op" if op in OPS else "not a registered op"
        raise ConfigError(
            f"to_onnx: op {op!r} ({known}) has no ONNX form here; supported: "
            f"{', '.join(sorted(EMITTERS))}"
        )
    return fn
