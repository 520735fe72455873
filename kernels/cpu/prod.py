"""reduce_prod on the CPU: the kernel over the (outer, reduced, inner) view, and its step emitter."""
from __future__ import annotations

import numba
import numpy as np

from graphengine.ops.facts import view3
from graphengine.ops.registry import reduced_shape

from ..codegen import size_src
from ..registry import register_kernel, register_step_emitter
from .reduce import _view3

_NJ = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_NJ)
def prod3(x, out):  # x: (a, r, b) -> out: (a, b); an empty reduction is 1
    a, r, b = x.shape
    for i in range(a):
        for k in range(b):
            out[i, k] = 1
        for j in range(r):
            for k in range(b):
                out[i, k] *= x[i, j, k]


@register_kernel("reduce_prod", "cpu")
def reduce_prod_cpu(attrs: dict, x: np.ndarray) -> np.ndarray:
    axes = tuple(range(x.ndim)) if attrs["axis"] is None else tuple(attrs["axis"])
    v, (a, r, b) = _view3(x, axes)
    out = np.empty((a, b), x.dtype)
    prod3(v, out)
    return out.reshape(reduced_shape(x.shape, axes, attrs["keepdims"]))


@register_step_emitter("reduce_prod", imports=["from kernels.cpu.prod import prod3"])
def emit_reduce_prod(gen, op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    rank = gen.rank(x)
    axes = tuple(range(rank)) if op.attrs["axis"] is None else tuple(op.attrs["axis"])
    gen.alloc(out)
    d = gen.dims(x) if rank else []
    three = view3(d, axes, size_src)
    if three is not None:
        a, r, b = three
        gen.emit(f"prod3({gen.v(x)}.reshape(({a}, {r}, {b})), {gen.v(out)}.reshape(({a}, {b})))")
        return
    # split axes: one loop nest over x into a keepdims view of the output
    k = gen.idx(out)
    keep = ["1" if i in axes else n for i, n in enumerate(d)]
    gen.emit(f"r{k} = {gen.v(out)}.reshape(({', '.join(keep)},))")
    gen.emit(f"{gen.v(out)}.reshape(-1)[:] = 1")
    ivars, depth = gen.loops(x)
    at = ", ".join("0" if i in axes else iv for i, iv in enumerate(ivars))
    gen.emit(f"r{k}[{at}] *= {gen.v(x)}[{', '.join(ivars)}]", depth)
