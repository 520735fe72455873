"""Matmul: BLAS through Numba's np.dot (transposes are passed as views, no copies)."""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic, register_jitable

from ..registry import register_kernel, register_step_emitter

_NJ = dict(cache=True, nogil=True)
# Below this many multiply-adds a plain loop beats the cost of a BLAS call (measured on the
# 2-16-2 MLP: six tiny GEMMs per step went from ~2 us of BLAS overhead to ~0.2 us).
SMALL = 4096


# Below this many output columns the j loop is too short to vectorize: small_mm takes dot
# products instead (the same sums in the same order; the 2-16-2 MLP's 4x16 @ 16x2 went from
# 186 to 66 ns, its 16x4 @ 4x2 weight-gradient update from 369 to 112 ns with no temporary).
NARROW = 8


@intrinsic
def _zero(typingctx, arr):
    """A zero of ``arr``'s dtype: the dot products accumulate in it, as the stored sums do."""
    dt = arr.dtype

    def codegen(context, builder, sig, args):
        return context.get_constant(dt, 0)

    return dt(arr), codegen


@numba.njit(**_NJ)
def small_mm(a, b, out):  # a: (m, k), b: (k, n) in any layout
    m, k = a.shape
    n = b.shape[1]
    if n < NARROW:
        for i in range(m):
            for j in range(n):
                acc = _zero(out)
                for p in range(k):
                    acc += a[i, p] * b[p, j]
                out[i, j] = acc
        return
    for i in range(m):
        for j in range(n):
            out[i, j] = 0
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]


@numba.njit(**_NJ)
def matmul_nn(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        small_mm(a, b, out)
    else:
        np.dot(a, b, out)


@numba.njit(**_NJ)
def matmul_tn(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        small_mm(a.T, b, out)
    else:
        np.dot(a.T, b, out)


@numba.njit(**_NJ)
def matmul_nt(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL:
        small_mm(a, b.T, out)
    else:
        np.dot(a, b.T, out)


@numba.njit(**_NJ)
def matmul_tt(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL:
        small_mm(a.T, b.T, out)
    else:
        np.dot(a.T, b.T, out)


# C = alpha op(A) op(B) + beta C through the BLAS gemm Numba itself calls for np.dot, declared by
# its symbol (numba_xxgemm, column-major, Fortran conventions) so functions that call it stay in
# Numba's disk cache. np.dot has no beta: an accumulating GEMM (a convolution's filter gradient
# summed over blocks of rows) would need a temporary and a pass of adds per block.
_XXGEMM = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp, types.voidptr, types.voidptr,
    types.intp, types.voidptr, types.intp, types.voidptr, types.voidptr, types.intp))
_N, _T = ord("N"), ord("T")


@numba.njit(**_NJ)
def matmul_tn_acc(a, b, out):
    """out += a.T @ b for float32/float64 a (k, m), b (k, n), out (m, n), each with unit inner
    stride (row blocks of C-contiguous arrays qualify)."""
    k, m = a.shape
    n = b.shape[1]
    if k == 0 or m == 0 or n == 0:
        return
    one = np.ones(2, out.dtype)   # alpha = beta = 1
    # row-major out (m, n) is column-major out^T (n, m) = b^T (n, k) @ a (k, m)
    _XXGEMM(115 if out.itemsize == 4 else 100, _N, _T, n, m, k, one[:1].ctypes, b.ctypes,
            b.strides[0] // b.itemsize, a.ctypes, a.strides[0] // a.itemsize, one[1:].ctypes, out.ctypes,
            out.strides[0] // out.itemsize)


@register_jitable
def sgd_gemm_fits(a, b, var):
    """Whether ``matmul_tn_sgd`` takes the BLAS path: a GEMM above the small-loop size and
    operands with unit inner stride (also called as plain Python, by kernels.cpu.pyblas)."""
    k, m = a.shape
    n = b.shape[1]
    isz = var.itemsize
    return (k * m * n > SMALL and a.strides[1] == isz and b.strides[1] == isz
            and var.strides[1] == isz and a.strides[0] >= max(m, 1) * isz
            and b.strides[0] >= max(n, 1) * isz and var.strides[0] >= max(n, 1) * isz)


@numba.njit(**_NJ)
def matmul_tn_sgd(a, b, var, lr):
    """var -= lr * (a.T @ b): a dense layer's weight gradient and its gradient-descent update as
    one GEMM (alpha = -lr, beta = 1) writing into the variable, so the gradient is never stored
    and no update pass reads it back. a (k, m), b (k, n), var (m, n), float32/float64.

    The update is rounded once, inside BLAS (var + (-lr) * acc), instead of after a rounded
    gradient and a rounded product: within an ulp or so of the two-pass result. Small GEMMs
    (the plain loop) and operands without unit inner stride take the two passes, as before."""
    k, m = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    isz = var.itemsize
    if not sgd_gemm_fits(a, b, var):
        if k * m * n <= SMALL and n < NARROW:  # small_mm's dot products, each applied as made
            for i in range(m):
                for j in range(n):
                    acc = _zero(var)
                    for p in range(k):
                        acc += a[p, i] * b[p, j]
                    var[i, j] -= lr * acc
            return
        g = np.empty((m, n), var.dtype)
        matmul_tn(a, b, g)
        for i in range(m):
            for j in range(n):
                var[i, j] -= lr * g[i, j]
        return
    if k == 0:  # the gradient is zero: var - lr * 0
        for i in range(m):
            for j in range(n):
                var[i, j] -= lr * 0
        return
    ab = np.empty(2, var.dtype)
    ab[0] = -lr
    ab[1] = 1
    # row-major var (m, n) is column-major var^T (n, m) += -lr * b^T (n, k) @ a (k, m)
    _XXGEMM(115 if isz == 4 else 100, _N, _T, n, m, k, ab[:1].ctypes, b.ctypes,
            b.strides[0] // isz, a.ctypes, a.strides[0] // isz, ab[1:].ctypes, var.ctypes,
            var.strides[0] // isz)


MATMUL = {(False, False): matmul_nn, (True, False): matmul_tn,
          (False, True): matmul_nt, (True, True): matmul_tt}


@register_kernel("matmul", "cpu")
def matmul_cpu(attrs, a, b):
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    m = a.shape[1] if ta else a.shape[0]
    n = b.shape[0] if tb else b.shape[1]
    out = np.empty((m, n), a.dtype)
    if a.dtype.kind != "f":  # BLAS is float-only; integer matmul is rare and small
        out[...] = (a.T if ta else a) @ (b.T if tb else b)
        return out
    if a.size == 0 or b.size == 0:
        out[...] = 0
        return out
    MATMUL[(ta, tb)](np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    return out


# ----- batched matmul: the 2-D helpers above, once per batch entry ----------------------------

@numba.njit(**_NJ)
def batch_matmul(a, b, out, ta, tb):
    """out[..., :, :] = op(a[..., :, :]) @ op(b[..., :, :]); a, b and out have one rank (callers
    pad with leading 1s) and are C-contiguous; a batch axis of length 1 broadcasts."""
    nd = out.ndim - 2
    na = 1
    nb = 1
    no = 1
    for d in range(nd):
        na *= a.shape[d]
        nb *= b.shape[d]
        no *= out.shape[d]
    a3 = a.reshape((na, a.shape[nd], a.shape[nd + 1]))
    b3 = b.reshape((nb, b.shape[nd], b.shape[nd + 1]))
    o3 = out.reshape((no, out.shape[nd], out.shape[nd + 1]))
    for i in range(no):
        rem = i
        ia = 0
        ib = 0
        sa = 1
        sb = 1
        for d in range(nd - 1, -1, -1):
            c = rem % out.shape[d]
            rem //= out.shape[d]
            if a.shape[d] != 1:
                ia += c * sa
            if b.shape[d] != 1:
                ib += c * sb
            sa *= a.shape[d]
            sb *= b.shape[d]
        if ta:
            if tb:
                matmul_tt(a3[ia], b3[ib], o3[i])
            else:
                matmul_tn(a3[ia], b3[ib], o3[i])
        elif tb:
            matmul_nt(a3[ia], b3[ib], o3[i])
        else:
            matmul_nn(a3[ia], b3[ib], o3[i])


def batch_out_shape(attrs: dict, sa: tuple, sb: tuple) -> tuple:
    m = sa[-1] if attrs["transpose_a"] else sa[-2]
    n = sb[-2] if attrs["transpose_b"] else sb[-1]
    return tuple(np.broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))) + (m, n)


@register_kernel("batch_matmul", "cpu")
def batch_matmul_cpu(attrs, a, b):
    ta, tb = attrs["transpose_a"], attrs["transpose_b"]
    shape = batch_out_shape(attrs, a.shape, b.shape)
    out = np.empty(shape, a.dtype)
    if a.dtype.kind != "f" or out.size == 0 or a.size == 0 or b.size == 0:
        out[...] = np.matmul(np.swapaxes(a, -1, -2) if ta else a, np.swapaxes(b, -1, -2) if tb else b)
        return out
    pad = lambda x: np.ascontiguousarray(x).reshape((1,) * (len(shape) - x.ndim) + x.shape)  # noqa: E731
    batch_matmul(pad(a), pad(b), out, ta, tb)
    return out


@register_step_emitter("batch_matmul", imports=["from kernels.cpu.linalg import batch_matmul"])
def emit_batch_matmul(gen, op) -> None:
    from ..registry import Unsupported
    a, b = op.inputs
    out = op.outputs[0]
    if not out.dtype.is_floating:
        raise Unsupported("integer matmul")
    rank = gen.rank(out)
    gen.alloc(out)

    def padded(t):
        if gen.rank(t) == rank:
            return gen.v(t)
        return f"{gen.v(t)}.reshape(({', '.join(['1'] * (rank - gen.rank(t)) + gen.dims(t))},))"
    gen.emit(f"batch_matmul({padded(a)}, {padded(b)}, {gen.v(out)}, "
             f"{op.attrs['transpose_a']}, {op.attrs['transpose_b']})")
