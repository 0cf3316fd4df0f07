"""Grad mode, anomaly mode and gradient buffers as a PyTorch user expects them.

* grad mode (``no_grad``, ``enable_grad``, ``set_grad_enabled``) and anomaly mode belong
  to the thread (and asyncio task): nothing one thread does changes what another
  records, and ``backward()`` switches the mode of its own thread only;
* one model per thread trains, predicts, compares and renders exactly as the same
  runs made one after another;
* a gradient tensor or array the user holds is never changed by the library;
* the context managers are decorators too, and hooks return handles with ``remove()``.

The threaded tests shorten the interpreter's switch interval so that threads interleave
between almost every bytecode: the races of a process-wide flag show up within a few
hundred steps that way (the original code failed every one of these tests).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import _tensor as _t


@pytest.fixture
def interleave() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, for the length of a test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def run_threads(fns: list[Callable[[], Any]]) -> list[Any]:
    """Run each function in its own thread; return their results, re-raise an error."""
    results: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            results[i] = fns[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def in_new_thread(fn: Callable[[], Any]) -> Any:
    return run_threads([fn])[0]


# ------------------------------------------------------------------ grad mode per thread
def test_a_no_grad_block_in_another_thread_does_not_lose_a_gradient() -> None:
    """t1 = f(w1); t2 = g(w2) while another thread is inside no_grad(); (t1 + t2).backward()."""
    w1 = ng.Tensor([1.0, 2.0], requires_grad=True)
    w2 = ng.Tensor([3.0, 4.0], requires_grad=True)
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with ng.no_grad():
            inside.set()
            leave.wait()

    t = threading.Thread(target=other)
    t1 = (w1 * 2.0).sum()
    t.start()
    inside.wait()
    assert ng.is_grad_enabled()  # the other thread's block is not ours
    t2 = (w2 * 3.0).sum()
    leave.set()
    t.join()
    assert t2.requires_grad
    (t1 + t2).backward()
    assert w1.grad is not None and w2.grad is not None
    np.testing.assert_array_equal(w1.grad.data, [2.0, 2.0])
    np.testing.assert_array_equal(w2.grad.data, [3.0, 3.0])


def test_twenty_thousand_interleaved_no_grad_pairs_leave_grad_mode_on_everywhere(interleave: None) -> None:
    wrong: list[int] = []

    def worker() -> bool:
        bad = 0
        for _ in range(20_000):
            with ng.no_grad():
                bad += ng.is_grad_enabled()
            bad += not ng.is_grad_enabled()
        wrong.append(bad)
        return ng.is_grad_enabled()

    assert run_threads([worker, worker]) == [True, True]
    assert wrong == [0, 0]
    assert ng.is_grad_enabled()
    assert in_new_thread(ng.is_grad_enabled) is True


def test_backward_in_one_thread_does_not_stop_recording_in_another() -> None:
    """backward() turns recording off for its own run; a forward pass run by another
    thread meanwhile (here: while a hook of the backward waits for it) is recorded."""
    x = ng.Tensor([1.0, 2.0], requires_grad=True)
    w = ng.Tensor([5.0], requires_grad=True)
    recorded: list[bool] = []
    seen_in_backward: list[bool] = []

    def forward_elsewhere() -> None:
        recorded.append((w * 2.0).requires_grad)

    def hook(g: ng.Tensor) -> None:
        seen_in_backward.append(ng.is_grad_enabled())
        in_new_thread(forward_elsewhere)

    y = x * 3.0
    y.register_hook(hook)
    y.sum().backward()
    assert seen_in_backward == [False]  # the backward's own thread: off during the pass
    assert recorded == [True]
    assert ng.is_grad_enabled()


def test_a_new_thread_starts_with_recording_on_whatever_the_creator_does() -> None:
    with ng.no_grad():
        assert in_new_thread(ng.is_grad_enabled) is True
        with ng.enable_grad():
            assert ng.is_grad_enabled()
        assert not ng.is_grad_enabled()
    assert ng.is_grad_enabled()


def test_grad_mode_is_per_asyncio_task() -> None:
    w = ng.Tensor([1.0], requires_grad=True)

    async def evaluate(started: asyncio.Event, done: asyncio.Event) -> bool:
        with ng.no_grad():
            started.set()
            await done.wait()  # the other task runs while this one is inside no_grad
            return (w * 2.0).requires_grad

    async def train(started: asyncio.Event, done: asyncio.Event) -> bool:
        await started.wait()
        out = (w * 2.0).requires_grad
        done.set()
        return out

    async def main() -> tuple[bool, bool]:
        started, done = asyncio.Event(), asyncio.Event()
        a, b = await asyncio.gather(evaluate(started, done), train(started, done))
        return a, b

    assert asyncio.run(main()) == (False, True)
    assert ng.is_grad_enabled()


def test_anomaly_mode_is_per_thread() -> None:
    x = ng.Tensor([1.0, -1.0], requires_grad=True)

    def elsewhere() -> tuple[bool, bool]:
        with np.errstate(invalid="ignore"):
            y = ng.log(x)  # NaN, but this thread did not ask for detection
        return ng.is_anomaly_enabled(), bool(np.isnan(y.data).any())

    with ng.detect_anomaly():
        assert ng.is_anomaly_enabled()
        assert in_new_thread(elsewhere) == (False, True)
        with pytest.raises(ng.AnomalyError, match=r"'log' produced nan"), np.errstate(invalid="ignore"):
            ng.log(x)
    assert not ng.is_anomaly_enabled()


# ------------------------------------------------------------------ version clock
def test_the_version_clock_loses_no_tick_across_threads(interleave: None) -> None:
    start = _t._clock
    tensors = [ng.Tensor(np.zeros(2)) for _ in range(4)]
    versions: list[list[int]] = [[] for _ in tensors]

    def bump(i: int) -> Callable[[], None]:
        def fn() -> None:
            for _ in range(5_000):
                tensors[i]._bump()
                versions[i].append(tensors[i].version)
        return fn

    run_threads([bump(i) for i in range(4)])
    assert _t._clock == start + 4 * 5_000  # `_clock += 1` unlocked lost ticks here
    every = [v for vs in versions for v in vs]
    assert len(set(every)) == len(every) and all(vs == sorted(vs) for vs in versions)


def test_an_in_place_change_made_by_another_thread_is_still_caught() -> None:
    w = ng.Tensor([1.0, 2.0], requires_grad=True, name="w")
    y = (w * w).sum()

    def step() -> None:
        with ng.no_grad():
            w.sub_(0.1)

    in_new_thread(step)
    with pytest.raises(ng.GraphError, match=r"input 0 of 'mul' \('w', shape \(2,\)\) was modified in place"):
        y.backward()


# ------------------------------------------------------------------ one model per thread
X_XOR = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y_XOR = np.array([[0.0], [1.0], [1.0], [0.0]])


def _manual_run(seed: int, steps: int) -> list[np.ndarray]:
    net = ng.nn.Network([2, 3, 1], seed=seed)
    opt = ng.SGD(net.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        C = net.cost(X_XOR, Y_XOR)
        C.backward()
        opt.step()
    return [p.data.copy() for p in net.parameters()] + [p.grad.data.copy() for p in net.parameters()]  # type: ignore[union-attr]


@pytest.mark.slow
def test_three_threads_of_manual_steps_equal_a_single_threaded_run(interleave: None) -> None:
    steps = 5_000
    threaded = run_threads([lambda k=k: _manual_run(k, steps) for k in range(3)])  # type: ignore[misc]
    for k in range(3):
        alone = _manual_run(k, steps)
        for a, b in zip(threaded[k], alone):
            np.testing.assert_array_equal(a, b)


def _fit(seed: int, compile: bool) -> list[Any]:
    net = ng.nn.Network([2, 3, 1], seed=seed)
    h = ng.fit(net, X_XOR, Y_XOR, epochs=60, batch_size=1, lr=2.0, verbose=False,
               compile=compile, seed=seed)
    return [p.data.copy() for p in net.parameters()] + [h.train_cost, net.predict(X_XOR)]


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
def test_concurrent_fit_runs_equal_the_same_runs_one_after_another(compile: bool, interleave: None) -> None:
    expected = [_fit(k, compile) for k in range(2)]
    equal = 0
    for _ in range(10):
        got = run_threads([lambda k=k: _fit(k, compile) for k in range(2)])  # type: ignore[misc]
        for g, e in zip(got, expected):
            for a, b in zip(g, e):
                np.testing.assert_array_equal(a, b)
        equal += 1
        assert ng.is_grad_enabled()
    assert equal == 10


def test_fit_in_one_thread_and_predict_compare_render_in_others(tmp_path: Path, interleave: None) -> None:
    def predict_many(seed: int) -> list[np.ndarray]:
        net = ng.nn.Network([2, 3, 1], seed=seed)
        return [net.predict(X_XOR) for _ in range(200)]

    def compare(seed: int) -> tuple[bool, float]:
        net = ng.nn.Network([2, 3, 1], seed=seed)
        r = ng.compare_gradients(net, X_XOR, Y_XOR, repeats=1)
        return r.passed, r.worst("ad_fd")

    def render(seed: int, name: str) -> str:
        net = ng.nn.Network([2, 3, 2], seed=seed)
        out = ng.viz.render(net.cost(X_XOR, np.array([[1.0, 0.0]] * 4)), tmp_path / name)
        return out.read_text()

    jobs: list[Callable[[], Any]] = [
        lambda: _fit(0, False),
        lambda: predict_many(1),
        lambda: compare(2),
        lambda: [render(3, f"a{i}.dot") for i in range(5)],
    ]
    alone = [job() for job in jobs]
    together = run_threads(jobs)
    for a, b in zip(alone[0], together[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(alone[1], together[1]):
        np.testing.assert_array_equal(a, b)
    assert together[2] == alone[2] and together[2][0]
    assert together[3] == alone[3] and "cluster" in together[3][0]  # layer clusters intact


# ------------------------------------------------------------------ gradients a user holds
def test_a_gradient_held_across_zero_grad_is_not_changed() -> None:
    W = ng.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    ((W * W).sum() + W.sum()).backward()
    g1 = W.grad
    assert g1 is not None
    W.zero_grad()
    (2.0 * (W * W).sum() + 2.0 * W.sum()).backward()
    np.testing.assert_array_equal(g1.data, [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(W.grad.data, [6.0, 10.0, 14.0])  # type: ignore[union-attr]


@pytest.mark.parametrize("hold", ["tensor", "array", "view"])
def test_a_held_gradient_is_not_written_by_accumulation_or_reuse(hold: str) -> None:
    W = ng.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    W.sum().backward()
    assert W.grad is not None
    kept: Any = {"tensor": W.grad, "array": W.grad.data, "view": W.grad.data[1:]}[hold]
    (2.0 * W).sum().backward()  # accumulates: 1 + 2
    np.testing.assert_array_equal(W.grad.data, [3.0, 3.0, 3.0])
    W.zero_grad()
    (5.0 * W).sum().backward()  # the kept buffer is the held one: a new array
    np.testing.assert_array_equal(W.grad.data, [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(np.asarray(kept.data if hold == "tensor" else kept),
                                  [1.0, 1.0, 1.0] if hold != "view" else [1.0, 1.0])


def test_an_unheld_buffer_is_still_reused_eager_replayed_and_flat() -> None:
    for flat in (False, True):
        net = ng.nn.Network([2, 3, 1], seed=0)
        opt = ng.SGD(net.parameters(), lr=0.1, flat=flat)
        step = ng.compile_step(net.cost)
        ids: list[list[int]] = []
        for k in range(4):
            opt.zero_grad()
            if k < 2:
                net.cost(X_XOR, Y_XOR).backward()
            else:
                step(X_XOR, Y_XOR)
            opt.step()
            ids.append([id(p.grad.data) for p in net.parameters()])  # type: ignore[union-attr]
        assert ids[0] == ids[1] == ids[2] == ids[3], flat


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_flat_optimizers_leave_held_gradients_and_slices_alone(optimizer: str) -> None:
    def make(ps: list[ng.Tensor], flat: bool) -> ng.nn.Optimizer:
        if optimizer == "sgd":
            return ng.SGD(ps, lr=0.5, momentum=0.5, flat=flat)
        return ng.Adam(ps, lr=0.05, flat=flat)

    nets = [ng.nn.Network([2, 3, 1], seed=0) for _ in range(2)]
    opts = [make(n.parameters(), flat) for n, flat in zip(nets, (False, True))]
    held: list[tuple[Any, np.ndarray]] = []
    for k in range(6):
        for net, opt in zip(nets, opts):
            opt.zero_grad()
            net.cost(X_XOR, Y_XOR).backward()
            opt.step()
        g = nets[1].layers[0].W.grad
        assert g is not None
        kept = g if k % 2 else g.data[:1]  # a gradient tensor, or a slice of one
        held.append((kept, np.array(kept.data if k % 2 else kept)))
    for pa, pb in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)  # flat or not: the same numbers
    for kept, copy in held:
        np.testing.assert_array_equal(kept.data if isinstance(kept, ng.Tensor) else kept, copy)


# ------------------------------------------------------------------ decorators and handles
def test_no_grad_enable_grad_and_set_grad_enabled_as_decorators() -> None:
    w = ng.Tensor([1.0], requires_grad=True)

    @ng.no_grad()
    def a() -> bool:
        return (w * 2.0).requires_grad

    @ng.no_grad
    def b() -> bool:
        return (w * 2.0).requires_grad

    @ng.enable_grad()
    def c() -> bool:
        return (w * 2.0).requires_grad

    @ng.set_grad_enabled(False)
    def d() -> bool:
        return (w * 2.0).requires_grad

    assert ng.is_grad_enabled()  # decorating changed nothing by itself
    assert (a(), b(), d()) == (False, False, False)
    with ng.no_grad():
        assert c() is True
        assert not ng.is_grad_enabled()
    assert a.__name__ == "a"
    assert run_threads([a, c, lambda: (w * 2.0).requires_grad]) == [False, True, True]
    assert ng.is_grad_enabled()


def test_set_grad_enabled_as_a_function_and_a_block() -> None:
    ng.set_grad_enabled(False)
    try:
        assert not ng.is_grad_enabled()
        assert in_new_thread(ng.is_grad_enabled) is True
        with ng.set_grad_enabled(True):
            assert ng.is_grad_enabled()
        assert not ng.is_grad_enabled()
    finally:
        ng.set_grad_enabled(True)
    assert ng.is_grad_enabled()


def test_a_decorated_generator_runs_in_the_mode_and_the_caller_keeps_its_own() -> None:
    w = ng.Tensor([1.0], requires_grad=True)

    @ng.no_grad()
    def gen() -> Iterator[bool]:
        for _ in range(2):
            yield (w * 2.0).requires_grad
        return None

    it = gen()
    assert next(it) is False
    assert ng.is_grad_enabled()  # between two values the caller's mode holds
    assert list(it) == [False]


@pytest.mark.parametrize("call, message", [
    (lambda: ng.set_grad_enabled("yes"),  # type: ignore[arg-type]
     r"set_grad_enabled: mode must be True or False, got 'yes' \(str\)"),
    (lambda: ng.no_grad()(3),  # type: ignore[type-var]
     r"no_grad: used as a decorator on int; expected a function"),
])
def test_grad_mode_bad_arguments(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ng.ConfigError, match=message):
        call()
    assert ng.is_grad_enabled()


def test_decorating_a_coroutine_function_is_refused() -> None:
    async def f() -> None:
        return None

    with pytest.raises(ng.ConfigError, match=r"no_grad: cannot decorate the coroutine function 'f'"):
        ng.no_grad()(f)


def test_register_hook_returns_a_handle_with_remove() -> None:
    x = ng.Tensor([1.0, 2.0], requires_grad=True)
    calls: list[int] = []
    handle = x.register_hook(lambda g: calls.append(1))
    other = x.register_hook(lambda g: g * 10.0)
    assert isinstance(handle, ng.RemovableHandle)
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [10.0, 10.0])  # type: ignore[union-attr]
    handle.remove()
    handle.remove()  # a second remove does nothing
    other()  # calling the handle removes too (the earlier API)
    x.zero_grad()
    (x * 1.0).sum().backward()
    assert calls == [1]
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])  # type: ignore[union-attr]
    with x.register_hook(lambda g: g * 0.0):
        pass
    assert not x._hooks


def test_hooks_run_without_recording_and_create_graph_records_even_under_no_grad() -> None:
    x = ng.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    seen: list[tuple[bool, bool]] = []

    def hook(g: ng.Tensor) -> ng.Tensor:
        doubled = g * 2.0  # a tensor op inside a hook: not part of any graph
        seen.append((ng.is_grad_enabled(), doubled.requires_grad))
        return doubled

    y = x * x
    y.register_hook(hook)
    y.sum().backward()
    assert seen == [(False, False)] and ng.is_grad_enabled()
    np.testing.assert_allclose(x.grad.data, 4.0 * x.data)  # d/dx Σ x², doubled by the hook

    z = ng.Tensor([0.5, -1.5], requires_grad=True)
    c = (z * z * z).sum()
    with ng.no_grad():  # the gradient's graph is built all the same: create_graph asks for it
        (gz,) = ng.grad(c, z, create_graph=True)
        assert not ng.is_grad_enabled()
    assert gz.requires_grad
    (hz,) = ng.grad(gz.sum(), z)
    np.testing.assert_allclose(hz.data, 6.0 * z.data)  # d/dz Σ 3z² = 6z, closed form


def test_layer_labels_are_per_thread(interleave: None) -> None:
    # Two threads run different networks' forward passes at once; every node must carry
    # its own thread's layer label (the diagrams' clusters), never the other's.
    nets = [ng.nn.Network([2, 3, 3, 1], seed=s) for s in (0, 1)]
    X = np.ones((4, 2))
    wrong: list[int] = []
    barrier = threading.Barrier(2)

    def run(k: int) -> None:
        barrier.wait()
        for _ in range(3000):  # (a shared stack gave ~16 wrong labels in 2,000)
            _, tr = nets[k].forward_trace(X)
            for l, z in tr.zs.items():
                label = z._scope
                if label is not nets[k].layers[l - 2]:
                    wrong.append(l)

    ts = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert wrong == []
