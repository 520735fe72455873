"""Batch normalization through graphengine.compat.v1, the TF1 idiom: tf.layers.batch_normalization
with training=<bool placeholder>, the moving statistics updated by UPDATE_OPS under
tf.control_dependencies, evaluation with training=False; checked against NumPy doing what TF1 does.
Also gather/embedding errors and training through the compiled step."""
import numpy as np
import pytest

import graphengine as ge
import graphengine.compat.v1 as tf

MOMENTUM, EPS = 0.99, 1e-3


def _model(rank4: bool = False):
    tf.reset_default_graph()
    tf.set_random_seed(1)
    x = tf.placeholder(tf.float32, [None, 2, 2, 3] if rank4 else [None, 4])
    labels = tf.placeholder(tf.int64, [None])
    training = tf.placeholder_with_default(False, (), name="training")
    h = tf.layers.flatten(x) if rank4 else tf.layers.dense(x, 6)
    bn_in = x if rank4 else h
    z = tf.layers.batch_normalization(bn_in, training=training)
    logits = tf.layers.dense(tf.layers.flatten(tf.nn.relu(z)), 3)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    update_ops = tf.get_collection(tf.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(update_ops):
        train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    return x, labels, training, bn_in, z, loss, train, update_ops


def _variables(sess):
    names = ["gamma", "beta", "moving_mean", "moving_variance"]
    by_name = {v.name: v for v in tf.global_variables()}
    return [sess.run(by_name[f"batch_normalization/{n}:0"]) for n in names]


@pytest.mark.parametrize("jit", ["step", "op"])
def test_layer_trains_then_evaluates_with_moving_statistics(jit):
    x, labels, training, h, z, loss, train, update_ops = _model()
    assert len(update_ops) == 2
    assert {v.name for v in tf.global_variables()} >= {
        "batch_normalization/gamma:0", "batch_normalization/beta:0", "batch_normalization/moving_mean:0",
        "batch_normalization/moving_variance:0"}
    assert {v.name for v in tf.trainable_variables()}.isdisjoint({"batch_normalization/moving_mean:0",
                                                                "batch_normalization/moving_variance:0"})
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4)).astype(np.float32) * 2 + 1
    Y = (X[:, 0] > 1).astype(np.int64) + (X[:, 1] > 1)
    mm, mv = np.zeros(6), np.ones(6)
    with tf.Session(config={"jit": jit}) as sess:
        sess.run(tf.global_variables_initializer())
        losses = []
        for step in range(30):
            batch = slice((step % 4) * 16, (step % 4 + 1) * 16)
            hv, lv, _ = sess.run([h, loss, train], {x: X[batch], labels: Y[batch], training: True})
            losses.append(lv)
            # TF1: moving -= (moving - batch_stat) * (1 - momentum); rank 2: biased variance
            mm -= (mm - hv.mean(0)) * (1 - MOMENTUM)
            mv -= (mv - hv.var(0)) * (1 - MOMENTUM)
        gamma, beta, got_mm, got_mv = _variables(sess)
        np.testing.assert_allclose(got_mm, mm, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got_mv, mv, rtol=1e-4, atol=1e-5)
        assert np.mean(losses[-4:]) < np.mean(losses[:4])
        # evaluation (training defaults to False): the moving statistics, and no update
        hv, zv = sess.run([h, z], {x: X[:16]})
        np.testing.assert_allclose(zv, gamma * (hv - got_mm) / np.sqrt(got_mv + EPS) + beta, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(_variables(sess)[2], got_mm)
        if jit == "step":
            info = sess.plan_info([h, loss, train], {x: X[:16], labels: Y[:16], training: True})
            assert info["executor"] == "compiled step", info


def test_rank4_fused_path_updates_with_bessel_corrected_variance():
    x, labels, training, h, z, loss, train, update_ops = _model(rank4=True)
    X = np.random.default_rng(1).standard_normal((5, 2, 2, 3)).astype(np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        zv, _ = sess.run([z, update_ops], {x: X, training: True})
        _, _, mm, mv = _variables(sess)
    flat = X.reshape(-1, 3)
    np.testing.assert_allclose(mm, (1 - MOMENTUM) * flat.mean(0), rtol=1e-5, atol=1e-6)
    # TF1's fused kernel reports the unbiased variance for the moving average ...
    np.testing.assert_allclose(mv, MOMENTUM + (1 - MOMENTUM) * flat.var(0, ddof=1), rtol=1e-5)
    # ... and normalizes with the biased one
    np.testing.assert_allclose(zv, ((X - flat.mean(0)) / np.sqrt(flat.var(0) + EPS)), rtol=1e-4, atol=1e-4)


def test_fused_batch_norm_returns_tf1_statistics_and_clamps_epsilon():
    X = np.random.default_rng(2).standard_normal((3, 2, 2, 4))
    y, m, v = ge.nn.fused_batch_norm(ge.constant(X), np.ones(4), np.zeros(4), epsilon=0.0)
    with ge.Session() as s:
        yv, mv, vv = s.run([y, m, v])
    flat = X.reshape(-1, 4)
    np.testing.assert_allclose(mv, flat.mean(0))
    np.testing.assert_allclose(vv, flat.var(0, ddof=1))
    np.testing.assert_allclose(yv, (X - flat.mean(0)) / np.sqrt(flat.var(0) + 1.001e-5), rtol=1e-9)


def test_layer_with_python_false_adds_no_updates_and_names_uniquify():
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 3])
    tf.layers.batch_normalization(x, training=False)
    tf.layers.batch_normalization(x, training=True)
    assert len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)) == 2
    names = {v.name for v in tf.global_variables()}
    assert "batch_normalization_1/moving_variance:0" in names and "batch_normalization/gamma:0" in names


def test_batch_norm_shape_errors_name_the_op():
    with pytest.raises(ge.ShapeError, match="batch_norm.*channels"):
        ge.nn.fused_batch_norm(ge.placeholder(ge.float32, (None, 2, 2, 3)), np.ones(4, np.float32))


# ----- gather / embeddings -----------------------------------------------------------------------

@pytest.mark.parametrize("jit", ["step", "op"])
def test_out_of_range_ids_raise_naming_the_op_and_the_id(jit):
    table = ge.Variable(np.ones((5, 2), np.float32), name="table")
    ids = ge.placeholder(ge.int32, (None,))
    loss = ge.reduce_sum(ge.nn.embedding_lookup(table, ids, name="lookup"))
    train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    with ge.Session(jit=jit) as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {ids: [0, 4]})
        with pytest.raises(ge.GraphEngineError, match=r"lookup.*indices\[1\] = 5 is not in \[0, 5\)"):
            s.run(train, {ids: [1, 5, 2]})
        with pytest.raises(ge.GraphEngineError, match=r"indices\[0\] = -1"):
            s.run(loss, {ids: [-1]})
        got = s.run(table)
    want = np.ones((5, 2), np.float32)
    want[[0, 4]] -= 0.1
    np.testing.assert_allclose(got, want)  # the failed steps changed nothing


def test_embedding_gradient_sums_duplicate_ids_under_adam():
    tf.reset_default_graph()
    table = tf.get_variable("emb", [4, 3], initializer=tf.zeros_initializer())
    ids = tf.placeholder(tf.int32, [None])
    w = tf.constant(np.arange(1, 13, dtype=np.float32).reshape(4, 3))
    loss = tf.reduce_sum(tf.nn.embedding_lookup(table, ids) * tf.gather(w, ids))
    (g,) = tf.gradients(loss, [table])
    train = tf.train.AdamOptimizer(0.5).minimize(loss)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        gv = sess.run(g, {ids: [2, 0, 2, 2]})
        sess.run(train, {ids: [2, 0, 2, 2]})
        after = sess.run(table)
    want = np.zeros((4, 3), np.float32)
    want[0], want[2] = w_np(0), 3 * w_np(2)
    np.testing.assert_allclose(gv, want)
    # Adam's first step moves every variable with a nonzero gradient by -lr * sign(grad)
    np.testing.assert_allclose(after, -0.5 * np.sign(want), atol=1e-6)


def w_np(i):
    return np.arange(1, 13, dtype=np.float32).reshape(4, 3)[i]
