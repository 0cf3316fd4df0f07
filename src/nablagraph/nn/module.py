"""Modules: ``Module``, the notes' ``Dense`` layer, ``Sequential`` and ``Network``.

Notation (see ``docs/``): layer 1 is the input, ``a^1 = x``; each weighted layer
``l = 2 … L`` holds ``w^l`` (``W``, shape ``(n_l, n_{l-1})``, row j = neuron j) and
``b^l`` (``b``, shape ``(n_l,)``) and computes, with the batch as rows,

    z^l = a^{l-1} (w^l)ᵀ + b^l,        a^l = σ(z^l).

Parameter names follow the layer number: ``W2``, ``b2``, … ``WL``, ``bL``.

The code lives in four modules, each importing only the ones above it in this list;
this module gathers their public names, so ``from nablagraph.nn.module import Network``
(and anything that looks a class up by this path, such as a pickle) keeps working:

* :mod:`nablagraph.nn.base` — :class:`~nablagraph.nn.base.Module`, parameters and state;
* :mod:`nablagraph.nn.arrays` — :func:`~nablagraph.nn.arrays.as_numeric_array`, user
  data read as numbers with errors that name the row at fault;
* :mod:`nablagraph.nn.dense` — :class:`~nablagraph.nn.dense.Dense`, the activation
  table, :func:`~nablagraph.nn.dense.init_weights` and the size, dtype and memory
  checks (:func:`~nablagraph.nn.dense.parameter_bytes`);
* :mod:`nablagraph.nn.network` — :class:`~nablagraph.nn.network.Sequential`,
  :class:`~nablagraph.nn.network.Network`, :class:`~nablagraph.nn.network.Trace` and
  the cost table.

Imports: ``nn.base``, ``nn.arrays``, ``nn.dense``, ``nn.network``.
"""

from __future__ import annotations

from nablagraph.nn.arrays import as_numeric_array
from nablagraph.nn.arrays import index_text as index_text
from nablagraph.nn.base import Module
from nablagraph.nn.dense import (
    ACTIVATION_NAMES,
    INIT_SCHEMES,
    Dense,
    init_weights,
    parameter_bytes,
    resolve_activation,
)
from nablagraph.nn.dense import ActivationFn as ActivationFn
from nablagraph.nn.network import (
    COST_FUNCTIONS,
    COST_NAMES,
    Network,
    Sequential,
    Trace,
    resolve_cost,
)

# ``index_text`` and ``ActivationFn`` (imported ``as`` themselves) are importable from
# here as before, but were never in ``__all__``.
__all__ = [
    "Module", "Dense", "Sequential", "Network", "Trace", "ACTIVATION_NAMES",
    "COST_NAMES", "COST_FUNCTIONS", "INIT_SCHEMES", "init_weights", "resolve_activation", "resolve_cost",
    "parameter_bytes", "as_numeric_array",
]
