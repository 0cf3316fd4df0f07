"""The three-way proof of a dense network's gradients: autodiff, BP1–BP4, finite differences.

Three independent routes to ``∂C/∂w^l`` and ``∂C/∂b^l``:

* **autodiff** — the engine's reverse pass over the recorded graph of ``model.cost``;
* **closed form** — the notes' equations BP1–BP4 written by hand in NumPy
  (:mod:`nablagraph.reference`), on the very same parameter arrays;
* **finite differences** — central differences of ``C`` itself, coordinate by
  coordinate (all of them for small networks; for large ones a seeded random sample
  of coordinates plus random directions ``v``, where ``∂C/∂v ≈ (C(θ+εv) − C(θ−εv))/2ε``).

:func:`compare_gradients` computes all three and also compares, layer by layer, the
weighted inputs ``z^l`` and the errors ``δ^l = ∂C/∂z^l`` of autodiff and the closed
form.  Its :class:`GradientComparison` gives, per layer and per parameter, the max
absolute and max relative error of each pair of routes, pass/fail against tolerances
that depend on the dtype, what each route cost (forward passes, backward passes,
seconds — the notes' "in what sense is backpropagation fast" made measurable), and on
a mismatch the first failing equation: the feedforward or BP1 at the output layer
``L``, BP2 at layer ``l``, BP3 for ``∇b^l``, BP4 for ``∇W^l``, and which route is the
odd one out.

Relative error, element by element::

    rel_i = |a_i − b_i| / max(|a_i|, |b_i|, floor · max_j max(|a_j|, |b_j|))

— the plain relative error, except that an element far smaller than the largest of its
tensor (below ``floor`` times it) is measured against that floor, so that a gradient
that is exactly zero in one route and 1e-17 in another does not count as a 100 % error.

Any other model — a user's ``Module``, a ``Sequential``, a function of tensors — is
checked too when a ``cost`` is given (:mod:`nablagraph.check.model`): autodiff against
finite differences always, and the closed form with ``z^l`` and ``δ^l`` when it is a
chain of dense layers; the report says what could not be compared and why.

Imports: ``tensor``, ``engine``, ``errors``, ``reference``, ``check.report``,
``check.finite_differences`` and ``check.model``.  The model is taken by duck typing
(``named_parameters()``, ``cost(X, Y)``, and for the per-layer checks
``forward_trace(X)``, ``cost_from_trace(trace, Y)``, ``layers``, ``cost_name``), never
by importing ``nn``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph import reference as ref
from nablagraph._tensor import Tensor
from nablagraph.check.diagnosis import diagnose
from nablagraph.check.finite_differences import (
    DEFAULT_EPS,
    STENCILS,
    FiniteDifferences,
    Probe,
    fd_method,
    fd_mode,
    kink_safe_eps,
)
from nablagraph.check.model import CostArg, as_checkable, two_route_verdict
from nablagraph.check.report import (
    GradientComparison,
    LayerCheck,
    PairError,
    ParameterCheck,
    RouteCost,
    Tolerances,
    format_seconds,
    index_label,
    pair_error,
)
from nablagraph.errors import ConfigError, GradcheckError, NablaGraphError

__all__ = [
    "compare_gradients", "GradientComparison", "LayerCheck", "ParameterCheck", "PairError",
    "RouteCost", "Tolerances", "STENCILS",
]

# ------------------------------------------------------------------ the routes
def _as_array(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


@dataclass
class _Autodiff:
    """Route 1's outcome: ``C``, ``∂C/∂p`` per parameter, ``z^l`` and ``∂C/∂z^l`` per
    layer, and the seconds of the forward and the backward pass."""

    cost: float
    grads: list[np.ndarray]
    zs: dict[int, np.ndarray]
    deltas: dict[int, np.ndarray]
    t_forward: float
    t_backward: float


def _autodiff(model: Any, X: Any, Y: Any, params: list[Tensor]) -> _Autodiff:
    """Route 1 once: the engine's reverse pass over the recorded graph of the cost."""
    t0 = time.perf_counter()
    if hasattr(model, "forward_trace") and hasattr(model, "cost_from_trace"):
        _, trace = model.forward_trace(X)
        C = model.cost_from_trace(trace, Y)
        zs = {int(l): z for l, z in trace.zs.items() if isinstance(z, Tensor) and z.requires_grad}
    else:
        C, zs = model.cost(X, Y), {}
    t1 = time.perf_counter()
    layer_ids = sorted(zs)
    grads = engine.grad(C, params + [zs[l] for l in layer_ids], allow_unused=True)
    t2 = time.perf_counter()
    g_params = [
        np.zeros(p.shape) if g is None else np.asarray(g.data, dtype=np.float64)
        for p, g in zip(params, grads[: len(params)])
    ]
    z_vals = {l: zs[l].data for l in layer_ids}
    dz = {
        l: np.asarray(g.data, dtype=np.float64)
        for l, g in zip(layer_ids, grads[len(params):]) if g is not None
    }
    return _Autodiff(float(C.item()), g_params, z_vals, dz, t1 - t0, t2 - t1)


def _time_min(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    best, out = math.inf, None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


# --------------------------------------------------------------------- the proof
@dataclass
class _ClosedForm:
    """The closed-form route's outcome: its result, or where and why it failed."""

    dense: ref.DenseParams | None = None
    bp: ref.Backprop | None = None
    seconds: float = float("nan")
    stage: tuple[str, int] | None = None  # (equation, layer) at which it raised
    message: str = ""
    unavailable: str = ""  # why it could not run at all (not a dense network ...)

    @classmethod
    def run(
        cls, model: Any, X: np.ndarray, Y: Any, form: str,
        equations: ref.BackpropEquations | None, repeats: int,
    ) -> _ClosedForm:
        out = cls()
        out.unavailable = getattr(model, "closed_form_unavailable", "")
        if out.unavailable:  # a model wrapped by check.model says why
            return out
        try:
            out.dense = dense = ref.params_from_network(model)
            out.bp, out.seconds = _time_min(
                lambda: ref.backprop(dense, X, Y, form, equations), repeats
            )
        except NablaGraphError as exc:
            out.stage = ref.failed_stage(exc)
            cause = exc.__cause__
            out.message = f"{type(cause).__name__}: {cause}" if out.stage and cause else str(exc)
            if out.stage is None:
                out.unavailable = f"closed form not available: {exc}"
        return out


def _layer_checks(
    dense: ref.DenseParams | None, bp: ref.Backprop | None, z_ad: dict[int, np.ndarray],
    dz_ad: dict[int, np.ndarray], tol: Tolerances,
) -> list[LayerCheck]:
    """``z^l`` and ``δ^l`` of autodiff against the closed form, output layer first."""
    checks: list[LayerCheck] = []
    if dense is None:
        return checks
    for l in sorted(z_ad, reverse=True):
        if l not in dense.layer_numbers:
            continue
        zc = dc = None
        if bp is not None:
            shape = z_ad[l].shape
            M = shape[0]

            def lab(i: int, s: tuple[int, ...] = shape) -> str:
                return index_label(s, i)

            zc = pair_error(z_ad[l], bp.zs[l], tol.analytic, tol.floor, labels=lab)
            if l in dz_ad:  # the notes' δ_m^l = ∂C_m/∂z_m^l = M ∂C/∂z_m^l
                dc = pair_error(M * dz_ad[l], bp.deltas[l], tol.analytic, tol.floor, labels=lab)
        checks.append(LayerCheck(
            l, dense.activations[l - 2], "BP1" if l == dense.L else "BP2", zc, dc,
            bp is not None and (zc is None or zc.passed) and (dc is None or dc.passed),
        ))
    return checks


def compare_gradients(
    model: Any,
    X: Any,
    Y: Any,
    *,
    fd: str = "auto",
    fd_order: int = 6,
    eps: float | None = None,
    max_full: int = 3000,
    n_samples: int = 16,
    n_directions: int = 4,
    seed: int = 0,
    form: str = "batch",
    equations: ref.BackpropEquations | None = None,
    tolerances: Tolerances | None = None,
    repeats: int = 3,
    cost: CostArg | None = None,
    parameters: Mapping[str, Tensor] | Sequence[Tensor] | None = None,
) -> GradientComparison:
    """Prove a model's gradients three ways: autodiff, BP1–BP4, finite differences.

    Parameters
    ----------
    model : Network, Module or function of tensors
        A ``Network`` (``named_parameters()`` and its own ``cost(X, Y)``; its
        ``forward_trace`` / ``cost_from_trace`` give the per-layer ``z^l`` and ``δ^l``
        checks, and ``layers`` with ``cost_name`` the closed form); or any ``Module``, or
        a function ``f(X) -> output`` with ``parameters``, checked with ``cost``: autodiff
        against finite differences, plus the closed form when it is a chain of dense
        layers (:mod:`nablagraph.check.model`).  The parameters are perturbed in place
        by finite differences and restored exactly; their ``.grad`` is not touched.
    X, Y : array_like
        The batch, one example per row (``Y`` may be class labels for cross-entropy).
    fd : {"auto", "full", "sampled", "off"}
        Finite differences of every coordinate (``"full"``), of ``n_samples`` seeded
        random coordinates per parameter plus ``n_directions`` random directions
        (``"sampled"``), or none.  ``"auto"``: full when the model has at most
        ``max_full`` parameters, sampled otherwise, and off for float32 (whose
        rounding error, divided by ε, swamps the derivative).
    fd_order : {2, 4, 6}
        Order of the central-difference stencil (its error is ``O(ε^order)``): 2 is the
        textbook ``(C(θ+ε) − C(θ−ε))/2ε``, two forward passes per coordinate, good to
        about 1e-6 relative; 4 and 6 take 4 and 6 passes.  The default, 6, keeps the
        finite-difference error below 1e-7 relative in float64 on curved costs
        (cross-entropy of saturating outputs) where order 4 reaches a few 1e-7.
    eps : float, optional
        The step (default 1e-5, 5e-4, 1e-3 for orders 2, 4, 6).  When not given, it is
        shrunk for ReLU-family networks so that no probe moves a neuron's ``z`` across
        its kink at 0 (the report's notes say so).
    seed : int
        Seeds the sampled coordinates and directions.
    form : {"batch", "example"}
        Which form of the closed form to run (see :mod:`nablagraph.reference`).
    equations : reference.BackpropEquations, optional
        The closed-form equations to use — a deliberately broken copy in tests.
    tolerances : Tolerances, optional
        Defaults from :meth:`Tolerances.for_dtype`.
    repeats : int
        The autodiff and closed-form routes are timed as the fastest of this many runs.
    cost : str or callable, optional
        For a model without its own ``cost``: ``C = cost(model(X), Y)``, a name from the
        cost table (``"quadratic"``, ``"mse"``, ``"binary_cross_entropy"``,
        ``"cross_entropy"`` of logits) or a function ``(output, Y) -> Tensor``.
    parameters : dict of str to Tensor, or list of Tensor, optional
        The parameters of a plain function ``model`` (a module lists its own).

    Returns
    -------
    GradientComparison

    Raises
    ------
    ConfigError
        For a bad ``fd``, ``fd_order``, ``eps`` or ``form``; a model without ``cost``
        when none is given; an unknown cost name.
    ShapeError
        The model's forward or the ``cost`` fails on the batch's shapes.
    GradcheckError
        When the model has no parameters.

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> net = ng.nn.Network([3, 4, 2], activation="tanh", seed=0)
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.standard_normal((6, 3)), rng.uniform(size=(6, 2))
    >>> report = compare_gradients(net, X, Y)
    >>> report.passed, report.worst("ad_fd") < 1e-7
    (True, True)
    >>> [(c.layer, c.equation) for c in report.layers]
    [(3, 'BP1'), (2, 'BP2')]

    Any module, given a cost (here a chain of Dense layers, so three ways again):

    >>> seq = ng.nn.Sequential(ng.nn.Dense(3, 4, "tanh", rng=0), ng.nn.Dense(4, 2, rng=1))
    >>> report = compare_gradients(seq, X, Y, cost="mse")
    >>> report.passed, len(report.layers), report.skipped
    (True, 2, [])
    """
    o = _Options(fd, fd_order, eps, max_full, n_samples, n_directions, seed, form, equations, repeats)
    model = as_checkable(model, X, Y, cost, parameters)
    run = _prepare(model, X, Y, fd_order, tolerances)
    notes: list[str] = []

    # Route 1: autodiff.  Route 2: the closed form, and z^l, δ^l of the two compared.
    ad = _fastest_autodiff(model, run, o.repeats)
    cf = _ClosedForm.run(model, run.X, run.Y, o.form, o.equations, o.repeats)
    skipped = [cf.unavailable] if hasattr(model, "closed_form_unavailable") and cf.unavailable else []
    if cf.unavailable and not skipped:
        notes.append(cf.unavailable)
    layer_checks = _layer_checks(cf.dense, cf.bp, ad.zs, ad.deltas, run.tol)

    # Route 3: finite differences, and every parameter compared three ways.
    probes = _finite_differences(model, o, run, ad.zs, notes)
    param_checks = _parameter_checks(model, run.named, ad.grads, cf.bp, probes, run.tol)

    # What each route cost, the report, and on a mismatch the first failing equation.
    report = _report(model, o, run, ad, cf, probes, layer_checks, param_checks, notes)
    report.skipped = skipped
    diagnose(report, cf.stage, cf.message, cf.dense)
    two_route_verdict(report)
    return report


# ------------------------------------------------------------------ the steps
@dataclass
class _Options:
    """The settings of :func:`compare_gradients`, checked when made.

    ``step`` is the finite-difference step: ``eps``, or the order's default, before any
    kink-safe shrinking.
    """

    fd: str
    fd_order: int
    eps: float | None
    max_full: int
    n_samples: int
    n_directions: int
    seed: int
    form: str
    equations: ref.BackpropEquations | None
    repeats: int
    step: float = field(init=False)

    def __post_init__(self) -> None:
        fd, fd_order, form, eps = self.fd, self.fd_order, self.form, self.eps
        if fd not in ("auto", "full", "sampled", "off"):
            raise ConfigError(f"compare_gradients: fd must be 'auto', 'full', 'sampled' or 'off', got {fd!r}")
        if fd_order not in STENCILS:
            raise ConfigError(f"compare_gradients: fd_order must be 2, 4 or 6, got {fd_order!r}")
        if form not in ("batch", "example"):
            raise ConfigError(f"compare_gradients: form must be 'batch' or 'example', got {form!r}")
        self.step = DEFAULT_EPS[fd_order] if eps is None else float(eps)
        if not (self.step > 0 and math.isfinite(self.step)):
            raise ConfigError(f"compare_gradients: eps must be a positive number, got {eps!r}")


@dataclass
class _Run:
    """What is compared: the parameters, the batch in their dtype, and the tolerances."""

    named: list[tuple[str, Tensor]]
    params: list[Tensor]
    dtype: np.dtype[Any]
    tol: Tolerances
    X: np.ndarray
    Y: Any
    P: int  # scalar parameters


def _prepare(model: Any, X: Any, Y: Any, fd_order: int, tolerances: Tolerances | None) -> _Run:
    """The model's parameters (at least one) and the batch converted to their dtype."""
    named = list(model.named_parameters())
    if not named:
        raise GradcheckError(f"compare_gradients: {type(model).__name__} has no parameters to check")
    params = [t for _, t in named]
    dtype = np.dtype(params[0].dtype)
    tol = tolerances or Tolerances.for_dtype(dtype, fd_order)
    Xc = np.asarray(_as_array(X), dtype=dtype)
    return _Run(named, params, dtype, tol, Xc, _as_array(Y), sum(p.size for p in params))


def _fastest_autodiff(model: Any, run: _Run, repeats: int) -> _Autodiff:
    """Route 1, run ``repeats`` times: the results of the first, the fastest times."""
    ad = _autodiff(model, run.X, run.Y, run.params)
    for _ in range(max(repeats, 1) - 1):
        again = _autodiff(model, run.X, run.Y, run.params)
        if again.t_forward + again.t_backward < ad.t_forward + ad.t_backward:
            ad.t_forward, ad.t_backward = again.t_forward, again.t_backward
    return ad


@dataclass
class _Probes:
    """Route 3 for one parameter at a time: every coordinate, a sample, or nothing."""

    fdiff: FiniteDifferences
    mode: str
    n_samples: int
    n_directions: int
    rng: np.random.Generator


def _finite_differences(
    model: Any, o: _Options, run: _Run, z_ad: dict[int, np.ndarray], notes: list[str]
) -> _Probes:
    """Route 3 set up: its mode, its step (kink-safe unless ``eps`` was given), its seed."""
    mode = fd_mode(o.fd, run.dtype, run.P, o.max_full, o.step, run.tol, notes)
    step = o.step
    if o.eps is None and mode != "off":
        step, why = kink_safe_eps(model, run.X, z_ad, step, max(STENCILS[o.fd_order]),
                                  directions=mode == "sampled")
        if why:
            notes.append(why)
    fdiff = FiniteDifferences(model, run.X, run.Y, step, o.fd_order)
    return _Probes(fdiff, mode, o.n_samples, o.n_directions, np.random.default_rng(o.seed))


def _parameter_checks(
    model: Any, named: list[tuple[str, Tensor]], g_ad: list[np.ndarray],
    bp: Any, probes: _Probes, tol: Tolerances,
) -> list[ParameterCheck]:
    """Each parameter's gradient three ways: autodiff vs closed form vs finite differences."""
    cf_by_param: dict[int, tuple[int, str, np.ndarray]] = {}
    if bp is not None:
        for i, layer in enumerate(model.layers):
            l = i + 2
            cf_by_param[id(layer.W)] = (l, "BP4", bp.nabla_W[l])
            cf_by_param[id(layer.b)] = (l, "BP3", bp.nabla_b[l])
    mode = probes.mode
    param_checks: list[ParameterCheck] = []
    for (name, p), g in zip(named, g_ad):
        layer, eq, g_cf = cf_by_param.get(id(p), (None, None, None))
        shape = tuple(p.shape)
        lab = lambda i, s=shape: index_label(s, i)  # noqa: E731
        ad_cf = None if g_cf is None else pair_error(g, g_cf, tol.analytic, tol.floor, labels=lab)
        ad_fd = cf_fd = None
        n_points = n_dirs = 0
        if mode != "off":
            probe = Probe.run(probes.fdiff, p, mode == "full", probes.n_samples, probes.n_directions,
                              probes.rng)
            n_points, n_dirs = len(probe.index), len(probe.directions)
            ad_fd = probe.compare(g, tol)
            cf_fd = None if g_cf is None else probe.compare(np.asarray(g_cf, np.float64), tol)
        passed = all(x is None or x.passed for x in (ad_cf, ad_fd, cf_fd))
        param_checks.append(ParameterCheck(
            name, layer, shape, eq, mode if mode != "off" else "skipped", n_points, n_dirs,
            ad_cf, ad_fd, cf_fd, passed,
        ))
    if bp is not None:  # output layer first, as backprop runs
        param_checks.sort(key=lambda c: (-(c.layer or 0), c.equation != "BP4"))
    return param_checks


def _report(
    model: Any, o: _Options, run: _Run, ad: _Autodiff, cf: _ClosedForm, probes: _Probes,
    layer_checks: list[LayerCheck], param_checks: list[ParameterCheck], notes: list[str],
) -> GradientComparison:
    """The checks, what each route cost (full finite differences estimated from one
    forward pass when they were sampled) and the notes, in one report."""
    fdiff, mode, step = probes.fdiff, probes.mode, probes.fdiff.eps
    _, t_forward = _time_min(FiniteDifferences(model, run.X, run.Y, step, o.fd_order).cost, o.repeats)
    k = 2 * len(STENCILS[o.fd_order])
    M = int(run.X.shape[0])
    return GradientComparison(
        model=repr(model), dtype=str(run.dtype), batch_size=M, num_parameters=run.P,
        fd_method=fd_method(mode, o.fd_order, step, o.n_samples, o.n_directions),
        fd_order=o.fd_order, eps=step, tolerances=run.tol, layers=layer_checks,
        parameters=param_checks,
        routes=_route_costs(cf, fdiff, mode, o.form, M, k, ad.t_forward, ad.t_backward),
        cost_autodiff=ad.cost, cost_closed_form=None if cf.bp is None else cf.bp.cost,
        full_fd_forward_passes=k * run.P,
        full_fd_seconds=fdiff.seconds if mode == "full" else k * run.P * t_forward,
        full_fd_measured=mode == "full", notes=notes,
    )


def _route_costs(
    cf: _ClosedForm, fdiff: FiniteDifferences, mode: str, form: str, M: int, k: int,
    t_fwd: float, t_bwd: float,
) -> list[RouteCost]:
    """What each route cost: forward passes and seconds."""
    routes = [RouteCost("autodiff", 1, 1, t_fwd + t_bwd,
                        f"forward {format_seconds(t_fwd)} + backward {format_seconds(t_bwd)}")]
    if cf.bp is not None:
        cf_passes = M if form == "example" else 1
        routes.append(RouteCost("closed form", cf_passes, cf_passes, cf.seconds,
                                "one example at a time" if form == "example" else "vectorised"))
    if mode != "off":
        routes.append(RouteCost(
            "finite differences", fdiff.passes, 0, fdiff.seconds,
            f"{k} forward passes per coordinate"
            + ("" if mode == "full" else f" and per direction ({mode})"),
        ))
    return routes
