"""Forward values of every op against NumPy written in the op database, over broadcasting cases,
dtypes and backends; plus dtype rules and op behaviours a table cannot express."""
import numpy as np
import pytest
from opdb import BACKENDS, OP_DB, check_forward, dtype_cases, session

import graphengine as ge

BCAST_DB = [info for info in OP_DB if info.bcast]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("info,sample,dtype", dtype_cases(OP_DB))
def test_forward(info, sample, dtype, backend):
    check_forward(info, sample, backend, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("info,sample,dtype", dtype_cases(BCAST_DB))
def test_forward_unknown_dims(info, sample, dtype, backend):
    """Same cases through placeholders whose dims are all None: broadcasting resolved at run time."""
    check_forward(info, sample, backend, dtype, dynamic=True)


# ----- dtypes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", [np.int32, np.int64])
def test_integer_arithmetic(dt, backend):
    a = np.array([[7, -3, 0], [2, 5, -8]], dt)
    b = np.array([2, -4, 3], dt)
    x, y = ge.placeholder(dt, (None, 3)), ge.placeholder(dt, (3,))
    fetches = {"add": x + y, "sub": x - y, "mul": x * y, "max": ge.maximum(x, y), "min": ge.minimum(x, y),
               "neg": -x, "abs": ge.abs(x), "square": ge.square(x), "sign": ge.sign(x), "relu": ge.nn.relu(x),
               "sum": ge.reduce_sum(x, axis=1), "sqdiff": ge.squared_difference(x, y), "scalar": x * 3 + 1,
               "div": x / y, "mean": ge.reduce_mean(x, axis=1)}
    want = {"add": a + b, "sub": a - b, "mul": a * b, "max": np.maximum(a, b), "min": np.minimum(a, b),
            "neg": -a, "abs": np.abs(a), "square": a * a, "sign": np.sign(a), "relu": np.maximum(a, 0),
            "sum": a.sum(1), "sqdiff": (a - b) ** 2, "scalar": a * 3 + 1, "div": a / b,
            "mean": np.array([1, 0])}  # integer means truncate toward zero (4/3, -1/3), as TF1
    with session(backend) as s:
        got = s.run(fetches, {x: a, y: b})
    for k, w in want.items():
        expect_dt = np.float64 if k == "div" else dt  # true division of integers gives float64
        assert got[k].dtype == expect_dt, (k, got[k].dtype)
        assert fetches[k].dtype.np == expect_dt, k
        np.testing.assert_array_equal(got[k], w.astype(expect_dt), err_msg=k)


@pytest.mark.parametrize("backend", BACKENDS)
def test_comparisons_give_bool(backend):
    x = ge.placeholder(ge.int32, (4,))
    a = np.array([1, 2, 3, 4], np.int32)
    ops = [x < 2, x <= 2, x > 2, x >= 2, ge.equal(x, 2), ge.not_equal(x, 2), ~(x > 2), (x > 1) & (x < 4),
           (x < 2) | (x > 3)]
    assert all(t.dtype == ge.bool_ for t in ops)
    with session(backend) as s:
        got = s.run(ops, {x: a})
    want = [a < 2, a <= 2, a > 2, a >= 2, a == 2, a != 2, ~(a > 2), (a > 1) & (a < 4), (a < 2) | (a > 3)]
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.bool_
        np.testing.assert_array_equal(g, w)


def test_python_scalars_keep_the_tensor_dtype():
    x = ge.placeholder(ge.float32, (2,))
    for t in [x + 1, 1 + x, x * 2.5, 2.5 * x, x - 1, 1 - x, x / 2, 2 / x, x ** 2, ge.maximum(x, 0.0),
              ge.where(x > 0, x, 0.0), np.float64(2.0) * x]:
        assert t.dtype == ge.float32, t
    with ge.Session(device="reference") as s:
        got = s.run(x * 2.5 + 1, {x: [1.0, 2.0]})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [3.5, 6.0])
    i = ge.placeholder(ge.int32, (2,))
    assert (i + 1).dtype == ge.int32
    with pytest.raises(ge.DTypeError, match="int32"):
        i + 0.5  # a non-integral Python float cannot silently join an int tensor


@pytest.mark.parametrize("fn", [ge.add, ge.subtract, ge.multiply, ge.divide, ge.maximum, ge.pow, ge.matmul])
def test_mixing_float32_and_float64_raises(fn):
    a = ge.placeholder(ge.float32, (2, 2), name="a32")
    b = ge.placeholder(ge.float64, (2, 2), name="b64")
    with pytest.raises(ge.DTypeError) as e:
        fn(a, b)
    assert "float32" in str(e.value) and "float64" in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_cast_round_trip_and_truncation(backend):
    x = ge.placeholder(ge.float32, (5,))
    v = np.array([-2.7, -0.5, 0.0, 0.5, 2.7], np.float32)
    fetches = [ge.cast(x, ge.int32), ge.cast(x, "int64"), ge.cast(ge.cast(x, ge.int32), ge.float32),
               ge.to_float(ge.cast(x, ge.float64)), ge.cast(x > 0, ge.float32)]
    with session(backend) as s:
        i32, i64, back, f, b = s.run(fetches, {x: v})
    np.testing.assert_array_equal(i32, [-2, 0, 0, 0, 2])
    assert i32.dtype == np.int32 and i64.dtype == np.int64 and back.dtype == np.float32
    np.testing.assert_array_equal(back, [-2, 0, 0, 0, 2])
    np.testing.assert_array_equal(f, v)
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1])
    assert ge.cast(x, ge.float32) is x  # casting to the same dtype builds nothing


# ----- behaviours beyond the table ----------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_gradient(backend):
    x = ge.placeholder(ge.float64, (3,))
    y = x * ge.stop_gradient(x * x)
    (g,) = ge.gradients(ge.reduce_sum(y), [x])
    (none,) = ge.gradients(ge.reduce_sum(ge.stop_gradient(x)), [x])
    assert none is None
    v = np.array([1.0, -2.0, 3.0])
    with session(backend) as s:
        yv, gv = s.run([y, g], {x: v})
    np.testing.assert_allclose(yv, v ** 3)
    np.testing.assert_allclose(gv, v ** 2)  # x^2 treated as a constant


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", [ge.reduce_max, ge.reduce_min])
def test_reduce_extremum_ties_share_the_gradient(fn, backend):
    x = ge.placeholder(ge.float64, (2, 3))
    v = np.array([[5.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) * (1 if fn is ge.reduce_max else -1)
    (g,) = ge.gradients(fn(x, axis=1), [x])
    with session(backend) as s:
        gv = s.run(g, {x: v})
    np.testing.assert_allclose(gv, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn,which", [(ge.maximum, 0), (ge.minimum, 0)])
def test_maximum_minimum_ties_go_to_the_first_input(fn, which, backend):
    x, y = ge.placeholder(ge.float64, (2,)), ge.placeholder(ge.float64, (2,))
    gx, gy = ge.gradients(ge.reduce_sum(fn(x, y)), [x, y])
    with session(backend) as s:
        a, b = s.run([gx, gy], {x: [1.0, 2.0], y: [1.0, 2.0]})
    np.testing.assert_array_equal(a, [1, 1])
    np.testing.assert_array_equal(b, [0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_family_is_stable_for_large_logits(backend):
    x = ge.placeholder(ge.float32, (2, 3))
    y = ge.placeholder(ge.int32, (2,))
    v = np.array([[1000.0, 0.0, -1000.0], [-500.0, -500.0, 800.0]], np.float32)
    fetches = [ge.nn.softmax(x), ge.nn.log_softmax(x),
               ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
               ge.nn.softmax_cross_entropy_with_logits(labels=ge.one_hot(y, 3), logits=x),
               ge.nn.sigmoid_cross_entropy_with_logits(labels=ge.ones((2, 3)), logits=x),
               ge.nn.softplus(x), ge.sigmoid(x)]
    with session(backend) as s:
        got = s.run(fetches, {x: v, y: [1, 2]})
    for g in got:
        assert np.isfinite(g).all(), g
    sm, lsm, sx, dx, sig_x, sp, sg = got
    np.testing.assert_allclose(sm, [[1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(lsm[0], [0, -1000, -2000], rtol=1e-6)
    np.testing.assert_allclose(sx, [1000, 0], rtol=1e-6)
    np.testing.assert_allclose(dx, sx, rtol=1e-6)
    np.testing.assert_allclose(sig_x[0], [0, np.log(2), 1000], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sp[0], [1000, np.log(2), 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sg[0], [1, 0.5, 0], atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("sparse", [True, False])
def test_fused_xent_backprop_output_is_softmax_minus_labels(sparse, backend):
    x = ge.placeholder(ge.float64, (3, 4))
    v = np.random.default_rng(0).standard_normal((3, 4))
    labels = np.array([0, 3, 1])
    onehot = np.eye(4)[labels]
    if sparse:
        loss = ge.nn.sparse_softmax_cross_entropy_with_logits(labels=labels.astype(np.int32), logits=x)
    else:
        loss = ge.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=x)
    backprop = loss.op.outputs[1]
    assert loss.op.type == ("sparse_softmax_xent" if sparse else "softmax_xent")
    with session(backend) as s:
        got = s.run(backprop, {x: v})
    p = np.exp(v) / np.exp(v).sum(1, keepdims=True)
    np.testing.assert_allclose(got, p - onehot, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_operators_match_functions(backend):
    x = ge.placeholder(ge.float64, (2, 2))
    v = np.array([[1.0, -2.0], [3.0, 0.5]])
    exprs = [x + 1, 1 - x, x * x, 2 / x, x ** 2, -x, abs(x), x @ x, +x]
    want = [v + 1, 1 - v, v * v, 2 / v, v ** 2, -v, np.abs(v), v @ v, v]
    with session(backend) as s:
        got = s.run(exprs, {x: v})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)
    with session(backend) as s:  # // floor-divides as in TF1, keeping the dtype
        np.testing.assert_allclose(s.run(x // 2, {x: v}), np.floor_divide(v, 2), rtol=1e-12)


def test_static_shape_inference():
    x = ge.placeholder(ge.float32, (None, 3))
    assert (x + ge.zeros((4, 1, 3))).shape == (4, None, 3)
    assert ge.matmul(x, ge.zeros((3, 5))).shape == (None, 5)
    assert ge.reduce_sum(x, axis=1, keepdims=True).shape == (None, 1)
    assert ge.reshape(x, (-1,)).shape == (None,)
    assert ge.transpose(x).shape == (3, None)
    assert ge.concat([x, x], 0).shape == (None, 3)
    assert ge.concat([x, x], 1).shape == (None, 6)
    assert ge.expand_dims(x, -1).shape == (None, 3, 1)
    assert ge.argmax(x, 1).shape == (None,)
    assert ge.one_hot(ge.placeholder(ge.int32, (None,)), 7).shape == (None, 7)
    assert ge.nn.sparse_softmax_cross_entropy_with_logits(
        labels=ge.placeholder(ge.int32, (None,)), logits=x).shape == (None,)
