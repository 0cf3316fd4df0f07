"""Activation lists and helpers shared by the closed-form and three-way tests.

Read from the op registry, so a new activation is tested without editing any list.
"""

from __future__ import annotations

import numpy as np

from nablagraph.activations import ACTIVATIONS as ACTIVATION_TABLE
from nablagraph.functional import activation_op, activation_table

#: Every elementwise activation a hidden layer can use: the registry's activation ops,
#: plus ``identity``.
ACTIVATIONS = [n for n in activation_table() if (op := activation_op(n)) is None or op.elementwise]
#: Those with a kink (a registry fact), whose z must be kept away from it.
KINKED = tuple(n for n in ACTIVATIONS if (op := activation_op(n)) is not None and op.kinks)


def bias_for_half(name: str) -> float:
    """The ``b`` with ``σ(b) = ½`` (bisection on the closed-form σ), for a BCE output layer
    whose σ is not a probability: with small weights ``a^L`` stays near ½, inside (0, 1)."""
    sigma = ACTIVATION_TABLE[name][0]
    lo, hi = -8.0, 8.0
    for _ in range(80):
        mid = (lo + hi) / 2
        s = float(sigma(np.array(mid)))
        if s == 0.5:
            return mid
        lo, hi = (mid, hi) if s < 0.5 else (lo, mid)
    return (lo + hi) / 2
