"""Learning diagnostics: which layers are saturated and learning slowly.

The notes' point, from BP2 and BP4: ``δ^l = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^l)`` and
``∂C/∂w^l_{jk} = δ^l_j a^{l-1}_k``, so a neuron whose ``σ'(z)`` is near zero — a sigmoid
that has saturated near 0 or 1, a ReLU that is off — passes back almost no error, and
the weights into it barely change: it *learns slowly*.  :func:`diagnostics` measures
that per layer on a batch:

* the fraction of (example, neuron) pairs with ``σ'(z) < threshold`` (saturated), and the
  fraction of neurons saturated on every example of the batch;
* the mean ``|δ^l|`` (the notes' per-example error ``δ_m^l = ∂C_m/∂z_m^l``);
* the norms ``‖∇_{w^l} C‖`` and ``‖∇_{b^l} C‖``.

For a softmax layer ``σ'`` is taken as the diagonal of its Jacobian, ``a_j (1 − a_j)``.

Imports: ``tensor``, ``engine``, ``activations``, ``errors``.  The model is taken by duck
typing (``forward_trace(X)``, ``cost_from_trace(trace, Y)``, ``layers`` with ``W``,
``b`` and ``activation_name``), never by importing ``nn``; gradients are computed with
:func:`nablagraph.engine.grad`, so the model's ``.grad`` fields are left untouched.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph._tensor import Tensor
from nablagraph.activations import ACTIVATIONS, softmax
from nablagraph.errors import ConfigError

__all__ = ["diagnostics", "Diagnostics", "LayerDiagnostics"]


@dataclass
class LayerDiagnostics:
    """How well layer ``l`` can learn on one batch.

    Attributes
    ----------
    layer : int
        ``l`` (2 … L).
    activation : str
        The layer's ``σ``.
    neurons : int
        ``n_l``.
    saturated_fraction : float or None
        Fraction of (example, neuron) pairs with ``σ'(z) < threshold`` (``None`` when
        ``σ'`` is unknown, e.g. a custom activation).
    dead_fraction : float or None
        Fraction of neurons with ``σ'(z) < threshold`` on every example.
    mean_sigma_prime : float or None
        Mean ``σ'(z^l)`` over the batch.
    mean_abs_delta : float
        Mean ``|δ_m^l|`` with ``δ_m^l = ∂C_m/∂z_m^l = M ∂C/∂z_m^l``.
    grad_norm_w, grad_norm_b : float
        Frobenius norm of ``∇_{w^l} C`` and Euclidean norm of ``∇_{b^l} C``.
    """

    layer: int
    activation: str
    neurons: int
    saturated_fraction: float | None
    dead_fraction: float | None
    mean_sigma_prime: float | None
    mean_abs_delta: float
    grad_norm_w: float
    grad_norm_b: float


@dataclass
class Diagnostics:
    """Per-layer :class:`LayerDiagnostics` of one batch; ``str()`` gives a table."""

    layers: list[LayerDiagnostics]
    threshold: float
    cost: float
    batch_size: int
    notes: list[str] = field(default_factory=list)

    def layer(self, l: int) -> LayerDiagnostics:
        """The diagnostics of layer ``l``."""
        for d in self.layers:
            if d.layer == l:
                return d
        raise ConfigError(
            f"diagnostics: no layer {l}; the layers are {[d.layer for d in self.layers]}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (for a training history or JSON)."""
        return asdict(self)

    def __str__(self) -> str:
        head = (
            f"{'l':>3}  {'σ':<11}{'n_l':>5}{'saturated':>11}{'dead':>8}{'mean σ′':>10}"
            f"{'mean |δ|':>11}{'‖∇W‖':>11}{'‖∇b‖':>11}"
        )
        rows = [
            f"Learning diagnostics (M = {self.batch_size}, C = {self.cost:.6g}; saturated: "
            f"σ'(z) < {self.threshold:g}; dead: saturated on every example)",
            head,
        ]

        def pct(x: float | None) -> str:
            return "—" if x is None else f"{100 * x:.1f}%"

        def num(x: float | None) -> str:
            return "—" if x is None else f"{x:.3g}"

        for d in self.layers:
            rows.append(
                f"{d.layer:>3}  {d.activation:<11}{d.neurons:>5}{pct(d.saturated_fraction):>11}"
                f"{pct(d.dead_fraction):>8}{num(d.mean_sigma_prime):>10}"
                f"{d.mean_abs_delta:>11.3g}{d.grad_norm_w:>11.3g}{d.grad_norm_b:>11.3g}"
            )
        rows += [f"note: {n}" for n in self.notes]
        return "\n".join(rows)


def _sigma_prime(name: str, z: np.ndarray) -> np.ndarray | None:
    if name == "softmax":
        a = softmax(z, axis=-1)
        return a * (1.0 - a)  # the diagonal of the softmax Jacobian
    pair = ACTIVATIONS.get(name)
    return None if pair is None else pair[1](z)


def diagnostics(model: Any, X: Any, Y: Any, threshold: float = 0.01) -> Diagnostics:
    """Saturation, error size and gradient norms per layer, on one batch.

    Parameters
    ----------
    model : Network-like
        Needs ``forward_trace(X)``, ``cost_from_trace(trace, Y)`` and ``layers`` (each
        with ``W``, ``b``, ``activation_name``).
    X, Y : array_like
        The batch (rows are examples; ``Y`` may be class labels for cross-entropy).
    threshold : float
        A neuron is saturated on an example when ``σ'(z) < threshold`` (default 0.01:
        a sigmoid with ``|z| > 4.6``, a tanh with ``|z| > 3``, a ReLU that is off).

    Returns
    -------
    Diagnostics

    Raises
    ------
    ConfigError
        For a threshold that is not a positive number, or a model without layers.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> net = ng.nn.Network([3, 4, 2], seed=0)
    >>> for layer in net.layers:
    ...     layer.W.data *= 50          # huge weights: the sigmoids saturate
    >>> X, Y = np.random.default_rng(0).standard_normal((8, 3)), np.zeros((8, 2))
    >>> d = diagnostics(net, X, Y)
    >>> d.layer(2).saturated_fraction > 0.8, d.layer(2).mean_abs_delta < 1e-3
    (True, True)
    """
    if not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ConfigError(f"diagnostics: threshold must be a positive number, got {threshold!r}")
    layers = list(getattr(model, "layers", []) or [])
    if not layers or not hasattr(model, "forward_trace"):
        raise ConfigError(
            f"diagnostics: {type(model).__name__} is not a layered network: expected "
            ".layers and .forward_trace(X) (e.g. nablagraph.nn.Network)"
        )
    dtype = getattr(model, "dtype", None)
    x = X if isinstance(X, Tensor) else np.asarray(X, dtype=dtype)
    _, trace = model.forward_trace(x)
    C = model.cost_from_trace(trace, Y)
    keys = sorted(trace.zs)
    M = int(trace.zs[keys[0]].shape[0])
    zs = [trace.zs[l] for l in keys]
    Ws = [layer.W for layer in layers]
    bs = [layer.b for layer in layers]
    grads = engine.grad(C, zs + Ws + bs, allow_unused=True)
    n = len(keys)
    dz, gW, gb = grads[:n], grads[n:2 * n], grads[2 * n:]
    out = []
    notes = []
    for i, (l, layer) in enumerate(zip(keys, layers)):
        name = str(getattr(layer, "activation_name", "?"))
        z = np.asarray(zs[i].data, dtype=np.float64)
        sp = _sigma_prime(name, z)
        if sp is None:
            notes.append(f"layer {l}: σ' of activation {name!r} is unknown; saturation not measured")
        sat = None if sp is None else sp < threshold
        g_z = dz[i]
        delta = np.zeros(z.shape) if g_z is None else M * np.asarray(g_z.data, dtype=np.float64)
        out.append(LayerDiagnostics(
            layer=int(l),
            activation=name,
            neurons=int(z.shape[-1]),
            saturated_fraction=None if sat is None else float(sat.mean()),
            dead_fraction=None if sat is None else float(sat.all(axis=0).mean()),
            mean_sigma_prime=None if sp is None else float(sp.mean()),
            mean_abs_delta=float(np.abs(delta).mean()),
            grad_norm_w=0.0 if gW[i] is None else float(np.linalg.norm(gW[i].data)),  # type: ignore[union-attr]
            grad_norm_b=0.0 if gb[i] is None else float(np.linalg.norm(gb[i].data)),  # type: ignore[union-attr]
        ))
    return Diagnostics(out, float(threshold), float(C.item()), M, notes)
