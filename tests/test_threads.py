"""Blockwise, threaded elementwise work (nablagraph.parallel): same numbers, every element once."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import ops, parallel
from nablagraph.ops import RAW, _sigmoid, _sigmoid_vjp


@pytest.fixture(params=[1, 2, 3])
def threads(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    ng.set_num_threads(request.param)
    yield request.param
    ng.set_num_threads(None)


@pytest.mark.parametrize("n", [1 << 18, (1 << 18) + 7, 1_000_003])
def test_blocks_visit_every_index_once(n: int, threads: int) -> None:
    seen = np.zeros(n, dtype=np.int64)
    workers: set[int] = set()

    def fn(k: int, a: int, b: int) -> None:
        assert 0 <= a < b <= n and b - a <= parallel.BLOCK
        seen[a:b] += 1
        workers.add(k)

    parallel.blocks(fn, n)
    assert (seen == 1).all()
    assert workers == set(range(min(threads, 2 * n // parallel.PARALLEL_MIN)))


@pytest.mark.parametrize(("dtype", "elements"), [("float64", 32768), ("float32", 65536), ("float16", 131072)])
def test_blocks_are_sized_in_bytes(dtype: str, elements: int, threads: int) -> None:
    assert parallel.block_size(dtype) == elements == parallel.BLOCK_BYTES // np.dtype(dtype).itemsize
    n = 5 * elements + 3
    sizes: list[int] = []
    parallel.blocks(lambda k, a, b: sizes.append(b - a), n, block=elements)
    assert sum(sizes) == n and max(sizes) == elements
    if threads == 1:
        assert sorted(sizes) == [3] + [elements] * 5
    else:  # each thread's share is cut in blocks from its own start
        assert len(sizes) <= 6 + threads - 1


def test_an_error_in_a_block_reaches_the_caller(threads: int) -> None:
    def fn(k: int, a: int, b: int) -> None:
        if a >= 300_000:
            raise ValueError(f"block at {a}")

    with pytest.raises(ValueError, match="block at"):
        parallel.blocks(fn, 1 << 20)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(512, 512), (1000, 263), (3_000_001,)])
def test_blockwise_sigmoid_and_its_vjp_equal_the_whole_array_bit_for_bit(shape, dtype, threads) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 20).astype(dtype)
    x.reshape(-1)[::997] = -800.0  # e^{-z} overflows there: σ = 0, and no warning
    g = rng.standard_normal(shape).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = _sigmoid(x)
        (ga,) = _sigmoid_vjp(RAW, (True,), g, a, x)
    saved = ops.elementwise.PARALLEL_MIN
    ops.elementwise.PARALLEL_MIN = 1 << 60  # the one-call path
    try:
        b = _sigmoid(x)
        (gb,) = _sigmoid_vjp(RAW, (True,), g, b, x)
    finally:
        ops.elementwise.PARALLEL_MIN = saved
    assert a.dtype == dtype and ga.dtype == dtype
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ga, gb)
    # and against the formula written out: σ = 1/(1 + e^{−z}), σ' g = g σ (1 − σ)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(a, 1 / (1 + np.exp(-x)))
    np.testing.assert_array_equal(ga, g * (b * (1 - b)))


def test_workers_run_under_the_callers_errstate(threads: int) -> None:
    n = 1 << 20
    for where in (0, n - 1):  # in the caller's part, then in the last worker's
        w = ng.Tensor(np.ones(n), requires_grad=True)
        g = np.ones(n)
        g[where] = 1e308  # η g overflows there
        w.grad = ng.Tensor(g)
        v0 = w.version
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            ng.SGD([w], lr=10.0).step()
        assert w.version != v0  # a step that stopped part-way still counts as a change


def test_setting_the_thread_count_while_another_thread_computes_is_safe() -> None:
    import threading

    errors: list[BaseException] = []
    x = np.zeros(1 << 20)

    def compute() -> None:
        try:
            for _ in range(30):
                ng.sigmoid(ng.Tensor(x))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=compute)
    t.start()
    try:
        for k in range(60):
            ng.set_num_threads(1 + k % 3)
    finally:
        t.join()
        ng.set_num_threads(None)
    assert not errors, errors


def test_the_callers_error_is_the_one_reported() -> None:
    ng.set_num_threads(2)
    try:
        def fn(k: int, a: int, b: int) -> None:
            raise ValueError(f"from worker {k}")

        with pytest.raises(ValueError, match="from worker 0"):
            parallel.blocks(fn, 1 << 20)
    finally:
        ng.set_num_threads(None)


def test_a_bad_thread_count_in_the_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("²", "0", "-2", "two"):
        monkeypatch.setattr(parallel, "_threads", None)
        monkeypatch.setenv("NABLAGRAPH_NUM_THREADS", bad)
        with pytest.raises(ng.ConfigError, match="NABLAGRAPH_NUM_THREADS must be a positive integer"):
            ng.get_num_threads()
    monkeypatch.setattr(parallel, "_threads", None)


class _FakeClock:
    """A clock that advances only when told: the kernels below say what a call costs."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def auto_threads(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Threads chosen by measurement (the default), on two threads, with a fake clock."""
    clock = _FakeClock()
    monkeypatch.setattr(parallel, "time", clock)
    monkeypatch.setattr(parallel, "_tuned", {})
    monkeypatch.setattr(parallel, "_trials", {})
    monkeypatch.setattr(parallel, "_medians", {})
    monkeypatch.setattr(parallel, "_calls", {})
    monkeypatch.delenv("NABLAGRAPH_NUM_THREADS", raising=False)
    ng.set_num_threads(None)
    monkeypatch.setattr(parallel, "_threads", 2)  # as on a 2-CPU machine, still measured
    yield clock
    ng.set_num_threads(None)


def _kernel(clock: _FakeClock, per_block: float, per_helper_call: float, used: list[int]):  # type: ignore[no-untyped-def]
    """A kernel whose cost, as the caller's clock sees it: ``per_block`` for every block
    the calling thread does (helpers work in parallel), plus ``per_helper_call`` once per
    call that used a helper (waking it, e.g. on a machine whose cores are busy)."""
    import threading

    lock = threading.Lock()
    helper_seen: set[int] = set()

    def fn(k: int, a: int, b: int) -> None:
        with lock:
            if k == 0:
                clock.now += per_block
            elif id(used) not in helper_seen:
                helper_seen.add(id(used))
                clock.now += per_helper_call
            used.append(k)

    def call(n: int) -> None:
        helper_seen.clear()
        parallel.blocks(fn, n, key="test kernel float64")

    return call


def test_threads_are_kept_when_they_measure_faster(auto_threads: _FakeClock) -> None:
    used: list[int] = []
    call = _kernel(auto_threads, per_block=1.0, per_helper_call=0.5, used=used)
    n = 1 << 20  # 32 blocks: 32 units on one thread, 16 + 0.5 on two
    for _ in range(2 * parallel.TUNE_CALLS):
        call(n)
    assert set(used) == {0, 1}  # both candidates were tried
    ((label, (chosen, medians)),) = parallel.thread_choices().items()
    assert label == "test kernel float64, 2^20+ elements"
    assert chosen == 2 and medians == {1: 32.0, 2: 16.5}
    used.clear()
    call(n)
    assert set(used) == {0, 1}


def test_threads_are_dropped_when_they_do_not_pay(auto_threads: _FakeClock) -> None:
    used: list[int] = []
    # two threads save 16 units but waking the helper costs 15: less than the 10 % margin
    call = _kernel(auto_threads, per_block=1.0, per_helper_call=15.0, used=used)
    for _ in range(2 * parallel.TUNE_CALLS):
        call(1 << 20)
    assert parallel.thread_choices()["test kernel float64, 2^20+ elements"] == (1, {1: 32.0, 2: 31.0})
    used.clear()
    call(1 << 20)
    assert set(used) == {0}
    # each size is measured on its own; small arrays never use threads
    used.clear()
    call(1 << 22)  # its trials: one thread, then two
    call(1 << 22)
    assert set(used) == {0, 1}
    call(1000)
    assert len(parallel.thread_choices()) == 1


def test_a_kernel_measures_again_after_a_while(auto_threads: _FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "RETUNE_EVERY", 3)
    used: list[int] = []
    call = _kernel(auto_threads, per_block=1.0, per_helper_call=15.0, used=used)
    for _ in range(2 * parallel.TUNE_CALLS + 2):
        call(1 << 20)
    assert parallel.thread_choices()  # settled on one thread
    used.clear()
    call(1 << 20)  # the RETUNE_EVERY-th call: measuring again, first candidate (1 thread)
    call(1 << 20)  # second candidate: 2 threads
    assert not parallel.thread_choices() and set(used) == {0, 1}


def test_a_fixed_thread_count_is_not_measured(auto_threads: _FakeClock) -> None:
    used: list[int] = []
    call = _kernel(auto_threads, per_block=1.0, per_helper_call=15.0, used=used)
    ng.set_num_threads(2)
    for _ in range(3 * parallel.TUNE_CALLS):
        call(1 << 20)
    assert set(used) == {0, 1} and parallel.thread_choices() == {}
    with pytest.raises(ng.ConfigError, match=r"set_num_threads: n must be a positive integer, got 0 \(None: back to the default\)"):
        ng.set_num_threads(0)


def test_kernels_measured_from_two_threads_at_once_stay_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(parallel, "_tuned", {})
    monkeypatch.setattr(parallel, "_trials", {})
    monkeypatch.setattr(parallel, "_medians", {})
    monkeypatch.setattr(parallel, "_calls", {})
    monkeypatch.setattr(parallel, "RETUNE_EVERY", 3)  # settle and measure again, often
    monkeypatch.delenv("NABLAGRAPH_NUM_THREADS", raising=False)
    ng.set_num_threads(None)
    monkeypatch.setattr(parallel, "_threads", 2)
    errors: list[BaseException] = []
    n = 1 << 19

    def work() -> None:
        try:
            for _ in range(40):
                seen = np.zeros(n, dtype=np.int8)

                def fn(k: int, a: int, b: int, seen: np.ndarray = seen) -> None:
                    seen[a:b] += 1

                parallel.blocks(fn, n, key="shared kernel float64")
                assert (seen == 1).all()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        ng.set_num_threads(None)
    assert not errors, errors
