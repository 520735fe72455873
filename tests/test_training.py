"""graphengine.training.fit: loss history, feed forms, NaN stop, progress bar."""
import numpy as np
import pytest

import graphengine as ge
from graphengine.training import History, batch_feeds, fit


def _regression(lr=0.1):
    x = ge.placeholder(ge.float32, (None, 2))
    y = ge.placeholder(ge.float32, (None, 1))
    w = ge.Variable(np.zeros((2, 1), np.float32))
    loss = ge.reduce_mean(ge.square(ge.matmul(x, w) - y))
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((40, 2)).astype(np.float32)
    ys = xs @ np.array([[2.0], [-1.0]], np.float32)
    return x, y, w, loss, train, xs, ys


def test_fit_with_batch_feeds_decreases_loss():
    x, y, w, loss, train, xs, ys = _regression()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        h = fit(s, train, loss, batch_feeds(x, y, xs, ys, batch_size=16, seed=0), epochs=8,
                progress=False)
        wv = s.get_value(w)
    assert isinstance(h, History) and len(h.steps) == 8 * 3 and len(h.epochs) == 8
    assert h.epochs[-1] < 0.1 * h.epochs[0]
    np.testing.assert_allclose(np.mean(h.steps[:3]), h.epochs[0], rtol=1e-6)
    np.testing.assert_allclose(wv.ravel(), [2, -1], atol=0.3)


def test_fit_accepts_a_feed_dict_or_a_list():
    x, y, _, loss, train, xs, ys = _regression()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        h1 = fit(s, train, loss, {x: xs, y: ys}, epochs=5, progress=False)
        h2 = fit(s, train, loss, [{x: xs[:20], y: ys[:20]}, {x: xs[20:], y: ys[20:]}], epochs=2,
                 progress=False)
    assert len(h1.steps) == 5 and h1.steps[-1] < h1.steps[0]
    assert len(h2.steps) == 4 and len(h2.epochs) == 2


def test_fit_stops_on_nan_naming_the_step():
    x, y, _, loss, train, xs, ys = _regression(lr=1e6)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(FloatingPointError, match="at epoch .*, step"):
            fit(s, train, loss, {x: xs * 1e3, y: ys}, epochs=50, progress=False)


def test_callback_can_stop_early():
    x, y, _, loss, train, xs, ys = _regression()
    seen = []
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        h = fit(s, train, loss, {x: xs, y: ys}, epochs=10, progress=False,
                callback=lambda e, l: seen.append((e, l)) or e == 2)
    assert len(h.epochs) == 3 and [e for e, _ in seen] == [0, 1, 2]


def test_progress_bar_shows_loss(capsys):
    x, y, _, loss, train, xs, ys = _regression()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        fit(s, train, loss, batch_feeds(x, y, xs, ys, batch_size=20), epochs=2, desc="demo")
    err = capsys.readouterr().err
    assert "demo" in err and "loss=" in err and "4/4" in err


def test_empty_epoch_is_an_error():
    x, y, _, loss, train, xs, ys = _regression()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(ValueError, match="no feeds"):
            fit(s, train, loss, [], epochs=1, progress=False)
