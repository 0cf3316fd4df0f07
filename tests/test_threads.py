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
    before = ng.get_num_threads()
    ng.set_num_threads(request.param)
    yield request.param
    ng.set_num_threads(before)


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
    before = ng.get_num_threads()

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
        ng.set_num_threads(before)
    assert not errors, errors


def test_the_callers_error_is_the_one_reported() -> None:
    before = ng.get_num_threads()
    ng.set_num_threads(2)
    try:
        def fn(k: int, a: int, b: int) -> None:
            raise ValueError(f"from worker {k}")

        with pytest.raises(ValueError, match="from worker 0"):
            parallel.blocks(fn, 1 << 20)
    finally:
        ng.set_num_threads(before)


def test_a_bad_thread_count_in_the_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for bad in ("²", "0", "-2", "two"):
        monkeypatch.setattr(parallel, "_threads", None)
        monkeypatch.setenv("NABLAGRAPH_NUM_THREADS", bad)
        with pytest.raises(ng.ConfigError, match="NABLAGRAPH_NUM_THREADS must be a positive integer"):
            ng.get_num_threads()
    monkeypatch.setattr(parallel, "_threads", None)
