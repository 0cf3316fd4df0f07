"""Jupyter: a tensor shows its values above its graph, tall graphs stay readable, and
``fit(verbose=True)`` shows a progress bar; ``examples/tour.ipynb`` runs in a real kernel.

* ``Tensor._repr_mimebundle_``: ``text/plain`` is the repr; ``text/html`` is a header,
  the values (checked against NumPy's own formatting of the data, cut when long) and
  the graph as inline SVG.  A 200-op chain, 8,595 px tall before, keeps to the height
  budget with the nodes nearest the output.
* The progress bar: in a Jupyter kernel (``ipykernel.zmqshell`` loaded) ``tqdm.auto``
  is used even though stdout is not a terminal; elsewhere only on a terminal.
* The executed notebook (nbclient, a kernel running this very interpreter, so the
  packages of this virtual environment): no cell fails, the tensor's output holds its
  values and an SVG, the tall chain is cut, and the fit cell shows a tqdm widget whose
  progress reached its end.
"""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng
from nablagraph.data import xor
from nablagraph.nn import train as train_mod
from nablagraph.viz import notebook as nbviz
from nablagraph.viz import renderer

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "examples" / "tour.ipynb"
SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


def _has_renderer() -> bool:
    return renderer.find_renderer() is not None


needs_renderer = pytest.mark.skipif(not _has_renderer(), reason="no Graphviz program (graphviz-pure)")


def _chain(n: int) -> ng.Tensor:
    t = ng.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    for _ in range(n):
        t = t * 1.0000001
    return t.sum()


def _previewed(html: str) -> np.ndarray:
    """The numbers of the values preview (the first ``<pre>``), in order."""
    pre = re.search(r"<pre[^>]*>(.*?)</pre>", html, re.S)
    assert pre is not None and html.index("<pre") < html.index("<svg")
    return np.array([float(x) for x in re.findall(r"-?\d+\.\d*(?:e[-+]\d+)?", pre.group(1))])


def _svg_size(html: str) -> tuple[float, float]:
    m = SVG_SIZE.search(html)
    assert m is not None, html[:500]
    return float(m.group(1)), float(m.group(2))


# ------------------------------------------------------------------ the display
@needs_renderer
def test_a_tensor_shows_its_values_above_its_graph() -> None:
    net = ng.nn.Network([2, 3, 2], seed=0)
    X = np.array([[0.0, 1.0], [1.0, 1.0]])
    a = net(X)
    bundle = a._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == repr(a)
    html = bundle["text/html"]
    assert "shape (2, 2) · float64 · op sigmoid" in html
    # The values, to NumPy's 4 digits, come before the graph.
    np.testing.assert_allclose(_previewed(html), a.data.ravel(), atol=5e-5)
    assert html.index("<svg") > html.index("min ")
    assert "<?xml" not in html and "</svg>" in html and "linear" in html
    assert a._repr_mimebundle_(include=["image/svg+xml"])["image/svg+xml"].startswith("<svg")


def test_the_values_preview_cuts_long_tensors_and_summarises() -> None:
    data = np.arange(1000.0).reshape(10, 100)
    data[0, 0] = np.nan
    html = nbviz.values_html(ng.Tensor(data))
    shown = re.search(r"<pre[^>]*>(.*?)</pre>", html, re.S).group(1)  # type: ignore[union-attr]
    assert shown.count("...") == 7 and len(shown.splitlines()) == 7  # 3 + 3 rows, 3 + 3 columns
    assert "999." in shown
    assert "nan" in shown and "500." not in shown
    assert "min 1 · mean 500 · max 999 · 1 non-finite" in html  # the finite entries 1..999
    small = nbviz.values_html(ng.Tensor(np.array([0.5, -2.25])))
    assert "[ 0.5 , -2.25]" in small and "min -2.25 · mean -0.875 · max 0.5" in small
    assert "min" not in nbviz.values_html(ng.Tensor(3.0))  # one entry: no summary
    named = nbviz.tensor_html(ng.Tensor([1.0], name="<w>"), None)
    assert "name &#x27;&lt;w&gt;&#x27;" in named and "<w>" not in named and "<svg" not in named


@needs_renderer
def test_a_tall_chain_keeps_to_the_height_budget() -> None:
    before = _chain(200)
    # What the display drew before: 150 nodes top to bottom (8,595 px at 96 dpi).
    old = renderer.pipe(ng.viz.to_graphviz(before, max_nodes=150).source, "svg").decode()
    assert _svg_size(old)[1] * 96 / 72 > 8000
    graph = nbviz.display_svg(before)
    assert graph.height <= nbviz.DISPLAY_MAX_HEIGHT and graph.direction == "TB"
    assert 3 <= graph.drawn < 40 and graph.total == 603
    html = before._repr_mimebundle_()["text/html"]
    assert _svg_size(html) == (graph.width, graph.height)
    assert f"the {graph.drawn} nodes nearest the output of 603" in html and "more nodes" in html
    # A small graph is drawn whole, top to bottom.
    small = nbviz.display_svg(_chain(2))
    assert small.drawn == small.total and small.direction == "TB"


@needs_renderer
def test_a_deep_network_is_drawn_one_box_per_layer() -> None:
    net = ng.nn.Network([4] * 8, seed=0)  # 7 layers: every op drawn is 2,670 px tall
    out = net(np.ones((5, 4)))
    full = renderer.pipe(ng.viz.to_graphviz(out, max_nodes=150).source, "svg").decode()
    assert _svg_size(full)[1] > nbviz.DISPLAY_MAX_HEIGHT
    graph = nbviz.display_svg(out)
    assert graph.collapsed and graph.drawn == graph.total and graph.height <= nbviz.DISPLAY_MAX_HEIGHT
    html = out._repr_mimebundle_()["text/html"]
    assert "one box per layer" in html and "layer 8 · 4 → 4 · sigmoid" in html
    assert "nearest the output" not in html


@needs_renderer
def test_leaves_graphs_freed_by_a_temporary_and_excluded_svg_are_text() -> None:
    w = ng.Tensor([1.0, 2.0], requires_grad=True, name="w")
    assert w._repr_mimebundle_() == {"text/plain": repr(w)}
    C = (w * w).sum()
    assert C._repr_mimebundle_(exclude=["image/svg+xml"]) == {"text/plain": repr(C)}
    C.backward()  # held: the graph still displays, with the gradient (∂C/∂w = 2w)
    assert "‖∂out/∂w‖ = 4.472" in C._repr_mimebundle_()["text/html"]  # ‖(2, 4)‖
    a = w * w
    a.sum().backward()  # the backward of a temporary keeps no shape: text only
    assert a._repr_mimebundle_() == {"text/plain": repr(a)}


# ------------------------------------------------------------------ the progress bar
def test_jupyter_gets_a_bar_even_though_stdout_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("tqdm")
    monkeypatch.setattr(train_mod, "_stdout_is_tty", lambda: False)
    assert train_mod._progress_bar(10, True) is None  # a pipe or a file: no bar
    monkeypatch.setitem(sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell"))
    assert train_mod._in_jupyter()
    bar = train_mod._progress_bar(10, True)
    try:
        assert bar is not None and bar.total == 10
    finally:
        if bar is not None:
            bar.close()
    assert train_mod._progress_bar(10, False) is None
    for name in ("tqdm", "tqdm.auto"):  # tqdm not installed: no bar, no error
        monkeypatch.setitem(sys.modules, name, None)
    assert train_mod._progress_bar(10, True) is None


# ------------------------------------------------------------------ the notebook
def _kernel_dir(tmp: Path) -> str:
    """A kernel spec running this interpreter (the venv's packages, nablagraph included)."""
    spec = tmp / "kernels" / "nablagraph-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "nablagraph tests", "language": "python"}
    ), encoding="utf-8")
    return "nablagraph-test"


def _outputs(cell: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for out in cell.get("outputs", []):
        merged.update(out.get("data", {}))
        if out.get("output_type") == "stream":
            merged.setdefault("stream", "")
            merged["stream"] += out.get("text", "")
    return merged


@needs_renderer
def test_the_tour_notebook_runs_and_shows_values_graphs_and_a_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("ipywidgets")
    for var, sub in (("JUPYTER_PATH", ""), ("IPYTHONDIR", "ipython"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    kernel = _kernel_dir(tmp_path)
    nb = nbformat.read(TOUR, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # stored clean
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError if a cell fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    by_source = {c.source.splitlines()[0]: _outputs(c) for c in code}

    # The network's output: its values (as the same net computes them here), then the graph.
    X, Y = xor()
    values = ng.nn.Network([2, 3, 1], seed=0)(X).data
    shown = by_source["a = net(X)"]
    html = shown["text/html"]
    assert "shape (4, 1) · float64 · op sigmoid" in html
    np.testing.assert_allclose(_previewed(html), values.ravel(), atol=5e-5)
    assert "<svg" in html and "layer 2" in html and shown["text/plain"].startswith("Tensor(")

    # The tall chain: cut to the height budget.
    chain = by_source['t = ng.Tensor(np.linspace(-1.0, 1.0, 200), requires_grad=True, name="x")']
    assert "more nodes" in chain["text/html"]
    assert _svg_size(chain["text/html"])[1] <= nbviz.DISPLAY_MAX_HEIGHT

    # fit: a tqdm widget whose bar reached 1000 of 1000 batches, and XOR learnt.
    fitted = next(c for c in code if "ng.fit(" in c.source)
    views = [o["data"] for o in fitted.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, fitted.outputs
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    bars = [m["state"] for m in state.values() if m["model_name"] in ("FloatProgressModel", "IntProgressModel")]
    assert bars and bars[-1]["max"] == 1000 and bars[-1]["value"] == 1000, bars
    assert "1000/1000" in json.dumps(state)
    cost = re.search(r"cost (\S+) -> (\S+)", _outputs(fitted)["stream"])
    assert cost is not None and float(cost.group(2)) < float(cost.group(1))
    learnt = [float(v) for v in re.findall(r"\d\.\d+", _outputs(fitted)["text/plain"])]
    np.testing.assert_allclose(learnt, Y.ravel(), atol=0.1)

    # The graph after backward, drawn by draw_network.
    assert "<svg" in by_source["draw_network(net, X, Y)"]["image/svg+xml"]
    # The interactive page, inline: a sandboxed iframe holding the whole page.
    page = by_source["C = net.cost(X, Y)"]["text/html"]
    assert page.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in page
    assert "quadratic_cost" in page and "http://" not in page and "https://" not in page
