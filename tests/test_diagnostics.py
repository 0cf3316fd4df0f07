"""Learning diagnostics: saturated neurons learn slowly, and the numbers say so.

Every figure is checked against a direct NumPy computation of the same quantity.
"""

from __future__ import annotations

import numpy as np
import pytest

import nablagraph as ng
from nablagraph.diagnostics import Diagnostics, LayerDiagnostics, diagnostics
from nablagraph.errors import ConfigError


def sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def numpy_quantities(
    net: ng.nn.Network, X: np.ndarray, Y: np.ndarray, threshold: float
) -> dict[int, dict[str, float]]:
    """Forward and backward of a sigmoid net with the quadratic cost, by hand."""
    W = [layer.W.data for layer in net.layers]
    b = [layer.b.data for layer in net.layers]
    a, zs, acts = X, [], [X]
    for Wl, bl in zip(W, b):
        z = a @ Wl.T + bl
        a = sig(z)
        zs.append(z)
        acts.append(a)
    M = X.shape[0]
    primes = [sig(z) * (1 - sig(z)) for z in zs]
    deltas = [np.empty(0)] * len(zs)
    deltas[-1] = (acts[-1] - Y) * primes[-1]  # BP1, per example
    for i in range(len(zs) - 2, -1, -1):
        deltas[i] = (deltas[i + 1] @ W[i + 1]) * primes[i]  # BP2
    out = {}
    for i, (sp, d) in enumerate(zip(primes, deltas)):
        sat = sp < threshold
        out[i + 2] = {
            "saturated": float(sat.mean()),
            "dead": float(sat.all(axis=0).mean()),
            "mean_sigma_prime": float(sp.mean()),
            "mean_abs_delta": float(np.abs(d).mean()),
            "gW": float(np.linalg.norm(d.T @ acts[i] / M)),  # BP4
            "gb": float(np.linalg.norm(d.mean(axis=0))),  # BP3
        }
    return out


def test_a_saturated_sigmoid_layer_is_reported_as_saturated_and_slow() -> None:
    rng = np.random.default_rng(0)
    net = ng.nn.Network([10, 8, 3], activation="sigmoid", cost="quadratic", seed=0)
    net.layers[0].W.data *= 40.0  # |z^2| of order 40: σ'(z^2) ≈ e^{-40}
    X, Y = rng.standard_normal((16, 10)), rng.uniform(size=(16, 3))
    d = diagnostics(net, X, Y, threshold=0.01)
    hidden, out = d.layer(2), d.layer(3)
    want = numpy_quantities(net, X, Y, 0.01)
    assert hidden.saturated_fraction is not None and hidden.saturated_fraction >= 0.9
    assert hidden.saturated_fraction == pytest.approx(want[2]["saturated"], abs=0)
    assert hidden.dead_fraction == pytest.approx(want[2]["dead"], abs=0)
    assert hidden.mean_sigma_prime == pytest.approx(want[2]["mean_sigma_prime"], rel=1e-10)
    assert hidden.mean_abs_delta == pytest.approx(want[2]["mean_abs_delta"], rel=1e-10)
    assert hidden.grad_norm_w == pytest.approx(want[2]["gW"], rel=1e-10)
    assert hidden.grad_norm_b == pytest.approx(want[2]["gb"], rel=1e-10)
    # The saturated layer's error is orders of magnitude below the healthy output layer's.
    assert hidden.mean_abs_delta < 1e-2 * out.mean_abs_delta
    assert out.saturated_fraction == pytest.approx(want[3]["saturated"], abs=0)
    assert out.mean_abs_delta == pytest.approx(want[3]["mean_abs_delta"], rel=1e-10)


def test_the_same_network_unsaturated_has_no_saturated_neurons() -> None:
    rng = np.random.default_rng(0)
    net = ng.nn.Network([10, 8, 3], activation="sigmoid", cost="quadratic", seed=0)
    X, Y = rng.standard_normal((16, 10)) * 0.1, rng.uniform(size=(16, 3))
    d = diagnostics(net, X, Y)
    want = numpy_quantities(net, X, Y, 0.01)
    assert d.layer(2).saturated_fraction == 0.0 == want[2]["saturated"]
    assert d.layer(2).mean_abs_delta == pytest.approx(want[2]["mean_abs_delta"], rel=1e-10)


def test_dead_relus_count_as_saturated() -> None:
    rng = np.random.default_rng(1)
    net = ng.nn.Network([5, 6, 2], activation="relu", cost="cross_entropy", seed=1)
    net.layers[0].b.data[:3] = -100.0  # neurons 1-3 are off for every example
    X, y = rng.standard_normal((12, 5)), rng.integers(0, 2, 12)
    d = diagnostics(net, X, y).layer(2)
    z = X @ net.layers[0].W.data.T + net.layers[0].b.data
    assert d.dead_fraction == pytest.approx(float((z <= 0).all(axis=0).mean()), abs=0)
    assert d.dead_fraction is not None and d.dead_fraction >= 0.5
    assert d.saturated_fraction == pytest.approx(float((z <= 0).mean()), abs=0)


def test_softmax_uses_the_diagonal_of_its_jacobian() -> None:
    rng = np.random.default_rng(2)
    net = ng.nn.Network([3, 4], cost="cross_entropy", seed=2)
    X, y = rng.standard_normal((6, 3)), rng.integers(0, 4, 6)
    d = diagnostics(net, X, y, threshold=0.2).layer(2)
    z = X @ net.layers[0].W.data.T + net.layers[0].b.data
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert d.activation == "softmax"
    assert d.mean_sigma_prime == pytest.approx(float((a * (1 - a)).mean()), rel=1e-12)
    assert d.saturated_fraction == pytest.approx(float((a * (1 - a) < 0.2).mean()), abs=0)
    assert d.mean_abs_delta == pytest.approx(float(np.abs(a - np.eye(4)[y]).mean()), rel=1e-12)


def test_diagnostics_leave_grad_alone_and_print_a_table() -> None:
    rng = np.random.default_rng(3)
    net = ng.nn.Network([4, 3, 2], seed=3)
    X, Y = rng.standard_normal((5, 4)), rng.uniform(size=(5, 2))
    d = diagnostics(net, X, Y)
    assert all(p.grad is None for p in net.parameters())
    assert isinstance(d, Diagnostics) and isinstance(d.layers[0], LayerDiagnostics)
    text = str(d)
    assert text.startswith("Learning diagnostics (M = 5, C = ")
    assert "saturated: σ'(z) < 0.01" in text
    assert text.splitlines()[2].split()[:3] == ["2", "sigmoid", "3"]
    assert d.to_dict()["layers"][1]["layer"] == 3
    assert d.cost == pytest.approx(net.cost(X, Y).item(), rel=1e-15)


def test_a_custom_activation_is_reported_without_saturation() -> None:
    def softsign(z: ng.Tensor) -> ng.Tensor:
        return z / (1 + ng.abs(z))

    rng = np.random.default_rng(4)
    net = ng.nn.Network([3, 4, 2], activation=softsign, output_activation="sigmoid", seed=4)
    d = diagnostics(net, rng.standard_normal((4, 3)), rng.uniform(size=(4, 2)))
    assert d.layer(2).saturated_fraction is None and d.layer(2).mean_abs_delta > 0
    assert "layer 2: σ' of activation 'softsign' is unknown" in d.notes[0]
    assert "—" in str(d).splitlines()[2]


@pytest.mark.parametrize("threshold", [0, -1.0, float("nan"), "0.1"])
def test_bad_threshold(threshold: object) -> None:
    net = ng.nn.Network([2, 2], seed=0)
    with pytest.raises(ConfigError, match=r"threshold must be a positive number, got"):
        diagnostics(net, np.zeros((1, 2)), np.zeros((1, 2)), threshold=threshold)  # type: ignore[arg-type]


def test_not_a_network_and_unknown_layer() -> None:
    with pytest.raises(ConfigError, match=r"object is not a layered network: expected \.layers"):
        diagnostics(object(), np.zeros((1, 2)), np.zeros((1, 2)))
    d = diagnostics(ng.nn.Network([2, 2], seed=0), np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ConfigError, match=r"no layer 5; the layers are \[2\]"):
        d.layer(5)
