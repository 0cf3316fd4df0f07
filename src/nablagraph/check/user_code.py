"""The user's backprop, in the shapes people write it: load it, read its network, call it.

Two forms are understood (:func:`nablagraph.check.check_backprop` says which it takes):

* **the textbook object** — ``sizes``, ``weights`` (``w^l`` of shape
  ``(n_l, n_{l-1})``), ``biases`` (columns ``(n_l, 1)``), ``backprop(x, y) ->
  (nabla_b, nabla_w)`` for one example as column vectors, optionally
  ``update_mini_batch(batch, eta)``;
* **a vectorised function** ``grads(params, X, Y)`` with one example per row.

:func:`load_user_object` reads ``path/to/file.py:Name`` (which *runs* that file, as
``import`` would).  :func:`read_textbook` checks the object's arrays;
:func:`call_textbook` and :func:`call_vectorised` run the user's code and stack what
it returns, per example, in the library's shapes (``b^l`` as ``(n_l,)``) wherever the
shapes allow, leaving any other shape as it came (a wrong shape is a finding, not an
error).  A result of the wrong *structure* (not two lists, the wrong number of
layers, not arrays) raises :class:`~nablagraph.errors.GradcheckError`.

Imports: ``errors``.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, GradcheckError, ShapeError

__all__ = [
    "UserNet", "load_user_object", "read_textbook", "call_textbook", "call_vectorised",
    "make_params", "user_frame",
]


@dataclass
class UserNet:
    """The network being checked, in the library's shapes: ``w^l`` ``(n_l, n_{l-1})``,
    ``b^l`` ``(n_l,)``; ``l = i + 2`` for index ``i``."""

    sizes: list[int]
    weights: list[np.ndarray]
    biases: list[np.ndarray]


def load_user_object(spec: str) -> Any:
    """The object ``Name`` of ``path/to/file.py:Name``; the file is executed to find it.

    Raises
    ------
    ConfigError
        ``spec`` is not ``PATH.py:Name``, or the file defines no ``Name``.
    FileNotFoundError
        The file does not exist.
    """
    path, sep, name = str(spec).rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise ConfigError(
            f"check_backprop: expected path/to/file.py:Name (a Python file and the class or "
            f"function in it), got {spec!r}"
        )
    p = Path(path)
    if p.suffix != ".py":
        raise ConfigError(
            f"check_backprop: {path!r} is not a Python file (.py); expected path/to/file.py:Name"
        )
    if not p.is_file():
        raise FileNotFoundError(f"check_backprop: the file {path!r} does not exist")
    module_name = f"_nablagraph_user_{abs(hash(str(p.resolve())))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, p)
    if loader_spec is None or loader_spec.loader is None:  # pragma: no cover - .py always loads
        raise ConfigError(f"check_backprop: cannot load {path!r} as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    # Registered as import would, so that a dataclass or a pickle in the file finds its module.
    sys.modules.setdefault(module_name, module)
    sys.path.insert(0, str(p.resolve().parent))  # so the file can import its neighbours
    try:
        loader_spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(p.resolve().parent))
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items()
                       if not k.startswith("_") and callable(v) and getattr(v, "__module__", "") == module_name)
        raise ConfigError(
            f"check_backprop: {path!r} defines no {name!r}; it defines "
            f"{', '.join(found) if found else 'no classes or functions'}"
        )
    return getattr(module, name)


def _array(x: Any, what: str) -> np.ndarray:
    try:
        if x is None or isinstance(x, str):
            raise TypeError
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise GradcheckError(f"check_backprop: {what} is {type(x).__name__}, not an array of numbers") from None
    return a


def read_textbook(obj: Any, sizes: Sequence[int] | None = None) -> UserNet:
    """The textbook object's ``sizes``, ``weights`` and ``biases``, checked and copied.

    Raises
    ------
    ShapeError
        A weight that is not ``(n_l, n_{l-1})``, a bias that is not ``(n_l, 1)`` (or
        ``(n_l,)``), or the wrong number of either.
    """
    sz = list(sizes if sizes is not None else getattr(obj, "sizes", []) or [])
    weights, biases = list(getattr(obj, "weights", [])), list(getattr(obj, "biases", []))
    if not sz:
        sz = [int(np.shape(weights[0])[1])] + [int(np.shape(w)[0]) for w in weights] if weights else []
    if len(sz) < 2:
        raise ShapeError(f"check_backprop: the network needs sizes with at least two layers, got {sz}")
    n = len(sz) - 1
    if len(weights) != n or len(biases) != n:
        raise ShapeError(
            f"check_backprop: sizes {sz} need {n} weight matrices and {n} bias columns, got "
            f"{len(weights)} weights and {len(biases)} biases"
        )
    W, B = [], []
    for i in range(n):
        l, want = i + 2, (sz[i + 1], sz[i])
        w, b = np.array(weights[i], dtype=np.float64), np.array(biases[i], dtype=np.float64)
        if w.shape != want:
            raise ShapeError(
                f"check_backprop: weights[{i}] (w^{l}) has shape {w.shape}; sizes {sz} need "
                f"{want} = (n_{l}, n_{l - 1}), row j holding the weights into neuron j"
            )
        if b.shape not in ((sz[i + 1], 1), (sz[i + 1],)):
            raise ShapeError(
                f"check_backprop: biases[{i}] (b^{l}) has shape {b.shape}; sizes {sz} need a "
                f"column ({sz[i + 1]}, 1)"
            )
        W.append(w)
        B.append(b.reshape(-1))
    return UserNet(sz, W, B)


def make_params(sizes: Sequence[int], rng: np.random.Generator) -> UserNet:
    """Seeded parameters: ``w^l ~ N(0, 1/n_{l-1})``, ``b^l ~ N(0, 1)``."""
    sz = [int(s) for s in sizes]
    W = [rng.standard_normal((sz[i + 1], sz[i])) / np.sqrt(sz[i]) for i in range(len(sz) - 1)]
    B = [rng.standard_normal(sz[i + 1]) for i in range(len(sz) - 1)]
    return UserNet(sz, W, B)


def _bias_shape(g: np.ndarray, n: int) -> np.ndarray:
    """A bias gradient as ``(n,)`` if it is one (``(n,)``, ``(n, 1)``, ``(1, n)``)."""
    return g.reshape(n) if g.size == n and g.ndim <= 2 and n in g.shape else g


def _pair(out: Any, n: int, what: str) -> tuple[list[Any], list[Any], list[Any] | None]:
    """``(nabla_b, nabla_w[, deltas])`` as lists of ``n`` entries each."""
    if not isinstance(out, (tuple, list)) or len(out) not in (2, 3):
        raise GradcheckError(
            f"check_backprop: {what} returned {type(out).__name__}"
            f"{f' of length {len(out)}' if isinstance(out, (tuple, list)) else ''}; expected a "
            f"pair (nabla_b, nabla_w) of lists with one array per weighted layer ({n})"
        )
    if any(isinstance(p, np.ndarray) for p in out):
        raise GradcheckError(
            f"check_backprop: {what} returned a {type(out).__name__} of {len(out)} arrays; expected the "
            f"pair (nabla_b, nabla_w): two lists with one array per weighted layer ({n})"
        )
    parts = [list(p) if isinstance(p, (list, tuple)) else p for p in out]
    for k, p in enumerate(parts):
        if not isinstance(p, list) or len(p) != n:
            got = (f"{len(p)} array{'' if len(p) == 1 else 's'}" if isinstance(p, list)
                   else type(p).__name__)
            raise GradcheckError(
                f"check_backprop: {what} returned {got} in place {k}; expected a list with one "
                f"array per weighted layer ({n}, for layers 2..{n + 1})"
            )
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _stack(rows: list[np.ndarray], what: str) -> np.ndarray:
    shapes = {r.shape for r in rows}
    if len(shapes) != 1:
        raise GradcheckError(f"check_backprop: {what} changes shape between examples: {sorted(shapes)}")
    return np.stack(rows)


def call_textbook(
    obj: Any, net: UserNet, X: np.ndarray, Y: np.ndarray,
    deltas: Callable[..., Any] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """``backprop(x, y)`` for each row of ``X`` as a column: per-example stacks.

    Returns ``(nabla_b, nabla_w, deltas)``: ``nabla_b[i]`` of shape ``(M, n_l)`` (or
    ``(M, *shape)`` for an unexpected shape), ``nabla_w[i]`` ``(M, n_l, n_{l-1})``, and
    the user's ``δ^l`` likewise when ``deltas(x, y)`` is given or ``backprop`` returns a
    third list.
    """
    n = len(net.sizes) - 1
    bs: list[list[np.ndarray]] = [[] for _ in range(n)]
    ws: list[list[np.ndarray]] = [[] for _ in range(n)]
    ds: list[list[np.ndarray]] = [[] for _ in range(n)]
    have_d = deltas is not None
    for m in range(X.shape[0]):
        x, y = X[m].reshape(-1, 1).copy(), Y[m].reshape(-1, 1).copy()
        nb, nw, nd = _pair(obj.backprop(x, y), n, "backprop(x, y)")
        if deltas is not None:
            nd = list(deltas(x, y))
            if len(nd) != n:
                raise GradcheckError(f"check_backprop: deltas(x, y) returned {len(nd)} arrays; expected {n}")
        have_d = have_d or nd is not None
        for i in range(n):
            bs[i].append(_bias_shape(_array(nb[i], f"nabla_b[{i}]"), net.sizes[i + 1]))
            ws[i].append(_array(nw[i], f"nabla_w[{i}]"))
            if nd is not None:
                ds[i].append(_bias_shape(_array(nd[i], f"delta[{i}]"), net.sizes[i + 1]))
    return ([_stack(b, f"nabla_b[{i}]") for i, b in enumerate(bs)],
            [_stack(w, f"nabla_w[{i}]") for i, w in enumerate(ws)],
            [_stack(d, f"delta[{i}]") for i, d in enumerate(ds)] if have_d else None)


def _params_for(net: UserNet, style: str) -> Any:
    if style == "dict":
        out: dict[str, np.ndarray] = {}
        for i, (w, b) in enumerate(zip(net.weights, net.biases)):
            out[f"W{i + 2}"], out[f"b{i + 2}"] = w.copy(), b.copy()
        return out
    return [w.copy() for w in net.weights], [b.copy() for b in net.biases]


def _from_dict(g: dict[Any, Any], n: int, what: str) -> tuple[list[Any], list[Any]]:
    """``{"W2"|"dW2"|"nabla_W2": ..., "b2"|"db2"|...: ...}`` as two lists, layers 2..n+1."""
    keys = {str(k).lower().removeprefix("nabla_").removeprefix("d"): v for k, v in g.items()}
    try:
        return ([keys[f"b{l}"] for l in range(2, n + 2)], [keys[f"w{l}"] for l in range(2, n + 2)])
    except KeyError as exc:
        raise GradcheckError(
            f"check_backprop: {what} returned a dict with keys {sorted(map(str, g))}; expected "
            f"{'W2 and b2' if n == 1 else f'W2..W{n + 1} and b2..b{n + 1}'} (or dW2, db2, ...), "
            f"missing {exc.args[0]!r}"
        ) from None


def call_vectorised(
    fn: Callable[..., Any], net: UserNet, X: np.ndarray, Y: np.ndarray, style: str,
    deltas: Callable[..., Any] | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """``fn(params, X, Y)``: the batch gradients ``(nabla_b, nabla_w)`` and the user's
    ``δ^l`` (``(M, n_l)``, from ``deltas(params, X, Y)``) when given.

    ``params`` is ``{"W2": w^2, "b2": b^2, ...}`` (``style="dict"``) or ``(weights,
    biases)`` (``style="lists"``).  The result may be such a dict (keys ``W2``/``b2``,
    ``dW2``/``db2`` or ``nabla_W2``/``nabla_b2``) or a pair of lists in either order
    (told apart by the bias shapes).
    """
    n = len(net.sizes) - 1
    out = fn(_params_for(net, style), X.copy(), Y.copy())
    if isinstance(out, dict):
        nb, nw = _from_dict(out, n, "grads(params, X, Y)")
    else:
        first, second, _ = _pair(out, n, "grads(params, X, Y)")
        looks_b = all(np.size(g) == net.sizes[i + 1] for i, g in enumerate(first))
        nb, nw = (first, second) if looks_b else (second, first)
    b = [_bias_shape(_array(g, f"nabla_b[{i}]"), net.sizes[i + 1]) for i, g in enumerate(nb)]
    w = [_array(g, f"nabla_w[{i}]") for i, g in enumerate(nw)]
    d = None
    if deltas is not None:
        raw = deltas(_params_for(net, style), X.copy(), Y.copy())
        items = [raw[k] for k in sorted(raw, key=lambda k: int(str(k).lstrip("deltaDELTA_")))] \
            if isinstance(raw, dict) else list(raw)
        if len(items) != n:
            raise GradcheckError(f"check_backprop: deltas(params, X, Y) returned {len(items)} arrays; expected {n}")
        d = [_array(x, f"delta[{i}]") for i, x in enumerate(items)]
    return b, w, d


def user_frame(exc: BaseException) -> str:
    """Where in the user's code an exception was raised: ``file.py line N: code``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "nablagraph" not in Path(f.filename).parts and "numpy" not in Path(f.filename).parts]
    if not frames:
        return ""
    f = frames[-1]
    return f"{Path(f.filename).name} line {f.lineno}: {(f.line or '').strip()}"
