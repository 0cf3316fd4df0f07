"""The safetensors layout as this package writes and reads it: dtype codes and the header checksum.

The facts both :mod:`nablagraph.io.writer` and :mod:`nablagraph.io.reader` need: the
format's dtype names (:data:`DTYPES`), the largest header the format allows and the
canonical JSON the ``header_sha256`` checksum covers.

Imports: nothing from the package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["DTYPES", "PathLike"]

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

_MAX_HEADER = 100 * 1024 * 1024  # the safetensors limit


def _canonical(header: Mapping[str, Any]) -> bytes:
    """The header without ``header_sha256``, as canonical JSON (what that checksum covers)."""
    body = dict(header)
    meta = dict(body.get("__metadata__", {}))
    meta.pop("header_sha256", None)
    body["__metadata__"] = meta
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
