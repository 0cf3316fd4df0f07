"""The cost of a model on a batch, the same way in training and evaluation.

:class:`_Objective` turns ``fit``'s ``cost=`` (or a :class:`Network`'s own cost) into
``(C, outputs)`` for a batch; :func:`_evaluate` averages the cost, and counts the
correct classes, over a whole set in chunks of :data:`EVAL_CHUNK` examples under
``no_grad``.

Imports: ``tensor``, ``functional``, ``errors``, ``nn.module``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor, no_grad
from nablagraph.errors import ConfigError
from nablagraph.nn.module import COST_FUNCTIONS, Module, Network, resolve_cost

CostFn = Callable[[Tensor, Any], Tensor]

#: Examples per forward pass when evaluating the cost and accuracy after an epoch.
EVAL_CHUNK = 4096


class _Objective:
    """Cost and outputs of a model on a batch, the same way in training and evaluation."""

    def __init__(self, model: Module, cost: str | CostFn | None) -> None:
        self.model = model
        self.network = model if isinstance(model, Network) and cost is None else None
        self.cost_fn: CostFn | None = None
        self.cost_name: str | None = None
        if self.network is not None:
            self.cost_name = self.network.cost_name
        elif callable(cost):
            self.cost_fn = cost
        elif isinstance(cost, str):
            self.cost_name = resolve_cost(cost)
            self.cost_fn = COST_FUNCTIONS[self.cost_name]  # the one cost table (ops.COSTS)
        elif cost is None:
            raise ConfigError(
                f"fit: {type(model).__name__} is not a Network, so fit needs cost=: a name "
                f"({', '.join(repr(c) for c in COST_FUNCTIONS)} — cross_entropy "
                "treats the outputs as logits) or a function cost(outputs, Y) -> Tensor"
            )
        else:
            raise ConfigError(f"fit: cost must be a name or a callable, got {type(cost).__name__}")

    @property
    def keep_labels(self) -> bool:
        """Whether integer labels go to the cost as they are (else one-hot)."""
        return self.cost_name == "cross_entropy" or (self.cost_fn is not None and self.cost_name is None)

    def __call__(self, X: np.ndarray, Y: np.ndarray) -> tuple[Tensor, np.ndarray]:
        if self.network is not None:
            a, tr = self.network.forward_trace(X)
            return self.network.cost_from_trace(tr, Y), a.data
        assert self.cost_fn is not None
        out = self.model(X)
        if not isinstance(out, Tensor):
            raise ConfigError(f"fit: the model returned {type(out).__name__}, expected a Tensor")
        C = self.cost_fn(out, Y)
        if not isinstance(C, Tensor) or C.data.size != 1:
            got = f"shape {C.shape}" if isinstance(C, Tensor) else type(C).__name__
            raise ConfigError(f"fit: the cost must return a one-element Tensor, got {got}")
        return C, out.data


def _correct(out: np.ndarray, Y: np.ndarray) -> int:
    pred = np.argmax(out, axis=1) if out.shape[1] > 1 else (out[:, 0] > 0.5).astype(np.int64)
    if Y.ndim == 1:
        true = Y
    elif Y.shape[1] > 1:
        true = np.argmax(Y, axis=1)
    else:
        true = (Y[:, 0] > 0.5).astype(np.int64)
    return int(np.sum(pred == true))


def _is_classes(Y: np.ndarray, width: int) -> bool:
    if Y.ndim == 1:
        return True
    if Y.ndim != 2:
        return False
    if width > 1:
        return True
    return bool(np.all((Y == 0) | (Y == 1)))


def _evaluate(
    objective: _Objective, X: np.ndarray, Y: np.ndarray, classes: bool
) -> tuple[float, float | None]:
    n = X.shape[0]
    total, correct = 0.0, 0
    with no_grad():
        for s in range(0, n, EVAL_CHUNK):
            xb, yb = X[s : s + EVAL_CHUNK], Y[s : s + EVAL_CHUNK]
            C, out = objective(xb, yb)
            total += float(C.data) * xb.shape[0]
            if classes and out.ndim == 2:
                correct += _correct(out, yb)
    return total / n, (correct / n if classes else None)


def _model_dtype(model: Module) -> np.dtype[Any]:
    if isinstance(model, Network):
        return model.dtype
    params = model.parameters()
    return params[0].dtype if params else np.dtype(np.float64)


def _output_width(model: Module, X: np.ndarray) -> int:
    if isinstance(model, Network):
        return model.sizes[-1]
    with no_grad():
        out = model(X[:1])
    shape = out.shape if isinstance(out, Tensor) else np.shape(out)
    return int(shape[-1]) if len(shape) >= 2 else 1
