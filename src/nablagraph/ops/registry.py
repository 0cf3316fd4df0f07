"""The op registry: :class:`Op` (a forward, a VJP and the op's facts), :data:`OPS`,
:func:`defop`, and the helpers every family of ops shares.

The facts an op carries, so that nothing about it is written down anywhere else:

``kind``
    one of :data:`KINDS`: ``"arithmetic"``, ``"elementwise"``, ``"activation"`` (a
    layer's σ, chosen by name in ``Dense(activation=...)``), ``"normalisation"``,
    ``"shape"``, ``"reduction"`` or ``"cost"``.
``elementwise``
    ``f`` acts on each entry alone, so ``σ'(z)`` is a diagonal Jacobian (BP1/BP2 are
    Hadamard products).
``kinks``
    inputs where the derivative jumps (``relu``: ``(0.0,)``); ``smooth`` is true when
    there are none and the op has no parameter-dependent kinks either.
``lipschitz``, ``bound``, ``at_zero``
    for activations: ``sup |σ'|``, ``sup |σ|`` (``None``: unbounded) and ``|σ(0)|``;
    finite differences use them to bound how far a perturbation travels.
``cost``
    for costs: the network cost name (``"quadratic"`` …) the op computes; viz draws
    cost ops outside the layer clusters and their second input as the targets.
``note``
    the short formula drawn under the op's name in graph diagrams (``linear``:
    ``"a Wᵀ + b"``), or ``None`` for none.
``rule``
    the rule its VJP applies, in one short line, ``g`` (or ``G``) being the gradient
    arriving at the output (``matmul``: ``"∂C/∂A = G·Bᵀ, ∂C/∂B = Aᵀ·G"``); the
    interactive graph page (:mod:`nablagraph.viz.page`) shows it for every op node.

Imports: ``errors`` and NumPy only.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError, NablaGraphError, ShapeError

__all__ = ["KINDS", "OPS", "RAW", "Op", "defop", "shape_text", "sum_to"]

VJP = Callable[..., tuple[Any, ...]]
ErrorText = Callable[[tuple[Any, ...], tuple[Any, ...], Exception], str]

#: The kinds of op; each op has exactly one.
KINDS = ("arithmetic", "elementwise", "activation", "normalisation", "shape", "reduction", "cost")


def shape_text(shape: tuple[int, ...]) -> str:
    """``(3, 4)`` as text, ``()`` for scalars."""
    return str(tuple(shape))


class Op:
    """A registered primitive: a name, a forward on arrays, a VJP and its facts."""

    __slots__ = (
        "_error", "at_zero", "bound", "cost", "doc", "elementwise", "forward", "kind",
        "kinks", "lipschitz", "name", "note", "rule", "smooth", "vjp", "writes_into",
    )

    def __init__(
        self,
        name: str,
        forward: Callable[..., np.ndarray],
        vjp: VJP,
        doc: str = "",
        error: ErrorText | None = None,
        writes_into: bool = False,
        *,
        kind: str | None = None,
        elementwise: bool = False,
        kinks: tuple[float, ...] = (),
        smooth: bool | None = None,
        lipschitz: float | None = None,
        bound: float | None = None,
        at_zero: float | None = None,
        cost: str | None = None,
        note: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjp = vjp
        self.doc = doc
        self._error = error
        #: The VJP takes ``dest=`` (one optional buffer per input) in an ordinary
        #: backward pass and may write that input's gradient straight into it.
        self.writes_into = writes_into
        self.kind = kind
        self.elementwise = elementwise
        self.kinks = tuple(float(k) for k in kinks)
        self.smooth = not self.kinks if smooth is None else smooth
        self.lipschitz = lipschitz
        self.bound = bound
        self.at_zero = at_zero
        self.cost = cost
        self.note = note
        self.rule = rule

    def input_error(
        self, inputs: tuple[Any, ...], params: tuple[Any, ...], exc: Exception
    ) -> NablaGraphError:
        """Turn a NumPy error raised in ``forward`` into a message naming this op."""
        if self._error is not None:
            return ShapeError(self._error(inputs, params, exc))
        shapes = " and ".join(shape_text(t.shape) for t in inputs)
        if len(inputs) >= 2 and "broadcast" in str(exc):
            return ShapeError(
                f"{self.name}: shapes {shapes} cannot be broadcast together "
                f"({_broadcast_detail([t.shape for t in inputs])})"
            )
        return ShapeError(f"{self.name}: invalid input of shape {shapes}: {exc}")

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}


def defop(
    name: str,
    forward: Callable[..., np.ndarray],
    vjp: VJP,
    doc: str = "",
    error: ErrorText | None = None,
    writes_into: bool = False,
    **facts: Any,
) -> Op:
    """Register a primitive op and return it.

    ``facts`` are the keyword-only facts of :class:`Op` (``kind=``, ``elementwise=``,
    ``kinks=``, ``lipschitz=``, ``bound=``, ``at_zero=``, ``cost=``, ``note=``, ``rule=``).  An unknown kind,
    an activation without ``lipschitz=`` or a cost without ``cost=`` raises
    :class:`~nablagraph.errors.ConfigError`; ``tests/test_registry.py`` checks the rest
    (a user function, a closed-form σ', a place in the cost table).
    """
    if name in OPS:
        raise ValueError(f"defop: an op named {name!r} is already registered")
    kind = facts.get("kind")
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"defop: op {name!r} has kind {kind!r}; expected one of {', '.join(KINDS)}")
    for needs, fact, what in _NEEDED:
        if kind == needs and facts.get(fact) is None:
            raise ConfigError(f"defop: {needs} op {name!r} needs {fact}= ({what})")
    op = Op(name, forward, vjp, doc, error, writes_into, **facts)
    OPS[name] = op
    return op


# The facts a kind cannot do without, checked when the op is registered.
_NEEDED = (
    ("activation", "lipschitz", "sup |σ'|, which finite differences use to bound a step"),
    ("cost", "cost", "the network cost name it computes, a key of nablagraph.ops.COSTS"),
)


def _broadcast_detail(shapes: list[tuple[int, ...]]) -> str:
    nd = max(len(s) for s in shapes)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
    for axis in range(nd):
        sizes = {p[axis] for p in padded} - {1}
        if len(sizes) > 1:
            got = " vs ".join(str(p[axis]) for p in padded)
            return f"axis {axis - nd} (counted from the end: {-(axis - nd)}): sizes {got}; " \
                "sizes must be equal or 1"
    return "no compatible broadcast"


# --------------------------------------------------------------------- helpers
def sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``x`` down to ``shape``: the adjoint of broadcasting ``shape`` to ``x.shape``."""
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1
    )
    r = x.sum(axis=axes, keepdims=True) if axes else x
    return r.reshape(shape)


def _scatter(g: np.ndarray, shape: tuple[int, ...], index: Any) -> np.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index`` (repeated indices add up)."""
    z = np.zeros(shape, dtype=g.dtype)
    np.add.at(z, index, g)
    return z


def _mT(x: np.ndarray) -> np.ndarray:
    return x.T if x.ndim == 2 else x.swapaxes(-1, -2)  # methods skip np.swapaxes' dispatch


def _transpose(x: np.ndarray, axes: tuple[int, ...] | None = None) -> np.ndarray:
    return np.transpose(x, axes)


_add_reduce: Any = np.add.reduce


def _sum(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    # The ufunc's reduce directly: np.sum and ndarray.sum both go through Python wrappers
    # (which also count booleans as integers, as np.add.reduce would not).
    if x.dtype.kind == "b":
        return x.sum(axis=axis, keepdims=keepdims)
    return _add_reduce(x, axis=axis, keepdims=keepdims)


def _data(x: Any) -> Any:
    return x


#: The namespace VJPs use in an ordinary backward pass: plain NumPy.  A family module
#: adds its own kernels (``RAW.sigmoid``, ``RAW.softmax`` …) next to its ops.
RAW = types.SimpleNamespace(
    exp=np.exp,
    log=np.log,
    sqrt=np.sqrt,
    tanh=np.tanh,
    clip=np.clip,
    sum=_sum,
    sum_to=sum_to,
    broadcast_to=np.broadcast_to,
    reshape=np.reshape,
    transpose=_transpose,
    mT=_mT,
    matmul=np.matmul,
    getitem=lambda x, index: x[index],
    scatter=_scatter,
    data=_data,
)


def _axis_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """``shape`` with the reduced axes kept as size 1."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = len(shape)
    axes = tuple(a % nd for a in axes)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _batch_size(a: np.ndarray) -> int:
    """M, the number of examples: the first axis (a 0-d value is one example)."""
    return a.shape[0] if a.ndim >= 1 else 1


def _as_float(v: Any, like: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=like.dtype if like.dtype.kind == "f" else np.float64)
