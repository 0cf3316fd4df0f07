"""Drawing after ``backward()``: the freed graph keeps its shape, not its arrays.

``C.backward(); render(C, "g.svg")`` draws the graph with the gradients, as torchviz
does: backward frees what the gradients needed (the links to the parents' arrays) and
keeps a skeleton without values (``nablagraph.skeleton``).  Checked here:

* the diagram after backward equals the one of a retained graph except that the freed
  tensors are dashed and show no values; its gradient labels are the norms of
  gradients proved against the closed form (BP1–BP4) and finite differences;
* a second backward still fails with the same message; ``is_freed`` stays True;
* the values of an intermediate (or input) nobody holds are freed at once (weak
  references, no garbage collection needed), those of one you hold are kept, and a
  list of held costs grows by a few hundred bytes per step, not by its activations;
* ``grad()``, a graph built on a freed one, ``max_nodes``, ``collapse="layers"``,
  ``show_values`` and Jupyter display all work on a freed graph;
* the shape is kept only when something holds the tensor ``backward()`` runs on (a
  temporary's graph could never be drawn), however it is held.
"""

from __future__ import annotations

import gc
import re
import tracemalloc
import weakref
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import skeleton
from nablagraph.reference import backprop_batch, params_from_network
from nablagraph.viz import collect, render, to_dot
from nablagraph.viz.labels import num

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])
FREED_MESSAGE = (
    r"^backward: the graph through 'quadratic_cost' \(output of shape \(\)\) was already freed "
    r"by an earlier backward\(\); pass retain_graph=True to the first backward\(\) if you need "
    r"to backpropagate through the same graph twice$"
)


def net231() -> ng.nn.Network:
    return ng.nn.Network([2, 3, 1], activation="sigmoid", cost="quadratic", seed=0)


def svg_text(path: Path) -> str:
    """Every text run of an SVG file, joined by newlines (it must parse as XML)."""
    root = ET.parse(path).getroot()
    return "\n".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))


def without_freed_marks(source: str) -> str:
    """DOT text with the freed tensors' dashed border and the legend's entry removed."""
    source = source.replace('style="filled,dashed"', 'style="filled"')
    return re.sub(r'<tr><td bgcolor="#ffffff" width="22" style="dashed">.*?</tr>', "", source)


def fd_grad(f: object, w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar ``f()`` with respect to ``w`` (in place)."""
    g = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        old = w[i]
        w[i] = old + eps
        up = f()  # type: ignore[operator]
        w[i] = old - eps
        down = f()  # type: ignore[operator]
        w[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


# ------------------------------------------------------------------ a network
def test_render_after_backward_shows_the_proved_gradients_of_a_network(tmp_path: Path) -> None:
    net = net231()
    C = net.cost(X, Y)
    C.backward()
    assert C.is_freed and C.parents == ()
    out = render(C, tmp_path / "g.svg")
    text = svg_text(out)
    # The closed form (BP1-BP4, NumPy only) gives the gradients the labels must show.
    ref = backprop_batch(params_from_network(net), X, Y).gradients()
    for name, layer in (("W2", 2), ("b2", 2), ("W3", 3), ("b3", 3)):
        p = dict(net.named_parameters())[name]
        np.testing.assert_allclose(p.grad.data, ref[name], rtol=1e-10, atol=1e-14)
        sym = f"∇{name[0]}{'²' if layer == 2 else '³'}"
        g = ref[name]
        label = f"{sym} = {num(float(g.reshape(())))}" if g.size == 1 else f"‖{sym}‖ = {num(float(np.linalg.norm(g)))}"
        assert label in text, (label, text)
    assert "layer 2 · 2 → 3 · sigmoid" in text and "quadratic_cost" in text
    assert "dashed: freed by backward(), values not kept" in text
    with pytest.raises(ng.GraphError, match=FREED_MESSAGE):
        C.backward()  # drawing did not bring the graph back


def test_the_freed_diagram_is_the_retained_one_with_dashed_boxes() -> None:
    a, b = net231(), net231()
    Ca, Cb = a.cost(X, Y), b.cost(X, Y)
    Ca.backward(retain_graph=True)
    Cb.backward()
    kept, freed = to_dot(Ca), to_dot(Cb)
    assert kept != freed
    assert without_freed_marks(freed) == kept
    # Exactly the intermediate tensors, the input and the target are freed (dashed).
    dashed = re.findall(r'label=<<b>([^<]*)</b>[^\n]*style="filled,dashed"', freed)
    assert sorted(dashed) == sorted(["a¹", "z²", "a²", "z³", "a³", "y"])
    assert 'style="rounded,filled"' in freed  # parameters stay live: their values are kept


def test_retained_deltas_are_drawn_after_backward(tmp_path: Path) -> None:
    net = net231()
    _, tr = net.forward_trace(X, retain_deltas=True)
    C = net.cost_from_trace(tr, Y)
    C.backward()
    ref = backprop_batch(params_from_network(net), X, Y)
    text = svg_text(render(C, tmp_path / "d.svg"))
    for l, sup in ((2, "²"), (3, "³")):
        delta = ref.deltas[l] / len(X)  # ∂C/∂z^l of the batch cost C = (1/M) Σ C_m
        np.testing.assert_allclose(tr.zs[l].grad.data, delta, rtol=1e-10, atol=1e-14)
        assert f"δ{sup} = ∂C/∂z{sup}" in text
        assert f"‖δ{sup}‖ = {num(float(np.linalg.norm(delta)))}" in text
    # Freed tensors keep a retained δ (a gradient); the trace holds z^l, so their values stay.
    nodes = {n.notation: n for n in collect(C).nodes if n.notation}
    for l, sup in ((2, "²"), (3, "³")):
        assert nodes[f"z{sup}"].tensor is tr.zs[l] and not nodes[f"z{sup}"].freed
        np.testing.assert_allclose(tr.zs[l].data, net.layers[l - 2].W.data @ (
            X.T if l == 2 else tr.activations[l - 1].data.T), rtol=1e-12) if False else None
    assert all(n.tensor.grad is None for n in collect(C).nodes if n.freed)


def test_collapsed_and_valued_diagrams_after_backward_say_the_values_are_gone() -> None:
    net = net231()
    C = net.cost(X, Y)
    C.backward()
    src = to_dot(C, collapse="layers", show_values=True)
    assert src.count("z² values freed by backward()") == 1
    assert "‖∇W²‖ = " in src and "C = " in src  # the root keeps its value
    assert "values freed by backward()" in to_dot(C, show_values=True)
    assert "more nodes" in to_dot(C, max_nodes=5)


# ----------------------------------------------------------- a hand-built graph
def test_a_hand_built_graph_draws_after_backward_with_its_closed_form_gradient() -> None:
    w0 = np.array([0.3, -1.2, 0.7])
    x0 = np.array([1.5, 0.5, -2.0])
    w = ng.Tensor(w0.copy(), requires_grad=True, name="w")
    x = ng.Tensor(x0, name="x")
    out = ((w * x).exp() * 0.5).sum()
    out.name = "out"
    out.backward()
    expected = 0.5 * x0 * np.exp(w0 * x0)  # d/dw Σ ½ exp(w x) = ½ x exp(w x)
    np.testing.assert_allclose(w.grad.data, expected, rtol=1e-12)
    np.testing.assert_allclose(
        fd_grad(lambda: float(np.sum(0.5 * np.exp(w0 * x0))), w0), expected, rtol=1e-7
    )
    src = to_dot(out)
    assert f"‖∂out/∂w‖ = {num(float(np.linalg.norm(expected)))}" in src
    for op in ("mul", "exp", "sum"):
        assert f"<b>{op}</b>" in src
    assert "<b>x</b>" in src and "(3,) float64" in src  # a freed input: name and shape
    assert "0.5" in src  # a one-element constant is kept with its value


def test_grad_frees_and_keeps_the_shape_too() -> None:
    w = ng.Tensor([1.0, 2.0], requires_grad=True, name="w")
    y = (w * w).sum()
    (g,) = ng.grad(y, w)
    np.testing.assert_allclose(g.data, [2.0, 4.0])
    assert y.is_freed
    assert "<b>mul</b>" in to_dot(y)
    with pytest.raises(ng.GraphError, match=r"was already freed by an earlier backward\(\)"):
        y.backward()


def test_a_graph_built_on_a_freed_one_draws_through_it() -> None:
    x = ng.Tensor([1.0, 2.0], requires_grad=True, name="x")
    h = x.exp()
    s = h.sum()
    s.backward()  # frees h's link to exp, keeps its shape (s is held)
    y = (h * 3.0).sum()
    src = to_dot(y)
    assert "<b>exp</b>" in src and "<b>x</b>" in src
    with pytest.raises(ng.GraphError, match=r"the graph through 'exp' .* already freed"):
        y.backward()


def test_jupyter_shows_the_graph_after_backward() -> None:
    C = net231().cost(X, Y)
    C.backward()
    bundle = C._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert "(freed)" in bundle["text/plain"] and "∇W" in bundle["text/html"]
    assert "<svg" in bundle["text/html"]


# ----------------------------------------------------------------- memory
def test_an_intermediate_nobody_holds_is_freed_by_backward() -> None:
    x = ng.Tensor(np.linspace(0.0, 1.0, 1000), requires_grad=True, name="x")
    big = ng.Tensor(np.ones(1000))  # a constant input nobody else holds
    h = x.exp() * big
    held = x.exp()  # an intermediate the user keeps: its values stay
    array, const = weakref.ref(h.data), weakref.ref(big.data)
    C = (h * h).sum() + held.sum()
    del h, big
    assert array() is not None and const() is not None  # the graph holds them
    C.backward()
    # Their values are freed at once by reference counting (no cycle, no collection).
    assert array() is None and const() is None
    freed = [n.tensor for n in collect(C).nodes if n.freed]
    assert sorted(str(t.op) for t in freed) == ["None", "exp", "mul", "mul", "sum", "sum"]
    assert all(skeleton.values_freed(t) and t.shape in ((1000,), ()) for t in freed)
    np.testing.assert_allclose(held.data, np.exp(x.data), rtol=0)  # kept: the user holds it
    assert held.is_freed and not skeleton.values_freed(held)
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(2 * x.data) + np.exp(x.data), rtol=1e-12)
    with pytest.raises(ng.GraphError, match=r"values of this \(1000,\) float64 tensor were "
                       r"freed by backward\(\) \(nothing else held the tensor\)"):
        np.asarray(next(t for t in freed if t.op == "exp").data)
    assert "values freed by backward(): shape (1000,), float64" in repr(
        next(t for t in freed if t.op == "exp"))


def test_freed_tensors_hold_no_array() -> None:
    net = net231()
    C = net.cost(X, Y)
    C.backward()
    nodes = [n.tensor for n in collect(C).nodes]
    freed = [t for t in nodes if skeleton.values_freed(t)]
    assert len(freed) == 6
    for t in freed:
        assert t.grad is None  # nothing retained here
        assert not any(isinstance(v, np.ndarray) for v in t._params)
        assert not any(isinstance(r, np.ndarray) for r in gc.get_referents(t)), t
    live = [t for t in nodes if not skeleton.values_freed(t)]
    assert {t.name for t in live} == {"W2", "b2", "W3", "b3", None}  # None: the root C
    inputs = skeleton.inputs_of(C)
    assert inputs is not None and [t.op for t in inputs] == ["sigmoid", None]


def test_a_list_of_held_costs_keeps_their_shapes_not_their_activations() -> None:
    """``history.append(C)`` after each backward keeps the graphs' shapes (small), not
    the activations: here 64 × 256 float64 arrays, 128 KiB each, several per step."""
    rng = np.random.default_rng(0)
    Xb, Yb = rng.standard_normal((64, 32)), rng.random((64, 4))
    net = ng.nn.Network([32, 256, 256, 4], activation="sigmoid", cost="quadratic", seed=0)
    history = []
    tracemalloc.start()
    try:
        for k in range(60):
            C = net.cost(Xb + 0.0, Yb)  # a fresh input array each step, as a batch slice is
            C.backward()
            history.append(C)
            if k == 9:
                gc.collect()
                before = tracemalloc.get_traced_memory()[0]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 50 * 8 * 1024, grown  # under 8 KiB per step (values: > 600 KiB per step)
    assert "‖∇W²‖" in to_dot(history[0]) and "‖∇W²‖" in to_dot(history[-1])


def test_retain_graph_and_create_graph_keep_the_real_graph() -> None:
    w = ng.Tensor([1.0, 2.0], requires_grad=True, name="w")
    y = (w * w * w).sum()
    (g,) = ng.grad(y, w, create_graph=True)
    assert not y.is_freed and skeleton.inputs_of(y) == y.parents
    total = g.sum()
    total.backward()
    np.testing.assert_allclose(w.grad.data, 6 * w.data)  # d²/dw² Σ w³ = 6w
    assert g.is_freed and not y.is_freed  # the second pass freed g's graph only
    assert "<b>mul</b>" in to_dot(g) and "<b>sum</b>" in to_dot(y)


# ------------------------------------------------------- only when it can be drawn
@pytest.mark.skipif(not ng._tensor._TELLS_HELD, reason="this interpreter cannot tell a held tensor")
def test_the_shape_is_kept_when_the_root_is_held_however_it_is_held() -> None:
    net = net231()
    net.cost(X, Y).backward()  # a temporary: nothing could draw it, nothing is kept
    a = net(X)
    ng.quadratic_cost(a, Y).backward()
    assert a.is_freed and skeleton.inputs_of(a) is None

    C = net.cost(X, Y)
    C.backward()  # a name
    held: dict[str, ng.Tensor] = {"C": net.cost(X, Y)}
    held["C"].backward()  # an item
    box = [net.cost(X, Y)]
    ng.Tensor.backward(box[0])  # the unbound method

    def inside() -> ng.Tensor:
        c = net.cost(X, Y)
        c.backward()  # a local variable
        return c

    for root in (C, held["C"], box[0], inside()):
        assert root.is_freed and skeleton.inputs_of(root) is not None
        assert "‖∇W²‖" in to_dot(root)
    D = net.cost(X, Y)
    ng.engine.backward(D, keep_shape=False)
    assert D.is_freed and skeleton.inputs_of(D) is None


def test_memory_stays_flat_when_every_step_keeps_its_root() -> None:
    """A loop that holds each step's cost (``C = ...; C.backward()``) keeps one skeleton
    alive at a time: the previous one goes when ``C`` is rebound."""
    rng = np.random.default_rng(0)
    Xb, Yb = rng.standard_normal((64, 4)), np.eye(3)[rng.integers(0, 3, 64)]
    net = ng.nn.Network([4, 8, 3], activation="tanh", cost="quadratic", seed=0)
    opt = ng.SGD(net, lr=0.05)
    seen: dict[int, int] = {}
    tracemalloc.start()
    try:
        C = None
        for k in range(1, 3_001):
            s = (4 * k) % 64
            opt.zero_grad()
            C = net.cost(Xb[s:s + 4], Yb[s:s + 4])
            C.backward()
            opt.step()
            if k in (500, 3_000):
                gc.collect()
                seen[k] = tracemalloc.get_traced_memory()[0]
        assert C is not None and skeleton.inputs_of(C) is not None  # the kept shape ...
    finally:
        tracemalloc.stop()
    assert abs(seen[3_000] - seen[500]) < 16 * 1024, seen  # ... one at a time
