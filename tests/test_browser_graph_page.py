"""The interactive graph page in a real headless Chromium, opened from ``file://``.

On the XOR network, the digits network ``[64, 30, 10]`` and a user's module (Dense
layers and custom ops): click a node and read the panel, step the backward pass
(buttons and arrow keys) and check the highlighted node is the engine's and the
gradient shown is the engine's, search, collapse a layer, pan and zoom; no console
error and no network request.  Skips when no Chromium is installed (``tests/browser.py``).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import nablagraph as ng
from nablagraph import engine
from nablagraph.ops import OPS
from nablagraph.viz import page
from nablagraph.viz.graph import collect
from test_graph_page import XOR_X, XOR_Y, custom_cost, digits_cost, xor_cost


def fmt(v: float) -> str:
    """A number as the page writes it (5 significant digits, as JavaScript prints them)."""
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        mantissa, exp = f"{v:.3e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp):+d}"
    r = float(f"{v:.5g}")
    return str(int(r)) if r == int(r) else repr(r)


def engine_grads(C: ng.Tensor) -> dict[int, np.ndarray]:
    """``id(t) → ∂C/∂t`` from an ordinary ``backward()`` (intermediates kept with retain_grad)."""
    for n in collect(C).nodes:
        if n.tensor._op is not None and n.tensor is not C and n.tensor.requires_grad:
            n.tensor.retain_grad()
    C.backward(retain_graph=True)
    return {id(n.tensor): n.tensor.grad.data for n in collect(C).nodes if n.tensor.grad is not None}


def wait_until(pg: Any, expression: str, timeout: float = 20.0) -> None:
    """Poll ``expression`` in the page until it is true (the page's Content-Security-Policy
    forbids the eval that Playwright's ``wait_for_function`` uses)."""
    for _ in range(int(timeout / 0.05)):
        if pg.page.evaluate(expression):
            return
        pg.page.wait_for_timeout(50)
    raise AssertionError(f"still false after {timeout} s: {expression}")


@contextmanager
def opened(browser: Any, tmp_path: Path, C: ng.Tensor, name: str) -> Iterator[Any]:
    path = tmp_path / f"{name}.html"
    page(C).write(path)
    with browser.open(path) as pg:
        wait_until(pg, "window.nablagraph && window.nablagraph.timing.firstDraw !== null")
        yield pg
        assert pg.errors == []
        assert pg.external_requests() == []


def node_id(pg: Any, title: str) -> int:
    return pg.page.evaluate("t => window.nablagraph.data.nodes.find(n => n.title === t).id", title)


def click_node(pg: Any, title: str) -> None:
    at = pg.page.evaluate("i => window.nablagraph.screenOf(i)", node_id(pg, title))
    pg.page.mouse.click(at["x"], at["y"])


def field(pg: Any, name: str) -> str:
    return pg.page.text_content(f'#panel [data-field="{name}"] td') or ""


def step_state(pg: Any) -> tuple[int, int | None]:
    return pg.page.evaluate("[window.nablagraph.state.step, window.nablagraph.currentNode()]")


def test_xor_click_a_node_and_read_the_panel(browser: Any, tmp_path: Path) -> None:
    net, C = xor_cost()
    twin, C2 = xor_cost()  # the same network again, for an ordinary backward()
    C2.backward()
    W2 = next(p for p in net.parameters() if p.name == "W2")
    g = next(p for p in twin.parameters() if p.name == "W2").grad.data
    with opened(browser, tmp_path, C, "xor") as pg:
        at = pg.page.evaluate("i => window.nablagraph.screenOf(i)", node_id(pg, "b3"))
        pg.page.mouse.move(at["x"], at["y"])  # hovering previews the node in the panel
        assert pg.page.text_content("#panel-title") == "b3"
        pg.page.mouse.move(5, 300)
        assert pg.page.text_content("#panel-title") == pg.page.text_content("#page-title")
        click_node(pg, "W2")
        assert pg.page.text_content("#panel-title") == "W2"
        assert field(pg, "op") == "— (a leaf)"
        assert field(pg, "shape") == "(3, 2)" and field(pg, "dtype") == "float64"
        assert field(pg, "layer") == "layer 2 · 2 → 3 · sigmoid"
        first = ", ".join(fmt(v) for v in W2.data.reshape(-1))
        assert field(pg, "value-preview") == f"[{first}]"
        assert field(pg, "grad-symbol") == "∇W² = ∂C/∂W2"
        assert f"‖·‖ {fmt(float(np.linalg.norm(g)))}" in field(pg, "grad-summary")
        assert pg.page.text_content("#panel-equations").startswith("BP4: ∂C/∂w²ⱼₖ = a¹ₖ δ²ⱼ")

        click_node(pg, "z²")
        assert field(pg, "op").startswith("linear")
        assert field(pg, "rule") == OPS["linear"].rule
        eqs = pg.page.text_content("#panel-equations")
        assert "z² = w² a¹ + b²" in eqs and "BP2: δ² = ((w³)ᵀ δ³) ⊙ σ′(z²)" in eqs
        assert field(pg, "grad-symbol") == "δ² = ∂C/∂z²"

        click_node(pg, "a³")
        assert field(pg, "rule") == OPS["sigmoid"].rule == "g ⊙ σ(z)(1−σ(z))"


def test_xor_after_backward_shows_the_kept_gradients_and_freed_values(
    browser: Any, tmp_path: Path
) -> None:
    net, C = xor_cost()
    C.backward()  # held: drawn as backward left it
    g = next(p for p in net.parameters() if p.name == "W2").grad.data
    with opened(browser, tmp_path, C, "after") as pg:
        assert "Drawn after backward()" in (pg.page.text_content("#after-backward") or "")
        click_node(pg, "W2")
        assert f"‖·‖ {fmt(float(np.linalg.norm(g)))}" in field(pg, "grad-summary")
        click_node(pg, "z²")
        assert field(pg, "value-freed") == "freed by backward() (nothing else held the tensor)"
        assert field(pg, "grad-symbol").startswith("not kept by backward()")
        pg.page.keyboard.press("ArrowRight")
        assert step_state(pg)[1] == node_id(pg, "C")  # the stepper still walks the engine's order


def test_xor_stepper_follows_the_engine_and_shows_its_gradients(browser: Any, tmp_path: Path) -> None:
    _, C = xor_cost()
    nodes = collect(C).nodes
    order = engine.schedule([C])[0]
    _, C2 = xor_cost()
    grads = engine_grads(C2)
    twins = {id(a.tensor): b.tensor for a, b in zip(nodes, collect(C2).nodes)}
    with opened(browser, tmp_path, C, "xor-steps") as pg:
        assert pg.page.text_content("#step-status") == f"backward: {len(order)} steps, press next ▶"
        for k, t in enumerate(order):
            if k % 2:
                pg.page.click("#step-next")
            else:
                pg.page.keyboard.press("ArrowRight")
            step, current = step_state(pg)
            assert step == k and nodes[current].tensor is t
            status = pg.page.text_content("#step-status")
            assert status.startswith(f"step {k + 1} / {len(order)}: ")
            g = grads.get(id(twins[id(t)]), np.ones(()))  # the root's own gradient is the seed 1
            shown = f" = {fmt(float(g.reshape(()).item()))}" if g.size == 1 else f"‖·‖ = {fmt(float(np.linalg.norm(g)))}"
            assert status.endswith(shown), (status, shown)
            assert pg.page.text_content("#panel-title") == pg.page.evaluate(
                "i => window.nablagraph.data.nodes[i].title", current)
        pg.page.keyboard.press("ArrowRight")  # past the end: stays on the last step
        assert step_state(pg)[0] == len(order) - 1
        pg.page.keyboard.press("ArrowLeft")
        pg.page.click("#step-prev")
        assert step_state(pg)[0] == len(order) - 3
        pg.page.click("#step-reset")
        assert step_state(pg) == [-1, None]
        pg.page.click("#step-play")
        wait_until(pg, "window.nablagraph.state.step >= 1")
        pg.page.click("#step-play")
        assert pg.page.text_content("#step-play") == "play"


def test_xor_search_collapse_pan_and_zoom(browser: Any, tmp_path: Path) -> None:
    _, C = xor_cost()
    with opened(browser, tmp_path, C, "xor-search") as pg:
        pg.page.fill("#search", "W3")
        assert pg.page.text_content("#search-count") == "1 found"
        pg.page.press("#search", "Enter")
        assert pg.page.text_content("#panel-title") == "W3"
        pg.page.fill("#search", "sigmoid")
        assert pg.page.text_content("#search-count") == "2 found"
        second = pg.page.text_content("#search-results button >> nth=1")
        pg.page.click("#search-results button >> nth=1")
        assert second == f"{pg.page.text_content('#panel-title')} · sigmoid"
        pg.page.fill("#search", "")

        z2 = node_id(pg, "z²")
        before = pg.page.evaluate("i => window.nablagraph.screenOf(i)", z2)
        pg.page.check('#layer-list input[data-layer="0"]')
        assert pg.page.evaluate("Array.from(window.nablagraph.state.collapsed)") == [0]
        box = pg.page.evaluate("i => window.nablagraph.screenOf(i)", z2)
        assert box != before  # z² is now drawn as its layer's box
        pg.page.mouse.click(box["x"], box["y"])  # a click on the collapsed layer opens it
        assert pg.page.evaluate("Array.from(window.nablagraph.state.collapsed)") == []
        assert not pg.page.is_checked('#layer-list input[data-layer="0"]')

        pg.page.click("#fit")
        s0 = pg.page.evaluate("({...window.nablagraph.state})")
        pg.page.mouse.move(300, 400)
        pg.page.mouse.wheel(0, -300)
        wait_until(pg, f"window.nablagraph.state.scale > {s0['scale']}")
        pg.page.mouse.move(300, 400)
        pg.page.mouse.down()
        pg.page.mouse.move(360, 450, steps=5)
        pg.page.mouse.up()
        s1 = pg.page.evaluate("({...window.nablagraph.state})")
        assert s1["tx"] != s0["tx"] and s1["ty"] != s0["ty"]
        pg.page.click("#fit")
        s2 = pg.page.evaluate("({...window.nablagraph.state})")
        assert (s2["scale"], s2["tx"], s2["ty"]) == (s0["scale"], s0["tx"], s0["ty"])


def test_digits_network_steps_through_the_whole_backward_pass(browser: Any, tmp_path: Path) -> None:
    _, C = digits_cost()
    nodes = collect(C).nodes
    order = engine.schedule([C])[0]
    _, C2 = digits_cost()
    grads = engine_grads(C2)
    twins = {id(a.tensor): b.tensor for a, b in zip(nodes, collect(C2).nodes)}
    with opened(browser, tmp_path, C, "digits") as pg:
        assert pg.page.text_content("#page-title") == "graph of C"
        for k, t in enumerate(order):
            pg.page.keyboard.press("ArrowRight")
            _, current = step_state(pg)
            assert nodes[current].tensor is t
            if k == 0:
                continue
            g = grads[id(twins[id(t)])]
            assert f"‖·‖ = {fmt(float(np.linalg.norm(g)))}" in pg.page.text_content("#step-status")
            assert field(pg, "grad-preview").startswith("[" + fmt(float(g.reshape(-1)[0])))
        click_node(pg, "z³")
        assert "BP1: δ³ = ∇ₐC ⊙ σ′(z³), the cost taking z³ itself" in pg.page.text_content("#panel-equations")
        click_node(pg, "C")
        assert field(pg, "op").startswith("cross_entropy_index")
        assert field(pg, "rule") == OPS["cross_entropy_index"].rule
        pg.page.screenshot(path=str(tmp_path / "digits.png"))
        assert (tmp_path / "digits.png").stat().st_size > 10_000


def test_a_custom_module_with_custom_ops(browser: Any, tmp_path: Path) -> None:
    _, C = custom_cost()
    order = engine.schedule([C])[0]
    with opened(browser, tmp_path, C, "custom") as pg:
        click_node(pg, "cube")
        assert field(pg, "rule") == "g ⊙ 3x²"
        click_node(pg, "square")
        assert field(pg, "rule") == "(op 'square' gives no rule= in its defop)"
        assert pg.page.text_content("#layer-list") == (
            " collapse layer 2 · 3 → 4 · tanh collapse layer 3 · 4 → 2 · identity")
        pg.page.click("#collapse-all")
        assert pg.page.evaluate("Array.from(window.nablagraph.state.collapsed).sort()") == [0, 1]
        assert pg.page.is_checked('#layer-list input[data-layer="1"]')
        pg.page.click("#expand-all")
        assert pg.page.evaluate("window.nablagraph.state.collapsed.size") == 0
        pg.page.check('#layer-list input[data-layer="1"]')
        for _ in order:
            pg.page.keyboard.press("ArrowRight")
        assert step_state(pg)[0] == len(order) - 1
        click_node(pg, "x = a¹")
        assert field(pg, "grad-symbol") == "none: it does not require a gradient"


def test_the_network_page_of_the_xor_data(browser: Any, tmp_path: Path) -> None:
    net = ng.nn.Network([2, 3, 1], seed=0)
    path = ng.viz.network_page(net, XOR_X, XOR_Y).write(tmp_path / "net.html")
    with browser.open(path) as pg:
        wait_until(pg, "window.nablagraph && window.nablagraph.timing.firstDraw !== null")
        assert pg.page.text_content("#page-title") == "network [2, 3, 1] · quadratic cost · batch of M = 4"
        click_node(pg, "X = a¹")
        assert field(pg, "kind") == "input data"
        assert pg.errors == [] and pg.external_requests() == []


def wide_graph(chains: int, length: int) -> ng.Tensor:
    """``chains`` chains of ``length`` elementwise ops from one leaf, summed: a wide graph."""
    x = ng.Tensor(np.linspace(0.1, 1.0, 6), requires_grad=True, name="x")
    total = None
    for b in range(chains):
        h = x * float(b + 1)
        for j in range(length):
            h = ng.tanh(h) if j % 2 else h * 0.9
        total = h.sum() if total is None else total + h.sum()
    assert total is not None
    return total


def pixel(pg: Any, at: dict[str, float]) -> list[int]:
    """The canvas pixel (RGBA) under a point of the page."""
    return pg.page.evaluate("""p => { const c = document.getElementById('view'), r = c.getBoundingClientRect(),
        d = window.devicePixelRatio || 1;
        return Array.from(c.getContext('2d').getImageData(Math.round((p.x - r.left) * d),
                                                          Math.round((p.y - r.top) * d), 1, 1).data); }""", at)


def test_a_big_graph_zoomed_out_is_drawn_from_a_bitmap_and_still_answers_clicks(
    browser: Any, tmp_path: Path
) -> None:
    C = wide_graph(30, 40)  # 1,920 tensors (with the constants): fitted, far below the zoom of text
    with opened(browser, tmp_path, C, "wide") as pg:
        state = pg.page.evaluate("({...window.nablagraph.state})")
        assert state["scale"] < 0.45 and state["cached"] is True
        nodes = pg.page.evaluate("window.nablagraph.data.nodes.length")
        assert nodes == len(collect(C).nodes) == 1920
        last = pg.page.evaluate("window.nablagraph.data.order[1000]")
        at = pg.page.evaluate("i => window.nablagraph.screenOf(i)", last)
        assert pixel(pg, at)[:3] != [255, 255, 255]  # the node is drawn there
        pg.page.mouse.click(at["x"], at["y"])
        assert pg.page.evaluate("window.nablagraph.state.selected") == last
        pg.page.evaluate("window.nablagraph.goTo(1000)")  # (which may pan to show the node)
        at = pg.page.evaluate("i => window.nablagraph.screenOf(i)", last)
        pg.page.evaluate("window.nablagraph.draw()")  # now, not at the next animation frame
        assert pixel(pg, at)[:3] == [231, 41, 138]  # the stepper's ring (#e7298a) over the bitmap
        pg.page.mouse.move(at["x"], at["y"])
        pg.page.mouse.down()
        pg.page.mouse.move(at["x"] + 40, at["y"] + 25, steps=4)
        pg.page.mouse.up()
        moved = pg.page.evaluate("i => window.nablagraph.screenOf(i)", last)
        assert (round(moved["x"] - at["x"]), round(moved["y"] - at["y"])) == (40, 25)
        assert pg.page.evaluate("window.nablagraph.state.cached") is True


def test_the_jupyter_display_runs_the_page_in_its_iframe(browser: Any, tmp_path: Path) -> None:
    _, C = xor_cost()
    cell = tmp_path / "cell.html"  # what a notebook puts in its output cell
    cell.write_text(f"<!DOCTYPE html><html><body>{page(C)._repr_html_()}</body></html>", encoding="utf-8")
    with browser.open(cell) as pg:
        frame = None
        for _ in range(400):  # up to 20 s on a loaded machine
            frame = next((fr for fr in pg.page.frames if fr != pg.page.main_frame), None)
            if frame is not None and frame.evaluate("!!(window.nablagraph && window.nablagraph.timing.firstDraw)"):
                break
            pg.page.wait_for_timeout(50)
        assert frame is not None
        frame.click("#step-next")
        assert frame.evaluate("window.nablagraph.currentNode()") == 0
        assert frame.text_content("#panel-title") == "C"
        assert pg.errors == [] and pg.external_requests() == []


def _screenshots(out: Path) -> None:
    """The pictures in docs/rendering.md, taken from the page in the same headless Chromium."""
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM_ARGS, chromium_path

    shots = []
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        for name, (_, C), steps, pick, collapse in (
            ("graph_page_xor", xor_cost(), 7, None, None),
            ("graph_page_digits", digits_cost(), 0, "W3", [0]),
        ):
            path = out / f"{name}.html"
            page(C, title=name.replace("graph_page_", "") + ": " + page(C).data["title"]).write(path)
            pg = b.new_page(viewport={"width": 1180, "height": 720})
            pg.goto(path.resolve().as_uri())
            for _ in range(steps):
                pg.keyboard.press("ArrowRight")
            for key in collapse or ():
                pg.check(f'#layer-list input[data-layer="{key}"]')
            if pick:
                i = pg.evaluate("t => window.nablagraph.data.nodes.find(n => n.title === t).id", pick)
                at = pg.evaluate("i => window.nablagraph.screenOf(i)", i)
                pg.mouse.click(at["x"], at["y"])
            pg.wait_for_timeout(100)
            pg.screenshot(path=str(out / f"{name}.png"))
            path.unlink()
            shots.append(out / f"{name}.png")
        b.close()
    print("wrote", ", ".join(str(s) for s in shots))


# The scripted pan of the measurements: 50 redraws around a circle of 150 px, timed.
PAN = """async () => {
  const g = window.nablagraph, times = [], frames = [], tx0 = g.state.tx, ty0 = g.state.ty;
  let last = performance.now();
  for (let i = 0; i < 50; i++) {
    const a = performance.now(), t = 2 * Math.PI * i / 50;
    g.state.tx = tx0 + 150 * Math.sin(t); g.state.ty = ty0 + 150 * (1 - Math.cos(t)); g.draw();
    times.push(performance.now() - a);
    await new Promise(r => requestAnimationFrame(r));
    const now = performance.now(); frames.push(now - last); last = now;
  }
  times.sort((a, b) => a - b); frames.sort((a, b) => a - b);
  return [times[25], frames[25]];
}"""
ZOOM_1 = """() => { const g = window.nablagraph, n = g.data.nodes[g.data.order[g.data.order.length >> 1]],
  r = document.getElementById('view').getBoundingClientRect();
  g.state.scale = 1; g.state.tx = r.width / 2 - n.x; g.state.ty = r.height / 2 - n.y; g.draw(); }"""


def deep_network(tensors: int) -> ng.Tensor:
    layers = max(1, (tensors - 3) // 4)
    net = ng.nn.Network([4] + [4] * (layers - 1) + [1], seed=0)
    return net.cost(np.random.default_rng(0).normal(size=(8, 4)), np.zeros((8, 1)))


def _measure(out: Path) -> None:
    """The table of docs/rendering.md: build, write, open and pan pages of 100 to 15,000 tensors."""
    import time

    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM_ARGS, chromium_path

    graphs = [(f"deep network of about {n} tensors", lambda n=n: deep_network(n))
              for n in (100, 1000, 10000)]
    graphs += [(f"wide graph, {c} chains of {k + 1} ops", lambda c=c, k=k: wide_graph(c, k))
               for c, k in ((7, 11), (22, 42), (70, 139))]
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
        for name, make in graphs:
            C = make()
            t0 = time.perf_counter()
            p = page(C)
            p.write(out / "measured.html")
            built = time.perf_counter() - t0
            pg = b.new_page(viewport={"width": 1280, "height": 800})
            pg.goto((out / "measured.html").resolve().as_uri())
            while not pg.evaluate("!!(window.nablagraph && window.nablagraph.timing.firstDraw)"):
                pg.wait_for_timeout(20)
            first = pg.evaluate("window.nablagraph.timing.firstDraw")
            fitted = pg.evaluate(PAN)
            pg.evaluate(ZOOM_1)
            zoomed = pg.evaluate(PAN)
            print(f"{name}: {len(p.data['nodes']):,} tensors, {len(p.html.encode()) / 1e6:.2f} MB, "
                  f"page + write {built:.2f} s, first draw {first / 1000:.2f} s, fitted: redraw "
                  f"{fitted[0]:.1f} ms, frame {fitted[1]:.1f} ms; zoom 1: redraw {zoomed[0]:.1f} ms, "
                  f"frame {zoomed[1]:.1f} ms")
            pg.close()
        b.close()
    (out / "measured.html").unlink()


if __name__ == "__main__":
    if "--measure" in sys.argv:
        _measure(Path(tempfile.mkdtemp()))
    else:
        _screenshots(Path(__file__).resolve().parents[1] / "docs" / "images")
