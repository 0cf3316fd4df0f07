"""Draw the training graph of a 2-3-1 network's cost, after backward, with δ labels.

Writes, into ``--out`` (default ``docs/images``):

* ``network_2_3_1.{dot,svg,png}``: every tensor and op, the layers as clusters, the
  notes' labels (``X = a¹``, ``zˡ``, ``aˡ``, ``δˡ = ∂C/∂zˡ``, ``∇Wˡ``, ``C``), gradient
  norms and the dashed backward edges;
* ``network_2_3_1_layers.{dot,svg,png}``: the same graph with one box per layer
  (``collapse="layers"``);
* ``network_2_3_1_path_W2.{dot,svg,png}``: the path from ``W2`` to ``C``
  highlighted.

The batch is XOR's four examples.  Run::

    python examples/render_graph.py --out /tmp/graphs

SVG and PNG need a Graphviz program: the system ``dot`` or ``pip install graphviz-pure``;
without one the DOT files are still written and the message says what to install.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import nablagraph as ng
from nablagraph.viz import RendererError, draw_network, find_renderer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="output folder")
    parser.add_argument("--dpi", type=float, default=110.0, help="PNG resolution")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    args = parser.parse_args(argv)

    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[0.0], [1.0], [1.0], [0.0]])
    net = ng.nn.Network([2, 3, 1], activation="sigmoid", cost="quadratic", seed=args.seed)

    diagrams = {
        "network_2_3_1": draw_network(net, X, Y),
        "network_2_3_1_layers": draw_network(net, X, Y, collapse="layers"),
        "network_2_3_1_path_W2": draw_network(net, X, Y, highlight="W2"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    renderer = find_renderer()
    print(f"renderer: {renderer.kind + ' ' + renderer.version() if renderer else 'none'}")
    status = 0
    for stem, diagram in diagrams.items():
        print("wrote", diagram.write(args.out / f"{stem}.dot"))
        for ext in ("svg", "png"):
            try:
                path = diagram.write(args.out / f"{stem}.{ext}", dpi=args.dpi if ext == "png" else None)
            except RendererError as exc:
                print(f"skipped {stem}.{ext}: {exc}", file=sys.stderr)
                status = 1
            else:
                print("wrote", path)
    return status


if __name__ == "__main__":
    sys.exit(main())
