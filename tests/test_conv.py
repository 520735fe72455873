"""Convolutional networks end to end: TF1 idioms through graphengine.compat.v1 (tf.nn.conv2d,
tf.nn.max_pool, tf.layers.*), TF's conventions (first maximum, SAME averages, padding), layer
variable names and initializers, build-time errors, and the compiled whole step (one function,
no recompilation for a ragged batch, unknown spatial sizes) against the reference backend.
Forward values and gradients of every op are in the op database (tests/opdb_conv.py)."""
import numpy as np
import pytest

import graphengine as ge
import graphengine.compat.v1 as tf
from graphengine.backends.cpu import step as stepmod

BACKENDS = [{"device": "reference"}, {"jit": "op"}, {"jit": "step"}]
IDS = ["reference", "cpu-op", "cpu-step"]
# conventions are the kernels' (the compiled step calls the same ones, as test_step_opdb checks):
# op by op here, which spares each test a step compilation
KERNELS, KERNEL_IDS = BACKENDS[:2], IDS[:2]
OP = {"jit": "op"}


def _tf1_cnn():
    """A TF1-style CNN: tf.nn ops for the first block, tf.layers for the rest."""
    tf.set_random_seed(3)
    x = tf.placeholder(tf.float32, [None, 8, 8, 1], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    w1 = tf.Variable(tf.truncated_normal([3, 3, 1, 4], stddev=0.3), name="w1")
    b1 = tf.Variable(tf.constant(0.1, shape=[4]), name="b1")
    h = tf.nn.relu(tf.nn.conv2d(x, w1, strides=[1, 1, 1, 1], padding="SAME") + b1)
    h = tf.nn.max_pool(h, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    h = tf.layers.conv2d(h, 6, 3, padding="same", activation=tf.nn.relu)
    h = tf.layers.average_pooling2d(h, 2, 2)
    logits = tf.layers.dense(tf.layers.flatten(h), 3)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = tf.train.AdamOptimizer(0.01).minimize(loss)
    return x, y, loss, train


def _batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8, 8, 1)).astype(np.float32), rng.integers(0, 3, n)


def _train(kw, steps=4):
    tf.reset_default_graph()
    x, y, loss, train = _tf1_cnn()
    xs, ys = _batch()
    with tf.Session(**kw) as s:
        s.run(tf.global_variables_initializer())
        losses = [s.run([train, loss], {x: xs, y: ys})[1] for _ in range(steps)]
        return losses, s.run(tf.trainable_variables())


@pytest.mark.parametrize("kw", BACKENDS, ids=IDS)
def test_tf1_cnn_trains_and_matches_the_reference(kw):
    want_losses, want_vars = _train(BACKENDS[0])
    assert want_losses[-1] < want_losses[0]
    losses, vs = _train(kw)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for a, b in zip(vs, want_vars, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("layer", ["conv2d", "conv2d_transpose"])
def test_channels_first_layers_compute_what_channels_last_do(layer):
    x = tf.placeholder(tf.float32, [None, 6, 5, 3])
    fn = getattr(tf.layers, layer)
    with tf.variable_scope("net"):
        a = tf.layers.average_pooling2d(fn(x, 4, 3, strides=2, padding="same", name="c"), 2, 1)
    with tf.variable_scope("net", reuse=True):   # the same kernel and bias
        b = fn(tf.transpose(x, [0, 3, 1, 2]), 4, 3, strides=2, padding="same", name="c",
               data_format="channels_first")
        b = tf.layers.average_pooling2d(b, 2, 1, data_format="channels_first")
    with tf.Session(**OP) as s:
        s.run(tf.global_variables_initializer())
        s.run(tf.trainable_variables()[1].assign([0.1, 0.2, 0.3, 0.4]))
        ra, rb = s.run([a, b], {x: np.random.default_rng(0).standard_normal((2, 6, 5, 3))})
    np.testing.assert_allclose(rb.transpose(0, 2, 3, 1), ra, rtol=1e-5, atol=1e-6)


def test_layer_variable_names_initializers_and_options():
    x = tf.placeholder(tf.float32, [None, 6, 6, 3])
    tf.layers.conv2d(x, 8, 3)
    tf.layers.conv2d(x, 8, (3, 1), use_bias=False, name="plain")
    tf.layers.conv2d(x, 8, 3)
    with tf.variable_scope("enc"):
        tf.layers.conv2d(x, 2, 1)
    up = tf.layers.conv2d_transpose(x, 5, 3, strides=2, padding="same")
    up_valid = tf.layers.conv2d_transpose(x, 5, 3, strides=2)
    names = [v.name for v in tf.global_variables()]
    assert names == ["conv2d/kernel:0", "conv2d/bias:0", "plain/kernel:0", "conv2d_1/kernel:0", "conv2d_1/bias:0",
                     "enc/conv2d/kernel:0", "enc/conv2d/bias:0", "conv2d_transpose/kernel:0",
                     "conv2d_transpose/bias:0", "conv2d_transpose_1/kernel:0", "conv2d_transpose_1/bias:0"]
    vs = tf.global_variables()
    assert vs[0].shape == (3, 3, 3, 8) and vs[2].shape == (3, 1, 3, 8) and vs[7].shape == (3, 3, 5, 3)
    assert up.shape == (None, 12, 12, 5) and up_valid.shape == (None, 13, 13, 5)
    with tf.Session(**OP) as s:
        s.run(tf.global_variables_initializer())
        k, b = s.run(vs[:2])
    lim = np.sqrt(6.0 / (3 * 3 * 3 + 3 * 3 * 8))  # glorot uniform with TF's fans for a conv kernel
    assert np.abs(k).max() <= lim and np.abs(k).max() > 0.8 * lim
    np.testing.assert_array_equal(b, 0)
    again = tf.layers.conv2d(x, 8, 3, name="conv2d", reuse=True)
    assert again.shape == (None, 4, 4, 8) and len(tf.global_variables()) == len(vs)


def test_activation_and_op_names_follow_tf1():
    x = tf.placeholder(tf.float32, [None, 4, 4, 1])
    h = tf.layers.conv2d(x, 2, 3, activation=tf.nn.relu)
    p = tf.layers.max_pooling2d(h, 2, 2)
    assert h.name.startswith("conv2d/") and h.op.type == "relu"
    assert p.name == "max_pooling2d/MaxPool:0" and p.shape == (None, 1, 1, 2)


@pytest.mark.parametrize("kw", KERNELS, ids=KERNEL_IDS)
def test_max_pool_gradient_goes_to_the_first_maximum(kw):
    x = ge.placeholder(ge.float64, (1, 2, 4, 1))
    v = np.array([[3, 3, 1, 5], [3, 2, 5, 5]], np.float64).reshape(1, 2, 4, 1)
    y = ge.nn.max_pool(x, 2, 2, "VALID")
    (g,) = ge.gradients(ge.reduce_sum(y * ge.constant(np.array([10.0, 20.0]).reshape(1, 1, 2, 1))), [x])
    with ge.Session(**kw) as s:
        yv, gv = s.run([y, g], {x: v})
    np.testing.assert_array_equal(yv.ravel(), [3, 5])
    np.testing.assert_array_equal(gv.reshape(2, 4), [[10, 0, 0, 20], [0, 0, 0, 0]])


@pytest.mark.parametrize("kw", KERNELS, ids=KERNEL_IDS)
def test_same_average_pool_counts_only_entries_inside_the_input(kw):
    x = ge.placeholder(ge.float32, (1, 3, 3, 1))
    v = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    y = tf.nn.avg_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")
    with ge.Session(**kw) as s:
        got = s.run(y, {x: v}).reshape(2, 2)
    # windows [0,1]x[0,1], [0,1]x[2], [2]x[0,1], [2]x[2]: padding is never counted
    np.testing.assert_allclose(got, [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8]])


def test_nchw_conv_and_pool_equal_nhwc():
    rng = np.random.default_rng(1)
    v = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    x = tf.placeholder(tf.float32, [None, 7, 6, 3])
    xc = tf.transpose(x, [0, 3, 1, 2])
    a = tf.nn.max_pool(tf.nn.conv2d(x, w, [1, 2, 2, 1], "SAME"), [1, 2, 2, 1], [1, 1, 1, 1], "VALID")
    b = tf.nn.max_pool(tf.nn.conv2d(xc, w, [1, 1, 2, 2], "SAME", data_format="NCHW"), [1, 1, 2, 2],
                       [1, 1, 1, 1], "VALID", data_format="NCHW")
    with tf.Session(**OP) as s:
        ra, rb = s.run([a, b], {x: v})
    np.testing.assert_allclose(rb.transpose(0, 2, 3, 1), ra, rtol=1e-6)


def test_tf1_backprop_spellings_equal_the_gradients():
    rng = np.random.default_rng(2)
    xv = rng.standard_normal((2, 6, 6, 2))
    wv = rng.standard_normal((3, 3, 2, 3))
    x = tf.placeholder(tf.float64, [2, 6, 6, 2])
    w = tf.constant(wv)
    y = tf.nn.conv2d(x, w, [1, 2, 2, 1], "SAME")
    dy = tf.constant(rng.standard_normal((2, 3, 3, 3)))
    gx, gw = tf.gradients(y, [x, w], grad_ys=dy)
    bx = tf.nn.conv2d_backprop_input([2, 6, 6, 2], w, dy, [1, 2, 2, 1], "SAME")
    bw = tf.nn.conv2d_backprop_filter(x, [3, 3, 2, 3], dy, [1, 2, 2, 1], "SAME")
    tr = tf.nn.conv2d_transpose(dy, w, [2, 6, 6, 2], [1, 2, 2, 1], "SAME")
    with tf.Session(**OP) as s:
        r = s.run([gx, gw, bx, bw, tr], {x: xv})
    np.testing.assert_allclose(r[2], r[0], rtol=1e-12)
    np.testing.assert_allclose(r[3], r[1], rtol=1e-12)
    np.testing.assert_allclose(r[4], r[0], rtol=1e-12)


def test_conv2d_transpose_output_shape_from_tf_stack_of_the_batch_size():
    z = tf.placeholder(tf.float32, [None, 7, 7, 8])
    w = tf.constant(np.ones((3, 3, 4, 8), np.float32))
    up = tf.nn.conv2d_transpose(z, w, tf.stack([tf.shape(z)[0], 14, 14, 4]), [1, 2, 2, 1], "SAME")
    assert up.shape == (None, 14, 14, 4)
    with tf.Session(**OP) as s:
        assert s.run(up, {z: np.ones((3, 7, 7, 8), np.float32)}).shape == (3, 14, 14, 4)


@pytest.mark.parametrize("kw", KERNELS, ids=KERNEL_IDS)
def test_matches_tensorflow(kw):
    """Against TensorFlow's own results (tests/tf_fixtures/make_conv_fixtures.py wrote them)."""
    import json
    from pathlib import Path
    fix = np.load(Path(__file__).resolve().parent / "tf_fixtures" / "conv_pool_tf.npz")
    cases = json.loads(str(fix["__cases__"]))
    x, w, xi = (ge.placeholder(ge.float32, fix[k].shape) for k in ("x", "w", "xi"))
    fetch = {}
    for name, s, p, d in cases["conv"]:
        y = fetch[f"conv_{name}"] = ge.nn.conv2d(x, w, s, p, dilations=d)
        if f"conv_{name}_dx" in fix:
            fetch[f"conv_{name}_dx"], fetch[f"conv_{name}_dw"] = ge.gradients(ge.reduce_sum(y * y), [x, w])
    for name, shape, s, p in cases["transpose"]:
        fetch[f"transpose_{name}"] = ge.nn.conv2d_transpose(ge.constant(fix["v"]), ge.constant(fix["wt"]), shape, s, p)
    for name, k, s, p in cases["pool"]:
        for kind, fn in (("max", ge.nn.max_pool), ("avg", ge.nn.avg_pool)):
            y = fetch[f"{kind}_{name}"] = fn(xi, k, s, p)
            cot = ge.constant(np.arange(np.prod(y.shape), dtype=np.float32).reshape(y.shape))
            fetch[f"{kind}_{name}_dx"] = ge.gradients(ge.reduce_sum(y * cot), [xi])[0]
    assert set(fetch) == {k for k in fix.files if k not in ("__cases__", "x", "w", "v", "wt", "xi")}
    with ge.Session(**kw) as s:
        got = s.run(fetch, {x: fix["x"], w: fix["w"], xi: fix["xi"]})
    for k, g in got.items():
        np.testing.assert_allclose(g, fix[k], rtol=1e-5, atol=1e-5 * np.abs(fix[k]).max(), err_msg=k)


def test_build_time_errors_name_the_op_and_the_line():
    x = ge.placeholder(ge.float32, (None, 5, 5, 3))
    with pytest.raises(ge.ShapeError, match=r"conv2d 'Conv2D' built at .*test_conv.py.*3 channels.*expects 2"):
        ge.nn.conv2d(x, ge.zeros((3, 3, 2, 4)))
    with pytest.raises(ge.ShapeError, match="larger than the input"):
        ge.nn.conv2d(x, ge.zeros((7, 7, 3, 4)), padding="VALID")
    with pytest.raises(ValueError, match="padding must be 'SAME' or 'VALID'"):
        ge.nn.max_pool(x, 2, 2, "FULL")
    with pytest.raises(ValueError, match="batch and channel entries must be 1"):
        tf.nn.conv2d(x, ge.zeros((3, 3, 3, 4)), strides=[2, 1, 1, 1], padding="SAME")
    with pytest.raises(ge.ShapeError, match="conv2d_backprop_input out_backprop: H is 3 but strides"):
        ge.nn.conv2d_transpose(ge.placeholder(ge.float32, (None, 3, 3, 4)), ge.zeros((3, 3, 2, 4)),
                               (None, 9, 9, 2), strides=2)
    with pytest.raises(ge.DTypeError, match="float32 or float64"):
        ge.nn.max_pool(ge.placeholder(ge.int32, (1, 4, 4, 1)), 2, 2)


def _cnn(x_shape):
    x = ge.placeholder(ge.float32, x_shape, name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    h = ge.layers.conv2d(x, 4, 3, padding="same", activation=ge.nn.relu,
                         kernel_initializer=ge.initializers.glorot_uniform(seed=1))
    h = ge.nn.max_pool(h, 2, 2, "SAME")
    h = ge.layers.conv2d(h, 3, 3, strides=2, kernel_initializer=ge.initializers.glorot_uniform(seed=2))
    logits = ge.reduce_mean(h, axis=[1, 2])          # global average: any spatial size works
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    return x, y, loss, ge.train.GradientDescentOptimizer(0.1).minimize(loss)


def test_compiled_step_runs_ragged_batches_without_recompiling():
    # unknown spatial sizes: the gradients read the input's run-time shape (a shape-only input);
    # static sizes are the TF1 CNN test's
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((n, 9, 9, 2)).astype(np.float32), rng.integers(0, 3, n)) for n in (5, 5, 2)]
    runs = {}
    for kw in (BACKENDS[0], BACKENDS[2]):
        ge.reset_default_graph()
        x, y, loss, train = _cnn((None, None, None, 2))
        with ge.Session(**kw) as s:
            s.run(ge.global_variables_initializer())
            out = [s.run([loss, train], {x: bx, y: by})[0] for bx, by in batches[:2]]
            before = stepmod.COMPILE_COUNT[0]
            out.append(s.run([loss, train], {x: batches[2][0], y: batches[2][1]})[0])   # batch of 2
            if kw is BACKENDS[2]:
                assert isinstance(list(s._plans.values())[-1], stepmod.StepExecutable)
                assert stepmod.COMPILE_COUNT[0] == before, "a smaller batch must not recompile the step"
            runs[kw.get("jit", "reference")] = out, s.run(ge.trainable_variables())
    (lr, vr), (ls, vs) = runs["reference"], runs["step"]
    np.testing.assert_allclose(ls, lr, rtol=1e-5)
    for a, b in zip(vs, vr, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kw", KERNELS, ids=KERNEL_IDS)   # the step: test_step_opdb's empty samples
def test_empty_batch_gives_zero_filter_gradients(kw):
    x = ge.placeholder(ge.float32, (None, 9, 9, 2))
    h = ge.nn.max_pool(ge.layers.conv2d(x, 4, 3, padding="same", activation=ge.nn.relu), 2, 2, "SAME")
    h = ge.nn.avg_pool(ge.layers.conv2d_transpose(h, 3, 3, strides=2, padding="same"), 3, 2, "SAME")
    out = ge.reduce_sum(h * h)
    vs = ge.trainable_variables()
    with ge.Session(**kw) as s:
        s.run(ge.global_variables_initializer())
        hv, *grads = s.run([h] + ge.gradients(out, vs), {x: np.zeros((0, 9, 9, 2), np.float32)})
    assert hv.shape == (0, 5, 5, 3)
    for v, gv in zip(vs, grads, strict=True):
        assert gv.shape == v.shape
        np.testing.assert_array_equal(gv, 0)


# ----- the CPU kernels' own paths: narrow windows gathered by columns, blocks of rows ----------

def _np_conv_nhwc(x, w, stride, dil, same):
    """Direct NumPy convolution (TF's SAME/VALID arithmetic), float64."""
    from kernels.cpu.conv import pad_before
    N, H, W, C = x.shape
    KH, KW, _, O = w.shape
    eh, ew = (KH - 1) * dil + 1, (KW - 1) * dil + 1
    OH = -(-H // stride) if same else (H - eh) // stride + 1
    OW = -(-W // stride) if same else (W - ew) // stride + 1
    ph, pw = pad_before(H, OH, KH, stride, dil, same), pad_before(W, OW, KW, stride, dil, same)
    xp = np.zeros((N, H + eh + stride * OH, W + ew + stride * OW, C))
    xp[:, ph:ph + H, pw:pw + W] = x
    out = np.zeros((N, OH, OW, O))
    for i in range(KH):
        for j in range(KW):
            patch = xp[:, i * dil:i * dil + stride * OH:stride, j * dil:j * dil + stride * OW:stride]
            out += patch[:, :OH, :OW] @ w[i, j]
    return out, (OH, OW, ph, pw)


@pytest.mark.parametrize("shape,k,stride,dil,same", [
    ((2, 7, 6, 1), 5, 1, 1, True), ((2, 7, 6, 1), 3, 2, 1, True), ((2, 9, 8, 2), 3, 1, 2, True),
    ((3, 8, 8, 1), 5, 1, 1, False), ((1, 5, 5, 3), 2, 2, 1, False), ((2, 4, 4, 1), 5, 1, 1, True),
    ((2, 6, 5, 1), 3, 3, 2, True), ((2, 6, 6, 4), 3, 1, 1, True)])
def test_narrow_im2col_equals_the_row_wise_one_on_every_block(shape, k, stride, dil, same):
    from kernels.cpu.conv import im2col, im2col_narrow
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    _, (OH, OW, ph, pw) = _np_conv_nhwc(x, np.zeros((k, k, shape[3], 1)), stride, dil, same)
    rows, K = shape[0] * OH * OW, k * k * shape[3]
    for r0, r1 in [(0, rows), (3, rows - 2), (5, 6), (OW + 1, 3 * OW - 1)]:
        if r1 <= r0:
            continue
        a = np.full((r1 - r0, K), 9, np.float32)
        b = np.full((r1 - r0, K), 7, np.float32)
        im2col(x, a, r0, r1, OH, OW, k, k, stride, stride, dil, dil, ph, pw)
        im2col_narrow(x, b, r0, r1, OH, OW, k, k, stride, stride, dil, dil, ph, pw)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cin,k", [(1, 3), (4, 3)], ids=["narrow", "row-wise"])
def test_conv_kernels_over_several_row_blocks_match_numpy(cin, k):
    """Enough rows for several CHUNK blocks: forward, filter gradient (accumulated in the GEMM
    across blocks) and input gradient against NumPy in float64."""
    from kernels.cpu import conv
    rows = 2 * conv.CHUNK // (k * k * cin) + 5
    n = -(-rows // 64)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, 8, 8, cin))
    w = rng.standard_normal((k, k, cin, 3))
    ref, _ = _np_conv_nhwc(x, w, 1, 1, True)
    out = np.empty_like(ref)
    conv.conv2d_nhwc(x, w, out, 1, 1, 1, 1, True)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
    dy = rng.standard_normal(ref.shape)
    dw = np.empty_like(w)
    conv.conv2d_backprop_filter_nhwc(x, dy, dw, 1, 1, 1, 1, True)
    # <conv(x, w), dy> is linear in w: its gradient in w is dw, and in x the input gradient
    eps = rng.standard_normal(w.shape)
    np.testing.assert_allclose(np.sum(dw * eps), np.sum(_np_conv_nhwc(x, eps, 1, 1, True)[0] * dy), rtol=1e-9)
    dx = np.empty_like(x)
    conv.conv2d_backprop_input_nhwc(dy, w, dx, 1, 1, 1, 1, True)
    ex = rng.standard_normal(x.shape)
    np.testing.assert_allclose(np.sum(dx * ex), np.sum(_np_conv_nhwc(ex, w, 1, 1, True)[0] * dy), rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_accumulating_gemm_adds_into_row_blocks(dtype):
    from kernels.cpu.linalg import matmul_tn_acc
    rng = np.random.default_rng(2)
    a = rng.standard_normal((500, 40)).astype(dtype)
    b = rng.standard_normal((300, 50)).astype(dtype)
    out = rng.standard_normal((40, 50)).astype(dtype)
    want = out.astype(np.float64) + a[100:400].astype(np.float64).T @ b
    matmul_tn_acc(a[100:400], b, out)   # a row block: unit inner stride, leading dimension 40
    np.testing.assert_allclose(out, want, rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-4)
    before = out.copy()
    matmul_tn_acc(a[:0], b[:0], out)    # nothing to add
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("shape,k,s,same", [
    ((2, 6, 8, 3), 2, 2, False),   # windows tile the input: each zeroes its own inputs
    ((2, 5, 7, 3), 2, 2, True),    # SAME, clipped last windows: still one window per input
    ((2, 7, 7, 2), 2, 3, False),   # gaps between windows: dx zeroed first
    ((1, 6, 6, 4), 3, 2, True)])   # overlapping windows: gradients add up
def test_max_pool_gradient_kernel_matches_a_brute_force_first_maximum(shape, k, s, same):
    from kernels.cpu.conv import max_pool_grad_nhwc, pad_before
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal(shape) * 1.5).astype(np.float32)   # many ties
    x.reshape(-1)[::11] = np.nan
    N, H, W, C = shape
    OH = -(-H // s) if same else (H - k) // s + 1
    OW = -(-W // s) if same else (W - k) // s + 1
    g = rng.standard_normal((N, OH, OW, C)).astype(np.float32)
    dx = np.full_like(x, 7.0)   # every entry must be written
    max_pool_grad_nhwc(x, g, dx, k, k, s, s, same)
    ph, pw = pad_before(H, OH, k, s, 1, same), pad_before(W, OW, k, s, 1, same)
    want = np.zeros_like(x)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    best = None
                    for ih in range(max(0, oh * s - ph), min(H, oh * s - ph + k)):
                        for iw in range(max(0, ow * s - pw), min(W, ow * s - pw + k)):
                            v = x[n, ih, iw, c]
                            if best is None:
                                best = (ih, iw)
                                continue
                            b = x[n, best[0], best[1], c]
                            if v > b or (v != v and b == b):
                                best = (ih, iw)
                    want[n, best[0], best[1], c] += g[n, oh, ow, c]
    np.testing.assert_array_equal(dx, want)
