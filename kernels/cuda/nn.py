"""Row-wise nn kernels: softmax, log-softmax and the fused softmax cross-entropies.

Two shapes of kernel, picked by the row length C:

* short rows (C <= SERIAL_MAX_C, e.g. the 10 classes of a classifier's output): one thread per
  row, grid-stride over rows. A block per row would leave almost all of its threads idle and pay
  its shared-memory trees for a few elements.
* long rows: one block per row; max and sum go through a shared-memory tree (no warp shuffles,
  so the simulator runs them).

The fused cross-entropy reads the logits three times (from L1/L2: the row was just read) and
writes the loss and ``softmax - labels`` in the same launch: forward and backward in one pass
over device memory.
"""
from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from kernels.registry import register_kernel

from . import device
from .elementwise import flat

TPB = device.TPB
SERIAL_MAX_C = 32  # rows up to this long: one thread per row


@cache
def softmax_serial_kernel(dtype: Any, log: bool) -> Any:
    dt = np.dtype(dtype)
    zero = dt.type(0)

    def softmax_rows_serial(x, y, R, C):
        r = cuda.grid(1)
        while r < R:
            base = r * C
            m = x[base]
            for k in range(1, C):
                m = x[base + k] if x[base + k] > m else m
            total = zero
            for k in range(C):
                total += math.exp(x[base + k] - m)
            if log:
                lse = math.log(total)
                for k in range(C):
                    y[base + k] = x[base + k] - m - lse
            else:
                for k in range(C):
                    y[base + k] = math.exp(x[base + k] - m) / total
            r += cuda.gridsize(1)
    return cuda.jit(softmax_rows_serial)


@cache
def xent_serial_kernel(dtype: Any, sparse: bool) -> Any:
    """The fused cross-entropy of ``xent_kernel``, one thread per (short) row."""
    dt = np.dtype(dtype)
    zero = dt.type(0)
    one = dt.type(1)
    nan = dt.type(np.nan)

    def xent_rows_serial(x, labels, loss, back, R, C):
        r = cuda.grid(1)
        while r < R:
            base = r * C
            m = x[base]
            for k in range(1, C):
                m = x[base + k] if x[base + k] > m else m
            total = zero
            for k in range(C):
                total += math.exp(x[base + k] - m)
            lse = math.log(total) + m
            if sparse:
                lab = labels[r]
                for k in range(C):
                    p = math.exp(x[base + k] - m) / total
                    back[base + k] = p - one if lab == k else p
                loss[r] = lse - x[base + lab] if 0 <= lab < C else nan
            else:
                part = zero
                for k in range(C):
                    p = math.exp(x[base + k] - m) / total
                    back[base + k] = p - labels[base + k]
                    part += labels[base + k] * (lse - x[base + k])
                loss[r] = part
            r += cuda.gridsize(1)
    return cuda.jit(xent_rows_serial)


# The block-wide max and sum are written out inline in each kernel: a call to a
# ``cuda.jit(device=True)`` function makes ``compile_ptx`` ask the driver for the current device,
# so kernels that call one cannot be compiled to PTX on a machine without a GPU. Each tree:
# buf[tid] = v; halve the active threads until buf[0] holds the result; everyone reads it.


@cache
def softmax_kernel(dtype: Any, log: bool) -> Any:
    dt = np.dtype(dtype)
    zero = dt.type(0)

    def softmax_rows(x, y, R, C):
        buf = cuda.shared.array(TPB, dt)
        tid = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < R:
            base = r * C
            m = x[base]
            for k in range(tid, C, TPB):
                m = x[base + k] if x[base + k] > m else m
            buf[tid] = m
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s and buf[tid + s] > buf[tid]:
                    buf[tid] = buf[tid + s]
                cuda.syncthreads()
                s //= 2
            m = buf[0]
            cuda.syncthreads()
            total = zero
            for k in range(tid, C, TPB):
                total += math.exp(x[base + k] - m)
            buf[tid] = total
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s:
                    buf[tid] += buf[tid + s]
                cuda.syncthreads()
                s //= 2
            total = buf[0]
            cuda.syncthreads()
            if log:
                lse = math.log(total)
                for k in range(tid, C, TPB):
                    y[base + k] = x[base + k] - m - lse
            else:
                for k in range(tid, C, TPB):
                    y[base + k] = math.exp(x[base + k] - m) / total
            r += cuda.gridDim.x
    return cuda.jit(softmax_rows)


@cache
def xent_kernel(dtype: Any, sparse: bool) -> Any:
    """loss[r] = logsumexp(x[r]) - <labels[r], x[r]>; back[r] = softmax(x[r]) - labels[r].

    Sparse labels are class ids; an id outside [0, C) gives a NaN loss (the host never waits
    on the device inside a step, so it cannot raise there as the NumPy reference does).
    """
    dt = np.dtype(dtype)
    zero = dt.type(0)
    one = dt.type(1)
    nan = dt.type(np.nan)

    def xent_rows(x, labels, loss, back, R, C):
        buf = cuda.shared.array(TPB, dt)
        tid = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < R:
            base = r * C
            m = x[base]
            for k in range(tid, C, TPB):
                m = x[base + k] if x[base + k] > m else m
            buf[tid] = m
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s and buf[tid + s] > buf[tid]:
                    buf[tid] = buf[tid + s]
                cuda.syncthreads()
                s //= 2
            m = buf[0]
            cuda.syncthreads()
            total = zero
            for k in range(tid, C, TPB):
                total += math.exp(x[base + k] - m)
            buf[tid] = total
            cuda.syncthreads()
            s = TPB // 2
            while s > 0:
                if tid < s:
                    buf[tid] += buf[tid + s]
                cuda.syncthreads()
                s //= 2
            total = buf[0]
            cuda.syncthreads()
            lse = math.log(total) + m
            part = zero
            for k in range(tid, C, TPB):
                p = math.exp(x[base + k] - m) / total
                if sparse:
                    back[base + k] = p - one if labels[r] == k else p
                else:
                    back[base + k] = p - labels[base + k]
                    part += labels[base + k] * (lse - x[base + k])
            if sparse:
                if tid == 0:
                    lab = labels[r]
                    loss[r] = lse - x[base + lab] if 0 <= lab < C else nan
            else:
                buf[tid] = part
                cuda.syncthreads()
                s = TPB // 2
                while s > 0:
                    if tid < s:
                        buf[tid] += buf[tid + s]
                    cuda.syncthreads()
                    s //= 2
                part = buf[0]
                cuda.syncthreads()
                if tid == 0:
                    loss[r] = part
            r += cuda.gridDim.x
    return cuda.jit(xent_rows)


def _rows(x: Any) -> tuple[int, int]:
    C = int(tuple(x.shape)[-1])  # the simulator's shapes reject negative indices
    return int(np.prod(x.shape, dtype=np.int64)) // max(C, 1), C


def softmax_cuda(log: bool):
    def kern(attrs: dict, x: Any) -> Any:
        dev = device.current()
        y = dev.empty(tuple(x.shape), x.dtype)
        R, C = _rows(x)
        if R and C <= SERIAL_MAX_C:
            dev.launch(softmax_serial_kernel(np.dtype(x.dtype), log), device.blocks_for(R), TPB,
                       flat(x), flat(y), R, C)
        elif R:
            dev.launch(softmax_kernel(np.dtype(x.dtype), log), min(R, device.MAX_BLOCKS), TPB,
                       flat(x), flat(y), R, C)
        return y
    return kern


def xent_cuda(sparse: bool):
    def kern(attrs: dict, x: Any, labels: Any) -> tuple:
        dev = device.current()
        R, C = _rows(x)
        loss = dev.empty((R,), x.dtype)
        back = dev.empty(tuple(x.shape), x.dtype)
        if R and C and C <= SERIAL_MAX_C:
            dev.launch(xent_serial_kernel(np.dtype(x.dtype), sparse), device.blocks_for(R), TPB,
                       flat(x), flat(labels), loss, flat(back), R, C)
        elif R and C:
            dev.launch(xent_kernel(np.dtype(x.dtype), sparse), min(R, device.MAX_BLOCKS), TPB,
                       flat(x), flat(labels), loss, flat(back), R, C)
        return loss, back
    return kern


register_kernel("softmax", "cuda")(softmax_cuda(False))
register_kernel("log_softmax", "cuda")(softmax_cuda(True))
register_kernel("sparse_softmax_xent", "cuda")(xent_cuda(True))
register_kernel("softmax_xent", "cuda")(xent_cuda(False))
