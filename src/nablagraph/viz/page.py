"""The interactive graph page: one self-contained HTML file that shows backprop happen.

>>> import numpy as np, nablagraph as ng
>>> net = ng.nn.Network([2, 3, 1], seed=0)
>>> p = ng.viz.network_page(net, np.zeros((4, 2)), np.ones((4, 1)))
>>> len(p.data["nodes"]), len(p.data["order"]), "http:" in p.html or "https:" in p.html
(11, 9, False)

:func:`page` reads the graph below a tensor (usually the cost ``C``) and writes
everything the page shows into one JSON object embedded in the HTML, next to a small
hand-written script and style sheet (``viz/page_assets``): no external URL, no web
font, so the file works from ``file://`` with no network, and a Content-Security-Policy
forbids the page any request.  What it holds:

* every tensor of the graph as a node (a leaf, or the output of its op), with its
  name, the notes' name (``z²``, ``a²``, ``δ² = ∂C/∂z²`` …), kind, op, shape, dtype, a
  preview (the first entries) and summary (min, max, mean, norm) of its value and of
  its gradient, the rule its op's VJP applies (the registry's fact ``Op.rule``) and,
  for a network's tensors, the equations of the notes it realises (``zˡ = wˡ aˡ⁻¹ +
  bˡ``, ``aˡ = σ(zˡ)``, BP1–BP4);
* ``order``: the engine's own processing order, :func:`nablagraph.engine.schedule`,
  which the page's backward stepper walks, showing the gradient arriving at each node;
* the gradients themselves, computed by the real engine (:func:`nablagraph.grad`,
  with ``retain_graph=True``): the user's ``.grad`` fields are not touched;
* the layers (``Dense`` clusters) and a layered layout (:mod:`~nablagraph.viz.page_layout`).

The page draws on a canvas, only what is in view and without text when zoomed far
out, so a graph of 10,000 tensors opens and pans smoothly (``docs/rendering.md`` has
the measurements).

Imports: ``tensor``, ``engine``, ``errors``, ``files`` and the other ``viz`` modules.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph._tensor import ArrayLike, Tensor
from nablagraph.errors import ConfigError, DTypeError, GraphError
from nablagraph.files import _atomic_write
from nablagraph.skeleton import inputs_of, values_freed
from nablagraph.viz.graph import GraphInfo, TensorNode, collect, is_cost, superscript
from nablagraph.viz.labels import params_text
from nablagraph.viz.network import _named, _title
from nablagraph.viz.nodes import NodeDrawer
from nablagraph.viz.page_layout import layout
from nablagraph.viz.style import COLOURS, KIND_TEXT

__all__ = ["PREVIEW", "GraphPage", "network_page", "page"]

#: How many entries of a value or gradient the page previews.
PREVIEW = 8


@dataclass(frozen=True)
class GraphPage:
    """An interactive graph page: ``.html`` (one self-contained file) and its ``.data``.

    Shows inline in Jupyter (an ``<iframe srcdoc=…>``); :meth:`write` saves it.
    """

    html: str
    data: dict[str, Any] = field(repr=False)

    def write(self, path: str | Path) -> Path:
        """Write the page to ``path`` (atomically; a link is followed) and return it."""
        p = Path(path)
        _atomic_write(p, [self.html.encode("utf-8")], "GraphPage.write")
        return p

    def _repr_html_(self) -> str:
        doc = html.escape(self.html, quote=True)
        return (f'<iframe srcdoc="{doc}" style="width:100%;height:640px;border:1px solid #ccc" '
                'sandbox="allow-scripts"></iframe>')

    def __repr__(self) -> str:
        return (f"GraphPage({len(self.data['nodes'])} nodes, {len(self.data['order'])} "
                f"backward steps, {len(self.html):,} bytes)")


# ------------------------------------------------------------------ numbers
def _number(v: float) -> float | str:
    """A JSON-safe number: 8 significant digits, non-finite values as text."""
    return float(f"{v:.8g}") if math.isfinite(v) else str(v)


def _summary(a: np.ndarray) -> dict[str, Any]:
    """Preview (first :data:`PREVIEW` entries) and min, max, mean, norm of ``a``."""
    flat = np.asarray(a).reshape(-1)
    out: dict[str, Any] = {"size": int(flat.size)}
    if flat.dtype.kind not in "biuf":
        out["preview"] = [str(v) for v in flat[:PREVIEW]]
        return out
    f = flat.astype(np.float64, copy=False)
    out["preview"] = [_number(v) for v in f[:PREVIEW].tolist()]
    if f.size <= 64 and f.size and np.isfinite(f).all():
        # Small arrays (most of a big graph's): plain Python is faster than NumPy's calls.
        vals = f.tolist()
        out.update(min=_number(min(vals)), max=_number(max(vals)),
                   mean=_number(math.fsum(vals) / len(vals)), norm=_number(math.hypot(*vals)))
    elif f.size:
        with np.errstate(all="ignore"):
            out.update(min=_number(float(f.min())), max=_number(float(f.max())),
                       mean=_number(float(f.mean())), norm=_number(float(np.linalg.norm(f))))
    return out


# ------------------------------------------------------------------ the graph
def _freed(root: Tensor) -> bool:
    """Whether ``backward()`` freed the graph (it then keeps its shape), or raise.

    The one place that decides what the page does with a freed graph.  After the
    backward of a held root the links are kept (:mod:`nablagraph.skeleton`): the page
    shows the graph with the gradients backward left (:func:`_kept_gradients`).  After
    the backward of a temporary nothing is kept below the freed tensor: a GraphError.
    """
    stack, seen, freed = [root], {id(root)}, False
    while stack:
        t = stack.pop()
        inputs = inputs_of(t)
        if inputs is None:
            assert t._op is not None
            where = "this tensor" if t is root else f"the output of '{t._op.name}' it depends on"
            raise GraphError(
                f"page: cannot show the graph: {where} (op '{t._op.name}', shape "
                f"{tuple(t.shape)}) was freed by an earlier backward() on a tensor nothing held, "
                "which keeps no shape of the graph; hold the tensor you call backward() on "
                "(C = ...; C.backward()), call backward(retain_graph=True) to keep the "
                "graph, or build the page before backward() (viz.network_page(model, X, Y) "
                "needs no backward at all)"
            )
        freed = freed or (t._op is not None and t._parents is None)
        for p in inputs:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return freed


def _kept_order(root: Tensor) -> list[Tensor]:
    """The order :func:`nablagraph.engine.schedule` gave the pass, on the links it kept.

    The same algorithm (consumer counts, then Kahn's with a stack) over
    :func:`~nablagraph.skeleton.inputs_of`, so the stepper replays the engine's order.
    """
    consumers: dict[Tensor, int] = {root: 0}
    stack = [root]
    while stack:
        for p in inputs_of(stack.pop()) or ():
            if p.requires_grad:
                n = consumers.get(p)
                if n is None:
                    consumers[p] = 1
                    stack.append(p)
                else:
                    consumers[p] = n + 1
    order, ready = [], [root]
    while ready:
        t = ready.pop()
        order.append(t)
        for p in inputs_of(t) or ():
            if p.requires_grad:
                consumers[p] -= 1
                if consumers[p] == 0:
                    ready.append(p)
    return order


def _kept_gradients(root: Tensor, order: list[Tensor]) -> dict[int, np.ndarray]:
    """After ``backward()``: the gradients it left, ``.grad`` of the parameters and of
    the tensors that ``retain_grad()`` kept, and the root's seed (one, for a number)."""
    grads = {id(t): t.grad.data for t in order if t.grad is not None}
    if root.size == 1:
        grads[id(root)] = np.ones_like(root.data)
    return grads


def _gradients(root: Tensor, order: list[Tensor]) -> tuple[dict[int, np.ndarray], str | None]:
    """``∂root/∂t`` for every tensor ``t`` of ``order``, by the engine, and the seed used.

    :func:`nablagraph.grad` captures each tensor's total gradient as the engine pops
    it, so nothing is written to any ``.grad``; the graph is kept.
    """
    if not order:
        return {}, None
    seed = None if root.size == 1 else np.ones_like(root.data)
    gs = engine.grad(root, order, grad_outputs=seed, retain_graph=True, allow_unused=True)
    grads = {id(t): g.data for t, g in zip(order, gs) if g is not None}
    return grads, (None if seed is None else "ones (the root is not a single number)")


def _linear_role(n: TensorNode, info: GraphInfo) -> tuple[str, int] | None:
    """``("W", l)`` or ``("b", l)`` for a parameter that layer ``l``'s linear op uses."""
    for c in info.consumers.get(id(n.tensor), ()):
        op = c.tensor._op
        if op is None or op.name != "linear" or c.layer is None or c.layer.index is None:
            continue
        for i, p in enumerate(inputs_of(c.tensor) or ()):
            if p is n.tensor and i in (1, 2):
                return ("W" if i == 1 else "b"), c.layer.index
    return None


def _equations(n: TensorNode, info: GraphInfo, last: int | None, cost_root: bool) -> list[str]:
    """The notes' equations a tensor of a network realises (none for other tensors)."""
    t, s = n.tensor, superscript
    if n.delta is not None:
        l = n.delta
        eqs = [f"z{s(l)} = w{s(l)} a{s(l - 1)} + b{s(l)}  (batch as rows: z = a Wᵀ + b)"]
        if cost_root:
            eqs.append(f"δ{s(l)} = ∂C/∂z{s(l)}")
            if l == last and any(is_cost(c.tensor._op) for c in info.consumers.get(id(t), ())):
                eqs.append(f"BP1: δ{s(l)} = ∇ₐC ⊙ σ′(z{s(l)}), the cost taking z{s(l)} itself "
                           "(σ folded in): δ is the cost's VJP, its rule on the cost's node")
            elif l == last:
                eqs.append(f"BP1: δ{s(l)} = ∇ₐC ⊙ σ′(z{s(l)})  (the output layer)")
            else:
                eqs.append(f"BP2: δ{s(l)} = ((w{s(l + 1)})ᵀ δ{s(l + 1)}) ⊙ σ′(z{s(l)})")
        return eqs
    if n.notation and n.notation.startswith("a") and t._op is not None and n.layer is not None:
        k = n.layer.index
        sigma = n.layer.activation or "σ"
        return [f"a{s(k)} = σ(z{s(k)}), σ = {sigma}"] if k is not None else []
    if n.kind == "input" and n.notation:
        return [f"{n.notation} = X: the input layer's activations (rows are examples)"]
    role = _linear_role(n, info) if n.kind == "parameter" and cost_root else None
    if role is not None:
        what, l = role
        if what == "W":
            return [f"BP4: ∂C/∂w{s(l)}ⱼₖ = a{s(l - 1)}ₖ δ{s(l)}ⱼ, summed over the batch: "
                    f"∇W{s(l)} = (δ{s(l)})ᵀ a{s(l - 1)}"]
        return [f"BP3: ∂C/∂b{s(l)}ⱼ = δ{s(l)}ⱼ, summed over the batch: ∇b{s(l)} = Σₘ δ{s(l)}ₘ"]
    if n.kind == "output" and cost_root:
        return ["C = (1/M) Σₘ Cₘ: the cost averaged over the M examples of the batch"]
    if n.kind == "target":
        return ["y: the targets the cost compares the output with"]
    return []


def _grad_symbol(n: TensorNode, title: str | None, cost_root: bool, root_symbol: str) -> str:
    if n.delta is not None and cost_root:
        return f"δ{superscript(n.delta)} = ∂C/∂z{superscript(n.delta)}"
    if n.grad_symbol and cost_root:
        return f"{n.grad_symbol} = ∂C/∂{n.tensor.name}"
    return f"∂{root_symbol}/∂{title}" if title else "gradient"


def _width(title: str, second: str) -> float:
    return max(64.0, 7.2 * max(len(title), len(second)) + 22)


def _node_record(n: TensorNode, i: int, info: GraphInfo, drawer: NodeDrawer,
                 grads: dict[int, np.ndarray], step: dict[int, int], last: int | None,
                 index: dict[int, int]) -> dict[str, Any]:
    t, op = n.tensor, n.tensor._op
    title = drawer.title(n)
    shown = title or (op.name if op is not None else n.kind)
    op_note = (op.note or params_text(op.name, t._params)) if op is not None else None
    second = op.name if op is not None else KIND_TEXT.get(n.kind, n.kind).split(" (")[0]
    g = grads.get(id(t))
    record: dict[str, Any] = {
        "id": i,
        "title": shown,
        "name": t.name,
        "notation": n.notation,
        "kind": n.kind,
        "op": op.name if op is not None else None,
        "opKind": ("cost" if is_cost(op) else "op") if op is not None else None,
        "opNote": op_note,
        "rule": (op.rule or f"(op '{op.name}' gives no rule= in its defop)") if op is not None else None,
        "shape": list(t.shape),
        "dtype": str(t.dtype),
        "layer": n.layer.key if n.layer is not None else None,
        "parents": [index[id(p)] for p in n.inputs if id(p) in index],
        "value": None if values_freed(t) else _summary(t.data),
        "valuesFreed": values_freed(t),
        "grad": _summary(g) if g is not None else None,
        "gradSymbol": _grad_symbol(n, title, drawer.is_cost, drawer.root_symbol),
        "equations": _equations(n, info, last, drawer.is_cost),
        "step": step.get(id(t)),
        "requiresGrad": bool(t.requires_grad),
        "w": _width(shown, second),
        "second": second,
    }
    return record


def page_data(root: Tensor, title: str | None = None) -> dict[str, Any]:
    """The JSON object the page embeds: nodes, layers, the backward order, gradients.

    See :func:`page`; the browser and the tests read the same object.
    """
    if not isinstance(root, Tensor):
        raise DTypeError(f"page: expected a Tensor (the cost C, usually), got {type(root).__name__}")
    after_backward = _freed(root)
    info = collect(root)
    if after_backward:
        order = _kept_order(root)
        grads, seed = _kept_gradients(root, order), None
    else:
        order = engine.schedule([root])[0] if root.requires_grad else []
        grads, seed = _gradients(root, order)
    index = {id(n.tensor): i for i, n in enumerate(info.nodes)}
    step = {id(t): k for k, t in enumerate(order)}
    drawer = NodeDrawer(info, show_values=False, show_grads=True, show_shapes=True, highlight=set())
    indices = [layer.index for layer in info.layers.values() if layer.index is not None]
    last = max(indices) if indices else None
    nodes = [_node_record(n, i, info, drawer, grads, step, last, index)
             for i, n in enumerate(info.nodes)]
    x, y, bends = layout(info, [r["w"] for r in nodes])
    for r, xi, yi, b in zip(nodes, x, y, bends):
        r["x"], r["y"], r["bends"] = round(xi, 1), yi, b
    members: dict[int, list[int]] = {}
    for r in nodes:
        if r["layer"] is not None:
            members.setdefault(r["layer"], []).append(r["id"])
    layers = [{"key": layer.key, "title": layer.title, "index": layer.index,
               "activation": layer.activation, "nodes": members.get(layer.key, [])}
              for layer in info.layers.values()]
    return {
        "title": title or f"graph of {drawer.root_symbol}",
        "root": 0,
        "rootSymbol": drawer.root_symbol,
        "isCost": drawer.is_cost,
        "seed": seed,
        "afterBackward": after_backward,
        "nodes": nodes,
        "order": [index[id(t)] for t in order],
        "layers": layers,
        "colours": COLOURS,
        "kinds": KIND_TEXT,
    }


# ------------------------------------------------------------------ the HTML
def _asset(name: str) -> str:
    return resources.files("nablagraph.viz").joinpath("page_assets").joinpath(name).read_text("utf-8")


def _json_for_script(data: dict[str, Any]) -> str:
    """JSON that cannot end its ``<script>`` element early (``</`` and ``<!--`` escaped)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def page(root: Tensor, *, title: str | None = None) -> GraphPage:
    """The interactive page of the graph below ``root``: pan, zoom, inspect, step backward.

    Parameters
    ----------
    root : Tensor
        The tensor whose graph to show, usually the cost :math:`C`.  Its gradients
        :math:`\\partial C / \\partial t` for every tensor :math:`t` on the way are computed
        by the engine (:func:`nablagraph.grad`, ``retain_graph=True``) in the order
        :func:`nablagraph.engine.schedule` gives, which the page's stepper replays; a
        root of more than one element is seeded with ones (the gradient of its sum).
        No ``.grad`` is changed; hooks registered on the graph's tensors run, as in
        any backward pass.
    title : str, optional
        The page's title (default ``graph of C``).

    Returns
    -------
    GraphPage
        ``.html`` (one self-contained file, no external URL), ``.data`` (the embedded
        JSON object), ``.write(path)``; it displays inline in Jupyter.

    Raises
    ------
    GraphError
        If the backward of a temporary freed the graph (nothing of it is kept).  After
        the backward of a held root the page shows the graph as backward left it: the
        gradients it kept (``.grad`` of the parameters and of retained tensors), values
        of tensors nothing else held marked as freed.
    DTypeError
        If ``root`` is not a Tensor.
    """
    data = page_data(root, title)
    parts = {"TITLE": html.escape(data["title"]), "CSS": _asset("page.css"),
             "DATA": _json_for_script(data), "JS": _asset("page.js")}
    # One pass, so that nothing inserted (a tensor's name, say) is read as a placeholder.
    doc = re.sub(r"\{\{(TITLE|CSS|DATA|JS)\}\}", lambda m: parts[m.group(1)], _asset("page.html"))
    return GraphPage(doc, data)


def network_page(model: Any, X: ArrayLike, Y: ArrayLike, *, title: str | None = None) -> GraphPage:
    """Run a network forward on ``(X, Y)`` and return the page of its cost's graph.

    As :func:`~nablagraph.viz.draw_network` but interactive; no ``backward()`` is run
    (the page computes the gradients itself) and no ``.grad`` changes.
    """
    for method in ("forward_trace", "cost_from_trace"):
        if not callable(getattr(model, method, None)):
            raise ConfigError(
                f"network_page: expected a nablagraph.nn.Network (with forward_trace and "
                f"cost_from_trace), got {type(model).__name__} without {method}(); for another "
                "model compute its cost C and call viz.page(C)"
            )
    dtype = getattr(model, "dtype", np.float64)
    Xt, Yt = _named(X, "X", dtype), _named(Y, "Y", dtype)
    _, trace = model.forward_trace(Xt)
    C = model.cost_from_trace(trace, Yt)
    return page(C, title=title or _title(model, Xt.shape[0]))
