"""Reductions as Numba-CUDA kernels: shared-memory tree (one block per output) or one thread
per output, over a canonical (A, K, C) view: reduce the middle axis of a contiguous array.

Any set of reduced axes that is contiguous once length-1 axes are dropped maps to (A, K, C)
without copying; other sets are first permuted (kept axes first) by the strided-copy kernel.
No ``shfl_*`` intrinsics: the simulator does not implement them, shared memory works everywhere.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from graphengine.ops.facts import unbroadcast_axes, view3
from graphengine.ops.reduce import reduce_identity
from graphengine.ops.registry import reduced_shape
from kernels.codegen import num_literal
from kernels.registry import register_kernel

from . import device
from .elementwise import contiguous_strides, flat, launch_map

SUM, MAX, MIN = 0, 1, 2
ARGMAX, ARGMIN = 1, 2
TPB = device.TPB


@cache
def block_reduce_kernel(mode: int, dtype: Any) -> Any:
    """out[a*C+c] = alpha * reduce_k x[(a*K+k)*C+c]; one block per output, shared-memory tree."""
    nbtype = np.dtype(dtype)
    zero = nbtype.type(0)

    def reduce_block(x, out, A, K, C, alpha):
        buf = cuda.shared.array(TPB, nbtype)
        tid = cuda.threadIdx.x
        o = cuda.blockIdx.x
        while o < A * C:
            a = o // C
            c = o - a * C
            base = a * K * C + c
            acc = zero if mode == SUM else x[base]  # x*0 would be NaN for an infinite x
            k = tid
            while k < K:
                v = x[base + k * C]
                if mode == SUM:
                    acc += v
                elif mode == MAX:  # NaN propagates, as in NumPy
                    acc = v if (v > acc or v != v) else acc
                else:
                    acc = v if (v < acc or v != v) else acc
                k += TPB
            buf[tid] = acc
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s:
                    u = buf[tid + s]
                    if mode == SUM:
                        buf[tid] += u
                    elif mode == MAX:
                        buf[tid] = u if (u > buf[tid] or u != u) else buf[tid]
                    else:
                        buf[tid] = u if (u < buf[tid] or u != u) else buf[tid]
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                out[o] = buf[0] * alpha if mode == SUM else buf[0]
            cuda.syncthreads()
            o += cuda.gridDim.x
    return cuda.jit(reduce_block)


@cache
def serial_reduce_kernel(mode: int) -> Any:
    """One thread per output, looping over K (many outputs, short reductions)."""
    def reduce_serial(x, out, A, K, C, alpha):
        o = cuda.grid(1)
        while o < A * C:
            a = o // C
            c = o - a * C
            base = a * K * C + c
            acc = x[base]  # K >= 1 here (the host handles empty reductions); not x*0: inf*0 is NaN
            for k in range(1, K):
                v = x[base + k * C]
                if mode == SUM:
                    acc += v
                elif mode == MAX:  # NaN propagates, as in NumPy
                    acc = v if (v > acc or v != v) else acc
                else:
                    acc = v if (v < acc or v != v) else acc
            out[o] = acc * alpha if mode == SUM else acc
            o += cuda.gridsize(1)
    return cuda.jit(reduce_serial)


@cache
def arg_reduce_kernel(mode: int) -> Any:
    """Index of the first max (ARGMAX) or min (ARGMIN) along K, one thread per output."""
    def arg_serial(x, out, A, K, C):
        o = cuda.grid(1)
        while o < A * C:
            a = o // C
            c = o - a * C
            base = a * K * C + c
            best = x[base]
            bi = 0
            for k in range(1, K):
                if best != best:  # the first NaN wins, as in NumPy
                    break
                v = x[base + k * C]
                if (mode == ARGMAX and v > best) or (mode == ARGMIN and v < best) or v != v:
                    best = v
                    bi = k
            out[o] = bi
            o += cuda.gridsize(1)
    return cuda.jit(arg_serial)


def canonical(x: Any, axes: tuple) -> tuple[Any, int, int, int]:
    """(flat contiguous array, A, K, C) such that the result is x reduced over K."""
    shape = tuple(int(n) for n in x.shape)
    big = [i for i, n in enumerate(shape) if n != 1]  # size-1 dims never split a run
    three = view3([shape[i] for i in big], [k for k, i in enumerate(big) if i in axes])
    if three is not None:
        return (flat(x), *three)
    kept = [i for i in range(len(shape)) if i not in axes]
    perm = kept + [i for i in range(len(shape)) if i in axes]
    st = contiguous_strides(shape)
    out = device.current().empty(tuple(shape[p] for p in perm), x.dtype)
    launch_map("x0", out, [x], strides=[tuple(st[p] for p in perm)])
    A = int(np.prod([shape[i] for i in kept], dtype=np.int64))
    return flat(out), A, int(np.prod(shape, dtype=np.int64)) // max(A, 1), 1


def reduce_into(x: Any, axes: tuple, out: Any, mode: int, alpha: float = 1.0) -> Any:
    dev = device.current()
    xf, A, K, C = canonical(x, axes)
    n_out = A * C
    if K <= 32 or n_out >= 4096:
        dev.launch(serial_reduce_kernel(mode), device.blocks_for(n_out), TPB,
                   xf, flat(out), A, K, C, alpha)
    else:
        dev.launch(block_reduce_kernel(mode, np.dtype(x.dtype)), min(n_out, device.MAX_BLOCKS), TPB,
                   xf, flat(out), A, K, C, alpha)
    return out


def _axes(attrs: dict, ndim: int) -> tuple:
    return tuple(range(ndim)) if attrs["axis"] is None else tuple(attrs["axis"])


# integer mean: the sum divided exactly, truncating toward zero (TF1); alpha holds the count
_INT_MEAN = "(x0 // int(alpha)) + (1 if ((x0 % int(alpha)) != 0 and x0 < 0) else 0)"


def _reduce(mode: int, mean: bool = False):
    op_type = "reduce_max" if mode == MAX else "reduce_min"

    def kern(attrs: dict, x: Any) -> Any:
        axes = _axes(attrs, len(x.shape))
        out = device.current().empty(reduced_shape(tuple(x.shape), axes, attrs["keepdims"]), x.dtype)
        count = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
        is_float = np.dtype(x.dtype).kind == "f"
        if int(np.prod(out.shape, dtype=np.int64)) == 0:
            return out
        if count == 0:  # never read the (empty) input: the reduction's value over no elements
            value = (np.nan if is_float else 0) if mean else 0 if mode == SUM else \
                reduce_identity(op_type, x.dtype)
            return launch_map(num_literal(value), out, [])  # a literal: int64 extremes are no floats
        if mean and not is_float:
            reduce_into(x, axes, out, SUM)
            return launch_map(_INT_MEAN, out, [out], alpha=float(count))
        return reduce_into(x, axes, out, mode, 1.0 / count if mean else 1.0)
    return kern


register_kernel("reduce_sum", "cuda")(_reduce(SUM))
register_kernel("reduce_mean", "cuda")(_reduce(SUM, mean=True))
register_kernel("reduce_max", "cuda")(_reduce(MAX))
register_kernel("reduce_min", "cuda")(_reduce(MIN))


def _arg(mode: int):
    def kern(attrs: dict, x: Any) -> Any:
        dev = device.current()
        ax = attrs["axis"]
        out = dev.empty(reduced_shape(tuple(x.shape), (ax,), False), attrs["output_type"].np)
        xf, A, K, C = canonical(x, (ax,))
        dev.launch(arg_reduce_kernel(mode), device.blocks_for(A * C), TPB, xf, flat(out), A, K, C)
        return out
    return kern


register_kernel("argmax", "cuda")(_arg(ARGMAX))
register_kernel("argmin", "cuda")(_arg(ARGMIN))


@register_kernel("expand_like", "cuda")
def expand_like_cuda(attrs: dict, dy: Any, x: Any) -> Any:
    """Broadcast a reduction's gradient back to the input's shape (divided by the count if mean)."""
    axes = _axes(attrs, len(x.shape))
    keep = tuple(1 if i in axes else int(n) for i, n in enumerate(x.shape))
    count = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    out = device.current().empty(tuple(x.shape), dy.dtype)
    src = dy.reshape(keep) if len(keep) else dy
    if attrs["mean"]:
        return launch_map("x0 * alpha", out, [src], alpha=1.0 / max(count, 1))
    return launch_map("x0", out, [src])


@register_kernel("sum_to_like", "cuda")
def sum_to_like_cuda(attrs: dict, g: Any, x: Any) -> Any:
    gs, xs = tuple(g.shape), tuple(x.shape)
    if gs == xs:
        return g
    axes = unbroadcast_axes(gs, xs)
    out = device.current().empty(xs, g.dtype)
    return reduce_into(g, axes, out, SUM)
