"""NaN, +-inf and empty-axis samples for the op database (issue 14), added to its entries.

Every elementwise op gets a sample mixing NaN and +-inf with ordinary values, every reduction
NaN/inf rows and empty axes, checked against NumPy's own functions (NumPy's NaN semantics are
TF's on the CPU): NaN propagates through max/min/relu/clip-like selections, a mean over no
elements is NaN, a max/min over no elements is the reduction's identity (-inf/+inf, as TF).
They run on every backend: reference, jit="op", the compiled step (test_step_opdb) and the
CUDA simulator (cuda_sim_cases), as every other sample does. Integer reductions get entries of
their own (sums wrap in the dtype, means truncate toward zero).
"""
import numpy as np
from opdb import ARG, BINARY, GRAD_HELPERS, OP_DB, REDUCE, UNARY, OpInfo, Sample, _shape_id
from scipy.special import expit as _expit

import graphengine as ge

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.5, 0.5, 3.0, 7.0])
SPECIAL_X = np.array([np.nan, 1.0, np.nan, np.inf, -np.inf, np.inf, 2.0, -np.inf, 0.0, 0.0, -3.0, 2.0])
SPECIAL_Y = np.array([1.0, np.nan, np.nan, np.inf, np.inf, 1.0, -np.inf, 3.0, 0.0, 2.0, 0.0, -np.inf])
SPECIAL_UNARY = {
    "negative": np.negative, "abs": np.abs, "sign": np.sign, "square": np.square, "sqrt": np.sqrt,
    "rsqrt": lambda x: 1.0 / np.sqrt(x), "exp": np.exp, "log": np.log, "log1p": np.log1p,
    "sigmoid": _expit, "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    "leaky_relu": lambda x, alpha=0.2: np.where(x > 0, x, alpha * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)), "softplus": lambda x: np.logaddexp(0.0, x),
}
SPECIAL_BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "pow": np.power, "maximum": np.maximum, "minimum": np.minimum,
    "squared_difference": lambda x, y: np.square(x - y), "equal": np.equal,
    "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
}
# ops with bool inputs only: no NaN to give them
NO_SPECIAL = {"logical_and", "logical_or", "logical_not", "cast"}


def _with_initial(fn, initial):
    def ref(x, axis=None, keepdims=False):
        ax = tuple(axis) if isinstance(axis, list) else axis
        return fn(x, axis=ax, keepdims=keepdims, **({"initial": initial} if initial is not None else {}))
    return ref


_SPECIAL_REDUCE = {"reduce_sum": _with_initial(np.sum, None), "reduce_mean": _with_initial(np.mean, None),
                   "reduce_max": _with_initial(np.max, -np.inf), "reduce_min": _with_initial(np.min, np.inf)}
_REDUCE_ROWS = np.array([[np.nan, 1.0, 2.0, 3.0], [np.inf, -np.inf, 1.0, 2.0], [np.inf, 1.0, 2.0, 3.0],
                         [-1.0, 2.0, -np.inf, 4.0]])
EMPTY_REDUCE_CASES = [((0, 3), 0, False), ((0, 3), 1, False), ((0, 3), None, False), ((2, 0, 3), 1, True),
                      ((2, 3, 0), (0, 2), False), ((2, 0), [1], True)]


def _add_special_samples() -> None:
    for info in UNARY:
        if info.name in SPECIAL_UNARY:
            for kw in ({}, {"alpha": 0.5}) if info.name == "leaky_relu" else ({},):
                info.samples.append(Sample((SPECIAL,), kw, "nan_inf" + "".join(f"-{k}{v}" for k, v in kw.items()),
                                           grad=False, ref=SPECIAL_UNARY[info.name]))
        elif info.name == "where":
            c = np.array([True, False, True, False, True, False, True, False])
            info.samples.append(Sample((c, SPECIAL, SPECIAL[::-1].copy()), {}, "nan_inf", grad=False))
        elif info.name == "sigmoid_xent":  # (inf logits: inf - inf in TF's formula too)
            x, z = np.array([np.nan, 1.0, -2.0, np.nan]), np.array([0.3, np.nan, 0.5, np.nan])
            info.samples.append(Sample((x, z), {}, "nan", grad=False))
    for info in BINARY:
        if info.name in SPECIAL_BINARY:
            info.samples.append(Sample((SPECIAL_X, SPECIAL_Y), {}, "nan_inf", grad=False,
                                       ref=SPECIAL_BINARY[info.name]))
            info.samples.append(Sample((SPECIAL_X[:4].reshape(4, 1), SPECIAL_Y[4:8]), {}, "nan_inf_bcast",
                                       grad=False, ref=SPECIAL_BINARY[info.name]))
    for info in GRAD_HELPERS:  # NaN in the forward input: the reference's selection semantics
        if info.name != "sigmoid_xent_grad":
            x = SPECIAL.copy()
            info.samples.append(Sample((x, np.linspace(-1, 1, x.size)), {}, "nan_inf", grad=False))
    for info in REDUCE:
        ref = _SPECIAL_REDUCE[info.name]
        for axis in (None, 0, 1):
            info.samples.append(Sample((_REDUCE_ROWS,), {"axis": axis, "keepdims": False}, f"nan_inf-axis{axis}",
                                       grad=False, ref=ref))
        for shape, axis, keep in EMPTY_REDUCE_CASES:
            info.samples.append(Sample((np.zeros(shape),), {"axis": axis, "keepdims": keep},
                                       f"empty-{_shape_id(shape)}-axis{axis}-keep{int(keep)}".replace(" ", ""),
                                       grad=False, ref=ref))
    for info in ARG:
        x = np.array([[1.0, np.nan, 3.0], [np.inf, 1.0, np.nan], [-np.inf, -1.0, -np.inf]])
        for axis in (0, 1):
            info.samples.append(Sample((x,), {"axis": axis, "output_type": ge.int64}, f"nan_inf-axis{axis}",
                                       grad=False))


def _via_reference_backend(info):
    """NumPy semantics for ops without a NaN-exact NumPy definition above: the reference
    backend's result (the spec), so the compiled backends are still checked against it."""
    def ref(*arrays, **kwargs):
        g = ge.Graph()
        with g.as_default():
            phs = [ge.placeholder(ge.as_dtype(a.dtype), a.shape) for a in arrays]
            y = info.op(*phs, **kwargs)
        with ge.Session(graph=g, device="reference") as s:
            return s.run(y, dict(zip(phs, arrays)))
    return ref


def _cover_the_rest() -> None:
    """Every other elementwise op (and any reduce_* op) in the database gets NaN/inf (and empty)
    samples too, so an op added later is covered without a line here."""
    from graphengine.ops.registry import OPS
    for info in OP_DB:
        od = OPS.get(info.name)
        if od is None or any(s.name.startswith(("nan", "empty")) for s in info.samples) or not info.samples:
            continue
        first = info.samples[0]
        floats = [np.asarray(a).dtype.kind == "f" for a in first.args]
        if od.kind == "elementwise" and any(floats) and od.meta.get("rule") not in ("logical", "int", "cast"):
            pool = iter([SPECIAL_X, SPECIAL_Y, np.linspace(-2.0, 2.0, SPECIAL_X.size)])
            args = tuple(next(pool) if f else np.resize(np.asarray(a).reshape(-1), SPECIAL_X.shape)
                         for a, f in zip(first.args, floats))
            info.samples.append(Sample(args, dict(first.kwargs), "nan_inf-auto", grad=False,
                                       ref=_via_reference_backend(info)))
        elif od.kind == "nn" and len(first.args) == 1 and floats[0] and np.ndim(first.args[0]) == 2 \
                and not first.kwargs:
            rows = np.array([[np.nan, 1, 2, 3], [np.inf, 1, 2, 3], [-np.inf, 1, 2, 3], [np.inf, np.inf, 1, 2],
                             [-np.inf] * 4, [1, 2, 3, 4]], float)  # softmax-like ops over the last axis
            info.samples.append(Sample((rows,), {}, "nan_inf-auto", grad=False, ref=_via_reference_backend(info)))
        elif od.kind == "reduce" and info.name.startswith("reduce_") and len(first.args) == 1 and floats[0]:
            ref = _via_reference_backend(info)
            info.samples.append(Sample((_REDUCE_ROWS,), {"axis": 1, "keepdims": False}, "nan_inf-auto",
                                       grad=False, ref=ref))
            info.samples.append(Sample((np.zeros((0, 3)),), {"axis": 0, "keepdims": False}, "empty-auto",
                                       grad=False, ref=ref))


_add_special_samples()
_cover_the_rest()


def _int_reduce_ref(kind):
    """Integer reductions in the input's dtype: sums wrap, a mean truncates toward zero (TF1),
    an empty max/min is the dtype's lowest/highest value and an empty mean 0."""
    def ref(x, axis=None, keepdims=False):
        ax = tuple(range(x.ndim)) if axis is None else (tuple(axis) if isinstance(axis, list) else (axis,))
        ax = tuple(a % x.ndim for a in ax)
        n = int(np.prod([x.shape[a] for a in ax]))
        info = np.iinfo(x.dtype)
        if kind == "max":
            return np.max(x, axis=ax, keepdims=keepdims, initial=info.min)
        if kind == "min":
            return np.min(x, axis=ax, keepdims=keepdims, initial=info.max)
        total = np.sum(x.astype(object), axis=ax, keepdims=keepdims)
        if kind == "sum":
            return np.asarray(total).astype(x.dtype)
        q = np.vectorize(lambda t: 0 if n == 0 else (abs(t) // n) * (1 if t >= 0 else -1), otypes=[object])(total)
        return np.asarray(q).astype(x.dtype)
    return ref


def _int_reduce_samples(dt):
    out = []
    ones = np.ones((2, 49), dt)
    mixed = np.array([[-7, 1, 1], [7, -1, -1], [5, 5, 6]], dt)
    for name, x, axis in [("49ones", ones, 1), ("trunc_axis1", mixed, 1), ("trunc_axis0", mixed, 0),
                          ("all", mixed, None), ("empty_axis0", np.zeros((0, 3), dt), 0),
                          ("empty_all", np.zeros((0, 3), dt), None)]:
        out.append(Sample((x,), {"axis": axis, "keepdims": False}, f"{name}-{dt.__name__}", grad=False))
    return out


INT_REDUCE = [OpInfo(f"reduce_{k}", getattr(ge, f"reduce_{k}"), _int_reduce_ref(k), _int_reduce_samples(dt),
                     grad=False, dtypes=("native",), out_dtype=dt)
              for k in ("sum", "mean", "max", "min") for dt in (np.int32, np.int64)]
REDUCE += INT_REDUCE
OP_DB += INT_REDUCE
