"""Shapes known only at run time: ``shape(x)`` as an op, and the ops that take a shape tensor
(``reshape``, ``fill``/``zeros``/``ones``, the random ops) or make one (``range``).

Static shapes stay inferred wherever they are known: ``shape(x)`` of a fully known shape is a
constant, and a shape tensor built from ``shape(x)``, slices of it, constants and ``stack`` gives
its consumers every dimension it can (``reshape(x, shape(y))`` has ``y``'s static shape). Plans
are still keyed by ranks, so a new batch size never recompiles; the compiled CPU step declines
plans that contain these ops (they run op by op, and ``plan_info`` says why).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..graph import Tensor, get_default_graph
from .reduce import reduce_sum
from .registry import STRING_OPS, apply1, defop
from .source import _random, as_tensor, constant


def is_shape_tensor(shape: Any) -> bool:
    """Whether a shape argument is (or contains) a tensor, so its value is known at run time."""
    if isinstance(shape, Tensor) or hasattr(shape, "_as_graph_tensor"):
        return True
    return isinstance(shape, list | tuple) and any(
        isinstance(d, Tensor) or hasattr(d, "_as_graph_tensor") for d in shape)


def host_ints(v: Any) -> tuple:
    """A shape vector's run-time value as Python ints (from a host or device array)."""
    for get in ("get", "copy_to_host"):  # CuPy / Numba device arrays
        if not isinstance(v, np.ndarray) and hasattr(v, get):
            v = getattr(v, get)()
    return tuple(int(n) for n in np.asarray(v).reshape(-1))


# ----- what is known statically about a shape tensor's value ----------------------------------

def partial_value(t: Tensor) -> list | None:
    """The elements of an int vector tensor that are known at build time (None where not), or
    None when not even its length is known (TF's ``constant_value_as_shape``)."""
    op = t.op
    if op.type == "const":
        v = op.attrs["value"]
        return [int(n) for n in v.reshape(-1)] if v.ndim <= 1 else None
    if op.type == "shape":
        s = op.inputs[0].shape
        return None if s is None else list(s)
    if op.type == "concat" and op.attrs["axis"] == 0:
        parts = [partial_value(x) for x in op.inputs]
        return None if any(p is None for p in parts) else [d for p in parts for d in p]
    if op.type == "expand_dims" and op.inputs[0].shape == ():
        return [scalar_value(op.inputs[0])]
    if op.type == "strided_slice":
        src = partial_value(op.inputs[0])
        spec = op.attrs["spec"]
        if src is not None and len(spec) == 1 and spec[0][0] == "slice":
            return src[slice(*spec[0][1:])]
    if op.type == "identity":
        return partial_value(op.inputs[0])
    if t.shape is not None and len(t.shape) == 1 and t.shape[0] is not None:
        return [None] * t.shape[0]
    return None


def scalar_value(t: Tensor) -> int | None:
    """A scalar int tensor's value if known at build time."""
    op = t.op
    if op.type == "const" and op.attrs["value"].size == 1:
        return int(op.attrs["value"].reshape(-1)[0])
    if op.type == "strided_slice" and len(op.attrs["spec"]) == 1 and op.attrs["spec"][0][0] == "index":
        src = partial_value(op.inputs[0])
        i = op.attrs["spec"][0][1]
        if src is not None and -len(src) <= i < len(src):
            return src[i]
    return None


def shape_tensor(shape: Any) -> tuple[Tensor, list | None]:
    """A shape argument (tensor, or list mixing ints and scalar tensors) as an int32/int64
    vector tensor, with what is statically known about its value."""
    t = as_tensor(shape) if isinstance(shape, Tensor) or hasattr(shape, "_as_graph_tensor") else \
        as_tensor([d if isinstance(d, Tensor) or hasattr(d, "_as_graph_tensor") else
                   constant(int(d), _dt.int32) for d in shape])
    if not t.dtype.is_integer:
        raise DTypeError(f"a shape tensor must be int32 or int64, got {t.name} of {t.dtype.name}")
    if t.shape is not None and len(t.shape) != 1:
        raise ShapeError(f"a shape tensor must be a vector, got {t.name} of shape {t.shape}")
    return t, partial_value(t)


def _known(pv: list | None) -> tuple | None:
    """A fully known shape value (no None, no -1), else None."""
    if pv is None or any(d is None or d < 0 for d in pv):
        return None
    return tuple(pv)


# ----- shape ---------------------------------------------------------------------------------

def _shape_infer(s, d, a):
    return [((None,) if s[0] is None else (len(s[0]),), a["out_type"])]


defop("shape", "movement", lambda s, d, a: _shape_infer(s, d, a),
      ref=lambda a, x: np.array(np.shape(x), a["out_type"].np), differentiable=False,
      host_only=True, doc="The run-time shape of the input as an int vector (TF1 tf.shape).")
STRING_OPS.add("shape")


def shape(x: Any, out_type: Any = _dt.int32, name: str | None = None) -> Tensor:
    """``x``'s shape as an int32 vector computed at run time (TF1 ``tf.shape``); a constant
    when the static shape is fully known.

    >>> import graphengine as ge
    >>> x = ge.placeholder(ge.float32, (None, 3))
    >>> ge.Session().run(ge.ops.dynamic.shape(x), {x: [[1, 2, 3]] * 5}).tolist()
    [5, 3]
    """
    x = as_tensor(x)
    dt = _dt.as_dtype(out_type)
    if x.shape is not None and None not in x.shape:
        return constant(np.array(x.shape, dt.np), dt, name=name or "Shape")
    return apply1("shape", [x], {"out_type": dt}, name or "Shape")


# ----- reshape to a shape tensor -----------------------------------------------------------------

def _dyn_reshape_infer(s, d, a):
    if not d[1].is_integer:
        raise DTypeError(f"reshape: the shape tensor must be int32 or int64, got {d[1].name}")
    want = list(a["shape"]) if a["shape"] is not None else None
    if want is None:
        return [(None if s[1] is None or s[1][0] is None else (None,) * s[1][0], d[0])]
    total = None if s[0] is None or None in s[0] else int(np.prod(s[0]))
    if -1 in want:
        i = want.index(-1)
        rest = [w for j, w in enumerate(want) if j != i]
        want[i] = total // int(np.prod(rest)) if total is not None and None not in rest and \
            int(np.prod(rest)) and total % int(np.prod(rest)) == 0 else None
    return [(tuple(want), d[0])]


defop("dynamic_reshape", "movement", _dyn_reshape_infer,
      ref=lambda a, x, shape: np.reshape(x, host_ints(shape)),
      vjp=lambda op, g: [_reshape_like(g[0], op.inputs[0]), None], host_only=True,
      doc="Reshape to a shape given as a tensor (its value known at run time).")
STRING_OPS.add("dynamic_reshape")


def _reshape_like(g: Tensor, x: Tensor) -> Tensor:
    from .shape import reshape_like
    return reshape_like(g, x)


def reshape(x: Any, shape: Any, name: str | None = None) -> Tensor:
    """``reshape`` with a shape tensor (or a list mixing ints and scalar tensors)."""
    from .shape import reshape as static_reshape
    x = as_tensor(x)
    t, pv = shape_tensor(shape)
    if pv is not None and None not in pv:
        return static_reshape(x, pv, name)
    return apply1("dynamic_reshape", [x, t], {"shape": None if pv is None else tuple(
        -1 if d is not None and d < 0 else d for d in pv)}, name or "Reshape")


# ----- fill / zeros / ones with a shape tensor ---------------------------------------------------

def _fill_infer(s, d, a):
    if not d[0].is_integer:
        raise DTypeError(f"fill: dims must be int32 or int64, got {d[0].name}")
    if s[1] is not None and s[1] != ():
        raise ShapeError(f"fill: the value must be a scalar, got shape {s[1]}")
    return [(a["shape"], d[1])]


defop("dynamic_fill", "movement", _fill_infer,
      ref=lambda a, dims, value: np.full(host_ints(dims), value, dtype=np.asarray(value).dtype),
      vjp=lambda op, g: [None, _sum_all(g[0])], host_only=True,
      doc="A tensor of run-time shape `dims` filled with the scalar `value`.")


def _sum_all(g: Tensor) -> Tensor:
    return reduce_sum(g)


def fill(dims: Any, value: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """``fill`` whose dims are a tensor: the value's dtype (a Python float gives float32)."""
    t, pv = shape_tensor(dims)
    v = as_tensor(value, dtype) if not isinstance(value, Tensor) else value
    known = _known(pv)
    if known is not None and v.op.type == "const":
        return constant(np.full(known, v.op.attrs["value"]), v.dtype, name=name or "Fill")
    return apply1("dynamic_fill", [t, v], {"shape": None if pv is None else tuple(
        None if d is None or d < 0 else d for d in pv)}, name or "Fill")


# ----- random tensors of run-time shape ----------------------------------------------------------

defop("random_shaped", "source", lambda s, d, a: [(a["shape"], a["dtype"])], differentiable=False,
      stateful=True, random=True, runtime=True, host_only=True,
      doc="random (normal / truncated normal / uniform) with the shape given by a tensor.")


def random(dist: str, shape: Any, dtype: Any, seed: int | None, name: str, **params: float) -> Tensor:
    """A random op whose shape is a tensor; drawn by the runtime like ``random``."""
    t, pv = shape_tensor(shape)
    known = _known(pv)
    if known is not None:
        return _random(dist, known, dtype, seed, name, **params)
    g = get_default_graph()
    static = None if pv is None else tuple(None if d is None or d < 0 else d for d in pv)
    return apply1("random_shaped", [t], {"dist": dist, "shape": static, "dtype": _dt.as_dtype(dtype),
                                         "seed": g.next_seed(seed), **params}, name)


# ----- range -------------------------------------------------------------------------------------

def _range_infer(s, d, a):
    for sh in s:
        if sh is not None and sh != ():
            raise ShapeError(f"range: start, limit and delta must be scalars, got shape {sh}")
    return [((None,), a["dtype"])]


def _range_ref(a, start, limit, delta):
    return np.arange(np.asarray(start).item(), np.asarray(limit).item(), np.asarray(delta).item(),
                     dtype=a["dtype"].np)


defop("range", "movement", _range_infer, ref=_range_ref, differentiable=False, host_only=True,
      doc="start, start + delta, ... below limit (TF1 tf.range), limits known at run time.")


def range_(start: Any, limit: Any = None, delta: Any = 1, dtype: Any = None,
           name: str = "range") -> Tensor:
    """TF1 ``tf.range``: ``range(n)`` or ``range(start, limit, delta)``; int32 for ints,
    float32 for floats; a constant unless an argument is a tensor.

    >>> import graphengine as ge
    >>> ge.Session().run(ge.ops.dynamic.range_(2, 11, 3)).tolist()
    [2, 5, 8]
    """
    if limit is None:
        start, limit = 0, start
    args = (start, limit, delta)
    if dtype is None:
        kinds = [a.dtype for a in args if isinstance(a, Tensor)]
        dt = kinds[0] if kinds else (_dt.float32 if any(isinstance(a, float | np.floating) for a in args)
                                     else _dt.int32)
    else:
        dt = _dt.as_dtype(dtype)
    if not any(isinstance(a, Tensor) for a in args):
        return constant(np.arange(start, limit, delta).astype(dt.np), dt, name=name)
    from .elementwise import cast
    ts = [cast(a, dt) if isinstance(a, Tensor) and a.dtype != dt else as_tensor(a, dt) for a in args]
    return apply1("range", ts, {"dtype": dt}, name)


def random_scaled(dist: str, shape: Any, dtype: Any, seed: int | None, name: str,
                  **params: Any) -> Tensor:
    """Random ops with tensor parameters, as TF1 builds them: unit samples scaled and shifted
    by graph ops (``rnd * stddev + mean``; ``rnd * (maxval - minval) + minval``), so gradients
    reach the parameters (the reparameterization trick)."""
    from .elementwise import add, multiply, subtract
    dt = _dt.as_dtype(dtype)
    if dist == "uniform":
        if not dt.is_floating:
            raise DTypeError(f"{name}: tensor minval/maxval need a floating dtype, got {dt.name}")
        lo, hi = params["minval"], params["maxval"]
        unit = _random("uniform", shape, dt, seed, name + "_unit", minval=0.0, maxval=1.0)
        return add(multiply(unit, subtract(hi, lo)), lo, name=name)
    unit = _random(dist, shape, dt, seed, name + "_unit", mean=0.0, stddev=1.0)
    return add(multiply(unit, params["stddev"]), params["mean"], name=name)
