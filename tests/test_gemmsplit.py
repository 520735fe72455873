"""kernels.cpu.gemmsplit: the GEMM the stepping thread shares with a helper thread.

Small GEMMs, forced to split through the control block's overrides; no timing assertions."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

if not sys.platform.startswith("linux"):
    pytest.skip("the split GEMM is Linux-only (futex, per-thread affinity)", allow_module_level=True)

import numba  # noqa: E402

from kernels.cpu import gemmsplit as gs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(37, 53, 29), (70, 20, 33)]   # split along n, then along m; neither a multiple of 16
TOL = {np.float64: 1e-10, np.float32: 1e-4}


@pytest.fixture(scope="module", autouse=True)
def _stop_helper_after_module():
    yield
    gs._debug_hold(False)
    gs.override()
    gs.shutdown()


@pytest.fixture
def split():
    """Split mode on, every GEMM (of two or more 16-wide blocks) split."""
    if not gs.available():
        pytest.skip("fewer than 2 cores allowed: nothing splits here")
    assert gs.activate()
    gs.override(split_min=1, chunk_min=1)
    assert gs.split_active()
    yield
    gs._debug_hold(False)
    gs.override()
    gs.deactivate()


def _operands(rng, dtype, m, n, k, ta, tb):
    a = rng.standard_normal((k, m)).astype(dtype).T if ta else rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T if tb else rng.standard_normal((k, n)).astype(dtype)
    return a, b


def _check_all_cases():
    rng = np.random.default_rng(1)
    for dtype in (np.float64, np.float32):
        for ta in (False, True):
            for tb in (False, True):
                for m, n, k in SHAPES:
                    a, b = _operands(rng, dtype, m, n, k, ta, tb)
                    assert a.flags.c_contiguous != ta and b.flags.c_contiguous != tb
                    for alpha in (1.0, -0.01):
                        for beta in (0.0, 1.0):
                            out0 = rng.standard_normal((m, n)).astype(dtype)
                            if beta == 0.0:
                                out0[0, 0] = np.nan   # beta == 0 ignores out
                            out = out0.copy()
                            gs.gemm(a, b, out, alpha, beta)
                            want = alpha * (a.astype(np.float64) @ b.astype(np.float64))
                            if beta != 0.0:
                                want += beta * out0.astype(np.float64)
                            tol = TOL[dtype]
                            np.testing.assert_allclose(out, want, rtol=tol, atol=tol,
                                                       err_msg=f"{dtype} ta={ta} tb={tb} {m}x{n}x{k} "
                                                               f"alpha={alpha} beta={beta}")


def _check_empty():
    for dtype in (np.float64, np.float32):
        out = np.full((5, 7), 3.0, dtype)
        gs.gemm(np.ones((5, 0), dtype), np.ones((0, 7), dtype), out, 1.0, 2.0)
        assert (out == 6.0).all()
        out[0, 0] = np.nan
        gs.gemm(np.ones((5, 0), dtype), np.ones((0, 7), dtype), out, 1.0, 0.0)
        assert (out == 0.0).all()
        gs.gemm(np.ones((0, 4), dtype), np.ones((4, 7), dtype), np.empty((0, 7), dtype), 1.0, 1.0)
        out = np.full((3, 0), 1.0, dtype)
        gs.gemm(np.ones((3, 4), dtype), np.ones((4, 0), dtype), out, 1.0, 1.0)


def test_gemm_matches_numpy_mode_off():
    gs.deactivate()
    before = gs.stats()["jobs"]
    _check_all_cases()
    _check_empty()
    assert gs.stats()["jobs"] == before


def test_gemm_matches_numpy_split(split):
    before = gs.stats()["jobs"]
    _check_all_cases()
    _check_empty()
    assert gs.stats()["jobs"] > before   # they did split


def test_other_layouts_are_copied(split):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((40, 30))[:, ::-1]         # negative stride
    b = rng.standard_normal((60, 50))[::2, ::2]        # no unit stride
    out0 = rng.standard_normal((25, 40))
    out = out0.copy().T                                # out with unit stride on axis 0
    gs.gemm(a, b, out, 0.5, 2.0)
    np.testing.assert_allclose(out, 0.5 * a @ b + 2.0 * out0.T, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError):
        gs.gemm(a, b[:, :3], out, 1.0, 0.0)


@numba.njit
def _atomics(x):
    r0 = gs.atomic_cas(x, 1, 0, 5)    # swaps
    r1 = gs.atomic_cas(x, 1, 0, 7)    # does not
    gs.atomic_store(x, 2, 9)
    r2 = gs.atomic_add(x, 2, 4)
    return r0, r1, r2, gs.atomic_load(x, 2), gs.atomic_load(x, 1)


def test_atomics():
    x = np.zeros(4, np.int64)
    assert _atomics(x) == (0, 5, 9, 13, 5)
    assert list(x) == [0, 5, 13, 0]


def test_both_threads_compute_chunks(split):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((192, 96))
    b = rng.standard_normal((96, 160))
    out = np.empty((192, 160))
    before = gs.stats()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        for _ in range(20):
            gs.gemm(a, b, out, 1.0, 0.0)
        now = gs.stats()
        if now["helper"] > before["helper"] and now["main"] > before["main"]:
            break
    assert now["main"] > before["main"] and now["helper"] > before["helper"], now
    np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)


def test_stolen_chunk_is_never_written(split):
    rng = np.random.default_rng(4)
    m, n, k = 128, 96, 64
    a = rng.standard_normal((m, k))
    b = rng.standard_normal((k, n))
    out = np.empty((m, n))
    blk = gs.block()
    before = gs.stats()
    gs._debug_hold(True)   # the helper parks after computing a chunk, before its commit
    try:
        deadline = time.monotonic() + 10.0
        while blk[gs.DBG_HELD] == 0 and time.monotonic() < deadline:
            out[:] = 1.0      # one buffer throughout: a late commit would land here
            gs.gemm(a, b, out, 1.0, 1.0)
            np.testing.assert_allclose(out, a @ b + 1.0, rtol=1e-10, atol=1e-10)
        assert blk[gs.DBG_HELD] != 0, "the helper never claimed a chunk"
        assert gs.stats()["stolen"] > before["stolen"]
        # the caller may overwrite the inputs as soon as gemm returns
        a[:] = rng.standard_normal((m, k))
        b[:] = rng.standard_normal((k, n))
        snapshot = out.copy()
    finally:
        gs._debug_hold(False)
    deadline = time.monotonic() + 5.0
    while (blk[gs.DBG_HELD] != 0 or blk[gs.INFLIGHT] != 0) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert blk[gs.DBG_HELD] == 0 and blk[gs.INFLIGHT] == 0
    gs.quiesce()
    assert np.array_equal(out, snapshot)   # the resumed helper's commit CAS failed
    out[:] = 1.0
    gs.gemm(a, b, out, 1.0, 1.0)
    np.testing.assert_allclose(out, a @ b + 1.0, rtol=1e-10, atol=1e-10)


def _cpu_seconds(tid: int) -> float:
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


def test_helper_pins_and_sleeps_when_idle(split):
    cores = os.sched_getaffinity(0)
    assert gs.activate(helper_cores=cores)
    tid = gs.helper_tid()
    assert tid is not None and os.sched_getaffinity(tid) == cores
    rng = np.random.default_rng(5)
    a = rng.standard_normal((64, 64))
    out = np.empty((64, 64))
    for _ in range(50):
        gs.gemm(a, a, out, 1.0, 0.0)
    gs.deactivate()
    assert not gs.split_active()
    time.sleep(0.3)
    c0, t0 = _cpu_seconds(tid), time.monotonic()
    time.sleep(0.5)
    c1, t1 = _cpu_seconds(tid), time.monotonic()
    assert c1 - c0 < 0.2 * (t1 - t0), (c1 - c0, t1 - t0)


def test_shutdown_and_restart(split):
    gs.shutdown()
    assert gs.helper_tid() is None and not gs.split_active()
    assert gs.block()[gs.RUNNING] == 0
    assert gs.activate() and gs.split_active() and gs.helper_tid() is not None
    gs.override(split_min=1, chunk_min=1)
    a = np.arange(48.0 * 40).reshape(48, 40) / 1000
    out = np.empty((48, 48))
    gs.gemm(a, a.T, out, 1.0, 0.0)
    np.testing.assert_allclose(out, a @ a.T, rtol=1e-12)


def test_unavailable_never_splits(monkeypatch):
    monkeypatch.setattr(gs, "available", lambda: False)
    gs.override(split_min=1, chunk_min=1)
    try:
        assert gs.activate() is False
        assert not gs.split_active()
        before = gs.stats()
        _check_all_cases()
        assert gs.stats() == before
    finally:
        gs.override()


CACHE_SCRIPT = """
import sys

import numba

from kernels.cpu import gemmsplit as gs


@numba.njit(cache=True)
def touch(v):
    ctl = gs.control_block()
    old = ctl[gs.TEST]
    ctl[gs.TEST + 1] = v
    return old


blk = gs.block()
v = int(sys.argv[1])
blk[gs.TEST] = v
old = touch(3 * v)
print(old, int(blk[gs.TEST + 1]), sum(touch.stats.cache_hits.values()), gs._ADDR,
      int(gs.split_active()), sum(gs.split_active.stats.cache_hits.values()))
"""


def test_block_resolves_from_the_disk_cache(tmp_path):
    script = tmp_path / "touch_block.py"
    script.write_text(textwrap.dedent(CACHE_SCRIPT))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    runs = []
    for v in (11, 23):
        r = subprocess.run([sys.executable, str(script), str(v)], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        runs.append([int(x) for x in r.stdout.split()])
    (old1, seen1, hits1, _, act1, _), (old2, seen2, hits2, _, act2, act_hits2) = runs
    assert (old1, seen1, hits1, act1) == (11, 33, 0, 0)
    # the second process loads both functions from the cache and still reaches its own block
    assert (old2, seen2, act2) == (23, 69, 0) and hits2 >= 1 and act_hits2 >= 1


def test_a_compiled_training_step_with_the_split_on_matches_it_off(split):
    """The steps' matmuls (kernels.cpu.linalg.step_*) through the split: the same losses and
    weights as the plain path, and the helper did part of the work."""
    import graphengine as ge

    def train(n):
        g = ge.Graph()
        with g.as_default():
            x = ge.placeholder(ge.float64, (None, 40))
            y = ge.placeholder(ge.float64, (None, 30))
            w1 = ge.Variable(np.linspace(-1, 1, 40 * 50).reshape(40, 50))
            w2 = ge.Variable(np.linspace(1, -1, 50 * 30).reshape(50, 30))
            loss = ge.reduce_mean(ge.square(ge.matmul(ge.nn.tanh(ge.matmul(x, w1)), w2) - y))
            step = ge.train.GradientDescentOptimizer(0.05).minimize(loss)
            init = ge.global_variables_initializer()
        sess = ge.Session(graph=g)
        sess.run(init)
        rng = np.random.default_rng(3)
        xs, ys = rng.standard_normal((64, 40)), rng.standard_normal((64, 30))
        out = [sess.run([step, loss], feed_dict={x: xs, y: ys})[1] for _ in range(n)]
        return np.array(out), sess.run(w1)

    before = gs.stats()
    on_losses, on_w = train(6)
    after = gs.stats()
    gs.deactivate()
    off_losses, off_w = train(6)
    assert after["jobs"] > before["jobs"]
    np.testing.assert_allclose(on_losses, off_losses, rtol=1e-12)
    np.testing.assert_allclose(on_w, off_w, rtol=1e-12, atol=1e-14)


def test_the_policy_splits_only_when_asked(monkeypatch):
    from graphengine.runtime.threads import BlasThreads

    monkeypatch.delenv("GRAPHENGINE_GEMM_SPLIT", raising=False)
    p = BlasThreads()
    p._split(True)
    assert not p.splitting and not gs.split_active()   # off by default
    monkeypatch.setenv("GRAPHENGINE_GEMM_SPLIT", "1")
    p = BlasThreads()
    p._split(True)
    assert not p.splitting   # no hooks: the CPU step backend has not loaded
    import graphengine.backends.cpu.step as step
    assert step.BLAS_THREADS.split_hooks is not None
    p.split_hooks = step.BLAS_THREADS.split_hooks
    if not gs.available():
        pytest.skip("fewer than 2 cores allowed: nothing splits here")
    p._split(True)
    assert p.splitting and gs.split_active()
    p._split(False)
    assert not p.splitting and not gs.split_active()


def test_hold_keeps_operands_until_the_helper_is_between_jobs():
    gs.HOLDING[0] = True
    gs._BLOCK[gs.MODE] = 1
    try:
        a = np.ones(3)
        gs.hold(a)
        assert any(a in objs for objs in gs._held)
        gs._BLOCK[gs.MODE] = 0
        gs.hold()   # helper idle (INFLIGHT 0), mode off: everything goes
        assert gs._held == [] and gs.HOLDING[0] is False
    finally:
        gs._BLOCK[gs.MODE] = 0
        gs._held.clear()
