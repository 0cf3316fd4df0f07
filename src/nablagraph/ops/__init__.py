"""Every primitive op: its forward, its vector-Jacobian product and its facts, side by side.

The package, by family: :mod:`~nablagraph.ops.registry` (:class:`Op`, :data:`OPS`,
:func:`defop`, the NumPy namespace :data:`RAW`), :mod:`~nablagraph.ops.arithmetic`,
:mod:`~nablagraph.ops.elementwise` (with the activations),
:mod:`~nablagraph.ops.shape`, :mod:`~nablagraph.ops.reductions` and
:mod:`~nablagraph.ops.costs`.  Everything is importable from ``nablagraph.ops``.

The rules every entry obeys
---------------------------
1. ``forward(*arrays, *params) -> ndarray`` works on raw NumPy arrays only.  ``params``
   are the op's non-tensor arguments (axis, shape, index, slope, labels ...).
2. ``vjp(F, needs, g, out, *inputs, *params) -> tuple`` returns one gradient per tensor
   input, or ``None`` where ``needs[i]`` is false (no work is done for inputs that do
   not require a gradient, such as the data ``X`` and targets ``Y``).
   ``g`` is ``∂C/∂out``, ``out`` is the op's output, ``inputs`` its inputs.
3. A VJP is written once, with Python operators and the functions of the namespace
   ``F``.  The engine passes raw arrays and the NumPy namespace :data:`RAW` for an
   ordinary backward pass, or tensors and :mod:`nablagraph.functional` when
   ``create_graph=True``: the same rule then records its own graph, which is how
   second derivatives work.  Constants (masks, one-hot labels) are built from
   ``F.data(x)`` so they never enter the graph.
4. A VJP may return a gradient of the *broadcast* shape; the engine, not the rule,
   sums it back to the input's shape (``sum_to``) and then checks the shape.
5. Costs follow the notes: ``C = (1/M) Σ_m C_m``, an average over the ``M`` examples
   of the batch (the first axis), each ``C_m`` a sum over the output neurons.
6. Every op states its facts in its ``defop`` call (``kind=`` and what that kind
   needs: kinks and Lipschitz bounds for activations, the cost name for costs); the
   tables below are derived from them, and ``tests/test_registry.py`` fails for an op
   missing one.

To add an op, write its two functions in its family's module, register them with
:func:`defop`, expose a user function in :mod:`nablagraph.functional`, and add a
gradient-test entry in ``tests/test_ops_gradcheck.py`` (a completeness test fails until
you do).  ``docs/adding-an-op.md`` and ``docs/adding-an-activation.md`` walk through it.

This package imports ``errors``, ``parallel`` (blocks and threads for large elementwise
work) and NumPy only.
"""

from __future__ import annotations

from nablagraph.ops import arithmetic, costs, elementwise, reductions, registry, shape
from nablagraph.ops.arithmetic import *  # noqa: F403
from nablagraph.ops.arithmetic import _linear_vjp, _matmul_error
from nablagraph.ops.costs import *  # noqa: F403
from nablagraph.ops.costs import (
    _bce_bounds,
    _check_finite,
    _check_targets,
    _check_unit_interval,
    _quadratic_vjp,
)
from nablagraph.ops.elementwise import *  # noqa: F403
from nablagraph.ops.elementwise import _log_softmax, _sigmoid, _sigmoid_vjp, _softmax
from nablagraph.ops.reductions import *  # noqa: F403
from nablagraph.ops.registry import *  # noqa: F403
from nablagraph.ops.registry import _broadcast_detail, _scatter
from nablagraph.ops.shape import *  # noqa: F403
from nablagraph.parallel import PARALLEL_MIN

#: Names of the ops that compute a cost ``C`` (``kind == "cost"``): viz draws them
#: outside the layer clusters and their target inputs as targets.
COST_OPS: frozenset[str] = frozenset(n for n, op in registry.OPS.items() if op.kind == "cost")


def activation_ops() -> dict[str, registry.Op]:
    """The ops a layer can use as σ by name, in the order they were registered.

    A function, not a constant, so that an activation registered later (a test, a
    plug-in) is seen too.
    """
    return {n: op for n, op in registry.OPS.items() if op.kind == "activation"}


__all__ = [
    "COST_OPS", "PARALLEL_MIN", "activation_ops", "arithmetic", "costs", "elementwise",
    "reductions", "registry", "shape",
]
__all__ += registry.__all__
__all__ += arithmetic.__all__
__all__ += elementwise.__all__
__all__ += shape.__all__
__all__ += reductions.__all__
__all__ += costs.__all__
__all__ += ["_bce_bounds", "_broadcast_detail", "_check_finite", "_check_targets",
            "_check_unit_interval", "_linear_vjp", "_log_softmax", "_matmul_error",
            "_quadratic_vjp", "_scatter", "_sigmoid", "_sigmoid_vjp", "_softmax"]
