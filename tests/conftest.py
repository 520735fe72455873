import os

# One BLAS thread and one Numba thread: the suite runs on 2 shared cores; oversubscription
# makes GEMM 10x slower. Must be set before NumPy/Numba load.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import pytest  # noqa: E402

import graphengine as ge  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_graph():
    """Every test starts with an empty default graph."""
    ge.reset_default_graph()
    yield
    ge.reset_default_graph()
