"""Matmul: BLAS through Numba's np.dot (transposes are passed as views, no copies)."""
from __future__ import annotations

import numba
import numpy as np

from ..registry import register_kernel

_NJ = dict(cache=True, nogil=True)
# Below this many multiply-adds a plain loop beats the cost of a BLAS call (measured on the
# 2-16-2 MLP: six tiny GEMMs per step went from ~2 us of BLAS overhead to ~0.2 us).
SMALL = 4096


@numba.njit(**_NJ)
def small_mm(a, b, out):  # a: (m, k), b: (k, n) in any layout
    m, k = a.shape
    n = b.shape[1]
    for i in range(m):
        for j in range(n):
            out[i, j] = 0
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]


@numba.njit(**_NJ)
def matmul_nn(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        small_mm(a, b, out)
    else:
        np.dot(a, b, out)


@numba.njit(**_NJ)
def matmul_tn(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        small_mm(a.T, b, out)
    else:
        np.dot(a.T, b, out)


@numba.njit(**_NJ)
def matmul_nt(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL:
        small_mm(a, b.T, out)
    else:
        np.dot(a, b.T, out)


@numba.njit(**_NJ)
def matmul_tt(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL:
        small_mm(a.T, b.T, out)
    else:
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
