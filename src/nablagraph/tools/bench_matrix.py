"""The workload table under several machine settings, several runs of each.

A ratio measured once, under one BLAS setting, says little on a shared machine: the
same step moves by tens of percent from run to run, and by more between BLAS
settings (OpenBLAS's kernel, its thread count, a second BLAS pool that
``import sklearn`` loads through SciPy).  :func:`run_matrix` runs
:func:`nablagraph.tools.bench.run_workloads` in a fresh Python process per run and
setting — the BLAS reads ``OPENBLAS_CORETYPE`` and ``OPENBLAS_NUM_THREADS`` when it
loads, so a setting cannot change inside one process — with the runs as the outer
loop, so each setting's runs are spread over the session's load.  It reports, per
setting and workload, the median of the runs' ratios to the handwritten step and their
range::

    nablagraph bench --workloads W1,W3 --runs 3 --settings all

The settings (:data:`SETTINGS`) are the eight of the performance issue: OpenBLAS's
kernel as detected or ``OPENBLAS_CORETYPE=Haswell``, one or two OpenBLAS threads, and
scikit-learn imported or not.  Every other variable of the environment is passed on,
so ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1099511627776 nablagraph bench …`` runs
the matrix with glibc keeping freed memory.

Imports: :mod:`nablagraph.tools.bench` (in the child processes), :mod:`nablagraph.errors`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nablagraph.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "choose_settings", "run_matrix", "matrix_table"]


@dataclass(frozen=True)
class Setting:
    """One machine setting: environment variables set and unset for the BLAS, and
    modules imported first.  ``Setting("current")`` is this process's environment."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.env.items()] + [f"{k} unset" for k in self.unset]
        return (", ".join(parts) or "the environment as it is") + (
            f"; import {', '.join(self.imports)}" if self.imports else "")


def _make_settings() -> dict[str, Setting]:
    out = {}
    for core in ("default", "haswell"):
        for threads in ("1", "2"):
            for sk in (False, True):
                name = f"{core}-{threads}t" + ("-sklearn" if sk else "")
                env = {"OPENBLAS_NUM_THREADS": threads}
                if core == "haswell":
                    env["OPENBLAS_CORETYPE"] = "Haswell"
                # the default kernel is the one OpenBLAS detects
                unset = () if core == "haswell" else ("OPENBLAS_CORETYPE",)
                out[name] = Setting(name, env, ("sklearn",) if sk else (), unset)
    return out


#: The settings by name: ``{default,haswell}-{1,2}t[-sklearn]``.
SETTINGS: dict[str, Setting] = _make_settings()


def choose_settings(spec: str) -> list[Setting]:
    """The settings named in ``spec``: ``all``, or names of :data:`SETTINGS` separated by
    commas (``default-1t,haswell-2t-sklearn``)."""
    names = [s.strip().lower() for s in spec.split(",") if s.strip()]
    if names == ["all"]:
        return list(SETTINGS.values())
    unknown = [n for n in names if n not in SETTINGS]
    if unknown or not names:
        raise ConfigError(
            f"bench settings: unknown {', '.join(map(repr, unknown)) or 'empty list'}; expected 'all' or "
            f"names from {', '.join(SETTINGS)}"
        )
    return [SETTINGS[n] for n in dict.fromkeys(names)]


_CHILD = """\
import json, sys
{imports}
from nablagraph.tools import bench
lines = []
rows = bench.run_workloads({names!r}, repeats={repeats!r}, min_time={min_time!r}, scale={scale!r},
                           out=lines.append, torch={torch!r})
print(json.dumps({{"settings": lines[0], "rows": rows}}))
"""


def _child_env(setting: Setting) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in setting.unset}
    env.update(setting.env)
    return env


def _run_one(setting: Setting, names: list[str], repeats: int, min_time: float,
             scale: float, torch: bool) -> dict[str, Any]:
    code = _CHILD.format(imports="\n".join(f"import {m}" for m in setting.imports), names=names,
                         repeats=repeats, min_time=min_time, scale=scale, torch=torch)
    proc = subprocess.run([sys.executable, "-c", code], env=_child_env(setting),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"bench matrix: the run under {setting.name} ({setting.describe()}) "
                           f"failed with exit code {proc.returncode}:\n{tail}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _importable(module: str) -> bool:
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False)
    return proc.returncode == 0


def run_matrix(
    names: list[str], settings: list[Setting], runs: int = 3, repeats: int = 5,
    min_time: float = 0.2, scale: float = 1.0, out: Callable[[str], None] = print,
    torch: bool = True,
) -> dict[str, Any]:
    """Run the workloads ``names`` ``runs`` times under each setting, each in a fresh process.

    ``repeats``, ``min_time``, ``scale`` and ``torch`` (a PyTorch column when it is
    installed) are those of :func:`~nablagraph.tools.bench.run_workloads`.

    Returns ``{"runs": [{"setting", "run", "settings", "rows"}...], "skipped": {name:
    reason}, "summary": [...]}`` where the summary holds, per setting, workload and
    dtype, the median and range of each route's ratio to the handwritten step and of
    the handwritten step's time (see :func:`matrix_table`).  A setting whose modules
    are not installed (scikit-learn) is skipped, and said so.
    """
    skipped: dict[str, str] = {}
    missing = {m for s in settings for m in s.imports if not _importable(m)}
    todo = []
    for s in settings:
        absent = [m for m in s.imports if m in missing]
        if absent:
            skipped[s.name] = f"{', '.join(absent)} is not installed"
            out(f"skipped {s.name}: {skipped[s.name]}")
        else:
            todo.append(s)
    results = []
    for run in range(1, runs + 1):
        for s in todo:
            r = _run_one(s, names, repeats, min_time, scale, torch)
            results.append({"setting": s.name, "run": run, **r})
            ratios = ", ".join(f"{row['workload']} {row['dtype']} eager {row['ratio']['eager']:.2f}× "
                               f"replay {row['ratio']['replay']:.2f}×" for row in r["rows"])
            out(f"run {run}/{runs} {s.name}: {ratios}")
    return {"runs": results, "skipped": skipped, "summary": summarize(results)}


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median and range over the runs, per (setting, workload, dtype)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in results:
        for row in r["rows"]:
            groups.setdefault((r["setting"], row["workload"], row["dtype"]), []).append(row)
    summary = []
    for (setting, workload, dtype), rows in groups.items():
        entry: dict[str, Any] = {"setting": setting, "workload": workload, "dtype": dtype,
                                 "runs": len(rows), "ratio": {}}
        hand = [row["seconds"]["hand"] for row in rows]
        entry["hand_s"] = {"median": statistics.median(hand), "min": min(hand), "max": max(hand)}
        for route in rows[0]["ratio"]:
            v = [row["ratio"][route] for row in rows if route in row["ratio"]]
            entry["ratio"][route] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
        summary.append(entry)
    return summary


def matrix_table(summary: list[dict[str, Any]]) -> str:
    """The summary in Markdown: per setting and workload, the handwritten step's median
    time and the eager and replay ratios, median (min–max) over the runs."""
    lines = ["| setting | workload | dtype | runs | handwritten NumPy | eager | replay |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: |"]

    def cell(d: dict[str, float]) -> str:
        return f"{d['median']:.2f}× ({d['min']:.2f}–{d['max']:.2f})"

    order = {name: i for i, name in enumerate(SETTINGS)}
    for e in sorted(summary, key=lambda e: (order.get(e["setting"], 99), e["workload"], e["dtype"] != "float64")):
        h = e["hand_s"]["median"]
        hand = f"{h * 1e6:.1f} µs" if h < 1e-3 else f"{h * 1e3:.2f} ms" if h < 1 else f"{h:.3f} s"
        lines.append(f"| {e['setting']} | {e['workload']} | {e['dtype']} | {e['runs']} | {hand} | "
                     f"{cell(e['ratio']['eager'])} | {cell(e['ratio']['replay'])} |")
    return "\n".join(lines)
