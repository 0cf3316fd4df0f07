"""Write diagrams to files (:func:`render`) and show tensors in Jupyter.

Imports: ``tensor``, ``errors`` and the other ``viz`` modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nablagraph.errors import ConfigError
from nablagraph.tensor import Tensor
from nablagraph.viz.dot import to_graphviz
from nablagraph.viz.renderer import RendererError, pipe

__all__ = ["FORMATS", "render", "tensor_mimebundle", "write_source"]

#: File formats by extension.
FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png", ".pdf": "pdf"}

#: How many nodes a tensor shows when Jupyter displays it.
DISPLAY_MAX_NODES = 150


def _format_of(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.lower().lstrip(".")
        if fmt == "gv":
            fmt = "dot"
        if fmt not in set(FORMATS.values()):
            raise ConfigError(
                f"render: unknown format {format!r}; expected one of dot, svg, png, pdf"
            )
        return fmt
    fmt_found = FORMATS.get(path.suffix.lower())
    if fmt_found is None:
        raise ConfigError(
            f"render: cannot tell the format of {str(path)!r} from its extension "
            f"{path.suffix or '(none)'!r}; use .dot, .gv, .svg, .png or .pdf, or pass format="
        )
    return fmt_found


def write_source(
    source: str, path: str | Path, format: str | None = None, dpi: float | None = None
) -> Path:
    """Write DOT ``source`` to ``path`` as DOT text or rendered (see :func:`render`)."""
    p = Path(path)
    fmt = _format_of(p, format)
    if fmt == "dot":
        p.write_text(source, encoding="utf-8")
    else:
        data = pipe(source, fmt, dpi)
        p.write_bytes(data)
    return p


def render(
    root: Any,
    path: str | Path,
    format: str | None = None,
    *,
    dpi: float | None = None,
    **options: Any,
) -> Path:
    """Draw the graph below ``root`` into a file: ``.dot``/``.gv``, ``.svg``, ``.png``, ``.pdf``.

    DOT needs no program.  SVG, PNG and PDF use the system Graphviz ``dot`` when it is
    on ``PATH``, otherwise ``graphviz-pure`` from PyPI (SVG and PNG only); see
    :mod:`nablagraph.viz.renderer`.

    Parameters
    ----------
    root : Tensor or graphviz.Digraph
        The tensor to draw (with ``options`` passed to :func:`to_graphviz`), or a
        diagram already made (from :func:`to_graphviz` or :func:`draw_network`).
    path : str or Path
        The file to write; its extension picks the format unless ``format`` is given.
    format : {"dot", "svg", "png", "pdf"}, optional
        Overrides the extension.
    dpi : float, optional
        Resolution of PNG output (default 96).
    **options
        Options of :func:`to_graphviz` (``direction``, ``collapse``, ``highlight`` …).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RendererError
        If no installed program can write the format; the message says what to install.
    ConfigError
        For an unknown extension or format.
    GraphError
        If the graph was freed by ``backward()``.
    """
    if isinstance(root, Tensor):
        source = to_graphviz(root, **options).source
    elif isinstance(getattr(root, "source", None), str):
        if options:
            raise ConfigError(
                f"render: options {', '.join(sorted(options))} apply when drawing a Tensor; "
                "this diagram is already drawn (pass them to to_graphviz instead)"
            )
        source = root.source
    else:
        raise TypeError(
            f"render: expected a Tensor or a diagram from to_graphviz, got {type(root).__name__}"
        )
    return write_source(source, path, format, dpi)


def tensor_mimebundle(
    t: Tensor, include: Any = None, exclude: Any = None
) -> dict[str, Any]:
    """What Jupyter shows for a tensor: its graph as SVG when it has one, and its repr.

    A leaf, a tensor with no recorded graph and one whose graph ``backward()`` freed
    display as text; so does any tensor when no Graphviz program is installed.
    """
    wanted = set(include) if include is not None else {"image/svg+xml", "text/plain"}
    wanted -= set(exclude or ())
    bundle: dict[str, Any] = {}
    if "text/plain" in wanted:
        bundle["text/plain"] = repr(t)
    if "image/svg+xml" in wanted and t._op is not None and t._parents is not None:
        try:
            source = to_graphviz(t, max_nodes=DISPLAY_MAX_NODES).source
            bundle["image/svg+xml"] = pipe(source, "svg").decode("utf-8")
        except RendererError:
            pass
    return bundle
