"""Reading a safetensors file, validated whole before anything is returned (:func:`read_file`).

Imports: ``errors``, ``files``, ``io.format``, ``io.limits``.
"""

from __future__ import annotations

import hashlib
import math
from io import FileIO
from typing import Any

import numpy as np

from nablagraph.files import open_regular
from nablagraph.io.format import _MAX_HEADER, DTYPES, PathLike, _canonical
from nablagraph.io.limits import (
    MAX_DIMS,
    _check_json_shape,
    _fail,
    _loads,
    _short,
    read_into,
    shape_too_big,
)

__all__ = ["read_file", "load_file", "read_metadata"]


def _read_header(f: FileIO, size: int, where: str) -> tuple[dict[str, Any], int]:
    """Parse and validate the header of an open file of ``size`` bytes; return it and the data start.

    The header length is checked against the file's real size before it is read.
    """
    if size < 8:
        raise _fail(where, f"{size} bytes is too short for a safetensors file (it starts with an "
                           "8-byte header length); the file is truncated or not safetensors")
    first = bytearray(8)
    read_into(f, first, where)
    n = int.from_bytes(first, "little")
    if n > _MAX_HEADER or n > size - 8:
        raise _fail(where, f"the first 8 bytes give a header length of {n} bytes but "
                           f"{size - 8} bytes follow; this is not a safetensors file, or it is truncated")
    raw = bytearray(n)
    read_into(f, raw, where)
    try:
        if not raw.startswith(b"{"):
            raw.decode("utf-8")  # (to say which of the two it is)
            raise _fail(where, "the header does not start with '{'; not a safetensors file, or corrupt")
        _check_json_shape(raw, where, "the header")  # before decoding: one copy less
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(where, f"the header is not UTF-8 ({exc}); not a safetensors file, or corrupt") from None
    del raw
    header = _loads(text, where, "the header")
    if not isinstance(header, dict):
        raise _fail(where, "the header is not a JSON object")
    return header, 8 + n


#: One tensor of a validated header: ``(name, dtype, shape, begin, end)`` (data-section offsets).
_Entry = tuple[str, np.dtype[Any], tuple[int, ...], int, int]


def _validate(header: dict[str, Any], data_len: int, where: str) -> list[_Entry]:
    """Check every entry's types, sizes and byte range against the data section's real length."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _fail(where, "__metadata__ must map strings to strings")
    entries = [_entry(name, e, where) for name, e in header.items() if name != "__metadata__"]
    _check_tiling(entries, data_len, where)
    entries.sort(key=lambda t: t[3])  # file order
    return entries


def _entry(name: str, e: Any, where: str) -> _Entry:
    """One tensor's entry, its fields type-checked and its byte range matched to its shape."""
    if not name:
        raise _fail(where, "a tensor has an empty name")
    if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
        raise _fail(where, f"tensor {_short(name)}: expected an entry with exactly dtype, shape and "
                           f"data_offsets, got {_short(e)}")
    code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
    _check_dtype(name, code, where)
    _check_shape(name, shape, where)
    _check_offsets(name, offs, where)
    dt = DTYPES[code]
    nbytes = math.prod(shape) * dt.itemsize  # Python ints: no overflow
    if offs[1] - offs[0] != nbytes:
        raise _fail(where, f"tensor {_short(name)}: shape {_short(tuple(shape))} of {code} needs "
                           f"{nbytes} bytes but data_offsets {_short(offs)} span {offs[1] - offs[0]}; "
                           "the header was edited or is corrupt")
    if shape_too_big(shape, dt.itemsize):
        raise _fail(where, f"tensor {_short(name)} has shape {_short(tuple(shape))}, beyond what an "
                           "array can hold (its dimensions other than 0 multiply to more than 2**62 bytes)")
    return (name, dt, tuple(shape), offs[0], offs[1])


def _check_dtype(name: str, code: Any, where: str) -> None:
    if not isinstance(code, str) or code not in DTYPES:
        raise _fail(where, f"tensor {_short(name)} has dtype {_short(code)}; supported here: "
                           f"{', '.join(DTYPES)} (NumPy has no {_short(code)})")


def _check_shape(name: str, shape: Any, where: str) -> None:
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _fail(where, f"tensor {_short(name)} has shape {_short(shape)}; expected a list of "
                           "non-negative integers")
    if len(shape) > MAX_DIMS:
        raise _fail(where, f"tensor {_short(name)} has {len(shape)} dimensions; at most {MAX_DIMS} "
                           "are supported")


def _check_offsets(name: str, offs: Any, where: str) -> None:
    if (not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int for o in offs)
            or not 0 <= offs[0] <= offs[1]):
        raise _fail(where, f"tensor {_short(name)} has data_offsets {_short(offs)}; expected [begin, end] "
                           "with 0 <= begin <= end")


def _check_tiling(entries: list[_Entry], data_len: int, where: str) -> None:
    """The byte ranges must cover the data section ``[0, data_len)`` back to back."""
    pos = 0
    for name, _, _, b, e in sorted(entries, key=lambda t: (t[3], t[4])):
        if b != pos:
            what = "overlaps the previous tensor" if b < pos else f"leaves a gap of {b - pos} bytes"
            raise _fail(where, f"tensor {_short(name)} starts at byte {b} of the data section and {what}; "
                               "tensors must be back to back")
        pos = e
    if pos != data_len:
        if pos > data_len:
            raise _fail(where, f"the header describes {pos} bytes of tensor data but the file holds "
                               f"{data_len}; the file is truncated")
        raise _fail(where, f"the file holds {data_len - pos} bytes after the last tensor; it is "
                           "corrupt or not a plain safetensors file")


def _verify_header(header: dict[str, Any], where: str) -> None:
    meta = header.get("__metadata__", {})
    if meta.get("library") == "nablagraph" and not ("data_sha256" in meta and "header_sha256" in meta):
        raise _fail(where, "written by nablagraph but its checksums (data_sha256, header_sha256) are "
                           "missing from __metadata__; the header was edited")
    if "header_sha256" in meta:
        got = hashlib.sha256(_canonical(header)).hexdigest()
        if got != meta["header_sha256"]:
            raise _fail(where, f"header checksum mismatch (stored {meta['header_sha256'][:16]}…, "
                               f"computed {got[:16]}…): the header was edited or is corrupt")


def _verify_data(header: dict[str, Any], digest: str, where: str) -> None:
    meta = header.get("__metadata__", {})
    if "data_sha256" in meta and digest != meta["data_sha256"]:
        raise _fail(where, f"data checksum mismatch (stored {meta['data_sha256'][:16]}…, computed "
                           f"{digest[:16]}…): the tensor bytes were changed or are corrupt")


def read_file(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(tensors, metadata)``, after validating all of it.

    Every size is checked against the file's real size before anything is read or
    allocated: the 8-byte header length ``N <= size - 8`` (and ``N <=`` 100 MiB), the
    header's JSON nesting (at most :data:`MAX_JSON_DEPTH`), each tensor's
    ``prod(shape) · itemsize = end - begin`` (exact integers, at most
    :data:`MAX_DIMS` dimensions) and the byte ranges, which must tile the data section
    ``[0, size - 8 - N)`` exactly.  Memory is then at most the file's size.  Checksums in
    the metadata (``data_sha256``, ``header_sha256``) are verified when present.
    Arrays come back writeable, in native byte order, in file order.

    Raises
    ------
    FileFormatError
        The file is truncated, corrupt, edited, not safetensors, or not a regular file
        (a FIFO, a device such as ``/dev/zero``).
    OSError
        From the file system: ``FileNotFoundError``, ``PermissionError``,
        ``IsADirectoryError``, …
    """
    return _read_file(path, "read_file")


def _read_file(path: PathLike, what: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    where = repr(str(path))
    f, size = open_regular(path, what)
    with f:
        header, start = _read_header(f, size, where)
        entries = _validate(header, size - start, where)
        _verify_header(header, where)
        h = hashlib.sha256()
        tensors: dict[str, np.ndarray] = {}
        for name, dt, shape, _, _ in entries:
            arr = np.empty(shape, dtype=dt)
            if arr.nbytes:
                read_into(f, arr.reshape(-1).view(np.uint8), where, h)
            tensors[name] = arr.astype(dt.newbyteorder("="), copy=False)
    _verify_data(header, h.hexdigest(), where)
    by_name = {name: tensors[name] for name in header if name != "__metadata__"}
    return by_name, dict(header.get("__metadata__", {}))


def load_file(path: PathLike) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file by name (like ``safetensors.numpy.load_file``).

    Validated as by :func:`read_file`, and raises what it raises.
    """
    return read_file(path)[0]


def read_metadata(path: PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (checksums verified).

    Validated as by :func:`read_file`, and raises what it raises.
    """
    return read_file(path)[1]
