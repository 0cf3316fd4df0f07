"""ONNX export against real onnxruntime: models, any recorded graph, and the gradients.

Every exported model passes ``onnx.checker.check_model(full_check=True)`` (inside
``to_onnx``) and runs in onnxruntime; its outputs equal ours to 1e-12 in float64 and
1e-6 in float32.  The exported gradients ``∇W^l`` are checked against our engine and
against central finite differences of the exported cost, computed by onnxruntime
alone (the weights fed as inputs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import functional as F
from nablagraph import interop
from nablagraph.errors import ConfigError, GraphError
from nablagraph.interop.onnx_ops import EMITTERS
from nablagraph.nn import Dense, Module, Network, Sequential
from nablagraph.ops import OPS

if os.environ.get("CI"):
    import onnx  # CI installs .[dev], which lists onnx and onnxruntime
    import onnxruntime as ort
else:
    onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install -e '.[dev]')")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install -e '.[dev]')")

TOL = 1e-12


def _session(model: Any) -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the machine is shared; one thread is plenty here
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _run(model: Any, **feeds: np.ndarray) -> dict[str, np.ndarray]:
    sess = _session(model)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, feeds)))


def _close(a: Any, b: Any, tol: float = TOL) -> None:
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _xy(seed: int = 0, m: int = 6, n_in: int = 4, n_out: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n_in)), rng.random((m, n_out))


# ------------------------------------------------------------------ models
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"])
def test_a_network_runs_in_onnxruntime_with_our_outputs(act: str) -> None:
    net = Network([4, 5, 3], activation=act, seed=1)
    X, _ = _xy()
    model = interop.to_onnx(net, X=X)
    _close(_run(model, X=X)["a3"], net(X).data)
    # the batch axis is free: another batch size runs too
    X2, _ = _xy(1, m=11)
    _close(_run(model, X=X2)["a3"], net(X2).data)


def test_names_are_the_notes() -> None:
    net = Network([4, 5, 3], cost="cross_entropy", seed=0)
    model = interop.to_onnx(net)
    g = model.graph
    assert [i.name for i in g.input] == ["X"] and [o.name for o in g.output] == ["a3"]
    assert [i.name for i in g.initializer] == ["W2", "b2", "W3", "b3"]
    assert [(n.op_type, n.output[0]) for n in g.node] == [
        ("Gemm", "z2"), ("Sigmoid", "a2"), ("Gemm", "z3"), ("Softmax", "a3")]
    dims = g.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("M", 4)


def test_float32_to_1e_6() -> None:
    net = Network([4, 8, 3], activation="tanh", cost="cross_entropy", seed=2, dtype=np.float32)
    X, _ = _xy()
    X = X.astype(np.float32)
    out = _run(interop.to_onnx(net, X=X), X=X)["a3"]
    assert out.dtype == np.float32
    _close(out, net(X).data, 1e-6)


def test_a_sequential_with_mixed_activations(tmp_path: Path) -> None:
    model = Sequential(Dense(4, 6, "relu", rng=0), Dense(6, 5, "tanh", rng=1), Dense(5, 3, "identity", rng=2))
    X, _ = _xy()
    path = tmp_path / "seq.onnx"
    interop.to_onnx(model, path, X=X)
    loaded = onnx.load(str(path))
    onnx.checker.check_model(loaded, full_check=True)
    _close(_run(loaded, X=X)["a4"], model(X).data)


# ------------------------------------------------------------------ gradients
_CASES = [
    ("sigmoid", "sigmoid", "quadratic"),
    ("tanh", "softmax", "cross_entropy"),
    ("tanh", "sigmoid", "binary_cross_entropy"),  # from the logits z^L
    ("softplus", "identity", "mse"),
]


def _targets(cost: str, Y: np.ndarray) -> np.ndarray:
    if cost == "cross_entropy":
        return np.argmax(Y, axis=1)  # class labels: exported as a one-hot Y input
    return Y


def _ours(net: Network, X: np.ndarray, Y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    net.zero_grad()
    C = net.cost(X, Y)
    C.backward()
    return C.item(), {n: p.grad.data.copy() for n, p in net.named_parameters()}


def _onehot(cost: str, Y: np.ndarray, n: int) -> np.ndarray:
    if Y.dtype.kind in "iu":
        return np.eye(n)[Y]
    return Y


@pytest.mark.parametrize(("act", "out", "cost"), _CASES)
def test_the_exported_gradients_are_our_engines(act: str, out: str, cost: str) -> None:
    net = Network([4, 5, 3], activation=act, output_activation=out, cost=cost, seed=3)
    X, Y = _xy(2)
    Y = _targets(cost, Y)
    model = interop.to_onnx(net, X=X, Y=Y, grads=True)
    assert [o.name for o in model.graph.output] == ["a3", "C", "nabla_W2", "nabla_b2", "nabla_W3", "nabla_b3"]
    assert model.metadata_props[0].key == "baked_constants" and model.metadata_props[0].value == "0"
    C, grads = _ours(net, X, Y)
    got = _run(model, X=X, Y=_onehot(cost, Y, 3))
    _close(got["C"], C)
    for n, g in grads.items():
        _close(got[f"nabla_{n}"], g)
    # The graph is a function of its inputs: other data of the same shape, same answers.
    X2, Y2 = _xy(9)
    Y2 = _targets(cost, Y2)
    C2, grads2 = _ours(net, X2, Y2)
    got2 = _run(model, X=X2, Y=_onehot(cost, Y2, 3))
    _close(got2["C"], C2)
    for n, g in grads2.items():
        _close(got2[f"nabla_{n}"], g)


def test_the_exported_gradient_matches_finite_differences_computed_by_onnxruntime() -> None:
    net = Network([4, 5, 3], activation="tanh", output_activation="sigmoid", seed=4)
    X, Y = _xy(3)
    model = interop.to_onnx(net, X=X, Y=Y, grads=True, weights_as_inputs=True)
    assert [i.name for i in model.graph.input] == ["X", "Y", "W2", "b2", "W3", "b3"]
    sess = _session(model)
    names = [o.name for o in sess.get_outputs()]
    weights = {n: p.data.copy() for n, p in net.named_parameters()}

    def run(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(None, {"X": X, "Y": Y, **w})))

    base = run(weights)
    eps = 1e-6
    for n in weights:
        for idx in [(0,) * weights[n].ndim, tuple(s - 1 for s in weights[n].shape)]:
            up, down = {k: v.copy() for k, v in weights.items()}, {k: v.copy() for k, v in weights.items()}
            up[n][idx] += eps
            down[n][idx] -= eps
            fd = (run(up)["C"] - run(down)["C"]) / (2 * eps)
            assert abs(base[f"nabla_{n}"][idx] - fd) < 1e-8, (n, idx)
    # other weights fed at run time: the engine at those weights agrees
    rng = np.random.default_rng(5)
    other = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in weights.items()}
    net.load_state_dict(other)
    C, grads = _ours(net, X, Y)
    got = run(other)
    _close(got["C"], C)
    for n, g in grads.items():
        _close(got[f"nabla_{n}"], g)


def test_relu_masks_in_a_recorded_backward_are_counted_as_baked_constants() -> None:
    net = Network([4, 5, 3], activation="relu", output_activation="identity", seed=6)
    X, Y = _xy(4)
    model = interop.to_onnx(net, X=X, Y=Y, grads=True)
    assert int(model.metadata_props[0].value) >= 1  # relu's mask z > 0 is data, not an op
    C, grads = _ours(net, X, Y)
    got = _run(model, X=X, Y=Y)
    _close(got["C"], C)
    for n, g in grads.items():
        _close(got[f"nabla_{n}"], g)


# ------------------------------------------------------------------ any recorded graph
def _x() -> ng.Tensor:
    return ng.Tensor(np.random.default_rng(7).standard_normal((3, 4)), requires_grad=True, name="x")


def _pos() -> ng.Tensor:
    return ng.Tensor(np.random.default_rng(8).random((3, 4)) + 0.5, requires_grad=True, name="p")


_GRAPHS: dict[str, Callable[[], ng.Tensor]] = {
    "add sub mul div neg": lambda: -((_x() + 2.0) * _pos() - _x() / _pos()),
    "pow pow_scalar": lambda: _pos() ** _x() + _x() ** 3,
    "matmul and 1-D matmul": lambda: F.matmul(_x(), F.transpose(_pos())) @ F.sum(_pos(), 0)[:3],
    "linear 3-D": lambda: F.linear(F.reshape(_x(), (3, 2, 2)), ng.Tensor(np.eye(2) + 0.5, requires_grad=True),
                                    ng.Tensor([0.1, -0.2], requires_grad=True)),
    "exp log sqrt abs": lambda: F.exp(_x()) + F.log(_pos()) + F.sqrt(_pos()) + F.abs(_x()),
    "maximum clip": lambda: F.maximum(_x(), _pos() - 1) + F.clip(_x(), -0.5, 0.5) + F.clip(_x(), None, 0.1),
    "activations": lambda: F.sigmoid(_x()) + F.tanh(_x()) + F.relu(_x()) + F.leaky_relu(_x(), 0.2) + F.softplus(_x()),
    "softmax log_softmax": lambda: F.softmax(_x(), 0) + F.log_softmax(_x(), -1),
    "sum mean": lambda: F.sum(_x(), 1, True) + F.mean(_x(), 0) + F.sum(_x()) + F.mean(_x(), (0, 1), True),
    "reshape transpose": lambda: F.transpose(F.reshape(_x(), (2, 6))) + F.reshape(F.transpose(_x(), (1, 0)), (-1, 2)),
    "broadcast_to sum_to": lambda: F.sum_to(F.broadcast_to(F.sum(_x(), 0, True), (2, 3, 4)), (3, 1)),
    "getitem": lambda: _x()[1] + _x()[:, 1:3].sum() + _x()[::-1, -2].sum() + _x()[np.array([2, 0, 2])].sum(0),
    "scatter": lambda: F.scatter(_pos()[:2], (5, 4), slice(1, 3)) + F.scatter(_x()[0], (5, 4), 3)
    + F.scatter(_x(), (5, 4), np.array([0, 4, 0])),
    "concatenate": lambda: F.concatenate([_x(), _pos(), _x() * 2], 0),
    "stack max min cast": lambda: ng.stack([_x(), _pos()], 1).max(axis=1) + _x().min(axis=0, keepdims=True)
    + ng.stack([_x(), _x() * 2], -1).astype(np.float32).double().sum(-1),
    "quadratic mse": lambda: F.quadratic_cost(F.sigmoid(_x()), np.full((3, 4), 0.3)) + F.mse_loss(_x(), np.ones((3, 4))),
    "bce": lambda: F.binary_cross_entropy(F.sigmoid(_x()), np.full((3, 4), 0.25))
    + F.binary_cross_entropy_with_logits(_x(), np.full((3, 4), 0.75)),
    "cross_entropy": lambda: F.cross_entropy(_x(), np.array([0, 3, 1])) + F.cross_entropy(_x(), np.full((3, 4), 0.25)),
}


@pytest.mark.parametrize("name", list(_GRAPHS))
def test_any_recorded_graph_runs_in_onnxruntime(name: str) -> None:
    out = _GRAPHS[name]()
    model = interop.to_onnx(out, inputs={})  # every leaf baked in: no inputs
    assert not model.graph.input
    (value,) = _run(model).values()
    _close(value, out.data)


def test_the_inputs_of_a_recorded_graph_are_found_or_given() -> None:
    net = Network([4, 5, 3], seed=11)
    X, Y = _xy(5)
    C = net.cost(X, Y)
    model = interop.to_onnx(C)  # X feeds the first linear op, Y is the cost's target
    assert [i.name for i in model.graph.input] == ["X", "Y"] and [o.name for o in model.graph.output] == ["C"]
    _close(_run(model, X=X, Y=Y)["C"], C.data)
    x = ng.Tensor(X, name="x")
    out = F.sigmoid(x @ ng.Tensor(np.ones((4, 2)), requires_grad=True, name="w"))
    both = interop.to_onnx({"s": out, "again": out}, inputs={"features": x})
    assert [i.name for i in both.graph.input] == ["features"]
    got = _run(both, features=X)
    _close(got["s"], out.data)
    _close(got["again"], out.data)


def test_every_registered_op_has_an_onnx_form() -> None:
    missing = sorted(set(OPS) - set(EMITTERS))
    assert not missing, (
        f"ops without an ONNX form: {missing}; add an emitter to nablagraph/interop/onnx_ops.py "
        "(EMITTERS) and a graph using it to _GRAPHS in this file"
    )
    covered = {t for name in _GRAPHS for t in _ops_of(_GRAPHS[name]())}
    assert not set(OPS) - covered, f"ops no graph of _GRAPHS exports: {sorted(set(OPS) - covered)}"


def _ops_of(root: ng.Tensor) -> set[str]:
    seen, stack, ops = set(), [root], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.op:
            ops.add(t.op)
        stack.extend(t.parents)
    return ops


def test_the_gradient_of_any_graph_exports_too() -> None:
    x = ng.Tensor(np.random.default_rng(9).standard_normal((3, 4)), name="x")
    w = ng.Tensor(np.random.default_rng(10).standard_normal((4, 2)), requires_grad=True, name="w")
    C = F.mean(F.tanh(x @ w) ** 2) + F.sum(F.softmax(x @ w, -1)[:, 0])
    (gw,) = ng.grad(C, w, create_graph=True)
    model = interop.to_onnx({"C": C, "nabla_w": gw}, inputs={"x": x})
    got = _run(model, x=x.data)
    _close(got["C"], C.data)
    _close(got["nabla_w"], gw.data)
    # and that gradient against central differences of our cost
    eps = 1e-6
    wd = w.data.copy()

    def cost(wv: np.ndarray) -> float:
        t = ng.Tensor(wv)
        return float((F.mean(F.tanh(x @ t) ** 2) + F.sum(F.softmax(x @ t, -1)[:, 0])).item())

    fd = np.zeros_like(wd)
    for idx in np.ndindex(*wd.shape):
        e = np.zeros_like(wd)
        e[idx] = eps
        fd[idx] = (cost(wd + e) - cost(wd - e)) / (2 * eps)
    _close(got["nabla_w"], fd, 1e-8)


# ------------------------------------------------------------------ what is refused
def test_an_op_without_an_onnx_form_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(EMITTERS, "tanh")
    with pytest.raises(ConfigError, match=r"^to_onnx: op 'tanh' \(a registered op\) has no ONNX form here; supported: abs, add"):
        interop.to_onnx(F.tanh(_x()))


def test_other_refusals(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "to_onnx: op 'getitem' with index array([ True, False,  True]) is not supported; only "
            "integers and slices (x[1], x[:, 2:5], x[::2]) are exported")):
        interop.to_onnx(_x()[np.array([True, False, True])])
    net = Network([2, 3, 1], seed=0)
    with pytest.raises(ConfigError, match=r"^to_onnx: grads=True needs targets Y"):
        interop.to_onnx(net, grads=True)
    C = net.cost(np.ones((2, 2)), np.ones((2, 1)))
    C.backward()
    with pytest.raises(GraphError, match=r"^to_onnx: the graph was freed by backward\(\) at op 'quadratic_cost'"):
        interop.to_onnx(C)
    class Twice(Module):
        def forward(self, x: Any) -> Any:
            return x * 2

    with pytest.raises(ConfigError, match=r"^to_onnx: layer 1 of the Sequential is a Twice; only Dense"):
        interop.to_onnx(Sequential(Dense(2, 2, rng=0), Twice()))
    # (a recorded graph of that model exports: every op has an ONNX form)
    seq = Sequential(Dense(2, 2, rng=0), Twice())
    out = seq(np.ones((3, 2)))
    _close(_run(interop.to_onnx(out), X=np.ones((3, 2)))["output"], out.data)
    with pytest.raises(ConfigError, match=r"^to_onnx: expected a Module, a Tensor, a list of Tensors or a dict"):
        interop.to_onnx([1.0])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match=r"^to_onnx: expected a file path \(str or os.PathLike\), got int"):
        interop.to_onnx(net, 3)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_the_docs_table_lists_every_op_with_an_onnx_form() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "interop.md").read_text(encoding="utf-8")
    table = page.split("| ops here | ONNX |")[1].split("\n\n")[0]
    listed = set(re.findall(r"`([a-z_]+)`", table))
    assert set(EMITTERS) <= listed, sorted(set(EMITTERS) - listed)


# ------------------------------------------------------------------ and back
@pytest.mark.parametrize("model", [
    Network([4, 5, 3], activation="tanh", cost="cross_entropy", seed=12),
    Network([4, 6, 2], activation="leaky_relu", output_activation="sigmoid", seed=13, dtype=np.float32),
    Sequential(Dense(4, 6, "relu", rng=0), Dense(6, 5, "softplus", rng=1), Dense(5, 3, "identity", rng=2)),
], ids=["network", "leaky-float32", "sequential"])
def test_from_onnx_reads_back_what_to_onnx_wrote(model: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    interop.to_onnx(model, path)
    back = interop.from_onnx(path)
    assert repr(back) == repr(model)
    s, t = model.state_dict(), back.state_dict()
    assert list(s) == list(t) and all(np.array_equal(s[k], t[k]) and s[k].dtype == t[k].dtype for k in s)


def test_from_onnx_reads_matmul_add_and_onnx_leaky_relu() -> None:
    rng = np.random.default_rng(14)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    h = onnx.helper
    graph = h.make_graph(
        [h.make_node("MatMul", ["X", "Wt"], ["mm"]), h.make_node("Add", ["mm", "b"], ["z"]),
         h.make_node("LeakyRelu", ["z"], ["a"], alpha=0.01)],
        "torch-like", [h.make_tensor_value_info("X", onnx.TensorProto.DOUBLE, ["M", 4])],
        [h.make_tensor_value_info("a", onnx.TensorProto.DOUBLE, ["M", 3])],
        [onnx.numpy_helper.from_array(W.T.copy(), "Wt"), onnx.numpy_helper.from_array(b, "b")])
    net = interop.from_onnx(h.make_model(graph))
    assert repr(net) == "Network(sizes=[4, 3], activation=leaky_relu, output_activation=leaky_relu, cost=quadratic)"
    assert np.array_equal(net.layers[0].W.data, W) and np.array_equal(net.layers[0].b.data, b)


def test_from_onnx_refuses_what_is_not_a_chain_of_dense_layers() -> None:
    net = Network([4, 5, 3], seed=15)
    X, Y = _xy()
    with pytest.raises(ConfigError, match=re.escape(
            "from_onnx: the model has inputs ['X', 'Y'] and outputs ['a3', 'C']; a chain of dense layers "
            "has one of each (export the forward only: to_onnx(model) without Y)")):
        interop.from_onnx(interop.to_onnx(net, X=X, Y=Y))
    x = ng.Tensor(X, name="x", requires_grad=True)
    with pytest.raises(ConfigError, match=r"^from_onnx: node output \(Exp\) is not part of a chain of dense layers"):
        interop.from_onnx(interop.to_onnx(F.exp(x), inputs={"x": x}))
    with pytest.raises(ConfigError, match=r"^from_onnx: expected a file path \(str or os.PathLike\), got int"):
        interop.from_onnx(3)
