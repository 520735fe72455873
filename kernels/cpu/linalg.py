"""Matmul: BLAS through Numba's np.dot (transposes are passed as views, no copies)."""
from __future__ import annotations

import numba
import numpy as np

from ..registry import register_kernel

_NJ = dict(cache=True, nogil=True)


@numba.njit(**_NJ)
def matmul_nn(a, b, out):
    np.dot(a, b, out)


@numba.njit(**_NJ)
def matmul_tn(a, b, out):
    np.dot(a.T, b, out)


@numba.njit(**_NJ)
def matmul_nt(a, b, out):
    np.dot(a, b.T, out)


@numba.njit(**_NJ)
def matmul_tt(a, b, out):
    np.dot(a.T, b.T, out)


MATMUL = {(False, False): matmul_nn, (True, False): matmul_tn,
          (False, True): matmul_nt, (True, True): matmul_tt}


@register_kernel("matmul", "cpu")
def matmul_cpu(attrs, a, b):
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    m = a.shape[1] if ta else a.shape[0]
    n = b.shape[0] if tb else b.shape[1]
    out = np.empty((m, n), a.dtype)
    if a.dtype.kind != "f":  # BLAS is float-only; integer matmul is rare and small
        out[...] = (a.T if ta else a) @ (b.T if tb else b)
        return out
    if a.size == 0 or b.size == 0:
        out[...] = 0
        return out
    MATMUL[(ta, tb)](np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    return out
