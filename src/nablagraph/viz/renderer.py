"""Find a Graphviz program and run it: DOT text in, SVG/PNG/PDF bytes out.

Two programs are known:

``dot``
    The system Graphviz (``apt-get install graphviz``, ``brew install graphviz``,
    ``conda install graphviz``), used whenever it is on ``PATH``.  Writes every format.
``graphviz-pure``
    A self-contained port of Graphviz from PyPI (``pip install graphviz-pure``), found
    on ``PATH`` or next to the running Python interpreter (a virtualenv's ``bin``),
    so a plain ``pip install`` is enough to write SVG and PNG.  It writes no PDF yet,
    and its bundled fonts have no ``∇``, so for raster output the diagram's ``∇W²``
    is written ``∂C/∂W²`` (the same quantity).

The environment variable ``NABLAGRAPH_DOT`` names a program to use instead.

Raster output is bounded
------------------------
A PNG or JPEG costs memory for every pixel (about 4 bytes with ``dot``, 8 with
``graphviz-pure``) whatever is drawn, and a big graph laid out at 96 dpi can ask for
billions of pixels.  So :func:`pipe` first lays the diagram out as SVG (cheap: text,
no pixels) and reads its size ``w × h`` in points (1/72 inch); at ``dpi`` the picture
is

.. math::

    W = \\lceil w \\cdot \\mathrm{dpi} / 72 \\rceil, \\qquad
    H = \\lceil h \\cdot \\mathrm{dpi} / 72 \\rceil

pixels.  When :math:`W H` exceeds ``max_pixels`` (:data:`MAX_PIXELS`, 32 million) or a
side exceeds :data:`MAX_SIDE`, the resolution is scaled down to fit, but not below
:data:`MIN_DPI` (9-point text is still 7.5 px high there); a diagram that does not
fit even then raises :class:`RasterTooLargeError`, and no pixel is drawn.  The
resolution is always passed on the command line, which overrides a ``dpi`` or
``resolution`` set inside the DOT text, so nothing bypasses the budget.

Imports: ``errors`` and the standard library only.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import warnings
from dataclasses import dataclass
from pathlib import Path

from nablagraph.errors import ConfigError, RendererError

__all__ = [
    "DEFAULT_DPI", "MAX_PIXELS", "MAX_SIDE", "MIN_DPI", "RASTER_FORMATS", "RENDER_FORMATS",
    "RasterTooLargeError", "Renderer", "RendererError", "find_renderer", "fit_dpi",
    "layout_size", "pipe",
]

#: Formats :func:`pipe` can be asked for (``dot`` output needs no program at all).
RENDER_FORMATS = ("svg", "png", "pdf", "jpeg")

#: Formats drawn as pixels: their size is checked against the pixel budget first.
RASTER_FORMATS = ("png", "jpeg")

#: The pixel budget of one raster image, width × height: 32 million pixels, about
#: 130 MB of memory with ``dot`` and 250 MB with ``graphviz-pure`` (an 8K screen is
#: 33 million; image viewers and PIL start to refuse at about 90 million).
MAX_PIXELS = 32_000_000

#: The longest side of a raster image, in pixels (the largest image cairo, behind the
#: system ``dot``, can draw; ``dot`` itself shrinks bigger pictures to it).
MAX_SIDE = 32_767

#: The resolution of raster output when none is asked for (Graphviz's own default).
DEFAULT_DPI = 96.0

#: The smallest resolution a picture too big for the budget is scaled down to: the
#: diagrams' 9-point text is 7.5 px high there.  Below it a diagram is refused.
MIN_DPI = 60.0


class RasterTooLargeError(RendererError):
    """A raster image (PNG, JPEG) of a diagram would not fit the pixel budget.

    Raised before any pixel is drawn.  ``width_pt`` and ``height_pt`` give the laid-out
    size in points (1/72 inch), ``max_pixels`` the budget it did not fit.
    """

    def __init__(self, message: str, *, width_pt: float, height_pt: float, max_pixels: int) -> None:
        super().__init__(message)
        self.width_pt = width_pt
        self.height_pt = height_pt
        self.max_pixels = max_pixels

_INSTALL_HINT = (
    "install the PyPI package graphviz-pure (pip install graphviz-pure), or the "
    "Graphviz system package that provides the dot program (apt-get install graphviz, "
    "brew install graphviz or conda install graphviz)"
)


@dataclass(frozen=True)
class Renderer:
    """A Graphviz program: ``kind`` is ``"dot"`` or ``"graphviz-pure"``."""

    kind: str
    path: str

    @property
    def formats(self) -> tuple[str, ...]:
        """The formats this program writes."""
        if self.kind == "graphviz-pure":
            return ("svg", "png", "jpeg")
        return RENDER_FORMATS

    def version(self) -> str:
        """The program's version line, e.g. ``graphviz-pure version 0.2.2 (...)``."""
        proc = subprocess.run([self.path, "-V"], capture_output=True, text=True, check=False)
        text = (proc.stderr or proc.stdout).strip()
        m = re.search(r"version.*", text)
        return m.group(0) if m else text


def _beside_python(name: str) -> str | None:
    exe = name + (".exe" if sys.platform == "win32" else "")
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_renderer() -> Renderer | None:
    """The Graphviz program to use, or ``None`` if there is none.

    In order: ``$NABLAGRAPH_DOT``, the system ``dot`` on ``PATH``, then
    ``graphviz-pure`` on ``PATH`` or next to the Python interpreter.
    """
    override = os.environ.get("NABLAGRAPH_DOT")
    if override:
        path = shutil.which(override)
        if path is None:
            raise RendererError(
                f"NABLAGRAPH_DOT is set to {override!r}, which is not a program that can be "
                "run; unset it or point it at dot or graphviz-pure"
            )
        kind = "graphviz-pure" if "graphviz-pure" in Path(path).name else "dot"
        return Renderer(kind, path)
    path = shutil.which("dot")
    if path is not None:
        return Renderer("dot", path)
    path = shutil.which("graphviz-pure") or _beside_python("graphviz-pure")
    if path is not None:
        return Renderer("graphviz-pure", path)
    return None


def _require(fmt: str) -> Renderer:
    renderer = find_renderer()
    if renderer is None:
        raise RendererError(
            f"viz: no Graphviz program found to write {fmt.upper()}: {_INSTALL_HINT}. "
            "DOT export needs neither: to_dot(C) or render(C, 'graph.dot')"
        )
    if fmt not in renderer.formats:
        raise RendererError(
            f"viz: {renderer.kind} ({renderer.path}) cannot write {fmt.upper()}; it writes "
            f"{', '.join(renderer.formats)}. Install the Graphviz system package for "
            f"{fmt.upper()} (apt-get install graphviz, brew install graphviz or conda install "
            "graphviz), or write .svg or .png"
        )
    return renderer


def check_dpi(dpi: object, who: str = "pipe") -> float | None:
    """``dpi`` as a float, or ``None``; a :class:`ConfigError` unless positive and finite."""
    if dpi is None:
        return None
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not math.isfinite(dpi) or dpi <= 0:
        raise ConfigError(f"{who}: dpi must be a positive number (96 is the default), got {dpi!r}")
    return float(dpi)


def check_max_pixels(max_pixels: object, who: str = "pipe") -> int:
    """``max_pixels``, or :data:`MAX_PIXELS` for ``None``; a :class:`ConfigError` unless a positive int."""
    if max_pixels is None:
        return MAX_PIXELS
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ConfigError(
            f"{who}: max_pixels must be a positive integer (width × height; the default is "
            f"{MAX_PIXELS:,}), got {max_pixels!r}"
        )
    return max_pixels


def _pixels(width_pt: float, height_pt: float, dpi: float) -> tuple[int, int]:
    return math.ceil(width_pt * dpi / 72 - 1e-6), math.ceil(height_pt * dpi / 72 - 1e-6)


def _fits(size: tuple[int, int], max_pixels: int) -> bool:
    return size[0] * size[1] <= max_pixels and max(size) <= MAX_SIDE


def _px(size: tuple[int, int]) -> str:
    return f"{size[0]:,} × {size[1]:,} px ({size[0] * size[1] / 1e6:,.1f} Mpx)"


def fit_dpi(
    width_pt: float,
    height_pt: float,
    dpi: float | None = None,
    max_pixels: int | None = None,
    *,
    fmt: str = "png",
    who: str = "pipe",
) -> float:
    """The resolution to draw a ``width_pt × height_pt`` diagram at, within the budget.

    At resolution :math:`d` the image is :math:`W = \\lceil w d / 72 \\rceil` by
    :math:`H = \\lceil h d / 72 \\rceil` pixels.  If it fits (:math:`W H \\le`
    ``max_pixels`` and both sides :math:`\\le` :data:`MAX_SIDE`), ``dpi`` is returned;
    otherwise the largest

    .. math::

        d' = d \\cdot \\min\\left(\\sqrt{\\frac{\\text{max\\_pixels}}{W H}},
        \\frac{\\text{MAX\\_SIDE}}{W}, \\frac{\\text{MAX\\_SIDE}}{H}\\right)

    that fits, if :math:`d' \\ge \\min(\\text{MIN\\_DPI}, d)`.

    Parameters
    ----------
    width_pt, height_pt : float
        The laid-out size in points (1/72 inch), e.g. from :func:`layout_size`.
    dpi : float, optional
        The resolution asked for; :data:`DEFAULT_DPI` (96) when ``None``.
    max_pixels : int, optional
        The budget; :data:`MAX_PIXELS` when ``None``.
    fmt : str
        The format, for the message.
    who : str
        The function named in the message.

    Returns
    -------
    float
        ``dpi``, or a smaller resolution at which the image fits.

    Raises
    ------
    RasterTooLargeError
        If the image does not fit even at :data:`MIN_DPI`; the message gives the sizes,
        the budget and what to do instead.
    ConfigError
        For a ``dpi`` or ``max_pixels`` that is not a positive number.
    """
    asked = check_dpi(dpi, who)
    budget = check_max_pixels(max_pixels, who)
    d = DEFAULT_DPI if asked is None else asked
    if _fits(_pixels(width_pt, height_pt, d), budget):
        return d
    floor = min(MIN_DPI, d)
    scaled = _scaled_dpi(width_pt, height_pt, d, budget, floor)
    if scaled >= floor:
        return scaled
    raise _too_large(width_pt, height_pt, d, floor, budget, fmt, who)


def _scaled_dpi(width_pt: float, height_pt: float, dpi: float, budget: int, floor: float) -> float:
    """The largest resolution below ``dpi`` that fits, in steps of 1% from :func:`fit_dpi`'s
    estimate; below ``floor`` when none at or above ``floor`` fits."""
    w, h = _pixels(width_pt, height_pt, dpi)
    scale = min(math.sqrt(budget / (w * h)), MAX_SIDE / w, MAX_SIDE / h)
    scaled = math.floor(dpi * scale * 100) / 100
    while scaled >= floor and not _fits(_pixels(width_pt, height_pt, scaled), budget):
        scaled = math.floor(scaled * 99) / 100
    return scaled


def _too_large(width_pt: float, height_pt: float, dpi: float, floor: float, budget: int,
               fmt: str, who: str) -> RasterTooLargeError:
    """The refusal of an image that does not fit even at ``floor`` dpi: sizes, budget, what to do."""
    size, smallest = _pixels(width_pt, height_pt, dpi), _pixels(width_pt, height_pt, floor)
    return RasterTooLargeError(
        f"{who}: a {fmt.upper()} of this diagram would be {_px(size)} at {dpi:g} dpi, and "
        f"{_px(smallest)} even at {floor:g} dpi, the smallest readable scale; the budget is "
        f"max_pixels={budget:,} and {MAX_SIDE:,} px a side. Write SVG instead (vector, any "
        "size: render(C, 'graph.svg')), draw one box per layer (collapse='layers'), draw "
        "fewer nodes (max_nodes=200), or raise max_pixels if the memory is there "
        f"(about 8 bytes a pixel)",
        width_pt=width_pt,
        height_pt=height_pt,
        max_pixels=budget,
    )


_SVG_SIZE = re.compile(rb'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"')


def _raster_source(renderer: Renderer, source: str, fmt: str) -> str:
    if renderer.kind == "graphviz-pure" and fmt != "svg":
        # Its bundled fonts lack ∇; an SVG viewer uses its own fonts.
        return source.replace("∇", "∂C/∂")
    return source


def _run(renderer: Renderer, source: str, fmt: str, extra: list[str]) -> bytes:
    args = [renderer.path, f"-T{fmt}", *extra]
    proc = subprocess.run(args, input=source.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RendererError(
            f"viz: {renderer.kind} ({renderer.path}) failed to write {fmt.upper()} "
            f"(exit code {proc.returncode}): {err[-2000:] or 'no message'}"
        )
    return proc.stdout


def _measure(renderer: Renderer, source: str) -> tuple[float, float]:
    svg = _run(renderer, source, "svg", ["-Gdpi=72"])
    m = _SVG_SIZE.search(svg[:4096])
    if m is None:
        raise RendererError(
            f"viz: {renderer.kind} ({renderer.path}) wrote SVG without a width and height in "
            "points, so the size of a raster image cannot be known before drawing it"
        )
    return float(m.group(1)), float(m.group(2))


def layout_size(source: str, fmt: str = "png") -> tuple[float, float]:
    """The size of DOT ``source`` laid out, in points (1/72 inch), drawing no pixel.

    The layout is written as SVG at 72 dpi (a ``dpi`` inside ``source`` is overridden)
    and its size read back; ``size``, ``ratio``, ``pad`` and the like are accounted for.
    ``fmt`` is the format the size is wanted for (``graphviz-pure`` writes a few
    labels differently in raster output).

    Returns
    -------
    tuple of float
        ``(width, height)`` in points: :math:`W = w \\cdot \\mathrm{dpi} / 72` pixels wide.

    Raises
    ------
    RendererError
        If no Graphviz program is installed, or it fails.
    """
    renderer = _require("svg")
    return _measure(renderer, _raster_source(renderer, source, fmt))


def pipe(
    source: str, fmt: str, dpi: float | None = None, max_pixels: int | None = None,
    *, who: str = "pipe",
) -> bytes:
    """Lay out and draw DOT ``source`` as ``fmt`` (``svg``, ``png``, ``pdf``, ``jpeg``).

    Raster formats (PNG, JPEG) are laid out first to learn their size (see
    :func:`fit_dpi`): an image over ``max_pixels`` is drawn at a smaller resolution,
    down to :data:`MIN_DPI`, and one that does not fit even then is refused.

    Parameters
    ----------
    source : str
        DOT text.
    fmt : str
        Output format.
    dpi : float, optional
        Resolution of raster output (default 96).  A ``dpi`` that would break the
        budget is lowered, with a warning.
    max_pixels : int, optional
        The pixel budget of raster output, width × height (default :data:`MAX_PIXELS`).
    who : str
        The function named in messages.

    Returns
    -------
    bytes

    Raises
    ------
    RasterTooLargeError
        If a raster image does not fit ``max_pixels`` even at :data:`MIN_DPI`.
    RendererError
        If no installed program writes ``fmt``, or the program fails.
    ConfigError
        For a ``dpi`` or ``max_pixels`` that is not a positive number.
    """
    if fmt not in RENDER_FORMATS:
        raise RendererError(
            f"viz: cannot render format {fmt!r}; expected one of {', '.join(RENDER_FORMATS)} "
            "(or dot, which is the DOT text itself)"
        )
    asked = check_dpi(dpi, who)
    budget = check_max_pixels(max_pixels, who)
    renderer = _require(fmt)
    source = _raster_source(renderer, source, fmt)
    if fmt not in RASTER_FORMATS:
        return _run(renderer, source, fmt, [] if asked is None else [f"-Gdpi={asked:g}"])
    width_pt, height_pt = _measure(renderer, source)
    use = fit_dpi(width_pt, height_pt, asked, budget, fmt=fmt, who=who)
    if asked is not None and use < asked:
        warnings.warn(
            f"{who}: a {fmt.upper()} at {asked:g} dpi would be "
            f"{_px(_pixels(width_pt, height_pt, asked))}, over the budget of "
            f"max_pixels={budget:,} ({MAX_SIDE:,} px a side); drawn at {use:g} dpi instead "
            f"({_px(_pixels(width_pt, height_pt, use))})",
            UserWarning,
            stacklevel=3,
        )
    return _run(renderer, source, fmt, [f"-Gdpi={use:g}"])
