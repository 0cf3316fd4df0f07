"""Bad targets, bad inputs and bad model sizes are refused before training, with typed
errors that name the row, column or size at fault; models too large for the memory
available are refused before anything is allocated.

No test allocates a large array: the memory available is monkeypatched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import _memory
from nablagraph.nn import Dense, Network, fit
from nablagraph.nn import dense as dense_mod  # Dense calls init_weights from there
from nablagraph.nn.module import parameter_bytes

X4 = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y4 = np.array([0, 1, 1, 0])


def _fit(net: Network, X: Any = X4, Y: Any = Y4, **kw: Any) -> ng.nn.History:
    return fit(net, X, Y, epochs=1, batch_size=2, verbose=False, **kw)


def _untouched(net: Network, before: dict[str, np.ndarray]) -> None:
    for k, v in before.items():
        np.testing.assert_array_equal(net.state_dict()[k], v)


# ------------------------------------------------------------------ targets in fit
Y_INF = np.array([[0.0], [np.inf], [1.0], [0.0]])


@pytest.mark.parametrize("cost", ["quadratic", "mse"])
def test_inf_targets_are_a_label_error_naming_row_and_column_not_a_learning_rate(cost: str) -> None:
    net = Network([2, 3, 1], cost=cost, seed=0)
    before = net.state_dict()
    with pytest.raises(ng.LabelError, match=re.escape(
        "fit: Y contains infinite values (1 of 4 values, first at row 1, column 0: inf); "
        "targets must be finite"
    )):
        _fit(net, Y=Y_INF)
    _untouched(net, before)


@pytest.mark.parametrize(
    ("Yv", "shown"),
    [(Y_INF, "infinite values (1 of 4 values, first at row 1, column 0: inf)"),
     (np.array([[0.0], [1.0], [-np.inf], [np.nan]]), "NaN and infinite values (2 of 4 values, first at row 2, column 0: -inf)")],
)
def test_non_finite_validation_targets_are_refused_before_training(Yv: np.ndarray, shown: str) -> None:
    net = Network([2, 3, 1], seed=0)
    before = net.state_dict()
    with pytest.raises(ng.LabelError, match=re.escape(f"fit: validation Y contains {shown}; targets must be finite")):
        _fit(net, validation_data=(X4, Yv))
    _untouched(net, before)


def test_non_finite_inputs_name_row_and_column_in_x_and_validation_x() -> None:
    X = X4.copy()
    X[3, 1] = -np.inf
    with pytest.raises(ng.DataError, match=re.escape(
        "fit: X contains infinite values (1 of 8 values, first at row 3, column 1: -inf); clean or impute"
    )):
        _fit(Network([2, 3, 1], seed=0), X=X)
    with pytest.raises(ng.DataError, match=re.escape(
        "fit: validation X contains infinite values (1 of 8 values, first at row 3, column 1: -inf)"
    )):
        _fit(Network([2, 3, 1], seed=0), validation_data=(X, Y4))


def test_a_finite_sum_that_overflows_is_not_mistaken_for_inf() -> None:
    X = np.full((4, 2), 1e308)
    h = _fit(Network([2, 3, 1], activation="tanh", output_activation="sigmoid", seed=0), X=X)
    assert np.isfinite(h.train_cost[0])


@pytest.mark.parametrize("where", ["Y", "validation Y"])
def test_negative_cross_entropy_targets_are_refused_with_row_and_column(where: str) -> None:
    net = Network([2, 3, 2], cost="cross_entropy", seed=0)
    Y = np.array([[1.0, 0.0], [0.0, 1.0], [1.5, -0.5], [1.0, 0.0]])
    kw = {"Y": Y} if where == "Y" else {"validation_data": (X4, Y)}
    before = net.state_dict()
    with pytest.raises(ng.LabelError, match=re.escape(
        f"fit: {where} holds -0.5 at row 2, column 1 (1 of 8 values negative); cross_entropy "
        "targets must be non-negative"
    )):
        _fit(net, **kw)
    _untouched(net, before)


def test_unnormalised_non_negative_cross_entropy_targets_are_accepted() -> None:
    # C = -Σ y_j ln p_j is bounded below for y ≥ 0 whatever Σ y_j (as PyTorch accepts).
    net = Network([2, 3, 2], cost="cross_entropy", seed=0)
    Y = np.array([[2.0, 0.0], [0.0, 1.0], [0.5, 1.5], [0.0, 0.0]])
    h = _fit(net, Y=Y)
    assert np.isfinite(h.train_cost[0]) and h.train_cost[0] >= 0


def test_negative_targets_no_longer_train_to_a_negative_cost() -> None:
    z = ng.Tensor(np.zeros((1, 2)), requires_grad=True)
    with pytest.raises(ng.LabelError, match=re.escape(
        "cross_entropy: targets must be non-negative (one-hot rows or probabilities), got -1 at "
        "index (0, 1) (1 of 2 values negative); a negative target makes the cost unbounded below"
    )):
        ng.cross_entropy(z, np.array([[2.0, -1.0]]))


def test_targets_being_differentiated_may_take_any_value() -> None:
    # gradcheck perturbs a one-hot 0 to -1e-6: that is calculus, not a label.
    y = ng.Tensor(np.array([[-0.1, 1.1]]), requires_grad=True)
    C = ng.cross_entropy(ng.Tensor(np.zeros((1, 2))), y)
    C.backward()
    assert y.grad is not None


@pytest.mark.parametrize("where", ["Y", "validation Y"])
def test_binary_cross_entropy_targets_outside_the_unit_interval_in_fit(where: str) -> None:
    net = Network([2, 3, 1], cost="binary_cross_entropy", seed=0)
    Y = np.array([[0.0], [1.0], [1.2], [0.0]])
    kw = {"Y": Y} if where == "Y" else {"validation_data": (X4, Y)}
    with pytest.raises(ng.LabelError, match=re.escape(
        f"fit: {where} holds 1.2 at row 2, column 0 (1 of 4 values outside [0, 1]); "
        "binary_cross_entropy targets must lie in [0, 1]"
    )):
        _fit(net, **kw)


def test_validation_labels_out_of_range_are_refused_before_training() -> None:
    net = Network([2, 3, 2], cost="cross_entropy", seed=0)
    before = net.state_dict()
    with pytest.raises(ng.LabelError, match=re.escape(
        "fit: validation Y holds class labels, which must be in [0, 1] for a model with 2 outputs; "
        "got 5 at row 1 (1 of 4 labels out of range)"
    )):
        _fit(net, validation_data=(X4, np.array([0, 5, 1, 0])))
    _untouched(net, before)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"X": [[1, 2], [3], [1, 1], [0, 0]]},
         "fit: X is ragged: row 0 has 2 values but row 1 has 1 value; every example (row) must have"),
        ({"Y": [[1], [0, 1], [1], [0]]},
         "fit: Y is ragged: row 0 has 1 value but row 1 has 2 values"),
        ({"validation_data": ([[1, 2], [3, 4, 5]], [0, 1])},
         "fit: validation X is ragged: row 0 has 2 values but row 1 has 3 values"),
        ({"validation_data": ([[1, 2], [3, 4]], [[0], 1])},
         "fit: validation Y is ragged: row 0 is a list but row 1 is a single value"),
        ({"X": [[[1, 2], [3, 4]], [[1, 2], [3]]]},
         "fit: X is ragged: X[1][0] has 2 values but X[1][1] has 1 value"),
    ],
)
def test_ragged_lists_are_a_shape_error_naming_the_row(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(message)):
        _fit(Network([2, 3, 1], seed=0), **kw)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"X": X4 + 0j}, "fit: X must hold numbers, got dtype complex128 (complex)"),
        ({"Y": np.array([0, 1, None, 0], dtype=object)},
         "fit: Y must hold numbers, got dtype object with None (NoneType) at row 2"),
        ({"X": np.array([[0, 0], [0, 1], [1, "x"], [1, 1]], dtype=object)},
         "fit: X must hold numbers, got dtype object with 'x' (str) at row 2, column 1"),
        ({"validation_data": (X4, np.array(["0", "1", "1", "0"]))},
         "fit: validation Y must hold numbers, got dtype <U1 (strings)"),
        ({"validation_data": (X4.astype(np.complex64), Y4)},
         "fit: validation X must hold numbers, got dtype complex64 (complex)"),
    ],
)
def test_wrong_dtypes_are_a_dtype_error(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ng.DTypeError, match=re.escape(message)):
        _fit(Network([2, 3, 1], seed=0), **kw)


def test_object_arrays_of_plain_numbers_are_accepted() -> None:
    h = _fit(Network([2, 3, 1], seed=0), X=X4.astype(object), Y=Y4.astype(object))
    assert len(h) == 1


def test_validation_inputs_of_another_width_are_refused_before_training() -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        "fit: validation X has shape (3, 5) but X has shape (4, 2); their examples must have the same shape (2,)"
    )):
        _fit(Network([2, 3, 1], seed=0), validation_data=(np.ones((3, 5)), [0, 1, 1]))


def test_a_cost_that_overflows_before_any_update_blames_the_data_not_the_learning_rate() -> None:
    net = Network([2, 3, 1], activation="identity", seed=0)
    with np.errstate(all="ignore"), pytest.raises(ng.DataError, match=re.escape(
        "fit: the cost is inf on the first batch, before any update (the data are finite); "
        "the model's outputs overflow: scale X (values up to 1e+300)"
    )):
        _fit(net, X=X4 * 1e300)


# ------------------------------------------------------------------ costs
@pytest.mark.parametrize("name", ["quadratic_cost", "mse_loss", "binary_cross_entropy",
                                  "binary_cross_entropy_with_logits", "cross_entropy"])
def test_every_cost_refuses_infinite_targets_and_names_the_index(name: str) -> None:
    y = np.full((2, 3), 0.5)
    y[1, 2] = np.inf
    with pytest.raises(ng.LabelError, match=re.escape(
        f"{name}: targets contain infinite values (1 of 6 values); the first is at index (1, 2)"
    )):
        getattr(ng, name)(ng.Tensor(np.full((2, 3), 0.5)), y)


def test_bce_out_of_range_names_the_first_value_and_index() -> None:
    with pytest.raises(ng.LabelError, match=re.escape(
        "binary_cross_entropy: targets must lie in [0, 1], got values in [-1, 1]; the first outside "
        "is -1 at index (1, 0) (1 of 3 values outside)"
    )):
        ng.binary_cross_entropy(np.full((3, 1), 0.5), np.array([[0.0], [-1.0], [1.0]]))


# ------------------------------------------------------------------ network inputs
@pytest.mark.parametrize(
    ("X", "cls", "message"),
    [
        ([[1, 2], [3]], ng.ShapeError, "Network: input is ragged: row 0 has 2 values but row 1 has 1 value"),
        ([["a", "b"]], ng.DTypeError, "Network: input must hold numbers, got dtype <U1 (strings)"),
        (np.array([[1 + 1j, 2]]), ng.DTypeError, "Network: input must hold numbers, got dtype complex128"),
    ],
)
def test_network_inputs_that_are_not_a_table_of_numbers(X: Any, cls: type, message: str) -> None:
    with pytest.raises(cls, match=re.escape(message)):
        Network([2, 3, 1], seed=0)(X)


# ------------------------------------------------------------------ sizes
@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (None, "Network: sizes must be a list of layer sizes (ints, input first, e.g. Network([784, 30, 10])), got None (NoneType)"),
        (3, "got 3 (int)"),
        ("784,30,10", "got the string '784,30,10'; did you mean [784, 30, 10]?"),
        ("big", "got the string 'big'"),
        ([2, 2.5, 1], "Network: sizes[1] must be a positive integer, got 2.5 (float)"),
        ([2, 3.0, 1], "Network: sizes[1] must be a positive integer, got 3.0 (float); write 3"),
        ([2, True, 1], "Network: sizes[1] must be a positive integer, got True (bool)"),
        ([2, "3", 1], "Network: sizes[1] must be a positive integer, got '3' (str)"),
        ([2, -3, 1], "Network: sizes[1] must be a positive integer, got -3"),
        ([0, 1], "Network: sizes[0] must be a positive integer, got 0"),
        ([2, None], "Network: sizes[1] must be a positive integer, got None (NoneType)"),
        ([2**63, 1], "Network: sizes[0] = 9223372036854775808 is larger than the largest array dimension"),
        ([2**40, 2**40], "Network: a weight matrix of shape (1099511627776, 1099511627776) has "
                         "1208925819614629174706176 elements, more than the largest array NumPy can make"),
        (np.ones((2, 2), dtype=int), "Network: sizes must be a 1-D list of layer sizes (e.g. Network([784, 30, 10])), got an array of shape (2, 2)"),
    ],
)
def test_bad_sizes_are_a_config_error_naming_the_size(sizes: Any, message: str) -> None:
    with pytest.raises(ng.ConfigError, match=re.escape(message)):
        Network(sizes)


@pytest.mark.parametrize("sizes", [np.array([2, 3, 1]), [np.int32(2), np.uint8(3), np.int64(1)], (2, 3, 1), range(2, 0, -1)])
def test_numpy_integers_and_any_sequence_of_ints_are_fine(sizes: Any) -> None:
    net = Network(sizes, seed=0)
    assert all(type(n) is int for n in net.sizes)


@pytest.mark.parametrize(
    ("args", "message"),
    [((2**63, 1), "Dense: n_in = 9223372036854775808 is larger than the largest array dimension"),
     ((2.0, 1), "Dense: n_in must be a positive integer, got 2.0 (float); write 2"),
     ((2, None), "Dense: n_out must be a positive integer, got None (NoneType)")],
)
def test_bad_dense_sizes(args: tuple[Any, Any], message: str) -> None:
    with pytest.raises(ng.ConfigError, match=re.escape(message)):
        Dense(*args)


@pytest.mark.parametrize(
    ("kw", "cls", "message"),
    [
        ({"dtype": np.int64}, ng.DTypeError, "Network: parameters must be floating-point, got dtype int64; expected float64 (default) or float32"),
        ({"dtype": "banana"}, ng.DTypeError, "Network: dtype 'banana' is not a NumPy dtype"),
        ({"init": None}, ng.ConfigError, "init: unknown scheme None; expected one of normal, scaled, xavier, he"),
        ({"init": "glorious"}, ng.ConfigError, "init: unknown scheme 'glorious'"),
        ({"activation": None}, ng.ConfigError, "activation: expected a name or a callable, got NoneType"),
        ({"cost": "hinge"}, ng.ConfigError, "cost: unknown cost 'hinge'; expected one of quadratic, mse"),
    ],
)
def test_bad_names_and_dtypes(kw: dict[str, Any], cls: type, message: str) -> None:
    with pytest.raises(cls, match=re.escape(message)):
        Network([2, 3, 1], **kw)


# ------------------------------------------------------------------ memory
def test_parameter_bytes_counts_every_weight_and_bias_exactly() -> None:
    assert parameter_bytes([784, 30, 10]) == (784 * 30 + 30 + 30 * 10 + 10) * 8
    assert parameter_bytes([2, 10**9, 1], np.float32) == (2 * 10**9 + 10**9 + 10**9 + 1) * 4
    assert parameter_bytes([2**63, 2**63]) == (2**126 + 2**63) * 8  # exact, no overflow
    for dtype in (np.float64, np.float32):
        net = Network([5, 7, 3, 2], seed=0, dtype=dtype)
        assert parameter_bytes(net.sizes, dtype) == sum(p.data.nbytes for p in net.parameters())


def _no_allocation(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("parameters were allocated before the memory check")


def test_a_network_too_large_for_memory_is_refused_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_memory, "available_memory", lambda: 21_300_000_000)
    monkeypatch.setattr(dense_mod, "init_weights", _no_allocation)
    with pytest.raises(ng.ResourceError, match=re.escape(
        "Network: sizes [2, 1000000000, 1] need 32.0 GB for parameters (float64) but only 21.3 GB "
        "of memory is available"
    )) as info:
        Network([2, 10**9, 1])
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ng.NablaGraphError)
    with pytest.raises(ng.ResourceError, match=re.escape("need 32.0 GB for parameters (float32) but only 21.3 GB")):
        Network([2, 2 * 10**9, 1], dtype=np.float32)
    with pytest.raises(ng.ResourceError, match=re.escape(
        "Dense: 100000 → 100000 needs 80.0 GB for parameters (float64) but only 21.3 GB of memory is available"
    )):
        Dense(10**5, 10**5)


def test_a_network_that_fits_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = [784, 300, 10]
    need = parameter_bytes(sizes)
    assert need == 1_908_080 > _memory.SMALL
    monkeypatch.setattr(_memory, "available_memory", lambda: need)
    assert Network(sizes, seed=0).num_parameters() * 8 == need
    monkeypatch.setattr(_memory, "available_memory", lambda: need - 1)
    with pytest.raises(ng.ResourceError, match=r"need 1.9 MB for parameters \(float64\) but only 1.9 MB"):
        Network(sizes)


def test_small_models_do_not_read_the_memory_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    def unread() -> int:
        raise AssertionError("available_memory() was read for a small model")

    monkeypatch.setattr(_memory, "available_memory", unread)
    assert Network([784, 30, 10], seed=0).sizes == [784, 30, 10]  # 190.9 kB < 1 MiB


def test_without_a_memory_figure_the_check_is_skipped_and_an_allocation_failure_is_typed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_memory, "available_memory", lambda: None)
    assert Network([2, 3, 1], seed=0).sizes == [2, 3, 1]

    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Unable to allocate")

    monkeypatch.setattr(dense_mod, "init_weights", out_of_memory)
    with pytest.raises(ng.ResourceError, match=re.escape(
        "Network: sizes [2, 3, 1] need 104 B for parameters (float64); allocating layer 2 failed (out of memory)"
    )):
        Network([2, 3, 1])


def test_available_memory_reads_meminfo_then_cgroup_then_sysconf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24684092 kB\nMemFree: 1 kB\nMemAvailable:   20000000 kB\n")
    monkeypatch.setattr(_memory, "_MEMINFO", meminfo)
    monkeypatch.setattr(_memory, "_CGROUP", tmp_path / "no-cgroup")
    assert _memory.available_memory() == 20_000_000 * 1024
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("4000000000\n")
    (cgroup / "memory.current").write_text("1000000000\n")
    monkeypatch.setattr(_memory, "_CGROUP", cgroup)
    assert _memory.available_memory() == 3_000_000_000  # the container's limit is lower
    (cgroup / "memory.max").write_text("max\n")
    assert _memory.available_memory() == 20_000_000 * 1024
    monkeypatch.setattr(_memory, "_MEMINFO", tmp_path / "absent")
    monkeypatch.setattr(_memory.os, "sysconf", lambda name: {"SC_PHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[name])
    assert _memory.available_memory() == 4_096_000

    def no_sysconf(name: str) -> int:
        raise ValueError(name)

    monkeypatch.setattr(_memory.os, "sysconf", no_sysconf)
    assert _memory.available_memory() is None
    _memory.check_fits("x: {need} for nothing", 10**30)  # unknown memory: no check
    with pytest.raises(ng.ResourceError, match=re.escape("x: 2.0 MB for y but only 1.0 MB of memory is available")):
        _memory.check_fits("x: {need} for y", 2 * 10**6, available=10**6)


def test_available_memory_on_this_machine_is_a_positive_number_or_unknown() -> None:
    n = _memory.available_memory()
    assert n is None or n > 0


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1536, "1.5 kB"), (999_949, "999.9 kB"),
     (999_950, "1.0 MB"), (24_000_000_008, "24.0 GB"), (8 * 10**12, "8.0 TB")],
)
def test_format_bytes(n: int, text: str) -> None:
    assert _memory.format_bytes(n) == text


def test_resource_error_is_exported_next_to_the_other_errors() -> None:
    assert ng.ResourceError is ng.errors.ResourceError
    assert "ResourceError" in ng.__all__
    assert issubclass(ng.ResourceError, MemoryError) and issubclass(ng.ResourceError, ng.NablaGraphError)
