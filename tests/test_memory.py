"""Training does not leak: memory is flat over 10,000 steps.

Each step records a graph (forward), frees it (``backward``) and updates the
parameters in place; nothing of one step should survive into the next.  ``tracemalloc``
counts the bytes Python and NumPy hold: the current total after step 1,000 and after
step 10,000 must differ by less than ``BOUND`` (a leak of even one small array per step
would add hundreds of kilobytes over the 9,000 steps in between).  A control run that
keeps every step's graph alive shows the measurement does see a leak.

Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

import nablagraph as ng
from nablagraph.nn import Network

STEPS = 10_000
FIRST = 1_000
BOUND = 32 * 1024  # bytes


def _setup() -> tuple[Network, ng.SGD, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    Y = np.eye(3)[rng.integers(0, 3, 64)]
    net = Network([4, 8, 3], activation="tanh", cost="quadratic", seed=0)
    return net, ng.SGD(net, lr=0.05, momentum=0.9), X, Y


def _train(steps: int, at: tuple[int, ...], keep: list[ng.Tensor] | None = None) -> dict[int, int]:
    """Train ``steps`` steps on batches of 4; ``tracemalloc`` current bytes after each step in ``at``."""
    net, opt, X, Y = _setup()
    seen: dict[int, int] = {}

    def step(k: int) -> None:
        s = (4 * k) % 64
        opt.zero_grad()
        C = ng.quadratic_cost(net(X[s:s + 4]), Y[s:s + 4])
        C.backward(retain_graph=keep is not None)
        opt.step()
        if keep is not None:
            keep.append(C)

    tracemalloc.start()
    try:
        for k in range(1, steps + 1):
            step(k)
            if k in at:
                gc.collect()
                seen[k] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return seen


def test_memory_is_flat_over_10000_training_steps() -> None:
    mem = _train(STEPS, (FIRST, 5_000, STEPS))
    growth = mem[STEPS] - mem[FIRST]
    print(f"\ntracemalloc current: step {FIRST}: {mem[FIRST]} B, step 5000: {mem[5_000]} B, "
          f"step {STEPS}: {mem[STEPS]} B; growth over {STEPS - FIRST} steps: {growth} B")
    assert abs(growth) < BOUND, mem


def test_the_measurement_sees_a_leak() -> None:
    """Keeping each step's graph alive (a typical user leak) is caught by the same bound."""
    keep: list[ng.Tensor] = []
    mem = _train(1_100, (100, 1_100), keep)
    assert mem[1_100] - mem[100] > BOUND, mem
