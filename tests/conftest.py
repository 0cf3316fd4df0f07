"""Shared test set-up: Hypothesis profiles, and the tests folder on the import path.

``dev`` (default) is quick; ``ci`` (chosen automatically when the CI variable is set)
runs a fixed, modest number of derandomised examples with no deadline, because CI
machines are shared and noisy.  Pick one by hand with HYPOTHESIS_PROFILE=...
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from nablagraph import parallel

# Helper modules shared by several test files (activation_lists) import by name.
sys.path.insert(0, str(Path(__file__).resolve().parent))

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# The real-browser fixture (headless system Chromium through Playwright).
from browser import browser  # noqa: E402, F401

# The documentation site, built once per session (tests/test_docs*.py).
from docs_site import built_site, site  # noqa: E402, F401


@pytest.fixture(autouse=True)
def _thread_count_restored() -> Iterator[None]:
    """Each test leaves nablagraph's thread count as it found it, measured or fixed
    (``set_num_threads(get_num_threads())`` would fix a measured one)."""
    saved = parallel._threads, parallel._fixed
    yield
    parallel._threads, parallel._fixed = saved
