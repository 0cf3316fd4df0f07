"""The workload table under several BLAS settings, several runs each (bench --runs/--settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nablagraph.cli import main
from nablagraph.errors import ConfigError
from nablagraph.tools import bench_matrix as bm


def test_the_eight_settings_of_the_issue() -> None:
    names = list(bm.SETTINGS)
    assert len(names) == 8 and bm.choose_settings("all") == list(bm.SETTINGS.values())
    h = bm.SETTINGS["haswell-2t-sklearn"]
    assert h.env == {"OPENBLAS_NUM_THREADS": "2", "OPENBLAS_CORETYPE": "Haswell"} and h.imports == ("sklearn",)
    d = bm.SETTINGS["default-1t"]
    assert d.env == {"OPENBLAS_NUM_THREADS": "1"} and d.unset == ("OPENBLAS_CORETYPE",) and not d.imports
    assert [s.name for s in bm.choose_settings(" Default-1T, haswell-2t,default-1t")] == ["default-1t", "haswell-2t"]


@pytest.mark.parametrize("spec", ["default-3t", "", "all,default-1t"])
def test_unknown_settings_are_refused_by_name(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"bench settings: unknown .*; expected 'all' or names from default-1t, "):
        bm.choose_settings(spec)


def test_a_child_gets_the_settings_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")
    monkeypatch.setenv("MALLOC_MMAP_MAX_", "0")
    env = bm._child_env(bm.SETTINGS["default-2t"])
    assert "OPENBLAS_CORETYPE" not in env and env["OPENBLAS_NUM_THREADS"] == "2" and env["MALLOC_MMAP_MAX_"] == "0"
    env = bm._child_env(bm.SETTINGS["haswell-1t"])
    assert env["OPENBLAS_CORETYPE"] == "Haswell" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert bm._child_env(bm.Setting("current"))["OPENBLAS_CORETYPE"] == "Zen"


def _row(workload: str, hand: float, eager: float, replay: float) -> dict[str, object]:
    return {"workload": workload, "dtype": "float64", "seconds": {"hand": hand},
            "ratio": {"hand": 1.0, "eager": eager, "replay": replay}}


def test_the_summary_is_the_median_and_range_over_runs() -> None:
    runs = [{"setting": "default-1t", "run": i, "rows": [_row("W1", h, e, r)]}
            for i, (h, e, r) in enumerate([(3e-5, 3.0, 1.2), (4e-5, 2.0, 0.9), (5e-5, 4.0, 1.0)])]
    runs.append({"setting": "haswell-2t", "run": 1, "rows": [_row("W1", 2e-3, 1.5, 0.5), _row("W4", 1.2049, 0.9, 0.9)]})
    summary = {(s["setting"], s["workload"]): s for s in bm.summarize(runs)}
    s = summary[("default-1t", "W1")]
    assert s["runs"] == 3 and s["hand_s"] == {"median": 4e-5, "min": 3e-5, "max": 5e-5}
    assert s["ratio"]["eager"] == {"median": 3.0, "min": 2.0, "max": 4.0}
    assert s["ratio"]["replay"] == {"median": 1.0, "min": 0.9, "max": 1.2}
    table = bm.matrix_table(list(summary.values())).splitlines()
    assert table[2] == "| default-1t | W1 | float64 | 3 | 40.0 µs | 3.00× (2.00–4.00) | 1.00× (0.90–1.20) |"
    assert table[3] == "| haswell-2t | W1 | float64 | 1 | 2.00 ms | 1.50× (1.50–1.50) | 0.50× (0.50–0.50) |"
    assert table[4] == "| haswell-2t | W4 | float64 | 1 | 1.205 s | 0.90× (0.90–0.90) | 0.90× (0.90–0.90) |"


def test_runs_under_two_settings_each_in_its_own_process() -> None:
    lines: list[str] = []
    result = bm.run_matrix(["W1"], bm.choose_settings("default-1t,haswell-2t"), runs=2, repeats=1,
                           min_time=0.01, out=lines.append, torch=False)
    assert [(r["setting"], r["run"]) for r in result["runs"]] == [
        ("default-1t", 1), ("haswell-2t", 1), ("default-1t", 2), ("haswell-2t", 2)]
    assert lines[-1].startswith("run 2/2 haswell-2t: W1 float64 eager ")
    for r in result["runs"]:  # each child reports the settings it ran under
        line = r["settings"]
        assert ("OPENBLAS_CORETYPE=Haswell" in line) == (r["setting"] == "haswell-2t"), line
        assert f"OPENBLAS_NUM_THREADS={r['setting'][-2]}" in line, line
        ratios = r["rows"][0]["ratio"]
        assert ratios["hand"] == 1.0 and ratios["eager"] > 0 and ratios["replay"] > 0 and "torch" not in ratios
    assert sorted((s["setting"], s["runs"]) for s in result["summary"]) == [("default-1t", 2), ("haswell-2t", 2)]


def test_the_command_prints_and_writes_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The children themselves are run above; here their results are made up, to check the command.
    ratios = iter([(3.0, 1.1), (2.0, 0.9)])

    def fake_run(setting: bm.Setting, names: list[str], *rest: object) -> dict[str, object]:
        e, r = next(ratios)
        return {"settings": "settings: made up", "rows": [_row(names[0], 5e-5, e, r)]}

    monkeypatch.setattr(bm, "_run_one", fake_run)
    out, md = tmp_path / "m.json", tmp_path / "m.md"
    code = main(["bench", "--workloads", "W1", "--runs", "2", "--repeats", "1", "--json", str(out),
                 "--markdown", str(md)])
    assert code == 0
    text = capsys.readouterr().out
    assert "2 run(s) of each of 1 setting(s), each in a new process: current (the environment as it is)" in text
    assert "run 2/2 current: W1 float64 eager 2.00× replay 0.90×" in text
    row = "| current | W1 | float64 | 2 | 50.0 µs | 2.50× (2.00–3.00) | 1.00× (0.90–1.10) |"
    assert row in text.splitlines() and md.read_text().splitlines()[2] == row
    result = json.loads(out.read_text())
    assert [r["run"] for r in result["runs"]] == [1, 2] and result["machine"]["numpy"]


def test_a_setting_whose_module_is_missing_is_skipped_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    absent = bm.Setting("absent", {}, ("nablagraph_no_such_module",))
    result = bm.run_matrix(["W1"], [absent], runs=1, out=print)
    assert result["skipped"] == {"absent": "nablagraph_no_such_module is not installed"}
    assert result["runs"] == [] and "skipped absent: nablagraph_no_such_module is not installed" in capsys.readouterr().out


def test_a_failing_child_is_reported_with_its_error() -> None:
    with pytest.raises(RuntimeError, match=r"the run under current .* failed with exit code 1:\n(.|\n)*KeyError: 'W9'"):
        bm.run_matrix(["W9"], [bm.Setting("current")], runs=1, out=lambda s: None)
