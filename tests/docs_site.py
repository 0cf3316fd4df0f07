"""The documentation site, built once per test session (``mkdocs build --strict``).

tests/test_docs.py checks that the build succeeds and what the pages contain;
tests/test_docs_offline.py checks that the built site loads nothing from outside and
renders its formulas offline.  Both use the :func:`built_site` fixture, so the site
(about 15 s of work) is built once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "docs" / "mkdocs.yml"


@dataclass(frozen=True)
class Build:
    """Where the site was written, and how ``mkdocs build --strict`` ended."""

    site: Path
    returncode: int
    log: str


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """``mkdocs build --strict -f docs/mkdocs.yml`` into a temporary folder, once."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    cmd = [str(mkdocs)] if mkdocs.exists() else [sys.executable, "-m", "mkdocs"]
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path_factory.mktemp("docs") / "site"
    # The config file is named relative to the repository root, as the docs say: MkDocs
    # refuses a docs_dir that is the directory of an *absolute* config path (its check
    # compares the two strings), and this config's docs_dir is its own directory.
    proc = subprocess.run(
        [*cmd, "build", "--strict", "-f", CONFIG.relative_to(ROOT).as_posix(), "-d", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return Build(site, proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="session")
def site(built_site: Build) -> Path:
    """The built site's folder; fails the test when the build did not succeed."""
    if built_site.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{built_site.log}")
    return built_site.site
