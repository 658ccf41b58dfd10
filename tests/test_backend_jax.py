"""Run the JAX backend cases (``jax_backend_cases.py``) in a fresh interpreter.

JAX starts threads when PyTensor's JAX linker first runs; a test process
that forks afterwards (subprocess tests, Ray) would warn of deadlocks, so the
cases keep JAX out of this process.
"""
import subprocess
import sys

import pytest
from helpers import REPO


@pytest.mark.slow
def test_jax_backend_cases():
    pytest.importorskip("jax")
    # -n 0: this one file in this one process, not a worker per core.
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0",
                           "-p", "no:cacheprovider", "-W", "error::UserWarning",
                           str(REPO / "tests" / "jax_backend_cases.py")],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "skipped" not in proc.stdout
