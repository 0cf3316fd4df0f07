"""The error catalogue: each bad input raises the right class with a message that names
the op, what it got and what it expected.  Error text is part of the interface.

Each class is also one of the built-in exceptions that fits (ShapeError is a ValueError,
GraphError a RuntimeError, ...), so code that catches the built-in keeps working.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import functional as F
from nablagraph.tensor import Tensor


def t(*shape: int, name: str | None = None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(shape), name=name, requires_grad=requires_grad)


# ---------------------------------------------------------------- hierarchy
@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ng.ShapeError, ValueError),
        (ng.LabelError, ValueError),
        (ng.ConfigError, ValueError),
        (ng.DTypeError, TypeError),
        (ng.GraphError, RuntimeError),
        (ng.GradcheckError, RuntimeError),
        (ng.DataError, ValueError),
        (ng.FileFormatError, ValueError),
        (ng.ResourceError, MemoryError),
    ],
)
def test_every_error_class_is_a_nablagraph_error_and_a_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, ng.NablaGraphError)
    assert issubclass(cls, builtin)
    assert issubclass(ng.NablaGraphError, Exception)


# --------------------------------------------------------------------- matmul
def test_matmul_misalignment_names_shapes_and_suggests_transpose() -> None:
    X, W = t(10, 784, name="X"), t(30, 784, name="W")
    with pytest.raises(ng.ShapeError, match=re.escape(
        "matmul: shapes (10, 784) and (30, 784) are not aligned (784 != 30); did you mean X @ W.T?"
    )):
        X @ W


def test_matmul_misalignment_without_names_uses_a_and_b() -> None:
    with pytest.raises(ValueError, match=re.escape("(3, 2) and (3, 4) are not aligned (2 != 3); did you mean a.T @ b?")):
        t(3, 2) @ t(3, 4)


def test_matmul_misalignment_that_no_transpose_fixes_says_which_axes_must_agree() -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        "shapes (2, 3) and (4, 5) are not aligned (3 != 4); the last axis of a must equal "
        "the second-to-last axis of b"
    )):
        t(2, 3) @ t(4, 5)
    with pytest.raises(ng.ShapeError, match=r"\(3,\) and \(4,\) are not aligned .*same length"):
        t(3) @ t(4)


def test_matmul_batch_axes_that_do_not_broadcast_are_named() -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        "matmul: shapes (2, 3, 4) and (3, 4, 5) have batch axes (2,) and (3,) that cannot be "
        "broadcast together"
    )):
        t(2, 3, 4) @ t(3, 4, 5)


def test_matmul_of_a_scalar_points_to_elementwise_multiplication() -> None:
    with pytest.raises(ng.ShapeError, match=r"at least 1-D, got shapes \(\) and \(4,\); use \* for scalar"):
        F.matmul(Tensor(2.0), t(4))


def test_linear_with_a_transposed_weight_explains_the_layout() -> None:
    x, W = t(10, 784), t(784, 30)
    with pytest.raises(ng.ShapeError, match=re.escape(
        "linear: input of shape (10, 784) has 784 features but the weight of shape (784, 30) "
        "expects 30 (W is (n_out, n_in); z = x @ W.T + b)"
    )):
        F.linear(x, W)
    with pytest.raises(ng.ShapeError, match=re.escape("bias of shape (3,) does not match 30 output neurons; expected shape (30,)")):
        F.linear(t(10, 784), t(30, 784), t(3))


# --------------------------------------------------------------- broadcasting
@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a ** b),
        ("maximum", F.maximum),
    ],
)
def test_non_broadcastable_shapes_name_the_op_the_shapes_and_the_axis(name: str, fn: Any) -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        f"{name}: shapes (2, 3) and (4,) cannot be broadcast together (axis -1"
    )) as info:
        fn(t(2, 3, requires_grad=True), t(4))
    assert "sizes 3 vs 4" in str(info.value)


def test_non_broadcastable_array_operand_is_reported_too() -> None:
    with pytest.raises(ng.ShapeError, match=re.escape("mul: shapes (2, 3) and (2, 2) cannot be broadcast")):
        t(2, 3) * np.ones((2, 2))


def test_broadcast_to_and_sum_to_name_the_shapes() -> None:
    with pytest.raises(ng.ShapeError, match=re.escape("broadcast_to: cannot broadcast shape (2, 3) to (3, 3): axis -2")):
        F.broadcast_to(t(2, 3), (3, 3))
    with pytest.raises(ng.ShapeError, match=re.escape("broadcast_to: cannot broadcast shape (2, 3) to (3,): the target has fewer axes")):
        F.broadcast_to(t(2, 3), (3,))
    with pytest.raises(ng.ShapeError, match=re.escape("sum_to: cannot sum shape (2, 3) down to (4,)")):
        F.sum_to(t(2, 3), (4,))


def test_concatenate_names_the_shapes_and_the_axis() -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        "concatenate: cannot join shapes (2, 3), (3, 2) along axis 0; all other axes must have equal sizes"
    )):
        F.concatenate([t(2, 3), t(3, 2)])
    with pytest.raises(ng.ShapeError, match=re.escape("concatenate: axis 2 is out of range for tensors of shapes (2, 3), (2, 3) (valid axes: -2 to 1)")):
        F.concatenate([t(2, 3), t(2, 3)], axis=2)
    with pytest.raises(ValueError, match="concatenate: need at least one tensor"):
        F.concatenate([])


# ---------------------------------------------------------------------- graph
def test_backward_twice_through_a_freed_graph_says_retain_graph() -> None:
    x = t(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(ng.GraphError, match=r"already freed by an earlier backward\(\); pass retain_graph=True") as info:
        y.backward()
    assert isinstance(info.value, RuntimeError)
    assert "'sum'" in str(info.value)


def test_grad_twice_through_a_freed_graph_says_retain_graph() -> None:
    x = t(2, requires_grad=True)
    y = F.exp(x).sum()
    ng.grad(y, x)
    with pytest.raises(ng.GraphError, match="retain_graph=True"):
        ng.grad(y, x)


def test_retain_graph_allows_a_second_backward_with_the_same_answer() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])  # accumulated twice


@pytest.mark.parametrize("how", ["backward", "grad"])
def test_backward_on_a_non_scalar_without_grad_shows_the_shape(how: str) -> None:
    x = t(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(ng.GraphError, match=re.escape(
        f"{how}: the gradient can be implied only for a one-element output, but this output "
        "has shape (2, 3); pass grad="
    )):
        y.backward() if how == "backward" else ng.grad(y, x)


def test_backward_grad_of_the_wrong_shape_is_a_shape_error() -> None:
    x = t(2, 3, requires_grad=True)
    with pytest.raises(ng.ShapeError, match=re.escape("backward: grad has shape (3,) but the output has shape (2, 3)")):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_tensor_that_does_not_require_grad() -> None:
    with pytest.raises(ng.GraphError, match="does not require grad"):
        (t(2) * 2).sum().backward()
    x = t(2, requires_grad=True)
    with ng.no_grad():
        y = (x * 2).sum()
    with pytest.raises(ng.GraphError, match=r"computed under no_grad\(\)"):
        y.backward()


def test_grad_of_an_unused_input_names_it_and_suggests_allow_unused() -> None:
    x, b = t(2, requires_grad=True), t(2, requires_grad=True, name="b2")
    y = (x * 2).sum()
    with pytest.raises(ng.GraphError, match=re.escape(
        "grad: input 1 ('b2') was not used to compute the outputs; pass allow_unused=True"
    )):
        ng.grad(y, [x, b], retain_graph=True)
    gx, gb = ng.grad(y, [x, b], allow_unused=True)
    assert gb is None and gx is not None
    np.testing.assert_array_equal(gx.data, [2.0, 2.0])


def test_grad_with_respect_to_a_constant_says_it_does_not_require_grad() -> None:
    x, c = t(2, requires_grad=True), t(2)
    with pytest.raises(ng.GraphError, match=r"grad: input 1 \(an unnamed leaf\) does not require grad"):
        ng.grad((x * c).sum(), [x, c])


@pytest.mark.parametrize("where", ["intermediate", "leaf"])
def test_a_hook_returning_the_wrong_shape_is_named(where: str) -> None:
    x = t(2, 3, requires_grad=True)
    h = x * 2
    (h if where == "intermediate" else x).register_hook(lambda g: np.ones(3))
    with pytest.raises(ng.ShapeError, match=re.escape("hook: returned a gradient of shape (3,) for a tensor of shape (2, 3)")):
        (h * 3).sum().backward()


def test_register_hook_and_retain_grad_on_a_constant() -> None:
    with pytest.raises(ng.GraphError, match="register_hook: this tensor does not require grad"):
        t(2).register_hook(lambda g: None)
    with pytest.raises(ng.GraphError, match="retain_grad: this tensor does not require grad"):
        t(2).retain_grad()


def test_item_assignment_is_refused_with_an_alternative() -> None:
    x = t(2, requires_grad=True)
    with pytest.raises(ng.GraphError, match=r"item assignment is not recorded.*t\.data\[\.\.\.\]"):
        x[0] = 1.0


# ---------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("data", [np.array([1, 2]), np.array([True, False]), np.array([1, 2], dtype=np.uint8)])
def test_requires_grad_on_integer_or_boolean_data_is_refused(data: np.ndarray) -> None:
    with pytest.raises(ng.DTypeError, match=f"requires_grad=True needs floating-point data, got {data.dtype}") as info:
        Tensor(data, requires_grad=True)
    assert isinstance(info.value, TypeError)
    with pytest.raises(ng.DTypeError, match=f"requires_grad_: needs floating-point data, got {data.dtype}"):
        Tensor(data).requires_grad_()


def test_requires_grad_on_integer_data_names_the_tensor() -> None:
    with pytest.raises(ng.DTypeError, match=r"got int64 \('labels'\); convert it first"):
        Tensor(np.array([1, 2], dtype=np.int64), requires_grad=True, name="labels")


def test_non_numeric_data_is_refused() -> None:
    with pytest.raises(ng.DTypeError, match="Tensor: cannot hold data of dtype <U3"):
        Tensor(np.array(["abc"]))
    with pytest.raises(ng.DTypeError, match="cost: targets must be numbers, got dtype <U1"):
        F.mse_loss(t(2), np.array(["a", "b"]))


def test_gradcheck_on_float32_inputs_explains_why() -> None:
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True, name="x32")
    with pytest.raises(ng.GradcheckError, match=r"input 0 \('x32'\) is float32; finite differences need float64") as info:
        ng.gradcheck(lambda a: a * 2, [x])
    msg = str(info.value)
    assert "rounding error" in msg and "astype(np.float64)" in msg
    assert isinstance(info.value, RuntimeError)


def test_gradcheck_of_a_function_returning_float32_explains_why() -> None:
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ng.GradcheckError, match="f returned float32; finite differences need float64"):
        ng.gradcheck(lambda a: Tensor(a.data.astype(np.float32)), [x])


def test_gradcheck_failure_names_the_input_and_the_worst_element() -> None:
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="w")

    def f(a: Tensor) -> Tensor:
        return a * Tensor(a.data.copy())  # really a², but the graph sees a constant: slope a, not 2a

    with pytest.raises(ng.GradcheckError, match=r"Jacobian mismatch for output 0 with respect to input 0 \('w', shape \(2,\)\)") as info:
        ng.gradcheck(f, [x])
    assert "numerical" in str(info.value) and "analytical" in str(info.value)


# ---------------------------------------------------------------------- costs
COSTS = {
    "quadratic_cost": F.quadratic_cost,
    "mse_loss": F.mse_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "cross_entropy": F.cross_entropy,
}


@pytest.mark.parametrize("name", list(COSTS))
def test_nan_targets_are_refused_by_every_cost(name: str) -> None:
    a = Tensor(np.full((4, 3), 0.5), requires_grad=True)
    y = np.full((4, 3), 0.25)
    y[1, 2] = y[3, 0] = np.nan
    with pytest.raises(ng.LabelError, match=re.escape(f"{name}: targets contain NaN (2 of 12 values)")):
        COSTS[name](a, y)


def test_nan_in_class_labels_stored_as_floats_is_reported_as_nan() -> None:
    with pytest.raises(ng.LabelError, match=re.escape("cross_entropy: targets contain NaN (1 of 4 values)")):
        F.cross_entropy(t(4, 3), np.array([0.0, 1.0, np.nan, 2.0]))


@pytest.mark.parametrize("name", list(COSTS))
@pytest.mark.parametrize(("a_shape", "y_shape"), [((4, 1), (4,)), ((4,), (4, 1)), ((4, 3), (3,))])
def test_costs_do_not_broadcast_outputs_against_targets(name: str, a_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> None:
    y = np.full(y_shape, 0.5)
    a = Tensor(np.full(a_shape, 0.5), requires_grad=True)
    # For cross_entropy, float targets of shape a.shape[:-1] are class labels of the wrong dtype.
    expected_type = ng.LabelError if (name == "cross_entropy" and y_shape == a_shape[:-1]) else ng.ShapeError
    with pytest.raises(expected_type) as info:
        COSTS[name](a, y)
    msg = str(info.value)
    assert msg.startswith(f"{name}: ")
    if expected_type is ng.ShapeError:
        assert f"outputs have shape {a_shape} but targets have shape {y_shape}" in msg
        assert "no broadcasting in costs" in msg
        if int(np.prod(a_shape)) == int(np.prod(y_shape)):
            assert f"y.reshape{a_shape}" in msg


def test_targets_as_tensors_are_checked_too() -> None:
    a = Tensor(np.full((4, 1), 0.5), requires_grad=True)
    y = Tensor(np.full(4, 0.5), requires_grad=True)
    with pytest.raises(ng.ShapeError, match=re.escape("quadratic_cost: outputs have shape (4, 1) but targets have shape (4,)")):
        F.quadratic_cost(a, y)


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize(("bad", "lo", "hi"), [(1.5, "0.2", "1.5"), (-0.5, "-0.5", "0.2")])
def test_bce_targets_outside_the_unit_interval(name: str, bad: float, lo: str, hi: str) -> None:
    y = np.array([[0.2, bad]])
    with pytest.raises(ng.LabelError, match=re.escape(f"{name}: targets must lie in [0, 1], got values in [{lo}, {hi}]")):
        COSTS[name](Tensor(np.array([[0.5, 0.5]])), y)


@pytest.mark.parametrize(("labels", "shown", "count"), [
    (np.array([0, 1, 3, 2]), "got 3", "(1 label out of range)"),
    (np.array([0, -1, 1, 5]), "got -1", "(2 labels out of range)"),
])
def test_cross_entropy_labels_out_of_range(labels: np.ndarray, shown: str, count: str) -> None:
    with pytest.raises(ng.LabelError, match=re.escape(f"cross_entropy: class labels must be in [0, 2] for 3 classes, {shown} {count}")):
        F.cross_entropy(t(4, 3, requires_grad=True), labels)


@pytest.mark.parametrize("shape", [(4, 1), (3,), (4, 3)])
def test_cross_entropy_integer_labels_of_the_wrong_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(f"cross_entropy: logits of shape (4, 3) need labels of shape (4,), got {shape}")):
        F.cross_entropy(t(4, 3, requires_grad=True), np.zeros(shape, dtype=np.int64))


def test_cross_entropy_float_class_labels_say_to_use_integers_or_one_hot() -> None:
    with pytest.raises(ng.LabelError, match=re.escape(
        "cross_entropy: targets of shape (4,) look like class labels for logits of shape (4, 3), "
        "but their dtype is float64; class labels must be integers (y.astype(np.int64)), or "
        "pass one-hot targets of shape (4, 3)"
    )):
        F.cross_entropy(t(4, 3, requires_grad=True), np.array([0.0, 1.0, 2.0, 1.0]))


def test_cross_entropy_needs_a_class_axis() -> None:
    with pytest.raises(ng.ShapeError, match="cross_entropy: logits must have a class axis"):
        F.cross_entropy(Tensor(1.0), np.array(0))
    with pytest.raises(ng.ShapeError, match="cross_entropy: logits must have a class axis"):
        F.cross_entropy(Tensor(1.0), np.array(1.0))


# ------------------------------------------------------------- shape methods
@pytest.mark.parametrize("shape", [(4, 2), (-1, 4), (7,)])
def test_reshape_to_an_incompatible_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        f"reshape: cannot reshape a tensor of shape (2, 3) (6 elements) into shape {shape}"
    )):
        t(2, 3).reshape(shape)


@pytest.mark.parametrize("axes", [(0, 0), (0, 1, 2), (0,), (0, 2), (-3, 1)])
def test_bad_transpose_axes(axes: tuple[int, ...]) -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(
        f"transpose: axes {axes} are not a permutation of the 2 axes of a tensor of shape (2, 3)"
    )):
        t(2, 3).transpose(axes)


@pytest.mark.parametrize(("index", "detail"), [
    (5, "index 5 is out of bounds for axis 0 with size 2"),
    ((0, 3), "index 3 is out of bounds for axis 1 with size 3"),
    ((slice(None), [0, 3]), "index 3 is out of bounds"),
    ((0, 0, 0), "too many indices"),
])
def test_getitem_out_of_range_is_a_shape_error_and_an_index_error(index: Any, detail: str) -> None:
    with pytest.raises(ng.ShapeError, match=re.escape(f"getitem: index {index!r} is invalid for a tensor of shape (2, 3): {detail}")) as info:
        t(2, 3)[index]
    assert isinstance(info.value, IndexError)


def test_iterating_over_a_tensor_stops_at_the_end_of_the_first_axis() -> None:
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)  # the sequence protocol stops at the first IndexError
    assert [r.data.tolist() for r in rows] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    sum(r.sum() for r in rows).backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.data, np.ones((3, 2)))


def test_reduction_and_softmax_axes_out_of_range_name_the_op() -> None:
    with pytest.raises(ng.ShapeError, match=r"sum: invalid input of shape \(2, 3\): axis 2 is out of bounds"):
        t(2, 3).sum(axis=2)
    with pytest.raises(ng.ShapeError, match=r"softmax: invalid input of shape \(2, 3\): axis 2 is out of bounds"):
        F.softmax(t(2, 3), axis=2)


def test_clip_with_min_above_max() -> None:
    with pytest.raises(ng.ConfigError, match=re.escape("clip: min (1.0) must not exceed max (0.0)")) as info:
        t(2).clip(1.0, 0.0)
    assert isinstance(info.value, ValueError)


def test_truth_value_and_item_of_a_multi_element_tensor() -> None:
    with pytest.raises(ValueError, match=r"truth value of a tensor of shape \(2,\) is ambiguous"):
        bool(t(2))
    with pytest.raises(ValueError, match=r"item: only one-element tensors .* got shape \(2,\)"):
        t(2).item()


def test_numpy_ufuncs_refuse_tensors() -> None:
    with pytest.raises(TypeError, match="does not support ufuncs"):
        np.exp(t(2))


def test_apply_with_inputs_that_are_not_a_tuple_of_tensors_says_what_it_expects() -> None:
    from nablagraph.ops import OPS
    from nablagraph.tensor import apply

    x = t(2)
    cases = [
        (x, "got Tensor"),
        ([x], "got list"),
        ((x, np.ones(2)), "got tuple holding Tensor, ndarray"),
    ]
    for inputs, got in cases:
        with pytest.raises(TypeError) as info:
            apply(OPS["add"], inputs)  # type: ignore[arg-type]
        assert str(info.value) == (
            f"apply(add): inputs must be a tuple of Tensors, e.g. (x,) or (x, y); {got}"
        )
