"""Kept gradient buffers: the one rule for writing a gradient into one.

:meth:`Tensor.zero_grad` keeps the array of the gradient it clears in the tensor's
``_gradbuf`` slot (a flat optimizer keeps a view of its own buffer there, and names
itself in ``_gradowner``), so the next backward can write the new gradient into it
instead of allocating.  :func:`reusable_grad_buffer` says when that is allowed; the
engine and replay both ask it.

Imports: nothing from the package at run time.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from nablagraph._tensor import Tensor

__all__ = ["GradOwner", "reusable_grad_buffer"]

_refcount = sys.getrefcount


class GradOwner(Protocol):
    """What a flat optimizer's gradient buffer tells the kept-buffer rule (see
    :func:`reusable_grad_buffer`): its buffer ``G``, and ``refs``, the reference count
    of ``G`` while nobody outside the optimizer holds it or a view of it."""

    G: np.ndarray
    refs: int


def _unshared(buf: np.ndarray, owner: GradOwner | None, held: int) -> bool:
    """Whether the library may write into gradient buffer ``buf``: nobody else holds it.

    ``held`` counts the references the caller knows of (its locals, a ``_gradbuf``
    slot, a tensor's ``_data``).  Any other reference means a user kept the array, a
    tensor around it or a view of it (a view references its base), and the library
    then hands out a fresh array instead of changing the one the user has.  A buffer
    that is a view is reused only when its ``owner`` (a flat optimizer) holds it and
    says no other view of its memory exists.
    """
    base = buf.base
    if base is None:
        return _refcount(buf) <= held + 2  # + this function's argument + getrefcount's
    return (owner is not None and base is owner.G and _refcount(buf) <= held + 3
            and _refcount(base) <= owner.refs + 1)  # + the local `base`


def reusable_grad_buffer(t: Tensor) -> np.ndarray | None:
    """The buffer kept for ``t``'s next gradient, if the library may write into it.

    The one rule for writing a gradient into a kept buffer, shared by the engine (a
    VJP writing a leaf's only gradient contribution straight into it, or a first
    gradient copied into it) and by replay.  The buffer (``t._gradbuf``, kept by
    :meth:`Tensor.zero_grad` or a flat optimizer) is used only when

    * ``t`` has no ``.grad`` (the new gradient would have to be added to it) and no
      hooks (they must see the gradient before it is stored);
    * it has ``t``'s shape and dtype;
    * nobody but the library holds it (see :func:`_unshared`): a gradient array or
      tensor a user kept (``g = W.grad`` before ``zero_grad()``), or a view of it, is
      never changed; the next gradient then goes into a new array.
    """
    buf = t._gradbuf
    if (buf is None or t.grad is not None or t._hooks or buf.shape != t._data.shape
            or buf.dtype != t._data.dtype):
        return None
    # _unshared, inlined (this runs for every parameter at every step). References:
    # the slot, `buf`, getrefcount's argument; a view of a flat optimizer's buffer is
    # also in the owner's list of views, and the base must be held by nobody else.
    base = buf.base
    if base is None:
        return buf if _refcount(buf) <= 3 else None
    owner = t._gradowner
    if owner is None or base is not owner.G or _refcount(buf) > 4 or _refcount(base) > owner.refs + 1:
        return None
    return buf
