"""Gather and its gradient (dense scatter-add), with their compiled-step emitters.

``params`` is viewed as (A, N, B) around the gathered axis and ``indices`` flat (I,), so the
result is (A, I, B): one contiguous copy of B values per index. Both kernels return -1, or the
flat position of the first index outside [0, N) (the step then re-runs op by op to raise the
error naming the op and the index).
"""
from __future__ import annotations

import numba
import numpy as np

from graphengine.ops.facts import around_axis, view3
from graphengine.ops.gather import check_indices

from ..codegen import size_src
from ..registry import register_kernel, register_step_emitter
from .batchnorm import view3_src

_NJ = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(**_NJ)
def first_bad_index(idx, n):
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            return i
    return -1


@numba.njit(**_NJ)
def gather3(p, idx, out):
    A, N, B = p.shape
    bad = first_bad_index(idx, N)
    if bad >= 0:
        return bad
    for a in range(A):
        for i in range(idx.shape[0]):
            j = idx[i]
            for b in range(B):
                out[a, i, b] = p[a, j, b]
    return -1


@numba.njit(**_NJ)
def scatter_add3(g, idx, out):
    """out = zeros; out[a, idx[i], :] += g[a, i, :] (duplicate indices accumulate)."""
    A, N, B = out.shape
    bad = first_bad_index(idx, N)
    if bad >= 0:
        return bad
    out[...] = 0
    for a in range(A):
        for i in range(idx.shape[0]):
            j = idx[i]
            for b in range(B):
                out[a, j, b] += g[a, i, b]
    return -1


@register_kernel("gather", "cpu")
def gather_cpu(attrs, params, indices):
    ax = attrs["axis"]
    a, n, b = around_axis(params.shape, ax)
    idx = np.ascontiguousarray(indices).reshape(-1)
    out = np.empty(params.shape[:ax] + indices.shape + params.shape[ax + 1:], params.dtype)
    if gather3(np.ascontiguousarray(params).reshape(a, n, b), idx, out.reshape(a, idx.size, b)) >= 0:
        check_indices(indices, n)
    return out


@register_kernel("gather_grad", "cpu")
def gather_grad_cpu(attrs, g, indices, params):
    ax = attrs["axis"]
    a, n, b = around_axis(params.shape, ax)
    idx = np.ascontiguousarray(indices).reshape(-1)
    out = np.empty(params.shape, g.dtype)
    if scatter_add3(np.ascontiguousarray(g).reshape(a, idx.size, b), idx, out.reshape(a, n, b)) >= 0:
        check_indices(indices, n)
    return out


# ----- compiled-step emitters -------------------------------------------------------------------

def _as_gathered(gen, t, params, idx, axis: int) -> str:
    """Source of ``t`` (a gather result's shape) viewed as (A, number of indices, B)."""
    a, _, b = view3(gen.dims(params), (axis,), size_src)
    n = size_src(gen.dims(idx)) if idx.shape != () else "1"
    return f"{gen.v(t)}.reshape(({a}, {n}, {b}))"


_IMPORT = "from kernels.cpu.gather import gather3, scatter_add3"


@register_step_emitter("gather", imports=[_IMPORT])
def emit_gather(gen, op):
    params, idx = op.inputs
    out = op.outputs[0]
    ax = op.attrs["axis"]
    gen.alloc(out)
    gen.emit_checked(f"gather3({view3_src(gen, params, ax)}, {gen.v(idx)}.reshape(-1), "
                     f"{_as_gathered(gen, out, params, idx, ax)})")


@register_step_emitter("gather_grad", imports=[_IMPORT])
def emit_gather_grad(gen, op):
    g, idx, params = op.inputs
    out = op.outputs[0]
    ax = op.attrs["axis"]
    gen.alloc(out)
    gen.emit_checked(f"scatter_add3({_as_gathered(gen, g, params, idx, ax)}, {gen.v(idx)}.reshape(-1), "
                     f"{view3_src(gen, out, ax)})")
