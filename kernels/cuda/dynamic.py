"""Run-time-shape, slicing and string ops on the GPU backend.

Shape vectors are tiny: ``shape``/``range`` results are uploaded, and the ops that read a shape
tensor (reshape, fill, random) bring it down first (``host_ints``; ``has_host_inputs`` keeps such
steps out of CUDA-graph capture). String ops run on the host and their results stay there.
``strided_slice`` is a gather through an index map computed once per (shape, index) and kept on
the device; its gradient is the inverse map (-1 outside the slice).
"""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from graphengine.ops.dynamic import host_ints
from graphengine.ops.registry import OPS
from kernels.registry import register_kernel

from . import device
from .elementwise import flat
from .movement import view


def _host(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(device.current().download(x))


def _on_host(op: str, upload: bool) -> None:
    ref = OPS[op].ref

    def kernel(attrs: dict, *xs: Any) -> Any:
        out = ref(attrs, *[_host(x) for x in xs])
        return device.current().upload(np.asarray(out)) if upload else out
    register_kernel(op, "cuda")(kernel)


for _op in ("shape", "range", "dynamic_fill"):
    _on_host(_op, upload=True)
for _op in ("string_join", "as_string"):  # bytes never go to the device
    _on_host(_op, upload=False)


@register_kernel("dynamic_reshape", "cuda")
def dynamic_reshape_cuda(attrs: dict, x: Any, shape: Any) -> Any:
    return view(x, host_ints(shape))


@cache
def gather_kernel() -> Any:
    def gather(src, idx, out, n):
        i = cuda.grid(1)
        while i < n:
            out[i] = src[idx[i]]
            i += cuda.gridsize(1)
    return cuda.jit(gather)


@cache
def masked_gather_kernel() -> Any:
    def masked_gather(src, idx, out, n):
        i = cuda.grid(1)
        while i < n:
            k = idx[i]
            out[i] = src[k] if k >= 0 else 0
            i += cuda.gridsize(1)
    return cuda.jit(masked_gather)


_MAPS: dict = {}


def _index_map(shape: tuple, spec: tuple, inverse: bool) -> Any:
    """Flat source positions of the slice's elements (inverse: per input position, the slice
    element written there, or -1), on the device, cached."""
    dev = device.current()
    key = (id(dev), shape, spec, inverse)
    m = _MAPS.get(key)
    if m is None:
        from graphengine.ops.slicing import _np_index
        n = int(np.prod(shape, dtype=np.int64))
        pos = np.arange(n, dtype=np.int64).reshape(shape)[_np_index(spec)]
        if inverse:
            inv = np.full(n, -1, np.int64)
            inv[pos.reshape(-1)] = np.arange(pos.size, dtype=np.int64)
            pos = inv
        m = _MAPS[key] = (dev.upload(np.ascontiguousarray(pos.reshape(-1))), pos.shape)
    return m


@register_kernel("strided_slice", "cuda")
def strided_slice_cuda(attrs: dict, x: Any) -> Any:
    if isinstance(x, np.ndarray):  # strings stay on the host
        return OPS["strided_slice"].ref(attrs, x)
    idx, shape = _index_map(tuple(int(n) for n in x.shape), attrs["spec"], False)
    dev = device.current()
    out = dev.empty(shape, x.dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if n:
        dev.launch(gather_kernel(), device.blocks_for(n), device.TPB, flat(x), idx, flat(out), n)
    return out


@register_kernel("strided_slice_grad", "cuda")
def strided_slice_grad_cuda(attrs: dict, g: Any, x: Any) -> Any:
    shape = tuple(int(n) for n in x.shape)
    idx, _ = _index_map(shape, attrs["spec"], True)
    dev = device.current()
    out = dev.empty(shape, g.dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if n and int(np.prod(g.shape, dtype=np.int64)) == 0:  # an empty slice: all zeros
        return dev.upload(np.zeros(shape, np.dtype(g.dtype)))
    if n:
        dev.launch(masked_gather_kernel(), device.blocks_for(n), device.TPB, flat(g), idx, flat(out), n)
    return out
