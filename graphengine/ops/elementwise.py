"""Elementwise ops: one table row each (template, NumPy reference, gradient rule).

The template is a scalar Python expression over ``{0}, {1}, ...`` (inputs) and ``{attr}``
(attributes, inlined as literals). The CPU and CUDA code generators both render it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError
from ..graph import Tensor
from .reduce import sum_to_like
from .registry import apply1, broadcast_shapes, defop, same_dtype
from .shape import broadcast_like, identity, stop_gradient
from .source import as_tensor, zeros


def _unbroadcast(g: Tensor | None, x: Tensor) -> Tensor | None:
    """Sum ``g`` down to ``x``'s shape (reverse of broadcasting)."""
    if g is None:
        return None
    if g.shape is not None and g.shape == x.shape and None not in x.shape:
        return g
    return sum_to_like(g, x)


def _infer(rule: str) -> Callable:
    def infer(shapes, dtypes, attrs, rule=rule):
        shape = broadcast_shapes(*shapes)
        if rule == "cast":
            return [(shape, attrs["dtype"])]
        if rule == "where":
            if not dtypes[0].is_bool:
                raise DTypeError(f"where: condition must be bool, got {dtypes[0].name}")
            return [(shape, same_dtype(dtypes[1:], "where"))]
        dt = same_dtype(dtypes, "this op")
        if rule == "float" and not dt.is_floating:
            raise DTypeError(f"needs a floating-point input, got {dt.name}; use ge.cast")
        if rule == "numeric" and dt.is_bool:
            raise DTypeError("needs numeric inputs, got bool; use ge.cast")
        if rule == "logical" and not dt.is_bool:
            raise DTypeError(f"needs bool inputs, got {dt.name}")
        if rule in ("bool", "logical"):
            return [(shape, _dt.bool_)]
        if rule == "int" and not dt.is_integer:
            raise DTypeError(f"needs integer inputs, got {dt.name}")
        if rule == "truediv":
            if dt.is_bool:
                raise DTypeError("true division of bool tensors; use ge.cast first")
            return [(shape, _dt.truediv_dtype(dt))]
        return [(shape, dt)]
    return infer


def _np_sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


# Gradient rules use only public ops (below) so the backward graph is an ordinary graph.
def _g_add(op, g):
    x, y = op.inputs
    return [_unbroadcast(g[0], x), _unbroadcast(g[0], y)]


def _g_sub(op, g):
    x, y = op.inputs
    return [_unbroadcast(g[0], x), _unbroadcast(negative(g[0]), y)]


def _g_mul(op, g):
    x, y = op.inputs
    return [_unbroadcast(multiply(g[0], y), x), _unbroadcast(multiply(g[0], x), y)]


def _g_div(op, g):
    x, y = op.inputs
    z = op.outputs[0]
    return [_unbroadcast(divide(g[0], y), x), _unbroadcast(negative(divide(multiply(g[0], z), y)), y)]


def _g_pow(op, g):
    x, y = op.inputs
    z = op.outputs[0]
    dx = multiply(g[0], multiply(y, pow(x, subtract(y, 1))))
    pos = greater(x, 0)
    logx = log(where(pos, x, ones_like_scalar(x)))
    dy = where(pos, multiply(g[0], multiply(z, logx)), zeros_like_scalar(z))
    return [_unbroadcast(dx, x), _unbroadcast(dy, y)]


def _g_select(first: str, second: str):
    def rule(op, g):
        x, y = op.inputs
        z0 = zeros_like_scalar(g[0])
        return [_unbroadcast(where(_CMP[first](x, y), g[0], z0), x),
                _unbroadcast(where(_CMP[second](x, y), g[0], z0), y)]
    return rule


def _g_where(op, g):
    c, a, b = op.inputs
    z0 = zeros_like_scalar(g[0])
    return [None, _unbroadcast(where(c, g[0], z0), a), _unbroadcast(where(c, z0, g[0]), b)]


def _g_sign(op, g):
    # TF1: zeros, not None (the step function is flat almost everywhere)
    return [broadcast_like(zeros_like_scalar(g[0]), op.inputs[0])]


def _truediv_ref(a, x, y):
    dt = _dt.truediv_dtype(_dt.as_dtype(x.dtype)).np
    return np.true_divide(x.astype(dt), y.astype(dt))


def _g_cast(op, g):
    x = op.inputs[0]
    if not (x.dtype.is_floating and op.outputs[0].dtype.is_floating):
        return [None]
    return [cast(g[0], x.dtype)]


def _g_sxent(op, g):
    x, z = op.inputs
    return [_unbroadcast(_ew("sigmoid_xent_grad", x, z, g[0]), x),
            _unbroadcast(multiply(g[0], negative(x)), z)]


def _via(grad_op: str, use_output: bool = False, attrs: tuple = ()):
    """Gradient of a unary op by a dedicated elementwise grad op ``grad_op(x_or_y, dy)``."""
    def rule(op, g):
        src = op.outputs[0] if use_output else op.inputs[0]
        return [_ew(grad_op, src, g[0], **{k: op.attrs[k] for k in attrs})]
    return rule


def _g_unary(fn: Callable[[Tensor, Tensor, Tensor], Tensor]):
    def rule(op, g):
        return [fn(op.inputs[0], op.outputs[0], g[0])]
    return rule


# name: (arity, dtype rule, template, numpy reference, gradient rule or None if not differentiable)
# NaN semantics are the reference's (NumPy's, and TF's on the CPU): a comparison with NaN is
# False, so a template that selects by comparison must let a NaN operand through explicitly
# (``{0} != {0}``); the op database's NaN/inf samples check every template on every backend.
ELEMENTWISE: dict[str, tuple] = {
    "add": (2, "numeric", "{0} + {1}", lambda a, x, y: x + y, _g_add),
    "subtract": (2, "numeric", "{0} - {1}", lambda a, x, y: x - y, _g_sub),
    "multiply": (2, "numeric", "{0} * {1}", lambda a, x, y: x * y, _g_mul),
    "divide": (2, "truediv", "{0} / {1}", _truediv_ref, _g_div),
    # integer floor division (floats: floor(x / y), as TF1's floordiv); no gradient, as TF1
    "floordiv": (2, "int", "{0} // {1}", lambda a, x, y: np.floor_divide(x, y), None),
    "pow": (2, "numeric", "{0} ** {1}", lambda a, x, y: np.power(x, y), _g_pow),
    "maximum": (2, "numeric", "{0} if ({0} >= {1} or {0} != {0}) else {1}", lambda a, x, y: np.maximum(x, y),
                _g_select("greater_equal", "less")),
    "minimum": (2, "numeric", "{0} if ({0} <= {1} or {0} != {0}) else {1}", lambda a, x, y: np.minimum(x, y),
                _g_select("less_equal", "greater")),
    "squared_difference": (2, "numeric", "({0} - {1}) * ({0} - {1})",
                           lambda a, x, y: (x - y) ** 2,
                           lambda op, g: _g_sqdiff(op, g)),
    "equal": (2, "bool", "{0} == {1}", lambda a, x, y: x == y, None),
    "not_equal": (2, "bool", "{0} != {1}", lambda a, x, y: x != y, None),
    "less": (2, "bool", "{0} < {1}", lambda a, x, y: x < y, None),
    "less_equal": (2, "bool", "{0} <= {1}", lambda a, x, y: x <= y, None),
    "greater": (2, "bool", "{0} > {1}", lambda a, x, y: x > y, None),
    "greater_equal": (2, "bool", "{0} >= {1}", lambda a, x, y: x >= y, None),
    "logical_and": (2, "logical", "{0} and {1}", lambda a, x, y: np.logical_and(x, y), None),
    "logical_or": (2, "logical", "{0} or {1}", lambda a, x, y: np.logical_or(x, y), None),
    "logical_not": (1, "logical", "not {0}", lambda a, x: np.logical_not(x), None),
    "negative": (1, "numeric", "-{0}", lambda a, x: -x, lambda op, g: [negative(g[0])]),
    "abs": (1, "numeric", "abs({0})", lambda a, x: np.abs(x),
            _g_unary(lambda x, y, g: multiply(g, sign(x)))),
    "sign": (1, "numeric", "(1 if {0} > 0 else (-1 if {0} < 0 else ({0} if {0} != {0} else 0)))",
             lambda a, x: np.sign(x), _g_sign),
    # math.floor/ceil return an int64 in Numba: NaN, +-inf and |x| >= 2**52 (integers already)
    # pass through as they are, as np.floor/np.ceil
    "floor": (1, "float", "({0} if not (abs({0}) < 4503599627370496.0) else math.floor({0}))",
              lambda a, x: np.floor(x), None),
    "ceil": (1, "float", "({0} if not (abs({0}) < 4503599627370496.0) else math.ceil({0}))",
             lambda a, x: np.ceil(x), None),
    "sin": (1, "float", "math.sin({0})", lambda a, x: np.sin(x),
            _g_unary(lambda x, y, g: multiply(g, cos(x)))),
    "cos": (1, "float", "math.cos({0})", lambda a, x: np.cos(x),
            _g_unary(lambda x, y, g: negative(multiply(g, sin(x))))),
    "square": (1, "numeric", "{0} * {0}", lambda a, x: x * x,
               _g_unary(lambda x, y, g: multiply(g, multiply(x, 2)))),
    "sqrt": (1, "float", "math.sqrt({0})", lambda a, x: np.sqrt(x),
             _g_unary(lambda x, y, g: divide(g, multiply(y, 2)))),
    "rsqrt": (1, "float", "1 / math.sqrt({0})", lambda a, x: 1 / np.sqrt(x),
              _g_unary(lambda x, y, g: multiply(g, multiply(pow(y, 3), -0.5)))),
    "exp": (1, "float", "math.exp({0})", lambda a, x: np.exp(x),
            _g_unary(lambda x, y, g: multiply(g, y))),
    "log": (1, "float", "math.log({0})", lambda a, x: np.log(x),
            _g_unary(lambda x, y, g: divide(g, x))),
    "log1p": (1, "float", "math.log1p({0})", lambda a, x: np.log1p(x),
              _g_unary(lambda x, y, g: divide(g, add(x, 1)))),
    "sigmoid": (1, "float", "1 / (1 + math.exp(-{0}))", lambda a, x: _np_sigmoid(x),
                _via("sigmoid_grad", use_output=True)),
    "tanh": (1, "float", "math.tanh({0})", lambda a, x: np.tanh(x), _via("tanh_grad", use_output=True)),
    # relu's gradient reads its output (y > 0 exactly where x > 0, NaN included), as TF's
    # ReluGrad does: the pre-activation need not outlive the forward pass, so a fused
    # bias-add + relu loop writes one array instead of two
    "relu": (1, "numeric", "{0} if ({0} > 0 or {0} != {0}) else 0", lambda a, x: np.maximum(x, 0),
             _via("relu_grad", use_output=True)),
    "relu6": (1, "numeric", "(0 if {0} < 0 else (6 if {0} > 6 else {0}))", lambda a, x: np.clip(x, 0, 6),
              _via("relu6_grad")),
    "leaky_relu": (1, "float", "{0} if {0} > 0 else {alpha} * {0}",
                   lambda a, x: np.where(x > 0, x, a["alpha"] * x), _via("leaky_relu_grad", attrs=("alpha",))),
    "elu": (1, "float", "{0} if {0} > 0 else math.expm1({0})",
            lambda a, x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), _via("elu_grad")),
    "softplus": (1, "float", "({0} if {0} > 0 else 0) + math.log1p(math.exp(-abs({0})))",
                 lambda a, x: np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))), _via("softplus_grad")),
    "cast": (1, "cast", "{0}", lambda a, x: x.astype(a["dtype"].np), _g_cast),
    "where": (3, "where", "{1} if {0} else {2}", lambda a, c, x, y: np.where(c, x, y), _g_where),
    "sigmoid_xent": (2, "float", "({0} if {0} > 0 else 0) - {0} * {1} + math.log1p(math.exp(-abs({0})))",
                     lambda a, x, z: np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x))), _g_sxent),
    # gradient helpers (first order only: their own gradients are not defined)
    "relu_grad": (2, "numeric", "{1} if {0} > 0 else 0", lambda a, x, g: np.where(x > 0, g, 0), None),
    "relu6_grad": (2, "numeric", "{1} if ({0} > 0 and {0} < 6) else 0",
                   lambda a, x, g: np.where((x > 0) & (x < 6), g, 0), None),
    "leaky_relu_grad": (2, "float", "{1} if {0} > 0 else {alpha} * {1}",
                        lambda a, x, g: np.where(x > 0, g, a["alpha"] * g), None),
    "elu_grad": (2, "float", "{1} if {0} > 0 else {1} * math.exp({0})",
                 lambda a, x, g: np.where(x > 0, g, g * np.exp(np.minimum(x, 0))), None),
    "sigmoid_grad": (2, "float", "{1} * {0} * (1 - {0})", lambda a, y, g: g * y * (1 - y), None),
    "tanh_grad": (2, "float", "{1} * (1 - {0} * {0})", lambda a, y, g: g * (1 - y * y), None),
    "softplus_grad": (2, "float", "{1} / (1 + math.exp(-{0}))", lambda a, x, g: g * _np_sigmoid(x), None),
    "sigmoid_xent_grad": (3, "float", "{2} * (1 / (1 + math.exp(-{0})) - {1})",
                          lambda a, x, z, g: g * (_np_sigmoid(x) - z), None),
}

for _name, (_arity, _rule, _tpl, _ref, _vjp) in ELEMENTWISE.items():
    defop(_name, "elementwise", _infer(_rule), ref=_ref, vjp=_vjp, template=_tpl,
          # *_grad helpers are differentiable in principle: asking for it raises "no gradient rule"
          differentiable=_vjp is not None or _name.endswith("_grad"),
          meta={"arity": _arity, "rule": _rule})


def _is_tensorish(a: Any) -> bool:
    return isinstance(a, Tensor) or hasattr(a, "_as_graph_tensor")


def _ew(op_type: str, *args: Any, name: str | None = None, **attrs: Any) -> Tensor:
    """Build an elementwise op; Python/NumPy values take the dtype of the tensor operands."""
    start = 1 if op_type == "where" else 0  # where's condition is bool whatever the values are
    ref = next((as_tensor(a).dtype for a in args[start:] if _is_tensorish(a)), None)
    if ref is not None and ref.name == "string":  # leave the error to apply(): no string math
        ref = None
    ins = []
    for i, a in enumerate(args):
        if _is_tensorish(a):
            ins.append(as_tensor(a))
        elif i < start:
            ins.append(as_tensor(a, _dt.bool_))
        else:
            ins.append(as_tensor(a, ref))
    return apply1(op_type, ins, attrs, name)


def _g_sqdiff(op, g):
    x, y = op.inputs
    d = multiply(g[0], multiply(subtract(x, y), 2))
    return [_unbroadcast(d, x), _unbroadcast(negative(d), y)]


def zeros_like_scalar(t: Tensor) -> Tensor:
    return as_tensor(0, t.dtype)


def ones_like_scalar(t: Tensor) -> Tensor:
    return as_tensor(1, t.dtype)


def _api(op_type: str, doc: str) -> Callable[..., Tensor]:
    arity = ELEMENTWISE[op_type][0]

    if arity == 1:
        def fn(x: Any, name: str | None = None) -> Tensor:
            return _ew(op_type, x, name=name)
    elif arity == 2:
        def fn(x: Any, y: Any, name: str | None = None) -> Tensor:
            return _ew(op_type, x, y, name=name)
    else:
        def fn(c: Any, x: Any, y: Any, name: str | None = None) -> Tensor:
            return _ew(op_type, c, x, y, name=name)
    fn.__name__ = fn.__qualname__ = op_type
    fn.__doc__ = doc
    return fn


add = _api("add", "x + y with broadcasting.\n\n>>> import graphengine as ge\n"
                  ">>> (ge.constant([1.0]) + 2).dtype\nge.float32")
subtract = _api("subtract", "x - y with broadcasting.")
multiply = _api("multiply", "x * y with broadcasting.")
divide = _api("divide", "x / y, true division (TF1 ``truediv``): int8/int16/uint8 inputs give float32, "
                        "int32/int64 float64.\n\n>>> import graphengine as ge\n"
                        ">>> ge.divide(ge.constant([7]), 2).dtype\nge.float64")
pow = _api("pow", "x ** y elementwise.")
maximum = _api("maximum", "Elementwise max (gradient to x on ties).")
minimum = _api("minimum", "Elementwise min (gradient to x on ties).")
squared_difference = _api("squared_difference", "(x - y) ** 2 elementwise.")
equal = _api("equal", "x == y elementwise (bool, no gradient).")
not_equal = _api("not_equal", "x != y elementwise.")
less = _api("less", "x < y elementwise.")
less_equal = _api("less_equal", "x <= y elementwise.")
greater = _api("greater", "x > y elementwise.")
greater_equal = _api("greater_equal", "x >= y elementwise.")
logical_and = _api("logical_and", "Elementwise and of bool tensors.")
logical_or = _api("logical_or", "Elementwise or of bool tensors.")
logical_not = _api("logical_not", "Elementwise not of a bool tensor.")
negative = _api("negative", "-x.")
abs = _api("abs", "|x|.")
sign = _api("sign", "-1, 0 or 1 (its gradient is zeros, as TF1).")
floor = _api("floor", "Largest integer not greater than x (no gradient, as TF1).")
ceil = _api("ceil", "Smallest integer not less than x (no gradient, as TF1).")
sin = _api("sin", "Sine.")
cos = _api("cos", "Cosine.")


def floordiv(x: Any, y: Any, name: str | None = None) -> Tensor:
    """floor(x / y), keeping the dtype (TF1 ``floordiv``): integers divide exactly, floats as
    ``floor(x / y)``. No gradient, as TF1.

    >>> import graphengine as ge
    >>> ge.floordiv(ge.constant([-7, 7]), 2).eval(session=ge.Session()).tolist()
    [-4, 3]
    """
    a = next((as_tensor(v) for v in (x, y) if _is_tensorish(v)), None)
    dt = a.dtype if a is not None else _dt.default_dtype_for(x)
    if dt.is_floating:
        return floor(divide(x, y), name=name)
    return _ew("floordiv", x, y, name=name)
square = _api("square", "x * x.")
sqrt = _api("sqrt", "Square root.")
rsqrt = _api("rsqrt", "1 / sqrt(x).")
exp = _api("exp", "e ** x.")
log = _api("log", "Natural logarithm.")
log1p = _api("log1p", "log(1 + x), accurate near 0.")
sigmoid = _api("sigmoid", "1 / (1 + exp(-x)).")
tanh = _api("tanh", "Hyperbolic tangent.")
relu = _api("relu", "max(x, 0).\n\n>>> import graphengine as ge\n"
                    ">>> ge.nn.relu(ge.constant([-1.0, 2.0])).eval(session=ge.Session()).tolist()\n[0.0, 2.0]")
relu6 = _api("relu6", "min(max(x, 0), 6).")
elu = _api("elu", "x if x > 0 else exp(x) - 1.")
softplus = _api("softplus", "log(1 + exp(x)), computed without overflow.")
where = _api("where", "Elementwise ``x if condition else y`` with broadcasting (TF1 ``where`` with 3 args).")


def leaky_relu(x: Any, alpha: float = 0.2, name: str | None = None) -> Tensor:
    """x if x > 0 else alpha * x (TF1 default alpha 0.2)."""
    return _ew("leaky_relu", x, name=name, alpha=float(alpha))


def cast(x: Any, dtype: Any, name: str | None = None) -> Tensor:
    """Convert to ``dtype`` (float -> int truncates toward zero). Gradient flows float -> float.

    >>> import graphengine as ge
    >>> ge.cast(ge.constant([1.7]), ge.int32).dtype
    ge.int32
    """
    x = as_tensor(x)
    dt = _dt.as_dtype(dtype)
    if x.dtype == dt:
        return x
    return apply1("cast", [x], {"dtype": dt}, name)


def to_float(x: Any, name: str | None = None) -> Tensor:
    return cast(x, _dt.float32, name)


# ----- composites: zeros_like, ones_like, add_n (TF1's definitions) ---------------------------

def zeros_like(x: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """Zeros of ``x``'s shape, in ``dtype`` (default ``x``'s): a constant when the shape is
    known, else ``x * 0`` with no gradient (TF1 ``zeros_like``).

    >>> import graphengine as ge
    >>> ge.zeros_like(ge.constant([[1.5, 2.0]])).shape
    (1, 2)
    """
    x = as_tensor(x)
    dt = dtype or x.dtype
    if x.shape is not None and None not in x.shape:
        return zeros(x.shape, dt, name=name or "zeros_like")
    return cast(multiply(stop_gradient(x), 0), dt)


def ones_like(x: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """Ones of ``x``'s shape, in ``dtype`` (default ``x``'s) (TF1 ``ones_like``).

    >>> import graphengine as ge
    >>> ge.ones_like(ge.constant([1, 2]), ge.float32).dtype
    ge.float32
    """
    return add(zeros_like(x, dtype), 1, name=name)


def add_n(inputs: list, name: str | None = None) -> Tensor:
    """The elementwise sum of a list of tensors (TF1 ``add_n``).

    >>> import graphengine as ge
    >>> with ge.Session() as s:
    ...     s.run(ge.add_n([ge.constant([1.0, 2.0]), ge.constant([3.0, 4.0])])).tolist()
    [4.0, 6.0]
    """
    if not inputs:
        raise ValueError("add_n needs at least one input")
    total = as_tensor(inputs[0])
    for t in inputs[1:]:
        total = add(total, t)
    return total if name is None else identity(total, name=name)


_CMP = {"greater_equal": greater_equal, "less": less, "less_equal": less_equal, "greater": greater}
