"""reduce_prod on the device: one thread per output over the canonical (A, K, C) view."""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from graphengine.ops.registry import reduced_shape
from kernels.registry import register_kernel

from . import device
from .elementwise import flat
from .reduce import canonical


@cache
def prod_kernel() -> Any:
    def prod_serial(x, out, A, K, C):
        o = cuda.grid(1)
        while o < A * C:
            a = o // C
            c = o - a * C
            base = a * K * C + c
            acc = x[base]
            for k in range(1, K):
                acc *= x[base + k * C]
            out[o] = acc
            o += cuda.gridsize(1)
    return cuda.jit(prod_serial)


@register_kernel("reduce_prod", "cuda")
def reduce_prod_cuda(attrs: dict, x: Any) -> Any:
    dev = device.current()
    axes = tuple(range(len(x.shape))) if attrs["axis"] is None else tuple(attrs["axis"])
    shape = reduced_shape(tuple(int(n) for n in x.shape), axes, attrs["keepdims"])
    if int(np.prod(x.shape, dtype=np.int64)) == 0:  # empty groups multiply to 1
        return dev.upload(np.ones(shape, np.dtype(x.dtype)))
    out = dev.empty(shape, x.dtype)
    xf, A, K, C = canonical(x, axes)
    dev.launch(prod_kernel(), device.blocks_for(A * C), device.TPB, xf, flat(out), A, K, C)
    return out
