"""Networks in the notes' notation: ``Dense`` layers, ``Sequential``, ``Network``.

Imports: ``tensor``, ``functional``, ``errors``.
"""

from nablagraph.nn.module import (
    ACTIVATION_NAMES,
    COST_NAMES,
    INIT_SCHEMES,
    Dense,
    Module,
    Network,
    Sequential,
    Trace,
    init_weights,
)

__all__ = [
    "Module", "Dense", "Sequential", "Network", "Trace", "init_weights",
    "ACTIVATION_NAMES", "COST_NAMES", "INIT_SCHEMES",
]
