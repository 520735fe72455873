"""Reductions (sum/mean/max/min/argmax) and the broadcast-reversal ops autodiff needs."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .facts import unbroadcast_axes
from .registry import apply1, defop, norm_axes, reduced_shape
from .source import as_tensor


def _reduce_infer(s, d, a):
    if d[0].is_bool:
        raise DTypeError("cannot reduce a bool tensor; use ge.cast first")
    return [(reduced_shape(s[0], a["axis"], a["keepdims"]), d[0])]


def _np_axis(a: dict, x: np.ndarray) -> tuple:
    return tuple(range(x.ndim)) if a["axis"] is None else a["axis"]


def _expand(dy: Tensor, x: Tensor, op: Any, mean: bool = False) -> Tensor:
    return apply1("expand_like", [dy, x], {"axis": op.attrs["axis"],
                                           "keepdims": op.attrs["keepdims"], "mean": mean})


def _g_max(op, g):
    x, y = op.inputs[0], op.outputs[0]
    from .elementwise import cast, divide, equal, multiply
    mask = cast(equal(x, _expand(y, x, op)), x.dtype)
    count = apply1("reduce_sum", [mask], dict(op.attrs))
    return [multiply(mask, _expand(divide(g[0], count), x, op))]


def reduce_identity(op_type: str, dtype: Any) -> float | int:
    """What reduce_max/min give over an empty axis: the reduction's identity, as TF (-inf/+inf
    for floats, the dtype's lowest/highest integer otherwise). NumPy raises instead."""
    dt = np.dtype(dtype)
    big = np.inf if dt.kind == "f" else int(np.iinfo(dt).max)
    low = -np.inf if dt.kind == "f" else int(np.iinfo(dt).min)
    return low if op_type == "reduce_max" else big


def _count(a: dict, x: np.ndarray) -> int:
    return int(np.prod([x.shape[i] for i in _np_axis(a, x)], dtype=np.int64))


def _mean_ref(a, x):
    """Float: NaN over an empty axis (NumPy, TF). Integer: the wrapped sum in the dtype divided
    exactly, truncating toward zero (TF1), and 0 over an empty axis."""
    axes, keep, n = _np_axis(a, x), a["keepdims"], _count(a, x)
    if x.dtype.kind == "f":
        if n == 0:
            return np.full(np.sum(x, axis=axes, keepdims=keep).shape, np.nan, x.dtype)
        return np.mean(x, axis=axes, keepdims=keep).astype(x.dtype)
    s = np.sum(x, axis=axes, keepdims=keep, dtype=x.dtype)
    if n == 0:
        return s
    q = s // n
    return np.asarray(q + ((q * n != s) & (s < 0)), dtype=x.dtype)


def _extreme_ref(op_type: str):
    fn = np.max if op_type == "reduce_max" else np.min

    def ref(a, x):
        kw = {"initial": reduce_identity(op_type, x.dtype)} if _count(a, x) == 0 else {}
        return np.asarray(fn(x, axis=_np_axis(a, x), keepdims=a["keepdims"], **kw), dtype=x.dtype)
    return ref


defop("reduce_sum", "reduce", _reduce_infer,
      ref=lambda a, x: np.sum(x, axis=_np_axis(a, x), keepdims=a["keepdims"], dtype=x.dtype),
      vjp=lambda op, g: [_expand(g[0], op.inputs[0], op)])
defop("reduce_mean", "reduce", _reduce_infer,
      ref=_mean_ref,
      vjp=lambda op, g: [_expand(g[0], op.inputs[0], op, mean=True)])
defop("reduce_max", "reduce", _reduce_infer,
      ref=_extreme_ref("reduce_max"), vjp=_g_max)
defop("reduce_min", "reduce", _reduce_infer,
      ref=_extreme_ref("reduce_min"), vjp=_g_max)


def _expand_infer(s, d, a):
    want = reduced_shape(s[1], a["axis"], a["keepdims"])
    if want is not None and s[0] is not None and len(want) != len(s[0]):
        raise ShapeError(f"expand_like: gradient of rank {len(s[0])} for a reduction of rank {len(want)}")
    return [(s[1], d[0])]


def _expand_ref(a, dy, x):
    axes = _np_axis(a, x)
    keep = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    out = np.broadcast_to(np.reshape(dy, keep), x.shape)
    if a["mean"]:
        out = out / max(1, int(np.prod([x.shape[i] for i in axes])))
    return np.array(out, dtype=dy.dtype)


defop("expand_like", "reduce", _expand_infer, ref=_expand_ref,
      vjp=lambda op, g: [apply1("reduce_mean" if op.attrs["mean"] else "reduce_sum", [g[0]],
                                {"axis": op.attrs["axis"], "keepdims": op.attrs["keepdims"]}), None],
      doc="Broadcast a reduction's gradient back to the reduced input's shape (/count if mean).")


def _reduce(kind: str, x: Any, axis: Any, keepdims: bool, name: str | None) -> Tensor:
    x = as_tensor(x)
    axes = norm_axes(axis, x.ndim) if axis is not None else None
    return apply1(kind, [x], {"axis": axes, "keepdims": bool(keepdims)}, name)


def reduce_sum(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Sum over ``axis`` (int, list, or None for all).

    >>> import graphengine as ge
    >>> ge.reduce_sum(ge.ones((2, 3)), axis=1).shape
    (2,)
    """
    return _reduce("reduce_sum", x, axis, keepdims, name)


def reduce_mean(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Mean over ``axis`` (int, list, or None for all)."""
    return _reduce("reduce_mean", x, axis, keepdims, name)


def reduce_max(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Max over ``axis``; the gradient is shared equally among ties."""
    return _reduce("reduce_max", x, axis, keepdims, name)


def reduce_min(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Min over ``axis``; the gradient is shared equally among ties."""
    return _reduce("reduce_min", x, axis, keepdims, name)


def _arg_infer(s, d, a):
    if s[0] is None:
        return [(None, a["output_type"])]
    if s[0] and s[0][a["axis"]] == 0:  # also checked at run time, before any kernel runs
        raise ShapeError(f"cannot take the index of the extreme value over an empty axis "
                         f"{a['axis']} of shape {s[0]} (TF1 raises too)")
    return [(reduced_shape(s[0], (a["axis"],), False), a["output_type"])]


defop("argmax", "reduce", _arg_infer,
      ref=lambda a, x: np.argmax(x, axis=a["axis"]).astype(a["output_type"].np), differentiable=False)
defop("argmin", "reduce", _arg_infer,
      ref=lambda a, x: np.argmin(x, axis=a["axis"]).astype(a["output_type"].np), differentiable=False)


def _arg(kind: str, x: Any, axis: Any, output_type: Any, name: str | None) -> Tensor:
    x = as_tensor(x)
    axis = 0 if axis is None else int(axis)
    if x.ndim is not None:
        axis = norm_axes(axis, x.ndim)[0]
    dt = _dt.as_dtype(output_type)
    if not dt.is_integer:
        raise DTypeError(f"{kind}: output_type must be an integer dtype, got {dt.name}")
    return apply1(kind, [x], {"axis": axis, "output_type": dt}, name)


def argmax(x: Any, axis: Any = None, output_type: Any = _dt.int64, name: str | None = None) -> Tensor:
    """Index of the largest value along ``axis`` (TF1 default axis 0, int64 result)."""
    return _arg("argmax", x, axis, output_type, name)


def argmin(x: Any, axis: Any = None, output_type: Any = _dt.int64, name: str | None = None) -> Tensor:
    """Index of the smallest value along ``axis``."""
    return _arg("argmin", x, axis, output_type, name)


def sum_to_shape(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Reverse NumPy broadcasting: sum ``g`` down to ``shape``."""
    if g.shape == tuple(shape):
        return g
    return np.sum(g, axis=unbroadcast_axes(g.shape, shape), keepdims=True).reshape(shape)


defop("sum_to_like", "reduce", lambda s, d, a: [(s[1], d[0])],
      ref=lambda a, g, x: sum_to_shape(g, x.shape),
      vjp=lambda op, g: [broadcast_like(g[0], op.inputs[0]), None],
      doc="Sum the first input down to the second's run-time shape (gradient of broadcasting).")


def sum_to_like(g: Tensor, x: Tensor) -> Tensor:
    return apply1("sum_to_like", [g, x], {}, None)


def broadcast_like(a: Tensor, b: Tensor) -> Tensor:
    from .shape import broadcast_like as _bl
    return _bl(a, b)


# ----- reduce_prod ----------------------------------------------------------------------------

def _g_prod(op, g):
    """d prod / d x_i = product of the others: prod / x_i with no zero in the group, the product
    of the nonzero entries at a lone zero, 0 with two zeros or more (exact where TF1's
    cumulative-product rule is, and built from public ops so it differentiates again)."""
    from .elementwise import cast, divide, equal, logical_and, multiply, ones_like_scalar, where, zeros_like_scalar
    x = op.inputs[0]
    if not x.dtype.is_floating:
        return [None]
    zero = equal(x, 0)
    n_zero = _expand(apply1("reduce_sum", [cast(zero, x.dtype)], dict(op.attrs)), x, op)
    safe = where(zero, ones_like_scalar(x), x)
    p_nz = _expand(apply1("reduce_prod", [safe], dict(op.attrs)), x, op)
    lone = logical_and(zero, equal(n_zero, 1))
    d = where(equal(n_zero, 0), divide(p_nz, safe), where(lone, p_nz, zeros_like_scalar(x)))
    return [multiply(_expand(g[0], x, op), d)]


defop("reduce_prod", "reduce", _reduce_infer,
      ref=lambda a, x: np.prod(x, axis=_np_axis(a, x), keepdims=a["keepdims"], dtype=x.dtype),
      vjp=_g_prod)


def reduce_prod(x: Any, axis: Any = None, keepdims: bool = False, name: str | None = None) -> Tensor:
    """Product over ``axis`` (int, list, or None for all); the gradient handles zeros.

    >>> import graphengine as ge
    >>> ge.reduce_prod(ge.constant([[1.0, 2.0], [3.0, 0.0]]), axis=1).eval(session=ge.Session()).tolist()
    [2.0, 0.0]
    """
    return _reduce("reduce_prod", x, axis, keepdims, name)
