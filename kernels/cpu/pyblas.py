"""The step's matmul kernels as plain Python for the interim step: the same BLAS calls, no Numba.

A new plan's interim step (``graphengine.backends.cpu.background``) runs its body as Python and
calls the step's kernels. The matmul kernels (``kernels.cpu.linalg``) cost ~0.5 s each to
compile cold, most of a cold first step's GEMM side, for calls that are BLAS calls. These
functions make those calls themselves, through ctypes, on the function pointers SciPy's
``cython_blas`` exports (MKL's, where ``kernels.cpu.mkl`` bound Numba to it): the functions
Numba's ``np.dot`` reaches through ``numba_xxgemm``/``numba_xxgemv``/``numba_xxdot``, with the
arguments Numba computes (``numba/np/linalg.py``: ``call_xxgemm``, ``call_xxgemv``,
``call_xxdot``, and ``dot_3_mm``'s choice between them). The small-GEMM loop (``small_mm``) is
mirrored in NumPy with the same order of float operations. So an interim call gives the compiled
kernel's numbers bit for bit (tests/test_pyblas.py).

``MATMUL`` maps the step's kernel names to these; ``available()`` says whether SciPy's BLAS
could be reached (else the interim step keeps the Numba kernels).
"""
from __future__ import annotations

import ctypes
import sys

import numpy as np

from .linalg import SMALL, sgd_gemm_fits

_FN: dict = {}
_P = ctypes.c_void_p
_I = ctypes.c_int                                    # F_INT, as in Numba's _lapack.c
_CT = {"s": ctypes.c_float, "d": ctypes.c_double}    # the scalar type of each BLAS kind


def _capsule_pointer(capsule) -> int:
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_ptr(capsule, get_name(capsule))


def _load() -> bool:
    if _FN:
        return True
    from . import mkl
    from .blas import load
    load()   # once: the module, and MKL bound where it is the BLAS
    mod = sys.modules.get("scipy.linalg.cython_blas")
    capi = getattr(mod, "__pyx_capi__", None)
    if not capi:
        return False

    def ptr(name: str) -> int:   # the function Numba's helper calls for this name
        return mkl.POINTERS[name] if name in mkl.BOUND else _capsule_pointer(capi[name])
    try:
        for kind, ct in _CT.items():
            _FN[kind + "gemm"] = ctypes.CFUNCTYPE(None, *[_P] * 13)(ptr(kind + "gemm"))
            _FN[kind + "gemv"] = ctypes.CFUNCTYPE(None, *[_P] * 11)(ptr(kind + "gemv"))
            _FN[kind + "dot"] = ctypes.CFUNCTYPE(ct, _P, _P, _P, _P, _P)(ptr(kind + "dot"))
    except (KeyError, ValueError, TypeError, AttributeError):
        _FN.clear()
        return False
    return True


def available() -> bool:
    return _load()


def _layout(x: np.ndarray) -> str:
    """The layout Numba's typeof gives ``x``."""
    return "C" if x.flags.c_contiguous else "F" if x.flags.f_contiguous else "A"


def _ptr(x) -> int:
    return x.ctypes.data


def _ref(v, ctype):
    return ctypes.byref(ctype(v))   # a c_void_p argument takes it (the cheapest way, ~0.5 us)


def _kind(dt: np.dtype) -> str:
    return "s" if dt == np.float32 else "d"


_CHARS = {c: ctypes.c_char_p(c.encode()) for c in "ntNT"}   # kept alive: BLAS reads them


def _char(c: str) -> ctypes.c_char_p:
    return _CHARS[c]


def _dot3(x: np.ndarray, lx: str, y: np.ndarray, ly: str, out: np.ndarray,
          alpha: float = 1.0, beta: float = 0.0) -> None:
    """Numba's ``np.dot(x, y, out)`` for 2-D float arrays (out C-contiguous); ``lx``/``ly`` are
    the layouts Numba types x and y with (a transposed view: the other one)."""
    if lx == "A":
        x, lx = np.ascontiguousarray(x), "C"   # make_contiguous
    if ly == "A":
        y, ly = np.ascontiguousarray(y), "C"
    m, k = x.shape
    n = y.shape[1]
    if k == 0 or m == 0 or n == 0:
        out[...] = 0
        return
    kind = _kind(out.dtype)
    ct, i = _CT[kind], _I
    one, zero = _ref(alpha, ct), _ref(beta, ct)
    if n == 1:
        if m == 1:   # V * V: xxdot(k, x, y) with unit increments
            inc = _ref(1, i)
            out.reshape(-1)[0] = _FN[kind + "dot"](_ref(k, i), _ptr(x), inc, _ptr(y), inc)
            return
        _gemv(kind, lx == "C", x, lx, y, out, one, zero)   # M * V: trans iff x's layout is out's (C)
        return
    if m == 1:       # V * M: trans iff y's layout differs from out's
        _gemv(kind, ly != "C", y, ly, x, out, one, zero)
        return
    # M * M (call_xxgemm): out^T = y^T x^T in column-major terms
    transa = "n" if ly == "C" else "t"
    lda = y.shape[1] if ly == "C" else y.shape[0]
    transb = "n" if lx == "C" else "t"
    ldb = x.shape[1] if lx == "C" else x.shape[0]
    ldc = out.shape[1]
    _FN[kind + "gemm"](_char(transa), _char(transb), _ref(n, i), _ref(m, i), _ref(k, i), one,
                       _ptr(y), _ref(lda, i), _ptr(x), _ref(ldb, i), zero, _ptr(out), _ref(ldc, i))


def _gemv(kind, do_trans, mat, lm, vec, out, one, zero) -> None:
    """call_xxgemv(do_trans, mat, vec, out) + numba_xxgemv (unit increments)."""
    i = _I
    if lm == "F":
        m, n = mat.shape
        lda = mat.shape[0]
    else:
        n, m = mat.shape
        lda = mat.shape[1]
    inc = _ref(1, i)
    _FN[kind + "gemv"](_char("t" if do_trans else "n"), _ref(m, i), _ref(n, i), one, _ptr(mat),
                       _ref(lda, i), _ptr(vec), inc, zero, _ptr(out), inc)


def _small_mm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """kernels.cpu.linalg.small_mm: out[i, j] = sum over p, in order, of a[i, p] * b[p, j]."""
    out[...] = 0
    with np.errstate(all="ignore"):   # IEEE results, as the compiled loop gives, whatever np.seterr says
        for p in range(a.shape[1]):
            out += a[:, p:p + 1] * b[p:p + 1, :]


def _flip(layout: str) -> str:
    return {"C": "F", "F": "C"}.get(layout, "A")


def matmul_nn(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        _small_mm(a, b, out)
    else:
        _dot3(a, _layout(a), b, _layout(b), out)


def matmul_tn(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[1] <= SMALL:
        _small_mm(a.T, b, out)
    else:
        _dot3(a.T, _flip(_layout(a)), b, _layout(b), out)


def matmul_nt(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL:
        _small_mm(a, b.T, out)
    else:
        _dot3(a, _layout(a), b.T, _flip(_layout(b)), out)


def matmul_tt(a, b, out):
    if a.shape[0] * a.shape[1] * b.shape[0] <= SMALL:
        _small_mm(a.T, b.T, out)
    else:
        _dot3(a.T, _flip(_layout(a)), b.T, _flip(_layout(b)), out)


def matmul_tn_sgd(a, b, var, lr):
    """kernels.cpu.linalg.matmul_tn_sgd: var -= lr * (a.T @ b)."""
    k, m = a.shape
    n = b.shape[1]
    if m == 0 or n == 0:
        return
    isz = var.itemsize
    lr = var.dtype.type(lr)
    if not sgd_gemm_fits(a, b, var):
        g = np.empty((m, n), var.dtype)
        matmul_tn(a, b, g)
        with np.errstate(all="ignore"):
            var -= lr * g
        return
    if k == 0:
        with np.errstate(all="ignore"):
            var -= lr * var.dtype.type(0)
        return
    kind = _kind(var.dtype)
    ct, i = _CT[kind], _I
    _FN[kind + "gemm"](_char("N"), _char("T"), _ref(n, i), _ref(m, i), _ref(k, i), _ref(-lr, ct),
                       _ptr(b), _ref(b.strides[0] // isz, i), _ptr(a), _ref(a.strides[0] // isz, i),
                       _ref(1.0, ct), _ptr(var), _ref(var.strides[0] // isz, i))


MATMUL = {"matmul_nn": matmul_nn, "matmul_tn": matmul_tn, "matmul_nt": matmul_nt,
          "matmul_tt": matmul_tt, "matmul_tn_sgd": matmul_tn_sgd}
