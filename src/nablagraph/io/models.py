"""Models in safetensors files: :func:`save`, :func:`load`, :func:`load_into` and checkpoints.

Imports: ``errors``, ``tensor``, ``nn.module``, ``io.format``, ``io.limits``,
``io.reader``, ``io.writer``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from nablagraph._tensor import no_grad
from nablagraph._version import __version__
from nablagraph.errors import ConfigError, DTypeError, ShapeError
from nablagraph.files import _check_path
from nablagraph.io.format import PathLike
from nablagraph.io.limits import _cut, _fail, _short, parse_json
from nablagraph.io.reader import _read_file
from nablagraph.io.writer import save_file
from nablagraph.nn.module import ACTIVATION_NAMES, Module, Network
from nablagraph.nn.naming import notation_names, to_notation

__all__ = [
    "save", "load", "load_into", "NOTATION", "save_checkpoint", "read_checkpoint",
    "copy_parameters", "CHECKPOINT_PREFIX",
]

#: The parameter naming convention recorded in every model file.
NOTATION = (
    "Nielsen's notation with examples as rows: layer 1 is the input (a^1 = x); weighted "
    "layer l = 2..L holds W{l} = w^l, shape (n_l, n_{l-1}), row j = the weights into neuron "
    "j of layer l, and b{l} = b^l, shape (n_l,); z^l = a^{l-1} (w^l)^T + b^l, a^l = σ(z^l)"
)

#: Metadata keys the library writes; ``save(metadata=...)`` may not use them.
_RESERVED = (
    "format", "library", "library_version", "model", "parameters", "notation", "sizes",
    "activation", "output_activation", "cost", "dtype", "data_sha256", "header_sha256", "naming",
)


def _version() -> str:
    return __version__


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
        _check_architecture(model, meta, where)
    _check_parameters(model, tensors, where)


def _check_architecture(model: Network, meta: Mapping[str, str], where: str) -> None:
    """The file's declared Network (sizes, activations, cost) must be the model's."""
    sizes = _meta_sizes(meta, where)
    if sizes != model.sizes:
        raise ShapeError(f"load_into: {where} holds a Network with sizes {_short(sizes, 200)}, the "
                         f"model has sizes {model.sizes}")
    for key, have in (("activation", model.hidden_activation),
                      ("output_activation", model.output_activation), ("cost", model.cost_name)):
        if key in meta and meta[key] != have:
            raise ConfigError(f"load_into: {where} was saved from {_cut(_describe(meta), 300)} but "
                              f"the model has {key}={have}; build the model with {key}={_short(meta[key])}")


def _check_parameters(model: Module, tensors: Mapping[str, np.ndarray], where: str) -> None:
    """The file's tensors must be the model's parameters: the same names, shapes and dtypes."""
    params = dict(model.named_parameters())
    _check_names(model, params, tensors, where)
    for k, t in params.items():
        arr = tensors[k]
        if arr.shape != t.shape:
            raise ShapeError(f"load_into: {k} has shape {arr.shape} in {where} but {t.shape} in the model")
        if arr.dtype != t.dtype:
            raise DTypeError(f"load_into: {k} is {arr.dtype} in {where} but {t.dtype} in the model; "
                             f"build the model with dtype=np.{arr.dtype}")


def _check_names(model: Module, params: Mapping[str, Any], tensors: Mapping[str, np.ndarray], where: str) -> None:
    """The file must hold exactly the model's parameter names."""
    missing = [k for k in params if k not in tensors]
    unexpected = [k for k in tensors if k not in params]
    if missing or unexpected:
        parts = ([f"missing from the file: {_cut(', '.join(missing), 200)}"] if missing else []) + (
            [f"not in the model: {_cut(', '.join(unexpected), 200)}"] if unexpected else [])
        raise ConfigError(f"load_into: the parameters of {where} do not match the model "
                          f"({type(model).__name__}): {'; '.join(parts)}")


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
    # A file in PyTorch's naming (0.weight, 0.bias, ...) is read under the notes' names.
    names = [n for n, _ in model.named_parameters()]
    tensors, note = to_notation(_parameters_only(tensors), names, "load_into")
    try:
        _check_match(model, tensors, meta, repr(str(path)))
    except (ConfigError, ShapeError, DTypeError) as exc:
        if note:
            raise type(exc)(f"{exc}{note}") from None
        raise
    _copy_in(model, tensors)


def _network_kwargs(meta: Mapping[str, str], where: str) -> dict[str, str]:
    """The activations and cost of the ``Network`` the metadata describes (it must describe one)."""
    if meta.get("library") != "nablagraph" or "sizes" not in meta:
        saved = meta.get("model")
        hint = (f"it holds a {_cut(saved)}, not a Network" if saved and saved != "Network"
                else "it has no nablagraph Network metadata")
        raise ConfigError(f"load: cannot rebuild a model from {where}: {hint}; build the model "
                          "yourself and call load_into(model, path) (which also reads PyTorch's "
                          "names), or rebuild it in PyTorch and use nablagraph.interop.from_torch")
    missing = [k for k in ("activation", "output_activation", "cost") if k not in meta]
    if missing:
        raise _fail(where, f"the Network metadata is incomplete: {', '.join(missing)} missing from "
                           "__metadata__")
    return {k: meta[k] for k in ("activation", "output_activation", "cost")}


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
    if meta.get("naming") == "torch":  # saved by nablagraph.interop.save(..., naming="torch")
        mapping = notation_names(tensors, "load")
        tensors = {mapping[k]: v for k, v in tensors.items()}
    kwargs = _network_kwargs(meta, where)
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
