"""Fetched tensors that the compiled step writes straight into the arrays the caller gets
(``Layout.outs``): every call hands out new arrays that nothing else holds, on every path
(``sess.run``'s cached entry, ``make_callable``, the first call, the hot path, the interim step
of a background compile), with the same values as the op-by-op executor."""
import numpy as np
import pytest

import graphengine as ge
from graphengine.backends.cpu import background
from graphengine.backends.cpu import step as stepmod


def _graph():
    g = ge.Graph()
    with g.as_default():
        x = ge.placeholder(ge.float32, (None, 3), name="x")
        w = ge.Variable(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, name="w")
        h = ge.nn.sigmoid(ge.matmul(x, w))          # fetched, and read by the loss after it
        flat = ge.reshape(h, (-1,))                 # a view of h's buffer
        loss = ge.reduce_sum(h * h)
        train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
        init = ge.global_variables_initializer()
    return g, x, w, h, flat, loss, train, init


def _step_exe(sess, f=None):
    """The compiled steps of a session's plans (of ``f``'s plan for a make_callable ``f``)."""
    exes = [f.__globals__["exe"]] if f is not None else list(sess._plans.values())
    exes = [getattr(e, "inner", e) for e in exes]
    return [e for e in exes if isinstance(e, stepmod.StepExecutable)]


def _arenas(exes):
    return [a for e in exes for sig in e._sigs.values() for a in sig.arenas]


def _ref_h(xv, wv):
    return 1 / (1 + np.exp(-(xv.astype(np.float64) @ wv)))


@pytest.mark.parametrize("how", ["run", "callable"])
def test_fetched_arrays_are_new_every_call_and_right(how):
    g, x, w, h, flat, loss, train, init = _graph()
    sess = ge.Session(graph=g, jit="step")
    sess.run(init)
    f = sess.make_callable([h, loss, train], feed_list=[x]) if how == "callable" else None
    rng = np.random.default_rng(0)
    kept = []
    for _ in range(4):  # the first call, then the hot path
        xv = rng.standard_normal((5, 3)).astype(np.float32)
        wv = sess.run(w).astype(np.float64)
        hv, lv, _ = f(xv) if f is not None else sess.run([h, loss, train], {x: xv})
        np.testing.assert_allclose(hv, _ref_h(xv, wv), rtol=1e-5)
        np.testing.assert_allclose(lv, (_ref_h(xv, wv) ** 2).sum(), rtol=1e-5)
        assert hv.flags.c_contiguous and hv.flags.writeable and hv.shape == (5, 4)
        for a in _arenas(_step_exe(sess, f)):
            assert not np.shares_memory(hv, a)
        kept.append((hv, hv.copy()))
    exe, = _step_exe(sess, f)
    assert exe.lay.outs and "o0" in exe.source.split("def step(")[1].split(")")[0]
    assert exe.fresh_pos
    for k, (a, snap) in enumerate(kept):  # later calls did not write into earlier results
        np.testing.assert_array_equal(a, snap)
        for b, _ in kept[k + 1:]:
            assert not np.shares_memory(a, b)


def test_a_fetch_twice_and_a_view_of_it_are_separate_arrays():
    g, x, w, h, flat, loss, train, init = _graph()
    sess = ge.Session(graph=g, jit="step")
    sess.run(init)
    xv = np.ones((2, 3), np.float32)
    for _ in range(3):
        a, b, c, lv = sess.run([h, h, flat, loss], {x: xv})
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(c, a.reshape(-1))
        for p, q in [(a, b), (a, c), (b, c)]:
            assert not np.shares_memory(p, q)
        a[...] = -1  # the caller's to change
        np.testing.assert_array_equal(b, c.reshape(2, 4))


def test_step_values_equal_the_op_executor():
    out = {}
    for jit in ("step", "op"):
        g, x, w, h, flat, loss, train, init = _graph()
        with ge.Session(graph=g, jit=jit) as s:
            s.run(init)
            rng = np.random.default_rng(1)
            out[jit] = [s.run([h, flat, train], {x: rng.standard_normal((4, 3)).astype(np.float32)})[:2]
                        for _ in range(3)] + [s.run(w)]
    for a, b in zip(out["step"], out["op"]):
        for p, q in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            np.testing.assert_allclose(p, q, rtol=1e-6)


def test_rank0_fetches_stay_in_the_step_buffers():
    g, x, w, h, flat, loss, train, init = _graph()
    with ge.Session(graph=g, jit="step") as s:
        s.run(init)
        s.run([loss, train], {x: np.ones((2, 3), np.float32)})
        exe, = _step_exe(s)
        assert exe.lay.outs == []   # the loss is a scalar: handed out as a NumPy scalar
        assert s.plan_info([loss, train], {x: np.ones((2, 3), np.float32)})["fetch_arrays"] == 0
        assert s.plan_info([h, loss], {x: np.ones((2, 3), np.float32)})["fetch_arrays"] == 1


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GRAPHENGINE_KERNEL_CACHE_DIR", str(tmp_path / "kernels"))
    monkeypatch.setenv(background.ENV, "1")
    yield monkeypatch
    for job in background._QUEUE[:]:
        if job.proc is not None:
            job.proc.kill()
            job.proc.wait()
    background._QUEUE.clear()


def test_interim_calls_hand_out_new_arrays_too(fresh):
    """While the step compiles in a child, calls run the interim step (its own buffers): the
    fetches are still the caller's own."""
    g, x, w, h, flat, loss, train, init = _graph()
    with ge.Session(graph=g) as s:
        s.run(init)
        xv = np.ones((2, 3), np.float32)
        got = [s.run([h, flat], {x: xv}) for _ in range(2)]
        exe, = _step_exe(s)
        assert exe.calls_interim >= 1
        assert not np.shares_memory(got[0][0], got[1][0])
        assert not np.shares_memory(got[0][0], got[0][1])
        exe.wait_background()
        after = s.run([h, flat], {x: xv})
        np.testing.assert_array_equal(after[0], got[0][0])
