"""What the docs show is what another machine prints too.

The pages' ``Output`` blocks (and the command-line reference) are compared with what
their samples print, on whatever machine runs the suite.  A digit that depends on the
BLAS kernel OpenBLAS picks for the CPU, on the SIMD loops NumPy dispatches to, or on
the number of threads would pass here and fail elsewhere.  So the same checks run
once more in a subprocess that looks like another machine:

* ``OPENBLAS_CORETYPE`` set to a kernel other than the one this machine's OpenBLAS
  chose (read at run time: a machine whose default is Haswell gets Sandybridge);
* ``NPY_DISABLE_CPU_FEATURES`` switching off NumPy's dispatched SIMD targets (AVX2,
  AVX-512, ... as available), so ``exp``, ``tanh``, ... run their baseline loops;
* one thread for OpenBLAS, OpenMP, MKL and nablagraph's own blocked kernels, and
  ``MKL_CBWR=COMPATIBLE`` (MKL's portable code path) should NumPy use MKL.

With a BLAS other than OpenBLAS (MKL, Accelerate) the OpenBLAS variables do nothing;
the check still runs, with the NumPy dispatch and thread settings, and must pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHILD_FLAG = "NABLAGRAPH_PORTABLE_OUTPUT_CHILD"

# The checks that compare printed output with what a page shows, and the two cheapest
# example runs whose printed numbers a test reads (the others assert the same kind of bounds).
CHECKS = [
    "tests/test_docs.py", "tests/test_examples.py", "tests/test_examples_training.py",
    "-k", "test_python_samples or test_the_cli_reference or test_hessian_vector_product_example"
    " or test_xor_example_learns",
]

# x86-64 OpenBLAS kernels, each with the NumPy CPU feature it needs; the first one that
# differs from this machine's choice (and that the CPU can run) is used.
X86_KERNELS = [("Haswell", "AVX2"), ("Sandybridge", "AVX"), ("Nehalem", "SSE42"), ("Prescott", "SSE3")]
ARM_KERNELS = [("ARMV8", "ASIMD"), ("NEOVERSEN1", "ASIMDDP")]

# Runs in the subprocess: reports what BLAS kernel and NumPy features it got, then the checks.
CHILD = """
import json, sys
import numpy  # loads the BLAS, so that threadpoolctl sees it
try:
    from threadpoolctl import threadpool_info
    blas = [{k: d.get(k) for k in ("internal_api", "architecture", "num_threads")}
            for d in threadpool_info() if d.get("user_api") == "blas"]
except ImportError:
    blas = None
try:
    from numpy._core import _multiarray_umath as m
except ImportError:
    from numpy.core import _multiarray_umath as m
print("SETTING " + json.dumps({"blas": blas, "features": sorted(k for k, v in m.__cpu_features__.items() if v)}))
sys.stdout.flush()
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def _cpu() -> Any:
    try:
        from numpy._core import _multiarray_umath as m
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as m  # type: ignore[no-redef]
    return m


def blas_libraries() -> list[dict[str, Any]] | None:
    """The BLAS libraries NumPy loaded, with OpenBLAS's kernel name (None if unknown)."""
    _cpu()  # NumPy loads its BLAS on import; threadpoolctl only sees loaded libraries
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return [
        {k: d.get(k) for k in ("internal_api", "architecture", "num_threads")}
        for d in threadpool_info() if d.get("user_api") == "blas"
    ]


def other_kernel(current: str | None, features: dict[str, bool], machine: str) -> str | None:
    """An OpenBLAS kernel the CPU can run that is not ``current``, or None if there is none."""
    kernels = ARM_KERNELS if machine.lower() in ("aarch64", "arm64") else X86_KERNELS
    for name, needs in kernels:
        if features.get(needs) and name.lower() != (current or "").lower():
            return name
    return None


def dispatched_features() -> list[str]:
    """NumPy's SIMD dispatch targets this CPU has (disabling them selects baseline loops)."""
    m = _cpu()
    return [f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)]


def openblas_kernel() -> str | None:
    """The kernel this process's OpenBLAS runs (None: not OpenBLAS, or not known)."""
    libs = blas_libraries() or []
    return next((d["architecture"] for d in libs if d["internal_api"] == "openblas"), None)


def switchable_openblas() -> bool:
    """Whether NumPy's OpenBLAS was built to pick its kernel at run time (DYNAMIC_ARCH).

    Without it OPENBLAS_CORETYPE is ignored.  NumPy's wheels are DYNAMIC_ARCH builds;
    when the build configuration is not recorded, assume so.
    """
    import numpy as np

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # NumPy < 1.26 prints only
        return True
    config = str(blas.get("openblas configuration", ""))
    return "DYNAMIC_ARCH" in config or not config


def another_machine_env() -> tuple[dict[str, str], str | None]:
    """The environment of the subprocess, and the OpenBLAS kernel it asks for."""
    import platform

    kernel = other_kernel(openblas_kernel(), _cpu().__cpu_features__, platform.machine())
    env = {
        **os.environ,
        CHILD_FLAG: "1",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "NABLAGRAPH_NUM_THREADS": "1", "MKL_CBWR": "COMPATIBLE",
        "NPY_DISABLE_CPU_FEATURES": " ".join(dispatched_features()),
    }
    if kernel is not None:
        env["OPENBLAS_CORETYPE"] = kernel
    return env, kernel


def test_the_kernel_choice_avoids_the_current_one() -> None:
    x86 = {"AVX2": True, "AVX": True, "SSE42": True, "SSE3": True}
    assert other_kernel("SkylakeX", x86, "x86_64") == "Haswell"
    assert other_kernel("Haswell", x86, "x86_64") == "Sandybridge"  # e.g. OPENBLAS_CORETYPE=Haswell
    assert other_kernel("HASWELL", x86, "AMD64") == "Sandybridge"
    assert other_kernel(None, {"AVX": True, "SSE42": True}, "x86_64") == "Sandybridge"  # no AVX2
    assert other_kernel("NeoverseN1", {"ASIMD": True, "ASIMDDP": True}, "aarch64") == "ARMV8"
    assert other_kernel("armv8", {"ASIMD": True, "ASIMDDP": True}, "arm64") == "NEOVERSEN1"


@pytest.mark.skipif(os.environ.get(CHILD_FLAG) == "1", reason="already the other-machine subprocess")
def test_docs_print_the_same_under_another_blas_kernel_simd_level_and_thread_count() -> None:
    env, kernel = another_machine_env()
    current = openblas_kernel()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "-q", "-p", "no:cacheprovider", *CHECKS],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    log = proc.stdout + proc.stderr
    setting_line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("SETTING ")), None)
    assert setting_line is not None, log
    setting = json.loads(setting_line[len("SETTING "):])
    described = f"OPENBLAS_CORETYPE={kernel}, NPY_DISABLE_CPU_FEATURES={env['NPY_DISABLE_CPU_FEATURES']!r}, 1 thread"
    assert proc.returncode == 0, (
        f"Under {described} (got {setting}) the docs print something else. Print what is meaningful "
        f"(fewer digits, a bound) rather than rounding noise; see output_mismatch in tests/test_docs.py.\n{log}"
    )
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed is not None and int(passed.group(1)) >= 10, log  # 8 pages, the CLI page, 2 examples
    # The subprocess really was another machine, as far as this one can tell.
    openblas = [d for d in setting["blas"] or [] if d["internal_api"] == "openblas"]
    assert all(d["num_threads"] == 1 for d in openblas), setting
    if kernel is not None and current is not None and switchable_openblas():
        assert all(str(d["architecture"]).lower() != current.lower() for d in openblas), (current, setting)
    for feature in dispatched_features():
        assert feature not in setting["features"], (feature, setting)


def test_this_machine_is_not_the_other_one() -> None:
    """Here (OpenBLAS with runtime kernel choice) the subprocess does get a different kernel."""
    libs = blas_libraries()
    if not libs or not any(d["internal_api"] == "openblas" for d in libs):
        pytest.skip(f"NumPy's BLAS is not OpenBLAS here ({libs}): OPENBLAS_CORETYPE has no effect, "
                    "the subprocess check runs with the NumPy and thread settings only")
    if not switchable_openblas():
        pytest.skip("NumPy's OpenBLAS is built for one CPU (no DYNAMIC_ARCH): OPENBLAS_CORETYPE has "
                    "no effect, the subprocess check runs with the NumPy and thread settings only")
    env, kernel = another_machine_env()
    current = openblas_kernel()
    assert current is not None and kernel is not None and kernel.lower() != current.lower()
    assert env["OPENBLAS_NUM_THREADS"] == "1" and env["NPY_DISABLE_CPU_FEATURES"] == " ".join(dispatched_features())
