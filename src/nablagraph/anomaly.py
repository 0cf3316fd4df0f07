"""Anomaly detection: find the op that first produced a NaN or an infinity.

Inside ``with nablagraph.detect_anomaly():`` every op checks its output, and the
backward pass checks every gradient it computes.  The first non-finite value raises
:class:`~nablagraph.errors.AnomalyError` naming the op, the layer it belongs to (when
it was recorded inside a ``Dense`` layer), the tensors involved, and the line of *your*
code that recorded the op — the forward stack is captured for each op while the mode
is on, which is why it is opt-in (it slows every op down).

Like grad mode, the detection mode belongs to the thread (and asyncio task) that
enters the block: ops and backward passes run by other threads are not checked.

Imports: ``tensor``, ``errors``, ``ops``.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor, describe
from nablagraph.errors import AnomalyError
from nablagraph.modes import ANOMALY, _get_mode, _set_mode
from nablagraph.ops import Op, shape_text

__all__ = ["detect_anomaly", "is_anomaly_enabled"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class detect_anomaly:  # noqa: N801 - used like a function, as in PyTorch
    """Context manager: raise at the first NaN/inf produced forward or backward.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> x = ng.Tensor(np.array([1.0, -1.0]), requires_grad=True)
    >>> with ng.detect_anomaly(), np.errstate(invalid="ignore"):
    ...     y = ng.log(x)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    nablagraph.errors.AnomalyError: anomaly: 'log' produced nan ...
    """

    def __init__(self) -> None:
        self.prev = 0

    def __enter__(self) -> None:
        m = _get_mode()
        self.prev = m & ANOMALY
        _set_mode(m | ANOMALY)

    def __exit__(self, *exc: object) -> None:
        _set_mode((_get_mode() & ~ANOMALY) | self.prev)


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in the calling thread (or asyncio task)."""
    return bool(_get_mode() & ANOMALY)


def _user_frame() -> traceback.FrameSummary | None:
    for frame in reversed(traceback.extract_stack()):
        path = os.path.abspath(frame.filename)
        if not path.startswith(_PACKAGE_DIR) and "contextlib" not in path:
            return frame
    return None


def _where(t: Tensor) -> str:
    frame = t._frame
    if frame is None:
        return ""
    return f"; recorded at {frame.filename}:{frame.lineno} in {frame.name}(): {frame.line}"


def _layer(t: Tensor) -> str:
    index = getattr(t._scope, "index", None)
    if index is None:
        return ""
    return f" in layer {index} (W{index}, b{index})"


def _kind(a: np.ndarray) -> str:
    if np.isnan(a).any():
        return "nan"
    return "inf"


def check_forward(op: Op, inputs: tuple[Tensor, ...], out: Tensor) -> None:
    """Called by ``tensor.apply`` for every op while anomaly detection is on."""
    frame = _user_frame()
    if out.requires_grad:
        out._frame = frame
    data = out._data
    if data.dtype.kind != "f" or np.isfinite(data).all():
        return
    where = (
        f"; called at {frame.filename}:{frame.lineno} in {frame.name}(): {frame.line}"
        if frame is not None else ""
    )
    bad_inputs = [
        f"input {i} ({describe(p)})" for i, p in enumerate(inputs)
        if p._data.dtype.kind == "f" and not np.isfinite(p._data).all()
    ]
    if bad_inputs:
        origin = f"because it received non-finite values in {', '.join(bad_inputs)}"
    else:
        origin = "from finite inputs"
    raise AnomalyError(
        f"anomaly: '{op.name}' produced {_kind(data)} in its output of shape "
        f"{shape_text(data.shape)} {origin}{_layer(out)}{where}"
    )


def check_backward(node: Tensor, i: int, grad: Any) -> None:
    """Called by the engine for each gradient a VJP returns while detection is on."""
    g = grad._data if isinstance(grad, Tensor) else np.asarray(grad)
    if g.dtype.kind != "f" or np.isfinite(g).all():
        return
    assert node._op is not None and node._parents is not None
    parent = node._parents[i]
    raise AnomalyError(
        f"anomaly: the backward of '{node._op.name}' produced {_kind(g)} in the gradient "
        f"for its input {i} ({describe(parent)}, shape {shape_text(parent.shape)})"
        f"{_layer(node)}{_where(node)}"
    )
