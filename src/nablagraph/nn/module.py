"""Modules: ``Module``, the notes' ``Dense`` layer, ``Sequential`` and ``Network``.

Notation (see ``docs/``): layer 1 is the input, ``a^1 = x``; each weighted layer
``l = 2 … L`` holds ``w^l`` (``W``, shape ``(n_l, n_{l-1})``, row j = neuron j) and
``b^l`` (``b``, shape ``(n_l,)``) and computes, with the batch as rows,

    z^l = a^{l-1} (w^l)ᵀ + b^l,        a^l = σ(z^l).

Parameter names follow the layer number: ``W2``, ``b2``, … ``WL``, ``bL``.

Sizes are checked before anything is allocated: each must be a positive ``int`` (or
NumPy integer), and the parameters' bytes (:func:`parameter_bytes`) must fit in the
memory available (:func:`nablagraph._memory.available_memory`), else a
:class:`~nablagraph.errors.ResourceError` says how much is needed and how much there is.

Imports: ``tensor``, ``functional``, ``errors``, ``_memory`` (never ``reference``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph import _memory
from nablagraph import functional as F
from nablagraph.errors import ConfigError, DTypeError, GraphError, ResourceError, ShapeError
from nablagraph.tensor import ArrayLike, Tensor, no_grad, scope

__all__ = [
    "Module", "Dense", "Sequential", "Network", "Trace", "ACTIVATION_NAMES",
    "COST_NAMES", "COST_FUNCTIONS", "INIT_SCHEMES", "init_weights", "resolve_activation", "resolve_cost",
    "parameter_bytes", "as_numeric_array",
]

ActivationFn = Callable[[Tensor], Tensor]

#: Activations by name, from the op registry (``kind == "activation"``) and ``identity``.
_ACTIVATIONS: dict[str, ActivationFn] = F.activation_table()
ACTIVATION_NAMES = tuple(_ACTIVATIONS)

#: Cost names, from the one cost table (:data:`nablagraph.ops.COSTS`): each canonical name,
#: its other accepted names, and the function of :mod:`nablagraph.functional` computing it.
_COSTS = F.cost_table()
_COST_ALIASES = {alias: c.name for c in _COSTS.values() for alias in (c.name, *c.aliases)}
COST_NAMES = tuple(_COSTS)
COST_FUNCTIONS: dict[str, Callable[..., Tensor]] = {c.name: getattr(F, c.function) for c in _COSTS.values()}
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


def resolve_cost(cost: str) -> str:
    """Canonical cost name for ``cost`` (accepts ``cross-entropy``, ``bce`` ...)."""
    key = _COST_ALIASES.get(_norm(cost)) if isinstance(cost, str) else None
    if key is None:
        raise ConfigError(
            f"cost: unknown cost {cost!r}; expected one of {', '.join(COST_NAMES)}"
        )
    return key


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


def _check_sizes(sizes: Any) -> list[int]:
    """``sizes`` as a list of ints after checking it is a list of positive integers."""
    example = "e.g. Network([784, 30, 10])"
    if isinstance(sizes, str):
        parts = sizes.replace(",", " ").split()
        hint = f"; did you mean [{', '.join(parts)}]?" if parts and all(p.isdigit() for p in parts) else ""
        raise ConfigError(
            f"Network: sizes must be a list of layer sizes (ints, input first, {example}), got "
            f"the string {sizes!r}{hint}"
        )
    if isinstance(sizes, np.ndarray) and sizes.ndim != 1:
        raise ConfigError(
            f"Network: sizes must be a 1-D list of layer sizes ({example}), got an array of "
            f"shape {sizes.shape}"
        )
    try:
        seq = list(sizes)
    except TypeError:
        raise ConfigError(
            f"Network: sizes must be a list of layer sizes (ints, input first, {example}), got "
            f"{sizes!r} ({type(sizes).__name__})"
        ) from None
    if len(seq) < 2:
        raise ConfigError(
            f"Network: sizes must list at least an input and an output layer, got {seq}"
        )
    return [_check_size("Network", f"sizes[{i}]", n) for i, n in enumerate(seq)]


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
    >>> from nablagraph.nn.module import parameter_bytes
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


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple)) or (isinstance(x, np.ndarray) and x.ndim > 0)


@dataclass(frozen=True)
class _Place:
    """Names item ``i`` of a nested list: ``row i`` at the top, else ``X[0][i]``."""

    path: str
    top: bool

    def __call__(self, i: int) -> str:
        return f"row {i}" if self.top else f"{self.path}[{i}]"


def _ragged(x: Any, name: str) -> str | None:
    """Where a nested list stops being rectangular, in words, or ``None``."""
    stack: list[tuple[Any, str]] = [(x, name)]
    while stack:
        seq, path = stack.pop()
        items = list(seq)
        if not items:
            continue
        nested = [_is_sequence(v) for v in items]
        at = _Place(path, path == name)
        if any(nested) and not all(nested):
            i = nested.index(not nested[0])
            return (f"{at(0)} is {'a list' if nested[0] else 'a single value'} but {at(i)} is "
                    f"{'a list' if nested[i] else 'a single value'}")
        if all(nested):
            lens = [len(v) for v in items]
            for i, n in enumerate(lens):
                if n != lens[0]:
                    s = "s" if n != 1 else ""
                    s0 = "s" if lens[0] != 1 else ""
                    return f"{at(0)} has {lens[0]} value{s0} but {at(i)} has {n} value{s}"
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(items))))
    return None


def index_text(idx: tuple[int, ...]) -> str:
    """Words for an index into examples-as-rows data: ``row 2``, ``row 2, column 1``."""
    if len(idx) == 1:
        return f"row {idx[0]}"
    if len(idx) == 2:
        return f"row {idx[0]}, column {idx[1]}"
    return f"index ({', '.join(str(i) for i in idx)})"


def as_numeric_array(x: Any, where: str, what: str) -> np.ndarray:
    """``x`` as an array of real numbers, or a typed error that says what is wrong.

    Ragged nested lists raise :class:`ShapeError` naming the first row that differs;
    strings, complex numbers and objects that are not numbers raise
    :class:`DTypeError` naming the dtype (and, for object arrays, the first element
    that is not a number).  The array is returned as it is (no dtype conversion).
    """
    raw = x.data if isinstance(x, Tensor) else x
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as exc:
        place = _ragged(raw, what) if _is_sequence(raw) else None
        if place is not None:
            raise ShapeError(
                f"{where}: {what} is ragged: {place}; every example (row) must have the same "
                "number of values"
            ) from None
        raise DTypeError(f"{where}: {what} cannot be read as an array of numbers ({exc})") from None
    kind = arr.dtype.kind
    if kind in "fiub":
        return arr
    if kind == "c":
        raise DTypeError(
            f"{where}: {what} must hold numbers, got dtype {arr.dtype} (complex); a network's "
            "inputs and targets are real (take .real or np.abs first)"
        )
    if kind == "O":
        numbers = (int, float, np.integer, np.floating, np.bool_)
        for k, v in enumerate(arr.flat):
            if not isinstance(v, numbers):
                idx = tuple(int(i) for i in np.unravel_index(k, arr.shape))
                raise DTypeError(
                    f"{where}: {what} must hold numbers, got dtype object with {v!r} "
                    f"({type(v).__name__}) at {index_text(idx)}"
                )
        return arr.astype(np.float64)
    hint = " (strings); convert them with np.asarray(x, dtype=float)" if kind in "US" else ""
    raise DTypeError(f"{where}: {what} must hold numbers, got dtype {arr.dtype}{hint}")


class Module:
    """Base class of layers and networks.

    Attributes that are tensors with ``requires_grad=True`` are parameters; attributes
    that are modules (or lists of modules) are children.  Write ``forward`` and call the
    module.  A tensor used in two places (shared weights) is one parameter.
    """

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
        left untouched.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected {', '.join(unexpected)}")
            raise ConfigError(f"load_state_dict: parameters do not match: {'; '.join(parts)}")
        arrays = {}
        for k, t in params.items():
            if k not in state:
                continue
            arr = np.asarray(state[k].data if isinstance(state[k], Tensor) else state[k])
            if arr.shape != t.shape:
                raise ShapeError(
                    f"load_state_dict: {k} has shape {arr.shape} in the state but "
                    f"{t.shape} in the model"
                )
            arrays[k] = arr
        with no_grad():
            for k, arr in arrays.items():
                params[k].copy_(arr)  # counts as an in-place change for recorded graphs

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        return sum(p.size for p in self.parameters())


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
        if x.ndim == 0 or x.shape[-1] != self.n_in:
            raise ShapeError(
                f"Dense{'' if self.index is None else f' layer {self.index}'}: input of shape "
                f"{x.shape} has {x.shape[-1] if x.ndim else 0} features, expected {self.n_in} "
                f"(rows are examples: shape (M, {self.n_in}))"
            )
        with scope(self):
            z = F.linear(x, self.W, self.b)
            a = self.activation(z)
        return z, a

    def forward(self, a_prev: ArrayLike) -> Tensor:
        return self.forward_z(a_prev)[1]

    def __repr__(self) -> str:
        l = "" if self.index is None else f"l={self.index}, "
        return f"Dense({l}{self.n_in} -> {self.n_out}, activation={self.activation_name})"


@dataclass
class Trace:
    """Per-layer values of one forward pass, keyed by layer number ``l``.

    ``activations[1]`` is the input ``x``; ``zs[l]`` and ``activations[l]`` for
    ``l = 2 … L``.  After ``backward()``, :meth:`deltas` gives ``δ^l = ∂C/∂z^l``.
    """

    zs: dict[int, Tensor] = field(default_factory=dict)
    activations: dict[int, Tensor] = field(default_factory=dict)

    def deltas(self) -> dict[int, np.ndarray]:
        """``δ^l`` for each layer (needs ``forward_trace(..., retain_deltas=True)``, then backward)."""
        out = {}
        for l, z in self.zs.items():
            if z.grad is None:
                raise GraphError(
                    f"Trace.deltas: δ^{l} was not kept; call forward_trace(X, retain_deltas=True) "
                    "and run backward() on a cost computed from that trace"
                )
            out[l] = z.grad.data
        return out


class Sequential(Module):
    """Modules applied in order.  ``Dense`` layers are numbered 2, 3, … as in the notes.

    Examples
    --------
    >>> import nablagraph as ng
    >>> net = ng.nn.Sequential(ng.nn.Dense(4, 3, rng=0), ng.nn.Dense(3, 2, rng=1))
    >>> [name for name, _ in net.named_parameters()]
    ['W2', 'b2', 'W3', 'b3']
    """

    def __init__(self, *modules: Module) -> None:
        if len(modules) == 1 and isinstance(modules[0], (list, tuple)):
            modules = tuple(modules[0])
        for m in modules:
            if not isinstance(m, Module):
                raise ConfigError(f"Sequential: expected modules, got {type(m).__name__}")
        self.layers = list(modules)
        l = 2
        for m in self.layers:
            if isinstance(m, Dense):
                if m.index is None:
                    m.set_index(l)
                l = m.index + 1  # type: ignore[operator]

    def forward(self, x: ArrayLike) -> Tensor:
        out: Any = x
        for m in self.layers:
            out = m(out)
        return out if isinstance(out, Tensor) else Tensor(out)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __repr__(self) -> str:
        inner = ",\n  ".join(repr(m) for m in self.layers)
        return f"{type(self).__name__}(\n  {inner}\n)"


class Network(Sequential):
    """The notes' network: ``sizes = [n_1, …, n_L]`` with one ``Dense`` per weighted layer.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first (``[784, 30, 10]``).
    activation : str or callable
        σ of the hidden layers.
    output_activation : str or callable, optional
        σ of the output layer.  Defaults to ``softmax`` for the ``cross_entropy`` cost
        and to ``activation`` otherwise.
    cost : str
        ``quadratic`` (the notes' ``½‖y − a‖²``), ``mse``, ``binary_cross_entropy`` or
        ``cross_entropy`` (softmax, targets one-hot or class indices).
    init : str
        Weight initialisation (see :func:`init_weights`).
    seed : int or numpy.random.Generator, optional
        Seeds the initial weights.
    dtype : numpy dtype
        ``float64`` (default) or ``float32``.

    Raises
    ------
    ConfigError
        ``sizes`` is not a list of at least two positive integers (``None``, a string,
        ``2.5``, ``True``, ``0``, or a size no NumPy array can have), or an unknown
        activation, cost or init name.
    DTypeError
        A ``dtype`` that is not floating-point.
    ResourceError
        The parameters (:func:`parameter_bytes`) need more memory than is available;
        checked before anything is allocated.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> net = ng.nn.Network([2, 3, 1], seed=0)
    >>> net.sizes, [n for n, _ in net.named_parameters()]
    ([2, 3, 1], ['W2', 'b2', 'W3', 'b3'])
    >>> C = net.cost(np.zeros((4, 2)), np.ones((4, 1)))
    >>> C.backward()
    >>> net.layers[0].W.grad.shape
    (3, 2)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | ActivationFn = "sigmoid",
        output_activation: str | ActivationFn | None = None,
        cost: str = "quadratic",
        init: str = "scaled",
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        self.sizes = _check_sizes(sizes)
        self.cost_name = resolve_cost(cost)
        if output_activation is None:
            output_activation = "softmax" if self.cost_name == "cross_entropy" else activation
        self.hidden_activation = resolve_activation(activation)[0]
        self.output_activation = resolve_activation(output_activation)[0]
        if self.output_activation == "softmax" and self.sizes[-1] < 2:
            raise ConfigError("Network: a softmax output layer needs at least 2 neurons")
        _check_init(init)
        self.dtype = _check_dtype("Network", dtype)
        _check_memory("Network", f"sizes {self.sizes} need", self.sizes, self.dtype)
        rng = _rng(seed)
        layers = []
        for l in range(2, len(self.sizes) + 1):
            act = output_activation if l == len(self.sizes) else activation
            try:
                layers.append(
                    Dense(self.sizes[l - 2], self.sizes[l - 1], act, init, rng, self.dtype, index=l)
                )
            except ResourceError:
                need = _memory.format_bytes(parameter_bytes(self.sizes, self.dtype))
                raise ResourceError(
                    f"Network: sizes {self.sizes} need {need} for parameters ({self.dtype}); "
                    f"allocating layer {l} failed (out of memory)"
                ) from None
        super().__init__(*layers)

    @property
    def L(self) -> int:
        """Number of layers, counting the input layer."""
        return len(self.sizes)

    def _input(self, X: ArrayLike) -> Tensor:
        if isinstance(X, Tensor):
            x = X
        elif type(X) is np.ndarray and X.dtype == self.dtype:
            x = Tensor(X)  # the training loop's batches: no checks, no copy
        else:
            x = Tensor(np.asarray(as_numeric_array(X, "Network", "input"), dtype=self.dtype))
        if x.ndim == 1 and self.sizes[0] != 1 and x.shape[0] == self.sizes[0]:
            raise ShapeError(
                f"Network: got a 1-D input of shape {x.shape}; batches are rows, so pass "
                f"X.reshape(1, {self.sizes[0]}) for one example"
            )
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ShapeError(
                f"Network: input has shape {x.shape} but the network expects "
                f"(M, {self.sizes[0]}) (sizes[0] = {self.sizes[0]}, one example per row)"
            )
        if x.shape[0] == 0:
            raise ShapeError("Network: the batch is empty (0 rows)")
        return x

    def forward(self, X: ArrayLike) -> Tensor:
        """Output activations ``a^L``, shape ``(M, n_L)``."""
        return self.forward_trace(X)[0]

    def forward_trace(self, X: ArrayLike, retain_deltas: bool = False) -> tuple[Tensor, Trace]:
        """``a^L`` and the :class:`Trace` of every ``z^l`` and ``a^l``.

        With ``retain_deltas=True`` every ``z^l`` keeps its gradient, so after
        ``backward()`` ``trace.deltas()[l]`` is ``δ^l``.
        """
        a = self._input(X)
        tr = Trace()
        tr.activations[1] = a
        for layer in self.layers:
            assert isinstance(layer, Dense) and layer.index is not None
            z, a = layer.forward_z(a)
            if retain_deltas and z.requires_grad:
                z.retain_grad()
            tr.zs[layer.index] = z
            tr.activations[layer.index] = a
        return a, tr

    def cost_from_trace(self, tr: Trace, Y: ArrayLike) -> Tensor:
        """The cost ``C`` from a trace (fused with the output activation where stable)."""
        L = self.L
        zL, aL = tr.zs[L], tr.activations[L]
        out_layer = self.layers[-1]
        with scope(out_layer):
            if self.cost_name == "cross_entropy":
                if self.output_activation != "softmax":
                    raise ConfigError(
                        "Network: the cross_entropy cost needs a softmax output layer, got "
                        f"{self.output_activation}"
                    )
                return F.cross_entropy(zL, Y)
            if self.cost_name == "binary_cross_entropy":
                if self.output_activation == "sigmoid":
                    return F.binary_cross_entropy_with_logits(zL, Y)
                return F.binary_cross_entropy(aL, Y)
            if self.cost_name == "mse":
                return F.mse_loss(aL, Y)
            return F.quadratic_cost(aL, Y)

    def cost(self, X: ArrayLike, Y: ArrayLike) -> Tensor:
        """``C = (1/M) Σ_m C_m`` for the batch ``(X, Y)``."""
        _, tr = self.forward_trace(X)
        return self.cost_from_trace(tr, Y)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Class indices (argmax of ``a^L``), or 0/1 for a single output neuron."""
        with no_grad():
            a = self.forward(X).data
        if a.shape[1] == 1:
            return (a[:, 0] > 0.5).astype(np.int64)
        return np.argmax(a, axis=1)

    def accuracy(self, X: ArrayLike, Y: ArrayLike) -> float:
        """Fraction of examples whose predicted class matches ``Y`` (labels or one-hot)."""
        y = np.asarray(Y.data if isinstance(Y, Tensor) else Y)
        if y.ndim == 2 and y.shape[1] > 1:
            y = np.argmax(y, axis=1)
        elif y.ndim == 2:
            y = (y[:, 0] > 0.5).astype(np.int64)
        return float(np.mean(self.predict(X) == y))

    def __repr__(self) -> str:
        return (
            f"Network(sizes={self.sizes}, activation={self.hidden_activation}, "
            f"output_activation={self.output_activation}, cost={self.cost_name})"
        )
