"""PyTorch's tensor names: ``ng.tensor`` the factory (and the old module path kept),
the other factories, dtype conversion recorded for gradients, ``max``/``min``/``argmax``.

Gradients of the new ops are also checked, on drawn cases, in tests/test_ops_gradcheck.py
(the registry's completeness test covers ``stack``, ``max``, ``min`` and ``cast``).
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import _tensor
from nablagraph.errors import ConfigError, DTypeError, ShapeError
from nablagraph.viz import to_dot


# ------------------------------------------------------------------ the module move
def test_ng_tensor_is_the_factory_and_the_old_module_path_still_imports() -> None:
    x = ng.tensor([1.0, 2.0], requires_grad=True)
    assert type(x) is ng.Tensor and x.requires_grad and x.dtype == np.float64
    from nablagraph.tensor import Tensor, apply, no_grad  # the old path, the same objects

    assert Tensor is ng.Tensor is _tensor.Tensor and no_grad is ng.no_grad and apply is _tensor.apply
    import nablagraph.tensor as old

    # `import a.b as m` binds the package attribute, now the factory (documented).
    assert old is ng.tensor


def test_importing_the_old_module_first_in_a_fresh_process_keeps_the_factory() -> None:
    # The import system binds a submodule to its package attribute when it is first
    # loaded; the package loads nablagraph.tensor itself, so a user's later import of it
    # cannot replace the factory.
    code = (
        "from nablagraph.tensor import Tensor\nimport nablagraph as ng\n"
        "import sys\nassert callable(ng.tensor) and not isinstance(ng.tensor, type(sys))\n"
        "print(ng.tensor([1.0]).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1.0]"


def test_a_pickle_written_before_the_move_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    t = ng.tensor([[1.0, 2.0]], requires_grad=True, name="x")
    # Pickle as the old layout did: Tensor named nablagraph.tensor.Tensor.
    monkeypatch.setattr(_tensor.Tensor, "__module__", "nablagraph.tensor")
    old = pickle.dumps((net, t))
    monkeypatch.undo()
    assert b"nablagraph.tensor\n" in old or b"nablagraph.tensor\x94" in old
    assert b"nablagraph._tensor" not in old
    net2, t2 = pickle.loads(old)
    assert type(t2) is ng.Tensor and t2.name == "x" and t2.tolist() == [[1.0, 2.0]]
    for (n, a), (_, b) in zip(net2.named_parameters(), net.named_parameters()):
        assert type(a) is ng.Tensor and np.array_equal(a.data, b.data), n


def test_a_new_pickle_names_the_new_module() -> None:
    assert b"nablagraph._tensor" in pickle.dumps(ng.tensor([1.0]))


# ------------------------------------------------------------------ factories
def test_factories_shapes_dtypes_and_values() -> None:
    assert ng.zeros(2, 3).shape == (2, 3) and ng.zeros((2, 3)).dtype == np.float64
    assert ng.ones(2, dtype=ng.float32).dtype == np.float32 and ng.ones(2).tolist() == [1.0, 1.0]
    assert ng.full((2,), 7.5).tolist() == [7.5, 7.5]
    assert ng.eye(2, 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    a = ng.arange(4)
    assert a.dtype == np.int64 and a.tolist() == [0, 1, 2, 3] and not a.requires_grad
    assert ng.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    x = ng.tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    assert ng.zeros_like(x).dtype == np.float32 and ng.ones_like(x).tolist() == [[1.0, 1.0]]
    assert ng.full_like(x, 3, dtype="float64").dtype == np.float64
    assert ng.tensor([1, 2]).dtype == np.float64  # Python ints: float64, as Tensor(...)
    assert ng.tensor(np.array([1, 2])).dtype == np.int64  # an array keeps its dtype
    assert ng.tensor([1.0], dtype="torch.float32").dtype == np.float32
    assert ng.tensor([1], dtype="torch.long").dtype == np.int64


def test_tensor_copies_its_data_and_leaves_the_graph() -> None:
    src = np.array([1.0, 2.0])
    t = ng.tensor(src)
    src[0] = 9.0
    assert t.tolist() == [1.0, 2.0]
    w = ng.tensor([3.0], requires_grad=True)
    u = ng.tensor(w * 2)
    assert u.is_leaf and not u.requires_grad and u.tolist() == [6.0]


def test_randn_is_seeded_and_uses_a_generator() -> None:
    a, b = ng.randn(3, 2, seed=5), ng.randn((3, 2), seed=5)
    assert np.array_equal(a.data, b.data)
    assert np.array_equal(a.data, np.random.default_rng(5).standard_normal((3, 2)))
    g = np.random.default_rng(1)
    first, second = ng.randn(4, generator=g), ng.randn(4, generator=g)
    ref = np.random.default_rng(1).standard_normal(8)
    assert np.array_equal(np.concatenate([first.data, second.data]), ref)
    assert ng.randn(2, seed=0, dtype=ng.float32).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "cls", "match"),
    [
        (lambda: ng.zeros(2, dtype="flaot32"), DTypeError, r"^zeros: dtype 'flaot32' is not a dtype a tensor"),
        (lambda: ng.tensor([1.0], dtype=complex), DTypeError, r"^tensor: dtype <class 'complex'> is not"),
        (lambda: ng.zeros(2, -1), ShapeError, r"^zeros: sizes must be non-negative integers, got \(2, -1\)"),
        (lambda: ng.randn(2, seed=0, generator=np.random.default_rng(0)), ConfigError, r"^randn: pass seed= or generator=, not both"),
        (lambda: ng.randn(2, generator=0), ConfigError, r"^randn: generator must be a numpy.random.Generator, got int"),
        (lambda: ng.arange(0, 3, 0), ConfigError, r"^arange: step must not be zero"),
        (lambda: ng.tensor(["a"]), DTypeError, r"^tensor: cannot hold data of dtype <U1"),
        (lambda: ng.tensor([1], dtype="int64", requires_grad=True), DTypeError, r"requires_grad=True needs floating-point"),
    ],
)
def test_factories_refuse_bad_arguments(call, cls, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(cls, match=match):
        call()


# ------------------------------------------------------------------ dtype conversion
def test_a_cast_round_trip_passes_the_gradient_back_in_the_inputs_dtype() -> None:
    x = ng.tensor([0.5, -1.25, 3.0], requires_grad=True)  # float64, exact in float32
    w = np.array([2.0, -3.0, 0.5])
    y = x.float()
    assert y.dtype == np.float32 and y.op == "cast"
    (y.double() * w).sum().backward()
    assert x.grad is not None and x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, w)  # d/dx Σ w x = w, closed form


def test_a_float32_parameter_used_in_float64_gets_a_float32_gradient() -> None:
    p = ng.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (p.to(ng.float64) ** 2).sum().backward()
    assert p.grad is not None and p.grad.dtype == np.float32
    np.testing.assert_array_equal(p.grad.data, [2.0, 4.0])


def test_to_the_same_dtype_is_the_tensor_itself_and_integer_casts_leave_the_graph() -> None:
    x = ng.tensor([1.7, -2.2], requires_grad=True)
    assert x.to(np.float64) is x and x.double() is x and x.to("cpu") is x
    assert x.astype(np.float64) is not x  # astype copies, as NumPy's
    k = x.astype("int64")
    assert k.dtype == np.int64 and not k.requires_grad and k.tolist() == [1, -2]
    with pytest.raises(DTypeError, match=r"^astype: dtype 'float31' is not a dtype a tensor can hold"):
        x.astype("float31")
    with pytest.raises(DTypeError, match=r"^to: dtype None is not a dtype"):
        x.to(None)


# ------------------------------------------------------------------ max, min, argmax
def test_max_and_min_gradients_split_ties_evenly_and_match_finite_differences() -> None:
    x = ng.tensor([[1.0, 5.0, 5.0], [2.0, 0.0, -1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    # Row 0 ties 5 and 5: each gets ½ (PyTorch's amax does the same; its x.max(dim) would
    # give 1 to index 1 only).  Row 1: the indicator of the maximum.
    np.testing.assert_array_equal(x.grad.data, [[0, 0.5, 0.5], [1, 0, 0]])
    z = ng.tensor([[0.3, -0.7], [1.1, 0.2]], requires_grad=True)
    ng.gradcheck(lambda t: t.min(axis=0) * ng.tensor([1.0, -2.0]), [z])
    ng.gradcheck(lambda t: t.max(), [z])


def test_argmax_and_argmin_are_int64_outside_the_graph_and_take_the_first_tie() -> None:
    x = ng.tensor([[1.0, 5.0, 5.0], [2.0, 0.0, -1.0]], requires_grad=True)
    i = x.argmax(axis=1)
    assert i.dtype == np.int64 and not i.requires_grad and i.tolist() == [1, 0]
    assert x.argmin().tolist() == 5 and ng.argmin(x, axis=0, keepdims=True).tolist() == [[0, 1, 1]]
    with pytest.raises(ShapeError, match=r"^argmax: cannot take the argmax of an empty axis \(shape \(0, 3\), axis 0\)"):
        ng.zeros(0, 3).argmax(axis=0)
    with pytest.raises(ShapeError, match=r"^argmax: invalid axis 2 for a tensor of shape \(2, 3\)"):
        x.argmax(axis=2)


def test_max_over_an_empty_axis_names_the_axis() -> None:
    with pytest.raises(ShapeError, match=r"^max: cannot take the maximum over axis 0, which is empty \(shape \(0, 3\)\)"):
        ng.zeros(0, 3).max(axis=0)
    with pytest.raises(ShapeError, match=r"^min: cannot take the minimum over an empty tensor \(shape \(0,\)\)"):
        ng.zeros(0).min()


def test_stack_and_cat() -> None:
    a, b = ng.tensor([1.0, 2.0], requires_grad=True), ng.tensor([3.0, 4.0], requires_grad=True)
    s = ng.stack([a, b], axis=1)
    assert s.tolist() == [[1.0, 3.0], [2.0, 4.0]] and s.op == "stack"
    (s * ng.tensor([[1.0, 10.0], [100.0, 1000.0]])).sum().backward()
    assert a.grad.tolist() == [1.0, 100.0] and b.grad.tolist() == [10.0, 1000.0]
    assert ng.cat([a, b], dim=0).tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ShapeError, match=r"^stack: all tensors must have the same shape, got \(2,\), \(3,\)"):
        ng.stack([a, ng.zeros(3)])
    with pytest.raises(ShapeError, match=r"^stack: expected a non-empty list of tensors, got a list of length 0"):
        ng.stack([])
    with pytest.raises(ShapeError, match=r"^stack: axis 3 is out of range for stacking tensors of shape \(2,\) \(valid axes: -2 to 1\)"):
        ng.stack([a, b], axis=3)


def test_a_torch_dtype_is_understood_without_importing_torch_here() -> None:
    torch = pytest.importorskip("torch")
    x = ng.tensor([1.5, 2.0], requires_grad=True)
    assert x.to(torch.float32).dtype == np.float32 and ng.zeros(2, dtype=torch.int64).dtype == np.int64
    assert ng.tensor([1.0], dtype=torch.float16).dtype == np.float16


def test_diagrams_show_the_new_ops_arguments() -> None:
    x = ng.tensor([[1.0, 2.0]], requires_grad=True)
    dot = str(to_dot(ng.stack([x.float().double(), x], axis=0).max(axis=1).sum()))
    assert "to float32" in dot and "to float64" in dot and "axis=0" in dot and "axis=1" in dot


def test_pytorchs_dim_is_taken_where_it_means_axis_and_refused_where_it_would_mislead() -> None:
    x = ng.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, -1.0]])
    assert x.argmax(dim=1).tolist() == [1, 0] and x.argmin(dim=0).tolist() == [0, 1, 1]
    assert ng.stack([x, x], dim=2).shape == (2, 3, 2)
    with pytest.raises(ConfigError, match=r"^max: got dim=1; here max\(axis=1\) returns the values only, as "
                       r"NumPy \(PyTorch's max\(dim\) returns values and indices\): write x.max\(axis=1\) "
                       r"for the values and x.argmax\(axis=1\) for the indices"):
        x.max(dim=1)
    with pytest.raises(ConfigError, match=r"^min: got dim=0"):
        x.min(dim=0)
    with pytest.raises(ConfigError, match=r"^argmax: pass axis= or dim= \(the same thing\), not both"):
        x.argmax(axis=0, dim=1)
