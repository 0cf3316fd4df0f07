"""Gradient checking: finite differences, ``gradcheck`` and the three-way comparison.

Modules:

* :mod:`nablagraph.check.gradcheck` — central differences, :func:`numerical_grad` and
  :func:`gradcheck` for any function of tensors.  Imports ``tensor``, ``engine``,
  ``errors``.
* :mod:`nablagraph.check.compare` — :func:`compare_gradients`, the three-way proof of
  a dense network's gradients: autodiff (the engine), the closed-form equations BP1–BP4
  (:mod:`nablagraph.reference`) and finite differences of the cost, per layer and per
  parameter.  Imports ``tensor``, ``engine``, ``errors``, ``reference`` and the two
  modules below; the model is
  taken by duck typing (never ``nn``: ``check`` sits below ``nn`` in design.md's list).
* :mod:`nablagraph.check.model` — :func:`compare_gradients` on any model: a user's
  ``Module`` or a function of tensors, given a cost; the closed form where
  :mod:`nablagraph.check.chain` finds a chain of Dense layers, else autodiff against
  finite differences with the reason stated.
* :mod:`nablagraph.check.finite_differences` — the stencils, probes and kink-safe step
  the comparison uses.  Imports ``tensor``, ``check.report``.
* :mod:`nablagraph.check.report` — the comparison's report: its table and JSON form,
  and how two arrays are compared.  Imports ``errors`` only.
* :mod:`nablagraph.check.yours` — :func:`check_backprop`, the user's own handwritten
  backprop against autodiff, with the failing equation and the mistake that reproduces
  its numbers (:mod:`~nablagraph.check.hypotheses`); the user's code is loaded and called
  by :mod:`~nablagraph.check.user_code`, judged by :mod:`~nablagraph.check.yours_diagnosis`
  and reported by :mod:`~nablagraph.check.yours_report`.

Examples
--------
>>> import numpy as np, nablagraph as ng
>>> from nablagraph.check import compare_gradients
>>> net = ng.nn.Network([3, 4, 2], cost="cross_entropy", seed=0)
>>> X, y = np.random.default_rng(0).standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
>>> compare_gradients(net, X, y).passed
True
"""

import importlib as _importlib
import typing as _typing

from nablagraph.check.gradcheck import GradcheckReport, InputCheck, gradcheck, numerical_grad

if _typing.TYPE_CHECKING:  # what __getattr__ below loads on first use, for mypy and IDEs
    from nablagraph.check.compare import compare_gradients
    from nablagraph.check.report import (
        GradientComparison,
        LayerCheck,
        PairError,
        ParameterCheck,
        RouteCost,
        Tolerances,
    )
    from nablagraph.check.user_code import load_user_object
    from nablagraph.check.yours import BackpropReport, check_backprop

#: The names loaded on first use (PEP 562), by the module that defines them:
#: ``gradcheck`` needs none of the three-way comparison's or ``check_backprop``'s modules.
#: (``gradcheck`` itself is imported above, so that the name is the function, never the
#: submodule of the same name.)
_LAZY = {
    "compare_gradients": "compare",
    "GradientComparison": "report", "LayerCheck": "report", "PairError": "report",
    "ParameterCheck": "report", "RouteCost": "report", "Tolerances": "report",
    "load_user_object": "user_code",
    "check_backprop": "yours", "BackpropReport": "yours",
}


def __getattr__(name: str) -> _typing.Any:
    """Import a name of ``_LAZY`` on its first use and keep it as a module attribute."""
    try:
        where = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(_importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "numerical_grad", "gradcheck", "GradcheckReport", "InputCheck",
    "compare_gradients", "GradientComparison", "LayerCheck", "ParameterCheck", "PairError",
    "RouteCost", "Tolerances",
    "check_backprop", "BackpropReport", "load_user_object",
]
