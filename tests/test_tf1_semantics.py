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


GPU_CHECK = """
import simpatch, numpy as np, graphengine as ge
def run(device):
    ge.reset_default_graph()
    rng = np.random.default_rng(0)
    x = ge.placeholder(ge.float32, (None, 2, 3))
    w = ge.Variable(rng.standard_normal((3, 2)).astype(np.float32))
    h = ge.matmul(x, w)                                   # batch_matmul
    loss = ge.reduce_mean(ge.reduce_prod(ge.tanh(h) + 2.0, axis=1)) + ge.reduce_sum(ge.nn.selu(h))
    train = ge.train.RMSPropOptimizer(0.01, momentum=0.5, centered=True).minimize(loss)
    coords = ge.where(ge.greater(h, 0.0))
    xv = rng.standard_normal((4, 2, 3)).astype(np.float32)
    with ge.Session(device=device) as s:
        s.run(ge.global_variables_initializer())
        for _ in range(3):
            s.run(train, {x: xv})
        return s.run([loss, w, coords], {x: xv})
ref, gpu = run("reference"), run("gpu")
np.testing.assert_allclose(gpu[0], ref[0], rtol=1e-5)
np.testing.assert_allclose(gpu[1], ref[1], rtol=1e-5, atol=1e-6)
np.testing.assert_array_equal(gpu[2], ref[2])
print("GPU-SIM-OK")
"""


def test_new_ops_train_on_the_cuda_simulator():
    """Batched matmul, reduce_prod, centered RMSProp and where(c) through Session(device="gpu")
    under the Numba CUDA simulator (switched on before Numba loads: a subprocess)."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env.update(NUMBA_ENABLE_CUDASIM="1", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([root, os.path.join(root, "tests"), env.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", GPU_CHECK], cwd=root, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and "GPU-SIM-OK" in r.stdout, (r.stdout + r.stderr)[-5000:]
