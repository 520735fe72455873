"""Fused batch normalization on the device, forward and backward.

The input is (A, C, B) around the channel axis (see kernels/cpu/batchnorm.py). Statistics: one
block per channel, threads striding over its A*B values, float64 partial sums reduced through a
shared-memory tree (no warp shuffles, so the simulator runs it); the two-pass mean then
variance is exact in float64. The per-channel coefficients go to a small scratch array, and one
elementwise launch applies them: y = (x - mean) * k + offset, dx = dy*a + (x - mean)*b + d.
"""
from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from graphengine.ops.facts import around_axis
from kernels.registry import register_kernel

from . import device
from .elementwise import flat

TPB = device.TPB


@cache
def stats_kernel() -> Any:
    def bn_stats(x, scale, mean, var, coef, A, C, B, eps, factor):
        buf = cuda.shared.array(TPB, np.float64)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        n = A * B
        while c < C:
            acc = 0.0
            for k in range(tid, n, TPB):
                acc += x[((k // B) * C + c) * B + k % B]
            buf[tid] = acc
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s:
                    buf[tid] += buf[tid + s]
                cuda.syncthreads()
                s //= 2
            mu = buf[0] / n
            cuda.syncthreads()
            acc = 0.0
            for k in range(tid, n, TPB):
                d = x[((k // B) * C + c) * B + k % B] - mu
                acc += d * d
            buf[tid] = acc
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s:
                    buf[tid] += buf[tid + s]
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                v = buf[0] / n
                mean[c] = mu
                var[c] = v * factor
                coef[c] = scale[c] / math.sqrt(v + eps)
            cuda.syncthreads()
            c += cuda.gridDim.x
    return cuda.jit(bn_stats)


@cache
def grad_sums_kernel() -> Any:
    def bn_grad_sums(dy, x, scale, mean, var, g_mean, g_var, coef, dscale, doffset, A, C, B, eps, k):
        buf0 = cuda.shared.array(TPB, np.float64)
        buf1 = cuda.shared.array(TPB, np.float64)
        tid = cuda.threadIdx.x
        c = cuda.blockIdx.x
        n = A * B
        while c < C:
            mu = mean[c]
            a0 = 0.0
            a1 = 0.0
            for j in range(tid, n, TPB):
                i = ((j // B) * C + c) * B + j % B
                a0 += dy[i]
                a1 += dy[i] * (x[i] - mu)
            buf0[tid] = a0
            buf1[tid] = a1
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s:
                    buf0[tid] += buf0[tid + s]
                    buf1[tid] += buf1[tid + s]
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                nn = n if n > 0 else 1
                inv = 1.0 / math.sqrt(var[c] / k + eps)
                s0, s1 = buf0[0], buf1[0]
                coef[c] = scale[c] * inv
                coef[C + c] = -scale[c] * inv * inv * inv * s1 / nn + g_var[c] * 2.0 * k / nn
                coef[2 * C + c] = -scale[c] * inv * s0 / nn + g_mean[c] / nn
                dscale[c] = s1 * inv
                doffset[c] = s0
            cuda.syncthreads()
            c += cuda.gridDim.x
    return cuda.jit(bn_grad_sums)


@cache
def apply_kernel() -> Any:
    def bn_apply(x, mean, coef, offset, y, C, B, total):
        i = cuda.grid(1)
        while i < total:
            c = (i // B) % C
            y[i] = (x[i] - mean[c]) * coef[c] + offset[c]
            i += cuda.gridsize(1)
    return cuda.jit(bn_apply)


@cache
def grad_apply_kernel() -> Any:
    def bn_grad_apply(dy, x, mean, coef, dx, C, B, total):
        i = cuda.grid(1)
        while i < total:
            c = (i // B) % C
            dx[i] = dy[i] * coef[c] + (x[i] - mean[c]) * coef[C + c] + coef[2 * C + c]
            i += cuda.gridsize(1)
    return cuda.jit(bn_grad_apply)


def _factor(attrs: dict, n: int) -> float:
    return n / max(n - 1, 1) if attrs["unbiased"] else 1.0


@register_kernel("batch_norm", "cuda")
def batch_norm_cuda(attrs: dict, x: Any, scale: Any, offset: Any) -> tuple:
    dev = device.current()
    A, C, B = around_axis(tuple(x.shape), attrs["axis"])
    y = dev.empty(tuple(x.shape), x.dtype)
    mean, var = dev.empty((C,), x.dtype), dev.empty((C,), x.dtype)
    coef = dev.empty((C,), np.float64)
    total = A * C * B
    if not total:  # no values: NaN statistics, as NumPy's mean of nothing
        nan = np.full((C,), np.nan, np.dtype(x.dtype))
        return y, dev.upload(nan), dev.upload(nan)
    if C:
        dev.launch(stats_kernel(), min(C, device.MAX_BLOCKS), TPB, flat(x), scale, mean, var, coef, A, C, B,
                   float(attrs["epsilon"]), _factor(attrs, A * B))
    if total:
        dev.launch(apply_kernel(), device.blocks_for(total), TPB, flat(x), mean, coef, offset, flat(y), C, B, total)
    return y, mean, var


@register_kernel("batch_norm_grad", "cuda")
def batch_norm_grad_cuda(attrs: dict, dy: Any, x: Any, scale: Any, mean: Any, var: Any, g_mean: Any,
                         g_var: Any) -> tuple:
    dev = device.current()
    A, C, B = around_axis(tuple(x.shape), attrs["axis"])
    dx = dev.empty(tuple(x.shape), x.dtype)
    dscale, doffset = dev.empty((C,), x.dtype), dev.empty((C,), x.dtype)
    coef = dev.empty((3 * max(C, 1),), np.float64)
    total = A * C * B
    if not total:
        zero = np.zeros((C,), np.dtype(x.dtype))
        return dx, dev.upload(zero), dev.upload(zero)
    if total:
        dev.launch(grad_sums_kernel(), min(C, device.MAX_BLOCKS), TPB, flat(dy), flat(x), scale, mean, var,
                   g_mean, g_var, coef, dscale, doffset, A, C, B, float(attrs["epsilon"]),
                   _factor(attrs, A * B))
        dev.launch(grad_apply_kernel(), device.blocks_for(total), TPB, flat(dy), flat(x), mean, coef, flat(dx),
                   C, B, total)
    return dx, dscale, doffset
