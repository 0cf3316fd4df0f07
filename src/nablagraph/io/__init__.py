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

Five modules, each importing only those above it in this list (and ``errors``,
``files``):

* :mod:`nablagraph.io.format` — the format's dtype codes (:data:`DTYPES`) and the
  canonical header the ``header_sha256`` checksum covers.
* :mod:`nablagraph.io.limits` — the bounds every reader enforces on a hostile file
  (dimensions, JSON nesting and size, chunked reads), shared with
  :mod:`nablagraph.data`.
* :mod:`nablagraph.io.writer` — :func:`save_file`, the atomic low-level writer.
* :mod:`nablagraph.io.reader` — :func:`read_file`, :func:`load_file`,
  :func:`read_metadata`, the validating low-level reader.
* :mod:`nablagraph.io.models` — :func:`save`, :func:`load`, :func:`load_into` and
  the checkpoint files of ``fit`` (:func:`save_checkpoint`, :func:`read_checkpoint`).

Every name is importable from ``nablagraph.io`` as before the split.

Imports: ``errors``, ``files``, ``tensor``, ``nn`` (``nn.module``, from
:mod:`nablagraph.io.models` only).
"""

from nablagraph.errors import FileFormatError
from nablagraph.files import _atomic_write as _atomic_write  # re-exported: io's names since 0.1
from nablagraph.files import _check_path as _check_path
from nablagraph.files import open_regular as open_regular
from nablagraph.io.format import DTYPES as DTYPES
from nablagraph.io.format import PathLike as PathLike
from nablagraph.io.format import _canonical as _canonical
from nablagraph.io.limits import MAX_DIMS as MAX_DIMS
from nablagraph.io.limits import MAX_EXTENT as MAX_EXTENT
from nablagraph.io.limits import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from nablagraph.io.limits import MAX_JSON_ITEMS as MAX_JSON_ITEMS
from nablagraph.io.limits import json_shape as json_shape
from nablagraph.io.limits import parse_json as parse_json
from nablagraph.io.limits import read_into as read_into
from nablagraph.io.limits import shape_too_big as shape_too_big
from nablagraph.io.models import (
    CHECKPOINT_PREFIX,
    NOTATION,
    copy_parameters,
    load,
    load_into,
    read_checkpoint,
    save,
    save_checkpoint,
)
from nablagraph.io.reader import load_file, read_file, read_metadata
from nablagraph.io.writer import save_file

__all__ = [
    "FileFormatError", "save", "load", "load_into", "save_file", "load_file", "read_file",
    "read_metadata", "NOTATION", "save_checkpoint", "read_checkpoint", "copy_parameters",
    "CHECKPOINT_PREFIX",
]
