"""The code base stays lint-clean, type-clean and layered as design.md says."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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


def _imports(path: Path) -> set[str]:
    """Modules of the package a file imports when it is loaded.

    TYPE_CHECKING blocks and imports inside functions are left out: the latter are the
    deliberate late bindings (``Tensor.backward`` calling the engine, a tensor's
    Jupyter display calling viz), documented in each module's docstring.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("nablagraph"):
                base = child.module.split(".")
                if len(base) == 1:  # from nablagraph import x
                    found.update(f"nablagraph.{a.name}" for a in child.names)
                else:
                    found.add(".".join(base[:2]))
            elif isinstance(child, ast.Import):
                found.update(".".join(a.name.split(".")[:2]) for a in child.names if a.name.startswith("nablagraph"))
            visit(child, typing_only)

    visit(tree, False)
    return {m for m in found if m != "nablagraph"}


def _module_files(name: str) -> list[Path]:
    p = PKG / name
    return sorted(p.rglob("*.py")) if p.is_dir() else [PKG / f"{name}.py"]


# What each layer may import from the package (design.md: imports point one way only).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "parallel": {"errors"},
    "_memory": {"errors"},
    "activations": set(),
    "tensor": {"errors"},
    "ops": {"errors", "parallel", "ops"},
    "engine": {"tensor", "ops", "errors", "anomaly"},
    "functional": {"tensor", "ops", "errors"},
    "anomaly": {"tensor", "ops", "errors"},
    "replay": {"tensor", "engine", "ops", "errors"},
    "reference": {"activations", "errors"},
    "nn": {"tensor", "functional", "errors", "replay", "engine", "diagnostics", "nn", "parallel", "_memory"},
    "check": {"tensor", "engine", "functional", "reference", "errors", "check", "activations"},
    "diagnostics": {"tensor", "engine", "functional", "activations", "reference", "errors"},
    "viz": {"tensor", "ops", "errors", "viz", "engine"},
    "io": {"nn", "tensor", "errors"},
    "data": {"errors", "io"},
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_one_way(layer: str) -> None:
    allowed = {f"nablagraph.{m}" for m in ALLOWED[layer]}
    for f in _module_files(layer):
        bad = _imports(f) - allowed
        assert not bad, f"{f.relative_to(ROOT)} imports {sorted(bad)}; {layer} may import only {sorted(ALLOWED[layer])}"


def test_nothing_in_the_library_imports_the_cli() -> None:
    for f in PKG.rglob("*.py"):
        if f.name in ("cli.py", "__main__.py"):
            continue
        assert "nablagraph.cli" not in _imports(f), f
