"""The per-epoch record of a training run, :class:`History` (what :func:`nablagraph.nn.fit` returns).

Imports: nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run.

    Attributes
    ----------
    epoch : list of int
        ``1 … epochs``.
    train_cost, train_accuracy : list of float
        Cost ``C`` and accuracy on the whole training set after each epoch (the cost
        without any weight-decay term; accuracy ``None`` when the targets are not
        classes).
    val_cost, val_accuracy : list of float or None
        The same on ``validation_data`` (``None`` entries without it).
    seconds : list of float
        Wall time of each epoch's training steps (evaluation excluded).
    diagnostics : list
        The learning diagnostics per epoch when ``fit(..., diagnostics=...)`` asked
        for them, else empty.
    config : dict
        The settings of the run (optimizer, batch size, seed, example counts).
    """

    epoch: list[int] = field(default_factory=list)
    train_cost: list[float] = field(default_factory=list)
    train_accuracy: list[float | None] = field(default_factory=list)
    val_cost: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    diagnostics: list[Any] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.epoch)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python lists and numbers (JSON-serialisable)."""
        diags = [d.to_dict() if hasattr(d, "to_dict") else d for d in self.diagnostics]
        return {
            "epoch": list(self.epoch),
            "train_cost": list(self.train_cost),
            "train_accuracy": list(self.train_accuracy),
            "val_cost": list(self.val_cost),
            "val_accuracy": list(self.val_accuracy),
            "seconds": list(self.seconds),
            "diagnostics": diags,
            "config": dict(self.config),
        }

    def __str__(self) -> str:
        def f(v: float | None, spec: str) -> str:
            return "-" if v is None else format(v, spec)

        head = f"{'epoch':>5} {'train cost':>11} {'train acc':>9} {'val cost':>10} {'val acc':>8} {'seconds':>8}"
        rows = [head]
        for i in range(len(self)):
            rows.append(
                f"{self.epoch[i]:>5} {self.train_cost[i]:>11.5f} {f(self.train_accuracy[i], '.4f'):>9} "
                f"{f(self.val_cost[i], '.5f'):>10} {f(self.val_accuracy[i], '.4f'):>8} "
                f"{self.seconds[i]:>8.3f}"
            )
        return "\n".join(rows)
