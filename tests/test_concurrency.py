"""Concurrency model: one lock per Session serializes ``run``; threads calling ``run`` at once on
one session get exactly what serial calls get, and two sessions on one graph share nothing."""
import threading

import numpy as np
import pytest

import graphengine as ge

MODES = {"reference": {"device": "reference"}, "cpu-op": {"jit": "op"}, "cpu-step": {"jit": "step"}}


def _model():
    x = ge.placeholder(ge.float64, (None, 4), name="x")
    w = ge.Variable(np.linspace(-1, 1, 12).reshape(4, 3), name="W")
    h = ge.nn.softmax(ge.matmul(x, w))
    loss = ge.reduce_mean(ge.square(h - 0.25))
    train = ge.train.GradientDescentOptimizer(0.5).minimize(loss)
    return x, w, h, loss, train


def _threads(n, fn):
    errors = []
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait()
            fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
    ts = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("mode", list(MODES))
def test_concurrent_inference_equals_serial(mode):
    x, w, h, loss, train = _model()
    feeds = [np.random.default_rng(i).normal(size=(i % 5 + 1, 4)) for i in range(16)]
    with ge.Session(**MODES[mode]) as s:
        s.run(ge.global_variables_initializer())
        serial = [s.run([h, loss], {x: f}) for f in feeds]
        got = [None] * len(feeds)

        def work(i):
            for k in range(i, len(feeds), 4):
                for _ in range(5):
                    got[k] = s.run([h, loss], {x: feeds[k]})
        _threads(4, work)
    for a, b in zip(serial, got, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("mode", list(MODES))
def test_concurrent_training_steps_are_serialized(mode):
    """SGD steps on one constant batch: N steps from N threads leave W exactly where N serial
    steps leave it (a lost or torn update would show)."""
    x, w, h, loss, train = _model()
    batch = np.random.default_rng(0).normal(size=(6, 4))
    with ge.Session(**MODES[mode]) as serial:
        serial.run(ge.global_variables_initializer())
        for _ in range(24):
            serial.run(train, {x: batch})
        want = serial.run(w)
    with ge.Session(**MODES[mode]) as s:
        s.run(ge.global_variables_initializer())
        _threads(4, lambda i: [s.run(train, {x: batch}) for _ in range(6)])
        np.testing.assert_array_equal(s.run(w), want)


@pytest.mark.parametrize("mode", list(MODES))
def test_two_sessions_on_one_graph_are_independent(mode):
    x, w, h, loss, train = _model()
    batch = np.random.default_rng(1).normal(size=(6, 4))
    a, b = ge.Session(**MODES[mode]), ge.Session(**MODES[mode])
    for s in (a, b):
        s.run(ge.global_variables_initializer())
    init = a.run(w)

    def work(i):
        s = a if i % 2 == 0 else b
        for _ in range(5 if s is a else 2):
            s.run(train, {x: batch})
    _threads(2, work)
    ref = ge.Session(**MODES[mode])
    ref.run(ge.global_variables_initializer())
    wants = []
    for n in (5, 2):
        ref.set_value(w, init)
        for _ in range(n):
            ref.run(train, {x: batch})
        wants.append(ref.run(w))
    np.testing.assert_array_equal(a.run(w), wants[0])
    np.testing.assert_array_equal(b.run(w), wants[1])
    assert not np.array_equal(wants[0], wants[1])


def test_session_docstring_documents_the_thread_model():
    assert "thread-safe" in ge.Session.__doc__ and "lock" in ge.Session.__doc__
