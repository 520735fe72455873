"""Movement ops on the device: views where the layout allows, strided-copy kernels otherwise."""
from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import cuda

from graphengine.ops.facts import around_axis
from kernels.registry import register_kernel

from . import device
from .elementwise import contiguous_strides, flat, launch_map


def _size(shape: tuple) -> int:
    return int(np.prod(shape, dtype=np.int64))


def view(x: Any, shape: tuple) -> Any:
    shape = tuple(int(n) for n in shape)
    if -1 in shape:
        known = _size(tuple(n for n in shape if n != -1))
        shape = tuple(_size(tuple(x.shape)) // max(known, 1) if n == -1 else n for n in shape)
    return x if tuple(x.shape) == shape else x.reshape(shape)


def permute(x: Any, perm: tuple) -> Any:
    st = contiguous_strides(tuple(x.shape))
    out = device.current().empty(tuple(x.shape[p] for p in perm), x.dtype)
    return launch_map("x0", out, [x], strides=[tuple(st[p] for p in perm)])


@cache
def column_copy_kernel() -> Any:
    """Copy between a (rows, scols) block and columns [offset, offset+scols) of (rows, dcols)."""
    def copy_cols(wide, narrow, rows, dcols, scols, offset, to_wide):
        i = cuda.grid(1)
        while i < rows * scols:
            r = i // scols
            c = i - r * scols
            if to_wide:
                wide[r * dcols + offset + c] = narrow[i]
            else:
                narrow[i] = wide[r * dcols + offset + c]
            i += cuda.gridsize(1)
    return cuda.jit(copy_cols)


@register_kernel("concat", "cuda")
def concat_cuda(attrs: dict, *xs: Any) -> Any:
    dev = device.current()
    ax = attrs["axis"]
    shape = list(xs[0].shape)
    shape[ax] = sum(int(x.shape[ax]) for x in xs)
    out = dev.empty(tuple(shape), xs[0].dtype)
    outer, _, inner = around_axis(shape, ax)
    offset = 0
    for x in xs:
        scols = int(x.shape[ax]) * inner
        if scols and outer:
            dev.launch(column_copy_kernel(), device.blocks_for(outer * scols), device.TPB,
                       flat(out), flat(x), outer, shape[ax] * inner, scols, offset, True)
        offset += scols
    return out


@register_kernel("concat_part", "cuda")
def concat_part_cuda(attrs: dict, g: Any, *xs: Any) -> Any:
    dev = device.current()
    ax, i = attrs["axis"], attrs["index"]
    outer, _, inner = around_axis(tuple(g.shape), ax)
    offset = sum(int(x.shape[ax]) for x in xs[:i]) * inner
    out = dev.empty(tuple(xs[i].shape), g.dtype)
    scols = int(xs[i].shape[ax]) * inner
    if scols and outer:
        dev.launch(column_copy_kernel(), device.blocks_for(outer * scols), device.TPB,
                   flat(g), flat(out), outer, int(g.shape[ax]) * inner, scols, offset, False)
    return out


@cache
def one_hot_kernel() -> Any:
    def one_hot(idx, out, n, depth, on, off):
        i = cuda.grid(1)
        while i < n * depth:
            r = i // depth
            out[i] = on if idx[r] == i - r * depth else off
            i += cuda.gridsize(1)
    return cuda.jit(one_hot)


@register_kernel("one_hot", "cuda")
def one_hot_cuda(attrs: dict, idx: Any) -> Any:
    dev = device.current()
    depth = attrs["depth"]
    out = dev.empty(tuple(idx.shape) + (depth,), attrs["dtype"].np)
    n = _size(tuple(idx.shape))
    if n and depth:
        dev.launch(one_hot_kernel(), device.blocks_for(n * depth), device.TPB, flat(idx), flat(out),
                   n, depth, float(attrs["on_value"]), float(attrs["off_value"]))
    return out


def _squeeze_shape(attrs: dict, shape: tuple) -> tuple:
    axes = attrs["axis"]
    if axes is None:
        return tuple(n for n in shape if n != 1)
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _expand_dims_shape(attrs: dict, shape: tuple) -> tuple:
    s = list(shape)
    s.insert(attrs["axis"], 1)
    return tuple(s)


# name: kernel. Views share the input buffer: only variables are ever written in place, and only
# at step end, after every reader of the step has run.
MOVEMENT = {
    "reshape": lambda a, x: view(x, a["shape"]),
    "reshape_like": lambda a, x, like: view(x, tuple(like.shape)),
    "expand_dims": lambda a, x: view(x, _expand_dims_shape(a, tuple(x.shape))),
    "squeeze": lambda a, x: view(x, _squeeze_shape(a, tuple(x.shape))),
    "identity": lambda a, x: x,
    "stop_gradient": lambda a, x: x,
    "placeholder_with_default": lambda a, x: x,
    "transpose": lambda a, x: permute(x, tuple(a["perm"])),
    "broadcast_like": lambda a, x, like: launch_map(
        "x0", device.current().empty(tuple(like.shape), x.dtype), [x]),
}

for _name, _fn in MOVEMENT.items():
    register_kernel(_name, "cuda")(_fn)
