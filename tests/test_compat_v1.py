"""graphengine.compat.v1: TF1 names, argument spellings, scopes, layers, and clear errors."""
import numpy as np
import pytest

import graphengine as ge
import graphengine.compat.v1 as tf


@pytest.mark.parametrize("path", [
    "nn.conv3d", "nn.depthwise_conv2d", "nn.sampled_softmax_loss", "contrib.rnn", "contrib.layers.batch_norm",
    "layers.Conv2D", "train.FtrlOptimizer", "losses.cosine_distance", "summary.audio", "data",
    "while_loop", "no_such_symbol", "initializers.orthogonal", "math.cumsum", "random.gamma",
])
def test_unsupported_symbols_raise_not_implemented_naming_them(path):
    obj = tf
    parts = path.split(".")
    with pytest.raises(NotImplementedError) as info:
        for p in parts:
            obj = getattr(obj, p)
    assert isinstance(info.value, AttributeError)  # so hasattr/getattr(tf, name, default) see it as absent
    assert f"tf.{path}" in str(info.value)
    assert "not supported" in str(info.value)


def test_hint_explains_why():
    with pytest.raises(NotImplementedError, match="recurrent networks are not implemented"):
        tf.nn.dynamic_rnn  # noqa: B018


def test_private_names_stay_attribute_errors():
    assert not hasattr(tf, "__wrapped__")
    assert not hasattr(tf.nn, "__wrapped__")
    assert not hasattr(tf.contrib.layers, "_private")


def test_every_public_name_resolves():
    for name in tf.__all__:
        getattr(tf, name)
    for ns in (tf.nn, tf.train, tf.losses, tf.layers, tf.contrib, tf.contrib.layers, tf.math,
               tf.initializers, tf.random, tf.logging):
        for name in dir(ns):
            getattr(ns, name)


def test_string_float_dtype_and_tf1_reduce_spellings():
    x = tf.placeholder("float", [None, 3])
    assert x.dtype == tf.float32
    s = tf.reduce_sum(x, reduction_indices=1, keep_dims=True)
    m = tf.reduce_mean(x, axis=0)
    mx = tf.reduce_max(x, reduction_indices=[0, 1])
    am = tf.argmax(x, dimension=1)
    a0 = tf.argmin(x)
    sm = tf.nn.softmax(x, dim=-1)
    v = np.array([[1, 5, 3], [4, 2, 6]], np.float32)
    with tf.Session() as sess:
        rs, rm, rmx, ram, ra0, rsm = sess.run([s, m, mx, am, a0, sm], {x: v})
    np.testing.assert_allclose(rs, [[9], [12]])
    np.testing.assert_allclose(rm, [2.5, 3.5, 4.5])
    assert rmx == 6 and np.isscalar(rmx)
    assert ram.tolist() == [1, 2] and ram.dtype == np.int64
    assert ra0.tolist() == [0, 1, 0]
    e = np.exp(v - v.max(1, keepdims=True))
    np.testing.assert_allclose(rsm, e / e.sum(1, keepdims=True), rtol=1e-6)
    with pytest.raises(ValueError, match="not both"):
        tf.reduce_sum(x, axis=0, reduction_indices=0)


def test_session_returns_numpy_scalars_and_accepts_scalar_feeds():
    a = tf.placeholder(tf.int16)
    b = tf.placeholder(tf.int16)
    with tf.Session() as sess:
        out = sess.run(tf.add(a, b), feed_dict={a: 2, b: 3})
        both = sess.run({"s": tf.multiply(a, b), "l": [a]}, feed_dict={a: 2, b: 3})
    assert "%i" % out == "5"  # noqa: UP031  (the TF1 idiom under test)
    assert isinstance(out, np.int16)
    assert both["s"] == 6 and isinstance(both["l"], list) and both["l"][0] == 2


def test_interactive_session_eval_and_run():
    sess = tf.InteractiveSession()
    try:
        v = tf.Variable(tf.zeros([2]))
        inc = tf.assign_add(v, tf.ones([2]))
        tf.global_variables_initializer().run()
        inc.op.run()
        inc.op.run()
        assert v.eval().tolist() == [2.0, 2.0]
    finally:
        sess.close()


def test_fetching_an_assign_returns_the_new_value():
    v = tf.Variable(tf.zeros([2]))
    inc = tf.assign_add(v, tf.ones([2]))
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(inc).tolist() == [1.0, 1.0]


def test_config_proto_maps_to_session_config():
    assert tf.ConfigProto(device_count={"GPU": 0}, log_device_placement=True) == {"device": "cpu"}
    assert tf.ConfigProto(allow_soft_placement=True) == {}
    with tf.Session(config=tf.ConfigProto(device="reference")) as sess:
        assert sess.device == "reference"
        assert sess.run(tf.constant(2.0) * 3) == 6.0


def test_variable_scope_reuse_and_scope_object():
    with tf.variable_scope("enc") as scope:
        w = tf.get_variable("w", [2, 3], initializer=tf.zeros_initializer())
        assert scope.name == "enc" and tf.get_variable_scope().name == "enc"
        assert not scope.reuse
        scope.reuse_variables()
        assert tf.get_variable("w", [2, 3]) is w
    with tf.variable_scope("enc", reuse=True):
        assert tf.get_variable("w") is w
    with tf.variable_scope("enc", reuse=tf.AUTO_REUSE):
        assert tf.get_variable("w", [2, 3]) is w
        u = tf.get_variable("u", [1])
    assert u.name == "enc/u:0" and w.name == "enc/w:0"
    with pytest.raises(ge.GraphEngineError, match="already exists"):
        with tf.variable_scope("enc"):
            tf.get_variable("w", [2, 3])
    assert tf.get_variable_scope().name == ""


def test_initializers_by_tf1_names():
    tf.set_random_seed(0)
    xav = tf.get_variable("xav", [200, 300], initializer=tf.contrib.layers.xavier_initializer())
    xavn = tf.get_variable("xavn", [20, 30], initializer=tf.contrib.layers.xavier_initializer(uniform=False))
    z = tf.get_variable("z", [3], initializer=tf.zeros_initializer())
    o = tf.get_variable("o", [3], initializer=tf.ones_initializer())
    c = tf.get_variable("c", [2], initializer=tf.constant_initializer(0.5))
    rn = tf.get_variable("rn", [4000], initializer=tf.random_normal_initializer(mean=1.0, stddev=0.1))
    tn = tf.get_variable("tn", [4000], initializer=tf.truncated_normal_initializer(stddev=1.0))
    he = tf.get_variable("he", [50, 50], initializer=tf.contrib.layers.variance_scaling_initializer())
    g = tf.get_variable("g", [5, 5], initializer=tf.glorot_normal_initializer())
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        vx, vz, vo, vc, vrn, vtn, vhe, vg, vxn = sess.run([xav, z, o, c, rn, tn, he, g, xavn])
    limit = np.sqrt(6 / (200 + 300))
    assert np.abs(vx).max() <= limit and np.abs(vx).max() > 0.9 * limit
    assert vz.tolist() == [0, 0, 0] and vo.tolist() == [1, 1, 1] and vc.tolist() == [0.5, 0.5]
    assert abs(vrn.mean() - 1.0) < 0.02 and abs(vrn.std() - 0.1) < 0.01
    assert np.abs(vtn).max() <= 2.0
    assert vhe.shape == (50, 50) and vg.shape == (5, 5) and vxn.shape == (20, 30)


def test_set_random_seed_makes_graphs_reproducible():
    def build():
        tf.reset_default_graph()
        tf.set_random_seed(42)
        w = tf.Variable(tf.random_normal([3, 3]))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return sess.run(w)
    np.testing.assert_array_equal(build(), build())


def test_layers_dense_names_shapes_and_values():
    x = tf.placeholder(tf.float32, [None, 3])
    h = tf.layers.dense(x, 4, activation=tf.nn.relu)
    out = tf.layers.dense(h, 2, use_bias=False, kernel_initializer=tf.ones_initializer())
    names = [v.name for v in tf.trainable_variables()]
    assert names == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0"]
    assert h.shape == (None, 4) and out.shape == (None, 2)
    shared = tf.layers.dense(x, 4, name="dense", reuse=True)
    assert len(tf.trainable_variables()) == 3
    v = np.array([[1.0, -2.0, 0.5]], np.float32)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        k, b = sess.run(tf.trainable_variables()[:2])
        rh, rout, rshared = sess.run([h, out, shared], {x: v})
    np.testing.assert_allclose(rh, np.maximum(v @ k + b, 0), rtol=1e-6)
    np.testing.assert_allclose(rout, rh.sum(1, keepdims=True).repeat(2, 1), rtol=1e-6)
    np.testing.assert_allclose(rshared, v @ k + b, rtol=1e-6)


def test_contrib_fully_connected_defaults_to_relu_and_flatten():
    x = tf.placeholder(tf.float32, [None, 2, 2])
    flat = tf.contrib.layers.flatten(x)
    y = tf.contrib.layers.fully_connected(flat, 3, weights_initializer=tf.constant_initializer(-1.0))
    assert flat.shape == (None, 4)
    assert [v.name for v in tf.trainable_variables()] == ["fully_connected/kernel:0",
                                                            "fully_connected/bias:0"]
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        r = sess.run(y, {x: np.ones((1, 2, 2), np.float32)})
    assert r.tolist() == [[0.0, 0.0, 0.0]]  # relu(-4) = 0


def test_dense_rejects_rank3_clearly():
    x = tf.placeholder(tf.float32, [None, 2, 3])
    with pytest.raises(NotImplementedError, match="rank-3"):
        tf.layers.dense(x, 4)


def test_math_helpers_match_numpy():
    x = tf.placeholder(tf.float32, [2, 2])
    v = np.array([[0.2, 0.7], [0.9, 0.1]], np.float32)
    y = np.array([[0, 1], [1, 0]], np.float32)
    w = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    b = tf.constant([0.5, -0.5])
    fetches = {
        "add_n": tf.add_n([x, x, x]), "zeros_like": tf.zeros_like(x), "ones_like": tf.ones_like(x),
        "int": tf.to_int32(tf.constant([1.7, -2.2])), "xw": tf.nn.xw_plus_b(x, w, b),
        "log_loss": tf.losses.log_loss(y, x), "mse": tf.losses.mean_squared_error(y, x),
        "div": tf.div(x, 2.0), "sub": tf.subtract(x, 1.0), "sq": tf.square(x), "neg": tf.negative(x),
        "l2": tf.nn.l2_loss(x),
    }
    with tf.Session() as sess:
        r = sess.run(fetches, {x: v})
    np.testing.assert_allclose(r["add_n"], 3 * v, rtol=1e-6)
    assert r["zeros_like"].tolist() == [[0, 0], [0, 0]] and r["ones_like"].tolist() == [[1, 1], [1, 1]]
    assert r["int"].tolist() == [1, -2]
    np.testing.assert_allclose(r["xw"], v @ np.array([[1, 2], [3, 4]]) + [0.5, -0.5], rtol=1e-6)
    ll = -np.mean(y * np.log(v + 1e-7) + (1 - y) * np.log(1 - v + 1e-7))
    np.testing.assert_allclose(r["log_loss"], ll, rtol=1e-5)
    np.testing.assert_allclose(r["mse"], np.mean((v - y) ** 2), rtol=1e-6)
    np.testing.assert_allclose(r["div"], v / 2, rtol=1e-6)
    np.testing.assert_allclose(r["l2"], (v ** 2).sum() / 2, rtol=1e-6)


def test_training_namespace_and_global_step():
    assert tf.train.AdamOptimizer is ge.train.AdamOptimizer
    assert tf.train.GradientDescentOptimizer is ge.train.GradientDescentOptimizer
    w = tf.Variable(3.0)
    step = tf.train.get_or_create_global_step()
    assert tf.train.get_or_create_global_step() is step
    train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(tf.square(w), global_step=step)
    with tf.Session() as sess:
        sess.run(tf.global_variables_initializer())
        for _ in range(3):
            sess.run(train)
        assert sess.run(step) == 3
        assert abs(sess.run(w)) < 3.0


def test_tf1_nn_losses_and_dropout():
    logits = tf.placeholder(tf.float32, [None, 3])
    labels = tf.placeholder(tf.int64, [None])
    keep = tf.placeholder(tf.float32)
    loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    dropped = tf.nn.dropout(logits, keep)
    lv = np.array([[2.0, 1.0, 0.1]], np.float32)
    with tf.Session() as sess:
        r = sess.run(loss, {logits: lv, labels: [0]})
        d = sess.run(dropped, {logits: np.ones((100, 3), np.float32), keep: 1.0})
    p = np.exp(lv) / np.exp(lv).sum()
    np.testing.assert_allclose(r, -np.log(p[0, 0]), rtol=1e-5)
    assert d.tolist() == np.ones((100, 3)).tolist()
    with pytest.raises(NotImplementedError, match="noise_shape"):
        tf.nn.dropout(logits, 0.5, noise_shape=[1, 3])


def test_v2_compat_shims_are_harmless():
    tf.disable_v2_behavior()
    tf.disable_eager_execution()
    tf.logging.set_verbosity(tf.logging.INFO)
    assert tf.executing_eagerly() is False
    assert tf.local_variables_initializer().type in ("no_op", "group", "noop")


def test_tool_probes_are_attribute_errors():
    for name in ("pytest_plugins", "setup_module", "pytestmark"):
        assert not hasattr(tf, name)
        assert not hasattr(tf.nn, name)
