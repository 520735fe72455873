"""Optimizer updates split over MKL's own OpenMP threads, where the GEMMs run on MKL.

Why: MKL's two threads read each weight matrix in the forward GEMM, and the update that writes it
then pays a cross-core transfer per cache line: RMSProp on the autoencoder's 784x256 weights took
226-241 us after an MKL GEMM against 93 us without one (bench/RESULTS.md, 2026-12-04). Run on both
threads of MKL's pool (hot: it has just done the step's GEMMs, and idles 1 ms before sleeping),
each thread updates its half where its cache holds it: 117 us, bit for bit the serial numbers
(an elementwise update splits into independent halves). No second thread pool competes with
MKL's: the update runs on the same threads, with the count the thread policy gives MKL
(``MKL_Get_Max_Threads``), so a busy machine gets the serial loop.

How: ``forked(body)`` is an intrinsic that emits, into the calling function's own LLVM module, a
C function ``task(void *block)`` whose body is ``body(block)`` compiled by Numba, and calls
``GOMP_parallel(task, block, n_threads, 0)`` (the GNU OpenMP entry point, which Intel's runtime
implements). Everything lives in the caller's machine code, so it caches like any kernel; the
symbols (``GOMP_parallel``, ``omp_get_thread_num``, ``omp_get_num_threads``,
``MKL_Get_Max_Threads``) resolve at link time once ``ensure()`` has made libiomp5 and libmkl_rt
visible to the JIT linker. The step generator emits the ``*_mt`` kernels only where ``enabled()``
(MKL bound) and the variable has at least ``PAR_MIN`` elements.
"""
from __future__ import annotations

import os

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

PAR_MIN = 1 << 15   # elements: below this the serial loop (~13 us) beats a fork/join
_LOADED: bool | None = None

omp_thread = types.ExternalFunction("omp_get_thread_num", types.intc())
omp_threads = types.ExternalFunction("omp_get_num_threads", types.intc())
mkl_threads = types.ExternalFunction("MKL_Get_Max_Threads", types.intc())


def ensure() -> bool:
    """Make libmkl_rt and libiomp5 visible to the JIT linker (once); False if they are not there.
    Also what a background compile needs: it links a step's ``*_mt`` calls without loading MKL."""
    global _LOADED
    if _LOADED is None:
        import llvmlite.binding as llb

        from . import mkl
        path = mkl.PATH or mkl.find()
        iomp = os.path.join(os.path.dirname(path), "libiomp5.so") if path else None
        try:
            if iomp is None or not os.path.exists(iomp):
                raise OSError("no libiomp5 beside libmkl_rt")
            llb.load_library_permanently(path)
            llb.load_library_permanently(iomp)
            _LOADED = True
        except (OSError, RuntimeError):
            _LOADED = False
    return _LOADED


def enabled() -> bool:
    """Whether steps may use the ``*_mt`` kernels: MKL runs the GEMMs in this process on Intel's
    OpenMP runtime (its default threading layer), and ``GRAPHENGINE_MT_UPDATES`` is not 0."""
    from . import mkl
    layer = os.environ.get("MKL_THREADING_LAYER", "INTEL").strip().upper()
    return (mkl.backend() == "mkl" and layer in ("", "INTEL") and ensure()
            and os.environ.get("GRAPHENGINE_MT_UPDATES", "1") != "0")


@intrinsic
def _ptr(typingctx, addr):
    """An address (int64) as a void pointer."""
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())
    return types.voidptr(addr), codegen


@numba.njit(nogil=True, inline="always")
def span(n, align=16):
    """This OpenMP thread's [lo, hi) of n elements: equal shares, multiples of ``align``."""
    tid, nth = omp_thread(), omp_threads()
    chunk = ((n + nth - 1) // nth + align - 1) // align * align
    lo = min(n, tid * chunk)
    return lo, min(n, lo + chunk)


def forked(bodies: dict):
    """An intrinsic ``fork(var, block, nth)``: ``bodies[var.dtype](block_pointer)`` on ``nth``
    OpenMP threads. ``block`` is the int64 parameter array the body reads."""
    @intrinsic
    def fork(typingctx, var, block, nth):
        body = bodies.get(str(var.dtype))
        if body is None or not isinstance(block, types.Array):
            return None
        sig = types.void(var, block, nth)

        def codegen(context, builder, sig, args):
            mod = builder.module
            vp = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            task = ir.Function(mod, ir.FunctionType(ir.VoidType(), [vp]), mod.get_unique_name("ge_omp_task"))
            task.linkage = "internal"
            tb = ir.IRBuilder(task.append_basic_block("entry"))
            bsig = types.void(types.voidptr)
            cres = context.compile_subroutine(tb, body, bsig)
            context.call_internal_no_propagate(tb, cres.fndesc, bsig, [task.args[0]])  # no exceptions
            tb.ret_void()
            gomp = cgutils.get_or_insert_function(
                mod, ir.FunctionType(ir.VoidType(), [vp, vp, i32, i32]), "GOMP_parallel")
            arr = context.make_array(sig.args[1])(context, builder, args[1])
            n = context.cast(builder, args[2], sig.args[2], types.uint32)
            builder.call(gomp, [builder.bitcast(task, vp), builder.bitcast(arr.data, vp), n, ir.Constant(i32, 0)])
            return context.get_dummy_value()
        return sig, codegen
    return fork
