"""im2col and col2im for the CPU convolutions (``kernels.cpu.conv``), NHWC, on flat indices.

Both work on a block of output rows ``[r0, r1)`` (rows are (n, oh, ow)) so that a block stays
in cache between being gathered and being multiplied; padding comes from TF's SAME/VALID
arithmetic (``pad_before``). Windows whose rows are short (``KW * C <= NARROW``, e.g. a first
layer on one-channel images) are gathered by columns (``im2col_narrow``).
"""
from __future__ import annotations

import numba
import numpy as np

_NJ = dict(cache=True, nogil=True, error_model="numpy")
# window rows at most this long are gathered by columns (im2col_narrow)
NARROW = 8


@numba.njit(**_NJ)
def pad_before(size, out, k, s, d, same):
    if not same:
        return 0
    return max(0, (out - 1) * s + (k - 1) * d + 1 - size) // 2


@numba.njit(**_NJ)
def _taps(o, s, p, d, k, size):
    """(first, last + 1) kernel taps of output position ``o`` that land inside [0, size)."""
    lo = o * s - p
    first = 0 if lo >= 0 else (-lo + d - 1) // d
    last = 0 if size - lo <= 0 else min(k, (size - lo + d - 1) // d)
    return lo, first, max(first, last)


@numba.njit(**_NJ)
def _row_window(r, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, H, W):
    """Output row r = (n, oh, ow): n, and per spatial axis the first input index and the taps
    [first, last) inside the input (``_taps``)."""
    n = r // (OH * OW)
    q = r - n * OH * OW
    oh = q // OW
    ow = q - oh * OW
    h_lo, i0, i1 = _taps(oh, sh, ph, dh, KH, H)
    w_lo, j0, j1 = _taps(ow, sw, pw, dw, KW, W)
    return n, h_lo, i0, i1, w_lo, j0, j1


# Flat offsets are unsigned in the copy loops: with signed ones Numba's negative-index wrap-around
# turns a[base + e] into a select that LLVM cannot vectorize (checked with inspect_asm: vaddss
# became vaddps, 2x faster on col2im's adds).
_U = np.uint64


@numba.njit(**_NJ)
def _fill(dst, d, n, v):
    d = _U(d)
    for e in range(_U(n)):
        dst[d + e] = v


@numba.njit(**_NJ)
def _copy(dst, d, src, s, n):
    d, s = _U(d), _U(s)
    for e in range(_U(n)):
        dst[d + e] = src[s + e]


@numba.njit(**_NJ)
def _add(dst, d, src, s, n):
    d, s = _U(d), _U(s)
    for e in range(_U(n)):
        dst[d + e] += src[s + e]


@numba.njit(**_NJ)
def im2col(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw):
    """col[r - r0] = the window of output row r = (n, oh, ow), as (kh, kw, c); zeros outside x.

    Flat indexing, no array views in the loops (each view would cost a reference count), and
    one contiguous copy per kernel row when the taps are adjacent (dw == 1)."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    K = KH * KW * C
    xf = x.reshape(-1)
    cf = col.reshape(-1)
    for r in range(r0, r1):
        n, h_lo, i0, i1, w_lo, j0, j1 = _row_window(r, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, H, W)
        if dw == 1 and i0 == 0 and i1 == KH and j0 == 0 and j1 == KW:   # interior: KH plain copies
            src = ((n * H + h_lo) * W + w_lo) * C
            row = (r - r0) * K
            for i in range(KH):
                _copy(cf, row + i * KW * C, xf, src + i * dh * W * C, KW * C)
            continue
        for i in range(KH):
            row = (r - r0) * K + i * KW * C
            if i < i0 or i >= i1:
                _fill(cf, row, KW * C, 0)
                continue
            src = ((n * H + h_lo + i * dh) * W + w_lo + j0 * dw) * C   # first tap inside x
            _fill(cf, row, j0 * C, 0)
            if dw == 1:
                _copy(cf, row + j0 * C, xf, src, (j1 - j0) * C)
            else:
                for j in range(j0, j1):
                    _copy(cf, row + j * C, xf, src + (j - j0) * dw * C, C)
            _fill(cf, row + j1 * C, (KW - j1) * C, 0)


@numba.njit(**_NJ)
def im2col_narrow(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw):
    """im2col by columns, for windows whose rows are short (KW * C <= NARROW, e.g. a first layer
    on one-channel images): per output row and tap, one strided column of single-element stores.
    The row-wise copy would make a vectorized copy loop of 5 elements per tap row, all set-up."""
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    K = KH * KW * C
    xf = x.reshape(-1)
    cf = col.reshape(-1)
    r = r0
    while r < r1:
        n = r // (OH * OW)
        q = r - n * OH * OW
        oh = q // OW
        ow_a = q - oh * OW
        ow_b = min(OW, ow_a + (r1 - r))
        base = (r - r0 - ow_a) * K     # col offset of output column 0 of this output row
        h_lo, i0, i1 = _taps(oh, sh, ph, dh, KH, H)
        for i in range(KH):
            for j in range(KW):
                lo = j * dw - pw           # x column of output column 0's tap j
                v0 = 0 if lo >= 0 else (-lo + sw - 1) // sw
                v1 = 0 if W - lo <= 0 else min(OW, (W - lo + sw - 1) // sw)
                if i < i0 or i >= i1:
                    v1 = v0
                a, b = max(ow_a, v0), min(ow_b, v1)
                for c in range(C):   # unsigned offsets: no negative-index wrap-around per store
                    d = _U(base + (i * KW + j) * C + c)
                    for ow in range(_U(ow_a), _U(min(a, ow_b))):
                        cf[d + ow * _U(K)] = 0
                    if b > a:
                        src = _U(((n * H + h_lo + i * dh) * W + lo + a * sw) * C + c)   # x at ow = a
                        dst = d + _U(a * K)
                        for t in range(_U(b - a)):
                            cf[dst + t * _U(K)] = xf[src + t * _U(sw * C)]
                    for ow in range(_U(max(b, ow_a)), _U(ow_b)):
                        cf[d + ow * _U(K)] = 0
        r += ow_b - ow_a


@numba.njit(**_NJ)
def _im2col(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw):
    if KW * x.shape[3] <= NARROW:
        im2col_narrow(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw)
    else:
        im2col(x, col, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw)


@numba.njit(**_NJ)
def col2im(dcol, dx, r0, r1, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw):
    """The adjoint of im2col: dx[window of row r] += dcol[r - r0]."""
    H, W, C = dx.shape[1], dx.shape[2], dx.shape[3]
    K = KH * KW * C
    xf = dx.reshape(-1)
    cf = dcol.reshape(-1)
    for r in range(r0, r1):
        n, h_lo, i0, i1, w_lo, j0, j1 = _row_window(r, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, H, W)
        for i in range(i0, i1):
            row = (r - r0) * K + i * KW * C + j0 * C
            dst = ((n * H + h_lo + i * dh) * W + w_lo + j0 * dw) * C
            if dw == 1:
                _add(xf, dst, cf, row, (j1 - j0) * C)
            else:
                for j in range(j1 - j0):
                    _add(xf, dst + j * dw * C, cf, row + j * C, C)
