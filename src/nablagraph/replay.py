"""Record a training step once, replay it: the same numbers with fewer Python calls.

An eager step builds a tensor per op and a dict entry per gradient.  On small networks
that bookkeeping costs more than the NumPy calls themselves.  :func:`compile_step`
records the graph of ``fn`` on the first call and turns it into a flat plan: a list of
forward calls on arrays, then the VJP calls in exactly the order the engine would make
them.  Later calls with arguments of the same shapes and dtypes run the plan:

>>> import numpy as np, nablagraph as ng
>>> net = ng.nn.Network([2, 3, 1], seed=0)
>>> step = ng.compile_step(lambda X, Y: net.cost(X, Y))
>>> X, Y = np.ones((4, 2)), np.zeros((4, 1))
>>> C = step(X, Y)               # records, checks the plan against the engine
>>> C = step(X, Y)               # replays
>>> net.layers[0].W.grad.shape   # gradients accumulated as backward() would
(3, 2)

The plan produces bit-for-bit the values and gradients of ``fn(*args).backward()``:
the forward runs the same primitives, and the backward visits the nodes and adds
contributions in the engine's own order.  The first call checks this.

Limits (checked where possible, documented where not):

* ``fn`` must run the same ops on every call: no Python control flow that depends on
  the values of the data (the plan replays the branch taken when it was recorded);
* the arguments must enter the graph as they are: converting one inside ``fn`` to a new
  array outside the recorded ops (``Tensor(X.data.astype(...))``) makes it a constant
  that would go stale — detected when the new array shares memory with the argument,
  and refused;
* hooks on intermediate tensors and ``retain_grad`` are not run by a replay (refused
  at recording); hooks on parameters run, once per call, on the gradient of the step;
* ``fn`` receives its arguments as tensors of their own dtype: the step equals
  ``fn(Tensor(X), ...).backward()``.  A float64 batch through a float32
  :class:`~nablagraph.nn.Network` therefore computes in float64, where
  ``net.cost(X_array)`` would first convert ``X`` to float32; pass batches in the
  model's dtype (``fit`` does);
* a call with new shapes or dtypes records a new plan;
* a plan keeps its own arrays between calls (the activations and gradients of one
  batch: W3 in float64, about 1.6 MB), so that a call allocates none; while one
  thread runs a plan, another thread's call of the same step takes the slower,
  interpreted path (see :mod:`nablagraph.replay_codegen`).

Imports: ``tensor``, ``engine``, ``ops``, ``errors``, ``gradbuf``, ``replay_codegen``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph._tensor import Tensor, _new, enable_grad
from nablagraph.errors import GraphError
from nablagraph.gradbuf import reusable_grad_buffer as KB  # the engine's one rule
from nablagraph.ops import RAW, Op, sum_to
from nablagraph.replay_codegen import generate

__all__ = ["compile_step", "CompiledStep"]


#: Plans with more forward ops plus VJPs than this stay on the interpreted loop: Python
#: compiles one long function in time and memory that grow with its length (a
#: 50,000-op chain: 9 s and 1 GB), while the loop's cost per op is small next to the
#: ops of such a graph.
GENERATE_MAX_OPS = 5_000


class _Plan:
    """The flat form of one recorded step."""

    __slots__ = (
        "n", "arg_slots", "param_slots", "params", "const_slots", "consts",
        "forward", "backward", "root", "leaf_slots", "root_dtype", "_fwd", "_bwd", "_seed", "_pairs",
        "fast", "source", "scalars", "fwd_names", "shapes", "dtypes", "ginfo", "lock",
    )

    def __init__(self) -> None:
        self.n = 0
        self.arg_slots: list[tuple[int, int]] = []  # (slot, argument index)
        self.param_slots: list[int] = []
        self.params: list[Tensor] = []
        self.const_slots: list[int] = []
        self.consts: list[np.ndarray] = []
        # (slot, forward, input slots, params, substitutions [(position, arg index)])
        self.forward: list[tuple[int, Callable[..., np.ndarray], tuple[int, ...], tuple[Any, ...], tuple[tuple[int, int], ...]]] = []
        # (slot, op, input slots, needs, params, substitutions)
        self.backward: list[tuple[int, Op, tuple[int, ...], tuple[bool, ...], tuple[Any, ...], tuple[tuple[int, int], ...]]] = []
        self.root = 0
        self.root_dtype: Any = np.float64
        self.leaf_slots: list[int] = []  # parameter slots, in the order the engine reaches them
        self._fwd: list[Any] = []
        self._bwd: list[Any] = []
        self._seed: np.ndarray = np.ones(())
        self._pairs: list[tuple[int, Tensor]] = []
        self.fast: Callable[[list[np.ndarray]], tuple[np.ndarray, list[np.ndarray | None]]] | None = None
        self.source = ""
        self.scalars: set[int] = set()  # forward ops whose result comes as a NumPy scalar
        self.fwd_names: list[str] = []  # the op of each forward call
        self.shapes: list[tuple[int, ...]] = []  # of every node, by slot
        self.dtypes: list[np.dtype[Any]] = []
        #: slot -> (an ndarray?, dtype, shape) of the node's gradient in the recording call
        self.ginfo: dict[int, tuple[bool, Any, Any]] = {}
        self.lock = threading.Lock()  # the generated code's arrays serve one call at a time

    def finalize(self, shapes: list[tuple[int, ...]], dtypes: list[np.dtype[Any]], single: set[int]) -> None:
        """Precompute what ``run`` needs per op: C-level getters for the inputs, and for
        each parent that needs a gradient its slot and shape.  ``single`` holds the
        slots of the parameters that one op consumes (from the engine's schedule): a
        VJP may write their gradient straight into a kept buffer, as the engine does."""
        self._fwd = [
            (slot, fwd, itemgetter(*ins), len(ins) == 1, params, subs)
            for slot, fwd, ins, params, subs in self.forward
        ]
        param_index = {slot: i for i, slot in enumerate(self.param_slots)}

        def dest_spec(op: Op, ins: tuple[int, ...]) -> tuple[int | None, ...] | None:
            # For ops that can write a gradient into a kept buffer: which inputs are
            # parameters whose only contribution this is (their .grad buffer is used).
            if not op.writes_into:
                return None
            spec = tuple(param_index[j] if j in single else None for j in ins)
            return spec if any(i is not None for i in spec) else None

        self._bwd = [
            (slot, op.vjp, itemgetter(*ins), len(ins) == 1, needs, params, subs,
             tuple((k, j, shapes[j]) for k, j in enumerate(ins) if needs[k]), dest_spec(op, ins))
            for slot, op, ins, needs, params, subs in self.backward
        ]
        self._seed = np.ones(shapes[self.root], dtype=self.root_dtype)
        self._pairs = list(zip(self.param_slots, self.params))
        self.shapes, self.dtypes = shapes, dtypes

    def run(
        self, arrays: list[np.ndarray], observe: list[tuple[int, int, bool, bool]] | None = None
    ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """Run the plan op by op (the recording call; ``observe`` collects, for every
        gradient a VJP hands on, whether it was ``None`` and whether it needed
        ``sum_to``, which :meth:`generate` turns into straight-line code)."""
        vals: list[Any] = [None] * self.n
        for slot, i in self.arg_slots:
            vals[slot] = arrays[i]
        for slot, p in self._pairs:
            vals[slot] = p._data
        for slot, c in zip(self.const_slots, self.consts):
            vals[slot] = c
        for n, (slot, fwd, get, single, params, subs) in enumerate(self._fwd):
            if subs:
                params = _substitute(params, subs, arrays)
            v = fwd(get(vals), *params) if single else fwd(*get(vals), *params)
            if type(v) is not np.ndarray:  # a NumPy scalar: an array, as apply() keeps it
                v = np.asarray(v)  # (scalar and array arithmetic can round differently)
                if observe is not None:
                    self.scalars.add(n)
            vals[slot] = v
        root = vals[self.root]
        grads: list[Any] = [None] * self.n
        grads[self.root] = self._seed  # never written to: VJPs do not modify g
        for idx, (slot, vjp, get, single, needs, params, subs, targets, dspec) in enumerate(self._bwd):
            g = grads[slot]
            grads[slot] = None
            if g is None:
                continue
            if observe is not None:
                self.ginfo[slot] = (type(g) is np.ndarray, getattr(g, "dtype", None), getattr(g, "shape", None))
            if subs:
                params = _substitute(params, subs, arrays)
            if dspec is not None:
                dest = tuple([None if i is None else KB(self.params[i]) for i in dspec])
                gs = vjp(RAW, needs, g, vals[slot], *get(vals), *params, dest=dest)
            elif single:
                gs = vjp(RAW, needs, g, vals[slot], get(vals), *params)
            else:
                gs = vjp(RAW, needs, g, vals[slot], *get(vals), *params)
            for k, j, shape in targets:
                gp = gs[k]
                if observe is not None:
                    observe.append((idx, k, gp is None, gp is not None and gp.shape != shape))
                if gp is None:
                    continue
                if gp.shape != shape:
                    gp = sum_to(gp, shape)
                prev = grads[j]
                grads[j] = gp if prev is None else prev + gp
        return root, [grads[s] for s in self.param_slots]

    def size(self) -> int:
        """The number of forward ops plus VJPs of the plan."""
        return len(self.forward) + len(self.backward)


def _generate_checked(
    plan: _Plan, observed: list[tuple[int, int, bool, bool]], arrays: list[np.ndarray],
    value: np.ndarray, grads: list[np.ndarray | None],
) -> None:
    """Write the plan out as code (:mod:`nablagraph.replay_codegen`) and check it: on the
    recording call's arrays it must give the interpreted plan's numbers bit for bit, or
    the plan is written again without its own buffers (and, failing that, interpreted)."""
    ref = [None if g is None else np.array(g) for g in grads]  # (g may be a kept buffer)
    for buffers in (True, False):
        generate(plan, observed, plan.ginfo, buffers)
        if plan.fast is None:
            return
        out = plan.fast(arrays)
        if out is not None and out[0].dtype == value.dtype and np.array_equal(out[0], value, equal_nan=True) and all(
            (a is None and b is None) or (a is not None and b is not None and a.dtype == b.dtype
                                          and np.array_equal(a, b, equal_nan=True))
            for a, b in zip(out[1], ref)
        ):
            return
    plan.fast = None


def _substitute(params: tuple[Any, ...], subs: tuple[tuple[int, int], ...], arrays: list[np.ndarray]) -> tuple[Any, ...]:
    out = list(params)
    for pos, i in subs:
        out[pos] = arrays[i]
    return tuple(out)


class CompiledStep:
    """A training step ``fn(*arrays) -> cost`` recorded once and replayed.

    Calling it returns the cost (a tensor outside any graph) and accumulates the
    gradients of every parameter into ``.grad``, exactly like
    ``fn(*arrays).backward()``.  See :mod:`nablagraph.replay` for the limits.
    """

    def __init__(self, fn: Callable[..., Tensor], verify: bool = True) -> None:
        self.fn = fn
        self.verify = verify
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self.recordings = 0

    def __call__(self, *args: Any) -> Tensor:
        arrays = [a if type(a) is np.ndarray else a._data if isinstance(a, Tensor) else np.asarray(a)
                  for a in args]
        key = tuple([(a.shape, a.dtype) for a in arrays])
        plan = self._plans.get(key)
        if plan is None:
            plan = self._record(arrays)
            self.recordings += 1
            observed: list[tuple[int, int, bool, bool]] = []
            value, grads = plan.run(arrays, observed)
            if self.verify:
                self._verify(plan, args, value, grads)
            if plan.size() <= GENERATE_MAX_OPS:
                _generate_checked(plan, observed, arrays, value, grads)
            self._plans[key] = plan  # only a plan that passed verification is kept
        elif plan.fast is not None and plan.lock.acquire(blocking=False):
            try:
                out = plan.fast(arrays)
            finally:
                plan.lock.release()
            value, grads = plan.run(arrays) if out is None else out  # None: a parameter changed shape
        else:
            value, grads = plan.run(arrays)
        for p, g in zip(plan.params, grads):
            if g is None:
                continue
            if p._hooks:  # registered after recording: run as the engine would, on the total
                g = engine._run_hooks(p, g, False)
            engine._accumulate(p, g, False)
        return _new(value)

    # ----------------------------------------------------------------- record
    def _record(self, arrays: list[np.ndarray]) -> _Plan:
        """Run ``fn`` once on tensors and turn its graph into a plan: the nodes in a
        forward order, the leaves sorted into arguments, parameters and constants, the
        forward calls, then the VJP calls in the engine's :func:`~engine.schedule`."""
        wrapped = [
            Tensor(a, requires_grad=a.dtype.kind == "f", name=f"arg{i}") for i, a in enumerate(arrays)
        ]
        with enable_grad():
            root = self.fn(*wrapped)
        if not isinstance(root, Tensor) or root.size != 1:
            raise GraphError(
                "compile_step: fn must return a one-element tensor (the cost), got "
                f"{type(root).__name__}{'' if not isinstance(root, Tensor) else f' of shape {root.shape}'}"
            )
        order = _forward_order(root)
        rec = _Recording(order, wrapped, arrays)
        for t in order:
            rec.add(t)
        if not rec.depends[root]:
            raise GraphError("compile_step: the cost does not depend on any parameter")
        rec.add_backward(root)
        return rec.plan

    def _verify(self, plan: _Plan, args: tuple[Any, ...], value: np.ndarray, grads: list[np.ndarray | None]) -> None:
        with enable_grad():
            ref = self.fn(*[a if isinstance(a, Tensor) else Tensor(np.asarray(a)) for a in args])
        # The parameters' hooks run once per call, on the accumulated gradient (in
        # __call__), not here: compare the gradients before hooks.
        hooks = [p._hooks for p in plan.params]
        try:
            for p in plan.params:
                p._hooks = None
            ref_grads = engine.grad(ref, plan.params, allow_unused=True)
        finally:
            for p, h in zip(plan.params, hooks):
                p._hooks = h
        # Gradients are compared in the parameter's dtype, as they are accumulated (a
        # float64 batch through float32 weights gives float64 raw gradients).
        same = np.array_equal(ref._data, value, equal_nan=True) and all(
            (g is None and r is None)
            or (g is not None and r is not None
                and np.array_equal(np.asarray(g, dtype=p.dtype), r._data, equal_nan=True))
            for g, r, p in zip(grads, ref_grads, plan.params)
        )
        if not same:
            raise GraphError(
                "compile_step: the replayed step does not reproduce the eager step exactly "
                "(fn may depend on Python control flow or on state outside its arguments); "
                "use the eager form fn(*args).backward() for this function"
            )


def _forward_order(root: Tensor) -> list[Tensor]:
    """Every node reachable from ``root``, parents before children (an iterative
    depth-first walk); refuses what a replay cannot reproduce."""
    order: list[Tensor] = []
    seen: set[Tensor] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if t in seen:
            continue
        seen.add(t)
        stack.append((t, True))
        if (t._hooks and t._parents is not None) or t._retain:
            raise GraphError(
                "compile_step: hooks on intermediate tensors and retain_grad() are not "
                "replayed; remove them from fn (hooks on parameters are fine)"
            )
        for p in reversed(t._parents or ()):
            if p not in seen:
                stack.append((p, False))
    return order


class _Recording:
    """Builds a :class:`_Plan` from the nodes of one recorded call, in forward order."""

    def __init__(self, order: list[Tensor], wrapped: list[Tensor], arrays: list[np.ndarray]) -> None:
        self.plan = _Plan()
        self.plan.n = len(order)
        self.order = order
        self.slot = {t: i for i, t in enumerate(order)}
        self.arg_of = {id(t): i for i, t in enumerate(wrapped)}
        self.arr_of = {id(a): i for i, a in enumerate(arrays)}
        self.arrays = arrays
        #: whether a node depends on a parameter (needs a gradient in an eager run)
        self.depends: dict[Tensor, bool] = {}

    def add(self, t: Tensor) -> None:
        """Add node ``t`` (its parents were added before it)."""
        if t._parents is None:
            self.depends[t] = self._add_leaf(t, self.slot[t])
            return
        assert t._op is not None
        ins = tuple(self.slot[p] for p in t._parents)
        self.plan.forward.append((self.slot[t], t._op.forward, ins, t._params, self._subs(t)))
        self.plan.fwd_names.append(t._op.name)
        self.depends[t] = any(self.depends[p] for p in t._parents)

    def _add_leaf(self, t: Tensor, s: int) -> bool:
        plan = self.plan
        if id(t) in self.arg_of:
            plan.arg_slots.append((s, self.arg_of[id(t)]))
            return False
        if t.requires_grad:
            plan.param_slots.append(s)
            plan.params.append(t)
            return True
        for i, a in enumerate(self.arrays):
            if np.shares_memory(t._data, a):
                raise GraphError(
                    f"compile_step: argument {i} reaches the graph through a "
                    "conversion outside the recorded ops (a new tensor made from its "
                    "data), so a replay would reuse stale values; pass it to the ops "
                    "as it is, with the dtype of the model"
                )
        plan.const_slots.append(s)
        plan.consts.append(t._data)
        return False

    def _subs(self, t: Tensor) -> tuple[tuple[int, int], ...]:
        # An op parameter that is one of the call's arrays (e.g. the targets of a cost)
        # is taken from the arguments of each replay.
        return tuple(
            (k, self.arr_of[id(v)]) for k, v in enumerate(t._params)
            if isinstance(v, np.ndarray) and id(v) in self.arr_of
        )

    def add_backward(self, root: Tensor) -> None:
        """The VJP calls, in the engine's own backward schedule, and finish the plan.

        The schedule also holds nodes that need no gradient in an eager run (computed
        from the arguments alone, recorded here as tensors that require one); they are
        left out, which leaves the order of the others unchanged: nothing that leads to
        a parameter is computed from them.
        """
        plan, slot, depends = self.plan, self.slot, self.depends
        schedule, consumers = engine.schedule([root])
        for t in schedule:
            parents = t._parents
            if parents is None or not depends[t]:
                continue
            assert t._op is not None
            needs = tuple(depends[p] for p in parents)
            ins = tuple(slot[p] for p in parents)
            plan.backward.append((slot[t], t._op, ins, needs, t._params, self._subs(t)))
        plan.root = slot[root]
        plan.root_dtype = root.dtype
        single = {slot[p] for p in plan.params if consumers.get(p) == 1}
        plan.finalize([tuple(t.shape) for t in self.order], [t.dtype for t in self.order], single)


def compile_step(fn: Callable[..., Tensor], verify: bool = True) -> CompiledStep:
    """Record ``fn`` once and replay it on later calls (see :mod:`nablagraph.replay`).

    Parameters
    ----------
    fn : callable
        ``fn(*arrays) -> Tensor``: the cost of one step as a function of the batch
        arrays; the parameters are the leaves with ``requires_grad=True`` it uses.
    verify : bool
        Check each new recording against the engine (values and gradients must be
        bit-for-bit equal).

    Returns
    -------
    CompiledStep
        Call it with the batch arrays; it returns the cost and accumulates gradients
        into the parameters' ``.grad``.
    """
    return CompiledStep(fn, verify)
