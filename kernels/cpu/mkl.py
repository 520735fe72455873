"""Intel MKL as the BLAS behind Numba's ``np.dot``, where the optional ``mkl`` package is installed.

Numba's ``np.dot`` reaches BLAS through ``numba_xxgemm``/``xxgemv``/``xxdot`` (``numba/_lapack.c``),
which look up each function's pointer once, on its first call, in the ``__pyx_capi__`` capsules of
``scipy.linalg.cython_blas``, and keep it for the life of the process. ``install`` makes that first
lookup find MKL's: it puts a module with capsules of MKL's Fortran-ABI ``sgemm_``, ``dgemm_``,
``sgemv_``, ``dgemv_``, ``sdot_`` and ``ddot_`` (the same LP64 signatures as SciPy's) under that
name, calls each helper once on a 2x2 problem so it binds, and puts the real module back: SciPy
itself, and any other user of ``cython_blas``, keeps its OpenBLAS. Functions a helper had already
bound (Numba ran an ``np.dot`` before graphengine loaded its BLAS) stay on OpenBLAS; ``BOUND``
lists the ones that went to MKL, so ``backend()`` reports what the GEMMs really call.

GEMMs whose result has at most ``NARROW`` (16) columns from a reduction of at most ``SHORT``
(256) stay on OpenBLAS, where MKL was slower for this project's shapes: the capsules of
``sgemm``/``dgemm`` point at a small router compiled at start-up (``_router``) that picks
OpenBLAS's or MKL's function by the call's Fortran M. The interim step's ctypes GEMMs
(``kernels.cpu.pyblas``) call the same router, so they still give the compiled kernels' numbers
bit for bit.

Which BLAS: ``GRAPHENGINE_BLAS=openblas`` (SciPy's, always there), ``mkl`` (an error if the
package is missing), or ``auto`` (the default): MKL where it is installed and the CPU is Intel's,
where it runs this project's float32 GEMMs 14-35% faster than SciPy's OpenBLAS (bench/RESULTS.md);
OpenBLAS elsewhere.

MKL's OpenMP threads spin 200 ms after a parallel region by default, which takes a core from
another busy process; unless the user set ``KMP_BLOCKTIME``, they spin ``BLOCKTIME_MS`` and then
sleep (read when the OpenMP runtime starts, which ``install`` makes happen at once). The thread
count follows graphengine's policy (``graphengine/runtime/threads.py``) as OpenBLAS's does.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
import types

import numpy as np

NAMES = ("sgemm", "dgemm", "sgemv", "dgemv", "sdot", "ddot")
BLOCKTIME_MS = "1"
CHOICES = ("auto", "openblas", "mkl")

LIB: ctypes.CDLL | None = None   # libmkl_rt, once installed
PATH: str | None = None
POINTERS: dict[str, int] = {}    # name -> what Numba's helper gets: MKL's function (sgemm/dgemm: the router)
BOUND: frozenset = frozenset()   # what Numba's helpers bound to MKL in this process
ROUTED = False                   # sgemm/dgemm in POINTERS are the routers


def choice() -> str:
    c = os.environ.get("GRAPHENGINE_BLAS", "auto").strip().lower() or "auto"
    if c not in CHOICES:
        raise ValueError(f"GRAPHENGINE_BLAS={c!r}: use one of {', '.join(CHOICES)}")
    return c


def find() -> str | None:
    """The path of ``libmkl_rt`` from the ``mkl`` wheel (``<prefix>/lib``), else the system's."""
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        hits = sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")))
        if hits:
            return hits[0]
    return ctypes.util.find_library("mkl_rt")


def intel_cpu() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("vendor_id"):
                    return "GenuineIntel" in line
    except OSError:
        pass
    return False


def wanted() -> str | None:
    """The MKL library to install, or None (OpenBLAS); raises if MKL is asked for and absent."""
    c = choice()
    if c == "openblas":
        return None
    path = find()
    if c == "mkl" and path is None:
        raise RuntimeError("GRAPHENGINE_BLAS=mkl, but no libmkl_rt was found: pip install "
                           "'graphengine[mkl]' (the mkl package), or unset GRAPHENGINE_BLAS")
    if c == "auto" and not intel_cpu():
        return None
    return path


class _Capi(dict):
    """``__pyx_capi__`` that records which functions Numba's helpers looked up."""
    def __init__(self, *a) -> None:
        super().__init__(*a)
        self.asked: set[str] = set()

    def __getitem__(self, name):
        self.asked.add(name)
        return super().__getitem__(name)


def _capsule(ptr: int):
    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(ptr, b"graphengine.mkl", None)


def _load(path: str) -> ctypes.CDLL:
    key = "KMP_BLOCKTIME"
    had = key in os.environ
    if not had:
        os.environ[key] = BLOCKTIME_MS
    try:
        lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        lib.MKL_Get_Max_Threads()   # starts the threading layer (and OpenMP: reads KMP_BLOCKTIME)
    finally:
        if not had:
            os.environ.pop(key, None)
    return lib


def _prime() -> None:
    """Call each Numba BLAS helper once (2x2, 2-vectors) so it binds the function it finds."""
    from numba import _helperlib
    h = _helperlib.c_helpers
    P, S, C, I = ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_char, ctypes.c_int
    gemm = ctypes.CFUNCTYPE(I, C, C, C, S, S, S, P, P, S, P, S, P, P, S)(h["xxgemm"])
    gemv = ctypes.CFUNCTYPE(I, C, C, S, S, P, P, S, P, P, P)(h["xxgemv"])
    dot = ctypes.CFUNCTYPE(I, C, C, S, P, P, P)(h["xxdot"])
    for k, dt in ((b"s", np.float32), (b"d", np.float64)):
        a, c = np.ones((2, 2), dt), np.zeros((2, 2), dt)
        one, zero, x, y, r = np.ones(1, dt), np.zeros(1, dt), np.ones(2, dt), np.zeros(2, dt), np.zeros(1, dt)
        p = lambda v: v.ctypes.data
        gemm(k, b"N", b"N", 2, 2, 2, p(one), p(a), 2, p(a), 2, p(zero), p(c), 2)
        gemv(k, b"N", 2, 2, p(one), p(a), 2, p(x), p(zero), p(y))
        dot(k, b"\0", 2, p(x), p(x), p(r))
        if c[0, 0] != 2 or y[0] != 2 or r[0] != 2:
            raise RuntimeError(f"BLAS check failed after binding MKL ({k.decode()}gemm/gemv/dot)")


# GEMMs with at most NARROW result columns stay on OpenBLAS when the reduction is at most SHORT
# long or the result at most FEW rows: there MKL was slower on this project's shapes (a 10-class
# layer: the weight gradient X.T @ dY folded with SGD, 784x10 from B=100 21.4 against 16.7 us,
# 512x10 from B=128 20.0 against 14.0; the forward 100x784 @ 784x10 23 against 19 us), and ahead
# again at B=1024 (1024x512 @ 512x10 56 against 98 us; bench/RESULTS.md, 2026-12-04).
NARROW = 16
SHORT = 256
FEW = 128
_ENGINES: list = []   # the routers' JIT engines, kept alive


def _router(name: str, fast: int, narrow: int) -> int:
    """A C function with ``?gemm``'s Fortran signature that calls ``narrow`` (OpenBLAS) when the
    Fortran M (the row-major result's column count, as Numba calls it) is at most NARROW and
    K at most SHORT or N (the result's rows) at most FEW, else ``fast`` (MKL): a few
    instructions, compiled once per process (~ms)."""
    import llvmlite.binding as llb
    from llvmlite import ir
    vp, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [vp] * 13)
    mod = ir.Module(name=f"ge_{name}_router")
    fn = ir.Function(mod, fnty, f"ge_{name}_router")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    m = b.load(b.bitcast(fn.args[2], i32.as_pointer()))
    n = b.load(b.bitcast(fn.args[3], i32.as_pointer()))
    k = b.load(b.bitcast(fn.args[4], i32.as_pointer()))
    le = lambda v, c: b.icmp_signed("<=", v, ir.Constant(i32, c))
    small = b.and_(le(m, NARROW), b.or_(le(k, SHORT), le(n, FEW)))
    lo, hi = fn.append_basic_block("narrow"), fn.append_basic_block("fast")
    b.cbranch(small, lo, hi)
    for blk, addr in ((lo, narrow), (hi, fast)):
        b.position_at_end(blk)
        target = b.inttoptr(ir.Constant(ir.IntType(64), addr), fnty.as_pointer())
        b.call(target, list(fn.args), tail=True)
        b.ret_void()
    llmod = llb.parse_assembly(str(mod))
    llmod.verify()
    tm = llb.Target.from_default_triple().create_target_machine(opt=2)
    engine = llb.create_mcjit_compiler(llmod, tm)
    engine.finalize_object()
    _ENGINES.append(engine)
    return engine.get_function_address(fn.name)


def install(path: str, name: str = "scipy.linalg.cython_blas") -> frozenset:
    """Bind Numba's BLAS helpers to MKL's functions (those not bound yet); returns which were.
    ``sys.modules[name]`` (the real ``cython_blas``, already loaded) is left as it was."""
    global LIB, PATH, BOUND, ROUTED
    if LIB is None:
        LIB = _load(path)
        PATH = path
        for n in NAMES:
            POINTERS[n] = ctypes.cast(getattr(LIB, n + "_"), ctypes.c_void_p).value
    real = sys.modules.get(name)
    if not ROUTED and real is not None and getattr(real, "__pyx_capi__", None):
        from .pyblas import _capsule_pointer
        for n in ("sgemm", "dgemm"):   # narrow GEMMs: OpenBLAS
            POINTERS[n] = _router(n, POINTERS[n], _capsule_pointer(real.__pyx_capi__[n]))
        ROUTED = True
    capi = _Capi({n: _capsule(POINTERS[n]) for n in NAMES})
    fake = types.ModuleType(name)
    fake.__pyx_capi__ = capi
    sys.modules[name] = fake
    try:
        _prime()
    finally:
        if real is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = real
    BOUND = BOUND | frozenset(capi.asked)
    return BOUND


def set_num_threads(n: int) -> None:
    if LIB is not None:
        LIB.MKL_Set_Num_Threads(ctypes.c_int(int(n)))


def backend() -> str:
    """"mkl" when Numba's float GEMMs call MKL in this process, else "openblas"."""
    return "mkl" if {"sgemm", "dgemm"} <= BOUND else "openblas"
