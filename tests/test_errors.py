"""Errors people can act on: each raises the right type, names the op/placeholder/variable and
the user's line, and the session keeps working (with identical results) afterwards."""
import inspect
import os

import numpy as np
import pytest
from opdb import BACKENDS, session

import graphengine as ge

HERE = os.path.basename(__file__)
XV = np.array([[1.0, 2.0, -1.0], [0.5, -1.0, 2.0], [-1.5, 0.5, 1.0], [2.0, 1.0, 0.0]], np.float32)
LV = np.array([0, 1, 1, 0], np.int32)


def _line_of_next_statement() -> int:
    return inspect.currentframe().f_back.f_lineno + 1


def test_build_time_shape_error_names_op_shapes_and_user_line():
    x = ge.placeholder(ge.float32, (None, 3), name="feat")
    w = ge.placeholder(ge.float32, (4, 2), name="wt")
    with pytest.raises(ge.ShapeError) as e:
        line = _line_of_next_statement()
        ge.matmul(x, w, name="proj")
    msg = str(e.value)
    assert "matmul" in msg and "proj" in msg
    assert "(?, 3)" in msg and "(4, 2)" in msg, msg
    assert f"{HERE}:{line}" in msg, msg


def test_build_time_broadcast_error():
    a = ge.placeholder(ge.float32, (3, 4), name="a")
    b = ge.placeholder(ge.float32, (5,), name="b")
    with pytest.raises(ge.ShapeError) as e:
        line = _line_of_next_statement()
        a + b
    msg = str(e.value)
    assert "add" in msg and "(3, 4)" in msg and "(5,)" in msg and f"{HERE}:{line}" in msg, msg


@pytest.mark.parametrize("build,what", [
    (lambda: ge.reshape(ge.zeros((2, 3)), (4, 2)), "reshape"),
    (lambda: ge.concat([ge.zeros((2, 3)), ge.zeros((3, 2))], 0), "concat"),
    (lambda: ge.transpose(ge.zeros((2, 3)), (0, 0)), "transpose"),
    (lambda: ge.reduce_sum(ge.zeros((2, 3)), axis=2), "axis"),
    (lambda: ge.squeeze(ge.zeros((2, 3)), axis=0), "squeeze"),
    (lambda: ge.nn.sparse_softmax_cross_entropy_with_logits(labels=ge.zeros((3,), ge.int32),
                                                            logits=ge.zeros((2, 4))), "labels"),
])
def test_other_build_time_shape_errors(build, what):
    with pytest.raises(ge.ShapeError, match=what):
        build()


def test_dtype_errors_name_both_dtypes():
    with pytest.raises(ge.DTypeError) as e:
        ge.placeholder(ge.int32, (2,)) + ge.placeholder(ge.float32, (2,))
    assert "int32" in str(e.value) and "float32" in str(e.value)
    with pytest.raises(ge.DTypeError, match="bool"):
        ge.where(ge.constant([1.0]), ge.constant([1.0]), ge.constant([2.0]))
    with pytest.raises(ge.DTypeError):
        ge.sqrt(ge.constant([4]))  # integer input to a float-only op
    with pytest.raises(ge.DTypeError):
        ge.nn.sparse_softmax_cross_entropy_with_logits(labels=ge.zeros((2,)), logits=ge.zeros((2, 3)))


# ----- run-time errors leave the session usable -------------------------------------------------

def _model():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    labels = ge.placeholder(ge.int32, (None,), name="labels")
    w = ge.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2), name="W")
    logits = ge.matmul(x, w)
    xent = ge.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits, name="xent")
    loss = ge.reduce_mean(xent)
    train = ge.train.GradientDescentOptimizer(0.5).minimize(loss)
    return x, labels, w, loss, train


BAD_FEEDS = {
    "wrong_shape": (lambda x, lab, g: {x: np.zeros((4, 5), np.float32), lab: LV}, ge.FeedError,
                    ["x", "(4, 5)"]),
    "wrong_rank": (lambda x, lab, g: {x: XV, lab: LV[:, None]}, ge.FeedError, ["labels"]),
    "float_into_int": (lambda x, lab, g: {x: XV, lab: LV.astype(np.float32)}, ge.FeedError,
                       ["labels", "float32", "int32"]),
    "unknown_name": (lambda x, lab, g: {x: XV, lab: LV, "no_such_tensor:0": 1.0}, ge.FeedError,
                     ["no_such_tensor"]),
    "other_graph": (lambda x, lab, g: {x: XV, lab: LV, g: 1.0}, ge.FeedError, ["another graph"]),
    "missing_placeholder": (lambda x, lab, g: {x: XV}, ge.FeedError, ["labels", "feed"]),
    "runtime_shape_mismatch": (lambda x, lab, g: {x: np.ones((5, 3), np.float32), lab: np.zeros(6, np.int32)},
                               ge.ShapeError, ["xent", "(5, 2)", "(6,)"]),
    "label_out_of_range": (lambda x, lab, g: {x: XV, lab: np.array([0, 1, 7, 0], np.int32)},
                           ge.GraphEngineError, ["xent"]),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(BAD_FEEDS))
def test_bad_run_raises_and_session_still_works(case, backend):
    make_feed, err, words = BAD_FEEDS[case]
    x, labels, w, loss, train = _model()
    other = ge.Graph()
    with other.as_default():
        foreign = ge.placeholder(ge.float32, (), name="foreign")
    good = {x: XV, labels: LV}
    with session(backend) as clean:  # the same steps, without errors
        clean.run(ge.global_variables_initializer())
        want = [clean.run([loss, train], good)[0] for _ in range(2)] + [clean.run(w)]
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        first = s.run([loss, train], good)[0]
        before = s.run(w)
        with pytest.raises(err) as e:
            s.run([loss, train], make_feed(x, labels, foreign))
        msg = str(e.value)
        for word in words:
            assert word in msg, f"{word!r} not in: {msg}"
        np.testing.assert_array_equal(s.run(w), before)  # a failed step updates nothing
        second = s.run([loss, train], good)[0]
        got = [first, second, s.run(w)]
    for g, wv in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, wv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_feed_names_the_placeholder_and_its_site(backend):
    line = _line_of_next_statement()
    x = ge.placeholder(ge.float32, (2,), name="needed_input")
    y = ge.reduce_sum(x * 2, name="total")
    with session(backend) as s:
        with pytest.raises(ge.FeedError) as e:
            s.run(y)
        assert "needed_input" in str(e.value) and f"{HERE}:{line}" in str(e.value), str(e.value)
        assert float(s.run(y, {x: [1.0, 2.0]})) == 6.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_feeding_a_variable_is_refused(backend):
    v = ge.Variable(np.zeros(2, np.float32), name="vv")
    with session(backend) as s:
        s.run(v.initializer)
        with pytest.raises(ge.FeedError, match="vv"):
            s.run(v * 2, {v: np.ones(2, np.float32)})
        np.testing.assert_array_equal(s.run(v * 2), [0, 0])


# ----- gradients ---------------------------------------------------------------------------------

def test_gradient_without_rule_names_the_op():
    x = ge.placeholder(ge.float64, (3,), name="x")
    (g,) = ge.gradients(ge.reduce_sum(ge.nn.relu(x)), [x])
    assert g.op.type == "relu_grad"
    with pytest.raises(ge.GradientError) as e:
        ge.gradients(ge.reduce_sum(g * x), [x])  # a second derivative through relu_grad
    assert "relu_grad" in str(e.value)


def test_gradients_with_no_path_are_none():
    x = ge.placeholder(ge.float32, (2,), name="x")
    z = ge.placeholder(ge.float32, (2,), name="z")
    y = ge.reduce_sum(x * 2)
    assert ge.gradients(y, z) == [None]
    assert ge.gradients(y, [x, z])[1] is None
    assert ge.gradients(ge.reduce_sum(ge.cast(ge.argmax(x), ge.float32)), [x]) == [None]
    assert ge.gradients(ge.reduce_sum(ge.stop_gradient(x)), [x]) == [None]


def test_minimize_without_gradient_path_names_the_variables():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    w = ge.Variable(np.ones((3, 1), np.float32), name="dense_W")
    b = ge.Variable(np.zeros(1, np.float32), name="dense_b")
    pred = ge.argmax(ge.matmul(x, w) + b, axis=1)
    loss = ge.reduce_mean(ge.cast(pred, ge.float32))  # argmax has no gradient
    with pytest.raises(ge.GradientError) as e:
        ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    assert "dense_W" in str(e.value) and "dense_b" in str(e.value)


def test_gradients_of_integer_ys_raise():
    x = ge.placeholder(ge.float32, (2,))
    with pytest.raises(ge.GradientError, match="floating"):
        ge.gradients(ge.reduce_sum(ge.cast(x, ge.int32) * 2), [x])  # path exists only via cast


@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_numerics_names_the_first_bad_op(backend):
    x = ge.placeholder(ge.float32, (2,), name="x")
    y = ge.log(x, name="the_log")
    z = ge.reduce_sum(y * 2)
    with session(backend, debug_numerics=True) as s:
        with pytest.raises(ge.NumericsError, match="the_log"):
            s.run(z, {x: [1.0, -1.0]})
        assert float(s.run(z, {x: [1.0, 1.0]})) == 0.0
