"""Check *your* backprop: the user's handwritten gradients against autodiff, diagnosed.

:func:`check_backprop` takes a textbook-style network object (``backprop(x, y)`` per
example, column vectors) or a vectorised gradient function (``grads(params, X, Y)``,
one example per row), runs it on a seeded batch, and compares every quantity it
returns with autodiff on the same weights, per layer and per equation; central
finite differences of the cost break a tie.  On a mismatch it names the first
equation that fails, in the order backprop computes (BP1 at ``L``, BP2 at ``l``, BP3,
BP4, then the update rule), and tests candidate mistakes numerically
(:mod:`nablagraph.check.hypotheses`): each is injected into a correct backprop and
the one that reproduces the user's numbers is reported.

The autodiff route is built from the same ops as ``nablagraph.nn.Network`` (one
``linear`` and one ``sigmoid`` per layer, the cost on top), from the tensor layer
directly: ``check`` sits below ``nn``.

Imports: ``tensor``, ``engine``, ``functional``, ``errors``, ``check.report``,
``check.finite_differences``, ``check.hypotheses``, ``check.user_code``,
``check.yours_diagnosis``, ``check.yours_report``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablagraph import engine
from nablagraph import functional as F
from nablagraph._tensor import Tensor
from nablagraph.check import hypotheses as hyp
from nablagraph.check.finite_differences import FiniteDifferences, Probe
from nablagraph.check.report import Tolerances, index_label, merge_pair_errors, pair_error
from nablagraph.check.user_code import (
    UserNet,
    call_textbook,
    call_vectorised,
    make_params,
    read_textbook,
    user_frame,
)
from nablagraph.check.yours_diagnosis import diagnose, failed_to_run
from nablagraph.check.yours_report import BackpropReport, Hypothesis, QuantityCheck
from nablagraph.errors import ConfigError

__all__ = ["check_backprop", "BackpropReport"]

_COSTS = {"quadratic": "quadratic", "cross_entropy": "cross_entropy", "cross-entropy": "cross_entropy",
          "crossentropy": "cross_entropy", "ce": "cross_entropy",
          "binary_cross_entropy": "cross_entropy", "bce": "cross_entropy"}
_FLOOR = 1e-6


# ------------------------------------------------------------------ autodiff
class _Equivalent:
    """The user's network as nablagraph tensors: sigmoid layers, the notes' cost."""

    def __init__(self, net: UserNet, cost: str) -> None:
        self.cost_name = cost
        self.W = [Tensor(w.copy(), requires_grad=True, name=f"W{i + 2}") for i, w in enumerate(net.weights)]
        self.b = [Tensor(b.copy(), requires_grad=True, name=f"b{i + 2}") for i, b in enumerate(net.biases)]

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        return [(t.name or "", t) for pair in zip(self.b, self.W) for t in pair]

    def trace(self, X: np.ndarray, Y: np.ndarray) -> tuple[Tensor, list[Tensor]]:
        a, zs = Tensor(X), []
        for W, b in zip(self.W, self.b):
            zs.append(F.linear(a, W, b))
            a = F.sigmoid(zs[-1])
        if self.cost_name == "quadratic":
            return F.quadratic_cost(a, Y), zs
        return F.binary_cross_entropy_with_logits(zs[-1], Y), zs

    def cost(self, X: np.ndarray, Y: np.ndarray) -> Tensor:
        return self.trace(X, Y)[0]


def _autodiff(model: _Equivalent, X: np.ndarray, Y: np.ndarray) -> hyp.Gradients:
    """Per-example ``∇_b C_m``, ``∇_w C_m`` and ``δ_m^l = ∂C_m/∂z^l``: one backward each."""
    n = len(model.W)
    rows: list[list[list[np.ndarray]]] = [[[] for _ in range(n)] for _ in range(3)]
    for m in range(X.shape[0]):
        C, zs = model.trace(X[m:m + 1], Y[m:m + 1])
        g = engine.grad(C, [*model.b, *model.W, *zs])
        for k in range(3):
            for i in range(n):
                t = g[k * n + i]
                assert t is not None
                rows[k][i].append(t.data[0] if k == 2 else t.data)
    b, w, d = ([np.stack(x) for x in r] for r in rows)
    return hyp.Gradients(b, w, d)


# ----------------------------------------------------------------- comparing
@dataclass
class _Item:
    """One quantity compared: the user's array, autodiff's, and how to read a hypothesis's."""

    quantity: str
    equation: str
    layer: int
    key: tuple[str, int]  # ("b"|"w"|"d", index) into backprop results; ("uw"|"ub", i) update
    yours: np.ndarray
    truth: np.ndarray
    per_example: bool = False


def _close(a: np.ndarray, b: np.ndarray, tol: float, per_example: bool = False) -> tuple[float, Any] | None:
    """``(max rel err, PairError)`` of two arrays of one shape, ``None`` if the shapes differ.

    ``per_example``: axis 0 numbers the examples (the worst element reads ``example m [j, k]``).
    """
    if a.shape != b.shape:
        return None
    shape = tuple(a.shape)

    def label(i: int) -> str:
        if per_example and len(shape) > 1:
            m, rest = divmod(i, int(np.prod(shape[1:])))
            return f"example {m} {index_label(shape[1:], rest)}"
        return index_label(shape, i)

    pe = pair_error(a, b, tol, _FLOOR, labels=label)
    return pe.max_rel, pe


def _check(item: _Item, tol: float) -> QuantityCheck:
    got = _close(item.yours, item.truth, tol, item.per_example)
    if got is None:
        return QuantityCheck(item.quantity, item.equation, item.layer, tuple(item.truth.shape),
                             tuple(item.yours.shape), None, None, "shape", None, None, False)
    _, pe = got
    return QuantityCheck(item.quantity, item.equation, item.layer, tuple(item.truth.shape),
                         tuple(item.yours.shape), pe.max_abs, pe.max_rel, pe.worst, pe.a, pe.b, pe.passed)


def _items(L: int, b: list[np.ndarray], w: list[np.ndarray], d: list[np.ndarray] | None,
           truth: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]) -> list[_Item]:
    """The quantities in the order backprop computes them: output layer first, δ, ∇b, ∇w."""
    tb, tw, td = truth
    items: list[_Item] = []
    for l in range(L, 1, -1):
        i = l - 2
        if d is not None:
            items.append(_Item(f"δ^{l}", "BP1" if l == L else "BP2", l, ("d", i), d[i], td[i]))
        items.append(_Item(f"∇b^{l}", "BP3", l, ("b", i), b[i], tb[i]))
        items.append(_Item(f"∇w^{l}", "BP4", l, ("w", i), w[i], tw[i]))
    return items


def _read(g: hyp.Gradients, key: tuple[str, int], batched: bool, total: bool) -> np.ndarray:
    kind, i = key
    arr = {"b": g.nabla_b, "w": g.nabla_w, "d": g.deltas}[kind][i]
    if batched and kind != "d":
        return arr.sum(axis=0) if total else arr.mean(axis=0)
    return arr


def _test_hypotheses(
    items: list[_Item], net: UserNet, X: np.ndarray, Y: np.ndarray, cost: str, batched: bool,
    tol: float,
) -> tuple[list[Hypothesis], list[tuple[hyp.Mistake, float]]]:
    """Each candidate mistake injected: how far its numbers are from the user's, per
    candidate (over every quantity), and which reproduce the first failing quantity."""
    L = len(net.sizes)
    first = next((k for k, it in enumerate(items) if not _check(it, tol).passed), None)
    tested: list[Hypothesis] = []
    explain_first: list[tuple[hyp.Mistake, float]] = []
    if first is None:  # nothing to explain
        return tested, explain_first
    for m in hyp.candidates(net.sizes, cost, batched):
        try:
            g = hyp.backprop_with(net.weights, net.biases, X, Y, cost, m)
        except ValueError:  # the mistake cannot be made with these shapes
            continue
        errs = []
        for it in items:
            got = _close(it.yours, _read(g, it.key, batched, m.kind == "sum_not_mean"), tol)
            errs.append(np.inf if got is None else got[0])
        worst = float(max(errs))
        tested.append(Hypothesis(m.describe(), m.where(L), m.equation, list(m.layers), worst, worst <= tol))
        if errs[first] <= tol:
            explain_first.append((m, float(errs[first])))
    return tested, explain_first


# -------------------------------------------------------------- update rule
def _update_items(
    obj: Any, X: np.ndarray, Y: np.ndarray, eta: float, b: list[np.ndarray], w: list[np.ndarray],
    tol: float,
) -> tuple[list[_Item], list[Hypothesis], str]:
    """One ``update_mini_batch`` step against ``w − (η/M) Σ_m ∇w C_m`` of the user's own
    per-example gradients (so that the rule is judged apart from backprop); the
    object's weights and biases are put back afterwards."""
    W0 = [np.array(x, dtype=np.float64) for x in obj.weights]
    B0 = [np.array(x, dtype=np.float64) for x in obj.biases]
    M = X.shape[0]
    batch = [(X[m].reshape(-1, 1).copy(), Y[m].reshape(-1, 1).copy()) for m in range(M)]
    try:
        obj.update_mini_batch(batch, eta)
        W1 = [np.array(x, dtype=np.float64) for x in obj.weights]
        B1 = [np.array(x, dtype=np.float64) for x in obj.biases]
    except Exception as exc:  # the user's code: report, do not crash
        return [], [], f"update_mini_batch raised {type(exc).__name__}: {exc} ({user_frame(exc)})"
    finally:
        obj.weights, obj.biases = [x.copy() for x in W0], [x.copy() for x in B0]
    sum_w = [g.sum(axis=0) for g in w]
    sum_b = [g.sum(axis=0).reshape(B0[i].shape) if g[0].size == B0[i].size else g.sum(axis=0)
             for i, g in enumerate(b)]
    try:
        EW, EB = hyp.update_with(W0, B0, sum_b, sum_w, eta, M)
    except ValueError:
        return [], [], "the update rule was not checked: your gradients' shapes do not fit the parameters"
    L = len(W0) + 1
    items: list[_Item] = []
    for l in range(L, 1, -1):
        i = l - 2
        items.append(_Item(f"w^{l} after update", "update", l, ("uw", i), W1[i], EW[i]))
        items.append(_Item(f"b^{l} after update", "update", l, ("ub", i), B1[i], EB[i]))
    tested = []
    for m in hyp.update_candidates():
        try:
            HW, HB = hyp.update_with(W0, B0, sum_b, sum_w, eta, M, m)
        except ValueError:
            continue
        errs = []
        for it in items:
            got = _close(it.yours, (HW if it.key[0] == "uw" else HB)[it.key[1]], tol)
            errs.append(np.inf if got is None else got[0])
        worst = float(max(errs))
        tested.append(Hypothesis(m.describe(), m.where(L), m.equation, [], worst, worst <= tol))
    return items, tested, ""


# ------------------------------------------------------------ finite differences
def _fd(model: _Equivalent, X: np.ndarray, Y: np.ndarray, mode: str, seed: int,
        ad: tuple[list[np.ndarray], list[np.ndarray]],
        yours: tuple[list[np.ndarray], list[np.ndarray]]) -> tuple[str, float | None, float | None]:
    """Central differences (order 6) of the batch cost: against autodiff and the user's."""
    P = sum(p.size for _, p in model.named_parameters())
    if mode == "off":
        return "off", None, None
    full = mode == "full" or (mode == "auto" and P <= 600)
    fdiff = FiniteDifferences(model, X, Y, 1e-3, 6)
    rng = np.random.default_rng(seed)
    tol = Tolerances.for_dtype(np.float64)
    ad_parts, you_parts = [], []
    for i, (pb, pw) in enumerate(zip(model.b, model.W)):
        for p, g_ad, g_you in ((pb, ad[0][i], yours[0][i]), (pw, ad[1][i], yours[1][i])):
            probe = Probe.run(fdiff, p, full, 16, 4, rng)
            ad_parts.append(probe.compare(g_ad, tol))
            if g_you.shape == g_ad.shape:
                you_parts.append(probe.compare(g_you, tol))
    method = "every coordinate" if full else "16 random coordinates + 4 directions per parameter"
    you = merge_pair_errors(you_parts).max_rel if len(you_parts) == len(ad_parts) else None
    return f"order 6, eps 1e-3, {method}", merge_pair_errors(ad_parts).max_rel, you


# ------------------------------------------------------------------ the check
def check_backprop(
    impl: Any,
    X: Any = None,
    Y: Any = None,
    *,
    sizes: Sequence[int] | None = None,
    cost: str = "quadratic",
    deltas: Callable[..., Any] | None = None,
    params: str = "dict",
    batch_size: int = 8,
    eta: float = 0.5,
    seed: int = 0,
    fd: str = "auto",
    tolerance: float = 1e-6,
) -> BackpropReport:
    r"""Check a handwritten backprop against autodiff and say what is wrong with it.

    The network is the notes': sigmoid layers, ``z^l = w^l a^{l-1} + b^l``, and the
    quadratic cost ``C_m = ½‖y − a^L‖²`` or the cross-entropy cost
    ``C_m = −Σ_j [y_j ln a^L_j + (1 − y_j) ln(1 − a^L_j)]`` (sigmoid outputs; its
    ``δ^L = a^L − y``), averaged over the batch: ``C = (1/M) Σ_m C_m``.

    Parameters
    ----------
    impl : object, class or callable
        **Textbook form**: an object with ``sizes``, ``weights`` (``w^l`` of shape
        ``(n_l, n_{l-1})``), ``biases`` (columns ``(n_l, 1)``) and ``backprop(x, y) ->
        (nabla_b, nabla_w)`` for one example ``x`` ``(n_1, 1)``, ``y`` ``(n_L, 1)``,
        giving ``∇_b C_m`` and ``∇_w C_m`` in the shapes of ``biases`` and ``weights``;
        with ``update_mini_batch(batch, eta)`` (``batch`` a list of ``(x, y)``) the
        update ``w → w − (η/M) Σ_m ∇_w C_m`` is checked too.  A class is instantiated
        as ``impl(sizes)``.
        **Vectorised form**: a function ``grads(params, X, Y)`` of a batch (one example
        per row: ``X`` ``(M, n_1)``, ``Y`` ``(M, n_L)``) returning ``∇_b C`` and
        ``∇_w C`` of the mean cost: a dict ``{"W2": ..., "b2": ...}`` (or
        ``dW2``/``db2``) or a pair of lists (in either order), biases as ``(n_l,)``,
        ``(n_l, 1)`` or ``(1, n_l)``.
    X, Y : array_like, optional
        The batch, one example per row.  Default: ``batch_size`` seeded examples,
        ``X ~ N(0, 1)`` and ``Y ~ U(0, 1)``.
    sizes : sequence of int, optional
        Layer sizes, input first; needed for a class or a function, read from the
        object otherwise.
    cost : {"quadratic", "cross_entropy"}
        The cost the user's backprop differentiates.
    deltas : callable, optional
        The user's ``δ^l`` for a sharper diagnosis: ``deltas(x, y)`` (columns, one
        per layer 2..L) in the textbook form, ``deltas(params, X, Y)`` (``(M, n_l)``
        arrays, the notes' per-example ``δ_m = ∂C_m/∂z_m``) in the vectorised form.
        A textbook ``backprop`` may instead return ``(nabla_b, nabla_w, deltas)``.
    params : {"dict", "lists"}
        What the vectorised form is called with: ``{"W2": w^2, "b2": b^2, ...}``
        (``b^l`` as ``(n_l,)``) or ``(weights, biases)``.  Its weights are seeded:
        ``w^l ~ N(0, 1/n_{l-1})``, ``b^l ~ N(0, 1)``.
    batch_size, seed : int
        The default batch and the seeded weights and finite-difference probes.
    eta : float
        The learning rate of the update-rule check.
    fd : {"auto", "full", "sampled", "off"}
        Finite differences of the batch cost, the tie-breaker (auto: every
        coordinate up to 600 parameters, else 16 seeded coordinates and 4 random
        directions per parameter array).
    tolerance : float
        Largest elementwise relative error that passes (``|a − b| / max(|a|, |b|)``,
        elements below ``1e-6`` of their array's largest measured against that).

    Returns
    -------
    BackpropReport
        ``str()`` is the table; ``.passed``, ``.failing_equation``, ``.mistake``,
        ``.to_dict()``, ``.to_json()``.

    Raises
    ------
    ConfigError
        ``impl`` is neither form, an unknown ``cost``, ``params`` or ``fd``, or a
        class or function without ``sizes``.
    ShapeError
        The object's weights or biases do not fit its sizes.
    GradcheckError
        The user's code returned the wrong structure (not two lists of one array per
        layer).

    Examples
    --------
    >>> import numpy as np, nablagraph as ng
    >>> def grads(p, X, Y):   # a one-layer network, quadratic cost, done right
    ...     a = 1 / (1 + np.exp(-(X @ p["W2"].T + p["b2"])))
    ...     d = (a - Y) * a * (1 - a)
    ...     return {"W2": d.T @ X / len(X), "b2": d.mean(axis=0)}
    >>> ng.check_backprop(grads, sizes=[3, 2]).passed
    True
    """
    key = _COSTS.get(str(cost).lower()) if isinstance(cost, str) else None
    if key is None:
        raise ConfigError(f"check_backprop: cost must be 'quadratic' or 'cross_entropy', got {cost!r}")
    if params not in ("dict", "lists"):
        raise ConfigError(f"check_backprop: params must be 'dict' or 'lists', got {params!r}")
    if fd not in ("auto", "full", "sampled", "off"):
        raise ConfigError(f"check_backprop: fd must be 'auto', 'full', 'sampled' or 'off', got {fd!r}")
    if isinstance(impl, type):
        if sizes is None:
            raise ConfigError(f"check_backprop: {impl.__name__} is a class; pass sizes= to build it as {impl.__name__}(sizes)")
        impl = impl(list(sizes))
    textbook = callable(getattr(impl, "backprop", None))
    if not textbook and not callable(impl):
        raise ConfigError(
            f"check_backprop: expected a network object with backprop(x, y), weights and biases, "
            f"or a function grads(params, X, Y); got {type(impl).__name__}"
        )
    rng = np.random.default_rng(seed)
    if textbook:
        net = read_textbook(impl, sizes)
    elif sizes is None:
        raise ConfigError("check_backprop: a gradient function needs sizes= (layer sizes, input first)")
    else:
        net = make_params(sizes, rng)
    Xa, Ya = _batch(net.sizes, X, Y, batch_size, rng)
    return _run(impl, net, Xa, Ya, key, textbook, deltas, params, eta, seed, fd, tolerance)


def _batch(sizes: list[int], X: Any, Y: Any, M: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    Xa = rng.standard_normal((M, sizes[0])) if X is None else np.asarray(X, dtype=np.float64)
    Ya = rng.uniform(size=(len(Xa), sizes[-1])) if Y is None else np.asarray(Y, dtype=np.float64)
    if Xa.ndim != 2 or Xa.shape[1] != sizes[0] or Ya.shape != (len(Xa), sizes[-1]):
        raise ConfigError(
            f"check_backprop: X must be (M, {sizes[0]}) and Y (M, {sizes[-1]}) for sizes {sizes}, "
            f"one example per row; got {Xa.shape} and {Ya.shape}"
        )
    return Xa, Ya


def _run(impl: Any, net: UserNet, X: np.ndarray, Y: np.ndarray, cost: str, textbook: bool,
         deltas: Callable[..., Any] | None, style: str, eta: float, seed: int, fd: str,
         tol: float) -> BackpropReport:
    name = getattr(impl, "__qualname__", None) or type(impl).__name__
    rep = BackpropReport("textbook" if textbook else "vectorised", name, net.sizes, cost,
                         int(X.shape[0]), tol)
    model = _Equivalent(net, cost)
    ad = _autodiff(model, X, Y)
    try:
        if textbook:
            b, w, d = call_textbook(impl, net, X, Y, deltas)
        else:
            b, w, d = call_vectorised(impl, net, X, Y, style, deltas)
    except Exception as exc:
        if type(exc).__module__.startswith("nablagraph"):
            raise
        failed_to_run(rep, exc)
        return rep
    batched = not textbook
    mb, mw = ad.mean()
    truth = (mb, mw, ad.deltas) if batched else (ad.nabla_b, ad.nabla_w, ad.deltas)
    items = _items(len(net.sizes), b, w, d, truth)
    for it in items:
        it.per_example = textbook or it.key[0] == "d"
    rep.checks = [_check(it, tol) for it in items]
    tested, first_hits = _test_hypotheses(items, net, X, Y, cost, batched, tol)
    up_tested: list[Hypothesis] = []
    if textbook and callable(getattr(impl, "update_mini_batch", None)):
        up_items, up_tested, why = _update_items(impl, X, Y, eta, b, w, tol)
        rep.checks += [_check(it, tol) for it in up_items]
        if why:
            rep.notes.append(why)
    mean_you = (b, w) if batched else ([g.mean(axis=0) for g in b], [g.mean(axis=0) for g in w])
    rep.fd_method, rep.autodiff_vs_fd, rep.yours_vs_fd = _fd(model, X, Y, fd, seed, ad.mean(), mean_you)
    rep.hypotheses_tested = len(tested) + len(up_tested)
    diagnose(rep, tested, first_hits, up_tested)
    return rep
