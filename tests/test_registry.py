"""The op registry holds every fact about an op, and everything else reads it from there.

``missing_facts`` lists what an op lacks for its kind: every op a kind and a doc line;
an activation its Lipschitz bound, its user function, its place in the network's
activation names, and (elementwise ones) a closed-form σ' in :mod:`nablagraph.reference`
and :mod:`nablagraph.activations`; a cost its network cost name in the one cost table;
an op that has a note (the formula viz draws under its name) a short one-line one.
The completeness tests fail, naming the op and the fact, for any op that lacks one.
Then the facts are checked against the numbers (a wrong Lipschitz bound or a missing
kink fails), and the places that used to keep their own copies are checked to agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nablagraph import activations, functional, ops, reference
from nablagraph.check import finite_differences as fd
from nablagraph.nn import module
from nablagraph.ops import COSTS, KINDS, OPS, Op
from nablagraph.tensor import Tensor
from nablagraph.viz import to_dot
from nablagraph.viz.graph import is_cost
from nablagraph.viz.labels import escape

PKG = Path(__file__).resolve().parents[1] / "src" / "nablagraph"


def missing_facts(op: Op) -> list[str]:
    """What ``op`` lacks for its kind (empty when complete)."""
    miss: list[str] = []
    if op.kind not in KINDS:
        miss.append(f"kind (one of {', '.join(KINDS)}), got {op.kind!r}")
    if not op.doc:
        miss.append("a doc line")
    if op.kinks and op.smooth:
        miss.append("smooth=False (it has kinks)")
    if op.kind == "activation":
        if op.lipschitz is None or op.lipschitz <= 0:
            miss.append("lipschitz= (sup |σ'|)")
        if not callable(getattr(functional, op.name, None)):
            miss.append(f"a function nablagraph.functional.{op.name}")
        if op.name not in module.ACTIVATION_NAMES:
            miss.append("a place in nablagraph.nn.module.ACTIVATION_NAMES")
        if op.elementwise:
            if op.at_zero is None:
                miss.append("at_zero= (|σ(0)|)")
            if op.name not in reference.SIGMA_PRIMES:
                miss.append("a closed-form σ' in nablagraph.reference.SIGMA_PRIMES")
            if op.name not in activations.ACTIVATIONS:
                miss.append("(σ, σ') in nablagraph.activations.ACTIVATIONS")
    if op.kind == "cost":
        if op.cost not in COSTS:
            miss.append(f"cost= (one of {', '.join(COSTS)}), got {op.cost!r}")
        elif op.name not in COSTS[op.cost].ops:
            miss.append(f"a place in COSTS[{op.cost!r}].ops")
    elif op.cost is not None:
        miss.append(f"no cost= (kind is {op.kind!r})")
    if op.note is not None and (not op.note.strip() or "\n" in op.note or len(op.note) > 40):
        miss.append(f"note= a short one-line formula (or None), got {op.note!r}")
    return miss


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_every_fact_its_kind_needs(name: str) -> None:
    miss = missing_facts(OPS[name])
    assert not miss, f"op {name!r} in nablagraph.ops.OPS is missing: {'; '.join(miss)}"


def test_the_completeness_check_names_what_an_op_lacks() -> None:
    bare = Op("swish", np.tanh, lambda *a: a, "")
    assert missing_facts(bare)[:2] == [
        f"kind (one of {', '.join(KINDS)}), got None", "a doc line",
    ]
    act = Op("swish", np.tanh, lambda *a: a, "z σ(z)", kind="activation", elementwise=True)
    miss = missing_facts(act)
    assert "lipschitz= (sup |σ'|)" in miss and "at_zero= (|σ(0)|)" in miss
    assert "a closed-form σ' in nablagraph.reference.SIGMA_PRIMES" in miss
    assert "a function nablagraph.functional.swish" in miss
    cost = Op("hinge", np.maximum, lambda *a: a, "max(0, 1 − y a)", kind="cost", cost="hinge")
    assert missing_facts(cost) == [f"cost= (one of {', '.join(COSTS)}), got 'hinge'"]
    noted = Op("swap", np.flip, lambda *a: a, "x reversed", kind="shape", note="x\nreversed")
    assert missing_facts(noted) == ["note= a short one-line formula (or None), got 'x\\nreversed'"]


# ------------------------------------------------------------ the facts are true
ACTIVATION_OPS = {n: op for n, op in ops.activation_ops().items() if op.elementwise}
GRID = np.linspace(-30.0, 30.0, 600_001)  # step 1e-4, and 0 is on it


@pytest.mark.parametrize("name", sorted(ACTIVATION_OPS))
def test_an_activations_bounds_hold_and_are_tight(name: str) -> None:
    op = ACTIVATION_OPS[name]
    sigma, prime = activations.ACTIVATIONS[name]
    assert op.lipschitz is not None and op.at_zero is not None
    d = np.abs(prime(GRID))
    assert d.max() <= op.lipschitz * (1 + 1e-12) and d.max() >= 0.99 * op.lipschitz
    assert abs(sigma(np.array(0.0))) == pytest.approx(op.at_zero, abs=1e-15)
    a = np.abs(sigma(GRID))
    if op.bound is None:
        assert a.max() > 10, f"{name}: |σ| looks bounded; state bound="
    else:
        assert a.max() <= op.bound and a.max() >= 0.99 * op.bound


@pytest.mark.parametrize("name", sorted(ACTIVATION_OPS))
def test_an_activations_kinks_are_where_sigma_prime_jumps(name: str) -> None:
    op = ACTIVATION_OPS[name]
    _, prime = activations.ACTIVATIONS[name]
    jumps = np.abs(np.diff(prime(GRID))) > 1e-2
    where = set(np.round(GRID[:-1][jumps] + 5e-5, 3))
    assert where == {round(k, 3) for k in op.kinks}
    assert op.smooth == (not op.kinks)


def test_the_closed_form_sigma_primes_cover_the_registry_and_nothing_else() -> None:
    elementwise = set(ACTIVATION_OPS) | {"identity"}
    assert set(reference.SIGMA_PRIMES) == elementwise
    assert set(activations.ACTIVATIONS) == elementwise


# ------------------------------------------------------ the tables agree with it
def test_network_activation_names_come_from_the_registry() -> None:
    acts = ops.activation_ops()
    assert set(module.ACTIVATION_NAMES) == set(acts) | {"identity"}
    assert module.ACTIVATION_NAMES[-2:] == ("identity", "softmax")  # listed as before
    for name in module.ACTIVATION_NAMES:
        assert module.resolve_activation(name) == (name, getattr(functional, name))


def test_cost_names_come_from_the_one_cost_table() -> None:
    assert module.COST_NAMES == tuple(COSTS) == ("quadratic", "mse", "binary_cross_entropy", "cross_entropy")
    for c in COSTS.values():
        assert module.COST_FUNCTIONS[c.name] is getattr(functional, c.function)
        for alias in (c.name, *c.aliases, c.name.replace("_", "-").upper()):
            assert module.resolve_cost(alias) == c.name
        for name in c.ops:
            assert OPS[name].kind == "cost" and OPS[name].cost == c.name
    assert {n for c in COSTS.values() for n in c.ops} == {n for n, op in OPS.items() if op.kind == "cost"}


def test_viz_draws_exactly_the_cost_ops_as_costs() -> None:
    assert {n for n, op in OPS.items() if is_cost(op)} == ops.COST_OPS
    assert {"quadratic_cost", "mse_loss", "binary_cross_entropy",
                            "binary_cross_entropy_with_logits", "cross_entropy", "cross_entropy_index"} == ops.COST_OPS
    assert not is_cost(None) and not is_cost(OPS["sum"])


def test_viz_draws_each_ops_note_from_the_registry() -> None:
    assert {n: op.note for n, op in OPS.items() if op.note} == {
        "linear": "a Wᵀ + b", "mul": "Hadamard product", "matmul": "a @ b",
    }
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    W = Tensor(np.ones((4, 3)), requires_grad=True)
    source = to_dot((functional.linear(x, W) * 2.0).sum() + (x @ W.T).sum())
    for name in ("linear", "mul", "matmul"):
        assert f'<b>{name}</b><br/><font point-size="9">{escape(OPS[name].note or "")}</font>' in source


def test_finite_differences_read_kinks_and_lipschitz_from_the_registry() -> None:
    for name, op in ops.activation_ops().items():
        assert fd._kinked(name) == bool(op.kinks)
        assert fd._lipschitz(name) == op.lipschitz
    assert not fd._kinked("identity") and fd._lipschitz("identity") == 1.0
    assert fd._a_max("sigmoid", 100.0) == 1.0 and fd._a_max("tanh", 0.5) == 0.5
    assert fd._a_max("relu", 7.0) == 7.0 and fd._a_max("identity", 7.0) == 7.0


# ------------------------------------------------------------------ the layout
def test_ops_is_a_package_by_family_and_no_module_is_long() -> None:
    files = sorted(p.name for p in (PKG / "ops").glob("*.py"))
    assert files == ["__init__.py", "arithmetic.py", "costs.py", "elementwise.py",
                     "reductions.py", "registry.py", "shape.py"]
    for p in PKG.rglob("ops/*.py"):
        n = len(p.read_text(encoding="utf-8").splitlines())
        assert n <= 500, f"{p.name} has {n} lines"
    families = {f"nablagraph.ops.{f[:-3]}" for f in files} - {"nablagraph.ops.__init__",
                                                                "nablagraph.ops.registry"}
    for name, op in OPS.items():  # each op's VJP lives in its family's module
        assert op.vjp.__module__ in families, name


def test_the_names_other_modules_import_from_ops_still_exist() -> None:
    for name in ("OPS", "Op", "defop", "RAW", "sum_to", "shape_text", "IndexShapeError",
                 "SIGMOID", "LINEAR", "BCE_EPS", "PARALLEL_MIN", "_sigmoid", "_sigmoid_vjp",
                 "_quadratic_vjp", "_linear_vjp", "_check_finite", "check_nonnegative_targets",
                 "check_class_labels", "COST_OPS"):
        assert hasattr(ops, name), name


def test_the_add_an_activation_page_shows_the_real_softplus() -> None:
    """docs/adding-an-activation.md quotes the op block of ops/elementwise.py verbatim."""
    page = (PKG.parents[1] / "docs" / "adding-an-activation.md").read_text(encoding="utf-8")
    shown = page.split("# src/nablagraph/ops/elementwise.py\n", 1)[1].split("```", 1)[0]
    assert shown.strip() in (PKG / "ops" / "elementwise.py").read_text(encoding="utf-8")
    assert OPS["softplus"].kind == "activation" and "softplus" in module.ACTIVATION_NAMES
