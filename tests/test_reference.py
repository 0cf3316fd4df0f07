"""The closed-form reference BP1–BP4: its two forms, its δ^L table, its errors, its independence.

Nothing here uses the engine to decide what is right: the reference is checked by hand
computations, by the explicit softmax Jacobian, by finite differences of its own NumPy
cost, and by its two forms against each other.  (Autodiff against the reference is
tests/test_compare.py.)
"""

from __future__ import annotations

import ast
import itertools
import zlib
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from activation_lists import ACTIVATIONS, KINKED, bias_for_half
from nablagraph import reference as ref
from nablagraph.activations import sigmoid, sigmoid_prime, softmax
from nablagraph.errors import ConfigError, ShapeError
from nablagraph.reference import BackpropEquations, DenseParams, backprop

SRC = Path(ng.__file__).parent


def random_params(
    sizes: list[int], hidden: str, output: str, cost: str, rng: np.random.Generator
) -> DenseParams:
    layers = [
        (rng.standard_normal((n, m)) / np.sqrt(m), rng.standard_normal(n) * 0.5)
        for m, n in itertools.pairwise(sizes)
    ]
    if cost == "binary_cross_entropy" and output not in ("sigmoid", "softmax"):
        W, _ = layers[-1]  # keep a^L inside (0, 1), where the cost is defined
        layers[-1] = (W * 0.05, np.full(W.shape[0], bias_for_half(output)))
    acts = [hidden] * (len(sizes) - 2) + [output]
    return DenseParams.from_arrays(layers, acts, cost)


def targets(cost: str, n: int, M: int, rng: np.random.Generator) -> np.ndarray:
    if cost == "cross_entropy":
        return rng.integers(0, n, M)
    return rng.uniform(0.05, 0.95, (M, n))


def pairings(act: str) -> list[tuple[str, str]]:
    out = [("quadratic", act), ("mse", act), ("binary_cross_entropy", "sigmoid"),
           ("cross_entropy", "softmax"), ("quadratic", "softmax"), ("mse", "softmax"),
           ("binary_cross_entropy", "softmax")]
    if act != "sigmoid":
        out.append(("binary_cross_entropy", act))
    return out


def kink_margin(p: DenseParams, bp: ref.Backprop) -> float:
    """The smallest |z| of any ReLU-family neuron (inf when there are none)."""
    zs = [bp.zs[l] for l, _, _, name in p.layers() if name in KINKED]
    return min((float(np.abs(z).min()) for z in zs), default=float("inf"))


CASES = [
    (act, cost, out, depth)
    for act in ACTIVATIONS for cost, out in pairings(act) for depth in (2, 3, 4, 5)
]
SIZES = {2: [4, 3], 3: [4, 5, 3], 4: [4, 5, 4, 3], 5: [4, 5, 4, 6, 3]}


# ------------------------------------------------------------------ hand-computed
def test_one_neuron_by_hand() -> None:
    # a^2 = σ(w x + b), C = ½(a − y)²: δ = (a − y) σ'(z), ∂C/∂w = δ x, ∂C/∂b = δ.
    w, b, x, y = 0.7, -0.2, 1.5, 1.0
    p = DenseParams.from_arrays([(np.array([[w]]), np.array([b]))], ["sigmoid"], "quadratic")
    bp = backprop(p, [[x]], [[y]])
    z = w * x + b
    a = 1 / (1 + np.exp(-z))
    delta = (a - y) * a * (1 - a)
    assert bp.zs[2].item() == pytest.approx(z, rel=1e-15)
    assert bp.deltas[2].item() == pytest.approx(delta, rel=1e-14)
    assert bp.nabla_W[2].item() == pytest.approx(delta * x, rel=1e-14)
    assert bp.nabla_b[2].item() == pytest.approx(delta, rel=1e-14)
    assert bp.cost == pytest.approx(0.5 * (a - y) ** 2, rel=1e-14)


def test_two_layers_by_hand_including_the_transpose_in_bp2() -> None:
    # Identity activations make every quantity a small exact matrix product.
    W2 = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 1.0]])  # (3, 2): non-square
    b2 = np.array([0.5, 0.0, -1.0])
    W3 = np.array([[1.0, -1.0, 2.0]])  # (1, 3)
    b3 = np.array([0.25])
    p = DenseParams.from_arrays([(W2, b2), (W3, b3)], ["identity", "identity"], "quadratic")
    X = np.array([[1.0, 1.0], [2.0, -1.0]])
    Y = np.array([[0.0], [1.0]])
    bp = backprop(p, X, Y)
    z2 = X @ W2.T + b2
    z3 = z2 @ W3.T + b3
    d3 = z3 - Y  # BP1 with σ' = 1
    d2 = d3 @ W3  # BP2 in rows: ((w^3)ᵀ δ^3)ᵀ
    np.testing.assert_array_equal(bp.deltas[3], d3)
    np.testing.assert_array_equal(bp.deltas[2], d2)
    np.testing.assert_allclose(bp.nabla_W[3], d3.T @ z2 / 2, rtol=1e-15)
    np.testing.assert_allclose(bp.nabla_W[2], d2.T @ X / 2, rtol=1e-15)
    np.testing.assert_allclose(bp.nabla_b[2], d2.mean(axis=0), rtol=1e-15)
    assert set(bp.gradients()) == {"W2", "b2", "W3", "b3"}
    assert bp.gradients()["W3"] is bp.nabla_W[3]


# ---------------------------------------------------------------------- BP1 table
@pytest.mark.parametrize("axis", [0, 1])
def test_bp1_for_each_cost_and_output(axis: int) -> None:
    rng = np.random.default_rng(0)
    eq = BackpropEquations()
    z = rng.standard_normal((4, 3)) if axis == 1 else rng.standard_normal((3, 1))
    y = rng.uniform(size=z.shape)
    a = sigmoid(z)
    n = z.shape[axis]
    np.testing.assert_allclose(eq.bp1("quadratic", "sigmoid", z, a, y, axis), (a - y) * sigmoid_prime(z))
    np.testing.assert_allclose(eq.bp1("mse", "sigmoid", z, a, y, axis), 2 / n * (a - y) * sigmoid_prime(z))
    np.testing.assert_allclose(eq.bp1("binary_cross_entropy", "sigmoid", z, a, y, axis), a - y)
    np.testing.assert_allclose(
        eq.bp1("binary_cross_entropy", "identity", z, a, y, axis), (a - y) / (a * (1 - a))
    )
    s = softmax(z, axis=axis)
    onehot = np.eye(3)[rng.integers(0, 3, 4)] if axis == 1 else np.eye(3)[:, [1]]
    np.testing.assert_allclose(eq.bp1("cross_entropy", "softmax", z, s, onehot, axis), s - onehot)


def test_softmax_jacobian_of_bp1_matches_the_explicit_matrix() -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal(5)
    y = rng.uniform(size=5)
    a = softmax(z)
    J = np.diag(a) - np.outer(a, a)  # ∂a_j/∂z_k, symmetric
    delta = BackpropEquations().bp1("quadratic", "softmax", z[None], a[None], y[None], axis=1)
    np.testing.assert_allclose(delta[0], J.T @ (a - y), rtol=1e-13)


# ------------------------------------------- both forms, against finite differences
def _fd_of_reference(p: DenseParams, X: np.ndarray, Y: np.ndarray, eps: float = 1e-3) -> dict[str, np.ndarray]:
    """Four-point central differences of the reference's own NumPy cost."""
    out = {}
    arrays = {f"W{l}": W for l, W in zip(p.layer_numbers, p.weights)}
    arrays |= {f"b{l}": b for l, b in zip(p.layer_numbers, p.biases)}
    for name, arr in arrays.items():
        g = np.zeros(arr.shape)
        for j in np.ndindex(arr.shape):
            orig = arr[j]
            cs = []
            for k in (2, 1, -1, -2):
                arr[j] = orig + k * eps
                cs.append(backprop(p, X, Y).cost)
            arr[j] = orig
            g[j] = (-cs[0] + 8 * cs[1] - 8 * cs[2] + cs[3]) / (12 * eps)
        out[name] = g
    return out


@pytest.mark.parametrize(("act", "cost", "out", "depth"), CASES)
def test_both_forms_agree_and_match_finite_differences(act: str, cost: str, out: str, depth: int) -> None:
    sizes = SIZES[depth]
    for seed in range(50):  # the first seed whose sample keeps clear of ReLU kinks
        # seeded by the case itself, not its place in CASES: a new activation changes no draw
        rng = np.random.default_rng([zlib.crc32(f"{act}/{cost}/{out}/{depth}".encode()), seed])
        p = random_params(sizes, act, out, cost, rng)
        X = rng.standard_normal((6, sizes[0]))
        Y = targets(cost, sizes[-1], 6, rng)
        batch = backprop(p, X, Y, form="batch")
        if kink_margin(p, batch) > 2e-2:
            break
    example = backprop(p, X, Y, form="example")
    assert batch.form == "batch" and example.form == "example"
    for l in p.layer_numbers:
        np.testing.assert_allclose(example.zs[l], batch.zs[l], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(example.deltas[l], batch.deltas[l], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(example.nabla_W[l], batch.nabla_W[l], rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(example.nabla_b[l], batch.nabla_b[l], rtol=1e-11, atol=1e-14)
    assert example.cost == pytest.approx(batch.cost, rel=1e-14)
    # A ReLU kink within reach of the step (±2·1e-3·|a|) would break finite differences.
    assert kink_margin(p, batch) > 2e-2, "no sample kept clear of the ReLU kinks"
    num = _fd_of_reference(p, X, Y)
    for name, g in batch.gradients().items():
        scale = np.abs(g).max()
        err = np.abs(g - num[name]).max() / scale if scale else np.abs(num[name]).max()
        assert err < 1e-7, f"{name}: |closed form − FD| / max|∇| = {err:.2e}"


# ------------------------------------------------------------ the same arrays
def test_params_from_network_reads_the_models_own_arrays() -> None:
    net = ng.nn.Network([3, 4, 2], activation="tanh", cost="cross_entropy", seed=0)
    p = ref.params_from_network(net)
    assert p.weights[0] is net.layers[0].W.data and p.biases[1] is net.layers[1].b.data
    assert p.activations == ("tanh", "softmax") and p.cost == "cross_entropy"
    assert p.sizes == [3, 4, 2] and p.L == 3 and list(p.layer_numbers) == [2, 3]
    bp_net, bp_p = backprop(net, np.ones((2, 3)), [0, 1]), backprop(p, np.ones((2, 3)), [0, 1])
    np.testing.assert_array_equal(bp_net.nabla_W[2], bp_p.nabla_W[2])


def test_cross_entropy_labels_and_one_hot_targets_agree() -> None:
    rng = np.random.default_rng(3)
    p = random_params([3, 4, 3], "tanh", "softmax", "cross_entropy", rng)
    X, labels = rng.standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    a, b = backprop(p, X, labels), backprop(p, X, np.eye(3)[labels])
    np.testing.assert_array_equal(a.nabla_W[2], b.nabla_W[2])


# ----------------------------------------------------------- derivative table
def test_equations_use_the_derivative_table_they_are_given() -> None:
    rng = np.random.default_rng(4)
    p = random_params([3, 4, 2], "sigmoid", "sigmoid", "quadratic", rng)
    X, Y = rng.standard_normal((5, 3)), rng.uniform(size=(5, 2))
    wrong = BackpropEquations({**ref.SIGMA_PRIMES, "sigmoid": sigmoid})  # σ instead of σ'
    good, bad = backprop(p, X, Y), backprop(p, X, Y, equations=wrong)
    a3, y = good.activations[3], Y
    np.testing.assert_allclose(bad.deltas[3], (a3 - y) * sigmoid(good.zs[3]))
    assert not np.allclose(bad.deltas[3], good.deltas[3])
    assert ref.SIGMA_PRIMES["sigmoid"] is sigmoid_prime  # the table itself is untouched


def test_a_missing_derivative_names_the_activation() -> None:
    p = random_params([3, 4, 2], "tanh", "tanh", "quadratic", np.random.default_rng(0))
    eq = BackpropEquations({"sigmoid": sigmoid_prime})
    with pytest.raises(ConfigError, match=r"no σ' for activation 'tanh'.*has sigmoid"):
        backprop(p, np.ones((1, 3)), np.ones((1, 2)), equations=eq)


def test_an_error_inside_an_equation_names_the_equation_and_layer() -> None:
    class NoTranspose(BackpropEquations):
        def bp2_batch(self, W_next, Delta_next, Z, name):  # type: ignore[no-untyped-def]
            return (Delta_next @ W_next.T) * self.sigma_prime(name, Z)

    p = random_params([3, 4, 5, 2], "tanh", "tanh", "quadratic", np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"^closed form: BP2 at layer 3 failed: .*matmul") as info:
        backprop(p, np.ones((2, 3)), np.ones((2, 2)), equations=NoTranspose())
    assert ref.failed_stage(info.value) == ("BP2", 3)
    assert isinstance(info.value.__cause__, ValueError)
    assert ref.failed_stage(ValueError("something else")) is None


# ------------------------------------------------------------------------ errors
def test_cross_entropy_without_softmax_names_the_pairing() -> None:
    with pytest.raises(ConfigError, match=r"pairing cost 'cross_entropy' \+ output activation 'sigmoid'"):
        DenseParams.from_arrays([(np.ones((2, 2)), np.zeros(2))], ["sigmoid"], "cross_entropy")


def test_softmax_in_a_hidden_layer_is_refused() -> None:
    layers = [(np.ones((3, 2)), np.zeros(3)), (np.ones((2, 3)), np.zeros(2))]
    with pytest.raises(ConfigError, match=r"softmax in hidden layer 2 is not supported: BP2"):
        DenseParams.from_arrays(layers, ["softmax", "sigmoid"], "quadratic")


@pytest.mark.parametrize(
    ("layers", "acts", "cost", "err", "match"),
    [
        ([(np.ones((2, 2)), np.zeros(2))], ["swish"], "quadratic", ConfigError,
         r"layer 2 has activation 'swish'.*expected one of sigmoid"),
        ([(np.ones((2, 2)), np.zeros(2))], ["sigmoid"], "hinge", ConfigError,
         r"unknown cost 'hinge'; expected one of quadratic"),
        ([(np.ones((2, 2)), np.zeros(3))], ["sigmoid"], "quadratic", ShapeError,
         r"b2 has shape \(3,\), expected \(2,\) to match W2 of shape \(2, 2\)"),
        ([(np.ones((3, 2)), np.zeros(3)), (np.ones((2, 4)), np.zeros(2))], ["sigmoid"] * 2,
         "quadratic", ShapeError, r"W3 has shape \(2, 4\) but layer 2 has 3 neurons; expected \(2, 3\)"),
        ([(np.ones(2), np.zeros(2))], ["sigmoid"], "quadratic", ShapeError, r"W2 must be 2-D"),
        ([], [], "quadratic", ConfigError, r"got 0 weights, 0 biases and 0 activations"),
    ],
)
def test_bad_parameters_are_refused_with_what_was_expected(
    layers: list, acts: list[str], cost: str, err: type, match: str
) -> None:
    with pytest.raises(err, match=match):
        DenseParams.from_arrays(layers, acts, cost)


def test_bad_batches_are_refused() -> None:
    p = DenseParams.from_arrays([(np.ones((2, 3)), np.zeros(2))], ["softmax"], "cross_entropy")
    with pytest.raises(ShapeError, match=r"input has shape \(4,\), expected \(M, 3\)"):
        backprop(p, np.ones(4), [0])
    with pytest.raises(ShapeError, match=r"class labels must be in \[0, 1\], got values in \[0, 2\]"):
        backprop(p, np.ones((2, 3)), np.array([0, 2]))
    with pytest.raises(ShapeError, match=r"class labels have shape \(3,\), expected \(2,\)"):
        backprop(p, np.ones((2, 3)), np.array([0, 1, 1]))
    with pytest.raises(ShapeError, match=r"targets have shape \(2, 3\), expected \(2, 2\)"):
        backprop(p, np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ConfigError, match=r"form must be 'batch' or 'example', got 'rows'"):
        backprop(p, np.ones((2, 3)), [0, 1], form="rows")


def test_params_from_something_that_is_not_a_network() -> None:
    with pytest.raises(ConfigError, match=r"object is not a dense network: expected attributes \.layers"):
        ref.params_from_network(object())

    class Odd:
        layers = (object(),)
        cost_name = "quadratic"

    with pytest.raises(ConfigError, match=r"layer 0 \(object\) of Odd is not a dense layer"):
        ref.params_from_network(Odd())


# ---------------------------------------------------------------- independence
def _imports(path: Path) -> set[str]:
    """The modules a file imports, or every file of a package (a folder)."""
    names = set()
    for f in sorted(path.glob("*.py")) if path.is_dir() else [path]:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module == "nablagraph":
                names |= {f"nablagraph.{a.name}" for a in node.names}  # from nablagraph import engine
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("reference", {"nablagraph.activations", "nablagraph.errors", "nablagraph.reference.equations",
                       "nablagraph.reference.params", "nablagraph.reference.forms"}),
        ("diagnostics.py", {"nablagraph.engine", "nablagraph.activations", "nablagraph.errors",
                            "nablagraph._tensor"}),
        ("check/compare.py", {"nablagraph.engine", "nablagraph.reference", "nablagraph.errors",
                              "nablagraph._tensor", "nablagraph.check.report",
                              "nablagraph.check.finite_differences", "nablagraph.check.diagnosis",
                              "nablagraph.check.model"}),
        # any model: the cost table (functional) and the closed form's checks (reference)
        ("check/model.py", {"nablagraph.functional", "nablagraph.reference", "nablagraph.errors",
                            "nablagraph._tensor", "nablagraph.check.report", "nablagraph.check.chain"}),
        ("check/chain.py", {"nablagraph.errors", "nablagraph._tensor"}),
        ("check/diagnosis.py", {"nablagraph.reference", "nablagraph.check.report"}),
        # functional only for activation_op: the registry's facts (kinks, Lipschitz bounds)
        ("check/finite_differences.py", {"nablagraph._tensor", "nablagraph.check.report",
                                         "nablagraph.functional"}),
        ("check/report.py", {"nablagraph.errors"}),
        ("check/gradcheck.py", {"nablagraph.engine", "nablagraph.errors", "nablagraph._tensor"}),
    ],
)
def test_import_direction(module: str, allowed: set[str]) -> None:
    ours = {m for m in _imports(SRC / module) if m.startswith("nablagraph")}
    assert ours <= allowed, f"{module} imports {sorted(ours - allowed)}"


def test_reference_imports_nothing_from_the_engine() -> None:
    ours = {m for m in _imports(SRC / "reference") if m.startswith("nablagraph")}
    forbidden = {"nablagraph.engine", "nablagraph.tensor", "nablagraph._tensor", "nablagraph.ops",
                 "nablagraph.functional", "nablagraph.nn"}
    assert not ours & forbidden
    assert ours, "the parser found no nablagraph imports at all"


def test_every_case_is_distinct() -> None:
    n = len(ACTIVATIONS)  # 7 pairings each, and BCE at its own output for all but sigmoid
    assert len(set(CASES)) == len(CASES) and len(CASES) == n * 4 * 7 + (n - 1) * 4
    assert n >= 6 and {"sigmoid", "softplus", "identity"} <= set(ACTIVATIONS)
    assert {c[0] for c in CASES} == set(ACTIVATIONS)
    assert set(itertools.chain.from_iterable(pairings(a) for a in ACTIVATIONS)) >= {
        ("quadratic", "relu"), ("binary_cross_entropy", "tanh"), ("cross_entropy", "softmax")
    }
