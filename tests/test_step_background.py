"""Background compilation (GRAPHENGINE_BACKGROUND_COMPILE=1): the first call of a new plan runs
op by op while a child process compiles the step into Numba's disk cache; later calls load it."""
import logging
import os

import numpy as np
import pytest

import graphengine as ge
from kernels.cpu import background
from kernels.cpu import step as stepmod


def _graph(act=ge.nn.relu):
    ge.reset_default_graph()
    ge.set_random_seed(3)
    x = ge.placeholder(ge.float32, (None, 4), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    W = ge.Variable(ge.random_normal((4, 3), stddev=0.5, seed=1), name="W")
    b = ge.Variable(ge.zeros((3,)), name="b")
    logits = act(x @ W + b) * 1.5
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = ge.train.AdamOptimizer(0.05).minimize(loss)
    return x, y, loss, train, [W, b]


def _feed(x, y, i):
    rng = np.random.default_rng(i)
    return {x: rng.normal(size=(6, 4)).astype(np.float32), y: rng.integers(0, 3, 6)}


def _train_exe(s):
    exes = [e for e in s._plans.values() if isinstance(getattr(e, "inner", e), stepmod.StepExecutable)]
    exes = [getattr(e, "inner", e) for e in exes]
    assert len(exes) == 1, s._plans
    return exes[0]


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    # a new cache dir gives the generated modules new paths: nothing of them is cached yet
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv(background.ENV, "1")
    return tmp_path


def _misses(fn) -> int:
    return sum(fn._cache_misses.values())


def test_first_call_op_by_op_then_compiled_step_from_the_child(fresh):
    x, y, loss, train, vs = _graph()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        first = s.run([train, loss], _feed(x, y, 0))[1]
        exe = _train_exe(s)
        assert exe.background and exe.calls_op_by_op == 1
        assert exe.wait_background()
        allv = ge.global_variables()  # the weights and Adam's slots and step counter
        start = s.run(allv)
        later = [s.run([train, loss], _feed(x, y, i))[1] for i in (1, 2)]
        assert exe.calls_op_by_op == 1
        assert _misses(exe.fn) == 0, "the step compiled here instead of loading the child's"
        assert sum(exe.fn._cache_hits.values()) == 1
        after = s.run(vs)
    # the same steps in the foreground from the same variables: the same numbers, bit for bit
    os.environ.pop(background.ENV)
    with ge.Session() as s2:
        s2.run(ge.global_variables_initializer())
        for v, a in zip(allv, start):
            s2.set_value(v, a)
        ref = [s2.run([train, loss], _feed(x, y, i))[1] for i in (1, 2)]
        assert not _train_exe(s2).background
        np.testing.assert_array_equal(later, ref)
        for a, b in zip(s2.run(vs), after):
            np.testing.assert_array_equal(a, b)
    assert np.isfinite(first)


def test_failed_background_compile_compiles_in_the_foreground(fresh, monkeypatch, caplog):
    monkeypatch.setattr(background, "CHILD", [os.sys.executable, "-c", "import sys; sys.exit(3)"])
    x, y, loss, train, vs = _graph(ge.nn.tanh)  # a step not loaded by the test above
    with ge.Session() as s, caplog.at_level(logging.ERROR, "graphengine.compile"):
        s.run(ge.global_variables_initializer())
        op_loss = s.run([train, loss], _feed(x, y, 0))[1]
        exe = _train_exe(s)
        assert exe.calls_op_by_op == 1
        assert exe.wait_background() is False
        assert "background compile" in caplog.text and "exit 3" in caplog.text
        losses = [s.run([train, loss], _feed(x, y, i))[1] for i in (1, 2)]
        assert exe.calls_op_by_op == 1
        assert _misses(exe.fn) == 1  # compiled here, in the foreground
    x, y, loss, train, vs = _graph(ge.nn.tanh)
    os.environ.pop(background.ENV)
    with ge.Session() as s:  # all steps compiled: the op-by-op first step agrees closely
        s.run(ge.global_variables_initializer())
        ref = [s.run([train, loss], _feed(x, y, i))[1] for i in (0, 1, 2)]
    np.testing.assert_allclose([op_loss, *losses], ref, rtol=1e-5)
