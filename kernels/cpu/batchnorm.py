"""Fused batch normalization, forward and backward, with their compiled-step emitters.

The input is viewed as (A, C, B) with C the channel axis: channels-last (NHWC, or (batch,
features)) is B == 1, NCHW is A = N and B = H*W. Statistics accumulate in float64, shifted by
the first sample of each channel (one pass, no catastrophic cancellation for data far from 0).
Forward: one pass for the statistics, one for y. Backward: one pass for sum(dy) and
sum(dy * (x - mean)), one for dx = a*dy + b*(x - mean) + d with per-channel a, b, d (the mean
and variance outputs' own gradients fold into b and d for free).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from graphengine.ops.facts import around_axis, view3

from ..codegen import size_src
from ..registry import register_kernel, register_step_emitter

_NJ = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_NJ)
def bn_forward(x, scale, offset, y, mean, var, eps, unbiased):
    A, C, B = x.shape
    n = A * B
    s = np.zeros(C, np.float64)
    ss = np.zeros(C, np.float64)
    shift = np.zeros(C, np.float64)
    if n > 0:
        for c in range(C):
            shift[c] = x[0, c, 0]
    if B == 1:
        for a in range(A):
            for c in range(C):
                d = x[a, c, 0] - shift[c]
                s[c] += d
                ss[c] += d * d
    else:
        for a in range(A):
            for c in range(C):
                sh = shift[c]
                acc = 0.0
                acc2 = 0.0
                for b in range(B):
                    d = x[a, c, b] - sh
                    acc += d
                    acc2 += d * d
                s[c] += acc
                ss[c] += acc2
    k1 = np.empty(C, np.float64)
    for c in range(C):
        m = s[c] / n
        v = max(ss[c] / n - m * m, 0.0)
        mean[c] = shift[c] + m
        var[c] = v * (n / max(n - 1, 1) if unbiased else 1.0)
        k1[c] = scale[c] / math.sqrt(v + eps)
    _affine(x, y, mean, k1, offset)


@numba.njit(**_NJ)
def _affine(x, y, mean, k1, offset):
    """y = (x - mean) * k1 + offset per channel."""
    A, C, B = x.shape
    if B == 1:
        f1 = k1.astype(x.dtype)
        for a in range(A):
            for c in range(C):
                y[a, c, 0] = (x[a, c, 0] - mean[c]) * f1[c] + offset[c]
    else:
        for a in range(A):
            for c in range(C):
                m = mean[c]
                p = x.dtype.type(k1[c])
                q = offset[c]
                for b in range(B):
                    y[a, c, b] = (x[a, c, b] - m) * p + q


@numba.njit(**_NJ)
def bn_backward(dy, x, scale, mean, var, g_mean, g_var, dx, dscale, doffset, eps, unbiased):
    A, C, B = x.shape
    n = A * B
    s0 = np.zeros(C, np.float64)
    s1 = np.zeros(C, np.float64)
    if B == 1:
        for a in range(A):
            for c in range(C):
                g = dy[a, c, 0]
                s0[c] += g
                s1[c] += g * (x[a, c, 0] - mean[c])
    else:
        for a in range(A):
            for c in range(C):
                mu = mean[c]
                acc0 = 0.0
                acc1 = 0.0
                for b in range(B):
                    g = dy[a, c, b]
                    acc0 += g
                    acc1 += g * (x[a, c, b] - mu)
                s0[c] += acc0
                s1[c] += acc1
    k = n / max(n - 1, 1) if unbiased else 1.0
    nn = max(n, 1)
    ca = np.empty(C, np.float64)
    cb = np.empty(C, np.float64)
    cd = np.empty(C, np.float64)
    for c in range(C):
        inv = 1.0 / math.sqrt(var[c] / k + eps)
        ca[c] = scale[c] * inv
        cb[c] = -scale[c] * inv * inv * inv * s1[c] / nn + g_var[c] * 2.0 * k / nn
        cd[c] = -scale[c] * inv * s0[c] / nn + g_mean[c] / nn
        dscale[c] = s1[c] * inv
        doffset[c] = s0[c]
    if B == 1:
        fa = ca.astype(x.dtype)
        fb = cb.astype(x.dtype)
        fd = cd.astype(x.dtype)
        for a in range(A):
            for c in range(C):
                dx[a, c, 0] = dy[a, c, 0] * fa[c] + (x[a, c, 0] - mean[c]) * fb[c] + fd[c]
    else:
        for a in range(A):
            for c in range(C):
                m = mean[c]
                p = x.dtype.type(ca[c])
                q = x.dtype.type(cb[c])
                r = x.dtype.type(cd[c])
                for b in range(B):
                    dx[a, c, b] = dy[a, c, b] * p + (x[a, c, b] - m) * q + r


def _c3(x: np.ndarray, axis: int) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(around_axis(x.shape, axis))


@register_kernel("batch_norm", "cpu")
def batch_norm_cpu(attrs, x, scale, offset):
    ax = attrs["axis"]
    c = x.shape[ax]
    y = np.empty(x.shape, x.dtype)
    mean = np.empty(c, x.dtype)
    var = np.empty(c, x.dtype)
    bn_forward(_c3(x, ax), np.ascontiguousarray(scale), np.ascontiguousarray(offset),
               y.reshape(around_axis(x.shape, ax)), mean, var, attrs["epsilon"], attrs["unbiased"])
    return y, mean, var


@register_kernel("batch_norm_grad", "cpu")
def batch_norm_grad_cpu(attrs, dy, x, scale, mean, var, g_mean, g_var):
    ax = attrs["axis"]
    c = x.shape[ax]
    dx = np.empty(x.shape, x.dtype)
    dscale = np.empty(c, x.dtype)
    doffset = np.empty(c, x.dtype)
    vec = np.ascontiguousarray
    bn_backward(_c3(dy, ax), _c3(x, ax), vec(scale), vec(mean), vec(var), vec(g_mean), vec(g_var),
                dx.reshape(around_axis(x.shape, ax)), dscale, doffset, attrs["epsilon"], attrs["unbiased"])
    return dx, dscale, doffset


# ----- compiled-step emitters -------------------------------------------------------------------

def view3_src(gen, t, axis: int) -> str:
    """Source of tensor ``t`` viewed as (A, N, B) around ``axis`` in the generated step."""
    a, n, b = view3(gen.dims(t) if t.shape != () else [], (axis,), size_src)
    return f"{gen.v(t)}.reshape(({a}, {n}, {b}))"


_IMPORT = "from kernels.cpu.batchnorm import bn_forward, bn_backward"


@register_step_emitter("batch_norm", imports=[_IMPORT])
def emit_batch_norm(gen, op):
    x, scale, offset = op.inputs
    y, mean, var = op.outputs
    a = op.attrs
    for t in op.outputs:
        gen.alloc(t)
    ax = a["axis"]
    gen.emit(f"bn_forward({view3_src(gen, x, ax)}, {gen.v(scale)}, {gen.v(offset)}, {view3_src(gen, y, ax)}, "
             f"{gen.v(mean)}, {gen.v(var)}, {a['epsilon']!r}, {a['unbiased']!r})")


@register_step_emitter("batch_norm_grad", imports=[_IMPORT])
def emit_batch_norm_grad(gen, op):
    dy, x, scale, mean, var, g_mean, g_var = op.inputs
    dx, dscale, doffset = op.outputs
    a = op.attrs
    for t in op.outputs:
        gen.alloc(t)
    ax = a["axis"]
    gen.emit(f"bn_backward({view3_src(gen, dy, ax)}, {view3_src(gen, x, ax)}, {gen.v(scale)}, {gen.v(mean)}, "
             f"{gen.v(var)}, {gen.v(g_mean)}, {gen.v(g_var)}, {view3_src(gen, dx, ax)}, {gen.v(dscale)}, "
             f"{gen.v(doffset)}, {a['epsilon']!r}, {a['unbiased']!r})")
