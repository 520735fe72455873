"""Silent-wrong-result and unclear-error classes of issue 14, on every CPU backend: fed outputs of
multi-output ops, out-of-range integer feeds, malformed tensor names, closed sessions, float16,
infinite and NaN constants, empty-axis argmax. (NaN/inf/empty values per op: tests/opdb.py.)"""
import numpy as np
import pytest

import graphengine as ge

MODES = {"reference": {"device": "reference"}, "op": {"jit": "op"}, "step": {"jit": "step"}}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_fed_output_of_a_two_output_op_is_used_while_the_other_is_computed(mode):
    x = ge.placeholder(ge.float32, (None, 3))
    y = ge.placeholder(ge.int64, (None,))
    w = ge.Variable(np.full((3, 3), 0.1, np.float32))
    xent = ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=ge.matmul(x, w))
    back = xent.op.outputs[1]  # softmax - onehot, which the gradient reads
    loss = ge.reduce_mean(xent)
    g = ge.gradients(loss, [w])[0]
    xb, yb = np.arange(6, dtype=np.float32).reshape(2, 3), np.array([0, 2])
    fake = np.full((2, 3), 5.0, np.float32)
    with ge.Session(**MODES[mode]) as s:
        s.run(ge.global_variables_initializer())
        got_g, got_back, got_loss = s.run([g, back, loss], {x: xb, y: yb, back: fake})
        plain = s.run(loss, {x: xb, y: yb})
    np.testing.assert_allclose(got_g, xb.T @ (fake / 2), rtol=1e-6)
    np.testing.assert_array_equal(got_back, fake)
    np.testing.assert_allclose(got_loss, plain, rtol=1e-6)  # the other output is still computed


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("dtype,bad", [(ge.int32, 2**40), (ge.int32, -2**31 - 1), (ge.int32, [1, 2**31]),
                                       (ge.uint8, 256), (ge.uint8, -1), (ge.int8, np.array([200]))])
def test_integer_feeds_that_do_not_fit_raise(mode, dtype, bad):
    x = ge.placeholder(dtype, (None,), name="ints")
    y = ge.reduce_sum(x)
    with ge.Session(**MODES[mode]) as s:
        value = bad if isinstance(bad, list | np.ndarray) else [bad]
        with pytest.raises(ge.FeedError, match=r"ints.*out of range"):
            s.run(y, {x: value})
        with pytest.raises(ge.FeedError, match="out of range"):
            s.make_callable(y, [x])(value)
        info = np.iinfo(dtype.np)
        assert s.run(y, {x: [info.max]}) == info.max  # the edges still fit


@pytest.mark.parametrize("name,exc,msg", [("x:7", KeyError, "has 1 output"), ("x:abc", ValueError, "not a valid"),
                                          ("x:-1", ValueError, "not a valid"), ("x:", ValueError, "not a valid"),
                                          (":0", ValueError, "not a valid"), ("nope:0", KeyError, "no op named")])
def test_malformed_tensor_names_say_what_is_wrong(name, exc, msg):
    g = ge.Graph()
    with g.as_default():
        x = ge.placeholder(ge.float32, (2,), name="x")
        y = x * 2
    with pytest.raises(exc, match=msg):
        g.get_tensor_by_name(name)
    with ge.Session(graph=g) as s:
        with pytest.raises(exc, match=msg):
            s.run(name, {x: [1.0, 2.0]})
        with pytest.raises(ge.FeedError, match=msg):
            s.run(y, {name: [1.0, 2.0]})
        assert s.run("x:0", {"x:0": [1.0, 2.0]}).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("mode", list(MODES))
def test_a_closed_session_rejects_every_entry_point(mode, tmp_path):
    x = ge.placeholder(ge.float32, (None, 2))
    v = ge.Variable(np.ones((2, 1), np.float32))
    loss = ge.reduce_sum(ge.matmul(x, v))
    train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    s = ge.Session(**MODES[mode])
    s.run(ge.global_variables_initializer())
    step = s.make_callable([train, loss], [x])
    step(np.ones((3, 2), np.float32))
    before = s.get_value(v)
    s.close()
    calls = [lambda: step(np.ones((3, 2), np.float32)), lambda: s.run(loss, {x: np.ones((1, 2))}),
             lambda: s.make_callable(loss, [x]), lambda: s.plan_info(loss, {x: np.ones((1, 2))}),
             lambda: s.get_value(v), lambda: s.set_value(v, before), lambda: v.load(before, s),
             lambda: loss.eval({x: np.ones((1, 2))}, session=s), lambda: s.save(str(tmp_path / "m")),
             lambda: s.restore(str(tmp_path / "m"))]
    for call in calls:
        with pytest.raises(RuntimeError, match="closed Session"):
            call()


def test_float16_is_rejected_when_the_graph_is_built():
    with pytest.raises(ge.DTypeError, match=r"placeholder 'h' built at .*test_reliability.py:\d+: float16"):
        ge.placeholder(ge.float16, (2,), name="h")
    with pytest.raises(ge.DTypeError, match=r"cast .*test_reliability.py:\d+: float16"):
        ge.cast(ge.constant([1.0]), ge.float16)
    with pytest.raises(ge.DTypeError, match="float16"):
        ge.constant(np.ones(2, np.float16))
    with pytest.raises(ge.DTypeError, match="float16"):
        ge.Variable(np.ones(2, np.float16))
    from graphengine.compat import v1 as tf
    with pytest.raises(ge.DTypeError, match="float16"):
        tf.placeholder(tf.half, [None])
    x = ge.placeholder(ge.float32, (2,))  # float16 *values* fed to a float32 placeholder are fine
    assert ge.Session().run(x * 2, {x: np.ones(2, np.float16)}).dtype == np.float32


@pytest.mark.parametrize("mode", list(MODES))
def test_infinite_and_nan_constants_work_in_every_backend(mode):
    x = ge.placeholder(ge.float32, (None, 3))
    w = ge.Variable(np.eye(3, dtype=np.float32))
    h = ge.matmul(x, w)
    masked = ge.where(h > 0, h, -np.inf)  # the masking idiom
    fetch = {"masked": masked, "max": ge.reduce_max(masked, axis=1), "plus_inf": h + np.inf,
             "nan": h * np.nan, "clip": ge.minimum(h, np.inf), "lrelu": ge.nn.leaky_relu(h, alpha=np.inf),
             "onehot": ge.one_hot(ge.argmax(h, 1), 3, on_value=np.inf, off_value=-np.inf),
             "softmax": ge.nn.softmax(masked)}
    xb = np.array([[1.0, -2.0, 3.0], [-1.0, 0.5, -3.0]], np.float32)
    with ge.Session(**MODES[mode]) as s, np.errstate(all="ignore"):
        s.run(ge.global_variables_initializer())
        got = s.run(fetch, {x: xb})
        if mode == "step":
            assert s.plan_info(fetch, {x: xb})["executor"] == "compiled step"
    with np.errstate(all="ignore"):
        m = np.where(xb > 0, xb, -np.inf)
        e = np.exp(m - m.max(1, keepdims=True))
        want = {"masked": m, "max": m.max(1), "plus_inf": xb + np.inf, "nan": xb * np.nan, "clip": xb,
                "lrelu": np.where(xb > 0, xb, np.inf * xb),
                "onehot": np.where(np.eye(3)[xb.argmax(1)] > 0, np.inf, -np.inf),
                "softmax": e / e.sum(1, keepdims=True)}
    for k, w_ in want.items():
        np.testing.assert_allclose(got[k], w_.astype(np.float32), rtol=1e-6, err_msg=k)


@pytest.mark.parametrize("mode", list(MODES))
def test_argmax_over_an_empty_axis_raises_naming_the_op(mode):
    with pytest.raises(ge.ShapeError, match="empty axis"):
        ge.argmax(ge.zeros((0, 3)), axis=0)  # static: at build time
    x = ge.placeholder(ge.float32, (None, 3))
    i = ge.argmax(x, axis=0, name="pick")
    heavy = ge.reduce_sum(ge.matmul(x, ge.ones((3, 1))))  # makes the step backend compile
    with ge.Session(**MODES[mode]) as s:
        with pytest.raises(ge.ShapeError, match="pick.*empty axis"):
            s.run([i, heavy], {x: np.zeros((0, 3), np.float32)})
        assert s.run(i, {x: np.eye(3, dtype=np.float32)}).tolist() == [0, 1, 2]  # still usable


def test_every_elementwise_and_reduction_op_has_nan_inf_and_empty_samples():
    """The op database holds NaN/+-inf samples for every elementwise op on floats and NaN/inf
    and empty-axis samples for every reduce_* op, so every backend is checked on them."""
    import opdb

    from graphengine.ops.registry import OPS
    nan = {i.name for i in opdb.OP_DB if any(s.name.startswith("nan") for s in i.samples)}
    empty = {i.name for i in opdb.OP_DB if any(s.name.startswith("empty") for s in i.samples)}
    floaty = [n for n, od in OPS.items() if od.kind == "elementwise"
              and od.meta.get("rule") not in ("logical", "int", "cast")]
    assert sorted(set(floaty) - nan) == []
    reductions = [n for n, od in OPS.items() if od.kind == "reduce" and n.startswith("reduce_")]
    assert sorted(set(reductions) - nan) == [] and sorted(set(reductions) - empty) == []
