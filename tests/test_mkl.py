"""MKL as the BLAS behind Numba's np.dot (kernels/cpu/mkl.py): the choice, the hand-over of
Numba's BLAS helpers, and that the rest of the process keeps SciPy's OpenBLAS.

The hand-over binds process-wide state (Numba's helpers bind once per process), so everything
that binds runs in a child process; those tests need the optional ``mkl`` package."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kernels.cpu import mkl

NEEDS_MKL = pytest.mark.skipif(mkl.find() is None, reason="the optional mkl package is not installed "
                               "(pip install 'graphengine[mkl]'); its hand-over is tested where it is")


def _child(code: str, blas: str, **env) -> dict:
    e = dict(os.environ, GRAPHENGINE_BLAS=blas, **env)
    e.pop("KMP_BLOCKTIME", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_choice_reads_graphengine_blas(monkeypatch):
    for v, want in [("", "auto"), ("auto", "auto"), (" OpenBLAS ", "openblas"), ("mkl", "mkl")]:
        monkeypatch.setenv("GRAPHENGINE_BLAS", v)
        assert mkl.choice() == want
    monkeypatch.delenv("GRAPHENGINE_BLAS")
    assert mkl.choice() == "auto"
    monkeypatch.setenv("GRAPHENGINE_BLAS", "atlas")
    with pytest.raises(ValueError, match="GRAPHENGINE_BLAS='atlas': use one of auto, openblas, mkl"):
        mkl.choice()


def test_wanted_follows_the_choice_the_library_and_the_cpu(monkeypatch):
    monkeypatch.setattr(mkl, "find", lambda: "/x/libmkl_rt.so.2")
    monkeypatch.setenv("GRAPHENGINE_BLAS", "openblas")
    assert mkl.wanted() is None
    monkeypatch.setenv("GRAPHENGINE_BLAS", "mkl")
    assert mkl.wanted() == "/x/libmkl_rt.so.2"
    monkeypatch.setenv("GRAPHENGINE_BLAS", "auto")
    monkeypatch.setattr(mkl, "intel_cpu", lambda: True)
    assert mkl.wanted() == "/x/libmkl_rt.so.2"
    monkeypatch.setattr(mkl, "intel_cpu", lambda: False)   # AMD and others: OpenBLAS unless asked
    assert mkl.wanted() is None
    monkeypatch.setattr(mkl, "find", lambda: None)
    monkeypatch.setenv("GRAPHENGINE_BLAS", "auto")
    assert mkl.wanted() is None
    monkeypatch.setenv("GRAPHENGINE_BLAS", "mkl")
    with pytest.raises(RuntimeError,
                       match=r"GRAPHENGINE_BLAS=mkl, but no libmkl_rt was found: pip install 'graphengine\[mkl\]'"):
        mkl.wanted()


_STEP = """
import json, sys, numpy as np, graphengine as ge
from kernels.cpu import blas, mkl, pyblas
from graphengine.runtime import threads
rng = np.random.default_rng(0)
a = rng.standard_normal((64, 48)).astype(np.float32)
w0 = rng.standard_normal((48, 32)).astype(np.float32)
x = ge.placeholder(ge.float32, (None, 48))
w = ge.Variable(w0)
y = ge.matmul(x, w)
loss = ge.reduce_sum(y * y)
train = ge.train.GradientDescentOptimizer(1e-3).minimize(loss)
with ge.Session() as s:
    s.run(ge.global_variables_initializer())
    got = s.run(y, {x: a})
    s.run(train, {x: a})
    w1 = s.run(w)
ref = a.astype(np.float64) @ w0
g = 2 * a.astype(np.float64).T @ (a.astype(np.float64) @ w0)
out = np.zeros((64, 32), np.float32)
assert pyblas.available()
pyblas.MATMUL["matmul_nn"](a, w0, out)   # the interim step's ctypes GEMM
from numba import njit
k = njit(lambda p, q: np.dot(p, q))
mod = sys.modules["scipy.linalg.cython_blas"]
print(json.dumps({
    "backend": blas.backend(), "bound": sorted(mkl.BOUND),
    "err": float(np.abs(got - ref).max() / np.abs(ref).max()),
    "step_err": float(np.abs(w1 - (w0 - 1e-3 * g)).max() / np.abs(w0).max()),
    "interim_same": bool(np.array_equal(out, k(a, w0))),
    "real_module": type(mod).__name__ == "module" and "srot" in mod.__pyx_capi__,
    "mkl_setter": threads.POLICY._setter is mkl.set_num_threads,
    "mkl_loaded": mkl.LIB is not None,
    "kmp_env_left": "KMP_BLOCKTIME" in __import__("os").environ,   # set only while MKL loads
}))
"""


@NEEDS_MKL
def test_mkl_runs_the_gemms_and_scipy_keeps_its_openblas():
    r = _child(_STEP, "mkl")
    assert r["backend"] == "mkl"
    assert r["bound"] == sorted(mkl.NAMES)
    assert r["err"] < 1e-5 and r["step_err"] < 1e-5
    assert r["interim_same"]      # interim (ctypes) and compiled kernels call the same MKL function
    assert r["real_module"]       # sys.modules keeps SciPy's own cython_blas
    assert r["mkl_setter"]        # the thread policy steers MKL's thread count
    assert not r["kmp_env_left"]
    code = ("import json, scipy.linalg, numpy as np, graphengine as ge\n"
            "from kernels.cpu import blas\n"
            "ge.Session().close()\n"
            "a = np.arange(6.0).reshape(2, 3)\n"
            "print(json.dumps({'b': blas.backend(), 'lu': float(scipy.linalg.lu_factor(a @ a.T + np.eye(2))[0][0, 0]),"
            " 'gemm': scipy.linalg.blas.dgemm(1.0, a, a.T).tolist()}))")
    r = _child(code, "mkl")          # scipy.linalg imported first, then the session: still works
    assert r["b"] == "mkl" and r["gemm"] == [[5.0, 14.0], [14.0, 50.0]] and r["lu"] == 14.0   # pivot row [14, 51]


def test_openblas_choice_leaves_mkl_unloaded():
    r = _child(_STEP, "openblas")
    assert r["backend"] == "openblas" and r["bound"] == [] and not r["mkl_loaded"]
    assert r["err"] < 1e-5 and r["step_err"] < 1e-5 and r["interim_same"] and r["real_module"]
    assert not r["mkl_setter"]


@NEEDS_MKL
def test_helpers_numba_bound_before_graphengine_stay_on_openblas():
    """A float32 np.dot compiled and run before the first Session binds Numba's sgemm helper to
    OpenBLAS for the process: MKL then gets only the rest, and backend() says openblas."""
    code = ("import json, numpy as np\nfrom numba import njit\n"
            "a = np.ones((4, 4), np.float32)\nnjit(lambda p, q: np.dot(p, q))(a, a)\n"
            "import graphengine as ge\nfrom kernels.cpu import blas, mkl\nge.Session().close()\n"
            "print(json.dumps({'b': blas.backend(), 'bound': sorted(mkl.BOUND)}))")
    r = _child(code, "mkl")
    assert r["b"] == "openblas"
    assert "sgemm" not in r["bound"] and "dgemm" in r["bound"]


_MT = """
import json, numpy as np
from kernels.cpu.blas import load
load()
from kernels.cpu import blas, omp
from kernels.cpu.optim import adam, momentum, rmsprop
from kernels.cpu.optim_mt import adam_mt, momentum_mt, rmsprop_mt
rng = np.random.default_rng(0)
bad = []
for T in (np.float32, np.float64):
    for n in (100, 32768, 32769, 100003):
        a = [rng.random(n).astype(T) + 0.5 for _ in range(4)]
        a[3][:7] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e30]   # gradients: specials too
        cases = [(rmsprop, rmsprop_mt, 4, (T(1e-3), T(0.9), T(0.1), T(0.5), T(1e-7))),
                 (adam, adam_mt, 4, (T(1e-3), T(0.9), T(0.1), T(0.999), T(0.001), T(1e-7))),
                 (momentum, momentum_mt, 3, (T(0.01), T(0.9), False)),
                 (momentum, momentum_mt, 3, (T(0.01), T(0.9), True))]
        for ser, mt, k, s in cases:
            x = [v.copy() for v in a[:k]]
            y = [v.copy() for v in a[:k]]
            if k == 3:
                x[2], y[2] = a[3].copy(), a[3].copy()
            ser(*x, *s)
            mt(*y, *s)
            if not all(np.array_equal(p, q, equal_nan=True) for p, q in zip(x, y)):
                bad.append(f"{mt.__name__} {T.__name__} n={n}")
print(json.dumps({"backend": blas.backend(), "enabled": omp.enabled(), "bad": bad}))
"""


@NEEDS_MKL
@pytest.mark.parametrize("threads", ["2", "1"])
def test_threaded_updates_give_the_serial_numbers(threads):
    """rmsprop/adam/momentum split over MKL's OpenMP threads: bit for bit the serial kernels
    (float32/64, shares that are not multiples of 16, NaN/inf/zero gradients, below PAR_MIN
    and with one MKL thread: the serial loop)."""
    r = _child(_MT, "mkl", MKL_NUM_THREADS=threads, OMP_NUM_THREADS=threads)
    assert r["backend"] == "mkl" and r["enabled"]
    assert r["bad"] == []


_TRAIN = """
import json, os, numpy as np, graphengine as ge
from graphengine.backends.cpu import background
rng = np.random.default_rng(1)
x0 = rng.random((64, 300)).astype(np.float32)
x = ge.placeholder(ge.float32, (None, 300))
w1 = ge.Variable(rng.standard_normal((300, 200)).astype(np.float32) * 0.05)
w2 = ge.Variable(rng.standard_normal((200, 300)).astype(np.float32) * 0.05)
y = ge.nn.sigmoid(ge.matmul(ge.nn.sigmoid(ge.matmul(x, w1)), w2))
loss = ge.reduce_mean(ge.pow(x - y, 2))
opt = {"rmsprop": ge.train.RMSPropOptimizer(0.01), "adam": ge.train.AdamOptimizer(0.01),
       "momentum": ge.train.MomentumOptimizer(0.01, 0.9, use_nesterov=True)}[os.environ["OPT"]]
train = opt.minimize(loss)
srcs = []
with ge.Session() as s:
    s.run(ge.global_variables_initializer())
    for i in range(6):
        s.run(train, {x: x0})
        if i == 2:
            background.wait_all()
    out = {"w1": s.run(w1).tobytes().hex()[:4000] + str(float(s.run(w1).sum())),
           "w2": float(s.run(w2).sum()), "loss": float(s.run(loss, {x: x0}))}
cache = os.environ["GRAPHENGINE_CACHE_DIR"]
out["mt"] = any("_mt(" in open(os.path.join(cache, f)).read() for f in os.listdir(cache) if f.startswith("_ge_step_"))
print(json.dumps(out))
"""


@NEEDS_MKL
@pytest.mark.parametrize("opt", ["rmsprop", "adam", "momentum"])
def test_a_step_with_threaded_updates_trains_as_the_serial_one(opt, tmp_path):
    """The step generator emits the threaded update for large variables where MKL runs the
    GEMMs; the first steps (the interim step, its Python twins) and the compiled ones then train
    to the same bits as a step with the serial updates."""
    runs = {}
    for mt in ("1", "0"):
        runs[mt] = _child(_TRAIN, "mkl", OPT=opt, GRAPHENGINE_MT_UPDATES=mt, GRAPHENGINE_BACKGROUND_COMPILE="1",
                          GRAPHENGINE_CACHE_DIR=str(tmp_path / f"c{mt}"))
    assert runs["1"]["mt"] and not runs["0"]["mt"]
    assert {k: v for k, v in runs["1"].items() if k != "mt"} == {k: v for k, v in runs["0"].items() if k != "mt"}


def test_the_router_sends_narrow_gemms_to_one_function_and_the_rest_to_the_other():
    """``mkl._router``: Fortran M (the row-major result's columns) <= NARROW with K <= SHORT or
    N <= FEW calls the narrow target (OpenBLAS), anything else the fast one (MKL), every
    argument passed on."""
    import ctypes
    P = ctypes.c_void_p
    proto = ctypes.CFUNCTYPE(None, *[P] * 13)
    seen = []

    def target(tag):
        def f(*args):
            seen.append((tag, ctypes.cast(args[2], ctypes.POINTER(ctypes.c_int))[0],
                         [a for a in args[3:]]))
        return proto(f)
    narrow, fast = target("narrow"), target("fast")
    addr = mkl._router("sgemm", ctypes.cast(fast, P).value, ctypes.cast(narrow, P).value)
    route = proto(addr)
    import itertools
    for m, n, k in itertools.product((1, mkl.NARROW, mkl.NARROW + 1, 784), (1, mkl.FEW, mkl.FEW + 1, 4096),
                                     (1, mkl.SHORT, mkl.SHORT + 1, 4096)):
        mv, nv, kv = ctypes.c_int(m), ctypes.c_int(n), ctypes.c_int(k)
        rest = [P(1000 + i) for i in range(10)]
        rest[0], rest[1] = ctypes.cast(ctypes.pointer(nv), P), ctypes.cast(ctypes.pointer(kv), P)  # N, K
        route(P(1), P(2), ctypes.cast(ctypes.pointer(mv), P), *rest)
        tag, got_m, got_rest = seen.pop()
        want = "narrow" if m <= mkl.NARROW and (k <= mkl.SHORT or n <= mkl.FEW) else "fast"
        assert tag == want and got_m == m
        assert got_rest[2:] == [1002 + i for i in range(8)]
