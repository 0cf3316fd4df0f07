"""Tensor factories under PyTorch's names: ``tensor``, ``zeros``, ``ones``, ``full``,
``randn``, ``arange``, ``eye`` and the ``*_like`` forms, and the dtype names.

Each returns a leaf :class:`~nablagraph._tensor.Tensor`.  Where PyTorch's defaults
differ from NumPy's the package keeps its own rule, the same as ``Tensor(...)``:
floating results are float64 unless ``dtype=`` says otherwise (PyTorch: float32), and
Python integers in a list become float64 (``ng.tensor([1, 2])``; PyTorch: int64).
``arange`` with integer arguments gives int64, as in both, so it can index.

``dtype`` may be a NumPy dtype, its name (``"float32"``) or one of the names exported
here (``ng.float32``, ``ng.float64``, ``ng.int64`` …, NumPy's scalar types).

Imports: ``_tensor``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, DTypeError, ShapeError

__all__ = [
    "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "randn",
    "arange", "eye", "as_dtype",
    "float16", "float32", "float64", "int32", "int64", "bool_",
]

float16, float32, float64 = np.float16, np.float32, np.float64
int32, int64, bool_ = np.int32, np.int64, np.bool_

_KINDS = "fiub"


def as_dtype(where: str, dtype: Any) -> np.dtype[Any]:
    """``dtype`` as a NumPy dtype a tensor can hold, else a :class:`DTypeError` naming ``where``.

    Accepts NumPy dtypes and scalar types, their names (``"float32"``), and PyTorch's
    dtypes and their names (``torch.float32``, ``"torch.float"`` is float32, ``"torch.long"``
    is int64).  A bare ``"float"`` keeps NumPy's meaning (float64).
    """
    if type(dtype).__module__ == "torch":  # a torch.dtype, without importing torch
        dtype = str(dtype)
    if isinstance(dtype, str) and dtype.startswith("torch."):
        dtype = _TORCH_NAMES.get(dtype[6:], dtype[6:])
    try:
        dt = None if dtype is None else np.dtype(dtype)  # (np.dtype(None) would be float64)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in _KINDS:
        raise DTypeError(
            f"{where}: dtype {dtype!r} is not a dtype a tensor can hold; expected a floating, "
            "integer or boolean NumPy dtype such as float64, float32 or int64"
        )
    return dt


# PyTorch's names that NumPy spells differently (after "torch.").
_TORCH_NAMES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
                "int": "int32"}


def _shape(where: str, size: tuple[Any, ...]) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in size):
        raise ShapeError(f"{where}: sizes must be non-negative integers, got {size!r}")
    return tuple(int(n) for n in size)


def _leaf(arr: np.ndarray, requires_grad: bool, name: str | None) -> Tensor:
    return Tensor(arr, requires_grad=requires_grad, name=name)


def _float(where: str, dtype: Any) -> np.dtype[Any]:
    return np.dtype(np.float64) if dtype is None else as_dtype(where, dtype)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (PyTorch's ``torch.tensor``).

    Parameters
    ----------
    data : array_like
        Numbers, nested lists, a NumPy array or a tensor (its values, without its graph).
    requires_grad : bool
        Whether gradients with respect to it are wanted (floating dtypes only).
    dtype : dtype or str, optional
        Defaults to the data's own (lists of Python numbers: float64).
    name : str, optional
        A label for error messages and graph diagrams.

    Examples
    --------
    >>> import nablagraph as ng
    >>> x = ng.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0, 6.0]
    """
    arr = np.array(data.data if isinstance(data, Tensor) else data,
                   dtype=None if dtype is None else as_dtype("tensor", dtype))
    if arr.dtype.kind not in _KINDS:
        raise DTypeError(f"tensor: cannot hold data of dtype {arr.dtype}; expected numbers")
    if dtype is None and not isinstance(data, (np.ndarray, np.generic, Tensor)) and arr.dtype.kind in "iu":
        arr = arr.astype(np.float64)  # Python ints become float64, as in Tensor(...)
    return _leaf(arr, requires_grad, name)


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A tensor of zeros, ``zeros(2, 3)`` or ``zeros((2, 3))`` (float64 by default)."""
    return _leaf(np.zeros(_shape("zeros", size), _float("zeros", dtype)), requires_grad, name)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A tensor of ones, ``ones(2, 3)`` or ``ones((2, 3))`` (float64 by default)."""
    return _leaf(np.ones(_shape("ones", size), _float("ones", dtype)), requires_grad, name)


def full(size: Sequence[int] | int, fill_value: float, dtype: Any = None, requires_grad: bool = False,
         name: str | None = None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (float64 by default)."""
    shape = _shape("full", (size,) if isinstance(size, (int, np.integer)) else tuple(size))
    return _leaf(np.full(shape, fill_value, _float("full", dtype)), requires_grad, name)


def _like(where: str, other: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype[Any]]:
    arr = other.data if isinstance(other, Tensor) else np.asarray(other)
    return arr.shape, arr.dtype if dtype is None else as_dtype(where, dtype)


def zeros_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``other``'s shape and dtype (a new leaf, outside any graph)."""
    shape, dt = _like("zeros_like", other, dtype)
    return _leaf(np.zeros(shape, dt), requires_grad, None)


def ones_like(other: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``other``'s shape and dtype."""
    shape, dt = _like("ones_like", other, dtype)
    return _leaf(np.ones(shape, dt), requires_grad, None)


def full_like(other: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``other``'s shape and dtype, filled with ``fill_value``."""
    shape, dt = _like("full_like", other, dtype)
    return _leaf(np.full(shape, fill_value, dt), requires_grad, None)


def randn(*size: Any, seed: int | None = None, generator: np.random.Generator | None = None,
          dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """Standard normal samples, ``N(0, 1)``, from a seeded NumPy generator.

    Pass ``seed=`` (an int) or ``generator=`` (a ``numpy.random.Generator``, advanced by
    the call, as PyTorch's ``generator=``); with neither the values are not reproducible.

    Examples
    --------
    >>> import nablagraph as ng
    >>> ng.randn(2, 3, seed=0).shape
    (2, 3)
    >>> bool((ng.randn(4, seed=1) == ng.randn(4, seed=1)).data.all())
    True
    """
    if seed is not None and generator is not None:
        raise ConfigError("randn: pass seed= or generator=, not both")
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise ConfigError(
            f"randn: generator must be a numpy.random.Generator, got {type(generator).__name__}; "
            "e.g. numpy.random.default_rng(0)"
        )
    rng = generator if generator is not None else np.random.default_rng(seed)
    dt = _float("randn", dtype)
    if dt.kind != "f":
        raise DTypeError(f"randn: samples are floating-point; got dtype {dt}")
    arr = rng.standard_normal(_shape("randn", size)).astype(dt, copy=False)
    return _leaf(arr, requires_grad, name)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``start, start + step, …`` below ``end`` (``arange(n)`` is ``0 … n−1``).

    Integer arguments give int64 (usable as indices), any float gives float64.
    """
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ConfigError("arange: step must not be zero")
    dt = None if dtype is None else as_dtype("arange", dtype)
    if dt is None and all(isinstance(v, (int, np.integer)) for v in (start, end, step)):
        dt = np.dtype(np.int64)
    return _leaf(np.arange(start, end, step, dtype=dt or np.float64), requires_grad, None)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n × m`` identity matrix (``m = n`` by default)."""
    shape = _shape("eye", (n,) if m is None else (n, m))
    return _leaf(np.eye(shape[0], shape[-1], dtype=_float("eye", dtype)), requires_grad, None)
