"""Datasets: XOR, the handwritten digits, MNIST IDX files, one-hot helpers.

Nothing here downloads anything.  :func:`digits` reads the 1,797 8×8 images that ship
inside nablagraph (scikit-learn's copy of the UCI digits, see
:mod:`nablagraph.datasets`);
:func:`load_mnist_idx` reads MNIST files the user has downloaded.

Inputs are returned one example per row, ``X`` of shape ``(n, n_1)`` with values in
``[0, 1]``, and labels as integers of shape ``(n,)`` (use :func:`one_hot` for the
notes' vector targets ``y(x)``).

Mini-batches for a hand-written loop (:class:`DataLoader`, :func:`batches`) come from
:mod:`nablagraph.loader`.

Imports: ``errors``, ``io`` (for its file-format error), ``loader``.
"""

from __future__ import annotations

import gzip
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from nablagraph.errors import ConfigError, DataError, LabelError, ShapeError
from nablagraph.files import open_regular
from nablagraph.io import MAX_DIMS, FileFormatError, shape_too_big
from nablagraph.loader import DataLoader, batches

__all__ = [
    "Split", "xor", "digits", "load_mnist_idx", "read_idx", "one_hot", "from_one_hot",
    "DataLoader", "batches",
]

PathLike = str | os.PathLike[str]


class Split(NamedTuple):
    """A train/test split; unpacks as ``X_train, Y_train, X_test, Y_test``."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray


def xor(dtype: Any = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The four XOR examples: ``X`` of shape ``(4, 2)`` and targets ``Y`` of shape ``(4, 1)``.

    ``y = x_1 ⊕ x_2``; no single-layer (linear) network separates them, a hidden layer
    of two or more sigmoid neurons can.

    Examples
    --------
    >>> from nablagraph.data import xor
    >>> X, Y = xor()
    >>> X.tolist(), Y.ravel().tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0.0, 1.0, 1.0, 0.0])
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    Y = np.array([[0], [1], [1], [0]], dtype=dtype)
    return X, Y


# ------------------------------------------------------------------ one-hot
def one_hot(labels: Any, n: int | None = None, dtype: Any = np.float64) -> np.ndarray:
    """Class labels ``(M,)`` → one-hot rows ``(M, n)``: the notes' target vectors ``y(x)``.

    Row ``m`` is ``e_{labels[m]}``: 1 in the label's column, 0 elsewhere.

    Parameters
    ----------
    labels : array_like of int, shape (M,)
        Class indices in ``[0, n)``.
    n : int, optional
        Number of classes (default ``max(labels) + 1``).
    dtype : numpy dtype
        Of the result.

    Examples
    --------
    >>> from nablagraph.data import one_hot
    >>> one_hot([2, 0], 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    y = np.asarray(labels)
    if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise LabelError(f"one_hot: labels must be integers, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ShapeError(f"one_hot: labels must be 1-D (one per example), got shape {y.shape}")
    if n is None:
        if y.size == 0:
            raise ConfigError("one_hot: cannot infer the number of classes from no labels; pass n")
        n = int(y.max()) + 1
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"one_hot: n (the number of classes) must be a positive integer, got {n!r}")
    if y.size and (y.min() < 0 or y.max() >= n):
        bad = y[(y < 0) | (y >= n)]
        raise LabelError(
            f"one_hot: labels must be in [0, {n - 1}] for n={n} classes, got {bad[0]} "
            f"({bad.size} of {y.size} out of range)"
        )
    out = np.zeros((y.size, int(n)), dtype=dtype)
    out[np.arange(y.size), y] = 1
    return out


def from_one_hot(Y: Any) -> np.ndarray:
    """One-hot (or probability) rows ``(M, n)`` → class labels ``(M,)``: ``argmax_j Y_mj``.

    The inverse of :func:`one_hot`; for a network's outputs ``a^L`` it gives the
    predicted classes.

    Examples
    --------
    >>> from nablagraph.data import from_one_hot, one_hot
    >>> from_one_hot(one_hot([2, 0, 1], 3)).tolist()
    [2, 0, 1]
    """
    y = np.asarray(Y)
    if y.ndim != 2 or y.shape[1] < 1:
        raise ShapeError(f"from_one_hot: expected rows of shape (M, n), got shape {y.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise LabelError("from_one_hot: the rows contain NaN")
    return np.argmax(y, axis=1).astype(np.int64)


# ------------------------------------------------------------------ digits
def _stratified_split(
    y: np.ndarray, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Test indices with each class in proportion (largest remainders), seeded."""
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * (n_test / y.size)
    take = np.floor(exact).astype(np.int64)
    short = n_test - int(take.sum())
    if short:
        order = np.argsort(-(exact - take), kind="stable")
        take[order[:short]] += 1
    test = []
    for c, k in zip(classes, take):
        idx = np.flatnonzero(y == c)
        test.append(rng.permutation(idx)[:k])
    test_idx = rng.permutation(np.concatenate(test))
    mask = np.ones(y.size, dtype=bool)
    mask[test_idx] = False
    train_idx = rng.permutation(np.flatnonzero(mask))
    return train_idx, test_idx


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The shipped ``(images (1797, 8, 8), target (1797,))``, uint8, checked."""
    path = Path(__file__).with_name("datasets") / "digits.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            images, target = f["images"], f["target"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(
            f"digits: cannot read the shipped data file {str(path)!r} ({exc}); "
            "the installation is incomplete, reinstall nablagraph"
        ) from None
    if images.shape != (1797, 8, 8) or target.shape != (1797,) or images.dtype != np.uint8:
        raise DataError(
            f"digits: the shipped data file {str(path)!r} holds images {images.shape} {images.dtype} "
            f"and labels {target.shape}; expected (1797, 8, 8) uint8 and (1797,); reinstall nablagraph"
        )
    return images, target


def digits(
    test_size: float | int = 0.2,
    seed: int | np.random.Generator | None = 0,
    one_hot_targets: bool = False,
    dtype: Any = np.float64,
) -> Split:
    """scikit-learn's handwritten digits: 1,797 8×8 images, scaled to ``[0, 1]``, split.

    The images (pixel values 0–16, divided by 16) are flattened into rows of 64
    inputs, so they fit ``Network([64, …, 10])``.  The split is stratified (each
    digit in the same proportion in both parts) and seeded; the same seed gives the
    same split.  Nothing is downloaded and scikit-learn is not needed: the images
    ship inside nablagraph (``nablagraph/datasets/digits.npz``, 45 KB), equal to
    ``sklearn.datasets.load_digits()``.  They are the UCI "Optical Recognition of
    Handwritten Digits" data (Alpaydin and Kaynak, CC BY 4.0) as distributed by
    scikit-learn (BSD-3-Clause).

    Parameters
    ----------
    test_size : float or int
        Fraction of the examples in ``(0, 1)``, or a count, held out for testing.
    seed : int or numpy.random.Generator, optional
        Seeds the split.
    one_hot_targets : bool
        Return targets as one-hot rows ``(n, 10)`` instead of labels ``(n,)``.
    dtype : numpy dtype
        Of ``X`` (and of one-hot targets).

    Returns
    -------
    Split
        ``(X_train, Y_train, X_test, Y_test)``.

    Raises
    ------
    ConfigError
        ``test_size`` is not a fraction in ``(0, 1)`` or a count in ``[1, 1796]``.
    DataError
        The shipped data file is missing or damaged (a broken install).

    Examples
    --------
    >>> from nablagraph.data import digits
    >>> X_train, y_train, X_test, y_test = digits(test_size=0.2, seed=0)
    >>> X_train.shape, X_test.shape, float(X_train.max())
    ((1437, 64), (360, 64), 1.0)
    """
    images, labels = _digits_arrays()
    X = images.reshape(len(images), 64).astype(np.float64) / 16.0
    y = labels.astype(np.int64)
    n = y.size
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise ConfigError(f"digits: test_size must be a fraction or a count, got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ConfigError(f"digits: test_size as a fraction must be in (0, 1), got {test_size!r}")
        n_test = math.ceil(float(test_size) * n)  # as scikit-learn rounds it
    else:
        n_test = int(test_size)
    if not 1 <= n_test <= n - 1:
        raise ConfigError(
            f"digits: test_size={test_size!r} leaves {n_test} test examples of {n}; "
            f"expected between 1 and {n - 1}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    train, test = _stratified_split(y, n_test, rng)
    X = X.astype(dtype)
    Y: np.ndarray = one_hot(y, 10, dtype) if one_hot_targets else y
    return Split(X[train], Y[train], X[test], Y[test])


# ------------------------------------------------------------------ IDX
# The IDX format (http://yann.lecun.com/exdb/mnist/): magic = two zero bytes, a type
# code and the number of dimensions; then each dimension as a big-endian uint32; then
# the values, big-endian, in C order.
_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


#: Deflate expands at most about 1032:1; a gzip file declaring more data than this
#: times its own size (plus slack for a small file) cannot be complete.
_DEFLATE_RATIO = 1032


class _Source:
    """An open IDX file: plain bytes or a gzip stream, read with a known bound."""

    def __init__(self, path: PathLike, what: str) -> None:
        self.name, self.what = repr(str(path)), what
        try:
            self.raw, self.size = open_regular(path, what)
        except FileNotFoundError:
            raise FileNotFoundError(f"{what}: no such file: {str(path)!r}") from None
        self.stream: Any = self.raw
        magic = self.raw.read(2)
        self.raw.seek(0)
        self.gzip = magic == b"\x1f\x8b"  # gzip magic, whatever the file is called
        if self.gzip:
            self.stream = gzip.GzipFile(fileobj=self.raw, mode="rb")

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.gzip:
            self.stream.close()
        self.raw.close()

    def _corrupt(self, exc: BaseException) -> FileFormatError:
        return FileFormatError(
            f"{self.what}: {self.name} is a gzip file but could not be decompressed "
            f"(truncated or corrupt: {exc})"
        )

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end)."""
        out = bytearray()
        try:
            while len(out) < n:
                chunk = self.stream.read(min(n - len(out), 1 << 20))
                if not chunk:
                    break
                out += chunk
        except (OSError, EOFError, zlib.error) as exc:
            raise self._corrupt(exc) from None
        return bytes(out)

    def readinto(self, buf: np.ndarray) -> int:
        """Fill ``buf`` (bytes) as far as the data goes; return the count read."""
        view = buf.data
        pos = 0
        try:
            while pos < len(view):
                got = self.stream.readinto(view[pos : pos + (1 << 20)])
                if not got:
                    break
                pos += got
        except (OSError, EOFError, zlib.error) as exc:
            raise self._corrupt(exc) from None
        return pos


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed) into an array of its own shape.

    The magic number, the element type, the dimensions and the file size are all
    checked: a truncated, padded or non-IDX file raises
    :class:`~nablagraph.io.FileFormatError` naming what was expected.  The data size
    ``prod(dims) · itemsize`` is computed exactly (Python integers) and compared with
    the file's real size before anything is allocated; a gzip file is decompressed as a
    stream only as far as its IDX header declares (one byte more, to detect a longer
    file), so a gzip bomb costs no more memory than the array it claims to hold.

    Parameters
    ----------
    path : str or path-like
        The file; gzip is detected from its content, not its name.

    Returns
    -------
    numpy.ndarray
        In native byte order.

    Raises
    ------
    FileFormatError
        Not IDX, truncated, padded, a corrupt gzip stream, more than 32 dimensions, or
        not a regular file (a FIFO, a device).
    OSError
        From the file system (``FileNotFoundError``, ``PermissionError``,
        ``IsADirectoryError``).
    """
    return _read_idx(path, "read_idx")


def _read_idx(path: PathLike, what: str) -> np.ndarray:
    with _Source(path, what) as src:
        return _parse_idx(src, what)


def _parse_idx(src: _Source, what: str) -> np.ndarray:
    """The array of an IDX file: header, then sizes checked, then the body read."""
    dims, dt = _idx_header(src, what)
    head = 4 + 4 * len(dims)
    _check_idx_size(src, what, dims, dt, head)
    return _idx_body(src, what, dims, dt, head)


def _idx_header(src: _Source, what: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The dimensions and dtype an IDX header declares (magic, type code, sizes)."""
    name = src.name
    head4 = src.read(4)
    if len(head4) < 4:
        raise FileFormatError(
            f"{what}: {name} has {len(head4)} bytes, too short for an IDX header (4-byte magic "
            "number, then the dimensions)"
        )
    if head4[0] != 0 or head4[1] != 0:
        raise FileFormatError(
            f"{what}: {name} is not an IDX file: its magic number starts with bytes "
            f"0x{head4[0]:02x} 0x{head4[1]:02x}, expected 0x00 0x00"
        )
    code, ndim = head4[2], head4[3]
    if code not in _IDX_TYPES:
        raise FileFormatError(
            f"{what}: {name} has IDX type code 0x{code:02x}; expected one of "
            f"{', '.join(f'0x{c:02x}' for c in _IDX_TYPES)}"
        )
    if ndim == 0:
        raise FileFormatError(f"{what}: {name} declares 0 dimensions")
    if ndim > MAX_DIMS:
        raise FileFormatError(f"{what}: {name} declares {ndim} dimensions; at most {MAX_DIMS} are supported")
    rest = src.read(4 * ndim)
    if len(rest) < 4 * ndim:
        have = (f"{4 + len(rest)} bytes" if not src.gzip
                else f"{4 + len(rest)} bytes once decompressed")
        raise FileFormatError(
            f"{what}: {name} is truncated: {have}, but its header alone needs {4 + 4 * ndim} "
            f"for {ndim} dimensions"
        )
    dims = tuple(int.from_bytes(rest[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
    return dims, _IDX_TYPES[code]


def _check_idx_size(src: _Source, what: str, dims: tuple[int, ...], dt: np.dtype[Any], head: int) -> None:
    """Refuse a file whose size cannot match its header, before anything is allocated."""
    name = src.name
    body = math.prod(dims) * dt.itemsize  # Python ints: no overflow
    expected = head + body
    if not src.gzip:
        # Checked against the real size (fstat) before anything is allocated.
        if src.size != expected:
            state = "truncated" if src.size < expected else "longer than its header says"
            raise FileFormatError(
                f"{what}: {name} is {state}: dimensions {dims} of {dt.name} need {expected} bytes, "
                f"the file has {src.size}"
            )
    elif body > _DEFLATE_RATIO * src.size + (1 << 16):
        raise FileFormatError(
            f"{what}: {name} is truncated: dimensions {dims} of {dt.name} need {expected} bytes, "
            f"more than its {src.size} compressed bytes can hold (deflate expands at most "
            f"{_DEFLATE_RATIO}:1)"
        )
    if shape_too_big(dims, dt.itemsize):
        raise FileFormatError(
            f"{what}: {name} declares dimensions {dims} of {dt.name}, beyond what an array can "
            "hold (its dimensions other than 0 multiply to more than 2**62 bytes)"
        )


def _idx_body(src: _Source, what: str, dims: tuple[int, ...], dt: np.dtype[Any], head: int) -> np.ndarray:
    """Read exactly the body the header declares, into a new array (native byte order)."""
    name = src.name
    body = math.prod(dims) * dt.itemsize
    expected = head + body
    arr = np.empty(dims, dtype=dt)
    got = src.readinto(arr.reshape(-1).view(np.uint8)) if body else 0
    if got < body:
        raise FileFormatError(
            f"{what}: {name} is truncated: dimensions {dims} of {dt.name} need {expected} bytes, "
            f"the {'decompressed ' if src.gzip else ''}file has {head + got}"
        )
    if src.read(1):  # decompression stops one byte past what the header declares
        raise FileFormatError(
            f"{what}: {name} is longer than its header says: dimensions {dims} of {dt.name} need "
            f"{expected} bytes, the {'decompressed ' if src.gzip else ''}file has more"
        )
    return arr.astype(dt.newbyteorder("="), copy=False)


def load_mnist_idx(
    images_path: PathLike,
    labels_path: PathLike,
    normalize: bool = True,
    flatten: bool = True,
    dtype: Any = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST-style image/label pair of IDX files the user has downloaded.

    For example ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``
    (plain or gzip).  Images must be unsigned bytes of shape ``(n, rows, cols)`` (magic
    number ``0x00000803``), labels unsigned bytes of shape ``(n,)`` (``0x00000801``),
    with the same ``n``.

    Parameters
    ----------
    images_path, labels_path : str or path-like
        The two files.
    normalize : bool
        Divide pixel values by 255 so they lie in ``[0, 1]``.
    flatten : bool
        Return images as rows of ``rows·cols`` inputs (``(n, 784)`` for MNIST), the
        shape ``Network([784, …])`` expects; otherwise ``(n, rows, cols)``.
    dtype : numpy dtype
        Of the images (``np.float32`` halves the memory).

    Returns
    -------
    (X, y)
        Images and integer labels (``int64``, shape ``(n,)``).

    Raises
    ------
    FileFormatError
        Either file is malformed (see :func:`read_idx`), or they are not MNIST images and
        labels of the same count.
    OSError
        From the file system.
    """
    what = "load_mnist_idx"
    images = _read_idx(images_path, what)
    labels = _read_idx(labels_path, what)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise FileFormatError(
            f"{what}: {str(images_path)!r} holds {images.dtype} data of shape {images.shape}; "
            "MNIST images are unsigned bytes of shape (n, rows, cols) (magic 0x00000803)"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise FileFormatError(
            f"{what}: {str(labels_path)!r} holds {labels.dtype} data of shape {labels.shape}; "
            "MNIST labels are unsigned bytes of shape (n,) (magic 0x00000801)"
        )
    if images.shape[0] != labels.shape[0]:
        raise FileFormatError(
            f"{what}: {images.shape[0]} images but {labels.shape[0]} labels; the two files "
            "must describe the same examples"
        )
    X = images.astype(dtype)
    if normalize:
        X /= 255.0
    if flatten:
        X = X.reshape(X.shape[0], X.shape[1] * X.shape[2])  # (not -1: 0 images is valid)
    return X, labels.astype(np.int64)
