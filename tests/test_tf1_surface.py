"""TF1's everyday surface: string tensors, absent-name probes, tf.device, run-time shapes
(tf.shape, shape tensors, no recompiles per batch size), indexing, TensorShape, tf.range and
random ops with tensor parameters."""
import numpy as np
import pytest

import graphengine as ge
import graphengine.compat.v1 as tf
from graphengine.errors import DTypeError

BACKENDS = ["reference", "cpu-op", "cpu-step"]


def _session(backend):
    return {"reference": lambda: tf.Session(config={"device": "reference"}),
            "cpu-op": lambda: tf.Session(config={"jit": "op"}),
            "cpu-step": lambda: tf.Session(config={"jit": "step"})}[backend]()


@pytest.mark.parametrize("backend", BACKENDS)
def test_string_tensors(backend):
    hello = tf.constant("Hello, TensorFlow!")
    names = tf.placeholder(tf.string, [None])
    joined = tf.strings.join([tf.constant("hi"), names], separator=" ")
    nums = tf.as_string(tf.constant([1.5, -2.0]), precision=1)
    ints = tf.as_string(tf.constant([[7, 42]]), width=3, fill="0")
    x = tf.placeholder(tf.float32, [None, 2])
    w = tf.Variable(np.ones((2, 1), np.float32))
    loss = tf.reduce_sum(tf.matmul(x, w))
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        assert sess.run(hello) == b"Hello, TensorFlow!"
        assert type(sess.run(tf.identity(hello))) is bytes
        got = sess.run(joined, {names: ["Ada", b"Grace"]})
        assert got.dtype == object and got.tolist() == [b"hi Ada", b"hi Grace"]
        assert sess.run(tf.identity(names), {names: ["x"]}).tolist() == [b"x"]  # str feeds become bytes
        assert sess.run(nums).tolist() == [b"1.5", b"-2.0"] and sess.run(ints).tolist() == [[b"007", b"042"]]
        assert sess.run(tf.reshape(tf.constant([["a", "b"]]), [-1]))[1] == b"b"
        # a plan mixing strings and compiled math runs op by op on the host, and says so
        lval, h = sess.run([loss, hello], {x: [[1, 2]]})
        assert lval == 3 and h == b"Hello, TensorFlow!"
        info = sess.plan_info([loss, hello], {x: [[1, 2]]})
        assert info["executor"] == "op by op"
        if backend == "cpu-step":
            assert "string" in info["reason"] and "Const" in info["reason"]
            assert sess.plan_info(loss, {x: [[1, 2]]})["executor"] == "compiled step"


def test_string_math_is_a_clear_error_naming_the_op_and_line():
    hello = tf.constant("Hello")
    with pytest.raises(DTypeError, match=r"add .*test_tf1_surface.py:\d+.*does not compute on strings"):
        hello + 1
    with pytest.raises(DTypeError, match="reduce_sum .*does not compute on strings"):
        tf.reduce_sum(hello)
    with pytest.raises(DTypeError, match="strings.join takes string tensors"):
        tf.strings.join([hello, tf.constant(1)])


def test_missing_names_are_absent_attributes_and_clear_errors():
    import sys
    assert not hasattr(tf, "no_such_name") and getattr(tf, "conv3d_transpose_x", 5) == 5
    assert not hasattr(tf.nn, "dynamic_rnn")
    with pytest.raises(tf.UnsupportedTF1Error, match="tf.nn.dynamic_rnn is not supported.*recurrent"):
        _ = tf.nn.dynamic_rnn
    assert issubclass(tf.UnsupportedTF1Error, AttributeError)
    assert issubclass(tf.UnsupportedTF1Error, NotImplementedError)
    x = tf.placeholder(tf.float32, [2])
    assert tf.is_tensor(x) and tf.is_tensor(tf.Variable(1.0)) and not tf.is_tensor(np.ones(2))
    # matplotlib's probe of sys.modules["tensorflow"].is_tensor
    from matplotlib import cbook
    saved = sys.modules.get("tensorflow")
    sys.modules["tensorflow"] = tf
    try:
        np.testing.assert_array_equal(cbook._unpack_to_numpy(np.arange(3)), np.arange(3))
    finally:
        if saved is None:
            del sys.modules["tensorflow"]
        else:
            sys.modules["tensorflow"] = saved
    assert tf.arg_max is tf.argmax and tf.arg_min is tf.argmin and tf.compat.v1 is tf


def test_device_records_the_placement_and_runs_on_the_session_device():
    g = tf.Graph()
    with g.as_default():
        with tf.device("/gpu:0"):
            a = tf.constant(2.0)
            with tf.device(lambda op: "/cpu:0" if op.type == "multiply" else "/gpu:1"):
                b = a * 3.0
                c = tf.identity(b)
        d = c + 1
        assert (a.device, b.device, c.device, d.device) == ("/gpu:0", "/cpu:0", "/gpu:1", "")
        with tf.Session() as sess:
            assert sess.run(d) == 7.0


def test_get_shape_is_a_tensor_shape_that_compares_as_a_tuple():
    x = tf.placeholder(tf.float32, [None, 3])
    s = x.get_shape()
    assert s == (None, 3) and s.as_list() == [None, 3] and s.ndims == 2 and not s.is_fully_defined()
    assert s[1].value == 3 and s[1] * 2 == 6 and s[0] is None and s[1:] == (3,)
    batch, dim = s
    assert batch is None and dim == 3 and tuple(s) == (None, 3) and hash(s) == hash((None, 3))
    assert tf.Variable(np.zeros((2, 4), np.float32)).get_shape().as_list() == [2, 4]
    assert tf.TensorShape([2, 4]).num_elements() == 8


@pytest.mark.parametrize("backend", BACKENDS)
def test_shape_is_a_run_time_op_and_plans_do_not_recompile_per_batch(backend):
    from graphengine.backends.cpu.step import COMPILE_COUNT
    x = tf.placeholder(tf.float32, [None, 4])
    assert tf.shape(tf.zeros([2, 3])).op.type == "const"  # fully known: a constant
    sh = tf.shape(x)
    assert sh.op.type == "shape" and sh.shape == (2,) and sh.dtype == tf.int32
    flat = tf.reshape(x, [tf.shape(x)[0], 2, -1])
    like = tf.reshape(tf.ones_like(x) * 2, tf.shape(x))
    z = tf.zeros(tf.shape(x)) + tf.fill([tf.shape(x)[0], 1], 3.0)
    assert flat.shape == (None, 2, None) and like.shape == (None, 4) and z.shape == (None, 4)
    w = tf.Variable(np.ones((4, 1), np.float32))
    loss = tf.reduce_sum(tf.matmul(tf.reshape(x, tf.shape(x)), w)) / tf.cast(tf.shape(x)[0], tf.float32)
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        before = COMPILE_COUNT[0]
        for n in (3, 5, 2):
            data = np.arange(4 * n, dtype=np.float32).reshape(n, 4)
            got_sh, got_flat, got_like, got_z, _ = sess.run([sh, flat, like, z, train], {x: data})
            assert got_sh.tolist() == [n, 4] and got_flat.shape == (n, 2, 2)
            np.testing.assert_array_equal(got_flat, data.reshape(n, 2, 2))
            assert got_like.shape == (n, 4) and np.all(got_like == 2) and np.all(got_z == 3)
        assert COMPILE_COUNT[0] == before  # declined, never compiled per batch size
        assert len(sess._plans) == 2  # the initializer and the step: one plan for every batch size
        if backend == "cpu-step":
            reason = sess.plan_info([sh, flat, like, z, train], {x: data})["reason"]
            assert "run time" in reason, reason


def test_shape_tensor_errors_name_the_problem():
    x = tf.placeholder(tf.float32, [None, 4])
    with pytest.raises(DTypeError, match="shape tensor must be int32 or int64"):
        tf.reshape(x, tf.cast(tf.shape(x), tf.float32))
    with tf.Session() as sess, pytest.raises(ge.GraphEngineError, match="Reshape"):
        sess.run(tf.reshape(x, [tf.shape(x)[0], 3]), {x: np.ones((2, 4))})


@pytest.mark.parametrize("backend", BACKENDS)
def test_indexing_matches_numpy_with_gradients(backend):
    data = np.arange(60, dtype=np.float64).reshape(3, 5, 4)
    x = tf.placeholder(tf.float64, [None, 5, 4])
    keys = [(slice(None), 1), (slice(None, None, 2), slice(1, 4)), (-1,), (Ellipsis, tf.newaxis, 0),
            (slice(None), slice(None, None, -2), slice(-3, None)), (0, 4, -1)]
    outs = [x[k] for k in keys] + [tf.slice(x, [0, 1, 2], [2, -1, 1]),
                                   tf.strided_slice(x, [0, 1], [3, 4], [2, 1])]
    want = [data[k] for k in keys] + [data[0:2, 1:, 2:3], data[0:3:2, 1:4]]
    assert outs[0].shape == (None, 4) and outs[1].shape == (None, 3, 4) and outs[5].shape == ()
    total = tf.add_n([tf.reduce_sum(o * (i + 1)) for i, o in enumerate(outs)])
    (g,) = tf.gradients(total, [x])
    want_g = np.zeros_like(data)
    for i, k in enumerate(keys + [(slice(0, 2), slice(1, None), slice(2, 3)), (slice(0, 3, 2), slice(1, 4))]):
        want_g[k] += i + 1
    with _session(backend) as sess:
        got = sess.run(outs + [g], {x: data})
    for o, w in zip(got[:-1], want):
        np.testing.assert_array_equal(o, w)
    np.testing.assert_array_equal(got[-1], want_g)
    parts = tf.unstack(tf.constant(data[0]), axis=1)
    with _session(backend) as sess:
        np.testing.assert_array_equal(sess.run(parts[2]), data[0][:, 2])
    with pytest.raises(ge.ShapeError, match="out of bounds"):
        x[:, 5]
    with pytest.raises(TypeError, match="tensor values in an index"):
        x[tf.constant(0)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_range(backend):
    x = tf.placeholder(tf.float32, [None])
    r = tf.range(tf.shape(x)[0])
    assert r.shape == (None,) and r.dtype == tf.int32
    with _session(backend) as sess:
        assert sess.run(r, {x: np.ones(4)}).tolist() == [0, 1, 2, 3]
        assert sess.run(tf.range(1, tf.shape(x)[0], 2), {x: np.ones(6)}).tolist() == [1, 3, 5]
        assert sess.run(tf.range(5)).tolist() == list(range(5))
        np.testing.assert_allclose(sess.run(tf.range(0.0, 1.0, 0.25)), [0, 0.25, 0.5, 0.75])


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_ops_with_shape_tensors_and_tensor_parameters(backend):
    tf.set_random_seed(3)
    mu = tf.placeholder(tf.float32, [None, 2])
    std = tf.Variable(np.full((1, 2), 2.0, np.float32))
    eps = tf.random_normal(tf.shape(mu))
    assert eps.op.type == "random_shaped" and eps.shape == (None, 2)
    z = mu + std * eps                                    # VAE reparameterization
    scaled = tf.random_normal(tf.shape(mu), mean=mu, stddev=std)
    unif = tf.random_uniform([tf.shape(mu)[0], 3], minval=tf.constant(-1.0), maxval=tf.constant(1.0))
    trunc = tf.truncated_normal(tf.shape(mu), stddev=tf.constant(0.5))
    (g,) = tf.gradients(tf.reduce_sum(z), [std])
    with _session(backend) as sess:
        sess.run(tf.global_variables_initializer())
        m = np.zeros((4000, 2), np.float32) + 5
        e, s, u, t, gv = sess.run([eps, scaled, unif, trunc, g], {mu: m})
        assert e.shape == (4000, 2) and u.shape == (4000, 3) and t.shape == (4000, 2)
        assert abs(e.mean()) < 0.1 and abs(e.std() - 1) < 0.1
        assert abs(s.mean() - 5) < 0.2 and abs(s.std() - 2) < 0.2
        assert u.min() >= -1 and u.max() < 1 and abs(u.mean()) < 0.1
        assert np.abs(t).max() <= 1.0 and t.std() < 0.5
        np.testing.assert_allclose(gv, e.sum(0, keepdims=True), rtol=1e-4)  # d/dstd of the same draw
        assert sess.run(eps, {mu: m[:3]}).shape == (3, 2)  # a new batch size: new shape, same plan
        assert not np.array_equal(sess.run(eps, {mu: m[:3]}), sess.run(eps, {mu: m[:3]}))


def test_slicing_compiles_into_the_step_and_matches_the_reference():
    """strided_slice and its gradient have step code: one compiled step for every batch size."""
    from graphengine.backends.cpu.step import COMPILE_COUNT
    x = tf.placeholder(tf.float64, [None, 5, 4])
    keys = [(slice(None), 1), (slice(None, None, 2), slice(1, 4)), (-1,), (Ellipsis, tf.newaxis, 0),
            (slice(None), slice(None, None, -2), slice(-3, None)), (0, 4, -1), (slice(-10, 10), slice(3, 1)),
            (slice(None, None, -1), slice(5, -7, -2), 2)]
    w = tf.Variable(np.linspace(-1, 1, 8).reshape(4, 2))
    outs = [x[k] for k in keys]
    loss = tf.add_n([tf.reduce_sum(o * (i + 1)) for i, o in enumerate(outs)]) + tf.reduce_sum(
        tf.matmul(x[:, 2], w)[1:, ::-1] ** 2)
    grads = tf.gradients(loss, [x, w])
    fetch = outs + grads + [loss]
    with tf.Session(config={"device": "reference"}) as ref, tf.Session(config={"jit": "step"}) as step:
        ref.run(tf.global_variables_initializer())
        step.run(tf.global_variables_initializer())
        before = COMPILE_COUNT[0]
        for n in (3, 1, 4):
            data = np.random.default_rng(n).standard_normal((n, 5, 4))
            want, got = ref.run(fetch, {x: data}), step.run(fetch, {x: data})
            for a, b in zip(want, got):
                assert np.shape(a) == np.shape(b)
                np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
        info = step.plan_info(fetch, {x: data})
    assert info["executor"] == "compiled step", info
    assert COMPILE_COUNT[0] - before <= 1  # compiled once, not per batch size (0 if cached on disk)
