"""The Tensor: construction and dtype rules, properties, every operator (reflected forms
included), the method aliases, comparisons and ``no_grad``.

Values are compared with NumPy, gradients with closed forms or ``gradcheck``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import functional as F
from nablagraph.tensor import Tensor

RNG = np.random.default_rng(20240607)
A = RNG.standard_normal((2, 3))
B = RNG.standard_normal((2, 3))
POS = RNG.uniform(0.5, 2.0, (2, 3))


def leaf(a: np.ndarray | float, dtype: Any = np.float64) -> Tensor:
    return Tensor(np.array(a, dtype=dtype), requires_grad=True)


def grad_of(f: Callable[[Tensor], Tensor], a: np.ndarray) -> np.ndarray:
    x = leaf(a)
    f(x).sum().backward()
    assert x.grad is not None
    return x.grad.data


# ---------------------------------------------------------- construction
def test_lists_and_python_numbers_become_float64() -> None:
    assert Tensor([1, 2, 3]).dtype == np.float64
    assert Tensor([[1.0, 2.0]]).dtype == np.float64
    assert Tensor(3).dtype == np.float64 and Tensor(3).shape == ()
    assert Tensor(2.5).item() == 2.5
    assert Tensor([True, False]).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_floating_arrays_keep_their_dtype_and_are_not_copied(dtype: Any) -> None:
    arr = np.ones((2, 2), dtype=dtype)
    x = Tensor(arr, requires_grad=True)
    assert x.dtype == dtype
    assert x.data is arr and x.numpy() is arr


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_and_boolean_arrays_are_kept_but_cannot_require_grad(dtype: Any) -> None:
    arr = np.array([1, 0, 1], dtype=dtype)
    x = Tensor(arr)
    assert x.dtype == dtype and not x.requires_grad
    with pytest.raises(ng.DTypeError):
        Tensor(arr, requires_grad=True)
    with pytest.raises(ng.DTypeError):
        x.requires_grad_()


def test_dtype_argument_converts() -> None:
    x = Tensor([1, 2], dtype=np.float32, requires_grad=True)
    assert x.dtype == np.float32
    assert Tensor(np.array([1, 2]), dtype=np.float64).dtype == np.float64


def test_tensor_of_a_tensor_shares_its_data() -> None:
    x = Tensor(A)
    assert Tensor(x).data is x.data


# ------------------------------------------------------------ properties
def test_properties_of_a_leaf() -> None:
    x = Tensor(A, requires_grad=True, name="W2")
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
    assert x.dtype == np.float64
    assert x.requires_grad and x.name == "W2" and x.is_leaf
    assert x.grad is None and x.op is None and x.parents == ()


def test_properties_of_a_recorded_result() -> None:
    x = Tensor(A, requires_grad=True)
    y = x * 2
    assert not y.is_leaf and y.requires_grad and y.op == "mul"
    assert y.parents[0] is x
    assert y.name is None


def test_requires_grad_is_contagious_and_constants_record_nothing() -> None:
    c = Tensor(A) * Tensor(B)
    assert not c.requires_grad and c.is_leaf and c.op is None
    assert (Tensor(A) * leaf(B)).requires_grad


def test_detach_cuts_the_graph_and_shares_data() -> None:
    x = leaf(A)
    y = x * 3
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data
    (d * x).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 3 * A)  # d is a constant: no path back through y


def test_item_and_numpy() -> None:
    x = Tensor([[4.5]])
    v = x.item()
    assert isinstance(v, float) and v == 4.5
    assert isinstance(x.numpy(), np.ndarray)


def test_the_data_of_a_scalar_result_is_a_0d_array_like_that_of_a_scalar_leaf() -> None:
    assert isinstance(Tensor(1.0).data, np.ndarray)
    y = leaf(A).sum()
    assert isinstance(y.data, np.ndarray) and isinstance(y.numpy(), np.ndarray)


def test_repr_shows_values_name_shape_dtype_and_op() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    r = repr(x)
    assert r.startswith("Tensor([1., 2.]") and "name='x'" in r
    assert "shape=(2,)" in r and "dtype=float64" in r and "requires_grad=True" in r
    y = x * 2
    assert "op=mul" in repr(y)
    y.sum().backward()
    assert "op=mul (freed)" in repr(y)
    big = repr(Tensor(np.zeros(1000, dtype=np.float32)))
    assert "..." in big and "dtype=float32" in big and len(big) < 200


def test_tensors_hash_by_identity() -> None:
    x, y = Tensor(A), Tensor(A)
    d = {x: 1, y: 2}
    assert d[x] == 1 and d[y] == 2


# -------------------------------------------------------------- operators
BINARY: dict[str, tuple[Callable[[Any, Any], Any], Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]]] = {
    # name: (operator, closed-form (∂/∂x, ∂/∂y) of Σ f(x, y))
    "add": (lambda x, y: x + y, lambda x, y: (np.ones_like(x), np.ones_like(y))),
    "sub": (lambda x, y: x - y, lambda x, y: (np.ones_like(x), -np.ones_like(y))),
    "mul": (lambda x, y: x * y, lambda x, y: (y, x)),
    "div": (lambda x, y: x / y, lambda x, y: (1 / y, -x / y**2)),
    "pow": (lambda x, y: x ** y, lambda x, y: (y * x ** (y - 1), x**y * np.log(x))),
}


@pytest.mark.parametrize("op", list(BINARY))
def test_binary_operator_between_tensors(op: str) -> None:
    f, d = BINARY[op]
    x, y = leaf(POS), leaf(B)
    out = f(x, y)
    assert isinstance(out, Tensor) and out.op == op
    np.testing.assert_allclose(out.data, f(POS, B))
    out.sum().backward()
    dx, dy = d(POS, B)
    assert x.grad is not None and y.grad is not None
    np.testing.assert_allclose(x.grad.data, dx, rtol=1e-12)
    np.testing.assert_allclose(y.grad.data, dy, rtol=1e-12)


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("other", ["python", "array"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_binary_operator_with_a_constant_on_either_side_is_recorded(op: str, other: str, side: str) -> None:
    """``2 - t``, ``arr * t``, ``t / arr``...: the result is a recorded Tensor."""
    f, d = BINARY[op]
    c: Any = 1.7 if other == "python" else RNG.uniform(0.5, 2.0, (3,))
    cb = np.broadcast_to(c, (2, 3))
    x = leaf(POS)
    out = f(c, x) if side == "left" else f(x, c)
    assert isinstance(out, Tensor), type(out)
    assert out.requires_grad and out.op in (op, "pow_scalar")
    np.testing.assert_allclose(out.data, f(cb, POS) if side == "left" else f(POS, cb))
    out.sum().backward()
    expected = d(cb, POS)[1] if side == "left" else d(POS, cb)[0]
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_matmul_operator_and_its_reflection_with_an_array() -> None:
    W = RNG.standard_normal((4, 2))
    x = leaf(A)
    out = W @ x  # ndarray @ Tensor defers to Tensor.__rmatmul__
    assert isinstance(out, Tensor) and out.op == "matmul"
    np.testing.assert_allclose(out.data, W @ A)
    out.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, W.T @ np.ones((4, 3)))
    y = leaf(A)
    V = RNG.standard_normal((3, 5))
    (y @ V).sum().backward()
    assert y.grad is not None
    np.testing.assert_allclose(y.grad.data, np.ones((2, 5)) @ V.T)


def test_unary_minus_plus_and_abs() -> None:
    x = leaf(A)
    assert (+x) is x
    n = -x
    assert n.op == "neg"
    np.testing.assert_allclose(n.data, -A)
    np.testing.assert_allclose(grad_of(lambda t: -t, A), -np.ones_like(A))
    a = abs(x)
    assert a.op == "abs"
    np.testing.assert_allclose(a.data, np.abs(A))
    np.testing.assert_allclose(grad_of(abs, A), np.sign(A))


def test_power_with_a_number_records_pow_scalar() -> None:
    x = leaf(POS)
    assert (x ** 3).op == "pow_scalar" and (x ** 0.5).op == "pow_scalar"
    assert (x ** Tensor(2.0)).op == "pow" and (2.0 ** x).op == "pow"
    np.testing.assert_allclose(grad_of(lambda t: t ** 3, POS), 3 * POS**2)
    np.testing.assert_allclose(grad_of(lambda t: 2.0 ** t, POS), 2.0**POS * np.log(2.0))


def test_reused_tensor_accumulates() -> None:
    np.testing.assert_allclose(grad_of(lambda t: t * t + t, A), 2 * A + 1)


# ---------------------------------------------------------- shape methods
def test_T_reverses_axes() -> None:
    x = leaf(RNG.standard_normal((2, 3, 4)))
    assert x.T.shape == (4, 3, 2)
    np.testing.assert_array_equal(x.T.data, np.transpose(x.data))
    ng.gradcheck(lambda t: t.T * 1.0, [x])


@pytest.mark.parametrize("call", [
    lambda t: t.transpose(),
    lambda t: t.transpose(1, 0, 2),
    lambda t: t.transpose((2, 0, 1)),
    lambda t: t.transpose([-1, 0, 1]),
])
def test_transpose_forms(call: Callable[[Tensor], Tensor]) -> None:
    a = RNG.standard_normal((2, 3, 4))
    x = leaf(a)
    out = call(x)
    expected = call(a)  # NumPy's transpose takes the same arguments
    np.testing.assert_array_equal(out.data, expected)
    ng.gradcheck(lambda t: call(t) * 1.0, [x])


@pytest.mark.parametrize("call", [
    lambda t: t.reshape(3, 2),
    lambda t: t.reshape((6,)),
    lambda t: t.reshape([1, -1]),
    lambda t: t.reshape(-1),
])
def test_reshape_forms(call: Callable[[Tensor], Tensor]) -> None:
    x = leaf(A)
    out = call(x)
    np.testing.assert_array_equal(out.data, call(A))
    assert out.op == "reshape"
    ng.gradcheck(lambda t: call(t) * 1.0, [x])


@pytest.mark.parametrize("method", ["sum", "mean"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean_methods(method: str, axis: Any, keepdims: bool) -> None:
    x = leaf(A)
    out = getattr(x, method)(axis=axis, keepdims=keepdims)
    expected = getattr(A, method)(axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected) and out.op == method
    np.testing.assert_allclose(out.data, expected)
    n = A.size if axis in (None, (0, 1)) else A.shape[axis]
    np.testing.assert_allclose(
        grad_of(lambda t: getattr(t, method)(axis=axis, keepdims=keepdims), A),
        np.ones_like(A) / (n if method == "mean" else 1),
    )


@pytest.mark.parametrize("index", [
    0, -1, (1, 2), (slice(None), 1), (Ellipsis, slice(0, 2)), [1, 1, 0], (None, 0),
    (slice(None, None, -1), [2, 0, 2]),
])
def test_indexing(index: Any) -> None:
    x = leaf(A)
    out = x[index]
    assert out.op == "getitem"
    np.testing.assert_array_equal(out.data, A[index])
    expected = np.zeros_like(A)
    np.add.at(expected, index, 1.0)  # each selected element gets 1 per selection
    np.testing.assert_array_equal(grad_of(lambda t: t[index], A), expected)


def test_indexing_with_tensors_bool_masks_and_comparisons() -> None:
    x = leaf(A)
    mask = x > 0
    out = x[mask]
    np.testing.assert_array_equal(out.data, A[A > 0])
    np.testing.assert_array_equal(grad_of(lambda t: t[Tensor(A > 0)], A), (A > 0) * 1.0)
    idx = Tensor(np.array([1, 0, 1]))
    np.testing.assert_array_equal(x[idx].data, A[[1, 0, 1]])


# --------------------------------------------------------- elementwise methods
METHODS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
    "exp": (lambda t: t.exp(), np.exp, np.exp),
    "log": (lambda t: t.log(), np.log, lambda a: 1 / a),
    "sqrt": (lambda t: t.sqrt(), np.sqrt, lambda a: 0.5 / np.sqrt(a)),
    "abs": (lambda t: t.abs(), np.abs, np.sign),
    "maximum": (lambda t: t.maximum(1.0), lambda a: np.maximum(a, 1.0), lambda a: (a > 1.0) * 1.0),
    "clip": (lambda t: t.clip(0.8, 1.5), lambda a: np.clip(a, 0.8, 1.5), lambda a: ((a >= 0.8) & (a <= 1.5)) * 1.0),
    "sigmoid": (lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), lambda a: np.exp(-a) / (1 + np.exp(-a)) ** 2),
    "tanh": (lambda t: t.tanh(), np.tanh, lambda a: 1 / np.cosh(a) ** 2),
    "relu": (lambda t: t.relu(), lambda a: np.maximum(a, 0), lambda a: (a > 0) * 1.0),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_elementwise_methods(name: str) -> None:
    call, f, df = METHODS[name]
    a = np.array([[0.6, 1.2, 1.9], [0.55, 0.95, 1.7]])  # positive, away from 1.0, 0.8 and 1.5
    out = call(leaf(a))
    assert out.op == name
    np.testing.assert_allclose(out.data, f(a), rtol=1e-13)
    np.testing.assert_allclose(grad_of(call, a), df(a), rtol=1e-12)


def test_softmax_methods_match_the_functional_forms() -> None:
    x = Tensor(A)
    np.testing.assert_array_equal(x.softmax().data, F.softmax(x).data)
    np.testing.assert_array_equal(x.softmax(axis=0).data, F.softmax(x, axis=0).data)
    np.testing.assert_allclose(x.log_softmax(axis=0).data, np.log(F.softmax(x, axis=0).data))


def test_identity_where_and_mT() -> None:
    x = leaf(A)
    assert F.identity(x) is x
    w = F.where(A > 0, x, 2 * x)
    np.testing.assert_allclose(w.data, np.where(A > 0, A, 2 * A))
    np.testing.assert_allclose(grad_of(lambda t: F.where(A > 0, t, 2 * t), A), np.where(A > 0, 1.0, 2.0))
    m = F.mT(leaf(RNG.standard_normal((2, 3, 4))))
    assert m.shape == (2, 4, 3)


# ------------------------------------------------------------- comparisons
@pytest.mark.parametrize("cmp", [
    lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b,
    lambda a, b: a >= b, lambda a, b: a == b, lambda a, b: a != b,
])
@pytest.mark.parametrize("other", ["tensor", "array", "python"])
def test_comparisons_return_boolean_tensors_that_never_require_grad(cmp: Callable[[Any, Any], Any], other: str) -> None:
    x = leaf(A)
    o: Any = {"tensor": leaf(B), "array": B, "python": 0.1}[other]
    raw = B if other != "python" else 0.1
    out = cmp(x, o)
    assert isinstance(out, Tensor)
    assert out.dtype == np.bool_ and not out.requires_grad and out.is_leaf
    np.testing.assert_array_equal(out.data, cmp(A, raw))


def test_numpy_ufuncs_refuse_tensors_instead_of_leaving_the_graph() -> None:
    assert Tensor.__array_ufunc__ is None
    x = leaf(A)
    with pytest.raises(TypeError):
        np.exp(x)
    with pytest.raises(TypeError):
        np.add(x, 1.0)
    out = A + x  # the operator, though, defers to Tensor.__radd__
    assert isinstance(out, Tensor) and out.requires_grad


def test_np_asarray_of_a_tensor_gives_its_data() -> None:
    x = Tensor(A)
    assert np.asarray(x) is x.data
    assert np.asarray(x, dtype=np.float32).dtype == np.float32


# ---------------------------------------------------------------- no_grad
def test_no_grad_records_nothing() -> None:
    x = leaf(A)
    with ng.no_grad():
        assert not ng.is_grad_enabled()
        y = (x * 2).exp().sum()
        z = x[0] @ x[1]
    assert ng.is_grad_enabled()
    for r in (y, z):
        assert not r.requires_grad and r.is_leaf and r.op is None and r.parents == ()
    np.testing.assert_allclose(y.data, np.exp(2 * A).sum())


def test_enable_grad_inside_no_grad_and_restoration_after_an_exception() -> None:
    x = leaf(A)
    with ng.no_grad():
        with ng.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with pytest.raises(RuntimeError), ng.no_grad():
        raise RuntimeError("boom")
    assert ng.is_grad_enabled()


# ---------------------------------------------------------------- float32
PY_SCALAR_OPS: dict[str, Callable[[Tensor], Tensor]] = {
    "t * 2.0": lambda t: t * 2.0,
    "2.0 - t": lambda t: 2.0 - t,
    "t / 3": lambda t: t / 3,
    "3 / t": lambda t: 3 / t,
    "t + 1": lambda t: t + 1,
    "t ** 2": lambda t: t ** 2,
    "t ** 0.5": lambda t: t ** 0.5,
    "2 ** t": lambda t: 2 ** t,
    "maximum(t, 0.5)": lambda t: t.maximum(0.5),
    "clip(t, 0.2, 1.0)": lambda t: t.clip(0.2, 1.0),
    "where(t > 1, t, 0.0)": lambda t: F.where(t > 1, t, 0.0),
    "mean": lambda t: t.mean(),
    "leaky_relu": lambda t: F.leaky_relu(t - 1, 0.1),
    "quadratic_cost vs list": lambda t: F.quadratic_cost(t, [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]),
    "mse_loss vs float64 array": lambda t: F.mse_loss(t, B),
    "bce vs float64 array": lambda t: F.binary_cross_entropy(t / 3, (B > 0) * 1.0),
    "cross_entropy vs int labels": lambda t: F.cross_entropy(t, np.array([0, 2])),
    "cross_entropy vs one-hot": lambda t: F.cross_entropy(t, np.eye(3)[[0, 2]]),
}


@pytest.mark.parametrize("name", list(PY_SCALAR_OPS))
def test_float32_is_kept_with_python_numbers_and_float64_targets(name: str) -> None:
    f = PY_SCALAR_OPS[name]
    x32, x64 = leaf(POS, np.float32), leaf(POS)
    y32, y64 = f(x32), f(x64)
    assert y32.dtype == np.float32, f"{name} gave {y32.dtype}"
    np.testing.assert_allclose(y32.data, y64.data, rtol=1e-5, atol=1e-6)
    y32.sum().backward()
    y64.sum().backward()
    assert x32.grad is not None and x64.grad is not None
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.data, x64.grad.data, rtol=1e-4, atol=1e-6)


def test_float32_stays_float32_through_a_layer_and_second_derivatives() -> None:
    X = Tensor(RNG.standard_normal((5, 3)).astype(np.float32))
    W = leaf(RNG.standard_normal((4, 3)), np.float32)
    b = leaf(np.zeros(4), np.float32)
    C = F.cross_entropy(F.tanh(F.linear(X, W, b)), np.array([0, 1, 2, 3, 0]))
    assert C.dtype == np.float32
    gW, gb = ng.grad(C, [W, b], create_graph=True)
    assert gW is not None and gb is not None
    assert gW.dtype == np.float32 and gb.dtype == np.float32
    (hW,) = ng.grad((gW * gW).sum(), W)
    assert hW is not None and hW.dtype == np.float32


# ------------------------------------------------------- grads and hooks
def test_zero_grad_keeps_the_buffer() -> None:
    x = leaf(A)
    (x * 2).sum().backward()
    assert x.grad is not None
    buf = id(x.grad.data)  # the id only: holding the array would stop the reuse
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full_like(A, 3.0))
    assert id(x.grad.data) == buf  # the next backward wrote into the kept buffer
    x.zero_grad(set_to_none=False)
    assert id(x.grad.data) == buf and not x.grad.data.any()


def test_retain_grad_keeps_delta_of_an_intermediate() -> None:
    x = leaf(A)
    z = x * 2
    z.retain_grad()
    F.tanh(z).sum().backward()
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.data, 1 - np.tanh(2 * A) ** 2)


def test_register_hook_can_replace_the_gradient_and_be_removed() -> None:
    x = leaf(A)
    seen: list[np.ndarray] = []
    remove = x.register_hook(lambda g: seen.append(g.data.copy()) or g * 10)
    (x * 2).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(seen[0], np.full_like(A, 2.0))
    np.testing.assert_allclose(x.grad.data, np.full_like(A, 20.0))
    remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full_like(A, 2.0))
    assert len(seen) == 1
