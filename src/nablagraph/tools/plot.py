"""Plots of training histories and benchmark results (matplotlib, an optional extra).

matplotlib is imported only when a plot is made, with the non-interactive ``Agg``
backend, so these functions work on machines without a display.  Without matplotlib
they raise :class:`~nablagraph.errors.ConfigError` saying what to install.

Imports: ``errors``; matplotlib lazily.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nablagraph.errors import ConfigError
from nablagraph.files import atomic_write

__all__ = ["plot_history", "plot_costs", "plot_scaling"]

_INSTALL = "plots need matplotlib: pip install 'nablagraph[plot]' (or pip install matplotlib)"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - exercised by the CLI's message test
        raise ConfigError(_INSTALL) from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: str | os.PathLike[str]) -> str:
    """Lay out, write (creating the folder) and close the figure; return the path.

    The image is rendered in memory, then written atomically: never onto a FIFO (which
    would block), a device, a folder or a link loop (see ``nablagraph.io.save``).
    """

    try:
        fig.tight_layout()
        out = os.fspath(path)
        parent = os.path.dirname(out)
        if parent:
            os.makedirs(parent, exist_ok=True)
        ext = os.path.splitext(out)[1].lstrip(".").lower()
        kinds = fig.canvas.get_supported_filetypes()
        if ext and ext not in kinds:
            raise ConfigError(f"plot: cannot write {out!r}: the extension picks the format and "
                              f"matplotlib writes {', '.join(sorted(kinds))}; got '.{ext}'")
        buf = io.BytesIO()
        fig.savefig(buf, format=ext or None, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write(Path(out), [buf.getvalue()], "plot")
    return out


def _finish_axes(ax: Any, xlabel: str, ylabel: str, title: str | None, which: str = "major") -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which=which)
    ax.legend()
    if title:
        ax.set_title(title)


def plot_history(history: Any, path: str | os.PathLike[str], title: str | None = None) -> str:
    """Cost and accuracy per epoch, training and validation, side by side.

    Parameters
    ----------
    history : History
        What :func:`nablagraph.nn.fit` returned (``epoch``, ``train_cost``,
        ``val_cost``, ``train_accuracy``, ``val_accuracy``).
    path : str or path
        The image to write (``.png``, ``.svg``, ``.pdf`` by extension).

    Returns
    -------
    str
        The path written.
    """
    plt = _pyplot()
    fig, (ax_c, ax_a) = plt.subplots(1, 2, figsize=(10, 4))
    ep = list(history.epoch)
    ax_c.plot(ep, history.train_cost, "o-", label="training")
    if any(v is not None for v in history.val_cost):
        ax_c.plot(ep, history.val_cost, "s--", label="validation")
    ax_c.set_xlabel("epoch")
    ax_c.set_ylabel("cost C = (1/M) Σ C_m")
    ax_c.set_title("cost")
    ax_c.grid(alpha=0.3)
    ax_c.legend()
    has_acc = any(v is not None for v in history.train_accuracy)
    if has_acc:
        ax_a.plot(ep, [100 * v for v in history.train_accuracy], "o-", label="training")
        if any(v is not None for v in history.val_accuracy):
            ax_a.plot(ep, [100 * v for v in history.val_accuracy], "s--", label="validation")
        ax_a.set_ylabel("accuracy (%)")
        ax_a.legend()
    else:
        ax_a.text(0.5, 0.5, "no class targets", ha="center", va="center")
    ax_a.set_xlabel("epoch")
    ax_a.set_title("accuracy")
    ax_a.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def plot_costs(
    curves: Mapping[str, Sequence[float]], path: str | os.PathLike[str], title: str | None = None,
    ylabel: str = "cost",
) -> str:
    """Several cost curves against the epoch (e.g. quadratic vs cross-entropy)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in curves.items():
        ax.plot(range(len(ys)), list(ys), label=label)
    _finish_axes(ax, "epoch", ylabel, title)
    return _save(plt, fig, path)


def plot_scaling(
    params: Sequence[int], series: Mapping[str, Sequence[float]], path: str | os.PathLike[str],
    title: str | None = None, ylabel: str = "seconds per gradient",
) -> str:
    """A log-log plot of times (or pass counts) against the number of parameters."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label, ys in series.items():
        ax.loglog(list(params), list(ys), "o-", label=label)
    _finish_axes(ax, "parameters P", ylabel, title, which="both")
    return _save(plt, fig, path)
