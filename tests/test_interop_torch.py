"""The PyTorch bridge against real PyTorch (CPU): outputs, gradients, names and files.

Every comparison is with PyTorch's own autograd and optimizer, in float64 to 1e-12:
the same outputs, the same gradients before and after an SGD step, both ways
(a module made here and moved to PyTorch, a module made in PyTorch and moved here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import interop
from nablagraph.errors import ConfigError, DTypeError, ShapeError
from nablagraph.nn import Dense, Network, Sequential

if os.environ.get("CI"):
    import torch  # CI installs .[dev], which pins torch: missing, it is a failure there
else:
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install -e '.[dev]')")
from safetensors.torch import load_file as torch_load_file
from safetensors.torch import save_file as torch_save_file

nn = torch.nn
TOL = 1e-12


def _data(seed: int = 0, m: int = 7, n_in: int = 4, n_out: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_in))
    Y = rng.random((m, n_out))
    return X, Y / Y.sum(axis=1, keepdims=True)


def _torch_out(module: Any, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def _close(a: np.ndarray, b: np.ndarray, tol: float = TOL) -> None:
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------------------ outputs
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"])
def test_to_torch_computes_the_same_outputs_for_every_activation(act: str) -> None:
    net = Network([4, 5, 3], activation=act, seed=1)
    X, _ = _data()
    m = interop.to_torch(net)
    assert m[0].weight.dtype == torch.float64
    _close(_torch_out(m, X), net(X).data)


def test_to_torch_lays_out_linear_then_activation_and_skips_identity() -> None:
    net = Network([4, 5, 6, 3], activation="relu", output_activation="identity", seed=0)
    m = interop.to_torch(net)
    assert [type(x).__name__ for x in m] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert interop.torch_names(net) == {
        "W2": "0.weight", "b2": "0.bias", "W3": "2.weight", "b3": "2.bias", "W4": "4.weight", "b4": "4.bias"}


def test_softmax_output_and_float32() -> None:
    net = Network([4, 5, 3], cost="cross_entropy", seed=2, dtype=np.float32)
    X, _ = _data()
    m = interop.to_torch(net)
    assert isinstance(m[-1], nn.Softmax) and m[0].weight.dtype == torch.float32
    _close(_torch_out(m, X.astype(np.float32)), net(X.astype(np.float32)).data, 1e-6)


def test_from_torch_of_a_sequential_is_a_network_with_the_same_outputs() -> None:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3), nn.Softmax(dim=1)).double()
    net = interop.from_torch(m)
    assert isinstance(net, Network)
    assert (net.sizes, net.hidden_activation, net.output_activation, net.cost_name) == (
        [4, 6, 5, 3], "tanh", "softmax", "cross_entropy")
    X, _ = _data()
    _close(net(X).data, _torch_out(m, X))


def test_from_torch_reads_nested_sequentials_and_custom_forwards() -> None:
    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.out = nn.Linear(8, 3)

        def forward(self, x: Any) -> Any:
            return torch.sigmoid(self.out(torch.relu(self.fc1(x))))

    torch.manual_seed(1)
    nested = nn.Sequential(nn.Sequential(nn.Linear(4, 5), nn.ReLU()), nn.Identity(), nn.Linear(5, 3)).double()
    X, _ = _data()
    for m in (MLP().double(), nested):
        net = interop.from_torch(m)
        _close(net(X).data, _torch_out(m, X))
    assert repr(interop.from_torch(MLP())) == (
        "Network(sizes=[4, 8, 3], activation=relu, output_activation=sigmoid, cost=quadratic)")


def test_from_torch_can_change_the_dtype() -> None:
    torch.manual_seed(7)
    m = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))  # float32, PyTorch's default
    assert interop.from_torch(m).dtype == np.float32
    net = interop.from_torch(m, dtype=np.float64)
    assert net.dtype == np.float64 and np.array_equal(net.layers[0].W.data, m[0].weight.detach().numpy())
    with pytest.raises(DTypeError, match=r"^from_torch: parameters must be floating-point, got dtype int64"):
        interop.from_torch(m, dtype=np.int64)


def test_mixed_activations_give_a_sequential_of_dense() -> None:
    torch.manual_seed(2)
    m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    model = interop.from_torch(m)
    assert type(model) is Sequential
    assert [(d.index, d.activation_name) for d in model.layers] == [(2, "relu"), (3, "tanh"), (4, "identity")]
    X, _ = _data()
    _close(model(X).data, _torch_out(m, X))
    _close(_torch_out(interop.to_torch(model), X), _torch_out(m, X))


def test_from_torch_and_to_torch_are_inverse() -> None:
    torch.manual_seed(3)
    m = nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 2)).double()
    back = interop.to_torch(interop.from_torch(m))
    assert repr(back) == repr(m)
    a, b = m.state_dict(), back.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit

    net = Network([3, 4, 2], activation="tanh", seed=5)
    again = interop.from_torch(interop.to_torch(net))
    assert repr(again) == repr(net)
    s, t = net.state_dict(), again.state_dict()
    assert list(s) == list(t) and all(np.array_equal(s[k], t[k]) for k in s)


# ------------------------------------------------------------------ gradients and a step
def _ng_step(net: Network, X: np.ndarray, Y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
    opt = ng.nn.SGD(net.parameters(), lr=lr)
    net.zero_grad()
    net.cost(X, Y).backward()
    grads = {n: p.grad.data.copy() for n, p in net.named_parameters()}
    opt.step()
    return grads


def _torch_cost(m: Any, X: np.ndarray, Y: np.ndarray, cost: str) -> Any:
    a = m(torch.from_numpy(X))
    y = torch.from_numpy(Y)
    M = X.shape[0]
    if cost == "quadratic":  # the notes' C = (1/M) Σ ½‖y − a‖², not MSELoss
        return 0.5 * ((a - y) ** 2).sum() / M
    return -(y * torch.log(a)).sum() / M  # cross-entropy of the softmax outputs


def _torch_step(m: Any, X: np.ndarray, Y: np.ndarray, lr: float, cost: str) -> dict[str, np.ndarray]:
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    opt.zero_grad()
    _torch_cost(m, X, Y, cost).backward()
    grads = {k: p.grad.numpy().copy() for k, p in m.named_parameters()}
    opt.step()
    return grads


@pytest.mark.parametrize(("act", "out", "cost"), [
    ("sigmoid", "sigmoid", "quadratic"), ("tanh", "softmax", "cross_entropy"), ("relu", "identity", "quadratic"),
])
def test_same_gradients_before_and_after_an_sgd_step_from_here_to_torch(act: str, out: str, cost: str) -> None:
    net = Network([4, 6, 3], activation=act, output_activation=out, cost=cost, seed=3)
    m = interop.to_torch(net)
    names = interop.torch_names(net)
    X, Y = _data(4)
    for _ in range(2):  # the second step compares gradients at the updated weights
        ours = _ng_step(net, X, Y, lr=0.5)
        theirs = _torch_step(m, X, Y, lr=0.5, cost=cost)
        for n, g in ours.items():
            _close(g, theirs[names[n]])
    for n, p in net.named_parameters():
        _close(p.data, m.state_dict()[names[n]].numpy())


def test_same_gradients_after_a_step_from_torch_to_here() -> None:
    torch.manual_seed(4)
    m = nn.Sequential(nn.Linear(4, 6), nn.Sigmoid(), nn.Linear(6, 3), nn.Sigmoid()).double()
    net = interop.from_torch(m)
    X, Y = _data(5)
    theirs = _torch_step(m, X, Y, lr=1.0, cost="quadratic")
    ours = _ng_step(net, X, Y, lr=1.0)
    names = interop.torch_names(net)
    assert set(names.values()) == set(theirs)
    for n, g in ours.items():
        _close(g, theirs[names[n]])
    _close(net(X).data, _torch_out(m, X))  # the same weights after the step
    # and against finite differences of PyTorch's own cost, for one weight
    w = m[0].weight
    eps = 1e-6
    with torch.no_grad():
        w[1, 2] += eps
        up = _torch_cost(m, X, Y, "quadratic").item()
        w[1, 2] -= 2 * eps
        down = _torch_cost(m, X, Y, "quadratic").item()
        w[1, 2] += eps
    net.zero_grad()
    net.cost(X, Y).backward()
    assert abs(net.layers[0].W.grad.data[1, 2] - (up - down) / (2 * eps)) < 1e-8


# ------------------------------------------------------------------ names
def test_load_state_dict_reads_pytorch_names() -> None:
    torch.manual_seed(5)
    m = nn.Sequential(*[x for _ in range(6) for x in (nn.Linear(3, 3), nn.Tanh())]).double()
    assert "10.weight" in m.state_dict()  # 10 must come after 2, not after 0
    net = Network([3] * 7, activation="tanh", seed=0)
    net.load_state_dict(m.state_dict())
    X, _ = _data(n_in=3)
    _close(net(X).data, _torch_out(m, X))
    net2 = Network([3] * 7, activation="tanh", seed=1)
    net2.load_state_dict({f"layers.{k}": v for k, v in m.state_dict().items()})  # nested paths
    _close(net2(X).data, net(X).data)


def test_state_dict_from_torch_reads_the_order_from_the_module() -> None:
    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Linear(4, 5)
            self.decoder = nn.Linear(5, 3)

        def forward(self, x: Any) -> Any:
            return self.decoder(torch.tanh(self.encoder(x)))

    m = Named().double()
    net = Network([4, 5, 3], activation="tanh", output_activation="identity", seed=0)
    with pytest.raises(ConfigError, match=re.escape(
            "load_state_dict: the PyTorch names 'decoder' and 'encoder' do not say which layer comes "
            "first (their paths differ by 'decoder' vs 'encoder', not by a layer number)")):
        net.load_state_dict(m.state_dict())
    state = interop.state_dict_from_torch(m)
    assert list(state) == ["W2", "b2", "W3", "b3"] and state["W2"].shape == (5, 4)
    net.load_state_dict(state)
    X, _ = _data()
    _close(net(X).data, _torch_out(m, X))
    m2 = Named().double()
    m2.load_state_dict(interop.state_dict_to_torch(net, m2))
    _close(_torch_out(m2, X), net(X).data)


def test_pytorch_names_that_do_not_fit_say_what_was_mapped() -> None:
    m = nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Linear(5, 2)).double()
    net = Network([4, 6, 2], seed=0)
    with pytest.raises(ShapeError, match=re.escape(
            "load_state_dict: W2 has shape (5, 4) in the state but (6, 4) in the model "
            "(PyTorch names mapped: 0.weight→W2, 0.bias→b2, 2.weight→W3, 2.bias→b3)")):
        net.load_state_dict(m.state_dict())
    with pytest.raises(ConfigError, match=re.escape(
            "load_state_dict: the state holds 2 PyTorch layers (0, 2) but the model has 1 weighted layers")):
        Network([4, 2], seed=0).load_state_dict(m.state_dict())
    bn = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).state_dict()
    with pytest.raises(ConfigError, match=r"'1\.running_mean' is not a PyTorch Linear parameter name"):
        from nablagraph.nn.naming import notation_names
        notation_names(bn, "load_state_dict")


# ------------------------------------------------------------------ files
def test_a_file_saved_by_pytorch_loads_here(tmp_path: Path) -> None:
    torch.manual_seed(6)
    m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    path = tmp_path / "torch.safetensors"
    torch_save_file(m.state_dict(), str(path))
    net = Network([4, 5, 3], activation="relu", output_activation="identity", seed=0)
    ng.io.load_into(net, path)
    X, _ = _data()
    _close(net(X).data, _torch_out(m, X))
    # float32 weights into a float64 model: refused, with what to do
    torch_save_file(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).state_dict(), str(path))
    with pytest.raises(DTypeError, match=r"^load_into: W2 is float32 in '.*' but float64 in the model; build "
                       r"the model with dtype=np\.float32 \(PyTorch names mapped: 0\.weight→W2, 0\.bias→b2"):
        ng.io.load_into(net, path)


def test_a_file_saved_here_loads_into_pytorch_in_both_namings(tmp_path: Path) -> None:
    net = Network([4, 5, 3], activation="tanh", seed=7)
    X, _ = _data()
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    ng.save(net, ours)
    interop.save(net, theirs, naming="torch")
    assert sorted(torch_load_file(str(theirs))) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert sorted(torch_load_file(str(ours))) == ["W2", "W3", "b2", "b3"]
    names = interop.torch_names(net)

    def same_bits(m: Any) -> None:
        state = m.state_dict()
        assert all(np.array_equal(state[names[n]].numpy(), p.data) for n, p in net.named_parameters())
        _close(_torch_out(m, X), net(X).data)

    for path in (ours, theirs):
        m = interop.to_torch(Network([4, 5, 3], activation="tanh", seed=8))
        interop.load_torch(m, path)
        same_bits(m)
    m = interop.to_torch(Network([4, 5, 3], activation="tanh", seed=9))
    m.load_state_dict(torch_load_file(str(theirs)))  # PyTorch's own loader, as it is
    same_bits(m)
    for path in (ours, theirs):  # and back here: rebuilt from the metadata, or loaded into
        _close(ng.load(path)(X).data, net(X).data, 0.0)
        other = Network([4, 5, 3], activation="tanh", seed=10)
        ng.io.load_into(other, path)
        _close(other(X).data, net(X).data, 0.0)


# ------------------------------------------------------------------ what is refused
@pytest.mark.parametrize(("layers", "message"), [
    (lambda: [nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)], r"layer 1 \(Dropout\(p=0\.5, inplace=False\)\) is not supported; supported: Linear"),
    (lambda: [nn.Linear(4, 4), nn.BatchNorm1d(4)], r"layer 1 \(BatchNorm1d\(4,.*\)\) is not supported"),
    (lambda: [nn.Linear(4, 4), nn.LeakyReLU(0.2)], r"layer 1 \(LeakyReLU\(negative_slope=0\.2\)\) is not supported"),
    (lambda: [nn.Linear(4, 4), nn.Softmax(dim=0)], r"layer 1 \(Softmax\(dim=0\)\) is not supported"),
    (lambda: [nn.Linear(4, 4), nn.ReLU(), nn.Sigmoid()], r"the activation 2 \(Sigmoid\(\)\) follows another activation"),
    (lambda: [nn.ReLU(), nn.Linear(4, 2)], r"the activation 0 \(ReLU\(\)\) comes before any Linear layer"),
    (lambda: [nn.Linear(4, 2, bias=False)], r"layer 0 is Linear\(bias=False\); a Dense layer always has a bias"),
    (lambda: [nn.ReLU()], r"the activation 0 \(ReLU\(\)\) comes before any Linear layer"),
])
def test_from_torch_refuses_what_it_cannot_represent(layers: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^from_torch: " + message):
        interop.from_torch(nn.Sequential(*layers()))


def test_to_torch_refuses_custom_activations_and_other_modules() -> None:
    custom = Sequential(Dense(2, 3, activation=lambda z: z * z, rng=0))
    with pytest.raises(ConfigError, match=r"^to_torch: Dense layer 2 uses the activation '<lambda>', which has no torch.nn module here; supported: identity, sigmoid"):
        interop.to_torch(custom)
    with pytest.raises(ConfigError, match=r"^to_torch: expected a Network, a Sequential of Dense layers or a Dense, got Tensor"):
        interop.to_torch(ng.Tensor([1.0]))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^from_torch: expected a torch.nn.Module, got Network"):
        interop.from_torch(Network([2, 1], seed=0))


def test_without_the_extras_the_bridge_says_what_to_install() -> None:
    # As after a plain `pip install .`: torch and onnx cannot be imported.
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['onnx'] = None\n"
        "import nablagraph as ng\n"
        "from nablagraph import interop\n"
        "net = ng.nn.Network([2, 3, 1], seed=0)\n"
        "print(interop.torch_names(net))\n"
        "for call in (lambda: interop.to_torch(net), lambda: interop.to_onnx(net), lambda: interop.from_onnx('m.onnx')):\n"
        "    try:\n"
        "        call()\n"
        "    except ng.ConfigError as e:\n"
        "        print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == [
        "{'W2': '0.weight', 'b2': '0.bias', 'W3': '2.weight', 'b3': '2.bias'}",
        "to_torch: PyTorch is not installed; pip install 'nablagraph[torch]'",
        "to_onnx: onnx is not installed; pip install 'nablagraph[onnx]'",
        "from_onnx: onnx is not installed; pip install 'nablagraph[onnx]'",
    ]
