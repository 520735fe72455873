"""A GEMM that the stepping thread shares with one helper thread, chunk by chunk, on a busy machine.

When another process keeps one of two cores busy, a 2-thread OpenBLAS GEMM splits its work
statically and runs at the speed of the thread on the busy core, so the thread policy
(``graphengine.runtime.threads``) gives OpenBLAS one thread. Here the stepping thread (on the free
core) and one helper thread (pinned by the policy to the busy core, where it gets about half the
time in scheduler slices of a few ms) each call single-threaded OpenBLAS on chunks of one GEMM,
handed out dynamically: the helper adds what its share of the busy core allows, and the stepping
thread never waits for a helper that was preempted in the middle of a chunk. This module does not
change OpenBLAS's thread count: the caller sets it to 1 while the split mode is on (two threads
each running a multi-threaded OpenBLAS would oversubscribe the cores).

``gemm(a, b, out, alpha, beta)`` (nopython) computes ``out = alpha * a @ b + beta * out`` for
float32/float64 ``a`` (m, k), ``b`` (k, n), ``out`` (m, n), each of ``a`` and ``b`` with unit
stride on axis 1 or on axis 0 (so the ``.T`` of a C-contiguous array passes without a copy) and
``out`` with unit stride on axis 1; other layouts are copied and computed by one direct call. It
splits only when the mode is on (``activate``), the helper runs, the GEMM has at least
``SPLIT_MIN`` multiply-adds and no other thread is splitting a GEMM; otherwise it is one direct
call of ``numba_xxgemm``, the BLAS gemm Numba itself uses.

Control block. A process-wide array of ``NSLOTS`` int64 words, allocated (and never freed) at
import and registered with LLVM as the symbol ``graphengine_gemmsplit_ctl``; compiled code reaches
it through an external global of that name (``_ctl_ptr``), so a function loaded from Numba's disk
cache in another process links to that process's block (its address is never embedded). Slot
indices (8 words to a 64-byte line; the words both threads write often each have a line)::

    line  0  SEQ        job sequence number; the helper FUTEX_WAITs on its low 32 bits
    line  1  SLEEPING   1 while the helper is (about to be) in FUTEX_WAIT
    line  2  OWNER      0, or 1 while a thread posts/runs a split job (the job slot)
    line  3  INFLIGHT   job number while the helper may read a job's A and B (0: none)
             HELPER_DONE  chunks the helper committed; DBG_HELD: job number while parked
    line  4  MODE, RUNNING (the helper's loop runs), STOP, SYSNO (futex syscall number),
             SPLIT_MIN_OVR, CHUNK_MIN_OVR, NCHUNK_OVR (0: the module constants), SPIN_NS
    line  5  DBG_HOLD   tests: the helper parks after computing a chunk, before its commit
    line  6  MAIN_DONE, STOLEN, JOBS, BUSY (direct calls because the job slot was taken)
    lines 7-8    job parameters P_KIND .. P_NCHUNK (written before SEQ, then read-only)
    lines 9-11   BOUNDS: chunk c is [BOUNDS+c, BOUNDS+c+1) along the split axis
    lines 12-13  STATE: one word per chunk (claims are >= CHUNK_MIN multiply-adds apart, so
                 sharing two lines costs a line transfer per claim, ~0.1 us against >= 10 us)
    line 15  TEST: free words for tests

Protocol (one job at a time per process):

* The posting thread takes the job slot with CAS OWNER 0 -> 1; if another thread holds it, it
  makes one direct call. It writes the parameters and chunk bounds, sets each chunk's state to
  (s, FREE) for the new job number s, stores SEQ = s (release), and, after a fence, issues
  FUTEX_WAKE only if SLEEPING says the helper sleeps (no syscall while it spins).
* A state word is ``s * 8 + code`` with codes FREE, MAIN, HELPER, STOLEN, COPYING, DONE, so no
  CAS by a helper that acts on an older job (it was preempted, its chunk was stolen, the next job
  started) can succeed.
* The main thread claims FREE chunks from the front (CAS FREE -> MAIN) and computes them
  directly into C with the real alpha and beta. The helper claims from the back (FREE -> HELPER)
  and computes into a private scratch buffer with beta = 0, then commits with CAS HELPER ->
  COPYING, writes ``C = scratch`` (beta == 0: an exact copy) or ``scratch + beta * C``, and stores
  DONE; when the commit CAS fails it drops the scratch. The helper writes C only between a
  successful commit CAS and DONE.
* With no FREE chunk left, the main thread CASes every chunk still HELPER to STOLEN and computes
  it itself (a preempted helper costs at most one chunk of redundant work, never a wait of a
  scheduler slice). It waits only for chunks in COPYING (a copy of one chunk), then releases
  the slot. So ``gemm`` returns with C complete and the helper no longer able to write it.
* The helper reads a job's parameters before its claim CAS; the CAS succeeds only while that job
  runs, and the next job's parameters are written only after it ends, so a successful claim
  certifies the snapshot. After a stolen chunk the helper may still be reading that job's A and
  B when ``gemm`` has returned: overwriting them is harmless (the result is dropped), but memory
  that may be *unmapped* (a large temporary freed right after the call) must outlive the read:
  call ``quiesce()`` before freeing such a temporary (the engine's step buffers live for the
  session). Inputs are never written.

Helper thread. A daemon ``threading.Thread`` that records its native thread id (``helper_tid``;
the policy pins it with ``os.sched_setaffinity``) and runs ``_helper_loop`` (nogil). Idle, it
re-reads SEQ for ``SPIN_NS`` (~40 us), then sets SLEEPING and FUTEX_WAITs on SEQ (the syscall
through libc's ``syscall``; 202 on x86-64, 98 on aarch64). ``shutdown`` (also at exit) sets STOP
and wakes it. A child after ``fork`` starts with the mode off and no helper.

Chunks: the split runs along the larger of m and n (each chunk repacks only the smaller
operand, whole), chunk bounds are multiples of 16 where the axis allows, ``NCHUNKS`` chunks or
fewer so that each has at least ``CHUNK_MIN`` multiply-adds. With beta == 0 the helper's chunk
is the main thread's OpenBLAS call but for C's address and leading dimension; with beta != 0 it
adds ``beta * C`` to ``alpha * AB`` in a pass of its own, where OpenBLAS scales C and then
accumulates into it (the two agree within rounding, not always bit for bit).

Python: ``available()``, ``activate(helper_cores=None)``, ``deactivate()``, ``helper_tid()``,
``shutdown()``, ``stats()``, ``override(...)`` (tests: force small GEMMs to split), ``block()``.
Nopython: ``gemm``, ``split_active()``, ``quiesce()``, ``control_block()``, and the atomics
``atomic_cas/load/store/add`` on 1-D int64 arrays.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import platform
import sys
import threading
import time

import llvmlite.binding as ll
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload, register_jitable

# the BLAS gemm Numba itself calls for np.dot (as kernels.cpu.linalg declares it: column-major,
# Fortran conventions; by its symbol, so functions that call it stay in Numba's disk cache)
_XXGEMM = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char, types.intp, types.intp, types.intp, types.voidptr, types.voidptr,
    types.intp, types.voidptr, types.intp, types.voidptr, types.voidptr, types.intp))

__all__ = ["gemm", "split_active", "quiesce", "control_block", "available", "activate",
           "deactivate", "helper_tid", "shutdown", "stats", "override", "block",
           "atomic_cas", "atomic_load", "atomic_store", "atomic_add",
           "NCHUNKS", "SPLIT_MIN", "CHUNK_MIN"]

NCHUNKS = 8          # chunks per split GEMM (at most)
MAXCHUNKS = 16       # state words in the block
SPLIT_MIN = 1 << 20  # multiply-adds below which a GEMM is one direct call
CHUNK_MIN = 1 << 17  # multiply-adds per chunk, at least
SPIN_NS = 40_000     # how long the idle helper re-reads SEQ before it sleeps

# ---- the control block -------------------------------------------------------------------------
NSLOTS = 128
SEQ = 0
SLEEPING = 8
OWNER = 16
INFLIGHT, HELPER_DONE, DBG_HELD = 24, 25, 26
MODE, RUNNING, STOP, SYSNO, SPLIT_MIN_OVR, CHUNK_MIN_OVR, NCHUNK_OVR, SPIN = range(32, 40)
DBG_HOLD = 40
MAIN_DONE, STOLEN, JOBS, BUSY = 48, 49, 50, 51
(P_KIND, P_TA, P_TB, P_M, P_N, P_K, P_ALPHA, P_BETA, P_AP, P_LDA, P_BP, P_LDB, P_CP, P_LDC,
 P_AXIS, P_NCHUNK) = range(56, 72)
BOUNDS = 72          # MAXCHUNKS + 1 words
STATE = 96           # MAXCHUNKS words
TEST = 120           # 8 words no code here touches

FREE, MAIN, HELPER, STOLEN_C, COPYING, DONE = range(6)
_D, _S = 100, 115    # numba_xxgemm kinds: 'd', 's'
_N, _T = ord("N"), ord("T")
_FUTEX_WAIT, _FUTEX_WAKE = 128, 129   # FUTEX_*_PRIVATE
_SYSNOS = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}

_SYMBOL = "graphengine_gemmsplit_ctl"
try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _libc.calloc.restype = ctypes.c_void_p
    _libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    _libc.syscall.restype = ctypes.c_long
    _libc.syscall.argtypes = [ctypes.c_long] * 7
except (OSError, TypeError, AttributeError):   # not a POSIX libc: available() is False anyway
    _libc = None
_KEEP = []   # the block's memory when there is no libc calloc


def _allocate() -> int:
    """The block's address: the one registered already (a second import of this file), else a
    new zeroed 64-byte-aligned block that lives until the process exits."""
    addr = ll.address_of_symbol(_SYMBOL)
    if addr:
        return int(addr)
    size = NSLOTS * 8 + 64
    if _libc is not None:
        raw = _libc.calloc(1, size)
    else:
        _KEEP.append(ctypes.create_string_buffer(size))
        raw = ctypes.addressof(_KEEP[-1])
    if not raw:
        raise MemoryError("gemmsplit: no memory for the control block")
    addr = (raw + 63) & ~63
    ll.add_symbol(_SYMBOL, addr)
    return addr


_ADDR = _allocate()
_BLOCK = np.ctypeslib.as_array((ctypes.c_int64 * NSLOTS).from_address(_ADDR))
_BLOCK[SYSNO] = _SYSNOS.get(platform.machine().lower(), 0) if sys.platform.startswith("linux") else 0
if _BLOCK[SPIN] == 0:
    _BLOCK[SPIN] = SPIN_NS


def block() -> np.ndarray:
    """The control block as an int64 array (this process's; reads and test settings)."""
    return _BLOCK


# ---- intrinsics ------------------------------------------------------------------------------
_I64 = ir.IntType(64)


@intrinsic
def _ctl_ptr(typingctx):
    """Pointer to the control block: an external global resolved when the code is linked."""
    def codegen(context, builder, sig, args):
        mod = builder.module
        gv = mod.globals.get(_SYMBOL)
        if gv is None:
            gv = ir.GlobalVariable(mod, ir.ArrayType(_I64, NSLOTS), name=_SYMBOL)
            gv.linkage = "external"
        return builder.bitcast(gv, _I64.as_pointer())
    return types.CPointer(types.int64)(), codegen


def _is_i64_vector(a) -> bool:
    return isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.int64


def _slot_ptr(context, builder, aryty, ary, idx):
    arr = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer(context, builder, aryty, arr, [idx], wraparound=False)


@intrinsic
def atomic_cas(typingctx, arr, idx, expected, new):
    """Compare-and-swap ``arr[idx]`` (seq_cst); returns the old value (== expected: it swapped)."""
    if not _is_i64_vector(arr):
        return None
    sig = types.int64(arr, types.intp, types.int64, types.int64)

    def codegen(context, builder, sig, args):
        ptr = _slot_ptr(context, builder, sig.args[0], args[0], args[1])
        res = builder.cmpxchg(ptr, args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(res, 0)
    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, idx):
    """``arr[idx]``, an acquire load."""
    if not _is_i64_vector(arr):
        return None
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, sig, args):
        ptr = _slot_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)
    return sig, codegen


@intrinsic
def atomic_store(typingctx, arr, idx, value):
    """``arr[idx] = value``, a release store."""
    if not _is_i64_vector(arr):
        return None
    sig = types.void(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        ptr = _slot_ptr(context, builder, sig.args[0], args[0], args[1])
        builder.store_atomic(args[2], ptr, "release", 8)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def atomic_add(typingctx, arr, idx, value):
    """``arr[idx] += value`` (seq_cst fetch-add); returns the old value."""
    if not _is_i64_vector(arr):
        return None
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, sig, args):
        ptr = _slot_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")
    return sig, codegen


@intrinsic
def _fence(typingctx):
    """A seq_cst fence (orders a store before a later load: the sleep/wake handshake)."""
    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _pause(typingctx):
    """The spin-wait hint (x86 ``pause``, aarch64 ``yield``); nothing elsewhere."""
    def codegen(context, builder, sig, args):
        machine = platform.machine().lower()
        if machine in ("x86_64", "amd64"):
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        elif machine in ("aarch64", "arm64"):
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(32)]), "llvm.aarch64.hint")
            builder.call(fn, [ir.Constant(ir.IntType(32), 1)])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _addr(typingctx, arr):
    """An array's data pointer as an int64."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.ptrtoint(data, _I64)
    return types.int64(arr), codegen


@intrinsic
def _slot_addr(typingctx, arr, idx):
    """The address of ``arr[idx]`` as an int64 (the futex word)."""
    if not _is_i64_vector(arr):
        return None
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, sig, args):
        return builder.ptrtoint(_slot_ptr(context, builder, sig.args[0], args[0], args[1]), _I64)
    return sig, codegen


@intrinsic
def _voidptr(typingctx, addr):
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


def _typed_ptr(nbtype):
    ptrty = types.CPointer(nbtype)

    @intrinsic
    def cast(typingctx, addr):
        def codegen(context, builder, sig, args):
            return builder.inttoptr(args[0], context.get_value_type(ptrty))
        return ptrty(types.int64), codegen
    return cast


_f64_ptr = _typed_ptr(types.float64)
_f32_ptr = _typed_ptr(types.float32)


@intrinsic
def _f64_bits(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], _I64)
    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, i):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


def _blas_kind(a, b, out):
    """numba_xxgemm's kind for three arrays of one float dtype (a typing error otherwise)."""


@overload(_blas_kind)
def _blas_kind_impl(a, b, out):
    kinds = {types.float64: _D, types.float32: _S}
    arrays = (a, b, out)
    if not all(isinstance(x, types.Array) and x.ndim == 2 for x in arrays):
        raise TypingError("gemmsplit.gemm: a, b and out must be 2-D arrays")
    if a.dtype not in kinds or b.dtype != a.dtype or out.dtype != a.dtype:
        raise TypingError("gemmsplit.gemm: a, b and out must all be float32 or all float64")
    kind = kinds[a.dtype]
    return lambda a, b, out: np.int64(kind)   # not a literal: one compile of the callees


# libc, by symbol (resolved in the process at link time, so callers stay cacheable). syscall is
# variadic; with integer arguments only, the fixed-argument call passes them the same way.
_SYSCALL = types.ExternalFunction("syscall", types.int64(*([types.int64] * 7)))
_CLOCK_GETTIME = types.ExternalFunction("clock_gettime", types.intc(types.intc, types.voidptr))

_NJ = dict(cache=True, nogil=True)


# ---- small pieces ------------------------------------------------------------------------------
@numba.njit(**_NJ)
def control_block():
    """The control block as a 1-D int64 array (nopython)."""
    return numba.carray(_ctl_ptr(), NSLOTS)


@numba.njit(**_NJ)
def split_active():
    """Whether ``gemm`` may split now: the mode is on and the helper runs."""
    ctl = control_block()
    return atomic_load(ctl, MODE) != 0 and atomic_load(ctl, RUNNING) != 0


@numba.njit(**_NJ)
def quiesce():
    """Wait until the helper reads no job's inputs (before freeing memory a GEMM just read)."""
    ctl = control_block()
    _fence()
    while atomic_load(ctl, INFLIGHT) != 0:
        _pause()


@register_jitable
def _futex_wait(ctl, slot, expected):
    nr = atomic_load(ctl, SYSNO)
    if nr > 0:
        _SYSCALL(nr, _slot_addr(ctl, slot), _FUTEX_WAIT, expected & 0xFFFFFFFF, 0, 0, 0)


@register_jitable
def _futex_wake(ctl, slot):
    nr = atomic_load(ctl, SYSNO)
    if nr > 0:
        _SYSCALL(nr, _slot_addr(ctl, slot), _FUTEX_WAKE, 1, 0, 0, 0)


@register_jitable
def _now_ns(ts):
    _CLOCK_GETTIME(1, ts.ctypes)   # CLOCK_MONOTONIC
    return ts[0] * 1_000_000_000 + ts[1]


@register_jitable
def _xgemm(kind, ta, tb, rows, cols, k, alpha, ap, lda, bp, ldb, beta, cp, ldc):
    """Row-major C (rows, cols) = alpha op(A) op(B) + beta C at raw addresses: the column-major
    C^T = op(B)^T op(A)^T (ta, tb: 'N' for a row-major operand, 'T' for a column-major one)."""
    if kind == _D:
        ab = np.empty(2, np.float64)
        ab[0] = alpha
        ab[1] = beta
        _XXGEMM(_D, tb, ta, cols, rows, k, ab[:1].ctypes, _voidptr(bp), ldb, _voidptr(ap), lda,
                ab[1:].ctypes, _voidptr(cp), ldc)
    else:
        ab32 = np.empty(2, np.float32)
        ab32[0] = alpha
        ab32[1] = beta
        _XXGEMM(_S, tb, ta, cols, rows, k, ab32[:1].ctypes, _voidptr(bp), ldb, _voidptr(ap), lda,
                ab32[1:].ctypes, _voidptr(cp), ldc)


@register_jitable
def _gemm_rect(kind, ta, tb, k, alpha, beta, ap, lda, bp, ldb, r0, c0, rows, cols, dp, ldd):
    """Rows [r0, r0+rows) x columns [c0, c0+cols) of the product into dp (leading dim ldd)."""
    isz = 8 if kind == _D else 4
    a0 = ap + r0 * (lda if ta == _N else 1) * isz
    b0 = bp + c0 * (1 if tb == _N else ldb) * isz
    _xgemm(kind, ta, tb, rows, cols, k, alpha, a0, lda, b0, ldb, beta, dp, ldd)


@register_jitable
def _commit(kind, sp, rows, cols, dp, ldd, beta):
    """C chunk = scratch (beta == 0) or scratch + beta * C chunk; scratch is (rows, cols) dense."""
    if rows <= 0 or cols <= 0:
        return
    span = (rows - 1) * ldd + cols
    if kind == _D:
        src = numba.carray(_f64_ptr(sp), rows * cols)
        dst = numba.carray(_f64_ptr(dp), span)
        if beta == 0.0:
            for i in range(rows):
                for j in range(cols):
                    dst[i * ldd + j] = src[i * cols + j]
        else:
            for i in range(rows):
                for j in range(cols):
                    dst[i * ldd + j] = src[i * cols + j] + beta * dst[i * ldd + j]
    else:
        src32 = numba.carray(_f32_ptr(sp), rows * cols)
        dst32 = numba.carray(_f32_ptr(dp), span)
        b32 = np.float32(beta)
        if beta == 0.0:
            for i in range(rows):
                for j in range(cols):
                    dst32[i * ldd + j] = src32[i * cols + j]
        else:
            for i in range(rows):
                for j in range(cols):
                    dst32[i * ldd + j] = src32[i * cols + j] + b32 * dst32[i * ldd + j]


# ---- the helper --------------------------------------------------------------------------------
@register_jitable
def _helper_job(ctl, s, scratch):
    """Claim chunks of job s from the back until none is FREE; returns the (grown) scratch."""
    s8 = s * 8
    # a snapshot of the parameters, taken before any claim: a successful claim CAS certifies it
    kind = atomic_load(ctl, P_KIND)
    ta = atomic_load(ctl, P_TA)
    tb = atomic_load(ctl, P_TB)
    m = atomic_load(ctl, P_M)
    n = atomic_load(ctl, P_N)
    k = atomic_load(ctl, P_K)
    alpha = _bits_f64(atomic_load(ctl, P_ALPHA))
    beta = _bits_f64(atomic_load(ctl, P_BETA))
    ap = atomic_load(ctl, P_AP)
    lda = atomic_load(ctl, P_LDA)
    bp = atomic_load(ctl, P_BP)
    ldb = atomic_load(ctl, P_LDB)
    cp = atomic_load(ctl, P_CP)
    ldc = atomic_load(ctl, P_LDC)
    axis = atomic_load(ctl, P_AXIS)
    nchunk = min(max(atomic_load(ctl, P_NCHUNK), 0), MAXCHUNKS)
    isz = 8 if kind == _D else 4
    for c in range(nchunk - 1, -1, -1):
        st = atomic_load(ctl, STATE + c)
        if (st >> 3) != s:
            break   # a newer job: this snapshot is stale
        if st != s8 + FREE:
            continue
        lo = atomic_load(ctl, BOUNDS + c)
        hi = atomic_load(ctl, BOUNDS + c + 1)
        atomic_store(ctl, INFLIGHT, s)
        _fence()   # INFLIGHT is visible before the claim (quiesce)
        if atomic_cas(ctl, STATE + c, s8 + FREE, s8 + HELPER) != s8 + FREE:
            atomic_store(ctl, INFLIGHT, 0)
            continue
        if axis == 0:
            r0, c0, rows, cols = lo, 0, hi - lo, n
        else:
            r0, c0, rows, cols = 0, lo, m, hi - lo
        need = (rows * cols * isz + 7) // 8
        if scratch.size < need:
            scratch = np.empty(need, np.float64)
        sp = _addr(scratch)
        _gemm_rect(kind, ta, tb, k, alpha, 0.0, ap, lda, bp, ldb, r0, c0, rows, cols, sp, max(cols, 1))
        if atomic_load(ctl, DBG_HOLD) != 0:   # tests: a helper preempted before its commit
            atomic_store(ctl, DBG_HELD, s)
            while True:
                v = atomic_load(ctl, DBG_HOLD)
                if v == 0:
                    break
                _futex_wait(ctl, DBG_HOLD, v)
            atomic_store(ctl, DBG_HELD, 0)
        if atomic_cas(ctl, STATE + c, s8 + HELPER, s8 + COPYING) == s8 + HELPER:
            _commit(kind, sp, rows, cols, cp + (r0 * ldc + c0) * isz, ldc, beta)
            atomic_store(ctl, STATE + c, s8 + DONE)
            atomic_add(ctl, HELPER_DONE, 1)
        atomic_store(ctl, INFLIGHT, 0)
    return scratch


@register_jitable
def _spin(ctl, last, ts):
    """Re-read SEQ for up to SPIN ns; returns the new SEQ, or ``last`` when none came."""
    budget = atomic_load(ctl, SPIN)
    t0 = _now_ns(ts)
    while True:
        for _ in range(64):
            _pause()
            s = atomic_load(ctl, SEQ)
            if s != last:
                return s
        if atomic_load(ctl, STOP) != 0 or _now_ns(ts) - t0 >= budget:
            return last


@numba.njit(**_NJ)
def _helper_loop():
    ctl = control_block()
    scratch = np.empty(1 << 15, np.float64)
    ts = np.zeros(2, np.int64)
    atomic_store(ctl, RUNNING, 1)
    last = atomic_load(ctl, SEQ)
    while atomic_load(ctl, STOP) == 0:
        s = atomic_load(ctl, SEQ)
        if s == last:
            s = _spin(ctl, last, ts)
        if s == last:
            atomic_store(ctl, SLEEPING, 1)
            _fence()   # SLEEPING is visible before SEQ is read again (the poster: the mirror)
            if atomic_load(ctl, SEQ) == last and atomic_load(ctl, STOP) == 0:
                _futex_wait(ctl, SEQ, last)
            atomic_store(ctl, SLEEPING, 0)
            continue
        last = s
        scratch = _helper_job(ctl, s, scratch)
    atomic_store(ctl, RUNNING, 0)


# ---- the main thread ---------------------------------------------------------------------------
@register_jitable
def _split(ctl, kind, ta, tb, m, n, k, alpha, beta, ap, lda, bp, ldb, cp, ldc, axis, nchunk, length):
    """Post a job (the caller holds the job slot), run it with the helper, return when C is done."""
    s = atomic_load(ctl, SEQ) + 1
    s8 = s * 8
    atomic_store(ctl, P_KIND, kind)
    atomic_store(ctl, P_TA, ta)
    atomic_store(ctl, P_TB, tb)
    atomic_store(ctl, P_M, m)
    atomic_store(ctl, P_N, n)
    atomic_store(ctl, P_K, k)
    atomic_store(ctl, P_ALPHA, _f64_bits(alpha))
    atomic_store(ctl, P_BETA, _f64_bits(beta))
    atomic_store(ctl, P_AP, ap)
    atomic_store(ctl, P_LDA, lda)
    atomic_store(ctl, P_BP, bp)
    atomic_store(ctl, P_LDB, ldb)
    atomic_store(ctl, P_CP, cp)
    atomic_store(ctl, P_LDC, ldc)
    atomic_store(ctl, P_AXIS, axis)
    atomic_store(ctl, P_NCHUNK, nchunk)
    blocks = (length + 15) // 16
    for c in range(nchunk):
        if blocks >= nchunk:
            atomic_store(ctl, BOUNDS + c, 16 * ((blocks * c) // nchunk))
        else:
            atomic_store(ctl, BOUNDS + c, (length * c) // nchunk)
    atomic_store(ctl, BOUNDS + nchunk, length)
    for c in range(nchunk):
        atomic_store(ctl, STATE + c, s8 + FREE)
    atomic_store(ctl, SEQ, s)
    _fence()   # SEQ is visible before SLEEPING is read (the helper: the mirror)
    if atomic_load(ctl, SLEEPING) != 0:
        _futex_wake(ctl, SEQ)
    isz = 8 if kind == _D else 4
    mine = 0
    stolen = 0
    c = 0
    while c < nchunk:   # claim from the front
        if atomic_load(ctl, STATE + c) == s8 + FREE and \
                atomic_cas(ctl, STATE + c, s8 + FREE, s8 + MAIN) == s8 + FREE:
            lo = atomic_load(ctl, BOUNDS + c)
            hi = atomic_load(ctl, BOUNDS + c + 1)
            if axis == 0:
                r0, c0, rows, cols = lo, 0, hi - lo, n
            else:
                r0, c0, rows, cols = 0, lo, m, hi - lo
            _gemm_rect(kind, ta, tb, k, alpha, beta, ap, lda, bp, ldb, r0, c0, rows, cols,
                       cp + (r0 * ldc + c0) * isz, ldc)
            mine += 1
        c += 1
    for c in range(nchunk):   # steal what the helper holds, wait for what it copies
        while True:
            st = atomic_load(ctl, STATE + c)
            if st == s8 + HELPER:
                if atomic_cas(ctl, STATE + c, s8 + HELPER, s8 + STOLEN_C) == s8 + HELPER:
                    lo = atomic_load(ctl, BOUNDS + c)
                    hi = atomic_load(ctl, BOUNDS + c + 1)
                    if axis == 0:
                        r0, c0, rows, cols = lo, 0, hi - lo, n
                    else:
                        r0, c0, rows, cols = 0, lo, m, hi - lo
                    _gemm_rect(kind, ta, tb, k, alpha, beta, ap, lda, bp, ldb, r0, c0, rows, cols,
                               cp + (r0 * ldc + c0) * isz, ldc)
                    stolen += 1
                    break
            elif st == s8 + COPYING:
                _pause()
            else:
                break
    atomic_add(ctl, MAIN_DONE, mine)
    atomic_add(ctl, STOLEN, stolen)
    atomic_add(ctl, JOBS, 1)


@register_jitable
def _gemm_raw(kind, ta, tb, m, n, k, alpha, beta, ap, lda, bp, ldb, cp, ldc):
    """Split or direct, for operands already reduced to addresses and BLAS conventions."""
    ctl = control_block()
    macs = m * n * k
    if atomic_load(ctl, MODE) != 0 and atomic_load(ctl, RUNNING) != 0:
        split_min = atomic_load(ctl, SPLIT_MIN_OVR)
        if split_min <= 0:
            split_min = SPLIT_MIN
        if macs >= split_min:
            chunk_min = atomic_load(ctl, CHUNK_MIN_OVR)
            if chunk_min <= 0:
                chunk_min = CHUNK_MIN
            want = atomic_load(ctl, NCHUNK_OVR)
            if want <= 0:
                want = NCHUNKS
            want = min(want, MAXCHUNKS)
            axis = 0 if m >= n else 1
            length = m if axis == 0 else n
            nchunk = min(want, max(1, macs // chunk_min))
            blocks = (length + 15) // 16
            nchunk = min(nchunk, blocks) if blocks >= 2 else min(nchunk, length)
            if nchunk >= 2:
                if atomic_cas(ctl, OWNER, 0, 1) == 0:
                    _split(ctl, kind, ta, tb, m, n, k, alpha, beta, ap, lda, bp, ldb, cp, ldc,
                           axis, nchunk, length)
                    atomic_store(ctl, OWNER, 0)
                    return
                atomic_add(ctl, BUSY, 1)
    _xgemm(kind, ta, tb, m, n, k, alpha, ap, lda, bp, ldb, beta, cp, ldc)


@register_jitable
def _layout(r, c, s0, s1, isz):
    """BLAS view of a 2-D operand (r, c) with byte strides s0, s1: ('N', ld) when rows are
    contiguous, ('T', ld) when columns are, (0, 0) otherwise."""
    if c <= 1 or s1 == isz:
        ld = s0 // isz if r > 1 else max(c, 1)
        if r <= 1 or (s0 > 0 and s0 % isz == 0 and ld >= max(c, 1)):
            return _N, max(ld, c, 1)
    if r <= 1 or s0 == isz:
        ld = s1 // isz if c > 1 else max(r, 1)
        if c <= 1 or (s1 > 0 and s1 % isz == 0 and ld >= max(r, 1)):
            return _T, max(ld, r, 1)
    return 0, 0


@register_jitable
def _elem_load(kind, addr):
    if kind == _D:
        return numba.carray(_f64_ptr(addr), 1)[0]
    return np.float64(numba.carray(_f32_ptr(addr), 1)[0])


@register_jitable
def _elem_store(kind, addr, v):
    if kind == _D:
        numba.carray(_f64_ptr(addr), 1)[0] = v
    else:
        numba.carray(_f32_ptr(addr), 1)[0] = np.float32(v)


@register_jitable
def _strided_copy(kind, src, s0, s1, dst, d0, d1, r, c):
    """Element-wise copy of an (r, c) matrix between raw addresses with byte strides."""
    for i in range(r):
        for j in range(c):
            _elem_store(kind, dst + i * d0 + j * d1, _elem_load(kind, src + i * s0 + j * s1))


@register_jitable
def _gemm_entry(kind, m, n, k, alpha, beta, ap, sa0, sa1, bp, sb0, sb1, cp, sc0, sc1):
    """gemm on addresses and byte strides: compiled once for every layout of the arrays."""
    if m == 0 or n == 0:
        return
    isz = 8 if kind == _D else 4
    if k == 0:   # the product is zero: out = beta * out (beta == 0: zeros, as BLAS)
        for i in range(m):
            for j in range(n):
                q = cp + i * sc0 + j * sc1
                _elem_store(kind, q, 0.0 if beta == 0.0 else _elem_load(kind, q) * beta)
        return
    ta, lda = _layout(m, k, sa0, sa1, isz)
    tb, ldb = _layout(k, n, sb0, sb1, isz)
    tc, ldc = _layout(m, n, sc0, sc1, isz)
    if ta != 0 and tb != 0 and tc == _N:
        _gemm_raw(kind, ta, tb, m, n, k, alpha, beta, ap, lda, bp, ldb, cp, ldc)
        return
    # other layouts: dense copies, one direct call (never split: the copies die on return)
    ac = np.empty((m * k * isz + 7) // 8, np.float64)
    bc = np.empty((k * n * isz + 7) // 8, np.float64)
    oc = np.empty((m * n * isz + 7) // 8, np.float64)
    _strided_copy(kind, ap, sa0, sa1, _addr(ac), k * isz, isz, m, k)
    _strided_copy(kind, bp, sb0, sb1, _addr(bc), n * isz, isz, k, n)
    if beta != 0.0:
        _strided_copy(kind, cp, sc0, sc1, _addr(oc), n * isz, isz, m, n)
    nn = np.int64(_N)
    _xgemm(kind, nn, nn, m, n, k, alpha, _addr(ac), k, _addr(bc), n, beta, _addr(oc), n)
    _strided_copy(kind, _addr(oc), n * isz, isz, cp, sc0, sc1, m, n)


@numba.njit(**_NJ)
def gemm(a, b, out, alpha, beta):
    """out = alpha * a @ b + beta * out for float32/float64 a (m, k), b (k, n), out (m, n).

    a and b: unit stride on axis 1 or on axis 0; out: unit stride on axis 1 (other layouts are
    copied, and never split). beta == 0 ignores out's old values (NaN included), as BLAS does.
    alpha and beta are rounded to the arrays' dtype."""
    kind = _blas_kind(a, b, out)
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or out.shape[0] != m or out.shape[1] != n:
        raise ValueError("gemmsplit.gemm: shapes do not match")
    _gemm_entry(kind, m, n, k, float(alpha), float(beta), _addr(a), a.strides[0], a.strides[1],
                _addr(b), b.strides[0], b.strides[1], _addr(out), out.strides[0], out.strides[1])


# ---- Python side -------------------------------------------------------------------------------
_lock = threading.Lock()
_thread: threading.Thread | None = None
_tid: int | None = None


def available() -> bool:
    """Whether this machine can split: Linux on x86-64 or aarch64 (little-endian, the futex word
    is a slot's low half) and at least two cores this process could run on when it imported
    this module."""
    if not sys.platform.startswith("linux") or sys.byteorder != "little":
        return False
    if platform.machine().lower() not in _SYSNOS:
        return False
    return _CORES >= 2


try:   # taken at import: the thread policy later pins the stepping thread to fewer cores
    _CORES = len(os.sched_getaffinity(0))
except (AttributeError, OSError):
    _CORES = 1


def _wake(slot: int) -> None:
    nr = int(_BLOCK[SYSNO])
    if nr > 0 and _libc is not None:
        _libc.syscall(nr, _ADDR + 8 * slot, _FUTEX_WAKE, 1 << 30, 0, 0, 0)


def _helper_main(ready: threading.Event) -> None:
    global _tid
    _tid = threading.get_native_id()
    ready.set()
    try:
        _helper_loop()
    finally:
        _tid = None


def _start() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        if _BLOCK[STOP] == 0:
            return
        _thread.join(2.0)   # a shutdown still under way
        if _thread.is_alive():
            raise RuntimeError("gemmsplit: the previous helper thread did not stop")
    _BLOCK[STOP] = 0
    ready = threading.Event()
    _thread = threading.Thread(target=_helper_main, args=(ready,), name="gemmsplit-helper",
                               daemon=True)
    _thread.start()
    ready.wait(10.0)
    deadline = time.monotonic() + 120.0   # the first call may compile the loop
    while _BLOCK[RUNNING] == 0 and _thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.001)


def activate(helper_cores=None) -> bool:
    """Start the helper if needed, pin it to ``helper_cores`` when given, and turn the split mode
    on. Returns False (and nothing splits) when ``available()`` is False."""
    if not available():
        deactivate()
        return False
    with _lock:
        _start()
        if helper_cores is not None and _tid is not None:
            os.sched_setaffinity(_tid, helper_cores)
        _BLOCK[MODE] = 1
        HOLDING[0] = True
    return True


def deactivate() -> None:
    """Split mode off: every gemm is one direct call; the helper sleeps after its spin."""
    _BLOCK[MODE] = 0


# Objects (feeds, variables, step buffers) whose memory the helper may still be reading after a
# stolen chunk: ``hold`` keeps them alive until the helper reads no job's inputs. ``HOLDING[0]``
# says whether callers must call it (the mode is on, or something is still held).
HOLDING = [False]
_held: list = []


def hold(*objs) -> None:
    """Called after each compiled step while ``HOLDING[0]``: drops what earlier steps left here
    once the helper is between jobs (it can start reading a job only while its ``gemm`` runs),
    and keeps ``objs`` (this step's operands) until then. Never waits."""
    if _BLOCK[INFLIGHT] == 0:
        _held.clear()
    if _BLOCK[MODE]:
        _held.append(objs)
    elif not _held:
        HOLDING[0] = False


def helper_tid() -> int | None:
    """The helper's native thread id (for ``os.sched_setaffinity``), None when it is not running."""
    return _tid


def shutdown(timeout: float = 2.0) -> None:
    """Stop the helper thread (mode off first; registered with atexit)."""
    global _thread
    with _lock:
        _BLOCK[MODE] = 0
        t = _thread
        if t is None:
            return
        _BLOCK[STOP] = 1
        _BLOCK[DBG_HOLD] = 0
        _wake(DBG_HOLD)
        deadline = time.monotonic() + timeout
        while t.is_alive() and time.monotonic() < deadline:
            _wake(SEQ)   # repeated: a wake may land just before the helper's FUTEX_WAIT
            t.join(0.01)
        if not t.is_alive():
            _thread = None


def stats() -> dict[str, int]:
    """Counts since the process started: chunks the main thread claimed (``main``), chunks the
    helper committed (``helper``), chunks the main thread took back from the helper (``stolen``),
    split GEMMs (``jobs``) and GEMMs made direct because another thread held the job slot
    (``busy``)."""
    return {"main": int(_BLOCK[MAIN_DONE]), "helper": int(_BLOCK[HELPER_DONE]),
            "stolen": int(_BLOCK[STOLEN]), "jobs": int(_BLOCK[JOBS]), "busy": int(_BLOCK[BUSY])}


def override(split_min: int | None = None, chunk_min: int | None = None,
             chunks: int | None = None) -> None:
    """Replace SPLIT_MIN, CHUNK_MIN and NCHUNKS at run time (tests); None restores the constant."""
    _BLOCK[SPLIT_MIN_OVR] = int(split_min or 0)
    _BLOCK[CHUNK_MIN_OVR] = int(chunk_min or 0)
    _BLOCK[NCHUNK_OVR] = int(chunks or 0)


def _debug_hold(on: bool) -> None:
    """Tests: park the helper after it computes a chunk and before its commit (on), or let it go."""
    _BLOCK[DBG_HOLD] = 1 if on else 0
    if not on:
        _wake(DBG_HOLD)


def _after_fork_in_child() -> None:
    global _thread, _tid
    _thread = None
    _tid = None
    for slot in (MODE, RUNNING, STOP, SLEEPING, OWNER, INFLIGHT, DBG_HOLD, DBG_HELD):
        _BLOCK[slot] = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown)
