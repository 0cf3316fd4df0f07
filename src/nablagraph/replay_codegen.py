"""A replay plan written out as one Python function, in buffers the plan owns.

:meth:`nablagraph.replay._Plan.run` interprets a plan op by op.  :func:`generate`
writes the same calls out as straight-line code on local variables (the shapes are
fixed for a plan, so the recording call already showed which gradients need
``sum_to`` and where each node receives its first contribution)::

    v5 = F5(v2, v3, v4)
    ...
    r = B3(RAW, N3, g7, v7, v5, Y)
    g5 = r[0]

A plan also knows every shape and dtype in advance, so for the ops of a layer —
``linear``, ``sigmoid`` and the quadratic cost — it need not allocate at all: their
lines write into arrays made once with the plan (``out=``), compute ``σ'(z) ⊙ g`` in
one buffer, reuse the cost's ``a − y`` for its gradient, and write the weight and
bias gradients straight into the buffers the optimizer keeps (``δᵀ a`` with
``matmul(…, out=)``, ``Σ_m δ`` with ``np.add.reduce(…, out=)``).  These lines make the
NumPy calls the ops' own forward and VJP functions make, with the same arguments in
the same order — only the destination differs — so the numbers are the same bit for
bit; :class:`~nablagraph.replay.CompiledStep` checks the generated function against
the interpreted plan on the recording call.

The plan's arrays never leave it: the cost is a new 0-d array each call, and a
parameter's gradient is either written into its kept buffer (as the engine does) or
a fresh array.  The arrays are reused by the next call, so a compiled step must not
run in two threads at once (it falls back to the interpreter when it would).

Imports: ``ops``, ``parallel``, ``gradbuf``, ``tensor``.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite
from typing import Any

import numpy as np

from nablagraph._tensor import _new
from nablagraph.gradbuf import reusable_grad_buffer as KB
from nablagraph.ops import RAW, _check_finite, sum_to
from nablagraph.ops.elementwise import (
    _EXP_SAFE,
    _blockwise,
    _max,
    _sigmoid_grad_into,
    _sigmoid_into,
    _sigmoid_of_negative,
)
from nablagraph.ops.registry import _add_reduce
from nablagraph.parallel import PARALLEL_MIN

__all__ = ["generate"]


class _Emitter:
    """The namespace, the lines and the buffers of the function being written."""

    def __init__(self, plan: Any, ginfo: dict[int, tuple[bool, Any, Any]]) -> None:
        self.plan = plan
        self.shapes: list[tuple[int, ...]] = plan.shapes
        self.dtypes: list[np.dtype[Any]] = plan.dtypes
        self.ginfo = ginfo  # slot -> (an ndarray?, dtype, shape) of its gradient, as recorded
        self.ns: dict[str, Any] = {
            "RAW": RAW, "sum_to": sum_to, "KB": KB, "SEED": plan._seed, "asarray": np.asarray,
            "matmul": np.matmul, "subtract": np.subtract, "multiply": np.multiply,
            "vdot": np.vdot, "add_reduce": _add_reduce, "check_finite": _check_finite,
            "sigmoid_into": _sigmoid_into, "sigmoid_grad_into": _sigmoid_grad_into,
            "blockwise": _blockwise, "negative": np.negative, "exp": np.exp, "add": np.add,
            "reciprocal": np.reciprocal, "vmax": _max, "sigmoid_of_negative": _sigmoid_of_negative,
            "isfinite": isfinite, "new": _new,
        }
        self.lines: list[str] = []
        self.owned: set[str] = set()  # expressions naming an array of the plan
        self.linear: set[int] = set()  # slots whose linear forward was written in buffers
        self.diff: dict[int, str] = {}  # quadratic cost slot -> its buffer of a − y

    def line(self, text: str) -> None:
        self.lines.append("    " + text)

    def buffer(self, name: str, shape: tuple[int, ...], dtype: Any) -> str:
        self.ns[name] = np.empty(shape, dtype=dtype)
        self.owned.add(name)
        return name

    def call_args(self, tag: str, ins: tuple[int, ...], params: tuple[Any, ...],
                  subs: tuple[tuple[int, int], ...]) -> list[str]:
        """The arguments of a call: the inputs' variables, then the op's parameters (an
        argument of the step, or a constant of the plan)."""
        sub = dict(subs)
        out = [f"v{j}" for j in ins]
        for pos, value in enumerate(params):
            if pos in sub:
                out.append(f"A[{sub[pos]}]")
            else:
                self.ns[f"K{tag}_{pos}"] = value
                out.append(f"K{tag}_{pos}")
        return out

    def grad_is(self, slot: int) -> bool:
        """Whether the recorded gradient of ``slot`` was an array of its shape and dtype."""
        info = self.ginfo.get(slot)
        return info is not None and info[0] and info[1] == self.dtypes[slot] and info[2] == self.shapes[slot]


# ------------------------------------------------------------------ forward lines
def _linear_forward(e: _Emitter, slot: int, ins: tuple[int, ...], params: tuple[Any, ...], args: list[str]) -> bool:
    # ops.arithmetic._linear_forward: out = matmul(x, w.T); out += b
    if params or len(ins) not in (2, 3):
        return False
    x, w = ins[0], ins[1]
    sx, sw, dt = e.shapes[x], e.shapes[w], e.dtypes[slot]
    if (len(sx) != 2 or len(sw) != 2 or sx[1] != sw[1] or e.shapes[slot] != (sx[0], sw[0])
            or np.result_type(e.dtypes[x], e.dtypes[w]) != dt or dt.kind != "f"):
        return False
    if len(ins) == 3 and e.shapes[ins[2]] != (sw[0],):
        return False
    e.line(f"v{slot} = {e.buffer(f'V{slot}', e.shapes[slot], dt)}")
    e.line(f"matmul(v{x}, v{w}.T, v{slot})")  # (out= positional: the same call, parsed faster)
    if len(ins) == 3:
        e.line(f"add(v{slot}, v{ins[2]}, v{slot})")
    e.linear.add(slot)
    return True


def _sigmoid_forward(e: _Emitter, slot: int, ins: tuple[int, ...], params: tuple[Any, ...], args: list[str]) -> bool:
    # ops.elementwise._sigmoid: σ into a new array, blockwise when large
    (x,) = ins
    shape, dt = e.shapes[slot], e.dtypes[slot]
    if params or not shape or e.dtypes[x] != dt or dt.kind != "f":
        return False
    size = int(np.prod(shape))
    if not size:
        return False
    e.line(f"v{slot} = {e.buffer(f'V{slot}', shape, dt)}")
    if size >= PARALLEL_MIN:
        e.line(f"blockwise(sigmoid_into, v{slot}, v{x})")
        return True
    # _sigmoid_into written out: t = −z; e^t (its overflow silenced only when it can
    # happen, as there); t + 1; 1 / t.  (Adding 1.0 or 1 gives the same bits.)
    e.ns[f"L{slot}"] = _EXP_SAFE.get(dt, 10.0)
    e.line(f"negative(v{x}, v{slot})")
    e.line(f"if vmax(v{slot}, None) > L{slot}:")
    e.line(f"    sigmoid_of_negative(v{slot})")
    e.line("else:")
    e.line(f"    exp(v{slot}, v{slot})")
    e.line(f"    add(v{slot}, 1.0, v{slot})")
    e.line(f"    reciprocal(v{slot}, v{slot})")
    return True


def _quadratic_forward(e: _Emitter, slot: int, ins: tuple[int, ...], params: tuple[Any, ...], args: list[str]) -> bool:
    # ops.costs._quadratic_forward: targets checked, d = a − y, ½ d·d / M
    if params or len(ins) != 2:
        return False
    a, y = ins
    shape = e.shapes[a]
    if e.shapes[y] != shape or not shape:
        return False
    dt = np.result_type(e.dtypes[a], e.dtypes[y])
    if dt.kind != "f" or e.dtypes[slot] != dt:
        return False
    d = e.buffer(f"D{slot}", shape, dt)
    e.ns[f"M{slot}"] = shape[0]
    ye = args[1]
    e.line(f"subtract(v{a}, {ye}, {d})")
    e.line(f"c = 0.5 * vdot({d}, {d}) / M{slot}")
    e.line("if not isfinite(c):  # NaN or infinite targets make it so: the eager error")
    e.line(f"    check_finite('quadratic_cost', {ye})")
    e.line(f"v{slot} = asarray(c)")  # c has the dtype of a − y already
    e.diff[slot] = d
    return True


FORWARD: dict[str, Callable[[_Emitter, int, tuple[int, ...], tuple[Any, ...], list[str]], bool]] = {
    "linear": _linear_forward, "sigmoid": _sigmoid_forward, "quadratic_cost": _quadratic_forward,
}


# ------------------------------------------------------------------ backward lines
# Each returns, per input, the expression of its gradient (None: not needed), or None
# when the op is left to its generic line.
def _quadratic_vjp(e: _Emitter, slot: int, ins: tuple[int, ...], needs: tuple[bool, ...],
                   dspec: Any) -> list[str | None] | None:
    # ops.costs._quadratic_vjp: ga = a − y; ga *= g / M (g is the seed: the cost is the root)
    d = e.diff.get(slot)
    if d is None or slot != e.plan.root or needs[1] or not needs[0]:
        return None
    s = e.plan._seed / e.shapes[ins[0]][0]
    if getattr(s, "dtype", None) != e.dtypes[slot]:
        return None
    e.ns[f"S{slot}"] = s
    e.line(f"multiply({d}, S{slot}, {d})")
    return [d, None]


def _sigmoid_vjp(e: _Emitter, slot: int, ins: tuple[int, ...], needs: tuple[bool, ...],
                 dspec: Any) -> list[str | None] | None:
    # ops.elementwise._sigmoid_vjp: g ⊙ σ(1 − σ) into one buffer, blockwise when large
    shape = e.shapes[slot]
    if not e.grad_is(slot) or not shape or e.dtypes[slot].kind != "f":
        return None
    buf = e.buffer(f"G{slot}", shape, e.dtypes[slot])
    if int(np.prod(shape)) >= PARALLEL_MIN:
        e.line(f"blockwise(sigmoid_grad_into, {buf}, g{slot}, v{slot})")
    else:  # _sigmoid_grad_into written out: t = 1 − σ; t ⊙ σ; g ⊙ t
        e.line(f"subtract(1.0, v{slot}, {buf})")
        e.line(f"multiply({buf}, v{slot}, {buf})")
        e.line(f"multiply(g{slot}, {buf}, {buf})")
    return [buf]


def _linear_vjp(e: _Emitter, slot: int, ins: tuple[int, ...], needs: tuple[bool, ...],
                dspec: Any) -> list[str | None] | None:
    # ops.arithmetic._linear_vjp: g W; gᵀ x into W's kept buffer; Σ_m g into b's
    if slot not in e.linear or not e.grad_is(slot):
        return None
    x, w = ins[0], ins[1]
    out: list[str | None] = [None] * len(ins)
    dests = [None if dspec is None else dspec[k] for k in range(len(ins))]
    kept = [k for k in (1, 2) if k < len(ins) and needs[k] and dests[k] is not None]
    if kept:  # as the engine: every destination is asked for before the VJP runs
        for k in kept:
            e.ns[f"Q{dests[k]}"] = e.plan.params[dests[k]]
        e.line(", ".join(f"d{k}" for k in kept) + ", = " + ", ".join(f"KB(Q{dests[k]})" for k in kept) + ",")
    if needs[0]:
        gx = e.buffer(f"X{slot}", e.shapes[x], np.result_type(e.dtypes[slot], e.dtypes[w]))
        e.line(f"matmul(g{slot}, v{w}, {gx})")
        out[0] = gx
    for k, name, call in ((1, "w", f"matmul(g{slot}.T, v{x}"), (2, "b", f"add_reduce(g{slot}, 0")):
        if k >= len(ins) or not needs[k]:
            continue
        out[k] = f"{name}{slot}"
        if k not in kept:
            e.line(f"{name}{slot} = {call})")
            continue
        # Written into the kept buffer: stored as .grad here, as engine._accumulate would
        # (its first branch); the plan then hands on None for this parameter.
        q = f"Q{dests[k]}"
        e.line(f"if d{k} is None:")
        e.line(f"    {name}{slot} = {call})")
        e.line("else:")
        e.line(f"    {call}, {'' if k == 1 else 'None, '}d{k})")
        e.line(f"    {q}._gradbuf = None")
        e.line(f"    {q}.grad = new(d{k})")
        e.line(f"    {name}{slot} = None")
    return out


BACKWARD: dict[str, Callable[[_Emitter, int, tuple[int, ...], tuple[bool, ...], Any], list[str | None] | None]] = {
    "linear": _linear_vjp, "sigmoid": _sigmoid_vjp, "quadratic_cost": _quadratic_vjp,
}


def _backward_lines(e: _Emitter, needs_sum: set[tuple[int, int]], buffers: bool) -> set[int]:
    """The VJP lines of the plan, in its order; returns the slots whose gradient is
    defined at the end."""
    plan, ns = e.plan, e.ns
    defined = {plan.root}
    e.line(f"g{plan.root} = SEED")
    param_slots = set(plan.param_slots)
    for n, ((slot, op, ins, needs, params, subs), (_, _, _, _, _, _, _, targets, dspec)) in enumerate(
        zip(plan.backward, plan._bwd)
    ):
        bspecial = BACKWARD.get(op.name) if buffers else None
        exprs = bspecial(e, slot, ins, needs, dspec) if bspecial is not None else None
        if exprs is None:
            ns[f"B{n}"], ns[f"N{n}"] = op.vjp, needs
            args = ["RAW", f"N{n}", f"g{slot}", f"v{slot}", *e.call_args(f"b{n}", ins, params, subs)]
            if dspec is not None:
                for i in dspec:
                    if i is not None:
                        ns[f"Q{i}"] = plan.params[i]
                args.append(f"dest=({', '.join('None' if i is None else f'KB(Q{i})' for i in dspec)},)")
            e.line(f"r = B{n}({', '.join(args)})")
            exprs = [f"r[{k}]" for k in range(len(ins))]
        e.line(f"del g{slot}")
        defined.discard(slot)
        for k, j, shape in targets:
            expr = exprs[k]
            assert expr is not None  # the recording call saw a gradient there
            if (n, k) in needs_sum:
                ns[f"S{n}_{k}"] = shape
                expr = f"sum_to({expr}, S{n}_{k})"
            elif j in param_slots and expr in e.owned:
                expr += ".copy()"  # the plan's arrays never leave it
            e.line(f"g{j} = g{j} + {expr}" if j in defined else f"g{j} = {expr}")
            defined.add(j)
    return defined


# ------------------------------------------------------------------ the function
def generate(plan: Any, observed: list[tuple[int, int, bool, bool]],
             ginfo: dict[int, tuple[bool, Any, Any]], buffers: bool = True) -> None:
    """Write ``plan`` out as one function (sets ``plan.fast`` and ``plan.source``).

    ``observed`` comes from the recording call (:meth:`_Plan.run`): for every gradient
    a VJP handed on, whether it was ``None`` and whether it needed ``sum_to``;
    ``ginfo`` the kind, dtype and shape of each node's gradient.  With ``buffers`` the
    ops of :data:`FORWARD` and :data:`BACKWARD` run in the plan's own arrays.  A VJP
    that returned ``None`` for an input that needs a gradient (possible for a
    user-defined op) leaves the plan on the interpreter.
    """
    if any(none for _, _, none, _ in observed):
        return
    needs_sum = {(i, k) for i, k, _, summed in observed if summed}
    e = _Emitter(plan, ginfo)
    ns = e.ns
    for slot, i in plan.arg_slots:
        e.line(f"v{slot} = A[{i}]")
    for slot, p in plan._pairs:
        ns[f"P{slot}"] = p
        e.line(f"v{slot} = P{slot}._data")
    for slot, c in zip(plan.const_slots, plan.consts):
        ns[f"C{slot}"] = c
        e.line(f"v{slot} = C{slot}")

    guard_at, guarded = len(e.lines), set[int]()
    params_at = {slot for slot, _ in plan._pairs}
    for n, (slot, fwd, ins, params, subs) in enumerate(plan.forward):
        args = e.call_args(f"f{n}", ins, params, subs)
        fspecial = FORWARD.get(plan.fwd_names[n]) if buffers else None
        if fspecial is not None and n not in plan.scalars and fspecial(e, slot, ins, params, args):
            guarded.update(j for j in ins if j in params_at)
            continue
        ns[f"F{n}"] = fwd
        call = f"F{n}({', '.join(args)})"
        e.line(f"v{slot} = {f'asarray({call})' if n in plan.scalars else call}")

    defined = _backward_lines(e, needs_sum, buffers)
    if guarded:  # a parameter whose array changed shape or dtype: the interpreter (and its errors)
        ns["GUARD"] = tuple(x for j in sorted(guarded) for x in (plan.shapes[j], plan.dtypes[j]))
        seen = ", ".join(f"v{j}.shape, v{j}.dtype" for j in sorted(guarded))
        e.lines.insert(guard_at, f"    if ({seen},) != GUARD:\n        return None")
    grads = ", ".join(f"g{s}" if s in defined else "None" for s in plan.param_slots)
    e.line(f"return v{plan.root}, [{grads}]")
    plan.source = "def replay(A):\n" + "\n".join(e.lines) + "\n"
    exec(compile(plan.source, "<nablagraph replay plan>", "exec"), ns)
    plan.fast = ns["replay"]
