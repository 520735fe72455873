"""Each optimizer's first steps against its TF1 update formula, written out here in NumPy."""
import numpy as np
import pytest
from opdb import BACKENDS, session

import graphengine as ge

X = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [-1.5, 0.5, 1.0], [2.0, 1.0, 0.0]])
Y = np.array([[1.0], [-2.0], [0.5], [3.0]])
W0 = np.array([[0.1], [-0.2], [0.3]])
B0 = np.array([0.05])
STEPS = 3
TOL = {np.float32: {"rtol": 2e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-11, "atol": 1e-13}}


def _model(dtype):
    """Least squares: loss = mean((X W + b - Y)^2)."""
    x = ge.placeholder(dtype, (None, 3), name="x")
    y = ge.placeholder(dtype, (None, 1), name="y")
    w = ge.Variable(W0.astype(dtype), name="W")
    b = ge.Variable(B0.astype(dtype), name="b")
    loss = ge.reduce_mean(ge.square(ge.matmul(x, w) + b - y))
    return x, y, w, b, loss


def _grads(w, b):
    """d loss / d(W, b) for the least-squares model, by hand."""
    r = X @ w + b - Y
    return 2 * X.T @ r / len(X), 2 * r.sum(0) / len(X)


def _sgd(lr):
    def step(p, g, s, t):
        return p - lr * g
    return step


def _momentum(lr, mu, nesterov):
    def step(p, g, s, t):
        s["accum"] = mu * s.get("accum", 0.0) + g
        if nesterov:
            return p - lr * g - lr * mu * s["accum"]
        return p - lr * s["accum"]
    return step


def _rmsprop(lr, rho, mu, eps):
    def step(p, g, s, t):
        s["ms"] = rho * s.get("ms", 1.0) + (1 - rho) * g * g  # TF1: the mean square starts at ONE
        s["mom"] = mu * s.get("mom", 0.0) + lr * g / np.sqrt(s["ms"] + eps)  # eps inside the sqrt
        return p - s["mom"]
    return step


def _adam(lr, b1, b2, eps):
    def step(p, g, s, t):
        lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        return p - lr_t * s["m"] / (np.sqrt(s["v"]) + eps)  # TF1's "epsilon hat": outside the sqrt
    return step


def _adagrad(lr, init):
    def step(p, g, s, t):
        s["accum"] = s.get("accum", init) + g * g
        return p - lr * g / np.sqrt(s["accum"])
    return step


OPTIMIZERS = {
    "sgd": (lambda: ge.train.GradientDescentOptimizer(0.1), _sgd(0.1)),
    "momentum": (lambda: ge.train.MomentumOptimizer(0.05, 0.9), _momentum(0.05, 0.9, False)),
    "nesterov": (lambda: ge.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
                 _momentum(0.05, 0.9, True)),
    "rmsprop": (lambda: ge.train.RMSPropOptimizer(0.01), _rmsprop(0.01, 0.9, 0.0, 1e-10)),
    "rmsprop_momentum": (lambda: ge.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5, epsilon=1e-3),
                         _rmsprop(0.01, 0.8, 0.5, 1e-3)),
    "adam": (lambda: ge.train.AdamOptimizer(0.01), _adam(0.01, 0.9, 0.999, 1e-8)),
    "adam_custom": (lambda: ge.train.AdamOptimizer(0.1, beta1=0.5, beta2=0.9, epsilon=0.1),
                    _adam(0.1, 0.5, 0.9, 0.1)),
    "adagrad": (lambda: ge.train.AdagradOptimizer(0.1), _adagrad(0.1, 0.1)),
    "adagrad_init": (lambda: ge.train.AdagradOptimizer(0.1, initial_accumulator_value=0.5),
                     _adagrad(0.1, 0.5)),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_first_steps_match_the_formula(name, dtype, backend):
    make, formula = OPTIMIZERS[name]
    x, y, w, b, loss = _model(dtype)
    train = make().minimize(loss)
    want_w, want_b, sw, sb = W0.copy(), B0.copy(), {}, {}
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        for t in range(1, STEPS + 1):
            gw, gb = _grads(want_w, want_b)
            want_w, want_b = formula(want_w, gw, sw, t), formula(want_b, gb, sb, t)
            assert s.run(train, {x: X, y: Y}) is None
            got_w, got_b = s.run([w, b])
            assert got_w.dtype == dtype
            np.testing.assert_allclose(got_w, want_w, **TOL[dtype], err_msg=f"W after step {t}")
            np.testing.assert_allclose(got_b, want_b, **TOL[dtype], err_msg=f"b after step {t}")
    assert not np.allclose(want_w, W0)  # the steps moved the variables


@pytest.mark.parametrize("backend", BACKENDS)
def test_learning_rate_placeholder_schedule(backend):
    x, y, w, b, loss = _model(np.float64)
    lr = ge.placeholder(ge.float64, (), name="lr")
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    want_w, want_b = W0.copy(), B0.copy()
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        for rate in (0.1, 0.05, 0.0, 0.2):
            gw, gb = _grads(want_w, want_b)
            want_w, want_b = want_w - rate * gw, want_b - rate * gb
            s.run(train, {x: X, y: Y, lr: rate})
            np.testing.assert_allclose(s.run(w), want_w, rtol=1e-12)
            np.testing.assert_allclose(s.run(b), want_b, rtol=1e-12)
        n_plans = len(s._plans)
        s.run(train, {x: X, y: Y, lr: 0.0})
        assert len(s._plans) == n_plans  # a new rate is a feed, not a recompile
        with pytest.raises(ge.FeedError, match="lr"):
            s.run(train, {x: X, y: Y})  # the schedule must be fed


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_learning_rate_tensor_with_float64_variables(backend):
    x, y, w, b, loss = _model(np.float64)
    lr = ge.placeholder(ge.float32, (), name="lr32")
    train = ge.train.MomentumOptimizer(lr, 0.9).minimize(loss)
    step = _momentum(0.25, 0.9, False)
    sw, sb, want_w, want_b = {}, {}, W0.copy(), B0.copy()
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        for t in (1, 2):
            gw, gb = _grads(want_w, want_b)
            want_w, want_b = step(want_w, gw, sw, t), step(want_b, gb, sb, t)
            s.run(train, {x: X, y: Y, lr: 0.25})
        np.testing.assert_allclose(s.run(w), want_w, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_compute_then_apply_gradients(backend):
    x, y, w, b, loss = _model(np.float64)
    unused = ge.Variable(np.ones(2), name="unused")
    opt = ge.train.GradientDescentOptimizer(0.1)
    gv = opt.compute_gradients(loss)
    assert [v for _, v in gv] == [w, b, unused]
    assert gv[2][0] is None  # no path from the loss to `unused`
    assert gv[0][0].shape == (3, 1) and gv[1][0].shape == (1,)
    scaled = [(None if g is None else g * 0.5, v) for g, v in gv]
    train = opt.apply_gradients(scaled)
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        gw, gb = s.run([gv[0][0], gv[1][0]], {x: X, y: Y})
        want_gw, want_gb = _grads(W0, B0)
        np.testing.assert_allclose(gw, want_gw, rtol=1e-12)
        np.testing.assert_allclose(gb, want_gb, rtol=1e-12)
        s.run(train, {x: X, y: Y})
        np.testing.assert_allclose(s.run(w), W0 - 0.05 * want_gw, rtol=1e-12)
        np.testing.assert_allclose(s.run(b), B0 - 0.05 * want_gb, rtol=1e-12)
        np.testing.assert_array_equal(s.run(unused), np.ones(2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_minimize_var_list_updates_only_those(backend):
    x, y, w, b, loss = _model(np.float64)
    opt = ge.train.AdamOptimizer(0.1)
    train = opt.minimize(loss, var_list=[w])
    assert opt.get_slot(w, "m") is not None and opt.get_slot(b, "m") is None
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {x: X, y: Y})
        np.testing.assert_array_equal(s.run(b), B0)
        assert not np.allclose(s.run(w), W0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_global_step_increments(backend):
    x, y, w, b, loss = _model(np.float32)
    gs = ge.train.create_global_step()
    assert ge.train.get_global_step() is gs and gs.dtype == ge.int64 and gs not in ge.trainable_variables()
    train = ge.train.GradientDescentOptimizer(0.01).minimize(loss, global_step=gs)
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        assert s.run(gs) == 0
        for i in range(1, 4):
            s.run(train, {x: X, y: Y})
            got = s.run(gs)
            assert got == i and got.dtype == np.int64
    with pytest.raises(ValueError):
        ge.train.create_global_step()


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_see_the_old_values(backend):
    """Fetching the loss with the train op gives the loss before this step's update."""
    x, y, w, b, loss = _model(np.float64)
    train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        before = s.run(loss, {x: X, y: Y})
        fetched, _ = s.run([loss, train], {x: X, y: Y})
        after = s.run(loss, {x: X, y: Y})
    np.testing.assert_allclose(fetched, before, rtol=1e-12)
    np.testing.assert_allclose(before, np.mean((X @ W0 + B0 - Y) ** 2), rtol=1e-12)
    assert after < before


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_reduces_the_loss(backend):
    x, y, w, b, loss = _model(np.float32)
    y_fit = X @ np.array([[1.0], [-0.5], [0.5]]) + 0.2  # an exact fit exists: the loss can reach 0
    train = ge.train.AdamOptimizer(0.05).minimize(loss)
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        first = s.run(loss, {x: X, y: y_fit})
        for _ in range(200):
            s.run(train, {x: X, y: y_fit})
        last = s.run(loss, {x: X, y: y_fit})
    assert last < 0.01 * first


def test_slots_and_optimizer_variables():
    x, y, w, b, loss = _model(np.float32)
    opt = ge.train.RMSPropOptimizer(0.01)
    opt.minimize(loss)
    assert opt.get_slot_names() == ["RMSProp", "RMSProp_1"]
    ms = opt.get_slot(w, "RMSProp")
    assert ms is not None and ms.shape == w.shape and not ms.trainable
    with ge.Session(device="reference") as s:
        s.run(ge.global_variables_initializer())
        np.testing.assert_array_equal(s.run(ms), np.ones((3, 1), np.float32))
    assert ms in opt.variables() and ms not in ge.trainable_variables()
