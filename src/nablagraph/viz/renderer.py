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

Imports: ``errors`` and the standard library only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from nablagraph.errors import RendererError

__all__ = ["RENDER_FORMATS", "Renderer", "RendererError", "find_renderer", "pipe"]

#: Formats :func:`pipe` can be asked for (``dot`` output needs no program at all).
RENDER_FORMATS = ("svg", "png", "pdf", "jpeg")

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


def pipe(source: str, fmt: str, dpi: float | None = None) -> bytes:
    """Lay out and draw DOT ``source`` as ``fmt`` (``svg``, ``png``, ``pdf``, ``jpeg``).

    Parameters
    ----------
    source : str
        DOT text.
    fmt : str
        Output format.
    dpi : float, optional
        Resolution of raster output (Graphviz's default is 96).

    Returns
    -------
    bytes

    Raises
    ------
    RendererError
        If no installed program writes ``fmt``, or the program fails.
    """
    if fmt not in RENDER_FORMATS:
        raise RendererError(
            f"viz: cannot render format {fmt!r}; expected one of {', '.join(RENDER_FORMATS)} "
            "(or dot, which is the DOT text itself)"
        )
    renderer = _require(fmt)
    if renderer.kind == "graphviz-pure" and fmt != "svg":
        # Its bundled fonts lack ∇; an SVG viewer uses its own fonts.
        source = source.replace("∇", "∂C/∂")
    args = [renderer.path, f"-T{fmt}"]
    if dpi is not None:
        args.append(f"-Gdpi={float(dpi):g}")
    proc = subprocess.run(args, input=source.encode("utf-8"), capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RendererError(
            f"viz: {renderer.kind} ({renderer.path}) failed to write {fmt.upper()} "
            f"(exit code {proc.returncode}): {err[-2000:] or 'no message'}"
        )
    return proc.stdout
