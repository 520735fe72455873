"""Indexing and slicing: ``x[:, 1]``, ``x[::2, 1:4]``, ``x[..., None]``, ``tf.slice``,
``tf.strided_slice`` and ``tf.unstack``, all one ``strided_slice`` op with a gradient.

The index is normalized at build time into ``spec``, one entry per output-producing item:
``("index", i)`` drops a dimension, ``("slice", start, stop, step)`` keeps one (Python slice
semantics: negative and out-of-range bounds clip), ``("new",)`` inserts a length-1 axis. The
entries cover every input dimension (Ellipsis and the implicit trailing ``:`` are expanded).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError
from ..graph import Tensor
from .registry import STRING_OPS, apply1, defop
from .source import as_tensor


def _np_index(spec: tuple) -> tuple:
    out: list = []
    for e in spec:
        if e[0] == "index":
            out.append(e[1])
        elif e[0] == "slice":
            out.append(slice(*e[1:]))
        else:
            out.append(None)
    return tuple(out)


def _slice_infer(s, d, a):
    spec = a["spec"]
    if s[0] is None:
        return [(None, d[0])]
    dims = [e for e in spec if e[0] != "new"]
    if len(dims) != len(s[0]):
        raise ShapeError(f"index {spec_str(spec)} has {len(dims)} dimensions for a tensor of rank {len(s[0])}")
    out, k = [], 0
    for e in spec:
        if e[0] == "new":
            out.append(1)
            continue
        n = s[0][k]
        k += 1
        if e[0] == "index":
            if n is not None and not -n <= e[1] < n:
                raise ShapeError(f"index {e[1]} is out of bounds for dimension {k - 1} of size {n}")
        elif n is not None:
            out.append(len(range(*slice(*e[1:]).indices(n))))
        else:
            out.append(None)
    return [(tuple(out), d[0])]


def spec_str(spec: tuple) -> str:
    parts = []
    for e in spec:
        if e[0] == "index":
            parts.append(str(e[1]))
        elif e[0] == "new":
            parts.append("newaxis")
        else:
            a, b, c = e[1:]
            parts.append(f"{'' if a is None else a}:{'' if b is None else b}"
                         + ("" if c in (None, 1) else f":{c}"))
    return "[" + ", ".join(parts) + "]"


def _slice_ref(a, x):
    return np.array(np.asarray(x)[_np_index(a["spec"])])


def _slice_grad_ref(a, g, x):
    out = np.zeros(np.shape(x), np.asarray(g).dtype)
    out[_np_index(a["spec"])] = g
    return out


defop("strided_slice", "movement", _slice_infer, ref=_slice_ref,
      vjp=lambda op, g: [apply1("strided_slice_grad", [g[0], op.inputs[0]], {"spec": op.attrs["spec"]})],
      doc="Basic indexing (ints, slices with steps, newaxis) as one op; spec normalized at build time.")
defop("strided_slice_grad", "movement", lambda s, d, a: [(s[1], d[0])], ref=_slice_grad_ref,
      vjp=lambda op, g: [apply1("strided_slice", [g[0]], {"spec": op.attrs["spec"]}), None],
      doc="strided_slice's gradient: zeros of the input's shape with g written into the slice.")
STRING_OPS.add("strided_slice")


def _int(v: Any, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, Tensor) or hasattr(v, "_as_graph_tensor"):
        raise TypeError(f"tensor {what} in an index are not supported by graphengine; index with "
                        "Python ints, or use tf.gather / tf.one_hot for run-time indices")
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
        raise TypeError(f"index {what} must be integers, got {type(v).__name__} {v!r}")
    return int(v)


def normalize(key: Any, rank: int | None) -> tuple:
    """A Python index (int, slice, None, Ellipsis or a tuple of them) as a full ``spec``."""
    items = list(key) if isinstance(key, tuple) else [key]
    if rank is None:
        raise ShapeError("indexing a tensor of unknown rank is not supported")
    n_dims = sum(1 for k in items if k is not None and k is not Ellipsis)
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_dims > rank:
        raise ShapeError(f"too many indices for a tensor of rank {rank}: {n_dims}")
    if Ellipsis not in items:
        items.append(Ellipsis)
    spec: list = []
    for k in items:
        if k is Ellipsis:
            spec.extend(("slice", None, None, None) for _ in range(rank - n_dims))
        elif k is None:
            spec.append(("new",))
        elif isinstance(k, slice):
            step = _int(k.step, "steps")
            if step == 0:
                raise ValueError("slice step cannot be zero")
            spec.append(("slice", _int(k.start, "bounds"), _int(k.stop, "bounds"), step))
        else:
            spec.append(("index", _int(k, "values")))
    return tuple(spec)


def getitem(x: Any, key: Any) -> Tensor:
    """``x[key]`` for tensors: NumPy basic indexing (TF1 semantics), with gradients.

    >>> import graphengine as ge
    >>> x = ge.constant([[1, 2, 3], [4, 5, 6]])
    >>> ge.Session().run([x[:, 1], x[::-1, 1:], x[..., None][0]])[0].tolist()
    [2, 5]
    """
    x = as_tensor(x)
    return apply1("strided_slice", [x], {"spec": normalize(key, x.ndim)}, "strided_slice")


def slice_(x: Any, begin: Any, size: Any, name: str | None = None) -> Tensor:
    """TF1 ``tf.slice``: ``size[i]`` elements from ``begin[i]`` (-1: to the end)."""
    x = as_tensor(x)
    begin = [_int(b, "begin values") for b in begin]
    size = [_int(n, "size values") for n in size]
    if x.ndim is not None and not len(begin) == len(size) == x.ndim:
        raise ShapeError(f"slice: begin {begin} and size {size} must have one entry per dimension "
                         f"of {x.name} (rank {x.ndim})")
    spec = tuple(("slice", b, None if n == -1 else b + n, None) for b, n in zip(begin, size))
    return apply1("strided_slice", [x], {"spec": spec}, name or "Slice")


def strided_slice(x: Any, begin: Any, end: Any, strides: Any = None, begin_mask: int = 0,
                  end_mask: int = 0, ellipsis_mask: int = 0, new_axis_mask: int = 0,
                  shrink_axis_mask: int = 0, name: str | None = None) -> Tensor:
    """TF1 ``tf.strided_slice`` (its masks), as the same op ``x[...]`` builds."""
    x = as_tensor(x)
    strides = [1] * len(begin) if strides is None else list(strides)
    key: list = []
    for i, (b, e, st) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(_int(b, "begin values"))
        else:
            key.append(slice(None if begin_mask & bit else _int(b, "begin values"),
                             None if end_mask & bit else _int(e, "end values"), _int(st, "strides")))
    return apply1("strided_slice", [x], {"spec": normalize(tuple(key), x.ndim)}, name or "StridedSlice")


def unstack(value: Any, num: int | None = None, axis: int = 0, name: str = "unstack") -> list:
    """TF1 ``tf.unstack``: the slices along ``axis`` (its size must be known, or ``num``)."""
    x = as_tensor(value)
    if x.ndim is None:
        raise ShapeError("unstack needs a tensor of known rank")
    ax = axis + x.ndim if axis < 0 else axis
    if not 0 <= ax < x.ndim:
        raise ShapeError(f"unstack: axis {axis} is out of range for rank {x.ndim}")
    n = x.shape[ax] if num is None else int(num)
    if n is None:
        raise ShapeError(f"unstack: dimension {ax} of {x.name} is unknown; pass num=")
    pre = (slice(None),) * ax
    return [apply1("strided_slice", [x], {"spec": normalize(pre + (i,), x.ndim)}, name) for i in range(n)]
