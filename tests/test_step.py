"""The compiled whole-step CPU backend against the reference and per-op executors."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphengine as ge
from graphengine.backends.cpu import step as stepmod
from graphengine.compiler import compile_program
from graphengine.compiler.fuse import Fused, fuse

OPTIMIZERS = {
    "sgd": lambda: ge.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: ge.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "rmsprop": lambda: ge.train.RMSPropOptimizer(0.01, momentum=0.5),
    "adam": lambda: ge.train.AdamOptimizer(0.01),
    "adagrad": lambda: ge.train.AdagradOptimizer(0.1),
}


def _mlp(opt: str, dtype=ge.float32):
    ge.set_random_seed(1)
    x = ge.placeholder(dtype, (None, 5), name="x")
    y = ge.placeholder(ge.int64, (None,), name="y")
    W1 = ge.get_variable("W1", (5, 8), dtype=dtype, initializer=ge.initializers.glorot_uniform(seed=1))
    b1 = ge.Variable(ge.zeros((8,), dtype), name="b1")
    W2 = ge.get_variable("W2", (8, 3), dtype=dtype, initializer=ge.initializers.glorot_uniform(seed=2))
    b2 = ge.Variable(ge.zeros((3,), dtype), name="b2")
    h = ge.nn.tanh(x @ W1 + b1)
    logits = h @ W2 + b2
    loss = ge.reduce_mean(ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits)) \
        + 1e-3 * ge.nn.l2_loss(W1)
    train = OPTIMIZERS[opt]().minimize(loss)
    return x, y, loss, train, [W1, b1, W2, b2]


def _data(n=9, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 5)), rng.integers(0, 3, n)


def _trajectory(device, jit, opt, dtype=ge.float32):
    ge.reset_default_graph()
    x, y, loss, train, vs = _mlp(opt, dtype)
    xs, ys = _data()
    with ge.Session(device=device, jit=jit) as s:
        s.run(ge.global_variables_initializer())
        losses = [s.run([train, loss], {x: xs[: 9 - i], y: ys[: 9 - i]})[1] for i in range(3)]
        return np.array(losses), s.run(vs)


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_step_matches_reference_and_op_executor(opt):
    ref_l, ref_v = _trajectory("reference", None, opt, ge.float64)
    for jit in ("step", "op"):
        l, v = _trajectory("cpu", jit, opt, ge.float64)
        np.testing.assert_allclose(l, ref_l, rtol=1e-9, atol=1e-12)
        for a, b in zip(v, ref_v):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    l32, _ = _trajectory("cpu", "step", opt)
    np.testing.assert_allclose(l32, ref_l, rtol=1e-4)


def test_ragged_batch_does_not_recompile():
    x, y, loss, train, _ = _mlp("adam")
    xs, ys = _data(32)
    with ge.Session(jit="step") as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {x: xs, y: ys})
        before = stepmod.COMPILE_COUNT[0]
        plans = len(s._plans)
        for n in (32, 7, 1, 32):
            s.run(train, {x: xs[:n], y: ys[:n]})
        assert stepmod.COMPILE_COUNT[0] == before
        assert len(s._plans) == plans
        exe = s._plans[next(reversed(s._plans))]
        assert isinstance(exe, stepmod.StepExecutable)
        assert len(exe._sigs) == 3  # buffers sized once per distinct batch size


def test_fuse_groups_bias_add_activation_and_backward():
    x, y, loss, train, _ = _mlp("sgd")
    p = compile_program([loss], [train], [x, y])
    groups = [s for s in fuse(p).ops if isinstance(s, Fused)]
    kinds = [tuple(m.type for m in g.members) for g in groups]
    assert ("add", "tanh") in kinds
    assert any(m.forward is not None for g in groups for m in g.members)  # backward chains too
    # fusion keeps every value the rest of the program reads
    for g in groups:
        assert g.outputs


def test_memory_plan_reuses_buffers():
    x, y, loss, train, _ = _mlp("adam")
    with ge.Session(jit="step") as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {x: _data()[0], y: _data()[1]})
        exe = s._plans[next(reversed(s._plans))]
        assert len(exe.lay.slot_dtype) < len(exe.lay.computed)


def test_error_inside_compiled_step_names_op_and_leaves_state():
    x, y, loss, train, vs = _mlp("adam")
    xs, ys = _data()
    with ge.Session(jit="step") as s:
        s.run(ge.global_variables_initializer())
        s.run(train, {x: xs, y: ys})
        before = s.run(vs)
        bad = ys.copy()
        bad[2] = 7
        with pytest.raises(ge.GraphEngineError) as e:
            s.run(train, {x: xs, y: bad})
        assert "sparse_softmax_xent" in str(e.value) and "test_step.py" in str(e.value)
        for a, b in zip(before, s.run(vs)):
            np.testing.assert_array_equal(a, b)
        s.run(train, {x: xs, y: ys})  # still works


def test_second_process_reuses_disk_cache(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, graphengine as ge
        from graphengine.backends.cpu import step as stepmod
        x = ge.placeholder(ge.float32, (None, 3))
        w = ge.Variable(np.ones((3, 2), np.float32))
        loss = ge.reduce_mean(ge.square(x @ w))
        train = ge.train.GradientDescentOptimizer(0.1).minimize(loss)
        with ge.Session(jit="step") as s:
            s.run(ge.global_variables_initializer())
            s.run(train, {x: np.ones((4, 3))})
            exe = s._plans[next(reversed(s._plans))]
            print("HITS", sum(exe.fn.stats.cache_hits.values()), "MISSES", sum(exe.fn.stats.cache_misses.values()))
    """)
    env = dict(os.environ, GRAPHENGINE_CACHE_DIR=str(tmp_path))
    outs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    for o in outs:
        assert o.returncode == 0, o.stderr
    first, second = (o.stdout.split() for o in outs)
    assert int(first[1]) == 0  # compiled in the first process
    assert int(second[1]) >= 1  # loaded from the disk cache in the second


def test_debug_numerics_uses_op_by_op_path():
    x = ge.placeholder(ge.float32, (None,))
    y = ge.log(x)
    with ge.Session(debug_numerics=True) as s:
        with pytest.raises(ge.NumericsError) as e:
            s.run(y, {x: [1.0, -1.0]})
        assert "log" in str(e.value) and "test_step.py" in str(e.value)


def test_plan_info_says_how_a_plan_runs():
    x, y, loss, train, _ = _mlp("sgd")
    xs, ys = _data()
    with ge.Session(jit="step") as s:
        init = s.plan_info(ge.global_variables_initializer())
        assert init["executor"] == "op by op" and "compute-heavy" in init["reason"]
        info = s.plan_info([train, loss], {x: xs, y: ys})
        assert info["executor"] == "compiled step" and info["fused_loops"] >= 1
        assert info["buffers"] >= 1 and info["batch_sizes_seen"] == 0  # built, not run
    with ge.Session(jit="op") as s:
        s.run(ge.global_variables_initializer())
        assert s.plan_info(loss, {x: xs, y: ys})["executor"] == "op by op"
