"""Gradient clipping under PyTorch's names: ``clip_grad_norm_`` and ``clip_grad_value_``.

Both change the parameters' ``.grad`` in place, between ``backward()`` and the
optimizer's ``step()``; parameters without a gradient are skipped.  ``parameters`` may
be a module, one tensor or an iterable of tensors.

Imports: ``_tensor``, ``errors``, ``nn.base``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, GraphError
from nablagraph.nn.base import Module

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(where: str, parameters: Module | Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    if isinstance(parameters, Module):
        params: list[Any] = parameters.parameters()
    elif isinstance(parameters, Tensor):
        params = [parameters]
    else:
        try:
            params = list(parameters)
        except TypeError:
            raise ConfigError(
                f"{where}: parameters must be a module, a tensor or an iterable of tensors, "
                f"got {type(parameters).__name__}"
            ) from None
    bad = [type(p).__name__ for p in params if not isinstance(p, Tensor)]
    if bad:
        raise ConfigError(f"{where}: parameters must be tensors, got {bad[0]}")
    return [p.grad._data for p in params if p.grad is not None]


def _positive(where: str, what: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{where}: {what} must be a positive number, got {value!r}")
    v = float(value)
    if not v > 0:  # also refuses NaN
        raise ConfigError(f"{where}: {what} must be positive, got {value!r}")
    return v


def clip_grad_norm_(
    parameters: Module | Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> Tensor:
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    With ``g`` all gradients as one vector, ``‖g‖_p = (Σ_i |g_i|^p)^{1/p}`` (``p = inf``:
    ``max_i |g_i|``); each gradient is multiplied by ``min(1, max_norm / (‖g‖_p + 10⁻⁶))``,
    as PyTorch does, so the direction of the step is kept.

    Returns
    -------
    Tensor
        The total norm ``‖g‖_p`` *before* clipping (a 0-d float64 tensor, as PyTorch's).

    Raises
    ------
    ConfigError
        ``max_norm`` or ``norm_type`` not a positive number.
    GraphError
        ``error_if_nonfinite=True`` and the norm is NaN or infinite.

    Examples
    --------
    >>> import nablagraph as ng
    >>> w = ng.tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()                     # ∇ = 2w = (6, 8), norm 10
    >>> ng.nn.utils.clip_grad_norm_([w], max_norm=5.0).item()
    10.0
    >>> w.grad.data.round(6)
    array([3., 4.])
    """
    where = "clip_grad_norm_"
    max_norm = _positive(where, "max_norm", max_norm)
    p = _positive(where, "norm_type", norm_type)
    grads = _grads(where, parameters)
    if not grads:
        return Tensor(np.float64(0.0))
    if math.isinf(p):
        total = max(float(np.max(np.abs(g), initial=0.0)) for g in grads)
    else:
        total = float(sum(float(np.sum(np.abs(g, dtype=np.float64) ** p)) for g in grads) ** (1.0 / p))
    if not math.isfinite(total) and error_if_nonfinite:
        raise GraphError(
            f"{where}: the total norm of the gradients is {total}; a gradient holds NaN or "
            "infinite values (pass error_if_nonfinite=False to scale them anyway)"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            np.multiply(g, coef, out=g, casting="same_kind")
    return Tensor(np.float64(total))


def clip_grad_value_(parameters: Module | Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient entry into ``[−clip_value, clip_value]``, in place.

    Examples
    --------
    >>> import nablagraph as ng
    >>> w = ng.tensor([3.0, -0.5], requires_grad=True)
    >>> (w * w).sum().backward()                     # ∇ = (6, −1)
    >>> ng.nn.utils.clip_grad_value_([w], 2.0)
    >>> w.grad.tolist()
    [2.0, -1.0]
    """
    v = _positive("clip_grad_value_", "clip_value", clip_value)
    for g in _grads("clip_grad_value_", parameters):
        np.clip(g, -v, v, out=g)
