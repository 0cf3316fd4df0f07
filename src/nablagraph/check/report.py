"""The report of the three-way gradient comparison: its types, table and JSON form.

:class:`GradientComparison` holds, per layer (:class:`LayerCheck`) and per parameter
(:class:`ParameterCheck`), how far apart each pair of routes is (:class:`PairError`),
what each route cost (:class:`RouteCost`) and the verdict.  ``str(report)`` is a table;
:meth:`GradientComparison.to_json` / :meth:`GradientComparison.from_json` round-trip it.

Imports: ``errors`` only (plain data; :mod:`nablagraph.check.compare` fills it in).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nablagraph.errors import ConfigError

__all__ = [
    "GradientComparison", "LayerCheck", "ParameterCheck", "PairError", "RouteCost",
    "Tolerances", "PAIRS", "pair_error", "merge_pair_errors", "index_label",
]

#: The three pairs of routes, by the attribute name used in :class:`ParameterCheck`.
PAIRS = {"ad_cf": "autodiff – closed form", "ad_fd": "autodiff – finite differences",
         "cf_fd": "closed form – finite differences"}
_PAIRS = PAIRS


# ------------------------------------------------------------------- report types
@dataclass
class PairError:
    """How far apart two routes are on one tensor (or one set of FD probes).

    ``worst`` locates the element with the largest relative error, where route one
    gave ``a`` and route two ``b``.
    """

    max_abs: float
    max_rel: float
    worst: str
    a: float
    b: float
    passed: bool


@dataclass
class Tolerances:
    """Largest relative error (see the module docstring) that passes, per kind of pair.

    Attributes
    ----------
    analytic : float
        Autodiff against the closed form: two exact formulas, so only rounding differs.
    fd : float
        Either against finite differences, whose own error is truncation + rounding.
    floor : float
        Elements below ``floor`` times their tensor's largest are measured against it.
    """

    analytic: float
    fd: float
    floor: float

    @classmethod
    def for_dtype(cls, dtype: Any, fd_order: int = 6) -> Tolerances:
        """Defaults: float64 tight (1e-8 analytic; 1e-5, or 1e-4 for 2nd-order FD);
        float32 loose (1e-3 analytic, FD 5e-2 and only when asked for)."""
        if np.dtype(dtype) == np.float64:
            return cls(analytic=1e-8, fd=1e-4 if fd_order == 2 else 1e-5, floor=1e-3)
        return cls(analytic=1e-3, fd=5e-2, floor=1e-3)


@dataclass
class LayerCheck:
    """Autodiff against the closed form at one layer ``l``: ``z^l`` and ``δ^l``.

    ``equation`` is the one that produces this layer's ``δ``: BP1 at the output, BP2
    below it.  The ``δ`` compared is the notes' per-example error ``δ_m^l =
    ∂C_m/∂z_m^l``, i.e. ``M`` times autodiff's ``∂C/∂z^l``.
    """

    layer: int
    activation: str
    equation: str
    z: PairError | None
    delta: PairError | None
    passed: bool


@dataclass
class ParameterCheck:
    """The three routes compared on one parameter (``W2``, ``b2`` …)."""

    name: str
    layer: int | None
    shape: tuple[int, ...]
    equation: str | None
    fd_mode: str
    fd_points: int
    fd_directions: int
    ad_cf: PairError | None
    ad_fd: PairError | None
    cf_fd: PairError | None
    passed: bool


@dataclass
class RouteCost:
    """What one route cost: forward passes, backward passes, wall-clock seconds."""

    route: str
    forward_passes: int
    backward_passes: int
    seconds: float
    note: str = ""


@dataclass
class GradientComparison:
    """The report of :func:`compare_gradients`.

    ``str(report)`` is a readable table; :meth:`to_dict` / :meth:`to_json` export it
    and :meth:`from_dict` / :meth:`from_json` read it back.

    Attributes
    ----------
    passed : bool
        Every compared pair is within tolerance (and the closed form ran).
    failing_equation, failing_layer : str or None, int or None
        On a mismatch, the first equation at which autodiff and the closed form part
        (``"feedforward"``, ``"BP1"``, ``"BP2"``, ``"BP3"``, ``"BP4"``) and its layer.
    suspect : str or None
        The route the others outvote (``"closed form"``, ``"autodiff"``,
        ``"finite differences"``), or ``"undetermined"``.
    failure : str or None
        One sentence saying all of that.
    skipped : list of str
        What could not be compared, and why (for a model that is not a chain of dense
        layers: the closed form and the per-layer ``δ^l``).
    """

    model: str
    dtype: str
    batch_size: int
    num_parameters: int
    fd_method: str
    fd_order: int
    eps: float
    tolerances: Tolerances
    layers: list[LayerCheck]
    parameters: list[ParameterCheck]
    routes: list[RouteCost]
    cost_autodiff: float
    cost_closed_form: float | None
    full_fd_forward_passes: int
    full_fd_seconds: float
    full_fd_measured: bool
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    passed: bool = True
    failing_equation: str | None = None
    failing_layer: int | None = None
    suspect: str | None = None
    failure: str | None = None

    # -- figures ------------------------------------------------------------------
    def worst(self, pair: str) -> float:
        """The largest relative error over all parameters for ``pair``
        (``"ad_cf"``, ``"ad_fd"`` or ``"cf_fd"``; NaN when that pair was not compared)."""
        if pair not in _PAIRS:
            raise ConfigError(f"worst: pair must be one of {', '.join(_PAIRS)}, got {pair!r}")
        vals = [getattr(p, pair).max_rel for p in self.parameters if getattr(p, pair) is not None]
        return max(vals) if vals else float("nan")

    def worst_delta(self) -> float:
        """The largest relative error of ``δ^l`` (autodiff vs closed form) over layers."""
        vals = [c.delta.max_rel for c in self.layers if c.delta is not None]
        return max(vals) if vals else float("nan")

    def route(self, name: str) -> RouteCost:
        """The :class:`RouteCost` of ``"autodiff"``, ``"closed form"`` or ``"finite differences"``."""
        for r in self.routes:
            if r.route == name:
                return r
        raise ConfigError(
            f"route: no route {name!r}; this report has {', '.join(r.route for r in self.routes)}"
        )

    def speed_summary(self) -> str:
        """One line: what finite differences would cost for all ``P`` parameters, what
        backprop costs, and the ratio of times."""
        ad = self.route("autodiff")
        k = self.full_fd_forward_passes // max(self.num_parameters, 1)
        ratio = self.full_fd_seconds / ad.seconds if ad.seconds > 0 else float("inf")
        return (
            f"FD needs {k}·P = {self.full_fd_forward_passes:,} forward passes for all "
            f"P = {self.num_parameters:,} parameters ({format_seconds(self.full_fd_seconds)}"
            f"{' measured' if self.full_fd_measured else ', estimated from one forward pass'}); "
            f"backprop needs 1 forward + 1 backward ({format_seconds(ad.seconds)}); "
            f"time ratio ≈ {ratio:,.0f}×"
        )

    # -- export -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain Python (JSON-serialisable; non-finite floats become strings)."""
        return _jsonable(asdict(self))

    def to_json(self, indent: int | None = 2) -> str:
        """The report as strict JSON."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GradientComparison:
        """Rebuild a report from :meth:`to_dict`'s output."""
        d = _unjsonable(d)

        def pair(x: Any) -> PairError | None:
            return None if x is None else PairError(**x)

        layers = [
            LayerCheck(**{**c, "z": pair(c["z"]), "delta": pair(c["delta"])}) for c in d["layers"]
        ]
        params = [
            ParameterCheck(**{**c, "shape": tuple(c["shape"]),
                              **{k: pair(c[k]) for k in _PAIRS}})
            for c in d["parameters"]
        ]
        return cls(**{**d, "tolerances": Tolerances(**d["tolerances"]), "layers": layers,
                      "parameters": params, "routes": [RouteCost(**r) for r in d["routes"]]})

    @classmethod
    def from_json(cls, text: str) -> GradientComparison:
        """Rebuild a report from :meth:`to_json`'s output."""
        return cls.from_dict(json.loads(text))

    # -- display ------------------------------------------------------------------
    def __str__(self) -> str:
        return _format(self)


def format_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _jsonable(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_FLOAT_KEYS = {"max_abs", "max_rel", "a", "b", "seconds", "eps", "cost_autodiff",
               "cost_closed_form", "full_fd_seconds", "analytic", "fd", "floor"}


def _unjsonable(x: Any, key: str | None = None) -> Any:
    if isinstance(x, str) and key in _FLOAT_KEYS and x in _NONFINITE:
        return _NONFINITE[x]
    if isinstance(x, dict):
        return {k: _unjsonable(v, k) for k, v in x.items()}
    if isinstance(x, list):
        return [_unjsonable(v, key) for v in x]
    return x


# ------------------------------------------------------------- comparing arrays
def index_label(shape: tuple[int, ...], flat_index: int) -> str:
    """``"[i, j]"`` for a flat index into an array of ``shape``."""
    if not shape:
        return "[]"
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


def pair_error(
    a: np.ndarray, b: np.ndarray, tol: float, floor: float, scale: float | None = None,
    labels: Callable[[int], str] | None = None,
) -> PairError:
    """Compare two arrays of the same shape (route one ``a``, route two ``b``).

    The relative error of element ``i`` is ``|a_i − b_i| / max(|a_i|, |b_i|, floor·scale)``
    with ``scale`` the largest ``max(|a_j|, |b_j|)`` unless given; it passes when at most
    ``tol``.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    lab = labels or (lambda i: f"[{i}]")
    if a.size == 0:
        return PairError(0.0, 0.0, "-", 0.0, 0.0, True)
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        return PairError(float("nan"), float("nan"), lab(i), float(a[i]), float(b[i]), False)
    diff = np.abs(a - b)
    big = np.maximum(np.abs(a), np.abs(b))
    ref_scale = float(big.max()) if scale is None else scale
    denom = np.maximum(big, floor * ref_scale)
    rel = np.divide(diff, denom, out=np.zeros_like(diff), where=denom > 0)
    rel[(denom == 0) & (diff > 0)] = np.inf
    i = int(np.argmax(rel))
    max_rel = float(rel[i])
    return PairError(float(diff.max()), max_rel, lab(i), float(a[i]), float(b[i]), max_rel <= tol)


def merge_pair_errors(parts: Sequence[PairError]) -> PairError:
    """One :class:`PairError` for several comparisons: the worst of them."""
    worst = max(parts, key=lambda p: (p.max_rel if p.max_rel == p.max_rel else math.inf))
    return PairError(
        max(p.max_abs for p in parts), worst.max_rel, worst.worst, worst.a, worst.b,
        all(p.passed for p in parts),
    )


# ------------------------------------------------------------------- the table
def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if x != x:
        return "nan"
    return f"{x:.1e}"


def _ok(flag: bool | None) -> str:
    return "ok" if flag else "FAIL"


def _format(r: GradientComparison) -> str:
    title = (f"Gradient check of {r.model} ({' vs '.join(rc.route for rc in r.routes)})"
             if r.skipped else f"Three-way gradient check of {r.model}")
    out = [
        title,
        f"  {r.dtype}, M = {r.batch_size} examples, P = {r.num_parameters:,} parameters; "
        f"C = {r.cost_autodiff:.10g} (autodiff)"
        + ("" if r.cost_closed_form is None else f", {r.cost_closed_form:.10g} (closed form)"),
        f"  finite differences: {r.fd_method}",
        f"  rel error = |a − b| / max(|a|, |b|, {r.tolerances.floor:g}·max); pass if ≤ "
        + (f"{r.tolerances.fd:g}" if r.skipped else
           f"{r.tolerances.analytic:g} (autodiff – closed form), ≤ {r.tolerances.fd:g} "
           "(with finite differences)"),
    ]
    if r.layers:
        out += ["", "Per layer: autodiff vs closed form",
                f"  {'l':>3}  {'σ':<11}{'equation':<10}{'z^l max rel':>12}{'δ^l max abs':>13}"
                f"{'δ^l max rel':>13}  result"]
        for c in r.layers:
            out.append(
                f"  {c.layer:>3}  {c.activation:<11}{c.equation:<10}"
                f"{_fmt(c.z.max_rel if c.z else None):>12}"
                f"{_fmt(c.delta.max_abs if c.delta else None):>13}"
                f"{_fmt(c.delta.max_rel if c.delta else None):>13}  {_ok(c.passed)}"
            )
    w = max([7] + [len(p.name) + 1 for p in r.parameters])
    out += ["", "Per parameter: max rel error of each pair of routes",
            f"  {'param':<{w}}{'shape':<11}{'eq.':<5}{'FD checks':<12}{'AD–CF':>9}{'AD–FD':>9}"
            f"{'CF–FD':>9}{'max abs AD–FD':>15}  result"]
    for p in r.parameters:
        checks = "—" if p.fd_mode == "skipped" else (
            f"{p.fd_points}" + (f"+{p.fd_directions}dir" if p.fd_directions else "")
        )
        out.append(
            f"  {p.name:<{w}}{p.shape!s:<11}{p.equation or '—':<5}{checks:<12}"
            f"{_fmt(p.ad_cf.max_rel if p.ad_cf else None):>9}"
            f"{_fmt(p.ad_fd.max_rel if p.ad_fd else None):>9}"
            f"{_fmt(p.cf_fd.max_rel if p.cf_fd else None):>9}"
            f"{_fmt(p.ad_fd.max_abs if p.ad_fd else None):>15}  {_ok(p.passed)}"
        )
    out += ["", "Cost of each route"]
    for rc in r.routes:
        passes = f"{rc.forward_passes:,} forward + {rc.backward_passes:,} backward"
        out.append(f"  {rc.route:<19}{passes:<30}{format_seconds(rc.seconds):>10}   {rc.note}")
    out.append("  " + r.speed_summary())
    for n in r.notes:
        out.append(f"  note: {n}")
    if r.skipped:
        out += ["", "Not compared"] + [f"  {s}" for s in r.skipped]
    out.append("")
    worst = ", ".join(
        f"{label} {_fmt(r.worst(k))}" for k, label in
        (("ad_cf", "AD–CF"), ("ad_fd", "AD–FD"), ("cf_fd", "CF–FD"))
        if not (r.skipped and k != "ad_fd")
    )
    delta = "" if r.skipped else f"; δ^l {_fmt(r.worst_delta())}"
    if r.passed:
        out.append(f"Result: PASSED (worst rel error: {worst}{delta})")
    else:
        head = "" if r.skipped and r.failing_equation is None else "first failing equation: "
        out.append(f"Result: FAILED — {head}{r.failure}")
        out.append(f"  (worst rel error: {worst}; suspect: {r.suspect})")
    return "\n".join(out)
