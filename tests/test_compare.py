"""The three-way proof: autodiff, the closed form BP1–BP4 and finite differences agree,
and when one of them is wrong the report says which equation, which layer, which route."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from activation_lists import ACTIVATIONS, KINKED, bias_for_half
from nablagraph import reference as ref
from nablagraph.activations import sigmoid
from nablagraph.check import (
    GradcheckReport,
    GradientComparison,
    InputCheck,
    Tolerances,
    compare_gradients,
    gradcheck,
    numerical_grad,
)
from nablagraph.errors import ConfigError, GradcheckError

ROOT = Path(__file__).resolve().parents[1]
SIZES = {2: [4, 3], 3: [4, 5, 3], 4: [4, 5, 4, 3], 5: [4, 5, 4, 6, 3]}


def pairings(act: str) -> list[tuple[str, str]]:
    """Every cost with every output it supports (the hidden layers use ``act``)."""
    out = [("quadratic", act), ("mse", act), ("binary_cross_entropy", "sigmoid"),
           ("cross_entropy", "softmax"), ("quadratic", "softmax"), ("mse", "softmax"),
           ("binary_cross_entropy", "softmax")]
    if act != "sigmoid":
        out.append(("binary_cross_entropy", act))
    return out


MATRIX = [(act, cost, out) for act in ACTIVATIONS for cost, out in pairings(act)]


def kink_margin(net: ng.nn.Network, X: np.ndarray) -> float:
    """The smallest |z| of any ReLU-family neuron on this batch (inf if there are none)."""
    bp = ref.backprop(ref.params_from_network(net), X, np.zeros((len(X), net.sizes[-1])) if
                      net.cost_name != "cross_entropy" else np.zeros(len(X), dtype=np.int64))
    margins = [float(np.abs(bp.zs[i + 2]).min()) for i, layer in enumerate(net.layers)
               if layer.activation_name in KINKED]
    return min(margins, default=float("inf"))


def make_case(
    sizes: list[int], act: str, cost: str, out: str, key: int, M: int = 8
) -> tuple[ng.nn.Network, np.ndarray, np.ndarray]:
    """A seeded network and batch, kept clear of ReLU kinks (|z| > 1e-2)."""
    for seed in range(50):
        rng = np.random.default_rng([key, seed])
        net = ng.nn.Network(sizes, activation=act, output_activation=out, cost=cost,
                            seed=int(rng.integers(2**31)))
        if cost == "binary_cross_entropy" and out not in ("sigmoid", "softmax"):
            last = net.layers[-1]  # keep a^L in (0, 1), where the cost is defined
            last.W.data *= 0.05
            last.b.data[...] = bias_for_half(out)
        X = rng.standard_normal((M, sizes[0]))
        if cost == "cross_entropy":
            Y = rng.integers(0, sizes[-1], M)
        else:
            Y = rng.uniform(0.05, 0.95, (M, sizes[-1]))
        if kink_margin(net, X) > 1e-2:
            return net, X, Y
    raise AssertionError("no seed kept the batch clear of ReLU kinks")


def figures(r: GradientComparison) -> str:
    return (f"AD–CF {r.worst('ad_cf'):.2e}, AD–FD {r.worst('ad_fd'):.2e}, "
            f"CF–FD {r.worst('cf_fd'):.2e}, δ {r.worst_delta():.2e}")


# ------------------------------------------------ all activations, costs, depths
@pytest.mark.parametrize(("act", "cost", "out"), MATRIX)
def test_three_routes_agree_for_depths_2_to_5(act: str, cost: str, out: str) -> None:
    for depth, sizes in SIZES.items():
        net, X, Y = make_case(sizes, act, cost, out, key=MATRIX.index((act, cost, out)) * 10 + depth)
        r = compare_gradients(net, X, Y, repeats=1)
        worst = max(r.worst("ad_cf"), r.worst("ad_fd"), r.worst("cf_fd"), r.worst_delta())
        msg = f"depth {depth} {act}/{cost}/{out}: worst rel error {worst:.2e} ({figures(r)})\n{r}"
        assert r.passed, msg
        assert worst <= 1e-7, msg
        assert all(p.fd_mode == "full" and p.fd_points == int(np.prod(p.shape)) for p in r.parameters)
        assert [c.layer for c in r.layers] == list(range(depth, 1, -1))
        assert [c.equation for c in r.layers] == ["BP1"] + ["BP2"] * (depth - 2)
        assert r.cost_closed_form == pytest.approx(r.cost_autodiff, rel=1e-12)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_the_per_example_form_agrees_too(act: str) -> None:
    net, X, Y = make_case([4, 5, 4, 3], act, "cross_entropy", "softmax", key=900)
    r = compare_gradients(net, X, Y, form="example", repeats=1)
    assert r.passed and max(r.worst("ad_cf"), r.worst_delta()) <= 1e-10, str(r)
    assert r.route("closed form").forward_passes == len(X)
    assert r.route("closed form").note == "one example at a time"


def test_one_hot_float_targets_for_cross_entropy() -> None:
    net, X, y = make_case([4, 5, 3], "tanh", "cross_entropy", "softmax", key=901)
    r = compare_gradients(net, X, np.eye(3)[y], repeats=1)
    assert r.passed and r.worst("ad_fd") <= 1e-7, str(r)


# ------------------------------------------------------------ injected bugs
def _sigmoid_prime_returning_sigma() -> ref.BackpropEquations:
    return ref.BackpropEquations({**ref.SIGMA_PRIMES, "sigmoid": sigmoid})


class MissingTransposeBatch(ref.BackpropEquations):
    """BP2 with w^{l+1} where (w^{l+1})ᵀ belongs (in rows: Δ Wᵀ instead of Δ W)."""

    def bp2_batch(self, W_next, Delta_next, Z, name):  # type: ignore[no-untyped-def]
        return (Delta_next @ W_next.T) * self.sigma_prime(name, Z)


class MissingTransposeColumns(ref.BackpropEquations):
    """The same bug in the notes' per-example column form: w δ instead of wᵀ δ."""

    def bp2(self, w_next, delta_next, z, name):  # type: ignore[no-untyped-def]
        return (w_next @ delta_next) * self.sigma_prime(name, z)


class BP3WithoutTheAverage(ref.BackpropEquations):
    def bp3_batch(self, Delta):  # type: ignore[no-untyped-def]
        return Delta.sum(axis=0)  # forgot the 1/M of C = (1/M) Σ_m C_m


class BP4WithATransposedA(ref.BackpropEquations):
    def bp4_batch(self, Delta, A_prev):  # type: ignore[no-untyped-def]
        return (Delta.T @ A_prev[::-1]) / Delta.shape[0]  # pairs δ_m with a_{M-1-m}


def test_wrong_sigma_prime_at_the_output_is_bp1() -> None:
    net, X, Y = make_case([4, 5, 3], "sigmoid", "quadratic", "sigmoid", key=1)
    r = compare_gradients(net, X, Y, equations=_sigmoid_prime_returning_sigma(), repeats=1)
    assert not r.passed
    assert (r.failing_equation, r.failing_layer, r.suspect) == ("BP1", 3, "closed form")
    assert "BP1 at the output layer L = 3" in r.failure  # type: ignore[operator]
    assert "first failing equation: BP1 at the output layer L = 3" in str(r)
    # autodiff and finite differences still agree: that is what convicts the closed form
    assert r.worst("ad_fd") <= 1e-7 and r.worst("cf_fd") > 1e-2


def test_wrong_sigma_prime_in_a_hidden_layer_is_bp2() -> None:
    # softmax + cross-entropy: BP1 needs no σ', so the first wrong δ is δ^3, from BP2.
    net, X, y = make_case([4, 5, 6, 3], "sigmoid", "cross_entropy", "softmax", key=2)
    r = compare_gradients(net, X, y, equations=_sigmoid_prime_returning_sigma(), repeats=1)
    assert (r.failing_equation, r.failing_layer, r.suspect) == ("BP2", 3, "closed form")
    assert r.failure.startswith("BP2 at layer 3 (δ^3 = ((w^4)ᵀ δ^4) ⊙ σ'(z^3), σ = sigmoid)")  # type: ignore[union-attr]
    assert r.layers[0].passed and not r.layers[1].passed  # δ^4 right, δ^3 wrong


def test_missing_transpose_on_square_layers_is_a_silent_bp2_error_and_is_caught() -> None:
    # W3 and W4 are 5×5: with W in place of Wᵀ the closed form runs, and is wrong.
    net, X, Y = make_case([4, 5, 5, 5], "tanh", "quadratic", "tanh", key=4)
    r = compare_gradients(net, X, Y, equations=MissingTransposeBatch(), repeats=1)
    assert (r.failing_equation, r.failing_layer, r.suspect) == ("BP2", 3, "closed form")
    assert "autodiff and finite differences agree with each other, so the closed form is wrong" in r.failure  # type: ignore[operator]
    assert [c.passed for c in r.layers] == [True, False, False]  # δ^4 right; δ^3, δ^2 wrong


def test_missing_transpose_on_a_non_square_net_names_bp2_and_its_layer() -> None:
    net, X, Y = make_case([4, 6, 5, 3], "sigmoid", "quadratic", "sigmoid", key=5)
    r = compare_gradients(net, X, Y, equations=MissingTransposeBatch(), repeats=1)
    assert not r.passed
    assert (r.failing_equation, r.failing_layer, r.suspect) == ("BP2", 3, "closed form")
    assert r.failure.startswith("BP2 at layer 3: the closed form raised an error there")  # type: ignore[union-attr]
    assert r.cost_closed_form is None
    assert all(p.ad_cf is None for p in r.parameters)
    assert r.worst("ad_fd") <= 1e-7  # autodiff is still proved by finite differences
    assert "first failing equation: BP2 at layer 3" in str(r)


def test_missing_transpose_in_the_per_example_form() -> None:
    net, X, Y = make_case([3, 4, 4, 4], "tanh", "mse", "tanh", key=6)  # W3, W4 square
    r = compare_gradients(net, X, Y, form="example", equations=MissingTransposeColumns(), repeats=1)
    assert (r.failing_equation, r.failing_layer, r.suspect) == ("BP2", 3, "closed form")


def test_bp3_and_bp4_bugs_are_named() -> None:
    net, X, Y = make_case([4, 5, 3], "tanh", "quadratic", "sigmoid", key=7)
    r = compare_gradients(net, X, Y, equations=BP3WithoutTheAverage(), repeats=1)
    assert (r.failing_equation, r.failing_layer) == ("BP3", 3)
    assert r.failure.startswith("BP3 for ∇b^3 (∂C/∂b^3 = δ^3)")  # type: ignore[union-attr]
    assert all(c.passed for c in r.layers)  # every δ is right; only ∇b is wrong
    assert [p.name for p in r.parameters if not p.passed] == ["b3", "b2"]
    r = compare_gradients(net, X, Y, equations=BP4WithATransposedA(), repeats=1)
    assert (r.failing_equation, r.failing_layer) == ("BP4", 3)
    assert "BP4 for ∇W^3" in str(r)


def test_an_autodiff_bug_is_blamed_on_autodiff() -> None:
    """A cost whose value is right but whose recorded graph adds a spurious gradient."""

    class WrongGradient:
        def __init__(self, net: ng.nn.Network) -> None:
            self.net = net
            self.layers, self.cost_name = net.layers, net.cost_name

        def named_parameters(self) -> list[tuple[str, ng.Tensor]]:
            return self.net.named_parameters()

        def forward_trace(self, X: Any) -> Any:
            return self.net.forward_trace(X)

        def cost_from_trace(self, tr: Any, Y: Any) -> ng.Tensor:
            W2 = self.net.layers[0].W
            extra = (W2 * W2).sum()
            return self.net.cost_from_trace(tr, Y) + (extra - extra.detach())  # value + 0

        def cost(self, X: Any, Y: Any) -> ng.Tensor:
            return self.cost_from_trace(self.forward_trace(X)[1], Y)

    net, X, Y = make_case([4, 5, 3], "sigmoid", "quadratic", "sigmoid", key=8)
    r = compare_gradients(WrongGradient(net), X, Y, repeats=1)
    assert (r.failing_equation, r.failing_layer, r.suspect) == ("BP4", 2, "autodiff")
    assert "so autodiff (an op's VJP or the engine) is wrong there" in r.failure  # type: ignore[operator]
    assert [p.name for p in r.parameters if not p.passed] == ["W2"]


def test_finite_differences_across_a_kink_are_blamed_on_finite_differences() -> None:
    net, X, Y = make_case([4, 6, 3], "relu", "quadratic", "identity", key=9)
    X = np.abs(X)
    net.layers[0].W.data[0] = 0.0
    net.layers[0].b.data[0] = 0.0  # neuron 1 of layer 2 sits exactly at its kink: z = 0
    r = compare_gradients(net, X, Y, eps=0.05, repeats=1)
    assert not r.passed and r.suspect == "finite differences"
    assert r.failing_equation is None
    assert r.failure.startswith("W2: finite differences disagree")  # type: ignore[union-attr]
    assert "a kink such as ReLU at 0 within ε" in r.failure  # type: ignore[operator]
    assert all(p.ad_cf is not None and p.ad_cf.passed for p in r.parameters)


def test_the_step_is_shrunk_to_keep_relu_kinks_out_of_reach() -> None:
    net, X, Y = make_case([4, 6, 3], "relu", "quadratic", "identity", key=10)
    z2 = X @ net.layers[0].W.data.T + net.layers[0].b.data
    net.layers[0].b.data[0] -= z2[0, 0] - 1e-5  # one z^2 just 1e-5 above its kink
    margin = np.abs(X @ net.layers[0].W.data.T + net.layers[0].b.data).min()
    assert margin < 1.1e-5
    r = compare_gradients(net, X, Y, repeats=1)
    assert r.eps < margin / 2
    assert any("eps reduced from 0.001" in n and f"min |z^2| = {margin:.3g}" in n for n in r.notes)
    assert r.passed, str(r)


# ----------------------------------------------------------- large networks
def test_large_networks_sample_coordinates_and_directions() -> None:
    net, X, y = make_case([20, 12, 4], "tanh", "cross_entropy", "softmax", key=11)
    r = compare_gradients(net, X, y, max_full=50, n_samples=7, n_directions=3, repeats=1)
    assert r.passed and r.worst("ad_fd") <= 1e-7, str(r)
    by_name = {p.name: p for p in r.parameters}
    assert (by_name["W2"].fd_mode, by_name["W2"].fd_points, by_name["W2"].fd_directions) == (
        "sampled", 7, 3)
    assert (by_name["b3"].fd_points, by_name["b3"].fd_directions) == (4, 0)  # 4 ≤ 7: all of it
    probes = 7 + 3 + 7 + 3 + 7 + 3 + 4  # W2 (240), b2 (12), W3 (48), b3 (4)
    assert r.route("finite differences").forward_passes == 6 * probes
    assert r.full_fd_forward_passes == 6 * r.num_parameters == 6 * (240 + 12 + 48 + 4)
    assert "7 random coordinates + 3 random directions per parameter" in r.fd_method


def test_sampling_is_seeded() -> None:
    net, X, y = make_case([20, 12, 4], "tanh", "cross_entropy", "softmax", key=12)
    a, b = (compare_gradients(net, X, y, fd="sampled", seed=5, repeats=1) for _ in range(2))
    c = compare_gradients(net, X, y, fd="sampled", seed=6, repeats=1)
    assert [p.ad_fd for p in a.parameters] == [p.ad_fd for p in b.parameters]
    assert [p.ad_fd for p in a.parameters] != [p.ad_fd for p in c.parameters]


# ---------------------------------------------------------------- float32
def test_float32_skips_finite_differences_and_says_why() -> None:
    net = ng.nn.Network([4, 5, 3], activation="tanh", cost="cross_entropy", seed=0, dtype=np.float32)
    X, y = np.random.default_rng(0).standard_normal((8, 4)), np.array([0, 1, 2, 0, 1, 2, 0, 1])
    r = compare_gradients(net, X, y, repeats=1)
    assert r.dtype == "float32" and r.passed, str(r)
    assert r.tolerances == Tolerances.for_dtype(np.float32)
    assert all(p.fd_mode == "skipped" and p.ad_fd is None for p in r.parameters)
    assert any("finite differences skipped: the parameters are float32" in n for n in r.notes)
    assert 1e-12 < r.worst("ad_cf") <= 1e-3  # float32 rounding, measured against float64
    assert [x.route for x in r.routes] == ["autodiff", "closed form"]


def test_float32_finite_differences_on_request_are_flagged() -> None:
    net = ng.nn.Network([3, 2], activation="tanh", cost="quadratic", seed=0, dtype=np.float32)
    X, Y = np.random.default_rng(0).standard_normal((4, 3)), np.zeros((4, 2))
    r = compare_gradients(net, X, Y, fd="full", repeats=1)
    assert any("finite differences in float32 are unreliable" in n for n in r.notes)
    assert all(p.fd_mode == "full" for p in r.parameters)


# ------------------------------------------------------------------ the report
@pytest.fixture(scope="module")
def report() -> GradientComparison:
    net, X, y = make_case([4, 5, 3], "sigmoid", "cross_entropy", "softmax", key=13)
    return compare_gradients(net, X, y, repeats=1)


def test_report_json_round_trips(report: GradientComparison) -> None:
    text = report.to_json()
    back = GradientComparison.from_json(text)
    assert back == report
    assert back.parameters[0].shape == report.parameters[0].shape == (3, 5)
    assert json.loads(text)["parameters"][0]["ad_fd"]["passed"] is True


def test_report_json_round_trips_a_failure_and_non_finite_numbers() -> None:
    net, X, Y = make_case([4, 6, 5, 3], "sigmoid", "quadratic", "sigmoid", key=5)
    r = compare_gradients(net, X, Y, equations=MissingTransposeBatch(), repeats=1)
    assert GradientComparison.from_json(r.to_json()) == r
    r.routes[0].seconds = float("inf")
    r.parameters[0].ad_fd.max_rel = float("nan")  # type: ignore[union-attr]
    text = r.to_json()  # strict JSON: no bare NaN / Infinity tokens
    assert "NaN" in text and json.loads(text)["routes"][0]["seconds"] == "Infinity"
    back = GradientComparison.from_json(text)
    assert back.routes[0].seconds == float("inf")
    assert np.isnan(back.parameters[0].ad_fd.max_rel)  # type: ignore[union-attr]


def test_report_table(report: GradientComparison) -> None:
    text = str(report)
    assert text.startswith("Three-way gradient check of Network(sizes=[4, 5, 3]")
    for needle in ("Per layer: autodiff vs closed form", "softmax    BP1",
                   "Per parameter: max rel error of each pair of routes", "W3     (3, 5)     BP4",
                   "Cost of each route", "finite differences 258 forward + 0 backward",
                   "FD needs 6·P = 258 forward passes for all P = 43 parameters",
                   "backprop needs 1 forward + 1 backward", "Result: PASSED"):
        assert needle in text, needle
    assert report.to_dict()["num_parameters"] == 43
    assert report.route("autodiff").forward_passes == 1 == report.route("autodiff").backward_passes


def test_report_speed_summary_for_the_notes_network() -> None:
    # [784, 30, 10]: P = 23,860; full FD would be 6·P forward passes.  Sampled here.
    net = ng.nn.Network([784, 30, 10], cost="cross_entropy", seed=0)
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(10, 784)), rng.integers(0, 10, 10)
    r = compare_gradients(net, X, y, n_samples=4, n_directions=1, repeats=1)
    assert r.passed, str(r)
    assert r.num_parameters == 23_860
    assert "FD needs 6·P = 143,160 forward passes for all P = 23,860 parameters" in r.speed_summary()
    assert r.route("finite differences").forward_passes == 6 * (5 + 5 + 5 + 5)


def test_report_lookups_refuse_unknown_names(report: GradientComparison) -> None:
    with pytest.raises(ConfigError, match=r"no route 'symbolic'; this report has autodiff, closed form"):
        report.route("symbolic")
    with pytest.raises(ConfigError, match=r"pair must be one of ad_cf, ad_fd, cf_fd, got 'ad'"):
        report.worst("ad")


# ------------------------------------------------------------ the model itself
def test_compare_leaves_the_model_untouched() -> None:
    net, X, Y = make_case([4, 5, 3], "tanh", "quadratic", "tanh", key=14)
    before = {k: v.copy() for k, v in net.state_dict().items()}
    compare_gradients(net, X, Y, fd="sampled", n_samples=3, repeats=1)
    compare_gradients(net, X, Y, repeats=1)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])  # bit for bit
    assert all(p.grad is None for p in net.parameters())


def test_a_model_the_closed_form_cannot_read_is_checked_by_two_routes() -> None:
    class TwoLayer:
        """Duck-typed: parameters and a cost, but no dense layers."""

        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.W = ng.Tensor(rng.standard_normal((3, 2)), requires_grad=True, name="W")
            self.v = ng.Tensor(rng.standard_normal(3), requires_grad=True, name="v")

        def named_parameters(self) -> list[tuple[str, ng.Tensor]]:
            return [("W", self.W), ("v", self.v)]

        def cost(self, X: Any, Y: Any) -> ng.Tensor:
            h = ng.tanh(ng.matmul(ng.Tensor(X), self.W.T))
            return ng.quadratic_cost(ng.reshape(ng.matmul(h, self.v), (-1, 1)), Y)

        def __repr__(self) -> str:
            return "TwoLayer()"

    X, Y = np.random.default_rng(1).standard_normal((5, 2)), np.zeros((5, 1))
    r = compare_gradients(TwoLayer(), X, Y, repeats=1)
    assert r.passed and r.worst("ad_fd") <= 1e-7, str(r)
    assert r.layers == [] and all(p.ad_cf is None for p in r.parameters)
    assert any(n.startswith("closed form not available: closed form: TwoLayer is not a dense")
               for n in r.notes)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"fd": "some"}, ConfigError, r"fd must be 'auto', 'full', 'sampled' or 'off', got 'some'"),
        ({"fd_order": 3}, ConfigError, r"fd_order must be 2, 4 or 6, got 3"),
        ({"eps": -1e-3}, ConfigError, r"eps must be a positive number, got -0.001"),
        ({"form": "rows"}, ConfigError, r"form must be 'batch' or 'example', got 'rows'"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], err: type, match: str) -> None:
    net = ng.nn.Network([2, 2], seed=0)
    with pytest.raises(err, match=match):
        compare_gradients(net, np.zeros((1, 2)), np.zeros((1, 2)), **kwargs)


def test_a_model_without_parameters() -> None:
    class Empty:
        def named_parameters(self) -> list[tuple[str, ng.Tensor]]:
            return []

    with pytest.raises(GradcheckError, match=r"Empty has no parameters to check"):
        compare_gradients(Empty(), np.zeros((1, 2)), np.zeros((1, 2)))


@pytest.mark.parametrize("order", [2, 4])
def test_other_stencil_orders(order: int) -> None:
    net, X, Y = make_case([4, 5, 3], "tanh", "quadratic", "sigmoid", key=15)
    r = compare_gradients(net, X, Y, fd_order=order, repeats=1)
    assert r.passed, str(r)
    assert r.route("finite differences").forward_passes == order * r.num_parameters
    assert r.tolerances.fd == (1e-4 if order == 2 else 1e-5)


def test_gradcheck_is_still_importable_from_check() -> None:
    assert gradcheck.__module__ == "nablagraph.check.gradcheck"
    assert numerical_grad.__module__ == "nablagraph.check.gradcheck"
    assert GradcheckReport.__name__ == "GradcheckReport" and InputCheck.__name__ == "InputCheck"
    assert ng.gradcheck is gradcheck


# ------------------------------------------------------------------ the example
def test_example_script_prints_the_three_way_table() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "autodiff_vs_backprop.py"),
         "--sizes", "6,5,3", "--batch", "8", "--seed", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Three-way gradient check of Network(sizes=[6, 5, 3]" in out
    assert "Per layer: autodiff vs closed form" in out and "Result: PASSED" in out
    assert "FD needs 6·P = 318 forward passes for all P = 53 parameters" in out
    assert "Injected bug (σ' returning σ):" in out and "first failing equation: BP2 at layer 2" in out


def test_example_script_rejects_bad_sizes() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "autodiff_vs_backprop.py"), "--sizes", "6,x"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert proc.returncode == 2
    assert "--sizes must be comma-separated positive integers, got '6,x'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_retained_deltas_of_a_network_are_the_closed_forms() -> None:
    """What users read from ``trace.deltas()`` after backward is the notes' δ^l / M."""
    net, X, y = make_case([4, 6, 5, 3], "tanh", "cross_entropy", "softmax", key=16)
    _, trace = net.forward_trace(X, retain_deltas=True)
    net.cost_from_trace(trace, y).backward()
    bp = ref.backprop(net, X, y)
    for l, delta in trace.deltas().items():
        np.testing.assert_allclose(len(X) * delta, bp.deltas[l], rtol=1e-12, atol=1e-15)
    net.zero_grad()
