"""Make ``digits.npz`` from scikit-learn's ``digits.csv.gz`` (a maintainer's tool, run once).

Usage::

    python -m nablagraph.datasets.make_digits [CSV_GZ] [OUT_NPZ]

``CSV_GZ`` defaults to the copy inside the installed scikit-learn
(``sklearn/datasets/data/digits.csv.gz``: 1,797 rows of 64 pixel values 0–16 and the
label); ``OUT_NPZ`` to ``digits.npz`` next to this file.  The result holds ``images``
(uint8, ``(1797, 8, 8)``) and ``target`` (uint8, ``(1797,)``), compressed.

Imports: nothing from nablagraph (NumPy only).
"""

from __future__ import annotations

import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np

__all__ = ["read_csv", "write_npz", "sklearn_csv"]

N_EXAMPLES = 1797


def sklearn_csv() -> Path:
    """The path of ``digits.csv.gz`` inside the installed scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("make_digits: scikit-learn is not installed; pass the path of digits.csv.gz")
    return Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"


def read_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images, target)`` as uint8 from scikit-learn's ``digits.csv.gz``, checked."""
    with gzip.open(path, "rt", encoding="ascii") as f:
        raw = np.loadtxt(f, delimiter=",", dtype=np.float64)
    if raw.shape != (N_EXAMPLES, 65):
        raise ValueError(f"make_digits: {path} has shape {raw.shape}, expected ({N_EXAMPLES}, 65)")
    if not (np.all(raw == np.round(raw)) and raw[:, :64].min() >= 0 and raw[:, :64].max() <= 16
            and set(np.unique(raw[:, 64]).tolist()) == set(range(10))):
        raise ValueError(f"make_digits: {path} does not hold pixels 0–16 and labels 0–9")
    images = raw[:, :64].astype(np.uint8).reshape(N_EXAMPLES, 8, 8)
    target = raw[:, 64].astype(np.uint8)
    return images, target


def write_npz(images: np.ndarray, target: np.ndarray, out: str | Path) -> None:
    """Write the two arrays, compressed (``numpy.savez_compressed``)."""
    np.savez_compressed(out, images=images, target=target)


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else sklearn_csv()
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("digits.npz")
    images, target = read_csv(src)
    write_npz(images, target, out)
    print(f"wrote {out} ({out.stat().st_size:,} bytes) from {src}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
