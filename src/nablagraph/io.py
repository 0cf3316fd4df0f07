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

Imports: ``errors``, ``tensor``, ``nn``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, DTypeError, FileFormatError, ShapeError
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


def _atomic_write(path: Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` to a temporary file beside ``path``, fsync, rename it over ``path``.

    A symbolic link is followed: the file it points to is replaced and the link stays.
    On any exception, including ``KeyboardInterrupt`` (and SIGTERM where the caller
    turns it into one, as the ``nablagraph`` command does), the temporary file is
    removed and ``path`` is left as it was.
    """
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"save: the directory {str(directory)!r} does not exist")
    tmp = directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd: int | None = None
    try:
        # Inside the try: an interrupt just after the file is created removes it too.
        # 0o666 lets the umask decide the final permissions, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if not (fd is None and isinstance(exc, FileExistsError)):  # never another's file
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise
    # Make the rename itself durable (POSIX; directories cannot be opened on Windows).
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


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
    meta: dict[str, str] = {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError(
                f"save_file: metadata must map strings to strings, got {k!r}: {type(v).__name__}"
            )
        meta[k] = v
    header: dict[str, Any] = {}
    arrays: list[np.ndarray] = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ConfigError(f"save_file: tensor names must be non-empty strings other than "
                              f"'__metadata__', got {name!r}")
        arr = np.asarray(value)
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
    if meta:
        header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-(8 + len(text)) % 8)  # the data section starts 8-byte aligned
    _atomic_write(Path(path), [len(text).to_bytes(8, "little"), text, *views])


# ------------------------------------------------------------------ low level: read
def _fail(path: str, why: str) -> FileFormatError:
    return FileFormatError(f"{path}: {why}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _read_header(path: PathLike, buf: bytes | None = None) -> tuple[dict[str, Any], int, bytes | None]:
    """Parse and validate the header; return it, the data start and the buffer."""
    where = repr(str(path))
    if buf is None:
        with open(path, "rb") as f:
            buf = f.read()
    size = len(buf)
    if size < 8:
        raise _fail(where, f"{size} bytes is too short for a safetensors file (it starts with an "
                           "8-byte header length); the file is truncated or not safetensors")
    n = int.from_bytes(buf[:8], "little")
    if n > _MAX_HEADER or n > size - 8:
        raise _fail(where, f"the first 8 bytes give a header length of {n} bytes but "
                           f"{size - 8} bytes follow; this is not a safetensors file, or it is truncated")
    raw = buf[8 : 8 + n]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(where, f"the header is not UTF-8 ({exc}); not a safetensors file, or corrupt") from None
    if not text.startswith("{"):
        raise _fail(where, "the header does not start with '{'; not a safetensors file, or corrupt")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        raise _fail(where, f"the header is not valid JSON ({exc}); the file is corrupt or was edited") from None
    if not isinstance(header, dict):
        raise _fail(where, "the header is not a JSON object")
    return header, 8 + n, buf


def _validate(header: dict[str, Any], data_len: int, where: str) -> list[tuple[str, np.dtype[Any], tuple[int, ...], int, int]]:
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _fail(where, "__metadata__ must map strings to strings")
    entries = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise _fail(where, f"tensor {name!r}: expected an entry with exactly dtype, shape and "
                               f"data_offsets, got {e!r}")
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if code not in DTYPES:
            raise _fail(where, f"tensor {name!r} has dtype {code!r}; supported here: "
                               f"{', '.join(DTYPES)} (NumPy has no {code!r})")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise _fail(where, f"tensor {name!r} has shape {shape!r}; expected a list of non-negative integers")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(type(o) is int for o in offs)
                or not 0 <= offs[0] <= offs[1]):
            raise _fail(where, f"tensor {name!r} has data_offsets {offs!r}; expected [begin, end] "
                               "with 0 <= begin <= end")
        dt = DTYPES[code]
        nbytes = math.prod(shape) * dt.itemsize
        if offs[1] - offs[0] != nbytes:
            raise _fail(where, f"tensor {name!r}: shape {tuple(shape)} of {code} needs {nbytes} bytes "
                               f"but data_offsets {offs} span {offs[1] - offs[0]}; the header was edited or is corrupt")
        entries.append((name, dt, tuple(shape), offs[0], offs[1]))
    pos = 0
    for name, _, _, b, e in sorted(entries, key=lambda t: (t[3], t[4])):
        if b != pos:
            what = "overlaps the previous tensor" if b < pos else f"leaves a gap of {b - pos} bytes"
            raise _fail(where, f"tensor {name!r} starts at byte {b} of the data section and {what}; "
                               "tensors must be back to back")
        pos = e
    if pos != data_len:
        if pos > data_len:
            raise _fail(where, f"the header describes {pos} bytes of tensor data but the file holds "
                               f"{data_len}; the file is truncated")
        raise _fail(where, f"the file holds {data_len - pos} bytes after the last tensor; it is "
                           "corrupt or not a plain safetensors file")
    return entries


def _verify(header: dict[str, Any], data: memoryview, where: str) -> None:
    meta = header.get("__metadata__", {})
    if meta.get("library") == "nablagraph" and not ("data_sha256" in meta and "header_sha256" in meta):
        raise _fail(where, "written by nablagraph but its checksums (data_sha256, header_sha256) are "
                           "missing from __metadata__; the header was edited")
    if "header_sha256" in meta:
        got = hashlib.sha256(_canonical(header)).hexdigest()
        if got != meta["header_sha256"]:
            raise _fail(where, f"header checksum mismatch (stored {meta['header_sha256'][:16]}…, "
                               f"computed {got[:16]}…): the header was edited or is corrupt")
    if "data_sha256" in meta:
        got = hashlib.sha256(data).hexdigest()
        if got != meta["data_sha256"]:
            raise _fail(where, f"data checksum mismatch (stored {meta['data_sha256'][:16]}…, computed "
                               f"{got[:16]}…): the tensor bytes were changed or are corrupt")


def read_file(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read a safetensors file: ``(tensors, metadata)``, after validating all of it.

    Checksums in the metadata (``data_sha256``, ``header_sha256``) are verified when
    present.  Arrays come back writeable, in native byte order, in file order.

    Raises
    ------
    FileFormatError
        The file is truncated, corrupt, edited or not safetensors.
    """
    where = repr(str(path))
    header, start, buf = _read_header(path)
    assert buf is not None
    entries = _validate(header, len(buf) - start, where)
    data = memoryview(buf)[start:]
    _verify(header, data, where)
    tensors: dict[str, np.ndarray] = {}
    for name, dt, shape, b, e in entries:
        arr = np.frombuffer(buf, dtype=dt, count=(e - b) // dt.itemsize, offset=start + b)
        tensors[name] = arr.reshape(shape).astype(dt.newbyteorder("="), copy=True)
    return tensors, dict(header.get("__metadata__", {}))


def load_file(path: PathLike) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file by name (like ``safetensors.numpy.load_file``)."""
    return read_file(path)[0]


def read_metadata(path: PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (checksums verified)."""
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


def _check_match(model: Module, tensors: Mapping[str, np.ndarray], meta: Mapping[str, str], where: str) -> None:
    """Everything that must hold before a single value is copied."""
    if isinstance(model, Network) and "sizes" in meta:
        try:
            sizes = json.loads(meta["sizes"])
        except ValueError:
            raise _fail(where, f"__metadata__ sizes {meta['sizes']!r} is not a JSON list") from None
        if sizes != model.sizes:
            raise ShapeError(f"load_into: {where} holds a Network with sizes {sizes}, the model has "
                             f"sizes {model.sizes}")
        for key, have in (("activation", model.hidden_activation),
                          ("output_activation", model.output_activation), ("cost", model.cost_name)):
            if key in meta and meta[key] != have:
                raise ConfigError(f"load_into: {where} was saved from {_describe(meta)} but the model "
                                  f"has {key}={have}; build the model with {key}={meta[key]!r}")
    params = dict(model.named_parameters())
    missing = [k for k in params if k not in tensors]
    unexpected = [k for k in tensors if k not in params]
    if missing or unexpected:
        parts = ([f"missing from the file: {', '.join(missing)}"] if missing else []) + (
            [f"not in the model: {', '.join(unexpected)}"] if unexpected else [])
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
    state has been accepted too).

    Raises
    ------
    FileFormatError
        Not a checkpoint, or truncated, corrupt, edited.
    ShapeError, DTypeError, ConfigError
        The checkpoint holds a different architecture.
    """
    tensors, meta = read_file(path)
    where = repr(str(path))
    if "checkpoint" not in meta:
        raise _fail(where, "it is a model file without training state (no 'checkpoint' in "
                           "__metadata__); resume from a file written by fit(checkpoint_every=...)")
    try:
        state = json.loads(meta["checkpoint"])
    except ValueError as exc:
        raise _fail(where, f"the checkpoint state is not valid JSON ({exc})") from None
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
        The file is truncated, corrupt, edited or not safetensors.
    ShapeError, DTypeError, ConfigError
        The file holds a different architecture.
    """
    if not isinstance(model, Module):
        raise ConfigError(f"load_into: expected a nablagraph Module, got {type(model).__name__}")
    tensors, meta = read_file(path)
    tensors = _parameters_only(tensors)
    _check_match(model, tensors, meta, repr(str(path)))
    _copy_in(model, tensors)


def load(path: PathLike) -> Network:
    """Rebuild the :class:`~nablagraph.nn.Network` saved in a file by :func:`save`.

    The architecture comes from ``__metadata__`` (sizes, activations, cost, dtype);
    the weights are the file's, bit for bit.  For any other module, build it and use
    :func:`load_into`.
    """
    tensors, meta = read_file(path)
    tensors = _parameters_only(tensors)
    where = repr(str(path))
    if meta.get("library") != "nablagraph" or "sizes" not in meta:
        saved = meta.get("model")
        hint = (f"it holds a {saved}, not a Network" if saved and saved != "Network"
                else "it has no nablagraph Network metadata")
        raise ConfigError(f"load: cannot rebuild a model from {where}: {hint}; build the model "
                          "yourself and call load_into(model, path)")
    try:
        sizes = json.loads(meta["sizes"])
        kwargs = {k: meta[k] for k in ("activation", "output_activation", "cost")}
        dtype = np.dtype(meta.get("dtype", "float64"))
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(where, f"the Network metadata is incomplete or malformed ({exc})") from None
    for key in ("activation", "output_activation"):
        if kwargs[key] not in ACTIVATION_NAMES:
            raise ConfigError(f"load: {where} uses the custom activation {kwargs[key]!r} ({key}); "
                              "build the Network with that function and call load_into(model, path)")
    net = Network(sizes, dtype=dtype, seed=0, **kwargs)
    _check_match(net, tensors, meta, where)
    _copy_in(net, tensors)
    return net
