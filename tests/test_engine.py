"""The reverse-mode engine: traversal, accumulation, freeing, higher order, hooks."""

from __future__ import annotations

import gc
import sys
import tracemalloc

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import engine, ops
from nablagraph.check import numerical_grad


def fd(f, x: np.ndarray) -> np.ndarray:
    return numerical_grad(lambda t: f(t), [x.copy()])[0]


# ------------------------------------------------------------------ accumulation
def test_reused_node_accumulates_x_times_x_plus_x() -> None:
    x = ng.Tensor(np.array([-1.5, 0.5, 2.0]), requires_grad=True)
    y = (x * x + x).sum()
    y.backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 1, rtol=0, atol=0)
    np.testing.assert_allclose(x.grad.data, fd(lambda t: (t * t + t).sum(), x.data), atol=1e-8)


def test_diamond_graph_matches_finite_differences(rng: np.random.Generator) -> None:
    x0 = rng.standard_normal((3, 4))

    def f(x: ng.Tensor) -> ng.Tensor:
        a = x * 2.0
        b = ng.exp(a) / (1 + a * a)
        c = ng.tanh(a) * b + a
        return (c * b).mean()

    x = ng.Tensor(x0.copy(), requires_grad=True)
    f(x).backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, fd(f, x0), rtol=1e-6, atol=1e-8)


def test_gradients_accumulate_across_backward_calls_into_the_same_buffer() -> None:
    x = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3.0).sum().backward()
    assert x.grad is not None
    buf = id(x.grad.data)  # the id only: a held array is never written (see test_threads)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3 + 2, 3 + 4])
    assert id(x.grad.data) == buf  # accumulated in place, no new buffer
    x.zero_grad()
    assert x.grad is None
    (x * 5.0).sum().backward()
    assert id(x.grad.data) == buf  # written into the buffer zero_grad() kept
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])


def test_broadcast_gradient_is_summed_back_to_the_input_shape(rng: np.random.Generator) -> None:
    x0, b0 = rng.standard_normal((5, 3)), rng.standard_normal((3,))
    x = ng.Tensor(x0, requires_grad=True)
    b = ng.Tensor(b0.copy(), requires_grad=True)
    ((x + b) ** 2).sum().backward()
    assert b.grad is not None and b.grad.shape == (3,)
    np.testing.assert_allclose(b.grad.data, fd(lambda t: ((x0 + t) ** 2).sum(), b0), atol=1e-6)


def test_inputs_that_do_not_require_grad_get_no_gradient_work(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, ...]] = []
    real = ops.LINEAR.vjp

    def spy(F, needs, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(needs)
        return real(F, needs, *args, **kwargs)

    monkeypatch.setattr(ops.LINEAR, "vjp", spy)
    net = ng.nn.Network([4, 3, 2], seed=0)
    X = np.ones((5, 4))
    net.cost(X, np.zeros((5, 2))).backward()
    assert seen[-1] == (False, True, True)  # the first layer never computes ∂C/∂X


# --------------------------------------------------------------- graph freeing
def test_second_backward_through_freed_graph_fails_clearly() -> None:
    x = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ng.sigmoid(x).sum()
    y.backward()
    with pytest.raises(ng.GraphError, match=r"already freed.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (ng.sigmoid(x) * x).sum()
    y.backward(retain_graph=True)
    assert x.grad is not None
    first = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)
    with pytest.raises(ng.GraphError, match="retain_graph=True"):
        y.backward()


def test_intermediate_gradients_are_dropped_unless_retained() -> None:
    x = ng.Tensor(np.array([0.3, -0.7]), requires_grad=True)
    z = x * 2.0
    z2 = x * 3.0
    z2.retain_grad()
    (ng.tanh(z) + ng.tanh(z2)).sum().backward()
    assert z.grad is None
    assert z2.grad is not None
    np.testing.assert_allclose(z2.grad.data, 1 - np.tanh(3.0 * x.data) ** 2)


def test_non_scalar_backward_needs_grad_and_names_shape() -> None:
    x = ng.Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(ng.GraphError, match=r"shape \(2, 3\).*pass grad="):
        y.backward()
    v = np.arange(6.0).reshape(2, 3)
    y.backward(grad=v)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.data, 2 * v)


def test_backward_on_tensor_without_grad_is_an_error() -> None:
    with pytest.raises(ng.GraphError, match="does not require grad"):
        (ng.Tensor([1.0]) * 2.0).sum().backward()


# ---------------------------------------------------------------- deep graphs
def test_long_chain_backpropagates_without_recursion() -> None:
    n = 100_000
    x = ng.Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for i in range(n):
        y = y * 1.0 if i % 2 else y + 0.0
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # any recursion in the engine would now fail at once
    try:
        y.sum().backward()
    finally:
        sys.setrecursionlimit(limit)
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [1.0])


def test_memory_returns_near_the_pre_forward_level_after_backward() -> None:
    rng = np.random.default_rng(0)
    x = ng.Tensor(rng.standard_normal((256, 256)), requires_grad=True)  # 512 KiB
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(40):
            y = ng.tanh(y * 0.9)
        loss = y.sum()
        peak_graph = tracemalloc.get_traced_memory()[0] - base
        loss.backward()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    one = x.data.nbytes
    assert peak_graph > 60 * one  # the forward really held ~80 intermediates
    assert after < 3 * one, (peak_graph, after)  # only x.grad (+ small change) is left
    assert loss.is_freed


def test_retained_graph_keeps_its_memory_until_released() -> None:
    x = ng.Tensor(np.ones((128, 128)), requires_grad=True)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(20):
            y = ng.tanh(y)
        loss = y.sum()
        loss.backward(retain_graph=True)
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
        del loss, y
        gc.collect()
        released = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert kept > 15 * x.data.nbytes
    assert released < 3 * x.data.nbytes


# --------------------------------------------------------------- higher order
def test_second_derivative_of_tanh_matches_closed_form() -> None:
    x0 = np.linspace(-2, 2, 9)
    x = ng.Tensor(x0, requires_grad=True)
    (d1,) = ng.grad(ng.tanh(x).sum(), x, create_graph=True)
    assert d1 is not None
    (d2,) = ng.grad(d1.sum(), x)
    assert d2 is not None
    t = np.tanh(x0)
    np.testing.assert_allclose(d1.data, 1 - t**2, atol=1e-14)
    np.testing.assert_allclose(d2.data, -2 * t * (1 - t**2), atol=1e-14)


def test_third_derivative_of_a_cubic() -> None:
    x = ng.Tensor(2.0, requires_grad=True)
    (d1,) = ng.grad(x**3, x, create_graph=True)
    (d2,) = ng.grad(d1, x, create_graph=True)
    (d3,) = ng.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == (12.0, 12.0, 6.0)  # type: ignore[union-attr]


def test_hessian_vector_product_of_an_mlp_cost_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((6, 3)), rng.random((6, 2))
    net = ng.nn.Network([3, 4, 2], activation="tanh", output_activation="sigmoid", seed=1)
    params = net.parameters()
    vs = [rng.standard_normal(p.shape) for p in params]

    def gradient() -> list[np.ndarray]:
        gs = ng.grad(net.cost(X, Y), params)
        return [g.data.copy() for g in gs]  # type: ignore[union-attr]

    gs = ng.grad(net.cost(X, Y), params, create_graph=True)
    gv = sum((g * v).sum() for g, v in zip(gs, vs))  # type: ignore[operator]
    hv = ng.grad(gv, params)

    eps = 1e-5
    for p, v in zip(params, vs):
        p.data += eps * v
    plus = gradient()
    for p, v in zip(params, vs):
        p.data -= 2 * eps * v
    minus = gradient()
    for p, v in zip(params, vs):
        p.data += eps * v
    for h, gp, gm in zip(hv, plus, minus):
        assert h is not None
        np.testing.assert_allclose(h.data, (gp - gm) / (2 * eps), rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------- grad()
def test_grad_returns_gradients_without_touching_dot_grad() -> None:
    x = ng.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    z = x * x
    (gx, gz) = ng.grad((z * 3.0).sum(), [x, z])
    assert x.grad is None and z.grad is None
    np.testing.assert_allclose(gx.data, 6 * x.data)  # type: ignore[union-attr]
    np.testing.assert_allclose(gz.data, [3.0, 3.0])  # type: ignore[union-attr]


def test_grad_of_delta_equals_retained_gradient() -> None:
    rng = np.random.default_rng(0)
    net = ng.nn.Network([3, 4, 2], seed=0)
    X, Y = rng.standard_normal((5, 3)), rng.random((5, 2))
    _, tr = net.forward_trace(X, retain_deltas=True)
    C = net.cost_from_trace(tr, Y)
    (d2,) = ng.grad(C, tr.zs[2], retain_graph=True)
    C.backward()
    np.testing.assert_allclose(d2.data, tr.deltas()[2])  # type: ignore[union-attr]


def test_grad_unused_input_and_multiple_outputs() -> None:
    x = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = ng.Tensor(np.array([3.0]), requires_grad=True)
    with pytest.raises(ng.GraphError, match="not used to compute the outputs"):
        ng.grad((x * 2.0).sum(), [x, w])
    gx, gw = ng.grad((x * 2.0).sum(), [x, w], allow_unused=True)
    assert gw is None and gx is not None
    a, b = x * 2.0, x * x
    (g,) = ng.grad([a, b], x, grad_outputs=[np.ones(2), np.array([1.0, 10.0])])
    np.testing.assert_allclose(g.data, [2 + 2, 2 + 40])  # type: ignore[union-attr]


# ------------------------------------------------------------ hooks, no_grad
def test_hook_sees_and_can_replace_the_gradient() -> None:
    x = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    z = x * 3.0
    seen = []
    remove = z.register_hook(lambda g: seen.append(g.data.copy()))
    z.register_hook(lambda g: g * 0.5)
    (z * z).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * z.data)
    np.testing.assert_allclose(x.grad.data, 0.5 * 2 * z.data * 3.0)  # type: ignore[union-attr]
    remove()
    assert len(z._hooks or []) == 1


def test_no_grad_and_detach_cut_the_graph() -> None:
    x = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with ng.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf
    assert ng.is_grad_enabled()
    d = (x * 2.0).detach()
    assert d.is_leaf and not d.requires_grad
    (x * d).sum().backward()
    np.testing.assert_allclose(x.grad.data, d.data)  # type: ignore[union-attr]


def test_float32_gradients_stay_float32() -> None:
    x = ng.Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    w = ng.Tensor(np.ones((4, 2), dtype=np.float32), requires_grad=True)
    y = ng.sigmoid(ng.linear(x, w)) * 2.0 + 1
    ng.quadratic_cost(y, np.zeros((3, 4))).backward()
    assert y.dtype == np.float32
    assert x.grad is not None and w.grad is not None
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_a_kept_gradient_buffer_is_written_directly_by_linear() -> None:
    net = ng.nn.Network([3, 4, 2], seed=0)
    X, Y = np.ones((5, 3)), np.zeros((5, 2))
    net.cost(X, Y).backward()
    W2 = net.layers[0].W
    buf = id(W2.grad.data)  # type: ignore[union-attr]
    expected = ng.grad(net.cost(X, Y), W2)[0].data  # type: ignore[union-attr]
    net.zero_grad()
    net.cost(X, Y).backward()
    assert W2.grad is not None and id(W2.grad.data) == buf  # written in place, no copy
    np.testing.assert_array_equal(W2.grad.data, expected)
    # Two consumers of the same leaf: no direct write (contributions must be summed).
    W2.zero_grad()
    Z = ng.linear(X, W2) + ng.linear(X, W2)
    Z.sum().backward()
    np.testing.assert_array_equal(W2.grad.data, 2 * ng.grad(ng.linear(X, W2).sum(), W2)[0].data)  # type: ignore[union-attr]


def test_a_kept_buffer_of_another_dtype_does_not_change_the_numbers() -> None:
    """float64 activations into float32 weights: the gradient is computed in float64 and
    rounded once, whether or not zero_grad() kept a float32 buffer for it."""
    rng = np.random.default_rng(0)
    net = ng.nn.Network([6, 5, 3], seed=0, dtype=np.float32)
    X, Y = ng.Tensor(rng.standard_normal((7, 6))), ng.Tensor(rng.random((7, 3)))
    runs = []
    for _ in range(2):  # the first backward has no kept buffer, the second has one
        net.zero_grad()
        net.cost(X, Y).backward()
        runs.append([p.grad.data.copy() for p in net.parameters()])  # type: ignore[union-attr]
    W2 = net.layers[1].W
    (reference,) = ng.grad(net.cost(X, Y), W2)  # float64 product, cast to float32 once
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[1][2], reference.data)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_backward_pass_visits_the_tensors_in_the_schedule_order(seed: int) -> None:
    # The engine runs Kahn's loop itself, interleaved with the VJPs; replay and the
    # graph page follow engine.schedule, so the two orders must be one. Hooks see the
    # order the engine processes the tensors in (each runs when its gradient is final).
    rng = np.random.default_rng(seed)
    xs = [ng.Tensor(rng.standard_normal(3), requires_grad=True, name=f"x{i}") for i in range(3)]
    pool = list(xs)
    for _ in range(12):  # shared uses, diamonds and reuse of leaves
        a, b = (pool[int(i)] for i in rng.integers(0, len(pool), 2))
        pool.append(ng.sigmoid(a) * b if rng.random() < 0.5 else a + b * 0.5)
    C = (pool[-1] * pool[-2]).sum()
    order, _ = engine.schedule([C])
    seen: list[int] = []
    for t in order:
        t.register_hook(lambda g, t=t: seen.append(id(t)))
    C.backward()
    assert seen == [id(t) for t in order]
    assert all(x.grad is not None for x in xs if any(x is t for t in order))
