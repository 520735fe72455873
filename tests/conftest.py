import os

# One BLAS thread and one Numba thread: the suite runs on 2 shared cores; oversubscription
# makes GEMM 10x slower. Must be set before NumPy/Numba load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# The suite runs on the BLAS a plain install gets (SciPy's OpenBLAS) even where the optional mkl
# package is installed; tests/test_mkl.py runs MKL in child processes, and
# GRAPHENGINE_BLAS=mkl python -m pytest -n auto tests runs the whole suite on it.
os.environ.setdefault("GRAPHENGINE_BLAS", "openblas")
# Steps compile in the foreground here, as each test's checks expect: a background compile per
# new plan would start thousands of compiling processes next to the suite.
# tests/test_step_background.py and test_step_opdb.py check the first-steps path itself.
os.environ.setdefault("GRAPHENGINE_BACKGROUND_COMPILE", "0")

import pytest  # noqa: E402

import graphengine as ge  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_graph():
    """Every test starts with an empty default graph."""
    ge.reset_default_graph()
    yield
    ge.reset_default_graph()
