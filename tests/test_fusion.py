"""The fuse pass alone, and what the step generator makes of its groups: fusion through
reductions and broadcasts, vectorized loops, results equal to the reference executor."""
import glob
import importlib
import os

import numpy as np
import pytest

import graphengine as ge
from graphengine.compiler import compile_program
from graphengine.compiler.fuse import Fused, fuse, split


def _autoencoder(dims=(12, 6, 12), seed=0):
    ge.set_random_seed(seed)
    x = ge.placeholder(ge.float32, (None, dims[0]), name="x")
    h = x
    params = []
    for i in range(len(dims) - 1):
        w = ge.Variable(ge.random_normal((dims[i], dims[i + 1]), stddev=0.3, seed=i), name=f"W{i}")
        b = ge.Variable(ge.random_normal((dims[i + 1],), stddev=0.3, seed=10 + i), name=f"b{i}")
        params += [w, b]
        h = ge.nn.sigmoid(ge.add(ge.matmul(h, w), b))
    loss = ge.reduce_mean(ge.pow(x - h, 2))
    return x, loss, params


def _groups(program):
    return [s for s in fuse(program).ops if isinstance(s, Fused)]


def test_loss_and_last_layer_backward_are_one_group():
    x, loss, params = _autoencoder()
    grads = ge.gradients(loss, params)
    p = compile_program([loss] + grads, [], [x])
    groups = _groups(p)
    big = max(groups, key=lambda g: len(g.members))
    types = [m.type for m in big.members]
    # forward activation, loss arithmetic, the loss reduction, its broadcast gradient, the
    # activation gradient and the bias-gradient column sum: one loop
    for t in ("sigmoid", "subtract", "pow", "expand_like", "sigmoid_grad"):
        assert t in [m.type for m in big.maps], (t, types)
    sinks = [m.type for m in big.sinks]
    assert "reduce_mean" in sinks and "sum_to_like" in sinks, types
    # the squared error and the loss's broadcast gradient never reach memory
    stored = {t.op.type for t in big.outputs}
    assert "pow" not in stored and "expand_like" not in stored, stored
    # every other group is also a bias-gradient column sum fused into an activation gradient
    assert sum(1 for g in groups if any(m.type == "sum_to_like" for m in g.sinks)) == len(params) // 2


def test_split_gives_each_member_its_own_group_in_the_groups_order():
    """``split`` (a new plan's interim step): every fused member becomes a one-member group at
    its group's place, maps before sinks; nothing else moves."""
    x, loss, params = _autoencoder()
    p = fuse(compile_program([loss] + ge.gradients(loss, params), [], [x]))
    q = split(p)
    expect = []
    for s in p.ops:
        expect += list(s.members) if isinstance(s, Fused) else [s]
    got = [s.members[0] if isinstance(s, Fused) else s for s in q.ops]
    assert got == expect
    for s in q.ops:
        if not isinstance(s, Fused):
            continue
        (m,) = s.members
        assert s.outputs == tuple(m.outputs)   # every member's value is stored
        sink = m.type in ("reduce_sum", "reduce_mean") or (m.type == "sum_to_like" and s.n_maps == 0)
        assert (s.n_maps == 0) == sink and s.root is m
        assert set(s.inputs) <= set(m.inputs)
    # the phase boundary (ops before any variable update) moves with the members
    n1 = sum(len(s.members) if isinstance(s, Fused) else 1 for s in p.ops[:p.n_phase1])
    assert q.n_phase1 == n1 and q.fetches == p.fetches


def test_fuse_keeps_a_reduction_out_when_its_value_is_needed_inside():
    x = ge.placeholder(ge.float32, (None, 5), name="x")
    m = ge.reduce_mean(x * 2.0, axis=1, keepdims=True)
    y = ge.exp(x * 2.0 - m)  # reads the reduction's result: it cannot accumulate in this loop
    p = compile_program([y], [], [x])
    groups = _groups(p)
    assert any(g.sinks for g in groups)  # the mean still fuses into the loop that makes x * 2
    for g in groups:
        made = {o for s in g.sinks for o in s.outputs}
        assert not any(t in made for m in g.maps for t in m.inputs), "a sink's result is read in its own loop"
    with ge.Session() as sess:
        xv = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
        want = np.exp(2 * xv - (2 * xv).mean(axis=1, keepdims=True))
        np.testing.assert_allclose(sess.run(y, {x: xv}), want, rtol=1e-5)


@pytest.mark.parametrize("batch", [7, 1, 0])
def test_fused_step_matches_reference(batch):
    x, loss, params = _autoencoder()
    grads = ge.gradients(loss, params)
    xv = np.random.default_rng(1).random((batch, 12)).astype(np.float32)
    out = {}
    for dev in ("cpu", "reference"):
        with ge.Session(device=dev) as sess:
            sess.run(ge.global_variables_initializer())
            out[dev] = sess.run([loss] + grads, {x: xv})
    for a, b in zip(out["cpu"], out["reference"]):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6, equal_nan=True)
    if batch == 0:
        assert np.isnan(out["cpu"][0])  # mean over nothing is NaN, as in NumPy


def test_fused_training_matches_reference():
    x, loss, params = _autoencoder()
    opt = ge.train.RMSPropOptimizer(0.05).minimize(loss)
    xv = np.random.default_rng(2).random((9, 12)).astype(np.float32)
    hist = {}
    for dev in ("cpu", "reference"):
        with ge.Session(device=dev) as sess:
            sess.run(ge.global_variables_initializer())
            hist[dev] = [float(sess.run([opt, loss], {x: xv})[1]) for _ in range(5)]
            hist[dev + "w"] = sess.run(params[0])
    np.testing.assert_allclose(hist["cpu"], hist["reference"], rtol=1e-5)
    np.testing.assert_allclose(hist["cpuw"], hist["referencew"], rtol=1e-5, atol=1e-6)


def test_fused_loop_vectorizes(tmp_path, monkeypatch):
    """The loop helper of bias-add + sigmoid compiles to packed AVX instructions (256-bit, or
    512-bit where LLVM targets an AVX-512 CPU)."""
    if "avx2" not in open("/proc/cpuinfo").read():
        pytest.skip("needs an AVX2 CPU to check for packed ymm/zmm instructions")
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(tmp_path))
    x = ge.placeholder(ge.float32, (None, 64), name="x")
    w = ge.Variable(np.ones((64, 64), np.float32) / 64)
    b = ge.Variable(np.zeros(64, np.float32))
    y = ge.reduce_sum(ge.nn.sigmoid(x @ w + b))
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        sess.run(y, {x: np.ones((8, 64), np.float32)})
    loops = [f for f in glob.glob(os.path.join(str(tmp_path), "_ge_loop_*.py")) if "vsigmoid" in open(f).read()]
    assert loops, "no loop helper with the fused sigmoid was generated"
    name = os.path.basename(loops[0])[:-3]
    import sys
    mod = sys.modules.get(name) or importlib.import_module(name)
    fn = mod.loop
    asm = "\n".join(fn.inspect_asm(sig) for sig in fn.signatures)
    packed = [ln for ln in asm.splitlines()   # AVX2 (ymm) or AVX-512 (zmm) registers
              if ("ymm" in ln or "zmm" in ln) and "ps" in ln.split()[0]]
    assert len(packed) > 20, "the fused sigmoid loop did not vectorize"


def test_plan_info_lists_the_passes_and_fused_reductions():
    x, loss, params = _autoencoder()
    opt = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        info = sess.plan_info([opt, loss], {x: np.ones((3, 12), np.float32)})
    assert info["passes"] == ["prune", "simplify", "schedule", "fuse", "fold_updates", "layout", "plan_memory", "emit"]
    assert info["fused_reductions"] >= 3  # the loss mean and both bias-gradient column sums


def test_reduction_needed_only_for_its_shape():
    # the gradient of mean(sum(., axis=1)) needs the inner sum's shape, not its value
    x = ge.placeholder(ge.float32, (None, 4), name="x")
    w = ge.Variable(np.arange(4, dtype=np.float32), name="w")
    loss = ge.reduce_mean(ge.reduce_sum(ge.square(x * w), axis=1))
    (g,) = ge.gradients(loss, [w])
    xv = np.random.default_rng(3).random((5, 4)).astype(np.float32)
    with ge.Session() as sess:
        sess.run(ge.global_variables_initializer())
        np.testing.assert_allclose(sess.run(g, {x: xv}), (2 * xv * xv * np.arange(4)).sum(0) / 5, rtol=1e-5)
