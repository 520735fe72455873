"""``rmsprop``, ``adam`` and ``momentum`` (``kernels.cpu.optim``) split over MKL's OpenMP threads
(``kernels.cpu.omp``): the same loop on each thread's share, so the same numbers bit for bit.
Importing this module makes the OpenMP and MKL symbols visible to the JIT linker; the step
generator imports it only for steps it emits these calls in (``omp.enabled()``)."""
from __future__ import annotations

import numba
import numpy as np
from numba import carray

from . import omp
from .omp import PAR_MIN, _ptr, forked, mkl_threads, span
from .optim import adam, momentum, rmsprop

omp.ensure()
_NJ = dict(cache=True, nogil=True, error_model="numpy")
_DT = {"float32": np.float32, "float64": np.float64}


def _body(kernel, T, kind: str):
    """``body(block)`` running ``kernel`` on this OpenMP thread's share. Block: int64 slots 0..3
    hold the arrays' addresses, slot 7 the element count, float64 slots 8.. the scalars (slot 15:
    momentum's nesterov flag)."""
    isz = np.dtype(T).itemsize

    def arrays(p):
        P = carray(p, 16, np.int64)
        lo, hi = span(P[7])
        m = hi - lo
        return (carray(_ptr(P[0] + isz * lo), m, T), carray(_ptr(P[1] + isz * lo), m, T),
                carray(_ptr(P[2] + isz * lo), m, T), carray(_ptr(P[3] + isz * lo), m, T))
    arrays = numba.njit(inline="always")(arrays)

    if kind == "rmsprop":
        def body(p):
            F = carray(p, 16, np.float64)
            a0, a1, a2, a3 = arrays(p)
            kernel(a0, a1, a2, a3, T(F[8]), T(F[9]), T(F[10]), T(F[11]), T(F[12]))
    elif kind == "adam":
        def body(p):
            F = carray(p, 16, np.float64)
            a0, a1, a2, a3 = arrays(p)
            kernel(a0, a1, a2, a3, T(F[8]), T(F[9]), T(F[10]), T(F[11]), T(F[12]), T(F[13]))
    else:   # momentum: var, accum, grad (slot 3 repeats grad)
        def body(p):
            F = carray(p, 16, np.float64)
            a0, a1, a2, _ = arrays(p)
            kernel(a0, a1, a2, T(F[8]), T(F[9]), F[15] != 0.0)
    return body


def _bodies(kernel, kind: str) -> dict:
    return {name: _body(kernel, T, kind) for name, T in _DT.items()}


_fork_rmsprop = forked(_bodies(rmsprop, "rmsprop"))
_fork_adam = forked(_bodies(adam, "adam"))
_fork_momentum = forked(_bodies(momentum, "momentum"))


@numba.njit(nogil=True, inline="always")
def _threads(a, b, c, d):
    """MKL's thread count where the arrays are long enough and contiguous, else 1."""
    if a.size < PAR_MIN or not (a.flags.c_contiguous and b.flags.c_contiguous
                                and c.flags.c_contiguous and d.flags.c_contiguous):
        return 1
    return mkl_threads()


@numba.njit(**_NJ)
def rmsprop_mt(var, ms, mom, grad, lr, rho, c_rho, mu, eps):
    nth = _threads(var, ms, mom, grad)
    if nth < 2:
        rmsprop(var, ms, mom, grad, lr, rho, c_rho, mu, eps)
        return
    b = np.empty(16, np.int64)
    b[0], b[1], b[2], b[3], b[7] = var.ctypes.data, ms.ctypes.data, mom.ctypes.data, grad.ctypes.data, var.size
    f = b.view(np.float64)
    f[8], f[9], f[10], f[11], f[12] = lr, rho, c_rho, mu, eps
    _fork_rmsprop(var, b, nth)


@numba.njit(**_NJ)
def adam_mt(var, m, v, grad, lr_t, b1, c1, b2, c2, eps):
    nth = _threads(var, m, v, grad)
    if nth < 2:
        adam(var, m, v, grad, lr_t, b1, c1, b2, c2, eps)
        return
    b = np.empty(16, np.int64)
    b[0], b[1], b[2], b[3], b[7] = var.ctypes.data, m.ctypes.data, v.ctypes.data, grad.ctypes.data, var.size
    f = b.view(np.float64)
    f[8], f[9], f[10], f[11], f[12], f[13] = lr_t, b1, c1, b2, c2, eps
    _fork_adam(var, b, nth)


@numba.njit(**_NJ)
def momentum_mt(var, accum, grad, lr, mu, nesterov):
    nth = _threads(var, accum, grad, grad)
    if nth < 2:
        momentum(var, accum, grad, lr, mu, nesterov)
        return
    b = np.empty(16, np.int64)
    b[0], b[1], b[2], b[3], b[7] = var.ctypes.data, accum.ctypes.data, grad.ctypes.data, grad.ctypes.data, var.size
    f = b.view(np.float64)
    f[8], f[9], f[15] = lr, mu, 1.0 if nesterov else 0.0
    _fork_momentum(var, b, nth)


TWIN_OF = {"rmsprop_mt": "rmsprop", "adam_mt": "adam", "momentum_mt": "momentum"}
