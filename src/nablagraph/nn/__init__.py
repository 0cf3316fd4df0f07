"""Networks in the notes' notation, their optimizers and the training loop.

``Dense`` layers, ``Sequential`` and ``Network`` (:mod:`.module`); ``SGD`` and ``Adam``
(:mod:`.optim`); ``fit`` and its ``History`` (:mod:`.train`).

Imports: ``tensor``, ``functional``, ``errors``, ``replay``.
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
from nablagraph.nn.optim import SGD, Adam, Optimizer
from nablagraph.nn.train import DataError, History, fit

__all__ = [
    "Module", "Dense", "Sequential", "Network", "Trace", "init_weights",
    "ACTIVATION_NAMES", "COST_NAMES", "INIT_SCHEMES",
    "Optimizer", "SGD", "Adam",
    "fit", "History", "DataError",
]
