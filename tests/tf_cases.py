"""Differential cases against real TensorFlow, each written once as a function of the ``tf`` module.

``fn(tf, rng, dt)`` builds a graph with ``tf`` (``tensorflow.compat.v1`` in graph mode, or
``graphengine.compat.v1``) and returns a ``Spec``: what to fetch (values, gradients: a None
gradient is part of the answer), the feeds, and optionally a train op run ``steps`` times (the
fetches are then recorded before each step and after the last, stacked on a new first axis).
``rng`` draws the inputs (``Draw``: recorded, so the fixtures hold them and a changed NumPy
stream is caught); ``dt`` is the float dtype name under test.

``tests/tf_fixtures/make_fixtures.py`` runs every case in TensorFlow and stores the results;
``tests/test_tf_diff.py`` runs them on graphengine without TensorFlow. The ops in
``tf_cases_train.py`` (losses, optimizers, schedules) register here too.

Tolerances: float64 1e-10, float32 1e-5 (relative; absolute 1e-6 for float32, where TF's Eigen
kernels round differently, e.g. exp(x) - 1 for elu/selu where graphengine uses expm1). Cases
where TF itself computes in lower precision say so next to their tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Spec:
    fetch: dict
    feed: dict = field(default_factory=dict)
    train: Any = None
    steps: int = 0


@dataclass
class Case:
    name: str
    fn: Any
    dt: str
    rtol: float
    atol: float
    note: str = ""
    alone: bool = False   # run in a graph of its own (host ops: its plan runs op by op)


CASES: dict[str, Case] = {}
TOL = {"float32": (1e-5, 1e-6), "float64": (1e-10, 1e-12)}


def case(*dtypes: str, name: str | None = None, tol: dict | None = None, note: str = "",
         alone: bool = False):
    """Register ``fn`` once per dtype; ``tol`` overrides {dtype: (rtol, atol)} (say why in ``note``)."""
    def deco(fn):
        for dt in dtypes or ("float32", "float64"):
            rtol, atol = (tol or {}).get(dt, TOL.get(dt, (0, 0)))
            nm = f"{name or fn.__name__}-{dt}"
            assert nm not in CASES, nm
            CASES[nm] = Case(nm, fn, dt, rtol, atol, note, alone)
        return fn
    return deco


class Draw:
    """Seeded input generator that records every array it returns (float64 unless integer/bool)."""

    def __init__(self, seed: int) -> None:
        self.g = np.random.default_rng(seed)
        self.drawn: list[np.ndarray] = []

    def _keep(self, a: np.ndarray) -> np.ndarray:
        self.drawn.append(np.array(a))
        return a

    def normal(self, *shape: int, scale: float = 1.0) -> np.ndarray:
        return self._keep(scale * self.g.standard_normal(shape))

    def uniform(self, lo: float, hi: float, *shape: int) -> np.ndarray:
        return self._keep(self.g.uniform(lo, hi, shape))

    def away(self, *shape: int, lo: float = 0.2) -> np.ndarray:
        """|x| >= lo: away from kinks (relu, abs) so gradients are well defined."""
        s = np.where(self.g.random(shape) < 0.5, -1.0, 1.0)
        return self._keep(s * (lo + np.abs(self.g.standard_normal(shape))))

    def integers(self, lo: int, hi: int, *shape: int, dtype: Any = np.int32) -> np.ndarray:
        return self._keep(self.g.integers(lo, hi, shape).astype(dtype))

    def bools(self, *shape: int) -> np.ndarray:
        return self._keep(self.g.random(shape) < 0.5)


def shape_of(t: Any) -> tuple:
    s = t.get_shape()
    return tuple(s.as_list()) if hasattr(s, "as_list") else tuple(s)


def ph(tf: Any, value: np.ndarray, feed: dict, shape: Any = "same") -> Any:
    p = tf.placeholder(tf.as_dtype(value.dtype.name), value.shape if shape == "same" else shape)
    feed[p] = value
    return p


def with_grads(tf: Any, rng: Draw, y: Any, xs: list, dt: str, fetch: dict | None = None) -> dict:
    """{"out": y, "d0": dy/dx0, ...} against a random cotangent (None where TF has no gradient)."""
    fetch = dict(fetch or {})
    fetch["out"] = y
    u = rng.normal(*shape_of(y)).astype(dt)
    for i, g in enumerate(tf.gradients(y, xs, grad_ys=tf.constant(u))):
        fetch[f"d{i}"] = g
    return fetch


def _elementwise(fn: Any, *gens: Any, grad: bool = True) -> Any:
    def build(tf, rng, dt):
        feed: dict = {}
        xs = [ph(tf, g(rng).astype(dt) if g(None) is None else g(rng), feed) for g in gens]
        y = fn(tf, *xs)
        if not grad:
            return Spec({"out": y}, feed)
        return Spec(with_grads(tf, rng, y, [x for x in xs if x.dtype.is_floating], dt), feed)
    return build


def F(make: Any) -> Any:
    """A float input generator: ``make(rng)``; called with None it says 'cast me' (returns None)."""
    return lambda rng: None if rng is None else make(rng)


def N(make: Any) -> Any:
    """A native-dtype input (integers, bools): fed as drawn."""
    return lambda rng: 0 if rng is None else make(rng)


def register_elementwise(table: dict) -> None:
    for nm, (fn, gens, opts) in table.items():
        case(*opts.get("dtypes", ()), name=nm, tol=opts.get("tol"), note=opts.get("note", ""))(
            _elementwise(fn, *gens, grad=opts.get("grad", True)))


X34 = F(lambda r: r.normal(3, 4))
A34 = F(lambda r: r.away(3, 4))
P34 = F(lambda r: r.uniform(0.5, 2.0, 3, 4))
Y4 = F(lambda r: r.normal(4))
D34 = F(lambda r: r.away(3, 4, lo=0.5))
I34 = N(lambda r: r.integers(-5, 6, 3, 4))
NZ34 = N(lambda r: r.integers(1, 4, 3, 4) * np.where(r.bools(3, 4), 1, -1).astype(np.int32))
B34 = N(lambda r: r.bools(3, 4))
E32 = {"float32": (1e-5, 1e-6)}

ELEMENTWISE = {
    "add": (lambda tf, x, y: tf.add(x, y), [X34, Y4], {}),
    "subtract": (lambda tf, x, y: tf.subtract(x, y), [X34, Y4], {}),
    "multiply": (lambda tf, x, y: tf.multiply(x, y), [X34, Y4], {}),
    "divide": (lambda tf, x, y: tf.divide(x, y), [X34, D34], {}),
    "truediv": (lambda tf, x, y: tf.truediv(x, y), [X34, D34], {}),
    "operators": (lambda tf, x, y: (x + y) * x - y / (x * x + 1.0) - (-x) ** 2 + 2.0 * x - 1.0 / (y * y + 1.0),
                  [X34, Y4], {}),
    "pow": (lambda tf, x, y: tf.pow(x, y), [P34, X34], {}),
    "maximum": (lambda tf, x, y: tf.maximum(x, y), [X34, X34], {}),
    "minimum": (lambda tf, x, y: tf.minimum(x, y), [X34, X34], {}),
    "squared_difference": (lambda tf, x, y: tf.squared_difference(x, y), [X34, Y4], {}),
    "exp": (lambda tf, x: tf.exp(x), [X34], {}),
    "log": (lambda tf, x: tf.log(x), [P34], {}),
    "log1p": (lambda tf, x: tf.log1p(x), [P34], {}),
    "sqrt": (lambda tf, x: tf.sqrt(x), [P34], {}),
    "rsqrt": (lambda tf, x: tf.rsqrt(x), [P34], {}),
    "square": (lambda tf, x: tf.square(x), [X34], {}),
    "abs": (lambda tf, x: tf.abs(x), [A34], {}),
    "sign": (lambda tf, x: tf.sign(x), [A34], {}),   # the gradient is zeros, not None
    "negative": (lambda tf, x: tf.negative(x), [X34], {}),
    "sigmoid": (lambda tf, x: tf.sigmoid(x), [X34], {}),
    "tanh": (lambda tf, x: tf.tanh(x), [X34], {}),
    "sin": (lambda tf, x: tf.sin(x), [X34], {}),
    "cos": (lambda tf, x: tf.cos(x), [X34], {}),
    "floor": (lambda tf, x: tf.floor(x * 3.0), [X34], {}),   # no gradient (None), as TF
    "ceil": (lambda tf, x: tf.ceil(x * 3.0), [X34], {}),
    "relu": (lambda tf, x: tf.nn.relu(x), [A34], {}),
    "relu6": (lambda tf, x: tf.nn.relu6(x * 4.0), [A34], {}),
    "elu": (lambda tf, x: tf.nn.elu(x), [A34], {"tol": E32, "note": "TF's elu is exp(x) - 1 in float32"}),
    "selu": (lambda tf, x: tf.nn.selu(x), [A34], {"tol": E32, "note": "TF's selu is exp(x) - 1 in float32"}),
    "softplus": (lambda tf, x: tf.nn.softplus(x), [X34], {}),
    "softsign": (lambda tf, x: tf.nn.softsign(x), [X34], {}),
    # alpha is a float32 attribute in TF: 0.125 is exact, 0.1 is not (float32 only)
    "leaky_relu": (lambda tf, x: tf.nn.leaky_relu(x, alpha=0.125), [A34], {}),
    "leaky_relu_default": (lambda tf, x: tf.nn.leaky_relu(x), [A34], {"dtypes": ("float32",)}),
    "where": (lambda tf, c, x, y: tf.where(c, x, y), [B34, X34, X34], {}),
    "where_rows": (lambda tf, c, x, y: tf.where(c, x, y), [N(lambda r: r.bools(3)), X34, X34], {}),
    "clip_by_value": (lambda tf, x: tf.clip_by_value(x, -0.5, 0.75), [A34], {}),
    "cast_int": (lambda tf, x: tf.cast(x * 3.0, tf.int32), [X34], {"grad": False}),
    "to_float_grad": (lambda tf, x: tf.cast(tf.cast(x, tf.float64), tf.float32) * x, [X34], {"dtypes": ("float32",)}),
    "comparisons": (lambda tf, x, y: tf.stack([tf.cast(f(x, y), tf.int32) for f in (
        tf.equal, tf.not_equal, tf.less, tf.less_equal, tf.greater, tf.greater_equal)]),
        [N(lambda r: r.integers(-2, 3, 3, 4)), N(lambda r: r.integers(-2, 3, 3, 4))],
        {"grad": False, "dtypes": ("int32",)}),
    "logical": (lambda tf, a, b: tf.stack([tf.logical_and(a, b), tf.logical_or(a, b), tf.logical_not(a)]),
                [B34, B34], {"grad": False, "dtypes": ("bool",)}),
    "div_int": (lambda tf, x, y: tf.div(x, y), [I34, NZ34], {"grad": False, "dtypes": ("int32",)}),
    "floordiv_int": (lambda tf, x, y: tf.floordiv(x, y), [I34, NZ34], {"grad": False, "dtypes": ("int32",)}),
    "truediv_int": (lambda tf, x, y: tf.truediv(x, y), [I34, NZ34], {"grad": False, "dtypes": ("int32",)}),
    "divide_int": (lambda tf, x, y: tf.divide(x, y), [I34, NZ34], {"grad": False, "dtypes": ("int32",)}),
    "div_float": (lambda tf, x, y: tf.div(x, y), [X34, D34], {}),
    "floordiv_float": (lambda tf, x, y: tf.floordiv(x, y), [X34, D34], {}),
    "truediv_int8": (lambda tf, x, y: tf.truediv(tf.cast(x, tf.int8), tf.cast(y, tf.int8)), [I34, NZ34],
                     {"grad": False, "dtypes": ("int32",)}),
}
register_elementwise(ELEMENTWISE)


def _unary(fn: Any, shape: tuple = (2, 3, 4), make: str = "normal"):
    def build(tf, rng, dt):
        feed: dict = {}
        x = ph(tf, getattr(rng, make)(*shape).astype(dt), feed)
        return Spec(with_grads(tf, rng, fn(tf, x), [x], dt), feed)
    return build


REDUCE = {
    "reduce_sum": lambda tf, x: tf.reduce_sum(x, axis=1),
    "reduce_sum_all": lambda tf, x: tf.reduce_sum(x),
    "reduce_mean_keep": lambda tf, x: tf.reduce_mean(x, axis=[0, 2], keepdims=True),
    "reduce_mean_ri": lambda tf, x: tf.reduce_mean(x, reduction_indices=[1], keep_dims=True),
    "reduce_max": lambda tf, x: tf.reduce_max(x, axis=2),
    "reduce_min": lambda tf, x: tf.reduce_min(x, axis=[0, 1]),
    "reduce_prod": lambda tf, x: tf.reduce_prod(x, axis=2),
    "reduce_prod_split": lambda tf, x: tf.reduce_prod(x, axis=[0, 2], keepdims=True),
    "softmax": lambda tf, x: tf.nn.softmax(x),
    "softmax_axis1": lambda tf, x: tf.nn.softmax(x, axis=1),
    "log_softmax": lambda tf, x: tf.nn.log_softmax(x),
    "l2_normalize": lambda tf, x: tf.nn.l2_normalize(x, axis=1),
    "l2_normalize_all": lambda tf, x: tf.nn.l2_normalize(x),
    "l2_loss": lambda tf, x: tf.nn.l2_loss(x),
    "reshape": lambda tf, x: tf.reshape(x, [4, -1]),
    "transpose": lambda tf, x: tf.transpose(x, [2, 0, 1]),
    "transpose_default": lambda tf, x: tf.transpose(x),
    "concat": lambda tf, x: tf.concat([x, x * 2.0], 1),
    "stack": lambda tf, x: tf.stack([x, -x], axis=1),
    "expand_squeeze": lambda tf, x: tf.squeeze(tf.expand_dims(x, 1), [1]) * 3.0,
    "identity": lambda tf, x: tf.identity(x) + tf.stop_gradient(x) * 0.0 + tf.stop_gradient(x),
    "add_n": lambda tf, x: tf.add_n([x, x * x, tf.exp(x)]),
    "clip_by_norm": lambda tf, x: tf.clip_by_norm(x, 1.5),
    "clip_by_norm_axes": lambda tf, x: tf.clip_by_norm(x, 1.0, axes=[2]),
}
for _nm, _fn in REDUCE.items():
    case(name=_nm)(_unary(_fn))
case(name="reduce_prod_zeros")(_unary(lambda tf, x: tf.reduce_prod(tf.nn.relu(x - 0.3), axis=1)))


@case()
def reduce_prod_two_zeros(tf, rng, dt):
    feed: dict = {}
    v = rng.normal(3, 4).astype(dt)
    v[0, :2] = 0
    v[1, 0] = 0
    x = ph(tf, v, feed)
    return Spec(with_grads(tf, rng, tf.reduce_prod(x, axis=1), [x], dt), feed)


@case("float32", "float64")
def argmax_argmin(tf, rng, dt):
    feed: dict = {}
    x = ph(tf, rng.normal(3, 4).astype(dt), feed)
    return Spec({"argmax0": tf.argmax(x), "argmax1": tf.argmax(x, 1), "argmin": tf.argmin(x, axis=1),
                 "dimension": tf.argmax(x, dimension=1), "argmax32": tf.argmax(x, 1, output_type=tf.int32)}, feed)


@case("int32")
def one_hot(tf, rng, dt):
    feed: dict = {}
    i = ph(tf, rng.integers(-1, 4, 5), feed)
    m = ph(tf, rng.integers(0, 3, 2, 3), feed)
    return Spec({"default": tf.one_hot(i, 4), "axis0": tf.one_hot(i, 4, axis=0),
                 "values": tf.one_hot(i, 3, on_value=5.0, off_value=-1.0),
                 "int": tf.one_hot(i, 3, on_value=1, off_value=0),
                 "axis1_2d": tf.one_hot(m, 3, axis=1), "axis0_2d": tf.one_hot(m, 3, axis=0, dtype=tf.float64)},
                feed)


@case("int64", alone=True)
def where_coordinates(tf, rng, dt):
    feed: dict = {}
    c = ph(tf, rng.bools(3, 4), feed, shape=(None, 4))
    x = ph(tf, rng.normal(3, 4), feed)
    return Spec({"where": tf.where(c), "where_1d": tf.where(tf.greater(tf.reduce_sum(tf.cast(c, tf.int32), 1), 0)),
                 "where_num": tf.where(tf.greater(x, 0.5)), "count": tf.reduce_sum(tf.cast(tf.where(c), tf.int32))},
                feed)


@case("int64")
def constants(tf, rng, dt):
    return Spec({"big": tf.constant(2 ** 40), "big_list": tf.constant([1, 2 ** 33]), "small": tf.constant(7),
                 "fill_f": tf.fill([2, 3], 7.0), "fill_i": tf.fill([2], 3), "floats": tf.constant([1.5, 2.0]),
                 "neg_big": tf.constant(-2 ** 31 - 1), "zeros": tf.zeros([2, 2]), "ones": tf.ones([3], tf.int64),
                 "zeros_like": tf.zeros_like(tf.constant([[1, 2]])), "ones_like": tf.ones_like(tf.constant([1.5]))})


def _matmul(sa: tuple, sb: tuple, **kw: Any):
    def build(tf, rng, dt):
        feed: dict = {}
        a, b = ph(tf, rng.normal(*sa).astype(dt), feed), ph(tf, rng.normal(*sb).astype(dt), feed)
        y = tf.matmul(a, b, **kw)
        return Spec(with_grads(tf, rng, y, [a, b], dt), feed)
    return build


for _nm, (_sa, _sb, _kw) in {
    "matmul": ((3, 4), (4, 5), {}), "matmul_ta": ((4, 3), (4, 5), {"transpose_a": True}),
    "matmul_tb": ((3, 4), (5, 4), {"transpose_b": True}),
    "matmul_tt": ((4, 3), (5, 4), {"transpose_a": True, "transpose_b": True}),
    "bmm": ((2, 3, 4), (2, 4, 5), {}), "bmm_tb": ((2, 3, 4), (2, 5, 4), {"transpose_b": True}),
    "bmm_ta": ((2, 4, 3), (2, 4, 5), {"transpose_a": True}),
    "bmm_rank2": ((2, 3, 4), (4, 5), {}), "bmm_rank2_left": ((3, 4), (2, 4, 5), {}),
    "bmm_broadcast": ((2, 1, 3, 4), (1, 3, 4, 2), {}),
    "bmm_adjoint": ((2, 4, 3), (2, 5, 4), {"adjoint_a": True, "adjoint_b": True}),
}.items():
    case(name=_nm)(_matmul(_sa, _sb, **_kw))


@case()
def nn_misc(tf, rng, dt):
    feed: dict = {}
    x = ph(tf, rng.normal(4, 3).astype(dt), feed)
    w = ph(tf, rng.normal(3, 2).astype(dt), feed)
    b = ph(tf, rng.normal(2).astype(dt), feed)
    y = tf.nn.bias_add(tf.matmul(x, w), b) * 2.0 + tf.nn.xw_plus_b(x, w, b)
    return Spec(with_grads(tf, rng, y, [x, w, b], dt), feed)


@case("float32")  # TF's InTopKV2 takes float32 predictions only
def in_top_k(tf, rng, dt):
    feed: dict = {}
    p = rng.integers(0, 4, 6, 5).astype(dt)   # many ties
    p[5, 2] = np.inf
    pt = ph(tf, p, feed)
    t = ph(tf, np.array([0, 1, 2, 3, 4, 1], np.int32), feed)
    return Spec({f"k{k}": tf.nn.in_top_k(pt, t, k) for k in (1, 2, 3, 5)}, feed)


def _xent(kind: str):
    def build(tf, rng, dt):
        feed: dict = {}
        x = ph(tf, rng.normal(4, 5, scale=2.0).astype(dt), feed)
        if kind == "sparse":
            y = ph(tf, rng.integers(0, 5, 4, dtype=np.int64), feed)
            out = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x)
            return Spec(with_grads(tf, rng, out, [x], dt), feed)
        if kind == "sigmoid":
            y = ph(tf, rng.uniform(0, 1, 4, 5).astype(dt), feed)
            out = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
        else:
            p = rng.uniform(0, 1, 4, 5)
            y = ph(tf, (p / p.sum(1, keepdims=True)).astype(dt), feed)
            fn = tf.nn.softmax_cross_entropy_with_logits_v2 if kind == "v2" else tf.nn.softmax_cross_entropy_with_logits
            out = fn(labels=y, logits=x)
        return Spec(with_grads(tf, rng, out, [x, y], dt), feed)   # v1: no gradient to the labels
    return build


for _k in ("sparse", "sigmoid", "v1", "v2"):
    case(name=f"xent_{_k}")(_xent(_k))


@case()
def gradients_fan_out(tf, rng, dt):
    feed: dict = {}
    x = ph(tf, rng.normal(3).astype(dt), feed)
    y = tf.reduce_sum(x * x) * tf.reduce_mean(tf.exp(x)) + tf.reduce_max(x)
    z = tf.argmax(x)
    g = tf.gradients([y, tf.cast(z, x.dtype)], [x])
    return Spec({"y": y, "g": g[0], "none": tf.gradients(tf.cast(z, x.dtype), [x])[0]}, feed)


import tf_cases_train  # noqa: E402, F401  (losses, optimizers, schedules register themselves)
