"""``Module``: the base class of layers and networks (parameters, state, gradients).

A module's parameters are its attributes that are tensors with ``requires_grad=True``,
found by walking its attributes, child modules and lists of them
(:meth:`Module.named_parameters`); :meth:`Module.state_dict` and
:meth:`Module.load_state_dict` copy their values out and in by name.

Imports: ``tensor``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

import numpy as np

from nablagraph._tensor import Tensor, no_grad
from nablagraph.errors import ConfigError, ShapeError
from nablagraph.nn.naming import to_notation

__all__ = ["Module"]

_M = TypeVar("_M", bound="Module")


class Module:
    """Base class of layers and networks.

    Attributes that are tensors with ``requires_grad=True`` are parameters; attributes
    that are modules (or lists of modules) are children.  Write ``forward`` and call the
    module.  A tensor used in two places (shared weights) is one parameter.
    """

    #: ``True`` (training mode) until :meth:`eval`; PyTorch's flag, set on the module and
    #: all its children by :meth:`train` and :meth:`eval`.  No layer of nablagraph acts
    #: differently in the two modes (there is no dropout or batch norm); a module of
    #: yours may read it.
    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -- traversal -------------------------------------------------------------
    def _named_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        for key, value in vars(self).items():
            if key.startswith("_"):
                continue
            path = f"{prefix}{key}"
            if isinstance(value, Tensor):
                if value.requires_grad:
                    yield path, value
            elif isinstance(value, Module):
                yield from value._named_tensors(path + ".")
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item._named_tensors(f"{path}.{i}.")
                    elif isinstance(item, Tensor) and item.requires_grad:
                        yield f"{path}.{i}", item

    def children(self) -> Iterator[Module]:
        """The modules held directly by this one (attributes and lists of modules)."""
        for key, value in vars(self).items():
            if key.startswith("_"):
                continue
            if isinstance(value, Module):
                yield value
            elif isinstance(value, (list, tuple)):
                yield from (item for item in value if isinstance(item, Module))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once, parents first."""
        seen: set[int] = set()
        stack: list[Module] = [self]
        while stack:
            m = stack.pop()
            if id(m) not in seen:
                seen.add(id(m))
                yield m
                stack.extend(reversed(list(m.children())))

    def train(self: _M, mode: bool = True) -> _M:
        """Set :attr:`training` to ``mode`` on this module and all below it; returns ``self``."""
        if not isinstance(mode, bool):
            raise ConfigError(f"train: mode must be True or False, got {mode!r}")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self: _M) -> _M:
        """Evaluation mode, ``train(False)``; returns ``self``.  Gradients are still
        recorded: use :func:`~nablagraph.no_grad` for inference without a graph."""
        return self.train(False)

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        """``(name, tensor)`` for each distinct parameter, in definition order.

        The name is the tensor's own name (``W2``, ``b2`` …) when every parameter has
        a distinct one, else the attribute path (``block.W``).
        """
        seen: dict[int, tuple[str, Tensor]] = {}
        for path, t in self._named_tensors():
            seen.setdefault(id(t), (path, t))
        pairs = list(seen.values())
        names = [t.name for _, t in pairs]
        if all(names) and len(set(names)) == len(names):
            return [(t.name, t) for _, t in pairs]  # type: ignore[misc]
        return pairs

    def parameters(self) -> list[Tensor]:
        """The distinct parameters."""
        return [t for _, t in self.named_parameters()]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (see :meth:`Tensor.zero_grad`: the buffers
        are kept and the next backward writes into them)."""
        for p in self.parameters():
            p.zero_grad(set_to_none)

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's values, by name."""
        return {name: t.data.copy() for name, t in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy values into the parameters, in place.

        Everything is validated first (names, shapes), so on an error the module is
        left untouched.  PyTorch names (``0.weight``, ``0.bias`` …, as
        ``torch.nn.Sequential.state_dict()`` gives them) are mapped onto ``W2``, ``b2``
        … first (see :mod:`nablagraph.nn.naming`).
        """
        params = dict(self.named_parameters())
        state, note = to_notation(state, params, "load_state_dict")
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected {', '.join(unexpected)}")
            raise ConfigError(f"load_state_dict: parameters do not match: {'; '.join(parts)}{note}")
        arrays = {}
        for k, t in params.items():
            if k not in state:
                continue
            arr = np.asarray(state[k].data if isinstance(state[k], Tensor) else state[k])
            if arr.shape != t.shape:
                raise ShapeError(
                    f"load_state_dict: {k} has shape {arr.shape} in the state but "
                    f"{t.shape} in the model{note}"
                )
            arrays[k] = arr
        with no_grad():
            for k, arr in arrays.items():
                params[k].copy_(arr)  # counts as an in-place change for recorded graphs

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return sum(p.size for p in self.parameters())
