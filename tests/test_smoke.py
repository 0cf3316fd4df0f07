"""The main job runs end to end through its real entry point."""

from __future__ import annotations

import subprocess
import sys


def test_main_job_trains_xor_and_checks_gradients() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nablagraph", "--epochs", "3000"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "XOR learned: yes" in proc.stdout
    assert "gradient check: passed" in proc.stdout


def test_main_job_rejects_bad_arguments() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nablagraph", "--lr", "-1"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "--lr must be positive, got -1.0" in proc.stderr
    assert "Traceback" not in proc.stderr
