"""bench --workloads says under which settings it ran."""

from __future__ import annotations

import re

import pytest

import nablagraph as ng
from nablagraph.tools import bench


def test_the_settings_line_names_threads_blas_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    line = bench.settings_line()
    assert line.startswith("settings: nablagraph threads ")
    assert "(at most; measured per kernel and size)" in line
    assert re.search(r"BLAS: \S+ .*\d+ threads", line), line  # library, version, kernel, threads
    assert "environment: OPENBLAS_CORETYPE=Haswell" in line
    ng.set_num_threads(1)
    try:
        assert "nablagraph threads 1 (fixed)" in bench.settings_line()
    finally:
        ng.set_num_threads(None)


def test_each_row_carries_the_thread_choices_of_its_steps() -> None:
    lines: list[str] = []
    rows = bench.run_workloads(["W1"], repeats=1, scale=1.0, out=lines.append)
    assert lines[0].startswith("settings: ") and lines[1].startswith("W1 float64 hand ")
    assert rows[0]["threads"] == {}  # W1's arrays are far below the blocked kernels' size
