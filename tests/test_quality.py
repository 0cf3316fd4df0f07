"""The code base stays lint-clean, type-clean and layered as design.md says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "nablagraph"


def _tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def test_ruff_is_clean() -> None:
    proc = subprocess.run(
        [_tool("ruff"), "check", "src", "tests", "examples"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run([_tool("mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


class Import(NamedTuple):
    """One import found in a file: the module (package modules cut to ``nablagraph.<name>``)."""

    module: str
    line: int
    late: bool  # inside a function, through importlib or through sys.modules


def _normalise(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == "nablagraph" else parts[0]


def _imports(path: Path, own: str | None = None) -> list[Import]:
    """Every import a file makes: at load time, inside functions, and by name.

    Walks the whole tree (TYPE_CHECKING blocks aside, which never run): ``import`` and
    ``from … import`` statements at any depth, ``importlib.import_module("…")`` calls
    and ``sys.modules[…]`` / ``sys.modules.get(…)`` lookups (a lookup by ``__name__`` is
    the file's own module).  Anything but a module-level statement is *late*.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    if own is None:
        rel = path.relative_to(PKG.parent).with_suffix("")
        own = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
    found: list[Import] = []

    def constant(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name) and node.id == "__name__":
            return own
        return None

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            late = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                if child.module == "nablagraph":  # from nablagraph import x
                    found.extend(Import(f"nablagraph.{a.name}", child.lineno, in_function) for a in child.names)
                else:
                    found.append(Import(_normalise(child.module), child.lineno, in_function))
            elif isinstance(child, ast.Import):
                found.extend(Import(_normalise(a.name), child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.Call) and ast.unparse(child.func) in ("importlib.import_module", "import_module"):
                name = constant(child.args[0] if child.args else None)
                found.append(Import(_normalise(name or "<dynamic>"), child.lineno, True))
            elif isinstance(child, ast.Subscript) and ast.unparse(child.value) == "sys.modules":
                found.append(Import(_normalise(constant(child.slice) or "<dynamic>"), child.lineno, True))
            elif isinstance(child, ast.Call) and ast.unparse(child.func) == "sys.modules.get":
                name = constant(child.args[0] if child.args else None)
                found.append(Import(_normalise(name or "<dynamic>"), child.lineno, True))
            visit(child, late)

    visit(tree, False)
    return [i for i in found if i.module != "nablagraph" or i.late]


def _module_files(name: str) -> list[Path]:
    p = PKG / name
    return sorted(p.rglob("*.py")) if p.is_dir() else [PKG / f"{name}.py"]


# What each layer may import from the package (design.md: imports point one way only).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_version": set(),
    "parallel": {"errors"},
    "_memory": {"errors"},
    "files": {"errors"},
    "activations": set(),
    "modes": {"errors"},
    "tensor_ops": set(),
    "gradbuf": set(),
    "tensor": {"errors", "modes", "tensor_ops"},
    "skeleton": {"tensor", "errors"},
    "ops": {"errors", "parallel", "ops"},
    "engine": {"tensor", "modes", "gradbuf", "ops", "errors", "anomaly", "functional", "skeleton"},
    "functional": {"tensor", "ops", "errors"},
    "anomaly": {"tensor", "modes", "ops", "errors"},
    "replay": {"tensor", "gradbuf", "engine", "ops", "errors", "replay_codegen"},
    "replay_codegen": {"ops", "parallel", "gradbuf", "tensor"},
    "reference": {"activations", "errors", "reference"},
    "nn": {"tensor", "functional", "errors", "replay", "engine", "diagnostics", "nn", "parallel", "_memory"},
    "check": {"tensor", "engine", "functional", "reference", "errors", "check", "activations"},
    "diagnostics": {"tensor", "engine", "functional", "activations", "reference", "errors"},
    "viz": {"tensor", "ops", "errors", "viz", "engine", "files", "skeleton"},
    "io": {"_version", "nn", "tensor", "errors", "files", "io"},
    "checkpoints": {"io", "nn", "tensor", "errors", "files"},
    "data": {"errors", "io", "files"},
    "datasets": set(),
    "interop": {"_version", "errors", "files", "tensor", "ops", "engine", "nn", "io", "viz", "interop"},
    "tools": {
        "tools", "tensor", "ops", "engine", "functional", "activations", "reference", "replay",
        "nn", "check", "diagnostics", "viz", "io", "data", "errors", "parallel", "_memory", "files",
    },
}

# The PyTorch names: the node moved from tensor to _tensor (ng.tensor is the factory);
# nablagraph.tensor is the compatibility module over it, and a layer that may import one
# may import the other.  factories sits above _tensor; data's mini-batches are in loader.
ALLOWED.update({
    "_tensor": ALLOWED["tensor"], "tensor": {"_tensor"}, "factories": {"_tensor", "errors"},
    "loader": {"errors"},
})
for _deps in ALLOWED.values():
    if "tensor" in _deps:
        _deps.add("_tensor")
ALLOWED["functional"].add("factories")
ALLOWED["tensor_ops"].add("errors")
ALLOWED["data"].add("loader")

#: Every late import (inside a function, by importlib or through sys.modules) in the
#: package, by file and module, with the reason it cannot be a plain module-level
#: import.  A late import of a package module outside the layer's ALLOWED set is
#: accepted only here.  Keep it short: each entry is a hidden edge in the import graph.
LATE_IMPORTS: dict[tuple[str, str], str] = {
    ("parallel.py", "concurrent"): "standard library, deferred: the thread pool is built "
    "only when a kernel first runs on several threads",
    ("nn/train.py", "tqdm"): "optional extra (nablagraph[progress]): no progress bar without it",
    ("tools/plot.py", "matplotlib"): "optional extra (nablagraph[plot]): imported only when a "
    "plot is drawn, with the Agg backend",
    ("tools/bench.py", "torch"): "optional: the PyTorch column of the workload table when installed",
    ("tools/bench.py", "threadpoolctl"): "optional: the BLAS thread count in the machine info",
    ("cli/commands.py", "nablagraph.tools"): "deferred: bench_matrix (subprocess, statistics) only for "
    "bench --runs/--settings; every command imports commands.py",
    ("tools/bench.py", "subprocess"): "standard library, deferred: only bench --import starts "
    "interpreters, and the CLI imports this module at every start (18 M instructions)",
    ("cli/outputs.py", "matplotlib"): "optional extra: probed before any work so --plot fails "
    "early with one line",
    ("interop/torch_bridge.py", "torch"): "optional extra (nablagraph[torch]): the PyTorch bridge "
    "imports it only when called",
    ("interop/onnx_export.py", "onnx"): "optional extra (nablagraph[onnx]): imported only when a "
    "model is exported",
    ("__init__.py", "<dynamic>"): "the package's lazy names (PEP 562 __getattr__, table _LAZY): "
    "viz, check, io, data, reference, checkpoints and their names load on first use, not at import",
    ("check/__init__.py", "<dynamic>"): "check's lazy names (PEP 562 __getattr__, table _LAZY): "
    "gradcheck loads without the three-way comparison and check_backprop",
}


def _late_imports() -> dict[tuple[str, str], list[int]]:
    late: dict[tuple[str, str], list[int]] = {}
    for f in sorted(PKG.rglob("*.py")):
        for imp in _imports(f):
            if imp.late:
                late.setdefault((f.relative_to(PKG).as_posix(), imp.module), []).append(imp.line)
    return late


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_one_way(layer: str) -> None:
    allowed = {f"nablagraph.{m}" for m in ALLOWED[layer]}
    for f in _module_files(layer):
        rel = f.relative_to(PKG).as_posix()
        bad = sorted({
            f"{i.module} (line {i.line}{', late' if i.late else ''})" for i in _imports(f)
            if i.module.startswith("nablagraph.") and i.module not in allowed
            and (rel, i.module) not in LATE_IMPORTS
        })
        assert not bad, f"{f.relative_to(ROOT)} imports {bad}; {layer} may import only {sorted(ALLOWED[layer])}"


def test_every_late_import_is_listed_with_a_reason() -> None:
    unlisted = {k: v for k, v in _late_imports().items() if k not in LATE_IMPORTS}
    assert not unlisted, (
        f"imports inside functions, by importlib or through sys.modules (file, module): lines "
        f"{unlisted}; make them plain module-level imports, or list them in LATE_IMPORTS with the reason"
    )


def test_the_walk_finds_late_imports(tmp_path: Path) -> None:
    # The finder itself: a function-level import, importlib and sys.modules are all late.
    src = tmp_path / "m.py"
    src.write_text(
        "import importlib, sys\nfrom nablagraph import tensor\n"
        "def f():\n    from nablagraph.engine import backward\n    import tqdm\n"
        "    importlib.import_module('nablagraph.io')\n    return sys.modules['nablagraph.viz'], sys.modules[__name__]\n",
        encoding="utf-8",
    )
    got = {(i.module, i.late) for i in _imports(src, own="nablagraph.data")}
    assert got == {("nablagraph.data", True),
        ("importlib", False), ("sys", False), ("nablagraph.tensor", False), ("nablagraph.engine", True),
        ("tqdm", True), ("nablagraph.io", True), ("nablagraph.viz", True),
    }


def test_every_module_belongs_to_a_layer() -> None:
    layers = set(ALLOWED) | {"cli"}
    top = {f.relative_to(PKG).parts[0].removesuffix(".py") for f in PKG.rglob("*.py")}
    assert top - layers - {"__init__", "__main__"} == set()


def test_nothing_in_the_library_imports_the_cli() -> None:
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).as_posix()
        if rel.startswith("cli/") or rel in ("cli.py", "__main__.py"):
            continue
        assert "nablagraph.cli" not in {i.module for i in _imports(f)}, f


def test_fit_reaches_the_checkpoint_files_only_through_the_named_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # nn sits below io: nablagraph.checkpoints (io floor) plugs itself into nn.train.
    import numpy as np

    import nablagraph as ng
    from nablagraph import checkpoints
    from nablagraph.errors import ConfigError
    from nablagraph.nn import train

    assert isinstance(train._checkpoint_store, checkpoints.SafetensorsCheckpoints)
    assert not any(i.module in ("nablagraph.io", "nablagraph.checkpoints") for i in _imports(PKG / "nn" / "train.py"))
    net = ng.nn.Network([2, 3, 1], seed=0)
    X, y = np.zeros((4, 2)), np.array([0, 1, 1, 0])
    monkeypatch.setattr(train, "_checkpoint_store", None)
    with pytest.raises(ConfigError, match=r"^fit: checkpoints need nablagraph.checkpoints, which is not loaded"):
        ng.nn.fit(net, X, y, 1, 2, verbose=False, checkpoint_every=1, checkpoint_path=tmp_path / "c.safetensors")
    assert not (tmp_path / "c.safetensors").exists()
