"""Every example runs in the test suite; these two are run here (the others by the
tests of what they show: training, comparison, rendering)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=300
    )


def test_cross_entropy_escapes_saturation_much_faster_than_the_quadratic_cost(tmp_path: Path) -> None:
    out = tmp_path / "speed.png"
    proc = run("cost_learning_speed.py", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"epochs until a < 0.5: quadratic (\d+), cross-entropy (\d+)", proc.stdout)
    assert m, proc.stdout
    quad, ce = int(m.group(1)), int(m.group(2))
    assert ce * 5 < quad  # the σ'(z) factor in BP1 slows the quadratic cost down
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_hessian_vector_product_example_matches_the_full_hessian() -> None:
    proc = run("hessian_vector_product.py", "--iterations", "60")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    err = float(re.search(r"max rel error ([0-9.e+-]+)", proc.stdout).group(1))  # type: ignore[union-attr]
    lam = float(re.search(r"eigenvalue ≈ ([0-9.e+-]+)", proc.stdout).group(1))  # type: ignore[union-attr]
    assert err < 1e-6

    # Independent check: build H column by column from the example's own HVP and
    # take its spectrum with LAPACK.
    spec = importlib.util.spec_from_file_location("hvp_example", EXAMPLES / "hessian_vector_product.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    import nablagraph as ng

    rng = np.random.default_rng(0)
    net = ng.nn.Network([4, 6, 3], activation="tanh", cost="cross_entropy", seed=0)
    X, Y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    shapes = [p.shape for p in net.parameters()]
    sizes = [int(np.prod(s)) for s in shapes]
    P = sum(sizes)
    H = np.zeros((P, P))
    for j in range(P):
        e = np.zeros(P)
        e[j] = 1.0
        parts = np.split(e, np.cumsum(sizes)[:-1])
        H[:, j] = np.concatenate([h.ravel() for h in mod.hvp(net, X, Y, [q.reshape(s) for q, s in zip(parts, shapes)])])
    np.testing.assert_allclose(H, H.T, atol=1e-10)  # a Hessian is symmetric
    eig = np.linalg.eigvalsh((H + H.T) / 2)
    top = eig[np.argmax(np.abs(eig))]
    assert abs(lam - top) <= 1e-3 * abs(top), (lam, top)


def test_every_example_is_run_by_some_test() -> None:
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    for example in sorted(EXAMPLES.glob("*.py")):
        assert example.name in tests, f"{example.name} is not run by any test"
