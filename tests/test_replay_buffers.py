"""compile_step in the plan's own buffers: bit for bit with eager, nothing allocated,
nothing of the plan handed out."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import ops, replay_codegen


def _pair(sizes: list[int], dtype: str, flat: bool) -> tuple[ng.nn.Network, ng.nn.Network, ng.SGD, ng.SGD]:
    a = ng.nn.Network(sizes, activation="sigmoid", cost="quadratic", seed=3, dtype=dtype)
    b = ng.nn.Network(sizes, activation="sigmoid", cost="quadratic", seed=3, dtype=dtype)
    return a, b, ng.SGD(a.parameters(), lr=0.5, flat=flat), ng.SGD(b.parameters(), lr=0.5, flat=flat)


def _batches(sizes: list[int], dtype: str, n: int, m: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        X = (rng.standard_normal((m, sizes[0])) * 4).astype(dtype)
        out.append((X, rng.random((m, sizes[-1])).astype(dtype)))
    return out


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("large", [False, True])
def test_buffered_replay_trains_as_eager_bit_for_bit(dtype: str, flat: bool, large: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if large:  # the blockwise kernels' lines, on arrays small enough for a test
        monkeypatch.setattr(replay_codegen, "PARALLEL_MIN", 16)
        monkeypatch.setattr(ops.elementwise, "PARALLEL_MIN", 16)
    sizes = [5, 7, 6, 2]
    eager_net, net, eager_opt, opt = _pair(sizes, dtype, flat)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    for X, Y in _batches(sizes, dtype, 5):
        eager_opt.zero_grad()
        C0 = eager_net.cost(X, Y)
        C0.backward()
        eager_opt.step()
        opt.zero_grad()
        C1 = step(X, Y)
        opt.step()
        assert C1.dtype == dtype and C1.data.tobytes() == C0.data.tobytes()
        for p0, p1 in zip(eager_net.parameters(), net.parameters()):
            assert p1.dtype == dtype
            np.testing.assert_array_equal(p0.data, p1.data)
    plan = next(iter(step._plans.values()))
    assert plan.fast is not None and "matmul(v0, v1.T, v" in plan.source and "F0(" not in plan.source
    assert ("blockwise(sigmoid_into" in plan.source) == large


def test_a_step_allocates_no_array_after_the_first() -> None:
    sizes = [784, 256, 256, 10]  # W3's shapes: activations of 128 × 256 float64 = 256 KiB
    _, net, _, opt = _pair(sizes, "float64", True)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    ((X, Y),) = _batches(sizes, "float64", 1, m=128)
    for _ in range(3):
        opt.zero_grad()
        step(X, Y)
        opt.step()
    tracemalloc.start()
    try:
        opt.zero_grad()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step(X, Y)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # NumPy's iterator buffer for the broadcast ``z += b`` (8192 elements, 64 KiB) and
    # bookkeeping; an array of the step would be 256 KiB (an eager step peaks at 1.6 MB)
    assert peak < 100_000, peak


def test_accumulating_without_zero_grad_equals_eager() -> None:
    sizes = [3, 4, 2]
    eager_net, net, _, _ = _pair(sizes, "float64", False)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    for X, Y in _batches(sizes, "float64", 3):
        eager_net.cost(X, Y).backward()
        step(X, Y)
        for p0, p1 in zip(eager_net.parameters(), net.parameters()):
            np.testing.assert_array_equal(p0.grad.data, p1.grad.data)  # type: ignore[union-attr]


def test_gradients_handed_out_are_never_the_plans_arrays() -> None:
    # W feeds a sigmoid directly, so its gradient comes out of the plan's σ' buffer; a
    # hook keeps every gradient it is shown, as a user may.
    rng = np.random.default_rng(0)
    W = ng.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    seen: list[np.ndarray] = []
    W.register_hook(lambda g: seen.append(g.data) or None)
    step = ng.compile_step(lambda Y: ng.quadratic_cost(ng.sigmoid(W), Y))
    Ys = [rng.random((4, 3)) for _ in range(3)]
    grads = []
    for Y in Ys:
        W.zero_grad()
        step(Y)
        grads.append(W.grad.data.copy())  # type: ignore[union-attr]
    for Y, g, kept in zip(Ys, grads, seen[-3:]):
        s = 1 / (1 + np.exp(-W.data))
        np.testing.assert_allclose(g, (s - Y) / 4 * s * (1 - s), rtol=1e-12)  # the closed form
        np.testing.assert_array_equal(kept, g)  # unchanged by the later steps


def test_a_parameter_that_changed_shape_gets_the_eager_error() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    X, Y = np.ones((4, 2)), np.zeros((4, 1))
    step(X, Y)
    step(X, Y)
    net.layers[0].W._data = np.zeros((3, 5))
    with pytest.raises(ng.ShapeError, match=r"linear: input of shape \(4, 2\) has 2 features but the weight of shape \(3, 5\) expects 5"):
        step(X, Y)


def test_a_step_already_running_in_another_thread_is_interpreted() -> None:
    sizes = [3, 4, 2]
    eager_net, net, _, _ = _pair(sizes, "float64", False)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    (X, Y), (X2, Y2) = _batches(sizes, "float64", 2)
    step(X, Y)
    plan = next(iter(step._plans.values()))
    calls: list[int] = []
    fast = plan.fast
    plan.fast = lambda A: calls.append(1) or fast(A)  # type: ignore[assignment,misc,func-returns-value]
    assert plan.lock.acquire()  # as if another thread were inside the generated code
    try:
        net.zero_grad()
        C = step(X2, Y2)
    finally:
        plan.lock.release()
    assert not calls
    eager_net.zero_grad()
    C0 = eager_net.cost(X2, Y2)
    C0.backward()
    assert C.item() == C0.item()
    for p0, p1 in zip(eager_net.parameters(), net.parameters()):
        np.testing.assert_array_equal(p0.grad.data, p1.grad.data)  # type: ignore[union-attr]
    net.zero_grad()
    step(X2, Y2)
    assert calls == [1]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_bad_targets_get_the_eager_error_from_a_replay(bad: float) -> None:
    net = ng.nn.Network([2, 3, 2], seed=0)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    X, Y = np.ones((4, 2)), np.zeros((4, 2))
    step(X, Y)
    step(X, Y)
    Y[2, 1] = bad
    what = "NaN" if np.isnan(bad) else "infinite values"
    message = rf"quadratic_cost: targets contain {what} \(1 of 8 values\); the first is at index \(2, 1\)"
    with pytest.raises(ng.LabelError, match=message):
        net.cost(X, Y)
    with pytest.raises(ng.LabelError, match=message):
        step(X, Y)
