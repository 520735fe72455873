"""The core layers (``ge.layers``) and composites (``ge.zeros_like``, ``ones_like``, ``add_n``,
``ge.nn.xw_plus_b``, ``ge.nn.conv2d_backprop_filter``, ``ge.train.get_or_create_global_step``)
through the native API: TF1's variable names and defaults, values against NumPy, on every backend."""
import numpy as np
import pytest
from opdb import BACKENDS, session

import graphengine as ge

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def _run(backend, fetches, feed=None):
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        return s.run(fetches, feed)


def test_dense_names_defaults_values_and_reuse(backend):
    x = ge.placeholder(ge.float32, (None, 3))
    y = ge.layers.dense(x, 4, activation=ge.nn.relu)
    y2 = ge.layers.dense(x, 2, use_bias=False, kernel_initializer=ge.initializers.ones())
    names = [v.name for v in ge.trainable_variables()]
    assert names == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0"]
    kernel, bias = ge.trainable_variables()[:2]
    assert kernel.shape == (3, 4) and bias.shape == (4,) and y.shape == (None, 4)
    shared = ge.layers.dense(x, 4, name="dense", reuse=True)
    assert len(ge.trainable_variables()) == 3
    xv = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    got, got2, got_shared, k, b = _run(backend, [y, y2, shared, kernel, bias], {x: xv})
    np.testing.assert_array_equal(b, np.zeros(4))                  # zero bias
    lim = np.sqrt(6 / (3 + 4))                                     # Glorot-uniform kernel
    assert np.all(np.abs(k) <= lim) and np.std(k) > 0
    np.testing.assert_allclose(got, np.maximum(xv @ k + b, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got2, xv @ np.ones((3, 2)), rtol=1e-5)
    np.testing.assert_allclose(got_shared, xv @ k + b, rtol=1e-5, atol=1e-6)


def test_dense_rejects_unknown_features_and_higher_rank(backend):
    with pytest.raises(ge.ShapeError, match="last dimension"):
        ge.layers.dense(ge.placeholder(ge.float32, (None, None)), 2)
    with pytest.raises(ge.ShapeError, match="rank 2"):
        ge.layers.dense(ge.placeholder(ge.float32, (None, 2, 3)), 2)


def test_flatten_and_layer_dropout(backend):
    x = ge.placeholder(ge.float32, (None, 2, 3))
    flat = ge.layers.flatten(x)
    assert flat.shape == (None, 6)
    assert ge.layers.dropout(x, 0.5) is x                          # training=False by default
    on = ge.layers.dropout(x, 0.5, training=True, seed=1)
    xv = np.ones((4, 2, 3), np.float32)
    f, d = _run(backend, [flat, on], {x: xv})
    np.testing.assert_array_equal(f, xv.reshape(4, 6))
    assert set(np.unique(d)) <= {0.0, 2.0}
    with pytest.raises(ge.ShapeError, match="non-batch"):
        ge.layers.flatten(ge.placeholder(ge.float32, (None, None)))


def test_batch_normalization_layer(backend):
    x = ge.placeholder(ge.float32, (None, 3))
    y = ge.layers.batch_normalization(x, training=True)
    names = sorted(v.name for v in ge.global_variables())
    assert names == ["batch_normalization/beta:0", "batch_normalization/gamma:0",
                     "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"]
    assert [v.name for v in ge.get_default_graph().get_collection(ge.layers.MOVING_AVERAGE_VARIABLES)] == [
        "batch_normalization/moving_mean:0", "batch_normalization/moving_variance:0"]
    updates = ge.get_default_graph().get_collection(ge.layers.UPDATE_OPS)
    assert len(updates) == 2
    xv = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
    mean_var = ge.global_variables()[2]
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        got, _ = s.run([y, updates], {x: xv})
        moved = s.run(mean_var)
    want = (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(moved, 0.01 * xv.mean(0), rtol=1e-4, atol=1e-6)  # momentum 0.99
    with pytest.raises(ge.ShapeError, match="invalid axis"):
        ge.layers.batch_normalization(x, axis=2)


def test_zeros_like_ones_like_add_n(backend):
    c = ge.constant([[1.5, 2.0]])
    x = ge.placeholder(ge.int32, (None, 2))
    z, o = ge.zeros_like(c), ge.ones_like(c, ge.int32)
    zd, od = ge.zeros_like(x), ge.ones_like(x, ge.float32)          # run-time shapes
    assert z.dtype == ge.float32 and o.dtype == ge.int32 and od.dtype == ge.float32
    total = ge.add_n([c, c * 2, ge.exp(c)])
    named = ge.add_n([c], name="total")
    assert named.op.name == "total" and ge.add_n([c]) is c
    with pytest.raises(ValueError, match="at least one"):
        ge.add_n([])
    xv = np.array([[1, 2], [3, 4], [5, 6]], np.int32)
    got = _run(backend, [z, o, zd, od, total, named], {x: xv})
    assert got[0].tolist() == [[0, 0]] and got[1].tolist() == [[1, 1]]
    assert got[2].tolist() == [[0, 0]] * 3 and got[3].tolist() == [[1.0, 1.0]] * 3
    np.testing.assert_allclose(got[4], 3 * np.array([[1.5, 2.0]]) + np.exp([[1.5, 2.0]]), rtol=1e-6)
    np.testing.assert_array_equal(got[5], [[1.5, 2.0]])


def test_xw_plus_b_backprop_filter_global_step(backend):
    rng = np.random.default_rng(2)
    xv, wv, bv = (rng.standard_normal(s).astype(np.float32) for s in ((4, 3), (3, 2), (2,)))
    y = ge.nn.xw_plus_b(xv, wv, bv, name="xwb")
    assert y.op.name == "xwb"
    x = ge.constant(rng.standard_normal((2, 5, 5, 2)).astype(np.float32))
    w = ge.constant(rng.standard_normal((3, 3, 2, 3)).astype(np.float32))
    out = ge.nn.conv2d(x, w, 1, "SAME")
    dy = ge.constant(rng.standard_normal((2, 5, 5, 3)).astype(np.float32))
    dw = ge.nn.conv2d_backprop_filter(x, (3, 3, 2, 3), dy, 1, "SAME")
    (want_dw,) = ge.gradients(ge.reduce_sum(out * dy), [w])
    step = ge.train.get_or_create_global_step()
    assert ge.train.get_or_create_global_step() is step and step.dtype == ge.int64
    got, got_dw, gw, st = _run(backend, [y, dw, want_dw, step])
    np.testing.assert_allclose(got, xv @ wv + bv, rtol=1e-5, atol=1e-6)
    assert got_dw.shape == (3, 3, 2, 3) and int(st) == 0
    np.testing.assert_allclose(got_dw, gw, rtol=1e-4, atol=1e-5)
