"""Reading a hostile file within bounds: sizes, dimensions and JSON checked before use.

Every reader of the package (the safetensors files here, the checkpoint state, the IDX
files of :mod:`nablagraph.data`) checks what a file declares against these bounds
before it reads or allocates anything: the dimensions of an array (:data:`MAX_DIMS`,
:data:`MAX_EXTENT`), the nesting and the number of values of JSON text
(:data:`MAX_JSON_DEPTH`, :data:`MAX_JSON_ITEMS`, counted before parsing).  Bytes are
read in chunks into a buffer of the size already checked (:func:`read_into`).  Every
failure is a :class:`~nablagraph.errors.FileFormatError` naming the file.

Imports: ``errors``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from io import FileIO
from typing import Any

import numpy as np

from nablagraph.errors import FileFormatError

__all__ = [
    "MAX_JSON_DEPTH", "MAX_DIMS", "MAX_JSON_ITEMS", "MAX_EXTENT", "shape_too_big", "read_into",
    "json_shape", "parse_json",
]

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
