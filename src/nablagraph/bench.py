"""Benchmarks: the notes' "in what sense is backpropagation fast", measured.

:func:`fd_vs_backprop` times one gradient of a ``[64, h, 10]`` network's cost by
backpropagation (one forward and one backward pass for all ``P`` parameters), by the
handwritten closed form BP1–BP4, and by central finite differences (two forward passes
*per parameter*), as ``h`` and so ``P`` grow.  Finite differences over every parameter
of the larger networks would take minutes, so their time is measured on a sample of
coordinates and scaled to ``P`` (the table says so).

Timings are medians of interleaved repeats after a warm-up; ratios compare routes
measured in the same run.  Nothing here is asserted by the test suite except that it
runs.

Imports: the public package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import nablagraph as ng
from nablagraph import reference

__all__ = ["fd_vs_backprop", "median_time"]


def median_time(fn: Callable[[], Any], repeats: int, number: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs of ``number`` calls each."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def _interleaved(fns: list[Callable[[], Any]], repeats: int, number: int) -> list[float]:
    for f in fns:
        f()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            times[i].append((time.perf_counter() - t0) / number)
    return [float(np.median(t)) for t in times]


def _one_width(
    h: int, X: np.ndarray, y: np.ndarray, repeats: int, fd_sample: int,
    rng: np.random.Generator, seed: int,
) -> tuple[int, int, float, float, float, float, float]:
    net = ng.nn.Network([64, h, 10], cost="cross_entropy", seed=seed)
    P = net.num_parameters()
    params = net.parameters()

    def forward() -> None:
        with ng.no_grad():
            net.cost(X, y)

    def backprop() -> None:
        ng.grad(net.cost(X, y), params)

    def closed() -> None:
        reference.backprop(net, X, y)

    number = max(1, int(2000 / (h + 10)))
    t_fwd, t_bp, t_cf = _interleaved([forward, backprop, closed], repeats, number)
    # FD: time `fd_sample` coordinates (2 forward passes each), scale to P.
    k = min(P, fd_sample)
    flat = [(p, j) for p in params for j in range(p.size)]
    pick = rng.choice(len(flat), size=k, replace=False)

    def fd_sample_run() -> None:
        for idx in pick:
            p, j = flat[idx]
            orig = p.data.flat[j]
            p.data.flat[j] = orig + 1e-6
            forward()
            p.data.flat[j] = orig - 1e-6
            forward()
            p.data.flat[j] = orig

    t_fd = median_time(fd_sample_run, max(1, repeats // 2)) / k * P
    passes = 1 + (t_bp - t_fwd) / t_fwd if t_fwd > 0 else float("nan")
    return h, P, t_fwd, t_bp, passes, t_cf, t_fd


def fd_vs_backprop(
    hidden: str | list[int] = "4,16,64,256",
    repeats: int = 5,
    plot: str | None = None,
    seed: int = 0,
    batch: int = 32,
    fd_sample: int = 64,
    out: Callable[[str], None] = print,
) -> int:
    """Print (and optionally plot) the cost of one gradient by each route; return 0."""
    widths = [int(h) for h in hidden.split(",")] if isinstance(hidden, str) else list(hidden)
    rng = np.random.default_rng(seed)
    X = rng.random((batch, 64))
    y = rng.integers(0, 10, batch)
    rows = []
    out(f"one gradient of C for [64, h, 10] sigmoid / softmax cross-entropy networks, batch M = {batch}")
    out(f"median of {repeats} interleaved repeats; FD = central differences, 2 forward passes per parameter")
    head = (f"{'h':>5} {'P':>8} {'forward':>10} {'backprop':>10} {'passes':>7} {'closed form':>12} "
            f"{'FD (2P passes)':>15} {'FD / backprop':>14}")
    out(head)
    out("-" * len(head))
    for h in widths:
        row = _one_width(h, X, y, repeats, fd_sample, rng, seed)
        rows.append(row)
        _, P, t_fwd, t_bp, passes, t_cf, t_fd = row
        est = "" if min(P, fd_sample) == P else "*"
        out(f"{h:>5} {P:>8,} {t_fwd * 1e6:>8.0f}µs {t_bp * 1e6:>8.0f}µs {passes:>7.2f} "
            f"{t_cf * 1e6:>10.0f}µs {t_fd:>13.3f}s{est} {t_fd / t_bp:>13,.0f}×")
    out("passes = backprop time in units of one forward pass; * = FD time measured on "
        f"{fd_sample} coordinates and scaled to P")
    if plot:
        from nablagraph.plot import plot_scaling

        Ps = [r[1] for r in rows]
        path = plot_scaling(
            Ps,
            {
                "finite differences (2P forward passes)": [r[6] for r in rows],
                "backprop (autodiff)": [r[3] for r in rows],
                "closed form BP1–BP4": [r[5] for r in rows],
                "one forward pass": [r[2] for r in rows],
            },
            plot,
            title="time for one gradient of C",
        )
        out(f"wrote the log-log plot to {path}")
    return 0
