"""Write diagrams to files (:func:`render`) and show tensors in Jupyter.

Imports: ``tensor``, ``skeleton``, ``errors`` and the other ``viz`` modules
(``viz.notebook`` for the Jupyter display).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from nablagraph._tensor import Tensor
from nablagraph.errors import ConfigError, DTypeError
from nablagraph.skeleton import inputs_of
from nablagraph.viz.diagram import FORMATS, _format_of, write_source
from nablagraph.viz.dot import to_graphviz
from nablagraph.viz.graph import collect
from nablagraph.viz.notebook import DISPLAY_MAX_NODES as DISPLAY_MAX_NODES  # the display's cap
from nablagraph.viz.notebook import display_svg, tensor_html
from nablagraph.viz.page import page
from nablagraph.viz.renderer import (
    MAX_SIDE,
    MIN_DPI,
    RASTER_FORMATS,
    RasterTooLargeError,
    RendererError,
    check_dpi,
    check_max_pixels,
    fit_dpi,
    layout_size,
)

__all__ = ["FORMATS", "render", "tensor_mimebundle", "write_source"]

#: The default ``max_nodes`` of :func:`~nablagraph.viz.to_graphviz`.
_DEFAULT_MAX_NODES = 2000


def _fitted_source(root: Tensor, fmt: str, dpi: float | None, max_pixels: int | None,
                   options: dict[str, Any]) -> str:
    """The DOT text of ``root`` with as many nodes as fit the pixel budget at ``MIN_DPI``.

    Only used when the caller left ``max_nodes`` at its default: the nodes nearest the
    root are kept, and the ``… N more nodes`` note says how many were left out.
    """
    info = collect(root, _DEFAULT_MAX_NODES)
    drawn = first = info.total_nodes - info.hidden_nodes
    source: str = to_graphviz(root, **options).source
    budget = check_max_pixels(max_pixels, "render")
    floor = min(MIN_DPI, dpi or MIN_DPI)
    full: RasterTooLargeError | None = None
    for _ in range(12):
        width_pt, height_pt = layout_size(source, fmt)
        try:
            fit_dpi(width_pt, height_pt, dpi, budget, fmt=fmt, who="render")
        except RasterTooLargeError as exc:
            full = full or exc
            if drawn <= 1:
                raise
            w, h = width_pt * floor / 72, height_pt * floor / 72
            shrink = min(math.sqrt(budget / (w * h)), MAX_SIDE / w, MAX_SIDE / h, 0.9)
            drawn = max(1, int(drawn * shrink * 0.95))
            source = to_graphviz(root, max_nodes=drawn, **options).source
            continue
        if full is not None:
            warnings.warn(
                f"render: {first:,} nodes of the graph's {info.total_nodes:,} laid out are "
                f"{full.width_pt:,.0f} × {full.height_pt:,.0f} pt, too big for a "
                f"{fmt.upper()} of max_pixels={budget:,} even at {floor:g} dpi; drew the "
                f"{drawn:,} nodes nearest the root (max_nodes={drawn}). Pass max_nodes to "
                "choose, collapse='layers', or write SVG to see them all",
                UserWarning,
                stacklevel=4,  # render's caller (through _source_of)
            )
        return source
    assert full is not None
    raise full


def _source_of(root: Any, fmt: str, dpi: float | None, max_pixels: int | None,
               options: dict[str, Any]) -> str:
    """What :func:`render` writes: ``root`` drawn with ``options`` (a PNG fitted to
    the pixel budget unless ``max_nodes`` is given), or a diagram's own DOT text."""
    if isinstance(root, Tensor):
        if fmt in RASTER_FORMATS and "max_nodes" not in options:
            return _fitted_source(root, fmt, dpi, max_pixels, options)
        drawn: str = to_graphviz(root, **options).source
        return drawn
    if isinstance(getattr(root, "source", None), str):
        if options:
            raise ConfigError(
                f"render: options {', '.join(sorted(options))} apply when drawing a Tensor; "
                "this diagram is already drawn (pass them to to_graphviz instead)"
            )
        source: str = root.source
        return source
    raise DTypeError(
        f"render: expected a Tensor or a diagram from to_graphviz, got {type(root).__name__}"
    )


def _write_page(root: Any, path: Path, dpi: float | None, max_pixels: int | None,
                options: dict[str, Any]) -> Path:
    """``render(C, "g.html")``: the interactive page of :func:`~nablagraph.viz.page`."""
    if not isinstance(root, Tensor):
        raise DTypeError(
            f"render: an .html page is made from a Tensor (it shows values and gradients), "
            f"got {type(root).__name__}; pass the tensor itself, e.g. render(C, 'graph.html')"
        )
    unused = sorted(set(options) - {"title"}) + [k for k, v in (("dpi", dpi), ("max_pixels", max_pixels))
                                                  if v is not None]
    if unused:
        raise ConfigError(
            f"render: options {', '.join(unused)} do not apply to an .html page (it collapses "
            "layers, searches and zooms by itself); only title= does"
        )
    return page(root, title=options.get("title")).write(path)


def render(
    root: Any,
    path: str | Path,
    format: str | None = None,
    *,
    dpi: float | None = None,
    max_pixels: int | None = None,
    **options: Any,
) -> Path:
    """Draw the graph below ``root`` into a file: ``.dot``/``.gv``, ``.svg``, ``.png``, ``.pdf``,
    or an interactive ``.html`` page.

    DOT needs no program.  SVG, PNG and PDF use the system Graphviz ``dot`` when it is
    on ``PATH``, otherwise ``graphviz-pure`` from PyPI (SVG and PNG only); see
    :mod:`nablagraph.viz.renderer`.  ``.html`` writes the page of
    :func:`~nablagraph.viz.page` (pan, zoom, inspect, step the backward pass), one
    self-contained file; it needs a Tensor and takes ``title=`` only.

    Parameters
    ----------
    root : Tensor or graphviz.Digraph
        The tensor to draw (with ``options`` passed to :func:`to_graphviz`), or a
        diagram already made (from :func:`to_graphviz` or :func:`draw_network`).
    path : str or Path
        The file to write; its extension picks the format unless ``format`` is given.
    format : {"dot", "svg", "png", "pdf", "html"}, optional
        Overrides the extension.
    dpi : float, optional
        Resolution of PNG output (default 96).  One that would make the image bigger
        than ``max_pixels`` is lowered, with a warning.
    max_pixels : int, optional
        The pixel budget of a PNG, width × height (default
        :data:`~nablagraph.viz.renderer.MAX_PIXELS`, 32 million).  The graph is laid out
        first to learn its size :math:`w \\times h` in points; at resolution :math:`d`
        the image is :math:`(w d / 72) \\times (h d / 72)` pixels.  Past the budget it is
        drawn at a lower resolution, down to 60 dpi; past that, when ``max_nodes`` was
        not given, with the nodes nearest the root only (a ``… N more nodes`` note and
        a warning say so), else it is refused.
    **options
        Options of :func:`to_graphviz` (``direction``, ``collapse``, ``highlight`` …).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RasterTooLargeError
        If a PNG would not fit ``max_pixels`` even at 60 dpi, when ``max_nodes`` is
        given or ``root`` is a diagram already drawn (a :class:`RendererError`).
    RendererError
        If no installed program can write the format; the message says what to install.
    ConfigError
        For an unknown extension or format, or a ``dpi`` or ``max_pixels`` that is not a
        positive number.
    GraphError
        If the graph was freed by ``backward()``.
    FileFormatError, IsADirectoryError, FileNotFoundError, OSError
        ``path`` is a FIFO, a device or a socket (refused at once, never blocking), a
        folder, in a folder that does not exist, or a link loop.  The file is written
        atomically (a temporary file renamed over it); a link is followed.
    """
    p = Path(path)
    fmt = _format_of(p, format)
    if fmt == "html":
        return _write_page(root, p, dpi, max_pixels, options)
    check_dpi(dpi, "render")
    check_max_pixels(max_pixels, "render")
    source = _source_of(root, fmt, dpi, max_pixels, options)
    return write_source(source, p, fmt, dpi, max_pixels, who="render")


def tensor_mimebundle(
    t: Tensor, include: Any = None, exclude: Any = None
) -> dict[str, Any]:
    """What Jupyter shows for a tensor: its values above its graph, and its repr.

    ``text/plain`` is ``repr(t)``.  A tensor computed by ops also gets ``text/html``:
    a header (name, shape, dtype, op), its values (cut when long, with a summary), and
    its graph as inline SVG laid out to a readable size (top to bottom, left to right,
    or only the nodes nearest ``t`` for a tall graph; see :mod:`nablagraph.viz.notebook`).
    ``image/svg+xml`` alone is given when a front end asks for it by ``include``.

    A leaf, a tensor with no recorded graph and one whose graph the backward of a
    temporary freed display as text; so does any tensor when no Graphviz program is
    installed, or when ``exclude`` names ``image/svg+xml``.  After the backward of a
    held tensor the graph displays with its gradients (values freed are marked).
    """
    wanted = set(include) if include is not None else {"text/html", "text/plain"}
    wanted -= set(exclude or ())
    bundle: dict[str, Any] = {}
    if "text/plain" in wanted:
        bundle["text/plain"] = repr(t)
    drawing = {"text/html", "image/svg+xml"} & wanted and "image/svg+xml" not in set(exclude or ())
    if drawing and t._op is not None and inputs_of(t) is not None:
        try:
            graph = display_svg(t)
        except RendererError:
            return bundle
        if "text/html" in wanted:
            bundle["text/html"] = tensor_html(t, graph)
        if "image/svg+xml" in wanted:
            bundle["image/svg+xml"] = graph.svg
    return bundle
