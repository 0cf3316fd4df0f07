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
    saved = ops.PARALLEL_MIN
    ops.PARALLEL_MIN = 1 << 60  # the one-call path
    try:
        b = _sigmoid(x)
        (gb,) = _sigmoid_vjp(RAW, (True,), g, b, x)
    finally:
        ops.PARALLEL_MIN = saved
    assert a.dtype == dtype and ga.dtype == dtype
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ga, gb)
    # and against the formula written out: σ = 1/(1 + e^{−z}), σ' g = g σ (1 − σ)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(a, 1 / (1 + np.exp(-x)))
    np.testing.assert_array_equal(ga, g * (b * (1 - b)))
