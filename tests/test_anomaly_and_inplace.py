"""Anomaly mode names the op that made a NaN/inf; in-place changes are caught."""

from __future__ import annotations

import numpy as np
import pytest

import nablagraph as ng


def test_forward_anomaly_names_op_layer_and_user_line() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    W2 = net.layers[0].W
    W2.data[0, 0] = np.nan  # a corrupted weight
    with ng.detect_anomaly(), pytest.raises(ng.AnomalyError) as info:
        net.cost(np.ones((4, 2)), np.zeros((4, 1)))
    msg = str(info.value)
    assert "'linear' produced nan in its output of shape (4, 3) because it received " \
        "non-finite values in input 1 ('W2') in layer 2 (W2, b2); called at" in msg
    assert "test_anomaly_and_inplace.py" in msg  # points at the user's line, not ours


def test_forward_anomaly_from_finite_inputs() -> None:
    x = ng.Tensor(np.array([1.0, -1.0]), requires_grad=True)
    with ng.detect_anomaly(), pytest.raises(ng.AnomalyError, match=r"'log' produced nan .* from finite inputs"), np.errstate(invalid="ignore"):
        ng.log(x)
    assert not ng.is_anomaly_enabled()


def test_backward_anomaly_names_op_and_input() -> None:
    x = ng.Tensor(np.array([0.0, 4.0]), requires_grad=True, name="x")
    with ng.detect_anomaly():
        y = ng.sqrt(x).sum()  # finite forward; d sqrt/dx = inf at 0
        with pytest.raises(ng.AnomalyError, match=r"backward of 'sqrt' produced inf .* input 0 \('x'"), np.errstate(divide="ignore"):
            y.backward()


def test_no_anomaly_no_error_and_no_cost_outside() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    with ng.detect_anomaly():
        net.cost(np.ones((4, 2)), np.zeros((4, 1))).backward()
    C = net.cost(np.ones((4, 2)), np.zeros((4, 1)))
    assert C.requires_grad and C._frame is None


def test_optimizer_step_between_forward_and_backward_is_detected() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    C = net.cost(np.ones((4, 2)), np.zeros((4, 1)))
    W3 = net.layers[1].W
    with ng.no_grad():
        W3.data -= 0.1  # an SGD-like step before backward
    with pytest.raises(ng.GraphError, match=r"input 1 of 'linear' \('W3', shape \(1, 3\)\) was modified in place"):
        C.backward()


def test_inplace_methods_bump_version_and_refuse_while_recording() -> None:
    w = ng.Tensor(np.ones(3), requires_grad=True, name="w")
    v0 = w.version
    with pytest.raises(ng.GraphError, match=r"sub_: in-place change .* \('w'\) while recording"):
        w.sub_(1.0)
    with ng.no_grad():
        w.sub_(0.5).mul_(2.0)
    np.testing.assert_array_equal(w.data, [1.0, 1.0, 1.0])
    assert w.version > v0
    y = (w * w).sum()
    with ng.no_grad():
        w.copy_(np.zeros(3))
    with pytest.raises(ng.GraphError, match="modified in place"):
        y.backward()


def test_changes_before_forward_are_fine() -> None:
    w = ng.Tensor(np.ones(3), requires_grad=True)
    with ng.no_grad():
        w.data -= 1.0
    (w * 2.0).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0, 2.0])  # type: ignore[union-attr]


def test_load_state_dict_counts_as_an_in_place_change() -> None:
    net = ng.nn.Network([2, 2], seed=0)
    C = net.cost(np.ones((1, 2)), np.zeros((1, 2)))
    net.load_state_dict({k: v * 0 + 5 for k, v in net.state_dict().items()})
    with pytest.raises(ng.GraphError, match="modified in place"):
        C.backward()


def test_trace_deltas_without_retain_deltas_says_what_to_do() -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    _, tr = net.forward_trace(np.zeros((4, 2)))
    net.cost_from_trace(tr, np.ones((4, 1))).backward()
    with pytest.raises(ng.GraphError, match=r"δ\^2 was not kept; call forward_trace\(X, retain_deltas=True\)"):
        tr.deltas()
