"""Networks in the notes' notation, their optimizers and the training loop.

``Dense`` layers, ``Sequential`` and ``Network`` (:mod:`.module`); ``SGD`` and ``Adam``
(:mod:`.optim`); ``fit`` and its ``History`` (:mod:`.train`).  PyTorch's names:
``Linear`` and the activation modules (:mod:`.layers`), learning-rate schedules
(:mod:`.lr_scheduler`) and gradient clipping (:mod:`.utils`).

Imports: ``tensor``, ``functional``, ``errors``, ``replay``.
"""

from nablagraph.nn import lr_scheduler, utils
from nablagraph.nn.layers import (
    ACTIVATION_MODULES,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from nablagraph.nn.lr_scheduler import CosineAnnealingLR, LRScheduler, ReduceLROnPlateau, StepLR
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
    "Linear", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Softmax", "LogSoftmax",
    "ACTIVATION_MODULES", "LRScheduler", "StepLR", "CosineAnnealingLR", "ReduceLROnPlateau",
    "lr_scheduler", "utils",
]
