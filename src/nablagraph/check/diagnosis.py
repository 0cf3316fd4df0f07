"""The verdict of :func:`nablagraph.check.compare_gradients`: which route is wrong, and where.

After the three routes are compared, :func:`diagnose` fills in ``passed``, the
first equation (feedforward, BP1–BP4) at which autodiff and the closed form part, in
the order backprop computes, and the suspect route (finite differences break the
tie): :func:`_first_disagreement`, :func:`_suspect`, :func:`_describe_failure`.

Imports: ``reference`` (types only), ``check.report``.
"""

from __future__ import annotations

import numpy as np

from nablagraph import reference as ref
from nablagraph.check.report import PAIRS, GradientComparison, PairError, ParameterCheck

__all__ = ["diagnose"]

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


def _where(eq: str, l: int) -> str:
    if eq == "BP1":
        return f"BP1 at the output layer L = {l}"
    if eq == "BP3":
        return f"BP3 for ∇b^{l}"
    if eq == "BP4":
        return f"BP4 for ∇W^{l}"
    return f"{eq} at layer {l}"



def diagnose(
    r: GradientComparison, cf_stage: tuple[str, int] | None, cf_message: str,
    dense: ref.DenseParams | None,
) -> None:
    """Fill in ``passed``, the first failing equation and the suspect route."""
    if not np.isfinite(r.cost_autodiff):
        r.passed = False
        r.suspect = "undetermined"
        r.failure = (
            f"the cost itself is {r.cost_autodiff} at this point (non-finite parameters or data), "
            "so no route's gradient can be compared; run the forward pass under "
            "nablagraph.detect_anomaly() to find the op that first makes it"
        )
        return
    if cf_stage is not None:
        r.passed = False
        r.failing_equation, r.failing_layer = cf_stage
        r.suspect = "closed form"
        r.failure = (
            f"{_where(cf_stage[0], cf_stage[1])}: the closed form raised an error there: "
            f"{cf_message}"
        )
        return
    bad_params = [p for p in r.parameters if not p.passed]
    bad_layers = [c for c in r.layers if not c.passed]
    r.passed = not bad_params and not bad_layers
    if r.passed:
        return

    first = _first_disagreement(r)
    suspect = _suspect(bad_params, first is not None)
    r.suspect = suspect
    _describe_failure(r, first, bad_params, suspect, dense)


def _first_disagreement(r: GradientComparison) -> tuple[str, int, PairError] | None:
    """Where autodiff and the closed form first part, in the order backprop computes."""
    for c in sorted(r.layers, key=lambda c: c.layer):
        if c.z is not None and not c.z.passed:
            return ("feedforward", c.layer, c.z)
    for c in sorted(r.layers, key=lambda c: -c.layer):
        if c.delta is not None and not c.delta.passed:
            return (c.equation, c.layer, c.delta)
    for p in r.parameters:
        if p.ad_cf is not None and not p.ad_cf.passed and p.equation and p.layer:
            return (p.equation, p.layer, p.ad_cf)
    return None


def _suspect(bad_params: list[ParameterCheck], parted: bool) -> str:
    """Which route is the odd one out (finite differences break the tie)."""
    votes = [_vote(p) for p in bad_params]
    if not votes and parted:
        votes.append("undetermined")
    suspect = max(set(votes), key=votes.count) if votes else "undetermined"
    if "closed form" in votes and "autodiff" not in votes:
        suspect = "closed form"
    elif "autodiff" in votes and "closed form" not in votes:
        suspect = "autodiff"
    return suspect


def _vote(p: ParameterCheck) -> str:
    """The route one failing parameter's three pairs point at."""
    ok = {k: (getattr(p, k) is None or getattr(p, k).passed) for k in PAIRS}
    have_fd = p.ad_fd is not None and p.cf_fd is not None
    if have_fd and not ok["ad_cf"] and ok["ad_fd"] and not ok["cf_fd"]:
        return "closed form"
    if have_fd and not ok["ad_cf"] and not ok["ad_fd"] and ok["cf_fd"]:
        return "autodiff"
    if ok["ad_cf"] and not (ok["ad_fd"] and ok["cf_fd"]):
        return "finite differences"
    return "undetermined"


def _describe_failure(
    r: GradientComparison, first: tuple[str, int, PairError] | None,
    bad_params: list[ParameterCheck], suspect: str, dense: ref.DenseParams | None,
) -> None:
    """``failure`` (and the failing equation and layer): where, by how much, and why."""
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
            f"{_where(eq, l)} ({_equation_text(eq, l)}{act}): autodiff and the closed "
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


