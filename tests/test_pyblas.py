"""kernels.cpu.pyblas: the interim step's Python matmuls give the Numba kernels' numbers bit for
bit (the same BLAS functions with the same arguments; the small loop in the same order)."""
import numpy as np
import pytest

from kernels.cpu import linalg, pyblas

pytestmark = pytest.mark.skipif(not pyblas.available(), reason="SciPy's cython_blas not reachable")

SHAPES = [(37, 53, 29), (128, 300, 64), (1, 200, 50), (90, 200, 1), (1, 300, 1), (4, 3, 5),
          (0, 70, 80), (70, 0, 80), (70, 80, 0), (64, 1, 200)]


def _operand(rng, shape, dtype, kind):
    """An array of ``shape`` stored C-contiguous, F-contiguous or strided (a column slice)."""
    if kind == "C":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "F":
        return np.asfortranarray(rng.standard_normal(shape).astype(dtype))
    return rng.standard_normal((shape[0], 2 * shape[1])).astype(dtype)[:, ::2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["matmul_nn", "matmul_tn", "matmul_nt", "matmul_tt"])
def test_python_matmuls_equal_the_kernels_bit_for_bit(name, dtype):
    rng = np.random.default_rng(7)
    ta, tb = name[-2] == "t", name[-1] == "t"
    # each layout pair is a Numba compile of the kernel; strided ("A": copied first, as Numba's
    # make_contiguous does) operands go through the same code for every transpose
    layouts = "CFA" if dtype == np.float32 and name == "matmul_nn" else "CF"
    for m, k, n in SHAPES:
        for la in layouts:
            for lb in layouts:
                a = _operand(rng, (k, m) if ta else (m, k), dtype, la)
                b = _operand(rng, (n, k) if tb else (k, n), dtype, lb)
                want = np.full((m, n), np.nan, dtype)
                got = want.copy()
                getattr(linalg, name)(a, b, want)
                pyblas.MATMUL[name](a, b, got)
                assert want.tobytes() == got.tobytes(), (name, m, k, n, la, lb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_fused_sgd_equals_the_kernel_bit_for_bit(dtype):
    rng = np.random.default_rng(8)
    for m, k, n in SHAPES:
        for la in "CA":
            a = _operand(rng, (k, m), dtype, la)
            b = _operand(rng, (k, n), dtype, "C")
            var = rng.standard_normal((m, n)).astype(dtype)
            want, got = var.copy(), var.copy()
            linalg.matmul_tn_sgd(a, b, want, dtype(0.05))
            pyblas.matmul_tn_sgd(a, b, got, dtype(0.05))
            assert want.tobytes() == got.tobytes(), (m, k, n, la)


def test_nan_and_inf_propagate_the_same_way():
    a = np.ones((64, 80), np.float32)
    b = np.ones((80, 96), np.float32)
    a[3, 5], b[7, 9] = np.nan, np.inf
    want, got = np.empty((64, 96), np.float32), np.empty((64, 96), np.float32)
    linalg.matmul_nn(a, b, want)
    pyblas.matmul_nn(a, b, got)
    assert want.tobytes() == got.tobytes()
    assert np.isnan(got[3]).all() and np.isinf(got[:, 9]).any()
