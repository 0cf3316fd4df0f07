"""``Diagram``: a ``graphviz.Digraph`` that renders without the system Graphviz.

Imports: the ``viz`` module ``renderer`` and the ``graphviz`` package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import graphviz  # type: ignore[import-untyped]

from nablagraph.errors import ConfigError
from nablagraph.files import _atomic_write
from nablagraph.viz.renderer import (
    DEFAULT_DPI,
    MAX_PIXELS,
    MAX_SIDE,
    RasterTooLargeError,
    RendererError,
    _fits,
    _pixels,
    _px,
    layout_size,
    pipe,
)

__all__ = ["Diagram"]


#: File formats by extension.
FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf",
           ".html": "html"}

#: Graphviz's raster (pixel) output formats: held to the pixel budget.
GRAPHVIZ_RASTER = frozenset({"bmp", "exr", "gd", "gd2", "gif", "ico", "jp2", "jpe", "jpeg", "jpg", "pct",
                             "pict", "png", "psd", "sgi", "tga", "tif", "tiff", "wbmp", "webp"})


# A dpi set on the graph: `graph [dpi=300 …]` (graph_attr, attr(dpi=…)) or a `dpi=300`
# statement of its own, never text inside a node's label.
_GRAPH_ATTRS = re.compile(r'^\s*(?:graph\s*\[([^\]]*)\]|((?:dpi|resolution)\s*=.*))$', re.MULTILINE)
_DPI_SET = re.compile(r'\b(dpi|resolution)\s*=\s*"?([^",;\]\s]*)')


def _format_of(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt == "gv":
            fmt = "dot"
        if fmt not in set(FORMATS.values()):
            raise ConfigError(
                f"render: unknown format {format!r}; expected one of dot, svg, png, pdf, html"
            )
        return fmt
    fmt_found = FORMATS.get(path.suffix.lower())
    if fmt_found is None:
        raise ConfigError(
            f"render: cannot tell the format of {str(path)!r} from its extension "
            f"{path.suffix or '(none)'!r}; use .dot, .gv, .svg, .png or .pdf, or .html for the interactive page, or pass format="
        )
    return fmt_found


def write_source(
    source: str,
    path: str | Path,
    format: str | None = None,
    dpi: float | None = None,
    max_pixels: int | None = None,
    *,
    who: str = "write_source",
) -> Path:
    """Write DOT ``source`` to ``path`` as DOT text or rendered (see :func:`render`).

    A PNG bigger than ``max_pixels`` is drawn at a lower resolution or refused with
    :class:`~nablagraph.viz.RasterTooLargeError` (see :func:`~nablagraph.viz.pipe`);
    nothing is written then.
    """
    p = Path(path)
    fmt = _format_of(p, format)
    if fmt == "html":
        raise ConfigError(
            f"{who}: an .html page is made from the tensor itself (it shows values and "
            "gradients a DOT text does not hold): use viz.page(C).write(path) or "
            "viz.render(C, path), with C the tensor"
        )
    data = source.encode("utf-8") if fmt == "dot" else pipe(source, fmt, dpi, max_pixels, who=who)
    # Atomically, and never onto a FIFO (that would block), a device, a folder or a link loop.
    _atomic_write(p, [data], who)
    return p


class Diagram(graphviz.Digraph):  # type: ignore[misc]
    """A :class:`graphviz.Digraph` that renders with whichever Graphviz program exists.

    ``graphviz.Digraph.render`` and ``pipe`` need the system ``dot``; the methods
    here (and the Jupyter display) fall back to ``graphviz-pure`` from PyPI, see
    :mod:`nablagraph.viz.renderer`.
    """

    def svg(self) -> str:
        """The diagram as SVG text."""
        return pipe(self.source, "svg").decode("utf-8")

    def png(self, dpi: float | None = None, max_pixels: int | None = None) -> bytes:
        """The diagram as PNG bytes, within a pixel budget.

        Laid out first to learn its size: an image over ``max_pixels`` (default
        32 million) is drawn at a lower ``dpi``, down to 60, and refused with
        :class:`~nablagraph.viz.renderer.RasterTooLargeError` past that; see
        :func:`~nablagraph.viz.renderer.fit_dpi`.
        """
        return pipe(self.source, "png", dpi, max_pixels, who="Diagram.png")

    def write(
        self,
        path: str | Path,
        format: str | None = None,
        dpi: float | None = None,
        max_pixels: int | None = None,
    ) -> Path:
        """Write ``.dot``/``.gv``, ``.svg``, ``.png`` or ``.pdf`` (chosen by extension);
        for an interactive ``.html`` page use :func:`~nablagraph.viz.page` on the tensor.

        A PNG keeps to ``max_pixels`` as :meth:`png` does.
        """
        return write_source(self.source, path, format, dpi, max_pixels, who="Diagram.write")

    # Jupyter / IPython display: SVG by default; PNG and JPEG (when a front end asks
    # for them) keep to the pixel budget, and _repr_mimebundle_ turns a refusal into text.
    def _repr_image_svg_xml(self) -> str:
        return self.svg()

    def _repr_image_png(self) -> bytes:
        return pipe(self.source, "png", who="Diagram._repr_image_png")

    def _repr_image_jpeg(self) -> bytes:
        return pipe(self.source, "jpeg", who="Diagram._repr_image_jpeg")

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_mimebundle_(
        self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None, **_: Any
    ) -> dict[str, Any]:
        """SVG for Jupyter; the DOT text and how to get a renderer if there is none."""
        try:
            bundle: dict[str, Any] = super()._repr_mimebundle_(include, exclude)
        except RendererError as exc:
            return {"text/plain": f"{exc}\n\n{self.source[:2000]}"}
        return bundle

    # graphviz.Digraph's own pipe(), render() and view() run the system dot at the dpi
    # the graph asks for, past the methods above: a raster format there is held to the
    # same pixel budget, refused before dot draws a pixel (a PNG of a 10,000-node graph
    # at 96 dpi would take gigabytes).
    def pipe(self, format: str | None = None, renderer: str | None = None,
             formatter: str | None = None, neato_no_op: bool | int | None = None,
             quiet: bool = False, *, engine: str | None = None,
             encoding: str | None = None) -> Any:
        """:meth:`graphviz.Digraph.pipe`, refusing a raster image over the pixel budget
        (:class:`~nablagraph.viz.RasterTooLargeError`); :meth:`png` lowers the dpi instead."""
        self._check_raster(format, "Diagram.pipe")
        return super().pipe(format, renderer, formatter, neato_no_op, quiet, engine=engine,
                            encoding=encoding)

    def render(self, *args: Any, **kwargs: Any) -> Any:
        """:meth:`graphviz.Digraph.render` (and so ``view``), refusing a raster image over
        the pixel budget as :meth:`pipe` does; :meth:`write` lowers the dpi instead."""
        fmt = kwargs.get("format", args[4] if len(args) > 4 else None)
        self._check_raster(fmt, "Diagram.render")
        return super().render(*args, **kwargs)

    def _check_raster(self, format: str | None, who: str) -> None:
        fmt = str(format or self.format or "").lower()
        if fmt not in GRAPHVIZ_RASTER:
            return
        dpi = DEFAULT_DPI
        attrs = " ".join(a or b for a, b in _GRAPH_ATTRS.findall(self.source))
        for key, value in _DPI_SET.findall(attrs):
            try:
                dpi = max(dpi, float(value))  # the largest: whichever dot applies, it fits
            except ValueError:
                raise ConfigError(f"{who}: graph attribute {key}={value!r} is not a number") from None
        width_pt, height_pt = layout_size(self.source)
        size = _pixels(width_pt, height_pt, dpi)
        if not _fits(size, MAX_PIXELS):
            raise RasterTooLargeError(
                f"{who}: a {fmt.upper()} of this diagram would be {_px(size)} at {dpi:g} dpi, over "
                f"the budget of max_pixels={MAX_PIXELS:,} ({MAX_SIDE:,} px a side), and graphviz's "
                "own pipe()/render() draw at the dpi asked. Use Diagram.png() or Diagram.write("
                "'graph.png'), which lower the dpi to fit, or write SVG",
                width_pt=width_pt, height_pt=height_pt, max_pixels=MAX_PIXELS,
            )
