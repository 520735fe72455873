"""The step back end's ``fold_updates`` pass: a gradient-descent update done by its gradient's
GEMM (``kernels.cpu.linalg.matmul_tn_sgd``), and the cases it must leave alone."""
import numpy as np
import pytest

import graphengine as ge
from kernels.cpu.linalg import SMALL, matmul_tn, matmul_tn_sgd


# ----- the kernel --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kmn", [(128, 96, 80), (300, 3, 200), (7, 40, 30)])
def test_kernel_matches_the_update_formula(dtype, kmn):
    k, m, n = kmn
    assert k * m * n > SMALL   # the BLAS path
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((k, m)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    var = rng.standard_normal((m, n)).astype(dtype)
    lr = dtype(0.03)
    exact = var.astype(np.float64) - float(lr) * (a.astype(np.float64).T @ b.astype(np.float64))
    two_pass = var - lr * (a.T @ b)
    out = var.copy()
    matmul_tn_sgd(a, b, out, lr)
    scale = np.abs(var).max() + float(lr) * np.abs(a.T @ b).max()
    tol = 8 * np.finfo(dtype).eps * scale
    assert np.abs(out - exact).max() <= tol
    assert np.abs(out - two_pass).max() <= tol


def test_kernel_small_and_strided_operands_take_the_two_passes_bit_for_bit():
    rng = np.random.default_rng(1)
    for a, b in [(rng.standard_normal((4, 3)), rng.standard_normal((4, 5))),                # small
                 (rng.standard_normal((64, 200))[:, ::2], rng.standard_normal((64, 90)))]:  # strided
        var = rng.standard_normal((a.shape[1], b.shape[1]))
        g = np.empty_like(var)
        matmul_tn(a, b, g)  # the same operands: BLAS's result for a copied strided a can differ
        # in its last bits from a contiguous a's (OpenBLAS's AVX-512 kernels, edge columns)
        want = var.copy()
        want -= 0.5 * g
        out = var.copy()
        matmul_tn_sgd(a, b, out, 0.5)
        np.testing.assert_array_equal(out, want)


def test_kernel_empty_nan_and_inf():
    var = np.ones((3, 4), np.float32)
    matmul_tn_sgd(np.zeros((0, 3), np.float32), np.zeros((0, 4), np.float32), var, np.float32(0.1))
    np.testing.assert_array_equal(var, 1)                       # k = 0: a zero gradient
    matmul_tn_sgd(np.zeros((5, 0), np.float32), np.zeros((5, 4), np.float32),
                  np.ones((0, 4), np.float32), np.float32(0.1))  # m = 0: nothing to update
    a = np.ones((64, 40), np.float32)
    b = np.ones((64, 30), np.float32)
    a[3, 2] = np.nan
    b[5, 7] = np.inf
    var = np.zeros((40, 30), np.float32)
    matmul_tn_sgd(a, b, var, np.float32(0.1))
    want = np.zeros_like(var) - np.float32(0.1) * (a.T @ b)
    np.testing.assert_array_equal(np.isnan(var), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(var), np.isinf(want))
    assert np.isnan(var[2]).all() and np.isneginf(var[:2, 7]).all()


# ----- the pass ----------------------------------------------------------------------------
def _dense(n_in=64, n_hidden=48, n_out=10, lr=0.1, dtype=ge.float32):
    ge.reset_default_graph()
    ge.set_random_seed(3)
    x = ge.placeholder(dtype, (None, n_in), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    W1 = ge.get_variable("W1", (n_in, n_hidden), dtype=dtype, initializer=ge.initializers.glorot_uniform(seed=1))
    b1 = ge.Variable(ge.zeros((n_hidden,), dtype), name="b1")
    W2 = ge.get_variable("W2", (n_hidden, n_out), dtype=dtype, initializer=ge.initializers.glorot_uniform(seed=2))
    h = ge.nn.relu(x @ W1 + b1)
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h @ W2))
    return x, y, loss, [W1, b1, W2], lr


def _batch(n=32, n_in=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)).astype(np.float32), rng.integers(0, 10, n)


def _run(jit, dtype=ge.float32, steps=4):
    x, y, loss, vs, lr = _dense(dtype=dtype)
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    with ge.Session(jit=jit) as s:
        s.run(ge.global_variables_initializer())
        info = s.plan_info([train, loss], {x: _batch()[0], y: _batch()[1]}) if jit == "step" else None
        losses = [s.run([train, loss], dict(zip((x, y), _batch(seed=i))))[1] for i in range(steps)]
        return info, np.array(losses), s.run(vs)


def test_dense_weights_update_inside_their_gemm_and_train_as_before():
    info, l_step, v_step = _run("step")
    assert "fold_updates" in info["passes"]
    assert info["folded_updates"] == 2          # W1 and W2; b1's gradient is a column sum
    _, l_op, v_op = _run("op")                  # op by op: gradient, then the update
    np.testing.assert_allclose(l_step, l_op, rtol=2e-6)
    for a, b in zip(v_step, v_op):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_float64_matches_the_reference_backend():
    x, y, loss, vs, lr = _dense(dtype=ge.float64)
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    out = {}
    for dev in ("cpu", "reference"):
        with ge.Session(device=dev) as s:
            s.run(ge.global_variables_initializer())
            for i in range(3):
                xs, ys = _batch(seed=i)
                s.run(train, {x: xs.astype(np.float64), y: ys})
            out[dev] = s.run(vs)
    for a, b in zip(out["cpu"], out["reference"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_a_fed_learning_rate_folds_and_is_read_each_call():
    x, y, loss, vs, _ = _dense()
    lr = ge.placeholder(ge.float32, (), name="lr")
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    xs, ys = _batch()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        assert s.plan_info(train, {x: xs, y: ys, lr: 0.1})["folded_updates"] == 2
        before = s.run(vs)
        s.run(train, {x: xs, y: ys, lr: 0.0})
        for a, b in zip(s.run(vs), before):
            np.testing.assert_array_equal(a, b)   # lr 0: var - 0 * grad
        s.run(train, {x: xs, y: ys, lr: 0.5})
        assert not np.allclose(s.run(vs)[0], before[0])


def test_not_folded_when_the_gradient_is_fetched():
    x, y, loss, vs, lr = _dense()
    opt = ge.train.GradientDescentOptimizer(lr)
    gv = opt.compute_gradients(loss, var_list=vs)
    train = opt.apply_gradients(gv)
    xs, ys = _batch()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        feeds = {x: xs, y: ys}
        assert s.plan_info([train, gv[0][0]], feeds)["folded_updates"] == 1   # W2's only
        w1 = s.run(vs[0])
        _, g1 = s.run([train, gv[0][0]], feeds)
        np.testing.assert_allclose(s.run(vs[0]), w1 - np.float32(lr) * g1, rtol=1e-6, atol=1e-7)


def test_not_folded_when_an_op_between_reads_the_variable():
    x, y, loss, vs, lr = _dense()
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    w1_sum = ge.reduce_sum(vs[0] * 2.0)     # built after minimize: runs after the gradient GEMMs
    xs, ys = _batch()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        assert s.plan_info([train, w1_sum], {x: xs, y: ys})["folded_updates"] == 1   # W2's only
        w1 = s.run(vs[0])
        _, got = s.run([train, w1_sum], {x: xs, y: ys})
        np.testing.assert_allclose(got, (w1 * 2.0).sum(), rtol=1e-5)   # the value before the update


def test_not_folded_for_a_computed_learning_rate():
    x, y, loss, vs, _ = _dense()
    step = ge.Variable(0.0, name="step", trainable=False)
    lr = 0.1 / (1.0 + step)
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss, var_list=vs)
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        assert s.plan_info(train, dict(zip((x, y), _batch())))["folded_updates"] == 0


def test_a_failure_after_a_folded_update_leaves_the_variables_as_they_were():
    x, y, loss, vs, lr = _dense()
    train = ge.train.GradientDescentOptimizer(lr).minimize(loss)
    table = ge.constant(np.arange(12.0, dtype=np.float32).reshape(4, 3))
    idx = ge.placeholder(ge.int64, (None,), name="idx")
    rows = ge.gather(table, idx)             # after the gradient GEMMs; an index out of range fails
    xs, ys = _batch()
    with ge.Session() as s:
        s.run(ge.global_variables_initializer())
        feeds = {x: xs, y: ys, idx: np.array([1, 2])}
        assert s.plan_info([train, rows], feeds)["folded_updates"] == 2
        before = s.run(vs)
        with pytest.raises(Exception, match="gather|index|range"):
            s.run([train, rows], {x: xs, y: ys, idx: np.array([1, 9])})
        for a, b in zip(s.run(vs), before):
            np.testing.assert_array_equal(a, b)
        s.run([train, rows], feeds)          # and it still trains
        assert not np.array_equal(s.run(vs)[0], before[0])
