"""TF1 semantics beyond what tests/test_tf_diff.py compares value by value: where(condition) as
a host op (plans containing it run op by op), constants that never wrap, the centered RMSProp
update against TF's formula on every CPU kernel set, gradient clipping through
compute_gradients / apply_gradients."""
import numpy as np
import pytest

import graphengine as ge
import graphengine.compat.v1 as tf
from graphengine.errors import DTypeError


def test_where_coordinates():
    c = ge.placeholder(ge.bool_, (None, 3))
    w = ge.where(c)
    assert w.shape == (None, 2) and w.dtype == ge.int64
    x = np.array([[True, False, True], [False, False, False], [False, True, False]])
    total = ge.reduce_sum(ge.cast(w, ge.float32) * 2.0)   # a numeric op after the host op
    for kw in ({}, {"jit": "op"}, {"device": "reference"}):
        with ge.Session(**kw) as s:
            got, t = s.run([w, total], {c: x})
            np.testing.assert_array_equal(got, np.argwhere(x))
            assert got.dtype == np.int64 and t == 2.0 * np.argwhere(x).sum()
            assert s.run(w, {c: x[1:2]}).shape == (0, 2)   # no true entry
    with ge.Session() as s:
        info = s.plan_info(total, {c: x})
        assert info["executor"] == "op by op" and "run time" in info["reason"], info


def test_constants_never_wrap():
    assert ge.constant(2 ** 40).dtype == ge.int64 and ge.constant([1, -2 ** 31]).dtype == ge.int32
    with pytest.raises(DTypeError, match="does not fit in int32"):
        ge.constant(2 ** 40, dtype=ge.int32)
    with pytest.raises(ValueError, match="does not fit in int64"):
        ge.constant(2 ** 64)
    with pytest.raises(DTypeError, match="does not fit"):
        ge.constant([1, 2], ge.int32) + 2 ** 40


@pytest.mark.parametrize("device", ["cpu", "reference"])
def test_centered_rmsprop_follows_tf_formula(device):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)
    w = ge.Variable(w0, name="w_crms")
    loss = ge.reduce_sum(w * w * w)
    lr, rho, mu, eps = 0.01, 0.9, 0.5, 1e-6
    opt = ge.train.RMSPropOptimizer(lr, decay=rho, momentum=mu, epsilon=eps, centered=True)
    train = opt.minimize(loss)
    var, ms, mg, mom = w0.copy(), np.ones(5), np.zeros(5), np.zeros(5)
    with ge.Session(device=device, jit="op") as s:
        s.run(ge.global_variables_initializer())
        for _ in range(3):
            g = 3 * var * var
            ms = ms + (g * g - ms) * (1 - rho)          # TF1 ApplyCenteredRMSProp
            mg = mg + (g - mg) * (1 - rho)
            mom = mom * mu + lr * g / np.sqrt(ms - mg * mg + eps)
            var = var - mom
            s.run(train)
        np.testing.assert_allclose(s.run(w), var, rtol=1e-12)
        np.testing.assert_allclose(s.run(opt.get_slot(w, "RMSProp_1")), mg, rtol=1e-12)


def test_gradient_clipping_idiom():
    w = tf.Variable([3.0, -4.0], name="w_clip")
    loss = tf.reduce_sum(w * w)
    opt = tf.train.GradientDescentOptimizer(0.5)
    grads, tvars = zip(*opt.compute_gradients(loss))
    clipped, norm = tf.clip_by_global_norm(grads, 1.0)
    train = opt.apply_gradients(zip(clipped, tvars))
    with tf.Session() as s:
        s.run(tf.global_variables_initializer())
        assert np.isclose(s.run(norm), 10.0)
        s.run(train)
        np.testing.assert_allclose(s.run(w), [3.0 - 0.5 * 0.6, -4.0 + 0.5 * 0.8], rtol=1e-6)


def test_integer_batch_matmul_and_v1_where_rows():
    a = ge.constant(np.arange(12, dtype=np.int32).reshape(2, 2, 3))
    b = ge.constant(np.ones((3, 2), np.int32))
    c = tf.where(tf.constant([True, False]), tf.ones([2, 3]), tf.zeros([2, 3]))  # rows, as TF1
    for kw in ({}, {"jit": "op"}):
        with ge.Session(**kw) as s:
            np.testing.assert_array_equal(s.run(ge.matmul(a, b)), np.arange(12).reshape(2, 2, 3) @ np.ones((3, 2)))
            np.testing.assert_array_equal(s.run(c), [[1, 1, 1], [0, 0, 0]])
