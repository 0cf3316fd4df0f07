"""PyTorch's layer names: ``Linear`` (a :class:`~nablagraph.nn.dense.Dense` without σ) and
one module per activation (``ReLU()``, ``Sigmoid()``, ``Softmax(dim)`` …) for
:class:`~nablagraph.nn.network.Sequential`.

``Sequential(Linear(784, 30), Sigmoid(), Linear(30, 10))`` computes what the notes'
``Network([784, 30, 10])`` computes: ``z^l = a^{l-1} (w^l)ᵀ + b^l`` in each ``Linear``
(numbered 2, 3 … as the notes' layers, parameters ``W2``, ``b2`` …) and ``a^l = σ(z^l)``
in the activation module after it.  The notes' ``Dense`` keeps its documented default
(σ = sigmoid inside the layer); ``Linear`` is ``Dense(..., activation="identity")``.

Imports: ``functional``, ``errors``, ``nn.base``, ``nn.dense``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nablagraph import functional as F
from nablagraph._tensor import ArrayLike, Tensor
from nablagraph.errors import ConfigError
from nablagraph.nn.base import Module
from nablagraph.nn.dense import Dense

__all__ = [
    "Linear", "Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softplus", "Softmax",
    "LogSoftmax", "ACTIVATION_MODULES",
]


class Linear(Dense):
    """``z = x Wᵀ + b``: PyTorch's ``nn.Linear``, a :class:`Dense` layer with no activation.

    ``weight`` and ``bias`` are the notes' ``w^l`` (shape ``(out_features, in_features)``,
    as PyTorch's) and ``b^l``, the same tensors as ``W`` and ``b``.  Initial weights use
    ``init`` (``"scaled"``: ``W ~ N(0, 1/n_in)``, ``b ~ N(0, 1)``); PyTorch draws both
    from ``U(±1/√n_in)``.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> net = ng.nn.Sequential(ng.nn.Linear(2, 3, rng=0), ng.nn.ReLU(), ng.nn.Linear(3, 1, rng=1))
    >>> [n for n, _ in net.named_parameters()], net[0].weight is net[0].W
    (['W2', 'b2', 'W3', 'b3'], True)
    >>> net(np.zeros((4, 2))).shape
    (4, 1)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        init: str = "scaled",
        rng: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
        index: int | None = None,
    ) -> None:
        if bias is not True:
            raise ConfigError(
                f"Linear: bias={bias!r} is not supported; every layer has a bias b^l (set "
                "layer.b.data[...] = 0 and leave it out of the optimizer to fix it at zero)"
            )
        super().__init__(in_features, out_features, "identity", init, rng, dtype, index)

    @property
    def weight(self) -> Tensor:
        """``w^l``, the same tensor as ``W``."""
        return self.W

    @property
    def bias(self) -> Tensor:
        """``b^l``, the same tensor as ``b``."""
        return self.b

    @property
    def in_features(self) -> int:
        """``n_{l-1}``."""
        return self.n_in

    @property
    def out_features(self) -> int:
        """``n_l``."""
        return self.n_out

    def __repr__(self) -> str:
        l = "" if self.index is None else f"l={self.index}, "
        return f"Linear({l}{self.n_in} -> {self.n_out})"


class _Activation(Module):
    """An activation σ as a module with no parameters."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Identity(_Activation):
    """``a = z``."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.identity(z)


class Sigmoid(_Activation):
    """``σ(z) = 1 / (1 + e^{−z})``."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.sigmoid(z)


class Tanh(_Activation):
    """``tanh z``."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.tanh(z)


class ReLU(_Activation):
    """``max(z, 0)``."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.relu(z)


class Softplus(_Activation):
    """``ln(1 + e^z)``."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.softplus(z)


class LeakyReLU(_Activation):
    """``z`` for ``z > 0``, ``negative_slope · z`` otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float)):
            raise ConfigError(f"LeakyReLU: negative_slope must be a number, got {negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def forward(self, z: ArrayLike) -> Tensor:
        return F.leaky_relu(z, self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope:g})"


class _AlongAxis(_Activation):
    def __init__(self, dim: int = -1) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise ConfigError(f"{type(self).__name__}: dim must be an axis (an int), got {dim!r}")
        self.dim = int(dim)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class Softmax(_AlongAxis):
    """``softmax`` along ``dim`` (default ``-1``, the neurons of a batch of rows; PyTorch
    asks for ``dim`` explicitly)."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.softmax(z, axis=self.dim)


class LogSoftmax(_AlongAxis):
    """``log softmax`` along ``dim`` (default ``-1``)."""

    def forward(self, z: ArrayLike) -> Tensor:
        return F.log_softmax(z, axis=self.dim)


#: The module for each activation a layer can name (``Dense(activation=...)``) and for
#: ``log_softmax``; tests check it covers every activation of the op registry.
ACTIVATION_MODULES: dict[str, type[Module]] = {
    "identity": Identity, "sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU,
    "leaky_relu": LeakyReLU, "softplus": Softplus, "softmax": Softmax, "log_softmax": LogSoftmax,
}
