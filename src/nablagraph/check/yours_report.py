"""The report of :func:`nablagraph.check.check_backprop`: a table, a dict, JSON, a verdict.

:class:`BackpropReport` holds one :class:`QuantityCheck` per quantity compared (the
user's ``δ^l``, ``∇b^l``, ``∇w^l`` and, for an update rule, ``w^l`` and ``b^l`` after
one step) against autodiff, finite differences as the tie-breaker, and on a mismatch
the failing equation and the mistake that reproduces the user's numbers
(:class:`Hypothesis`).  ``str(report)`` is the table; :meth:`BackpropReport.to_dict`
and :meth:`BackpropReport.to_json` give the same as plain data.

Imports: nothing from the package (plain data).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BackpropReport", "QuantityCheck", "Hypothesis"]


@dataclass
class QuantityCheck:
    """One quantity of the user's backprop against autodiff.

    ``max_rel`` is the largest elementwise relative error ``|a − b| / max(|a|, |b|,
    floor · scale)`` (``None`` when the shapes differ); ``worst`` locates it, with the
    user's value ``yours`` and autodiff's ``autodiff`` there.
    """

    quantity: str
    equation: str
    layer: int
    expected_shape: tuple[int, ...]
    shape: tuple[int, ...]
    max_abs: float | None
    max_rel: float | None
    worst: str
    yours: float | None
    autodiff: float | None
    passed: bool


@dataclass
class Hypothesis:
    """A candidate mistake and how closely it reproduces the user's numbers."""

    mistake: str
    where: str
    equation: str
    layers: list[int]
    max_rel: float
    matched: bool


@dataclass
class BackpropReport:
    """The verdict on a handwritten backprop (see :func:`nablagraph.check.check_backprop`).

    Attributes
    ----------
    passed : bool
        Every quantity agrees with autodiff within ``tolerance`` (and the user's code ran).
    failing_equation, failing_layer : str, int
        Where the user's backprop first parts from autodiff, in the order backprop
        computes (``"BP1"`` at ``L``, ``"BP2"`` at ``l``, ``"BP3"``, ``"BP4"``,
        ``"update"``), or what the matched mistake names; ``""`` and 0 when passed.
    mistake : str
        The candidate mistake that reproduces the user's numbers, in words; ``""``
        when none does.
    diagnosis : str
        One paragraph: where, by how much, what finite differences say, the likely
        mistake and what to change.
    """

    form: str
    model: str
    sizes: list[int]
    cost: str
    batch_size: int
    tolerance: float
    checks: list[QuantityCheck] = field(default_factory=list)
    fd_method: str = "off"
    autodiff_vs_fd: float | None = None
    yours_vs_fd: float | None = None
    passed: bool = False
    failing_equation: str = ""
    failing_layer: int = 0
    mistake: str = ""
    mistake_where: str = ""
    diagnosis: str = ""
    hypotheses_tested: int = 0
    nearest: list[Hypothesis] = field(default_factory=list)
    error: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def max_rel(self) -> float:
        """The largest relative error over every quantity compared (inf on a shape mismatch)."""
        vals = [c.max_rel if c.max_rel is not None else float("inf") for c in self.checks]
        return max(vals, default=float("inf") if self.error else 0.0)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (lists and numbers), ``max_rel`` included."""
        d = asdict(self)
        d["max_rel"] = self.max_rel
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON (non-finite numbers as strings)."""
        def clean(x: Any) -> Any:
            if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
                return str(x)
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            return x
        return json.dumps(clean(self.to_dict()), indent=indent, ensure_ascii=False)

    def __str__(self) -> str:
        head = (f"check_backprop: {self.model} ({self.form} form), sizes {self.sizes}, "
                f"{self.cost} cost, {self.batch_size} examples, tolerance {self.tolerance:g}")
        rows = [("quantity", "equation", "shape", "max abs err", "max rel err", "yours", "autodiff", "")]
        for c in self.checks:
            shape = str(c.shape) if c.shape == c.expected_shape else f"{c.shape} ≠ {c.expected_shape}"
            rows.append((c.quantity, c.equation, shape, _num(c.max_abs), _num(c.max_rel),
                         _val(c.yours), _val(c.autodiff), "ok" if c.passed else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [head, ""]
        for k, r in enumerate(rows if self.checks else []):  # (no table when nothing was compared)
            lines.append("  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        if any(c.equation == "update" for c in self.checks):
            lines.append("(update rows: the autodiff column is the correct rule w − (η/M) Σ_m ∇w C_m "
                         "applied to your own backprop's gradients)")
        if self.fd_method != "off":
            lines.append("")
            lines.append(f"finite differences ({self.fd_method}): autodiff vs FD max rel err "
                         f"{_num(self.autodiff_vs_fd)}, yours vs FD {_num(self.yours_vs_fd)}")
        lines.append("")
        if self.passed:
            lines.append(f"PASSED: your backprop agrees with autodiff (max rel err {_num(self.max_rel)}).")
        else:
            lines.append(f"FAILED: {self.diagnosis}")
            if not self.mistake and self.nearest:
                lines.append(f"nearest of the {self.hypotheses_tested} candidate mistakes tested:")
                lines.extend(f"  {h.where}: {h.mistake} (max rel err {_num(h.max_rel)})" for h in self.nearest)
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return "nan" if x != x else f"{x:.1e}"


def _val(x: float | None) -> str:
    return "—" if x is None else f"{x:.6g}"
