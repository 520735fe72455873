"""The BLAS thread policy: threads follow the cores other processes leave free."""
import os

import graphengine.runtime.threads as th


class Recorder(th.BlasThreads):
    def __init__(self, cores):
        super().__init__()
        self.cores = self.cap = cores
        self._tick = 100  # jiffies per second
        self.applied = []

    def _apply(self, n):
        self.applied.append(n)
        self.current = n


def test_other_busy_process_takes_a_core_away():
    p = Recorder(2)
    p.update(0.0, 0, 0.0)
    p.update(1.0, 200, 1.0)   # the machine did 2 cores of work in 1 s, one of them ours
    assert p.applied == [1]   # another process holds a core: one BLAS thread
    p.update(2.0, 300, 2.0)   # only our own work: both cores again
    assert p.applied == [1, 2]
    p.update(3.0, 420, 3.0)   # a neighbour busy 20% of the time: both cores stay ours
    assert p.applied == [1, 2]
    p.update(4.0, 570, 4.0)   # half busy: a second BLAS thread would wait on it half the time
    assert p.applied == [1, 2, 1]


def test_user_settings_win(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert not th.BlasThreads().enabled  # one thread: nothing to adapt
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    assert th.BlasThreads().cap == min(3, th.BlasThreads().cores)  # the user's count is the cap
    monkeypatch.setenv("GRAPHENGINE_BLAS_POLICY", "fixed")
    assert not th.BlasThreads().enabled
    p = Recorder(4)
    p.limit(1)
    assert p.cap == 1 and p.applied == [1]
    p.update(0.0, 0, 0.0)
    p.update(1.0, 100, 1.0)
    assert p.applied == [1]   # never above the cap


def test_config_proto_threads_reach_the_policy(monkeypatch):
    import graphengine.compat.v1 as tf
    seen = []
    monkeypatch.setattr(th.POLICY, "limit", seen.append)
    tf.Session(config=tf.ConfigProto(intra_op_parallelism_threads=1))
    assert seen == [1]


def test_a_pause_between_steps_starts_a_fresh_short_sample(monkeypatch):
    """After a pause (no step for over 3 intervals) the old sample is dropped: the next decision
    comes from a short fresh one, not from what other processes did during the pause."""
    p = Recorder(2)
    p.enabled = True
    clock, stat = [0.0], [0.0]
    monkeypatch.setattr(th.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(p, "_busy", lambda: (stat[0], {}))
    monkeypatch.setattr(th.os, "times", lambda: type("T", (), {"user": 0.0, "system": 0.0})())
    p.tick()                             # baseline at t=0
    clock[0], stat[0] = 2.0, 400.0       # a 2 s pause while others kept both cores busy
    p.tick()                             # stale: only a new baseline, no decision
    assert p.applied == []
    clock[0] = 2.0 + th.INTERVAL / 4     # the short sample: the machine is quiet now
    p.tick()
    assert p.applied == [2]
    clock[0], stat[0] = 2.0 + th.INTERVAL / 4 + th.INTERVAL, 400.0 + 100 * th.INTERVAL
    p.tick()                             # one core busy with another process's work: one thread
    assert p.applied == [2, 1]


def test_the_stepping_thread_leaves_a_busy_core_for_an_idle_one(monkeypatch):
    """Another process holds a core and the scheduler left the stepping thread on it: core 0
    fully busy (both), core 1 idle. The thread is pinned to core 1 while the other process
    runs, and gets its affinity back when the machine is quiet again."""
    calls = []
    monkeypatch.setattr(th.os, "sched_setaffinity", lambda pid, cores: calls.append((pid, set(cores))))
    p = Recorder(2)
    p._allowed = frozenset({0, 1})
    p.update(0.0, 0, 0.0, {0: 0, 1: 0})
    p.update(1.0, 100, 0.5, {0: 100, 1: 0})   # we got half of core 0, the other half went elsewhere
    assert p.applied == [1] and calls == [(0, {1})]
    p.update(2.0, 300, 1.5, {0: 200, 1: 100})  # both cores busy (the other on 0, we on 1): stay
    assert calls == [(0, {1})]
    p.update(3.0, 400, 2.5, {0: 200, 1: 200})  # only our own work: both cores, affinity back
    assert p.applied == [1, 2] and calls == [(0, {1}), (0, {0, 1})]


def test_closing_the_session_gives_a_pinned_thread_its_affinity_back(monkeypatch):
    import graphengine as ge
    calls = []
    monkeypatch.setattr(th.os, "sched_setaffinity", lambda pid, cores: calls.append(set(cores)))
    monkeypatch.setattr(th.POLICY, "_allowed", frozenset({0, 1}))
    monkeypatch.setattr(th.POLICY, "_pinned", (th.threading.get_ident(), frozenset({1})))
    ge.Session(device="reference").close()
    assert calls == [{0, 1}] and th.POLICY._pinned is None


def test_a_pin_that_another_process_shares_is_given_up_until_the_machine_is_quiet(monkeypatch):
    """Two processes pinning the same way could chase each other from core to core: when the
    pinned core turns out busy with someone else's work, the pin goes and stays gone until the
    other processes leave."""
    calls = []
    monkeypatch.setattr(th.os, "sched_setaffinity", lambda pid, cores: calls.append(set(cores)))
    p = Recorder(2)
    p._allowed = frozenset({0, 1})
    p.update(0.0, 0, 0.0, {0: 0, 1: 0})
    p.update(1.0, 100, 0.5, {0: 100, 1: 0})     # sharing core 0, core 1 idle: pin to 1
    assert calls == [{1}]
    p.update(2.0, 200, 1.0, {0: 100, 1: 100})   # core 1 full but we used half of it: shared
    assert calls == [{1}, {0, 1}]
    p.update(3.0, 300, 1.5, {0: 200, 1: 100})   # core 1 idle again: no new pin this spell
    assert calls == [{1}, {0, 1}]
    p.update(4.0, 400, 2.5, {0: 200, 1: 200})   # quiet (only our work): spell over
    p.update(5.0, 500, 3.0, {0: 300, 1: 200})   # busy again, core 1 idle: pins again
    assert calls == [{1}, {0, 1}, {1}]


def test_the_policy_sets_the_threads_of_scipys_openblas_not_numpys():
    """NumPy's wheel bundles an OpenBLAS whose file is also named ``libscipy_openblas64_``: the
    thread count must go to SciPy's (``scipy.libs``), the one Numba's np.dot calls, whichever
    of the two loaded first."""
    from graphengine.runtime.threads import pick_scipy_openblas
    np_lib = "/site/numpy.libs/libscipy_openblas64_-32a4.so"
    sp_lib = "/site/scipy.libs/libscipy_openblas-6cdc.so"
    assert pick_scipy_openblas([np_lib, sp_lib]) == 1
    assert pick_scipy_openblas([sp_lib, np_lib]) == 0
    assert pick_scipy_openblas(["/usr/lib/libopenblas.so.0"]) == 0   # one BLAS for both (distros, conda)
    assert pick_scipy_openblas([np_lib, "/usr/lib/libopenblas.so.0"]) == 1
    assert pick_scipy_openblas([]) is None


def test_the_setter_reaches_the_blas_the_kernels_call():
    """Live: the library whose threads the policy sets is SciPy's whenever SciPy's is loaded."""
    import os

    import pytest

    import graphengine as ge
    from graphengine.runtime import threads
    ge.Session().close()   # loads the BLAS the kernels use
    from threadpoolctl import ThreadpoolController

    from kernels.cpu import blas, mkl
    if blas.backend() == "mkl":   # GRAPHENGINE_BLAS picked MKL: the policy steers its threads
        setter = threads.POLICY._setter
        assert setter is mkl.set_num_threads
        lib = next(c for c in ThreadpoolController().lib_controllers if c.internal_api == "mkl")
    else:
        setter = threads._find_setter()
        if setter is False:
            pytest.skip("threadpoolctl finds no OpenBLAS")
        lib = next(c for c in ThreadpoolController().lib_controllers
                   if c.filepath == setter.__self__.filepath)
    old = lib.num_threads
    try:
        setter(1)
        assert lib.num_threads == 1
        assert "numpy.libs" not in lib.filepath.replace(os.sep, "/") or not any(
            "scipy.libs" in (c.filepath or "") for c in ThreadpoolController().lib_controllers)
    finally:
        setter(old)


def test_blas_loads_without_importing_scipy_linalg():
    """kernels.cpu.blas loads the cython_blas module Numba's np.dot needs without the whole
    scipy.linalg package (0.3 s), and scipy.linalg still works, attribute included, afterwards."""
    import subprocess
    import sys
    code = (
        "import sys, numpy as np, graphengine as ge\n"
        "x = ge.placeholder(ge.float32, (None, 70)); w = ge.Variable(np.ones((70, 80), np.float32))\n"
        "s = ge.Session(); s.run(ge.global_variables_initializer())\n"
        "print(float(s.run(ge.reduce_sum(x @ w), {x: np.ones((90, 70), np.float32)})))\n"
        "import kernels.cpu.blas as b, os; print(b.load())\n"
        "print('scipy.linalg' in sys.modules, 'OPENBLAS_THREAD_TIMEOUT' in os.environ)\n"
        "import scipy.linalg\n"
        "print(scipy.linalg.cython_blas is sys.modules['scipy.linalg.cython_blas'],\n"
        "      scipy.linalg.solve(np.eye(2), np.ones(2)).tolist())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                       os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.split()
    assert lines[0] == str(90 * 70 * 80 * 1.0) and lines[1] == "loaded", r.stdout
    assert lines[2] == "False", "scipy.linalg was imported"
    assert lines[3] == "False", "the BLAS spin setting leaked into the user's environment"
    assert lines[4] == "True", r.stdout
