"""The notes' ``Dense`` layer, its activations and initial weights, and the size checks.

Layer ``l`` holds ``w^l`` (``W``, shape ``(n_l, n_{l-1})``, row j = neuron j) and
``b^l`` (``b``, shape ``(n_l,)``) and computes, with the batch as rows,

    z^l = a^{l-1} (w^l)ᵀ + b^l,        a^l = σ(z^l).

Activations are looked up by name in the table built from the op registry
(:func:`resolve_activation`); initial weights come from :func:`init_weights`.  Sizes
are checked before anything is allocated: each must be a positive ``int`` (or NumPy
integer), and the parameters' bytes (:func:`parameter_bytes`) must fit in the memory
available (:func:`nablagraph._memory.available_memory`), else a
:class:`~nablagraph.errors.ResourceError` says how much is needed and how much there is.
:class:`~nablagraph.nn.network.Network` runs the same checks on its whole ``sizes``.

Imports: ``tensor``, ``functional``, ``errors``, ``_memory``, ``nn.base``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nablagraph import _memory
from nablagraph import functional as F
from nablagraph._tensor import ArrayLike, Tensor, scope
from nablagraph.errors import ConfigError, DTypeError, ResourceError, ShapeError
from nablagraph.nn.base import Module

__all__ = [
    "Dense", "ACTIVATION_NAMES", "INIT_SCHEMES", "init_weights", "resolve_activation",
    "parameter_bytes",
]

ActivationFn = Callable[[Tensor], Tensor]

#: Activations by name, from the op registry (``kind == "activation"``) and ``identity``.
_ACTIVATIONS: dict[str, ActivationFn] = F.activation_table()
ACTIVATION_NAMES = tuple(_ACTIVATIONS)

INIT_SCHEMES = ("normal", "scaled", "xavier", "he")


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def resolve_activation(activation: str | ActivationFn) -> tuple[str, ActivationFn]:
    """Return ``(name, function)`` for an activation given by name or as a callable."""
    if callable(activation):
        return getattr(activation, "__name__", "custom"), activation
    if not isinstance(activation, str):
        raise ConfigError(f"activation: expected a name or a callable, got {type(activation).__name__}")
    key = _norm(activation)
    if key not in _ACTIVATIONS:
        raise ConfigError(
            f"activation: unknown activation {activation!r}; expected one of "
            f"{', '.join(ACTIVATION_NAMES)} or a callable Tensor -> Tensor"
        )
    return key, _ACTIVATIONS[key]


def init_weights(
    scheme: str, n_in: int, n_out: int, rng: np.random.Generator, dtype: Any = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """Initial ``(W, b)`` for a layer with ``n_in`` inputs and ``n_out`` neurons.

    ``normal``  W, b ~ N(0, 1) (the notes' book, first version);
    ``scaled``  W ~ N(0, 1/n_in), b ~ N(0, 1) (the book's improved default);
    ``xavier``  W ~ U(±√(6/(n_in+n_out))), b = 0 (Glorot);
    ``he``      W ~ N(0, 2/n_in), b = 0.
    """
    key = _norm(scheme)
    if key == "normal":
        W, b = rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    elif key == "scaled":
        W, b = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), rng.standard_normal(n_out)
    elif key in ("xavier", "glorot"):
        lim = np.sqrt(6.0 / (n_in + n_out))
        W, b = rng.uniform(-lim, lim, (n_out, n_in)), np.zeros(n_out)
    elif key in ("he", "kaiming"):
        W, b = rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in), np.zeros(n_out)
    else:
        raise ConfigError(f"init: unknown scheme {scheme!r}; expected one of {', '.join(INIT_SCHEMES)}")
    return W.astype(dtype), b.astype(dtype)


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


# ------------------------------------------------------------------ checks
#: The largest number of elements (and the largest dimension) a NumPy array can have.
_MAX_ELEMENTS = int(np.iinfo(np.intp).max)


def _check_size(where: str, what: str, n: Any) -> int:
    """``n`` as an ``int`` if it is a positive integer a layer can have, else ConfigError."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        kind = type(n).__name__
        hint = ""
        if isinstance(n, (float, np.floating)) and float(n).is_integer():
            hint = f"; write {int(n)}"
        raise ConfigError(f"{where}: {what} must be a positive integer, got {n!r} ({kind}){hint}")
    if n < 1:
        raise ConfigError(f"{where}: {what} must be a positive integer, got {n!r}")
    if int(n) > _MAX_ELEMENTS:
        raise ConfigError(
            f"{where}: {what} = {int(n)} is larger than the largest array dimension "
            f"({_MAX_ELEMENTS}, the most elements a NumPy array can have here)"
        )
    return int(n)


def _check_dtype(where: str, dtype: Any) -> np.dtype[Any]:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(
            f"{where}: dtype {dtype!r} is not a NumPy dtype; expected float64 or float32"
        ) from None
    if dt.kind != "f":
        raise DTypeError(
            f"{where}: parameters must be floating-point, got dtype {dt}; expected float64 "
            "(default) or float32"
        )
    return dt


def _check_init(init: Any) -> None:
    if not isinstance(init, str) or _norm(init) not in ("normal", "scaled", "xavier", "glorot", "he", "kaiming"):
        raise ConfigError(f"init: unknown scheme {init!r}; expected one of {', '.join(INIT_SCHEMES)}")


def parameter_bytes(sizes: Sequence[int], dtype: Any = np.float64) -> int:
    """Bytes of the parameters of a dense network with layer sizes ``sizes``.

    .. math:: \\text{bytes} = s \\sum_{l=2}^{L} (n_{l-1} n_l + n_l)

    with ``s`` the itemsize of ``dtype`` (8 for float64): one ``w^l`` of shape
    ``(n_l, n_{l-1})`` and one ``b^l`` of ``n_l`` entries per weighted layer.  Exact
    Python integers, so huge sizes do not overflow.  Gradients and optimizer buffers
    (one more copy each for SGD's velocity, two for Adam) come on top.

    Examples
    --------
    >>> from nablagraph.nn.dense import parameter_bytes
    >>> parameter_bytes([784, 30, 10])              # (784·30 + 30 + 30·10 + 10) · 8
    190880
    >>> parameter_bytes([2, 10**9, 1], "float32")
    16000000004
    """
    ns = [int(n) for n in sizes]
    count = sum(a * b + b for a, b in itertools.pairwise(ns))
    return count * np.dtype(dtype).itemsize


def _check_memory(where: str, what: str, sizes: Sequence[int], dtype: np.dtype[Any]) -> None:
    """Refuse, before allocating, parameters that NumPy cannot index or memory cannot hold.

    ``what`` names the model and ends with its verb (``"sizes [2, 3, 1] need"``).
    """
    for a, b in itertools.pairwise(sizes):
        if a * b > _MAX_ELEMENTS:
            raise ConfigError(
                f"{where}: a weight matrix of shape ({b}, {a}) has {a * b} elements, more than "
                f"the largest array NumPy can make ({_MAX_ELEMENTS})"
            )
    _memory.check_fits(f"{where}: {what} {{need}} for parameters ({dtype})", parameter_bytes(sizes, dtype))


class Dense(Module):
    """A fully connected layer: ``z = a_prev Wᵀ + b``, ``a = σ(z)``.

    Parameters
    ----------
    n_in, n_out : int
        Neurons in the previous layer (``n_{l-1}``) and in this one (``n_l``).
    activation : str or callable
        ``sigmoid`` (default), ``tanh``, ``relu``, ``leaky_relu``, ``identity``,
        ``softmax``, or any function of a tensor built from nablagraph ops.
    init : str
        ``scaled`` (default), ``normal``, ``xavier`` or ``he`` (see :func:`init_weights`).
    rng : int or numpy.random.Generator, optional
        Seed or generator for the initial weights.
    index : int, optional
        The layer number ``l`` (names the parameters ``W{l}``, ``b{l}``); a
        ``Sequential`` or ``Network`` sets it.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> layer = ng.nn.Dense(2, 3, rng=0, index=2)
    >>> layer.W.shape, layer.W.name
    ((3, 2), 'W2')
    >>> layer(np.zeros((5, 2))).shape
    (5, 3)
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        activation: str | ActivationFn = "sigmoid",
        init: str = "scaled",
        rng: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
        index: int | None = None,
    ) -> None:
        self.n_in = _check_size("Dense", "n_in", n_in)
        self.n_out = _check_size("Dense", "n_out", n_out)
        self.activation_name, self.activation = resolve_activation(activation)
        _check_init(init)
        dt = _check_dtype("Dense", dtype)
        _check_memory("Dense", f"{self.n_in} → {self.n_out} needs", [self.n_in, self.n_out], dt)
        try:
            W, b = init_weights(init, self.n_in, self.n_out, _rng(rng), dt)
        except MemoryError:
            need = _memory.format_bytes(parameter_bytes([self.n_in, self.n_out], dt))
            raise ResourceError(
                f"Dense: {self.n_in} → {self.n_out} needs {need} for parameters ({dt}); "
                "allocating them failed (out of memory)"
            ) from None
        self.W = Tensor(W, requires_grad=True, name="W")
        self.b = Tensor(b, requires_grad=True, name="b")
        self.index: int | None = None
        if index is not None:
            self.set_index(index)

    def set_index(self, l: int) -> None:
        """Number the layer ``l`` and rename its parameters ``W{l}``, ``b{l}``."""
        self.index = int(l)
        self.W.name, self.b.name = f"W{l}", f"b{l}"

    def forward_z(self, a_prev: ArrayLike) -> tuple[Tensor, Tensor]:
        """Return ``(z, a)`` for this layer."""
        x = a_prev if isinstance(a_prev, Tensor) else Tensor(np.asarray(a_prev))
        shape = x.shape  # (read once: a property)
        if not shape or shape[-1] != self.n_in:
            raise ShapeError(
                f"Dense{'' if self.index is None else f' layer {self.index}'}: input of shape "
                f"{shape} has {shape[-1] if shape else 0} features, expected {self.n_in} "
                f"(rows are examples: shape (M, {self.n_in}))"
            )
        # `with scope(self)`, written out: every layer of every step runs it
        labels = scope.labels()
        labels.append(self)
        try:
            z = F.linear(x, self.W, self.b)
            a = self.activation(z)
        finally:
            labels.pop()
        return z, a

    def forward(self, a_prev: ArrayLike) -> Tensor:
        return self.forward_z(a_prev)[1]

    def __repr__(self) -> str:
        l = "" if self.index is None else f"l={self.index}, "
        return f"Dense({l}{self.n_in} -> {self.n_out}, activation={self.activation_name})"
