"""Gradient checks for any model: a ``Module`` or a function of tensors, with a cost.

:func:`~nablagraph.check.compare_gradients` takes a ``Network`` as it is (it has its
own ``cost``).  Any other model — a user's ``Module`` (``class MLP(ng.nn.Module)``
holding ``Dense`` layers, a ``Sequential``, a module with a custom op or a layer norm)
or a plain function of tensors with named parameters — is wrapped here, with a cost
``C = cost(model(X), Y)``: a name from the one cost table
(:func:`nablagraph.functional.cost_table`: ``quadratic``, ``mse``,
``binary_cross_entropy``, ``cross_entropy`` and their aliases) or a callable
``(output, Y) -> Tensor``.

Autodiff and finite differences are compared on every parameter of any model.  The
closed form (BP1–BP4, :mod:`nablagraph.reference`) and the per-layer ``z^l`` and
``δ^l`` join them when the model is a chain of dense layers, which
:func:`~nablagraph.check.chain.inspect_chain` decides on the batch itself:

1. the cost is a name from the table (a callable cost has no closed form);
2. every parameter belongs to a dense layer (an object with ``W``, ``b``,
   ``activation_name`` and ``forward_z``, as ``nn.Dense``);
3. the model's forward, run once with the layers' ``forward_z`` recorded, calls each
   layer exactly once, the first on ``X`` and each next one on the previous one's
   output ``a``, returns the last one's ``a``, and records no op outside a layer (the
   graph is walked from the output);
4. the chained layers, run again on ``X``, give the model's output;
5. the layers' arrays make a valid :class:`~nablagraph.reference.DenseParams` (shapes
   that chain, activations the closed form knows, a supported cost / output pairing).
   ``cross_entropy`` reads the output as logits, so an ``identity`` output layer is the
   closed form's ``softmax`` layer: ``δ^L = softmax(z^L) − y``.

When a condition fails, the report says which, under "not compared", e.g.
``closed form: skipped — the model is not a chain of Dense layers (it uses ops 'mul',
'tanh' outside a layer)``.

Imports: ``tensor``, ``functional``, ``reference``, ``errors``, ``check.report``,
``check.chain``; the model is taken by duck typing, never by importing ``nn``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nablagraph import functional as F
from nablagraph import reference as ref
from nablagraph._tensor import Tensor
from nablagraph.check.chain import ChainReport, as_output, inspect_chain, kinked_ops, recording
from nablagraph.check.report import GradientComparison
from nablagraph.errors import ConfigError, GradcheckError, NablaGraphError, ShapeError

__all__ = ["CostArg", "ModelWithCost", "DenseChain", "as_checkable", "two_route_verdict"]

#: A cost: a name from the cost table, or a function ``(output, Y) -> Tensor``.
CostArg = str | Callable[[Tensor, Any], Tensor]

_COSTS = F.cost_table()
_ALIASES = {a: c.name for c in _COSTS.values() for a in (c.name, *c.aliases)}
_WHERE = "compare_gradients"


def _norm(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def resolve_cost(cost: Any) -> tuple[Callable[..., Tensor], str | None, str]:
    """``(function, canonical name or None, label)`` for a cost name or a callable."""
    if isinstance(cost, str):
        name = _ALIASES.get(_norm(cost))
        if name is None:
            raise ConfigError(
                f"{_WHERE}: unknown cost {cost!r}; expected one of {', '.join(_COSTS)} "
                "or a callable (output, Y) -> Tensor"
            )
        fn: Callable[..., Tensor] = getattr(F, _COSTS[name].function)
        return fn, name, name
    if callable(cost):
        return cost, None, getattr(cost, "__name__", type(cost).__name__)
    raise ConfigError(
        f"{_WHERE}: cost must be a cost name ({', '.join(_COSTS)}) or a callable "
        f"(output, Y) -> Tensor, got {cost!r} ({type(cost).__name__})"
    )


# ------------------------------------------------------------------ the wrappers
@dataclass
class _LayerView:
    """A dense layer as the closed form reads it (``W``, ``b`` are the model's own)."""

    W: Tensor
    b: Tensor
    activation_name: str


@dataclass
class _Trace:
    zs: dict[int, Tensor]
    output: Tensor


class ModelWithCost:
    """A model and a cost, in the form :func:`compare_gradients` reads:
    ``named_parameters()`` and ``cost(X, Y) = cost(model(X), Y)``.

    ``closed_form_unavailable`` says why the closed form cannot run on it.
    """

    def __init__(
        self, forward: Callable[[Tensor], Any], named: list[tuple[str, Tensor]],
        cost: Callable[..., Tensor], label: str, skip: str, kinked_ops: Sequence[str] = (),
    ) -> None:
        self._forward, self._named, self._cost, self._label = forward, named, cost, label
        self.closed_form_unavailable = skip
        #: The ops of its graph whose derivative jumps (``relu``, ``abs`` …), which
        #: finite differences must step around.
        self.kinked_ops = list(kinked_ops)

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        return list(self._named)

    def cost(self, X: Any, Y: Any) -> Tensor:
        return self._cost(as_output(self._forward(_as_input(X))), Y)

    def __repr__(self) -> str:
        return self._label


class DenseChain(ModelWithCost):
    """A :class:`ModelWithCost` that is a chain of dense layers: it also has what the
    closed form and the per-layer checks read (``layers``, ``cost_name``,
    ``forward_trace``, ``cost_from_trace``)."""

    def __init__(
        self, forward: Callable[[Tensor], Any], named: list[tuple[str, Tensor]],
        cost: Callable[..., Tensor], label: str, dense: list[Any], views: list[_LayerView],
        cost_name: str,
    ) -> None:
        super().__init__(forward, named, cost, label, "")
        self._dense, self.layers, self.cost_name = dense, views, cost_name

    def forward_trace(self, X: Any) -> tuple[Tensor, _Trace]:
        """The model's own forward, with each layer's ``z^l`` recorded (``l = 2, 3 …``)."""
        with recording(self._dense) as calls:
            out = as_output(self._forward(_as_input(X)))
        return out, _Trace({i + 2: c.z for i, c in enumerate(calls)}, out)

    def cost_from_trace(self, trace: _Trace, Y: Any) -> Tensor:
        return self._cost(trace.output, Y)


def _as_input(X: Any) -> Tensor:
    return X if isinstance(X, Tensor) else Tensor(np.asarray(X))


# ------------------------------------------------------------------ the entry point
def _named_parameters(model: Any, parameters: Any) -> list[tuple[str, Tensor]]:
    """The parameters to check: ``parameters`` when given, else the module's own."""
    if parameters is None:
        if not callable(getattr(model, "named_parameters", None)):
            raise ConfigError(
                f"{_WHERE}: a {type(model).__name__} has no named_parameters(); pass a Module, "
                "or a function of tensors with parameters={'W': W, ...}"
            )
        return list(model.named_parameters())
    if isinstance(parameters, Mapping):
        named = [(str(k), v) for k, v in parameters.items()]
    elif isinstance(parameters, Sequence) and not isinstance(parameters, str):
        named = [(getattr(v, "name", None) or f"p{i}", v) for i, v in enumerate(parameters)]
    else:
        raise ConfigError(
            f"{_WHERE}: parameters must be a dict name -> Tensor or a list of tensors, got "
            f"{type(parameters).__name__}"
        )
    for name, p in named:
        if not (isinstance(p, Tensor) and p.requires_grad):
            raise ConfigError(
                f"{_WHERE}: parameter {name!r} must be a Tensor with requires_grad=True, got "
                f"{type(p).__name__}" + (" without requires_grad" if isinstance(p, Tensor) else "")
            )
    return named


def _first_output(model: Any, named: list[tuple[str, Tensor]], X: Tensor, dense: bool) -> ChainReport:
    """Run the model once on ``X``: a :class:`ChainReport`, with errors naming the call."""
    try:
        if dense:
            return inspect_chain(model, named, X)
        return ChainReport(output=as_output(model(X)), reasons=["a function"])
    except NablaGraphError as exc:
        if str(exc).startswith(_WHERE):
            raise
        raise type(exc)(f"{_WHERE}: the model's forward failed on X of shape {X.shape}: {exc}") from exc


def as_checkable(model: Any, X: Any, Y: Any, cost: Any, parameters: Any) -> Any:
    """What :func:`~nablagraph.check.compare_gradients` checks: ``model`` itself when it
    has its own ``cost(X, Y)`` and no cost is given, else a :class:`DenseChain` (the
    closed form applies) or a :class:`ModelWithCost` (it does not, and says why) around
    it, with ``C = cost(model(X), Y)``.

    Raises
    ------
    ConfigError
        No cost for a model without one, an unknown cost name, a function without
        ``parameters``, a parameter that is not a tensor requiring gradients, a model
        or cost that does not return a tensor.
    ShapeError
        The model's forward or the cost fails on the batch's shapes, or the cost is not
        a scalar.
    GradcheckError
        No parameters to check.
    """
    if cost is None and parameters is None and callable(getattr(model, "cost", None)):
        return model
    listed = getattr(model, "named_parameters", None)
    if parameters is None and callable(listed) and not list(listed()):
        raise GradcheckError(f"{_WHERE}: {type(model).__name__} has no parameters to check")
    if not callable(model):
        raise ConfigError(
            f"{_WHERE}: expected a Module or a function of tensors, got {type(model).__name__}"
        )
    if cost is None:
        raise ConfigError(
            f"{_WHERE}: {type(model).__name__} has no cost(X, Y) method, so the cost must be "
            f"given: cost='quadratic' (one of {', '.join(_COSTS)}) or a callable "
            "(output, Y) -> Tensor"
        )
    fn, cost_name, cost_label = resolve_cost(cost)
    named = _named_parameters(model, parameters)
    if not named:
        raise GradcheckError(f"{_WHERE}: {type(model).__name__} has no parameters to check")
    Xt = Tensor(np.asarray(getattr(X, "data", X), dtype=named[0][1].dtype))
    is_module = parameters is None
    chain = _first_output(model, named, Xt, is_module)
    _check_cost(fn, chain.output, Y)
    name = getattr(model, "__name__", None) or type(model).__name__
    label = f"{name} with cost {cost_label}"
    skip = _closed_form_skip(chain, cost_name, cost_label)
    if skip:
        assert chain.output is not None
        return ModelWithCost(model, named, fn, label, skip, kinked_ops(chain.output))
    assert cost_name is not None
    views = _views(chain.layers, cost_name)
    return DenseChain(model, named, fn, label, chain.layers, views, cost_name)


def _check_cost(fn: Callable[..., Tensor], out: Any, Y: Any) -> None:
    """The cost on the model's output: a scalar tensor, with errors naming the call."""
    try:
        C = fn(out, Y)
    except NablaGraphError as exc:
        y_shape = np.shape(getattr(Y, "data", Y))
        raise type(exc)(
            f"{_WHERE}: the cost failed on the model's output of shape {out.shape} and Y of "
            f"shape {y_shape}: {exc}"
        ) from exc
    if not isinstance(C, Tensor):
        raise ConfigError(
            f"{_WHERE}: the cost must return a Tensor built from nablagraph ops, got "
            f"{type(C).__name__}"
        )
    if C.size != 1:
        raise ShapeError(
            f"{_WHERE}: the cost must be a scalar (one number), got a Tensor of shape {C.shape}; "
            "average it over the batch"
        )


def _views(layers: list[Any], cost_name: str) -> list[_LayerView]:
    names = [str(d.activation_name) for d in layers]
    if cost_name == "cross_entropy" and names[-1] == "identity":
        names[-1] = "softmax"  # the cost reads the output as logits
    return [_LayerView(d.W, d.b, n) for d, n in zip(layers, names)]


def _closed_form_skip(chain: ChainReport, cost_name: str | None, cost_label: str) -> str:
    """Why the closed form cannot run on this model, or ``""``."""
    head = "closed form: skipped — "
    if chain.reasons == ["a function"]:
        return head + "the model is a function of tensors, not a chain of Dense layers"
    if chain.reasons:
        return head + f"the model is not a chain of Dense layers ({'; '.join(chain.reasons)})"
    if cost_name is None:
        return head + (
            f"the cost is a function ({cost_label}), not a name from the cost table "
            f"({', '.join(_COSTS)})"
        )
    last = str(chain.layers[-1].activation_name)
    if cost_name == "cross_entropy" and last != "identity":
        return head + (
            f"cross_entropy reads the output as logits, but the last Dense layer applies "
            f"{last!r} to them (use an identity output layer: softmax is part of the cost)"
        )
    views = _views(chain.layers, cost_name)
    try:
        ref.DenseParams.from_arrays(
            [(v.W.data, v.b.data) for v in views], [v.activation_name for v in views], cost_name
        )
    except NablaGraphError as exc:
        return head + str(exc).removeprefix("closed form: ")
    return ""


def two_route_verdict(r: GradientComparison) -> None:
    """On a failure with no closed form, restate the verdict: two routes, autodiff named."""
    if r.passed or not r.skipped or r.cost_closed_form is not None or r.layers:
        return
    bad = [p for p in r.parameters if not p.passed and p.ad_fd is not None]
    if not bad:
        return
    p, pe = bad[0], bad[0].ad_fd
    assert pe is not None
    names = ", ".join(b.name for b in bad)
    r.failing_equation = r.failing_layer = None
    r.suspect = "autodiff"
    r.failure = (
        f"{p.name}: autodiff and finite differences disagree, max rel error {pe.max_rel:.3g} "
        f"at {pe.worst} (autodiff {pe.a:.6g}, finite differences {pe.b:.6g}); failing: "
        f"{names}. With no closed form to break the tie, autodiff is the likelier culprit "
        "(a custom op's VJP) unless a kink (ReLU, abs, max) lies within ε of a probe"
    )
