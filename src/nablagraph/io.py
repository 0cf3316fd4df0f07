"""Weights on disk in the safetensors format, written and read with NumPy alone.

A safetensors file is::

    8 bytes      N, the header length (unsigned, little-endian)
    N bytes      a JSON object (UTF-8, padded with spaces):
                   {"W2": {"dtype": "F64", "shape": [30, 64], "data_offsets": [0, 15360]},
                    ...,
                    "__metadata__": {"key": "value", ...}}      (strings only)
    the rest     the tensors' raw little-endian bytes, C order, back to back;
                 data_offsets are relative to the start of this section

Loading parses JSON and copies bytes: it never runs code (no pickle).  Files written
here load with the ``safetensors`` package and vice versa, bit for bit.

:func:`save` writes a model's parameters under their notation names (``W2``, ``b2``,
…) with the architecture in ``__metadata__`` (sizes, activations, cost, dtype, the
naming convention, the library version) and two SHA-256 checksums: ``data_sha256``
of the data section and ``header_sha256`` of the rest of the header (canonical
JSON), so a hand-edited file is detected.  The file is written atomically: to a
temporary file in the same directory, flushed and ``fsync``-ed, then renamed over the
target with :func:`os.replace`, so a crash leaves either the old file or the new one.

:func:`load` rebuilds a :class:`~nablagraph.nn.Network` from the metadata;
:func:`load_into` fills an existing model.  Both validate the whole file and the
match with the model before writing a single value, so on any error the model is
left untouched.

Reading is safe on hostile files: non-regular files are refused without blocking,
every size is checked against the file's real size before anything is read or
allocated, JSON nesting is bounded and every field type-checked, so a reader raises
only :class:`FileFormatError` (malformed content), ``ShapeError`` / ``DTypeError`` /
``ConfigError`` (a valid file that does not fit) or ``OSError`` (the file system).

Imports: ``errors``, ``tensor``, ``nn``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from io import FileIO
from pathlib import Path
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, DTypeError, FileFormatError, ShapeError
from nablagraph.files import (  # re-exported: io's names since 0.1
    _atomic_write,
    _check_path,
    open_regular,
)
from nablagraph.nn.module import ACTIVATION_NAMES, Module, Network
from nablagraph.tensor import no_grad

__all__ = [
    "FileFormatError", "save", "load", "load_into", "save_file", "load_file", "read_file",
    "read_metadata", "NOTATION", "save_checkpoint", "read_checkpoint", "copy_parameters",
    "CHECKPOINT_PREFIX",
]

PathLike = str | os.PathLike[str]




#: safetensors dtype names and their (little-endian) NumPy dtypes.
DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_CODES = {(dt.kind, dt.itemsize): code for code, dt in DTYPES.items()}

#: The parameter naming convention recorded in every model file.
NOTATION = (
    "Nielsen's notation with examples as rows: layer 1 is the input (a^1 = x); weighted "
    "layer l = 2..L holds W{l} = w^l, shape (n_l, n_{l-1}), row j = the weights into neuron "
    "j of layer l, and b{l} = b^l, shape (n_l,); z^l = a^{l-1} (w^l)^T + b^l, a^l = σ(z^l)"
)

_MAX_HEADER = 100 * 1024 * 1024  # the safetensors limit
_RESERVED = (
    "format", "library", "library_version", "model", "parameters", "notation", "sizes",
    "activation", "output_activation", "cost", "dtype", "data_sha256", "header_sha256",
)


# ------------------------------------------------------------------ low level: write
def _code(name: str, arr: np.ndarray) -> str:
    code = _CODES.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise DTypeError(
            f"save_file: tensor {name!r} has dtype {arr.dtype}; the safetensors format here "
            f"supports {', '.join(str(d) for d in DTYPES.values())}"
        )
    return code


def _canonical(header: Mapping[str, Any]) -> bytes:
    """The header without ``header_sha256``, as canonical JSON (what that checksum covers)."""
    body = dict(header)
    meta = dict(body.get("__metadata__", {}))
    meta.pop("header_sha256", None)
    body["__metadata__"] = meta
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    header: dict[str, Any] = {}
    arrays: list[np.ndarray] = []
    offset = 0
    for name, value in tensors.items():
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
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        arrays.append(arr)
    views: list[memoryview] = [a.reshape(-1).view(np.uint8).data for a in arrays]
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
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data section starts 8-byte aligned
    _atomic_write(Path(path), [len(text).to_bytes(8, "little"), text, *views])


# ------------------------------------------------------------------ low level: read
#: Deepest nesting of JSON arrays/objects accepted in a header or in the checkpoint state.
MAX_JSON_DEPTH = 64
#: Most dimensions a tensor (or an IDX array) may declare.
MAX_DIMS = 32
#: Most values (array elements and object members, counted by their separators) in
#: a header or a checkpoint state: bounds the memory of the parsed JSON.
MAX_JSON_ITEMS = 1_000_000
_CHUNK = 1 << 20
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)


def _fail(path: str, why: str) -> FileFormatError:
    return FileFormatError(f"{path}: {why}")


#: NumPy refuses a shape whose dimensions other than 0 multiply (times the item size)
#: beyond this, even for an empty array such as ``(2**70, 0)``.
MAX_EXTENT = 2**62


def shape_too_big(shape: Iterable[int], itemsize: int) -> bool:
    """Whether NumPy would refuse to create an array of this shape (exact integers)."""
    return math.prod(max(d, 1) for d in shape) * itemsize > MAX_EXTENT


def _cut(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters (hostile headers hold huge values)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    return _cut(repr(value), limit)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {_short(k)}")
        out[k] = v
    return out


def read_into(f: FileIO, out: Any, where: str, h: Any = None) -> None:
    """Fill the writable buffer ``out`` from ``f`` in chunks (hashing them into ``h``)."""
    view = memoryview(out).cast("B")
    pos, n = 0, len(view)
    while pos < n:
        got = f.readinto(view[pos : min(n, pos + _CHUNK)])
        if not got:
            raise _fail(where, f"the file ended after {pos} of {n} bytes it was expected to hold "
                               "(it shrank while being read)")
        if h is not None:
            h.update(view[pos : pos + got])
        pos += got


def json_shape(raw: bytes | bytearray) -> tuple[int, int]:
    """``(depth, items)`` of UTF-8 JSON text, strings skipped, without recursion: the
    deepest nesting of ``[`` / ``{`` and the number of ``,`` separators (values after
    the first).  (UTF-8 never uses the bytes of ``"`` or ``\\`` inside a character.)"""
    body = _STRING.sub(b'""', raw)
    depth = peak = items = 0
    for i in range(0, len(body), _CHUNK):
        c = np.frombuffer(body, np.uint8, count=min(_CHUNK, len(body) - i), offset=i)
        step = (c == 0x5B).astype(np.int64) + (c == 0x7B) - (c == 0x5D) - (c == 0x7D)
        run = np.cumsum(step) + depth
        peak = max(peak, int(run.max()))
        depth = int(run[-1])
        items += int(np.count_nonzero(c == 0x2C))
    return peak, items


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_strings(value: Any, where: str, what: str) -> None:
    """Every string of parsed JSON (keys too) must be valid Unicode (no lone surrogates)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str) and _SURROGATE.search(v):
            raise _fail(where, f"{what} holds the string {_short(v)} with a lone surrogate "
                               "(\\ud800-\\udfff escape); not valid Unicode")


def _check_json_shape(raw: bytes | bytearray, where: str, what: str) -> None:
    depth, items = json_shape(raw)
    if depth > MAX_JSON_DEPTH:
        raise _fail(where, f"{what} nests JSON {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")
    if items >= MAX_JSON_ITEMS:
        raise _fail(where, f"{what} holds {items + 1} JSON values; at most {MAX_JSON_ITEMS} are allowed")


def _loads(text: str, where: str, what: str) -> Any:
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise _fail(where, f"{what} is not valid JSON ({_cut(str(exc), 200)}); the file is "
                           "corrupt or was edited") from None
    if _SURROGATE_ESCAPE.search(text):  # lone surrogates can only come from \uXXXX escapes
        _check_strings(value, where, what)
    return value


def parse_json(text: str, where: str, what: str) -> Any:
    """``json.loads`` with the nesting and the size bounded, duplicate keys refused and
    strings checked.

    At most :data:`MAX_JSON_DEPTH` levels and :data:`MAX_JSON_ITEMS` values, both
    counted before parsing, so memory stays a small multiple of the text's size.
    Raises :class:`FileFormatError` (never ``RecursionError`` or ``UnicodeError``).
    """
    _check_json_shape(text.encode("utf-8", "surrogatepass"), where, what)
    return _loads(text, where, what)


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


def _validate(header: dict[str, Any], data_len: int, where: str) -> list[tuple[str, np.dtype[Any], tuple[int, ...], int, int]]:
    """Check every entry's types, sizes and byte range against the data section's real length."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _fail(where, "__metadata__ must map strings to strings")
    entries = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not name:
            raise _fail(where, "a tensor has an empty name")
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise _fail(where, f"tensor {_short(name)}: expected an entry with exactly dtype, shape and "
                               f"data_offsets, got {_short(e)}")
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(code, str) or code not in DTYPES:
            raise _fail(where, f"tensor {_short(name)} has dtype {_short(code)}; supported here: "
                               f"{', '.join(DTYPES)} (NumPy has no {_short(code)})")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _fail(where, f"tensor {_short(name)} has shape {_short(shape)}; expected a list of "
                               "non-negative integers")
        if len(shape) > MAX_DIMS:
            raise _fail(where, f"tensor {_short(name)} has {len(shape)} dimensions; at most {MAX_DIMS} "
                               "are supported")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            raise _fail(where, f"tensor {_short(name)} has data_offsets {_short(offs)}; expected [begin, end] "
                               "with 0 <= begin <= end")
        dt = DTYPES[code]
        nbytes = math.prod(shape) * dt.itemsize  # Python ints: no overflow
        if offs[1] - offs[0] != nbytes:
            raise _fail(where, f"tensor {_short(name)}: shape {_short(tuple(shape))} of {code} needs "
                               f"{nbytes} bytes but data_offsets {_short(offs)} span {offs[1] - offs[0]}; "
                               "the header was edited or is corrupt")
        if shape_too_big(shape, dt.itemsize):
            raise _fail(where, f"tensor {_short(name)} has shape {_short(tuple(shape))}, beyond what an "
                               "array can hold (its dimensions other than 0 multiply to more than 2**62 bytes)")
        entries.append((name, dt, tuple(shape), offs[0], offs[1]))
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
    entries.sort(key=lambda t: t[3])  # file order
    return entries


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


# ------------------------------------------------------------------ models
def _version() -> str:
    import nablagraph

    return str(nablagraph.__version__)


def _model_metadata(model: Module) -> dict[str, str]:
    names = [n for n, _ in model.named_parameters()]
    meta = {
        "format": "np",
        "library": "nablagraph",
        "library_version": _version(),
        "model": type(model).__name__,
        "parameters": json.dumps(names),
        "notation": NOTATION,
    }
    if isinstance(model, Network):
        meta.update({
            "sizes": json.dumps(model.sizes),
            "activation": model.hidden_activation,
            "output_activation": model.output_activation,
            "cost": model.cost_name,
            "dtype": model.dtype.name,
        })
    return meta


def save(model: Module, path: PathLike, metadata: Mapping[str, str] | None = None) -> None:
    """Save a model's parameters and architecture to a safetensors file, atomically.

    Parameters
    ----------
    model : Module
        Its ``named_parameters()`` (``W2``, ``b2``, … for a ``Network``) become the
        tensors, bit for bit.
    path : str or path-like
        The file (conventionally ``*.safetensors``); replaced atomically if it exists.
        A symbolic link is followed: the file it points to is replaced (atomically)
        and the link stays.  Its directory must exist.
    metadata : mapping of str to str, optional
        Extra entries for ``__metadata__`` (they may not reuse the library's keys).

    Raises
    ------
    ConfigError
        Not a ``Module``, no parameters, a reserved or non-string metadata entry, a
        lone surrogate in one, or a path that is not a ``str``/``os.PathLike``.
    FileFormatError
        The path is a FIFO, a device or a socket (it is never replaced).
    IsADirectoryError, FileNotFoundError, OSError
        The path is a folder, its folder does not exist, or it is a link loop.

    Examples
    --------
    >>> import numpy as np, tempfile, os, nablagraph as ng
    >>> from nablagraph import io
    >>> net = ng.nn.Network([2, 3, 1], seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "net.safetensors")
    >>> io.save(net, path)
    >>> net2 = io.load(path)
    >>> net2.sizes, np.array_equal(net2.layers[0].W.data, net.layers[0].W.data)
    ([2, 3, 1], True)
    """
    if not isinstance(model, Module):
        raise ConfigError(f"save: expected a nablagraph Module, got {type(model).__name__}")
    named = model.named_parameters()
    if not named:
        raise ConfigError(f"save: {type(model).__name__} has no parameters to save")
    _check_path(path, "save")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ConfigError(f"save: metadata must be a mapping of str to str, got {type(metadata).__name__}")
    meta = _model_metadata(model)
    for k in metadata or {}:
        if k in _RESERVED:
            raise ConfigError(f"save: metadata key {k!r} is reserved for the library; choose another name")
    meta.update(metadata or {})
    save_file({n: t.data for n, t in named}, path, meta, checksum=True)


def _describe(meta: Mapping[str, str]) -> str:
    if "sizes" in meta:
        return (f"Network(sizes={meta['sizes']}, activation={meta.get('activation')}, "
                f"output_activation={meta.get('output_activation')}, cost={meta.get('cost')})")
    return meta.get("model", "an unknown model")


def _meta_sizes(meta: Mapping[str, str], where: str) -> list[int]:
    """The ``sizes`` of the metadata: a JSON list of at least two positive integers."""
    sizes = parse_json(meta["sizes"], where, "__metadata__ sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(type(n) is int and n >= 1 for n in sizes)):
        raise _fail(where, f"__metadata__ sizes {_short(meta['sizes'])} is not a JSON list of at least "
                           "two positive integers")
    return sizes


def _check_declared(sizes: list[int], tensors: Mapping[str, np.ndarray], meta: Mapping[str, str], where: str) -> None:
    """The architecture the metadata declares must be the tensors present (before building it)."""
    want: dict[str, tuple[int, ...]] = {}
    for l in range(2, len(sizes) + 1):
        want[f"W{l}"] = (sizes[l - 1], sizes[l - 2])
        want[f"b{l}"] = (sizes[l - 1],)
        if len(want) > len(tensors):
            break
    if set(want) != set(tensors):
        raise _fail(where, f"__metadata__ sizes {_short(sizes)} need the parameters "
                           f"{_cut(', '.join(want), 80)} but the file holds {_cut(', '.join(tensors), 80)}; "
                           "the metadata does not describe the tensors")
    for k, shape in want.items():
        if tensors[k].shape != shape:
            raise _fail(where, f"__metadata__ sizes {_short(sizes)} need {k} of shape {shape} but the "
                               f"file holds {k} of shape {tensors[k].shape}; the metadata does not "
                               "describe the tensors")
    dtype = meta.get("dtype", "float64")
    if dtype not in _FLOAT_NAMES or any(t.dtype.name != dtype for t in tensors.values()):
        found = sorted({t.dtype.name for t in tensors.values()})
        raise _fail(where, f"__metadata__ dtype {_short(dtype)} does not match the tensors ({', '.join(found)}); "
                           f"a Network holds one of {', '.join(_FLOAT_NAMES)}")


_FLOAT_NAMES = ("float16", "float32", "float64")


def _check_match(model: Module, tensors: Mapping[str, np.ndarray], meta: Mapping[str, str], where: str) -> None:
    """Everything that must hold before a single value is copied."""
    if isinstance(model, Network) and "sizes" in meta:
        sizes = _meta_sizes(meta, where)
        if sizes != model.sizes:
            raise ShapeError(f"load_into: {where} holds a Network with sizes {_short(sizes, 200)}, the "
                             f"model has sizes {model.sizes}")
        for key, have in (("activation", model.hidden_activation),
                          ("output_activation", model.output_activation), ("cost", model.cost_name)):
            if key in meta and meta[key] != have:
                raise ConfigError(f"load_into: {where} was saved from {_cut(_describe(meta), 300)} but "
                                  f"the model has {key}={have}; build the model with {key}={_short(meta[key])}")
    params = dict(model.named_parameters())
    missing = [k for k in params if k not in tensors]
    unexpected = [k for k in tensors if k not in params]
    if missing or unexpected:
        parts = ([f"missing from the file: {_cut(', '.join(missing), 200)}"] if missing else []) + (
            [f"not in the model: {_cut(', '.join(unexpected), 200)}"] if unexpected else [])
        raise ConfigError(f"load_into: the parameters of {where} do not match the model "
                          f"({type(model).__name__}): {'; '.join(parts)}")
    for k, t in params.items():
        arr = tensors[k]
        if arr.shape != t.shape:
            raise ShapeError(f"load_into: {k} has shape {arr.shape} in {where} but {t.shape} in the model")
        if arr.dtype != t.dtype:
            raise DTypeError(f"load_into: {k} is {arr.dtype} in {where} but {t.dtype} in the model; "
                             f"build the model with dtype=np.{arr.dtype}")


def _copy_in(model: Module, tensors: Mapping[str, np.ndarray]) -> None:
    # copy_ marks each parameter as changed in place, so a graph recorded before the
    # load cannot backpropagate through the old values.
    with no_grad():
        for k, t in model.named_parameters():
            t.copy_(tensors[k])


#: Tensors whose names start with this are training state in a checkpoint, not parameters.
CHECKPOINT_PREFIX = "fit/"


def _parameters_only(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v for k, v in tensors.items() if not k.startswith(CHECKPOINT_PREFIX)}


def save_checkpoint(
    model: Module, path: PathLike, arrays: Mapping[str, np.ndarray], state: Mapping[str, Any]
) -> None:
    """Save a model and the training state to resume it, in one safetensors file, atomically.

    The file is a model file like :func:`save` writes (so :func:`load` and
    :func:`load_into` read it; they skip the state) plus the state: the arrays (optimizer
    buffers) as tensors named ``fit/<name>`` and everything else (epoch, RNG state,
    history, optimizer counters) as JSON in the ``checkpoint`` metadata string.  Never
    pickle.  One ``os.replace`` makes the whole checkpoint appear at once: a crash while
    writing leaves the previous checkpoint as it was.

    Parameters
    ----------
    model : Module
        Its parameters are saved as by :func:`save`.
    path : str or path-like
        The checkpoint file.
    arrays : mapping of str to ndarray
        State arrays, saved bit for bit.
    state : mapping
        JSON-serialisable state (floats round-trip exactly).
    """
    if not isinstance(model, Module):
        raise ConfigError(f"save_checkpoint: expected a nablagraph Module, got {type(model).__name__}")
    meta = _model_metadata(model)
    meta["checkpoint"] = json.dumps(state, allow_nan=True)
    tensors = {n: t.data for n, t in model.named_parameters()}
    tensors.update({CHECKPOINT_PREFIX + k: v for k, v in arrays.items()})
    save_file(tensors, path, meta, checksum=True)


def read_checkpoint(
    model: Module, path: PathLike
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a checkpoint for ``model``: ``(parameters, arrays, state)``.

    Nothing is copied into the model (call :func:`copy_parameters` when the rest of the
    state has been accepted too).  The state JSON is parsed with its nesting bounded
    and its strings checked, like the header.

    Raises
    ------
    FileFormatError
        Not a checkpoint, or truncated, corrupt, edited, malformed, not a regular file.
    ShapeError, DTypeError, ConfigError
        The checkpoint holds a different architecture.
    OSError
        From the file system (``FileNotFoundError``, ``PermissionError``, …).
    """
    tensors, meta = _read_file(path, "read_checkpoint")
    where = repr(str(path))
    if "checkpoint" not in meta:
        raise _fail(where, "it is a model file without training state (no 'checkpoint' in "
                           "__metadata__); resume from a file written by fit(checkpoint_every=...)")
    state = parse_json(meta["checkpoint"], where, "the checkpoint state")
    if not isinstance(state, dict):
        raise _fail(where, "the checkpoint state is not a JSON object")
    params = _parameters_only(tensors)
    _check_match(model, params, meta, where)
    n = len(CHECKPOINT_PREFIX)
    arrays = {k[n:]: v for k, v in tensors.items() if k.startswith(CHECKPOINT_PREFIX)}
    return params, arrays, state


def copy_parameters(model: Module, tensors: Mapping[str, np.ndarray]) -> None:
    """Copy validated parameters (from :func:`read_checkpoint`) into ``model``, in place."""
    _copy_in(model, tensors)


def load_into(model: Module, path: PathLike) -> None:
    """Fill an existing model's parameters from a file, in place.

    The file is read and validated completely (format, checksums) and matched against
    the model (architecture, parameter names, shapes, dtypes) before any value is
    copied: on any error the model is unchanged.

    Raises
    ------
    FileFormatError
        The file is truncated, corrupt, edited, malformed, not safetensors, or not a
        regular file (a FIFO, a device).
    ShapeError, DTypeError, ConfigError
        A valid file of a different architecture (sizes, shapes, dtype, activations,
        parameter names).
    OSError
        From the file system (``FileNotFoundError``, ``PermissionError``,
        ``IsADirectoryError``, …).
    """
    if not isinstance(model, Module):
        raise ConfigError(f"load_into: expected a nablagraph Module, got {type(model).__name__}")
    tensors, meta = _read_file(path, "load_into")
    tensors = _parameters_only(tensors)
    _check_match(model, tensors, meta, repr(str(path)))
    _copy_in(model, tensors)


def load(path: PathLike) -> Network:
    """Rebuild the :class:`~nablagraph.nn.Network` saved in a file by :func:`save`.

    The architecture comes from ``__metadata__`` (sizes, activations, cost, dtype);
    the weights are the file's, bit for bit.  For any other module, build it and use
    :func:`load_into`.

    The declared architecture is checked against the tensors actually in the file
    (``W{l}`` of shape ``(n_l, n_{l-1})`` and ``b{l}`` of shape ``(n_l,)`` for
    ``l = 2 … L``, and the dtype) *before* any ``Network`` is built, so memory stays
    within the file's size whatever the metadata claims.

    Raises
    ------
    FileFormatError
        The file is truncated, corrupt, edited, malformed (including metadata that does
        not describe its tensors), not safetensors, or not a regular file.
    ConfigError
        A valid file that holds no nablagraph ``Network`` (use :func:`load_into`), a
        custom activation, or an architecture ``Network`` refuses (an unknown cost).
    OSError
        From the file system (``FileNotFoundError``, ``PermissionError``,
        ``IsADirectoryError``, …).
    """
    tensors, meta = _read_file(path, "load")
    tensors = _parameters_only(tensors)
    where = repr(str(path))
    if meta.get("library") != "nablagraph" or "sizes" not in meta:
        saved = meta.get("model")
        hint = (f"it holds a {_cut(saved)}, not a Network" if saved and saved != "Network"
                else "it has no nablagraph Network metadata")
        raise ConfigError(f"load: cannot rebuild a model from {where}: {hint}; build the model "
                          "yourself and call load_into(model, path)")
    missing = [k for k in ("activation", "output_activation", "cost") if k not in meta]
    if missing:
        raise _fail(where, f"the Network metadata is incomplete: {', '.join(missing)} missing from "
                           "__metadata__")
    kwargs = {k: meta[k] for k in ("activation", "output_activation", "cost")}
    sizes = _meta_sizes(meta, where)
    # The declared architecture must be the tensors present before anything is built,
    # so a small file cannot make us allocate a huge network.
    _check_declared(sizes, tensors, meta, where)
    dtype = np.dtype(meta.get("dtype", "float64"))
    for key in ("activation", "output_activation"):
        if kwargs[key] not in ACTIVATION_NAMES:
            raise ConfigError(f"load: {where} uses the custom activation {_short(kwargs[key])} ({key}); "
                              "build the Network with that function and call load_into(model, path)")
    net = Network(sizes, dtype=dtype, seed=0, **kwargs)
    _check_match(net, tensors, meta, where)
    _copy_in(net, tensors)
    return net
