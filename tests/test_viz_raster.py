"""Raster output (PNG, JPEG) keeps to a pixel budget: a picture never takes the machine.

The size of the picture is known before any pixel is drawn (the diagram is laid out as
SVG first); past ``MAX_PIXELS`` or ``MAX_SIDE`` the resolution is lowered down to
``MIN_DPI``, and past that the picture is refused with ``RasterTooLargeError`` (or,
for ``render(tensor, "x.png")`` without ``max_nodes``, drawn with the nodes nearest the
root).  Both Graphviz programs are covered: ``graphviz-pure`` (a runtime dependency,
always there) and the system ``dot`` when it is on ``PATH`` (CI has none, so those
cases are skipped there; locally, put ``dot`` on ``PATH`` to run them).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nablagraph as ng
from nablagraph import viz
from nablagraph.errors import ConfigError, RendererError
from nablagraph.viz import RasterTooLargeError, render, to_graphviz
from nablagraph.viz.renderer import (
    DEFAULT_DPI,
    MAX_PIXELS,
    MAX_SIDE,
    MIN_DPI,
    fit_dpi,
    layout_size,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def png_size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a PNG's IHDR chunk."""
    assert data[:8] == PNG_SIGNATURE
    w, h = struct.unpack(">II", data[16:24])
    return int(w), int(h)


def chain(n: int) -> ng.Tensor:
    x = ng.Tensor(np.array([1.0]), requires_grad=True, name="x")
    t = x
    for _ in range(n):
        t = t * 1.0000001
    return t.sum()


def net_cost() -> ng.Tensor:
    net = ng.nn.Network([2, 3, 1], activation="sigmoid", cost="quadratic", seed=0)
    return net.cost(X, Y)


def _programs() -> list[pytest.param]:
    pure = shutil.which("graphviz-pure") or viz.renderer._beside_python("graphviz-pure")
    system = shutil.which("dot")
    return [
        pytest.param(pure, id="graphviz-pure",
                     marks=pytest.mark.skipif(pure is None, reason="graphviz-pure not installed")),
        pytest.param(system, id="system-dot",
                     marks=pytest.mark.skipif(system is None, reason="the system dot is not on PATH")),
    ]


@pytest.fixture(params=_programs())
def program(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each Graphviz program installed, chosen through ``NABLAGRAPH_DOT``."""
    path: str = request.param
    monkeypatch.setenv("NABLAGRAPH_DOT", path)
    return path


# ------------------------------------------------------------ fit_dpi (no program)
def test_a_picture_within_the_budget_keeps_its_dpi() -> None:
    assert fit_dpi(500.0, 800.0) == DEFAULT_DPI == 96.0
    assert fit_dpi(500.0, 800.0, dpi=150) == 150.0
    assert fit_dpi(500.0, 800.0, dpi=30) == 30.0  # small on purpose: allowed


def test_a_picture_over_the_budget_is_scaled_down_to_fit() -> None:
    # 4,538 × 12,598 pt (a 100-op chain) is 6,051 × 16,798 px = 101.6 Mpx at 96 dpi.
    d = fit_dpi(4538.0, 12598.0, dpi=None, max_pixels=80_000_000)
    w, h = math.ceil(4538 * d / 72), math.ceil(12598 * d / 72)
    assert MIN_DPI <= d < 96 and w * h <= 80_000_000
    assert w * h > 0.97 * 80_000_000  # not scaled down more than needed
    # A dpi=1000 request is lowered too.
    d = fit_dpi(500.0, 800.0, dpi=1000)
    assert d < 1000 and math.ceil(500 * d / 72) * math.ceil(800 * d / 72) <= MAX_PIXELS


def test_a_long_side_is_kept_under_max_side() -> None:
    d = fit_dpi(300.0, 30_000.0)  # 400 × 40,000 px at 96 dpi: 16 Mpx but too tall
    assert math.ceil(30_000 * d / 72) <= MAX_SIDE and d >= MIN_DPI


def test_a_picture_too_big_even_at_min_dpi_is_refused_with_the_sizes() -> None:
    with pytest.raises(RasterTooLargeError) as info:
        fit_dpi(29637.0, 82246.0, who="render")  # a 1,000-op chain
    msg = str(info.value)
    assert re.search(
        r"^render: a PNG of this diagram would be 39,516 × 109,662 px \(4,333\.4 Mpx\) at 96 dpi, "
        r"and 24,698 × 68,539 px \(1,692\.8 Mpx\) even at 60 dpi, the smallest readable scale; "
        r"the budget is max_pixels=32,000,000 and 32,767 px a side\. Write SVG instead .*"
        r"collapse='layers'.*max_nodes=200.*raise max_pixels", msg), msg
    assert isinstance(info.value, RendererError) and isinstance(info.value, RuntimeError)
    assert (info.value.width_pt, info.value.height_pt, info.value.max_pixels) == (29637.0, 82246.0, MAX_PIXELS)
    # A small budget refuses a small picture; a small dpi asked for lowers the floor.
    with pytest.raises(RasterTooLargeError, match=r"max_pixels=1,000 "):
        fit_dpi(100.0, 100.0, max_pixels=1000)
    assert fit_dpi(100.0, 100.0, dpi=20, max_pixels=1000) <= 20
    with pytest.raises(RasterTooLargeError, match=r"JPEG .* even at 10 dpi"):
        fit_dpi(1000.0, 1000.0, dpi=10, max_pixels=1000, fmt="jpeg")


@given(
    w=st.floats(1.0, 200_000.0), h=st.floats(1.0, 200_000.0),
    dpi=st.one_of(st.none(), st.floats(1.0, 2400.0)),
    budget=st.integers(10_000, 100_000_000),
)
def test_fit_dpi_either_fits_or_refuses(w: float, h: float, dpi: float | None, budget: int) -> None:
    asked = DEFAULT_DPI if dpi is None else dpi
    floor = min(MIN_DPI, asked)
    try:
        d = fit_dpi(w, h, dpi, budget)
    except RasterTooLargeError:
        pw, ph = math.ceil(w * floor / 72 - 1e-6), math.ceil(h * floor / 72 - 1e-6)
        assert pw * ph > budget or max(pw, ph) > MAX_SIDE
        return
    pw, ph = math.ceil(w * d / 72 - 1e-6), math.ceil(h * d / 72 - 1e-6)
    assert floor <= d <= asked
    assert pw * ph <= budget and max(pw, ph) <= MAX_SIDE


@pytest.mark.parametrize("bad", [0, -96, float("nan"), float("inf"), "96", True])
def test_bad_dpi_is_a_config_error(bad: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"render: dpi must be a positive number \(96 is the default\), got "):
        render(chain(2), tmp_path / "c.png", dpi=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "big", False])
def test_bad_max_pixels_is_a_config_error(bad: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"render: max_pixels must be a positive integer \(width × height; the default is 32,000,000\), got "):
        render(chain(2), tmp_path / "c.png", max_pixels=bad)  # type: ignore[arg-type]


# ------------------------------------------------------------ with each program
def test_the_layout_size_is_the_png_size(program: str) -> None:
    d = to_graphviz(net_cost())
    w_pt, h_pt = layout_size(d.source)
    for dpi in (96, 150, 60):
        w, h = png_size(d.png(dpi=dpi))
        assert abs(w - w_pt * dpi / 72) <= 1 and abs(h - h_pt * dpi / 72) <= 1, (program, dpi)


def test_small_pictures_are_unchanged(program: str, tmp_path: Path) -> None:
    C = net_cost()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = render(C, tmp_path / "c.png").read_bytes()
    w_pt, h_pt = layout_size(to_graphviz(C).source)
    assert png_size(data) == pytest.approx((w_pt * 96 / 72, h_pt * 96 / 72), abs=1)


def test_a_dpi_in_the_dot_text_does_not_bypass_the_budget(program: str) -> None:
    plain = to_graphviz(net_cost())
    sneaky = to_graphviz(net_cost())
    sneaky.graph_attr.update(dpi="3000", resolution="3000")
    assert png_size(sneaky.png()) == png_size(plain.png())


def test_a_big_dpi_asked_for_is_lowered_with_a_warning(program: str, tmp_path: Path) -> None:
    C = net_cost()
    with pytest.warns(UserWarning, match=r"render: a PNG at 1000 dpi would be [\d,]+ × [\d,]+ px .* over the budget of max_pixels=2,000,000 .*; drawn at [\d.]+ dpi instead"):
        path = render(C, tmp_path / "c.png", dpi=1000, max_pixels=2_000_000)
    w, h = png_size(path.read_bytes())
    assert w * h <= 2_000_000 and w * h > 1_500_000


def test_a_diagram_too_big_is_refused_before_drawing(program: str, tmp_path: Path) -> None:
    d = to_graphviz(chain(40))
    with pytest.raises(RasterTooLargeError, match=r"Diagram.write: a PNG of this diagram would be .* even at 60 dpi.*max_pixels=100,000 "):
        d.write(tmp_path / "c.png", max_pixels=100_000)
    assert not (tmp_path / "c.png").exists()
    with pytest.raises(RasterTooLargeError, match=r"^render: .*max_pixels=100,000 "):
        render(d, tmp_path / "c.png", max_pixels=100_000)
    with pytest.raises(RasterTooLargeError, match=r"^Diagram.png: "):
        d.png(max_pixels=100_000)
    # With max_nodes given, render(tensor) refuses too rather than drop nodes.
    with pytest.raises(RasterTooLargeError, match=r"^render: "):
        render(chain(40), tmp_path / "c.png", max_nodes=500, max_pixels=100_000)
    # Vector output has no budget.
    assert render(d, tmp_path / "c.svg", max_pixels=100_000).stat().st_size > 1000


def test_graphviz_own_pipe_and_render_keep_to_the_budget(program: str, tmp_path: Path) -> None:
    # Diagram is a graphviz.Digraph: its inherited pipe()/render()/view() call dot directly
    # at the dpi asked, so a raster format there is refused before a pixel is drawn.
    d = to_graphviz(net_cost())
    d.node("huge", width="400", height="400", fixedsize="true")  # 400 in: 38,400 px a side at 96 dpi
    with pytest.raises(RasterTooLargeError, match=r"^Diagram.pipe: a PNG of this diagram would be 3[\d,]+ × 3[\d,]+ px "
                       r"\([\d,.]+ Mpx\) at 96 dpi, over the budget of max_pixels=32,000,000 \(32,767 px a side\)"):
        d.pipe(format="png")
    for fmt in ("png", "jpg", "gif"):
        with pytest.raises(RasterTooLargeError, match=rf"^Diagram.render: a {fmt.upper()} of this diagram"):
            d.render(tmp_path / "big", format=fmt)
    d.format = "tiff"
    with pytest.raises(RasterTooLargeError, match=r"^Diagram.render: a TIFF "):
        d.view(tmp_path / "big")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # refused before dot ran
    small = to_graphviz(net_cost())
    small.node("label", label="dpi=lots resolution=9e9")  # text in a label is not a setting
    small._check_raster("png", "Diagram.pipe")  # fits at 96 dpi: no error
    small.attr(dpi="5000")  # a dpi set on the graph counts: 3,000+ px an inch
    with pytest.raises(RasterTooLargeError, match=r"^Diagram.pipe: a PNG .* at 5000 dpi"):
        small.pipe(format="png")
    small.attr(dpi="lots")
    with pytest.raises(ConfigError, match=r"^Diagram.pipe: graph attribute dpi='lots' is not a number$"):
        small.pipe(format="png")


def test_render_of_a_tensor_draws_the_nodes_that_fit(program: str, tmp_path: Path) -> None:
    C = chain(60)  # 183 nodes: 3,704 × 10,235 px at 96 dpi
    with pytest.warns(UserWarning, match=r"render: 183 nodes of the graph's 183 laid out are [\d,]+ × [\d,]+ pt, too big for a PNG of max_pixels=1,000,000 even at 60 dpi; drew the (\d+) nodes nearest the root \(max_nodes=\d+\)"):
        path = render(C, tmp_path / "c.png", max_pixels=1_000_000)
    w, h = png_size(path.read_bytes())
    assert w * h <= 1_000_000 and w * h > 100_000


def test_jupyter_png_of_a_huge_diagram_is_text_not_pixels(program: str) -> None:
    d = to_graphviz(chain(600), max_nodes=None)  # 1,803 nodes, 61,770 px tall at 60 dpi
    bundle = d._repr_mimebundle_(include=["image/png"])
    assert list(bundle) == ["text/plain"]
    assert re.match(r"Diagram._repr_image_png: a PNG of this diagram would be .* px", bundle["text/plain"])
    with pytest.raises(RasterTooLargeError):
        d._repr_image_jpeg()
    # A tensor's own display is HTML with inline SVG (vector), summarised: no raster at all.
    assert set(chain(300)._repr_mimebundle_()) == {"text/plain", "text/html"}


# ------------------------------------------------------------ memory, in a child
_CHILD = r"""
import resource, sys, warnings
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))   # the renderer inherits it
import numpy as np
import nablagraph as ng
from nablagraph.viz import RasterTooLargeError, render
x = ng.Tensor(np.array([1.0]), requires_grad=True, name="x")
t = x
for _ in range(int(sys.argv[2])):
    t = t * 1.0000001
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        kw = {"max_nodes": int(sys.argv[4])} if len(sys.argv) > 4 else {}
        render(t.sum(), sys.argv[3], **kw)
    except RasterTooLargeError as exc:
        print("REFUSED", exc)
        sys.exit(3)
print("OK", len(caught), caught[0].message if caught else "")
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS is enforced on Linux only")
@pytest.mark.parametrize("extra", [[], ["3003"]], ids=["default", "max_nodes=all"])
def test_a_1000_op_chain_png_stays_within_memory(program: str, tmp_path: Path, extra: list[str]) -> None:
    """Before the budget this took 23.8 GB and was killed; now it fits in 1.5 GiB.

    The child's address space is capped (inherited by the Graphviz program): a renderer
    asking for a 4-gigapixel canvas would fail to allocate it (or, uncapped, be killed).
    The child must either succeed, within the budget, or refuse with the typed error.
    """
    out = tmp_path / "chain.png"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    limit = 3 * 2**29  # 1.5 GiB
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(limit), "1000", str(out), *extra],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {proc.stderr[-2000:]}"
    if extra:  # every node asked for: too big even at 60 dpi, so refused
        assert proc.returncode == 3, proc.stdout + proc.stderr[-2000:]
        assert re.search(r"REFUSED render: a PNG of this diagram would be [\d,]+ × [\d,]+ px .* even at 60 dpi", proc.stdout)
        assert not out.exists()
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "OK 1 render: 1,999 nodes of the graph's 3,003 laid out are" in proc.stdout
    w, h = png_size(out.read_bytes())
    assert w * h <= MAX_PIXELS and max(w, h) <= MAX_SIDE


def test_the_cli_draws_a_60_layer_png_one_box_per_layer_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nablagraph import cli

    sizes = "2," + ",".join(["3"] * 60) + ",1"
    code = cli.main(["graph", sizes, "--data", "xor", "-o", str(tmp_path / "g.png")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "the full graph is too large for a PNG; drawing one box per layer (--collapse layers" in out
    w, h = png_size((tmp_path / "g.png").read_bytes())
    assert w * h <= MAX_PIXELS and max(w, h) <= MAX_SIDE


def test_the_cli_refuses_a_png_too_large_even_per_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from nablagraph import cli
    from nablagraph.viz import renderer

    monkeypatch.setattr(renderer, "MAX_PIXELS", 10_000)  # the 2-3-1 diagram, one box a layer, is larger
    code = cli.main(["graph", "2,3,1", "--data", "xor", "--collapse", "layers", "-o", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "g.png").exists()
    assert re.search(r"^nablagraph graph: error: -o .*g.png: the diagram is too large for a PNG even "
                     r"with one box per layer; write .svg instead$", err.strip()), err

