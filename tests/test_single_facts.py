"""The facts written once in graphengine.ops.facts, each against a brute-force or NumPy form."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from graphengine.ops.facts import (
    ADAM_STEP_SIZE,
    adam_step_size,
    alias_chain,
    around_axis,
    render_adam_step_size,
    resolve_alias,
    unbroadcast_axes,
    view3,
)

RNG = np.random.default_rng(16)


def _shapes(max_rank=4, dims=(1, 2, 3)):
    for r in range(max_rank + 1):
        yield from itertools.product(dims, repeat=r)


# ----- unbroadcast axes ----------------------------------------------------------------------

@pytest.mark.parametrize("out", [s for s in _shapes(3)])
def test_unbroadcast_axes_undo_numpy_broadcasting(out):
    # every shape that broadcasts to ``out``: summing the axes and reshaping gives NumPy's
    # gradient of broadcasting (each input element's total over the outputs it reached)
    g = RNG.standard_normal(out)
    for r in range(len(out) + 1):
        for ones in itertools.product((False, True), repeat=r):
            x = tuple(1 if one else n for one, n in zip(ones, out[len(out) - r:]))
            axes = unbroadcast_axes(out, x)
            got = np.sum(g, axis=axes, keepdims=True).reshape(x)
            want = np.zeros(x)
            idx = np.broadcast_to(np.arange(max(1, int(np.prod(x)))).reshape(x), out)
            np.add.at(want.reshape(-1), idx.reshape(-1), g.reshape(-1))
            np.testing.assert_allclose(got, want, atol=1e-12)
            assert axes == tuple(sorted(set(axes)))


def test_unbroadcast_axes_unknown_dims_count_as_not_one():
    assert unbroadcast_axes((None, 3), (1, 3)) == (0,)
    assert unbroadcast_axes((None, 3), (3,)) == (0,)
    assert unbroadcast_axes((2, 3), (2, 3)) == ()


# ----- the (outer, reduced, inner) view ------------------------------------------------------

@pytest.mark.parametrize("shape", [s for s in _shapes(4, (1, 2, 3))])
def test_view3_matches_numpy_reduction(shape):
    x = RNG.standard_normal(shape)
    r = len(shape)
    for k in range(r + 1):
        for axes in itertools.combinations(range(r), k):
            three = view3(shape, axes)
            contiguous = not axes or max(axes) - min(axes) + 1 == len(axes)
            assert (three is not None) == contiguous
            if three is None:
                continue
            a, n, b = three
            assert a * n * b == x.size
            want = np.sum(x, axis=axes).reshape(-1)
            np.testing.assert_allclose(x.reshape(a, n, b).sum(axis=1).reshape(-1), want, atol=1e-12)


def test_view3_of_all_axes_and_symbolic_dims():
    assert view3((2, 3), None) == (1, 6, 1)
    assert view3((), None) == (1, 1, 1)
    assert view3((4, 5), ()) == (20, 1, 1)
    src = lambda ds: " * ".join(ds) or "1"  # noqa: E731
    assert view3(["S0", "S1", "S2"], (1,), src) == ("S0", "S1", "S2")
    assert view3(["S0", "S1", "S2"], (0, 1), src) == ("1", "S0 * S1", "S2")


@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4), (1, 4, 1, 2)])
def test_around_axis_is_the_moveaxis_view(shape):
    x = RNG.standard_normal(shape)
    for ax in range(len(shape)):
        a, n, b = around_axis(shape, ax)
        v = x.reshape(a, n, b)
        np.testing.assert_array_equal(np.moveaxis(v, 1, -1).reshape(-1, n),
                                      np.moveaxis(x, ax, -1).reshape(-1, n))
        assert all(type(d) is int for d in (a, n, b))


# ----- Adam's step size ----------------------------------------------------------------------

def _adam_by_hand(lr, t, b1, b2):
    # TF1's ApplyAdam docs: lr_t = learning_rate * sqrt(1 - beta2^t) / (1 - beta1^t)
    return lr * math.sqrt(1.0 - math.pow(b2, t)) / (1.0 - math.pow(b1, t))


@pytest.mark.parametrize("t", [1, 2, 10, 1000])
def test_adam_step_size_is_tf1s_formula(t):
    for lr, b1, b2 in [(1e-3, 0.9, 0.999), (0.5, 0.8, 0.9)]:
        assert adam_step_size(lr, float(t), b1, b2) == pytest.approx(_adam_by_hand(lr, t, b1, b2),
                                                                      rel=1e-15)


def test_adam_step_size_keeps_float32_math_like_numpy():
    # the reference runs it on float32 0-d arrays: the result rounds like NumPy's float32 sqrt
    for t in range(1, 50):
        lr, tt = np.array(1e-3, np.float32), np.array(t, np.float32)
        got = adam_step_size(lr, tt, 0.9, 0.999)
        want = lr * np.sqrt(1 - 0.999 ** tt) / (1 - 0.9 ** tt)
        assert np.asarray(got).dtype == np.float32 and got == want


def test_the_step_generator_renders_the_same_formula():
    src = render_adam_step_size("lr", "t", "0.9", "0.999")
    assert src == ADAM_STEP_SIZE.format(lr="lr", t="t", beta1="0.9", beta2="0.999")
    assert eval(src, {"math": math, "lr": 0.01, "t": 3.0}) == adam_step_size(0.01, 3.0, 0.9, 0.999)


def test_the_cpu_step_emitter_uses_the_template():
    import graphengine as ge
    from graphengine.backends.cpu.stepgen import generate
    from graphengine.compiler import compile_program
    from graphengine.compiler.fuse import fuse

    ge.reset_default_graph()
    w = ge.Variable(np.ones(3, np.float32))
    train = ge.train.AdamOptimizer(0.01, beta1=0.8, beta2=0.95).minimize(ge.reduce_sum(w * w))
    src, _ = generate(fuse(compile_program([], [train], [])), "test")
    assert "math.sqrt(1.0 - 0.95 ** " in src and "/ (1.0 - 0.8 ** " in src


# ----- alias resolution ----------------------------------------------------------------------

def test_resolve_alias_follows_every_link_in_order():
    alias = {"d": "c", "b": "a"}
    view = {"c": "b", "a": "z"}
    assert list(alias_chain("d", alias.get, view.get)) == ["d", "c", "b", "a", "z"]
    assert resolve_alias("d", alias.get, view.get) == "z"
    assert resolve_alias("d", alias.get) == "c"
    assert resolve_alias("q", alias.get) == "q"
    both = {"x": "from-alias"}
    assert resolve_alias("x", both.get, {"x": "from-view"}.get) == "from-alias"  # first link wins


def test_program_resolve_and_the_step_generator_agree_on_graph_aliases():
    import graphengine as ge
    from graphengine.compiler import compile_program

    ge.reset_default_graph()
    x = ge.placeholder(ge.float32, (2,))
    y = ge.identity(ge.identity(x * 1.0))  # simplify maps y to x
    p = compile_program([y], [], [x])
    assert p.resolve(y) is resolve_alias(y, p.aliases.get)
    assert p.resolve(y) is p.fetches[0]
