"""Central finite differences and ``gradcheck`` for any function of tensors.

The notes' finite-difference estimate, in its more accurate central form::

    ∂C/∂w_j ≈ (C(w + ε e_j) − C(w − ε e_j)) / 2ε      (error O(ε²))

costs two forward passes per parameter, which is exactly why backpropagation (one
forward and one backward pass for *all* parameters) is fast — and why finite
differences make an independent check of it.

:func:`gradcheck` compares the Jacobian the engine computes (one backward pass per
output element) with the one central differences give (two forward passes per input
element).  For large inputs it compares random projections ``uᵀ J v`` instead.  The
defaults follow PyTorch's gradcheck: float64, ``eps=1e-6``, ``atol=1e-5``,
``rtol=1e-3``; an element passes when ``|analytical − numerical| ≤ atol + rtol·|numerical|``.

Imports: ``tensor``, ``engine``, ``errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph._tensor import Tensor, no_grad
from nablagraph.errors import ConfigError, GradcheckError

__all__ = ["numerical_grad", "gradcheck", "GradcheckReport", "InputCheck"]


def _as_inputs(inputs: Sequence[Any] | Tensor | np.ndarray) -> list[Tensor]:
    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = [inputs]
    return [x if isinstance(x, Tensor) else Tensor(x, requires_grad=True) for x in inputs]


def _eval(f: Callable[..., Any], ts: Sequence[Tensor]) -> np.ndarray:
    with no_grad():
        out = f(*ts)
    # A copy: f may return a view of its input, which the next perturbation would change.
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64, copy=True)


_FLOAT32_WHY = (
    "finite differences need float64: with eps=1e-6 the rounding error of a float32 "
    "evaluation (about 1e-7 relative) divided by 2·eps is of order 0.1, larger than most "
    "derivatives; convert the inputs with .astype(np.float64) (or Tensor(x, dtype=np.float64)) "
    "and check the float64 function"
)


def numerical_grad(
    f: Callable[..., Any], inputs: Sequence[Any] | Tensor | np.ndarray, eps: float = 1e-6
) -> list[np.ndarray]:
    """Central-difference gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(*tensors)`` returning a one-element tensor (or number).
    inputs : sequence of Tensor or array
        The point.  Each input's data is perturbed in place and restored.
    eps : float
        The step ``ε``.

    Returns
    -------
    list of ndarray
        ``∂f/∂x_i`` for each input, each of the input's shape.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> g, = ng.numerical_grad(lambda x: (x * x).sum(), [np.array([1.0, 2.0])])
    >>> np.round(g, 6)
    array([2., 4.])
    """
    ts = _as_inputs(inputs)
    out = _eval(f, ts)
    if out.size != 1:
        raise GradcheckError(
            f"numerical_grad: f must return one element, got shape {out.shape}; "
            "use gradcheck for functions with several outputs"
        )
    return [_numerical_jacobian(f, ts, t, eps, 1).reshape(t.shape) for t in ts]


def _numerical_jacobian(
    f: Callable[..., Any], ts: Sequence[Tensor], t: Tensor, eps: float, m: int
) -> np.ndarray:
    """``∂f/∂t`` as an ``(m, t.size)`` matrix by central differences, one column per element.

    ``t``'s data is perturbed in place (through ``.flat``, whatever its memory layout)
    and restored.
    """
    jac = np.zeros((m, t.size))
    flat = t.data.flat
    for j in range(t.size):
        orig = flat[j]
        flat[j] = orig + eps
        fp = _eval(f, ts).ravel()
        flat[j] = orig - eps
        fm = _eval(f, ts).ravel()
        flat[j] = orig
        jac[:, j] = (fp - fm) / (2 * eps)
    return jac


@dataclass
class InputCheck:
    """The comparison for one input of :func:`gradcheck`."""

    index: int
    name: str | None
    shape: tuple[int, ...]
    mode: str
    max_abs_error: float
    max_rel_error: float
    worst: str
    numerical: float
    analytical: float
    passed: bool


@dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`: one :class:`InputCheck` per checked input."""

    inputs: list[InputCheck]
    eps: float
    atol: float
    rtol: float
    forward_evaluations: int
    backward_passes: int
    passed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.passed = all(c.passed for c in self.inputs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (JSON-serialisable)."""
        return asdict(self)

    def __str__(self) -> str:
        head = f"{'input':<14} {'shape':<12} {'mode':<7} {'max abs err':>12} {'max rel err':>12}  ok"
        rows = [head, "-" * len(head)]
        for c in self.inputs:
            label = f"{c.index}" + (f" {c.name}" if c.name else "")
            rows.append(
                f"{label:<14} {c.shape!s:<12} {c.mode:<7} {c.max_abs_error:>12.3e} "
                f"{c.max_rel_error:>12.3e}  {'yes' if c.passed else 'NO'}"
            )
        rows.append(
            f"eps={self.eps:g} atol={self.atol:g} rtol={self.rtol:g}; "
            f"{self.forward_evaluations} forward evaluations, {self.backward_passes} backward passes"
        )
        return "\n".join(rows)


def _compare(
    a: np.ndarray, n: np.ndarray, atol: float, rtol: float
) -> tuple[float, float, int, bool]:
    diff = np.abs(a - n)
    tol = atol + rtol * np.abs(n)
    excess = diff - tol
    worst = int(np.argmax(excess)) if excess.size else 0
    if not np.all(np.isfinite(a)) or not np.all(np.isfinite(n)):
        bad = np.flatnonzero(~(np.isfinite(a) & np.isfinite(n)))
        return float("nan"), float("nan"), int(bad[0]), False
    max_abs = float(diff.max()) if diff.size else 0.0
    rel = diff / np.maximum(np.abs(n), np.finfo(np.float64).tiny)
    max_rel = float(np.where(diff == 0, 0.0, rel).max()) if diff.size else 0.0
    return max_abs, max_rel, worst, bool(np.all(excess <= 0))


def gradcheck(
    f: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor | np.ndarray,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    mode: str = "auto",
    max_full: int = 2048,
    n_projections: int = 6,
    seed: int = 0,
    raise_exception: bool = True,
) -> GradcheckReport:
    """Check the engine's derivatives of ``f`` against central finite differences.

    Parameters
    ----------
    f : callable
        ``f(*tensors) -> Tensor`` of any shape.
    inputs : sequence of Tensor or array
        The point.  Tensors with ``requires_grad=True`` (and all plain arrays, which
        are wrapped as such) are checked; other tensors are held constant.  Checked
        inputs must be float64.
    eps, atol, rtol : float
        Step and tolerances: an element passes when
        ``|analytical − numerical| ≤ atol + rtol·|numerical|``.
    mode : {"auto", "full", "random"}
        ``"full"`` builds both Jacobians element by element; ``"random"`` compares
        ``uᵀ J v`` for random ``u``, ``v`` (``n_projections`` of them per input);
        ``"auto"`` picks full when the output size times the input size is at most
        ``max_full``.
    seed : int
        Seed of the random projections.
    raise_exception : bool
        Raise :class:`GradcheckError` on a mismatch (default) instead of only
        returning the report.

    Returns
    -------
    GradcheckReport

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> x = ng.Tensor(np.array([0.5, -1.0]), requires_grad=True)
    >>> ng.gradcheck(lambda t: ng.sigmoid(t) * t, [x]).passed
    True
    """
    ts, checked, out = _checked_call(f, inputs, mode)
    rng = np.random.default_rng(seed)
    results: list[InputCheck] = []
    n_fwd, n_bwd = 1, 0
    for i in checked:
        if mode == "full" or (mode == "auto" and out.size * ts[i].size <= max_full):
            check, fw, bw = _check_full(f, ts, out, i, eps, atol, rtol)
        else:
            check, fw, bw = _check_random(f, ts, out, i, eps, atol, rtol, n_projections, rng)
        results.append(check)
        n_fwd += fw
        n_bwd += bw
    report = GradcheckReport(results, eps, atol, rtol, n_fwd, n_bwd)
    if raise_exception and not report.passed:
        raise _mismatch(report)
    return report


def _checked_call(
    f: Callable[..., Tensor], inputs: Sequence[Any] | Tensor | np.ndarray, mode: str
) -> tuple[list[Tensor], list[int], Tensor]:
    """The inputs as tensors, which of them are checked, and ``f``'s output, all checked."""
    if mode not in ("auto", "full", "random"):
        raise ConfigError(f"gradcheck: mode must be 'auto', 'full' or 'random', got {mode!r}")
    ts = _as_inputs(inputs)
    checked = [i for i, t in enumerate(ts) if t.requires_grad]
    if not checked:
        raise GradcheckError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if ts[i].dtype != np.float64:
            raise GradcheckError(
                f"gradcheck: input {i}{' (' + repr(ts[i].name) + ')' if ts[i].name else ''} is "
                f"{ts[i].dtype}; {_FLOAT32_WHY}"
            )
    out = f(*ts)
    if not isinstance(out, Tensor):
        raise GradcheckError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise GradcheckError(f"gradcheck: f returned {out.dtype}; {_FLOAT32_WHY}")
    return ts, checked, out


def _check_full(
    f: Callable[..., Any], ts: list[Tensor], out: Tensor, i: int, eps: float, atol: float,
    rtol: float,
) -> tuple[InputCheck, int, int]:
    """Input ``i`` against both Jacobians built element by element; the passes it took."""
    t = ts[i]
    a_jac, n_jac, fw, bw = _full_jacobians(f, ts, out, i, eps)
    max_abs, max_rel, worst, ok = _compare(a_jac.ravel(), n_jac.ravel(), atol, rtol)
    if a_jac.size == 0:
        where, num, ana = "empty Jacobian", 0.0, 0.0
    else:
        r, c = divmod(worst, max(t.size, 1))
        where = f"output index {_index(r, out.shape)}, input index {_index(c, t.shape)}"
        num, ana = float(n_jac.ravel()[worst]), float(a_jac.ravel()[worst])
    return InputCheck(i, t.name, t.shape, "full", max_abs, max_rel, where, num, ana, ok), fw, bw


def _check_random(
    f: Callable[..., Any], ts: list[Tensor], out: Tensor, i: int, eps: float, atol: float,
    rtol: float, n_projections: int, rng: np.random.Generator,
) -> tuple[InputCheck, int, int]:
    """Input ``i`` against random projections ``uᵀ J v``; the passes it took."""
    t = ts[i]
    a_proj, n_proj, fw, bw = _projections(f, ts, out, i, eps, n_projections, rng)
    max_abs, max_rel, worst, ok = _compare(a_proj, n_proj, atol, rtol)
    where = f"random projection {worst} (uᵀ J v)"
    num, ana = float(n_proj[worst]), float(a_proj[worst])
    return InputCheck(i, t.name, t.shape, "random", max_abs, max_rel, where, num, ana, ok), fw, bw


def _mismatch(report: GradcheckReport) -> GradcheckError:
    """The error naming the first input that failed, its worst element and the report."""
    bad = next(r for r in report.inputs if not r.passed)
    label = f"input {bad.index}" + (
        f" ({bad.name!r}, shape {bad.shape})" if bad.name else f" (shape {bad.shape})"
    )
    return GradcheckError(
        f"gradcheck: Jacobian mismatch for output 0 with respect to {label}: "
        f"worst element at {bad.worst}: numerical {bad.numerical:.10g}, "
        f"analytical {bad.analytical:.10g} (abs error {abs(bad.numerical - bad.analytical):.3e}; "
        f"tolerance {report.atol:g} + {report.rtol:g}·|numerical|)\n{report}"
    )


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _analytic(out: Tensor, t: Tensor, v: np.ndarray) -> np.ndarray:
    (g,) = engine.grad(out, t, grad_outputs=v, retain_graph=True, allow_unused=True)
    return np.zeros(t.shape) if g is None else np.asarray(g.data, dtype=np.float64)


def _full_jacobians(
    f: Callable[..., Any], ts: list[Tensor], out: Tensor, i: int, eps: float
) -> tuple[np.ndarray, np.ndarray, int, int]:
    t = ts[i]
    m, n = out.size, t.size
    a_jac = np.zeros((m, n))
    for k in range(m):
        v = np.zeros(out.shape)
        v.reshape(-1)[k] = 1.0
        a_jac[k] = _analytic(out, t, v).ravel()
    return a_jac, _numerical_jacobian(f, ts, t, eps, m), 2 * n, m


def _projections(
    f: Callable[..., Any], ts: list[Tensor], out: Tensor, i: int, eps: float,
    k: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    t = ts[i]
    a, n = np.zeros(k), np.zeros(k)
    x0 = t.data.copy()
    for p in range(k):
        u = rng.standard_normal(out.shape)
        v = rng.standard_normal(t.shape)
        a[p] = float(np.vdot(_analytic(out, t, u), v))
        t.data[...] = x0 + eps * v
        fp = float(np.vdot(u, _eval(f, ts)))
        t.data[...] = x0 - eps * v
        fm = float(np.vdot(u, _eval(f, ts)))
        t.data[...] = x0
        n[p] = (fp - fm) / (2 * eps)
    return a, n, 2 * k, k
