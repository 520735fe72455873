"""Matmul: cuBLAS through CuPy when CuPy is the array layer, else (simulator, captured steps)
a shared-memory tiled GEMM written in Numba-CUDA.

cuBLAS calls cannot be captured into a CUDA graph by CuPy, so a whole-step capture uses the
tiled kernel for every matmul (see capture.py).
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from kernels.registry import register_kernel

from . import device
from .elementwise import flat

TILE = device.TILE


@cache
def gemm_kernel(dtype: Any) -> Any:
    """out[M,N] = op(A) @ op(B); A stored (K,M) if ta else (M,K); B stored (N,K) if tb else (K,N)."""
    dt = np.dtype(dtype)
    zero = dt.type(0)

    def gemm(a, b, out, M, N, K, ta, tb):
        sa = cuda.shared.array((TILE, TILE), dt)
        sb = cuda.shared.array((TILE, TILE), dt)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        acc = zero
        for t0 in range(0, K, TILE):
            k = t0 + tx
            if row < M and k < K:
                sa[ty, tx] = a[k * M + row] if ta else a[row * K + k]
            else:
                sa[ty, tx] = zero
            k = t0 + ty
            if col < N and k < K:
                sb[ty, tx] = b[col * K + k] if tb else b[k * N + col]
            else:
                sb[ty, tx] = zero
            cuda.syncthreads()
            for kk in range(TILE):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        if row < M and col < N:
            out[row * N + col] = acc
    return cuda.jit(gemm)


def gemm_numba(dev: Any, a: Any, b: Any, ta: bool, tb: bool, out: Any) -> Any:
    M = int(a.shape[1] if ta else a.shape[0])
    K = int(a.shape[0] if ta else a.shape[1])
    N = int(b.shape[0] if tb else b.shape[1])
    if out is None:
        out = dev.empty((M, N), a.dtype)
    if M and N:
        grid = ((N + TILE - 1) // TILE, (M + TILE - 1) // TILE)
        dev.launch(gemm_kernel(np.dtype(a.dtype)), grid, (TILE, TILE),
                   flat(a), flat(b), flat(out), M, N, K, bool(ta), bool(tb))
    return out


@register_kernel("matmul", "cuda")
def matmul_cuda(attrs: dict, a: Any, b: Any) -> Any:
    dev = device.current()
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    m = a.shape[1] if ta else a.shape[0]
    n = b.shape[0] if tb else b.shape[1]
    out = dev.empty((int(m), int(n)), a.dtype)
    return dev.matmul(a, b, ta, tb, out)
