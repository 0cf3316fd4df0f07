"""Random computation graphs, every leaf's gradient checked against ``gradcheck``.

A Hypothesis strategy draws one to three float64 leaves of random shapes and then a
random program: each step applies an op drawn from (nearly) the whole registry to
nodes already in the graph — elementwise unary and binary ops with broadcasting,
``matmul`` and ``linear``, ``sum``/``mean`` over random axes, ``reshape``,
``transpose``, ``getitem``, ``broadcast_to``, ``sum_to``, ``scatter``,
``concatenate``, ``stack``, ``softmax``/``log_softmax``, ``max``/``min`` (on values
without ties), ``cast`` — and may reuse any earlier node, so
nodes feed several later ops.  The graph ends in a cost (or a plain reduction, or a
non-scalar output) plus the sum of every other unused node, so every node reaches the
output.  ``gradcheck`` then compares the engine's Jacobian with central differences
for every leaf.

Domains are kept safe while the graph is drawn, from the values the nodes really
take: ``log``, ``sqrt`` and fractional powers get ``1 + x²``-like positive inputs,
divisions divide by ``1 + x²``, and ops with kinks (``abs``, ``relu``,
``leaky_relu``, ``maximum``, ``clip``) are only drawn when every value is at least
``KINK_GAP`` from the kink (gradcheck perturbs by 1e-6).  Values that grow beyond
``BOUND`` are rescaled by a constant so finite differences stay accurate.

The quick run uses the active Hypothesis profile (dev/ci/thorough).  The long run::

    NABLAGRAPH_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest -q tests/test_fuzz_graphs.py
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nablagraph as ng
from nablagraph import functional as F
from nablagraph.ops import OPS
from nablagraph.tensor import Tensor, no_grad

KINK_GAP = 1e-3
BOUND = 4.0
MIN_STEPS = 2
MAX_STEPS = 10
QUICK_EXAMPLES = 60

Env = list[Tensor]
Step = Callable[[Env], Tensor]

_LONG = int(os.environ.get("NABLAGRAPH_FUZZ_EXAMPLES", "0"))


@dataclass
class Graph:
    """A drawn graph: leaves, a program of steps and a description of each step."""

    leaves: list[np.ndarray]
    steps: list[Step] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    used: list[bool] = field(default_factory=list)
    final: Step | None = None

    def run(self, *leaves: Tensor) -> Tensor:
        env: Env = list(leaves)
        for s in self.steps:
            env.append(s(env))
        assert self.final is not None
        return self.final(env)

    def __repr__(self) -> str:
        shapes = [v.shape for v in self.leaves]
        return f"Graph(leaves={shapes}, steps={self.names})"


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _far(v: np.ndarray, kinks: list[float]) -> bool:
    return all(bool(np.all(np.abs(v - k) >= KINK_GAP)) for k in kinks)


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def _pos(t: Tensor) -> Tensor:
    """``1 + t²``: positive (≥ 1) whatever ``t``, for log, sqrt, powers and divisions."""
    return t * t + 1.0


class _Builder:
    """Draws steps, evaluating each at once so shapes and values are known."""

    def __init__(self, draw: st.DrawFn, graph: Graph) -> None:
        self.draw = draw
        self.g = graph

    def pick(self, ok: Callable[[np.ndarray], bool] = lambda v: True) -> int | None:
        cands = [i for i, v in enumerate(self.g.values) if ok(v)]
        if not cands:
            return None
        # Prefer recent nodes (deeper graphs) but allow any (reuse).
        return int(self.draw(st.sampled_from(cands[::-1])))

    def add(self, name: str, step: Step, inputs: tuple[int, ...]) -> bool:
        env = [Tensor(v) for v in self.g.values]
        with no_grad():
            out = step(env)
        v = np.asarray(out.data, dtype=np.float64)
        if v.size == 0 or v.size > 64 or not np.all(np.isfinite(v)):
            return False
        m = float(np.max(np.abs(v))) if v.size else 0.0
        if m > BOUND:  # a constant rescale keeps finite differences accurate
            c = BOUND / m
            inner = step
            step = lambda e, inner=inner, c=c: inner(e) * c  # noqa: E731
            name += f"*{c:.3g}"
            v = v * c
        self.g.steps.append(step)
        self.g.names.append(name)
        self.g.values.append(v)
        self.g.used.append(False)
        for i in inputs:
            self.g.used[i] = True
        return True

    # ---------------------------------------------------------------- one step
    def step(self) -> bool:
        # The group first, then the op: binary and shape ops are drawn as often as unary.
        group = self.draw(st.sampled_from([BINARY, UNARY, SHAPE]))
        kind = self.draw(st.sampled_from(group))
        method = getattr(self, "op_" + kind)
        return bool(method())

    def _unary(self, name: str, fn: Callable[[Tensor], Tensor],
               ok: Callable[[np.ndarray], bool] = lambda v: True) -> bool:
        i = self.pick(ok)
        if i is None:
            return False
        return self.add(f"{name}({i})", lambda e: fn(e[i]), (i,))

    def op_neg(self) -> bool:
        return self._unary("neg", lambda t: -t)

    def op_exp(self) -> bool:
        return self._unary("exp", F.exp)

    def op_log(self) -> bool:
        return self._unary("log", lambda t: F.log(_pos(t)))

    def op_sqrt(self) -> bool:
        return self._unary("sqrt", lambda t: F.sqrt(_pos(t)))

    def op_abs(self) -> bool:
        return self._unary("abs", F.abs, lambda v: _far(v, [0.0]))

    def op_sigmoid(self) -> bool:
        return self._unary("sigmoid", F.sigmoid)

    def op_softplus(self) -> bool:
        return self._unary("softplus", F.softplus)

    def op_tanh(self) -> bool:
        return self._unary("tanh", F.tanh)

    def op_relu(self) -> bool:
        return self._unary("relu", F.relu, lambda v: _far(v, [0.0]))

    def op_leaky_relu(self) -> bool:
        slope = self.draw(_floats(0.01, 0.5))
        return self._unary("leaky_relu", lambda t: F.leaky_relu(t, slope), lambda v: _far(v, [0.0]))

    def op_pow_scalar(self) -> bool:
        p = self.draw(st.sampled_from([2, 3, -1, 0.5, 1.5, -0.5]))
        if isinstance(p, int) and p > 0:
            return self._unary(f"pow{p}", lambda t: t ** p)
        return self._unary(f"pow{p}", lambda t: _pos(t) ** p)

    def op_clip(self) -> bool:
        lo = self.draw(_floats(-2.0, 0.0))
        hi = lo + self.draw(_floats(0.2, 3.0))
        which = self.draw(st.sampled_from(["both", "min", "max"]))
        lo_ = lo if which != "max" else None
        hi_ = hi if which != "min" else None
        kinks = [k for k in (lo_, hi_) if k is not None]
        return self._unary("clip", lambda t: F.clip(t, lo_, hi_), lambda v: _far(v, kinks))

    def _axis_unary(self, name: str, fn: Callable[[Tensor, int], Tensor]) -> bool:
        i = self.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        nd = self.g.values[i].ndim
        axis = self.draw(st.integers(-nd, nd - 1))
        return self.add(f"{name}({i}, axis={axis})", lambda e: fn(e[i], axis), (i,))

    def op_softmax(self) -> bool:
        return self._axis_unary("softmax", F.softmax)

    def op_log_softmax(self) -> bool:
        return self._axis_unary("log_softmax", F.log_softmax)

    def _reduce(self, name: str, f: Any, ok: Any = None) -> bool:
        i = self.pick(ok) if ok is not None else self.pick()
        if i is None:
            return False
        nd = self.g.values[i].ndim
        axis = self.draw(st.one_of(st.none(), hnp.valid_tuple_axes(nd),
                                   st.integers(-nd, nd - 1) if nd else st.none()))
        keep = self.draw(st.booleans())
        return self.add(f"{name}({i}, axis={axis}, keepdims={keep})",
                        lambda e: f(e[i], axis, keep), (i,))

    def op_sum(self) -> bool:
        return self._reduce("sum", F.sum)

    def op_mean(self) -> bool:
        return self._reduce("mean", F.mean)

    @staticmethod
    def _apart(v: np.ndarray) -> bool:
        # Only nodes whose values are all KINK_GAP apart: no ties, and perturbations never
        # change which entry is the extreme.
        return v.size < 2 or bool(np.all(np.diff(np.sort(v.ravel())) >= KINK_GAP))

    def op_max(self) -> bool:
        return self._reduce("max", F.max, self._apart)

    def op_min(self) -> bool:
        return self._reduce("min", F.min, self._apart)

    def op_cast(self) -> bool:
        return self._unary("cast", lambda t: t.astype(np.float64))  # astype always records

    # ---------------------------------------------------------------- binary
    def _pair(self) -> tuple[int, int]:
        i = self.pick()
        assert i is not None
        si = self.g.values[i].shape
        j = self.pick(lambda v: _broadcastable(si, v.shape))
        assert j is not None  # i itself qualifies
        if self.draw(st.booleans()):
            i, j = j, i
        return i, j

    def _binary(self, name: str, fn: Callable[[Tensor, Tensor], Tensor]) -> bool:
        i, j = self._pair()
        return self.add(f"{name}({i}, {j})", lambda e: fn(e[i], e[j]), (i, j))

    def op_add(self) -> bool:
        return self._binary("add", lambda a, b: a + b)

    def op_sub(self) -> bool:
        return self._binary("sub", lambda a, b: a - b)

    def op_mul(self) -> bool:
        return self._binary("mul", lambda a, b: a * b)

    def op_div(self) -> bool:
        return self._binary("div", lambda a, b: a / _pos(b))

    def op_pow(self) -> bool:
        return self._binary("pow", lambda a, b: _pos(a) ** F.tanh(b))

    def op_maximum(self) -> bool:
        i, j = self._pair()
        vi, vj = self.g.values[i], self.g.values[j]
        if i == j or not np.all(np.abs(vi - vj) >= KINK_GAP):
            return False
        return self.add(f"maximum({i}, {j})", lambda e: F.maximum(e[i], e[j]), (i, j))

    def op_where(self) -> bool:
        i, j = self._pair()
        shape = np.broadcast_shapes(self.g.values[i].shape, self.g.values[j].shape)
        cond = self.draw(hnp.arrays(np.bool_, shape))
        return self.add(f"where({i}, {j})", lambda e: F.where(cond, e[i], e[j]), (i, j))

    def op_matmul(self) -> bool:
        vals = self.g.values
        pairs = [(i, j) for i, a in enumerate(vals) for j, b in enumerate(vals)
                 if a.ndim >= 1 and b.ndim >= 1
                 and a.shape[-1] == (b.shape[0] if b.ndim == 1 else b.shape[-2])
                 and ((a.ndim <= 2 and b.ndim <= 2)
                      or _broadcastable(a.shape[:-2], b.shape[:-2]))]
        if pairs and self.draw(st.booleans()):
            i, j = self.draw(st.sampled_from(pairs))
            return self.add(f"matmul({i}, {j})", lambda e: e[i] @ e[j], (i, j))
        i = self.pick(lambda v: v.ndim >= 2)  # x xᵀ always fits
        if i is None:
            return False
        return self.add(f"matmul({i}, {i}.mT)", lambda e: e[i] @ F.mT(e[i]), (i,))

    def op_linear(self) -> bool:
        vals = self.g.values
        pairs = [(i, j) for i, x in enumerate(vals) for j, w in enumerate(vals)
                 if x.ndim >= 1 and w.ndim == 2 and w.shape[1] == x.shape[-1]]
        if not pairs:
            return False
        i, j = self.draw(st.sampled_from(pairs))
        n_out = vals[j].shape[0]
        biases = [k for k, b in enumerate(vals) if b.shape == (n_out,)]
        if biases and self.draw(st.booleans()):
            k = self.draw(st.sampled_from(biases))
            return self.add(f"linear({i}, {j}, {k})", lambda e: F.linear(e[i], e[j], e[k]), (i, j, k))
        return self.add(f"linear({i}, {j})", lambda e: F.linear(e[i], e[j]), (i, j))

    # ---------------------------------------------------------------- shapes
    def op_reshape(self) -> bool:
        i = self.pick()
        assert i is not None
        shape = self.g.values[i].shape
        dims = list(self.draw(st.permutations(shape))) if shape else []
        for _ in range(self.draw(st.integers(0, 1))):
            dims.insert(self.draw(st.integers(0, len(dims))), 1)
        if dims and self.draw(st.booleans()):
            dims[self.draw(st.integers(0, len(dims) - 1))] = -1
        target = tuple(dims)
        return self.add(f"reshape({i}, {target})", lambda e: F.reshape(e[i], target), (i,))

    def op_transpose(self) -> bool:
        i = self.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        nd = self.g.values[i].ndim
        perm = tuple(self.draw(st.permutations(range(nd))))
        return self.add(f"transpose({i}, {perm})", lambda e: F.transpose(e[i], perm), (i,))

    def op_getitem(self) -> bool:
        i = self.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        shape = self.g.values[i].shape
        kind = self.draw(st.sampled_from(["basic", "repeats"]))
        if kind == "basic":
            index: Any = self.draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True))
        else:
            axis = self.draw(st.integers(0, len(shape) - 1))
            n = shape[axis]
            idx = self.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))
            index = (slice(None),) * axis + (np.array([*idx, idx[0]]),)
        if np.empty(shape)[index].size == 0:
            return False
        return self.add(f"getitem({i}, {index!r})", lambda e: e[i][index], (i,))

    def op_broadcast_to(self) -> bool:
        i = self.pick(lambda v: v.size <= 8)
        if i is None:
            return False
        shape = self.g.values[i].shape
        lead = tuple(self.draw(st.lists(st.integers(1, 3), max_size=2)))
        target = lead + tuple(self.draw(st.integers(1, 3)) if s == 1 else s for s in shape)
        return self.add(f"broadcast_to({i}, {target})", lambda e: F.broadcast_to(e[i], target), (i,))

    def op_sum_to(self) -> bool:
        i = self.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        shape = self.g.values[i].shape
        k = self.draw(st.integers(0, len(shape)))
        target = tuple(1 if self.draw(st.booleans()) else s for s in shape[k:])
        return self.add(f"sum_to({i}, {target})", lambda e: F.sum_to(e[i], target), (i,))

    def op_scatter(self) -> bool:
        i = self.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        shape = self.g.values[i].shape
        axis = self.draw(st.integers(0, len(shape) - 1))
        big = shape[:axis] + (shape[axis] + self.draw(st.integers(0, 2)),) + shape[axis + 1:]
        idx = np.array(self.draw(st.lists(st.integers(0, big[axis] - 1),
                                          min_size=shape[axis], max_size=shape[axis])))
        index = (slice(None),) * axis + (idx,)
        return self.add(f"scatter({i}, {big}, {index!r})", lambda e: F.scatter(e[i], big, index), (i,))

    def op_concatenate(self) -> bool:
        i = self.pick(lambda v: v.ndim >= 1)
        if i is None:
            return False
        shape = self.g.values[i].shape
        axis = self.draw(st.integers(0, len(shape) - 1))
        rest = shape[:axis] + shape[axis + 1:]
        others = [j for j, v in enumerate(self.g.values)
                  if v.ndim == len(shape) and v.shape[:axis] + v.shape[axis + 1:] == rest]
        js = self.draw(st.lists(st.sampled_from(others), min_size=1, max_size=2))
        ids = (i, *js)
        return self.add(f"concatenate({ids}, axis={axis})",
                        lambda e: F.concatenate([e[k] for k in ids], axis), ids)

    def op_stack(self) -> bool:
        i = self.pick()
        if i is None:
            return False
        shape = self.g.values[i].shape
        others = [j for j, v in enumerate(self.g.values) if v.shape == shape]
        js = self.draw(st.lists(st.sampled_from(others), min_size=0, max_size=2))
        ids = (i, *js)
        axis = self.draw(st.integers(-len(shape) - 1, len(shape)))
        return self.add(f"stack({ids}, axis={axis})", lambda e: F.stack([e[k] for k in ids], axis), ids)

    # ---------------------------------------------------------------- ending
    def finish(self) -> None:
        last = len(self.g.values) - 1
        v = self.g.values[last]
        kind = self.draw(st.sampled_from(COSTS))
        cost: Step
        if kind == "none":
            cost = lambda e: e[last]  # noqa: E731  (a non-scalar output: full Jacobian)
        elif kind == "sum":
            cost = lambda e: F.sum(e[last])  # noqa: E731
        elif kind in ("quadratic_cost", "mse_loss"):
            y = self.draw(hnp.arrays(np.float64, v.shape, elements=_floats(-2, 2)))
            fn = F.quadratic_cost if kind == "quadratic_cost" else F.mse_loss
            cost = lambda e: fn(e[last], y)  # noqa: E731
        elif kind == "binary_cross_entropy":
            y = self.draw(hnp.arrays(np.float64, v.shape, elements=_floats(0, 1)))
            cost = lambda e: F.binary_cross_entropy(F.sigmoid(e[last]), y)  # noqa: E731
        elif kind == "binary_cross_entropy_with_logits":
            y = self.draw(hnp.arrays(np.float64, v.shape, elements=_floats(0, 1)))
            cost = lambda e: F.binary_cross_entropy_with_logits(e[last], y)  # noqa: E731
        elif v.ndim == 0:
            cost = lambda e: F.sum(e[last])  # noqa: E731
        elif kind == "cross_entropy":
            p = self.draw(hnp.arrays(np.float64, v.shape, elements=_floats(0.01, 1)))
            y = p / p.sum(axis=-1, keepdims=True)
            cost = lambda e: F.cross_entropy(e[last], y)  # noqa: E731
        else:  # cross_entropy_index
            n = v.shape[-1]
            labels = self.draw(hnp.arrays(np.int64, v.shape[:-1], elements=st.integers(0, n - 1)))
            cost = lambda e: F.cross_entropy(e[last], labels)  # noqa: E731
        # Every other node nobody consumed joins the output, so every node matters.
        dangling = [i for i, u in enumerate(self.g.used[:last]) if not u]
        weights = [self.draw(_floats(-1, 1)) for _ in dangling]

        def final(e: Env) -> Tensor:
            out = cost(e)
            for i, w in zip(dangling, weights):
                out = out + F.sum(e[i]) * w
            return out

        self.g.final = final
        self.g.names.append(f"{kind}({last}) + dangling {dangling}")


UNARY = ["tanh", "neg", "exp", "log", "sqrt", "abs", "sigmoid", "relu", "leaky_relu",
         "softplus", "pow_scalar", "clip", "softmax", "log_softmax", "sum", "mean",
         "max", "min", "cast"]
BINARY = ["matmul", "linear", "add", "sub", "mul", "div", "pow", "maximum", "where"]
SHAPE = ["reshape", "transpose", "getitem", "broadcast_to", "sum_to", "scatter", "concatenate",
         "stack"]
#: The cost ops in registry order (their fact ``kind == "cost"``), after two plain endings.
COSTS = ["none", "sum", *(n for n, op in OPS.items() if op.kind == "cost")]

#: Registry ops the fuzzer reaches; the rest are named in UNREACHED with the reason.
COVERED = set(UNARY + BINARY + SHAPE) | set(COSTS[2:]) | {"sub", "pow_scalar"}
UNREACHED: dict[str, str] = {}


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    n_leaves = draw(st.integers(1, 3))
    shapes = st.one_of(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), st.just(()))
    leaves = [draw(hnp.arrays(np.float64, draw(shapes), elements=_floats(-2, 2)))
              for _ in range(n_leaves)]
    g = Graph(leaves=leaves, values=[np.array(v) for v in leaves], used=[False] * n_leaves)
    b = _Builder(draw, g)
    depth = draw(st.integers(MIN_STEPS, MAX_STEPS))
    tries = 0
    while len(g.steps) < depth and tries < 4 * MAX_STEPS:
        b.step()
        tries += 1
    if not g.steps:  # every draw was rejected: fall back to a smooth op
        b.op_tanh()
    b.finish()
    return g


def _settings() -> Callable[[Any], Any]:
    if _LONG:
        return settings(max_examples=_LONG, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))
    # The quick run: the active profile's count, but at least QUICK_EXAMPLES graphs.
    return settings(max_examples=max(settings().max_examples, QUICK_EXAMPLES),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


@_settings()
@given(graphs())
def test_random_graph_gradients_match_finite_differences(g: Graph) -> None:
    leaves = [Tensor(v.copy(), requires_grad=True) for v in g.leaves]
    report = ng.gradcheck(g.run, leaves)
    assert report.passed
    assert len(report.inputs) == len(g.leaves)


def test_the_fuzzer_reaches_every_registered_op() -> None:
    """Fails, naming the op, when the registry grows an op the fuzzer never draws."""
    missing = set(OPS) - COVERED - set(UNREACHED)
    assert not missing, f"ops the graph fuzzer never draws: {sorted(missing)}"


def test_the_fuzzer_records_the_ops_it_claims() -> None:
    """Each named step really records its registry op (so coverage is not on paper only)."""
    seen: set[str] = set()

    @settings(max_examples=150, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(graphs())
    def collect(g: Graph) -> None:
        out = g.run(*[Tensor(v.copy(), requires_grad=True) for v in g.leaves])
        stack, visited = [out], set()
        while stack:
            t = stack.pop()
            if id(t) in visited:
                continue
            visited.add(id(t))
            if t.op is not None:
                seen.add(t.op)
            stack.extend(t.parents)

    collect()
    assert {"matmul", "linear", "softmax", "log_softmax", "getitem", "concatenate", "sum", "mean",
            "reshape", "transpose", "cross_entropy_index"} <= seen, sorted(seen)


@pytest.mark.parametrize("kind", UNARY + BINARY + SHAPE)
def test_each_step_kind_builds_a_checkable_graph(kind: str) -> None:
    """A deterministic graph for every step kind (so none of them is silently dead)."""

    @settings(max_examples=5, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        x = data.draw(hnp.arrays(np.float64, (2, 3), elements=_floats(0.5, 1.5)))
        w = data.draw(hnp.arrays(np.float64, (3, 3), elements=_floats(0.5, 1.5)))
        g = Graph(leaves=[x, w], values=[x.copy(), w.copy()], used=[False, False])
        b = _Builder(data.draw, g)
        if not getattr(b, "op_" + kind)():
            return
        b.finish()
        ng.gradcheck(g.run, [Tensor(v.copy(), requires_grad=True) for v in g.leaves])

    run()


# ------------------------------------- compile_step's generated code, same graphs


@_settings()
@given(graphs())
def test_generated_replay_of_random_graphs_equals_eager_bit_for_bit(g: Graph) -> None:
    """The straight-line code of a plan (broadcasting, shared nodes, several
    contributions per node, every op of the registry) against the engine."""
    params = [Tensor(v.copy(), requires_grad=True) for v in g.leaves]
    with_arg = len(params) > 1  # then the first leaf comes in as an argument, not a parameter
    trained = params[1:] if with_arg else params

    def fn(*args: Tensor) -> Tensor:
        out = g.run(*args, *trained)
        return out if out.size == 1 else out.sum()

    args = [g.leaves[0]] if with_arg else []
    eager = fn(*[Tensor(a) for a in args])
    expected = ng.grad(eager, trained)
    step = ng.compile_step(fn)
    for _ in range(3):  # record (and verify), then replay the generated code twice
        for p in trained:
            p.grad = None
        C = step(*args)
    plan = next(iter(step._plans.values()))
    assert plan.fast is not None and "def replay(A):" in plan.source
    np.testing.assert_array_equal(C.data, eager.data)
    for p, e in zip(trained, expected):
        assert p.grad is not None
        np.testing.assert_array_equal(p.grad.data, e.data)
