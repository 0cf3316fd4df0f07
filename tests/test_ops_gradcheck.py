"""Every registered op against finite differences, an independent NumPy forward,
closed-form second derivatives and float32.

``SPECS`` maps each name in :data:`nablagraph.ops.OPS` to one or more named cases.  A
case is a Hypothesis strategy that draws a :class:`Case`: the arrays (shapes,
broadcasting, axes and indices drawn too), which of them require a gradient, the call
through the public function in :mod:`nablagraph.functional`, and a reference forward
written independently in NumPy.  The tests parametrised over ``CASES`` then check, for
every case:

* the call records the op it is filed under, and its value matches the reference;
* ``gradcheck`` in float64 (full Jacobians) for every input that requires a gradient;
* the VJP itself is differentiable: ``(x, v) ↦ vᵀ ∂f/∂x`` computed with
  ``create_graph=True`` passes ``gradcheck`` in ``x`` and in ``v``;
* float32 inputs give float32 outputs and gradients close to the float64 ones.

``test_every_registered_op_has_a_spec`` fails, naming the op, when an op is
registered without an entry here.  Elements are bounded and kept away from kinks
(ReLU at 0, the bounds of clip, ties of maximum) and from the edges of domains
(log, sqrt and fractional powers get positive inputs).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nablagraph as ng
from nablagraph import functional as F
from nablagraph.ops import OPS
from nablagraph.tensor import Tensor

Fn = Callable[..., Tensor]
Ref = Callable[..., np.ndarray]


@dataclass
class Case:
    """One drawn example: ``fn(*tensors)`` on ``arrays``; ``ref(*arrays)`` is its value."""

    fn: Fn
    arrays: tuple[np.ndarray, ...]
    wrt: tuple[bool, ...]
    ref: Ref

    def tensors(self, dtype: Any = np.float64) -> list[Tensor]:
        """Fresh tensors (gradcheck perturbs their data in place)."""
        return [
            Tensor(np.array(a, dtype=dtype if a.dtype.kind == "f" else a.dtype), requires_grad=w)
            for a, w in zip(self.arrays, self.wrt)
        ]


# ------------------------------------------------------------------ strategies
def floats(lo: float = -3.0, hi: float = 3.0) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def away(kinks: Sequence[float], lo: float = -3.0, hi: float = 3.0, gap: float = 0.05) -> st.SearchStrategy[float]:
    """Floats in ``[lo, hi]`` pushed at least ``gap`` away from every kink."""

    def push(v: float) -> float:
        for k in kinks:
            if abs(v - k) < gap:
                v = k + gap if v >= k else k - gap
        return v

    return floats(lo, hi).map(push)


def grid(offset: float) -> st.SearchStrategy[float]:
    """``n + offset + j`` with ``|j| ≤ 0.1``: grids 0.25 and 0.75 never come closer than 0.3."""
    return st.builds(lambda n, j: n + offset + j, st.integers(-3, 2), floats(-0.1, 0.1))


def arrays(shape: tuple[int, ...], elements: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=elements if elements is not None else floats())


def shapes(min_dims: int = 0, max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


WRT2 = st.sampled_from([(True, True), (True, False), (False, True)])


def unary(fn: Fn, ref: Ref, elements: st.SearchStrategy[float] | None = None,
          shape: st.SearchStrategy[tuple[int, ...]] | None = None) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        x = draw(arrays(draw(shape if shape is not None else shapes()), elements))
        return Case(fn, (x,), (True,), ref)

    return build()


def binary(fn: Fn, ref: Ref, ex: st.SearchStrategy[float] | None = None,
           ey: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[Case]:
    """Two operands of mutually broadcastable shapes (any of them may be the larger)."""

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
        x = draw(arrays(bs.input_shapes[0], ex))
        y = draw(arrays(bs.input_shapes[1], ey))
        return Case(fn, (x, y), draw(WRT2), ref)

    return build()


def with_scalar(make: Callable[[float], tuple[Fn, Ref]], elements: st.SearchStrategy[float] | None = None,
                scalar: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[Case]:
    """A tensor combined with a Python number (forward and reflected forms)."""

    @st.composite
    def build(draw: st.DrawFn) -> Case:
        c = draw(scalar if scalar is not None else floats(-2, 2))
        fn, ref = make(c)
        return Case(fn, (draw(arrays(draw(shapes()), elements)),), (True,), ref)

    return build()


def positive(lo: float = 0.2, hi: float = 3.0) -> st.SearchStrategy[float]:
    return floats(lo, hi)


NONZERO = away([0.0], -3, 3, gap=0.3)

# ------------------------------------------------------------ independent refs
def np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x)  # bounded inputs: no max subtraction, unlike the library
    return e / e.sum(axis=axis, keepdims=True)


def np_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sa = "k" if a.ndim == 1 else "...mk"
    sb = "k" if b.ndim == 1 else "...kn"
    so = ("" if a.ndim == 1 else "m") + ("" if b.ndim == 1 else "n")
    if a.ndim > 1 or b.ndim > 1:
        so = "..." + so
    return np.einsum(f"{sa},{sb}->{so}", a, b)


def batch(a: np.ndarray) -> int:
    return a.shape[0] if a.ndim else 1


def np_scatter(g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Adjoint of indexing, via a table of flat positions and bincount."""
    pos = np.arange(int(np.prod(shape))).reshape(shape)[index]
    return np.bincount(np.ravel(pos), weights=np.ravel(g), minlength=int(np.prod(shape))).reshape(shape)


def np_sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Adjoint of broadcasting, via a table of flat positions and bincount."""
    pos = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), x.shape)
    return np.bincount(pos.ravel(), weights=x.ravel(), minlength=int(np.prod(shape))).reshape(shape)


# ------------------------------------------------------------------ op cases
def _pow_scalar_case(negative_base: bool) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        if negative_base:  # integer powers are defined for every nonzero base
            p: float = draw(st.sampled_from([0, 1, 2, 3, -1, -2]))
            x = draw(arrays(draw(shapes()), NONZERO))
            ref: Ref = lambda a: np.prod(np.stack([a] * abs(int(p)) + [np.ones_like(a)]), axis=0) ** np.sign(p)  # noqa: E731
        else:
            p = draw(st.sampled_from([0, 1, 2, 2.0, 3, -1, 0.5, -1.5, 2.5]))
            x = draw(arrays(draw(shapes()), positive()))
            ref = lambda a: np.exp(p * np.log(a))  # noqa: E731
        return Case(lambda t: t ** p, (x,), (True,), ref)

    return build()


@st.composite
def matmul_case(draw: st.DrawFn, form: str) -> Case:
    k = draw(st.integers(1, 3))
    m, n = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    if form == "vec@vec":
        sa, sb = (k,), (k,)
    elif form == "mat@vec":
        sa, sb = (m, k), (k,)
    elif form == "vec@mat":
        sa, sb = (k,), (k, n)
    elif form == "mat@mat":
        sa, sb = (m, k), (k, n)
    elif form == "batched":  # at least one batch axis, broadcast between the operands
        bs = draw(hnp.mutually_broadcastable_shapes(
            signature="(m,n),(n,p)->(m,p)", min_dims=1, max_dims=2, max_side=3))
        sa, sb = bs.input_shapes
    else:  # "any": 1-D, 2-D and batched operands in any combination
        bs = draw(hnp.mutually_broadcastable_shapes(
            signature="(m?,n),(n,p?)->(m?,p?)", max_dims=2, max_side=3))
        sa, sb = bs.input_shapes
    a, b = draw(arrays(sa)), draw(arrays(sb))
    return Case(lambda x, y: x @ y, (a, b), draw(WRT2), np_matmul)


@st.composite
def linear_case(draw: st.DrawFn, x_ndim: int, bias: bool) -> Case:
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=x_ndim - 1, max_size=x_ndim - 1)))
    x = draw(arrays(lead + (n_in,)))
    w = draw(arrays((n_out, n_in)))
    if bias:
        b = draw(arrays((n_out,)))
        wrt = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()).filter(any))
        return Case(lambda x, w, b: F.linear(x, w, b), (x, w, b), wrt,
                    lambda x, w, b: np.einsum("...i,oi->...o", x, w) + b)
    wrt2 = draw(WRT2)
    return Case(lambda x, w: F.linear(x, w), (x, w), wrt2, lambda x, w: np.einsum("...i,oi->...o", x, w))


@st.composite
def maximum_case(draw: st.DrawFn) -> Case:
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    x, y = draw(arrays(bs.input_shapes[0], grid(0.25))), draw(arrays(bs.input_shapes[1], grid(0.75)))
    if draw(st.booleans()):
        x, y = y, x
    return Case(F.maximum, (x, y), draw(WRT2), lambda a, b: np.where(a > b, a, b))


@st.composite
def clip_case(draw: st.DrawFn, which: str) -> Case:
    lo = draw(floats(-2, 0))
    hi = lo + draw(floats(0.2, 3))
    lo_, hi_ = (lo if which in ("both", "min") else None), (hi if which in ("both", "max") else None)
    kinks = [v for v in (lo_, hi_) if v is not None]
    x = draw(arrays(draw(shapes()), away(kinks)))
    lo_ref = -np.inf if lo_ is None else lo_
    hi_ref = np.inf if hi_ is None else hi_
    return Case(lambda t: t.clip(lo_, hi_), (x,), (True,), lambda a: np.minimum(np.maximum(a, lo_ref), hi_ref))


@st.composite
def axis_case(draw: st.DrawFn, fn: Callable[[Tensor, int], Tensor], ref: Callable[[np.ndarray, int], np.ndarray]) -> Case:
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    x = draw(arrays(shape))
    return Case(lambda t: fn(t, axis), (x,), (True,), lambda a: ref(a, axis))


@st.composite
def reduce_case(draw: st.DrawFn, name: str) -> Case:
    shape = draw(shapes())
    nd = len(shape)
    axis = draw(st.one_of(
        st.none(),
        hnp.valid_tuple_axes(nd),
        st.integers(-nd, nd - 1) if nd else st.none(),
    ))
    keepdims = draw(st.booleans())
    x = draw(arrays(shape))

    def ref(a: np.ndarray) -> np.ndarray:
        axes = tuple(range(nd)) if axis is None else (axis,) if isinstance(axis, int) else axis
        axes = tuple(ax % nd for ax in axes)
        moved = np.moveaxis(a, axes, tuple(range(len(axes)))).reshape((-1,) + tuple(
            s for i, s in enumerate(shape) if i not in axes))
        r = moved.sum(axis=0)
        if name == "mean":
            r = r / max(int(np.prod([shape[i] for i in axes])), 1)
        if keepdims:
            r = r.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
        return r

    if name == "sum":
        return Case(lambda t: t.sum(axis=axis, keepdims=keepdims), (x,), (True,), ref)
    return Case(lambda t: t.mean(axis=axis, keepdims=keepdims), (x,), (True,), ref)


@st.composite
def extreme_case(draw: st.DrawFn, name: str) -> Case:
    """max/min over axes, on distinct values 0.1 apart: no ties, so the derivative is the
    indicator of the arg-extreme and finite differences (eps ≪ 0.1) never cross a kink."""
    shape = draw(shapes(min_dims=1))
    nd = len(shape)
    axis = draw(st.one_of(st.none(), hnp.valid_tuple_axes(nd, min_size=1), st.integers(-nd, nd - 1)))
    keepdims = draw(st.booleans())
    x = draw(hnp.arrays(np.float64, shape, elements=st.integers(-40, 40).map(lambda k: k / 10), unique=True))

    def ref(a: np.ndarray) -> np.ndarray:
        axes = tuple(range(nd)) if axis is None else (axis,) if isinstance(axis, int) else axis
        axes = tuple(ax % nd for ax in axes)
        moved = np.moveaxis(a, axes, tuple(range(len(axes)))).reshape((-1,) + tuple(
            s for i, s in enumerate(shape) if i not in axes))
        r = np.sort(moved, axis=0)[-1 if name == "max" else 0]
        return r.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape))) if keepdims else r

    if name == "max":
        return Case(lambda t: t.max(axis=axis, keepdims=keepdims), (x,), (True,), ref)
    return Case(lambda t: F.min(t, axis=axis, keepdims=keepdims), (x,), (True,), ref)


@st.composite
def stack_case(draw: st.DrawFn) -> Case:
    shape = draw(shapes())
    k = draw(st.integers(1, 3))
    axis = draw(st.integers(-len(shape) - 1, len(shape)))
    xs = tuple(draw(arrays(shape)) for _ in range(k))
    wrt = tuple(draw(st.lists(st.booleans(), min_size=k, max_size=k).filter(any)))

    def ref(*arrs: np.ndarray) -> np.ndarray:  # stacking as concatenating expanded arrays
        ax = axis % (len(shape) + 1)
        return np.concatenate([np.expand_dims(a, ax) for a in arrs], axis=ax)

    return Case(lambda *ts: ng.stack(list(ts), axis=axis), xs, wrt, ref)


@st.composite
def reshape_case(draw: st.DrawFn) -> Case:
    shape = draw(shapes())
    dims = list(draw(st.permutations(shape))) if shape else []
    for _ in range(draw(st.integers(0, 2))):
        dims.insert(draw(st.integers(0, len(dims))), 1)
    if dims and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    target = tuple(dims)
    x = draw(arrays(shape))
    method = draw(st.booleans())
    fn = (lambda t: t.reshape(target)) if method else (lambda t: F.reshape(t, target))
    return Case(fn, (x,), (True,), lambda a: np.reshape(a.ravel(), target))


@st.composite
def transpose_case(draw: st.DrawFn) -> Case:
    shape = draw(shapes())
    nd = len(shape)
    x = draw(arrays(shape))
    kind = draw(st.sampled_from(["T", "perm", "negative"]))
    if kind == "T":
        return Case(lambda t: t.T, (x,), (True,), lambda a: np.einsum(a, list(range(nd)), list(range(nd))[::-1]))
    perm = tuple(draw(st.permutations(range(nd))))
    axes = tuple(p - nd for p in perm) if kind == "negative" else perm  # -1 is the last axis
    return Case(lambda t: F.transpose(t, axes), (x,), (True,), lambda a: np.einsum(a, list(range(nd)), list(perm)))


def _index_strategy(kind: str, shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    # Empty selections are left out: gradcheck cannot report on an empty output (see
    # test_gradcheck_of_a_function_with_an_empty_output).
    return _any_index(kind, shape).filter(lambda index: np.empty(shape)[index].size > 0)


def _any_index(kind: str, shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    if kind == "basic":  # ints, slices (negative steps too), Ellipsis, None
        return hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True)
    if kind == "int_arrays":
        return hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))

    @st.composite
    def other(draw: st.DrawFn) -> Any:
        if kind == "repeats":  # fancy indices along one axis, with at least one repeat
            axis = draw(st.integers(0, len(shape) - 1))
            n = shape[axis]
            idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5))
            idx = [*idx, idx[0], idx[-1]]
            return (slice(None),) * axis + (np.array(idx),)
        if kind == "mask":
            return draw(hnp.arrays(np.bool_, shape))
        # "mixed": an integer, a slice and a list of repeated indices together
        n0 = shape[0]
        first = draw(st.one_of(st.integers(-n0, n0 - 1), st.slices(n0)))
        rest = tuple(draw(st.lists(st.integers(0, s - 1), min_size=1, max_size=3)) * 2 for s in shape[1:2])
        return (first,) + rest

    return other()


@st.composite
def getitem_case(draw: st.DrawFn, kind: str) -> Case:
    shape = draw(shapes(min_dims=2 if kind == "mixed" else 1))
    index = draw(_index_strategy(kind, shape))
    x = draw(arrays(shape))
    return Case(lambda t: t[index], (x,), (True,), lambda a: np.array(a[index]))


@st.composite
def scatter_case(draw: st.DrawFn, kind: str) -> Case:
    shape = draw(shapes(min_dims=2 if kind == "mixed" else 1))
    index = draw(_index_strategy(kind, shape))
    g = draw(arrays(np.empty(shape)[index].shape))
    return Case(lambda t: F.scatter(t, shape, index), (g,), (True,), lambda a: np_scatter(a, shape, index))


@st.composite
def broadcast_to_case(draw: st.DrawFn) -> Case:
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    target = bs.result_shape
    x = draw(arrays(bs.input_shapes[0]))
    return Case(lambda t: F.broadcast_to(t, target), (x,), (True,),
                lambda a: a.reshape((1,) * (len(target) - a.ndim) + a.shape) * np.ones(target))


@st.composite
def sum_to_case(draw: st.DrawFn) -> Case:
    bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3))
    small, big = bs.input_shapes[0], bs.result_shape
    if small == big:  # sum_to to its own shape records nothing
        big = (2, *big)
    x = draw(arrays(big))
    return Case(lambda t: F.sum_to(t, small), (x,), (True,), lambda a: np_sum_to(a, small))


@st.composite
def concatenate_case(draw: st.DrawFn) -> Case:
    base = list(draw(shapes(min_dims=1)))
    axis = draw(st.integers(-len(base), len(base) - 1))
    k = draw(st.integers(1, 3))
    xs = []
    for _ in range(k):
        base[axis] = draw(st.integers(1, 3))
        xs.append(draw(arrays(tuple(base))))
    wrt = tuple(draw(st.lists(st.booleans(), min_size=k, max_size=k).filter(any)))

    def ref(*arrs: np.ndarray) -> np.ndarray:
        moved = [np.moveaxis(a, axis, 0) for a in arrs]
        out = np.empty((sum(m.shape[0] for m in moved),) + moved[0].shape[1:])
        start = 0
        for m in moved:
            out[start:start + m.shape[0]] = m
            start += m.shape[0]
        return np.moveaxis(out, 0, axis)

    return Case(lambda *ts: F.concatenate(ts, axis=axis), tuple(xs), wrt, ref)


def _cost_wrt(draw: st.DrawFn) -> tuple[bool, bool]:
    return draw(WRT2)


@st.composite
def regression_cost_case(draw: st.DrawFn, name: str) -> Case:
    shape = draw(shapes())
    a, y = draw(arrays(shape)), draw(arrays(shape))
    if name == "quadratic_cost":
        return Case(F.quadratic_cost, (a, y), _cost_wrt(draw),
                    lambda a, y: 0.5 * ((a - y) ** 2).sum() / batch(a))
    return Case(F.mse_loss, (a, y), _cost_wrt(draw), lambda a, y: ((a - y) ** 2).mean())


@st.composite
def bce_case(draw: st.DrawFn, logits: bool) -> Case:
    shape = draw(shapes())
    wrt = _cost_wrt(draw)
    # Targets that require a gradient are perturbed by ±eps, so keep them inside (0, 1);
    # constant targets may be hard 0/1 labels.
    hard = not wrt[1] and draw(st.booleans())
    y = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]) if hard else floats(0.01, 0.99)))
    if logits:
        z = draw(arrays(shape, floats(-6, 6)))

        def ref_logits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
            s = np_sigmoid(z)  # the naive formula, fine at moderate z
            return -(y * np.log(s) + (1 - y) * np.log(1 - s)).sum() / batch(z)

        return Case(F.binary_cross_entropy_with_logits, (z, y), wrt, ref_logits)
    a = draw(arrays(shape, floats(0.05, 0.95)))
    return Case(F.binary_cross_entropy, (a, y), wrt,
                lambda a, y: -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum() / batch(a))


def _logit_shape(draw: st.DrawFn) -> tuple[int, ...]:
    lead = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    return (*lead, draw(st.integers(1, 4)))


def _ce_ref(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    m = max(z.size // z.shape[-1], 1)
    return -(y * np.log(np_softmax(z))).sum() / m


@st.composite
def cross_entropy_case(draw: st.DrawFn, targets: str) -> Case:
    shape = _logit_shape(draw)
    z = draw(arrays(shape))
    if targets == "one_hot":
        labels = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
        y = np.eye(shape[-1])[labels]
    elif targets == "probabilities":
        y = np_softmax(draw(arrays(shape)))
    else:  # unnormalised non-negative weights: the VJP scales softmax by Σ_j y_j
        y = draw(arrays(shape, floats(0, 2)))
    return Case(F.cross_entropy, (z, y), _cost_wrt(draw), _ce_ref)


@st.composite
def cross_entropy_index_case(draw: st.DrawFn) -> Case:
    shape = _logit_shape(draw)
    z = draw(arrays(shape))
    labels = draw(hnp.arrays(np.int64, shape[:-1], elements=st.integers(0, shape[-1] - 1)))
    return Case(lambda t: F.cross_entropy(t, labels), (z,), (True,),
                lambda z: _ce_ref(z, np.eye(shape[-1])[labels]))


def _leaky_case() -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        slope = draw(st.one_of(st.none(), floats(0, 1)))
        x = draw(arrays(draw(shapes()), away([0.0])))
        s = 0.01 if slope is None else slope
        fn = (lambda t: F.leaky_relu(t)) if slope is None else (lambda t: F.leaky_relu(t, slope))
        return Case(fn, (x,), (True,), lambda a: np.where(a > 0, a, s * a))

    return build()


SPECS: dict[str, dict[str, st.SearchStrategy[Case]]] = {
    "add": {
        "broadcast": binary(F.add, lambda x, y: x + y),
        "operator": binary(lambda x, y: x + y, lambda x, y: x + y),
        "python_scalar": with_scalar(lambda c: (lambda t: c + t, lambda a: a + c)),
    },
    "sub": {
        "broadcast": binary(lambda x, y: x - y, lambda x, y: x + (-y)),
        "reflected_scalar": with_scalar(lambda c: (lambda t: c - t, lambda a: c + (-a))),
    },
    "mul": {
        "broadcast": binary(lambda x, y: x * y, np.multiply),
        "reused_input": unary(lambda t: t * t, lambda a: a ** 2),
        "python_scalar": with_scalar(lambda c: (lambda t: t * c, lambda a: a * c)),
    },
    "div": {
        "broadcast": binary(lambda x, y: x / y, lambda x, y: x * (1 / y), ey=NONZERO),
        "reflected_scalar": with_scalar(lambda c: (lambda t: c / t, lambda a: c * a ** -1.0), NONZERO),
    },
    "pow": {
        "broadcast": binary(lambda x, y: x ** y, lambda x, y: np.exp(y * np.log(x)),
                            ex=positive(0.5, 2.0), ey=floats(-2, 2)),
        "reflected_scalar_base": with_scalar(
            lambda c: (lambda t: c ** t, lambda a: np.exp(a * np.log(c))), floats(-2, 2), positive(0.5, 3)),
    },
    "pow_scalar": {
        "positive_base": _pow_scalar_case(negative_base=False),
        "integer_power": _pow_scalar_case(negative_base=True),
    },
    "neg": {"unary": unary(lambda t: -t, lambda a: 0 - a)},
    "matmul": {form: matmul_case(form) for form in ("vec@vec", "mat@vec", "vec@mat", "mat@mat", "batched", "any")},
    "linear": {
        f"x{nd}d_{'bias' if bias else 'nobias'}": linear_case(nd, bias)
        for nd in (1, 2, 3) for bias in (True, False)
    },
    "exp": {"unary": unary(lambda t: t.exp(), lambda a: np.e ** a)},
    "log": {"unary": unary(lambda t: t.log(), lambda a: np.log2(a) / np.log2(np.e), positive())},
    "sqrt": {"unary": unary(lambda t: t.sqrt(), lambda a: a ** 0.5, positive())},
    "abs": {
        "unary": unary(F.abs, lambda a: np.where(a < 0, -a, a), away([0.0])),
        "builtin": unary(lambda t: abs(t), lambda a: np.where(a < 0, -a, a), away([0.0])),
    },
    "maximum": {
        "broadcast": maximum_case(),
        "python_scalar": with_scalar(lambda c: (lambda t: t.maximum(c), lambda a: np.where(a > c, a, c)),
                                     grid(0.25), st.sampled_from([-1.25, 0.75, 1.75])),
        "tie_splits_gradient": unary(lambda t: F.maximum(t, t), lambda a: a),
    },
    "clip": {w: clip_case(w) for w in ("both", "min", "max", "none")},
    "sigmoid": {"unary": unary(F.sigmoid, np_sigmoid, floats(-5, 5))},
    "tanh": {"unary": unary(F.tanh, lambda a: (np.exp(2 * a) - 1) / (np.exp(2 * a) + 1))},
    "relu": {"unary": unary(F.relu, lambda a: a * (a > 0), away([0.0]))},
    "leaky_relu": {"unary": _leaky_case()},
    "softplus": {"unary": unary(F.softplus, lambda a: np.log(1 + np.exp(a)), floats(-5, 5))},
    "softmax": {"axis": axis_case(lambda t, ax: F.softmax(t, axis=ax), np_softmax)},
    "log_softmax": {"axis": axis_case(lambda t, ax: F.log_softmax(t, axis=ax),
                                      lambda a, ax: a - np.log(np.exp(a).sum(axis=ax, keepdims=True)))},
    "sum": {"axis_keepdims": reduce_case("sum")},
    "mean": {"axis_keepdims": reduce_case("mean")},
    "reshape": {"any": reshape_case()},
    "transpose": {"any": transpose_case()},
    "getitem": {k: getitem_case(k) for k in ("basic", "int_arrays", "repeats", "mask", "mixed")},
    "scatter": {k: scatter_case(k) for k in ("basic", "int_arrays", "repeats", "mask", "mixed")},
    "broadcast_to": {"any": broadcast_to_case()},
    "sum_to": {"any": sum_to_case()},
    "concatenate": {"any": concatenate_case()},
    "stack": {"any": stack_case()},
    "max": {"axis_keepdims": extreme_case("max")},
    "min": {"axis_keepdims": extreme_case("min")},
    # to float64 and back: float64 inputs record two casts of the same dtype (astype always
    # copies), float32 ones a real float32 → float64 → float32 round trip
    "cast": {"via_float64": unary(lambda t: t.astype(np.float64).astype(t.dtype), lambda a: a + 0.0)},
    "quadratic_cost": {"any": regression_cost_case("quadratic_cost")},
    "mse_loss": {"any": regression_cost_case("mse_loss")},
    "binary_cross_entropy": {"any": bce_case(logits=False)},
    "binary_cross_entropy_with_logits": {"any": bce_case(logits=True)},
    "cross_entropy": {t: cross_entropy_case(t) for t in ("one_hot", "probabilities", "unnormalised")},
    "cross_entropy_index": {"integer_labels": cross_entropy_index_case()},
}

CASES = [pytest.param(op, name, id=f"{op}-{name}") for op, cases in SPECS.items() for name in cases]


# ---------------------------------------------------------------- completeness
def test_every_registered_op_has_a_spec() -> None:
    missing = sorted(set(OPS) - set(SPECS))
    assert not missing, (
        f"ops registered in nablagraph.ops.OPS without a gradient-test spec in SPECS "
        f"({__name__}): {', '.join(missing)}"
    )


def test_every_spec_is_a_registered_op() -> None:
    stale = sorted(set(SPECS) - set(OPS))
    assert not stale, f"SPECS has entries for ops that are not registered: {', '.join(stale)}"


# ---------------------------------------------------------------------- helpers
def recorded_ops(out: Tensor) -> set[str]:
    """Names of every op in the graph below ``out``."""
    seen: set[int] = set()
    names: set[str] = set()
    stack = [out]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.op is not None:
            names.add(t.op)
        stack.extend(t.parents)
    return names


def fresh(fn: Fn) -> Fn:
    # gradcheck (check.py) keeps the output array of its +eps evaluation while it runs
    # the -eps one; an op that returns a view of its input (getitem, reshape, ...) then
    # sees both change.  Multiplying by 1 gives a fresh array; see
    # test_gradcheck_of_a_view_returning_function.
    return lambda *ts: fn(*ts) * 1.0


def check_first_order(case: Case) -> None:
    ts = case.tensors()
    ng.gradcheck(fresh(case.fn), ts, max_full=4096)


def vjp_function(case: Case) -> Fn:
    """``(*xs, v) ↦ concat_i vᵀ ∂f/∂x_i``, recorded so it can be differentiated again."""

    def h(*args: Tensor) -> Tensor:
        *xs, v = args
        with ng.enable_grad():  # gradcheck evaluates under no_grad()
            out = case.fn(*xs)
            wrt = [x for x in xs if x.requires_grad]
            gs = ng.grad(out, wrt, grad_outputs=v, create_graph=True)
        parts = []
        for g in gs:
            assert g is not None
            parts.append(g.reshape(-1))
        return F.concatenate(parts)

    return h


# ------------------------------------------------------------------ the tests
@pytest.mark.parametrize(("op", "name"), CASES)
@given(data=st.data())
def test_forward_value_and_gradcheck(op: str, name: str, data: st.DataObject) -> None:
    case = data.draw(SPECS[op][name])
    ts = case.tensors()
    out = case.fn(*ts)
    assert op in recorded_ops(out), f"the {name!r} case of {op!r} records {sorted(recorded_ops(out))}"
    assert out.requires_grad
    expected = case.ref(*case.arrays)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-9, atol=1e-12)
    check_first_order(case)


@pytest.mark.parametrize(("op", "name"), CASES)
@settings(max_examples=max(4, settings.default.max_examples // 4))
@given(data=st.data())
def test_vjp_is_differentiable(op: str, name: str, data: st.DataObject) -> None:
    """gradcheck of ``(x, v) ↦ vᵀJ(x)``: every VJP rule, run with create_graph=True,
    records a graph whose own derivatives (in ``x`` and in ``v``) are right."""
    case = data.draw(SPECS[op][name])
    ts = case.tensors()
    v_shape = case.fn(*case.tensors()).shape
    v = Tensor(data.draw(arrays(v_shape)), requires_grad=True)
    ng.gradcheck(vjp_function(case), [*ts, v], mode="random", n_projections=3)


@pytest.mark.parametrize(("op", "name"), CASES)
@settings(max_examples=max(3, settings.default.max_examples // 5))
@given(data=st.data())
def test_float32_end_to_end(op: str, name: str, data: st.DataObject) -> None:
    """float32 inputs give float32 outputs and float32 gradients (plain and recorded),
    within float32 rounding of the float64 results."""
    case = data.draw(SPECS[op][name])
    t64, t32 = case.tensors(np.float64), case.tensors(np.float32)
    out64, out32 = case.fn(*t64), case.fn(*t32)
    assert out32.dtype == np.float32
    scale = max(1.0, float(np.max(np.abs(out64.data), initial=0.0)))
    np.testing.assert_allclose(out32.data, out64.data, rtol=1e-4, atol=1e-5 * scale)
    v = np.linspace(-1, 1, out64.size).reshape(out64.shape)
    wrt64 = [t for t in t64 if t.requires_grad]
    wrt32 = [t for t in t32 if t.requires_grad]
    g64 = ng.grad(out64, wrt64, grad_outputs=v)
    g32 = ng.grad(out32, wrt32, grad_outputs=v.astype(np.float32), retain_graph=True)
    gg32 = ng.grad(out32, wrt32, grad_outputs=Tensor(v.astype(np.float32)), create_graph=True)
    for a, b, c in zip(g64, g32, gg32):
        assert a is not None and b is not None and c is not None
        assert b.dtype == np.float32 and c.dtype == np.float32
        s = max(1.0, float(np.max(np.abs(a.data), initial=0.0)))
        np.testing.assert_allclose(b.data, a.data, rtol=1e-3, atol=1e-4 * s)
        np.testing.assert_allclose(c.data, b.data, rtol=1e-5, atol=1e-6 * s)


def test_gradcheck_of_a_view_returning_function() -> None:
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    ng.gradcheck(lambda t: t[0], [x])


def test_gradcheck_of_a_function_with_an_empty_output() -> None:
    x = Tensor(np.arange(3.0), requires_grad=True)
    assert ng.gradcheck(lambda t: t[1:1] * 2.0, [x]).passed


# --------------------------------------------------------- second derivatives
def _second(f: Fn, x: np.ndarray) -> tuple[Tensor, Tensor | None]:
    """``f'`` and ``f''`` of an elementwise ``f`` by differentiating twice."""
    t = Tensor(x.copy(), requires_grad=True)
    (d1,) = ng.grad(f(t).sum(), t, create_graph=True)
    assert d1 is not None
    if not d1.requires_grad:  # f' does not depend on x at all: f'' ≡ 0
        return d1, None
    (d2,) = ng.grad(d1.sum(), t)
    return d1, d2


def _s(x: np.ndarray) -> np.ndarray:
    return np_sigmoid(x)


SECOND_DERIVATIVES: dict[str, tuple[Fn, Ref, Ref, tuple[float, float]]] = {
    # name: (f, f', f'', domain)
    "sigmoid": (F.sigmoid, lambda x: _s(x) * (1 - _s(x)),
                lambda x: _s(x) * (1 - _s(x)) * (1 - 2 * _s(x)), (-5, 5)),
    "tanh": (F.tanh, lambda x: 1 - np.tanh(x) ** 2,
             lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), (-3, 3)),
    "softplus": (F.softplus, _s, lambda x: _s(x) * (1 - _s(x)), (-5, 5)),
    "exp": (F.exp, np.exp, np.exp, (-3, 3)),
    "log": (F.log, lambda x: 1 / x, lambda x: -1 / x**2, (0.2, 4)),
    "sqrt": (F.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5, (0.2, 4)),
    "pow_scalar 3": (lambda t: t ** 3, lambda x: 3 * x**2, lambda x: 6 * x, (-2, 2)),
    "pow_scalar -1.5": (lambda t: t ** -1.5, lambda x: -1.5 * x ** -2.5, lambda x: 3.75 * x ** -3.5, (0.3, 3)),
    "reciprocal (div)": (lambda t: 1.0 / t, lambda x: -1 / x**2, lambda x: 2 / x**3, (0.3, 3)),
    "pow x**x": (lambda t: t ** t, lambda x: x**x * (np.log(x) + 1),
                 lambda x: x**x * ((np.log(x) + 1) ** 2 + 1 / x), (0.3, 2)),
    "mul x*x": (lambda t: t * t, lambda x: 2 * x, lambda x: 2 + 0 * x, (-2, 2)),
    "bce_with_logits": (lambda t: F.binary_cross_entropy_with_logits(t, np.full(t.shape, 0.3)),
                        lambda x: (_s(x) - 0.3) / x.shape[0], lambda x: _s(x) * (1 - _s(x)) / x.shape[0], (-5, 5)),
    "bce": (lambda t: F.binary_cross_entropy(t, np.full(t.shape, 0.3)),
            lambda x: (x - 0.3) / (x * (1 - x)) / x.shape[0],
            lambda x: (0.3 / x**2 + 0.7 / (1 - x) ** 2) / x.shape[0], (0.05, 0.95)),
    # Piecewise linear: f' is a constant mask, so the recorded f' must not depend on x.
    "relu": (F.relu, lambda x: (x > 0) * 1.0, lambda x: 0 * x, (-2, 2)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda x: np.where(x > 0, 1, 0.2), lambda x: 0 * x, (-2, 2)),
    "abs": (F.abs, np.sign, lambda x: 0 * x, (-2, 2)),
    "clip": (lambda t: t.clip(-1, 1), lambda x: (np.abs(x) < 1) * 1.0, lambda x: 0 * x, (-2, 2)),
}


@pytest.mark.parametrize("name", list(SECOND_DERIVATIVES))
def test_second_derivative_matches_closed_form(name: str) -> None:
    f, d1_ref, d2_ref, (lo, hi) = SECOND_DERIVATIVES[name]
    x = np.linspace(lo, hi, 12).reshape(3, 4)  # no point lands on 0 or ±1 (the kinks)
    d1, d2 = _second(f, x)
    np.testing.assert_allclose(d1.data, d1_ref(x), rtol=1e-10, atol=1e-12)
    if d2 is None:
        np.testing.assert_array_equal(d2_ref(x), 0.0)
    else:
        np.testing.assert_allclose(d2.data, d2_ref(x), rtol=1e-9, atol=1e-12)


def _hessian(f: Fn, x: np.ndarray) -> np.ndarray:
    """Full Hessian of a scalar ``f`` by differentiating each gradient component again."""
    t = Tensor(x.copy(), requires_grad=True)
    (g,) = ng.grad(f(t), t, create_graph=True)
    assert g is not None
    rows = []
    for i in range(x.size):
        (h,) = ng.grad(g.reshape(-1)[i], t, retain_graph=True)
        assert h is not None
        rows.append(h.data.ravel())
    return np.array(rows)


X4 = np.array([0.3, -1.2, 2.0, 0.1])
S4 = np.exp(X4) / np.exp(X4).sum()


def test_softmax_component_hessian_matches_closed_form() -> None:
    # ∂²s_k/∂x_i∂x_j = s_k[(δ_ki − s_i)(δ_kj − s_j) − s_i(δ_ij − s_j)]
    k = 1
    e = np.eye(4)
    expected = S4[k] * (np.outer(e[k] - S4, e[k] - S4) - (np.diag(S4) - np.outer(S4, S4)))
    np.testing.assert_allclose(_hessian(lambda t: F.softmax(t)[k], X4), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("k", [0, 2])
def test_log_softmax_hessian_is_minus_the_softmax_covariance(k: int) -> None:
    expected = -(np.diag(S4) - np.outer(S4, S4))  # the same for every component k
    np.testing.assert_allclose(_hessian(lambda t: F.log_softmax(t)[k], X4), expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("labels", ["one_hot", "integer"])
def test_cross_entropy_hessian_is_the_softmax_covariance_over_m(labels: str) -> None:
    z = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5]])
    cls = np.array([2, 0])
    y: Any = np.eye(3)[cls] if labels == "one_hot" else cls
    s = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = np.zeros((6, 6))
    for m in range(2):
        expected[3 * m:3 * m + 3, 3 * m:3 * m + 3] = (np.diag(s[m]) - np.outer(s[m], s[m])) / 2
    np.testing.assert_allclose(_hessian(lambda t: F.cross_entropy(t, y), z), expected, rtol=1e-9, atol=1e-12)


def test_hessian_vector_product_of_a_small_mlp_matches_finite_differences() -> None:
    rng = np.random.default_rng(7)
    X, Y = rng.standard_normal((5, 3)), rng.random((5, 2))
    params = [rng.standard_normal((4, 3)), rng.standard_normal(4), rng.standard_normal((2, 4)), rng.standard_normal(2)]
    vs = [rng.standard_normal(p.shape) for p in params]

    def gradient(ps: list[np.ndarray], create_graph: bool = False) -> tuple[list[Tensor], tuple[Tensor | None, ...]]:
        ts = [Tensor(p.copy(), requires_grad=True) for p in ps]
        a2 = F.tanh(F.linear(X, ts[0], ts[1]))
        C = F.quadratic_cost(F.sigmoid(F.linear(a2, ts[2], ts[3])), Y)
        return ts, ng.grad(C, ts, create_graph=create_graph)

    ts, gs = gradient(params, create_graph=True)
    gv = None
    for g, v in zip(gs, vs):
        assert g is not None
        term = (g * v).sum()
        gv = term if gv is None else gv + term
    assert gv is not None
    hvp = ng.grad(gv, ts)
    eps = 1e-5
    plus = gradient([p + eps * v for p, v in zip(params, vs)])[1]
    minus = gradient([p - eps * v for p, v in zip(params, vs)])[1]
    for h, gp, gm in zip(hvp, plus, minus):
        assert h is not None and gp is not None and gm is not None
        np.testing.assert_allclose(h.data, (gp.data - gm.data) / (2 * eps), rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------- stability
def test_bce_with_logits_is_finite_and_exact_at_large_logits() -> None:
    z = Tensor(np.array([[800.0, -800.0, 800.0, -800.0, 0.5]]), requires_grad=True)
    y = np.array([[0.0, 1.0, 1.0, 0.0, 0.3]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in exp
        c = F.binary_cross_entropy_with_logits(z, y)
        c.backward()
    s = 1 / (1 + np.exp(-0.5))
    expected = 800 + 800 + 0 + 0 - (0.3 * np.log(s) + 0.7 * np.log(1 - s))
    np.testing.assert_allclose(c.item(), expected, rtol=1e-12)
    assert z.grad is not None
    np.testing.assert_allclose(z.grad.data, [[1.0, -1.0, 0.0, 0.0, s - 0.3]], rtol=1e-12, atol=0)


def test_cross_entropy_is_finite_and_exact_at_large_logits() -> None:
    z = np.array([[800.0, 0.0, -800.0], [-800.0, 800.0, 0.0]])
    # log Σ e^{z} = 800 + log(1 + e^{-800} + e^{-1600}) = 800 exactly in float64.
    for y, expected in [(np.array([0, 0]), (0 + 1600) / 2), (np.eye(3)[[2, 1]], (1600 + 0) / 2)]:
        t = Tensor(z.copy(), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            c = F.cross_entropy(t, y)
            c.backward()
        assert c.item() == pytest.approx(expected, rel=1e-12)
        assert t.grad is not None
        onehot = np.eye(3)[[0, 0]] if y.ndim == 1 else y
        soft = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        np.testing.assert_allclose(t.grad.data, (soft - onehot) / 2, atol=1e-300)


def test_softmax_sigmoid_and_log_softmax_are_finite_at_large_inputs() -> None:
    x = Tensor(np.array([1000.0, 0.0, -1000.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm, ls, sg = F.softmax(x), F.log_softmax(x), F.sigmoid(x)
        (sm[0] + ls[1] + sg.sum()).backward()
    np.testing.assert_array_equal(sm.data, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(ls.data, [0.0, -1000.0, -2000.0])
    np.testing.assert_array_equal(sg.data, [1.0, 0.5, 0.0])
    assert x.grad is not None
    # d softmax_0 = s0(e0 − s) = 0; d log_softmax_1 = e1 − s; d Σσ = σ(1 − σ)
    np.testing.assert_allclose(x.grad.data, [-1.0, 1.0 + 0.25, 0.0], atol=1e-300)


def test_binary_cross_entropy_clips_saturated_probabilities_in_float32() -> None:
    # σ(±20) in float32 is exactly 1 or 0; the clip must keep ln(1 − a) finite there.
    z = Tensor(np.array([[20.0, -20.0]], dtype=np.float32), requires_grad=True)
    c = F.binary_cross_entropy(F.sigmoid(z), np.array([[0.0, 1.0]]))
    c.backward()
    assert c.dtype == np.float32 and np.isfinite(c.item())
    assert z.grad is not None and np.all(np.isfinite(z.grad.data))
    a = Tensor(np.array([1.0, 0.0], dtype=np.float32), requires_grad=True)
    c2 = F.binary_cross_entropy(a, np.array([0.0, 1.0]))
    c2.backward()
    assert a.grad is not None and np.all(np.isfinite(a.grad.data)) and np.isfinite(c2.item())
    assert a.grad.data[0] > 0 > a.grad.data[1]  # pushes a towards its target


def test_quadratic_cost_vjp_keeps_numpys_promotion_of_a_wider_incoming_gradient() -> None:
    from nablagraph.ops import RAW, _quadratic_vjp

    rng = np.random.default_rng(0)
    a, y = rng.random((4, 3)).astype(np.float32), rng.random((4, 3)).astype(np.float32)
    g = np.array(0.3)  # float64, e.g. the cost scaled by a float64 tensor
    (ga, _) = _quadratic_vjp(RAW, (True, False), g, None, a, y)
    expected = (a - y) * (g / 4)
    assert ga.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(ga, expected)
