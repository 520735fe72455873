"""kernels.cpu.simd: accuracy against NumPy over the full range, special values, vectorized loops.

float32 results are compared with NumPy in float64 rounded to float32 (correctly rounded but for
rare double roundings), over a sweep of every 1021st float32 bit pattern (all exponents, both
signs, denormals) plus edge values; float64 results with NumPy in long double where the platform
has one. Each (function, dtype) loop is compiled once per session.
"""
import doctest
import functools
import re

import numba
import numpy as np
import pytest
from llvmlite import binding as llvm

from kernels.cpu import simd

NAMES = ["exp", "expm1", "log", "log1p", "tanh", "sigmoid", "softplus"]
F32_ULP = dict(exp=1, expm1=1, log=1, log1p=1, tanh=2, sigmoid=2, softplus=2)
F64_REL = 1e-15  # normal results; denormal results within F64_ULP


@functools.cache
def loop(name):
    f = getattr(simd, "v" + name)

    @numba.njit
    def run(x, o):
        for q in range(x.size):
            o[q] = f(x[q])

    return run


def apply(name, x):
    o = np.empty_like(x)
    loop(name)(x, o)
    return o


def reference(name, x):
    """NumPy, in x's (wider) dtype."""
    with np.errstate(all="ignore"):
        if name == "sigmoid":
            e = np.exp(-np.abs(x))
            return np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if name == "softplus":
            return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
        return getattr(np, name)(x)


def ordered(a):
    """Float bit patterns as integers that count ulps across zero (+0 and -0 both map to 0)."""
    it = np.int32 if a.dtype == np.float32 else np.int64
    i = a.view(it).astype(np.int64)
    mag = i & np.int64(np.iinfo(it).max)
    return np.where(i < 0, -mag, mag)


def ulps(got, want):
    d = np.abs(ordered(got) - ordered(want))
    d[np.isnan(got) & np.isnan(want)] = 0
    d[np.isnan(got) != np.isnan(want)] = np.iinfo(np.int64).max
    return d


EDGES32 = np.float32([
    0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754942e-38, 1.1754944e-38, -1.1754944e-38,
    3.4028235e38, -3.4028235e38, 1.0, -1.0, 0.5, 2.0, 1e-30, -1e-30, 5.9604645e-08, -5.9604645e-08,
    88.0, 88.72283, 88.72284, 89.0, -87.33654, -87.33655, -103.27893, -103.972084, -103.97208, -104.0,
    -0.99999994, -1.0000001, 9.0, 9.1, 17.0, 18.0, 0.625, 0.34657359, -0.34657359,
])
SWEEP32 = np.concatenate([np.arange(0, 2**32, 1021, dtype=np.uint64).astype(np.uint32).view(np.float32), EDGES32])


def _sample64():
    rng = np.random.default_rng(0)
    n = 100_000
    return np.concatenate([
        rng.standard_normal(n) * 3,
        rng.uniform(-750, 750, n),
        np.exp(rng.uniform(-745, 709, n)) * rng.choice([-1.0, 1.0], n),
        rng.integers(0, 2**64 - 1, n, dtype=np.uint64).view(np.float64),  # every exponent, NaNs
        [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
         709.782712893384, 709.7827128933841, -708.3964185322641, -745.1332191019411, -745.1332191019412,
         -1.0, -0.9999999999999999, 1e-300, -1e-300, 1.1102230246251565e-16, 19.0, 20.0, 38.0],
    ])


SAMPLE64 = _sample64()
HAVE_LONGDOUBLE = np.finfo(np.longdouble).eps < np.finfo(np.float64).eps
F64_ULP = 2 if HAVE_LONGDOUBLE else 3  # else the reference itself is NumPy's float64 (<= 1 ulp)


@pytest.mark.parametrize("name", NAMES)
def test_float32_within_2ulp_full_range(name):
    got = apply(name, SWEEP32)
    want = reference(name, SWEEP32.astype(np.float64))
    with np.errstate(all="ignore"):
        want = want.astype(np.float32)
    d = ulps(got, want)
    k = int(np.argmax(d))
    assert d[k] <= F32_ULP[name], f"v{name}({SWEEP32[k]!r}) = {got[k]!r}, want {want[k]!r}: {d[k]} ulp"


@pytest.mark.parametrize("name", NAMES)
def test_float64_relative_error(name):
    got = apply(name, SAMPLE64)
    want = reference(name, SAMPLE64.astype(np.longdouble)) if HAVE_LONGDOUBLE else reference(name, SAMPLE64)
    with np.errstate(all="ignore"):
        want64 = want.astype(np.float64)
        rel = np.abs((got.astype(want.dtype) - want) / want).astype(np.float64)
    rel[(got == want64) | (np.isnan(got) & np.isnan(want64))] = 0
    normal = np.abs(want64) >= np.finfo(np.float64).smallest_normal
    assert not np.isnan(rel[normal]).any()
    k = int(np.argmax(np.where(normal, rel, 0)))
    assert rel[k] <= F64_REL, f"v{name}({SAMPLE64[k]!r}) = {got[k]!r}, want {want64[k]!r}: rel {rel[k]:.3g}"
    d = ulps(got, want64)
    assert d.max() <= F64_ULP, f"v{name}({SAMPLE64[int(np.argmax(d))]!r}): {d.max()} ulp"


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, -2.0, 1e300, -1e300]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_special_values_as_numpy(name, dtype):
    x = np.array(SPECIALS, dtype=dtype)  # +-1e300 are +-inf in float32
    got = apply(name, x)
    want = reference(name, x)
    for xi, g, w in zip(x, got, want):
        if np.isinf(w) or w == 0 or np.isnan(w):
            assert (np.isnan(g) and np.isnan(w)) or (g == w and np.signbit(g) == np.signbit(w)), (name, xi, g, w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradual_underflow(dtype):
    tiny = np.finfo(dtype).smallest_normal
    x = np.array([-100.0, -102.0, -103.5] if dtype == np.float32 else [-709.0, -730.0, -744.5], dtype)
    want = np.exp(x.astype(np.longdouble)).astype(dtype)
    assert (want < tiny).all() and (want > 0).all()
    for name in ("exp", "sigmoid", "softplus"):
        np.testing.assert_array_max_ulp(apply(name, x), want, maxulp=1)
    sub = np.array([tiny / 3, tiny / 1000, np.finfo(dtype).smallest_subnormal], dtype)
    np.testing.assert_array_max_ulp(apply("log", sub), np.log(sub.astype(np.longdouble)).astype(dtype), maxulp=1)


def test_saturation_and_large_arguments():
    for dtype, big in ((np.float32, [30.0, 50.0, 88.0, 1e30]), (np.float64, [40.0, 100.0, 700.0, 1e300])):
        big = np.array(big, dtype)
        assert (apply("tanh", big) == 1).all() and (apply("tanh", -big) == -1).all()
        assert (apply("sigmoid", big) == 1).all()
        assert (apply("softplus", big) == big).all()  # exact: log1p(e**-x) vanishes beside x
        assert (apply("expm1", -big) == -1).all()


@functools.cache
def _avx2():
    features = llvm.get_host_cpu_features()
    return features.get("avx2", False) and features.get("fma", False)


@pytest.mark.parametrize("dtype, suffix", [(np.float32, "ps"), (np.float64, "pd")])
@pytest.mark.parametrize("name", NAMES)
def test_loop_vectorizes(name, dtype, suffix):
    if not _avx2():
        pytest.skip("host CPU lacks AVX2+FMA: packed-instruction check is for x86-64 AVX2 hosts")
    run = loop(name)
    run(np.ones(8, dtype), np.empty(8, dtype))
    sig = [s for s in run.signatures if s[0].dtype == numba.from_dtype(dtype)][0]
    asm = run.inspect_asm(sig)
    fma = re.findall(rf"\bvfn?m(?:add|sub)\d+{suffix}\s[^\n]*[yz]mm", asm)
    mul = re.findall(rf"\bvmul{suffix}\s[^\n]*[yz]mm", asm)
    assert fma and mul, f"v{name} loop over {np.dtype(dtype).name} has no packed ymm/zmm FMA/multiply"


def test_math_sqrt_vectorizes_as_is():
    """No vsqrt is needed: Numba lowers math.sqrt to llvm.sqrt, which LLVM vectorizes."""
    if not _avx2():
        pytest.skip("host CPU lacks AVX2+FMA")
    import math

    @numba.njit
    def run(x, o):
        for q in range(x.size):
            o[q] = math.sqrt(x[q])

    x = np.float32([4.0] * 8)
    run(x, np.empty_like(x))
    assert re.search(r"\bvsqrtps\s[^\n]*[yz]mm", run.inspect_asm(run.signatures[0]))


def test_docstring_examples():
    assert doctest.testmod(simd).failed == 0


# ---- the AVX-512 paths: full-width vectors (kernels.cpu.vectors) and _scale2's vscalefps ----
@functools.cache
def _avx512():
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


_CHILD = r"""
import sys, json
import numpy as np
import numba
import kernels.cpu  # applies kernels.cpu.vectors first, as the package does
from kernels.cpu import simd, vectors

def make(f):
    @numba.njit
    def run(x, o):
        for q in range(x.size):
            o[q] = f(x[q])
    return run

names, x32, x64, out = sys.argv[1].split(","), np.load(sys.argv[2]), np.load(sys.argv[3]), sys.argv[4]
res, asm = {}, ""
for name in names:
    run = make(getattr(simd, "v" + name))
    for x in (x32, x64):
        o = np.empty_like(x)
        run(x, o)
        res[f"{name}_{x.dtype.name}"] = o
    if name == "exp":
        asm = run.inspect_asm(run.signatures[0])
np.savez(out, **res)
print(json.dumps({"zmm": "zmm" in asm, "vscalef": "vscalefps" in asm,
                  "features": vectors.active_features()}))
"""

# Haswell's features: AVX2 + FMA, no AVX-512 (the two-multiply _scale2, 256-bit vectors)
_HASWELL = ("+avx,+avx2,+fma,+f16c,+bmi,+bmi2,+lzcnt,+movbe,+popcnt,+sse4.2,+sse4.1,+ssse3,+sse3,"
            "+sse2,+sse,+cx16,+fsgsbase,+rdrnd,+xsave,+xsaveopt")


def _child(tmp_path, env_extra, names=("exp",)):
    import json
    import os
    import subprocess
    import sys
    x32, x64 = tmp_path / "x32.npy", tmp_path / "x64.npy"
    np.save(x32, SWEEP32)
    np.save(x64, SAMPLE64)
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "GRAPHENGINE_WIDE_VECTORS")}
    env.update(env_extra)
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = tmp_path / "out.npz"
    p = subprocess.run([sys.executable, "-c", _CHILD, ",".join(names), str(x32), str(x64), str(out)],
                       env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1]), np.load(out)


def test_avx512_hosts_get_full_width_loops_and_vscalef(tmp_path):
    if not _avx512():
        pytest.skip("host CPU has no AVX-512: loops keep the host's (256-bit or narrower) width")
    info, _ = _child(tmp_path, {})
    assert "-prefer-256-bit" in info["features"]
    assert info["zmm"] and info["vscalef"], info
    off, _ = _child(tmp_path, {"GRAPHENGINE_WIDE_VECTORS": "0"})
    assert "-prefer-256-bit" not in off["features"] and not off["zmm"], off


def test_two_multiply_scale_path_is_as_accurate(tmp_path):
    """The _scale2 of hosts without AVX-512 (two exact power-of-two multiplies) meets the same
    bounds as the vscalefps one: on an AVX-512 host, a child compiles for Haswell's features
    (which also shows that a user's NUMBA_CPU_NAME/NUMBA_CPU_FEATURES are left alone)."""
    if not _avx512():
        pytest.skip("host CPU has no AVX-512: the in-process tests above already run the "
                    "two-multiply path")
    info, res = _child(tmp_path, {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": _HASWELL},
                       names=NAMES)
    assert info["features"] == _HASWELL and not info["zmm"] and not info["vscalef"], info
    for name in NAMES:
        with np.errstate(all="ignore"):
            want32 = reference(name, SWEEP32.astype(np.float64)).astype(np.float32)
        d = ulps(res[f"{name}_float32"], want32)
        assert d.max() <= F32_ULP[name], f"v{name} (Haswell build): {d.max()} ulp at {SWEEP32[int(np.argmax(d))]!r}"
        want64 = reference(name, SAMPLE64.astype(np.longdouble) if HAVE_LONGDOUBLE else SAMPLE64)
        with np.errstate(all="ignore"):
            d64 = ulps(res[f"{name}_float64"], want64.astype(np.float64))
        assert d64.max() <= F64_ULP, f"v{name} float64 (Haswell build): {d64.max()} ulp"


def test_configure_leaves_numba_alone_when_told_or_too_late(monkeypatch):
    from numba.core import config

    from kernels.cpu import vectors
    saved = dict(vectors._STATE)
    before = config.CPU_FEATURES
    try:
        monkeypatch.setenv("GRAPHENGINE_WIDE_VECTORS", "0")
        vectors._STATE.update(done=False, applied=None)
        assert vectors.configure() is None and config.CPU_FEATURES == before
        monkeypatch.delenv("GRAPHENGINE_WIDE_VECTORS")
        monkeypatch.setenv("NUMBA_CPU_NAME", "haswell")
        vectors._STATE.update(done=False, applied=None)
        assert vectors.configure() is None and config.CPU_FEATURES == before
        monkeypatch.delenv("NUMBA_CPU_NAME")
        apply("exp", np.ones(4, np.float32))  # Numba's code generator exists from here on
        monkeypatch.setattr(config, "CPU_FEATURES", None)   # as if nothing had set it
        vectors._STATE.update(done=False, applied=None)
        assert vectors.configure() is None and config.CPU_FEATURES is None
    finally:
        vectors._STATE.clear()
        vectors._STATE.update(saved)
