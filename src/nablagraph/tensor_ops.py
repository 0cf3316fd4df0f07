"""Tensor's array-like surface: operators, conversions, comparisons, method aliases.

``a + b``, ``a @ b``, ``t.exp()``, ``t.sum(axis)`` … each call one function of
:mod:`nablagraph.functional`, which records the op; ``t.numpy()``, ``len(t)``,
``np.asarray(t)`` and ``bool(t)`` read the array; comparisons give boolean tensors
that never require grad.  They live in this mixin, which
:class:`~nablagraph._tensor.Tensor` inherits (as pandas' ``OpsMixin``), so that
``_tensor.py`` holds the node itself.  ``functional`` sits above it, so it is
handed in once by :func:`nablagraph._tensor.connect` (the one hook), never imported.

Imports: ``errors`` (for PyTorch's ``dim=`` refused where it would mean something else).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from nablagraph.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from nablagraph._tensor import ArrayLike, Tensor

__all__ = ["TensorOps"]

_Self = TypeVar("_Self", bound="TensorOps")

def _raw(x: Any) -> Any:
    return x._data if isinstance(x, TensorOps) else x


# nablagraph.functional, set by nablagraph._tensor.connect().
_F: Any = None


def _no_dim(name: str, dim: Any) -> None:
    if dim is not None:
        raise ConfigError(
            f"{name}: got dim={dim!r}; here {name}(axis={dim}) returns the values only, as "
            f"NumPy (PyTorch's {name}(dim) returns values and indices): write "
            f"x.{name}(axis={dim}) for the values and x.arg{name}(axis={dim}) for the indices"
        )


def _axis(name: str, axis: Any, dim: Any) -> Any:
    if dim is not None and axis is not None:
        raise ConfigError(f"{name}: pass axis= or dim= (the same thing), not both")
    return axis if dim is None else dim


class TensorOps:
    """The operators, conversions, comparisons and method aliases of
    :class:`~nablagraph._tensor.Tensor` (which provides ``_data``)."""

    __slots__ = ()

    _data: np.ndarray

    if TYPE_CHECKING:  # the constructor of Tensor, which comparisons call as type(self)

        def __init__(
            self, data: Any, requires_grad: bool = False, name: str | None = None, dtype: Any = None
        ) -> None: ...

    # ------------------------------------------------------------- operators
    def __add__(self, other: ArrayLike) -> Tensor:
        return _F.add(self, other)

    def __radd__(self, other: ArrayLike) -> Tensor:
        return _F.add(other, self)

    def __sub__(self, other: ArrayLike) -> Tensor:
        return _F.sub(self, other)

    def __rsub__(self, other: ArrayLike) -> Tensor:
        return _F.sub(other, self)

    def __mul__(self, other: ArrayLike) -> Tensor:
        return _F.mul(self, other)

    def __rmul__(self, other: ArrayLike) -> Tensor:
        return _F.mul(other, self)

    def __truediv__(self, other: ArrayLike) -> Tensor:
        return _F.div(self, other)

    def __rtruediv__(self, other: ArrayLike) -> Tensor:
        return _F.div(other, self)

    def __pow__(self, other: ArrayLike) -> Tensor:
        return _F.pow(self, other)

    def __rpow__(self, other: ArrayLike) -> Tensor:
        return _F.pow(other, self)

    def __matmul__(self, other: ArrayLike) -> Tensor:
        return _F.matmul(self, other)

    def __rmatmul__(self, other: ArrayLike) -> Tensor:
        return _F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _F.neg(self)

    def __pos__(self: _Self) -> _Self:
        return self

    def __abs__(self) -> Tensor:
        return _F.abs(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _F.getitem(self, index)

    # --------------------------------------------------------------- methods
    @property
    def T(self) -> Tensor:
        """The transpose (all axes reversed)."""
        return _F.transpose(self)

    def transpose(self, *axes: int) -> Tensor:
        """Permute the axes (reverse them when none are given)."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _F.transpose(self, axes or None)

    def reshape(self, *shape: Any) -> Tensor:
        """The same data in a new shape (``-1`` infers one dimension)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _F.reshape(self, shape)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (all axes by default)."""
        return _F.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis`` (all axes by default)."""
        return _F.mean(self, axis=axis, keepdims=keepdims)

    def exp(self) -> Tensor:
        """Elementwise ``e^x``."""
        return _F.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return _F.log(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return _F.sqrt(self)

    def abs(self) -> Tensor:
        """Elementwise absolute value."""
        return _F.abs(self)

    def maximum(self, other: ArrayLike) -> Tensor:
        """Elementwise maximum with ``other``."""
        return _F.maximum(self, other)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Clamp values into ``[min, max]``."""
        return _F.clip(self, min, max)

    def sigmoid(self) -> Tensor:
        """Elementwise logistic function ``σ(z) = 1 / (1 + e^{-z})``."""
        return _F.sigmoid(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return _F.tanh(self)

    def relu(self) -> Tensor:
        """Elementwise ``max(z, 0)``."""
        return _F.relu(self)

    def softmax(self, axis: int = -1) -> Tensor:
        """Softmax along ``axis``."""
        return _F.softmax(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """Log-softmax along ``axis``."""
        return _F.log_softmax(self, axis=axis)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, *,
            dim: Any = None) -> Tensor:
        """Largest entry over ``axis``: the values only, as NumPy (PyTorch's ``x.max(dim)``
        also returns the indices: use :meth:`argmax`).  Ties split the gradient evenly.
        ``dim=`` is refused with that advice, so PyTorch code cannot misread the result."""
        _no_dim("max", dim)
        return _F.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False, *,
            dim: Any = None) -> Tensor:
        """Smallest entry over ``axis`` (values only; see :meth:`max`)."""
        _no_dim("min", dim)
        return _F.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None) -> Tensor:
        """Index of the largest entry (int64, not recorded; the first of ties).
        ``dim`` is PyTorch's name for ``axis``."""
        return _F.argmax(self, axis=_axis("argmax", axis, dim), keepdims=keepdims)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None) -> Tensor:
        """Index of the smallest entry (int64, not recorded; the first of ties)."""
        return _F.argmin(self, axis=_axis("argmin", axis, dim), keepdims=keepdims)

    # ----------------------------------------------------------- conversions
    def astype(self, dtype: Any) -> Tensor:
        """A copy in ``dtype``, recorded (op ``cast``) so gradients flow back in this
        tensor's dtype; an integer or boolean ``dtype`` leaves the graph."""
        return _F.astype(self, dtype)

    def to(self, dtype: Any) -> Tensor:
        """PyTorch's ``.to(dtype)``: ``self`` when the dtype is already ``dtype``, else
        :meth:`astype`.  ``.to("cpu")`` is ``self`` (nablagraph runs on the CPU)."""
        if isinstance(dtype, str) and dtype.partition(":")[0] == "cpu":
            return self  # type: ignore[return-value]
        if _F.as_dtype("to", dtype) == self._data.dtype:
            return self  # type: ignore[return-value]
        return _F.astype(self, dtype)

    def float(self) -> Tensor:
        """``.to(float32)``, as PyTorch's ``.float()``."""
        return self.to(np.float32)

    def double(self) -> Tensor:
        """``.to(float64)``, as PyTorch's ``.double()``."""
        return self.to(np.float64)

    def tolist(self) -> Any:
        """The values as (nested) Python lists of Python numbers."""
        return self._data.tolist()

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the data."""
        return self._data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the data."""
        return self._data.dtype

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    @property
    def size(self) -> int:
        """Number of elements."""
        return self._data.size

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self._data

    def item(self) -> builtins.float:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to a Python number, "
                f"got shape {self._data.shape}"
            )
        return self._data.item()

    def __len__(self) -> int:
        return len(self._data)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is None:
            return self._data
        return self._data.astype(dtype, copy=bool(copy))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"Tensor: the truth value of a tensor of shape {self._data.shape} is ambiguous; "
                "use .data.any() or .data.all()"
            )
        return bool(self._data)

    # ----------------------------------------------------------- comparisons
    # Comparisons give boolean tensors that never require grad.
    def __lt__(self: _Self, other: ArrayLike) -> _Self:
        return type(self)(self._data < _raw(other))

    def __le__(self: _Self, other: ArrayLike) -> _Self:
        return type(self)(self._data <= _raw(other))

    def __gt__(self: _Self, other: ArrayLike) -> _Self:
        return type(self)(self._data > _raw(other))

    def __ge__(self: _Self, other: ArrayLike) -> _Self:
        return type(self)(self._data >= _raw(other))

    def __eq__(self: _Self, other: object) -> _Self:  # type: ignore[override]
        return type(self)(self._data == _raw(other))

    def __ne__(self: _Self, other: object) -> _Self:  # type: ignore[override]
        return type(self)(self._data != _raw(other))
