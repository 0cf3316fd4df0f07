"""Optimizers: SGD (plain, momentum, weight decay) and Adam against hand-written updates."""

from __future__ import annotations

import pickle
import tracemalloc
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import parallel
from nablagraph.data import xor
from nablagraph.nn import SGD, Adam, Network


def _quadratic_bowl(w: ng.Tensor, a: np.ndarray, c: np.ndarray) -> ng.Tensor:
    """C(w) = Σ ½ a w² + c w, whose gradient is the closed form a ⊙ w + c."""
    return (0.5 * a * w * w + c * w).sum()


# ------------------------------------------------------------------ SGD
def test_one_sgd_step_is_w_minus_eta_grad_on_a_tiny_net(rng: np.random.Generator) -> None:
    net = Network([3, 4, 2], seed=0)
    X, Y = rng.standard_normal((5, 3)), rng.uniform(size=(5, 2))
    before = {n: p.data.copy() for n, p in net.named_parameters()}
    net.zero_grad()
    net.cost(X, Y).backward()
    grads = {n: p.grad.data.copy() for n, p in net.named_parameters()}

    # The engine's gradient is right: central differences of C agree.
    params = net.parameters()
    numeric = ng.numerical_grad(lambda *_: net.cost(X, Y), params)
    for (name, g), n in zip(grads.items(), numeric):
        np.testing.assert_allclose(g, n, rtol=1e-6, atol=1e-9, err_msg=name)

    eta = 0.7
    SGD(net.parameters(), lr=eta).step()
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p.data, before[name] - eta * grads[name], err_msg=name)


def test_sgd_momentum_matches_the_velocity_formula_over_several_steps(rng: np.random.Generator) -> None:
    a, c = rng.uniform(0.5, 2.0, 6), rng.standard_normal(6)
    w0 = rng.standard_normal(6)
    w = ng.Tensor(w0.copy(), requires_grad=True)
    eta, mu = 0.1, 0.9
    opt = SGD([w], lr=eta, momentum=mu)
    w_ref, v_ref = w0.copy(), np.zeros(6)
    for _ in range(5):
        opt.zero_grad()
        _quadratic_bowl(w, a, c).backward()
        opt.step()
        v_ref = mu * v_ref - eta * (a * w_ref + c)  # v → μv − η∇C
        w_ref = w_ref + v_ref  # w → w + v
        np.testing.assert_allclose(w.data, w_ref, rtol=1e-13, atol=1e-15)
    assert opt.steps == 5


def test_weight_decay_is_lambda_over_n_on_weights_and_skips_biases(rng: np.random.Generator) -> None:
    W0, b0 = rng.standard_normal((3, 2)), rng.standard_normal(3)
    gW, gb = rng.standard_normal((3, 2)), rng.standard_normal(3)
    eta, lam, n = 0.5, 5.0, 100

    def run(decay_biases: bool) -> tuple[np.ndarray, np.ndarray]:
        W = ng.Tensor(W0.copy(), requires_grad=True, name="W2")
        b = ng.Tensor(b0.copy(), requires_grad=True, name="b2")
        W.grad, b.grad = ng.Tensor(gW.copy()), ng.Tensor(gb.copy())
        SGD([W, b], lr=eta, weight_decay=lam / n, decay_biases=decay_biases).step()
        np.testing.assert_array_equal(W.grad.data, gW)  # the gradient itself is not modified
        return W.data, b.data

    W, b = run(decay_biases=False)
    # The book's rule: w → (1 − ηλ/n) w − η ∇C;  b → b − η ∇C.
    np.testing.assert_allclose(W, (1 - eta * lam / n) * W0 - eta * gW, rtol=1e-14)
    np.testing.assert_allclose(b, b0 - eta * gb, rtol=1e-14)
    _, b = run(decay_biases=True)
    np.testing.assert_allclose(b, (1 - eta * lam / n) * b0 - eta * gb, rtol=1e-14)


def _second_step_peak(opt: Any) -> int:
    """Bytes allocated at the peak of one ``opt.step()`` (tracemalloc)."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        opt.step()
        return int(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def test_step_is_in_place_keeps_float32_and_allocates_nothing_after_the_first() -> None:
    rng = np.random.default_rng(0)
    w = ng.Tensor(rng.standard_normal((400, 250)).astype(np.float32), requires_grad=True)
    for opt in (SGD([w], lr=0.1, momentum=0.5, weight_decay=1e-3), Adam([w], lr=1e-3, weight_decay=1e-3)):
        data_id = id(w.data)
        w.grad = ng.Tensor(rng.standard_normal((400, 250)).astype(np.float32))
        opt.step()  # the first step creates the buffers
        peak = _second_step_peak(opt)
        assert peak < w.data.nbytes // 10, f"{opt!r} allocated {peak} bytes in a step"
        assert id(w.data) == data_id and w.dtype == np.float32
        assert np.isfinite(w.data).all()


def test_a_parameter_without_gradient_is_skipped_but_no_gradient_at_all_is_an_error() -> None:
    used = ng.Tensor(np.ones(2), requires_grad=True, name="used")
    unused = ng.Tensor(np.ones(2), requires_grad=True, name="unused")
    opt = SGD([used, unused], lr=0.5)
    with pytest.raises(ng.GraphError, match=r"no parameter has a gradient; call backward\(\)"):
        opt.step()
    (used * used).sum().backward()
    opt.step()
    np.testing.assert_array_equal(used.data, [0.0, 0.0])
    np.testing.assert_array_equal(unused.data, [1.0, 1.0])


def test_shared_parameter_listed_twice_is_updated_once() -> None:
    w = ng.Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([w, w], lr=0.25)
    assert len(opt.params) == 1
    (w * 2.0).sum().backward()
    opt.step()
    np.testing.assert_array_equal(w.data, [0.5])


def test_zero_grad_reuses_the_buffer_and_accepts_a_module() -> None:
    net = Network([2, 2], seed=0)
    opt = SGD(net, lr=0.1)
    net.cost(np.ones((1, 2)), np.zeros((1, 2))).backward()
    g = net.layers[0].W.grad
    assert g is not None and np.any(g.data != 0)
    buf = id(g.data)  # the id only: a held gradient is never written (see test_threads)
    del g
    opt.zero_grad()
    assert net.layers[0].W.grad is None
    net.cost(np.ones((1, 2)), np.zeros((1, 2))).backward()
    assert net.layers[0].W.grad is not None and id(net.layers[0].W.grad.data) == buf
    opt.zero_grad(set_to_none=False)
    assert id(net.layers[0].W.grad.data) == buf and not np.any(net.layers[0].W.grad.data)


# ------------------------------------------------------------------ Adam
def test_adam_matches_the_papers_formulas_over_several_steps(rng: np.random.Generator) -> None:
    a, c = rng.uniform(0.5, 2.0, 5), rng.standard_normal(5)
    w0 = rng.standard_normal(5)
    w = ng.Tensor(w0.copy(), requires_grad=True)
    lr, (b1, b2), eps = 0.05, (0.8, 0.95), 1e-6
    opt = Adam([w], lr=lr, betas=(b1, b2), eps=eps)
    w_ref, m, v = w0.copy(), np.zeros(5), np.zeros(5)
    for t in range(1, 7):
        opt.zero_grad()
        _quadratic_bowl(w, a, c).backward()
        opt.step()
        g = a * w_ref + c
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w_ref = w_ref - lr * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(w.data, w_ref, rtol=1e-12, atol=1e-14)


def test_adam_trains_a_network_down() -> None:
    X, Y = xor()
    net = Network([2, 4, 1], activation="tanh", output_activation="sigmoid",
                  cost="binary_cross_entropy", init="xavier", seed=0)
    opt = Adam(net, lr=0.05)
    first = None
    for _ in range(200):
        opt.zero_grad()
        C = net.cost(X, Y)
        first = C.item() if first is None else first
        C.backward()
        opt.step()
    assert net.cost(X, Y).item() < 0.1 * first
    assert net.accuracy(X, Y) == 1.0


# ------------------------------------------------------------------ bad settings
def _w() -> ng.Tensor:
    return ng.Tensor(np.ones(2), requires_grad=True, name="w")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, r"SGD: lr \(the learning rate η\) must be positive, got 0.0"),
        ({"lr": -1}, r"must be positive, got -1"),
        ({"lr": float("nan")}, r"SGD: lr must be finite, got nan"),
        ({"lr": "0.1"}, r"SGD: lr must be a number, got '0.1'"),
        ({"lr": 0.1, "momentum": 1.0}, r"SGD: momentum must be in \[0, 1\), got 1.0"),
        ({"lr": 0.1, "momentum": -0.1}, r"momentum must be in \[0, 1\), got -0.1"),
        ({"lr": 0.1, "weight_decay": -1e-3}, r"weight_decay \(the L2 coefficient λ/n\) must be non-negative, got -0.001"),
    ],
)
def test_sgd_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ng.ConfigError, match=match):
        SGD([_w()], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0}, r"Adam: lr must be positive, got 0"),
        ({"betas": (0.9, 1.0)}, r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"),
        ({"betas": (-0.1, 0.9)}, r"Adam: betas\[0\] must be in \[0, 1\), got -0.1"),
        ({"betas": 0.9}, r"Adam: betas must be a pair"),
        ({"eps": 0.0}, r"Adam: eps must be positive, got 0.0"),
    ],
)
def test_adam_rejects_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ng.ConfigError, match=match):
        Adam([_w()], **kwargs)  # type: ignore[arg-type]


def test_bad_parameter_lists_are_refused() -> None:
    with pytest.raises(ng.ConfigError, match="SGD: params is empty"):
        SGD([], lr=0.1)
    with pytest.raises(ng.ConfigError, match=r"got a single Tensor; wrap it in a list"):
        SGD(_w(), lr=0.1)
    with pytest.raises(ng.ConfigError, match=r"params\[1\] is a ndarray, expected a Tensor"):
        SGD([_w(), np.ones(2)], lr=0.1)
    frozen = ng.Tensor(np.ones(2), name="frozen")
    with pytest.raises(ng.ConfigError, match=r"parameter 0 \('frozen', shape \(2,\)\) is not a trainable leaf"):
        Adam([frozen])
    with pytest.raises(ng.ConfigError, match="params must be an iterable of tensors, got int"):
        SGD(3, lr=0.1)


def test_a_gradient_of_the_wrong_shape_is_named() -> None:
    w = _w()
    w.grad = ng.Tensor(np.ones(3))
    with pytest.raises(ng.ShapeError, match=r"SGD.step: parameter 0 \('w', shape \(2,\)\) has a gradient of shape \(3,\)"):
        SGD([w], lr=0.1).step()


@pytest.mark.parametrize("make", [lambda w: SGD([w], lr=0.1), lambda w: SGD([w], lr=0.1, momentum=0.9), lambda w: Adam([w])])
def test_a_step_counts_as_an_in_place_change_of_the_parameters(make: Any) -> None:
    w = ng.Tensor(np.ones(2), requires_grad=True, name="w")
    C = (w * w).sum()
    opt = make(w)
    version = w.version
    w.grad = ng.Tensor(np.ones(2))
    opt.step()
    assert w.version != version
    with pytest.raises(ng.GraphError, match=r"'w', shape \(2,\)\) was modified in place"):
        C.backward()


# ------------------------------------------------------------ flat buffers
@pytest.mark.parametrize("make", [
    lambda ps, flat: SGD(ps, lr=0.3, flat=flat),
    lambda ps, flat: SGD(ps, lr=0.3, momentum=0.8, flat=flat),
    lambda ps, flat: SGD(ps, lr=0.3, weight_decay=0.01, decay_biases=True, flat=flat),
    lambda ps, flat: ng.Adam(ps, lr=0.01, flat=flat),
])
def test_flat_buffer_updates_equal_per_parameter_updates(make) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((6, 3)), rng.random((6, 2))
    a = Network([3, 4, 4, 2], seed=2)
    b = Network([3, 4, 4, 2], seed=2)
    oa, ob = make(a.parameters(), False), make(b.parameters(), True)
    for _ in range(5):
        for net, opt in ((a, oa), (b, ob)):
            opt.zero_grad()
            net.cost(X, Y).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)
    flat = ob._flat[0].data  # type: ignore[index]
    assert all(np.shares_memory(p.data, flat) for p in b.parameters())
    assert all(np.shares_memory(p.grad.data, ob._flat[1].G) for p in b.parameters())  # type: ignore[union-attr,index]


def test_flat_step_counts_as_an_in_place_change_and_handles_missing_gradients() -> None:
    net = Network([2, 3, 1], seed=0)
    opt = SGD(net, lr=0.1, flat=True)
    C = net.cost(np.ones((4, 2)), np.zeros((4, 1)))
    (gW3,) = ng.grad(C, net.layers[1].W, retain_graph=True)
    net.layers[1].W.grad = gW3  # only one parameter has a gradient, set by hand
    before = [p.data.copy() for p in net.parameters()]
    opt.step()
    changed = [not np.array_equal(p.data, b) for p, b in zip(net.parameters(), before)]
    assert changed == [False, False, True, False]
    with pytest.raises(ng.GraphError, match="modified in place"):
        C.backward()


def test_flat_buffer_refusals() -> None:
    w64 = ng.Tensor(np.ones(2), requires_grad=True)
    w32 = ng.Tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(ng.ConfigError, match="several dtypes"):
        SGD([w64, w32], lr=0.1, flat=True)
    with pytest.raises(ng.ConfigError, match="cannot leave the biases undecayed"):
        SGD([w64], lr=0.1, weight_decay=0.1, flat=True)
    opt = SGD([w64], lr=0.1, flat=True)
    with pytest.raises(ng.GraphError, match="no parameter has a gradient"):
        opt.step()


# ------------------------------------------------- blockwise, threaded updates
def _reference_updates(kind: str, w0: np.ndarray, grads: list[np.ndarray]) -> np.ndarray:
    """The update formulas on whole arrays, NumPy only, in the optimizers' order of operations."""
    w, v, m, s2 = w0.copy(), np.zeros_like(w0), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, 1):
        if kind == "sgd":
            w = w - g * 0.1
        elif kind == "momentum":
            v = v * 0.9 - g * 0.1
            w = w + v
        elif kind == "decay":
            w = w - (w * 0.01 + g) * 0.1
        else:  # Adam, as the kernel writes it
            b1, b2 = 0.9, 0.999
            m = m * b1 + g * (1 - b1)
            s2 = s2 * b2 + (g * (1 - b1)) ** 2 * ((1 - b2) / (1 - b1) ** 2)
            w = w - m / (np.sqrt(s2) * (1.0 / np.sqrt(1 - b2**t)) + 1e-8) * (1e-3 / (1 - b1**t))
    return w


_MAKERS = {
    "sgd": lambda ps: SGD(ps, lr=0.1),
    "momentum": lambda ps: SGD(ps, lr=0.1, momentum=0.9),
    "decay": lambda ps: SGD(ps, lr=0.1, weight_decay=0.01),
    "adam": lambda ps: Adam(ps, lr=1e-3),
}


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_large_parameters_are_updated_blockwise_with_the_same_numbers(kind: str, threads: int) -> None:
    from nablagraph.nn import optim

    rng = np.random.default_rng(1)
    shape = (811, 499)  # enough elements for 3 threads, not a multiple of BLOCK
    assert np.prod(shape) >= optim.PARALLEL_MIN and np.prod(shape) % optim.BLOCK
    w0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(3)]
    before = ng.get_num_threads()
    try:
        ng.set_num_threads(threads)
        w = ng.Tensor(w0.copy(), requires_grad=True)
        opt = _MAKERS[kind]([w])
        for g in grads:
            w.grad = ng.Tensor(g)
            opt.step()
    finally:
        ng.set_num_threads(before)
    expected = _reference_updates(kind, w0, grads)
    if kind == "adam":  # numpy's ** and np.sqrt on scalars round like math's: compare closely
        np.testing.assert_allclose(w.data, expected, rtol=1e-13, atol=1e-16)
    else:
        np.testing.assert_array_equal(w.data, expected)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", sorted(_MAKERS))
def test_blockwise_update_equals_the_whole_array_update_bit_for_bit(kind: str, dtype: str) -> None:
    from nablagraph.nn import optimizer  # Optimizer._update reads PARALLEL_MIN there

    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((700, 401)).astype(dtype)  # 280,700: not a multiple of a block
    assert w0.size % parallel.block_size(dtype)
    grads = [rng.standard_normal(w0.shape).astype(dtype) for _ in range(3)]
    results, blocked = [], []
    for parallel_min in (optimizer.PARALLEL_MIN, w0.size + 1):  # blockwise, then one call on the whole array
        saved = optimizer.PARALLEL_MIN
        optimizer.PARALLEL_MIN = parallel_min
        try:
            w = ng.Tensor(w0.copy(), requires_grad=True)
            opt = _MAKERS[kind]([w])
            for g in grads:
                w.grad = ng.Tensor(g)
                opt.step()
        finally:
            optimizer.PARALLEL_MIN = saved
        results.append(w.data)
        # per-thread block scratch, one block of 256 KiB: the blockwise route ran
        blocked.append([b.nbytes for b in opt._block_buffers.values()])
    assert blocked[0] and set(blocked[0]) == {parallel.BLOCK_BYTES} and blocked[1] == []
    np.testing.assert_array_equal(results[0], results[1])


def test_a_large_step_allocates_nothing_after_the_first_and_bumps_the_version() -> None:
    rng = np.random.default_rng(0)
    w = ng.Tensor(rng.standard_normal((700, 400)), requires_grad=True)
    w.grad = ng.Tensor(rng.standard_normal((700, 400)))
    opt = SGD([w], lr=0.1, momentum=0.5)
    opt.step()
    v0 = w.version
    peak = _second_step_peak(opt)
    assert peak < w.data.nbytes // 10, peak
    assert w.version > v0


def test_a_non_contiguous_parameter_is_updated_whole() -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((800, 700))
    w = ng.Tensor(base, requires_grad=True)
    w._data = base.T  # a transposed view: not C-contiguous
    g = rng.standard_normal((700, 800))
    w.grad = ng.Tensor(g)
    expected = base.T - g * 0.1
    SGD([w], lr=0.1).step()
    np.testing.assert_array_equal(w.data, expected)


def test_thread_settings_refuse_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from nablagraph import parallel

    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ng.ConfigError, match=r"set_num_threads: n must be a positive integer, got"):
            ng.set_num_threads(bad)  # type: ignore[arg-type]
    monkeypatch.setattr(parallel, "_threads", None)
    monkeypatch.setenv("NABLAGRAPH_NUM_THREADS", "many")
    with pytest.raises(ng.ConfigError, match=r"NABLAGRAPH_NUM_THREADS must be a positive integer, got 'many'"):
        ng.get_num_threads()
    monkeypatch.setenv("NABLAGRAPH_NUM_THREADS", "3")
    assert ng.get_num_threads() == 3
    monkeypatch.setattr(parallel, "_threads", None)


def _child_step(q: Any) -> None:
    w = ng.Tensor(np.ones((700, 400)), requires_grad=True)
    w.grad = ng.Tensor(np.ones((700, 400)))
    SGD([w], lr=0.5).step()
    q.put(float(w.data.sum()))


def test_threaded_updates_work_in_a_forked_child() -> None:
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    before = ng.get_num_threads()
    ng.set_num_threads(2)
    try:
        _child_step(multiprocessing.Queue())  # the parent's pool exists now
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        proc = ctx.Process(target=_child_step, args=(q,))
        proc.start()
        proc.join(timeout=60)
        assert proc.exitcode == 0, "the forked child did not finish its step"
        assert q.get(timeout=5) == 0.5 * 700 * 400
    finally:
        ng.set_num_threads(before)


# ------------------------------------------------- the split of nn/optim.py
def test_optim_still_exports_its_names_after_the_split() -> None:
    from nablagraph import parallel
    from nablagraph.nn import optim, optim_buffers, optimizer

    assert optim.Optimizer is optimizer.Optimizer is ng.nn.Optimizer
    assert optim.SGD is ng.nn.SGD is ng.SGD and optim.Adam is ng.nn.Adam is ng.Adam
    assert optim.__all__ == ["Optimizer", "SGD", "Adam"]
    for name in ("_FlatGrads", "_blockwise", "_contiguous"):
        assert getattr(optim, name) is getattr(optim_buffers, name), name
    assert optim._label is optimizer._label
    assert (optim.BLOCK, optim.PARALLEL_MIN) == (parallel.BLOCK, parallel.PARALLEL_MIN)


def test_the_optimizer_modules_stay_under_500_lines() -> None:
    from nablagraph.nn import optim, optim_buffers, optimizer

    for mod in (optim, optim_buffers, optimizer):
        assert mod.__file__ is not None
        with open(mod.__file__, encoding="utf-8") as f:
            assert len(f.readlines()) <= 500, mod.__name__


def test_a_pickle_naming_the_old_module_path_of_the_flat_buffer_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    from nablagraph.nn import optim_buffers

    net = Network([2, 3, 1], seed=0)
    opt = SGD(net.parameters(), lr=0.1, momentum=0.9, flat=True)
    monkeypatch.setattr(optim_buffers._FlatGrads, "__module__", "nablagraph.nn.optim")
    old = pickle.dumps(opt)
    monkeypatch.undo()
    assert b"optim_buffers" not in old  # _FlatGrads named by its old path, as SGD is
    back = pickle.loads(old)
    assert type(back) is SGD and repr(back) == repr(opt)
    assert back._flat is not None and type(back._flat[1]) is optim_buffers._FlatGrads


def test_the_saved_state_keeps_its_keys_and_order() -> None:
    # The scalars go into checkpoint files as JSON: their keys and order are the format.
    w = ng.Tensor(np.ones((2, 3)), requires_grad=True)
    opt = Adam([w], lr=0.1)
    w.grad = ng.Tensor(np.ones((2, 3)))
    opt.step()
    arrays, scalars = opt.state_dict()
    assert sorted(arrays) == ["m.0", "v.0"]
    assert scalars == {"optimizer": "Adam", "flat": False, "n_params": 1, "shapes": [[2, 3]], "steps": 1, "t": [1]}
    assert list(scalars) == ["optimizer", "flat", "n_params", "shapes", "steps", "t"]
