"""The verdict of :func:`nablagraph.check.check_backprop`: where it fails and the likely mistake.

:func:`diagnose` fills in ``passed``, the first failing equation (in the order backprop
computes: BP1 at ``L``, BP2 at ``l``, BP3, BP4, then the update rule), the candidate
mistake that reproduces the user's numbers and one paragraph saying so, with what
finite differences say.  :func:`failed_to_run` does the same when the user's code
raised.

Imports: ``check.hypotheses``, ``check.user_code``, ``check.yours_report``.
"""

from __future__ import annotations

from nablagraph.check import hypotheses as hyp
from nablagraph.check.user_code import user_frame
from nablagraph.check.yours_report import BackpropReport, Hypothesis

__all__ = ["diagnose", "failed_to_run"]


def failed_to_run(rep: BackpropReport, exc: Exception) -> None:
    where = user_frame(exc)
    rep.error = f"{type(exc).__name__}: {exc}"
    hint = ""
    if "align" in str(exc) or "broadcast" in str(exc) or "matmul" in str(exc):
        hint = ("; a shape error inside backprop is most often a missing transpose: (w^{l+1})ᵀ δ^{l+1} "
                "in BP2 or δ^l (a^{l-1})ᵀ in BP4")
    rep.diagnosis = f"your code raised {rep.error}" + (f" at {where}" if where else "") + hint


def diagnose(rep: BackpropReport, tested: list[Hypothesis],
              first_hits: list[tuple[hyp.Mistake, float]], up_tested: list[Hypothesis]) -> None:
    """``passed``, the first failing equation, the mistake and one paragraph saying so."""
    L = len(rep.sizes)
    bad = [c for c in rep.checks if not c.passed]
    rep.passed = not bad and not rep.error
    if rep.passed:
        return
    parts: list[str] = []
    bad_bp = [c for c in bad if c.equation != "update"]
    if bad_bp:
        c = bad_bp[0]
        matched = next((h for h in tested if h.matched), None)
        eq, layer = c.equation, c.layer
        if c.quantity.startswith("∇b"):  # ∇b^l = δ^l (BP3): δ^l itself is wrong
            eq = "BP1" if c.layer == L else "BP2"
        rep.failing_equation, rep.failing_layer = eq, layer
        size = ("shape " + str(c.shape) + f" where {c.expected_shape} is expected") if c.max_rel is None \
            else f"max rel err {c.max_rel:.3g} at {c.worst} (yours {c.yours:.6g}, autodiff {c.autodiff:.6g})"
        if matched is not None:
            rep.mistake, rep.mistake_where = matched.mistake, matched.where
            rep.failing_equation = matched.equation
            if matched.equation in ("BP1", "BP2", "BP3", "BP4"):
                rep.failing_layer = max(matched.layers) if matched.layers else layer
            else:
                rep.failing_layer = 0
        head = _where(rep.failing_equation, rep.failing_layer, L) if matched is None or \
            matched.equation in ("BP1", "BP2", "BP3", "BP4") else matched.where
        parts.append(f"{head}: {c.quantity} disagrees with autodiff, {size}")
        if matched is not None:
            parts.append(f"likely mistake, in {matched.where}: {matched.mistake} (injected into a correct "
                         f"backprop it reproduces your numbers to {matched.max_rel:.1g})")
        elif first_hits:
            m, _ = first_hits[0]
            rep.mistake, rep.mistake_where = m.describe(), m.where(L)
            parts.append(f"{c.quantity} alone is reproduced by {m.where(L)}: {m.describe()} "
                         "(other quantities differ too: there may be a second mistake)")
        else:
            parts.append(f"none of the {len(tested)} candidate mistakes reproduces your numbers")
            rep.nearest = sorted(tested, key=lambda h: h.max_rel)[:3]
        parts.append(_fd_sentence(rep))
    bad_up = [c for c in bad if c.equation == "update"]
    if bad_up:
        c = bad_up[0]
        if not bad_bp:
            rep.failing_equation, rep.failing_layer = "update", c.layer
        up = next((h for h in up_tested if h.matched), None)
        size = (f"shape {c.shape} where {c.expected_shape} is expected" if c.max_rel is None
                else f"max rel err {c.max_rel:.3g}")
        text = (f"the update rule w → w − (η/M) Σ_m ∇_w C_m, b → b − (η/M) Σ_m ∇_b C_m (checked with "
                f"your own backprop's gradients): {c.quantity} is off, {size}")
        if up is not None:
            text += f"; likely mistake: {up.mistake}"
            if not rep.mistake:
                rep.mistake, rep.mistake_where = up.mistake, up.where
        parts.append(text)
    if rep.error:
        parts.insert(0, rep.diagnosis)
    rep.diagnosis = "; ".join(p for p in parts if p)


def _where(eq: str, layer: int, L: int) -> str:
    if eq == "BP1":
        return f"BP1 at the output layer L = {L} (δ^L = ∇_a C ⊙ σ'(z^L); seen in ∇b^L = δ^L)"
    if eq == "BP2":
        return f"BP2 at layer {layer} (δ^{layer} = ((w^{layer + 1})ᵀ δ^{layer + 1}) ⊙ σ'(z^{layer}))"
    if eq == "BP3":
        return f"BP3 at layer {layer} (∇b^{layer} = δ^{layer})"
    return f"BP4 at layer {layer} (∇w^{layer} = δ^{layer} (a^{layer - 1})ᵀ)"


def _fd_sentence(rep: BackpropReport) -> str:
    if rep.autodiff_vs_fd is None:
        return ""
    ad_ok = rep.autodiff_vs_fd <= 1e-5
    you_ok = rep.yours_vs_fd is not None and rep.yours_vs_fd <= 1e-5
    you = "n/a (shapes differ)" if rep.yours_vs_fd is None else f"{rep.yours_vs_fd:.1e}"
    if ad_ok and not you_ok:
        return (f"finite differences side with autodiff (max rel err {rep.autodiff_vs_fd:.1e}; "
                f"yours vs FD {you}), so the mistake is in your backprop")
    if you_ok and not ad_ok:
        return (f"finite differences side with YOUR numbers (yours vs FD {you}, autodiff vs FD "
                f"{rep.autodiff_vs_fd:.1e}): this is a nablagraph bug, please report it")
    return f"finite differences: autodiff vs FD {rep.autodiff_vs_fd:.1e}, yours vs FD {you}"
