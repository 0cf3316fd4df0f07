"""The reverse-mode engine: ``backward`` and ``grad``, and the backward schedule.

:func:`schedule` orders the graph once, for ``backward``, ``grad`` and replay's
recording alike.  It is iterative (no recursion, so a 100,000-op chain works) and
runs in two passes:

1. From the roots, walk the recorded graph with an explicit stack and count, for each
   tensor that requires a gradient, how many recorded ops consume it.
2. Kahn's algorithm: a tensor comes once every consumer has come.

The pass then visits the tensors in that order.  Each one's total gradient is popped
from the ``grads`` dict (so memory for it is released as soon as it has been used),
hooks run, then its op's VJP sends one gradient to each parent.  A parent used twice
receives the sum.  A leaf's only contribution may be written straight into the
gradient buffer kept for it (:func:`nablagraph.gradbuf.reusable_grad_buffer`, the one
rule for that, which replay follows too).

The engine, not the ops, sums a gradient of a broadcast shape back to the parent's
shape, then checks it and names the op if the shapes still differ.  At the end of the
pass, unless ``retain_graph`` is set, every processed tensor's links to its parents
are dropped (:func:`nablagraph.skeleton.freeze`): the arrays the VJPs needed become
garbage, and a second backward through the graph fails with
:class:`~nablagraph.errors.GraphError` instead of giving a wrong answer.  The graph's
shape (ops, names, shapes, retained gradients, the parameters) is kept as a small
skeleton without values, so a diagram can still be drawn after ``backward()``.

With ``create_graph=True`` the VJPs receive tensors and :mod:`nablagraph.functional`
as their namespace, so the backward pass is itself recorded (second derivatives,
Hessian-vector products).

This module imports ``tensor``, ``modes``, ``ops`` (the NumPy namespace for VJPs),
``functional`` (the namespace for ``create_graph``), ``anomaly``, ``skeleton`` and
``errors``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nablagraph import _tensor as _t
from nablagraph import functional as _F
from nablagraph._tensor import ArrayLike, Tensor, _new, describe
from nablagraph.anomaly import check_backward
from nablagraph.errors import GraphError, ShapeError
from nablagraph.gradbuf import _unshared, reusable_grad_buffer
from nablagraph.modes import ANOMALY, _get_mode, _GradMode
from nablagraph.ops import RAW, shape_text
from nablagraph.skeleton import freeze

__all__ = ["backward", "grad", "schedule"]

_refcount = sys.getrefcount


def _freed_error(t: Tensor) -> GraphError:
    assert t._op is not None
    return GraphError(
        f"backward: the graph through '{t._op.name}' (output of shape {shape_text(t.shape)}) "
        "was already freed by an earlier backward(); pass retain_graph=True to the first "
        "backward() if you need to backpropagate through the same graph twice"
    )


def _seed(root: Tensor, g: ArrayLike | None, create_graph: bool, what: str) -> Any:
    if g is None:
        if root._data.size != 1:
            raise GraphError(
                f"{what}: the gradient can be implied only for a one-element output, but this "
                f"output has shape {shape_text(root.shape)}; pass grad= with an array of that "
                "shape (the v of vᵀJ), or reduce the output first, e.g. out.sum()"
            )
        data = root._data
        arr = np.empty(data.shape, data.dtype)  # (np.ones is a Python function: two C calls)
        arr.fill(1)
        return _new(arr) if create_graph else arr
    if isinstance(g, Tensor):
        if g.shape != root.shape:
            raise ShapeError(
                f"{what}: grad has shape {shape_text(g.shape)} but the output has shape "
                f"{shape_text(root.shape)}; they must be equal"
            )
        return g if create_graph else g.data
    arr = np.asarray(g, dtype=root.dtype)
    if arr.shape != root.shape:
        raise ShapeError(
            f"{what}: grad has shape {shape_text(arr.shape)} but the output has shape "
            f"{shape_text(root.shape)}; they must be equal"
        )
    return _new(arr) if create_graph else arr


def _consumers(roots: Sequence[Tensor]) -> dict[Tensor, int]:
    """For each tensor below ``roots`` that requires a gradient, how many recorded ops
    consume it (the roots included, with 0 unless another root consumes them).

    An explicit stack, no recursion; a graph freed by an earlier ``backward()`` raises
    :class:`~nablagraph.errors.GraphError` here, before any gradient is computed.
    """
    consumers: dict[Tensor, int] = {}
    stack: list[Tensor] = []
    for r in roots:
        if r not in consumers:
            consumers[r] = 0
            stack.append(r)
    get = consumers.get
    while stack:
        t = stack.pop()
        parents = t._parents
        if parents is None:
            if t._op is not None:
                raise _freed_error(t)
            continue
        for p in parents:
            if p.requires_grad:
                n = get(p)
                if n is None:
                    consumers[p] = 1
                    stack.append(p)
                else:
                    consumers[p] = n + 1
    return consumers


def _ready_roots(roots: Sequence[Tensor], consumers: dict[Tensor, int]) -> list[Tensor]:
    """The first ready stack of Kahn's algorithm: the roots no other root consumes."""
    return [r for r in dict.fromkeys(roots) if consumers[r] == 0]


def schedule(roots: Sequence[Tensor]) -> tuple[list[Tensor], dict[Tensor, int]]:
    """The backward schedule of the graph below ``roots``, shared by backward and replay.

    Returns ``(order, consumers)``: every tensor that requires a gradient and is
    reachable from the roots through such tensors, in the order the backward pass
    processes them, and for each the number of recorded ops that consume it.  A tensor
    comes after all its consumers (Kahn's algorithm; the ready tensors are kept on a
    stack, so the order is fixed by the graph alone).  Both passes are iterative.

    :func:`backward` and :func:`grad` process the tensors in this order (they run
    the same Kahn's loop, interleaved with the VJPs, see :func:`_run`), and
    :class:`~nablagraph.replay.CompiledStep` records its plan from it, which is why a
    replayed step adds every gradient contribution in the order the engine does.
    """
    consumers = _consumers(roots)
    # Pass 2: a tensor is ready once every consumer has been processed.
    left = consumers.copy()
    order: list[Tensor] = []
    push = order.append
    ready = _ready_roots(roots, consumers)
    while ready:
        t = ready.pop()
        push(t)
        parents = t._parents
        if parents is not None:
            for p in parents:
                if p.requires_grad:
                    n = left[p] - 1
                    left[p] = n
                    if n == 0:
                        ready.append(p)
    return order, consumers


def _run(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    create_graph: bool,
    capture: dict[Tensor, Any] | None,
) -> tuple[list[Tensor], dict[Tensor, int]]:
    """Send the seeds' gradients through the graph in the :func:`schedule` order.

    One walk counts the consumers (:func:`_consumers`); then Kahn's loop of
    :func:`schedule` runs here with the VJPs inside it, so the graph is walked once
    more, not twice, and in exactly :func:`schedule`'s order (the same ready stack,
    pushed in the same order).  Each tensor's total gradient is popped from ``grads``
    when its turn comes (so its memory goes as soon as it has been used), its hooks
    run, then its op's VJP sends one gradient to each parent; a parent used twice
    receives the sum.  An ordinary pass calls the VJP on the inputs' arrays directly
    (with ``dest=`` buffers for ops that write into them, :func:`_dests`), and a
    leaf whose VJP wrote its gradient into its kept buffer takes it as ``.grad``
    without :func:`_accumulate`.  With ``capture`` (``grad()``) the gradients of the
    captured tensors are kept there and no ``.grad`` is written.  Returns the order
    and the consumer counts, for :func:`_free` (the caller frees the graph, with no
    reference to its tensors left on this frame).
    """
    consumers = _consumers(roots)
    grads: dict[Tensor, Any] = {}
    for r, s in zip(roots, seeds):
        grads[r] = grads[r] + s if r in grads else s
    clock = _t._clock  # anything changed in place since a node's stamp is checked
    anomaly = _get_mode() & ANOMALY
    ns = _F if create_graph else RAW
    left = consumers.copy()
    order: list[Tensor] = []
    ready = _ready_roots(roots, consumers)
    pop, done, push = grads.pop, order.append, ready.append
    while ready:
        t = ready.pop()
        done(t)
        g = pop(t, None)
        parents = t._parents
        if g is None:  # no gradient reached t; its parents still count it as done
            if parents is not None:
                _release(parents, left, push)
            continue
        if t._hooks:
            g = _run_hooks(t, g, create_graph)
        if capture is not None:
            if t in capture:
                capture[t] = g
        elif parents is None:  # a leaf: the VJP may have written g into its kept buffer
            # (no local may hold the kept buffer: _accumulate counts its references)
            if g is t._gradbuf and g is not None and t.grad is None and not create_graph:
                t._gradbuf = None
                t.grad = _new(g)
            else:
                _accumulate(t, g, create_graph)
        elif t._retain:
            _accumulate(t, g, create_graph)
        if parents is None:
            continue
        if clock > t._stamp:
            _check_versions(t, parents)
        op = t._op
        assert op is not None
        if len(parents) == 1:  # (an activation: no comprehensions)
            p = parents[0]
            needs: tuple[bool, ...] = (p.requires_grad,)
            arrays: Any = (p._data,)
        else:
            needs = tuple([p.requires_grad for p in parents])
            arrays = [p._data for p in parents]
        if create_graph:
            gs = op.vjp(ns, needs, g, t, *parents, *t._params)
        elif op.writes_into and capture is None:
            gs = op.vjp(ns, needs, g, t._data, *arrays, *t._params, dest=_dests(parents, consumers))
        else:
            gs = op.vjp(ns, needs, g, t._data, *arrays, *t._params)
        del arrays
        for i, p in enumerate(parents):
            if not p.requires_grad:
                continue
            gp = gs[i]
            if gp is not None:
                if gp.shape != p._data.shape:
                    gp = _unbroadcast(create_graph, gp, p, t, i)
                if anomaly:
                    check_backward(t, i, gp)
                prev = pop(p, None)
                grads[p] = gp if prev is None else prev + gp
            n = left[p] - 1
            left[p] = n
            if n == 0:
                push(p)
    return order, consumers


def _release(parents: tuple[Tensor, ...], left: dict[Tensor, int],
             push: Callable[[Tensor], None]) -> None:
    """Kahn's step for a node no gradient reached: one consumer less for each parent."""
    for p in parents:
        if p.requires_grad:
            n = left[p] - 1
            left[p] = n
            if n == 0:
                push(p)


def _free(order: list[Tensor], consumers: dict[Tensor, int], roots: tuple[Tensor, ...],
          keep_shape: bool) -> None:
    """Free the graph of a pass: keep its shape for drawings (:func:`freeze`) or not."""
    if keep_shape:
        freeze(order, consumers, roots)
        return
    for t in order:  # nothing can draw the graph: drop the links only
        if t._parents is not None:
            t._parents = None
            t._params = ()


def _dests(parents: tuple[Tensor, ...], consumers: dict[Tensor, int]
           ) -> tuple[np.ndarray | None, ...]:
    """Where an op that writes into buffers (``writes_into``) may put each input's
    gradient: the buffer kept for it, if the input is a leaf whose only consumer is
    this op (replay decides the same from the same :func:`schedule`) and
    :func:`~nablagraph.gradbuf.reusable_grad_buffer` allows it; else ``None``."""
    dest: list[np.ndarray | None] = []
    for p in parents:
        if p._gradbuf is None or p._op is not None or consumers.get(p) != 1:
            dest.append(None)  # most inputs are not kept-buffer leaves: no call
        else:
            dest.append(reusable_grad_buffer(p))
    return tuple(dest)


def _check_versions(t: Tensor, parents: tuple[Tensor, ...]) -> None:
    assert t._op is not None
    for i, p in enumerate(parents):
        if p._version > t._stamp:
            raise GraphError(
                f"backward: input {i} of '{t._op.name}' ({describe(p)}, shape "
                f"{shape_text(p.shape)}) was modified in place after '{t._op.name}' used it, "
                "so its gradient would be computed from the new values; run backward() "
                "before changing it (e.g. before the optimizer step), or recompute the forward pass"
            )


def _unbroadcast(create_graph: bool, gp: Any, p: Tensor, t: Tensor, i: int) -> Any:
    """Sum a gradient of a broadcast shape back to its parent's shape (the one place)."""
    assert t._op is not None
    opname = t._op.name
    try:
        r = (_F if create_graph else RAW).sum_to(gp, p._data.shape)
    except ValueError:
        r = None
    if r is None or r.shape != p._data.shape:
        raise GraphError(
            f"backward: the VJP of '{opname}' returned a gradient of shape "
            f"{shape_text(gp.shape)} for its input {i} of shape {shape_text(p.shape)}"
        )
    return r


def _in_mode(create_graph: bool, fn: Callable[..., Any], *args: Any) -> Any:
    """Run a backward pass: recording on with ``create_graph``, else as it is.

    With ``create_graph=True`` the VJPs are recorded, whatever the caller's mode (a
    backward inside ``no_grad()`` still builds the graph of the gradients it was asked
    for).  Without it the VJPs work on raw arrays and record nothing, so the caller's
    mode is left alone (switching it costs two context-variable writes per backward);
    only the user's hooks, which may compute with tensors, run with recording off
    (:func:`_run_hooks`).  Either way only the calling thread's mode is concerned.
    """
    if create_graph:
        with _GradMode(True):
            return fn(*args)
    return fn(*args)


def _run_hooks(t: Tensor, g: Any, create_graph: bool) -> Any:
    assert t._hooks is not None
    for fn in list(t._hooks):
        gt = g if create_graph else _new(g)
        if create_graph:
            r = fn(gt)
        else:
            with _GradMode(False):  # a hook's tensor ops are not part of any graph
                r = fn(gt)
        if r is None:
            continue
        r = r if isinstance(r, Tensor) else Tensor(r)
        if r.shape != t.shape:
            raise ShapeError(
                f"hook: returned a gradient of shape {shape_text(r.shape)} for a tensor of "
                f"shape {shape_text(t.shape)}"
            )
        g = r if create_graph else r.data
    return g


def _accumulate(t: Tensor, g: Any, create_graph: bool) -> None:
    """Add ``g`` into ``t.grad``, reusing the existing buffer when nobody else holds it.

    A ``.grad`` tensor (or its array) the user kept is never written to: the sum then
    goes into a new array, as does a first gradient when the buffer ``zero_grad()``
    kept is held outside.
    """
    if create_graph:
        gt = g if isinstance(g, Tensor) else _new(g)
        t.grad = gt if t.grad is None else t.grad + gt
        return
    cur = t.grad
    if cur is None or cur.requires_grad or cur._data.shape != g.shape:
        # Copy (g may be shared with another parent, as add passes g on unchanged, or
        # be a read-only broadcast view), into the buffer zero_grad() kept if any.
        kept = t._gradbuf
        if kept is not None and kept is g:  # the VJP already wrote it there
            t._gradbuf = None
            t.grad = _new(kept)
            return
        del kept
        buf = reusable_grad_buffer(t)  # (no local may hold the buffer while it counts)
        t._gradbuf = None
        if buf is not None and buf.shape == g.shape:
            np.copyto(buf, g, casting="unsafe")
            t.grad = _new(buf)
        else:
            t.grad = _new(np.array(g, dtype=t._data.dtype))
    elif _refcount(cur) <= 3 and _unshared(cur._data, t._gradowner, 1):  # .grad, `cur`, the call
        np.add(cur._data, g, out=cur._data, casting="unsafe")
    else:  # the user holds the gradient tensor or its array: leave it as it is
        t.grad = _new(np.add(cur._data, g, dtype=cur._data.dtype, casting="unsafe"))


def backward(
    root: Tensor,
    grad: ArrayLike | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    keep_shape: bool = True,
) -> None:
    """Accumulate the gradient of ``root`` into the ``.grad`` of every leaf.

    See :meth:`nablagraph.Tensor.backward`.  ``keep_shape=False`` frees the graph
    without keeping its shape for a drawing (:meth:`~nablagraph.Tensor.backward` passes
    it when nothing else holds ``root``).
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"backward: expected a Tensor, got {type(root).__name__}")
    if not root.requires_grad:
        raise GraphError(
            "backward: this tensor does not require grad: none of the tensors it was "
            "computed from has requires_grad=True, or it was computed under no_grad()"
        )
    retain = create_graph if retain_graph is None else retain_graph
    seed = _seed(root, grad, create_graph, "backward")
    if create_graph:
        order, consumers = _in_mode(True, _run, [root], [seed], True, None)
    else:  # (_in_mode's other case, without its call)
        order, consumers = _run([root], [seed], False, None)
    if not retain:
        _free(order, consumers, (root,), keep_shape)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: ArrayLike | Sequence[ArrayLike | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Computes ``Σ_k v_kᵀ ∂outputs_k/∂inputs_i`` for each input, with ``v_k`` the
    matching entry of ``grad_outputs`` (implied 1 for one-element outputs).

    Parameters
    ----------
    outputs, inputs : Tensor or sequence of Tensor
        Inputs may be leaves or intermediate tensors (``grad(C, z)`` is ``δ``).
    grad_outputs : array_like or sequence, optional
        The vectors ``v_k``.
    retain_graph : bool, optional
        Keep the graph for another pass (defaults to ``create_graph``).
    create_graph : bool
        Record the computation so the returned gradients can be differentiated again.
    allow_unused : bool
        Return ``None`` for an input the outputs do not depend on instead of raising.

    Returns
    -------
    tuple of Tensor
        One gradient per input, in order.

    Examples
    --------
    >>> import nablagraph as ng
    >>> x = ng.Tensor(3.0, requires_grad=True)
    >>> (dx,) = ng.grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = ng.grad(dx, x)
    >>> float(dx.item()), float(d2x.item())
    (27.0, 18.0)
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or (isinstance(grad_outputs, (Tensor, np.ndarray)) and len(outs) == 1):
        gos: list[Any] = [grad_outputs] if len(outs) == 1 else [None] * len(outs)
    else:
        gos = list(grad_outputs)  # type: ignore[arg-type]
    if len(gos) != len(outs):
        raise ValueError(
            f"grad: got {len(outs)} outputs but {len(gos)} grad_outputs; pass one per output"
        )
    for i, x in enumerate(ins):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise GraphError(
                f"grad: input {i} ({describe(x) if isinstance(x, Tensor) else type(x).__name__}) "
                "does not require grad"
            )
    roots, seeds = [], []
    for o, go in zip(outs, gos):
        if not o.requires_grad:
            raise GraphError("grad: an output does not require grad; it does not depend on any input")
        roots.append(o)
        seeds.append(_seed(o, go, create_graph, "grad"))
    retain = create_graph if retain_graph is None else retain_graph
    capture: dict[Tensor, Any] = {x: None for x in ins}
    order, consumers = _in_mode(create_graph, _run, roots, seeds, create_graph, capture)
    if not retain:
        _free(order, consumers, tuple(roots), True)
    del order, consumers
    result: list[Tensor | None] = []
    for i, x in enumerate(ins):
        g = capture[x]
        if g is None:
            if not allow_unused:
                raise GraphError(
                    f"grad: input {i} ({describe(x)}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            result.append(_new(np.array(g, dtype=x._data.dtype)))
    return tuple(result)
