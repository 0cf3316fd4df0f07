"""``Diagram``: a ``graphviz.Digraph`` that renders without the system Graphviz.

Imports: the ``viz`` module ``renderer`` and the ``graphviz`` package.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import graphviz  # type: ignore[import-untyped]

from nablagraph.viz.renderer import RendererError, pipe

__all__ = ["Diagram"]


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
        """Write ``.dot``/``.gv``, ``.svg``, ``.png`` or ``.pdf`` (chosen by extension).

        A PNG keeps to ``max_pixels`` as :meth:`png` does.
        """
        from nablagraph.viz.export import write_source

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
