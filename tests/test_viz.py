"""Graph diagrams: DOT text, SVG/PNG output, the notes' labels, big graphs, errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import nablagraph as ng
from nablagraph import viz
from nablagraph.errors import ConfigError, GraphError
from nablagraph.viz import RendererError, draw_network, render, to_dot, to_graphviz
from nablagraph.viz import dot as viz_dot

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_NS = "{http://www.w3.org/2000/svg}"

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])

NODE_RE = re.compile(r"^\s*([to]\d+|L\d+|more) \[", re.M)
EDGE_RE = re.compile(r"^\s*(\S+) -> (\S+)(.*)$", re.M)


def dot_nodes(source: str) -> list[str]:
    """Ids of the graph's nodes (tensors t*, ops o*, layer boxes L*, the 'more' node)."""
    return NODE_RE.findall(source)


def dot_edges(source: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(forward edges, dashed backward edges)."""
    fwd, bwd = [], []
    for tail, head, rest in EDGE_RE.findall(source):
        (bwd if "dashed" in rest else fwd).append((tail, head))
    return fwd, bwd


def recorded(root: ng.Tensor) -> tuple[int, int, int, list[ng.Tensor]]:
    """(tensors, ops, forward edges, tensors) of the recorded graph, walked here."""
    seen = {id(root): root}
    stack = [root]
    while stack:
        t = stack.pop()
        for p in t.parents:
            if id(p) not in seen:
                seen[id(p)] = p
                stack.append(p)
    ts = list(seen.values())
    ops = [t for t in ts if t.op is not None]
    edges = sum(len(t.parents) for t in ops) + len(ops)
    return len(ts), len(ops), edges, ts


def net231(seed: int = 0) -> ng.nn.Network:
    return ng.nn.Network([2, 3, 1], activation="sigmoid", cost="quadratic", seed=seed)


def require_renderer() -> viz.Renderer:
    r = viz.find_renderer()
    assert r is not None, (
        "no Graphviz program: a fresh install of nablagraph must bring graphviz-pure "
        "(a runtime dependency) so that SVG and PNG can be written"
    )
    return r


# ----------------------------------------------------------------- DOT text
def test_dot_counts_equal_the_recorded_graph_of_a_network_cost() -> None:
    net = net231()
    C = net.cost(X, Y)
    n_tensors, n_ops, n_edges, _ = recorded(C)
    src = to_dot(C)
    nodes = dot_nodes(src)
    fwd, bwd = dot_edges(src)
    assert len([n for n in nodes if n.startswith("t")]) == n_tensors == 11
    assert len([n for n in nodes if n.startswith("o")]) == n_ops == 5
    assert len(fwd) == n_edges == 15
    assert bwd == []  # before backward: the forward view
    assert "more" not in nodes
    # Every edge joins two drawn nodes.
    assert {x for e in fwd for x in e} <= set(nodes)


def test_shared_input_draws_one_edge_per_use() -> None:
    x = ng.Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x).sum()
    fwd, _ = dot_edges(to_dot(y))
    _, _, n_edges, _ = recorded(y)
    assert len(fwd) == n_edges == 5
    assert fwd.count(("t2", "o1")) == 2  # x feeds mul twice


def test_labels_clusters_and_legend_after_backward() -> None:
    net = net231()
    src = draw_network(net, X, Y).source
    for name in ("W2", "b2", "W3", "b3"):
        assert f"<b>{name}</b>" in src
    for label in ("X = a¹", "z²", "a²", "z³", "a³", "δ² = ∂C/∂z²", "δ³ = ∂C/∂z³", "‖∇W²‖", "‖∇W³‖"):
        assert label in src, label
    assert re.search(r"<b>C = 0\.\d+</b>", src)
    titles = re.findall(r"subgraph cluster_\d+ \{\s*label=<<b>([^<]*)</b>>", src)
    assert titles == ["layer 2 · 2 → 3 · sigmoid", "layer 3 · 3 → 1 · sigmoid"]
    legend = re.search(r"legend \[label=<(.*)> shape", src)
    assert legend is not None
    for entry in ("parameter", "input data", "target y", "op (ellipse)", "cost op", "layer l",
                  "δˡ = ∂C/∂zˡ", "backward: gradient flow"):
        assert entry in legend.group(1), entry


def test_parameters_and_layer_tensors_are_inside_their_cluster() -> None:
    src = draw_network(net231(), X, Y).source
    clusters = re.findall(r"subgraph cluster_\d+ \{(.*?)\n\t\}", src, re.S)
    assert len(clusters) == 2
    assert "W2" in clusters[0] and "b2" in clusters[0] and "z²" in clusters[0]
    assert "W3" in clusters[1] and "a³" in clusters[1] and "W2" not in clusters[1]
    for outside in ("X = a¹", "quadratic_cost", "C = "):
        assert all(outside not in c for c in clusters), outside


def test_gradient_summaries_are_the_gradients() -> None:
    net = net231(seed=3)
    src = draw_network(net, X, Y).source
    # Independently: the same forward and backward, by hand.
    _, tr = net.forward_trace(X, retain_deltas=True)
    C = net.cost_from_trace(tr, Y)
    C.backward()
    d2 = np.linalg.norm(tr.zs[2].grad.data)
    gW2 = np.linalg.norm(net.layers[0].W.grad.data)
    gb3 = net.layers[1].b.grad.data.item()
    assert f"‖δ²‖ = {d2:.4g}" in src
    assert f"‖∇W²‖ = {gW2:.4g}" in src
    assert f"∇b³ = {gb3:.4g}" in src  # one element: its value, not a norm
    assert f"C = {C.item():.4g}" in src


def test_draw_network_leaves_the_model_as_it_was() -> None:
    net = net231()
    W = net.layers[0].W
    sentinel = ng.Tensor(np.full(W.shape, 7.0))
    W.grad = sentinel
    before = {n: p.data.copy() for n, p in net.named_parameters()}
    draw_network(net, X, Y)
    assert W.grad is sentinel and np.all(sentinel.data == 7.0)
    assert net.layers[1].W.grad is None
    for n, p in net.named_parameters():
        np.testing.assert_array_equal(p.data, before[n])


def test_drawing_reads_and_never_changes_the_graph() -> None:
    net = net231()
    _, tr = net.forward_trace(X, retain_deltas=True)
    C = net.cost_from_trace(tr, Y)
    C.backward(retain_graph=True)
    _, _, _, ts = recorded(C)
    state = [(t.parents, t.params, None if t.grad is None else t.grad.data.copy()) for t in ts]
    to_dot(C, show_values=True, highlight="W2")
    to_dot(C, collapse="layers")
    for t, (parents, params, grad) in zip(ts, state):
        assert t.parents == parents and t.params == params
        assert (t.grad is None) == (grad is None)
        if grad is not None:
            np.testing.assert_array_equal(t.grad.data, grad)


def test_views_forward_and_backward() -> None:
    net = net231()
    diagram_src = draw_network(net, X, Y).source
    bwd = dot_edges(diagram_src)[1]
    # One dashed edge per (op, input that requires grad): W, b, a_prev of each linear
    # (not X), z of each sigmoid, a³ of the cost.
    assert len(bwd) == 2 + 3 + 1 + 1 + 1
    assert all(t.startswith("o") and h.startswith("t") for t, h in bwd)
    forward_only = draw_network(net, X, Y, view="forward").source
    assert dot_edges(forward_only)[1] == [] and "δ²" not in forward_only
    assert "‖" not in forward_only.split("legend")[0]
    no_backward = draw_network(net, X, Y, backward=False).source
    assert "δ" not in no_backward and dot_edges(no_backward)[1] == []
    both = to_dot(net.cost(X, Y), view="forward+backward")  # before backward: edges, no grads
    assert len(dot_edges(both)[1]) == len(bwd) and "‖∇" not in both


def test_collapse_layers_draws_one_box_per_layer() -> None:
    src = draw_network(net231(), X, Y, collapse="layers").source
    nodes = dot_nodes(src)
    assert sorted(n for n in nodes if n.startswith("L")) == ["L0", "L1"]
    assert "cluster_" not in src
    # X, Y, the cost op and C stay; every op and tensor of the layers is absorbed.
    assert len(nodes) == 6
    fwd = dot_edges(src)[0]
    assert sorted(fwd) == sorted([("t8", "L0"), ("L0", "L1"), ("L1", "o0"), ("t2", "o0"), ("o0", "t0")])
    box = re.search(r"L0 \[label=<(.*?)> shape", src)
    assert box is not None
    for text in ("layer 2 · 2 → 3 · sigmoid", "linear → sigmoid", "W2 (3, 2)", "b2 (3,)",
                 "δ² = ∂C/∂z²", "‖∇W²‖"):
        assert text in box.group(1), text


def test_highlight_marks_the_path_from_a_parameter_to_the_cost() -> None:
    net = net231()
    src = draw_network(net, X, Y, highlight="W2").source
    colour = viz.COLOURS["highlight"]
    marked = set(re.findall(rf'^\s*([to]\d+) \[[^\n]*color="{colour}"', src, re.M))
    labels = dict(re.findall(r"^\s*([to]\d+) \[label=<<b>([^<]*)</b>", src, re.M))
    names = {labels[n] for n in marked}
    # W2 → linear → z² → sigmoid → a² → linear → z³ → sigmoid → a³ → cost → C
    assert {"W2", "z²", "a²", "z³", "a³", "linear", "sigmoid", "quadratic_cost"} <= names
    assert not names & {"b2", "W3", "b3", "X = a¹", "Y"}
    assert len(marked) == 11
    hl_edges = [e for e in EDGE_RE.findall(src) if colour in e[2]]
    assert len(hl_edges) == 10
    assert "path from W2 to C" in src
    with pytest.raises(ConfigError, match=r"highlight='W9' names no tensor .* W2, W3, b2, b3"):
        draw_network(net, X, Y, highlight="W9")
    other = ng.Tensor([1.0], requires_grad=True, name="v")
    with pytest.raises(ConfigError, match="'v' is not in the drawn graph"):
        to_graphviz(net.cost(X, Y), highlight=other)


def test_options_direction_values_shapes() -> None:
    C = net231().cost(X, Y)
    assert "rankdir=LR" in to_dot(C, direction="LR")
    assert "rankdir=TB" in to_dot(C)
    assert "(4, 3) float64" in to_dot(C) and "float64" not in to_dot(C, show_shapes=False)
    with_values = to_dot(C, show_values=True)
    assert "mean " in with_values and "= [" in with_values  # (4, 3) summarised, (3,) listed
    assert "legend" not in to_dot(C, legend=False)
    assert "<b>my title</b>" in to_dot(C, title="my title")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"direction": "up"}, r"direction='up'; expected one of TB, LR, BT, RL"),
        ({"view": "backward"}, r"view='backward'; expected one of auto, forward, forward\+backward"),
        ({"collapse": "ops"}, r"collapse='ops'; expected None or 'layers'"),
        ({"max_nodes": 0}, r"max_nodes must be a positive integer or None, got 0"),
        ({"highlight": 3}, r"highlight must be a Tensor or a tensor name, got int"),
    ],
)
def test_bad_options_are_named(options: dict[str, object], message: str) -> None:
    C = net231().cost(X, Y)
    with pytest.raises(ConfigError, match=message):
        to_dot(C, **options)  # type: ignore[arg-type]


def test_not_a_tensor_and_not_a_network() -> None:
    with pytest.raises(TypeError, match=r"to_graphviz: expected a Tensor .*got list"):
        to_dot([1, 2])  # type: ignore[arg-type]
    seq = ng.nn.Sequential(ng.nn.Dense(2, 3, rng=0))
    with pytest.raises(ConfigError, match=r"expected a nablagraph.nn.Network .*got Sequential"):
        draw_network(seq, X, Y)


def test_constants_targets_and_op_parameters() -> None:
    x = ng.Tensor([[1.0, -2.0]], requires_grad=True, name="x")
    y = (x * 2.5).sum(axis=1) ** 2
    src = to_dot(y)
    assert "<b>2.5</b>" in src  # a constant shows its value
    assert "<b>out = 6.25</b>" in src  # a one-element root too
    assert "Hadamard product" in src and "** 2" in src and "axis=1" in src
    net = ng.nn.Network([2, 3, 2], cost="cross_entropy", seed=0)
    src = draw_network(net, X, np.array([0, 1, 1, 0])).source
    assert "cross_entropy_index" in src and "labels (4,)" in src
    assert "a³" not in src  # the cost reads z³ (softmax fused into the cost)
    assert "δ³ = ∂C/∂z³" in src


def test_leaf_root_and_non_cost_root() -> None:
    w = ng.Tensor([1.0, 2.0], requires_grad=True, name="w")
    assert len(dot_nodes(to_dot(w))) == 1
    out = (w * w).sum()
    out.backward(retain_graph=True)
    src = to_dot(out)
    assert "‖∂out/∂w‖ = " in src  # not called C: it is not a cost
    assert "∇" not in src.split("legend")[0]


# ------------------------------------------------------------- freed graphs
# Drawing after backward() (the skeleton it keeps) is tested in test_draw_after_backward.py.
@pytest.mark.skipif(not ng._tensor._TELLS_HELD, reason="this interpreter cannot tell a held tensor")
def test_a_graph_freed_by_a_temporary_is_an_error_that_says_what_to_do() -> None:
    net = net231()
    a = net(X)
    ng.quadratic_cost(a, Y).backward()  # nothing holds the cost: no shape is kept
    assert a.is_freed and getattr(a, "_inputs", None) is None
    msg = (
        r"^viz: cannot draw the graph: this tensor \(op 'sigmoid', shape \(4, 1\)\) was "
        r"freed by an earlier backward\(\) on a tensor nothing held, .*hold the tensor you call "
        r"backward\(\) on \(C = \.\.\.; C\.backward\(\)\).*backward\(retain_graph=True\)"
        r".*draw before backward\(\).*draw_network"
    )
    with pytest.raises(GraphError, match=msg):
        to_dot(a)
    with pytest.raises(GraphError, match=msg):
        render(a, "unused.dot")
    assert list(a._repr_mimebundle_()) == ["text/plain"]  # Jupyter: text, no error
    b = ng.sigmoid(a)  # a graph built on it names the freed tensor it depends on
    with pytest.raises(GraphError, match=r"the output of 'sigmoid' it depends on .* was freed"):
        to_dot(b)


def test_retained_graph_draws_after_backward() -> None:
    C = net231().cost(X, Y)
    C.backward(retain_graph=True)
    assert len(dot_nodes(to_dot(C))) == 16


# ---------------------------------------------------------------- big graphs
def _chain(n: int) -> ng.Tensor:
    y = ng.Tensor(0.5, requires_grad=True, name="x")
    for _ in range(n):
        y = -y
    return y


def test_a_100000_op_chain_draws_without_recursion(capsys: pytest.CaptureFixture[str]) -> None:
    y = _chain(100_000)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # anything recursive would fail at depth 200
    try:
        t0 = time.perf_counter()
        src = to_dot(y, max_nodes=None)
        t1 = time.perf_counter()
        small = to_graphviz(y, max_nodes=200)
    finally:
        sys.setrecursionlimit(limit)
    nodes = dot_nodes(src)
    fwd, bwd = dot_edges(src)
    assert len(nodes) == 200_001 and len(fwd) == 200_000 and bwd == []
    assert len(dot_nodes(small.source)) == 200 + 1  # 200 kept + the summary node
    assert "… 199,801 more nodes" in small.source
    # The kept ones are those nearest the root; the summary feeds the deepest kept op.
    assert ("more", "o99") in dot_edges(small.source)[0]
    require_renderer()
    t2 = time.perf_counter()
    svg = small.svg()
    t3 = time.perf_counter()
    assert "199,801 more nodes" in svg
    ET.fromstring(svg.encode())
    with capsys.disabled():
        print(f"\n100,000-op chain: DOT of 200,001 nodes in {t1 - t0:.2f} s; "
              f"SVG with max_nodes=200 in {t3 - t2:.2f} s")


# ---------------------------------------------------------------- rendering
def test_svg_is_well_formed_and_names_every_parameter(tmp_path: Path) -> None:
    require_renderer()
    net = net231()
    path = render(draw_network(net, X, Y), tmp_path / "net.svg")
    tree = ET.parse(path)
    assert tree.getroot().tag == f"{SVG_NS}svg"
    texts = " ".join(t.text or "" for t in tree.iter(f"{SVG_NS}text"))
    for name, _ in net.named_parameters():
        assert re.search(rf"\b{name}\b", texts), name
    assert "δ² = ∂C/∂z²" in texts and "legend" in texts
    assert len(list(tree.iter(f"{SVG_NS}g"))) > 20


def test_png_and_dot_files_by_extension(tmp_path: Path) -> None:
    require_renderer()
    C = net231().cost(X, Y)
    png = render(C, tmp_path / "c.png")
    data = png.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    assert render(C, tmp_path / "c.png", dpi=150).read_bytes()[:8] == PNG_SIGNATURE
    dot = render(C, tmp_path / "c.gv")
    assert dot.read_text(encoding="utf-8") == to_dot(C)
    forced = render(C, tmp_path / "c.txt", format="svg")
    assert forced.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    with pytest.raises(ConfigError, match=r"cannot tell the format of .*'\.bmp'.*\.dot, \.gv, \.svg, \.png or \.pdf"):
        render(C, tmp_path / "c.bmp")
    with pytest.raises(ConfigError, match=r"options collapse apply when drawing a Tensor"):
        render(to_graphviz(C), tmp_path / "c.svg", collapse="layers")


def test_pdf_needs_the_system_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = require_renderer()
    C = net231().cost(X, Y)
    if r.kind == "dot":
        assert render(C, tmp_path / "c.pdf").read_bytes().startswith(b"%PDF")
    else:
        with pytest.raises(RendererError, match=r"graphviz-pure .* cannot write PDF.*apt-get install graphviz"):
            render(C, tmp_path / "c.pdf")


def test_without_a_renderer_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viz.renderer, "find_renderer", lambda: None)
    C = net231().cost(X, Y)
    with pytest.raises(RendererError, match=r"no Graphviz program found to write SVG: install .*pip install graphviz-pure.*apt-get install graphviz.*to_dot\(C\)"):
        render(C, tmp_path / "c.svg")
    assert not (tmp_path / "c.svg").exists()
    assert render(C, tmp_path / "c.dot").read_text(encoding="utf-8").startswith("digraph")
    bundle = to_graphviz(C)._repr_mimebundle_()
    assert list(bundle) == ["text/plain"] and "pip install graphviz-pure" in bundle["text/plain"]
    assert list(C._repr_mimebundle_()) == ["text/plain"]


def test_renderer_override_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NABLAGRAPH_DOT", "no-such-graphviz-program")
    with pytest.raises(RendererError, match="NABLAGRAPH_DOT is set to 'no-such-graphviz-program'"):
        viz.find_renderer()


def test_a_failing_renderer_reports_its_message() -> None:
    require_renderer()
    with pytest.raises(RendererError, match=r"failed to write SVG \(exit code \d+\)"):
        viz.pipe("digraph { a -> }", "svg")


# ------------------------------------------------------------------ Jupyter
def test_jupyter_display_of_diagrams_and_tensors() -> None:
    require_renderer()
    net = net231()
    d = draw_network(net, X, Y)
    bundle = d._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    ET.fromstring(bundle["image/svg+xml"].encode())
    assert d._repr_mimebundle_(include=["image/png"])["image/png"].startswith(PNG_SIGNATURE)
    assert d._repr_svg_().lstrip().startswith("<?xml")
    C = net.cost(X, Y)
    b = C._repr_mimebundle_()
    assert set(b) == {"text/plain", "text/html"} and "quadratic_cost" in b["text/html"]  # values + graph
    assert C._repr_mimebundle_(exclude=["image/svg+xml"]) == {"text/plain": repr(C)}
    W = net.layers[0].W
    assert W._repr_mimebundle_() == {"text/plain": repr(W)}  # a leaf: text
    C.backward()
    assert "∇W²" in C._repr_mimebundle_()["text/html"]  # freed: drawn with its gradients
    big = _chain(1000)
    assert "more nodes" in big._repr_mimebundle_()["text/html"]  # summarised


# ------------------------------------------------------------------ example
def test_example_writes_the_diagrams(tmp_path: Path) -> None:
    require_renderer()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "render_graph.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stem in ("network_2_3_1", "network_2_3_1_layers", "network_2_3_1_path_W2"):
        assert (tmp_path / f"{stem}.png").read_bytes().startswith(PNG_SIGNATURE)
        ET.parse(tmp_path / f"{stem}.svg")
        assert "digraph" in (tmp_path / f"{stem}.dot").read_text(encoding="utf-8")
    assert "δ² = ∂C/∂z²" in (tmp_path / "network_2_3_1.dot").read_text(encoding="utf-8")


def test_viz_does_not_import_nn() -> None:
    for path in (ROOT / "src" / "nablagraph" / "viz").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(from nablagraph(\.nn| import nn)|import nablagraph\.nn)", text, re.M), path


def test_the_names_viz_dot_exported_still_import_from_it_and_no_viz_module_is_long() -> None:
    # to_graphviz's steps live in viz.nodes, viz.edges, viz.legend, viz.highlight and
    # viz.style; viz.dot still exports what it always did.
    assert set(viz_dot.__all__) == {"COLOURS", "DIRECTIONS", "VIEWS", "Diagram", "to_dot", "to_graphviz"}
    for name in viz_dot.__all__:
        assert getattr(viz_dot, name) is getattr(viz, name), name
    for path in (ROOT / "src" / "nablagraph" / "viz").glob("*.py"):
        n = len(path.read_text(encoding="utf-8").splitlines())
        assert n <= 500, f"{path.name} has {n} lines"
