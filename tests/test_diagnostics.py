"""Diagnostics that point at the user's code: creation sites (also of gradient ops and inside the
compiled step), gradient-path errors naming the blocking op, numerics debugging, and failed runs
that leave every variable as it was, on every CPU mode and the reference backend."""
import inspect
import os

import numpy as np
import pytest

import graphengine as ge

HERE = os.path.basename(__file__)
MODES = {"reference": {"device": "reference"}, "cpu-op": {"jit": "op"}, "cpu-step": {"jit": "step"}}
BACKENDS = list(MODES)


def session(backend: str, **kw) -> ge.Session:
    return ge.Session(**MODES[backend], **kw)


def _next_line() -> int:
    return inspect.currentframe().f_back.f_lineno + 1


# ----- creation sites ----------------------------------------------------------------------------

def test_every_op_records_the_users_line_and_scope():
    line = _next_line()
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    with ge.name_scope("layer1"):
        w = ge.Variable(np.ones((3, 2), np.float32), name="W")
        h = ge.nn.relu(ge.matmul(x, w))
    for t in (x, w.value(), h):
        assert t.op.site.startswith(__file__), t.op.site
    assert x.op.site.endswith(f":{line}")
    assert h.op.name.startswith("layer1/") and h.op.scope == "layer1"


def test_gradient_ops_point_at_their_forward_op_and_users_line():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    with ge.name_scope("dense"):
        w = ge.Variable(np.ones((3, 2), np.float32), name="W")
        line = _next_line()
        y = ge.matmul(x, w, name="proj")
    (gw,) = ge.gradients(ge.reduce_sum(ge.square(y)), [w])
    # every backward op that came from `proj` names it and the line that built it
    from_proj = [op for op in gw.graph.get_operations() if op.forward is y.op]
    assert from_proj
    for op in from_proj:
        text = op.describe()
        assert "gradient of 'dense/proj' (matmul)" in text and f"{HERE}:{line}" in text, text


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_time_shape_error_in_a_gradient_op_names_forward_op_and_line(backend):
    x = ge.placeholder(ge.float32, (None, None), name="x")
    w = ge.Variable(np.ones((3, 2), np.float32), name="W")
    with ge.name_scope("head"):
        line = _next_line()
        y = ge.matmul(x, w, name="logits")
    loss = ge.reduce_sum(y)
    train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(ge.ShapeError) as e:
            s.run(train, {x: np.ones((2, 4), np.float32)})
        msg = str(e.value)
        assert "head/logits" in msg and f"{HERE}:{line}" in msg and "(2, 4)" in msg, msg
        np.testing.assert_array_equal(s.run(w), np.ones((3, 2)))


def test_kernel_error_inside_the_compiled_step_names_op_scope_and_line():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    labels = ge.placeholder(ge.int32, (None,), name="labels")
    w = ge.Variable(np.ones((3, 4), np.float32), name="W")
    with ge.name_scope("loss"):
        line = _next_line()
        xent = ge.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x @ w, name="xent")
    train = ge.train.AdamOptimizer(0.1).minimize(ge.reduce_mean(xent))
    with ge.Session(jit="step") as s:
        s.run(ge.global_variables_initializer())
        feed = {x: np.ones((4, 3), np.float32), labels: np.array([0, 1, 2, 3], np.int32)}
        s.run(train, feed)
        exe = s._plans[next(reversed(s._plans))]
        assert type(exe).__name__ == "StepExecutable"  # the compiled path, not op by op
        before = s.run(w)
        with pytest.raises(ge.GraphEngineError) as e:
            s.run(train, {x: feed[x], labels: np.array([0, 1, 9, 3], np.int32)})
        msg = str(e.value)
        assert "loss/xent" in msg and f"{HERE}:{line}" in msg and "9" in msg, msg
        np.testing.assert_array_equal(s.run(w), before)


# ----- gradient paths ----------------------------------------------------------------------------

BLOCKERS = {
    "argmax": (lambda h: ge.cast(ge.argmax(h, axis=1), ge.float32), "argmax", "not differentiable"),
    "equal": (lambda h: ge.cast(ge.equal(h, 0.0), ge.float32), "equal", "not differentiable"),
    "one_hot": (lambda h: ge.one_hot(ge.argmax(h, axis=1), 3), "argmax", "not differentiable"),
    "stop_gradient": (lambda h: ge.stop_gradient(h), "stop_gradient", "stop_gradient"),
    "int_cast": (lambda h: ge.cast(ge.cast(h, ge.int32), ge.float32), "cast", "int32"),
}


@pytest.mark.parametrize("case", list(BLOCKERS))
def test_minimize_without_gradient_names_variables_and_blocking_op(case):
    block, op_type, why = BLOCKERS[case]
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    w = ge.Variable(np.ones((3, 2), np.float32), name="dense_W")
    b = ge.Variable(np.zeros(2, np.float32), name="dense_b")
    h = ge.matmul(x, w) + b
    with ge.name_scope("metric"):
        blocked = block(h)
    line = block.__code__.co_firstlineno  # the lambda's line built the blocking op
    loss = ge.reduce_mean(blocked)
    assert ge.gradients(loss, [w.value(), b.value()]) == [None, None]
    with pytest.raises(ge.GradientError) as e:
        ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    msg = str(e.value)
    assert "dense_W" in msg and "dense_b" in msg, msg
    assert f"metric/{op_type}" in msg and f"({op_type})" in msg and why in msg, msg
    assert f"{HERE}:{line}" in msg, msg


def test_minimize_with_no_connection_says_so():
    ge.Variable(np.ones(2, np.float32), name="unused_W")
    loss = ge.reduce_sum(ge.constant([1.0, 2.0]))
    with pytest.raises(ge.GradientError, match="unused_W.*does not depend"):
        ge.train.GradientDescentOptimizer(0.1).minimize(loss)


def test_a_partly_blocked_loss_still_trains_the_reachable_variables():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    w = ge.Variable(np.ones((3, 2), np.float32), name="W")
    h = ge.matmul(x, w)
    loss = ge.reduce_sum(ge.square(h)) + ge.reduce_sum(ge.cast(ge.argmax(h, 1), ge.float32))
    assert ge.autodiff.blocking_ops(loss, [w.value()]) == []
    ge.train.GradientDescentOptimizer(0.1).minimize(loss)  # does not raise


# ----- numerics debugging ------------------------------------------------------------------------

def _sqrt_model():
    x = ge.placeholder(ge.float32, (None,), name="x")
    w = ge.Variable(np.ones(3, np.float32), name="w")
    with ge.name_scope("layer"):
        line = _next_line()
        y = ge.sqrt(x * w, name="root")
    train = ge.train.GradientDescentOptimizer(0.1).minimize(ge.reduce_sum(y))
    return x, w, y, train, line


@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_numerics_forward_nan_reports_op_inputs_and_line(backend):
    x, w, y, train, line = _sqrt_model()
    with session(backend, debug_numerics=True) as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(ge.NumericsError) as e, np.errstate(all="ignore"):
            s.run(train, {x: np.array([1.0, -4.0, 2.0], np.float32)})
        msg = str(e.value)
        assert "op 'layer/root' (sqrt)" in msg and f"{HERE}:{line}" in msg, msg
        assert "non-finite=1" in msg and "input 0 layer/multiply:0" in msg and "min=-4" in msg, msg
        np.testing.assert_array_equal(s.run(w), np.ones(3))  # the failed step changed nothing
        s.run(train, {x: np.array([1.0, 4.0, 2.0], np.float32)})
        assert not np.array_equal(s.run(w), np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_numerics_backward_nan_names_the_forward_op(backend):
    """sqrt(0) is fine forward; its gradient 1/(2*sqrt(0)) is the first Inf, in the backward pass."""
    x, w, y, train, line = _sqrt_model()
    with session(backend, debug_numerics=True) as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(ge.NumericsError) as e, np.errstate(all="ignore"):
            s.run(train, {x: np.array([1.0, 0.0, 2.0], np.float32)})
        msg = str(e.value)
        assert msg.startswith("op 'gradients/layer/root_grad/"), msg
        assert "gradient of 'layer/root' (sqrt)" in msg and f"{HERE}:{line}" in msg, msg
        np.testing.assert_array_equal(s.run(w), np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_numerics_are_not_checked_by_default(backend):
    x, w, y, train, line = _sqrt_model()
    with session(backend) as s, np.errstate(all="ignore"):
        s.run(ge.global_variables_initializer())
        out = s.run(y, {x: np.array([1.0, -4.0, 2.0], np.float32)})
        assert np.isnan(out[1])  # no error: NaNs flow through as in TF1


def test_default_step_backend_compiles_without_checks_and_debug_runs_op_by_op():
    x, w, y, train, line = _sqrt_model()
    feed = {x: np.array([1.0, 4.0, 2.0], np.float32)}
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        s.run(train, feed)
        exe = s._plans[next(reversed(s._plans))]
        assert type(exe).__name__ == "StepExecutable"
        assert "isfinite" not in exe.source and "nan" not in exe.source.lower()
    with ge.Session(debug_numerics=True) as s:
        s.run(ge.global_variables_initializer())
        s.run(train, feed)
        exe = s._plans[next(reversed(s._plans))]
        assert type(exe).__name__ == "OpExecutor" and exe.debug_numerics


# ----- failed runs leave the state as it was ---------------------------------------------------

def _after_update_model():
    """A run whose failure happens *after* an update was applied (the update feeds a later op)."""
    lab = ge.placeholder(ge.int32, (None,), name="lab")
    x = ge.placeholder(ge.float32, (None, None), name="x")
    v = ge.Variable(np.ones((2, 2), np.float32), name="v")
    bumped = ge.assign(v, v + 1.0)
    prod = ge.matmul(x, bumped, name="after_assign")
    xent = ge.nn.sparse_softmax_cross_entropy_with_logits(
        labels=lab, logits=ge.matmul(ge.ones((3, 2)), bumped), name="xent_after")
    return lab, x, v, prod, xent


@pytest.mark.parametrize("backend", BACKENDS)
def test_shape_error_after_an_update_restores_the_variable(backend):
    lab, x, v, prod, xent = _after_update_model()
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(ge.ShapeError, match="after_assign"):
            s.run(prod, {x: np.ones((3, 3), np.float32)})
        np.testing.assert_array_equal(s.run(v), np.ones((2, 2)))
        np.testing.assert_array_equal(s.run(prod, {x: np.ones((1, 2), np.float32)}), [[4.0, 4.0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernel_error_after_an_update_restores_the_variable(backend):
    lab, x, v, prod, xent = _after_update_model()
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        with pytest.raises(ge.GraphEngineError, match="xent_after"):
            s.run(xent, {lab: np.array([0, 5, 1], np.int32)})
        np.testing.assert_array_equal(s.run(v), np.ones((2, 2)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_failed_training_steps_of_every_kind_leave_variables_and_slots(backend, opt):
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    labels = ge.placeholder(ge.int32, (None,), name="labels")
    w = ge.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), name="W")
    b = ge.Variable(np.zeros(4, np.float32), name="b")
    logits = ge.nn.relu(x @ w + b)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    o = ge.train.AdamOptimizer(0.1) if opt == "adam" else ge.train.GradientDescentOptimizer(0.1)
    train = o.minimize(loss)
    state = ge.global_variables()
    xs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ys = np.array([0, 1, 2, 3, 0], np.int32)
    bad = [
        ({x: xs[:, :2], labels: ys}, ge.FeedError),
        ({x: xs, labels: ys[:4]}, ge.ShapeError),
        ({x: xs, labels: np.array([0, 1, 2, 3, 4], np.int32)}, ge.GraphEngineError),
        ({x: xs.astype(np.complex64), labels: ys}, ge.FeedError),
    ]
    with session(backend) as clean:
        clean.run(ge.global_variables_initializer())
        for _ in range(2):
            clean.run(train, {x: xs, labels: ys})
        want = clean.run(state)
    with session(backend) as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {x: xs, labels: ys})
        before = s.run(state)
        for feed, err in bad:
            with pytest.raises(err):
                s.run(train, feed)
            for a, c in zip(s.run(state), before, strict=True):
                np.testing.assert_array_equal(a, c)
        s.run(train, {x: xs, labels: ys})
        for a, c in zip(s.run(state), want, strict=True):
            np.testing.assert_array_equal(a, c)
