"""The training examples run as scripts (small settings) and say what they should."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from nablagraph import io

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def test_xor_example_learns_and_round_trips() -> None:
    out = _run("xor.py", "--epochs", "1500").stdout
    assert "XOR learned: yes" in out
    assert "loaded back: bit-exact" in out
    costs = [float(c) for c in re.findall(r"cost (\d+\.\d+)", out)]
    assert len(costs) >= 2 and costs[-1] < costs[0] / 10


def test_xor_example_rejects_bad_arguments() -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "xor.py"), "--lr", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--lr must be positive, got 0.0" in proc.stderr


def test_digits_example_trains_reports_and_saves(tmp_path: Path) -> None:
    path = tmp_path / "digits.safetensors"
    out = _run("digits.py", "--epochs", "4", "--hidden", "16", "--diagnostics", "--save", str(path)).stdout
    acc = float(re.search(r"test accuracy: (\d\.\d+) \(\d+/360\)", out).group(1))  # type: ignore[union-attr]
    assert acc > 0.85
    assert re.search(r"training time: \d+\.\d+ s for 4 epochs \(144 mini-batches each\)", out)
    assert len(re.findall(r"^\s+\d+\s+\d\.\d{5}\s+\d\.\d{4}", out, flags=re.M)) == 4  # one row per epoch
    assert "Learning diagnostics" in out and "sigmoid" in out
    net = io.load(path)
    assert net.sizes == [64, 16, 10] and io.read_metadata(path)["test_accuracy"] == f"{acc:.4f}"
    assert np.isfinite(net.layers[0].W.data).all()


def test_digits_example_reports_bad_settings_without_a_traceback() -> None:
    proc = subprocess.run([sys.executable, str(EXAMPLES / "digits.py"), "--batch-size", "0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "error: fit: batch_size must be at least 1, got 0" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_custom_module_example_passes_gradcheck_trains_and_round_trips() -> None:
    out = _run("custom_module.py", "--epochs", "2", "--hidden", "8").stdout
    assert "parameters W2, b2, W_res, b_res, W3, b3" in out
    assert "gradcheck: passed" in out
    for name in ("W2", "b2", "W_res", "b_res", "W3", "b3"):
        assert re.search(rf"^\d+ {name}\s+\(.*\)\s+full .* yes$", out, flags=re.M), name
    assert float(re.search(r"test accuracy: (\d\.\d+)", out).group(1)) > 0.7  # type: ignore[union-attr]
    assert "save / load_into round trip: bit-exact" in out
