"""Every row of docs/pytorch-names.md runs, and gives what PyTorch gives.

The page's table has three columns: the PyTorch idiom, the nablagraph code, the
differences.  Each nablagraph cell is run after the page's ``python`` setup block; each
PyTorch cell (where it is code and PyTorch is installed) after its ``py`` setup block,
with the weights of ``model`` copied from the nablagraph model.  Statements in a cell
are separated by ``; ``; the last one's value is the row's result.  Results are
compared by shape, values (to 1e-10, or 1e-6 where float32 is involved) and, for
floating PyTorch results, dtype.  The rows are run without PyTorch too: only the
comparison needs it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nablagraph as ng

PAGE = Path(__file__).resolve().parents[1] / "docs" / "pytorch-names.md"
TEXT = PAGE.read_text(encoding="utf-8")
CODE_CELL = re.compile(r"^`([^`]+)`$")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)

#: Rows whose two sides draw random numbers from different generators: shape and dtype only.
RANDOM = ("randn(",)

#: Names a PyTorch user types that the table must show (the issue's list).
MUST_COVER = [
    "ng.tensor(", "ng.zeros(", "ng.ones(", "ng.randn(", "ng.zeros_like(", "ng.arange(", "ng.stack(",
    ".to(", ".float()", ".double()", ".tolist()", ".argmax(", ".max(", ".min(", "ng.nn.Linear(",
    "ng.nn.ReLU(", "ng.nn.Sigmoid(", "ng.nn.Tanh(", "ng.nn.Softmax(", "ng.nn.LeakyReLU(",
    "ng.nn.Softplus(", "ng.nn.LogSoftmax(", "ng.nn.Identity(", ".train()", ".eval()",
    "clip_grad_norm_(", "clip_grad_value_(", "ng.nn.StepLR(", "ng.nn.CosineAnnealingLR(",
    "ng.nn.ReduceLROnPlateau(", "scheduler=", "ng.data.DataLoader(", "register_hook(",
]


def setup(lang: str) -> str:
    """The page's first fenced block in ``lang`` (``python``: ours, ``py``: PyTorch's)."""
    for m in FENCE.finditer(TEXT):
        if m.group(1) == lang:
            return m.group(2)
    raise AssertionError(f"{PAGE.name} has no ```{lang} setup block")


def table() -> list[tuple[str | None, str, str]]:
    """``(pytorch code or None, nablagraph code, differences)`` for each row."""
    start = TEXT.index("## The table")
    rows = []
    for line in TEXT[start:].splitlines():
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if cells[0] in ("PyTorch", "---"):
            continue
        assert len(cells) == 3, f"a row with {len(cells)} cells: {line}"
        ours = CODE_CELL.match(cells[1])
        assert ours, f"the nablagraph cell is not one code span: {cells[1]}"
        theirs = CODE_CELL.match(cells[0])
        rows.append((theirs.group(1) if theirs else None, ours.group(1), cells[2]))
    return rows


ROWS = table()


def run(code: str, prelude: str, namespace: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Run ``prelude`` then the statements of ``code``; the last one's value and the names."""
    ns: dict[str, Any] = {} if namespace is None else namespace
    if namespace is None:
        exec(compile(prelude, str(PAGE), "exec"), ns)
    *stmts, last = code.split("; ")
    for s in stmts:
        exec(compile(s, str(PAGE), "exec"), ns)
    return eval(compile(last, str(PAGE), "eval"), ns), ns


def as_array(v: Any) -> np.ndarray:
    """A row's result as a NumPy array (tensors of either library, sizes, lists, numbers)."""
    if isinstance(v, ng.Tensor):
        return v.data
    if type(v).__module__.startswith("torch"):
        if hasattr(v, "detach"):
            return v.detach().numpy()
        return np.asarray(tuple(v))  # torch.Size
    return np.asarray(v)


def test_the_table_has_every_name_the_issue_asks_for() -> None:
    ours = " ".join(code for _, code, _ in ROWS)
    missing = [name for name in MUST_COVER if name not in ours]
    assert not missing, f"{PAGE.name} shows no row for {missing}"
    assert len(ROWS) >= 40 and sum(t is not None for t, _, _ in ROWS) >= len(ROWS) - 1


IDS = [r[1][:60] for r in ROWS]


@pytest.mark.parametrize(("theirs", "ours", "differences"), ROWS, ids=IDS)
def test_the_row_runs(theirs: str | None, ours: str, differences: str) -> None:
    got, _ = run(ours, setup("python"))
    assert got is not None, f"{ours} gave None"


@pytest.mark.parametrize(("theirs", "ours", "differences"), ROWS, ids=IDS)
def test_the_row_gives_what_pytorch_gives(theirs: str | None, ours: str, differences: str) -> None:
    if theirs is None:
        pytest.skip("no PyTorch code in this row")
    torch = pytest.importorskip("torch")
    got, _ = run(ours, setup("python"))
    ns: dict[str, Any] = {}
    exec(compile(setup("py"), str(PAGE), "exec"), ns)
    with torch.no_grad():  # the same weights on both sides
        for tp, (_, p) in zip(ns["model"].parameters(), run("model", setup("python"))[0].named_parameters()):
            tp.copy_(torch.from_numpy(p.data))
    with warnings.catch_warnings():
        # The schedule rows step a schedule with no optimizer step before it, which
        # PyTorch warns about; the learning rates are what is compared.
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
        want, _ = run(theirs, "", ns)
    compare(ours, got, theirs, want)


def compare(ours: str, got: Any, theirs: str, want: Any) -> None:
    """Same shape; for a floating PyTorch result the same dtype; the same values."""
    a, b = as_array(got), as_array(want)
    assert a.shape == b.shape, f"{ours}: shape {a.shape}, PyTorch {b.shape}"
    if b.dtype.kind == "f":
        assert a.dtype == b.dtype, f"{ours}: dtype {a.dtype}, PyTorch {b.dtype}"
    if any(r in theirs for r in RANDOM):
        return
    tol = 1e-6 if np.float32 in (a.dtype, b.dtype) else 1e-10
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol, atol=tol,
                               err_msg=f"{ours} vs PyTorch's {theirs}")


def test_the_comparison_would_catch_a_wrong_row() -> None:
    # PyTorch's x.max(1)[0] (the values) typed here means the first row of x; the tie
    # rule of x.max(dim) would give another gradient; a float32 result is not float64.
    x = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
    with pytest.raises(AssertionError, match="shape"):
        compare("x.max(1)[0]", x[0], "x.max(1)[0]", x.max(axis=1)[:1].repeat(2))
    with pytest.raises(AssertionError):
        compare("t.grad", np.array([0.0, 0.5, 0.5]), "t.grad", np.array([0.0, 1.0, 0.0]))
    with pytest.raises(AssertionError, match="dtype"):
        compare("x", x, "x", x.astype(np.float32))
    compare("x", x, "x", x + 1e-12)  # and passes what is equal
