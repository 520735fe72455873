"""The op database: one entry per op (or op variant) drives every op test.

Modelled on PyTorch's ``op_db`` + ``@ops`` and JAX's ``LAX_GRAD_OPS``: adding an ``OpInfo`` here
gets forward-vs-NumPy, finite-difference gradient, broadcasting (static and ``None`` dims) and
per-backend parity tests for free, and ``test_registry`` checks that every registered op is in
here (found by building the entries, not by a hand-kept list) or listed in
``COVERED_ELSEWHERE`` with a reason.

The NumPy references below are written independently of ``OpDef.ref``: a test that compared an
op against its own reference could not fail.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import graphengine as ge
from graphengine.ops.registry import apply1

# ----- backends ---------------------------------------------------------------------------------
# Every parity test runs on each of these. Add a mode here (e.g. the whole-step CPU compiler,
# "cpu-step": {"device": "cpu", "jit": "step"}) and every op test runs on it too.
SESSION_KWARGS: dict[str, dict] = {
    "reference": {"device": "reference"},
    "cpu": {"device": "cpu", "jit": "op"},
}
BACKENDS = list(SESSION_KWARGS)


def session(backend: str, graph: ge.Graph | None = None, **kw: Any) -> ge.Session:
    return ge.Session(graph=graph, **SESSION_KWARGS[backend], **kw)


# ----- entries ------------------------------------------------------------------------------------

@dataclass
class Sample:
    args: tuple                       # NumPy arrays; float arrays are cast to the dtype under test
    kwargs: dict = field(default_factory=dict)
    name: str = ""
    grad_args: tuple | None = None    # indices to differentiate (default: every float input)
    grad: bool = True                 # False: forward only (e.g. values where FD is meaningless)
    ref: Callable | None = None       # overrides OpInfo.ref (NaN/inf/empty samples: NumPy's semantics)


@dataclass
class OpInfo:
    name: str
    op: Callable[..., Any]            # graphengine: (*tensors, **kwargs) -> Tensor
    ref: Callable[..., np.ndarray]    # NumPy, written here: (*arrays, **kwargs) -> array
    samples: list[Sample]
    grad: bool = True                 # has a gradient to check
    dtypes: tuple = ("float32", "float64")   # "native": feed the sample's arrays as they are
    out_dtype: Any = None             # None: the float dtype under test; else a NumPy dtype
    grad_eps: float = 1e-5
    grad_rtol: float = 1e-6
    bcast: bool = False               # binary elementwise: also checked with None dims

    def cases(self) -> list[tuple[OpInfo, Sample]]:
        return [(self, s) for s in self.samples]


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _shape_id(*shapes: tuple) -> str:
    return "_".join("x".join(map(str, s)) or "scalar" for s in shapes)


# value generators: all float64; kept away from kinks so central differences are valid
def randn(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def away(rng, shape, lo=0.2):
    """Normal-ish values with |x| >= lo (away from the kink of relu/abs/sign at 0)."""
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0) * (lo + np.abs(rng.standard_normal(shape)))


def positive(rng, shape, lo=0.5, hi=2.0):
    return rng.uniform(lo, hi, shape)


def grid(rng, shape, odd):
    """Values on even (or odd) multiples of 0.4 plus small jitter: any even/odd pair differs by
    >= 0.3, so maximum/minimum never tie, even after broadcasting."""
    k = 2 * rng.integers(-4, 5, shape) + (1 if odd else 0)
    return 0.4 * k + rng.uniform(-0.05, 0.05, shape)


def small_ints(rng, shape):
    """Integer-valued floats in [-2, 2]: comparisons see plenty of ties."""
    return rng.integers(-2, 3, shape).astype(np.float64)


BCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)), ((), (2, 3)),
                ((2, 3), ()), ((2, 1, 3), (4, 1)), ((1,), (2, 3))]


def _binary(name, fn, ref, gen_x, gen_y, *, grad=True, out_dtype=None, dtypes=("float32", "float64")):
    rng = _rng(name)
    samples = [Sample((gen_x(rng, sx), gen_y(rng, sy)), name=_shape_id(sx, sy)) for sx, sy in BCAST_SHAPES]
    return OpInfo(name, fn, ref, samples, grad=grad, out_dtype=out_dtype, dtypes=dtypes, bcast=True)


def _unary(name, fn, ref, gen, *, shapes=((3, 4), (), (2, 3, 2)), grad=True, kwargs=({},),
           out_dtype=None):
    rng = _rng(name)
    samples = [Sample((gen(rng, s),), dict(kw), _shape_id(s) + "".join(f"-{k}{v}" for k, v in kw.items()))
               for s in shapes for kw in kwargs]
    return OpInfo(name, fn, ref, samples, grad=grad, out_dtype=out_dtype)


def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def _relu6_input(rng, shape):
    x = rng.uniform(-3, 9, shape)
    x = np.where(np.abs(x) < 0.2, x + 0.5, x)
    return np.where(np.abs(x - 6) < 0.2, x + 0.5, x)


_B = np.bool_
_randn, _away, _pos = randn, away, positive

BINARY = [
    _binary("add", ge.add, np.add, _randn, _randn),
    _binary("subtract", ge.subtract, np.subtract, _randn, _randn),
    _binary("multiply", ge.multiply, np.multiply, _randn, _randn),
    _binary("divide", ge.divide, lambda x, y: x / y, _randn, lambda r, s: away(r, s, 0.5)),
    _binary("pow", ge.pow, lambda x, y: np.exp(y * np.log(x)), _pos, _randn),
    _binary("maximum", ge.maximum, lambda x, y: np.where(x > y, x, y),
            lambda r, s: grid(r, s, False), lambda r, s: grid(r, s, True)),
    _binary("minimum", ge.minimum, lambda x, y: np.where(x < y, x, y),
            lambda r, s: grid(r, s, False), lambda r, s: grid(r, s, True)),
    _binary("squared_difference", ge.squared_difference, lambda x, y: (x - y) * (x - y), _randn, _randn),
    _binary("equal", ge.equal, lambda x, y: x == y, small_ints, small_ints, grad=False, out_dtype=_B),
    _binary("not_equal", ge.not_equal, lambda x, y: x != y, small_ints, small_ints, grad=False, out_dtype=_B),
    _binary("less", ge.less, lambda x, y: x < y, small_ints, small_ints, grad=False, out_dtype=_B),
    _binary("less_equal", ge.less_equal, lambda x, y: x <= y, small_ints, small_ints, grad=False,
            out_dtype=_B),
    _binary("greater", ge.greater, lambda x, y: x > y, small_ints, small_ints, grad=False, out_dtype=_B),
    _binary("greater_equal", ge.greater_equal, lambda x, y: x >= y, small_ints, small_ints, grad=False,
            out_dtype=_B),
    _binary("logical_and", ge.logical_and, lambda x, y: x & y, lambda r, s: r.random(s) < 0.5,
            lambda r, s: r.random(s) < 0.5, grad=False, out_dtype=_B, dtypes=("native",)),
    _binary("logical_or", ge.logical_or, lambda x, y: x | y, lambda r, s: r.random(s) < 0.5,
            lambda r, s: r.random(s) < 0.5, grad=False, out_dtype=_B, dtypes=("native",)),
]


def _where_samples():
    rng = _rng("where")
    shapes = [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)), ((), (2, 3), (2, 3)),
              ((2, 1, 3), (4, 1), (3,)), ((4,), (3, 4), ())]
    return [Sample((rng.random(c) < 0.5, randn(rng, a), randn(rng, b)), name=_shape_id(c, a, b))
            for c, a, b in shapes]


def _where_ref(c, x, y):
    c, x, y = np.broadcast_arrays(c, x, y)
    out = y.copy()
    out[c] = x[c]
    return out


def _sxent_samples():
    rng = _rng("sigmoid_xent")
    return [Sample((randn(rng, x, 3.0), rng.uniform(0, 1, z)), name=_shape_id(x, z))
            for x, z in [((3, 4), (3, 4)), ((3, 4), (4,)), ((5,), ())]]


UNARY = [
    _unary("negative", ge.negative, lambda x: 0.0 - x, _randn),
    _unary("abs", ge.abs, lambda x: np.where(x < 0, -x, x), _away),
    _unary("sign", ge.sign, lambda x: (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype), small_ints,
           grad=False),
    _unary("square", ge.square, lambda x: x * x, _randn),
    _unary("sqrt", ge.sqrt, lambda x: x ** 0.5, _pos),
    _unary("rsqrt", ge.rsqrt, lambda x: x ** -0.5, _pos),
    _unary("exp", ge.exp, lambda x: np.e ** x, _randn),
    _unary("log", ge.log, lambda x: np.log(x), _pos),
    _unary("log1p", ge.log1p, lambda x: np.log(1.0 + x), lambda r, s: r.uniform(-0.5, 2.0, s)),
    _unary("sigmoid", ge.sigmoid, _np_sigmoid, lambda r, s: randn(r, s, 3.0)),
    _unary("tanh", ge.tanh, lambda x: (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1),
           lambda r, s: randn(r, s, 2.0)),
    _unary("relu", ge.relu, lambda x: x * (x > 0), _away),
    _unary("relu6", ge.nn.relu6, lambda x: np.minimum(x * (x > 0), 6.0), _relu6_input),
    _unary("leaky_relu", ge.nn.leaky_relu, lambda x, alpha=0.2: np.where(x > 0, x, alpha * x), _away,
           kwargs=({}, {"alpha": 0.01}, {"alpha": 0.5})),
    _unary("elu", ge.nn.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), _away),
    _unary("softplus", ge.nn.softplus, lambda x: np.log(1 + np.exp(x)), lambda r, s: randn(r, s, 3.0)),
    _unary("logical_not", ge.logical_not, lambda x: ~x, lambda r, s: r.random(s) < 0.5, grad=False,
           out_dtype=_B),
    OpInfo("where", ge.where, lambda c, x, y: _where_ref(c, x, y), _where_samples()),
    OpInfo("sigmoid_xent", lambda x, z: ge.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
           lambda x, z: -z * np.log(_np_sigmoid(x)) - (1 - z) * np.log(1 - _np_sigmoid(x)),
           _sxent_samples()),
]
UNARY[[i.name for i in UNARY].index("logical_not")].dtypes = ("native",)


# cast: value conversions, and the float -> float gradient
def _cast_samples():
    rng = _rng("cast")
    f = np.array([[1.7, -1.7, 0.0], [2.5, -0.4, 3.0]])
    return [
        Sample((randn(rng, (3, 4)),), {"dtype": ge.float64}, "to_float64"),
        Sample((f,), {"dtype": ge.int32}, "to_int32", grad=False),
        Sample((f,), {"dtype": ge.int64}, "to_int64", grad=False),
        Sample((f,), {"dtype": ge.bool_}, "to_bool", grad=False),
        Sample((np.array([[1, -2], [0, 7]], np.int32),), {"dtype": ge.float32}, "int_to_float32",
               grad=False),
        Sample((np.array([True, False]),), {"dtype": ge.float64}, "bool_to_float64",
               grad=False),
    ]


CAST = OpInfo("cast", lambda x, dtype: ge.cast(ge.cast(x, ge.float32), dtype) if x.dtype.is_floating
              else ge.cast(x, dtype),
              lambda x, dtype: x.astype(np.float32).astype(dtype.np) if x.dtype.kind == "f"
              else x.astype(dtype.np),
              _cast_samples(), out_dtype="attr:dtype", grad_eps=0.1, grad_rtol=1e-5)


def _helper(op_type, arity=2, **attrs):
    return lambda *xs: apply1(op_type, list(xs), attrs)


def _helper_samples(name, gen0, n=2):
    rng = _rng(name)
    return [Sample((gen0(rng, (3, 4)),) + tuple(randn(rng, (3, 4)) for _ in range(n - 1)), name="3x4")]


# Gradient helpers: elementwise ops that gradient rules emit. Forward-checked here; their values in
# backward graphs are also checked by every finite-difference test that uses them.
GRAD_HELPERS = [
    OpInfo("relu_grad", _helper("relu_grad"), lambda x, g: g * (x > 0), _helper_samples("relu_grad", _away),
           grad=False),
    OpInfo("relu6_grad", _helper("relu6_grad"), lambda x, g: g * ((x > 0) & (x < 6)),
           _helper_samples("relu6_grad", _relu6_input), grad=False),
    OpInfo("leaky_relu_grad", _helper("leaky_relu_grad", alpha=0.3), lambda x, g: g * np.where(x > 0, 1, 0.3),
           _helper_samples("leaky_relu_grad", _away), grad=False),
    OpInfo("elu_grad", _helper("elu_grad"), lambda x, g: g * np.where(x > 0, 1, np.exp(x)),
           _helper_samples("elu_grad", _away), grad=False),
    OpInfo("sigmoid_grad", _helper("sigmoid_grad"), lambda y, g: g * y * (1 - y),
           _helper_samples("sigmoid_grad", lambda r, s: r.uniform(0, 1, s)), grad=False),
    OpInfo("tanh_grad", _helper("tanh_grad"), lambda y, g: g * (1 - y * y),
           _helper_samples("tanh_grad", lambda r, s: r.uniform(-1, 1, s)), grad=False),
    OpInfo("softplus_grad", _helper("softplus_grad"), lambda x, g: g / (1 + np.exp(-x)),
           _helper_samples("softplus_grad", _randn), grad=False),
    OpInfo("sigmoid_xent_grad", _helper("sigmoid_xent_grad"), lambda x, z, g: g * (_np_sigmoid(x) - z),
           _helper_samples("sigmoid_xent_grad", _randn, 3), grad=False),
]


# ----- matmul ----------------------------------------------------------------------------------

def _matmul_samples():
    rng = _rng("matmul")
    out = []
    for ta in (False, True):
        for tb in (False, True):
            a = randn(rng, (4, 3) if ta else (3, 4))
            b = randn(rng, (2, 4) if tb else (4, 2))
            out.append(Sample((a, b), {"transpose_a": ta, "transpose_b": tb}, f"ta{int(ta)}_tb{int(tb)}"))
    out.append(Sample((randn(rng, (1, 5)), randn(rng, (5, 1))), {}, "row_col"))
    out.append(Sample((randn(rng, (5, 1)), randn(rng, (1, 3))), {}, "outer"))
    return out


def _np_matmul(a, b, transpose_a=False, transpose_b=False):
    a = a.T if transpose_a else a
    b = b.T if transpose_b else b
    return np.einsum("ik,kj->ij", a, b)


MATMUL = [OpInfo("matmul", ge.matmul, _np_matmul, _matmul_samples())]


# ----- reductions --------------------------------------------------------------------------------

def _reduce_samples(name):
    rng = _rng(name)
    out = []
    for axis in (None, 0, 1, -1, (0, 2), [2, 1]):
        for keep in (False, True):
            out.append(Sample((randn(rng, (2, 3, 4)),), {"axis": axis, "keepdims": keep},
                              f"2x3x4-axis{axis}-keep{int(keep)}".replace(" ", "")))
    out.append(Sample((randn(rng, (5,)),), {"axis": 0, "keepdims": False}, "5-axis0"))
    out.append(Sample((np.array(1.5),), {"axis": None, "keepdims": False}, "scalar"))
    return out


def _np_reduce(fn):
    def ref(x, axis=None, keepdims=False):
        ax = tuple(axis) if isinstance(axis, list) else axis
        return fn(x, axis=ax, keepdims=keepdims)
    return ref


REDUCE = [
    OpInfo("reduce_sum", ge.reduce_sum, _np_reduce(np.sum), _reduce_samples("sum")),
    OpInfo("reduce_mean", ge.reduce_mean, _np_reduce(np.mean), _reduce_samples("mean")),
    OpInfo("reduce_max", ge.reduce_max, _np_reduce(np.amax), _reduce_samples("max")),
    OpInfo("reduce_min", ge.reduce_min, _np_reduce(np.amin), _reduce_samples("min")),
]


def _arg_samples(name):
    rng = _rng(name)
    out = []
    for shape, axis in [((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((5,), None)]:
        for ot in (ge.int64, ge.int32):
            out.append(Sample((randn(rng, shape),), {"axis": axis, "output_type": ot},
                              f"{_shape_id(shape)}-axis{axis}-{ot.name}"))
    return out


ARG = [
    OpInfo("argmax", ge.argmax,
           lambda x, axis, output_type: np.argmax(x, axis=axis or 0).astype(output_type.np),
           _arg_samples("argmax"), grad=False, out_dtype="attr:output_type"),
    OpInfo("argmin", ge.argmin,
           lambda x, axis, output_type: np.argmin(x, axis=axis or 0).astype(output_type.np),
           _arg_samples("argmin"), grad=False, out_dtype="attr:output_type"),
]


# ----- movement ----------------------------------------------------------------------------------

def _samples(name, specs):
    """specs: [(id, shapes, kwargs)] -> Samples of normal values."""
    rng = _rng(name)
    return [Sample(tuple(randn(rng, s) for s in shapes), kw, sid) for sid, shapes, kw in specs]


def _concat_ref(*xs, axis):
    return np.concatenate(xs, axis=axis)


def _stack_ref(*xs, axis):
    return np.stack(xs, axis=axis)


MOVEMENT = [
    OpInfo("reshape", ge.reshape, lambda x, shape: x.reshape(shape), _samples("reshape", [
        ("2x3x4_to_6x4", [(2, 3, 4)], {"shape": (6, 4)}),
        ("2x3x4_to_flat", [(2, 3, 4)], {"shape": (-1,)}),
        ("2x3x4_to_4x?x2", [(2, 3, 4)], {"shape": (4, -1, 2)}),
        ("scalar_to_1x1", [()], {"shape": (1, 1)}),
        ("6_to_2x3", [(6,)], {"shape": [2, 3]}),
    ])),
    OpInfo("transpose", ge.transpose, lambda x, perm=None: np.transpose(x, perm), _samples("transpose", [
        ("3x4_default", [(3, 4)], {}),
        ("2x3x4_default", [(2, 3, 4)], {}),
        ("2x3x4_102", [(2, 3, 4)], {"perm": (1, 0, 2)}),
        ("2x3x4_201", [(2, 3, 4)], {"perm": [2, 0, 1]}),
    ])),
    OpInfo("concat", lambda *xs, axis: ge.concat(list(xs), axis), _concat_ref, _samples("concat", [
        ("axis0", [(2, 3), (4, 3)], {"axis": 0}),
        ("axis1", [(2, 3), (2, 1)], {"axis": 1}),
        ("three_axis-1", [(2, 3), (2, 2), (2, 1)], {"axis": -1}),
        ("3d_axis1", [(2, 1, 3), (2, 2, 3)], {"axis": 1}),
    ])),
    OpInfo("stack", lambda *xs, axis=0: ge.stack(list(xs), axis), _stack_ref, _samples("stack", [
        ("axis0", [(2, 3)] * 3, {"axis": 0}),
        ("axis1", [(2, 3)] * 2, {"axis": 1}),
        ("axis-1", [(2, 3)] * 2, {"axis": -1}),
        ("scalars", [()] * 3, {"axis": 0}),
    ])),
    OpInfo("expand_dims", ge.expand_dims, lambda x, axis: np.expand_dims(x, axis), _samples("expand_dims", [
        ("3x4_axis0", [(3, 4)], {"axis": 0}),
        ("3x4_axis1", [(3, 4)], {"axis": 1}),
        ("3x4_axis2", [(3, 4)], {"axis": 2}),
        ("3x4_axis-1", [(3, 4)], {"axis": -1}),
        ("scalar", [()], {"axis": 0}),
    ])),
    OpInfo("squeeze", ge.squeeze, lambda x, axis=None: np.squeeze(x, axis=tuple(axis) if isinstance(
        axis, list) else axis), _samples("squeeze", [
            ("all", [(1, 3, 1)], {}),
            ("axis0", [(1, 3, 1)], {"axis": 0}),
            ("axis[2]", [(1, 3, 1)], {"axis": [2]}),
            ("axis-1", [(2, 1)], {"axis": -1}),
        ])),
    OpInfo("identity", ge.identity, lambda x: x + 0.0, _samples("identity", [("3x4", [(3, 4)], {})])),
    OpInfo("placeholder_with_default", lambda x: ge.placeholder_with_default(x * 1.0), lambda x: x + 0.0,
           _samples("pwd", [("3x4", [(3, 4)], {}), ("scalar", [()], {})])),
    # ops gradient rules emit: checked directly, with the second input only giving a shape
    OpInfo("broadcast_like", lambda x, like: ge.ops.shape.broadcast_like(x, like),
           lambda x, like: x + np.zeros_like(like), [
               Sample((randn(_rng("bl"), (1, 3)), np.zeros((2, 3))), {}, "1x3_to_2x3", grad_args=(0,)),
               Sample((np.array(2.0), np.zeros((2, 3))), {}, "scalar_to_2x3", grad_args=(0,)),
               Sample((randn(_rng("bl"), (3,)), np.zeros((4, 3))), {}, "3_to_4x3", grad_args=(0,))]),
    OpInfo("sum_to_like", lambda g, x: ge.ops.reduce.sum_to_like(g, x),
           lambda g, x: g.sum(axis=tuple(range(g.ndim - x.ndim)), keepdims=False).sum(
               axis=tuple(i for i, n in enumerate(x.shape) if n == 1), keepdims=True).reshape(x.shape), [
               Sample((randn(_rng("stl"), (2, 3)), np.zeros((1, 3))), {}, "2x3_to_1x3", grad_args=(0,)),
               Sample((randn(_rng("stl"), (4, 2, 3)), np.zeros((3,))), {}, "4x2x3_to_3", grad_args=(0,)),
               Sample((randn(_rng("stl"), (2, 3)), np.zeros(())), {}, "2x3_to_scalar", grad_args=(0,))]),
    OpInfo("expand_like", lambda dy, x, axis, keepdims, mean: apply1(
        "expand_like", [dy, x], {"axis": axis, "keepdims": keepdims, "mean": mean}),
        lambda dy, x, axis, keepdims, mean: (np.broadcast_to(
            dy if keepdims else np.expand_dims(dy, axis), x.shape)
            / (np.prod([x.shape[a] for a in axis]) if mean else 1)), [
            Sample((randn(_rng("el"), (2,)), np.zeros((2, 3))),
                   {"axis": (1,), "keepdims": False, "mean": False}, "sum_axis1", grad_args=(0,)),
            Sample((randn(_rng("el"), (1, 3)), np.zeros((2, 3))),
                   {"axis": (0,), "keepdims": True, "mean": True}, "mean_axis0_keep", grad_args=(0,)),
            Sample((randn(_rng("el"), (3,)), np.zeros((2, 3, 4))), {"axis": (0, 2), "keepdims": False,
                                                                       "mean": True},
                   "mean_axis02", grad_args=(0,))]),
    OpInfo("reshape_like", lambda x, like: ge.ops.shape.reshape_like(x, like),
           lambda x, like: x.reshape(like.shape),
           [Sample((randn(_rng("rl"), (6,)), np.zeros((2, 3))), {}, "6_to_2x3", grad_args=(0,))]),
    OpInfo("concat_part",
           lambda g, a, b, index: apply1("concat_part", [g, a, b], {"axis": 1, "index": index}),
           lambda g, a, b, index: g[:, :3] if index == 0 else g[:, 3:], [
               Sample((randn(_rng("cp"), (2, 5)), np.zeros((2, 3)), np.zeros((2, 2))), {"index": i},
                      f"part{i}") for i in (0, 1)], grad=False),
]


def _one_hot_ref(idx, depth, on_value=1, off_value=0, dtype=ge.float32):
    out = np.full(idx.shape + (depth,), off_value, dtype.np)
    for pos in np.ndindex(*idx.shape):
        if 0 <= idx[pos] < depth:
            out[pos + (idx[pos],)] = on_value
    return out


ONE_HOT = OpInfo("one_hot", ge.one_hot, _one_hot_ref, [
    Sample((np.array([0, 2, -1, 3, 1], np.int32),), {"depth": 3, "dtype": ge.float32}, "out_of_range_is_off"),
    Sample((np.array([[1, 0], [2, 2]], np.int64),), {"depth": 4, "on_value": 5.0, "off_value": -1.0,
                                                     "dtype": ge.float64}, "2d_values_f64"),
    Sample((np.array([0, 1], np.int32),), {"depth": 2, "dtype": ge.int32}, "int32"),
], grad=False, dtypes=("native",), out_dtype="attr:dtype")


# ----- nn ------------------------------------------------------------------------------------------

def _np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _softmax_samples(name):
    return _samples(name, [("3x5", [(3, 5)], {}), ("3x5_axis0", [(3, 5)], {"axis": 0}),
                           ("2x3x4", [(2, 3, 4)], {}), ("5", [(5,)], {})])


def _xent_samples(sparse):
    rng = _rng(f"xent{sparse}")
    out = []
    for n, c in [(4, 5), (1, 3)]:
        logits = randn(rng, (n, c), 2.0)
        if sparse:
            for dt in (np.int32, np.int64):
                out.append(Sample((logits, rng.integers(0, c, n).astype(dt)), {}, f"{n}x{c}-{dt.__name__}"))
        else:
            out.append(Sample((logits, _np_softmax(randn(rng, (n, c)))), {}, f"{n}x{c}-probs"))
            out.append(Sample((logits, np.eye(c)[rng.integers(0, c, n)]), {}, f"{n}x{c}-onehot"))
    return out


NN = [
    OpInfo("softmax", ge.nn.softmax, _np_softmax, _softmax_samples("softmax")),
    OpInfo("log_softmax", ge.nn.log_softmax, lambda x, axis=-1: np.log(_np_softmax(x, axis)),
           _softmax_samples("log_softmax")),
    OpInfo("sparse_softmax_xent",
           lambda x, y: ge.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
           lambda x, y: -np.log(_np_softmax(x))[np.arange(len(y)), y], _xent_samples(True)),
    OpInfo("softmax_xent", lambda x, y: ge.nn.softmax_cross_entropy_with_logits(labels=y, logits=x),
           lambda x, y: -(y * np.log(_np_softmax(x))).sum(-1), _xent_samples(False)),
    OpInfo("bias_add", ge.nn.bias_add, lambda x, b: x + b, _samples("bias_add", [
        ("3x4", [(3, 4), (4,)], {}), ("2x3x4", [(2, 3, 4), (4,)], {})])),
]

# convolution and pooling: tests/opdb_conv.py (it imports the helpers above from this module)
from opdb_conv import CONV  # noqa: E402

OP_DB: list[OpInfo] = (BINARY + UNARY + [CAST] + GRAD_HELPERS + MATMUL + REDUCE + ARG + MOVEMENT
                       + [ONE_HOT] + NN + CONV)

# Registered ops this database does not build, and where they are tested instead.
COVERED_ELSEWHERE: dict[str, str] = {
    "const": "every test builds constants; ge.constant/zeros/ones values in test_variables.py",
    "placeholder": "every op test feeds placeholders; feeding rules in test_session.py/test_errors.py",
    "random": "random_normal/uniform/truncated_normal statistics and seeds in test_variables.py",
    "random_uniform_like": "dropout masks in test_losses.py (statistics, scaling, re-drawing)",
    "stop_gradient": "its gradient is None by design: test_ops.py::test_stop_gradient",
    "variable": "test_variables.py and every optimizer test",
    "assign": "test_variables.py (initializers, Variable.assign)",
    "assign_add": "test_variables.py and the global_step / Adam step counter in test_optimizers.py",
    "apply_gradient_descent": "test_optimizers.py: updates against the formula written out in NumPy",
    "apply_momentum": "test_optimizers.py",
    "apply_rms_prop": "test_optimizers.py",
    "apply_adam": "test_optimizers.py",
    "apply_adagrad": "test_optimizers.py",
    "group": "test_session.py (group/no_op/control_dependencies) and every optimizer's train op",
}

# Differentiable ops whose own gradient is deliberately undefined (first-order helpers that
# gradient rules emit): asking for a second derivative through them raises GradientError
# (test_errors.py::test_gradient_without_rule_names_the_op).
FIRST_ORDER_ONLY = {n: "gradient helper; second-order gradients are not supported" for n in (
    "relu_grad", "relu6_grad", "leaky_relu_grad", "elu_grad", "sigmoid_grad", "tanh_grad",
    "softplus_grad", "sigmoid_xent_grad", "max_pool_grad")}


def cases(db: list[OpInfo], *, grad: bool = False) -> list:
    """pytest params (info, sample) with readable ids; grad=True keeps differentiable cases."""
    import pytest
    out = []
    for info in db:
        for s in info.samples:
            if grad and not (info.grad and s.grad):
                continue
            out.append(pytest.param(info, s, id=f"{info.name}-{s.name}"))
    return out


def dtype_cases(db: list[OpInfo]) -> list:
    import pytest
    return [pytest.param(info, s, dt, id=f"{info.name}-{s.name}-{dt}")
            for info in db for s in info.samples for dt in info.dtypes]


# ----- checks ---------------------------------------------------------------------------------------

TOL = {"float32": {"rtol": 2e-5, "atol": 2e-6}, "float64": {"rtol": 1e-10, "atol": 1e-12},
       "native": {"rtol": 0, "atol": 0}}


def cast_args(args: tuple, dtype: str) -> list[np.ndarray]:
    if dtype == "native":
        return [np.asarray(a) for a in args]
    return [np.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else np.asarray(a) for a in args]


def placeholders(args: list[np.ndarray], dynamic: bool = False) -> list[ge.Tensor]:
    return [ge.placeholder(ge.as_dtype(a.dtype), (None,) * a.ndim if dynamic else a.shape, name=f"in{i}")
            for i, a in enumerate(args)]


def expected_dtype(info: OpInfo, sample: Sample, args: list[np.ndarray]) -> np.dtype:
    od = info.out_dtype
    if isinstance(od, str) and od.startswith("attr:"):
        return sample.kwargs[od[5:]].np
    if od is not None:
        return np.dtype(od)
    return next(a.dtype for a in args if a.dtype.kind == "f")


def check_forward(info: OpInfo, sample: Sample, backend: str, dtype: str, dynamic: bool = False) -> None:
    args = cast_args(sample.args, dtype)
    phs = placeholders(args, dynamic)
    y = info.op(*phs, **sample.kwargs)
    want_dtype = expected_dtype(info, sample, args)
    # the reference runs in float64 on exactly the values fed
    with np.errstate(all="ignore"):
        want = np.asarray((sample.ref or info.ref)(*[a.astype(np.float64) if a.dtype.kind == "f" else a
                                                     for a in args], **sample.kwargs))
    assert y.dtype.np == want_dtype, f"static dtype {y.dtype.name}, expected {want_dtype}"
    if y.shape is not None:
        fits = len(y.shape) == want.ndim and all(
            d is None or d == n for d, n in zip(y.shape, want.shape, strict=True))
        assert fits, f"static shape {y.shape} does not fit the result's {want.shape}"
    if not dynamic:
        assert y.shape == want.shape, f"static shape {y.shape}, expected {want.shape}"
    with session(backend) as sess, np.errstate(all="ignore"):
        got = sess.run(y, dict(zip(phs, args, strict=True)))
    assert isinstance(got, np.ndarray | np.generic), type(got)  # 0-d results are NumPy scalars (TF1)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    assert got.dtype == want_dtype, f"dtype {got.dtype}, expected {want_dtype}"
    if want_dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        tol = TOL[dtype] if dtype != "native" else TOL[want_dtype.name]
        np.testing.assert_allclose(got, want, **tol)


def check_grads(info: OpInfo, sample: Sample, backend: str, dynamic: bool = False) -> None:
    """float64 central differences along a random direction, as autograd's ``check_grads``:
    <J^T u, v> from ge.gradients(ys, xs, grad_ys=u) against (f(x+eps v) - f(x-eps v)) / 2eps . u."""
    rng = _rng("grad-" + info.name + sample.name)
    args = cast_args(sample.args, "float64")
    phs = placeholders(args, dynamic)
    y = info.op(*phs, **sample.kwargs)
    which = sample.grad_args if sample.grad_args is not None else \
        tuple(i for i, a in enumerate(args) if a.dtype.kind == "f")
    assert which, "no float input to differentiate"
    feed = dict(zip(phs, args, strict=True))
    with session(backend) as sess:
        y0 = sess.run(y, feed)
        u = rng.standard_normal(y0.shape)
        grads = ge.gradients(y, [phs[i] for i in which], grad_ys=ge.constant(u))
        assert all(g is not None for g in grads), f"no gradient for inputs {which}: {grads}"
        got = sess.run(grads, feed)
        np.testing.assert_array_equal(sess.run(y, feed), y0)  # building gradients changed nothing
        eps = info.grad_eps
        for i, g in zip(which, got, strict=True):
            assert g.shape == args[i].shape and g.dtype == np.float64, (g.shape, g.dtype)
            v = rng.standard_normal(args[i].shape)
            plus = sess.run(y, {**feed, phs[i]: args[i] + eps * v})
            minus = sess.run(y, {**feed, phs[i]: args[i] - eps * v})
            numeric = float(np.sum((plus - minus) * u)) / (2 * eps)
            analytic = float(np.sum(g * v))
            assert abs(numeric - analytic) <= info.grad_rtol * (1 + abs(numeric)) + 1e-7, \
                f"input {i}: <J^T u, v> = {analytic}, finite difference {numeric}"

# MPI collectives need ranks to talk to: tests/test_distributed.py runs them under mpiexec -n 2
COVERED_ELSEWHERE.update({op: "tests/test_distributed.py (mpiexec -n 2: values, training equivalence, compiled step)"
                          for op in ("allreduce_fused", "allgather", "broadcast")})


# ----- batch normalization, gather / embeddings (issue 13) --------------------------------------

def _np_bn(x, scale, offset, axis, unbiased, out, eps=1e-3):
    axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    n = x.size / x.shape[axis]
    mean = np.mean(x, axis=axes)
    var = np.mean((x - mean.reshape(shape)) ** 2, axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + offset.reshape(shape)
    return (y, mean, var * n / (n - 1) if unbiased else var)[out]


def _bn_op(x, scale, offset, axis, unbiased, out):
    from graphengine.ops.batchnorm import _fused
    return _fused(x, scale, offset, axis, 1e-3, unbiased, None)[out]


def _bn_samples(out):
    rng = _rng(f"batch_norm{out}")
    specs = [("8x3-dense", (8, 3), 1, False), ("2x3x2x3-nhwc-unbiased", (2, 3, 2, 3), 3, True),
             ("2x3x2x2-nchw", (2, 3, 2, 2), 1, False), ("3x2x4-axis1-unbiased", (3, 2, 4), 1, True)]
    nonfinite = Sample((np.array([[1.0, 2.0], [np.nan, 3.0], [np.inf, 4.0]]), np.ones(2), np.zeros(2)),
                       {"axis": 1, "unbiased": False, "out": out}, "nan-inf-channel", grad=False)
    return [Sample((randn(rng, s, 2.0) + 1.0, positive(rng, (s[ax],)), randn(rng, (s[ax],))),
                   {"axis": ax, "unbiased": ub, "out": out}, sid) for sid, s, ax, ub in specs] + [nonfinite]


def _moments_samples(name):
    return _samples(name, [("4x3-axes0", [(4, 3)], {"axes": [0]}), ("2x3x4-axes02", [(2, 3, 4)], {"axes": [0, 2]}),
                           ("2x3x4-axes01-keep", [(2, 3, 4)], {"axes": [0, 1], "keep_dims": True})])


def _np_gather(p, idx, axis=0):
    axis %= p.ndim
    out = np.stack([np.take(p, int(i), axis=axis) for i in idx.reshape(-1)], axis=axis) if idx.size else \
        np.zeros(p.shape[:axis] + (0,) + p.shape[axis + 1:])
    return out.reshape(p.shape[:axis] + idx.shape + p.shape[axis + 1:])


def _np_scatter_add(g, idx, p, axis=0):
    out = np.zeros(p.shape)
    flat = g.reshape(p.shape[:axis] + (idx.size,) + p.shape[axis + 1:])
    for k, i in enumerate(idx.reshape(-1)):
        sl = [slice(None)] * p.ndim
        sl[axis] = int(i)
        out[tuple(sl)] += np.take(flat, k, axis=axis)
    return out


def _gather_samples():
    rng = _rng("gather")
    return [
        Sample((randn(rng, (5, 3)), np.array([4, 0, 4, 2], np.int32)), {}, "5x3-dup-ids", grad_args=(0,)),
        Sample((randn(rng, (5, 3)), np.array([[1, 3], [3, 3]], np.int64)), {}, "2d-ids-int64", grad_args=(0,)),
        Sample((randn(rng, (2, 4, 3)), np.array([3, 0, 3], np.int32)), {"axis": 1}, "axis1", grad_args=(0,)),
        Sample((randn(rng, (2, 4)), np.array([1, 1, 0], np.int32)), {"axis": -1}, "axis-1", grad_args=(0,)),
        Sample((randn(rng, (4, 2)), np.array(2, np.int32)), {}, "scalar-id", grad_args=(0,)),
        Sample((randn(rng, (4, 2)), np.zeros((0,), np.int32)), {}, "empty-ids", grad=False),
        Sample((np.array([[np.nan, np.inf], [1.0, -np.inf]]), np.array([1, 0], np.int32)), {}, "nan-inf",
               grad=False),
    ]


def _gather_grad_samples():
    rng = _rng("gather_grad")
    return [Sample((randn(rng, (4, 3)), np.array([2, 0, 2, 2], np.int32), np.zeros((3, 3))), {}, "dup-ids",
                   grad_args=(0,)),
            Sample((randn(rng, (2, 2, 3)), np.array([1, 1], np.int64), np.zeros((2, 4, 3))), {"axis": 1}, "axis1",
                   grad_args=(0,))]


def _np_bn_grad(dy, x, scale, mean, var, g_mean, g_var, axis, unbiased, out, eps=1e-3):
    """Textbook batch-norm backward (Ioffe & Szegedy) plus the mean/variance outputs' gradients."""
    axes = tuple(i for i in range(x.ndim) if i != axis)
    sh = [1] * x.ndim
    sh[axis] = -1
    n = x.size / x.shape[axis]
    biased = var * (n - 1) / n if unbiased else var
    inv = 1 / np.sqrt(biased + eps)
    xhat = (x - mean.reshape(sh)) * inv.reshape(sh)
    dxhat_sum, dxhat_dot = dy.sum(axes), (dy * xhat).sum(axes)
    dx = (scale * inv).reshape(sh) / n * (n * dy - dxhat_sum.reshape(sh) - xhat * dxhat_dot.reshape(sh))
    dx = dx + g_mean.reshape(sh) / n + g_var.reshape(sh) * 2 * (x - mean.reshape(sh)) / (n - 1 if unbiased else n)
    return (dx, dxhat_dot, dxhat_sum)[out]


def _bn_grad_samples():
    rng = _rng("batch_norm_grad")
    out = []
    for sid, s, ax, ub in [("6x3", (6, 3), 1, False), ("2x2x2x3-nhwc-unbiased", (2, 2, 2, 3), 3, True)]:
        c = s[ax]
        x = randn(rng, s)
        axes = tuple(i for i in range(len(s)) if i != ax)
        m, v = x.mean(axes), x.var(axes) * (x.size / c / (x.size / c - 1) if ub else 1)
        for o in range(3):
            out.append(Sample((randn(rng, s), x, positive(rng, (c,)), m, v, randn(rng, (c,)), randn(rng, (c,))),
                              {"axis": ax, "unbiased": ub, "out": o}, f"{sid}-out{o}", grad=False))
    return out


NORM_GATHER = [
    OpInfo(f"batch_norm-{k}", _bn_op, _np_bn, _bn_samples(i), grad_rtol=1e-5)
    for i, k in enumerate(("y", "mean", "variance"))
] + [
    OpInfo("batch_norm_grad", lambda *a, axis, unbiased, out: ge.ops.registry.apply(
        "batch_norm_grad", list(a), {"axis": axis, "epsilon": 1e-3, "unbiased": unbiased}).outputs[out],
        _np_bn_grad, _bn_grad_samples(), grad=False),
    OpInfo("moments-mean", lambda x, axes, keep_dims=False: ge.nn.moments(x, axes, keep_dims=keep_dims)[0],
           lambda x, axes, keep_dims=False: np.mean(x, axis=tuple(axes), keepdims=keep_dims),
           _moments_samples("moments-mean")),
    OpInfo("moments-variance", lambda x, axes, keep_dims=False: ge.nn.moments(x, axes, keep_dims=keep_dims)[1],
           lambda x, axes, keep_dims=False: np.var(x, axis=tuple(axes), keepdims=keep_dims),
           _moments_samples("moments-variance")),
    OpInfo("batch_normalization", lambda x, m, v, o, s: ge.nn.batch_normalization(x, m, v, o, s, 1e-3),
           lambda x, m, v, o, s: (x - m) / np.sqrt(v + 1e-3) * s + o,
           [Sample((randn(_rng("bnz"), (4, 3)), randn(_rng("bnm"), (3,)), positive(_rng("bnv"), (3,)),
                    randn(_rng("bno"), (3,)), positive(_rng("bns"), (3,))), {}, "4x3")]),
    OpInfo("fused_batch_norm-inference",
           lambda x, s, o, m, v: ge.nn.fused_batch_norm(x, s, o, m, v, is_training=False, data_format="NCHW")[0],
           lambda x, s, o, m, v: ((x - m.reshape(1, -1, 1, 1)) / np.sqrt(v.reshape(1, -1, 1, 1) + 1e-3)
                                  * s.reshape(1, -1, 1, 1) + o.reshape(1, -1, 1, 1)),
           [Sample((randn(_rng("fbi"), (2, 3, 2, 2)), positive(_rng("fbs"), (3,)), randn(_rng("fbo"), (3,)),
                    randn(_rng("fbm"), (3,)), positive(_rng("fbv"), (3,))), {}, "nchw")]),
    OpInfo("gather", ge.gather, _np_gather, _gather_samples()),
    OpInfo("gather_grad", lambda g, idx, p, axis=0: apply1("gather_grad", [g, idx, p], {"axis": axis % p.ndim}),
           _np_scatter_add, _gather_grad_samples()),
    OpInfo("embedding_lookup-mod-shards",
           lambda a, b, ids: ge.nn.embedding_lookup([a, b], ids, partition_strategy="mod"),
           lambda a, b, ids: np.stack([(a, b)[i % 2][i // 2] for i in ids.reshape(-1)]).reshape(ids.shape + (2,)),
           [Sample((randn(_rng("ema"), (3, 2)), randn(_rng("emb"), (2, 2)), np.array([[4, 1], [0, 3]], np.int32)),
                   {}, "5-rows-2-shards")]),
]
OP_DB.extend(NORM_GATHER)
FIRST_ORDER_ONLY["batch_norm_grad"] = "gradient helper of batch_norm; second-order gradients are not supported"
COVERED_ELSEWHERE.update({op: "tests/test_summary.py: protobuf contents read back with TensorBoard's reader"
                          for op in ("summary_scalar", "summary_histogram", "summary_image", "summary_merge")})


# ----- run-time shapes, indexing and slicing (issue 12) -------------------------------------------
# Ops whose output shape comes from a tensor's value take the statically known part as an attr;
# the rows pass it, so the static-shape checks still apply. tf.range, random_shaped and the
# string ops are tested in tests/test_tf1_surface.py.

def _slice_samples():
    rng = _rng("strided_slice")
    x = (3, 5, 4)
    return [Sample((randn(rng, x),), {"key": k}, sid) for sid, k in [
        ("col", (slice(None), 1)), ("steps", (slice(None, None, 2), slice(1, 4))),
        ("negative", (-1, slice(None, -1), slice(None, None, -1))), ("newaxis", (None, 0, Ellipsis, None)),
        ("ellipsis", (Ellipsis, 2)), ("clipped", (slice(-10, 10), slice(3, 1))), ("scalar", (1, 2, 3))]] + [
        Sample((np.array([[np.nan, 1.0, -np.inf], [np.inf, -0.0, 2.0]]),), {"key": (slice(None, None, -1), 0)},
               "nan_inf", grad=False)]


def _np_getitem(x, key):
    return x[key] + 0.0


SLICING = [
    OpInfo("strided_slice", lambda x, key: x[key], _np_getitem, _slice_samples()),
    OpInfo("strided_slice_grad", lambda g, x, key: apply1(
        "strided_slice_grad", [g, x], {"spec": ge.ops.slicing.normalize(key, 3)}),
        lambda g, x, key: _np_scatter_slice(g, x, key), [
            Sample((randn(_rng("ssg"), (3, 2)), np.zeros((3, 5, 4))), {"key": (slice(None), slice(1, 5, 2), 0)},
                   "3x2_into_3x5x4", grad_args=(0,)),
            Sample((randn(_rng("ssg"), ()), np.zeros((3, 5, 4))), {"key": (-1, 2, 3)}, "scalar",
                   grad_args=(0,))]),
    OpInfo("unstack", lambda x, axis, i: ge.unstack(x, axis=axis)[i], lambda x, axis, i: np.moveaxis(x, axis, 0)[i],
           _samples("unstack", [("axis0", [(3, 4)], {"axis": 0, "i": 2}),
                                ("axis-1", [(2, 3, 4)], {"axis": -1, "i": 1})])),
    OpInfo("tf.slice", lambda x, begin, size: ge.ops.slicing.slice_(x, begin, size),
           lambda x, begin, size: x[tuple(slice(b, None if n == -1 else b + n) for b, n in zip(begin, size))],
           _samples("tf.slice", [("2x3", [(4, 5)], {"begin": [1, 2], "size": [2, -1]})])),
    OpInfo("shape", lambda x: apply1("shape", [x], {"out_type": ge.int32}), lambda x: np.array(x.shape, np.int32),
           _samples("shape", [("3x4", [(3, 4)], {}), ("scalar", [()], {}), ("empty", [(0, 2)], {})]),
           grad=False, out_dtype=np.int32),
    OpInfo("dynamic_reshape", lambda x, s, static: apply1("dynamic_reshape", [x, s], {"shape": static}),
           lambda x, s, static: x.reshape(tuple(s)), [
               Sample((randn(_rng("dr"), (2, 3, 4)), np.array([6, 4], np.int32)), {"static": (6, 4)}, "to_6x4"),
               Sample((randn(_rng("dr"), (2, 3, 4)), np.array([-1, 2], np.int64)), {"static": (12, 2)}, "minus1")]),
    OpInfo("dynamic_fill", lambda d, v, static: apply1("dynamic_fill", [d, v], {"shape": static}),
           lambda d, v, static: v + np.zeros(tuple(d)), [
               Sample((np.array([2, 3], np.int32), np.array(1.5)), {"static": (2, 3)}, "2x3"),
               Sample((np.array([0, 3], np.int32), np.array(-2.0)), {"static": (0, 3)}, "empty")]),
]


def _np_scatter_slice(g, x, key):
    out = np.zeros(x.shape)
    out[key] = g
    return out


OP_DB.extend(SLICING)
COVERED_ELSEWHERE.update({
    "range": "tests/test_tf1_surface.py::test_range (its length is known only at run time)",
    "random_shaped": "tests/test_tf1_surface.py::test_random_ops_with_shape_tensors_and_tensor_parameters",
    "string_join": "tests/test_tf1_surface.py::test_string_tensors (bytes values; no numeric reference)",
    "as_string": "tests/test_tf1_surface.py::test_string_tensors",
})


# ----- TF1 semantics and missing names (issue 12, part A) -----------------------------------------

def _np_bmm(a, b, transpose_a=False, transpose_b=False):
    a = np.swapaxes(a, -1, -2) if transpose_a else a
    b = np.swapaxes(b, -1, -2) if transpose_b else b
    return np.einsum("...ik,...kj->...ij", a, b)


def _bmm_samples():
    rng = _rng("batch_matmul")
    return [Sample((randn(rng, sa), randn(rng, sb)), kw, sid) for sid, sa, sb, kw in [
        ("2x3x4_2x4x5", (2, 3, 4), (2, 4, 5), {}),
        ("ta", (2, 4, 3), (2, 4, 5), {"transpose_a": True}),
        ("tb", (2, 3, 4), (2, 5, 4), {"transpose_b": True}),
        ("tt", (2, 4, 3), (2, 5, 4), {"transpose_a": True, "transpose_b": True}),
        ("rank2_right", (2, 3, 4), (4, 5), {}),
        ("rank2_left", (3, 4), (2, 4, 5), {}),
        ("broadcast", (2, 1, 3, 4), (1, 3, 4, 2), {}),
        ("empty_k", (2, 3, 0), (2, 0, 2), {})]]


def _prod_samples():
    rng = _rng("reduce_prod")
    out = []
    for axis in (None, 1, (0, 2), -1):
        for keep in (False, True):
            out.append(Sample((randn(rng, (2, 3, 4)),), {"axis": axis, "keepdims": keep},
                              f"axis{axis}-keep{int(keep)}".replace(" ", "")))
    z = randn(rng, (3, 4))
    z[0, 1] = 0.0              # one zero in row 0: its gradient is the product of the others
    z[1, 0] = z[1, 2] = 0.0    # two zeros in row 1: all gradients 0
    out.append(Sample((z,), {"axis": 1, "keepdims": False}, "zeros"))
    out.append(Sample((np.array(1.5),), {"axis": None, "keepdims": False}, "scalar"))
    return out


def _int_pair(rng, shape, dtype):
    x = rng.integers(-9, 10, shape).astype(dtype)
    y = (rng.integers(1, 4, shape) * np.where(rng.random(shape) < 0.5, -1, 1)).astype(dtype)
    return x, y


TF1_EXTRA = [
    OpInfo("batch_matmul", ge.matmul, _np_bmm, _bmm_samples()),
    OpInfo("reduce_prod", ge.reduce_prod, _np_reduce(np.prod), _prod_samples()),
    *[OpInfo(f"floordiv-{dt.__name__}", ge.floordiv, lambda x, y: np.floor(x / y).astype(x.dtype),
             [Sample(_int_pair(_rng(f"floordiv-{dt.__name__}"), (3, 4), dt), {}, "3x4")],
             grad=False, dtypes=("native",), out_dtype=dt) for dt in (np.int32, np.int64)],
    _unary("floor", ge.floor, lambda x: x - np.mod(x, 1.0), lambda r, s: randn(r, s, 3.0), grad=False),
    _unary("ceil", ge.ceil, lambda x: -((-x) - np.mod(-x, 1.0)), lambda r, s: randn(r, s, 3.0), grad=False),
    _unary("sin", ge.sin, lambda x: np.imag(np.exp(1j * x)), lambda r, s: randn(r, s, 2.0)),
    _unary("cos", ge.cos, lambda x: np.real(np.exp(1j * x)), lambda r, s: randn(r, s, 2.0)),
]
OP_DB.extend(TF1_EXTRA)

# sign's gradient is zeros (TF1): checked by finite differences away from 0
_SIGN = next(i for i in UNARY if i.name == "sign")
_SIGN.grad = True
for _s in _SIGN.samples:
    _s.grad = False
_SIGN.samples.append(Sample((away(_rng("sign-grad"), (3, 4)),), {}, "away"))
# the fused op's labels gradient: through softmax_cross_entropy_with_logits_v2 (v1 stops it, as TF1)
next(i for i in NN if i.name == "softmax_xent").op = \
    lambda x, y: ge.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x)
COVERED_ELSEWHERE.update({
    "where_indices": "tests/test_tf1_semantics.py::test_where_coordinates (output length known only at "
                     "run time) and tests/test_tf_diff.py where_coordinates against TensorFlow",
    "apply_centered_rms_prop": "tests/test_tf1_semantics.py (against TF's formula) and tests/test_tf_diff.py "
                               "opt_rmsprop_centered (trajectories against TensorFlow)",
})


import opdb_special  # noqa: E402, F401  (NaN/inf and empty-axis samples for every op above)
