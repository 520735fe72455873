"""Matmul: cuBLAS through CuPy when CuPy is the array layer, else (simulator, captured steps)
a shared-memory tiled, register-blocked GEMM written in Numba-CUDA.

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

TILE = device.TILE        # the block is TILE x TILE threads
RB = device.GEMM_RB       # each thread computes RB x RB outputs (register blocking)
BM = TILE * RB            # a block computes a BM x BM tile of the output
BK = TILE                 # depth of one shared-memory step


@cache
def gemm_kernel(dtype: Any) -> Any:
    """out[M,N] = op(A) @ op(B); A stored (K,M) if ta else (M,K); B stored (N,K) if tb else (K,N).

    Shared-memory tiles of A (BM x BK, stored k-major) and B (BK x BM) per step of K; each thread
    keeps an RB x RB block of accumulators in registers and reads RB values of each tile per k,
    so a shared-memory load feeds RB multiply-adds instead of one. Thread (ty, tx) owns rows
    ty + TILE*i and columns tx + TILE*j: neighbouring threads write neighbouring columns
    (coalesced stores) and read neighbouring B columns (no bank conflicts). Tile loads map
    consecutive threads to consecutive addresses for each of the four storage orders.
    """
    dt = np.dtype(dtype)
    zero = dt.type(0)
    nthreads = TILE * TILE
    loads = BM * BK // nthreads  # elements of each tile a thread loads

    def gemm(a, b, out, M, N, K, ta, tb):
        sa = cuda.shared.array((BK, BM), dt)
        sb = cuda.shared.array((BK, BM), dt)
        acc = cuda.local.array((RB, RB), dt)
        ar = cuda.local.array(RB, dt)
        br = cuda.local.array(RB, dt)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TILE + tx
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BM
        for i in range(RB):
            for j in range(RB):
                acc[i, j] = zero
        for t0 in range(0, K, BK):
            for r in range(loads):
                idx = tid + r * nthreads
                if ta:   # A stored (K, M): consecutive threads along m
                    kl = idx // BM
                    ml = idx - kl * BM
                else:    # A stored (M, K): consecutive threads along k
                    ml = idx // BK
                    kl = idx - ml * BK
                m = row0 + ml
                k = t0 + kl
                if m < M and k < K:
                    sa[kl, ml] = a[k * M + m] if ta else a[m * K + k]
                else:
                    sa[kl, ml] = zero
                if tb:   # B stored (N, K): consecutive threads along k
                    nl = idx // BK
                    kl = idx - nl * BK
                else:    # B stored (K, N): consecutive threads along n
                    kl = idx // BM
                    nl = idx - kl * BM
                n = col0 + nl
                k = t0 + kl
                if n < N and k < K:
                    sb[kl, nl] = b[n * K + k] if tb else b[k * N + n]
                else:
                    sb[kl, nl] = zero
            cuda.syncthreads()
            for kk in range(BK):
                for i in range(RB):
                    ar[i] = sa[kk, ty + TILE * i]
                for j in range(RB):
                    br[j] = sb[kk, tx + TILE * j]
                for i in range(RB):
                    for j in range(RB):
                        acc[i, j] += ar[i] * br[j]
            cuda.syncthreads()
        for i in range(RB):
            m = row0 + ty + TILE * i
            if m < M:
                for j in range(RB):
                    n = col0 + tx + TILE * j
                    if n < N:
                        out[m * N + n] = acc[i, j]
    return cuda.jit(gemm)


def gemm_numba(dev: Any, a: Any, b: Any, ta: bool, tb: bool, out: Any) -> Any:
    M = int(a.shape[1] if ta else a.shape[0])
    K = int(a.shape[0] if ta else a.shape[1])
    N = int(b.shape[0] if tb else b.shape[1])
    if out is None:
        out = dev.empty((M, N), a.dtype)
    if M and N:
        grid = ((N + BM - 1) // BM, (M + BM - 1) // BM)
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


@register_kernel("batch_matmul", "cuda")
def batch_matmul_cuda(attrs: dict, a: Any, b: Any) -> Any:
    """One tiled-GEMM launch per batch entry (the built-in GEMM, not cuBLAS, so a step with a
    batched matmul captures as a CUDA graph in every launch mode)."""
    dev = device.current()
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    sa, sb = tuple(int(n) for n in a.shape), tuple(int(n) for n in b.shape)
    batch = tuple(np.broadcast_shapes(sa[:-2], sb[:-2]))
    m = sa[-1] if ta else sa[-2]
    n = sb[-2] if tb else sb[-1]
    k = sa[-2] if ta else sa[-1]
    nbatch = int(np.prod(batch, dtype=np.int64))
    if k == 0:  # an empty inner dimension sums nothing
        return dev.upload(np.zeros(batch + (m, n), np.dtype(a.dtype)))
    out = dev.empty(batch + (m, n), a.dtype)
    if nbatch == 0 or m == 0 or n == 0:
        return out
    pa = (1,) * (len(batch) - len(sa) + 2) + sa[:-2]
    pb = (1,) * (len(batch) - len(sb) + 2) + sb[:-2]
    a3 = a.reshape((int(np.prod(sa[:-2], dtype=np.int64)),) + sa[-2:])
    b3 = b.reshape((int(np.prod(sb[:-2], dtype=np.int64)),) + sb[-2:])
    o3 = out.reshape((nbatch, m, n))
    for i, idx in enumerate(np.ndindex(*batch)):
        ia = int(np.ravel_multi_index(tuple(c if s != 1 else 0 for c, s in zip(idx, pa)), pa))
        ib = int(np.ravel_multi_index(tuple(c if s != 1 else 0 for c, s in zip(idx, pb)), pb))
        gemm_numba(dev, a3[ia], b3[ib], ta, tb, o3[i])
    return out
