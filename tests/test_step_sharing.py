"""Compilation proportional to what is new: graphs that differ only in scalar constants share
their loop helpers (same loop modules, compiled once per process and cached on disk)."""
import re

import numpy as np

import graphengine as ge
from graphengine.backends.cpu.stepgen import generate
from graphengine.compiler import compile_program
from graphengine.compiler.fuse import fuse


def _mlp(scale: float, bias: float = 0.1):
    """784-style MLP (small) with constants pasted into fused forward and backward loops."""
    ge.reset_default_graph()
    ge.set_random_seed(0)
    x = ge.placeholder(ge.float32, (None, 6), name="x")
    y = ge.placeholder(ge.float32, (None, 3), name="y")
    W1 = ge.Variable(ge.random_normal((6, 5), stddev=0.1, seed=1))
    b1 = ge.Variable(ge.constant(np.full(5, bias, np.float32)))
    h = ge.nn.relu(x @ W1 + b1)
    W2 = ge.Variable(ge.random_normal((5, 3), stddev=0.1, seed=2))
    logits = (h @ W2) * ge.constant(scale) + ge.constant(scale * 0.5)
    loss = ge.reduce_mean(ge.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train = ge.train.AdamOptimizer(1e-3).minimize(loss)
    return x, y, loss, train


def _loops(scale: float) -> tuple[list[str], str]:
    x, y, loss, train = _mlp(scale)
    p = compile_program([loss], [train], [x, y])
    loops: list[str] = []

    def load(src: str) -> str:
        loops.append(src)
        return f"_ge_loop_{len(loops)}"
    src, _ = generate(fuse(p), "test", load_loop=load)
    return loops, src


def test_loop_bodies_carry_no_scalar_constants():
    a, step_a = _loops(2.5)
    b, step_b = _loops(-0.125)
    assert len(a) >= 3
    assert a == b, "graphs that differ only in constants must generate the same loop helpers"
    for src in a:
        assert "2.5" not in src and "1.25" not in src
    assert step_a == step_b  # the constants arrive as arguments: even the step is shared


def _compiled_loops(fn) -> list[str]:
    from numba.core import event
    names: list[str] = []

    class Rec(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            f = ev.data["dispatcher"].py_func
            if f.__module__.startswith("_ge_loop_"):
                names.append(f.__module__)
    with event.install_listener("numba:compile", Rec()):
        fn()
    return names


def test_second_graph_with_other_constants_compiles_no_loop(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHENGINE_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(4, 6)).astype(np.float32)
    ys = np.eye(3, dtype=np.float32)[[0, 1, 2, 1]]
    losses = {}

    def train(scale):
        x, y, loss, step = _mlp(scale)
        with ge.Session() as s:
            s.run(ge.global_variables_initializer())
            losses[scale] = s.run([step, loss], {x: xs, y: ys})[1]
    first = _compiled_loops(lambda: train(1.5))
    second = _compiled_loops(lambda: train(0.75))
    mods = {re.sub(r"\W", "", m) for m in first}
    assert len(mods) >= 3, first  # the first graph compiled (or loaded) its loops here
    assert second == [], f"the second graph recompiled loops {second}"
    assert losses[1.5] != losses[0.75]  # the constants still reach the loops
