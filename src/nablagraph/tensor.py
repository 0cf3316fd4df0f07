"""The old home of :class:`~nablagraph._tensor.Tensor`, kept so old imports and pickles work.

The node and the recording of ops now live in :mod:`nablagraph._tensor`, because the
package attribute ``nablagraph.tensor`` is the PyTorch-style factory
:func:`nablagraph.factories.tensor` (``ng.tensor([1.0, 2.0], requires_grad=True)``),
as PyTorch moved its module to ``torch._tensor`` for the same reason.

What keeps working through this module:

* ``from nablagraph.tensor import Tensor, no_grad, apply`` … — every name of
  :mod:`nablagraph._tensor`, public or not, is looked up there (the same objects);
* a pickle that names ``nablagraph.tensor.Tensor`` (written before the move) loads.

What does not: ``import nablagraph.tensor as m`` and ``from nablagraph import tensor``
bind the package attribute, which is now the factory function; write
``from nablagraph import _tensor`` for the module.

Imports: ``_tensor``.
"""

from __future__ import annotations

from typing import Any

from nablagraph import _tensor
from nablagraph._tensor import *  # noqa: F403
from nablagraph._tensor import __all__ as __all__


def __getattr__(name: str) -> Any:
    # Module-level __getattr__ (PEP 562): private names (``apply``, ``_clock`` …) read
    # live from the real module, so a counter that changes there is seen here too.
    return getattr(_tensor, name)
