"""check_backprop: a user's own backprop against autodiff, every injected mistake named.

The student's code (``tests/textbook_backprop.py``) is written for these tests from the
notes' equations; each mistake is injected there and must be caught, its failing
equation and its mistake named, in the textbook form and in the vectorised one.  The
reference route is checked independently against finite differences.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nablagraph as ng
from nablagraph.check import hypotheses as hyp
from nablagraph.check.user_code import make_params
from nablagraph.check.yours import _autodiff, _Equivalent
from textbook_backprop import BATCH_MISTAKES, MISTAKES, StudentNet, student_grads, student_net

ROOT = Path(__file__).resolve().parent.parent
SIZES = [3, 4, 4, 4]  # square hidden layers: a missing BP2 transpose gives numbers, not an error
BACKPROP_MISTAKES = {k: v for k, v in MISTAKES.items() if not k.startswith("update")}


# ------------------------------------------------------------ correct code passes
@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_a_correct_textbook_backprop_passes_at_1e_7(cost: str) -> None:
    rep = ng.check_backprop(student_net(SIZES, cost=cost), cost=cost)
    assert rep.passed, str(rep)
    assert rep.max_rel <= 1e-7
    assert rep.failing_equation == "" and rep.mistake == ""
    # and the reference it passed against agrees with finite differences of the cost
    assert rep.autodiff_vs_fd is not None and rep.autodiff_vs_fd <= 1e-7
    assert rep.yours_vs_fd is not None and rep.yours_vs_fd <= 1e-7
    assert {c.equation for c in rep.checks} == {"BP3", "BP4", "update"}


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
@pytest.mark.parametrize("style", ["dict", "lists"])
def test_a_correct_vectorised_backprop_passes_at_1e_7(cost: str, style: str) -> None:
    inner = student_grads(cost=cost)

    def grads(params: Any, X: np.ndarray, Y: np.ndarray) -> Any:
        if style == "dict":
            return inner(params, X, Y)
        weights, biases = params
        d = inner({f"{k}{i + 2}": v for i, (w, b) in enumerate(zip(weights, biases))
                   for k, v in (("W", w), ("b", b))}, X, Y)
        L = len(weights) + 1  # a pair of lists, weights first, biases as columns
        return [d[f"W{l}"] for l in range(2, L + 1)], [d[f"b{l}"].reshape(-1, 1) for l in range(2, L + 1)]

    rep = ng.check_backprop(grads, sizes=SIZES, cost=cost, params=style)
    assert rep.passed, str(rep)
    assert rep.max_rel <= 1e-7


def test_the_reference_route_matches_finite_differences_per_example() -> None:
    # Autodiff's per-example gradients, independently: central differences of C_m.
    rng = np.random.default_rng(3)
    net = make_params([3, 4, 2], rng)
    X, Y = rng.standard_normal((2, 3)), rng.uniform(size=(2, 2))
    model = _Equivalent(net, "cross_entropy")
    g = _autodiff(model, X, Y)
    for m in range(2):
        for i, p in enumerate(model.W):
            num = ng.numerical_grad(lambda t, i=i, m=m: _cost_with(model, i, t, X[m:m + 1], Y[m:m + 1]),
                                    [ng.Tensor(p.data.copy())])[0]
            np.testing.assert_allclose(g.nabla_w[i][m], num, rtol=1e-6, atol=1e-9)
    # and the hypotheses' own closed form, with no mistake, is the same gradient
    clean = hyp.backprop_with(net.weights, net.biases, X, Y, "cross_entropy")
    for a, b in zip(clean.nabla_w + clean.nabla_b, g.nabla_w + g.nabla_b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("cost", "network_cost"), [("quadratic", "quadratic"),
                                                   ("cross_entropy", "binary_cross_entropy")])
def test_the_reference_is_the_library_network_with_the_same_weights(cost: str, network_cost: str) -> None:
    # The check's autodiff route (built from tensors: check sits below nn) against an
    # ng.nn.Network given the same weights: the same batch gradient.
    rng = np.random.default_rng(5)
    net = make_params([3, 4, 2], rng)
    X, Y = rng.standard_normal((6, 3)), rng.uniform(size=(6, 2))
    mb, mw = _autodiff(_Equivalent(net, cost), X, Y).mean()
    lib = ng.nn.Network([3, 4, 2], cost=network_cost, output_activation="sigmoid", seed=0)
    for layer, w, b in zip(lib.layers, net.weights, net.biases):
        layer.W.data[...], layer.b.data[...] = w, b
    lib.cost(X, Y).backward()
    for layer, gb, gw in zip(lib.layers, mb, mw):
        np.testing.assert_allclose(layer.W.grad.data, gw, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.b.grad.data, gb, rtol=1e-12, atol=1e-15)


def _cost_with(model: _Equivalent, i: int, W: ng.Tensor, X: np.ndarray, Y: np.ndarray) -> ng.Tensor:
    saved = model.W[i]
    model.W[i] = W
    try:
        return model.cost(X, Y)
    finally:
        model.W[i] = saved


# ------------------------------------------------------ every mistake is named
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_in_the_textbook_form_is_caught_and_named(mistake: str) -> None:
    equation, words = MISTAKES[mistake]
    rep = ng.check_backprop(student_net(SIZES, mistake))
    assert not rep.passed
    assert rep.failing_equation == equation, rep.diagnosis
    assert words in rep.mistake, rep.diagnosis
    assert words in str(rep) and "FAILED" in str(rep)
    if not mistake.startswith("update"):  # finite differences break the tie against the student
        assert rep.autodiff_vs_fd is not None and rep.autodiff_vs_fd < 1e-7
        assert rep.yours_vs_fd is None or rep.yours_vs_fd > 1e-3
        assert "side with autodiff" in rep.diagnosis


@pytest.mark.parametrize("mistake", sorted({**BACKPROP_MISTAKES, **BATCH_MISTAKES}))
def test_each_mistake_in_the_vectorised_form_is_caught_and_named(mistake: str) -> None:
    equation, words = {**BACKPROP_MISTAKES, **BATCH_MISTAKES}[mistake]
    rep = ng.check_backprop(student_grads(mistake), sizes=SIZES)
    assert not rep.passed
    assert rep.failing_equation == (equation or "mean"), rep.diagnosis
    assert words in rep.mistake, rep.diagnosis


@pytest.mark.parametrize(("mistake", "layer", "where"), [
    ("bp1_no_sigma_prime", 4, "BP1 at the output layer L = 4"),
    ("bp2_no_sigma_prime", 3, "BP2 at every hidden layer"),
    ("bp4_wrong_activation", 4, "BP4 at every layer"),
])
def test_the_layer_and_the_place_are_named(mistake: str, layer: int, where: str) -> None:
    rep = ng.check_backprop(student_net(SIZES, mistake))
    assert rep.failing_layer == layer
    assert rep.mistake_where == where


def test_a_mistake_at_one_layer_only_is_placed_at_that_layer() -> None:
    inner = student_grads()

    def grads(p: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
        out = inner(p, X, Y)
        a2 = 1 / (1 + np.exp(-(X @ p["W2"].T + p["b2"])))
        a3 = 1 / (1 + np.exp(-(a2 @ p["W3"].T + p["b3"])))
        out["W3"] = _delta(p, X, Y, 3).T @ a3 / len(X)  # BP4 at layer 3 with a^3 for a^2
        return out

    rep = ng.check_backprop(grads, sizes=SIZES)
    assert rep.failing_equation == "BP4" and rep.failing_layer == 3
    assert rep.mistake_where == "BP4 at layer 3"
    assert [c.quantity for c in rep.checks if not c.passed] == ["∇w^3"]


def _delta(p: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, layer: int) -> np.ndarray:
    g = hyp.backprop_with([p["W2"], p["W3"], p["W4"]], [p["b2"], p["b3"], p["b4"]], X, Y, "quadratic")
    return g.deltas[layer - 2]


def test_cross_entropy_with_the_quadratic_delta_is_named() -> None:
    net = student_net(SIZES, cost="quadratic")  # δ^L = (a − y) σ'(z) ...
    rep = ng.check_backprop(net, cost="cross_entropy")  # ... checked as cross-entropy
    assert rep.failing_equation == "BP1"
    assert "an extra σ'(z^L)" in rep.mistake


def test_two_mistakes_at_once_name_the_first_and_say_there_may_be_a_second() -> None:
    class Two(StudentNet):
        def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
            nb, nw = super().backprop(x, y)
            nw[0] = nw[0] * 2.0  # a second, unrelated bug at layer 2
            return nb, nw

    net = Two(SIZES)
    net.mistake = "bp1_no_sigma_prime"
    rep = ng.check_backprop(net)
    assert rep.failing_equation == "BP1"
    assert "σ' is missing" in rep.mistake
    assert "there may be a second mistake" in rep.diagnosis


def test_user_deltas_sharpen_the_diagnosis_to_the_delta_itself() -> None:
    bad = student_grads("bp2_no_sigma_prime")

    def deltas(p: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray) -> list[np.ndarray]:
        # the student's δ^l: ∇b^l of each example alone, stacked as rows
        return [np.stack([bad(p, X[m:m + 1], Y[m:m + 1])[f"b{l}"] for m in range(len(X))])
                for l in (2, 3, 4)]

    rep = ng.check_backprop(bad, sizes=SIZES, deltas=deltas)
    first = next(c for c in rep.checks if not c.passed)
    assert first.quantity == "δ^3" and first.equation == "BP2"
    assert rep.failing_equation == "BP2" and rep.failing_layer == 3
    assert "σ' is missing" in rep.mistake


def test_textbook_deltas_from_a_function_place_a_bp2_mistake_at_its_delta() -> None:
    net = student_net(SIZES, "bp2_sigma_prime_of_a")
    rep = ng.check_backprop(net, deltas=lambda x, y: net.backprop(x, y)[0])  # δ^l = ∇b^l per example
    first = next(c for c in rep.checks if not c.passed)
    assert (first.quantity, first.equation) == ("δ^3", "BP2")
    assert rep.failing_equation == "BP2" and "σ' is evaluated at a instead of z" in rep.mistake


def test_a_textbook_backprop_may_return_its_deltas_as_a_third_list() -> None:
    class WithDeltas(StudentNet):
        def backprop(self, x: np.ndarray, y: np.ndarray) -> Any:
            nb, nw = super().backprop(x, y)
            return nb, nw, [d.copy() for d in nb]

    rep = ng.check_backprop(WithDeltas(SIZES))
    assert rep.passed
    assert [c.quantity for c in rep.checks[:3]] == ["δ^4", "∇b^4", "∇w^4"]


def test_code_that_raises_is_reported_with_its_line_and_the_likely_transpose() -> None:
    rep = ng.check_backprop(student_net([3, 5, 2], "bp2_no_transpose"))  # (2,5) @ (2,1): raises
    assert not rep.passed
    assert rep.error.startswith("ValueError: matmul")
    assert "textbook_backprop.py line" in rep.diagnosis
    assert "missing transpose" in rep.diagnosis
    assert json.loads(rep.to_json())["error"] == rep.error
    text = str(rep)  # nothing was compared: no empty table, straight to the verdict
    assert "quantity" not in text and "\n\nFAILED: your code raised ValueError" in text


# ------------------------------------------------------------- the report itself
def test_report_as_table_dict_and_json() -> None:
    rep = ng.check_backprop(student_grads("wrong_sign"), sizes=[2, 3, 1])
    d = rep.to_dict()
    assert d["passed"] is False and d["failing_equation"] == "BP1"
    assert json.loads(rep.to_json())["mistake"] == rep.mistake
    assert [c["quantity"] for c in d["checks"]] == ["∇b^3", "∇w^3", "∇b^2", "∇w^2"]
    text = str(rep)
    assert "quantity  equation" in text and "FAIL" in text and "wrong sign" in text
    assert d["hypotheses_tested"] >= 10


def test_the_update_check_leaves_the_network_as_it_was() -> None:
    net = student_net(SIZES)
    W = [w.copy() for w in net.weights]
    B = [b.copy() for b in net.biases]
    ng.check_backprop(net)
    assert all(np.array_equal(a, b) for a, b in zip(W, net.weights))
    assert all(np.array_equal(a, b) for a, b in zip(B, net.biases))


def test_a_class_is_built_from_sizes() -> None:
    rep = ng.check_backprop(StudentNet, sizes=[2, 3, 2])
    assert rep.passed and rep.sizes == [2, 3, 2] and rep.model == "StudentNet"


@settings(max_examples=8, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 1000))
def test_any_network_correct_passes_and_a_sign_error_is_caught(sizes: list[int], seed: int) -> None:
    assert ng.check_backprop(student_grads(), sizes=sizes, seed=seed, fd="off").passed
    rep = ng.check_backprop(student_grads("wrong_sign"), sizes=sizes, seed=seed, fd="off")
    assert not rep.passed and "wrong sign" in rep.mistake


# ------------------------------------------------------------------ bad inputs
def test_wrong_structure_and_shapes_raise_typed_errors() -> None:
    class OneList(StudentNet):
        def backprop(self, x: np.ndarray, y: np.ndarray) -> Any:
            return super().backprop(x, y)[1]

    with pytest.raises(ng.GradcheckError, match=r"backprop\(x, y\) returned a list of 3 arrays; expected the pair "
                       r"\(nabla_b, nabla_w\): two lists with one array per weighted layer \(3\)"):
        ng.check_backprop(OneList(SIZES))
    net = student_net(SIZES)
    net.weights[1] = np.zeros((4, 5))
    with pytest.raises(ng.ShapeError, match=r"weights\[1\] \(w\^3\) has shape \(4, 5\); sizes \[3, 4, 4, 4\] need \(4, 4\)"):
        ng.check_backprop(net)
    with pytest.raises(ng.ConfigError, match=r"cost must be 'quadratic' or 'cross_entropy', got 'hinge'"):
        ng.check_backprop(student_net(SIZES), cost="hinge")
    with pytest.raises(ng.ConfigError, match=r"StudentNet is a class; pass sizes="):
        ng.check_backprop(StudentNet)
    with pytest.raises(ng.GradcheckError, match=r"^check_backprop: nabla_w\[0\] is NoneType, not an array of numbers$"):
        ng.check_backprop(lambda p, X, Y: {"W2": None, "b2": np.zeros(3)}, sizes=[2, 3])
    with pytest.raises(ng.GradcheckError, match=r"returned a dict with keys \['w1'\]; expected W2 and b2 "
                       r"\(or dW2, db2, \.\.\.\), missing 'b2'"):
        ng.check_backprop(lambda p, X, Y: {"w1": 1}, sizes=[2, 3])
    with pytest.raises(ng.ConfigError, match=r"X must be \(M, 2\) and Y \(M, 3\) for sizes \[2, 3\], one example "
                       r"per row; got \(4, 5\) and \(4, 3\)"):
        ng.check_backprop(lambda p, X, Y: p, sizes=[2, 3], X=np.zeros((4, 5)))


def test_a_vectorised_function_that_raises_is_reported_not_propagated() -> None:
    rep = ng.check_backprop(lambda p, X, Y: X @ p["W2"], sizes=[2, 3])
    assert not rep.passed and rep.error.startswith("ValueError")
    assert "missing transpose" in rep.diagnosis and "test_check_backprop.py line" in rep.diagnosis


# ----------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nablagraph", "check", *args],
                          capture_output=True, text=True, timeout=300)


def _user_file(tmp_path: Path, mistake: str | None) -> Path:
    src = (ROOT / "tests" / "textbook_backprop.py").read_text(encoding="utf-8")
    f = tmp_path / "mine.py"
    f.write_text(src + f"\n\nclass Mine(StudentNet):\n    mistake = {mistake!r}\n", encoding="utf-8")
    return f


def test_cli_passes_fails_and_explains(tmp_path: Path) -> None:
    f = _user_file(tmp_path, None)
    ok = _cli("--backprop", f"{f}:Mine", "--sizes", "3,4,2")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "PASSED" in ok.stdout
    f = _user_file(tmp_path, "bp2_sigma_prime_of_a")
    bad = _cli("--backprop", f"{f}:Mine", "--sizes", "3,4,2", "--json")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    d = json.loads(bad.stdout)
    assert d["failing_equation"] == "BP2" and "σ' is evaluated at a instead of z" in d["mistake"]


def test_cli_help_says_the_file_is_run() -> None:
    out = " ".join(_cli("--help").stdout.split())
    assert "runs FILE.py" in out and "--backprop" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--backprop", "{dir}/absent.py:Net"], r"the file '.*absent.py' does not exist"),
    (["--backprop", "{dir}/mine.txt:Net"], r"is not a Python file \(.py\)"),
    (["--backprop", "{dir}/mine.py"], r"expected path/to/file.py:Name"),
    (["--backprop", "{dir}/mine.py:Nope", "--sizes", "3,4,2"], r"defines no 'Nope'; it defines .*Mine"),
    (["--backprop", "{dir}/mine.py:Mine"], r"Mine is a class; give --sizes"),
    (["2,3,1", "--backprop", "{dir}/mine.py:Mine"], r"either a model \(2,3,1\) or --backprop, not both"),
    (["--backprop", "{dir}/mine.py:Mine", "--sizes", "3,4,2", "--cost", "mse"], r"must be quadratic or cross_entropy"),
    ([], r"give a model .* or --backprop FILE.py:NAME"),
])
def test_cli_bad_inputs_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    _user_file(tmp_path, None)
    proc = _cli(*[a.format(dir=tmp_path) for a in args])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(message, proc.stderr.strip().splitlines()[-1]), proc.stderr


# ------------------------------------------------------------------- example
def test_the_example_walks_through_two_bugs_to_a_pass() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "debug_your_backprop.py")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "-> failing equation: BP2 at layer 3" in out
    assert "-> likely mistake: σ' is evaluated at a instead of z" in out
    assert "-> failing equation: update" in out
    assert "swapped in the update rule (the notes' own typo)" in out
    assert "-> passed: True" in out
