"""Background compilation (GRAPHENGINE_BACKGROUND_COMPILE): the first calls of a new plan run
without the compiled step while a child process compiles it into Numba's disk cache."""
import logging
import os
import sys

import numpy as np
import pytest

import graphengine as ge
from graphengine.backends.cpu import background
from graphengine.backends.cpu import step as stepmod


def _graph(act):
    ge.reset_default_graph()
    ge.set_random_seed(3)
    x = ge.placeholder(ge.float32, (None, 4), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    W = ge.Variable(ge.random_normal((4, 3), stddev=0.5, seed=1), name="W")
    b = ge.Variable(ge.zeros((3,)), name="b")
    logits = act(x @ W + b) * 1.5
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = ge.train.AdamOptimizer(0.05).minimize(loss)
    return x, y, loss, train


def _feed(x, y, i):
    rng = np.random.default_rng(i)
    return {x: rng.normal(size=(6, 4)).astype(np.float32), y: rng.integers(0, 3, 6)}


def _train_exe(s):
    exes = [getattr(e, "inner", e) for e in s._plans.values()]
    exes = [e for e in exes if isinstance(e, stepmod.StepExecutable)]
    assert len(exes) == 1, s._plans
    return exes[0]


def _trajectory(act, steps=3, check=None):
    x, y, loss, train = _graph(act)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        out = []
        for i in range(steps):
            out.append(s.run([train, loss], _feed(x, y, i))[1])
            if check is not None:
                check(i, _train_exe(s))
        return np.array(out), s.run(ge.global_variables())


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    # a new cache dir gives the generated modules new paths: nothing of them is cached yet
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHENGINE_KERNEL_CACHE_DIR", str(tmp_path / "kernels"))
    yield monkeypatch
    for job in background._QUEUE[:]:  # no test leaves a child running or queued for the next
        if job.proc is not None:
            job.proc.kill()
            job.proc.wait()
    background._QUEUE.clear()


def _misses(fn) -> int:
    return sum(fn._cache_misses.values())


@pytest.mark.parametrize("mode,act", [("1", ge.nn.relu), ("ops", ge.nn.sigmoid)])
def test_first_call_without_compile_then_the_childs_compiled_step(fresh, mode, act):
    fresh.setenv(background.ENV, mode)

    def check(i, exe):
        assert exe.background == ("ops" if mode == "ops" else "python")
        assert (exe.interim is not None) == (mode == "1")
        if i == 0:  # the first call always runs before the child can be done: deterministic
            assert exe.calls_interim == 1 and _misses(exe.fn) == 0
            assert exe.wait_background()
        else:
            assert exe.calls_interim == 1
            assert _misses(exe.fn) == 0, "the step compiled here instead of loading the child's"
            assert sum(exe.fn._cache_hits.values()) == 1
    losses, vals = _trajectory(act, check=check)
    fresh.setenv(background.ENV, "0")
    ref_losses, ref_vals = _trajectory(act)  # every step compiled, in the foreground
    if mode == "ops":  # op by op first: close, not equal
        np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
        return
    # the Python-run step body calls the same compiled code: the same numbers, bit for bit
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(vals, ref_vals):
        np.testing.assert_array_equal(a, b)


def test_python_step_body_equals_compiled_step_every_call(fresh):
    """Until the child finishes (it never does here), every call runs the step body as Python:
    the whole trajectory equals the compiled one bit for bit."""
    fresh.setenv(background.ENV, "1")
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "import time; time.sleep(60)"])
    seen, exes = [], []

    def check(i, exe):
        seen.append(exe.calls_interim)
        exes.append(exe)
    square = lambda z: z * z  # noqa: E731 - a step no other test has loaded
    losses, vals = _trajectory(square, steps=4, check=check)
    for sig in exes[0]._sigs.values():
        if sig.waiting:
            sig.waiting.proc.kill()
            sig.waiting.poll(wait=True)
    assert seen == [1, 2, 3, 4]
    fresh.setenv(background.ENV, "0")
    ref_losses, ref_vals = _trajectory(square, steps=4)
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(vals, ref_vals):
        np.testing.assert_array_equal(a, b)


def test_failed_background_compile_compiles_in_the_foreground(fresh, caplog):
    fresh.setenv(background.ENV, "1")
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "import sys; sys.exit(3)"])

    def check(i, exe):
        if i == 0:
            assert exe.calls_interim == 1
            with caplog.at_level(logging.ERROR, "graphengine.compile"):
                assert exe.wait_background() is False
            assert "background compile" in caplog.text and "exit 3" in caplog.text
        else:
            assert exe.calls_interim == 1
            assert _misses(exe.fn) == 1  # compiled here, in the foreground
    losses, _ = _trajectory(ge.nn.tanh, check=check)
    fresh.setenv(background.ENV, "0")
    ref, _ = _trajectory(ge.nn.tanh)
    np.testing.assert_array_equal(losses, ref)


def test_modes(fresh):
    fresh.delenv(background.ENV, raising=False)
    assert background.mode() == "python"   # the default: deterministic interim calls
    fresh.setenv(background.ENV, "0")
    assert background.mode() is None
    fresh.setenv(background.ENV, "ops")
    assert background.mode() == "ops"
    fresh.setenv(background.ENV, "1")
    assert background.mode() == "python"
    assert os.environ[background.ENV] == "1"


def test_python_body_only_when_it_calls_compiled_code_alone():
    """A step body that calls anything but Numba functions, NumPy, math or plain builtins is
    not run as Python (its numbers could differ): such a plan compiles in the foreground."""
    import math
    import types

    import numba

    kernel = numba.njit(lambda a: a)

    def ok(a0, S):
        kernel(a0.reshape(-1))
        return max(S[0, 0], 1) + math.sqrt(float(np.float32(2.0)))

    def bad(a0, S):
        return sorted(a0)  # a builtin with no place in a step

    def other(a0, S):
        return helper(a0)  # noqa: F821 - a plain Python global

    for fn, want in ((ok, True), (bad, False), (other, False)):
        mod = types.ModuleType("m")
        mod.__dict__.update(kernel=kernel, np=np, math=math, helper=lambda a: a,
                            step=types.SimpleNamespace(py_func=fn))
        assert background.python_runnable(mod) is want, fn.__name__


def test_one_child_at_a_time(fresh, tmp_path):
    """A second plan's compile waits until the first plan's child is done; both then switch."""
    fresh.setenv(background.ENV, "1")
    x, y, loss, train = _graph(ge.nn.softplus)
    acc = ge.reduce_mean(ge.cast(ge.equal(ge.argmax(ge.nn.softmax(x @ ge.ones((4, 3))), 1), y), ge.float32))
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.run([train, loss], _feed(x, y, 0))
        assert len(background._QUEUE) == 1
        first = background._QUEUE[0]
        assert first.proc is not None
        s.run(acc, _feed(x, y, 1))
        assert len(background._QUEUE) == 2
        second = background._QUEUE[1]
        if first.proc.poll() is None:   # still compiling: the second has not started
            assert second.proc is None
        assert second.poll(wait=True) and first.ok
        assert background._QUEUE == []
        assert not [f for f in os.listdir(tmp_path) if f.endswith(".pending")]   # the children unclaimed
        exes = [getattr(e, "inner", e) for e in s._plans.values()]
        exes = [e for e in exes if isinstance(e, stepmod.StepExecutable)]
        assert len(exes) == 2
        for e in exes:
            n = e.calls_interim
            s.run([train, loss] if len(e.program.fetches) > 1 else acc, _feed(x, y, 2))
            assert e.calls_interim == n   # both children are done: compiled from now on
        s.run([train, loss], _feed(x, y, 3))
        s.run(acc, _feed(x, y, 3))
        assert all(_misses(e.fn) == 0 for e in exes), "compiled here instead of loading the children's"


def test_interim_step_error_names_the_op_and_leaves_the_state(fresh):
    """A failing op inside the interim step reports like the compiled step: the op, the user's
    line, and the variables as they were."""
    fresh.setenv(background.ENV, "1")
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "import time; time.sleep(60)"])
    x, y, loss, train = _graph(ge.nn.elu)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        feed = _feed(x, y, 0)
        s.run(train, feed)
        exe = _train_exe(s)
        assert exe.interim is not None and exe.calls_interim == 1
        before = s.run(ge.global_variables())
        bad = dict(feed)
        bad[y] = feed[y].copy()
        bad[y][2] = 7
        with pytest.raises(ge.GraphEngineError) as e:
            s.run(train, bad)
        assert "sparse_softmax" in str(e.value) and "test_step_background.py" in str(e.value), str(e.value)
        assert exe.calls_interim == 2
        for a, b in zip(before, s.run(ge.global_variables())):
            np.testing.assert_array_equal(a, b)


def test_a_second_batch_size_waits_for_the_same_compile(fresh):
    """A ragged last batch has the same Numba argument types: it joins the running compile
    instead of queueing a second one, and runs the interim step meanwhile."""
    fresh.setenv(background.ENV, "1")
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "import time; time.sleep(60)"])
    x, y, loss, train = _graph(ge.nn.selu)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.run(train, _feed(x, y, 0))
        rng = np.random.default_rng(5)
        s.run(train, {x: rng.normal(size=(5, 4)).astype(np.float32), y: rng.integers(0, 3, 5)})
        exe = _train_exe(s)
        assert len(exe._sigs) == 2 and exe.calls_interim == 2
        jobs = {id(sig.waiting) for sig in exe._sigs.values()}
        assert len(jobs) == 1 and len(background._QUEUE) == 1


def test_no_interim_step_is_built_for_a_step_already_compiled(fresh):
    """A plan whose compiled step exists (here: in this process, after the first session's
    switch) runs it from the first call; the interim step is never generated."""
    fresh.setenv(background.ENV, "1")
    x, y, loss, train = _graph(ge.nn.softsign)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.run(train, _feed(x, y, 0))
        assert _train_exe(s).wait_background()
        s.run(train, _feed(x, y, 1))
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.run(train, _feed(x, y, 0))
        exe = _train_exe(s)
        assert exe.calls_interim == 0 and exe.interim is None and exe.interim_builder is not None


def _dropout_bn_trajectory(steps=4):
    ge.reset_default_graph()
    ge.set_random_seed(7)
    x = ge.placeholder(ge.float32, (None, 12))
    y = ge.placeholder(ge.int64, (None,))
    h = ge.layers.dense(x, 16, activation=ge.nn.relu)
    h = ge.layers.dropout(h, rate=0.3, training=True)
    h = ge.layers.batch_normalization(h, training=True)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=ge.layers.dense(h, 3)))
    with ge.control_dependencies(ge.get_default_graph().get_collection(ge.layers.UPDATE_OPS)):
        train = ge.train.MomentumOptimizer(0.05, 0.9).minimize(loss)
    r = np.random.default_rng(0)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        out = [s.run([train, loss], {x: r.normal(size=(10, 12)).astype(np.float32), y: r.integers(0, 3, 10)})[1]
               for _ in range(steps)]
        interim = sum(getattr(e, "inner", e).calls_interim for e in s._plans.values()
                      if isinstance(getattr(e, "inner", e), stepmod.StepExecutable))
        return np.array(out), s.run(ge.global_variables()), interim


def test_interim_step_with_dropout_and_batch_norm_equals_the_compiled_step(fresh):
    """Random draws (dropout), batch-norm moving averages and momentum: the interim calls give
    the compiled step's numbers bit for bit."""
    fresh.setenv(background.ENV, "1")
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "import time; time.sleep(60)"])
    losses, vals, interim = _dropout_bn_trajectory()
    assert interim == 4
    fresh.setenv(background.ENV, "0")
    ref_losses, ref_vals, none = _dropout_bn_trajectory()
    assert none == 0
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(vals, ref_vals):
        np.testing.assert_array_equal(a, b)


def _dense_trajectory(opt, steps=3):
    """Layers large enough for BLAS (not the small-GEMM loop), a batch of one in the last call
    (Numba's np.dot takes its vector paths there): the interim step's matmuls are
    kernels.cpu.pyblas."""
    ge.reset_default_graph()
    ge.set_random_seed(11)
    x = ge.placeholder(ge.float32, (None, 40))
    y = ge.placeholder(ge.int64, (None,))
    h = ge.layers.dense(x, 48, activation=ge.nn.tanh)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=ge.layers.dense(h, 20)))
    train = opt().minimize(loss)
    r = np.random.default_rng(1)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        out = [s.run([train, loss], {x: r.normal(size=(n, 40)).astype(np.float32), y: r.integers(0, 20, n)})[1]
               for n in [32] * steps + [1]]
        interim = sum(getattr(e, "inner", e).calls_interim for e in s._plans.values()
                      if isinstance(getattr(e, "inner", e), stepmod.StepExecutable))
        return np.array(out), s.run(ge.global_variables()), interim


@pytest.mark.parametrize("opt", [lambda: ge.train.GradientDescentOptimizer(0.1),
                                 lambda: ge.train.AdamOptimizer(0.01)], ids=["sgd", "adam"])
def test_interim_blas_matmuls_equal_the_compiled_step(fresh, opt):
    from kernels.cpu import pyblas
    if not pyblas.available():
        pytest.skip("SciPy's cython_blas not reachable: the interim step keeps the Numba matmuls")
    fresh.setenv(background.ENV, "1")
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "import time; time.sleep(60)"])
    losses, vals, interim = _dense_trajectory(opt)
    assert interim == 4
    fresh.setenv(background.ENV, "0")
    ref_losses, ref_vals, none = _dense_trajectory(opt)
    assert none == 0
    np.testing.assert_array_equal(losses, ref_losses)
    for a, b in zip(vals, ref_vals):
        np.testing.assert_array_equal(a, b)


def _job_files(tmp_path):
    mod = tmp_path / "_ge_step_x.py"
    mod.write_text("")
    return str(mod), str(tmp_path / "_ge_step_x.py.abc.compiled")


def test_a_compile_another_process_runs_is_waited_for_not_repeated(fresh, tmp_path):
    """Two processes that need the same new step (a script run again while the first run's
    child still compiles): the second starts no child of its own; it waits for the marker."""
    import subprocess
    import time
    mod, mark = _job_files(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(mark + ".pending", "w") as f:
            f.write(str(other.pid))
        fresh.setattr(background, "CHILD", [sys.executable, "-c", "raise SystemExit(5)"])  # must not run
        job = background.Job(mod, (), mark)
        assert job.adopted and job.proc is None
        assert job.poll() is None and background.pending() == 1
        with open(mark, "w") as f:   # the other process's child is done
            f.write("()")
        t = time.time()
        assert job.poll(wait=True) is True and time.time() - t < 5
        assert background.pending() == 0
        assert not list(tmp_path.glob("*.sig"))   # nothing written for a child that never ran
    finally:
        other.kill()
        other.wait()


def test_a_dead_claimants_compile_is_redone_here(fresh, tmp_path):
    """A claim whose process is gone (a crashed child) is dropped, and this process's child
    compiles the step; a child's success removes the claim, a failure leaves none behind."""
    import subprocess
    mod, mark = _job_files(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with open(mark + ".pending", "w") as f:
        f.write(str(dead.pid))
    write = "import sys; open(sys.argv[3], 'w').write('()')"
    fresh.setattr(background, "CHILD", [sys.executable, "-c", write])
    job = background.Job(mod, (), mark)
    assert not job.adopted and job.proc is not None
    assert open(mark + ".pending").read() == str(job.proc.pid)   # claimed for its child
    assert job.poll(wait=True) is True
    os.unlink(mark)
    os.unlink(mark + ".pending")   # (the real child removes it; this stand-in does not)
    fresh.setattr(background, "CHILD", [sys.executable, "-c", "raise SystemExit(4)"])
    job = background.Job(mod, (), mark)
    assert job.poll(wait=True) is False
    assert not os.path.exists(mark + ".pending")


def test_child_compiles_for_this_processs_cpu_features(monkeypatch):
    """Numba's disk cache keys entries by CPU features: the child gets this process's (which
    kernels.cpu.vectors may have widened, or left alone), so its entry is one this process loads."""
    from kernels.cpu.vectors import active_features
    monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
    monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
    env = background.child_env()
    assert env["NUMBA_CPU_FEATURES"] == active_features() != ""
    monkeypatch.setenv("NUMBA_CPU_NAME", "haswell")
    assert "NUMBA_CPU_FEATURES" not in background.child_env()   # the user's choice stands
