"""Property-based and fuzz tests (hypothesis, derandomized so CI is reproducible).

* every binary elementwise op on random broadcast-compatible shapes, all modes vs NumPy;
* random DAGs of registered ops (float64, small static shapes): forward values and
  ``ge.gradients`` compared between the NumPy reference executor and ``jit="op"`` (1,000+
  graphs: op kernels compile once per dtype and are shared) and ``jit="step"`` (a few dozen:
  every new graph compiles one Numba function);
* random feeds of wrong shapes or dtypes raise ``FeedError`` and leave the session usable.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import graphengine as ge
from graphengine.ops.elementwise import ELEMENTWISE
from graphengine.ops.registry import apply1

FUZZ = settings(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
MODES = {"reference": {"device": "reference"}, "op": {"jit": "op"}, "step": {"jit": "step"}}


def _sig(x):
    return 1 / (1 + np.exp(-x))


# Independent NumPy definitions of every binary elementwise op (not the ops' own ``ref``), and
# the input domain each needs: "any", "pos" (> 0), "int" (nonzero int64) or "bool".
BINARY_NUMPY = {
    "add": (np.add, "any"), "subtract": (np.subtract, "any"), "multiply": (np.multiply, "any"),
    "divide": (np.divide, "pos"), "pow": (np.power, "pos"), "floordiv": (np.floor_divide, "int"),
    "maximum": (np.maximum, "any"), "minimum": (np.minimum, "any"),
    "squared_difference": (lambda x, y: np.square(x - y), "any"),
    "equal": (np.equal, "any"), "not_equal": (np.not_equal, "any"), "less": (np.less, "any"),
    "less_equal": (np.less_equal, "any"), "greater": (np.greater, "any"),
    "greater_equal": (np.greater_equal, "any"),
    "logical_and": (np.logical_and, "bool"), "logical_or": (np.logical_or, "bool"),
    "sigmoid_xent": (lambda x, z: z * -np.log(_sig(x)) + (1 - z) * -np.log(1 - _sig(x)), "any"),
    "relu_grad": (lambda x, g: g * (x > 0), "any"),
    "relu6_grad": (lambda x, g: g * ((x > 0) & (x < 6)), "any"),
    "leaky_relu_grad": (lambda x, g: np.where(x > 0, g, 0.2 * g), "any"),
    "elu_grad": (lambda x, g: np.where(x > 0, g, g * np.exp(x)), "any"),
    "sigmoid_grad": (lambda y, g: g * y * (1 - y), "any"),
    "tanh_grad": (lambda y, g: g * (1 - y ** 2), "any"),
    "softplus_grad": (lambda x, g: g * _sig(x), "any"),
}
BINARY_OPS = sorted(n for n, spec in ELEMENTWISE.items() if spec[0] == 2)


def test_every_binary_elementwise_op_has_a_numpy_definition():
    assert sorted(BINARY_NUMPY) == BINARY_OPS


def _operand(rng, shape, domain):
    if domain == "bool":
        return rng.random(shape) > 0.5
    if domain == "int":  # nonzero integers of both signs (floor division rounds toward -inf)
        v = rng.integers(1, 9, shape) * rng.choice([-1, 1], shape)
        return v.astype(np.int64)
    v = rng.uniform(-3, 3, shape)
    return np.abs(v) + 0.25 if domain == "pos" else v


def _binary_case(shapes, seed, unknown, ops):
    rng = np.random.default_rng(seed)
    g = ge.Graph()
    feed, fetch, want = {}, [], []
    with g.as_default():
        for op in ops:
            fn, domain = BINARY_NUMPY[op]
            xs = [_operand(rng, s, domain) for s in shapes.input_shapes]
            dt = {"bool": ge.bool_, "int": ge.int64}.get(domain, ge.float64)
            ps = [ge.placeholder(dt, tuple(None for _ in s) if unknown else s)
                  for s in shapes.input_shapes]
            out = apply1(op, ps, {"alpha": 0.2} if op == "leaky_relu_grad" else {})
            if not unknown:
                assert out.shape == shapes.result_shape
            feed.update(zip(ps, xs, strict=True))
            fetch.append(out)
            want.append(fn(*xs))
    return g, feed, fetch, want


def _compiled(sess) -> bool:
    """Whether the session's last plan really ran as one compiled step (not op by op)."""
    exe = sess._plans[next(reversed(sess._plans))]
    return type(exe).__name__ == "StepExecutable" and not any(s.fallback for s in exe._sigs.values())


def _check_binary(g, feed, fetch, want, modes):
    for m in modes:
        sess = ge.Session(graph=g, **MODES[m])
        got = sess.run(fetch, feed)
        if m == "step":  # one reduction makes the plan heavy enough to be compiled into one step
            with g.as_default():
                total = ge.reduce_sum(fetch[0])
            got = sess.run(fetch + [total], feed)
            assert _compiled(sess)
            np.testing.assert_allclose(got.pop(), np.sum(want[0]), rtol=1e-9)
        for w, v in zip(want, got, strict=True):
            assert v.shape == w.shape and v.dtype == w.dtype, (m, v.shape, w.shape, v.dtype, w.dtype)
            np.testing.assert_allclose(v, w, rtol=1e-12, atol=1e-12, err_msg=m)


BCAST = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


@pytest.mark.parametrize("op", BINARY_OPS)
@settings(FUZZ, max_examples=40)
@given(shapes=BCAST, seed=st.integers(0, 2**16), unknown=st.booleans())
def test_binary_op_broadcasting_matches_numpy(op, shapes, seed, unknown):
    """Static shapes, and placeholders whose dims are all unknown (broadcast at run time)."""
    _check_binary(*_binary_case(shapes, seed, unknown, [op]), ["reference", "op"])


@settings(FUZZ, max_examples=4)
@given(shapes=BCAST, seed=st.integers(0, 2**16), unknown=st.booleans())
def test_binary_ops_broadcasting_compiled_step_matches_numpy(shapes, seed, unknown):
    """Every binary op in one graph, so one compiled step per case covers them all."""
    _check_binary(*_binary_case(shapes, seed, unknown, BINARY_OPS), ["step"])


# ----- random DAGs ------------------------------------------------------------------------------

SHAPES = [(), (3,), (2, 3), (1, 3), (2, 1), (3, 2), (2, 3, 2), (3, 3)]


def _broadcastable(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


def _safe(t):  # a positive value for ops with restricted domains
    return ge.abs(t) + 0.5


UNARY = {
    "negative": ge.negative, "abs": ge.abs, "square": ge.square, "sign": ge.sign,
    "sqrt": lambda t: ge.sqrt(_safe(t)), "rsqrt": lambda t: ge.rsqrt(_safe(t)),
    "exp": lambda t: ge.exp(ge.tanh(t)), "log": lambda t: ge.log(_safe(t)),
    "log1p": lambda t: ge.log1p(ge.abs(t)), "sigmoid": ge.sigmoid, "tanh": ge.tanh,
    "relu": ge.nn.relu, "relu6": ge.nn.relu6, "leaky_relu": ge.nn.leaky_relu, "elu": ge.nn.elu,
    "softplus": ge.nn.softplus, "identity": ge.identity,
    "sigmoid_xent": lambda t: ge.nn.sigmoid_cross_entropy_with_logits(labels=ge.sigmoid(t), logits=t),
}
BINARY = {
    "add": ge.add, "subtract": ge.subtract, "multiply": ge.multiply,
    "divide": lambda a, b: ge.divide(a, _safe(b)), "pow": lambda a, b: ge.pow(_safe(a), ge.tanh(b)),
    "maximum": ge.maximum, "minimum": ge.minimum, "squared_difference": ge.squared_difference,
    "where": lambda a, b: ge.where(ge.greater(a, b), a, b),
}
KINDS = ["unary"] * 4 + ["binary"] * 4 + ["reduce", "matmul", "reshape", "transpose", "softmax",
                                          "concat", "expand_squeeze", "stop_gradient", "xent"]


@st.composite
def dags(draw, n_inputs=(1, 3), n_ops=(2, 8), kinds=tuple(KINDS)):
    """A recipe: input shapes and a list of (kind, choice, operand indices, extra)."""
    shapes = [draw(st.sampled_from(SHAPES)) for _ in range(draw(st.integers(*n_inputs)))]
    steps = []
    for _ in range(draw(st.integers(*n_ops))):
        kind = draw(st.sampled_from(kinds))
        steps.append((kind, draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6)),
                      draw(st.integers(0, 10**6))))
    return shapes, steps


def build(recipe):
    """Build a random graph from ``recipe`` in the default graph: (inputs, fetches, loss)."""
    shapes, steps = recipe
    xs = [ge.placeholder(ge.float64, s, name=f"in{i}") for i, s in enumerate(shapes)]
    pool = list(xs)
    for kind, a, b, c in steps:
        x = pool[a % len(pool)]
        s = x.shape
        if kind == "unary":
            name = sorted(UNARY)[b % len(UNARY)]
            y = UNARY[name](x)
        elif kind == "binary":
            name = sorted(BINARY)[b % len(BINARY)]
            partners = [t for t in pool if _broadcastable(t.shape, s)]
            y = BINARY[name](x, partners[c % len(partners)])
        elif kind == "reduce":
            fn = [ge.reduce_sum, ge.reduce_mean, ge.reduce_max, ge.reduce_min][b % 4]
            axis = None if not s or c % 3 == 0 else (c // 3) % len(s)
            y = fn(x, axis=axis, keepdims=bool(c % 2))
        elif kind == "matmul":
            x2 = x if len(s) == 2 else ge.reshape(x, (-1, s[-1] if s else 1))
            n = x2.shape[1]
            others = [t for t in pool if len(t.shape) == 2 and t.shape[0] == n]
            y = ge.matmul(x2, others[b % len(others)]) if others else ge.matmul(x2, x2, transpose_b=True)
        elif kind == "reshape":
            y = ge.reshape(x, (-1,) if c % 2 or not s else tuple(reversed(s)))
        elif kind == "transpose":
            y = ge.transpose(x) if len(s) >= 2 else ge.negative(x)
        elif kind == "softmax":
            y = (ge.nn.softmax if b % 2 else ge.nn.log_softmax)(x) if s else ge.tanh(x)
        elif kind == "concat":
            same = [t for t in pool if t.shape == s]
            y = ge.concat([x, same[b % len(same)]], axis=c % len(s)) if s else ge.square(x)
        elif kind == "expand_squeeze":
            y = ge.squeeze(ge.expand_dims(x, axis=0) * 2.0, axis=0)
        elif kind == "stop_gradient":
            y = ge.stop_gradient(x) * x
        else:  # xent: a fused nn op
            if len(s) == 2:
                y = ge.nn.softmax_cross_entropy_with_logits(labels=ge.nn.softmax(x * 0.5), logits=x)
            else:
                y = ge.nn.sigmoid(x)
        pool.append(y)
    tail = pool[len(xs):] or pool
    loss = sum_all(tail[-3:])
    return xs, tail[-2:], loss


def sum_all(ts):
    total = ge.reduce_sum(ts[0])
    for k, t in enumerate(ts[1:]):
        total = total + ge.reduce_sum(t) * (k + 2.0)
    return total


def _feeds(xs, seed):
    rng = np.random.default_rng(seed)
    return {x: rng.uniform(-2, 2, x.shape) for x in xs}


def run_dag(recipes, modes, seed=0, sessions=None):
    """Build every recipe into one graph (one compiled step covers them all) and run it."""
    g = ge.Graph()
    feed, fetch = {}, []
    with g.as_default():
        for k, recipe in enumerate(recipes):
            xs, outs, loss = build(recipe)
            grads = ge.gradients(loss, xs)
            fetch += [loss] + outs + [gr for gr in grads if gr is not None]
            feed.update(_feeds(xs, seed + k))
    results = {}
    with np.errstate(all="ignore"):
        for m in modes:
            sess = ge.Session(graph=g, **MODES[m])
            results[m] = sess.run(fetch, feed)
            if sessions is not None:
                sessions[m] = sess
    return results


def assert_same(results, rtol=1e-9, atol=1e-10):
    base = results["reference"]
    for m, got in results.items():
        for k, (w, v) in enumerate(zip(base, got, strict=True)):
            assert v.shape == w.shape, (m, k)
            np.testing.assert_allclose(v, w, rtol=rtol, atol=atol, equal_nan=True,
                                       err_msg=f"mode {m}, fetch {k}")


@settings(FUZZ, max_examples=1000)
@given(recipe=dags())
def test_random_dags_op_executor_matches_reference(recipe):
    assert_same(run_dag([recipe], ["reference", "op"]))


STEP_KINDS = tuple(KINDS)


@settings(FUZZ, max_examples=10)
@given(recipe=dags(n_ops=(2, 6), kinds=STEP_KINDS))
def test_random_dags_compiled_step_matches_reference(recipe):
    """Fewer graphs: each compiles one Numba function (seconds on a cold cache; the graphs are
    derandomized, so a warm disk cache makes later runs cheap)."""
    sessions = {}
    results = run_dag([recipe], ["reference", "step"], sessions=sessions)
    assume(_compiled(sessions["step"]))  # e.g. sum over non-adjacent axes runs op by op
    assert_same(results)


# ----- bad feeds --------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", list(MODES))
@settings(FUZZ, max_examples=40)
@given(bad_shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
       bad_dtype=st.sampled_from(["float32", "float64", "int32", "int64", "bool", "complex128",
                                  "U3", "object"]))
def test_wrong_feeds_raise_feed_error_and_session_survives(mode, bad_shape, bad_dtype):
    g = ge.Graph()
    with g.as_default():
        x = ge.placeholder(ge.float32, (None, 3), name="x")
        w = ge.Variable(np.arange(6, dtype=np.float32).reshape(3, 2), name="w")
        loss = ge.reduce_mean(ge.square(ge.matmul(x, w)))
        train = ge.train.GradientDescentOptimizer(0.01).minimize(loss)
        init = ge.global_variables_initializer()
    sess = ge.Session(graph=g, **MODES[mode])
    sess.run(init)
    good = np.ones((4, 3), np.float32)
    before = sess.run(w)
    if bad_dtype == "object":
        value = np.empty(bad_shape, object)
    else:
        value = np.zeros(bad_shape, bad_dtype)
    shape_ok = len(bad_shape) == 2 and bad_shape[1] == 3
    dtype_ok = bad_dtype in ("float32", "float64", "int32", "int64", "bool")
    if shape_ok and dtype_ok:
        sess.run([loss, train], {x: value})  # a valid feed (possibly empty batch) just runs
    else:
        with pytest.raises(ge.FeedError, match="'x'"):
            sess.run([loss, train], {x: value})
        np.testing.assert_array_equal(sess.run(w), before)
    l0 = sess.run(loss, {x: good})
    assert np.isfinite(l0)


# ----- NaN, +-inf and empty inputs (issue 14) -------------------------------------------------

NAN_EXACT = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
             "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
             "squared_difference": lambda x, y: np.square(x - y), "equal": np.equal,
             "not_equal": np.not_equal, "less": np.less, "greater_equal": np.greater_equal}
SPECIAL_VALUES = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5, 2.5])
EMPTY_BCAST = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3)
REDUCTIONS = {"reduce_sum": (ge.reduce_sum, lambda x, ax, k: np.sum(x, axis=ax, keepdims=k)),
              "reduce_mean": (ge.reduce_mean, lambda x, ax, k: np.mean(x, axis=ax, keepdims=k)),
              "reduce_max": (ge.reduce_max, lambda x, ax, k: np.max(x, axis=ax, keepdims=k, initial=-np.inf)),
              "reduce_min": (ge.reduce_min, lambda x, ax, k: np.min(x, axis=ax, keepdims=k, initial=np.inf))}


def _special(rng, shape):
    v = rng.uniform(-3, 3, shape)
    mask = rng.random(shape) < 0.4
    v[mask] = rng.choice(SPECIAL_VALUES, int(mask.sum()))
    return v


def _special_case(shapes, seed, unknown, axis_seed):
    rng = np.random.default_rng(seed)
    g = ge.Graph()
    feed, fetch, want = {}, [], []
    with g.as_default(), np.errstate(all="ignore"):
        for name, fn in NAN_EXACT.items():
            xs = [_special(rng, s) for s in shapes.input_shapes]
            ps = [ge.placeholder(ge.float64, tuple(None for _ in s) if unknown else s) for s in shapes.input_shapes]
            fetch.append(apply1(name, ps, {}))
            feed.update(zip(ps, xs, strict=True))
            want.append(fn(*xs))
        x = _special(rng, shapes.result_shape)
        p = ge.placeholder(ge.float64, tuple(None for _ in x.shape) if unknown else x.shape)
        feed[p] = x
        r = len(x.shape)
        axis = None if r == 0 or axis_seed % 3 == 0 else axis_seed % r
        for op, ref in REDUCTIONS.values():
            fetch.append(op(p, axis=axis, keepdims=bool(axis_seed % 2)))
            want.append(ref(x, axis, bool(axis_seed % 2)))
    return g, feed, fetch, want


def _check_special(case, modes):
    g, feed, fetch, want = case
    for m in modes:
        sess = ge.Session(graph=g, **MODES[m])
        with np.errstate(all="ignore"):
            got = sess.run(fetch, feed)
        if m == "step":
            assert _compiled(sess)
        for k, (w, v) in enumerate(zip(want, got, strict=True)):
            assert np.shape(v) == np.shape(w), (m, k)
            np.testing.assert_allclose(v, w, rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{m} fetch {k}")


@settings(FUZZ, max_examples=30)
@given(shapes=EMPTY_BCAST, seed=st.integers(0, 2**16), unknown=st.booleans(), axis_seed=st.integers(0, 99))
def test_nan_inf_and_empty_inputs_match_numpy(shapes, seed, unknown, axis_seed):
    """Binary ops whose NumPy definition is exact on NaN/inf, and every reduction (NaN, inf and
    empty axes included), on random broadcast shapes with zero-length dims."""
    _check_special(_special_case(shapes, seed, unknown, axis_seed), ["reference", "op"])


@settings(FUZZ, max_examples=3)
@given(shapes=EMPTY_BCAST, seed=st.integers(0, 2**16), unknown=st.booleans(), axis_seed=st.integers(0, 99))
def test_nan_inf_and_empty_inputs_compiled_step_match_numpy(shapes, seed, unknown, axis_seed):
    _check_special(_special_case(shapes, seed, unknown, axis_seed), ["step"])


@settings(FUZZ, max_examples=60)
@given(recipe=dags(), seed=st.integers(0, 2**16))
def test_random_dags_with_nan_inf_feeds_op_executor_matches_reference(recipe, seed):
    g = ge.Graph()
    with g.as_default():
        xs, outs, loss = build(recipe)
        fetch = [loss] + outs + [gr for gr in ge.gradients(loss, xs) if gr is not None]
    rng = np.random.default_rng(seed)
    feed = {x: _special(rng, x.shape) for x in xs}
    results = {}
    with np.errstate(all="ignore"):
        for m in ("reference", "op"):
            results[m] = ge.Session(graph=g, **MODES[m]).run(fetch, feed)
    assert_same(results)
