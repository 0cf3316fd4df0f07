"""The reverse-mode engine: ``backward`` and ``grad``.

One traversal serves both.  It is iterative (no recursion, so a 100,000-op chain
works) and runs in two passes:

1. From the roots, walk the recorded graph with an explicit stack and count, for each
   tensor that requires a gradient, how many recorded ops consume it.
2. Kahn's algorithm: a tensor is processed once every consumer has sent its
   contribution.  Its total gradient is popped from the ``grads`` dict (so memory for
   it is released as soon as it has been used), hooks run, then its op's VJP sends
   one gradient to each parent.  A parent used twice receives the sum.

The engine, not the ops, sums a gradient of a broadcast shape back to the parent's
shape, then checks it and names the op if the shapes still differ.  After a tensor
has been processed its links to its parents are dropped unless ``retain_graph`` is
set: that frees the graph as the pass goes, and a second backward through it fails
with :class:`~nablagraph.errors.GraphError` instead of giving a wrong answer.

With ``create_graph=True`` the VJPs receive tensors and :mod:`nablagraph.functional`
as their namespace, so the backward pass is itself recorded (second derivatives,
Hessian-vector products).

This module imports ``tensor``, ``ops`` (the NumPy namespace for VJPs) and
``errors``; :mod:`nablagraph.functional` is looked up when ``create_graph`` is used.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nablagraph import tensor as _t
from nablagraph.errors import GraphError, ShapeError
from nablagraph.ops import RAW, shape_text
from nablagraph.tensor import ArrayLike, Tensor, _new, _unshared, describe

__all__ = ["backward", "grad"]

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
        arr = np.ones_like(root._data)
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


def _run(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    capture: dict[Tensor, Any] | None,
) -> None:
    F: Any = sys.modules["nablagraph.functional"] if create_graph else RAW
    grads: dict[Tensor, Any] = {}
    for r, s in zip(roots, seeds):
        grads[r] = grads[r] + s if r in grads else s

    # Pass 1: count the consumers of every tensor that requires a gradient.
    deps: dict[Tensor, int] = {}
    stack: list[Tensor] = []
    for r in roots:
        if r not in deps:
            deps[r] = 0
            stack.append(r)
    get = deps.get
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
                    deps[p] = 1
                    stack.append(p)
                else:
                    deps[p] = n + 1

    # Pass 2: process each tensor once all its consumers have contributed.
    clock = _t._clock  # anything changed in place since a node's stamp is checked
    anomaly = _t._get_mode() & _t.ANOMALY
    ready = [r for r in dict.fromkeys(roots) if deps[r] == 0]
    pop = grads.pop
    while ready:
        t = ready.pop()
        g = pop(t, None)
        parents = t._parents
        if g is not None:
            if t._hooks:
                g = _run_hooks(t, g, create_graph)
            if capture is not None and t in capture:
                capture[t] = g
            if parents is None:  # a leaf
                if capture is None:
                    _accumulate(t, g, create_graph)
                continue
            if t._retain and capture is None:
                _accumulate(t, g, create_graph)
        elif parents is None:
            continue
        assert parents is not None
        op = t._op
        assert op is not None
        if g is not None:
            if clock > t._stamp:
                _check_versions(t, parents)
            needs = tuple([p.requires_grad for p in parents])
            if create_graph:
                gs = op.vjp(F, needs, g, t, *parents, *t._params)
            elif op.writes_into and capture is None:
                dest = tuple([_dest(p, deps) for p in parents])
                gs = op.vjp(F, needs, g, t._data, *[p._data for p in parents], *t._params, dest=dest)
            else:
                gs = op.vjp(F, needs, g, t._data, *[p._data for p in parents], *t._params)
            for i, gp in enumerate(gs):
                p = parents[i]
                if gp is None or not p.requires_grad:
                    continue
                if gp.shape != p._data.shape:
                    gp = _unbroadcast(F, gp, p, op.name, i)
                if anomaly:
                    from nablagraph.anomaly import check_backward

                    check_backward(t, i, gp)
                prev = pop(p, None)
                grads[p] = gp if prev is None else prev + gp
        for p in parents:
            if p.requires_grad:
                n = deps[p] - 1
                deps[p] = n
                if n == 0:
                    ready.append(p)
        if not retain_graph:
            t._parents = None
            t._params = ()


def _dest(p: Tensor, deps: dict[Tensor, int]) -> Any:
    """The buffer a leaf's only gradient contribution may be written into, if any."""
    if p._parents is not None or p._op is not None or not p.requires_grad or p.grad is not None:
        return None
    meta = p._meta
    buf = meta.get("gradbuf") if meta else None
    if buf is None or p._hooks or deps.get(p) != 1:
        return None
    if buf.shape != p._data.shape or buf.dtype != p._data.dtype:
        return None
    if buf.base is None:  # tensor._unshared's common case, inlined
        return buf if _refcount(buf) <= 3 else None  # meta's entry, `buf`, the call
    return buf if _unshared(buf, meta, 2) else None  # meta's entry and `buf`


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


def _unbroadcast(F: Any, gp: Any, p: Tensor, opname: str, i: int) -> Any:
    try:
        r = F.sum_to(gp, p._data.shape)
    except ValueError:
        r = None
    if r is None or r.shape != p._data.shape:
        raise GraphError(
            f"backward: the VJP of '{opname}' returned a gradient of shape "
            f"{shape_text(gp.shape)} for its input {i} of shape {shape_text(p.shape)}"
        )
    return r


def _in_mode(create_graph: bool, fn: Callable[..., None], *args: Any) -> None:
    """Run a backward pass: recording on with ``create_graph``, else as it is.

    With ``create_graph=True`` the VJPs are recorded, whatever the caller's mode (a
    backward inside ``no_grad()`` still builds the graph of the gradients it was asked
    for).  Without it the VJPs work on raw arrays and record nothing, so the caller's
    mode is left alone (switching it costs two context-variable writes per backward);
    only the user's hooks, which may compute with tensors, run with recording off
    (:func:`_run_hooks`).  Either way only the calling thread's mode is concerned.
    """
    if create_graph:
        with _t._GradMode(True):
            fn(*args)
    else:
        fn(*args)


def _run_hooks(t: Tensor, g: Any, create_graph: bool) -> Any:
    assert t._hooks is not None
    for fn in list(t._hooks):
        gt = g if create_graph else _new(g)
        if create_graph:
            r = fn(gt)
        else:
            with _t._GradMode(False):  # a hook's tensor ops are not part of any graph
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
        meta = t._meta
        buf = meta.pop("gradbuf", None) if meta else None
        if buf is not None and buf is g:  # the VJP already wrote it there
            t.grad = _new(buf)
        elif (buf is not None and buf.shape == g.shape and buf.dtype == t._data.dtype
              and _unshared(buf, meta, 1)):
            np.copyto(buf, g, casting="unsafe")
            t.grad = _new(buf)
        else:
            t.grad = _new(np.array(g, dtype=t._data.dtype))
    elif _refcount(cur) <= 3 and _unshared(cur._data, t._meta, 1):  # .grad, `cur`, the call
        np.add(cur._data, g, out=cur._data, casting="unsafe")
    else:  # the user holds the gradient tensor or its array: leave it as it is
        t.grad = _new(np.add(cur._data, g, dtype=cur._data.dtype, casting="unsafe"))


def backward(
    root: Tensor,
    grad: ArrayLike | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Accumulate the gradient of ``root`` into the ``.grad`` of every leaf.

    See :meth:`nablagraph.Tensor.backward`.
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
    _in_mode(create_graph, _run, [root], [seed], retain, create_graph, None)


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
    _in_mode(create_graph, _run, roots, seeds, retain, create_graph, capture)
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
