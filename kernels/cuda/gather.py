"""Gather and its scatter-add gradient on the device, and the summary (host) ops.

Out-of-range indices cannot raise inside a kernel without a host sync: as TF1 on a GPU, gather
writes zeros for them and the scatter-add skips them (the CPU raises, naming the op and id).
The scatter-add accumulates duplicate indices with atomic adds.
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from graphengine.ops.facts import around_axis
from graphengine.ops.registry import OPS
from kernels.registry import register_kernel

from . import device
from .elementwise import flat

TPB = device.TPB


@cache
def gather_kernel() -> Any:
    def gather_anb(p, idx, out, N, I, B, total):
        o = cuda.grid(1)
        while o < total:
            b = o % B
            i = (o // B) % I
            a = o // (B * I)
            j = idx[i]
            out[o] = p[(a * N + j) * B + b] if 0 <= j < N else 0
            o += cuda.gridsize(1)
    return cuda.jit(gather_anb)


@cache
def zero_kernel() -> Any:
    def zero(out, total):
        i = cuda.grid(1)
        while i < total:
            out[i] = 0
            i += cuda.gridsize(1)
    return cuda.jit(zero)


@cache
def scatter_add_kernel() -> Any:
    def scatter_add(g, idx, out, N, I, B, total):
        o = cuda.grid(1)
        while o < total:
            b = o % B
            i = (o // B) % I
            a = o // (B * I)
            j = idx[i]
            if 0 <= j < N:
                cuda.atomic.add(out, (a * N + j) * B + b, g[o])
            o += cuda.gridsize(1)
    return cuda.jit(scatter_add)


@register_kernel("gather", "cuda")
def gather_cuda(attrs: dict, params: Any, indices: Any) -> Any:
    dev = device.current()
    ax = attrs["axis"]
    ps, ish = tuple(params.shape), tuple(indices.shape)
    A, N, B = around_axis(ps, ax)
    I = int(np.prod(ish, dtype=np.int64))
    out = dev.empty(ps[:ax] + ish + ps[ax + 1:], params.dtype)
    total = A * I * B
    if total:
        dev.launch(gather_kernel(), device.blocks_for(total), TPB, flat(params), flat(indices), flat(out),
                   N, I, B, total)
    return out


@register_kernel("gather_grad", "cuda")
def gather_grad_cuda(attrs: dict, g: Any, indices: Any, params: Any) -> Any:
    dev = device.current()
    ax = attrs["axis"]
    A, N, B = around_axis(tuple(params.shape), ax)
    I = int(np.prod(tuple(indices.shape), dtype=np.int64))
    out = dev.empty(tuple(params.shape), g.dtype)
    if A * N * B:
        dev.launch(zero_kernel(), device.blocks_for(A * N * B), TPB, flat(out), A * N * B)
    total = A * I * B
    if total:
        dev.launch(scatter_add_kernel(), device.blocks_for(total), TPB, flat(g), flat(indices), flat(out),
                   N, I, B, total)
    return out


def _host_op(name: str):
    ref = OPS[name].ref

    def kern(attrs: dict, *ins: Any) -> Any:
        dev = device.current()
        return ref(attrs, *[v if isinstance(v, np.ndarray) else dev.download(v) for v in ins])
    return kern


for _name in [n for n, od in OPS.items() if od.kind == "host" and n.startswith("summary_")]:
    register_kernel(_name, "cuda")(_host_op(_name))
