"""What the closed form takes and gives: :class:`DenseParams` (the arrays of a dense
network) and :class:`Backprop` (``z^l``, ``a^l``, ``δ^l`` and the gradients by layer).

Imports: NumPy, ``errors``, ``reference.equations``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, ShapeError
from nablagraph.reference.equations import SIGMA_PRIMES, Array

__all__ = ["COSTS", "DenseParams", "Backprop", "params_from_network"]

#: Cost names the closed form knows (the library's canonical names).
COSTS = ("quadratic", "mse", "binary_cross_entropy", "cross_entropy")


@dataclass(frozen=True)
class DenseParams:
    """The arrays of a dense network: ``w^l``, ``b^l``, ``σ`` per layer and the cost.

    Parameters
    ----------
    weights : tuple of ndarray
        ``w^2 … w^L``, each of shape ``(n_l, n_{l-1})``.
    biases : tuple of ndarray
        ``b^2 … b^L``, each of shape ``(n_l,)``.
    activations : tuple of str
        The activation name of each weighted layer (``"sigmoid"``, ``"tanh"``,
        ``"relu"``, ``"leaky_relu"``, ``"identity"``; ``"softmax"`` at the output).
    cost : str
        ``"quadratic"``, ``"mse"``, ``"binary_cross_entropy"`` or ``"cross_entropy"``.

    Raises
    ------
    ShapeError
        When the shapes do not chain.
    ConfigError
        For an unknown activation or cost, or an unsupported cost / output pairing.

    Examples
    --------
    >>> import numpy as np
    >>> p = DenseParams.from_arrays([(np.ones((3, 2)), np.zeros(3))], ["softmax"], "cross_entropy")
    >>> p.sizes, p.L
    ([2, 3], 2)
    """

    weights: tuple[Array, ...]
    biases: tuple[Array, ...]
    activations: tuple[str, ...]
    cost: str

    @classmethod
    def from_arrays(
        cls, layers: Sequence[tuple[Any, Any]], activations: Sequence[str], cost: str
    ) -> DenseParams:
        """Build from a list of ``(W, b)`` pairs (arrays are not copied)."""
        return cls(
            tuple(np.asarray(W) for W, _ in layers),
            tuple(np.asarray(b) for _, b in layers),
            tuple(activations),
            cost,
        )

    def __post_init__(self) -> None:
        self._check_shapes()
        self._check_names()

    def _check_shapes(self) -> None:
        """One ``(W, b)`` and one activation per layer; ``W`` 2-D, ``b`` matching, the layers chaining."""
        n = len(self.weights)
        if n == 0 or len(self.biases) != n or len(self.activations) != n:
            raise ConfigError(
                f"closed form: need one (W, b) pair and one activation per weighted layer, got "
                f"{n} weights, {len(self.biases)} biases and {len(self.activations)} activations"
            )
        for l, W, b in zip(self.layer_numbers, self.weights, self.biases):
            if W.ndim != 2:
                raise ShapeError(f"closed form: W{l} must be 2-D (n_l, n_(l-1)), got shape {W.shape}")
            if b.shape != (W.shape[0],):
                raise ShapeError(
                    f"closed form: b{l} has shape {b.shape}, expected ({W.shape[0]},) "
                    f"to match W{l} of shape {W.shape}"
                )
            if l > 2 and W.shape[1] != self.weights[l - 3].shape[0]:
                raise ShapeError(
                    f"closed form: W{l} has shape {W.shape} but layer {l - 1} has "
                    f"{self.weights[l - 3].shape[0]} neurons; expected ({W.shape[0]}, "
                    f"{self.weights[l - 3].shape[0]})"
                )

    def _check_names(self) -> None:
        """A known cost, known activations, softmax only at the output and a supported pairing."""
        if self.cost not in COSTS:
            raise ConfigError(
                f"closed form: unknown cost {self.cost!r}; expected one of {', '.join(COSTS)}"
            )
        known = (*SIGMA_PRIMES, "softmax")
        for l, name in zip(self.layer_numbers, self.activations):
            if name not in known:
                raise ConfigError(
                    f"closed form: layer {l} has activation {name!r}, which the closed form "
                    f"does not know; expected one of {', '.join(known)}"
                )
            if name == "softmax" and l != self.L:
                raise ConfigError(
                    f"closed form: softmax in hidden layer {l} is not supported: BP2 "
                    "(δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)) needs an elementwise σ'"
                )
        out = self.activations[-1]
        if self.cost == "cross_entropy" and out != "softmax":
            raise ConfigError(
                f"closed form: the pairing cost 'cross_entropy' + output activation {out!r} is "
                "not supported: cross_entropy is the softmax cross-entropy of the logits z^L, "
                "so the output layer must be softmax"
            )

    @property
    def L(self) -> int:
        """Number of layers, counting the input layer (the output layer's number)."""
        return len(self.weights) + 1

    @property
    def layer_numbers(self) -> range:
        """``2 … L``, the numbers of the weighted layers."""
        return range(2, len(self.weights) + 2)

    @property
    def sizes(self) -> list[int]:
        """``[n_1, …, n_L]``."""
        return [int(self.weights[0].shape[1])] + [int(W.shape[0]) for W in self.weights]

    def layers(self) -> Iterator[tuple[int, Array, Array, str]]:
        """``(l, w^l, b^l, σ name)`` for ``l = 2 … L``."""
        yield from zip(self.layer_numbers, self.weights, self.biases, self.activations)


def params_from_network(model: Any) -> DenseParams:
    """The arrays of a ``nablagraph.nn.Network`` (or any dense stack), by duck typing.

    Reads ``model.layers[i].W.data``, ``.b.data`` and ``.activation_name`` and
    ``model.cost_name``; the arrays are the model's own (not copied), so the closed form
    works on the very numbers autodiff uses.

    Raises
    ------
    ConfigError
        When the model does not look like a dense network.

    Examples
    --------
    >>> import nablagraph as ng
    >>> from nablagraph.reference import params_from_network
    >>> net = ng.nn.Network([4, 3, 2], cost="cross_entropy", seed=0)
    >>> p = params_from_network(net)
    >>> p.sizes, p.activations, p.cost
    ([4, 3, 2], ('sigmoid', 'softmax'), 'cross_entropy')
    """
    layers = getattr(model, "layers", None)
    cost = getattr(model, "cost_name", None)
    if layers is None or cost is None:
        raise ConfigError(
            f"closed form: {type(model).__name__} is not a dense network: expected "
            "attributes .layers (each with .W, .b, .activation_name) and .cost_name"
        )
    pairs, names = [], []
    for i, layer in enumerate(layers):
        try:
            pairs.append((layer.W.data, layer.b.data))
            names.append(str(layer.activation_name))
        except AttributeError as exc:
            raise ConfigError(
                f"closed form: layer {i} ({type(layer).__name__}) of {type(model).__name__} is "
                "not a dense layer: expected .W, .b and .activation_name"
            ) from exc
    return DenseParams.from_arrays(pairs, names, str(cost))


# ------------------------------------------------------------------ the result
@dataclass
class Backprop:
    """What one run of the closed form gives, keyed by layer number ``l``.

    Attributes
    ----------
    zs, activations : dict of int to ndarray
        ``z^l`` (``l = 2 … L``) and ``a^l`` (``l = 1 … L``, ``a^1 = x``), rows ``(M, n_l)``.
    deltas : dict of int to ndarray
        The notes' per-example errors ``δ_m^l = ∂C_m/∂z_m^l`` as rows ``(M, n_l)``.
        The gradient of the batch cost with respect to ``z^l`` is ``deltas[l] / M``.
    nabla_W, nabla_b : dict of int to ndarray
        ``∇_{w^l} C`` and ``∇_{b^l} C`` of the batch cost, shaped like ``W`` and ``b``
        (the per-example loop's running sums keep Nielsen's ``nabla_w``, ``nabla_b``).
    cost : float
        ``C = (1/M) Σ_m C_m``.
    form : str
        ``"batch"`` or ``"example"``.
    """

    zs: dict[int, Array] = field(default_factory=dict)
    activations: dict[int, Array] = field(default_factory=dict)
    deltas: dict[int, Array] = field(default_factory=dict)
    nabla_W: dict[int, Array] = field(default_factory=dict)  # noqa: N815 (design.md's name)
    nabla_b: dict[int, Array] = field(default_factory=dict)
    cost: float = float("nan")
    form: str = "batch"

    def gradients(self) -> dict[str, Array]:
        """``{"W2": ∇_{w^2} C, "b2": ∇_{b^2} C, …}``, the library's parameter names."""
        out: dict[str, Array] = {}
        for l in sorted(self.nabla_W):
            out[f"W{l}"] = self.nabla_W[l]
            out[f"b{l}"] = self.nabla_b[l]
        return out
