"""Convolution and pooling on the device, NHWC: im2col / col2im kernels around the array
layer's GEMM (cuBLAS through CuPy on a GPU, the tiled Numba GEMM under the simulator and in
captured steps), direct kernels for pooling.

  forward          col = im2col(x);  Y = col @ W              (W: the filter as (kh*kw*c, out))
  filter gradient  dW = col.T @ dY
  input gradient   dcol = dY @ W.T;  dX = col2im(dcol)

col2im and the pooling gradients *gather*: one thread per input element sums what every window
covering it contributes (no atomics, so results do not depend on scheduling). Padding follows
TF's arithmetic (``graphengine.ops.conv.window``). A 1x1 stride-1 convolution is one GEMM on x.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numba
import numpy as np
from numba import cuda

from graphengine.ops.conv import pads, window
from kernels.registry import register_kernel

from . import device
from .elementwise import flat, launch_map

# ----- kernels (one thread per output element, grid-stride) ------------------------------------
# min/max builtins are avoided: on ints Numba may compile them as device functions for the
# current device, which keeps the kernels from compiling to PTX without a driver.

@cache
def im2col_kernel(dtype: Any) -> Any:
    zero = np.dtype(dtype).type(0)

    def im2col(x, col, total, H, W, C, OH, OW, KW, K, sh, sw, dh, dw, ph, pw):
        i = cuda.grid(1)
        while i < total:
            r = i // K
            e = i - r * K
            tap = e // C
            c = e - tap * C
            ki = tap // KW
            kj = tap - ki * KW
            n = r // (OH * OW)
            q = r - n * OH * OW
            oh = q // OW
            ow = q - oh * OW
            ih = oh * sh - ph + ki * dh
            iw = ow * sw - pw + kj * dw
            if ih >= 0 and ih < H and iw >= 0 and iw < W:
                col[i] = x[((n * H + ih) * W + iw) * C + c]
            else:
                col[i] = zero
            i += cuda.gridsize(1)
    return cuda.jit(im2col)


@cache
def col2im_kernel(dtype: Any) -> Any:
    zero = np.dtype(dtype).type(0)

    def col2im(dcol, dx, total, H, W, C, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw):
        i = cuda.grid(1)
        K = KH * KW * C
        while i < total:
            c = i % C
            t = i // C
            iw = t % W
            t = t // W
            ih = t % H
            n = t // H
            acc = zero
            for ki in range(KH):
                a = ih + ph - ki * dh
                if a >= 0 and a % sh == 0 and a // sh < OH:
                    for kj in range(KW):
                        b = iw + pw - kj * dw
                        if b >= 0 and b % sw == 0 and b // sw < OW:
                            acc += dcol[((n * OH + a // sh) * OW + b // sw) * K + (ki * KW + kj) * C + c]
            dx[i] = acc
            i += cuda.gridsize(1)
    return cuda.jit(col2im)


def _scalar(dtype: Any) -> Any:
    """The Numba scalar type of ``dtype``: window counts are cast to it, so float32 kernels
    never compute in float64 (an int64 count would promote a float32 division)."""
    return numba.float32 if np.dtype(dtype) == np.float32 else numba.float64


@cache
def pool_kernel(dtype: Any, is_max: bool) -> Any:
    zero = np.dtype(dtype).type(0)
    real = _scalar(dtype)

    def pool(x, out, total, H, W, C, OH, OW, KH, KW, sh, sw, ph, pw):
        i = cuda.grid(1)
        while i < total:
            c = i % C
            t = i // C
            ow = t % OW
            t = t // OW
            oh = t % OH
            n = t // OH
            h0 = oh * sh - ph
            w0 = ow * sw - pw
            h1 = h0 + KH if h0 + KH < H else H
            w1 = w0 + KW if w0 + KW < W else W
            h0 = h0 if h0 > 0 else 0
            w0 = w0 if w0 > 0 else 0
            acc = x[((n * H + h0) * W + w0) * C + c] if is_max else zero
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    v = x[((n * H + ih) * W + iw) * C + c]
                    if is_max:
                        if v > acc or (v != v and acc == acc):  # NaN wins, as on the CPU
                            acc = v
                    else:
                        acc += v
            out[i] = acc if is_max else acc / real((h1 - h0) * (w1 - w0))
            i += cuda.gridsize(1)
    return cuda.jit(pool)


@cache
def pool_grad_kernel(dtype: Any, is_max: bool) -> Any:
    """dx[n, ih, iw, c] = the sum over windows covering (ih, iw) of that window's gradient if
    (ih, iw) is its first maximum (max), or of its gradient / its count (avg)."""
    zero = np.dtype(dtype).type(0)
    real = _scalar(dtype)

    def pool_grad(x, g, dx, total, H, W, C, OH, OW, KH, KW, sh, sw, ph, pw):
        i = cuda.grid(1)
        while i < total:
            c = i % C
            t = i // C
            iw = t % W
            t = t // W
            ih = t % H
            n = t // H
            lo = ih + ph - KH + 1
            oh0 = (lo + sh - 1) // sh if lo > 0 else 0
            oh1 = (ih + ph) // sh + 1
            oh1 = oh1 if oh1 < OH else OH
            lo = iw + pw - KW + 1
            ow0 = (lo + sw - 1) // sw if lo > 0 else 0
            ow1 = (iw + pw) // sw + 1
            ow1 = ow1 if ow1 < OW else OW
            acc = zero
            for oh in range(oh0, oh1):
                for ow in range(ow0, ow1):
                    h0 = oh * sh - ph
                    w0 = ow * sw - pw
                    h1 = h0 + KH if h0 + KH < H else H
                    w1 = w0 + KW if w0 + KW < W else W
                    h0 = h0 if h0 > 0 else 0
                    w0 = w0 if w0 > 0 else 0
                    gv = g[((n * OH + oh) * OW + ow) * C + c]
                    if is_max:
                        best = x[((n * H + h0) * W + w0) * C + c]
                        bh = h0
                        bw = w0
                        for a in range(h0, h1):
                            for b in range(w0, w1):
                                v = x[((n * H + a) * W + b) * C + c]
                                if v > best or (v != v and best == best):
                                    best = v
                                    bh = a
                                    bw = b
                        if bh == ih and bw == iw:
                            acc += gv
                    else:
                        acc += gv / real((h1 - h0) * (w1 - w0))
            dx[i] = acc
            i += cuda.gridsize(1)
    return cuda.jit(pool_grad)


# ----- per-op kernels ----------------------------------------------------------------------------

def _shape(x: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in x.shape)


def _run(kern: Any, arrays: tuple, total: int, *scalars: int) -> None:
    if total:
        device.current().launch(kern, device.blocks_for(total), device.TPB,
                                *[flat(a) for a in arrays], total, *scalars)


def _zeros(out: Any) -> Any:
    return launch_map("0", out, [])


def _geometry(attrs: dict, h: int, w: int, kh: int, kw: int) -> tuple[int, int, int, int]:
    """(oh, ow, pad before along h, along w)."""
    (sh, sw), (dh, dw) = attrs["strides"], attrs.get("dilations", (1, 1))
    oh = window(h, kh, sh, dh, attrs["padding"])[0]
    ow = window(w, kw, sw, dw, attrs["padding"])[0]
    if attrs["padding"] == "VALID":
        return oh, ow, 0, 0
    return oh, ow, pads(h, oh, kh, sh, dh)[0], pads(w, ow, kw, sw, dw)[0]


def _plain(attrs: dict, kh: int, kw: int, h: int, w: int, oh: int, ow: int) -> bool:
    return (kh, kw) == (1, 1) and tuple(attrs["strides"]) == (1, 1) and (oh, ow) == (h, w)


def _im2col(x: Any, attrs: dict, kh: int, kw: int, oh: int, ow: int, ph: int, pw: int) -> Any:
    n, h, w, c = _shape(x)
    k = kh * kw * c
    col = device.current().empty((n * oh * ow, k), x.dtype)
    (sh, sw), (dh, dw) = attrs["strides"], attrs["dilations"]
    _run(im2col_kernel(np.dtype(x.dtype)), (x, col), n * oh * ow * k, h, w, c, oh, ow, kw, k, sh, sw, dh, dw,
         ph, pw)
    return col


@register_kernel("conv2d", "cuda")
def conv2d_cuda(attrs: dict, x: Any, w: Any) -> Any:
    dev = device.current()
    n, h, wd, c = _shape(x)
    kh, kw, _, o = _shape(w)
    oh, ow, ph, pw = _geometry(attrs, h, wd, kh, kw)
    out = dev.empty((n, oh, ow, o), x.dtype)
    rows, k = n * oh * ow, kh * kw * c
    if rows == 0 or o == 0:
        return out
    if k == 0:
        return _zeros(out)
    col = x.reshape((rows, c)) if _plain(attrs, kh, kw, h, wd, oh, ow) else _im2col(x, attrs, kh, kw, oh, ow, ph, pw)
    dev.matmul(col, w.reshape((k, o)), False, False, out.reshape((rows, o)))
    return out


@register_kernel("conv2d_backprop_filter", "cuda")
def conv2d_backprop_filter_cuda(attrs: dict, x: Any, dy: Any) -> Any:
    dev = device.current()
    n, h, wd, c = _shape(x)
    _, oh, ow, o = _shape(dy)
    kh, kw = attrs["filter_hw"]
    out = dev.empty((kh, kw, c, o), x.dtype)
    rows, k = n * oh * ow, kh * kw * c
    if rows == 0 or k == 0 or o == 0:
        return _zeros(out)
    _, _, ph, pw = _geometry(attrs, h, wd, kh, kw)
    col = x.reshape((rows, c)) if _plain(attrs, kh, kw, h, wd, oh, ow) else _im2col(x, attrs, kh, kw, oh, ow, ph, pw)
    dev.matmul(col, dy.reshape((rows, o)), True, False, out.reshape((k, o)))
    return out


@register_kernel("conv2d_backprop_input", "cuda")
def conv2d_backprop_input_cuda(attrs: dict, dy: Any, w: Any, like: Any = None) -> Any:
    dev = device.current()
    n, oh, ow, o = _shape(dy)
    kh, kw, c, _ = _shape(w)
    h, wd = attrs["input_hw"] if like is None else _shape(like)[1:3]
    dx = dev.empty((n, h, wd, c), dy.dtype)
    rows, k = n * oh * ow, kh * kw * c
    if rows == 0 or k == 0 or o == 0:
        return _zeros(dx)
    _, _, ph, pw = _geometry(attrs, h, wd, kh, kw)
    if _plain(attrs, kh, kw, h, wd, oh, ow):
        dev.matmul(dy.reshape((rows, o)), w.reshape((k, o)), False, True, dx.reshape((rows, c)))
        return dx
    dcol = dev.matmul(dy.reshape((rows, o)), w.reshape((k, o)), False, True, dev.empty((rows, k), dy.dtype))
    (sh, sw), (dh, dw) = attrs["strides"], attrs["dilations"]
    _run(col2im_kernel(np.dtype(dy.dtype)), (dcol, dx), n * h * wd * c, h, wd, c, oh, ow, kh, kw, sh, sw, dh, dw,
         ph, pw)
    return dx


def _pool_geometry(attrs: dict, h: int, w: int) -> tuple:
    kh, kw = attrs["ksize"]
    oh, ow, ph, pw = _geometry(attrs, h, w, kh, kw)
    return oh, ow, kh, kw, attrs["strides"][0], attrs["strides"][1], ph, pw


def _pool(is_max: bool):
    def kern(attrs: dict, x: Any) -> Any:
        n, h, w, c = _shape(x)
        oh, ow, kh, kw, sh, sw, ph, pw = _pool_geometry(attrs, h, w)
        out = device.current().empty((n, oh, ow, c), x.dtype)
        _run(pool_kernel(np.dtype(x.dtype), is_max), (x, out), n * oh * ow * c, h, w, c, oh, ow, kh, kw, sh, sw,
             ph, pw)
        return out
    return kern


@register_kernel("max_pool_grad", "cuda")
def max_pool_grad_cuda(attrs: dict, x: Any, g: Any) -> Any:
    n, h, w, c = _shape(x)
    oh, ow, kh, kw, sh, sw, ph, pw = _pool_geometry(attrs, h, w)
    dx = device.current().empty((n, h, w, c), x.dtype)
    _run(pool_grad_kernel(np.dtype(x.dtype), True), (x, g, dx), n * h * w * c, h, w, c, oh, ow, kh, kw, sh, sw,
         ph, pw)
    return dx


@register_kernel("avg_pool_grad", "cuda")
def avg_pool_grad_cuda(attrs: dict, g: Any, like: Any = None) -> Any:
    n, oh_, ow_, c = _shape(g)
    h, w = attrs["input_hw"] if like is None else _shape(like)[1:3]
    oh, ow, kh, kw, sh, sw, ph, pw = _pool_geometry(attrs, h, w)
    dx = device.current().empty((n, h, w, c), g.dtype)
    # the max kernel's x argument is unused by the average: g stands in for it
    _run(pool_grad_kernel(np.dtype(g.dtype), False), (g, g, dx), n * h * w * c, h, w, c, oh, ow, kh, kw, sh, sw,
         ph, pw)
    return dx


register_kernel("max_pool", "cuda")(_pool(True))
register_kernel("avg_pool", "cuda")(_pool(False))
