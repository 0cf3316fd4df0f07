"""Writing arrays to a safetensors file, atomically (:func:`save_file`).

Imports: ``errors``, ``files``, ``io.format``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, DTypeError, ShapeError
from nablagraph.files import _atomic_write, _check_path
from nablagraph.io.format import _CODES, DTYPES, PathLike, _canonical

__all__ = ["save_file"]


def _code(name: str, arr: np.ndarray) -> str:
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise DTypeError(
            f"save_file: tensor {name!r} has dtype {arr.dtype}; the safetensors format here "
            f"supports {', '.join(str(d) for d in DTYPES.values())}"
        )
    return code


def _check_text(text: str, what: str) -> None:
    """JSON headers are UTF-8: a lone surrogate (``"\\udc80"``) cannot be written."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"save_file: {what} holds a lone surrogate {text[exc.start]!r} at index {exc.start}, "
            "which UTF-8 cannot encode; names and metadata must be valid Unicode text "
            "(decode file names with errors='replace' first)"
        ) from None


def save_file(
    tensors: Mapping[str, np.ndarray],
    path: PathLike,
    metadata: Mapping[str, str] | None = None,
    checksum: bool = True,
) -> None:
    """Write arrays to a safetensors file, atomically (the low-level writer behind :func:`save`).

    Parameters
    ----------
    tensors : mapping of str to ndarray
        Written in this order.
    path : str or path-like
        The target; its directory must exist.
    metadata : mapping of str to str, optional
        Goes to ``__metadata__``.
    checksum : bool
        Add ``data_sha256`` and ``header_sha256`` to the metadata (verified on load).
        With ``False`` none are written, and any in ``metadata`` (say, copied from
        another file by :func:`read_file`) are left out: they would not match.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from nablagraph.io import save_file, load_file
    >>> path = os.path.join(tempfile.mkdtemp(), "t.safetensors")
    >>> save_file({"W2": np.eye(2)}, path)
    >>> load_file(path)["W2"]
    array([[1., 0.],
           [0., 1.]])
    """
    _check_path(path, "save_file")
    if not isinstance(tensors, Mapping):
        raise ConfigError(f"save_file: tensors must be a mapping of names to arrays, got {type(tensors).__name__}")
    meta = _text_metadata(metadata)
    header, arrays = _layout(tensors)
    views: list[memoryview] = [a.reshape(-1).view(np.uint8).data for a in arrays]
    _add_metadata(header, meta, views, checksum)
    _atomic_write(Path(path), _encode(header, views))


def _text_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of ``metadata``, checked to map valid Unicode strings to strings."""
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ConfigError(f"save_file: metadata must be a mapping of str to str, got {type(metadata).__name__}")
    meta: dict[str, str] = {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError(
                f"save_file: metadata must map strings to strings, got {k!r}: {type(v).__name__}"
            )
        _check_text(k, "a metadata key")
        _check_text(v, f"the metadata value of {k!r}")
        meta[k] = v
    return meta


def _c_array(name: Any, value: Any) -> tuple[str, np.ndarray]:
    """``(dtype code, array)`` of one tensor: its name checked, the array little-endian, C order."""
    if not isinstance(name, str) or not name or name == "__metadata__":
        raise ConfigError(f"save_file: tensor names must be non-empty strings other than "
                          f"'__metadata__', got {name!r}")
    _check_text(name, f"the tensor name {name!r}")
    try:
        arr = np.asarray(value)
    except ValueError:  # a ragged nested list
        raise ShapeError(f"save_file: tensor {name!r} is ragged (rows of different lengths); "
                         "give an array with one shape") from None
    code = _code(name, arr)
    arr = np.asarray(arr, dtype=DTYPES[code])
    if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
        arr = np.array(arr, order="C")
    return code, arr


def _layout(tensors: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
    """The header's tensor entries, back to back in the given order, and the arrays to write."""
    header: dict[str, Any] = {}
    arrays: list[np.ndarray] = []
    offset = 0
    for name, value in tensors.items():
        code, arr = _c_array(name, value)
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    return header, arrays


def _add_metadata(header: dict[str, Any], meta: dict[str, str], views: list[memoryview], checksum: bool) -> None:
    """Put ``meta`` in the header as ``__metadata__``, with fresh checksums or none at all."""
    if checksum:
        h = hashlib.sha256()
        for view in views:
            h.update(view)
        meta["data_sha256"] = h.hexdigest()
        meta.pop("header_sha256", None)
        header["__metadata__"] = meta
        meta["header_sha256"] = hashlib.sha256(_canonical(header)).hexdigest()
    else:
        meta.pop("data_sha256", None)
        meta.pop("header_sha256", None)
    if meta:
        header["__metadata__"] = meta


def _encode(header: dict[str, Any], views: list[memoryview]) -> list[bytes | memoryview]:
    """The file's bytes in order: the header's length, the header, the tensors' bytes."""
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data section starts 8-byte aligned
    return [len(text).to_bytes(8, "little"), text, *views]
