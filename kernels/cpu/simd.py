"""SIMD-friendly transcendental functions for generated elementwise loops.

Numba lowers ``math.exp`` & co. to scalar libm calls, so a loop such as
``for q in range(n): o[q] = 1 / (1 + math.exp(-x[q]))`` does not vectorize (its SVML route is
gone with current llvmlite). The functions here are branch-free polynomial approximations
(Cephes / fdlibm style: range reduction, polynomial, ``2**n`` built from integer bits by an LLVM
``bitcast``) with special values chosen by selects, so LLVM inlines them into the caller's loop
and vectorizes it (AVX2: 8 float32 or 4 float64 lanes; AVX-512: 16 or 8, see ``vectors``).

A fused loop that calls them is bound by latency, not by instruction count: its iterations are
long dependency chains (a sigmoid, then a gradient's multiplies), and the out-of-order core holds
about two of them at a time. So the polynomials are evaluated in Estrin's form (independent pairs
joined by a few FMAs: the float32 exp is 4 FMAs deep instead of 7, the float64 one 5 instead of
12), the reduction rounds with one conversion to an integer (``llvm.lrint``: ``vcvtps2dq``, which
``2**n`` then uses as it is) instead of a magic-constant add and subtract, and the sigmoid and
softplus call ``exp_neg``, which skips the high clamp that ``e**-|x|`` never needs. A 256x784
bias-add-and-sigmoid loop: 1.21 -> 0.92 ns per element; the autoencoder's loss-to-last-layer
loop: 348 -> 284 us.

Where the loop is throughput-bound instead (a lone ``exp`` over an array), every instruction
counts: the clamps are ``llvm.minnum``/``maxnum`` (one ``vminps``/``vmaxps`` each, NaN going to
the bound as before, instead of compare-and-blend pairs), ``tanh`` inlines an ``expm1`` without
the selects its clamped, non-negative argument never needs, and on AVX-512 ``2**n`` scaling is
``llvm.ldexp`` (one ``vscalefps``, the same correctly rounded result as the two multiplies used
elsewhere). 200k float32, one thread, on an AVX-512 Xeon (with AMX) using 512-bit vectors:
exp 54 -> 40 us, sigmoid 66 -> 55, tanh 97 -> 60; rounding to the integer n once (``lrint``)
instead of ``rint`` plus a conversion for the scaling: exp 40 -> 36 us (a Haswell-feature build
on the same host: 82 -> 77 us).

Call them with a float32 or float64 scalar from any ``@numba.njit`` code; the result has the
argument's dtype (other argument types are a typing error). Every layer is compiled with
``forceinline`` (LLVM ``alwaysinline``), so the whole function lands in the caller's loop body::

    from kernels.cpu.simd import vsigmoid
    @numba.njit
    def f(x, o):
        for q in range(x.size):
            o[q] = vsigmoid(x[q])

Pass scalars of the array's dtype: a float32 element mixed with a Python float literal becomes
float64 and takes the (half as wide) float64 path.

Accuracy against correctly rounded results (tests/test_simd.py sweeps every 1021st float32 bit
pattern plus edge values, and a dense float64 sample): float32 <= 1 ulp for exp, expm1, log, log1p
and <= 2 ulp for tanh, sigmoid, softplus; float64 <= 2 ulp (<= 4e-16 relative for normal
results). Denormal results come from gradual underflow (no flush to zero); special values
(+-inf, NaN, +-0, log of negatives and denormals) match NumPy. Fast-math: only ``contract`` (FMA
fusion), which cannot change NaN/Inf results. ``math.sqrt`` vectorizes as it is (llvm.sqrt), so
there is no vsqrt.

Numba's disk cache of a caller does not see changes to inlined callees: generated sources that
call these functions should embed ``SOURCE_HASH`` so their cache key changes with this file.

>>> import numpy as np
>>> float(vexp(np.float32(1.0)))
2.7182817459106445
>>> vsigmoid(np.float64(-np.inf)), vtanh(np.float32(-0.0)), vlog(np.float64(0.0))
(0.0, -0.0, -inf)
"""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["vexp", "vlog", "vlog1p", "vexpm1", "vtanh", "vsigmoid", "vsoftplus", "SOURCE_HASH"]

SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]

FASTMATH = {"contract"}  # FMA only: no flag that may assume away NaN/Inf or reorder sums
_jit = numba.njit(fastmath=FASTMATH, error_model="numpy", nogil=True, forceinline=True)

# (float type) -> (bit width, mantissa bits, exponent bias)
_LAYOUT = {types.float32: (32, 23, 127), types.float64: (64, 52, 1023)}


@intrinsic
def _scale2(typingctx, p, n):
    """``p * 2**n`` for an int32 or integer-valued float ``n`` (|n| <= 2*emax + mantissa bits), rounded
    once: overflow gives inf, underflow is gradual. ``llvm.ldexp`` (``vscalefps``) where the
    code generator targets AVX-512; elsewhere two exact power-of-two multiplies (LLVM would turn
    a vector ldexp into one libm call per lane there)."""
    if p not in _LAYOUT or n not in (p, types.int32):
        return None
    width, mant, bias = _LAYOUT[p]
    from_int = n == types.int32

    def codegen(context, builder, sig, args):
        pv, nv = args
        i32 = ir.IntType(32)
        ni = nv if from_int else builder.fptosi(nv, i32)
        n1 = builder.ashr(ni, ir.Constant(i32, 1))
        n2 = builder.sub(ni, n1)

        def pow2(k):
            k = builder.add(k, ir.Constant(i32, bias))
            if width == 64:
                k = builder.zext(k, ir.IntType(64))
            k = builder.shl(k, ir.Constant(k.type, mant))
            return builder.bitcast(k, pv.type)

        if "+avx512f" in getattr(context.codegen(), "_tm_features", ""):
            # llvm.ldexp: one vscalefps per vector on AVX-512 (same results: exact scaling,
            # inf on overflow, one gradual-underflow rounding); elsewhere LLVM would make it
            # a libm call per lane, so the two multiplies stay
            nm = f"llvm.ldexp.f{width}.i32"
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(pv.type, [pv.type, i32]), nm)
            return builder.call(fn, [pv, ni])
        return builder.fmul(builder.fmul(pv, pow2(n1)), pow2(n2))

    return p(p, n), codegen


@intrinsic
def _exponent(typingctx, x):
    """Unbiased binary exponent of a positive normal ``x``, as a float of x's type."""
    if x not in _LAYOUT:
        return None
    width, mant, bias = _LAYOUT[x]

    def codegen(context, builder, sig, args):
        it = ir.IntType(width)
        b = builder.lshr(builder.bitcast(args[0], it), ir.Constant(it, mant))
        if width == 64:
            b = builder.trunc(b, ir.IntType(32))
        b = builder.sub(b, ir.Constant(ir.IntType(32), bias))
        return builder.sitofp(b, args[0].type)

    return x(x), codegen


@intrinsic
def _mantissa(typingctx, x):
    """``x`` with its exponent field set to zero: the significand of a normal ``x``, in [1, 2)."""
    if x not in _LAYOUT:
        return None
    width, mant, bias = _LAYOUT[x]

    def codegen(context, builder, sig, args):
        it = ir.IntType(width)
        b = builder.and_(builder.bitcast(args[0], it), ir.Constant(it, (1 << mant) - 1))
        b = builder.or_(b, ir.Constant(it, bias << mant))
        return builder.bitcast(b, args[0].type)

    return x(x), codegen


def _llvm_binary(name: str, doc: str):
    """An intrinsic ``f(x, bound)`` for float scalars of one type, lowered to ``llvm.<name>``."""
    def f(typingctx, x, bound):
        if x not in _LAYOUT or bound != x:
            return None

        def codegen(context, builder, sig, args):
            fty = ir.FunctionType(args[0].type, [args[0].type, args[0].type])
            fn = cgutils.get_or_insert_function(builder.module, fty, f"llvm.{name}.f{_LAYOUT[x][0]}")
            return builder.call(fn, list(args))

        return x(x, bound), codegen

    f.__name__ = f.__qualname__ = f"_{name}"
    f.__doc__ = doc
    return intrinsic(f)


# a NaN x gives the bound (as the compare-and-select clamps did), in one vminps/vmaxps
_minnum = _llvm_binary("minnum", "min(x, hi), NaN -> hi (llvm.minnum: vminps).")
_maxnum = _llvm_binary("maxnum", "max(x, lo), NaN -> lo (llvm.maxnum: vmaxps).")


@intrinsic
def _lrint(typingctx, x):
    """x rounded to the nearest integer (ties to even), as an int32 (llvm.lrint: vcvtps2dq)."""
    if x not in _LAYOUT:
        return None

    def codegen(context, builder, sig, args):
        fty = ir.FunctionType(ir.IntType(32), [args[0].type])
        fn = cgutils.get_or_insert_function(builder.module, fty, f"llvm.lrint.i32.f{_LAYOUT[x][0]}")
        return builder.call(fn, list(args))

    return types.int32(x), codegen


# ---- polynomials on the reduced argument, one per dtype ------------------------------------
_F32 = np.float32


@_jit
def _expm1_poly_f32(r):
    """expm1(r) for |r| <= ln2/2 (Cephes expf coefficients), evaluated in Estrin's form: three
    independent pairs joined by two FMAs, so the dependency chain is 4 FMAs deep instead of 7 and
    a fused loop keeps more iterations in flight."""
    r2 = r * r
    a = _F32(5.0000001201e-1) + _F32(1.6666665459e-1) * r
    b = _F32(4.1665795894e-2) + _F32(8.3334519073e-3) * r
    c = _F32(1.3981999507e-3) + _F32(1.9875691500e-4) * r
    p = a + r2 * (b + r2 * c)
    return p * r2 + r


_EXP64_Q = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))  # Taylor, degree 13: 4e-18 tail


@_jit
def _expm1_poly_f64(r):
    """expm1(r) for |r| <= ln2/2 (Taylor series to degree 13), in Estrin's form (pairs, then
    pairs of pairs in r**2, r**4, r**8: 5 multiply-add levels instead of 12)."""
    c = _EXP64_Q  # 1/13!, 1/12!, ..., 1/2!
    r2 = r * r
    r4 = r2 * r2
    p01 = c[11] + c[10] * r   # 1/2! + r/3!
    p23 = c[9] + c[8] * r
    p45 = c[7] + c[6] * r
    p67 = c[5] + c[4] * r
    p89 = c[3] + c[2] * r
    pab = c[1] + c[0] * r     # 1/12! + r/13!
    q0 = p01 + r2 * p23
    q1 = p45 + r2 * p67
    q2 = p89 + r2 * pab
    p = q0 + r4 * (q1 + r4 * q2)
    return p * r2 + r


@_jit
def _log_poly_f32(f, e):
    """log(1 + f) + e*ln2 for f in [sqrt(1/2) - 1, sqrt(2) - 1] (Cephes logf)."""
    z = f * f
    y = _F32(7.0376836292e-2)
    y = y * f + _F32(-1.1514610310e-1)
    y = y * f + _F32(1.1676998740e-1)
    y = y * f + _F32(-1.2420140846e-1)
    y = y * f + _F32(1.4249322787e-1)
    y = y * f + _F32(-1.6668057665e-1)
    y = y * f + _F32(2.0000714765e-1)
    y = y * f + _F32(-2.4999993993e-1)
    y = y * f + _F32(3.3333331174e-1)
    y = y * f * z
    y = y + _F32(-2.12194440e-4) * e
    y = y + _F32(-0.5) * z
    return (f + y) + _F32(0.693359375) * e


@_jit
def _log_poly_f64(f, e):
    """log(1 + f) + e*ln2 for f in [sqrt(1/2) - 1, sqrt(2) - 1] (fdlibm e_log.c)."""
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01))
    t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
                                               + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01)))
    r = t1 + t2
    hfsq = 0.5 * f * f
    return e * 6.93147180369123816490e-01 - ((hfsq - (s * (hfsq + r) + e * 1.90821492927058770002e-10)) - f)


# ---- the functions, written once over the dtype's constants ---------------------------------
def _family(ft, expm1_poly, log_poly, exp_lo, exp_hi, exp_big, tanh_cl, c1, c2):
    """Compile the function family for one float type (constants frozen in that type)."""
    F = ft
    ZERO, ONE, TWO, HALF = F(0), F(1), F(2), F(0.5)
    INF, NINF, NAN = F(np.inf), F(-np.inf), F(np.nan)
    LOG2E, LN2HI, LN2LO = F(1.4426950408889634), F(c1), F(c2)
    finfo = np.finfo(ft)
    LO, HI, BIG, TCL = F(exp_lo), F(exp_hi), F(exp_big), F(tanh_cl)
    TINY = F(finfo.smallest_normal)
    UNSUB = F(2.0 ** (finfo.nmant + 1))
    NUNSUB = F(-(finfo.nmant + 1))
    SQRT2 = F(math.sqrt(2.0))

    @_jit
    def reduce(x):
        """(n, r) with x = n*ln2 + r, |r| <= ln2/2, x clamped so that 2**n scales stay finite
        (NaN and +inf go to HI, -inf to LO)."""
        return split(_maxnum(_minnum(x, HI), LO))

    @_jit
    def split(xc):
        """(n, r) with xc = n*ln2 + r for an already clamped xc."""
        ni = _lrint(xc * LOG2E)  # vcvtps2dq: the integer, rounded to nearest
        n = F(ni)
        r = xc - n * LN2HI
        r = r - n * LN2LO
        return ni, r

    @_jit
    def exp_neg(t):
        """e**t for t <= 0 or NaN (the sigmoid's and softplus's e**-|x|): only the low clamp;
        a NaN goes to LO, and the caller returns its own NaN."""
        n, r = split(_maxnum(t, LO))
        return _scale2(expm1_poly(r) + ONE, n)

    @_jit
    def exp(x):
        n, r = reduce(x)
        y = _scale2(expm1_poly(r) + ONE, n)
        return y if x == x else x

    @_jit
    def expm1(x):
        n, r = reduce(x)
        p = expm1_poly(r)
        s = _scale2(ONE, n)
        y = p * s + (s - ONE)
        y = _scale2(p + ONE, n) if x > BIG else y  # 2**n - 1 == 2**n there; 2**n itself may overflow
        y = x if x == ZERO else y  # -0
        return y if x == x else x

    @_jit
    def log(x):
        sub = x < TINY
        xs = x * UNSUB if sub else x
        m = _mantissa(xs)
        e = _exponent(xs) + (NUNSUB if sub else ZERO)
        big = m > SQRT2
        m = m * HALF if big else m
        e = e + ONE if big else e
        y = log_poly(m - ONE, e)
        y = NINF if x == ZERO else y
        y = NAN if x < ZERO else y
        return y if x < INF else x

    @_jit
    def log1p(x):
        u = ONE + x
        d = u - ONE
        lu = log(u)
        c = (x - d) / u  # rounding error of 1 + x, to first order
        y = lu + c if (u > ZERO and u < INF) else lu
        return x if u == ONE else y

    @_jit
    def tanh(x):
        a = abs(x)
        # e**2a - 1 for 2a in [0, 2*TCL] (NaN -> 2*TCL, fixed below): no overflow, no -0,
        # so expm1's selects drop out
        n, r = split(_minnum(a + a, TCL + TCL))
        p = expm1_poly(r)
        s = _scale2(ONE, n)
        t = p * s + (s - ONE)
        y = math.copysign(t / (t + TWO), x)
        return y if x == x else x

    @_jit
    def sigmoid(x):
        e = exp_neg(-abs(x))
        num = ONE if x >= ZERO else e
        y = num / (ONE + e)
        return y if x == x else x

    @_jit
    def softplus(x):
        e = exp_neg(-abs(x))
        m = x if x > ZERO else ZERO
        y = m + log1p(e)
        return y if x == x else x

    return dict(exp=exp, expm1=expm1, log=log, log1p=log1p, tanh=tanh, sigmoid=sigmoid, softplus=softplus)


_FAMILIES = {
    types.float32: _family(np.float32, _expm1_poly_f32, _log_poly_f32, -104.0, 89.0, 18.0, 10.0,
                           0.693359375, -2.12194440e-4),
    types.float64: _family(np.float64, _expm1_poly_f64, _log_poly_f64, -746.0, 710.0, 38.0, 20.0,
                           6.93145751953125e-1, 1.42860682030941723212e-6),
}


def _public(name: str, doc: str):
    """A jitted generic ``v<name>(x)`` dispatching on x's float type to the inlined family member."""
    def dispatch(x):
        raise NotImplementedError  # only reached through the overload below

    @overload(dispatch, jit_options=dict(fastmath=FASTMATH, error_model="numpy", forceinline=True))
    def _ov(x):
        fam = _FAMILIES.get(x)
        if fam is None:
            return None
        impl = fam[name]
        return lambda x: impl(x)

    def v(x):
        return dispatch(x)

    v.__name__ = v.__qualname__ = f"v{name}"
    v.__doc__ = doc
    return _jit(v)


vexp = _public("exp", "e**x.")
vexpm1 = _public("expm1", "e**x - 1, accurate near 0.")
vlog = _public("log", "Natural logarithm (log(0) = -inf, log(x < 0) = nan).")
vlog1p = _public("log1p", "log(1 + x), accurate near 0.")
vtanh = _public("tanh", "Hyperbolic tangent, saturating to +-1.")
vsigmoid = _public("sigmoid", "1 / (1 + e**-x), without overflow; denormal results for x < -87 (float32).")
vsoftplus = _public("softplus", "max(x, 0) + log1p(e**-|x|): log(1 + e**x) without overflow, exact for large |x|.")
