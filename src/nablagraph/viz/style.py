"""The diagram's colours and font: :data:`COLOURS` and the legend's text for each kind.

Every node, edge and legend entry takes its colour from here, so the legend and the
drawing cannot disagree (see :mod:`nablagraph.viz` for what each colour means).

Imports: nothing.
"""

from __future__ import annotations

__all__ = ["COLOURS", "FONT", "KIND_TEXT"]

#: Fill colours by node kind, plus the colours of gradients, highlights and layers.
COLOURS = {
    "parameter": "#a6cee3",
    "input": "#b2df8a",
    "target": "#ffed6f",
    "constant": "#d9d9d9",
    "intermediate": "#ffffff",
    "output": "#fb9a99",
    "op": "#fdbf6f",
    "cost": "#cab2d6",
    "layer": "#f2f2f2",
    "layer_border": "#8c8c8c",
    "gradient": "#b2182b",
    "highlight": "#e7298a",
    "more": "#f0f0f0",
}

#: What the legend says for each tensor kind (in the order it lists them).
KIND_TEXT = {
    "parameter": "parameter (requires grad)",
    "input": "input data",
    "target": "target y",
    "constant": "constant",
    "intermediate": "intermediate tensor",
    "output": "output (root)",
}

#: The font of every label.
FONT = "Helvetica"
