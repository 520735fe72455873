"""Convolution and pooling on the CPU, NHWC.

Convolutions are GEMMs on the BLAS path every compiled step uses (``linalg.matmul_*``: np.dot
from Numba, SciPy's OpenBLAS). The im2col matrix is built ``CHUNK`` elements at a time, a block
of output rows (n, oh, ow) times the (kh, kw, c) columns, so it stays in cache between being
written and being multiplied instead of making a trip through memory (conv2 of LeNet would need
an 80 MB matrix at B=128):

  forward          Y[rows]   = col[rows] @ W            (W is the filter viewed as (kh*kw*c, out))
  filter gradient  dW       += col[rows].T @ dY[rows]
  input gradient   dcol      = dY[rows] @ W.T, then added back into dX window by window (col2im)

A 1x1 stride-1 convolution is one GEMM on the input itself. Pooling loops directly, channels
innermost (contiguous in NHWC, so the loops vectorize). Every kernel computes its padding from
the array shapes (TF's arithmetic, see ``graphengine.ops.conv``), so the generated step passes
only static attributes and a ragged batch needs no recompilation.
"""
from __future__ import annotations

import numba
import numpy as np

from graphengine.ops.conv import window

from ..registry import register_kernel, register_step_emitter
from .im2col import _U, _add, _copy, _fill, _im2col, _taps, col2im, im2col, im2col_narrow, pad_before  # noqa: F401
from .linalg import matmul_nn, matmul_nt, matmul_tn, matmul_tn_acc

_NJ = dict(cache=True, nogil=True, error_model="numpy")
# im2col elements per chunk. Timed on LeNet's two convolutions at B=128, forward and both
# gradients, 1 thread, quiet machine (AMD EPYC, 512 KiB L2): 2^16 165.6 ms, 2^17 142.7,
# 2^18 134.8, 2^19 130.2, 2^20 133.9, 2^21 200.9 (the whole matrix is slower still). Bigger blocks
# give OpenBLAS taller panels (conv2's 163-row blocks at 2^17 ran its GEMM at 59 GFLOP/s, 652-row
# blocks at 71); past 2^20 the block no longer stays in cache between im2col and the GEMM.
CHUNK = 1 << 19


@numba.njit(**_NJ)
def _geometry(H, W, OH, OW, KH, KW, sh, sw, dh, dw, same):
    """(padding before along H, along W, whether the convolution is a plain GEMM on x)."""
    ph = pad_before(H, OH, KH, sh, dh, same)
    pw = pad_before(W, OW, KW, sw, dw, same)
    plain = KH == 1 and KW == 1 and sh == 1 and sw == 1 and OH == H and OW == W
    return ph, pw, plain


@numba.njit(**_NJ)
def conv2d_nhwc(x, w, out, sh, sw, dh, dw, same):
    N, H, W, C = x.shape
    KH, KW, _, O = w.shape
    OH, OW = out.shape[1], out.shape[2]
    rows, K = N * OH * OW, KH * KW * C
    o2 = out.reshape(rows, O)
    if rows == 0 or O == 0:
        return
    if K == 0:
        o2[:] = 0
        return
    ph, pw, plain = _geometry(H, W, OH, OW, KH, KW, sh, sw, dh, dw, same)
    w2 = w.reshape(K, O)
    if plain:
        matmul_nn(x.reshape(rows, C), w2, o2)
        return
    step = max(1, CHUNK // K)
    col = np.empty((min(step, rows), K), x.dtype)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        _im2col(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw)
        matmul_nn(col[:r1 - r0], w2, o2[r0:r1])


@numba.njit(**_NJ)
def conv2d_backprop_filter_nhwc(x, dy, dw_out, sh, sw, dh, dw, same):
    N, H, W, C = x.shape
    OH, OW, O = dy.shape[1], dy.shape[2], dy.shape[3]
    KH, KW = dw_out.shape[0], dw_out.shape[1]
    rows, K = N * OH * OW, KH * KW * C
    g2 = dw_out.reshape(K, O)
    if rows == 0 or K == 0 or O == 0:
        g2[:] = 0
        return
    ph, pw, plain = _geometry(H, W, OH, OW, KH, KW, sh, sw, dh, dw, same)
    dy2 = dy.reshape(rows, O)
    if plain:
        matmul_tn(x.reshape(rows, C), dy2, g2)
        return
    step = max(1, CHUNK // K)
    col = np.empty((min(step, rows), K), x.dtype)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        _im2col(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw)
        if r0 == 0:
            matmul_tn(col[:r1 - r0], dy2[r0:r1], g2)
        else:   # accumulate in the GEMM (beta = 1): no temporary, no pass of adds
            matmul_tn_acc(col[:r1 - r0], dy2[r0:r1], g2)


@numba.njit(**_NJ)
def conv2d_backprop_input_nhwc(dy, w, dx, sh, sw, dh, dw, same):
    N, H, W, C = dx.shape
    OH, OW, O = dy.shape[1], dy.shape[2], dy.shape[3]
    KH, KW = w.shape[0], w.shape[1]
    rows, K = N * OH * OW, KH * KW * C
    ph, pw, plain = _geometry(H, W, OH, OW, KH, KW, sh, sw, dh, dw, same)
    flat = dx.reshape(-1)
    if plain and rows > 0 and O > 0:
        matmul_nt(dy.reshape(rows, O), w.reshape(K, O), dx.reshape(rows, C))
        return
    flat[:] = 0
    if rows == 0 or K == 0 or O == 0:
        return
    w2 = w.reshape(K, O)
    dy2 = dy.reshape(rows, O)
    step = max(1, CHUNK // K)
    dcol = np.empty((min(step, rows), K), dx.dtype)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        matmul_nt(dy2[r0:r1], w2, dcol[:r1 - r0])
        col2im(dcol, dx, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw)


# ----- pooling: direct loops -----------------------------------------------------------------

@numba.njit(**_NJ)
def _span(o, s, p, k, size):
    lo = o * s - p
    return max(lo, 0), min(lo + k, size)


@numba.njit(**_NJ)
def _max_into(dst, d, src, s, n):
    """dst[d:d+n] = max(dst, src[s:s+n]); NaN wins and stays (the max of a window with NaN is NaN)."""
    d, s = _U(d), _U(s)
    for e in range(_U(n)):
        v = src[s + e]
        cur = dst[d + e]
        dst[d + e] = v if (v > cur or (v != v and cur == cur)) else cur


@numba.njit(**_NJ)
def _argmax_into(best, at, src, s, n, pos):
    """Running first maximum per channel: best/at take src[s:s+n] where it is larger (or NaN)."""
    s = _U(s)
    for e in range(_U(n)):
        v = src[s + e]
        b = best[e]
        take = v > b or (v != v and b == b)
        best[e] = v if take else b
        at[e] = pos if take else at[e]


@numba.njit(**_NJ)
def max_pool_nhwc(x, out, KH, KW, sh, sw, same):
    N, H, W, C = x.shape
    OH, OW = out.shape[1], out.shape[2]
    ph = pad_before(H, OH, KH, sh, 1, same)
    pw = pad_before(W, OW, KW, sw, 1, same)
    xf, of = x.reshape(-1), out.reshape(-1)
    for n in range(N):
        for oh in range(OH):
            h0, h1 = _span(oh, sh, ph, KH, H)
            for ow in range(OW):
                w0, w1 = _span(ow, sw, pw, KW, W)
                o = ((n * OH + oh) * OW + ow) * C
                _copy(of, o, xf, ((n * H + h0) * W + w0) * C, C)
                for ih in range(h0, h1):
                    for iw in range(w0 + 1 if ih == h0 else w0, w1):   # the first is in already
                        _max_into(of, o, xf, ((n * H + ih) * W + iw) * C, C)


@numba.njit(**_NJ)
def _covers(size, out, k, s, p):
    """Whether the windows [o*s - p, o*s - p + k) of o < out, clipped to [0, size), cover it."""
    nxt = 0
    for o in range(out):
        lo, hi = _span(o, s, p, k, size)
        if lo > nxt:
            return False
        nxt = max(nxt, hi)
    return nxt >= size


@numba.njit(**_NJ)
def max_pool_grad_nhwc(x, g, dx, KH, KW, sh, sw, same):
    """dx = each window's gradient added at its first maximum (row-major window order)."""
    N, H, W, C = x.shape
    OH, OW = g.shape[1], g.shape[2]
    ph = pad_before(H, OH, KH, sh, 1, same)
    pw = pad_before(W, OW, KW, sw, 1, same)
    xf, gf, df = x.reshape(-1), g.reshape(-1), dx.reshape(-1)
    # windows that do not overlap own their inputs: each is zeroed while its window is in cache
    # and gets its gradient by assignment (no separate pass over dx); inputs in no window, or
    # overlapping windows, need the whole of dx zeroed first
    own = sh >= KH and sw >= KW
    if not (own and _covers(H, OH, KH, sh, ph) and _covers(W, OW, KW, sw, pw)):
        df[:] = 0
    best = np.empty(C, x.dtype)
    at = np.empty(C, np.int64)
    for n in range(N):
        for oh in range(OH):
            h0, h1 = _span(oh, sh, ph, KH, H)
            for ow in range(OW):
                w0, w1 = _span(ow, sw, pw, KW, W)
                first = (n * H + h0) * W + w0
                _copy(best, 0, xf, first * C, C)
                at[:] = first
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        pos = (n * H + ih) * W + iw
                        _argmax_into(best, at, xf, pos * C, C, pos)
                        if own:
                            _fill(df, pos * C, C, 0)
                o = ((n * OH + oh) * OW + ow) * C
                if own:
                    for c in range(C):
                        df[at[c] * C + c] = gf[o + c]
                else:
                    for c in range(C):
                        df[at[c] * C + c] += gf[o + c]


@numba.njit(**_NJ)
def avg_pool_nhwc(x, out, KH, KW, sh, sw, same):
    N, H, W, C = x.shape
    OH, OW = out.shape[1], out.shape[2]
    ph = pad_before(H, OH, KH, sh, 1, same)
    pw = pad_before(W, OW, KW, sw, 1, same)
    xf, of = x.reshape(-1), out.reshape(-1)
    of[:] = 0
    for n in range(N):
        for oh in range(OH):
            h0, h1 = _span(oh, sh, ph, KH, H)
            for ow in range(OW):
                w0, w1 = _span(ow, sw, pw, KW, W)
                o = ((n * OH + oh) * OW + ow) * C
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        _add(of, o, xf, ((n * H + ih) * W + iw) * C, C)
                inv = 1.0 / ((h1 - h0) * (w1 - w0))
                for c in range(C):
                    of[o + c] *= inv


@numba.njit(**_NJ)
def avg_pool_grad_nhwc(g, dx, KH, KW, sh, sw, same):
    N, H, W, C = dx.shape
    OH, OW = g.shape[1], g.shape[2]
    ph = pad_before(H, OH, KH, sh, 1, same)
    pw = pad_before(W, OW, KW, sw, 1, same)
    gf, df = g.reshape(-1), dx.reshape(-1)
    df[:] = 0
    share = np.empty(C, dx.dtype)   # the window's gradient / its count, in dx's dtype
    for n in range(N):
        for oh in range(OH):
            h0, h1 = _span(oh, sh, ph, KH, H)
            for ow in range(OW):
                w0, w1 = _span(ow, sw, pw, KW, W)
                o = ((n * OH + oh) * OW + ow) * C
                inv = 1.0 / ((h1 - h0) * (w1 - w0))
                for c in range(C):
                    share[c] = gf[o + c] * inv
                for ih in range(h0, h1):
                    for iw in range(w0, w1):
                        _add(df, ((n * H + ih) * W + iw) * C, share, 0, C)


# ----- per-op kernels (jit="op") and step emitters (jit="step"), one pair per op ----------------

def _c(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a)


def _out_hw(h: int, w: int, ksize, a: dict) -> tuple[int, int]:
    d = a.get("dilations", (1, 1))
    return (window(h, ksize[0], a["strides"][0], d[0], a["padding"])[0],
            window(w, ksize[1], a["strides"][1], d[1], a["padding"])[0])


def _conv_args(a: dict) -> tuple:
    (sh, sw), (dh, dw) = a["strides"], a["dilations"]
    return sh, sw, dh, dw, a["padding"] == "SAME"


def _pool_args(a: dict) -> tuple:
    (kh, kw), (sh, sw) = a["ksize"], a["strides"]
    return kh, kw, sh, sw, a["padding"] == "SAME"


def _emit(gen, op, fn: str, ins, static: tuple) -> None:
    out = op.outputs[0]
    gen.alloc(out)
    args = [gen.v(t) for t in ins] + [gen.v(out)] + [repr(v) for v in static]
    gen.emit(f"{fn}({', '.join(args)})")


def _imports(*names: str) -> tuple[str, ...]:
    return (f"from kernels.cpu.conv import {', '.join(names)}",)


@register_kernel("conv2d", "cpu")
def conv2d_cpu(attrs, x, w):
    oh, ow = _out_hw(x.shape[1], x.shape[2], w.shape[:2], attrs)
    out = np.empty((x.shape[0], oh, ow, w.shape[3]), x.dtype)
    conv2d_nhwc(_c(x), _c(w), out, *_conv_args(attrs))
    return out


@register_step_emitter("conv2d", _imports("conv2d_nhwc"))
def conv2d_step(gen, op):
    _emit(gen, op, "conv2d_nhwc", op.inputs, _conv_args(op.attrs))


@register_kernel("conv2d_backprop_input", "cpu")
def conv2d_backprop_input_cpu(attrs, dy, w, like=None):
    h, wd = attrs["input_hw"] if like is None else like.shape[1:3]
    dx = np.empty((dy.shape[0], h, wd, w.shape[2]), dy.dtype)
    conv2d_backprop_input_nhwc(_c(dy), _c(w), dx, *_conv_args(attrs))
    return dx


@register_step_emitter("conv2d_backprop_input", _imports("conv2d_backprop_input_nhwc"))
def conv2d_backprop_input_step(gen, op):
    _emit(gen, op, "conv2d_backprop_input_nhwc", op.inputs[:2], _conv_args(op.attrs))


@register_kernel("conv2d_backprop_filter", "cpu")
def conv2d_backprop_filter_cpu(attrs, x, dy):
    kh, kw = attrs["filter_hw"]
    dw = np.empty((kh, kw, x.shape[3], dy.shape[3]), x.dtype)
    conv2d_backprop_filter_nhwc(_c(x), _c(dy), dw, *_conv_args(attrs))
    return dw


@register_step_emitter("conv2d_backprop_filter", _imports("conv2d_backprop_filter_nhwc"))
def conv2d_backprop_filter_step(gen, op):
    _emit(gen, op, "conv2d_backprop_filter_nhwc", op.inputs, _conv_args(op.attrs))


def _pooled(attrs, x):
    oh, ow = _out_hw(x.shape[1], x.shape[2], attrs["ksize"], attrs)
    return np.empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)


@register_kernel("max_pool", "cpu")
def max_pool_cpu(attrs, x):
    out = _pooled(attrs, x)
    max_pool_nhwc(_c(x), out, *_pool_args(attrs))
    return out


@register_step_emitter("max_pool", _imports("max_pool_nhwc"))
def max_pool_step(gen, op):
    _emit(gen, op, "max_pool_nhwc", op.inputs, _pool_args(op.attrs))


@register_kernel("max_pool_grad", "cpu")
def max_pool_grad_cpu(attrs, x, g):
    dx = np.empty(x.shape, x.dtype)
    max_pool_grad_nhwc(_c(x), _c(g), dx, *_pool_args(attrs))
    return dx


@register_step_emitter("max_pool_grad", _imports("max_pool_grad_nhwc"))
def max_pool_grad_step(gen, op):
    _emit(gen, op, "max_pool_grad_nhwc", op.inputs, _pool_args(op.attrs))


@register_kernel("avg_pool", "cpu")
def avg_pool_cpu(attrs, x):
    out = _pooled(attrs, x)
    avg_pool_nhwc(_c(x), out, *_pool_args(attrs))
    return out


@register_step_emitter("avg_pool", _imports("avg_pool_nhwc"))
def avg_pool_step(gen, op):
    _emit(gen, op, "avg_pool_nhwc", op.inputs, _pool_args(op.attrs))


@register_kernel("avg_pool_grad", "cpu")
def avg_pool_grad_cpu(attrs, g, like=None):
    h, w = attrs["input_hw"] if like is None else like.shape[1:3]
    dx = np.empty((g.shape[0], h, w, g.shape[3]), g.dtype)
    avg_pool_grad_nhwc(_c(g), dx, *_pool_args(attrs))
    return dx


@register_step_emitter("avg_pool_grad", _imports("avg_pool_grad_nhwc"))
def avg_pool_grad_step(gen, op):
    _emit(gen, op, "avg_pool_grad_nhwc", op.inputs[:1], _pool_args(op.attrs))
