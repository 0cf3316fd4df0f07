"""The interactive graph page (``viz.page``), read as data: what the HTML holds.

The browser side (clicking, stepping, searching) is in ``test_browser_graph_page.py``.
Here: the file has no external URL; the embedded JSON has every tensor with the right
fields; its backward order is the engine's schedule; its gradients equal the engine's
``backward()`` and central finite differences; no ``.grad`` changes; every op states
the rule its VJP applies.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import engine
from nablagraph.nn import Dense, Module
from nablagraph.ops import OPS, Op
from nablagraph.tensor import apply
from nablagraph.viz import page
from nablagraph.viz.graph import collect

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def xor_cost() -> tuple[ng.nn.Network, ng.Tensor]:
    net = ng.nn.Network([2, 3, 1], seed=0)
    return net, net.cost(XOR_X, XOR_Y)


def digits_cost() -> tuple[ng.nn.Network, ng.Tensor]:
    from nablagraph.data import digits

    X, y = digits()[:2]
    net = ng.nn.Network([64, 30, 10], seed=1, cost="cross_entropy")
    return net, net.cost(X[:5], y[:5])


# A user's op, not registered (nothing global changes): the cube, with its rule.
CUBE = Op("cube", lambda x: x * x * x, lambda F, needs, g, out, x: (g * (3 * (x * x)),),
          "x³", kind="elementwise", elementwise=True, rule="g ⊙ 3x²")
SQUARE_NO_RULE = Op("square", lambda x: x * x, lambda F, needs, g, out, x: (g * (2 * x),),
                    "x²", kind="elementwise", elementwise=True)


class Custom(Module):
    """A user's module: two Dense layers and the custom ops between them."""

    def __init__(self) -> None:
        self.one = Dense(3, 4, activation="tanh", rng=2, index=2)
        self.two = Dense(4, 2, activation="identity", rng=3, index=3)

    def forward(self, x: ng.Tensor) -> ng.Tensor:
        h = apply(SQUARE_NO_RULE, (apply(CUBE, (self.one(x),)),))
        return self.two(h)


def custom_cost() -> tuple[Custom, ng.Tensor]:
    m = Custom()
    x = ng.Tensor(np.random.default_rng(0).normal(size=(3, 3)) * 0.5, name="x")
    out = m(x)
    return m, ((out - 0.5) ** 2).mean()


def embedded(doc: str) -> dict:
    m = re.search(r'<script type="application/json" id="ng-data">(.*?)</script>', doc, re.S)
    assert m is not None
    return json.loads(m.group(1))


# ------------------------------------------------------------------ the file
@pytest.mark.parametrize("make", [xor_cost, digits_cost, custom_cost])
def test_the_page_is_one_file_with_no_external_url(make) -> None:
    _, C = make()
    doc = page(C).html
    assert doc.startswith("<!DOCTYPE html>")
    assert "http:" not in doc and "https:" not in doc and "//cdn" not in doc
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!#)""", doc)  # nothing loaded by address
    assert "url(" not in doc and "@import" not in doc and "@font-face" not in doc
    assert "default-src 'none'" in doc  # and the browser is told to refuse any request
    assert doc.count("<script") == 2 and doc.count("</script>") == 2


def test_a_hostile_name_cannot_end_the_script_or_fill_a_placeholder() -> None:
    x = ng.Tensor(np.ones(2), requires_grad=True, name="</script><script>alert(1)</script>{{JS}}")
    p = page((x * 2.0).sum())
    assert p.html.count("<script") == 2 and p.html.count("window.nablagraph = {") == 1
    assert x.name in [n["name"] for n in embedded(p.html)["nodes"]]  # kept as data, read as data


def test_the_embedded_json_is_the_data_and_holds_every_tensor() -> None:
    _, C = xor_cost()
    p = page(C)
    data = embedded(p.html)
    assert data == json.loads(json.dumps(p.data))
    info = collect(C)
    assert len(data["nodes"]) == len(info.nodes) == 11
    by_title = {n["title"]: n for n in data["nodes"]}
    assert {"C", "W2", "b2", "W3", "b3", "z²", "a²", "z³", "a³", "y", "a¹"} == set(by_title)
    for n, tn in zip(data["nodes"], info.nodes):
        t = tn.tensor
        assert n["shape"] == list(t.shape) and n["dtype"] == str(t.dtype)
        assert n["op"] == (t._op.name if t._op is not None else None)
        assert n["kind"] == tn.kind
        assert n["parents"] == [next(i for i, m in enumerate(info.nodes) if m.tensor is q)
                                for q in t._parents or ()]
        assert n["value"]["preview"] == pytest.approx(t.data.reshape(-1)[:8].tolist(), rel=1e-7)
        assert n["value"]["norm"] == pytest.approx(float(np.linalg.norm(t.data)), rel=1e-7)
        if t._op is not None:
            assert n["rule"] == OPS[t._op.name].rule
    w2 = by_title["W2"]
    assert w2["shape"] == [3, 2] and w2["kind"] == "parameter"
    assert w2["value"]["min"] == pytest.approx(float(np.min(w2_data(C))), rel=1e-7)
    assert by_title["z²"]["equations"][0].startswith("z² = w² a¹ + b²")
    assert "BP2: δ² = ((w³)ᵀ δ³) ⊙ σ′(z²)" in by_title["z²"]["equations"]
    assert any(e.startswith("BP1: δ³ = ∇ₐC ⊙ σ′(z³)") for e in by_title["z³"]["equations"])
    assert by_title["W3"]["equations"][0].startswith("BP4: ∂C/∂w³ⱼₖ = a²ₖ δ³ⱼ")
    assert by_title["b2"]["equations"][0].startswith("BP3: ∂C/∂b²ⱼ = δ²ⱼ")
    assert by_title["a²"]["equations"] == ["a² = σ(z²), σ = sigmoid"]
    assert [layer["title"] for layer in data["layers"]] == [
        "layer 2 · 2 → 3 · sigmoid", "layer 3 · 3 → 1 · sigmoid"]


def w2_data(C: ng.Tensor) -> np.ndarray:
    return next(n.tensor.data for n in collect(C).nodes if n.tensor.name == "W2")


# ------------------------------------------------------------------ order and gradients
@pytest.mark.parametrize("make", [xor_cost, digits_cost, custom_cost])
def test_the_order_is_the_engines_schedule(make) -> None:
    _, C = make()
    data = page(C).data
    nodes = collect(C).nodes
    order, _ = engine.schedule([C])
    assert [nodes[i].tensor for i in data["order"]] == order
    assert [data["nodes"][i]["step"] for i in data["order"]] == list(range(len(order)))
    assert data["order"][0] == data["root"] == 0


@pytest.mark.parametrize("make", [xor_cost, digits_cost, custom_cost])
def test_gradients_are_the_engines_and_no_grad_changes(make) -> None:
    model, C = make()
    params = model.parameters()
    before = [p.grad for p in params]
    data = page(C).data
    assert [p.grad for p in params] == before  # untouched (None before any backward)
    nodes = collect(C).nodes
    for z in [n.tensor for n in nodes if n.tensor._op is not None and n.tensor is not C]:
        z.retain_grad()
    C.backward(retain_graph=True)  # the independent route: an ordinary backward
    for rec, tn in zip(data["nodes"], nodes):
        g = tn.tensor.grad
        if tn.tensor is C:
            continue
        if g is None:
            assert rec["grad"] is None
            continue
        flat = g.data.reshape(-1)
        assert rec["grad"]["preview"] == pytest.approx(flat[:8].tolist(), rel=1e-7, abs=1e-12)
        assert rec["grad"]["norm"] == pytest.approx(float(np.linalg.norm(flat)), rel=1e-7)


def test_parameter_gradients_equal_central_finite_differences() -> None:
    net, C = xor_cost()
    data = page(C).data
    by_name = {n["name"]: n for n in data["nodes"] if n["name"]}
    for p in net.parameters():
        fd = np.zeros(p.data.size)
        for k in range(p.data.size):
            old = p.data.flat[k]
            p.data.flat[k] = old + 1e-6
            up = float(net.cost(XOR_X, XOR_Y).data)
            p.data.flat[k] = old - 1e-6
            down = float(net.cost(XOR_X, XOR_Y).data)
            p.data.flat[k] = old
            fd[k] = (up - down) / 2e-6
        assert by_name[p.name]["grad"]["preview"] == pytest.approx(fd[:8].tolist(), abs=1e-8)
        assert by_name[p.name]["grad"]["norm"] == pytest.approx(float(np.linalg.norm(fd)), rel=1e-6)


def test_a_root_of_many_entries_is_seeded_with_ones() -> None:
    x = ng.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True, name="x")
    data = page(x * x).data
    assert data["seed"].startswith("ones")
    xn = next(n for n in data["nodes"] if n["name"] == "x")
    assert xn["grad"]["preview"] == [2.0, 4.0, 6.0]  # ∂Σx²/∂x = 2x


def test_a_graph_without_gradients_has_no_steps() -> None:
    data = page(ng.Tensor(np.ones(3)) * 2.0).data
    assert data["order"] == [] and all(n["grad"] is None for n in data["nodes"])


def test_the_custom_ops_rule_or_its_absence_is_shown() -> None:
    _, C = custom_cost()
    rules = {n["op"]: n["rule"] for n in page(C).data["nodes"] if n["op"]}
    assert rules["cube"] == "g ⊙ 3x²"
    assert rules["square"] == "(op 'square' gives no rule= in its defop)"
    assert rules["linear"] == OPS["linear"].rule


# ------------------------------------------------------------------ registry
def test_every_registered_op_states_the_rule_its_vjp_applies() -> None:
    missing = [n for n, op in OPS.items() if not op.rule]
    assert not missing, f"ops without rule= in their defop: {missing}"
    for name, op in OPS.items():
        assert op.rule is not None and "\n" not in op.rule and len(op.rule) <= 90, name
    assert OPS["matmul"].rule == "∂C/∂A = G·Bᵀ, ∂C/∂B = Aᵀ·G"
    assert OPS["sigmoid"].rule == "g ⊙ σ(z)(1−σ(z))"


# ------------------------------------------------------------------ layout
def test_the_layout_keeps_boxes_apart_and_edges_downward() -> None:
    _, C = digits_cost()
    nodes = page(C).data["nodes"]
    rows: dict[float, list[dict]] = {}
    for n in nodes:
        rows.setdefault(n["y"], []).append(n)
        for p in n["parents"]:
            assert nodes[p]["y"] < n["y"]  # inputs above, the root at the bottom
    for row in rows.values():
        row.sort(key=lambda n: n["x"])
        for a, b in itertools.pairwise(row):
            assert a["x"] + a["w"] / 2 <= b["x"] - b["w"] / 2 + 1e-6
    assert max(n["y"] for n in nodes) == nodes[0]["y"]


# ------------------------------------------------------------------ entry points
def test_render_writes_the_page_and_refuses_what_does_not_apply(tmp_path: Path) -> None:
    _, C = xor_cost()
    out = ng.viz.render(C, tmp_path / "g.html", title="XOR")
    assert out.read_text(encoding="utf-8") == page(C, title="XOR").html
    with pytest.raises(ng.DTypeError, match=r"render: an .html page is made from a Tensor .* got Diagram"):
        ng.viz.render(ng.viz.to_graphviz(C), tmp_path / "d.html")
    with pytest.raises(ng.ConfigError, match=r"render: options collapse, dpi do not apply to an .html page"):
        ng.viz.render(C, tmp_path / "d.html", collapse="layers", dpi=300)
    with pytest.raises(ng.ConfigError, match=r"Diagram.write: an .html page is made from the tensor itself"):
        ng.viz.to_graphviz(C).write(tmp_path / "d.html")
    with pytest.raises(ng.ConfigError, match=r"use .dot, .gv, .svg, .png or .pdf, or .html for the interactive page, or pass format="):
        ng.viz.render(C, tmp_path / "d.htm")
    assert not (tmp_path / "d.html").exists()


def test_after_backward_the_page_shows_what_backward_kept(tmp_path: Path) -> None:
    net, C = xor_cost()
    _, C2 = xor_cost()  # the same network and batch, its graph kept
    before = page(C2).data
    C.backward()  # held: the graph's shape is kept, the values nothing held are freed
    after = page(C).data
    assert after["afterBackward"] and not before["afterBackward"]
    assert after["order"] == before["order"]  # the engine's order, read off the kept links
    grads = {p.name: p.grad.data for p in net.parameters()}
    for a, b in zip(after["nodes"], before["nodes"]):
        assert (a["title"], a["parents"], a["step"]) == (b["title"], b["parents"], b["step"])
        if a["name"] in grads:  # parameters: their .grad, as backward() left it
            np.testing.assert_allclose(a["grad"]["norm"], np.linalg.norm(grads[a["name"]]), rtol=1e-7)
            np.testing.assert_allclose(a["grad"]["norm"], b["grad"]["norm"], rtol=1e-7)
            assert not a["valuesFreed"] and a["value"] == b["value"]
        elif a["kind"] == "output":
            assert a["grad"]["preview"] == [1.0] and a["value"] == b["value"]
        else:  # intermediates, X and y: nothing else held them
            assert a["valuesFreed"] and a["value"] is None and a["grad"] is None
    ng.viz.render(C, tmp_path / "after.html")
    assert (tmp_path / "after.html").stat().st_size > 0


def test_a_graph_freed_by_a_temporary_is_refused_naming_retain_graph(tmp_path: Path) -> None:
    net, _ = xor_cost()
    a = net(XOR_X)
    ng.quadratic_cost(a, XOR_Y).backward()  # nothing holds the cost: no shape is kept
    with pytest.raises(ng.GraphError, match=r"page: cannot show the graph: this tensor \(op 'sigmoid', "
                       r"shape \(4, 1\)\) was freed by an earlier backward\(\) on a tensor nothing "
                       r"held.*\(C = \.\.\.; C\.backward\(\)\).*backward\(retain_graph=True\)"):
        ng.viz.render(a, tmp_path / "g.html")
    assert not (tmp_path / "g.html").exists()
    _, C = xor_cost()
    C.backward(retain_graph=True)
    assert page(C).data["order"] and not page(C).data["afterBackward"]  # a kept graph


def test_jupyter_shows_the_page_in_an_iframe() -> None:
    _, C = xor_cost()
    p = page(C)
    frame = p._repr_html_()
    assert frame.startswith("<iframe srcdoc=\"") and 'sandbox="allow-scripts"' in frame
    src = re.search(r'srcdoc="([^"]*)"', frame)
    assert src is not None and html.unescape(src.group(1)) == p.html
    assert repr(p).startswith("GraphPage(11 nodes, 9 backward steps, ")


def test_network_page_refuses_what_is_not_a_network() -> None:
    with pytest.raises(ng.ConfigError, match=r"network_page: expected a nablagraph.nn.Network .* got int "
                       r"without forward_trace\(\)"):
        ng.viz.network_page(3, XOR_X, XOR_Y)


def test_the_graph_command_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "g.html"
    proc = subprocess.run([sys.executable, "-m", "nablagraph", "graph", "2,3,1", "--data", "xor",
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = embedded(out.read_text(encoding="utf-8"))
    assert (f"wrote the interactive graph page of new network 2,3,1 (XOR (4 examples), batch of 4; "
            f"{len(data['nodes'])} tensors, {len(data['order'])} backward steps) to {out}") in proc.stdout
    assert data["title"].startswith("network [2, 3, 1] · ") and data["title"].endswith("batch of M = 4")
    assert data["nodes"][0]["title"] == "C" and data["order"][0] == 0
