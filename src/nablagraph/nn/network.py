"""``Sequential`` and the notes' ``Network``, its ``Trace`` and its cost table.

A :class:`Network` of ``sizes = [n_1, …, n_L]`` is one
:class:`~nablagraph.nn.dense.Dense` per weighted layer ``l = 2 … L``, with parameters
``W2``, ``b2``, … ``WL``, ``bL``.  :meth:`Network.forward_trace` keeps every ``z^l``
and ``a^l`` (a :class:`Trace`, from which ``δ^l`` can be read after ``backward()``);
:meth:`Network.cost_from_trace` applies the network's cost, chosen by name from the
one cost table (:data:`COST_FUNCTIONS`).

Imports: ``tensor``, ``functional``, ``errors``, ``_memory``, ``nn.base``, ``nn.arrays``,
``nn.dense``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph import _memory
from nablagraph import functional as F
from nablagraph._tensor import ArrayLike, Tensor, no_grad, scope
from nablagraph.errors import ConfigError, GraphError, ResourceError, ShapeError
from nablagraph.nn.arrays import as_numeric_array
from nablagraph.nn.base import Module
from nablagraph.nn.dense import (
    ActivationFn,
    Dense,
    _check_dtype,
    _check_init,
    _check_memory,
    _check_size,
    _norm,
    _rng,
    parameter_bytes,
    resolve_activation,
)

__all__ = ["Sequential", "Network", "Trace", "COST_NAMES", "COST_FUNCTIONS", "resolve_cost"]

#: Cost names, from the one cost table (:data:`nablagraph.ops.COSTS`): each canonical name,
#: its other accepted names, and the function of :mod:`nablagraph.functional` computing it.
_COSTS = F.cost_table()
_COST_ALIASES = {alias: c.name for c in _COSTS.values() for alias in (c.name, *c.aliases)}
COST_NAMES = tuple(_COSTS)
COST_FUNCTIONS: dict[str, Callable[..., Tensor]] = {c.name: getattr(F, c.function) for c in _COSTS.values()}


def resolve_cost(cost: str) -> str:
    """Canonical cost name for ``cost`` (accepts ``cross-entropy``, ``bce`` ...)."""
    key = _COST_ALIASES.get(_norm(cost)) if isinstance(cost, str) else None
    if key is None:
        raise ConfigError(
            f"cost: unknown cost {cost!r}; expected one of {', '.join(COST_NAMES)}"
        )
    return key


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
        Weight initialisation (see :func:`~nablagraph.nn.dense.init_weights`).
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
        shape = x.shape  # (read once: a property)
        n_in = self.sizes[0]
        if len(shape) == 1 and n_in != 1 and shape[0] == n_in:
            raise ShapeError(
                f"Network: got a 1-D input of shape {shape}; batches are rows, so pass "
                f"X.reshape(1, {n_in}) for one example"
            )
        if len(shape) != 2 or shape[1] != n_in:
            raise ShapeError(
                f"Network: input has shape {shape} but the network expects "
                f"(M, {n_in}) (sizes[0] = {n_in}, one example per row)"
            )
        if shape[0] == 0:
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
        return self._cost(tr.zs[L], tr.activations[L], Y)

    def _cost(self, zL: Tensor, aL: Tensor, Y: ArrayLike) -> Tensor:
        with scope(self.layers[-1]):
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
        """``C = (1/M) Σ_m C_m`` for the batch ``(X, Y)``.

        The forward pass of :meth:`forward_trace` without the :class:`Trace` (every
        training step runs it): the same layers, checks and nodes.
        """
        a = z = self._input(X)
        for layer in self.layers:
            assert isinstance(layer, Dense) and layer.index is not None
            z, a = layer.forward_z(a)
        return self._cost(z, a, Y)

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
