"""``import nablagraph`` loads the core only; the rest loads on first use, unchanged.

``nablagraph/__init__.py`` imports the tensor, the ops, the engine, ``nn`` and the
replay at import time and leaves drawing (``viz``, Graphviz), checking (``check``,
``reference``), files (``io``, ``data``, ``checkpoints``, ``files``: gzip, zipfile,
secrets, json) to its PEP 562 ``__getattr__``.  These tests run fresh interpreters, so
that what an earlier test imported does not hide an eager import: they fail if an
import at package level comes back, and check that every lazy name is the very object
its module defines, that the hooks plugged in at import (Jupyter display, fit's
checkpoints) still work before their modules are loaded, and the user-facing
``nablagraph bench --import`` output.  No timing is asserted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import nablagraph as ng
from nablagraph.cli import main
from nablagraph.tools import bench

#: What ``import nablagraph`` must not load (beyond what ``import numpy`` loads).
LAZY_MODULES = {
    "nablagraph.viz", "nablagraph.check", "nablagraph.io", "nablagraph.data", "nablagraph.reference",
    "nablagraph.checkpoints", "nablagraph.files", "nablagraph.loader", "nablagraph.tools",
    "nablagraph.interop", "nablagraph.cli",
    "graphviz", "subprocess", "logging", "gzip", "zipfile", "secrets", "hmac", "json", "pathlib",
    "tempfile", "shutil", "html", "importlib.resources",
}


def _child(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_import_nablagraph_loads_none_of_the_lazy_modules() -> None:
    got = _child(
        "import sys, json\nimport numpy as np\nbefore = set(sys.modules)\nimport nablagraph as ng\n"
        "new = sorted(set(sys.modules) - before)\n"
        # Training touches nn (eager) and numpy.random (which loads secrets and hmac itself).
        "rng = np.random.default_rng(0)\nbefore = set(sys.modules)\nnet = ng.nn.Network([2, 3, 1], seed=0)\n"
        "ng.fit(net, rng.standard_normal((8, 2)), rng.integers(0, 2, (8, 1)), 2, 4, verbose=False)\n"
        "print(json.dumps({'new': new, 'training': sorted(set(sys.modules) - before)}))"
    )
    new, training = set(got["new"]), set(got["training"])
    assert {"nablagraph", "nablagraph._tensor", "nablagraph.nn", "nablagraph.engine"} <= new
    assert new & LAZY_MODULES == set() and training & LAZY_MODULES == set()
    assert not {m for m in new | training if m.split(".")[0] == "graphviz"
                or m.startswith(("nablagraph.viz.", "nablagraph.check.", "nablagraph.io."))}


def test_every_public_name_resolves_and_dir_lists_it() -> None:
    got = _child(
        "import json, sys\nimport nablagraph as ng\nd = dir(ng)\n"
        "missing = [n for n in ng.__all__ if n not in d]\n"
        "ns = {}\nexec('from nablagraph import ' + ', '.join(ng.__all__), ns)\n"
        "same = all(ns[n] is getattr(ng, n) for n in ng.__all__)\n"
        # each lazy name is the object its module defines (a submodule: the module itself)
        "home = all(getattr(ng, n) is (getattr(sys.modules['nablagraph.' + w], n) if w else"
        " sys.modules['nablagraph.' + n]) for n, w in ng._LAZY.items())\n"
        "print(json.dumps({'missing': missing, 'same': same and home, 'loaded': 'nablagraph.viz' in sys.modules,"
        " 'dir_sorted': d == sorted(d), 'n': len(d)}))"
    )
    assert got["missing"] == [] and got["same"] is True and got["loaded"] is True
    assert got["dir_sorted"] is True
    # In this process too (the suite has loaded everything by now): the lazy names are
    # the objects their modules define, and the submodules are the modules.
    import nablagraph.check
    import nablagraph.io
    import nablagraph.viz

    assert ng.gradcheck is nablagraph.check.gradcheck and ng.check is nablagraph.check
    assert ng.load is nablagraph.io.load and ng.save is nablagraph.io.save
    assert ng.viz is sys.modules["nablagraph.viz"] and ng.viz.render is nablagraph.viz.render
    assert callable(ng.diagnostics) and not isinstance(ng.diagnostics, type(sys))  # the function
    assert set(ng.__all__) <= set(dir(ng)) and {"check", "checkpoints", "viz", "io"} <= set(dir(ng))
    # No helper of the lazy loading shows as a public name: beyond __all__, only submodules.
    for module in (ng, nablagraph.check):
        extra = {n for n in dir(module) if not n.startswith("_")} - set(module.__all__)
        assert all(isinstance(getattr(module, n), type(sys)) for n in extra), extra
    assert set(nablagraph.check.__all__) <= set(dir(nablagraph.check))


def test_a_name_that_does_not_exist_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"^module 'nablagraph' has no attribute 'vizz'$"):
        ng.vizz
    assert not hasattr(ng, "tools_")
    with pytest.raises(ImportError, match=r"cannot import name 'gradchek' from 'nablagraph'"):
        exec("from nablagraph import gradchek", {})


def test_each_way_in_loads_the_same_module() -> None:
    got = _child(
        "import json, sys\nimport nablagraph.viz\nimport nablagraph as ng\nfrom nablagraph import io\n"
        "import nablagraph.tensor\n"
        "print(json.dumps({'viz': ng.viz is sys.modules['nablagraph.viz'],"
        " 'io': io is sys.modules['nablagraph.io'] and ng.save is io.save,"
        " 'factory': ng.tensor.__module__, 'check': 'nablagraph.check' in sys.modules}))"
    )
    assert got == {"viz": True, "io": True, "factory": "nablagraph.factories", "check": False}


def test_pickles_load_in_a_fresh_interpreter_with_the_hooks_in_place() -> None:
    # Unpickling imports nablagraph through nablagraph._tensor / nablagraph.nn.network:
    # the package's import (and so _tensor.connect) runs, lazily as ever.
    import pickle

    import numpy as np

    net = ng.nn.Network([2, 3, 1], seed=0)
    t = ng.Tensor(np.array([1.0, -2.0]), requires_grad=True, name="t")
    blob = pickle.dumps((net, t)).hex()
    got = _child(
        "import json, pickle, sys\n"
        f"net, t = pickle.loads(bytes.fromhex({blob!r}))\n"
        "y = (t * t).sum()\ny.backward()\n"
        "out = net(t.data.reshape(1, 2))\n"
        "print(json.dumps({'grad': t.grad.tolist(), 'out': float(out.data.ravel()[0]),"
        " 'viz': 'nablagraph.viz' in sys.modules}))"
    )
    expected = float(net(np.array([[1.0, -2.0]])).data.ravel()[0])
    assert got == {"grad": [2.0, -4.0], "out": expected, "viz": False}


def test_the_jupyter_display_loads_viz_on_first_use() -> None:
    got = _child(
        "import json, sys\nimport numpy as np\nimport nablagraph as ng\n"
        "x = ng.Tensor(np.ones((2, 2)), requires_grad=True, name='x')\ny = ng.sigmoid(x) * 2.0\n"
        "before = 'nablagraph.viz' in sys.modules\nleaf = x._repr_mimebundle_()\n"
        "op = y._repr_mimebundle_(include=['text/plain', 'image/svg+xml'])\n"
        "direct = ng.viz.tensor_mimebundle(y, ['text/plain', 'image/svg+xml'])\n"
        "print(json.dumps({'before': before, 'leaf': leaf == {'text/plain': repr(x)},"
        " 'op': op == direct, 'keys': sorted(op)}))"
    )
    assert got["before"] is False and got["leaf"] is True and got["op"] is True
    assert "text/plain" in got["keys"]  # plus image/svg+xml when Graphviz is installed


def test_fit_checkpoints_work_before_nablagraph_checkpoints_is_loaded(tmp_path: Path) -> None:
    # The store plugged in at import loads nablagraph.checkpoints on the first checkpoint;
    # a run resumed from it ends where the uninterrupted run ends, bit for bit.
    ckpt = tmp_path / "run.safetensors"
    got = _child(
        "import json, sys\nimport numpy as np\nimport nablagraph as ng\n"
        "rng = np.random.default_rng(0)\nX, y = rng.standard_normal((12, 2)), rng.integers(0, 2, 12)\n"
        "def run(epochs, **kw):\n    net = ng.nn.Network([2, 3, 2], seed=1)\n"
        "    ng.fit(net, X, y, epochs, 4, verbose=False, seed=5, **kw)\n"
        "    return np.concatenate([p.data.ravel() for p in net.parameters()])\n"
        "before = 'nablagraph.checkpoints' in sys.modules\n"
        f"run(2, checkpoint_every=2, checkpoint_path={str(ckpt)!r})\n"
        "after = 'nablagraph.checkpoints' in sys.modules\n"
        f"resumed = run(4, resume_from={str(ckpt)!r})\nwhole = run(4)\n"
        "print(json.dumps({'before': before, 'after': after, 'same': bool((resumed == whole).all()),"
        " 'moved': bool((whole != run(2)).any())}))"
    )
    assert got == {"before": False, "after": True, "same": True, "moved": True}


def test_a_store_of_the_users_own_is_kept_when_nablagraph_checkpoints_loads(tmp_path: Path) -> None:
    got = _child(
        "import json\nimport numpy as np\nimport nablagraph as ng\nfrom nablagraph.nn import train\n"
        "calls = []\n"
        "class Mine:\n"
        "    def save(self, *a, **k): calls.append('save')\n"
        "    def resume(self, *a, **k): calls.append('resume'); return 0\n"
        "    def check_target(self, path): calls.append('check')\n"
        "train.use_checkpoint_store(Mine())\n"
        "ng.checkpoints  # loads the module, which plugs in its store only as a default\n"
        "rng = np.random.default_rng(0)\nX, y = rng.standard_normal((8, 2)), rng.integers(0, 2, 8)\n"
        f"ng.fit(ng.nn.Network([2, 3, 2], seed=1), X, y, 2, 4, verbose=False, checkpoint_every=1, checkpoint_path={str(tmp_path / 'c.st')!r})\n"
        "print(json.dumps({'calls': calls, 'mine': type(train._checkpoint_store).__name__}))"
    )
    assert got == {"calls": ["check", "save", "save"], "mine": "Mine"}
    assert not (tmp_path / "c.st").exists()


def test_the_checkpoint_target_is_checked_before_the_module_is_loaded(tmp_path: Path) -> None:
    got = _child(
        "import json, sys\nimport numpy as np\nimport nablagraph as ng\ntry:\n"
        "    ng.fit(ng.nn.Network([2, 3, 1], seed=0), np.zeros((4, 2)), np.zeros((4, 1)), 1, 2,"
        f" verbose=False, checkpoint_every=1, checkpoint_path={str(tmp_path)!r})\n"
        "except OSError as exc:\n    print(json.dumps({'error': type(exc).__name__, 'message': str(exc)}))"
    )
    assert got["error"] == "IsADirectoryError"
    assert re.fullmatch(r"\[Errno 21\] fit: checkpoint_path: is a directory, not a file: '.*'", str(got["message"]))


def test_import_times_prints_the_three_medians_and_the_difference() -> None:
    lines: list[str] = []
    times = bench.import_times(rounds=1, out=lines.append)
    assert list(times) == ["python -c pass", "import numpy", "import nablagraph", "nablagraph - numpy"]
    assert all(len(v) == 1 for v in times.values())
    assert times["nablagraph - numpy"][0] == pytest.approx(times["import nablagraph"][0] - times["import numpy"][0])
    assert lines[0].startswith(f"start-up wall time, median (min–max) of 1 interleaved round, each a fresh {sys.executable} -c")
    number = r"-?\d+\.\d ms  \(-?\d+\.\d–-?\d+\.\d\)"
    for line, label in zip(lines[1:], ["python -c pass", "import numpy", "import nablagraph", "nablagraph − numpy"]):
        assert re.fullmatch(rf"  {re.escape(label)} +{number}", line), line
    assert len(lines) == 5


def test_bench_import_passes_its_rounds_and_refuses_other_benchmarks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[int] = []
    monkeypatch.setattr(bench, "import_times", lambda rounds, out: seen.append(rounds) or {})
    assert main(["bench", "--import"]) == 0 and main(["bench", "--import", "3"]) == 0
    assert seen == [20, 3]
    assert main(["bench", "--import", "--workloads", "W1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "nablagraph bench: error: --import times the start-up alone; leave out --workloads and --plot"
    )
