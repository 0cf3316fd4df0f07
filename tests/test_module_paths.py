"""Split modules keep their import paths: every name ``nablagraph.nn.module`` (and the
other split modules) gave before still imports from there, as the same object, and a
pickle that names a class by its old module path still loads."""

from __future__ import annotations

import importlib
import pickle

import numpy as np
import pytest

import nablagraph as ng
from nablagraph.nn import dense, network

OLD_PATHS = {
    "nablagraph.nn.module": [
        "Module", "Dense", "Sequential", "Network", "Trace", "ACTIVATION_NAMES", "COST_NAMES",
        "COST_FUNCTIONS", "INIT_SCHEMES", "init_weights", "resolve_activation", "resolve_cost",
        "parameter_bytes", "as_numeric_array", "index_text", "ActivationFn",
    ],
    "nablagraph.nn.train": [
        "fit", "History", "DataError", "CheckpointStore", "use_checkpoint_store", "PathLike",
        "DIAGNOSTICS_EXAMPLES",
    ],
    "nablagraph.check.compare": [
        "compare_gradients", "GradientComparison", "LayerCheck", "ParameterCheck", "PairError",
        "RouteCost", "Tolerances", "STENCILS",
    ],
    "nablagraph.check.gradcheck": ["numerical_grad", "gradcheck", "GradcheckReport", "InputCheck"],
}


@pytest.mark.parametrize("path", sorted(OLD_PATHS))
def test_every_name_still_imports_from_its_old_module(path: str) -> None:
    mod = importlib.import_module(path)
    missing = [name for name in OLD_PATHS[path] if not hasattr(mod, name)]
    assert not missing, f"{path} lost {missing}"
    for name in OLD_PATHS[path]:
        if hasattr(ng.nn, name):
            assert getattr(mod, name) is getattr(ng.nn, name), f"{path}.{name} is another object"


def test_a_pickle_naming_the_old_module_path_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    # Pickle as the single-file nn/module.py did: its classes named nablagraph.nn.module.
    monkeypatch.setattr(network.Network, "__module__", "nablagraph.nn.module")
    monkeypatch.setattr(dense.Dense, "__module__", "nablagraph.nn.module")
    old = pickle.dumps(net)
    monkeypatch.undo()
    assert b"nablagraph.nn.module" in old and b"nablagraph.nn.network" not in old
    back = pickle.loads(old)
    assert type(back) is ng.nn.Network and repr(back) == repr(net)
    for (name, a), (_, b) in zip(back.named_parameters(), net.named_parameters()):
        assert np.array_equal(a.data, b.data), name
