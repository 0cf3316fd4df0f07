"""Text of the diagram's labels: numbers, shapes, op parameters, HTML-like labels.

Imports: ``tensor`` and NumPy only.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import numpy as np

from nablagraph._tensor import Tensor

__all__ = ["dot_attrs", "escape", "grad_text", "html_label", "num", "params_text",
           "shape_text", "values_text"]

def escape(text: str) -> str:
    return html.escape(text, quote=False)


def num(x: float) -> str:
    return f"{x:.4g}"


_DTYPE_NAMES: dict[Any, str] = {}


def shape_text(t: Tensor) -> str:
    dt = t.dtype
    name = _DTYPE_NAMES.get(dt)
    if name is None:
        name = _DTYPE_NAMES[dt] = str(dt)
    shape = t.shape
    return f"{shape if shape else 'scalar'} {name}"


def values_text(a: np.ndarray) -> str:
    if a.size == 1:
        return f"= {num(float(a.reshape(())))}"
    if a.size <= 6:
        return "= [" + ", ".join(num(float(v)) for v in a.reshape(-1)) + "]"
    af = a.astype(np.float64, copy=False)
    return f"mean {num(float(af.mean()))} · ‖·‖ {num(float(np.linalg.norm(af)))}"


def grad_text(symbol: str, g: np.ndarray) -> str:
    if g.size == 1:
        return f"{symbol} = {num(float(g.reshape(())))}"
    return f"‖{symbol}‖ = {num(float(np.linalg.norm(g.astype(np.float64, copy=False))))}"


def dot_attrs(attrs: dict[str, Any]) -> str:
    parts = []
    for k, v in attrs.items():
        s = str(v)
        if k == "label" and s[:1] == "<" and s[-1:] == ">":
            parts.append(f"{k}={s}")
        else:
            if '"' in s or "\\" in s:
                s = s.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'{k}="{s}"')
    return " ".join(parts)


def html_label(lines: Iterable[tuple[str, str | None]]) -> str:
    """``<...>`` label from ``(text, style)`` lines; style ``b``, ``small`` or a colour."""
    out = []
    for text, style in lines:
        t = escape(text)
        if style == "b":
            t = f"<b>{t}</b>"
        elif style == "small":
            t = f'<font point-size="9">{t}</font>'
        elif style:
            t = f'<font color="{style}">{t}</font>'
        out.append(t)
    return "<" + "<br/>".join(out) + ">"


# Names of the non-tensor arguments of the ops that take some (see nablagraph.functional).
_PARAM_NAMES = {
    "sum": ("axis", "keepdims"),
    "mean": ("axis", "keepdims"),
    "softmax": ("axis",),
    "log_softmax": ("axis",),
    "concatenate": ("axis",),
    "reshape": ("shape",),
    "transpose": ("axes",),
    "broadcast_to": ("shape",),
    "sum_to": ("shape",),
    "getitem": ("index",),
    "scatter": ("shape", "index"),
    "leaky_relu": ("slope",),
    "clip": ("min", "max"),
    "binary_cross_entropy": ("eps",),
    "max": ("axis", "keepdims"),
    "min": ("axis", "keepdims"),
    "stack": ("axis",),
}


def params_text(name: str, params: tuple[Any, ...]) -> str | None:
    if not params:
        return None
    if name == "cross_entropy_index":
        return f"labels {tuple(np.shape(params[0]))}"
    if name == "pow_scalar":
        return f"** {num(float(params[0]))}"
    if name == "cast":
        return f"to {np.dtype(params[0])}"
    names = _PARAM_NAMES.get(name, ())
    shown = []
    for i, p in enumerate(params):
        if p is None or p is False:
            continue
        text = f"array{tuple(p.shape)}" if isinstance(p, np.ndarray) else repr(p)
        shown.append(f"{names[i]}={text}" if i < len(names) else text)
    text = ", ".join(shown)
    return (text[:40] + "…" if len(text) > 41 else text) or None
