"""compile_step: a recorded step replays the eager numbers bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import nablagraph as ng


def _train(net: ng.nn.Network, batches: list[tuple[np.ndarray, np.ndarray]], compiled: bool) -> list[float]:
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    costs = []
    for X, Y in batches:
        net.zero_grad()
        if compiled:
            C = step(X, Y)
        else:
            C = net.cost(X, Y)
            C.backward()
        costs.append(C.item())
        with ng.no_grad():
            for p in net.parameters():
                p.sub_(0.5 * p.grad.data)  # type: ignore[union-attr]
    return costs


@pytest.mark.parametrize(
    ("sizes", "activation", "cost"),
    [
        ([2, 3, 1], "sigmoid", "quadratic"),
        ([5, 4, 3, 3], "tanh", "cross_entropy"),
        ([4, 6, 2], "relu", "binary_cross_entropy"),
        ([3, 5, 2], "leaky_relu", "mse"),
    ],
)
def test_replayed_training_equals_eager_training_bit_for_bit(sizes, activation, cost) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(6):
        X = rng.standard_normal((8, sizes[0]))
        if cost == "cross_entropy":
            Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], 8)]
        else:
            Y = rng.random((8, sizes[-1]))
        batches.append((X, Y))
    a = ng.nn.Network(sizes, activation=activation, cost=cost, seed=1)
    b = ng.nn.Network(sizes, activation=activation, cost=cost, seed=1)
    assert _train(a, batches, compiled=False) == _train(b, batches, compiled=True)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


def test_integer_labels_are_taken_from_each_call() -> None:
    net = ng.nn.Network([3, 4, 3], cost="cross_entropy", seed=0)
    step = ng.compile_step(lambda X, y: ng.cross_entropy(ng.linear(ng.sigmoid(ng.linear(X, net.layers[0].W, net.layers[0].b)), net.layers[1].W, net.layers[1].b), y))
    X = np.ones((4, 3))
    c1 = step(X, np.array([0, 1, 2, 0])).item()
    c2 = step(X, np.array([2, 2, 2, 2])).item()
    eager = ng.cross_entropy(
        ng.linear(ng.sigmoid(ng.linear(X, net.layers[0].W, net.layers[0].b)), net.layers[1].W, net.layers[1].b),
        np.array([2, 2, 2, 2]),
    ).item()
    assert c2 == eager and c1 != c2
    assert step.recordings == 1


def test_new_shapes_record_a_new_plan_and_gradients_accumulate() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    step(np.ones((4, 2)), np.zeros((4, 1)))
    step(np.ones((5, 2)), np.zeros((5, 1)))
    assert step.recordings == 2
    net.zero_grad()
    step(np.ones((4, 2)), np.zeros((4, 1)))
    g1 = net.layers[0].W.grad.data.copy()  # type: ignore[union-attr]
    step(np.ones((4, 2)), np.zeros((4, 1)))
    np.testing.assert_array_equal(net.layers[0].W.grad.data, 2 * g1)  # type: ignore[union-attr]
    C = net.cost(np.ones((4, 2)), np.zeros((4, 1)))
    (gW,) = ng.grad(C, net.layers[0].W)
    np.testing.assert_array_equal(gW.data, g1)  # type: ignore[union-attr]


def test_converted_argument_is_refused() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    step = ng.compile_step(lambda X, Y: net.cost(ng.Tensor(X.data.reshape(4, 2)), Y))
    with pytest.raises(ng.GraphError, match="argument 0 reaches the graph through a conversion"):
        step(np.ones((4, 2)), np.zeros((4, 1)))


def test_value_dependent_control_flow_is_caught_when_verifying() -> None:
    w = ng.Tensor(np.array([1.0]), requires_grad=True)
    calls = []

    def fn(x: ng.Tensor) -> ng.Tensor:
        calls.append(1)
        return (w * x).sum() if len(calls) == 1 else (w * w * x).sum()

    with pytest.raises(ng.GraphError, match="does not reproduce the eager step"):
        ng.compile_step(fn)(np.array([2.0]))


def test_bad_functions_are_refused() -> None:
    w = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(ng.GraphError, match="one-element tensor"):
        ng.compile_step(lambda x: w * x)(np.ones(2))
    with pytest.raises(ng.GraphError, match="does not depend on any parameter"):
        ng.compile_step(lambda x: (x * 2.0).sum())(np.ones(2))

    def hooked(x: ng.Tensor) -> ng.Tensor:
        z = w * x
        z.retain_grad()
        return z.sum()

    with pytest.raises(ng.GraphError, match="hooks on intermediate tensors and retain_grad"):
        ng.compile_step(hooked)(np.ones(2))


def test_float32_step_stays_float32() -> None:
    net = ng.nn.Network([3, 4, 2], seed=0, dtype=np.float32)
    step = ng.compile_step(lambda X, Y: net.cost(X, Y))
    C = step(np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32))
    C = step(np.ones((2, 3), np.float32), np.zeros((2, 2), np.float32))
    assert C.dtype == np.float32
    assert all(p.grad is not None and p.grad.dtype == np.float32 for p in net.parameters())


def test_a_vjp_returning_none_keeps_the_plan_on_the_interpreter() -> None:
    from nablagraph.ops import OPS, Op, defop

    def fwd(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x * y

    def vjp(F, needs, g, out, x, y):  # type: ignore[no-untyped-def]
        return (g * y if needs[0] else None, None)  # no gradient for y, even when asked

    op: Op = defop("test_half_mul", fwd, vjp, "x * y, gradient for x only")
    try:
        from nablagraph.tensor import apply

        w = ng.Tensor(np.array([2.0, 3.0]), requires_grad=True)
        v = ng.Tensor(np.array([5.0, 7.0]), requires_grad=True)
        step = ng.compile_step(lambda x: apply(op, (x * w, v)).sum())
        for _ in range(2):
            w.grad = v.grad = None
            C = step(np.array([1.0, 1.0]))
        plan = next(iter(step._plans.values()))
        assert plan.fast is None
        assert C.item() == 2 * 5 + 3 * 7
        np.testing.assert_array_equal(w.grad.data, [5.0, 7.0])  # type: ignore[union-attr]
        assert v.grad is None
    finally:
        del OPS["test_half_mul"]


def test_parameter_hooks_run_once_per_call_on_the_steps_gradient() -> None:
    net = ng.nn.Network([3, 4, 2], seed=0)
    W = net.layers[0].W
    calls: list[np.ndarray] = []

    def double(g: ng.Tensor) -> ng.Tensor:
        calls.append(g.data.copy())
        return g * 2.0

    W.register_hook(double)
    X, Y = np.ones((5, 3)), np.zeros((5, 2))
    step = ng.compile_step(lambda x, y: net.cost(x, y))
    for _ in range(3):  # record + verify, then the generated code twice
        net.zero_grad()
        step(X, Y)
    assert len(calls) == 3
    net.zero_grad()
    net.cost(X, Y).backward()  # the engine runs the hook too: the same gradient
    np.testing.assert_array_equal(calls[-1], calls[0])
    assert len(calls) == 4
    expected = W.grad.data.copy()  # type: ignore[union-attr]
    net.zero_grad()
    step(X, Y)
    np.testing.assert_array_equal(W.grad.data, expected)  # type: ignore[union-attr]

    b = net.layers[1].b  # a hook added after recording runs as well
    b.register_hook(lambda g: g * 0.0)
    net.zero_grad()
    step(X, Y)
    np.testing.assert_array_equal(b.grad.data, np.zeros(2))  # type: ignore[union-attr]


def test_a_plan_that_fails_verification_is_not_kept() -> None:
    w = ng.Tensor(np.array([1.0]), requires_grad=True)
    calls = []

    def fn(x: ng.Tensor) -> ng.Tensor:
        calls.append(1)
        return (w * x).sum() if len(calls) % 2 else (w * w * x).sum()

    step = ng.compile_step(fn)
    for _ in range(2):
        with pytest.raises(ng.GraphError, match="does not reproduce the eager step"):
            step(np.array([2.0]))
    assert step.recordings == 2 and not step._plans


def test_float64_batches_through_a_float32_model_replay_like_eager() -> None:
    rng = np.random.default_rng(0)
    net = ng.nn.Network([6, 5, 3], seed=0, dtype=np.float32)
    X, Y = rng.standard_normal((7, 6)), rng.random((7, 3))  # float64 data
    step = ng.compile_step(lambda x, y: net.cost(x, y))
    for _ in range(2):
        net.zero_grad()
        step(X, Y)
    got = [p.grad.data.copy() for p in net.parameters()]  # type: ignore[union-attr]
    net.zero_grad()
    # compile_step hands fn its arguments as tensors of their own dtype, so the
    # reference is fn(Tensor(X), Tensor(Y)): float64 activations, float32 gradients.
    net.cost(ng.Tensor(X), ng.Tensor(Y)).backward()
    for g, p in zip(got, net.parameters()):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, p.grad.data)  # type: ignore[union-attr]


def test_plans_beyond_the_size_limit_stay_on_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    from nablagraph import replay

    monkeypatch.setattr(replay, "GENERATE_MAX_OPS", 4)
    net = ng.nn.Network([2, 3, 1], seed=0)  # 5 forward ops + 5 VJPs
    X, Y = np.ones((4, 2)), np.zeros((4, 1))
    step = ng.compile_step(lambda x, y: net.cost(x, y))
    for _ in range(2):
        net.zero_grad()
        C = step(X, Y)
    plan = next(iter(step._plans.values()))
    assert plan.size() == 10 and plan.fast is None
    got = [p.grad.data.copy() for p in net.parameters()]  # type: ignore[union-attr]
    net.zero_grad()
    ref = net.cost(X, Y)
    ref.backward()
    assert C.item() == ref.item()
    for g, p in zip(got, net.parameters()):
        np.testing.assert_array_equal(g, p.grad.data)  # type: ignore[union-attr]
