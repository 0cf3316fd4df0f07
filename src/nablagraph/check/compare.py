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

Imports: ``tensor``, ``engine``, ``errors``, ``reference`` and ``check.report``.  The
model is taken by duck typing (``named_parameters()``, ``cost(X, Y)``, and for the
per-layer checks ``forward_trace(X)``, ``cost_from_trace(trace, Y)``, ``layers``,
``cost_name``), never by importing ``nn``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph import reference as ref
from nablagraph.check.report import (
    PAIRS,
    GradientComparison,
    LayerCheck,
    PairError,
    ParameterCheck,
    RouteCost,
    Tolerances,
    format_seconds,
)
from nablagraph.errors import ConfigError, GradcheckError, NablaGraphError
from nablagraph.tensor import Tensor, no_grad

__all__ = [
    "compare_gradients", "GradientComparison", "LayerCheck", "ParameterCheck", "PairError",
    "RouteCost", "Tolerances", "STENCILS",
]

#: Central-difference stencils by order, ``{k: w_k}`` for ``k > 0``:
#: ``∂C/∂θ ≈ Σ_k w_k (C(θ + kε) − C(θ − kε)) / ε``.  Pairing ``±k`` makes the estimate
#: exactly 0 when the cost does not change at all (a dead ReLU), whatever the rounding.
STENCILS: dict[int, dict[int, float]] = {
    2: {1: 1 / 2},
    4: {1: 8 / 12, 2: -1 / 12},
    6: {1: 45 / 60, 2: -9 / 60, 3: 1 / 60},
}
# Steps near the balance of truncation (ε^order) and rounding (u/ε) errors in float64.
_DEFAULT_EPS = {2: 1e-5, 4: 5e-4, 6: 1e-3}


_EQUATIONS = {
    "feedforward": "z^{l} = w^{l} a^{l-1} + b^{l}",
    "BP1": "δ^{l} = ∇_a C ⊙ σ'(z^{l})",
    "BP2": "δ^{l} = ((w^{l+1})ᵀ δ^{l+1}) ⊙ σ'(z^{l})",
    "BP3": "∂C/∂b^{l} = δ^{l}",
    "BP4": "∂C/∂w^{l} = δ^{l} (a^{l-1})ᵀ",
}


def _equation_text(eq: str, l: int) -> str:
    return _EQUATIONS[eq].replace("{l+1}", str(l + 1)).replace("{l-1}", str(l - 1)).replace(
        "{l}", str(l)
    )


def _where(eq: str, l: int, L: int) -> str:
    if eq == "BP1":
        return f"BP1 at the output layer L = {l}"
    if eq == "BP3":
        return f"BP3 for ∇b^{l}"
    if eq == "BP4":
        return f"BP4 for ∇W^{l}"
    return f"{eq} at layer {l}"


# --------------------------------------------------------------------- comparing
def _label(shape: tuple[int, ...], flat_index: int) -> str:
    if not shape:
        return "[]"
    return "[" + ", ".join(str(int(i)) for i in np.unravel_index(flat_index, shape)) + "]"


def _pair(
    a: np.ndarray, b: np.ndarray, tol: float, floor: float, scale: float | None = None,
    labels: Callable[[int], str] | None = None,
) -> PairError:
    """Compare two arrays of the same shape; ``scale`` overrides the floor's reference."""
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


def _merge(parts: Sequence[PairError]) -> PairError:
    worst = max(parts, key=lambda p: (p.max_rel if p.max_rel == p.max_rel else math.inf))
    return PairError(
        max(p.max_abs for p in parts), worst.max_rel, worst.worst, worst.a, worst.b,
        all(p.passed for p in parts),
    )


# ------------------------------------------------------------------ the routes
def _as_array(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _autodiff(
    model: Any, X: Any, Y: Any, params: list[Tensor]
) -> tuple[float, list[np.ndarray], dict[int, np.ndarray], dict[int, np.ndarray], float, float]:
    """``C``, ``∂C/∂p`` per parameter, ``z^l`` and ``∂C/∂z^l`` per layer, and the times."""
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
    return float(C.item()), g_params, z_vals, dz, t1 - t0, t2 - t1


_KINKED = ("relu", "leaky_relu")
# Lipschitz constants of σ (bounds on |σ'|), to bound how far a perturbation travels.
_LIPSCHITZ = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "leaky_relu": 1.0, "identity": 1.0,
              "softmax": 1.0}


def _kink_safe_eps(
    model: Any, X: np.ndarray, z: dict[int, np.ndarray], eps: float, reach: int
) -> tuple[float, str | None]:
    """Shrink ``eps`` so that no probe moves a ReLU input ``z`` across 0.

    Perturbing one parameter of layer ``l`` by ``δ`` moves ``z^l`` by at most
    ``δ · max(1, max|a^{l-1}|)``, and each later layer multiplies that by at most
    ``‖W^{j+1}‖_∞ · max|σ'_j|``; the stencil reaches ``reach · eps``.  The step is kept
    below half the smallest ``|z|`` of every ReLU-family layer it can reach.
    """
    layers = list(getattr(model, "layers", []) or [])
    names = [getattr(layer, "activation_name", None) for layer in layers]
    keys = sorted(z)
    if not any(n in _KINKED for n in names) or len(keys) != len(layers):
        return eps, None
    try:
        W = [np.asarray(layer.W.data, dtype=np.float64) for layer in layers]
    except AttributeError:
        return eps, None
    a_max = [float(np.abs(X).max(initial=0.0))]
    for n, l in zip(names, keys):  # max |a^l| from max |z^l|
        z_max = float(np.abs(np.asarray(z[l], dtype=np.float64)).max(initial=0.0))
        a_max.append(1.0 if n in ("sigmoid", "softmax") else
                     min(1.0, z_max) if n == "tanh" else z_max)
    safe, worst = eps, None
    for i in range(len(layers)):
        growth = max(1.0, a_max[i])
        for j in range(i, len(layers)):
            if j > i:
                growth *= float(np.abs(W[j]).sum(axis=1).max()) * _LIPSCHITZ.get(str(names[j - 1]), 1.0)
            if names[j] in _KINKED:
                margin = float(np.abs(z[keys[j]]).min(initial=np.inf))
                limit = 0.5 * margin / (reach * growth)
                if limit < safe:
                    safe, worst = limit, (keys[j], margin)
    if worst is None:
        return eps, None
    floor = 1e-9
    note = (
        f"eps reduced from {eps:g} to {max(safe, floor):.3g} so that no probe moves a "
        f"{names[keys.index(worst[0])]} input across its kink at 0 (min |z^{worst[0]}| = "
        f"{worst[1]:.3g})"
    )
    if safe < floor:
        note += "; that is below 1e-9, so finite differences will be inaccurate near the kink"
    return max(safe, floor), note


def _time_min(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    best, out = math.inf, None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


class _FiniteDifferences:
    """Central differences of ``model.cost`` with a stencil; counts its forward passes."""

    def __init__(self, model: Any, X: Any, Y: Any, eps: float, order: int) -> None:
        self.model, self.X, self.Y, self.eps = model, X, Y, eps
        self.stencil = STENCILS[order]
        self.passes = 0
        self.seconds = 0.0

    def cost(self) -> float:
        t0 = time.perf_counter()
        with no_grad():
            c = float(self.model.cost(self.X, self.Y).item())
        self.seconds += time.perf_counter() - t0
        self.passes += 1
        return c

    def _derivative(self, at: Callable[[float], None]) -> float:
        total = 0.0
        for k, w in self.stencil.items():
            at(k * self.eps)
            plus = self.cost()
            at(-k * self.eps)
            total += w * (plus - self.cost())
        return total / self.eps

    def coordinate(self, p: Tensor, index: tuple[int, ...]) -> float:
        """``∂C/∂p[index]``; the entry is restored exactly afterwards."""
        orig = p.data[index]

        def at(h: float) -> None:
            p.data[index] = orig + h

        try:
            return self._derivative(at)
        finally:
            p.data[index] = orig

    def direction(self, p: Tensor, v: np.ndarray) -> float:
        """``∂C/∂v`` along a unit direction ``v`` in ``p``'s space."""
        orig = p.data.copy()

        def at(h: float) -> None:
            p.data[...] = orig + h * v

        try:
            return self._derivative(at)
        finally:
            p.data[...] = orig


@dataclass
class _Probe:
    """Finite-difference estimates for one parameter: at coordinates and along directions."""

    shape: tuple[int, ...]
    index: np.ndarray
    values: np.ndarray
    directions: list[np.ndarray]
    along: np.ndarray

    @classmethod
    def run(
        cls, fdiff: _FiniteDifferences, p: Tensor, full: bool, n_samples: int,
        n_directions: int, rng: np.random.Generator,
    ) -> _Probe:
        shape = tuple(p.shape)
        sample = not full and p.size > n_samples
        if sample:
            index = np.sort(rng.choice(p.size, size=n_samples, replace=False))
        else:
            index = np.arange(p.size)
        values = np.array([fdiff.coordinate(p, np.unravel_index(j, shape)) for j in index])
        directions = []
        for _ in range(n_directions if sample else 0):
            v = rng.standard_normal(shape)
            directions.append(v / np.linalg.norm(v))
        along = np.array([fdiff.direction(p, v) for v in directions])
        return cls(shape, index, values, directions, along)

    def compare(self, g: np.ndarray, tol: Tolerances) -> PairError:
        """An analytic gradient ``g`` (full) against these estimates."""
        scale = max(float(np.abs(g).max(initial=0.0)), float(np.abs(self.values).max(initial=0.0)))
        parts = [_pair(g.ravel()[self.index], self.values, tol.fd, tol.floor, scale,
                       lambda i: _label(self.shape, int(self.index[i])))]
        if self.directions:
            ana = np.array([float(np.vdot(g, v)) for v in self.directions])
            parts.append(_pair(ana, self.along, tol.fd, tol.floor, float(np.linalg.norm(g)),
                               lambda i: f"direction {i}"))
        return _merge(parts)


# --------------------------------------------------------------------- the proof
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
) -> GradientComparison:
    """Prove a network's gradients three ways: autodiff, BP1–BP4, finite differences.

    Parameters
    ----------
    model : Network-like
        Needs ``named_parameters()`` and ``cost(X, Y)``; ``forward_trace`` /
        ``cost_from_trace`` give the per-layer ``z^l`` and ``δ^l`` checks, and
        ``layers`` (``W``, ``b``, ``activation_name``) with ``cost_name`` the closed form.
        The model's parameters are perturbed in place by finite differences and restored
        exactly; their ``.grad`` is not touched.
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

    Returns
    -------
    GradientComparison

    Raises
    ------
    ConfigError
        For a bad ``fd``, ``fd_order``, ``eps`` or ``form``.
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
    """
    if fd not in ("auto", "full", "sampled", "off"):
        raise ConfigError(f"compare_gradients: fd must be 'auto', 'full', 'sampled' or 'off', got {fd!r}")
    if fd_order not in STENCILS:
        raise ConfigError(f"compare_gradients: fd_order must be 2, 4 or 6, got {fd_order!r}")
    if form not in ("batch", "example"):
        raise ConfigError(f"compare_gradients: form must be 'batch' or 'example', got {form!r}")
    step = _DEFAULT_EPS[fd_order] if eps is None else float(eps)
    if not (step > 0 and math.isfinite(step)):
        raise ConfigError(f"compare_gradients: eps must be a positive number, got {eps!r}")
    named = list(model.named_parameters())
    if not named:
        raise GradcheckError(f"compare_gradients: {type(model).__name__} has no parameters to check")
    params = [t for _, t in named]
    dtype = np.dtype(params[0].dtype)
    tol = tolerances or Tolerances.for_dtype(dtype, fd_order)
    Xc = np.asarray(_as_array(X), dtype=dtype)
    Yc = _as_array(Y)
    notes: list[str] = []
    P = sum(p.size for p in params)

    # Route 1: autodiff.
    C_ad, g_ad, z_ad, dz_ad, t_fwd, t_bwd = _autodiff(model, Xc, Yc, params)
    for _ in range(max(repeats, 1) - 1):
        *_, f2, b2 = _autodiff(model, Xc, Yc, params)
        if f2 + b2 < t_fwd + t_bwd:
            t_fwd, t_bwd = f2, b2
    M = int(Xc.shape[0])
    if eps is None and dtype == np.float64:
        step, why = _kink_safe_eps(model, Xc, z_ad, step, max(STENCILS[fd_order]))
        if why:
            notes.append(why)

    # Route 2: the closed form.
    bp: ref.Backprop | None = None
    dense: ref.DenseParams | None = None
    cf_stage: tuple[str, int] | None = None
    cf_message = ""
    t_cf = float("nan")
    try:
        dense = dp = ref.params_from_network(model)
        bp, t_cf = _time_min(lambda: ref.backprop(dp, Xc, Yc, form, equations), repeats)
    except NablaGraphError as exc:
        cf_stage = ref.failed_stage(exc)
        cause = exc.__cause__
        cf_message = f"{type(cause).__name__}: {cause}" if cf_stage and cause else str(exc)
        if cf_stage is None:
            notes.append(f"closed form not available: {exc}")
    L = dense.L if dense is not None else None
    cf_by_param: dict[int, tuple[int, str, np.ndarray]] = {}
    if bp is not None:
        for i, layer in enumerate(model.layers):
            l = i + 2
            cf_by_param[id(layer.W)] = (l, "BP4", bp.nabla_w[l])
            cf_by_param[id(layer.b)] = (l, "BP3", bp.nabla_b[l])

    # Per layer: z^l and δ^l, autodiff against the closed form.
    layer_checks: list[LayerCheck] = []
    if dense is not None:
        for l in sorted(z_ad, reverse=True):
            if l not in dense.layer_numbers:
                continue
            zc = dc = None
            if bp is not None:
                shape = z_ad[l].shape
                lab = lambda i, s=shape: _label(s, i)  # noqa: E731
                zc = _pair(z_ad[l], bp.zs[l], tol.analytic, tol.floor, labels=lab)
                if l in dz_ad:  # the notes' δ_m^l = M ∂C/∂z_m^l
                    dc = _pair(M * dz_ad[l], bp.deltas[l], tol.analytic, tol.floor, labels=lab)
            layer_checks.append(LayerCheck(
                l, dense.activations[l - 2], "BP1" if l == dense.L else "BP2", zc, dc,
                bp is not None and (zc is None or zc.passed) and (dc is None or dc.passed),
            ))

    # Route 3: finite differences.
    mode = fd
    if fd == "auto":
        if dtype != np.float64:
            mode = "off"
            notes.append(
                f"finite differences skipped: the parameters are {dtype}; a {dtype} cost is "
                f"rounded to about {np.finfo(dtype).eps:.0e} relative, which divided by "
                f"ε = {step:g} swamps the derivative; check a float64 copy of the model "
                "(or pass fd='full' to see it anyway)"
            )
        else:
            mode = "full" if max_full >= P else "sampled"
    elif fd != "off" and dtype != np.float64:
        notes.append(
            f"finite differences in {dtype} are unreliable (rounding error / ε); their "
            f"tolerance is loosened to {tol.fd:g}"
        )
    fdiff = _FiniteDifferences(model, Xc, Yc, step, fd_order)
    rng = np.random.default_rng(seed)
    param_checks: list[ParameterCheck] = []
    for (name, p), g in zip(named, g_ad):
        layer, eq, g_cf = cf_by_param.get(id(p), (None, None, None))
        shape = tuple(p.shape)
        lab = lambda i, s=shape: _label(s, i)  # noqa: E731
        ad_cf = None if g_cf is None else _pair(g, g_cf, tol.analytic, tol.floor, labels=lab)
        ad_fd = cf_fd = None
        n_points = n_dirs = 0
        if mode != "off":
            probe = _Probe.run(fdiff, p, mode == "full", n_samples, n_directions, rng)
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

    # The cost of each route.
    _, t_forward = _time_min(_FiniteDifferences(model, Xc, Yc, step, fd_order).cost, repeats)
    k = 2 * len(STENCILS[fd_order])
    routes = [RouteCost("autodiff", 1, 1, t_fwd + t_bwd,
                        f"forward {format_seconds(t_fwd)} + backward {format_seconds(t_bwd)}")]
    if bp is not None:
        cf_passes = M if form == "example" else 1
        routes.append(RouteCost("closed form", cf_passes, cf_passes, t_cf,
                                "one example at a time" if form == "example" else "vectorised"))
    if mode != "off":
        routes.append(RouteCost(
            "finite differences", fdiff.passes, 0, fdiff.seconds,
            f"{k} forward passes per coordinate"
            + ("" if mode == "full" else f" and per direction ({mode})"),
        ))

    report = GradientComparison(
        model=repr(model), dtype=str(dtype), batch_size=M, num_parameters=P,
        fd_method=(
            "off" if mode == "off" else
            f"central differences of order {fd_order} ({k} cost evaluations per probe), "
            f"eps = {step:.3g}, "
            + ("every coordinate" if mode == "full" else
               f"{n_samples} random coordinates + {n_directions} random directions per parameter")
        ),
        fd_order=fd_order, eps=step, tolerances=tol, layers=layer_checks,
        parameters=param_checks, routes=routes, cost_autodiff=C_ad,
        cost_closed_form=None if bp is None else bp.cost,
        full_fd_forward_passes=k * P,
        full_fd_seconds=fdiff.seconds if mode == "full" else k * P * t_forward,
        full_fd_measured=mode == "full", notes=notes,
    )
    _diagnose(report, L, cf_stage, cf_message, dense)
    return report


# ------------------------------------------------------------------- diagnosis
def _diagnose(
    r: GradientComparison, L: int | None, cf_stage: tuple[str, int] | None, cf_message: str,
    dense: ref.DenseParams | None,
) -> None:
    """Fill in ``passed``, the first failing equation and the suspect route."""
    if cf_stage is not None:
        r.passed = False
        r.failing_equation, r.failing_layer = cf_stage
        r.suspect = "closed form"
        r.failure = (
            f"{_where(cf_stage[0], cf_stage[1], L or 0)}: the closed form raised an error there: "
            f"{cf_message}"
        )
        return
    bad_params = [p for p in r.parameters if not p.passed]
    bad_layers = [c for c in r.layers if not c.passed]
    r.passed = not bad_params and not bad_layers
    if r.passed:
        return

    # Where autodiff and the closed form first part, in the order backprop computes.
    first: tuple[str, int, PairError] | None = None
    for c in sorted(r.layers, key=lambda c: c.layer):
        if c.z is not None and not c.z.passed:
            first = ("feedforward", c.layer, c.z)
            break
    if first is None:
        for c in sorted(r.layers, key=lambda c: -c.layer):
            if c.delta is not None and not c.delta.passed:
                first = (c.equation, c.layer, c.delta)
                break
    if first is None:
        for p in r.parameters:
            if p.ad_cf is not None and not p.ad_cf.passed and p.equation and p.layer:
                first = (p.equation, p.layer, p.ad_cf)
                break

    # Which route is the odd one out (finite differences break the tie).
    votes = []
    for p in bad_params:
        ok = {k: (getattr(p, k) is None or getattr(p, k).passed) for k in PAIRS}
        have_fd = p.ad_fd is not None and p.cf_fd is not None
        if have_fd and not ok["ad_cf"] and ok["ad_fd"] and not ok["cf_fd"]:
            votes.append("closed form")
        elif have_fd and not ok["ad_cf"] and not ok["ad_fd"] and ok["cf_fd"]:
            votes.append("autodiff")
        elif ok["ad_cf"] and not (ok["ad_fd"] and ok["cf_fd"]):
            votes.append("finite differences")
        else:
            votes.append("undetermined")
    if not votes and first is not None:
        votes.append("undetermined")
    suspect = max(set(votes), key=votes.count) if votes else "undetermined"
    if "closed form" in votes and "autodiff" not in votes:
        suspect = "closed form"
    elif "autodiff" in votes and "closed form" not in votes:
        suspect = "autodiff"
    r.suspect = suspect

    why = {
        "closed form": "autodiff and finite differences agree with each other, so the closed "
                       "form is wrong there",
        "autodiff": "the closed form and finite differences agree with each other, so "
                    "autodiff (an op's VJP or the engine) is wrong there",
        "finite differences": "autodiff and the closed form agree; finite differences disagree "
                              "with both (a kink such as ReLU at 0 within ε, or ε too small "
                              "or too large)",
        "undetermined": "without finite differences to break the tie it is not known "
                        "which of autodiff and the closed form is wrong",
    }[suspect]
    if first is not None:
        eq, l, pe = first
        r.failing_equation, r.failing_layer = eq, l
        act = ""
        if dense is not None and eq in ("BP1", "BP2", "feedforward"):
            act = f", σ = {dense.activations[l - 2]}"
            if eq == "BP1":
                act += f", cost = {dense.cost}"
        r.failure = (
            f"{_where(eq, l, L or 0)} ({_equation_text(eq, l)}{act}): autodiff and the closed "
            f"form disagree, max rel error {pe.max_rel:.3g} at {pe.worst} "
            f"(autodiff {pe.a:.6g}, closed form {pe.b:.6g}); {why}"
        )
    else:
        p = bad_params[0]
        pe = next(x for x in (p.ad_fd, p.cf_fd) if x is not None and not x.passed)
        r.failure = (
            f"{p.name}: finite differences disagree, max rel error {pe.max_rel:.3g} at "
            f"{pe.worst} (analytic {pe.a:.6g}, finite differences {pe.b:.6g}); {why}"
        )


