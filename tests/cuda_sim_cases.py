"""GPU backend cases: under the Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1), or on a real GPU
with the CuPy array layer (GRAPHENGINE_TEST_GPU=1).

Not collected by the main run (no ``test_`` prefix): tests/test_cuda_sim.py runs this module in a
subprocess, with the simulator switched on before Numba is imported (always), and on a real GPU
(when CuPy finds one). The simulator runs each CUDA thread in Python, so every case is tiny.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
REAL_GPU = os.environ.get("GRAPHENGINE_TEST_GPU") == "1" and not SIM
if not (SIM or REAL_GPU):
    pytest.skip("run through tests/test_cuda_sim.py (needs NUMBA_ENABLE_CUDASIM=1 before numba loads, "
                "or GRAPHENGINE_TEST_GPU=1 on a machine with a GPU)", allow_module_level=True)
if SIM:
    import simpatch  # noqa: F401  (a faster, race-free simulator: see the module)

import opdb  # noqa: E402
from numba import cuda  # noqa: E402

import graphengine as ge  # noqa: E402
from graphengine.backends.cuda.backend import CudaBackend  # noqa: E402
from graphengine.errors import FeedError  # noqa: E402
from graphengine.ops.registry import OPS  # noqa: E402
from kernels.cuda import device  # noqa: E402
from kernels.registry import get_kernel, missing_kernels  # noqa: E402

opdb.SESSION_KWARGS["gpu"] = {"device": "gpu"}  # every op-database check, on the GPU backend
ARRAYS = CudaBackend().arrays  # NumbaArrays on the simulator, CupyArrays on a GPU
sim_only = pytest.mark.skipif(not SIM, reason="checks the simulator's own emulation")


@sim_only
def test_simulator_is_on():
    assert cuda.simulator_enabled if hasattr(cuda, "simulator_enabled") else device.SIMULATOR
    assert device.SIMULATOR and device.TPB == 8
    assert isinstance(CudaBackend().arrays, device.NumbaArrays)


def test_every_op_has_a_cuda_kernel():
    assert missing_kernels("cuda") == []


# ----- every op through Session(device="gpu") against the op database's NumPy ---------------------

@pytest.mark.parametrize("info,sample,dtype", opdb.dtype_cases(opdb.OP_DB))
def test_forward(info, sample, dtype):
    try:
        opdb.check_forward(info, sample, "gpu", dtype)
    except Exception as e:
        if device.SIMULATOR and any(m in str(e) for m in ("math domain error", "math range error",
                                                          "division by zero")):
            # the simulator runs kernels as Python, which raises where a GPU (error_model="numpy")
            # returns NaN/inf
            pytest.skip("NaN/inf sample: the simulator's Python math raises where CUDA returns NaN/inf")
        _xfail_if_reference_fails(lambda: opdb.check_forward(info, sample, "reference", dtype))
        raise


def _xfail_if_reference_fails(check):
    """A case the NumPy reference backend fails too is a core bug, not a GPU-kernel bug."""
    ge.reset_default_graph()
    try:
        check()
    except Exception as e:  # noqa: BLE001 - any failure of the reference marks a core issue
        pytest.xfail(f"fails on the reference backend too (core issue): {str(e).splitlines()[0]}")


def _first_grad_sample_per_op() -> list:
    """One finite-difference case per op keeps the simulator run short; every sample's forward
    pass is tested above and the MLP steps below compare whole backward passes."""
    seen, out = set(), []
    for p in opdb.cases(opdb.OP_DB, grad=True):
        if p.values[0].name not in seen:
            seen.add(p.values[0].name)
            out.append(p)
    return out


@pytest.mark.parametrize("info,sample", _first_grad_sample_per_op())
def test_gradients_finite_difference(info, sample):
    try:
        opdb.check_grads(info, sample, "gpu")
    except (AssertionError, Exception):
        _xfail_if_reference_fails(lambda: opdb.check_grads(info, sample, "reference"))
        raise


# ----- kernels directly: the paths the op database's small shapes do not reach --------------------

def _run(op_type, attrs, *host):
    with device.using(ARRAYS):
        outs = get_kernel(op_type, "cuda")(attrs, *[ARRAYS.upload(np.asarray(h)) for h in host])
        outs = outs if isinstance(outs, tuple) else (outs,)
        return [ARRAYS.download(o) for o in outs]


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("mkn", [(5, 7, 6), (19, 13, 21), (1, 9, 1)])
def test_tiled_gemm_ragged_tiles(ta, tb, mkn):
    # the tiled GEMM itself (on a GPU the matmul kernel is cuBLAS, so call it directly); on the
    # simulator a block covers 8 x 8 outputs: (19, 13, 21) spans several blocks in M, N and K
    from kernels.cuda.matmul import gemm_numba
    m, k, n = mkn
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    A, B = (a.T.copy() if ta else a), (b.T.copy() if tb else b)
    with device.using(ARRAYS):
        got = ARRAYS.download(gemm_numba(ARRAYS, ARRAYS.upload(A), ARRAYS.upload(B), ta, tb, None))
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min"])
@pytest.mark.parametrize("axis", [None, (1,), (0, 2)])
def test_block_and_permuted_reductions(op, axis):
    # K = 40 > 32 takes the shared-memory tree; axes (0, 2) need the permute-then-reduce path
    x = np.random.default_rng(1).standard_normal((4, 40, 3)).astype(np.float32)
    (got,) = _run(op, {"axis": axis, "keepdims": False}, x)
    np.testing.assert_allclose(got, OPS[op].ref({"axis": axis, "keepdims": False}, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_rows_longer_than_a_block(op):
    x = np.random.default_rng(2).standard_normal((3, 45)).astype(np.float32) * 4
    (got,) = _run(op, {}, x)
    np.testing.assert_allclose(got, OPS[op].ref({}, x), rtol=1e-5, atol=1e-6)


def test_fused_xent_loss_and_backprop_in_one_kernel():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 37)).astype(np.float32)
    y = np.array([0, 36, 5, 17, 2], np.int64)
    loss, back = _run("sparse_softmax_xent", {}, x, y)
    want_loss, want_back = OPS["sparse_softmax_xent"].ref({}, x, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back, want_back, rtol=1e-5, atol=1e-6)
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    dense = p[[1, 0, 4, 3, 2]].astype(np.float32)
    loss, back = _run("softmax_xent", {}, x, dense)
    np.testing.assert_allclose(loss, -(dense * np.log(p)).sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(back, p - dense, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_short_rows_one_thread_per_row(op):
    # C = 10 <= SERIAL_MAX_C: one thread per row; 700 rows > MAX_BLOCKS * TPB (simulator) exercise
    # the grid stride
    from kernels.cuda import nn
    assert 10 <= nn.SERIAL_MAX_C < 700 and (device.MAX_BLOCKS * device.TPB < 700 or not SIM)
    x = np.random.default_rng(2).standard_normal((700, 10)).astype(np.float32) * 4
    (got,) = _run(op, {}, x)
    np.testing.assert_allclose(got, OPS[op].ref({}, x), rtol=1e-5, atol=1e-6)


def test_fused_xent_short_rows_one_thread_per_row():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((700, 10)).astype(np.float32)
    y = rng.integers(0, 10, 700)
    for op, labels in (("sparse_softmax_xent", y), ("softmax_xent", np.eye(10, dtype=np.float32)[y])):
        loss, back = _run(op, {}, x, labels)
        want_loss, want_back = OPS[op].ref({}, x, labels)
        np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(back, want_back, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("C", [3, 40])  # the one-thread-per-row and the block-per-row kernels
def test_sparse_xent_out_of_range_label_gives_nan_not_a_crash(C):
    x = np.zeros((3, C), np.float32)
    loss, _ = _run("sparse_softmax_xent", {}, x, np.array([1, C, -1], np.int64))
    assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(loss[2])


def _update_case(op_type):
    rng = np.random.default_rng(4)
    shape = (3, 4)
    pos = lambda: rng.uniform(0.5, 1.5, shape).astype(np.float32)  # noqa: E731
    randn = lambda: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    args = {"var": randn(), "grad": randn(),
            "lr": np.float32(0.1), "t": np.float32(3), "momentum": np.float32(0.9),
            "accum": pos(), "ms": pos(), "mom": pos(), "m": randn(),
            "v": pos()}
    return [np.asarray(args[n]) for n in OPS[op_type].meta["inputs"]]


UPDATE_ATTRS = {"apply_gradient_descent": {}, "apply_momentum": {"nesterov": True},
                "apply_rms_prop": {"rho": 0.9, "momentum": 0.5, "epsilon": 1e-7},
                "apply_adam": {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}, "apply_adagrad": {}}


@pytest.mark.parametrize("op_type", sorted(UPDATE_ATTRS))
def test_fused_optimizer_update_in_place(op_type):
    host = _update_case(op_type)
    want = OPS[op_type].ref(UPDATE_ATTRS[op_type], *[h.copy() for h in host])
    with device.using(ARRAYS):
        dev = [ARRAYS.upload(h) for h in host]
        outs = get_kernel(op_type, "cuda")(UPDATE_ATTRS[op_type], *dev)
        assert all(o is d for o, d in zip(outs, dev, strict=False)), "updates must write the buffers in place"
        got = [ARRAYS.download(o) for o in outs]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-7)


def test_device_state_copies_into_its_own_buffer():
    v = ge.Variable(np.zeros((2, 3), np.float32), name="v")
    from graphengine.backends.cuda.state import DeviceState
    st = DeviceState(ARRAYS)
    st.write(v.op, np.ones((2, 3)))
    buf = st.read(v.op)
    assert not isinstance(buf, np.ndarray)
    with device.using(ARRAYS):
        other = ARRAYS.upload(np.full((2, 3), 2, np.float32))
    st.write(v.op, other)                      # a device value: copied, buffer kept
    assert st.read(v.op) is buf and st.version == 1
    np.testing.assert_array_equal(st.host_value(v.op), np.full((2, 3), 2, np.float32))


# ----- the end-to-end check: training steps of an MLP, GPU backend vs the NumPy reference ----------

def _mlp(optimizer):
    rng = np.random.default_rng(0)
    x = ge.placeholder(ge.float32, (None, 6), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    w1 = ge.Variable((rng.standard_normal((6, 5)) * 0.5).astype(np.float32), name="w1")
    b1 = ge.Variable(np.full(5, 0.1, np.float32), name="b1")
    w2 = ge.Variable((rng.standard_normal((5, 3)) * 0.5).astype(np.float32), name="w2")
    b2 = ge.Variable(np.zeros(3, np.float32), name="b2")
    h = ge.nn.relu(ge.matmul(x, w1) + b1)
    logits = ge.matmul(h, w2) + b2
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
    params = [w1, b1, w2, b2]
    return x, y, loss, ge.gradients(loss, params), optimizer.minimize(loss), params


OPTIMIZERS = {
    "sgd": lambda: ge.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: ge.train.MomentumOptimizer(0.1, 0.9, use_nesterov=True),
    "rmsprop": lambda: ge.train.RMSPropOptimizer(0.01, momentum=0.5),
    "adam": lambda: ge.train.AdamOptimizer(0.01),
    "adagrad": lambda: ge.train.AdagradOptimizer(0.1),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_mlp_training_steps_match_reference(opt):
    rng = np.random.default_rng(5)
    batches = [(rng.standard_normal((4, 6)).astype(np.float32), rng.integers(0, 3, 4)) for _ in range(3)]
    runs = {}
    for dev in ("reference", "gpu"):
        ge.reset_default_graph()
        x, y, loss, grads, train, params = _mlp(OPTIMIZERS[opt]())
        with ge.Session(device=dev) as s:
            s.run(ge.global_variables_initializer())
            steps = [s.run([loss, grads, train], {x: bx, y: by})[:2] for bx, by in batches]
            runs[dev] = steps, s.run(params)
    (ref_steps, ref_params), (gpu_steps, gpu_params) = runs["reference"], runs["gpu"]
    for (l_ref, g_ref), (l_gpu, g_gpu) in zip(ref_steps, gpu_steps, strict=True):
        np.testing.assert_allclose(l_gpu, l_ref, rtol=1e-5)
        for a, b in zip(g_gpu, g_ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    for a, b in zip(gpu_params, ref_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bias_relu_fused_in_one_kernel_matches():
    # relu(x @ w + b): the backend fuses the bias add into the activation's kernel when it can
    x = ge.placeholder(ge.float32, (None, 4))
    w = ge.constant(np.random.default_rng(6).standard_normal((4, 3)).astype(np.float32))
    b = ge.constant(np.array([0.5, -0.5, 0.0], np.float32))
    y = ge.nn.relu(ge.matmul(x, w) + b)
    xs = np.random.default_rng(7).standard_normal((5, 4)).astype(np.float32)
    with ge.Session(device="gpu") as s:
        got = s.run(y, {x: xs})
        (exe,) = s._plans.values()
        names = [getattr(k, "__name__", "") for _, k, _, _ in exe.steps]
        assert "add_relu_cuda" in names and "add" not in [op.type for op, *_ in exe.steps], names
    want = np.maximum(xs @ w.op.attrs["value"] + b.op.attrs["value"], 0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_sigmoid_training_fuses_bias_add_and_matches_reference():
    runs = {}
    for dev in ("reference", "gpu"):
        ge.reset_default_graph()
        x = ge.placeholder(ge.float32, (None, 3))
        w = ge.Variable(np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2))
        b = ge.Variable(np.array([0.1, -0.2], np.float32))
        loss = ge.reduce_sum(ge.square(ge.sigmoid(ge.matmul(x, w) + b)))
        grads = ge.gradients(loss, [w, b])
        with ge.Session(device=dev) as s:
            s.run(ge.global_variables_initializer())
            runs[dev] = s.run([loss, grads], {x: np.arange(6, dtype=np.float32).reshape(2, 3) / 6})
    np.testing.assert_allclose(runs["gpu"][0], runs["reference"][0], rtol=1e-5)
    for a, b in zip(runs["gpu"][1], runs["reference"][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_missing_placeholder_names_the_op_on_gpu():
    x = ge.placeholder(ge.float32, (2,), name="needed")
    with ge.Session(device="gpu") as s, pytest.raises(FeedError, match="needed"):
        s.run(x * 2)


# ----- captured steps (jit="graph" / "segments") on the simulator's emulated stream capture -------

def _train(dev, jit, opt, batches, between=None):
    ge.reset_default_graph()
    x, y, loss, grads, train, params = _mlp(OPTIMIZERS[opt]())
    with ge.Session(device=dev, jit=jit) as s:
        s.run(ge.global_variables_initializer())
        steps = []
        for i, (bx, by) in enumerate(batches):
            if between is not None:
                between(s, params, i)
            steps.append(s.run([loss, grads, train], {x: bx, y: by})[:2])
        exe = [e for e in s._plans.values() if getattr(e, "_records", None)]
        return steps, s.run(params), exe


def _batches(sizes, seed=5):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n)) for n in sizes]


def _assert_same_training(got, want):
    (g_steps, g_params), (w_steps, w_params) = got[:2], want[:2]
    for (lg, gg), (lw, gw) in zip(g_steps, w_steps, strict=True):
        np.testing.assert_allclose(lg, lw, rtol=1e-5)
        for a, b in zip(gg, gw, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())
    for a, b in zip(g_params, w_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit", ["graph", "segments"])
@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop"])
def test_captured_training_steps_match_reference(jit, opt):
    # batch 4: warm-up (eager), capture + replay, replay, replay; batch 3: a new recording
    batches = _batches([4, 4, 4, 4, 3, 3, 3])
    want = _train("reference", None, opt, batches)
    got = _train("gpu", jit, opt, batches)
    _assert_same_training(got, want)
    (exe,) = got[2]
    assert len(exe._records) == 2, "one recording per batch shape"
    for rec in exe._records.values():
        if jit == "graph":
            assert rec.graphs == 1 and len(rec.items) == 1
        else:  # graphs between the matmuls (2 forward; dW2, dH, dW1), cuBLAS launched between them
            assert rec.graphs >= 3 and len(rec.items) - rec.graphs == 5
        assert rec.held, "buffers allocated while capturing belong to the recording"


def test_captured_step_sees_variables_set_between_replays():
    batches = _batches([4] * 5)

    def reset_w1(s, params, i):
        if i == 3:  # after the recording exists: same shape, so the graph's buffer is reused
            s.set_value(params[0], np.full((6, 5), 0.05, np.float32))

    want = _train("reference", None, "sgd", batches, reset_w1)
    got = _train("gpu", "graph", "sgd", batches, reset_w1)
    _assert_same_training(got, want)


def test_steps_drawing_host_random_numbers_are_never_captured():
    x = ge.placeholder(ge.float32, (None, 4))
    w = ge.Variable(np.ones((4, 2), np.float32))
    y = ge.reduce_sum(ge.matmul(ge.nn.dropout(x, rate=0.5, seed=3), w))
    xs = np.ones((3, 4), np.float32)
    with ge.Session(device="gpu", jit="graph") as s:
        s.run(w.initializer)
        got = {float(s.run(y, {x: xs})) for _ in range(8)}
        from graphengine.backends.cuda.backend import has_host_inputs
        (exe,) = [e for e in s._plans.values() if has_host_inputs(e.eager.steps)]
        assert not exe.capturable and not exe._records
    assert len(got) > 1, "a replayed graph would repeat one dropout mask"


@sim_only
def test_emulated_capture_rejects_what_cuda_capture_rejects():
    arrays = device.NumbaArrays()
    buf = arrays.upload(np.zeros(4, np.float32))
    for illegal in (lambda: arrays.download(buf), lambda: arrays.upload(np.ones(2)),
                    lambda: arrays.copy_into(buf, np.ones(4, np.float32)), arrays.synchronize,
                    lambda: arrays.matmul(buf.reshape((2, 2)), buf.reshape((2, 2)), False, False, None)):
        arrays.stream.begin_capture()
        with pytest.raises(device.StreamCaptureError, match="capturing"):
            illegal()
        assert not arrays.stream.is_capturing()  # the illegal call ended (invalidated) the capture


@sim_only
def test_emulated_capture_records_launches_and_replays_them():
    from kernels.cuda.elementwise import launch_map
    arrays = device.NumbaArrays()
    with device.using(arrays):
        a = arrays.upload(np.arange(4, dtype=np.float32))
        out = arrays.empty((4,), np.float32)
        arrays.stream.begin_capture()
        launch_map("x0 * 2", out, [a])
        graph = arrays.stream.end_capture()
        arrays.copy_into(a, np.full(4, 10, np.float32))  # a new "feed" after the capture
        graph.launch(arrays.stream)
        np.testing.assert_array_equal(arrays.download(out), np.full(4, 20, np.float32))


# ----- device arrays in and out (embedding: no host round trip) -----------------------------------

def _device(host):
    """A device array made the way a user would (CuPy on a GPU), complete before it is fed."""
    with device.using(ARRAYS):
        out = ARRAYS.upload(host)
        ARRAYS.synchronize()
    return out


def _host(d):
    """A device array read back on the caller's current stream (what Session.run hands over to)."""
    return d.get() if hasattr(d, "get") else d.copy_to_host()


@pytest.mark.parametrize("jit", [None, "graph", "segments"])
def test_device_feeds_and_device_fetches(jit):
    from graphengine.runtime.session import is_device_array
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    w = ge.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
    y = ge.matmul(x, w)
    train = ge.train.GradientDescentOptimizer(0.1).minimize(ge.reduce_sum(y))
    host = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    want_w = np.arange(6, dtype=np.float32).reshape(3, 2)
    with ge.Session(device="gpu", jit=jit) as s:
        s.run(w.initializer)
        xd = _device(host)
        for _ in range(4):  # captured modes: warm-up, record, replay, replay
            got, _ = s.run([y, train], {x: xd}, device_arrays=True)
            assert is_device_array(got)
            np.testing.assert_allclose(_host(got), host @ want_w, rtol=1e-5, atol=1e-6)
            want_w = want_w - 0.1 * host.sum(0)[:, None]
        wd = s.run(w, device_arrays=True)           # a copy, not the variable's own buffer
        assert wd is not s.state.read(w.op)
        np.testing.assert_array_equal(_host(xd), host)  # the feed was not written
        np.testing.assert_allclose(_host(wd), want_w, rtol=1e-5)
        np.testing.assert_allclose(s.run(y, {x: xd}), host @ want_w, rtol=1e-5, atol=1e-6)  # host fetch
        f = s.make_callable(y, [x], device_arrays=True)
        assert is_device_array(f(xd))


def test_device_feed_checked_like_a_host_feed():
    x = ge.placeholder(ge.float32, (None, 3), name="xin")
    with ge.Session(device="gpu") as s:
        with pytest.raises(FeedError, match=r"device array of dtype float64 to placeholder 'xin'"):
            s.run(x * 2, {x: _device(np.zeros((2, 3)))})
        with pytest.raises(FeedError, match=r"shape \(2, 4\) to placeholder 'xin'"):
            s.run(x * 2, {x: _device(np.zeros((2, 4), np.float32))})


def test_device_feed_to_a_cpu_session_is_copied_to_the_host():
    x = ge.placeholder(ge.float32, (None, 3))
    xd = _device(np.ones((2, 3), np.float32))
    with ge.Session() as s:
        np.testing.assert_array_equal(s.run(x * 2, {x: xd}), np.full((2, 3), 2, np.float32))
        out = s.run(x * 2, {x: xd}, device_arrays=True)  # a CPU session's arrays are host arrays
        assert isinstance(out, np.ndarray)


# ----- a failed step leaves the variables as they were ---------------------------------------------

@pytest.mark.parametrize("jit", [None, "graph"])
def test_shape_error_after_an_update_restores_the_variable(jit):
    x = ge.placeholder(ge.float32, (None, None), name="x")
    v = ge.Variable(np.ones((2, 2), np.float32), name="v")
    prod = ge.matmul(x, ge.assign(v, v + 1.0), name="after_assign")  # the update runs first
    with ge.Session(device="gpu", jit=jit) as s:
        s.run(v.initializer)
        with pytest.raises(ge.ShapeError, match="after_assign"):
            s.run(prod, {x: np.ones((3, 3), np.float32)})
        np.testing.assert_array_equal(s.run(v), np.ones((2, 2)))
        np.testing.assert_array_equal(s.run(prod, {x: np.ones((1, 2), np.float32)}), [[4.0, 4.0]])


def test_failed_training_step_updates_nothing():
    x = ge.placeholder(ge.float32, (None, 3), name="x")
    labels = ge.placeholder(ge.int32, (None,), name="labels")
    w = ge.Variable(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), name="W")
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x @ w))
    train = ge.train.AdamOptimizer(0.1).minimize(loss)
    xs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    ys = np.array([0, 1, 2, 3, 0], np.int32)
    with ge.Session(device="gpu") as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {x: xs, labels: ys})
        before = s.run(ge.global_variables())
        for feed, err in (({x: xs[:, :2], labels: ys}, FeedError), ({x: xs, labels: ys[:4]}, ge.ShapeError)):
            with pytest.raises(err):
                s.run(train, feed)
            for a, c in zip(s.run(ge.global_variables()), before, strict=True):
                np.testing.assert_array_equal(a, c)


# ----- batch norm layer, embeddings and summaries on the device (issue 13) ------------------------

def test_batchnorm_embedding_training_with_summaries_matches_cpu():
    import graphengine.compat.v1 as tf

    def run(device):
        tf.reset_default_graph()
        tf.set_random_seed(3)
        ids = tf.placeholder(tf.int32, [None])
        training = tf.placeholder_with_default(False, ())
        table = tf.get_variable("emb", [6, 4])
        h = tf.layers.batch_normalization(tf.nn.embedding_lookup(table, ids), training=training)
        loss = tf.reduce_mean(tf.square(tf.layers.dense(h, 2)))
        summ = tf.summary.merge([tf.summary.scalar("loss", loss), tf.summary.histogram("h", h)])
        with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
            # not Adam: at this init d(loss)/d(beta) is 0 up to rounding (~3e-8 on either device),
            # and Adam turns that rounding noise into full-size steps of either sign
            train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
        moving = [v for v in tf.global_variables() if "moving" in v.name]
        with tf.Session(config={"device": device}) as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(3):
                _, s = sess.run([train, summ], {ids: [0, 5, 5, 2], training: True})
            return sess.run([loss, table] + moving, {ids: [1, 5]}), s
    (cpu, s_cpu), (gpu, s_gpu) = run("cpu"), run("gpu")
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert isinstance(s_gpu, bytes) and len(s_gpu) == len(s_cpu)
