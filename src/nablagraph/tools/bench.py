"""Benchmarks: the notes' "in what sense is backpropagation fast", measured.

:func:`fd_vs_backprop` times one gradient of a ``[64, h, 10]`` network's cost by
backpropagation (one forward and one backward pass for all ``P`` parameters), by the
handwritten closed form BP1–BP4, and by central finite differences (two forward passes
*per parameter*), as ``h`` and so ``P`` grow.  Finite differences over every parameter
of the larger networks would take minutes, so their time is measured on a sample of
coordinates and scaled to ``P`` (the table says so).

Timings are medians of interleaved repeats after a warm-up; ratios compare routes
measured in the same run.  Nothing here is asserted by the test suite except that it
runs.

Imports: the public package and :mod:`nablagraph.tools.plot`; PyTorch and threadpoolctl
(optional) when a function asks for them, and ``subprocess`` in :func:`import_times`.
"""

from __future__ import annotations

import gc
import itertools
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

import nablagraph as ng
from nablagraph import parallel
from nablagraph.tools.plot import plot_scaling

__all__ = ["fd_vs_backprop", "median_time", "import_times"]


def median_time(fn: Callable[[], Any], repeats: int, number: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs of ``number`` calls each."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return float(np.median(times))


def _interleaved(fns: list[Callable[[], Any]], repeats: int, number: int) -> list[float]:
    for f in fns:
        f()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(number):
                f()
            times[i].append((time.perf_counter() - t0) / number)
    return [float(np.median(t)) for t in times]


def _one_width(
    h: int, X: np.ndarray, y: np.ndarray, repeats: int, fd_sample: int,
    rng: np.random.Generator, seed: int,
) -> tuple[int, int, float, float, float, float, float]:
    net = ng.nn.Network([64, h, 10], cost="cross_entropy", seed=seed)
    P = net.num_parameters()
    params = net.parameters()

    def forward() -> None:
        with ng.no_grad():
            net.cost(X, y)

    def backprop() -> None:
        ng.grad(net.cost(X, y), params)

    def closed() -> None:
        ng.reference.backprop(net, X, y)

    number = max(1, int(2000 / (h + 10)))
    t_fwd, t_bp, t_cf = _interleaved([forward, backprop, closed], repeats, number)
    # FD: time `fd_sample` coordinates (2 forward passes each), scale to P.
    k = min(P, fd_sample)
    flat = [(p, j) for p in params for j in range(p.size)]
    pick = rng.choice(len(flat), size=k, replace=False)

    def fd_sample_run() -> None:
        for idx in pick:
            p, j = flat[idx]
            orig = p.data.flat[j]
            p.data.flat[j] = orig + 1e-6
            forward()
            p.data.flat[j] = orig - 1e-6
            forward()
            p.data.flat[j] = orig

    t_fd = median_time(fd_sample_run, max(1, repeats // 2)) / k * P
    passes = 1 + (t_bp - t_fwd) / t_fwd if t_fwd > 0 else float("nan")
    return h, P, t_fwd, t_bp, passes, t_cf, t_fd


def fd_vs_backprop(
    hidden: str | list[int] = "4,16,64,256",
    repeats: int = 5,
    plot: str | None = None,
    seed: int = 0,
    batch: int = 32,
    fd_sample: int = 64,
    out: Callable[[str], None] = print,
) -> int:
    """Print (and optionally plot) the cost of one gradient by each route; return 0."""
    widths = [int(h) for h in hidden.split(",")] if isinstance(hidden, str) else list(hidden)
    rng = np.random.default_rng(seed)
    X = rng.random((batch, 64))
    y = rng.integers(0, 10, batch)
    rows = []
    out(f"one gradient of C for [64, h, 10] sigmoid / softmax cross-entropy networks, batch M = {batch}")
    out(f"median of {repeats} interleaved repeats; FD = central differences, 2 forward passes per parameter")
    head = (f"{'h':>5} {'P':>8} {'forward':>10} {'backprop':>10} {'passes':>7} {'closed form':>12} "
            f"{'FD (2P passes)':>15} {'FD / backprop':>14}")
    out(head)
    out("-" * len(head))
    for h in widths:
        row = _one_width(h, X, y, repeats, fd_sample, rng, seed)
        rows.append(row)
        _, P, t_fwd, t_bp, passes, t_cf, t_fd = row
        est = "" if min(P, fd_sample) == P else "*"
        out(f"{h:>5} {P:>8,} {t_fwd * 1e6:>8.0f}µs {t_bp * 1e6:>8.0f}µs {passes:>7.2f} "
            f"{t_cf * 1e6:>10.0f}µs {t_fd:>13.3f}s{est} {t_fd / t_bp:>13,.0f}×")
    out("passes = backprop time in units of one forward pass; * = FD time measured on "
        f"{fd_sample} coordinates and scaled to P")
    if plot:
        Ps = [r[1] for r in rows]
        path = plot_scaling(
            Ps,
            {
                "finite differences (2P forward passes)": [r[6] for r in rows],
                "backprop (autodiff)": [r[3] for r in rows],
                "closed form BP1–BP4": [r[5] for r in rows],
                "one forward pass": [r[2] for r in rows],
            },
            plot,
            title="time for one gradient of C",
        )
        out(f"wrote the log-log plot to {path}")
    return 0


# ====================================================== training-step workloads
#: name → (layer sizes, batch, dtypes)
WORKLOADS: dict[str, tuple[list[int], int, tuple[str, ...]]] = {
    "W1": ([2, 3, 1], 4, ("float64",)),
    "W2": ([784, 30, 10], 10, ("float64",)),
    "W3": ([784, 256, 256, 10], 128, ("float64", "float32")),
    "W4": ([4096, 4096, 4096], 256, ("float64", "float32")),
    "W5": ([16] * 201, 8, ("float64",)),
}
WORKLOAD_NAMES = {
    "W1": "tiny (XOR) 2-3-1, batch 4",
    "W2": "the notes' book 784-30-10, batch 10",
    "W3": "medium 784-256-256-10, batch 128",
    "W4": "large 4096-4096-4096, batch 256",
    "W5": "deep-narrow 200 layers of width 16, batch 8",
}


def _sig(z: np.ndarray) -> np.ndarray:
    t = np.negative(z)
    with np.errstate(over="ignore"):
        np.exp(t, out=t)
    t += 1
    np.reciprocal(t, out=t)
    return t


def hand_step(Ws: list[np.ndarray], bs: list[np.ndarray], X: np.ndarray, Y: np.ndarray, lr: float) -> None:
    """One SGD step written by hand in vectorised NumPy (sigmoid layers, quadratic cost).

    The baseline of the workload table: BP1–BP4 in row form, updating in place.
    """
    M = X.shape[0]
    acts = [X]
    a = X
    for W, b in zip(Ws, bs):
        z = a @ W.T
        z += b
        a = _sig(z)
        acts.append(a)
    d = (a - Y) * (a * (1 - a))  # BP1 for the quadratic cost
    d /= M
    for l in range(len(Ws) - 1, -1, -1):
        gW = d.T @ acts[l]  # BP4
        gb = d.sum(axis=0)  # BP3
        if l:
            s = acts[l]
            d = (d @ Ws[l]) * (s * (1 - s))  # BP2
        Ws[l] -= lr * gW
        bs[l] -= lr * gb


def _torch_step_factory(sizes: list[int], X: np.ndarray, Y: np.ndarray, lr: float, dtype: str) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tdt = torch.float64 if dtype == "float64" else torch.float32
    layers = [torch.nn.Linear(a, b).to(tdt) for a, b in itertools.pairwise(sizes)]
    params = [p for layer in layers for p in layer.parameters()]
    opt = torch.optim.SGD(params, lr=lr)
    tx, ty = torch.from_numpy(X), torch.from_numpy(Y)
    M = X.shape[0]

    def step() -> None:
        a = tx
        for layer in layers:
            a = torch.sigmoid(layer(a))
        C = 0.5 * ((a - ty) ** 2).sum() / M
        opt.zero_grad()
        C.backward()
        opt.step()

    return step


def run_workloads(
    names: list[str] | None = None,
    repeats: int = 7,
    min_time: float = 0.2,
    scale: float = 1.0,
    out: Callable[[str], None] = print,
    torch: bool = True,
) -> list[dict[str, Any]]:
    """Interleaved medians of one training step per workload and route.

    Routes: ``hand`` (the baseline), ``eager`` (``net.cost(X, Y).backward()`` then an
    SGD step), ``replay`` (:func:`nablagraph.compile_step`), and ``torch`` (PyTorch CPU
    eager) when importable and ``torch`` is true.  ``scale`` shrinks the layer widths and batch for a quick
    run (the test suite uses it); the table then says so.
    """
    rows = []
    out(settings_line())
    for name in names or list(WORKLOADS):
        sizes, batch, dtypes = WORKLOADS[name]
        if scale != 1.0:
            sizes = [max(1, round(n * scale)) for n in sizes]
            batch = max(1, round(batch * scale))
        for dtype in dtypes:
            before = parallel.thread_choices()
            rows.append(_one_workload(name, sizes, batch, dtype, repeats, min_time, torch))
            r = rows[-1]
            # the kernels this row measured (a choice made for an earlier row is reused)
            new = {k: v for k, v in parallel.thread_choices().items() if before.get(k) != v}
            r["threads"] = {k: {"chosen": c, "median_s": m} for k, (c, m) in new.items()}
            out(_workload_line(r))
            for line in _threads_lines(new):
                out(line)
    return rows


def settings_line() -> str:
    """Under which settings the workloads run: nablagraph's threads, each BLAS library
    loaded in the process (its kernel, i.e. OpenBLAS's core type, and threads) and the
    environment variables that change them."""
    info = machine_info()
    fixed = parallel._fixed
    threads = f"{ng.get_num_threads()} {'(fixed)' if fixed else '(at most; measured per kernel and size)'}"
    blas = info["blas"]
    if isinstance(blas, list):
        pools = "; ".join(
            " ".join(str(v) for v in (d.get("internal_api"), d.get("version"), d.get("architecture"),
                                      f"{d.get('num_threads')} threads") if v)
            for d in blas
        ) or "none found"
    else:  # without threadpoolctl: NumPy's build information only
        pools = f"{blas.get('name', '?')} {blas.get('version', '')} (threadpoolctl not installed: threads unknown)"
    env = ", ".join(f"{k}={v}" for k, v in info["env"].items()) or "none set"
    return (f"settings: nablagraph threads {threads}; BLAS: {pools}; environment: {env}; "
            f"{info['cpus']} CPUs, NumPy {info['numpy']}, Python {info['python']}")


def _threads_lines(choices: dict[str, tuple[int, dict[int, float]]]) -> list[str]:
    return [
        f"    threads for {k}: {c} (median per call: "
        + ", ".join(f"{t} thread{'s' if t > 1 else ''} {v * 1e3:.2f} ms" for t, v in m.items()) + ")"
        for k, (c, m) in choices.items()
    ]


def _routes(sizes: list[int], batch: int, dtype: str) -> tuple[dict[str, Callable[[], None]], Any, np.ndarray, np.ndarray]:
    """The training-step routes of one workload, on the same data and initial weights."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, sizes[0])).astype(dtype)
    Y = rng.random((batch, sizes[-1])).astype(dtype)
    lr = 1e-3
    net = ng.nn.Network(sizes, activation="sigmoid", cost="quadratic", seed=0, dtype=dtype)
    Ws = [layer.W.data.copy() for layer in net.layers]  # type: ignore[attr-defined]
    bs = [layer.b.data.copy() for layer in net.layers]  # type: ignore[attr-defined]
    opt = ng.SGD(net.parameters(), lr=lr, flat=True)
    compiled = ng.compile_step(lambda x, y: net.cost(x, y))

    def hand() -> None:
        hand_step(Ws, bs, X, Y, lr)

    def eager() -> None:
        opt.zero_grad()
        net.cost(X, Y).backward()
        opt.step()

    def replay() -> None:
        opt.zero_grad()
        compiled(X, Y)
        opt.step()

    return {"hand": hand, "eager": eager, "replay": replay}, net, X, Y


def _gemm_step(sizes: list[int], batch: int, dtype: str) -> Callable[[], None]:
    """The step's matrix products alone: ``a @ W.T`` per layer forward, ``δᵀ a`` per
    layer and ``δ W`` for every layer but the first backward (the floor of W4)."""
    rng = np.random.default_rng(1)
    Ws = [rng.standard_normal((m, n)).astype(dtype) for n, m in itertools.pairwise(sizes)]
    acts = [rng.random((batch, n)).astype(dtype) for n in sizes]

    def gemm() -> None:
        for W, a in zip(Ws, acts):
            a @ W.T
        for i, W in enumerate(Ws):
            d = acts[i + 1]
            d.T @ acts[i]
            if i:
                d @ W

    return gemm


def _one_workload(name: str, sizes: list[int], batch: int, dtype: str, repeats: int, min_time: float,
                  torch: bool = True) -> dict[str, Any]:
    routes, net, X, Y = _routes(sizes, batch, dtype)
    torch_step = _torch_step_factory(sizes, X, Y, 1e-3, dtype) if torch else None
    if torch_step is not None:
        routes["torch"] = torch_step
    routes["gemm"] = _gemm_step(sizes, batch, dtype)
    for _ in range((3 * parallel.TUNE_CALLS + 1) // 2):  # the blocked kernels settle on their threads
        routes["eager"]()
        routes["replay"]()
    # calibrate: enough calls per timing that one timing lasts ~min_time / repeats
    t1 = median_time(routes["hand"], 1)
    number = max(1, int(min_time / max(t1, 1e-7) / max(repeats, 1)))
    times = _interleaved(list(routes.values()), repeats, number)
    med = dict(zip(routes, times))
    nodes = _count_nodes(net, X, Y)
    return {
        "workload": name, "sizes": sizes, "batch": batch, "dtype": dtype, "nodes": nodes,
        "seconds": med, "ratio": {k: v / med["hand"] for k, v in med.items()},
        "overhead_per_op_us": {
            k: (med[k] - med["hand"]) / nodes * 1e6 for k in med if k not in ("hand", "gemm")
        },
        "ratio_to_gemm": {k: v / med["gemm"] for k, v in med.items()},
    }


def _count_nodes(net: Any, X: np.ndarray, Y: np.ndarray) -> int:
    C = net.cost(X, Y)
    seen, stack = {C}, [C]
    while stack:
        t = stack.pop()
        for p in t.parents:
            if p.requires_grad and p not in seen:
                seen.add(p)
                stack.append(p)
    return sum(1 for t in seen if t.op is not None)


def _workload_line(r: dict[str, Any]) -> str:
    s, q = r["seconds"], r["ratio"]
    torch_part = f"  torch {s['torch'] * 1e3:9.3f} ms ({q['torch']:.2f}×)" if "torch" in s else ""
    if "gemm" in s:
        torch_part += f"  GEMM-only {s['gemm'] * 1e3:9.3f} ms"
    return (f"{r['workload']} {r['dtype']:<7} hand {s['hand'] * 1e3:9.3f} ms  eager {s['eager'] * 1e3:9.3f} ms "
            f"({q['eager']:.2f}×)  replay {s['replay'] * 1e3:9.3f} ms ({q['replay']:.2f}×){torch_part}")


def machine_info() -> dict[str, Any]:
    """NumPy version, BLAS library and thread settings of this run."""
    info: dict[str, Any] = {
        "python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "OPENBLAS_CORETYPE", "MALLOC_MMAP_MAX_",
                                            "MALLOC_TRIM_THRESHOLD_") if k in os.environ},
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for d in threadpool_info()
        ]
    except ImportError:
        cfg = np.show_config(mode="dicts")
        info["blas"] = cfg.get("Build Dependencies", {}).get("blas", {})
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The workload table in Markdown: medians and ratios to the handwritten step, and
    the time of the step's matrix products alone (GEMM-only) with replay's ratio to it."""
    has_torch = any("torch" in r["seconds"] for r in rows)
    head = "| workload | dtype | ops | handwritten NumPy | nablagraph eager | nablagraph replay |"
    sep = "| --- | --- | ---: | ---: | ---: | ---: |"
    if has_torch:
        head += " PyTorch eager |"
        sep += " ---: |"
    head += " GEMM-only | replay ÷ GEMM-only |"
    sep += " ---: | ---: |"
    lines = [head, sep]
    for r in rows:
        s, q = r["seconds"], r["ratio"]
        cells = [
            r["workload"], r["dtype"], str(r["nodes"]), _fmt_time(s["hand"]),
            f"{_fmt_time(s['eager'])} ({q['eager']:.2f}×)", f"{_fmt_time(s['replay'])} ({q['replay']:.2f}×)",
        ]
        if has_torch:
            cells.append(f"{_fmt_time(s['torch'])} ({q['torch']:.2f}×)" if "torch" in s else "–")
        if "gemm" in s:
            cells += [_fmt_time(s["gemm"]), f"{s['replay'] / s['gemm']:.2f}×"]
        else:
            cells += ["–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt_time(t: float) -> str:
    return f"{t * 1e6:.1f} µs" if t < 1e-3 else f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.3f} s"


def step_memory(name: str = "W3", dtype: str = "float64") -> dict[str, dict[str, float]]:
    """Transient peak and retained memory of one training step, per route (tracemalloc).

    ``peak`` is the highest traced allocation during the step above what was allocated
    before it; ``retained`` is what is still allocated after it (both in bytes).  Each
    route runs a few warm-up steps first, so buffers it keeps by design (gradient
    buffers, a replay plan) count as "before".
    """
    sizes, batch, _ = WORKLOADS[name]
    routes, _, _, _ = _routes(sizes, batch, dtype)

    result = {}
    for label, fn in routes.items():
        for _ in range(3):
            fn()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result[label] = {"peak": float(peak - before), "retained": float(current - before)}
    return result


#: What :func:`import_times` starts, each in a fresh interpreter: ``python -c <code>``.
IMPORT_COMMANDS = {"python -c pass": "pass", "import numpy": "import numpy", "import nablagraph": "import nablagraph"}


def import_times(rounds: int = 20, out: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Start-up wall time of Python, of ``import numpy`` and of ``import nablagraph``.

    Each round runs ``python -c pass``, ``python -c "import numpy"`` and ``python -c
    "import nablagraph"`` once, in turn (interleaved, so a busy machine slows all three
    alike), after one warm-up round that also writes the bytecode caches.  The children
    run with compiled bytecode as an installed package has it (``PYTHONDONTWRITEBYTECODE``
    is removed from their environment).  nablagraph's own share is the median over the
    rounds of :math:`t_\\text{nablagraph} - t_\\text{numpy}`.

    Parameters
    ----------
    rounds : int
        Timed rounds (the warm-up round is not counted); 10 or more for a median worth
        quoting on a shared machine.
    out : callable
        Where the five lines of the report go (default ``print``).

    Returns
    -------
    dict of str to list of float
        The seconds of every round, by command (the keys of :data:`IMPORT_COMMANDS`),
        and their differences under ``"nablagraph - numpy"``.
    """
    import subprocess  # here: every nablagraph command imports this module

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[float]] = {label: [] for label in IMPORT_COMMANDS}
    for r in range(rounds + 1):
        for label, code in IMPORT_COMMANDS.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            if r:  # round 0 is the warm-up
                times[label].append(time.perf_counter() - t0)
    times["nablagraph - numpy"] = [a - b for a, b in zip(times["import nablagraph"], times["import numpy"])]
    unset = " (PYTHONDONTWRITEBYTECODE unset: compiled bytecode)" if len(env) < len(os.environ) else ""
    out(f"start-up wall time, median (min–max) of {rounds} interleaved round{'s' * (rounds != 1)}, each a fresh "
        f"{sys.executable} -c ...{unset}")
    for label, ts in times.items():
        name = "nablagraph − numpy" if label == "nablagraph - numpy" else label
        out(f"  {name:<20} {np.median(ts) * 1e3:7.1f} ms  ({min(ts) * 1e3:.1f}–{max(ts) * 1e3:.1f})")
    return times
