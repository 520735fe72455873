"""Movement ops: reshape, transpose, concat, stack, expand/squeeze, broadcast, one_hot, identity."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..graph import Tensor
from .dynamic import is_shape_tensor
from .dynamic import reshape as dynamic_reshape
from .reduce import sum_to_like
from .registry import apply1, broadcast_shapes, defop, norm_axes, same_dtype
from .source import as_tensor


def _prod(dims) -> int | None:
    out = 1
    for d in dims:
        if d is None:
            return None
        out *= d
    return out


def _reshape_infer(s, d, a):
    want = list(a["shape"])
    if want.count(-1) > 1:
        raise ShapeError(f"reshape to {tuple(want)}: at most one dimension may be -1")
    total = None if s[0] is None else _prod(s[0])
    known = _prod(w for w in want if w != -1)
    if -1 in want:
        i = want.index(-1)
        if total is not None and known:
            if total % known:
                raise ShapeError(f"cannot reshape {s[0]} ({total} values) to {tuple(want)}")
            want[i] = total // known
        else:
            want[i] = None
    elif total is not None and total != known:
        raise ShapeError(f"cannot reshape {s[0]} ({total} values) to {tuple(want)} ({known} values)")
    return [(tuple(want), d[0])]


def _reshape_ref(a, x):
    return np.reshape(x, a["shape"])


defop("reshape", "movement", _reshape_infer, ref=_reshape_ref,
      vjp=lambda op, g: [reshape_like(g[0], op.inputs[0])], view=True)
defop("reshape_like", "movement", lambda s, d, a: [(s[1], d[0])],
      ref=lambda a, x, like: np.reshape(x, like.shape),
      vjp=lambda op, g: [reshape_like(g[0], op.inputs[0]), None], view=True)


def reshape(x: Any, shape: Any, name: str | None = None) -> Tensor:
    """Reshape; one dimension may be -1 (or None) and is inferred.

    >>> import graphengine as ge
    >>> ge.reshape(ge.zeros((2, 3)), (-1,)).shape
    (6,)
    """
    x = as_tensor(x)
    shape = (shape,) if isinstance(shape, int | np.integer) else shape
    if is_shape_tensor(shape):  # a shape known at run time (tf.shape(y), [tf.shape(y)[0], -1])
        return dynamic_reshape(x, shape, name)
    return apply1("reshape", [x], {"shape": tuple(-1 if n is None else int(n) for n in shape)}, name)


def reshape_like(x: Tensor, like: Tensor) -> Tensor:
    return apply1("reshape_like", [x, like], {}, None)


def _transpose_infer(s, d, a):
    perm = a["perm"]
    if s[0] is None:
        return [(None, d[0])]
    if sorted(perm) != list(range(len(s[0]))):
        raise ShapeError(f"perm {perm} is not a permutation of the {len(s[0])} axes")
    return [(tuple(s[0][p] for p in perm), d[0])]


defop("transpose", "movement", _transpose_infer, ref=lambda a, x: np.transpose(x, a["perm"]),
      vjp=lambda op, g: [transpose(g[0], tuple(np.argsort(op.attrs["perm"]).tolist()))])


def transpose(x: Any, perm: Any = None, name: str | None = None) -> Tensor:
    """Permute axes (default: reverse them, as TF1)."""
    x = as_tensor(x)
    if perm is None:
        if x.ndim is None:
            raise ShapeError("transpose without perm needs a known rank")
        perm = tuple(reversed(range(x.ndim)))
    return apply1("transpose", [x], {"perm": tuple(int(p) for p in perm)}, name)


def _concat_infer(s, d, a):
    dt = same_dtype(d, "concat")
    if any(x is None for x in s):
        return [(None, dt)]
    rank = len(s[0])
    ax = a["axis"]
    if any(len(x) != rank for x in s):
        raise ShapeError(f"concat needs inputs of one rank, got {[len(x) for x in s]}")
    out = []
    for i in range(rank):
        dims = [x[i] for x in s]
        if i == ax:
            out.append(None if None in dims else sum(dims))
        else:
            known = {n for n in dims if n is not None}
            if len(known) > 1:
                raise ShapeError(f"concat on axis {ax}: dimension {i} differs: {dims}")
            out.append(known.pop() if known else None)
    return [(tuple(out), dt)]


def _concat_part_ref(a, g, *xs):
    i = a["index"]
    start = sum(x.shape[a["axis"]] for x in xs[:i])
    idx = [slice(None)] * g.ndim
    idx[a["axis"]] = slice(start, start + xs[i].shape[a["axis"]])
    return np.ascontiguousarray(g[tuple(idx)])


defop("concat", "movement", _concat_infer,
      ref=lambda a, *xs: np.concatenate(xs, axis=a["axis"]),
      vjp=lambda op, g: [apply1("concat_part", [g[0], *op.inputs], {"axis": op.attrs["axis"], "index": i})
                         for i in range(len(op.inputs))])
defop("concat_part", "movement",
      lambda s, d, a: [(s[1 + a["index"]], d[0])], ref=_concat_part_ref, differentiable=False,
      doc="The slice of concat's gradient that belongs to input `index`.")


def concat(values: list, axis: int, name: str | None = None) -> Tensor:
    """Join tensors along ``axis`` (TF1 argument order: values, axis)."""
    ts = [as_tensor(v) for v in values]
    if not ts:
        raise ValueError("concat needs at least one tensor")
    if len(ts) == 1:
        return ts[0]
    rank = ts[0].ndim
    ax = norm_axes(int(axis), rank)[0] if rank is not None else int(axis)
    return apply1("concat", ts, {"axis": ax}, name)


def _expand_dims_infer(s, d, a):
    if s[0] is None:
        return [(None, d[0])]
    shape = list(s[0])
    shape.insert(a["axis"], 1)
    return [(tuple(shape), d[0])]


defop("expand_dims", "movement", _expand_dims_infer, ref=lambda a, x: np.expand_dims(x, a["axis"]),
      vjp=lambda op, g: [reshape_like(g[0], op.inputs[0])], view=True)


def expand_dims(x: Any, axis: int, name: str | None = None) -> Tensor:
    """Insert a length-1 axis at ``axis`` (negative counts from the end of the result)."""
    x = as_tensor(x)
    if x.ndim is not None:
        axis = norm_axes(int(axis), x.ndim + 1)[0]
    return apply1("expand_dims", [x], {"axis": int(axis)}, name)


def _squeeze_infer(s, d, a):
    if s[0] is None:
        return [(None, d[0])]
    axes = a["axis"]
    if axes is None:
        axes = tuple(i for i, n in enumerate(s[0]) if n == 1)
    for i in axes:
        if s[0][i] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {i} of size {s[0][i]}")
    return [(tuple(n for i, n in enumerate(s[0]) if i not in axes), d[0])]


defop("squeeze", "movement", _squeeze_infer,
      ref=lambda a, x: np.squeeze(x, axis=a["axis"]) if a["axis"] is not None else np.squeeze(x),
      vjp=lambda op, g: [reshape_like(g[0], op.inputs[0])], view=True)


def squeeze(x: Any, axis: Any = None, name: str | None = None) -> Tensor:
    """Remove length-1 axes (all of them, or those in ``axis``)."""
    x = as_tensor(x)
    axes = norm_axes(axis, x.ndim) if axis is not None else None
    if axes is None and x.shape is not None and None in x.shape:
        raise ShapeError(f"squeeze of {x.name} with unknown dims needs an explicit axis")
    if axes is None and x.shape is not None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    return apply1("squeeze", [x], {"axis": axes}, name)


def stack(values: list, axis: int = 0, name: str | None = None) -> Tensor:
    """Stack same-shape tensors along a new axis."""
    return concat([expand_dims(as_tensor(v), axis) for v in values], axis, name)


def _bcast_like_infer(s, d, a):
    broadcast_shapes(s[0], s[1])
    return [(s[1], d[0])]


defop("broadcast_like", "movement", _bcast_like_infer,
      ref=lambda a, x, like: np.array(np.broadcast_to(x, like.shape)),
      vjp=lambda op, g: [sum_to_like(g[0], op.inputs[0]), None])


def broadcast_like(x: Tensor, like: Tensor) -> Tensor:
    """Broadcast ``x`` to ``like``'s run-time shape."""
    return apply1("broadcast_like", [x, like], {}, None)


defop("identity", "movement", lambda s, d, a: [(s[0], d[0])], ref=lambda a, x: x,
      vjp=lambda op, g: [g[0]], view=True)
defop("stop_gradient", "movement", lambda s, d, a: [(s[0], d[0])], ref=lambda a, x: x,
      differentiable=False, view=True)


def identity(x: Any, name: str | None = None) -> Tensor:
    return apply1("identity", [as_tensor(x)], {}, name)


def stop_gradient(x: Any, name: str | None = None) -> Tensor:
    """Identity forward; blocks gradients (they come back None through it)."""
    return apply1("stop_gradient", [as_tensor(x)], {}, name)


def _one_hot_infer(s, d, a):
    if not d[0].is_integer:
        raise DTypeError(f"one_hot indices must be integers, got {d[0].name}")
    return [(None if s[0] is None else tuple(s[0]) + (a["depth"],), a["dtype"])]


def _one_hot_ref(a, idx):
    out = np.full(idx.shape + (a["depth"],), a["off_value"], a["dtype"].np)
    valid = (idx >= 0) & (idx < a["depth"])
    np.put_along_axis(out, np.where(valid, idx, 0)[..., None],
                      np.where(valid, a["on_value"], a["off_value"])[..., None].astype(out.dtype), -1)
    return out


defop("one_hot", "movement", _one_hot_infer, ref=_one_hot_ref, differentiable=False)


def one_hot(indices: Any, depth: int, on_value: float = 1, off_value: float = 0,
            dtype: Any = _dt.float32, name: str | None = None, axis: int = -1) -> Tensor:
    """One-hot rows for integer ``indices`` (out-of-range indices give all ``off_value``).

    ``axis`` is where the new ``depth`` axis goes (default last, as TF1).

    >>> import graphengine as ge
    >>> ge.one_hot(ge.constant([0, 2]), 3, axis=0).shape
    (3, 2)
    """
    idx = as_tensor(indices)
    attrs = {"depth": int(depth), "on_value": on_value, "off_value": off_value,
             "dtype": _dt.as_dtype(dtype)}
    if axis in (-1, None) or (idx.ndim is not None and axis == idx.ndim):
        return apply1("one_hot", [idx], attrs, name)
    if idx.ndim is None:
        raise ShapeError(f"one_hot(axis={axis}) needs indices of known rank")
    if not 0 <= axis <= idx.ndim:
        raise ShapeError(f"one_hot: axis {axis} is out of range for indices of rank {idx.ndim}")
    perm = list(range(idx.ndim))
    perm.insert(axis, idx.ndim)
    return transpose(apply1("one_hot", [idx], attrs), perm, name=name)
